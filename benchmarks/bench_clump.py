"""Benchmark: ``gwaskit clump`` vs ``plink1.9 --clump`` on one chromosome, at PLINK's defaults
(p1 1e-4, r2 0.5, 250 kb) and at ``--preset seed`` (p1 5e-8, r2 0.05, 5 Mb windows).

Data (generated once under benchmarks/_data/, git-ignored), msprime, recombination 1e-8,
mutation 3e-8, Ne 10,000, the first M biallelic SNPs with MAF >= 0.01 written as .bed, and a
quantitative trait with per-variant OLS p-values:

* ``--size small`` (default): 5,000 diploids, 20 Mb, M = 100,000; 30 causal SNPs, h2 = 0.1;
* ``--size chromosome``: 10,000 diploids, 100 Mb (one chromosome), M = 400,000; 50 causal
  SNPs, h2 = 0.25 (a realistic number of genome-wide hits for p1 = 5e-8).

Both tools run as command-line programs (wall time including start-up and reading),
alternately, several times (``BENCH_REPS``, default 7; medians printed, the machine may be
shared); the .clumped outputs are compared byte for byte. An in-process timing of the library
API (imports excluded) follows, labelled as such.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
SIZES = {"small": dict(n=5_000, m=100_000, length=20e6, causal=30, h2=0.1, tag=""),
         "chromosome": dict(n=10_000, m=400_000, length=100e6, causal=50, h2=0.25,
                            tag="_N10000_M400000")}
PRESET_FLAGS = {"plink": [], "seed": ["--clump-p1", "5e-8", "--clump-r2", "0.05",
                                      "--clump-kb", "5000"]}


def generate(size: str = "small") -> tuple[str, str]:
    cfg = SIZES[size]
    N_DIPLOID, N_VARIANTS = cfg["n"], cfg["m"]
    DATA = HERE / "_data" / ("clump" + cfg["tag"])
    prefix = DATA / "ref"
    report = DATA / "gwas.txt"
    if Path(str(prefix) + ".bed").exists() and report.exists():
        return str(prefix), str(report)
    import msprime
    from bed_reader import to_bed
    from scipy import stats

    DATA.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    ts = msprime.sim_ancestry(samples=N_DIPLOID, sequence_length=cfg["length"], recombination_rate=1e-8,
                              population_size=10_000, ploidy=2, random_seed=2024)
    ts = msprime.sim_mutations(ts, rate=3.0e-8, random_seed=2025)
    G = np.empty((N_DIPLOID, N_VARIANTS), dtype=np.int8)
    pos = np.empty(N_VARIANTS, dtype=np.int64)
    k = 0
    last = -1
    for var in ts.variants():
        if len(var.alleles) != 2 or var.alleles[1] is None:
            continue
        p = int(var.site.position) + 1
        if p == last:
            continue
        h = var.genotypes
        if h.max() > 1:
            continue
        g = h[0::2] + h[1::2]
        af = g.mean() / 2
        if min(af, 1 - af) < 0.01:
            continue
        G[:, k] = g
        pos[k] = p
        last = p
        k += 1
        if k == N_VARIANTS:
            break
    G, pos = np.ascontiguousarray(G[:, :k]), pos[:k]
    rng = np.random.default_rng(7)
    m = G.shape[1]
    bases = np.array(["A", "C", "G", "T"])
    a1 = rng.integers(0, 4, m)
    a2 = (a1 + rng.integers(1, 4, m)) % 4
    to_bed(str(prefix) + ".bed", G, properties={
        "fid": [f"f{i}" for i in range(N_DIPLOID)], "iid": [f"i{i}" for i in range(N_DIPLOID)],
        "sid": [f"rs{j + 1}" for j in range(m)], "chromosome": ["1"] * m, "bp_position": pos,
        "allele_1": bases[a1], "allele_2": bases[a2]}, count_A1=True, num_threads=1)
    # trait and per-variant OLS p-values
    af = G.mean(axis=0) / 2
    causal = rng.choice(np.flatnonzero(np.minimum(af, 1 - af) > 0.05), cfg["causal"], replace=False)
    g = (G[:, causal] - G[:, causal].mean(axis=0)) @ rng.normal(size=cfg["causal"])
    g *= np.sqrt(cfg["h2"] / g.var())
    y = g + rng.normal(scale=np.sqrt(1 - cfg["h2"]), size=N_DIPLOID)
    yc = y - y.mean()
    beta = np.empty(m)
    se = np.empty(m)
    for s in range(0, m, 5000):
        X = G[:, s : s + 5000].astype(np.float64)
        X -= X.mean(axis=0)
        sxx = (X ** 2).sum(axis=0)
        b = X.T @ yc / sxx
        beta[s : s + 5000] = b
        se[s : s + 5000] = np.sqrt(((yc ** 2).sum() - b ** 2 * sxx) / (N_DIPLOID - 2) / sxx)
    pval = 2 * stats.t.sf(np.abs(beta / se), N_DIPLOID - 2)
    with open(report, "w") as fh:
        fh.write("SNP CHR BP BETA SE P\n")
        for j in range(m):
            fh.write(f"rs{j + 1} 1 {pos[j]} {beta[j]:.6g} {se[j]:.6g} {pval[j]:.6g}\n")
    print(f"generated {N_DIPLOID} x {m} reference and report in {time.perf_counter() - t0:.1f} s "
          f"({int((pval <= 1e-4).sum())} variants with p <= 1e-4, span {pos[-1] - pos[0]:,} bp)")
    return str(prefix), str(report)


def main() -> None:
    import argparse

    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", choices=sorted(SIZES), default="small")
    ap.add_argument("--presets", default="plink,seed")
    args = ap.parse_args()
    plink = shutil.which("plink1.9") or shutil.which("plink")
    if plink is None:
        sys.exit("plink1.9 not found")
    reps = int(os.environ.get("BENCH_REPS", "7"))
    prefix, report = generate(args.size)
    cfg = SIZES[args.size]
    out = Path(prefix).parent / "run"
    out.mkdir(exist_ok=True)
    for f in out.glob("*"):
        f.unlink()
    gwaskit = [sys.executable, "-m", "gwaskit.cli.main"]
    # warm-up once (numba cache, page cache): compilation is not compared
    subprocess.run(gwaskit + ["clump", "--bed", prefix, "--sumstats", report, "--kb", "1", "--quiet",
                              "--format", "plink", "--out", str(out / "warm.clumped")], check=True)
    subprocess.run([plink, "--bfile", prefix, "--clump", report, "--threads", "1", "--out",
                    str(out / "warm")], check=True, capture_output=True)
    for preset in args.presets.split(","):
        t_plink, t_gk = [], []
        for i in range(reps):  # alternate the two tools so both see the same machine load
            t0 = time.perf_counter()
            subprocess.run([plink, "--bfile", prefix, "--clump", report, *PRESET_FLAGS[preset],
                            "--threads", "1", "--out", str(out / "plink")], check=True,
                           capture_output=True)
            t_plink.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            subprocess.run(gwaskit + ["clump", "--bed", prefix, "--sumstats", report, "--preset",
                                      preset, "--quiet", "--format", "plink", "--threads", "1",
                                      "--out", str(out / "gwaskit.clumped"), "--overwrite"],
                           check=True)
            t_gk.append(time.perf_counter() - t0)
        same = (out / "plink.clumped").read_text() == (out / "gwaskit.clumped").read_text()
        n_clumps = sum(1 for line in (out / "plink.clumped").read_text().splitlines()[1:]
                       if line.strip())
        mp, mg = float(np.median(t_plink)), float(np.median(t_gk))
        print(f"clump, {cfg['n']} samples x {cfg['m']} variants, preset {preset}, {n_clumps} clumps; "
              f"both single-threaded")
        print(f"command line, wall time incl. start-up and reading, median of {reps} alternating runs:")
        print(f"  plink1.9 --clump : {mp:7.2f} s   (runs: {' '.join(f'{t:.2f}' for t in t_plink)})")
        print(f"  gwaskit clump    : {mg:7.2f} s   (runs: {' '.join(f'{t:.2f}' for t in t_gk)})")
        print(f"  ratio plink/gwaskit = {mp / mg:.2f} (>= 1 means gwaskit is at least as fast); "
              f"median of per-run ratios {float(np.median(np.array(t_plink) / np.array(t_gk))):.2f}")
        print(f"  .clumped byte-identical: {same}")
    if args.size == "small":
        library_call(prefix, report, reps)


def library_call(prefix: str, report: str, reps: int) -> None:
    """In-process library timing (imports and kernel warm-up excluded): read_sumstats +
    open_genotypes + gwaskit.ld.clump.clump, the DataFrame API."""
    from gwaskit.io.sumstats import read_sumstats
    from gwaskit.ld._readers import open_from_flags
    from gwaskit.ld.clump import clump

    rep = read_sumstats(report, require=("variant_id", "p_value"))
    with open_from_flags(None, prefix) as reader:
        clump(rep, reader, kb=1)  # warm-up
    t_read, t_open, t_clump = [], [], []
    for _ in range(max(3, reps // 2)):
        t0 = time.perf_counter()
        rep = read_sumstats(report, require=("variant_id", "p_value"))
        t1 = time.perf_counter()
        with open_from_flags(None, prefix) as reader:
            t2 = time.perf_counter()
            res = clump(rep, reader)
            t3 = time.perf_counter()
        t_read.append(t1 - t0)
        t_open.append(t2 - t1)
        t_clump.append(t3 - t2)
    med = lambda x: float(np.median(x))  # noqa: E731
    print("library call, in-process (imports / warm-up excluded; not comparable to the CLI figures):")
    print(f"  read_sumstats {med(t_read):.2f} s, open_genotypes {med(t_open):.2f} s, "
          f"clump() {med(t_clump):.2f} s ({len(res.clumps)} clumps)")


if __name__ == "__main__":
    main()

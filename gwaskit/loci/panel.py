"""GWAS variant panels: build one from disease summary statistics, read one, align it to genotypes.

A *panel* is a table with one row per variant::

    variant_id, chromosome, base_pair_location, effect_allele, other_allele,
    beta, standard_error, p_value

``build_panel`` selects independent hits from summary statistics (p < 1e-5, PLINK-style
clumping at r² 0.05 within 5 Mb by default) and aligns them to target genotypes: alleles are
matched as stored, swapped (beta sign flipped) or strand-complemented; palindromic A/T and C/G
variants are resolved by effect-allele frequency when it is outside the ambiguous band
[0.42, 0.58] and dropped (and counted) otherwise (TwoSampleMR ``action = 2`` rule).

``panel_dosages`` returns dosages that count the panel's effect allele, ready for scores (PRS)
and for learners that take the panel variants as inputs.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .._log import logger
from ..errors import InputError

PANEL_COLUMNS = [
    "variant_id",
    "chromosome",
    "base_pair_location",
    "effect_allele",
    "other_allele",
    "beta",
    "standard_error",
    "p_value",
]

_COMPLEMENT = str.maketrans("ACGTacgt", "TGCAtgca")


def complement(allele: str) -> str:
    """Strand complement of an allele string (A<->T, C<->G); other characters unchanged."""
    return allele.translate(_COMPLEMENT)


def is_palindromic(a1: str, a2: str) -> bool:
    """True for A/T and C/G SNPs (strand cannot be told from the alleles)."""
    return len(a1) == 1 and len(a2) == 1 and complement(a1.upper()) == a2.upper()


def norm_chrom(values) -> pd.Series:
    """Chromosome labels as comparable strings: 'chr1' -> '1', 1.0 -> '1', 'x' -> 'X'."""
    s = pd.Series(values).astype(str).str.strip()
    s = s.str.replace(r"^(?i:chr)", "", regex=True)
    s = s.str.replace(r"\.0$", "", regex=True).str.upper()
    return s


def read_panel(path: str | Path) -> pd.DataFrame:
    """Read a panel table (parquet, tsv[.gz], csv[.gz], whitespace .txt).

    Columns are found by header (see ``gwaskit.io.sumstats`` for accepted aliases); the result
    has exactly :data:`PANEL_COLUMNS` in that order, alleles upper-cased, chromosome as str.
    ``beta``, ``standard_error`` and ``p_value`` may be NaN when absent (a PRS needs ``beta``).
    """
    from ..io.sumstats import read_sumstats

    ss = read_sumstats(path)
    missing = [c for c in ("variant_id", "effect_allele", "other_allele") if c not in ss]
    if missing:
        raise InputError(f"{path}: panel lacks column(s) {', '.join(missing)}")
    out = pd.DataFrame(index=ss.index)
    for col in PANEL_COLUMNS:
        out[col] = ss[col] if col in ss else np.nan
    out["variant_id"] = out["variant_id"].astype(str)
    out["chromosome"] = norm_chrom(out["chromosome"]).where(out["chromosome"].notna(), None)
    out["effect_allele"] = out["effect_allele"].astype(str).str.upper()
    out["other_allele"] = out["other_allele"].astype(str).str.upper()
    for col in ("beta", "standard_error", "p_value"):
        out[col] = pd.to_numeric(out[col], errors="coerce")
    out["base_pair_location"] = pd.to_numeric(out["base_pair_location"], errors="coerce").astype("Int64")
    return out.reset_index(drop=True)


# --------------------------------------------------------------------------------------------
# Matching panel (or sumstats) rows to genotype variants
# --------------------------------------------------------------------------------------------


@dataclass
class AlleleMatch:
    """Result of matching a table of variants against a genotype variant table."""

    row: np.ndarray  # row positions in the query table that matched
    geno_index: np.ndarray  # matched genotype variant index (global RangeIndex values)
    swapped: np.ndarray  # bool: query effect allele is the genotype file's *second* allele
    strand_flipped: np.ndarray  # bool: alleles matched after complementing
    reasons: dict = field(default_factory=dict)  # dropped-reason -> count


def match_alleles(
    query: pd.DataFrame,
    variants: pd.DataFrame,
    by: str = "auto",
    eaf: pd.Series | None = None,
    palindrome_band: tuple[float, float] | None = None,
    allow_strand_flip: bool = True,
) -> AlleleMatch:
    """Match query variants to genotype variants and orient their alleles.

    Parameters
    ----------
    query : table with effect_allele, other_allele and chromosome/base_pair_location and/or
        variant_id.
    variants : genotype variant table (reader ``.variants``; index = global variant index).
    by : 'position' (chromosome + base pair; variant_id breaks ties among multi-allelic rows),
        'id' (variant_id only), or 'auto' (position where the query row has one, else id).
    eaf : query effect-allele frequency (used for palindromic variants only).
    palindrome_band : if given, palindromic (A/T, C/G) variants are resolved with ``eaf``:
        EAF inside the closed band is ambiguous and dropped; otherwise the strand whose
        frequency agrees with the genotype allele frequency is taken — this needs a genotype
        frequency column ``effect_allele_frequency`` in ``variants``; without it, or without
        ``eaf``, palindromes are dropped. ``None`` takes palindromes at face value.
    allow_strand_flip : accept alleles that match after complementing (non-palindromic only).

    Returns
    -------
    AlleleMatch with matched rows in query order; ``reasons`` counts drops by cause.
    """
    q = query.reset_index(drop=True)
    qa1 = q["effect_allele"].astype(str).str.upper().to_numpy()
    qa2 = q["other_allele"].astype(str).str.upper().to_numpy()
    ga1 = variants["effect_allele"].astype(str).str.upper().to_numpy()
    ga2 = variants["other_allele"].astype(str).str.upper().to_numpy()
    gidx = variants.index.to_numpy()
    gid = variants["variant_id"].astype(str).to_numpy()

    # candidate genotype rows per query row
    by_pos: dict = {}
    has_pos_cols = "chromosome" in q and "base_pair_location" in q
    if by in ("auto", "position") and has_pos_cols:
        gchr = norm_chrom(variants["chromosome"]).to_numpy()
        gpos = variants["base_pair_location"].to_numpy()
        for k, (c, p) in enumerate(zip(gchr, gpos)):
            by_pos.setdefault((c, int(p)), []).append(k)
    by_id: dict = {}
    if by in ("auto", "id"):
        for k, v in enumerate(gid):
            by_id.setdefault(v, []).append(k)
    if has_pos_cols:
        qchr = norm_chrom(q["chromosome"]).to_numpy()
        qpos = pd.to_numeric(q["base_pair_location"], errors="coerce").to_numpy(dtype=float)
    qid = q["variant_id"].astype(str).to_numpy() if "variant_id" in q else None
    geno_eaf = variants["effect_allele_frequency"].to_numpy() if (
        "effect_allele_frequency" in variants
    ) else None
    q_eaf = None if eaf is None else pd.to_numeric(pd.Series(eaf), errors="coerce").to_numpy()

    reasons = {"absent": 0, "allele_mismatch": 0, "palindromic_ambiguous": 0}
    rows, gi, sw, fl = [], [], [], []
    for r in range(len(q)):
        cands: list = []
        use_pos = has_pos_cols and by != "id" and not (np.isnan(qpos[r]) or qchr[r] in ("NAN", "NONE", ""))
        if use_pos:
            cands = by_pos.get((qchr[r], int(qpos[r])), [])
        elif qid is not None and by != "position":
            cands = by_id.get(qid[r], [])
        if not cands:
            reasons["absent"] += 1
            continue
        if len(cands) > 1 and qid is not None:
            cands = sorted(cands, key=lambda k: gid[k] != qid[r])
        a1, a2 = qa1[r], qa2[r]
        pal = is_palindromic(a1, a2)
        hit = None
        for k in cands:
            if ga1[k] == a1 and ga2[k] == a2:
                hit = (k, False, False)
            elif ga1[k] == a2 and ga2[k] == a1:
                hit = (k, True, False)
            elif allow_strand_flip and not pal:
                c1, c2 = complement(a1), complement(a2)
                if ga1[k] == c1 and ga2[k] == c2:
                    hit = (k, False, True)
                elif ga1[k] == c2 and ga2[k] == c1:
                    hit = (k, True, True)
            if hit is not None:
                break
        if hit is None:
            reasons["allele_mismatch"] += 1
            continue
        k, swapped, flipped = hit
        if pal and palindrome_band is not None:
            lo, hi = palindrome_band
            f = np.nan if q_eaf is None else q_eaf[r]
            if not np.isfinite(f) or lo <= f <= hi or geno_eaf is None or not np.isfinite(geno_eaf[k]):
                reasons["palindromic_ambiguous"] += 1
                continue
            # the genotype frequency of the query effect allele if taken at face value
            g = 1.0 - geno_eaf[k] if swapped else geno_eaf[k]
            if (f - 0.5) * (g - 0.5) < 0:  # opposite sides of 0.5: strands differ
                swapped, flipped = not swapped, True
        rows.append(r)
        gi.append(gidx[k])
        sw.append(swapped)
        fl.append(flipped)
    return AlleleMatch(
        row=np.asarray(rows, dtype=np.int64),
        geno_index=np.asarray(gi, dtype=np.int64),
        swapped=np.asarray(sw, dtype=bool),
        strand_flipped=np.asarray(fl, dtype=bool),
        reasons=reasons,
    )


def _log_drops(what: str, n_in: int, reasons: dict) -> None:
    dropped = {k: v for k, v in reasons.items() if v}
    if dropped:
        detail = ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in dropped.items())
        logger.info(f"{what}: {sum(dropped.values())} of {n_in} variants dropped ({detail})")


def panel_dosages(
    reader,
    panel: pd.DataFrame,
    samples=None,
    dtype=np.float32,
) -> tuple[pd.DataFrame, np.ndarray]:
    """Dosages of the panel's effect alleles.

    Panel variants are matched to ``reader.variants`` by chromosome and position (variant_id
    where the panel has no position, and to break ties), with alleles equal or swapped (strand
    complements of non-palindromic variants are accepted too). Where the genotype file stores
    the panel's effect allele second, the dosage is flipped to ``2 − d``. Missing dosages are
    replaced by the variant's mean over the selected samples (mean imputation, as
    ``plink2 --score`` does by default). Variants absent from the genotypes, with other
    alleles, or missing in every sample are dropped and logged with counts.

    Returns
    -------
    aligned_panel : the kept panel rows (panel order, fresh index) plus ``genotype_index``
        (global variant index) and ``swapped`` (bool).
    dosages : (N_samples, S) array of ``dtype``, column s = aligned_panel row s.
    """
    m = match_alleles(panel, reader.variants)
    reasons = dict(m.reasons)
    aligned = panel.iloc[m.row].reset_index(drop=True).copy()
    aligned["genotype_index"] = m.geno_index
    aligned["swapped"] = m.swapped
    if len(aligned) == 0:
        _log_drops("panel", len(panel), reasons)
        raise InputError("panel: no panel variant found in the genotype data with matching alleles")
    uniq, inv = np.unique(m.geno_index, return_inverse=True)
    _, G = reader.read_dosages(samples=samples, variants=uniq, dtype=np.float64)
    G = np.asarray(G, dtype=np.float64)[:, inv]
    G[:, m.swapped] = 2.0 - G[:, m.swapped]
    nan = np.isnan(G)
    if nan.any():
        cnt = (~nan).sum(axis=0)
        means = np.where(nan, 0.0, G).sum(axis=0) / np.maximum(cnt, 1)
        G = np.where(nan, means[None, :], G)
        all_missing = cnt == 0
        if all_missing.any():
            reasons["all_missing"] = int(all_missing.sum())
            G = G[:, ~all_missing]
            aligned = aligned[~all_missing].reset_index(drop=True)
        logger.info(f"panel: mean-imputed {int(nan.sum())} missing dosages")
    _log_drops("panel", len(panel), reasons)
    return aligned, G.astype(dtype, copy=False)


def _genotype_eaf(reader, gidx: np.ndarray, samples=None) -> np.ndarray:
    """Frequency of each genotype variant's first (effect) allele over ``samples``."""
    if len(gidx) == 0:
        return np.zeros(0)
    uniq, inv = np.unique(gidx, return_inverse=True)
    _, D = reader.read_dosages(samples=samples, variants=uniq, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        f = np.nanmean(np.asarray(D, dtype=np.float64), axis=0) / 2.0
    return f[inv]


def build_panel(
    sumstats: pd.DataFrame,
    reader,
    p_threshold: float = 1e-5,
    r2: float = 0.05,
    kb: float = 5000.0,
    palindrome_band: tuple[float, float] = (0.42, 0.58),
    ld_reader=None,
    samples=None,
    ld_samples=None,
    r2_method: str = "haplotype",
    clump_variants: bool = True,
) -> tuple[pd.DataFrame, dict]:
    """Build a variant panel from disease summary statistics.

    1. keep ``p < p_threshold`` (strict);
    2. align to the target genotypes (``reader``): alleles as stored, swapped (beta sign
       flipped) or strand-complemented; palindromic A/T, C/G variants need the summary
       statistics' effect-allele frequency: inside ``palindrome_band`` (closed) they are dropped,
       outside it the strand is chosen by agreement with the target's allele frequency;
    3. clump the aligned variants (PLINK 1.9 semantics, ``p1 = 1``, ``|r²| > r2`` within
       ``kb``) on ``ld_reader`` (default: the target genotypes) and keep the index variants.

    The panel is expressed in the target file's alleles (``effect_allele`` = the genotype
    file's first allele), with the target's variant IDs and positions, in genomic order.

    Returns
    -------
    (panel, counts) — ``counts`` records every filtering step (also logged).
    """
    from ..ld.clump import clump

    need = [c for c in ("effect_allele", "other_allele", "beta", "p_value") if c not in sumstats]
    if need:
        raise InputError(f"sumstats lack column(s) {', '.join(need)}")
    ss = sumstats.reset_index(drop=True)
    counts: dict = {"input": int(len(ss))}
    sig = ss[pd.to_numeric(ss["p_value"], errors="coerce") < p_threshold].reset_index(drop=True)
    counts["significant"] = int(len(sig))
    logger.info(f"panel: {len(sig)} of {len(ss)} variants with p < {p_threshold:g}")
    if len(sig) == 0:
        raise InputError(f"panel: no variant with p < {p_threshold:g}")
    eaf = sig["effect_allele_frequency"] if "effect_allele_frequency" in sig else None
    variants = reader.variants
    m0 = match_alleles(sig, variants, palindrome_band=None)
    pal = np.array([is_palindromic(a, b) for a, b in zip(
        sig["effect_allele"].astype(str).to_numpy()[m0.row], sig["other_allele"].astype(str).to_numpy()[m0.row])],
        dtype=bool)
    vfreq = variants[[]].copy()
    vfreq["effect_allele_frequency"] = np.nan
    if pal.any():
        g = m0.geno_index[pal]
        vfreq.loc[g, "effect_allele_frequency"] = _genotype_eaf(reader, g, samples)
    vq = variants.copy()
    vq["effect_allele_frequency"] = vfreq["effect_allele_frequency"]
    m = match_alleles(sig, vq, eaf=eaf, palindrome_band=palindrome_band)
    counts.update({k: int(v) for k, v in m.reasons.items()})
    counts["swapped"] = int(m.swapped.sum())
    counts["strand_flipped"] = int(m.strand_flipped.sum())
    _log_drops("panel", len(sig), m.reasons)
    logger.info(f"panel: {len(m.row)} variants aligned ({counts['swapped']} allele swaps with beta sign "
                f"flipped, {counts['strand_flipped']} strand flips)")
    if len(m.row) == 0:
        raise InputError("panel: no significant variant found in the target genotypes with matching alleles")
    g = variants.loc[m.geno_index]
    sign = np.where(m.swapped, -1.0, 1.0)
    aligned = pd.DataFrame({
        "variant_id": g["variant_id"].astype(str).to_numpy(),
        "chromosome": g["chromosome"].astype(str).to_numpy(),
        "base_pair_location": g["base_pair_location"].to_numpy().astype(np.int64),
        "effect_allele": g["effect_allele"].astype(str).to_numpy(),
        "other_allele": g["other_allele"].astype(str).to_numpy(),
        "beta": pd.to_numeric(sig["beta"], errors="coerce").to_numpy()[m.row] * sign,
        "standard_error": (pd.to_numeric(sig["standard_error"], errors="coerce").to_numpy()[m.row]
                           if "standard_error" in sig else np.nan),
        "p_value": pd.to_numeric(sig["p_value"], errors="coerce").to_numpy()[m.row],
        "_gidx": m.geno_index,
    })
    dup = aligned["_gidx"].duplicated(keep=False)
    if dup.any():
        aligned = aligned.sort_values("p_value", kind="mergesort").drop_duplicates("_gidx")
        counts["duplicates"] = int(dup.sum())
        logger.info(f"panel: {int(dup.sum())} summary rows map to the same genotype variant; best p kept")
    aligned = aligned.sort_values("_gidx", kind="mergesort").reset_index(drop=True)
    if clump_variants:
        ldr = ld_reader if ld_reader is not None else reader
        res = clump(aligned[["variant_id", "p_value"]], ldr, p1=1.0, p2=1.0, r2=r2, kb=kb,
                    method=r2_method, samples=ld_samples if ld_reader is not None else samples)
        keep_ids = set(res.clumps.loc[res.clumps["in_reference"], "variant_id"])
        missing = set(res.missing["variant_id"])
        if missing:
            logger.info(f"panel: {len(missing)} aligned variants absent from the LD reference kept unclumped")
        aligned = aligned[aligned["variant_id"].isin(keep_ids | missing)].reset_index(drop=True)
        counts["clumps"] = int(len(aligned))
        logger.info(f"panel: {len(aligned)} independent variants after clumping (r2 {r2:g}, {kb:g} kb)")
    counts["panel"] = int(len(aligned))
    return aligned.drop(columns="_gidx")[PANEL_COLUMNS], counts

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

"""Fixed-effect inverse-variance meta-analysis (METAL ``SCHEME STDERR``).

Per variant over the k studies that carry it (after harmonisation):
``w_i = 1/se_i²``, ``β̂ = Σ w_i β_i / Σ w_i``, ``SE = 1/sqrt(Σ w_i)``, ``z = β̂/SE``, two-sided normal
p; Cochran's ``Q = Σ w_i (β_i − β̂)²``, ``df = k − 1``, ``het_p = P(χ²_df > Q)`` (1 when k ≤ 1 or
Q < 1e-7, as METAL), ``I² = max(0, (Q − df)/Q)·100`` (0 when k ≤ 1).

Harmonisation (as for panels): variants are matched by chromosome + position when every study
has them, otherwise by variant_id. The first study carrying a variant defines its alleles; a
later study's alleles may be equal, swapped (β negated, EAF → 1 − EAF) or strand complements.
Palindromic A/T, C/G entries: when both frequencies are known and the study EAF lies outside
``palindrome_band`` ([0.42, 0.58]), the strand is resolved from the effect-allele frequency
against the reference study's; otherwise (METAL's rule) a variant whose alleles agree as
written (A/T and A/T) is kept on the same strand, and one listed swapped (A/T vs T/A), which
could be a swap or a strand flip, is dropped and counted (``palindromic_ambiguous``).
``drop_ambiguous=True`` drops every ambiguous palindromic variant instead. Incompatible
alleles are dropped and counted.

Genomic control (optional, per study): ``λ = median((β/se)²)/0.4549364``; when λ > 1 the study's
standard errors are multiplied by ``sqrt(λ)`` (METAL ``GENOMICCONTROL ON``).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from .._log import logger
from ..errors import InputError
from .harmonize import orient, palindromic, resolve_palindromes
from .panel import norm_chrom

CHISQ1_MEDIAN = 0.4549364

META_COLUMNS = ["chromosome", "base_pair_location", "variant_id", "effect_allele", "other_allele",
                "effect_allele_frequency", "n", "chisq", "df", "p_value", "neg_log_10_p_value",
                "errcode", "beta", "standard_error", "n_studies", "direction", "q", "het_df",
                "het_p", "i2"]


def gc_lambda(beta, se) -> float:
    """METAL's per-study genomic-control λ: median (β/se)² / 0.4549364."""
    z2 = (np.asarray(beta, float) / np.asarray(se, float)) ** 2
    z2 = z2[np.isfinite(z2)]
    return float(np.median(z2) / CHISQ1_MEDIAN) if z2.size else 1.0


def _key(df: pd.DataFrame, by: str) -> pd.Series:
    if by == "position":
        return (norm_chrom(df["chromosome"]).to_numpy() + ":"
                + df["base_pair_location"].astype("Int64").astype(str).to_numpy())
    return df["variant_id"].astype(str)


def meta_analyze(
    studies: Sequence[pd.DataFrame],
    genomic_control: bool | Sequence[float] = False,
    palindrome_band: tuple[float, float] = (0.42, 0.58),
    drop_ambiguous: bool = False,
) -> tuple[pd.DataFrame, dict]:
    """Meta-analyse harmonised per-study summary statistics.

    Parameters
    ----------
    studies : tables with effect_allele, other_allele, beta, standard_error and variant_id
        and/or chromosome + base_pair_location (optional effect_allele_frequency, n).
    genomic_control : False, True (estimate λ per study) or a list of per-study λ.
    palindrome_band : ambiguous EAF band for palindromic variants.
    drop_ambiguous : drop every palindromic variant whose strand the frequencies cannot
        resolve, even when its alleles agree as written (default: keep those, as METAL).

    Returns
    -------
    (table, info): one row per variant in :data:`META_COLUMNS`, ordered by chromosome and
    position (or first appearance); info has per-study λ and drop counts.
    """
    if len(studies) < 1:
        raise InputError("meta: no study given")
    for i, s in enumerate(studies, start=1):
        for c in ("effect_allele", "other_allele", "beta", "standard_error"):
            if c not in s:
                raise InputError(f"meta: study {i} lacks column {c}")
    by = "position" if all(
        ("chromosome" in s and "base_pair_location" in s and s["base_pair_location"].notna().all()) for s in studies
    ) else "id"
    if by == "id" and not all("variant_id" in s for s in studies):
        raise InputError("meta: studies need chromosome + base_pair_location, or variant_id")
    if isinstance(genomic_control, bool):
        lambdas = [None] * len(studies) if not genomic_control else ["est"] * len(studies)
    else:
        lambdas = list(genomic_control)
        if len(lambdas) != len(studies):
            raise InputError("gc: needs one lambda per study")

    ref = None  # key -> reference row
    long = []
    info = {"lambda": [], "dropped": []}
    for i, s in enumerate(studies):
        s = s.reset_index(drop=True).copy()
        s["_key"] = _key(s, by)
        beta = pd.to_numeric(s["beta"], errors="coerce").to_numpy(float)
        se = pd.to_numeric(s["standard_error"], errors="coerce").to_numpy(float)
        ok = np.isfinite(beta) & np.isfinite(se) & (se > 0)
        drops = {"missing_beta_se": int((~ok).sum())}
        dup = s["_key"].duplicated() & ok
        drops["duplicate"] = int(dup.sum())
        ok &= ~dup.to_numpy()
        s = s[ok].reset_index(drop=True)
        beta, se = beta[ok], se[ok]
        lam = lambdas[i]
        if lam == "est":
            lam = gc_lambda(beta, se)
        if lam is not None and lam > 1:
            se = se * np.sqrt(lam)
        info["lambda"].append(None if lam is None else float(lam))
        eaf = pd.to_numeric(s["effect_allele_frequency"], errors="coerce").to_numpy(float) if (
            "effect_allele_frequency" in s) else np.full(len(s), np.nan)
        n = pd.to_numeric(s["n"], errors="coerce").to_numpy(float) if "n" in s else np.full(len(s), np.nan)
        if ref is None:
            ref = pd.DataFrame({
                "_key": s["_key"], "effect_allele": s["effect_allele"].astype(str).str.upper(),
                "other_allele": s["other_allele"].astype(str).str.upper(), "ref_eaf": eaf,
                "chromosome": norm_chrom(s["chromosome"]).to_numpy() if "chromosome" in s else None,
                "base_pair_location": s["base_pair_location"].astype("Int64") if "base_pair_location" in s else pd.NA,
                "variant_id": s["variant_id"].astype(str) if "variant_id" in s else s["_key"],
            })
            code = np.ones(len(s), dtype=np.int8)
            drops.update(allele_mismatch=0, palindromic_ambiguous=0)
        else:
            j = ref.set_index("_key").reindex(s["_key"])
            new = j["effect_allele"].isna().to_numpy()
            code = np.zeros(len(s), dtype=np.int8)
            old = ~new
            code[old] = orient(s["effect_allele"][old], s["other_allele"][old],
                               j["effect_allele"][old], j["other_allele"][old])
            pal = np.zeros(len(s), bool)
            pal[old] = palindromic(s["effect_allele"][old], s["other_allele"][old])
            mism = int(((code == 0) & old).sum())
            code, n_amb = resolve_palindromes(code, pal, eaf, j["ref_eaf"].to_numpy(float),
                                              palindrome_band, keep_as_written=not drop_ambiguous)
            drops.update(allele_mismatch=mism, palindromic_ambiguous=n_amb)
            code[new] = 1
            if new.any():
                sn = s[new]
                ref = pd.concat([ref, pd.DataFrame({
                    "_key": sn["_key"], "effect_allele": sn["effect_allele"].astype(str).str.upper(),
                    "other_allele": sn["other_allele"].astype(str).str.upper(), "ref_eaf": eaf[new],
                    "chromosome": norm_chrom(sn["chromosome"]).to_numpy() if "chromosome" in sn else None,
                    "base_pair_location": (sn["base_pair_location"].astype("Int64")
                                           if "base_pair_location" in sn else pd.NA),
                    "variant_id": sn["variant_id"].astype(str) if "variant_id" in sn else sn["_key"],
                })], ignore_index=True)
        keep = code != 0
        sign = np.where(code < 0, -1.0, 1.0)
        long.append(pd.DataFrame({
            "_key": s["_key"][keep].to_numpy(), "study": i, "beta": (beta * sign)[keep], "se": se[keep],
            "eaf": np.where(code < 0, 1 - eaf, eaf)[keep], "n": n[keep],
        }))
        info["dropped"].append(drops)
        d = {k: v for k, v in drops.items() if v}
        if d:
            logger.info(f"meta: study {i + 1}: dropped "
                        + ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in d.items()))
    L = pd.concat(long, ignore_index=True)
    L["w"] = 1.0 / L["se"] ** 2
    L["wb"] = L["w"] * L["beta"]
    L["weaf"] = np.where(np.isfinite(L["eaf"]), L["w"] * L["eaf"], 0.0)
    L["weaf_w"] = np.where(np.isfinite(L["eaf"]), L["w"], 0.0)
    g = L.groupby("_key", sort=False)
    agg = g.agg(W=("w", "sum"), WB=("wb", "sum"), k=("study", "size"), n=("n", "sum"),
                WE=("weaf", "sum"), WEW=("weaf_w", "sum"))
    bhat = agg["WB"] / agg["W"]
    L["bhat"] = L["_key"].map(bhat)
    L["qterm"] = L["w"] * (L["beta"] - L["bhat"]) ** 2
    q = L.groupby("_key", sort=False)["qterm"].sum()
    # direction string, one character per study ('?' where absent)
    nst = len(studies)
    sym = np.where(L["beta"] > 0, "+", np.where(L["beta"] < 0, "-", "0"))
    dir_df = pd.DataFrame({"_key": L["_key"], "study": L["study"], "s": sym})
    piv = dir_df.pivot(index="_key", columns="study", values="s").reindex(columns=range(nst)).fillna("?")
    direction = piv.apply(lambda r: "".join(r), axis=1)

    out = ref.set_index("_key").loc[agg.index].reset_index()
    se_hat = 1.0 / np.sqrt(agg["W"].to_numpy())
    b = bhat.to_numpy()
    z = b / se_hat
    logp = np.log(2.0) + stats.norm.logsf(np.abs(z))
    k = agg["k"].to_numpy()
    qv = q.reindex(agg.index).to_numpy()
    df = k - 1
    with np.errstate(divide="ignore", invalid="ignore"):
        het_p = np.where((k <= 1) | (qv < 1e-7), 1.0, stats.chi2.sf(qv, np.maximum(df, 1)))
        i2 = np.where((k <= 1) | (qv <= 0), 0.0, np.maximum(0.0, (qv - df) / qv) * 100.0)
    res = pd.DataFrame({
        "chromosome": out["chromosome"], "base_pair_location": out["base_pair_location"],
        "variant_id": out["variant_id"], "effect_allele": out["effect_allele"],
        "other_allele": out["other_allele"],
        "effect_allele_frequency": np.where(agg["WEW"] > 0, agg["WE"] / agg["WEW"].where(agg["WEW"] > 0, 1), np.nan),
        "n": agg["n"].to_numpy(), "chisq": z ** 2, "df": 1, "p_value": np.exp(logp),
        "neg_log_10_p_value": -logp / np.log(10.0), "errcode": ".", "beta": b, "standard_error": se_hat,
        "n_studies": k, "direction": direction.reindex(agg.index).to_numpy(), "q": qv, "het_df": df,
        "het_p": het_p, "i2": i2,
    })
    if by == "position":
        res["_c"] = pd.to_numeric(res["chromosome"].replace({"X": "23", "Y": "24", "XY": "25", "MT": "26", "M": "26"}),
                                  errors="coerce")
        res = res.sort_values(["_c", "chromosome", "base_pair_location"], kind="mergesort").drop(columns="_c")
    res = res.reset_index(drop=True)
    logger.info(f"meta: {len(res)} variants from {nst} studies ({int((k > 1).sum())} in 2 or more)")
    return res[META_COLUMNS], info

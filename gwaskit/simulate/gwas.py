"""Per-variant linear regression of a simulated trait: the "external GWAS".

For every variant j the model ``y = a + C c + b_j g_j + e`` (ordinary least squares, intercept
and optional covariates ``C``) is fitted by residualising ``y`` and ``g_j`` on ``[1, C]``
(Frisch-Waugh-Lovell) and then, vectorised over variants::

    beta = <g, y> / <g, g>
    s2   = (<y, y> - beta^2 <g, g>) / (n - k - 2)     k = number of covariates
    se   = sqrt(s2 / <g, g>);  t = beta / se;  p = 2 T_{n-k-2}.sf(|t|)

This is plink2 ``--glm`` on a quantitative trait (Student t p-values; ``distribution="normal"``
uses the normal approximation). Valid for unrelated individuals; monomorphic variants get NaN.
On a 0/1 disease label it is the linear probability model (as BOLT-LMM/REGENIE step-2 linear
approximations), adequate for ranking variants.

Output columns follow GWAS-SSF (chromosome, base_pair_location, effect_allele, other_allele,
beta, standard_error, effect_allele_frequency, p_value, then variant_id and n), plus
``neg_log_10_p_value`` (exact where p underflows).
"""
from __future__ import annotations

import os

import numpy as np
import pandas as pd
from scipy import special, stats

from .._log import logger
from ..errors import InputError

SSF_COLUMNS = (
    "chromosome", "base_pair_location", "effect_allele", "other_allele", "beta",
    "standard_error", "effect_allele_frequency", "p_value", "variant_id", "n",
    "neg_log_10_p_value",
)


def _neg_log10_two_sided_t(t: np.ndarray, df: float, distribution: str) -> np.ndarray:
    a = np.abs(t)
    if distribution == "normal":
        logp = np.log(2.0) + special.log_ndtr(-a)
    else:
        logp = np.log(2.0) + stats.t.logsf(a, df)
    return -logp / np.log(10.0)


def linear_regression(
    genotypes: np.ndarray,
    y: np.ndarray,
    covariates: np.ndarray | None = None,
    *,
    distribution: str = "t",
    chunk_size: int = 4096,
) -> pd.DataFrame:
    """Per-column OLS of ``y`` on ``genotypes`` (samples x variants), adjusted for covariates.

    Returns a DataFrame with ``beta``, ``standard_error``, ``t``, ``p_value``,
    ``neg_log_10_p_value`` and ``effect_allele_frequency`` (one row per variant).
    """
    if distribution not in ("t", "normal"):
        raise InputError(f"distribution: use 't' or 'normal', got {distribution!r}")
    g_all = np.asarray(genotypes)
    y = np.asarray(y, dtype=np.float64)
    n, m = g_all.shape
    if y.shape != (n,):
        raise InputError(f"phenotype has {y.shape[0]} values for {n} genotyped samples")
    design = np.ones((n, 1))
    if covariates is not None:
        cov = np.asarray(covariates, dtype=np.float64).reshape(n, -1)
        design = np.column_stack([design, cov])
    q, r = np.linalg.qr(design)
    keep = np.abs(np.diag(r)) > 1e-10 * max(1.0, np.abs(r).max())
    q = q[:, keep]
    k = q.shape[1]
    df = n - k - 1
    if df < 1:
        raise InputError(f"too few samples ({n}) for {k} covariates")
    yr = y - q @ (q.T @ y)
    yy = yr @ yr
    beta = np.full(m, np.nan)
    se = np.full(m, np.nan)
    freq = np.empty(m)
    for start in range(0, m, chunk_size):
        stop = min(m, start + chunk_size)
        g = g_all[:, start:stop].astype(np.float64)
        freq[start:stop] = g.mean(axis=0) / 2.0
        g -= q @ (q.T @ g)
        gg = np.einsum("ij,ij->j", g, g)
        gy = g.T @ yr
        ok = gg > 1e-8
        b = np.where(ok, gy / np.where(ok, gg, 1.0), np.nan)
        rss = np.maximum(yy - b * gy, 0.0)
        beta[start:stop] = b
        se[start:stop] = np.where(ok, np.sqrt(rss / df / np.where(ok, gg, 1.0)), np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        t = beta / se
    nlp = _neg_log10_two_sided_t(t, df, distribution)
    p = np.power(10.0, -nlp)
    return pd.DataFrame({
        "beta": beta, "standard_error": se, "t": t, "p_value": p,
        "neg_log_10_p_value": nlp, "effect_allele_frequency": freq,
    })


def population_design(populations: np.ndarray) -> np.ndarray | None:
    """One-hot deme indicators without the first level (``None`` for a single deme)."""
    labels = pd.Series(np.asarray(populations)).astype(str)
    if labels.nunique() < 2:
        return None
    return pd.get_dummies(labels, drop_first=True).to_numpy(dtype=np.float64)


def gwas_sumstats(
    genotypes: np.ndarray,
    variants: pd.DataFrame,
    y: np.ndarray,
    covariates: np.ndarray | None = None,
    *,
    distribution: str = "t",
) -> pd.DataFrame:
    """GWAS-SSF-style summary statistics of ``y`` (monomorphic variants are dropped, logged)."""
    res = linear_regression(genotypes, y, covariates, distribution=distribution)
    out = pd.DataFrame({
        "chromosome": variants["chromosome"].astype(str).to_numpy(),
        "base_pair_location": variants["base_pair_location"].to_numpy(dtype=np.int64),
        "effect_allele": variants["effect_allele"].to_numpy(),
        "other_allele": variants["other_allele"].to_numpy(),
        "beta": res["beta"].to_numpy(),
        "standard_error": res["standard_error"].to_numpy(),
        "effect_allele_frequency": res["effect_allele_frequency"].to_numpy(),
        "p_value": res["p_value"].to_numpy(),
        "variant_id": variants["variant_id"].to_numpy(),
        "n": np.int64(len(y)),
        "neg_log_10_p_value": res["neg_log_10_p_value"].to_numpy(),
    })
    bad = ~np.isfinite(out["beta"].to_numpy())
    if bad.any():
        logger.info("external GWAS: dropped %d monomorphic variants", int(bad.sum()))
        out = out.loc[~bad].reset_index(drop=True)
    return out


def write_sumstats(df: pd.DataFrame, path: str | os.PathLike, overwrite: bool = False) -> None:
    """Write summary statistics as TSV (``.tsv`` or ``.tsv.gz``) atomically."""
    from ..io.output import write_table

    if not str(path).lower().endswith((".tsv", ".tsv.gz")):
        raise InputError(f"{path}: summary statistics are written as .tsv or .tsv.gz")
    write_table(df[list(SSF_COLUMNS)], path, overwrite=overwrite, float_format="%.6g")

"""QQ plot of association p-values with a 95% band and the D-df genomic inflation lambda_D.

Expected -log10 p of the i-th smallest of n p-values is ``-log10(i / (n + 1))`` (the mean of its
Uniform order statistic); the pointwise band is that order statistic's Beta(i, n - i + 1)
quantiles (Casella & Berger; as in qqman/gwaslab). The band is pointwise, not simultaneous.

Genomic inflation for a D-df test (statistics reference section 10)::

    lambda_D = chi2.isf(median(p), D) / chi2.ppf(0.5, D)

D comes from ``df`` (argument), else the results' ``df`` column, else 1. The usual 1-df lambda
computed from D-df p-values overstates a scale inflation, so the D used is always printed.
The plot is thinned like the Manhattan plot (all points above -log10 p = 2, one per grid cell
below), which leaves its appearance unchanged.
"""
from __future__ import annotations

import os

import numpy as np
import pandas as pd
from scipy import stats

from .._log import logger
from ..errors import InputError
from .manhattan import _new_figure, neg_log10_p, read_results, save_figure, thin_points


def lambda_gc(p: np.ndarray | None = None, df: float = 1, *, neg_log10_p: np.ndarray | None = None) -> float:
    """``lambda_D = chi2.isf(median p, D) / chi2.ppf(0.5, D)`` (NaNs ignored).

    Pass p-values, or -log10 p-values when p underflows (the median is unaffected).
    """
    if df <= 0:
        raise InputError(f"df must be positive, got {df}")
    if p is not None:
        p = np.asarray(p, dtype=np.float64)
        med = np.nanmedian(p)
    elif neg_log10_p is not None:
        med = 10.0 ** (-np.nanmedian(np.asarray(neg_log10_p, dtype=np.float64)))
    else:
        raise ValueError("pass p or neg_log10_p")
    return float(stats.chi2.isf(med, df) / stats.chi2.ppf(0.5, df))


def _degrees_of_freedom(results: pd.DataFrame, df: float | None, source: str) -> tuple[float, np.ndarray | None]:
    """The D to use, and a row mask restricting lambda to rows with that D (or None)."""
    if df is not None:
        return float(df), None
    if "df" not in results.columns:
        return 1.0, None
    d = pd.to_numeric(results["df"], errors="coerce").to_numpy(dtype=np.float64)
    vals, counts = np.unique(d[np.isfinite(d)], return_counts=True)
    if vals.size == 0:
        return 1.0, None
    D = float(vals[np.argmax(counts)])
    if vals.size > 1:
        logger.info("%s: df varies (%s); lambda computed on the %d rows with D = %g", source,
                    ", ".join(f"{v:g}" for v in vals[:5]), int(counts.max()), D)
        return D, d == D
    return D, None


def qq(
    results: pd.DataFrame | str | os.PathLike,
    out_path: str | os.PathLike,
    df: float | None = None,
    *,
    title: str | None = None,
    keep_above: float = 2.0,
    band: float = 0.95,
    figsize: tuple[float, float] = (5.0, 5.0),
    dpi: int = 150,
    point_size: float = 5.0,
    overwrite: bool = False,
) -> dict:
    """Draw a QQ plot to ``out_path`` (format by extension) and return lambda_D.

    Parameters
    ----------
    results
        Table (or path) with ``p_value`` and/or ``neg_log_10_p_value`` (and optionally ``df``).
    df
        Degrees of freedom D of the test statistic for lambda_D (default: ``df`` column or 1).
    band
        Coverage of the pointwise order-statistic band (0 disables it).

    Returns
    -------
    dict with ``lambda`` (lambda_D), ``df`` (D), ``n`` (finite p-values), ``n_drawn``, ``path``.
    """
    from ..io.output import check_writable

    check_writable(out_path, overwrite)
    source = "results"
    if not isinstance(results, pd.DataFrame):
        source = str(results)
        results = read_results(results, columns=["p_value", "neg_log_10_p_value", "df"])
    y_all = neg_log10_p(results, source)
    D, mask = _degrees_of_freedom(results, df, source)
    if "p_value" in results.columns:
        p = pd.to_numeric(results["p_value"], errors="coerce").to_numpy(dtype=np.float64)
        lam = lambda_gc(p if mask is None else p[mask], D)
    else:
        lam = lambda_gc(neg_log10_p=y_all if mask is None else y_all[mask], df=D)
    y = y_all[np.isfinite(y_all)]
    n = y.size
    if n == 0:
        raise InputError(f"{source}: no finite p-values to plot")
    obs = np.sort(y)[::-1]
    rank = np.arange(1, n + 1, dtype=np.float64)
    exp = -np.log10(rank / (n + 1))
    keep = thin_points(exp, obs, keep_above=keep_above, x_range=(0.0, float(exp[0])))
    keep = np.sort(keep)

    fig = _new_figure(figsize)
    ax = fig.add_subplot(1, 1, 1)
    if band > 0:
        # band on a smooth log-spaced rank grid (plus the kept ranks), cheap for any n
        grid = np.unique(np.concatenate([
            np.unique(np.round(np.geomspace(1, n, 400)).astype(np.int64)), keep[:2000] + 1]))
        a = (1 - band) / 2
        lo = -np.log10(stats.beta.ppf(1 - a, grid, n - grid + 1))
        hi = -np.log10(stats.beta.ppf(a, grid, n - grid + 1))
        ax.fill_between(-np.log10(grid / (n + 1)), lo, hi, color="#d5d8dc", lw=0, label=f"{band:.0%} band")
    top = max(float(exp[0]), float(obs[0]))
    ax.plot([0, exp[0]], [0, exp[0]], color="#c0392b", lw=0.8)
    ax.scatter(exp[keep], obs[keep], s=point_size, c="#1f4e79", linewidths=0, rasterized=True)
    ax.set_xlim(0, exp[0] * 1.03)
    ax.set_ylim(0, top * 1.05)
    ax.set_xlabel(r"expected $-\log_{10}\,p$")
    ax.set_ylabel(r"observed $-\log_{10}\,p$")
    label = rf"$\lambda_{{{D:g}}}$ = {lam:.4f}  (D = {D:g}, n = {n:,})"
    ax.text(0.03, 0.97, label, transform=ax.transAxes, va="top", ha="left", fontsize=9)
    ax.spines[["top", "right"]].set_visible(False)
    if title:
        ax.set_title(title)
    path = save_figure(fig, out_path, dpi=dpi, overwrite=overwrite)
    logger.info("qq: lambda_%g = %.4f over %d p-values (%d drawn) -> %s", D, lam, n, keep.size, path)
    return {"lambda": lam, "df": D, "n": int(n), "n_drawn": int(keep.size), "path": str(path)}

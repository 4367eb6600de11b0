"""Manhattan plot of association results, fast for tens of millions of variants.

The null bulk is thinned before drawing: every point with -log10 p above ``keep_above``
(default 2) is drawn; below it, only the first point in each cell of a fine grid over the
plotting area (``x_bins`` x ``y_bins``, i.e. about one point per pixel) is kept. The figure is
visually identical to drawing everything, and 10 million variants reduce to ~10^5 markers.

-log10 p is taken from ``neg_log_10_p_value`` when present (exact far below 1e-300, as
``gwaskit scan`` writes it), else computed from ``p_value`` (p = 0 is drawn at the largest
finite value). Chromosomes are laid out in natural order (1, 2, ..., 22, X, Y, XY, MT, then
others alphabetically), with alternating colours. matplotlib is imported lazily and used
through its object API (Agg canvas), never pyplot, so no global state is touched.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from .._log import logger
from ..errors import InputError

GENOME_WIDE = 5e-8
SUGGESTIVE = 1e-5
_SPECIAL_CHROMS = {"X": 23, "Y": 24, "XY": 25, "MT": 26, "M": 26}
FIGURE_SUFFIXES = (".png", ".svg", ".pdf", ".jpg", ".jpeg")


def chromosome_sort_key(name) -> tuple:
    """Natural order: numbered chromosomes by number, then X, Y, XY, MT, then the rest by name."""
    s = str(name)
    bare = re.sub(r"^chr", "", s, flags=re.IGNORECASE)
    if bare.isdigit():
        return (0, int(bare), s)
    if bare.upper() in _SPECIAL_CHROMS:
        return (0, 1000 + _SPECIAL_CHROMS[bare.upper()], s)
    return (1, 0, s)


def read_results(path: str | os.PathLike, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """Read a results table by extension: ``.parquet``, ``.tsv``/``.tsv.gz``/``.txt``, ``.csv``."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: file not found")
    name = path.name.lower()
    try:
        if name.endswith((".parquet", ".pq")):
            if columns is not None:
                import pyarrow.parquet as pq

                have = set(pq.read_schema(path).names)
                columns = [c for c in columns if c in have]
            df = pd.read_parquet(path, columns=list(columns) if columns is not None else None)
        elif name.endswith((".tsv", ".tsv.gz", ".txt", ".txt.gz", ".tab", ".csv", ".csv.gz")):
            sep = "," if ".csv" in name else "\t"
            usecols = None
            if columns is not None:
                wanted = set(columns)
                usecols = lambda c: c.lstrip("#") in wanted  # noqa: E731
            df = pd.read_csv(path, sep=sep, usecols=usecols, na_values=["NA", "#NA", "nan", ""],
                             dtype={"chromosome": str, "#chromosome": str, "variant_id": str})
        else:
            raise InputError(f"{path}: unknown results extension; use .parquet, .tsv, .tsv.gz or .csv")
    except InputError:
        raise
    except Exception as exc:  # parser errors -> one line
        raise InputError(f"{path}: cannot read results table ({type(exc).__name__}: {exc})") from None
    df.columns = [str(c).lstrip("#") for c in df.columns]
    return df


def neg_log10_p(results: pd.DataFrame, source: str = "results") -> np.ndarray:
    """-log10 p per row: ``neg_log_10_p_value`` if present, else from ``p_value``."""
    if "neg_log_10_p_value" in results.columns:
        y = pd.to_numeric(results["neg_log_10_p_value"], errors="coerce").to_numpy(dtype=np.float64)
    elif "p_value" in results.columns:
        p = pd.to_numeric(results["p_value"], errors="coerce").to_numpy(dtype=np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            y = -np.log10(p)
        inf = np.isposinf(y)
        if inf.any():
            finite = y[np.isfinite(y)]
            y[inf] = finite.max() if finite.size else 300.0
            logger.info("%s: %d p-values of 0 drawn at the largest finite -log10 p", source, int(inf.sum()))
    else:
        raise InputError(f"{source}: no p_value or neg_log_10_p_value column")
    return y


def thin_points(
    x: np.ndarray,
    y: np.ndarray,
    *,
    keep_above: float = 2.0,
    x_bins: int = 1500,
    y_bins: int = 120,
    x_range: tuple[float, float] | None = None,
) -> np.ndarray:
    """Indices of points to draw: all with ``y > keep_above``; below, one per grid cell.

    The grid spans ``x_range`` (default: data range) times [0, ``keep_above``]; the first point
    (in input order) of every occupied cell is kept. O(n), no sort.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    ok = np.isfinite(x) & np.isfinite(y)
    high = np.flatnonzero(ok & (y > keep_above))
    low = np.flatnonzero(ok & (y <= keep_above))
    if low.size == 0:
        return high
    lo, hi = x_range if x_range is not None else (np.nanmin(x[low]), np.nanmax(x[low]))
    span = max(hi - lo, 1e-12)
    xb = np.clip(((x[low] - lo) / span * (x_bins - 1)).astype(np.int64), 0, x_bins - 1)
    yb = np.clip((y[low] / max(keep_above, 1e-12) * (y_bins - 1)).astype(np.int64), 0, y_bins - 1)
    cell = xb * y_bins + yb
    first = np.full(x_bins * y_bins, -1, dtype=np.int64)
    first[cell[::-1]] = low[::-1]        # the last write wins: the first point of each cell
    kept_low = first[first >= 0]
    return np.sort(np.concatenate([high, kept_low]))


def genome_positions(results: pd.DataFrame, gap_fraction: float = 0.01):
    """Cumulative x coordinate of every row, chromosome order, tick centres and labels.

    Returns ``(x, chrom_index, ordered_labels, centres)``: ``chrom_index[i]`` is the rank of
    row i's chromosome in natural order.
    """
    for col in ("chromosome", "base_pair_location"):
        if col not in results.columns:
            raise InputError(f"results: no {col} column (needed for a Manhattan plot)")
    codes, uniques = pd.factorize(results["chromosome"], sort=False)
    if (codes < 0).any():
        raise InputError("results: missing chromosome values")
    labels = [str(u) for u in uniques]
    order = sorted(range(len(labels)), key=lambda k: chromosome_sort_key(labels[k]))
    rank = np.empty(len(labels), dtype=np.int64)
    rank[order] = np.arange(len(labels))
    chrom_rank = rank[codes]
    pos = pd.to_numeric(results["base_pair_location"], errors="coerce").to_numpy(dtype=np.float64)
    n_chrom = len(labels)
    lo = np.full(n_chrom, np.inf)
    hi = np.full(n_chrom, -np.inf)
    finite = np.isfinite(pos)
    np.minimum.at(lo, chrom_rank[finite], pos[finite])
    np.maximum.at(hi, chrom_rank[finite], pos[finite])
    lo[~np.isfinite(lo)] = 0
    hi[~np.isfinite(hi)] = 1
    lengths = np.maximum(hi - lo, 1.0)
    gap = gap_fraction * lengths.sum()
    offsets = np.concatenate([[0.0], np.cumsum(lengths + gap)[:-1]])
    x = offsets[chrom_rank] + (pos - lo[chrom_rank])
    centres = offsets + lengths / 2
    return x, chrom_rank, [labels[k] for k in order], centres


def _new_figure(figsize):
    from matplotlib.figure import Figure

    return Figure(figsize=figsize, layout="constrained")


def save_figure(fig, out_path: str | os.PathLike, dpi: int = 150, overwrite: bool = False) -> Path:
    """Save by extension (PNG, SVG, PDF, JPEG) atomically."""
    from ..io.output import atomic_path

    out_path = Path(out_path)
    suffix = out_path.suffix.lower()
    if suffix not in FIGURE_SUFFIXES:
        raise InputError(f"{out_path}: unknown figure extension; use one of {', '.join(FIGURE_SUFFIXES)}")
    with atomic_path(out_path, overwrite=overwrite) as tmp:
        fig.savefig(tmp, format=suffix.lstrip(".").replace("jpg", "jpeg"), dpi=dpi)
    return out_path


def _lead_ids(clumps: pd.DataFrame | str | os.PathLike | None) -> list[str]:
    if clumps is None:
        return []
    if not isinstance(clumps, pd.DataFrame):
        clumps = read_results(clumps)
    for col in ("variant_id", "lead_variant_id", "index_variant", "SNP", "ID"):
        if col in clumps.columns:
            return clumps[col].astype(str).tolist()
    raise InputError("clumps: no variant_id column")


def manhattan(
    results: pd.DataFrame | str | os.PathLike,
    out_path: str | os.PathLike,
    clumps: pd.DataFrame | str | os.PathLike | None = None,
    *,
    title: str | None = None,
    genome_wide: float = GENOME_WIDE,
    suggestive: float | None = SUGGESTIVE,
    keep_above: float = 2.0,
    colors: tuple[str, str] = ("#1f4e79", "#7fa7d1"),
    max_labels: int = 40,
    figsize: tuple[float, float] = (12.0, 4.5),
    dpi: int = 150,
    point_size: float = 4.0,
    overwrite: bool = False,
) -> dict:
    """Draw a Manhattan plot to ``out_path`` (format by extension).

    Parameters
    ----------
    results
        Table (or a path to one) with ``chromosome``, ``base_pair_location`` and
        ``neg_log_10_p_value`` or ``p_value``; ``variant_id`` is needed for labels.
    clumps
        Clump/lead table (or path) with a ``variant_id`` column: these variants are highlighted
        and labelled (at most ``max_labels``, strongest first).
    genome_wide, suggestive
        P-value thresholds drawn as horizontal lines (``None`` omits the suggestive line).
    keep_above
        Thinning threshold on -log10 p (see module docstring).

    Returns
    -------
    dict with ``n`` (rows), ``n_drawn`` (after thinning), ``n_labelled`` and ``path``.
    """
    from ..io.output import check_writable

    check_writable(out_path, overwrite)
    if not isinstance(results, pd.DataFrame):
        results = read_results(results, columns=["chromosome", "base_pair_location", "variant_id",
                                                  "p_value", "neg_log_10_p_value"])
    source = "results"
    if results.shape[0] == 0:
        raise InputError(f"{source}: no rows to plot")
    y = neg_log10_p(results, source)
    x, chrom_rank, chrom_labels, centres = genome_positions(results)
    keep = thin_points(x, y, keep_above=keep_above, x_range=(np.nanmin(x), np.nanmax(x)))
    ymax = float(np.nanmax(y[keep])) if keep.size else 1.0

    fig = _new_figure(figsize)
    ax = fig.add_subplot(1, 1, 1)
    cr = chrom_rank[keep]
    for parity in (0, 1):
        sel = keep[cr % 2 == parity]
        ax.scatter(x[sel], y[sel], s=point_size, c=colors[parity], linewidths=0, rasterized=True)
    ax.axhline(-np.log10(genome_wide), color="#c0392b", lw=0.8, ls="--")
    if suggestive is not None:
        ax.axhline(-np.log10(suggestive), color="#7f8c8d", lw=0.6, ls=":")
    n_labelled = 0
    lead_ids = _lead_ids(clumps)
    if lead_ids:
        if "variant_id" not in results.columns:
            raise InputError("results: no variant_id column to match the clump leads")
        rows = np.flatnonzero(results["variant_id"].astype(str).isin(set(lead_ids)).to_numpy())
        rows = rows[np.isfinite(y[rows])]
        rows = rows[np.argsort(-y[rows])]
        ax.scatter(x[rows], y[rows], s=point_size * 4, c="#e67e22", linewidths=0.3,
                   edgecolors="black", zorder=3)
        vid = results["variant_id"].astype(str).to_numpy()
        for r in rows[:max_labels]:
            ax.annotate(vid[r], (x[r], y[r]), xytext=(0, 4), textcoords="offset points",
                        fontsize=6, ha="center", va="bottom", rotation=45)
        n_labelled = int(min(rows.size, max_labels))
        missing = len(set(lead_ids)) - rows.size
        if missing > 0:
            logger.info("manhattan: %d clump leads not found in the results", missing)
    ax.set_xticks(centres)
    ax.set_xticklabels(chrom_labels, fontsize=7 if len(chrom_labels) <= 30 else 5)
    ax.set_xlim(np.nanmin(x) - 0.005 * np.ptp(x[np.isfinite(x)]), np.nanmax(x) + 0.005 * np.ptp(x[np.isfinite(x)]))
    ax.set_ylim(0, max(ymax, -np.log10(genome_wide)) * 1.08 + 0.5)
    ax.set_xlabel("chromosome")
    ax.set_ylabel(r"$-\log_{10}\,p$")
    ax.spines[["top", "right"]].set_visible(False)
    if title:
        ax.set_title(title)
    path = save_figure(fig, out_path, dpi=dpi, overwrite=overwrite)
    logger.info("manhattan: %d variants, %d drawn after thinning -> %s", results.shape[0], keep.size, path)
    return {"n": int(results.shape[0]), "n_drawn": int(keep.size), "n_labelled": n_labelled,
            "path": str(path)}

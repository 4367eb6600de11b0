"""numba kernels of the multi-trait scan (see :mod:`gwaskit.stats.multitrait`).

The fallback of :mod:`gwaskit.stats._scan_kernels` when the C twins cannot be built.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

# Reassociation lets LLVM vectorise the reductions; no 'nnan'/'ninf' so NaN tests stay valid.
_FM = {"reassoc", "contract", "nsz", "arcp"}


@njit(cache=True, inline="always", fastmath=_FM)
def _sum_count(G, j):
    """Σ of the observed (non-NaN) values of column ``j`` and their number."""
    n = G.shape[0]
    # separate single-accumulator loops vectorise; a fused sum+count loop does not (3-4x)
    s = 0.0
    for i in range(n):
        v = np.float64(G[i, j])
        s += v if v == v else 0.0
    cf = 0.0
    for i in range(n):
        v = G[i, j]
        cf += 1.0 if v == v else 0.0
    return s, int(cf)


@njit(cache=True, parallel=True, fastmath=_FM)
def impute_centre(G, out, mean, ss, nobs, dsum):
    """Mean-impute missing dosages (NaN) and centre each column, two streaming passes per column.

    Parameters
    ----------
    G : (N, m) float32/float64 dosages, NaN = missing (Fortran order is fastest)
    out : (N, m) float32/float64 output, Fortran order: centred dosages, 0 where missing
    mean, ss, dsum : (m,) float64 outputs: mean over observed, Σ out² (of the values actually
        written, accumulated in float64), Σ observed dosages
    nobs : (m,) int64 output, number of observed dosages

    A column with no observed dosage gets mean NaN, ss 0 and a zero output column.
    """
    n, m = G.shape
    round32 = out.itemsize == 4  # float32 output: accumulate the rounded values written
    for j in prange(m):
        s, c = _sum_count(G, j)
        nobs[j] = c
        dsum[j] = s
        if c == 0:
            mean[j] = np.nan
            ss[j] = 0.0
            for i in range(n):
                out[i, j] = 0.0
            continue
        mu = s / c
        mean[j] = mu
        acc = 0.0
        if round32:
            for i in range(n):
                v = np.float64(G[i, j])
                w = np.float64(np.float32(v - mu if v == v else 0.0))
                out[i, j] = w
                acc += w * w
        else:
            for i in range(n):
                v = np.float64(G[i, j])
                w = v - mu if v == v else 0.0
                out[i, j] = w
                acc += w * w
        ss[j] = acc


@njit(cache=True, parallel=True, fastmath=_FM)
def column_stats(G, mean, ss, nobs, dsum):
    """Read-only pass: per column number observed, Σ observed, mean and Σ (g − mean)² (float64).

    NaN = missing (contributes nothing). A column with no observed dosage gets mean NaN, ss 0.
    """
    n, m = G.shape
    for j in prange(m):
        s, c = _sum_count(G, j)
        nobs[j] = c
        dsum[j] = s
        if c == 0:
            mean[j] = np.nan
            ss[j] = 0.0
            continue
        mu = s / c
        mean[j] = mu
        acc = 0.0
        for i in range(n):
            v = np.float64(G[i, j])
            w = v - mu if v == v else 0.0
            acc += w * w
        ss[j] = acc


@njit(cache=True, parallel=True, fastmath=_FM)
def centre_columns(G, cols, mean, out, ss):
    """``out[:, k] = G[:, cols[k]] − mean[cols[k]]`` (0 where missing), rounded to ``out``'s
    dtype; ``ss[k]`` = Σ of the squared values written, accumulated in float64."""
    n = G.shape[0]
    round32 = out.itemsize == 4
    for k in prange(cols.shape[0]):
        j = cols[k]
        mu = mean[j]
        acc = 0.0
        if mu != mu:
            for i in range(n):
                out[i, k] = 0.0
        elif round32:
            for i in range(n):
                v = np.float64(G[i, j])
                w = np.float64(np.float32(v - mu if v == v else 0.0))
                out[i, k] = w
                acc += w * w
        else:
            for i in range(n):
                v = np.float64(G[i, j])
                w = v - mu if v == v else 0.0
                out[i, k] = w
                acc += w * w
        ss[k] = acc

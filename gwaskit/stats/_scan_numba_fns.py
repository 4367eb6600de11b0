"""numba kernels of the multi-trait scan (see :mod:`gwaskit.stats.multitrait`).

Serial ``nogil`` kernels: the engine runs one chunk per worker thread, so chunks are processed
concurrently without numba's threading layer (two concurrent ``parallel=True`` launches would
be serialised, or abort, under its default workqueue layer). Each column is reduced in one
fixed order, so the results do not depend on the number of threads or on the execution mode.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from ._column_numba_fns import column_stats_one

# Reassociation lets LLVM vectorise the reductions; no 'nnan'/'ninf' so NaN tests stay valid.
# The vectorised order is fixed at compile time (one build per machine in numba's cache), so a
# run is reproducible bit for bit on one machine.
_FM = {"reassoc", "contract", "nsz", "arcp"}


@njit(cache=True, nogil=True, fastmath=_FM)
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
    st = np.empty(4)
    for j in range(m):
        column_stats_one(G[:, j], st)
        c = int(st[0])
        nobs[j] = c
        dsum[j] = st[1]
        if c == 0:
            mean[j] = np.nan
            ss[j] = 0.0
            for i in range(n):
                out[i, j] = 0.0
            continue
        mu = st[2]
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


@njit(cache=True, nogil=True)
def column_stats(G, mean, ss, nobs, dsum):
    """Read-only pass: per column number observed, Σ observed, mean and Σ (g − mean)² (float64),
    by :func:`~gwaskit.stats._column_numba_fns.column_stats_one` (the BGEN decoder's kernel).

    NaN = missing (contributes nothing). A column with no observed dosage gets mean NaN, ss 0.
    """
    st = np.empty(4)
    for j in range(G.shape[1]):
        column_stats_one(G[:, j], st)
        nobs[j] = int(st[0])
        dsum[j] = st[1]
        mean[j] = st[2]
        ss[j] = st[3]


@njit(cache=True, nogil=True, fastmath=_FM)
def centre_columns(G, cols, mean, out, ss):
    """``out[:, k] = G[:, cols[k]] − mean[cols[k]]`` (0 where missing), rounded to ``out``'s
    dtype; ``ss[k]`` = Σ of the squared values written, accumulated in float64."""
    n = G.shape[0]
    round32 = out.itemsize == 4
    for k in range(cols.shape[0]):
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

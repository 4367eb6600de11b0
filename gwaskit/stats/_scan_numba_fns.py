"""numba kernels of the multi-trait scan (see :mod:`gwaskit.stats.multitrait`)."""
from __future__ import annotations

import numpy as np
from numba import njit, prange


@njit(cache=True, parallel=True)
def impute_centre(G, out, mean, ss, nobs, dsum):
    """Mean-impute missing dosages (NaN) and centre each column, in one pass per column.

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
    for j in prange(m):
        s = 0.0
        c = 0
        for i in range(n):
            v = G[i, j]
            if v == v:
                s += v
                c += 1
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
        for i in range(n):
            v = G[i, j]
            if v == v:
                out[i, j] = v - mu
                w = np.float64(out[i, j])
                acc += w * w
            else:
                out[i, j] = 0.0
        ss[j] = acc

"""numba kernel for the statistics of one dosage column, shared by the BGEN decoder (each column
right after it is decoded, while it is in cache) and the scan's block kernels."""
from __future__ import annotations

import numpy as np
from numba import njit

# Reassociation lets LLVM vectorise the reductions; no 'nnan'/'ninf' so NaN tests stay valid.
# The vectorised order is fixed at compile time, so results are reproducible on one machine.
_FM = {"reassoc", "contract", "nsz", "arcp"}


@njit(cache=True, nogil=True, fastmath=_FM)
def column_stats_one(x, st):
    """``st[:] = [n observed, Σ observed, mean (NaN if none), Σ (x − mean)² over observed]``
    of the 1-D array ``x`` (NaN = missing), accumulated in float64."""
    n = x.shape[0]
    # separate single-accumulator loops vectorise; a fused sum+count loop does not (3-4x)
    s = 0.0
    for i in range(n):
        v = np.float64(x[i])
        s += v if v == v else 0.0
    c = 0.0
    for i in range(n):
        v = x[i]
        c += 1.0 if v == v else 0.0
    st[0] = c
    st[1] = s
    if c == 0.0:
        st[2] = np.nan
        st[3] = 0.0
        return
    mu = s / c
    acc = 0.0
    for i in range(n):
        v = np.float64(x[i])
        w = v - mu if v == v else 0.0
        acc += w * w
    st[2] = mu
    st[3] = acc

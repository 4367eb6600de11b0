"""Column kernels of the multi-trait scan: the C twins when available, else numba.

Same signatures as :mod:`gwaskit.stats._scan_numba_fns` (``column_stats``, ``centre_columns``,
``impute_centre``). The C versions (``_scan_native.c``, built by :mod:`gwaskit._native`) keep
a command-line scan from paying numba's start-up; they run on the calling thread with the GIL
released. Both backends accumulate in float64 and agree to rounding (~1e-15 relative); each is
deterministic, so a run is bit-identical across execution modes on one machine.
"""
from __future__ import annotations

import ctypes
import functools

import numpy as np

from .._native import VECTOR_FLAGS, load_library, read_source

__all__ = ["backend", "column_stats", "centre_columns", "impute_centre"]

_TYPES = {np.dtype(np.float32): "f32", np.dtype(np.float64): "f64"}


def _declare(lib) -> None:
    p, i64 = ctypes.c_void_p, ctypes.c_int64
    for t in ("f32", "f64"):
        f = getattr(lib, f"gk_column_stats_{t}")
        f.argtypes, f.restype = [p, i64, i64, p, p, p, p], None
        for u in ("f32", "f64"):
            f = getattr(lib, f"gk_centre_columns_{t}_{u}")
            f.argtypes, f.restype = [p, i64, p, i64, p, p, p], None
            f = getattr(lib, f"gk_impute_centre_{t}_{u}")
            f.argtypes, f.restype = [p, i64, i64, p, p, p, p, p], None


@functools.cache  # the sources are read once, not on every kernel call
def _lib():
    from ..io import _column_stats_source

    source = _column_stats_source() + read_source(__file__, "_scan_native.c")
    return load_library("scan_kernels", source, _declare, flags=VECTOR_FLAGS)


def backend() -> str:
    """``"native"`` or ``"numba"``: which implementation the kernels below run."""
    return "native" if _lib() is not None else "numba"


def _fortran(a: np.ndarray, name: str) -> np.ndarray:
    if a.ndim != 2 or not a.flags.f_contiguous or a.dtype not in _TYPES:
        raise ValueError(f"{name}: expected a Fortran-ordered float32/float64 matrix")
    return a


def _vec(a: np.ndarray, dtype) -> None:
    if not (a.flags.c_contiguous and a.dtype == dtype):
        raise ValueError(f"output vectors must be contiguous {np.dtype(dtype)}")


def column_stats(G: np.ndarray, mean: np.ndarray, ss: np.ndarray, nobs: np.ndarray,
                 dsum: np.ndarray) -> None:
    """Per column of ``G``: observed count, Σ observed, mean, Σ(g − mean)² (see the numba kernel)."""
    lib = _lib()
    if lib is None or not G.flags.f_contiguous or G.dtype not in _TYPES:
        from ._scan_numba_fns import column_stats as f

        return f(G, mean, ss, nobs, dsum)
    for a, dt in ((mean, np.float64), (ss, np.float64), (dsum, np.float64), (nobs, np.int64)):
        _vec(a, dt)
    n, m = G.shape
    getattr(lib, f"gk_column_stats_{_TYPES[G.dtype]}")(G.ctypes.data, n, m, mean.ctypes.data,
                                                        ss.ctypes.data, nobs.ctypes.data,
                                                        dsum.ctypes.data)


def centre_columns(G: np.ndarray, cols: np.ndarray, mean: np.ndarray, out: np.ndarray,
                   ss: np.ndarray) -> None:
    """``out[:, k] = G[:, cols[k]] − mean[cols[k]]`` (0 where missing), ``ss[k]`` its Σ squares."""
    lib = _lib()
    if lib is None or not G.flags.f_contiguous or G.dtype not in _TYPES:
        from ._scan_numba_fns import centre_columns as f

        return f(G, cols, mean, out, ss)
    _fortran(out, "out")
    cols = np.ascontiguousarray(cols, dtype=np.int64)
    if out.shape[0] != G.shape[0] or out.shape[1] < cols.size:
        raise ValueError("centre_columns: output too small")
    if cols.size and (cols.min() < 0 or cols.max() >= G.shape[1]):
        raise ValueError("centre_columns: column index out of range")
    _vec(mean, np.float64)
    _vec(ss, np.float64)
    getattr(lib, f"gk_centre_columns_{_TYPES[G.dtype]}_{_TYPES[out.dtype]}")(
        G.ctypes.data, G.shape[0], cols.ctypes.data, cols.size, mean.ctypes.data,
        out.ctypes.data, ss.ctypes.data)


def impute_centre(G: np.ndarray, out: np.ndarray, mean: np.ndarray, ss: np.ndarray,
                  nobs: np.ndarray, dsum: np.ndarray) -> None:
    """Mean-impute and centre every column of ``G`` into ``out`` (see the numba kernel)."""
    lib = _lib()
    if lib is None or not G.flags.f_contiguous or G.dtype not in _TYPES:
        from ._scan_numba_fns import impute_centre as f

        return f(G, out, mean, ss, nobs, dsum)
    _fortran(out, "out")
    if out.shape != G.shape:
        raise ValueError("impute_centre: output shape differs from the input")
    for a, dt in ((mean, np.float64), (ss, np.float64), (dsum, np.float64), (nobs, np.int64)):
        _vec(a, dt)
    n, m = G.shape
    getattr(lib, f"gk_impute_centre_{_TYPES[G.dtype]}_{_TYPES[out.dtype]}")(
        G.ctypes.data, n, m, out.ctypes.data, mean.ctypes.data, ss.ctypes.data,
        nobs.ctypes.data, dsum.ctypes.data)

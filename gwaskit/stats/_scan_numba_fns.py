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


@njit(cache=True, nogil=True)
def _cholesky(A, tol):
    """In-place lower Cholesky factor of the symmetric matrix ``A`` (upper triangle ignored).

    Returns False, leaving ``A`` partly overwritten, when a pivot falls to ``tol`` times its
    diagonal entry or below (not positive definite to working precision)."""
    n = A.shape[0]
    for j in range(n):
        d0 = A[j, j]
        s = d0
        for k in range(j):
            s -= A[j, k] * A[j, k]
        if not (d0 > 0.0 and s > tol * d0):
            return False
        A[j, j] = np.sqrt(s)
        for i in range(j + 1, n):
            t = A[i, j]
            for k in range(j):
                t -= A[i, k] * A[j, k]
            A[i, j] = t / A[j, j]
    return True


@njit(cache=True, nogil=True)
def _forward(L, b):
    """``L⁻¹ b`` for a lower-triangular ``L`` and ``b`` of shape (n, k)."""
    n, k = b.shape
    x = b.copy()
    for col in range(k):
        for i in range(n):
            t = x[i, col]
            for p in range(i):
                t -= L[i, p] * x[p, col]
            x[i, col] = t / L[i, i]
    return x


@njit(cache=True, nogil=True)
def _chol_solve(L, b):
    """``(L Lᵀ)⁻¹ b`` for ``b`` of shape (n, k)."""
    y = _forward(L, b)
    n, k = y.shape
    for col in range(k):
        for i in range(n - 1, -1, -1):
            t = y[i, col]
            for p in range(i + 1, n):
                t -= L[p, i] * y[p, col]
            y[i, col] = t / L[i, i]
    return y


@njit(cache=True, nogil=True)
def drop_missing_tests(G, cols, mean, Qf, Y, YtQ, YtY, tol, q, n_obs, gg_out, z_out, sdiag_out,
                       ok):
    """The D-df test of each column in ``cols`` on its non-missing samples only (plink2's
    per-variant removal of missing calls), from downdates of full-sample cross products.

    With ``O`` the samples where column ``j`` is called and ``M`` the others: the covariate Gram
    ``K = Qfᵀ Qf − Q_Mᵀ Q_M = I − Q_Mᵀ Q_M`` (``Qf`` orthonormal over all samples), ``Y_Oᵀ Q_O``
    and ``Y_Oᵀ Y_O`` likewise; the null residual SSCP on ``O`` is ``S = Y_OᵀY_O − Y_OᵀQ_O K⁻¹
    Q_OᵀY_O``; for ``g`` (centred on its observed mean) ``g*ᵀg* = gᵀg − gᵀQ_O K⁻¹ Q_Oᵀg`` and
    ``z = Y_Oᵀg − Y_OᵀQ_O K⁻¹ Q_Oᵀg``; then ``q = zᵀ S⁻¹ z / g*ᵀg*`` (one minus Wilks' Λ of the
    rank-1 hypothesis, as in the mean-imputed path). Cost per column: ``N (c + D)`` plus
    ``|M| (c + D)²`` plus ``(c + D)³``.

    Parameters
    ----------
    G : (N, m) dosages, NaN = missing
    cols : (k,) int64 columns to test
    mean : (m,) float64 mean of each column over its observed samples
    Qf : (N, c) float64 orthonormal covariate basis (intercept included)
    Y : (N, D) float64 phenotypes as tested (after any PCA / rank normalisation)
    YtQ, YtY : (D, c) and (D, D) full-sample ``YᵀQf`` and ``YᵀY``
    tol : relative pivot tolerance (collinearity on ``O``)
    q, n_obs, gg_out, z_out, sdiag_out, ok : (k,), (k,), (k,), (k, D), (k, D), (k,) outputs:
        ``q``, ``|O|``, ``g*ᵀg*``, ``z``, ``diag(S)`` and False where the covariates, the
        variant or the phenotypes are collinear on ``O``
    """
    N = G.shape[0]
    c = Qf.shape[1]
    d = Y.shape[1]
    for t in range(cols.shape[0]):
        j = cols[t]
        K = np.eye(c)
        YQ = YtQ.copy()
        YY = YtY.copy()
        gQ = np.zeros((c, 1))
        gY = np.zeros(d)
        gg = 0.0
        no = 0
        mu = mean[j]
        for i in range(N):
            g = G[i, j]
            if np.isnan(g):
                for a in range(c):
                    qa = Qf[i, a]
                    for b in range(c):
                        K[a, b] -= qa * Qf[i, b]
                    for e in range(d):
                        YQ[e, a] -= Y[i, e] * qa
                for e in range(d):
                    ye = Y[i, e]
                    for f in range(d):
                        YY[e, f] -= ye * Y[i, f]
            else:
                x = g - mu
                no += 1
                gg += x * x
                for a in range(c):
                    gQ[a, 0] += x * Qf[i, a]
                for e in range(d):
                    gY[e] += x * Y[i, e]
        n_obs[t] = no
        ok[t] = False
        q[t] = np.nan
        if not _cholesky(K, tol):
            continue
        xg = _chol_solve(K, gQ)
        XY = _chol_solve(K, np.ascontiguousarray(YQ.T))
        ggs = gg
        for a in range(c):
            ggs -= gQ[a, 0] * xg[a, 0]
        if not ggs > tol * gg:
            continue
        z = np.empty((d, 1))
        for e in range(d):
            t_e = gY[e]
            for a in range(c):
                t_e -= YQ[e, a] * xg[a, 0]
            z[e, 0] = t_e
        S = np.empty((d, d))
        for e in range(d):
            for f in range(d):
                s = YY[e, f]
                for a in range(c):
                    s -= YQ[e, a] * XY[a, f]
                S[e, f] = s
            sdiag_out[t, e] = S[e, e]
        if not _cholesky(S, tol):
            continue
        w = _forward(S, z)
        ww = 0.0
        for e in range(d):
            ww += w[e, 0] * w[e, 0]
            z_out[t, e] = z[e, 0]
        q[t] = min(max(ww / ggs, 0.0), 1.0)
        gg_out[t] = ggs
        ok[t] = True

"""Genotype principal components and covariate regression.

``regress_out`` removes covariates (plus an intercept) from columns of a matrix by least squares
fitted on a subset of rows (e.g. training individuals) and applied to all rows.

``genotype_pcs`` computes the top K principal components of standardised genotypes by a
randomised SVD (Halko, Martinsson & Tropp 2011, Algorithm 4.4 with power iterations) streamed
over variant chunks, so memory is O(N·(K+oversampling)) plus one chunk. Variants are first
MAF-filtered and LD-pruned (greedy, plink ``--indep-pairwise``-like: squared Pearson correlation
of dosages in a sliding window). Standardisation follows plink2 ``--pca``: genotype
``(g − 2p)/sqrt(2p(1−p))`` with p the allele frequency, missing set to the mean (0 after centring).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from .._log import logger
from ..errors import InputError


def _row_index(fit_rows, n: int) -> np.ndarray:
    if fit_rows is None:
        return np.arange(n)
    fit_rows = np.asarray(fit_rows)
    if fit_rows.dtype == bool:
        if fit_rows.shape != (n,):
            raise InputError(f"fit_rows mask has length {fit_rows.shape[0]}, expected {n}")
        return np.flatnonzero(fit_rows)
    return fit_rows.astype(np.int64)


def regress_out(
    X: np.ndarray, covariates: np.ndarray, fit_rows: np.ndarray | Sequence[int] | None = None
) -> np.ndarray:
    """Residuals of each column of ``X`` on ``[1, covariates]``.

    Parameters
    ----------
    X : (N, S) array (a 1-d array is treated as one column and a 1-d result returned).
    covariates : (N, k) array (k may be 0; 1-d is one covariate).
    fit_rows : boolean mask of length N or integer index; coefficients are estimated by ordinary
        least squares on these rows only (e.g. the training individuals) and the fitted linear
        predictor is subtracted from *all* rows. ``None`` = all rows.

    Returns
    -------
    (N, S) float64 array ``X − [1, C] β̂`` with ``β̂ = argmin ||X_fit − [1, C]_fit β||²``
    (computed by ``numpy.linalg.lstsq``, so rank-deficient covariates are handled by the
    minimum-norm solution). Valid for NaN-free input; NaN raises ``InputError``.
    """
    X = np.asarray(X, dtype=np.float64)
    one_d = X.ndim == 1
    if one_d:
        X = X[:, None]
    C = np.asarray(covariates, dtype=np.float64)
    if C.ndim == 1:
        C = C[:, None]
    n = X.shape[0]
    if C.shape[0] != n:
        raise InputError(f"covariates have {C.shape[0]} rows, X has {n}")
    if not (np.isfinite(X).all() and np.isfinite(C).all()):
        raise InputError("regress_out: X and covariates must be free of NaN/inf")
    rows = _row_index(fit_rows, n)
    if rows.size == 0:
        raise InputError("regress_out: no rows to fit on")
    design = np.column_stack([np.ones(n), C])
    beta, *_ = np.linalg.lstsq(design[rows], X[rows], rcond=None)
    resid = X - design @ beta
    return resid[:, 0] if one_d else resid


def _chrom_codes(chrom: pd.Series) -> np.ndarray:
    return pd.factorize(chrom.astype(str))[0].astype(np.int64)


def select_pca_variants(
    reader,
    samples=None,
    maf: float = 0.01,
    prune_r2: float = 0.2,
    prune_window: int = 50,
    chunk_size: int = 2000,
    variants=None,
) -> pd.DataFrame:
    """MAF filter and greedy LD pruning (one streamed pass).

    Returns the kept variants (reader ``variants`` rows, global index kept as column
    ``genotype_index``) with their scaling (``mean`` = 2p, ``sd`` = sqrt(2p(1−p))).
    """
    from . import _r2_numba_fns as _k

    table = reader.variants
    codes = _chrom_codes(table["chromosome"])
    n = len(reader.samples) if samples is None else (
        int(np.asarray(samples).sum()) if np.asarray(samples).dtype == bool else len(samples))
    buf = np.zeros((n, max(prune_window, 1)), dtype=np.float64, order="F")
    buf_chrom = np.full(max(prune_window, 1), -1, dtype=np.int64)
    state = np.zeros(2, dtype=np.int64)
    kept = []
    n_seen = n_maf = 0
    for chunk, D in reader.iter_dosages(chunk_size=chunk_size, samples=samples, variants=variants,
                                        dtype=np.float32):
        D = np.asarray(D)
        k = D.shape[1]
        keep = np.zeros(k, dtype=np.bool_)
        mean = np.zeros(k)
        sd = np.zeros(k)
        Z = np.empty((D.shape[0], k), dtype=np.float64, order="F")
        _k.standardize_chunk(D, float(maf), keep, mean, sd, Z)
        n_seen += k
        n_maf += int(keep.sum())
        gidx = chunk.index.to_numpy()
        out = np.zeros(k, dtype=np.bool_)
        if prune_r2 < 1:
            _k.greedy_prune(Z, keep, codes[gidx], buf, buf_chrom, state, float(prune_r2), out)
        else:
            out = keep
        sel = np.flatnonzero(out)
        if sel.size:
            part = chunk.iloc[sel].copy()
            part["genotype_index"] = gidx[sel]
            part["mean"] = mean[sel]
            part["sd"] = sd[sel]
            kept.append(part)
    if not kept:
        raise InputError("pca: no variant passes the MAF filter and pruning")
    res = pd.concat(kept, ignore_index=True)
    logger.info(f"pca: {n_seen} variants read, {n_seen - n_maf} below MAF {maf:g}, "
                f"{n_maf - len(res)} pruned (r2 > {prune_r2:g}, window {prune_window}); {len(res)} used")
    return res


def genotype_pcs(
    reader,
    n_pcs: int = 20,
    samples=None,
    maf: float = 0.01,
    prune_r2: float = 0.2,
    prune_window: int = 50,
    chunk_size: int = 2000,
    oversample: int = 10,
    n_iter: int = 4,
    seed: int = 0,
    variants=None,
    pca_variants: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, np.ndarray, pd.DataFrame]:
    """Top principal components of standardised genotypes by randomised SVD.

    The matrix is X (N × M) with ``x_ij = (g_ij − 2p_j)/sqrt(2p_j(1−p_j))`` (missing → 0) over
    MAF-filtered, LD-pruned variants (:func:`select_pca_variants`), i.e. plink2 ``--pca``'s
    GRM ``X Xᵀ / M``. Randomised range finder with ``n_iter`` power iterations (Halko et al.
    2011, Alg. 4.4), ``l = n_pcs + oversample`` columns; every product with X or Xᵀ is one
    streamed pass over the variants, so memory is O(N·l + M·l) plus one chunk.

    Returns
    -------
    pcs : FID, IID, PC1..PCk (unit-norm eigenvectors of the GRM, as plink2's .eigenvec up to
        sign; each PC's sign is fixed so that its largest-magnitude entry is positive).
    eigenvalues : GRM eigenvalues ``s²/M``.
    used : the variants used (with scaling).
    """
    used = pca_variants if pca_variants is not None else select_pca_variants(
        reader, samples, maf, prune_r2, prune_window, chunk_size, variants)
    M = len(used)
    st = reader.sample_table
    if samples is not None:
        s = np.asarray(samples)
        st = st.iloc[np.flatnonzero(s) if s.dtype == bool else s]
    N = len(st)
    k = min(n_pcs, N, M)
    if k < n_pcs:
        logger.info(f"pca: only {k} PCs computable (N = {N}, M = {M})")
    ell = min(k + oversample, N, M)
    gidx = used["genotype_index"].to_numpy()
    mean = used["mean"].to_numpy()
    sd = used["sd"].to_numpy()
    bounds = list(range(0, M, chunk_size)) + [M]

    def chunks():
        for a, b in zip(bounds[:-1], bounds[1:]):
            _, D = reader.read_dosages(samples=samples, variants=gidx[a:b], dtype=np.float64)
            D = np.asarray(D, dtype=np.float64)
            Z = (D - mean[a:b]) / sd[a:b]
            Z[np.isnan(Z)] = 0.0
            yield a, b, Z

    def times_right(R):  # X @ R, R: M × ell
        Y = np.zeros((N, R.shape[1]))
        for a, b, Z in chunks():
            Y += Z @ R[a:b]
        return Y

    def times_left(Q):  # Xᵀ @ Q, Q: N × ell
        out = np.empty((M, Q.shape[1]))
        for a, b, Z in chunks():
            out[a:b] = Z.T @ Q
        return out

    rng = np.random.default_rng(seed)
    Omega = rng.standard_normal((M, ell))
    Y = times_right(Omega)
    for _ in range(n_iter):
        Q, _ = np.linalg.qr(Y)
        Zt, _ = np.linalg.qr(times_left(Q))
        Y = times_right(Zt)
    Q, _ = np.linalg.qr(Y)
    Bt = times_left(Q)  # M × ell = (Qᵀ X)ᵀ
    _, s, Vt = np.linalg.svd(Bt, full_matrices=False)  # Bt = Ub s Vt -> B = Vtᵀ s Ubᵀ
    U = Q @ Vt.T
    U = U[:, :k]
    for j in range(k):
        if U[np.argmax(np.abs(U[:, j])), j] < 0:
            U[:, j] = -U[:, j]
    eig = s[:k] ** 2 / M
    out = pd.DataFrame({"FID": st["FID"].to_numpy(), "IID": st["IID"].to_numpy()})
    for j in range(k):
        out[f"PC{j + 1}"] = U[:, j]
    logger.info(f"pca: top {k} PCs from {M} variants x {N} samples; eigenvalues "
                + ", ".join(f"{e:.3g}" for e in eig[:5]))
    return out, eig, used

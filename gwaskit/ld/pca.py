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

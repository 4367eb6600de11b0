"""Whole-genome ridge regression with leave-one-chromosome-out (LOCO) predictions: REGENIE step 1.

Reference: Mbatchou J. et al. (2021) "Computationally efficient whole-genome regression for
quantitative and binary traits", *Nature Genetics* 53, 1097-1103, doi:10.1038/s41588-021-00870-7,
and the REGENIE source (``rgcgithub/regenie``, ``src/Step1_Models.cpp``, ``src/Data.cpp``),
whose quantitative-trait path this module follows for D traits at once.

Model and method
----------------
``Y`` (N x D) holds traits already residualised on the covariates (and, for the scan, already
transformed exactly as the scan will test them). The genotypes are cut into blocks of
consecutive variants within a chromosome; every block ``X_b`` (N x m) is mean-imputed,
residualised on the same covariates and scaled so each column has ``sum(x^2) = N - c``
(:func:`standardize_block`, as REGENIE's ``residualize_geno``). The samples are split into
``K`` folds (:func:`cv_folds`: REGENIE's consecutive folds by default).

**Level 0** (:func:`level0_predictions`). For every block, fold ``k`` and shrinkage
``lambda_r``, the ridge fit on the other folds' rows, applied to fold ``k``'s rows::

    B_kr = (X_{-k}ᵀ X_{-k} + lambda_r I)⁻¹ X_{-k}ᵀ Y_{-k},      P0[k rows, r, :] = X_k B_kr

``X_{-k}ᵀ X_{-k}`` is the full ``XᵀX`` minus the fold's own product and is eigendecomposed
once per fold, ``U diag(e) Uᵀ``, so ``B_kr = U diag(1 / (e + lambda_r)) Uᵀ X_{-k}ᵀ Y_{-k}``
for all R shrinkages and all D traits from one decomposition: D enters only through
``XᵀY`` (N m D) and the predictions themselves (N m R D). The default shrinkages are REGENIE's
``lambda = M (1 - h2) / h2`` for ``h2`` in {0.01, 0.25, 0.5, 0.75, 0.99}, with ``M`` the total
number of variants of step 1 over all blocks (``src/Data.cpp``: ``params.lambda =
params.n_variants * (1 - params.lambda) / params.lambda``; the grid is ``set_ridge_params`` in
``src/Regenie.cpp``). It is the BLUP penalty of the infinitesimal model with ``M``
standardised variants and total heritability ``h2``. Every out-of-fold predictor column (per
block, shrinkage and trait) is then centred and scaled to unit variance over all N samples
(ddof 1), as REGENIE does before level 1.

**Level 1** (per trait). The ``B R`` standardised level-0 predictors of all blocks form
``W`` (N x BR). For every fold ``k`` and level-1 shrinkage ``tau_t`` (default ``tau = BR (1 -
h2) / h2`` on the same h2 grid, ``src/Step1_Models.cpp``), ridge weights fitted on the other
folds' rows, ``a_kt = (W_{-k}ᵀ W_{-k} + tau_t I)⁻¹ W_{-k}ᵀ y_{-k}`` (one eigendecomposition
per fold for all ``tau``), predict fold ``k``. The ``tau`` with the smallest out-of-fold
squared error over all folds is kept (REGENIE: MSE for quantitative traits).

**LOCO.** With ``a_k`` the chosen weights of fold ``k``, the LOCO prediction of chromosome
``c`` on fold ``k``'s rows is the level-1 contribution of every block *not* on ``c``::

    loco_c[k rows] = sum_{b: chrom(b) != c} W_k[:, cols(b)] a_k[cols(b)]

A sample's own level-0 predictors were fitted without its trait value, and so were the
level-1 weights applied to it in the sense that its row is not among their training rows.
As in REGENIE, those training rows' level-0 predictors come from fits that did include fold
``k`` (a weak, indirect dependence through the ridge coefficients of each block). The
weights ``a_k`` are fitted jointly on all blocks (as in REGENIE), so chromosome ``c``'s
genotypes do enter ``loco_c`` through the weights of the other blocks, but never through its
own blocks' predictors.

Validity
--------
Quantitative traits (ridge on Gaussian-like, residualised, e.g. rank-INT traits); complete
cases (no missing trait values: drop incomplete rows first); samples in the same order in
``Y``, every genotype block and the folds. The predictions approximate the polygenic (LMM
random) effect of the other chromosomes; ``Y - loco_c`` is the trait to test variants of
chromosome ``c`` with (REGENIE step 2), which accounts for relatedness and polygenicity
approximately, not exactly like a full LMM. Results are equivariant to rescaling each trait.
Not implemented: REGENIE's logistic/Poisson level 1 for binary/count traits, LOOCV, and
missing trait values within folds.

Memory: one block (N x m, float64) at a time, plus the level-0 predictors N x B x R x D in
``store_dtype`` (float32 by default); see :func:`memory_estimate`. The computations are
NumPy/LAPACK (GEMM, ``eigh``): no numba kernel is needed, as no loop here is element-wise.
Each call runs with one BLAS thread (like every engine task: results do not depend on the
thread count, and multi-threaded OpenBLAS is pathological on these m x m factorisations when
cores are shared, 10x slower measured on a loaded 2-core machine); parallelise over blocks
(level 0) and over traits (level 1, :func:`fit_level1` on trait slices).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..errors import InputError
from .transforms import one_blas_thread

__all__ = [
    "DEFAULT_H2_GRID",
    "DEFAULT_N_FOLDS",
    "shrinkage_grid",
    "cv_folds",
    "standardize_block",
    "level0_predictions",
    "level0_predictions_nested",
    "level0_block",
    "LEVEL1_CV",
    "fit_level1",
    "LocoRidge",
    "LocoResult",
    "memory_estimate",
]

DEFAULT_H2_GRID = (0.01, 0.25, 0.5, 0.75, 0.99)
#: Level-1 cross-validation schemes (:class:`LocoRidge`).
LEVEL1_CV = ("nested", "regenie")
DEFAULT_N_FOLDS = 5
_SCALE_TOL = 1e-8


def shrinkage_grid(n_predictors: int, h2: Sequence[float] = DEFAULT_H2_GRID) -> np.ndarray:
    """Ridge penalties ``n_predictors * (1 - h2) / h2`` (REGENIE's level-0 and level-1 grids).

    Parameters
    ----------
    n_predictors
        Level 0: ``M``, the total number of variants in step 1 (all blocks together).
        Level 1: the number of level-0 predictors, ``B * R``.
    h2
        Heritabilities in (0, 1); the default is REGENIE's ``{0.01, 0.25, 0.5, 0.75, 0.99}``.

    Returns
    -------
    ndarray, float64, shape (len(h2),)
    """
    h = np.asarray(h2, dtype=np.float64).ravel()
    if h.size == 0 or not np.all((h > 0) & (h < 1)):
        raise InputError(f"h2: shrinkage heritabilities must lie in (0, 1), got {list(h)}")
    if n_predictors < 1:
        raise InputError(f"n_predictors: need at least 1, got {n_predictors}")
    return float(n_predictors) * (1.0 - h) / h


def cv_folds(n: int, n_folds: int = DEFAULT_N_FOLDS, *, seed: int | None = None) -> np.ndarray:
    """Fold of every sample: REGENIE's consecutive folds, or a random assignment of the same sizes.

    The first ``n_folds - 1`` folds hold ``floor(n / n_folds)`` consecutive samples, the last
    one the rest (REGENIE ``Data::set_folds``). With ``seed`` the same sizes are assigned in a
    random order (useful when relatives sit next to each other in the sample order).

    Returns
    -------
    ndarray, int64, shape (n,), values 0 .. n_folds - 1
    """
    if n_folds < 2:
        raise InputError(f"n_folds: need at least 2 folds, got {n_folds}")
    size = n // n_folds
    if size < 1:
        raise InputError(f"n_folds: {n} samples are too few for {n_folds}-fold cross-validation")
    folds = np.minimum(np.arange(n) // size, n_folds - 1).astype(np.int64)
    if seed is not None:
        folds = np.random.default_rng(np.random.SeedSequence([seed, 0xF01D])).permutation(folds)
    return folds


def standardize_block(dosages: np.ndarray, covariate_basis: np.ndarray | None = None) -> np.ndarray:
    """Level-0 input of one block: mean-impute, residualise on the covariates, scale.

    Parameters
    ----------
    dosages : array, shape (N, m)
        Dosages (NaN = missing) of m consecutive variants.
    covariate_basis : ndarray, shape (N, c), optional
        Orthonormal basis of the covariates including the intercept
        (:func:`gwaskit.stats.transforms.covariate_basis`); default the intercept only.

    Returns
    -------
    ndarray, float64, shape (N, m)
        Columns orthogonal to the covariates with ``sum(x^2) = N - c``; columns left constant
        by the residualisation (monomorphic, or explained by the covariates) are zero.
    """
    x = np.array(dosages, dtype=np.float64, order="C", copy=True)
    if x.ndim != 2:
        raise InputError(f"dosages: expected an N x m matrix, got shape {x.shape}")
    n = x.shape[0]
    miss = np.isnan(x)
    if miss.any():
        cnt = (~miss).sum(axis=0)
        mean = np.divide(np.where(miss, 0.0, x).sum(axis=0), cnt, out=np.zeros(x.shape[1]), where=cnt > 0)
        x[miss] = np.take(mean, np.nonzero(miss)[1])
    q = np.full((n, 1), 1.0 / np.sqrt(n)) if covariate_basis is None else np.asarray(covariate_basis, np.float64)
    if q.shape[0] != n:
        raise InputError(f"covariate_basis: has {q.shape[0]} rows, the block {n}")
    x -= q @ (q.T @ x)
    dof = n - q.shape[1]
    scale = np.sqrt((x * x).sum(axis=0) / max(dof, 1))
    ok = scale > _SCALE_TOL
    x[:, ok] /= scale[ok]
    x[:, ~ok] = 0.0
    return x


def _fold_rows(folds: np.ndarray, n: int) -> list[np.ndarray]:
    f = np.asarray(folds)
    if f.shape != (n,) or not np.issubdtype(f.dtype, np.integer):
        raise InputError(f"folds: expected {n} integer fold labels, got shape {f.shape} ({f.dtype})")
    k = int(f.max()) + 1 if f.size else 0
    if f.min() < 0 or k < 2:
        raise InputError("folds: need labels 0 .. K-1 with K >= 2")
    rows = [np.flatnonzero(f == i) for i in range(k)]
    if any(r.size == 0 for r in rows):
        raise InputError("folds: every fold 0 .. K-1 needs at least one sample")
    return rows


def _traits(y: np.ndarray, n: int | None = None) -> np.ndarray:
    Y = np.asarray(y, dtype=np.float64)
    if Y.ndim == 1:
        Y = Y[:, None]
    if Y.ndim != 2:
        raise InputError(f"y: expected an N x D trait matrix, got shape {Y.shape}")
    if n is not None and Y.shape[0] != n:
        raise InputError(f"y: has {Y.shape[0]} rows, the genotype block {n}")
    if not np.isfinite(Y).all():
        raise InputError("y: traits must be finite (complete cases; drop samples with missing values)")
    return Y


def _level0_inputs(x, y, folds, lambdas, n_variants):
    """Validated ``(X, Y, penalties, fold rows)`` of the two level-0 functions."""
    X = np.asarray(x, dtype=np.float64)
    if X.ndim != 2:
        raise InputError(f"x: expected an N x m block, got shape {X.shape}")
    n = X.shape[0]
    Y = _traits(y, n)
    if lambdas is None:
        if n_variants is None:
            raise InputError("lambdas: give the ridge penalties or n_variants (total step-1 variants)")
        lambdas = shrinkage_grid(int(n_variants))
    lam = np.asarray(lambdas, dtype=np.float64).ravel()
    if lam.size == 0 or not np.all(lam > 0):
        raise InputError(f"lambdas: need positive ridge penalties, got {list(lam)}")
    return X, Y, lam, _fold_rows(folds, n)


def level0_predictions(
    x: np.ndarray,
    y: np.ndarray,
    folds: np.ndarray,
    lambdas: Sequence[float] | None = None,
    *,
    n_variants: int | None = None,
) -> np.ndarray:
    """Out-of-fold ridge predictions of one block for R shrinkages and D traits at once.

    Parameters
    ----------
    x : ndarray, float64, shape (N, m)
        The block, standardised (:func:`standardize_block`).
    y : ndarray, float64, shape (N, D) or (N,)
        Traits residualised on the covariates the block was residualised on.
    folds : ndarray of int, shape (N,)
        Fold label 0 .. K-1 of every sample (:func:`cv_folds`).
    lambdas : sequence of float, length R, optional
        Ridge penalties. Default: REGENIE's five, ``shrinkage_grid(n_variants)``.
    n_variants : int, optional
        ``M``, the total number of step-1 variants over all blocks (not this block's m), for
        the default penalties; one of ``lambdas`` and ``n_variants`` is required.

    Returns
    -------
    ndarray, float64, shape (N, R, D)
        ``P[i, r, :]`` is ``x_i (X_{-k}ᵀX_{-k} + lambda_r I)⁻¹ X_{-k}ᵀ Y_{-k}`` for the fold
        ``k`` of sample ``i``, i.e. a prediction from a fit that never saw sample ``i``.

    Notes
    -----
    Per fold: ``X_{-k}ᵀX_{-k} = XᵀX - X_kᵀX_k`` (the fold products are computed once and
    summed), one ``eigh``, then all R x D solutions from it. Cost per block:
    ``2 N m^2 + K m^3 + N m D + min(N m^2, K m^2 R D) + N m R D`` flops.
    """
    X, Y, lam, rows = _level0_inputs(x, y, folds, lambdas, n_variants)
    n, m = X.shape
    r, d = lam.size, Y.shape[1]
    with one_blas_thread():
        xk = [X[idx] for idx in rows]
        gk = [a.T @ a for a in xk]
        bk = [a.T @ Y[idx] for a, idx in zip(xk, rows)]
        g_all = np.sum(gk, axis=0)
        b_all = np.sum(bk, axis=0)
        out = np.empty((n, r, d))
        for a, idx, g, b in zip(xk, rows, gk, bk):
            e, v = np.linalg.eigh(g_all - g)
            w = v.T @ (b_all - b)  # m x D
            scaled = w[:, None, :] / (e[:, None, None] + lam[None, :, None])  # m x R x D
            scaled = scaled.reshape(m, r * d)
            if r * d <= a.shape[0]:
                pred = a @ (v @ scaled)  # coefficients first
            else:
                pred = (a @ v) @ scaled  # rotate the fold's rows first
            out[idx] = pred.reshape(a.shape[0], r, d)
    return out


def level0_predictions_nested(
    x: np.ndarray,
    y: np.ndarray,
    folds: np.ndarray,
    lambdas: Sequence[float] | None = None,
    *,
    n_variants: int | None = None,
) -> np.ndarray:
    """Level-0 predictors for a level 1 whose cross-validation never sees the held-out fold.

    For outer fold ``i``, the predictors of a training row in fold ``j != i`` come from a block
    ridge fitted without folds ``i`` and ``j``, and those of fold ``i``'s own rows from the fit
    without ``i`` (the usual out-of-fold predictions, :func:`level0_predictions`). The level-1
    weights of fold ``i`` then depend on no trait value of fold ``i`` at all. In REGENIE's
    scheme the training rows' predictors come from fits that included fold ``i``: under the
    null that leaks fold ``i``'s traits into its own level-1 prediction, a positive fit to pure
    noise (measured: squared correlation 0.016-0.06 of the out-of-fold prediction with the
    trait at N = 600, 1,500 and 5,000, one run each with 200-variant blocks, and a level-1
    shrinkage chosen as if the trait were heritable). Parameters as :func:`level0_predictions`.

    Returns
    -------
    ndarray, float64, shape (K, N, R, D)
        ``P[i]`` are the predictors of outer fold ``i``; ``P[i][rows of fold i]`` equals
        :func:`level0_predictions` on those rows.

    Notes
    -----
    ``K + K (K - 1) / 2`` eigendecompositions of ``m x m`` per block (15 for K = 5, against 5),
    each shared by all shrinkages and traits; the model without ``{i, j}`` predicts both
    fold ``j`` (for outer fold ``i``) and fold ``i`` (for outer fold ``j``).
    """
    X, Y, lam, rows = _level0_inputs(x, y, folds, lambdas, n_variants)
    n, m = X.shape
    k_folds, r, d = len(rows), lam.size, Y.shape[1]
    with one_blas_thread():
        xk = [X[idx] for idx in rows]
        gk = [a.T @ a for a in xk]
        bk = [a.T @ Y[idx] for a, idx in zip(xk, rows)]
        g_all = np.sum(gk, axis=0)
        b_all = np.sum(bk, axis=0)
        out = np.empty((k_folds, n, r, d))

        def coefficients(left_out: tuple[int, ...]) -> np.ndarray:
            e, v = np.linalg.eigh(g_all - sum(gk[f] for f in left_out))
            w = v.T @ (b_all - sum(bk[f] for f in left_out))
            return v @ (w[:, None, :] / (e[:, None, None] + lam[None, :, None])).reshape(m, r * d)

        for i in range(k_folds):
            out[i][rows[i]] = (xk[i] @ coefficients((i,))).reshape(-1, r, d)
            for j in range(i + 1, k_folds):
                beta = coefficients((i, j))
                out[i][rows[j]] = (xk[j] @ beta).reshape(-1, r, d)
                out[j][rows[i]] = (xk[i] @ beta).reshape(-1, r, d)
    return out


def level0_block(x: np.ndarray, y: np.ndarray, folds: np.ndarray, lambdas: Sequence[float],
                 level1_cv: str = "nested") -> np.ndarray:
    """Standardised level-0 predictors of one standardised block (:func:`standardize_block`):
    what :meth:`LocoRidge.add_standardized` stores, computed where the block is (a worker).

    Returns
    -------
    ndarray, float64
        (N, R, D) for ``level1_cv="regenie"``; (K, N, R, D) for ``"nested"``, each outer
        fold's predictors standardised on their own.
    """
    if level1_cv == "nested":
        raw = level0_predictions_nested(x, y, folds, lambdas)
        return np.stack([_standardize_predictors(p) for p in raw])
    if level1_cv != "regenie":
        raise InputError(f"level1_cv: {' or '.join(LEVEL1_CV)}, got {level1_cv!r}")
    return _standardize_predictors(level0_predictions(x, y, folds, lambdas))


def _standardize_predictors(p: np.ndarray) -> np.ndarray:
    """Centre and scale every (shrinkage, trait) column over all samples, ddof 1 (REGENIE)."""
    n = p.shape[0]
    mean = p.mean(axis=0)
    c = p - mean
    ss = (c * c).sum(axis=0)
    inv = np.divide(np.sqrt(max(n - 1, 1)), np.sqrt(ss), out=np.zeros_like(ss), where=ss > 1e-300)
    return c * inv


@dataclass(frozen=True)
class LocoResult:
    """LOCO predictions and the level-1 fit of :meth:`LocoRidge.fit` / :func:`fit_level1`.

    Attributes
    ----------
    predictions : dict
        Chromosome -> ndarray float64 (N, D): the out-of-fold prediction from every block not
        on that chromosome (subtract it from ``y`` to test the chromosome's variants).
    genome_prediction : ndarray, float64, shape (N, D)
        Out-of-fold prediction from all blocks.
    chromosomes : tuple of str
        Chromosomes with blocks, in order of first appearance.
    block_chromosomes : tuple of str
        Chromosome of every block, in the order the blocks were added.
    lambdas, taus : ndarray
        Level-0 (R) and level-1 (T) shrinkage grids.
    tau_index : ndarray, int64, shape (D,)
        Index into ``taus`` chosen for every trait (smallest out-of-fold squared error).
    cv_mse : ndarray, float64, shape (D, T)
        Out-of-fold mean squared error of the whole-genome level-1 prediction per ``tau``.
    cv_r2 : ndarray, float64, shape (D,)
        Out-of-fold R² of ``genome_prediction``, ``1 - SSE / SST`` (negative when it predicts
        worse than the mean; REGENIE reports a squared correlation, never negative).
    weights : ndarray, float64, shape (K, B * R, D)
        Chosen level-1 weights of every fold (block-major, shrinkage-minor columns).
    folds : ndarray, int64, shape (N,)
    """

    predictions: dict
    genome_prediction: np.ndarray
    chromosomes: tuple
    block_chromosomes: tuple
    lambdas: np.ndarray
    taus: np.ndarray
    tau_index: np.ndarray
    cv_mse: np.ndarray
    cv_r2: np.ndarray
    weights: np.ndarray
    folds: np.ndarray

    def prediction_for(self, chromosome: str) -> np.ndarray:
        """LOCO prediction for ``chromosome``; a chromosome without step-1 blocks gets the
        whole-genome prediction (nothing of it is in the model)."""
        return self.predictions.get(str(chromosome), self.genome_prediction)


def fit_level1(
    level0: Sequence[np.ndarray],
    block_chromosomes: Sequence[str],
    y: np.ndarray,
    folds: np.ndarray,
    *,
    taus: Sequence[float] | None = None,
    h2: Sequence[float] = DEFAULT_H2_GRID,
    lambdas: Sequence[float] | None = None,
) -> LocoResult:
    """Level-1 ridge per trait on stacked level-0 predictors, and the LOCO predictions.

    Parameters
    ----------
    level0 : sequence of B arrays
        Standardised level-0 predictors of every block, each of shape (D, N, R) (the layout
        :class:`LocoRidge` stores; any float dtype), or (K, D, N, R) from
        :func:`level0_predictions_nested` (outer fold first): then fold ``k``'s level-1
        weights are fitted on predictors that never saw fold ``k``.
    block_chromosomes : sequence of str, length B
        Chromosome of every block.
    y : ndarray, shape (N, D)
        The traits level 0 was fitted to.
    folds : ndarray of int, shape (N,)
        The folds level 0 used.
    taus
        Level-1 penalties; default :func:`shrinkage_grid` ``(B * R, h2)``.
    lambdas
        Level-0 penalties, only recorded in the result.

    Returns
    -------
    LocoResult
    """
    blocks = list(level0)
    chroms = tuple(str(c) for c in block_chromosomes)
    if not blocks:
        raise InputError("level0: no blocks were added")
    if len(chroms) != len(blocks):
        raise InputError(f"block_chromosomes: {len(chroms)} labels for {len(blocks)} blocks")
    nested = blocks[0].ndim == 4
    shape = blocks[0].shape
    d, n, r = shape[1:] if nested else shape
    if any(b.shape != shape for b in blocks):
        raise InputError("level0: every block needs the same (D, N, R) or (K, D, N, R) shape")
    Y = _traits(y, n)
    if Y.shape[1] != d:
        raise InputError(f"y: has {Y.shape[1]} traits, the level-0 predictors {d}")
    rows = _fold_rows(folds, n)
    p = len(blocks) * r
    tau = shrinkage_grid(p, h2) if taus is None else np.asarray(taus, dtype=np.float64).ravel()
    if tau.size == 0 or not np.all(tau > 0):
        raise InputError(f"taus: need positive level-1 penalties, got {list(tau)}")
    order = tuple(dict.fromkeys(chroms))
    col_chrom = np.repeat(np.array(chroms, dtype=object), r)
    masks = {c: col_chrom == c for c in order}

    k_folds = len(rows)
    weights = np.zeros((k_folds, p, d))
    cv_sse = np.zeros((d, tau.size))
    genome = np.zeros((n, d))
    own = {c: np.zeros((n, d)) for c in order}
    t_index = np.zeros(d, dtype=np.int64)
    with one_blas_thread():
        w_all = np.empty((n, p))
        for j in range(d):
            yj = Y[:, j]
            if nested:
                # outer fold k: its own predictors for every row (training rows from fits
                # without fold k), so the weights never see fold k's traits
                wk, train = [], []
                for k, idx in enumerate(rows):
                    for b, blk in enumerate(blocks):
                        w_all[:, b * r : (b + 1) * r] = blk[k, j]
                    wk.append(w_all[idx].copy())
                    others = np.ones(n, dtype=bool)
                    others[idx] = False
                    a = w_all[others]
                    train.append((a.T @ a, a.T @ yj[others]))
            else:
                for b, blk in enumerate(blocks):
                    w_all[:, b * r : (b + 1) * r] = blk[j]
                wk = [w_all[idx] for idx in rows]
                gk = [a.T @ a for a in wk]
                bk = [a.T @ yj[idx] for a, idx in zip(wk, rows)]
                g_all = np.sum(gk, axis=0)
                b_all = np.sum(bk, axis=0)
                train = [(g_all - g, b_all - bvec) for g, bvec in zip(gk, bk)]
            betas = []
            for a, idx, (g_train, b_train) in zip(wk, rows, train):
                e, v = np.linalg.eigh(g_train)
                c = v.T @ b_train
                beta = v @ (c[:, None] / (e[:, None] + tau[None, :]))  # P x T
                resid = yj[idx, None] - a @ beta
                cv_sse[j] += (resid * resid).sum(axis=0)
                betas.append(beta)
            t = int(np.argmin(cv_sse[j]))  # first minimum, as REGENIE's strict '<'
            t_index[j] = t
            for k, (a, idx) in enumerate(zip(wk, rows)):
                wvec = betas[k][:, t]
                weights[k, :, j] = wvec
                for c, mask in masks.items():
                    own[c][idx, j] = a[:, mask] @ wvec[mask]
    for c in order:
        genome += own[c]
    predictions = {c: genome - own.pop(c) for c in order}
    cv_r2 = np.array([_r2(genome[:, j], Y[:, j]) for j in range(d)])
    return LocoResult(
        predictions=predictions,
        genome_prediction=genome,
        chromosomes=order,
        block_chromosomes=chroms,
        lambdas=np.asarray([] if lambdas is None else lambdas, dtype=np.float64),
        taus=tau,
        tau_index=t_index,
        cv_mse=cv_sse / n,
        cv_r2=cv_r2,
        weights=weights,
        folds=np.asarray(folds, dtype=np.int64).copy(),
    )


def _r2(prediction: np.ndarray, y: np.ndarray) -> float:
    """Out-of-sample R², ``1 - SSE / SST``: negative when the prediction is worse than the
    mean (a squared correlation would be positive for any noise)."""
    centred = y - y.mean()
    sst = float(centred @ centred)
    resid = y - prediction
    return 1.0 - float(resid @ resid) / sst if sst > 0 else 0.0


class LocoRidge:
    """Streaming REGENIE step 1 for D traits: feed blocks one at a time, then :meth:`fit`.

    Parameters
    ----------
    y : ndarray, shape (N, D) or (N,)
        Traits residualised on the covariates (complete cases), in the sample order of the
        genotype blocks. The same matrix the scan will test, before LOCO adjustment.
    n_variants : int
        ``M``, the total number of variants that will be fed over all blocks: the level-0
        penalties are ``M (1 - h2) / h2`` (REGENIE). Only used when ``lambdas`` is not given.
    folds : ndarray of int, optional
        Fold labels; default :func:`cv_folds` ``(N, n_folds)``.
    n_folds : int
        K when ``folds`` is not given (REGENIE's default 5).
    h2_level0, h2_level1 : sequence of float
        Heritability grids of the two levels (REGENIE's defaults).
    lambdas : sequence of float, optional
        Explicit level-0 penalties (overrides ``n_variants`` and ``h2_level0``).
    store_dtype : dtype
        Storage of the level-0 predictors (float32 halves the memory; level 1 computes in
        float64).
    level1_cv : ``"nested"`` (default) or ``"regenie"``
        ``nested``: level 1's cross-validation is leak-free
        (:func:`level0_predictions_nested`; K times the stored predictors and 3x the level-0
        eigendecompositions for K = 5). ``regenie``: REGENIE's scheme, whose training
        predictors saw the held-out fold (it fits pure noise a little; expected to shrink as
        N grows against the block size, not measured beyond N = 5,000).

    Examples
    --------
    >>> ridge = LocoRidge(y, n_variants=M)                      # doctest: +SKIP
    >>> for chrom, block in blocks:                             # doctest: +SKIP
    ...     ridge.add_block(standardize_block(block, Qf), chrom)
    >>> loco = ridge.fit().predictions                          # doctest: +SKIP
    """

    def __init__(
        self,
        y: np.ndarray,
        n_variants: int | None = None,
        *,
        folds: np.ndarray | None = None,
        n_folds: int = DEFAULT_N_FOLDS,
        h2_level0: Sequence[float] = DEFAULT_H2_GRID,
        h2_level1: Sequence[float] = DEFAULT_H2_GRID,
        lambdas: Sequence[float] | None = None,
        store_dtype: np.dtype | type = np.float32,
        level1_cv: str = "nested",
    ) -> None:
        if level1_cv not in LEVEL1_CV:
            raise InputError(f"level1_cv: {' or '.join(LEVEL1_CV)}, got {level1_cv!r}")
        self.level1_cv = level1_cv
        self.y = _traits(y)
        n = self.y.shape[0]
        self.folds = cv_folds(n, n_folds) if folds is None else np.asarray(folds, dtype=np.int64)
        _fold_rows(self.folds, n)
        if lambdas is None:
            if n_variants is None:
                raise InputError("n_variants: give the total number of step-1 variants (or lambdas)")
            self.lambdas = shrinkage_grid(int(n_variants), h2_level0)
        else:
            self.lambdas = np.asarray(lambdas, dtype=np.float64).ravel()
            if self.lambdas.size == 0 or not np.all(self.lambdas > 0):
                raise InputError(f"lambdas: need positive ridge penalties, got {list(self.lambdas)}")
        self.h2_level1 = tuple(float(h) for h in h2_level1)
        shrinkage_grid(1, self.h2_level1)  # validates
        self.store_dtype = np.dtype(store_dtype)
        self._blocks: list[np.ndarray] = []
        self._chroms: list[str] = []

    @property
    def n_samples(self) -> int:
        return int(self.y.shape[0])

    @property
    def n_traits(self) -> int:
        return int(self.y.shape[1])

    @property
    def n_blocks(self) -> int:
        return len(self._blocks)

    @property
    def block_chromosomes(self) -> tuple:
        return tuple(self._chroms)

    @property
    def memory_bytes(self) -> int:
        """Bytes held by the stored level-0 predictors (N x B x R x D)."""
        return int(sum(b.nbytes for b in self._blocks))

    @property
    def block_shape(self) -> tuple:
        """Shape of one block's level-0 predictors: (N, R, D), or (K, N, R, D) when nested."""
        shape = (self.n_samples, self.lambdas.size, self.n_traits)
        return (int(self.folds.max()) + 1, *shape) if self.level1_cv == "nested" else shape

    def level0_block(self, x: np.ndarray) -> np.ndarray:
        """:func:`level0_block` with this object's traits, folds, penalties and scheme."""
        return level0_block(x, self.y, self.folds, self.lambdas, self.level1_cv)

    def add_block(self, x: np.ndarray, chromosome: str) -> None:
        """Level 0 of one standardised block (:func:`standardize_block`) on ``chromosome``."""
        self.add_standardized(self.level0_block(x), chromosome)

    def add_level0(self, predictions: np.ndarray, chromosome: str) -> None:
        """Store a block's raw level-0 predictions (:func:`level0_predictions`, N x R x D, or
        :func:`level0_predictions_nested`, K x N x R x D, with this object's ``y``, ``folds``
        and ``lambdas``, e.g. computed on a worker)."""
        p = np.asarray(predictions, dtype=np.float64)
        if p.shape != self.block_shape:
            raise InputError(f"predictions: expected shape {self.block_shape}, got {p.shape}")
        z = (np.stack([_standardize_predictors(q) for q in p]) if p.ndim == 4
             else _standardize_predictors(p))
        self.add_standardized(z, chromosome)

    def add_standardized(self, predictors: np.ndarray, chromosome: str) -> None:
        """Store a block's level-0 predictors already standardised (:attr:`block_shape`, e.g.
        from :meth:`level0_block` on a worker, or read back from a checkpoint), as
        :attr:`store_dtype`."""
        z = np.asarray(predictors)
        if z.shape != self.block_shape:
            raise InputError(f"predictors: expected shape {self.block_shape}, got {z.shape}")
        stored = z.transpose(0, 3, 1, 2) if z.ndim == 4 else z.transpose(2, 0, 1)
        self._blocks.append(np.ascontiguousarray(stored, dtype=self.store_dtype))
        self._chroms.append(str(chromosome))

    @property
    def level0(self) -> tuple:
        """The stored standardised level-0 predictors, one (D, N, R) array per block."""
        return tuple(self._blocks)

    def level0_matrix(self, trait: int, fold: int | None = None) -> np.ndarray:
        """Standardised level-0 predictors of one trait, N x (B R) float64 (level 1's input);
        with ``level1_cv="nested"``, those of outer fold ``fold``."""
        if self.level1_cv == "nested":
            if fold is None:
                raise InputError("fold: nested level-0 predictors exist per outer fold")
            return np.concatenate([b[fold, trait] for b in self._blocks], axis=1).astype(np.float64)
        return np.concatenate([b[trait] for b in self._blocks], axis=1).astype(np.float64)

    def fit(self, *, taus: Sequence[float] | None = None) -> LocoResult:
        """Level 1 and the LOCO predictions (:func:`fit_level1`)."""
        return fit_level1(
            self._blocks, self._chroms, self.y, self.folds, taus=taus, h2=self.h2_level1, lambdas=self.lambdas
        )


def memory_estimate(
    n: int,
    n_blocks: int,
    n_shrink: int,
    d: int,
    *,
    block_size: int = 1000,
    n_folds: int = DEFAULT_N_FOLDS,
    n_chromosomes: int = 22,
    store_itemsize: int = 4,
    level1_cv: str = "nested",
    n_workers: int = 1,
) -> int:
    """Peak bytes of :class:`LocoRidge` for N samples, B blocks, R shrinkages and D traits.

    The stored level-0 predictors ``N B R D * store_itemsize`` (K times that with
    ``level1_cv="nested"``) plus the larger of the two
    phases' working sets (float64): level 0 holds one block and its fold copies (2 N m), the
    fold products (K + 2) m², ``XᵀY`` per fold (K + 1) m D and the block's predictions twice
    (2 N R D); level 1 holds one trait's ``N x BR`` matrix and its fold copies (2 N BR), the
    fold products (K + 2) (BR)², the fold predictions N R (level-1 grid as long as the
    level-0 one) and the output, ``N D`` per chromosome plus the whole-genome prediction.
    ``n_workers`` blocks are fitted at once in this process (threads), each with its own level-0
    working set.

    Returns
    -------
    int
        Bytes (an estimate: NumPy/LAPACK temporaries of the order of one block are not counted).
    """
    m, k, r = int(block_size), int(n_folds), int(n_shrink)
    p = int(n_blocks) * r
    copies = k if level1_cv == "nested" else 1  # nested: one predictor set per outer fold
    store = copies * int(n) * int(n_blocks) * r * int(d) * int(store_itemsize)
    level0 = 8 * (2 * n * m + (k + 2) * m * m + (k + 1) * m * d + 2 * copies * n * r * d)
    level0 *= max(1, int(n_workers))
    level1 = 8 * ((1 + copies) * n * p + (k + 2) * p * p + n * r
                  + n * d * (int(n_chromosomes) + 1))
    return int(store + max(level0, level1))

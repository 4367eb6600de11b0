"""Phenotype-matrix preprocessing for the multi-trait scan (statistics.md section 8).

Order used by :class:`gwaskit.stats.multitrait.MultiTraitScan`: PCA projection (fitted on the
analysis samples), then per-column rank-based inverse normal transform, then residualisation
on the covariates (with collinear covariates dropped first).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .._log import logger
from ..errors import InputError

def one_blas_thread():
    """Context: one BLAS/LAPACK thread (the null fit; nests inside other threadpool limits).

    Multi-threaded OpenBLAS is pathological on small factorisations when cores are shared
    (measured 0.4-1.9 s instead of 20 ms for a 256 x 256 ``eigh``, 0.37 s for the QR of a
    2,000 x 11 covariate matrix, on a loaded 2-core machine); the whole null fit at
    N = 10,000, D = 256 is ~4 GFLOP, a fraction of a second on one core.
    """
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")


__all__ = ["one_blas_thread", "rank_inverse_normal", "pca_project", "PCAResult", "drop_collinear",
           "covariate_basis", "residualize"]


def rank_inverse_normal(Y: np.ndarray, kappa: float = 3.0 / 8.0) -> np.ndarray:
    """Rank-based inverse normal transform of each column: ``Φ⁻¹((r − κ)/(n − 2κ + 1))``.

    Ties get the average rank; ``kappa = 3/8`` is Blom's offset (transferGWAS, ContIG),
    ``kappa = 1/2`` gives ``(r − 1/2)/n``. NaN entries stay NaN and are not ranked (``n`` is the
    number of non-missing values in the column). Valid for any sample size ``n >= 1``.
    """
    Y = np.asarray(Y, dtype=np.float64)
    one_d = Y.ndim == 1
    Y2 = Y[:, None] if one_d else Y
    n = Y2.shape[0]
    if n and Y2.shape[1] and not np.isnan(Y2).any():
        # every column has the same n: Φ⁻¹ is tabulated once on the 2n − 1 possible average ranks
        out = _int_from_ranks(np.ascontiguousarray(Y2.T), _blom_table(n, kappa)).T
        return out[:, 0] if one_d else out
    out = np.full(Y2.shape, np.nan)
    for j in range(Y2.shape[1]):
        col = Y2[:, j]
        ok = ~np.isnan(col)
        n = int(ok.sum())
        if n:
            out[ok, j] = _int_from_ranks(col[ok][None, :], _blom_table(n, kappa))[0]
    return out[:, 0] if one_d else out


def _blom_table(n: int, kappa: float) -> np.ndarray:
    """Φ⁻¹ of every possible average rank ``r = 1 + k/2``, ``k = 0 .. 2n − 2``."""
    r = 1.0 + 0.5 * np.arange(2 * n - 1)
    return ndtri((r - kappa) / (n - 2.0 * kappa + 1.0))


def _int_from_ranks(Yt: np.ndarray, table: np.ndarray) -> np.ndarray:
    """``table[2r − 2]`` for the average rank ``r`` of each entry of each ROW of ``Yt`` (D, n).

    Average ranks of ties are integers or half-integers, so ``2r − 2`` (the sum of the first
    and last 0-based sorted positions of the tie run) indexes ``table`` exactly.
    """
    d, n = Yt.shape
    order = np.argsort(Yt, axis=1)
    s = np.take_along_axis(Yt, order, axis=1)
    pos = np.broadcast_to(np.arange(n), (d, n))
    starts = np.ones((d, n), dtype=bool)  # a tie run starts here
    starts[:, 1:] = s[:, 1:] != s[:, :-1]
    ends = np.ones((d, n), dtype=bool)    # a tie run ends here
    ends[:, :-1] = starts[:, 1:]
    first = np.maximum.accumulate(np.where(starts, pos, 0), axis=1)
    last = np.minimum.accumulate(np.where(ends, pos, n)[:, ::-1], axis=1)[:, ::-1]
    out = np.empty((d, n))
    np.put_along_axis(out, order, table[first + last], axis=1)
    return out


# Acklam's rational approximation of Φ⁻¹ (relative error < 1.2e-9), refined below
_A = (-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02,
      1.383577518672690e+02, -3.066479806614716e+01, 2.506628277459239e+00)
_B = (-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
      6.680131188771972e+01, -1.328068155288572e+01)
_C = (-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
      -2.549732539343734e+00, 4.374664141464968e+00, 2.938163982698783e+00)
_D = (7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00,
      3.754408661907416e+00)
_ERFC = np.frompyfunc(math.erfc, 1, 1)


def ndtri(p: np.ndarray) -> np.ndarray:
    """Inverse standard normal CDF ``Φ⁻¹(p)`` without scipy.

    Agrees with ``scipy.special.ndtri`` to 1e-15 relative where ``|Φ⁻¹(p)| > 0.1`` and to
    ~1e-16 absolute near ``p = 1/2`` (tests/stats/test_transforms.py).

    Acklam's approximation, then one Halley step on ``Φ(x) − p`` with ``Φ`` from
    ``math.erfc`` (P. J. Acklam, "An algorithm for computing the inverse normal cumulative
    distribution function", 2003). Computed on ``min(p, 1 − p)`` and reflected, so both tails
    keep their relative accuracy. ``p`` outside (0, 1) gives ±inf at 0/1 and NaN beyond.
    """
    p = np.asarray(p, dtype=np.float64)
    q = np.minimum(p, 1.0 - p)
    x = np.full(p.shape, np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        low = (q > 0) & (q < 0.02425)
        mid = (q >= 0.02425) & (q <= 0.5)
        t = np.sqrt(-2.0 * np.log(q[low]))
        x[low] = ((((((_C[0] * t + _C[1]) * t + _C[2]) * t + _C[3]) * t + _C[4]) * t + _C[5])
                  / ((((_D[0] * t + _D[1]) * t + _D[2]) * t + _D[3]) * t + 1.0))
        u = q[mid] - 0.5
        r = u * u
        x[mid] = ((((((_A[0] * r + _A[1]) * r + _A[2]) * r + _A[3]) * r + _A[4]) * r + _A[5]) * u
                  / (((((_B[0] * r + _B[1]) * r + _B[2]) * r + _B[3]) * r + _B[4]) * r + 1.0))
        ok = low | mid
        xo = x[ok]
        e = 0.5 * _ERFC(-xo / math.sqrt(2.0)).astype(np.float64) - q[ok]
        u = e * math.sqrt(2.0 * math.pi) * np.exp(0.5 * xo * xo)
        x[ok] = xo - u / (1.0 + 0.5 * xo * u)
    x = np.where(p > 0.5, -x, x)  # x was computed for q = 1 - p there
    x[p == 0.0] = -np.inf
    x[p == 1.0] = np.inf
    return x


@dataclass
class PCAResult:
    """Principal-component scores of a phenotype matrix and what was kept."""

    scores: np.ndarray                    # N x k, centred projections
    components: np.ndarray                # k x D loadings (rows orthonormal)
    mean: np.ndarray                      # D column means
    explained_variance_ratio: np.ndarray  # k values, fraction of total variance


def pca_project(Y: np.ndarray, n_components: int | None = None) -> PCAResult:
    """Project the centred ``Y`` (N x D) on its top ``n_components`` principal components.

    Fitted on the samples given (the analysis samples) by the eigendecomposition of the D x D
    cross-product matrix when it is well conditioned, else by QR + SVD (see
    :func:`_right_singular`). ``None`` keeps every
    component of non-negligible variance, at most ``min(N - 1, D)``. A full-rank rotation
    leaves the joint test's Q unchanged (statistics.md 8.1); truncation lowers D.
    """
    Y = np.asarray(Y, dtype=np.float64)
    if Y.ndim != 2:
        raise InputError("pca: phenotype matrix must be two-dimensional")
    n, d = Y.shape
    mean = Y.mean(axis=0)
    Yc = Y - mean
    s, vt = _right_singular(Yc)
    var = s ** 2
    total = var.sum()
    max_k = int(np.sum(s > s[0] * max(n, d) * np.finfo(float).eps)) if s.size and s[0] > 0 else 0
    k = max_k if n_components is None else int(n_components)
    if k < 1:
        raise InputError(f"pca: number of components must be >= 1 (got {k})")
    if k > max_k:
        raise InputError(
            f"pca={k}: the phenotype matrix has only {max_k} non-degenerate principal components")
    comps = vt[:k]
    # deterministic signs: largest |loading| positive
    signs = np.sign(comps[np.arange(k), np.argmax(np.abs(comps), axis=1)])
    signs[signs == 0] = 1.0
    comps = comps * signs[:, None]
    return PCAResult(scores=Yc @ comps.T, components=comps, mean=mean,
                     explained_variance_ratio=var[:k] / total if total > 0 else np.zeros(k))


# eigh of the Gram matrix is used when its smallest eigenvalue is at least this fraction of the
# largest: singular values then carry relative error <= ~1e-8 and no component is degenerate.
_GRAM_MIN_RATIO = 1e-8


def _right_singular(Yc: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Singular values (descending) and right singular vectors (rows) of a tall ``Yc``.

    For ``N >> D`` LAPACK's SVD of the N x D matrix is slow (10 s at 10,000 x 256 on 2 cores);
    the symmetric eigendecomposition of ``YcᵀYc`` (one SYRK + a D x D ``eigh``) costs ~0.2 s.
    It squares the condition number, so when the spectrum is wide (possible degenerate
    components) the exact route is taken instead: QR of ``Yc`` then SVD of the D x D factor
    (what ``gesdd`` does internally, without its slow tall-matrix path).
    """
    n, d = Yc.shape
    if n >= d:
        lam, V = np.linalg.eigh(Yc.T @ Yc)
        lam, V = lam[::-1], V[:, ::-1]
        if lam.size and lam[0] > 0 and lam[-1] >= _GRAM_MIN_RATIO * lam[0]:
            return np.sqrt(lam), np.ascontiguousarray(V.T)
        R = np.linalg.qr(Yc, mode="r")
        _, s, vt = np.linalg.svd(R, full_matrices=False)  # LAPACK gesdd
        return s, vt
    _, s, vt = np.linalg.svd(Yc, full_matrices=False)
    return s, vt


def drop_collinear(
    F: np.ndarray | None,
    names: Sequence[str] | None = None,
    tol: float = 1e-7,
) -> tuple[np.ndarray, list[str], list[str]]:
    """Drop covariates that are collinear with the intercept or with other covariates.

    Columns are centred (the intercept is always in the model) and scaled to unit norm, then a
    QR with column pivoting (:func:`_pivoted_rank`) finds the numerical rank: a column whose
    ``|R_ii|`` falls below ``tol`` (i.e. ``1 − R² < tol²`` against the columns chosen before it)
    counts as dependent. Of a dependent set, the later columns (in the given order) are
    dropped. Constant columns are dropped. A warning names every dropped column.

    Parameters
    ----------
    F : (N, k) covariates **without** the intercept, or None
    names : k column names (default ``covar_<i>``)

    Returns
    -------
    F_kept, kept names, dropped names (kept columns in their original order)
    """
    if F is None:
        return np.empty((0, 0)), [], []
    F = np.asarray(F, dtype=np.float64)
    if F.ndim == 1:
        F = F[:, None]
    k = F.shape[1]
    names = [f"covar_{i + 1}" for i in range(k)] if names is None else list(names)
    if len(names) != k:
        raise InputError(f"covariates: {k} columns but {len(names)} names")
    if k == 0:
        return F, [], []
    if not np.all(np.isfinite(F)):
        bad = [names[j] for j in range(k) if not np.all(np.isfinite(F[:, j]))]
        raise InputError(f"covariates: non-finite values in column(s) {', '.join(bad)}")
    Fc = F - F.mean(axis=0)
    norms = np.linalg.norm(Fc, axis=0)
    scale = np.abs(F).max(axis=0) * np.sqrt(F.shape[0])
    const = norms <= 1e-12 * np.maximum(scale, 1e-300)
    keep = np.zeros(k, dtype=bool)
    idx = np.flatnonzero(~const)
    if idx.size:
        Fs = Fc[:, idx] / norms[idx]
        rank = _pivoted_rank(Fs, tol)
        # Among equally valid choices keep the earliest columns: Gram-Schmidt in the given
        # order, a column enters if its residual norm exceeds tol, up to the QR rank.
        basis = np.empty((Fs.shape[0], rank))
        r = 0
        for col in range(Fs.shape[1]):
            if r == rank:
                break
            v = Fs[:, col].copy()
            for _ in range(2):  # re-orthogonalise once
                v -= basis[:, :r] @ (basis[:, :r].T @ v)
            nv = np.linalg.norm(v)
            if nv > tol:
                basis[:, r] = v / nv
                keep[idx[col]] = True
                r += 1
    kept = [names[j] for j in range(k) if keep[j]]
    dropped = [names[j] for j in range(k) if not keep[j]]
    if dropped:
        logger.warning("Dropped %d collinear covariate(s) (constant or linear combination of "
                       "others): %s", len(dropped), ", ".join(dropped))
    return F[:, keep], kept, dropped


def _pivoted_rank(X: np.ndarray, tol: float) -> int:
    """Number of ``|R_ii| > tol`` in a QR factorisation of ``X`` with column pivoting.

    Businger-Golub pivoting as in LAPACK ``geqp3``: at each step the remaining column of
    largest residual norm enters; that norm is ``|R_ii|``. Gram-Schmidt with one
    re-orthogonalisation (X has few columns); norms are recomputed, not downdated.
    """
    V = np.array(X, dtype=np.float64)
    k = V.shape[1]
    for i in range(k):
        norms = np.linalg.norm(V[:, i:], axis=0)
        j = i + int(np.argmax(norms))
        if norms[j - i] <= tol:
            return i
        V[:, [i, j]] = V[:, [j, i]]
        q = V[:, i] / norms[j - i]
        rest = V[:, i + 1:]
        for _ in range(2):
            rest -= np.outer(q, q @ rest)
    return k


def covariate_basis(F: np.ndarray | None, n: int) -> np.ndarray:
    """Orthonormal basis ``Qf`` (N x c) of ``[1, F]``; first column is the constant ``1/√N``.

    ``F`` must already be free of collinear columns (see :func:`drop_collinear`).
    """
    ones = np.ones((n, 1))
    if F is None or F.size == 0:
        return ones / np.sqrt(n)
    X = np.hstack([ones, np.asarray(F, dtype=np.float64)])
    Qf, _ = np.linalg.qr(X, mode="reduced")
    Qf[:, 0] = 1.0 / np.sqrt(n)  # fix sign and exactness of the intercept direction
    return Qf


def residualize(Y: np.ndarray, F: np.ndarray | None = None, Qf: np.ndarray | None = None) -> np.ndarray:
    """Residuals of ``Y`` on ``[1, F]`` (least squares): ``Y − Qf (Qfᵀ Y)``.

    Pass either the covariates ``F`` (no intercept, no collinear columns) or their orthonormal
    basis ``Qf`` from :func:`covariate_basis`.
    """
    Y = np.asarray(Y, dtype=np.float64)
    if Qf is None:
        Qf = covariate_basis(F, Y.shape[0])
    return Y - Qf @ (Qf.T @ Y)

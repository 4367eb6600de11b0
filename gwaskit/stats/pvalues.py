"""Tail probabilities in log space: Beta, F, chi-square, Student t; genomic inflation for D df.

Why log space: for D = 256 and N = 20,000, ``scipy.stats.f.logsf`` already returns ``-inf``
from Q >= 0.2 (statistics.md section 7.3). Here every tail is computed as a natural logarithm:

* Beta / F / t: ``log I_x(a, b) = a log x + b log(1 - x) - log a - log B(a, b) + log CF`` with the
  continued fraction evaluated by the modified Lentz method when ``x < (a + 1)/(a + b + 2)``;
  otherwise the complement is computed directly (it is never a deep tail there). ``log B`` comes
  from :func:`log_beta`: ``log(Gamma(a) / Gamma(a + b) * Gamma(b))`` for ``max(a, b) < 20`` and
  Stirling's series for the large argument otherwise (:func:`math.gamma`, :func:`math.lgamma`).
* chi-square: ``log Q(s, x)`` by the Legendre continued fraction for ``x >= s + 1`` and by
  ``log1p(-P)`` with the power series otherwise (Numerical Recipes 6.2).
* chi-square quantiles (for λ_D): Newton's method on ``log Q`` (:func:`_chi2_isf`, equal to
  ``scipy.special.chdtri`` to ~1e-15 relative).

Kernels: the continued fractions and series are serial ``nogil`` numba kernels
(:mod:`._pvalues_numba_fns`, compiled once into numba's cache and imported on first use), so
chunks tested on the engine's worker threads evaluate their tails concurrently.

Accuracy: about 12 significant digits of ``log p`` against mpmath, checked up to
``-log10 p = 1e4`` (tests/stats/test_pvalues.py). Valid for any finite positive parameters.
"""
from __future__ import annotations

# Neither scipy nor numba at module level: the kernels are imported on first use.

import math

import numpy as np
from numpy.typing import ArrayLike

LN10 = math.log(10.0)

__all__ = [
    "beta_logsf",
    "exact_multitrait_logp",
    "f_logsf",
    "chi2_logsf",
    "t_logsf_two_sided",
    "neg_log10",
    "lambda_gc",
    "lambda_gc_from_p",
]

def _f64(a) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.float64)


def _log_betainc_upper(a, b, y, lbeta) -> np.ndarray:
    from ._pvalues_numba_fns import log_betainc_upper

    a, b, y, lbeta = _f64(a), _f64(b), _f64(y), _f64(lbeta)
    if not (a.shape[0] == b.shape[0] == lbeta.shape[0] == y.shape[0]):
        raise ValueError("log_betainc_upper: arrays of unequal length")
    return log_betainc_upper(a, b, y, lbeta)


def _log_gammaincc(s, x, lgam) -> np.ndarray:
    from ._pvalues_numba_fns import log_gammaincc

    s, x, lgam = _f64(s), _f64(x), _f64(lgam)
    if not (s.shape[0] == lgam.shape[0] == x.shape[0]):
        raise ValueError("log_gammaincc: arrays of unequal length")
    return log_gammaincc(s, x, lgam)


# ---------------------------------------------------------------------------------------------
# log Gamma and log Beta without scipy

def _lgamma1(v: float) -> float:
    try:
        return math.lgamma(v)
    except (ValueError, OverflowError):  # poles (0, -1, ...) and overflow: +inf, as gammaln
        return math.inf


def _lgamma(x) -> np.ndarray:
    """``log|Gamma(x)|`` elementwise via :func:`math.lgamma`, evaluated once per distinct value
    (callers mostly pass one parameter broadcast over many statistics)."""
    x = np.asarray(x, dtype=np.float64)
    if x.size == 0:
        return np.empty(x.shape)
    u, inv = np.unique(x.ravel(), return_inverse=True, equal_nan=False)
    vals = np.array([_lgamma1(v) for v in u.tolist()], dtype=np.float64)
    return vals[inv.ravel()].reshape(x.shape)


def _log_beta_small(a: float, b: float) -> float:
    """``log|B(a, b)|`` for ``max(a, b) < 20``.

    The Gamma ratio (as cephes ``lbeta``) is within ~1.4e-14 absolute of mpmath here, the same
    as ``scipy.special.betaln``; differencing ``lgamma`` values loses up to ~4e-14.
    """
    try:
        # divide first: Gamma(a) is large for tiny a
        r = math.gamma(a) / math.gamma(a + b) * math.gamma(b)
        if r != 0.0 and math.isfinite(r):
            return math.log(abs(r))
    except (ValueError, OverflowError):
        pass
    return _lgamma1(a) + _lgamma1(b) - _lgamma1(a + b)  # extreme or invalid arguments


def _stirling_corr(x: np.ndarray) -> np.ndarray:
    """lgamma(x) - [(x - 1/2) log x - x + log(2 pi)/2], x >= 20 (error < 2e-15)."""
    x2 = x * x
    return (1.0 / 12.0 - (1.0 / 360.0 - (1.0 / 1260.0 - 1.0 / (1680.0 * x2)) / x2) / x2) / x


def log_beta(a: ArrayLike, b: ArrayLike) -> np.ndarray:
    """``log B(a, b)``, accurate to ~1e-13 absolute even for large arguments.

    Differencing ``lgamma`` values (as ``scipy.special.betaln`` does) loses ~1e-10 at a ~ 1e5;
    for ``max(a, b) >= 20`` the large-argument part is taken from Stirling's series instead.
    Otherwise ``log(Gamma(a) / Gamma(a + b) * Gamma(b))``, once per distinct ``(a, b)``.
    """
    a, b = np.broadcast_arrays(np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64))
    big = np.maximum(a, b)
    small = np.minimum(a, b)
    out = np.empty(a.shape)
    use = big >= 20.0
    if np.any(use):
        bg, sm = big[use], small[use]
        out[use] = (_lgamma(sm) - (bg - 0.5) * np.log1p(sm / bg) - sm * np.log(bg + sm)
                    + sm + _stirling_corr(bg) - _stirling_corr(bg + sm))
    rest = ~use
    if np.any(rest):
        # one evaluation per distinct pair: the pair is packed as a complex number for np.unique
        pairs = np.empty(int(np.count_nonzero(rest)), dtype=np.complex128)
        pairs.real, pairs.imag = a[rest], b[rest]
        u, inv = np.unique(pairs, return_inverse=True, equal_nan=False)
        vals = np.array([_log_beta_small(z.real, z.imag) for z in u.tolist()], dtype=np.float64)
        out[rest] = vals[inv.ravel()]
    return out


# ---------------------------------------------------------------------------------------------
# public tails

def _prep(*args):
    arrs = np.broadcast_arrays(*[np.asarray(a, dtype=np.float64) for a in args])
    shape = arrs[0].shape
    return shape, [np.ascontiguousarray(a).ravel() for a in arrs]


def beta_logsf(x: ArrayLike, a: ArrayLike, b: ArrayLike) -> np.ndarray:
    """``log P(X > x)`` for ``X ~ Beta(a, b)``, in natural log, without underflow.

    Parameters
    ----------
    x : array_like in [0, 1]
    a, b : array_like, positive shape parameters (broadcast against ``x``)
    """
    # log B before broadcasting: a, b are usually scalars shared by every x
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    shape, (x, a, b, lbeta) = _prep(x, a, b, log_beta(b, a))
    # P(Beta(a, b) > x) = I_{1-x}(b, a)
    out = _log_betainc_upper(b, a, x, lbeta)
    return out.reshape(shape)


def exact_multitrait_logp(q: ArrayLike, n: int, c: int, d: int) -> np.ndarray:
    """Exact log p of the D-df test: ``Q ~ Beta(D/2, (N - c - D)/2)`` under H0.

    Valid for Gaussian residuals, any fixed genotype vector, and ``N - c - D >= 1``
    (statistics.md section 4). Identical to the rank-1 MANOVA exact F(D, N - c - D) p-value.
    """
    df2 = n - c - d
    if df2 < 1:
        raise ValueError(f"N - c - D = {df2} < 1: the exact test is undefined")
    return beta_logsf(q, d / 2.0, df2 / 2.0)


def f_logsf(f: ArrayLike, d1: ArrayLike, d2: ArrayLike) -> np.ndarray:
    """``log P(F > f)`` for ``F ~ F(d1, d2)``."""
    f, d1, d2 = (np.asarray(v, dtype=np.float64) for v in (f, d1, d2))
    with np.errstate(invalid="ignore", divide="ignore"):
        x = np.where(np.isinf(f), 1.0, d1 * f / (d1 * f + d2))
    x = np.where(f <= 0, 0.0, x)
    return beta_logsf(x, d1 / 2.0, d2 / 2.0)


def chi2_logsf(x: ArrayLike, df: ArrayLike) -> np.ndarray:
    """``log P(X > x)`` for ``X ~ chi2(df)``, in natural log, without underflow."""
    s = np.asarray(df, dtype=np.float64) / 2.0
    shape, (x, s, lgam) = _prep(x, s, _lgamma(s))  # lgamma before broadcasting, once per df
    out = _log_gammaincc(s, x / 2.0, lgam)
    return out.reshape(shape)


def t_logsf_two_sided(t: ArrayLike, df: ArrayLike) -> np.ndarray:
    """``log P(|T| > |t|)`` for Student's t with ``df`` degrees of freedom."""
    shape, (t, df) = _prep(t, df)
    t2 = t * t
    with np.errstate(invalid="ignore", divide="ignore"):
        y = t2 / (df + t2)  # T^2/(df + T^2) ~ Beta(1/2, df/2)
    y = np.where(np.isinf(t2), 1.0, y)
    return beta_logsf(y, 0.5, df / 2.0).reshape(shape)


def neg_log10(logp: ArrayLike) -> np.ndarray:
    """``-log10 p`` from a natural-log p-value."""
    return -np.asarray(logp, dtype=np.float64) / LN10


# ---------------------------------------------------------------------------------------------
# chi-square quantile and genomic inflation

def _chi2_isf(p: float, df: float) -> float:
    """Upper quantile ``x`` with ``P(chi2(df) > x) = p`` (``scipy.special.chdtri(df, p)``).

    Solves ``log Q(df/2, x/2) = log p`` by Newton's method in ``x``, kept inside a bracket
    (geometric bisection when a step leaves it). Working on ``log Q`` keeps the residual
    meaningful down to tiny ``p``; the result is as accurate as ``log Q`` (~1e-15 relative).
    Called a few times per scan, so simplicity wins over speed.
    """
    p, df = float(p), float(df)
    if not (df > 0.0 and math.isfinite(df)) or not (0.0 <= p <= 1.0):
        return math.nan  # also NaN inputs; chdtri returns NaN there too
    if p == 1.0:
        return 0.0
    if p == 0.0:
        return math.inf
    s = df / 2.0
    lgam = _lgamma1(s)
    logp = math.log(p)
    from ._pvalues_numba_fns import log_gammaincc as kernel

    sv, lv = np.array([s]), np.array([lgam])
    xv = np.empty(1)

    def g(x: float) -> float:  # log Q(s, x/2) - log p: decreasing in x
        xv[0] = 0.5 * x
        return float(kernel(sv, xv, lv)[0]) - logp

    # bracket [lo, hi] with g(lo) > 0 >= g(hi), widening geometrically from the mean
    x = df
    gx = g(x)
    if gx == 0.0:
        return x
    factor = 2.0
    if gx > 0.0:
        lo, hi = x, x * factor
        while g(hi) > 0.0:
            lo, hi = hi, hi * factor
            factor *= factor
            if not math.isfinite(hi):
                return math.inf
    else:
        lo, hi = x / factor, x
        while g(lo) <= 0.0:
            lo, hi = lo / factor, lo
            factor *= factor
            if lo == 0.0:
                return 0.0
    x = math.sqrt(lo * hi)
    for _ in range(200):
        gx = g(x)
        if gx == 0.0:
            return x
        if gx > 0.0:
            lo = x
        else:
            hi = x
        # d/dx log Q(s, x/2) = -(1/2) * gamma density(x/2) / Q(s, x/2)
        t = 0.5 * x
        dlog = -0.5 * math.exp(-t + (s - 1.0) * math.log(t) - lgam - (gx + logp))
        nxt = x - gx / dlog if dlog < 0.0 else math.nan
        if not (lo < nxt < hi):
            nxt = math.sqrt(lo * hi)  # Newton left the bracket: geometric bisection
        if abs(nxt - x) <= 1e-15 * x or hi - lo <= 4.0 * math.ulp(hi):
            return nxt
        x = nxt
    return x


def lambda_gc(chisq: ArrayLike, df: int) -> float:
    """Genomic inflation of a ``df``-degree-of-freedom statistic: ``median(T)/median(chi2_df)``.

    statistics.md section 10: never use the 1-df formula on D-df p-values, it overstates a
    scale inflation. NaN entries are ignored.
    """
    chisq = np.asarray(chisq, dtype=np.float64)
    chisq = chisq[np.isfinite(chisq)]
    if chisq.size == 0:
        return float("nan")
    return float(np.median(chisq) / _chi2_isf(0.5, df))


def lambda_gc_from_p(p: ArrayLike, df: int) -> float:
    """λ_D from p-values: ``chi2.isf(median(p), df) / chi2.ppf(0.5, df)`` (section 10).

    Use it for exact (Beta) p-values, whose implied chi-square is not the reported statistic.
    """
    p = np.asarray(p, dtype=np.float64)
    p = p[np.isfinite(p)]
    if p.size == 0:
        return float("nan")
    return float(_chi2_isf(np.median(p), df) / _chi2_isf(0.5, df))

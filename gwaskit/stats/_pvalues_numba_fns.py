"""numba kernels for log-space tail probabilities (see :mod:`gwaskit.stats.pvalues`).

Continued fractions evaluated with the modified Lentz method (Numerical Recipes, 3rd ed.,
sections 6.2 and 6.4). Every kernel returns a natural logarithm, so nothing underflows.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit

_EPS = 1e-15
_FPMIN = 1e-300
_MAXIT = 100_000


@njit(cache=True, fastmath=False)
def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of I_x(a, b); converges fast for x < (a + 1)/(a + b + 2)."""
    qab = a + b
    qap = a + 1.0
    qam = a - 1.0
    c = 1.0
    d = 1.0 - qab * x / qap
    if abs(d) < _FPMIN:
        d = _FPMIN
    d = 1.0 / d
    h = d
    for m in range(1, _MAXIT + 1):
        m2 = 2.0 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        if abs(d) < _FPMIN:
            d = _FPMIN
        c = 1.0 + aa / c
        if abs(c) < _FPMIN:
            c = _FPMIN
        d = 1.0 / d
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        if abs(d) < _FPMIN:
            d = _FPMIN
        c = 1.0 + aa / c
        if abs(c) < _FPMIN:
            c = _FPMIN
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < _EPS:
            break
    return h


@njit(cache=True)
def _log_betainc_upper_one(a: float, b: float, y: float, lbeta: float) -> float:
    """log I_{1-y}(a, b) = log P(Beta(b, a) > y), y in [0, 1], accurate for tiny results.

    ``lbeta`` = log B(a, b) (passed in, computed accurately by scipy).
    """
    if not (y == y) or not (a == a) or not (b == b):
        return np.nan
    if y <= 0.0:
        return 0.0
    if y >= 1.0:
        return -np.inf
    x = 1.0 - y
    log_x = math.log1p(-y)          # log x, exact for small y
    log_1mx = math.log(y)           # log(1 - x)
    log_front = a * log_x + b * log_1mx - lbeta
    if x < (a + 1.0) / (a + b + 2.0):
        # I_x(a, b) directly
        return log_front + math.log(_betacf(a, b, x)) - math.log(a)
    # 1 - I_{1-x}(b, a); this branch is never a deep tail
    t = math.exp(log_front) * _betacf(b, a, y) / b
    if t >= 1.0:
        return -np.inf
    return math.log1p(-t)


@njit(cache=True, nogil=True)
def log_betainc_upper(a: np.ndarray, b: np.ndarray, y: np.ndarray, lbeta: np.ndarray) -> np.ndarray:
    out = np.empty(y.shape[0])
    for i in range(y.shape[0]):
        out[i] = _log_betainc_upper_one(a[i], b[i], y[i], lbeta[i])
    return out


@njit(cache=True)
def _log_gammaincc_one(s: float, x: float, lgam: float) -> float:
    """log Q(s, x) (regularised upper incomplete gamma), accurate for tiny results."""
    if not (x == x) or not (s == s):
        return np.nan
    if x <= 0.0:
        return 0.0
    if x == np.inf:
        return -np.inf
    log_front = -x + s * math.log(x) - lgam
    if x < s + 1.0:
        # series for P(s, x); Q = 1 - P is not a deep tail here
        ap = s
        total = 1.0 / s
        delta = total
        for _ in range(_MAXIT):
            ap += 1.0
            delta *= x / ap
            total += delta
            if abs(delta) < abs(total) * _EPS:
                break
        p = math.exp(log_front) * total
        if p >= 1.0:
            return -np.inf
        return math.log1p(-p)
    # continued fraction for Q(s, x)
    b = x + 1.0 - s
    c = 1.0 / _FPMIN
    d = 1.0 / b
    h = d
    for i in range(1, _MAXIT + 1):
        an = -i * (i - s)
        b += 2.0
        d = an * d + b
        if abs(d) < _FPMIN:
            d = _FPMIN
        c = b + an / c
        if abs(c) < _FPMIN:
            c = _FPMIN
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < _EPS:
            break
    return log_front + math.log(h)


@njit(cache=True, nogil=True)
def log_gammaincc(s: np.ndarray, x: np.ndarray, lgam: np.ndarray) -> np.ndarray:
    out = np.empty(x.shape[0])
    for i in range(x.shape[0]):
        out[i] = _log_gammaincc_one(s[i], x[i], lgam[i])
    return out

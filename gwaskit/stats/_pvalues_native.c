/* C twins of the numba kernels in gwaskit/stats/_pvalues_numba_fns.py (log-space tails).
 *
 * Why: importing numba and initialising its compiler costs ~0.8 s even for cached kernels,
 * more than a short `gwaskit scan` spends on p-values. This file is loaded with ctypes by
 * gwaskit/stats/pvalues.py through gwaskit/_native.py (compiled once into the gwaskit cache).
 *
 * Exactness: a line-by-line port. The same IEEE double operations in the same order (Python's
 * left-to-right evaluation is kept, integers are converted to double where numba converts
 * them), the same libm functions (log, log1p, exp), compiled with BASE_FLAGS: no fast-math
 * and -ffp-contract=off (no FMA), matching numba's non-fastmath code.
 * tests/stats/test_pvalues_native.py checks the results against the numba kernels.
 *
 * Unlike the numba version, log_betainc_upper is a plain loop: the arrays are ~2,000 long per
 * call, and callers that want parallelism run chunks from threads (ctypes releases the GIL).
 */
#include <math.h>
#include <stdint.h>

#define GK_EPS 1e-15
#define GK_FPMIN 1e-300
#define GK_MAXIT 100000

/* Continued fraction of I_x(a, b); converges fast for x < (a + 1)/(a + b + 2). */
static double betacf(double a, double b, double x) {
    double qab = a + b;
    double qap = a + 1.0;
    double qam = a - 1.0;
    double c = 1.0;
    double d = 1.0 - qab * x / qap;
    if (fabs(d) < GK_FPMIN) d = GK_FPMIN;
    d = 1.0 / d;
    double h = d;
    for (int64_t mi = 1; mi < GK_MAXIT + 1; mi++) {
        double m = (double)mi;
        double m2 = 2.0 * m;
        double aa = m * (b - m) * x / ((qam + m2) * (a + m2));
        d = 1.0 + aa * d;
        if (fabs(d) < GK_FPMIN) d = GK_FPMIN;
        c = 1.0 + aa / c;
        if (fabs(c) < GK_FPMIN) c = GK_FPMIN;
        d = 1.0 / d;
        h *= d * c;
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
        d = 1.0 + aa * d;
        if (fabs(d) < GK_FPMIN) d = GK_FPMIN;
        c = 1.0 + aa / c;
        if (fabs(c) < GK_FPMIN) c = GK_FPMIN;
        d = 1.0 / d;
        double delta = d * c;
        h *= delta;
        if (fabs(delta - 1.0) < GK_EPS) break;
    }
    return h;
}

/* log I_{1-y}(a, b) = log P(Beta(b, a) > y), y in [0, 1], accurate for tiny results.
   lbeta = log B(a, b), computed accurately by the caller. */
static double log_betainc_upper_one(double a, double b, double y, double lbeta) {
    if (!(y == y) || !(a == a) || !(b == b)) return NAN;
    if (y <= 0.0) return 0.0;
    if (y >= 1.0) return -INFINITY;
    double x = 1.0 - y;
    double log_x = log1p(-y);     /* log x, exact for small y */
    double log_1mx = log(y);      /* log(1 - x) */
    double log_front = a * log_x + b * log_1mx - lbeta;
    if (x < (a + 1.0) / (a + b + 2.0)) {
        /* I_x(a, b) directly */
        return log_front + log(betacf(a, b, x)) - log(a);
    }
    /* 1 - I_{1-x}(b, a); this branch is never a deep tail */
    double t = exp(log_front) * betacf(b, a, y) / b;
    if (t >= 1.0) return -INFINITY;
    return log1p(-t);
}

void gk_log_betainc_upper(const double *a, const double *b, const double *y, const double *lbeta,
                          int64_t n, double *out) {
    for (int64_t i = 0; i < n; i++) out[i] = log_betainc_upper_one(a[i], b[i], y[i], lbeta[i]);
}

/* log Q(s, x) (regularised upper incomplete gamma), accurate for tiny results. */
static double log_gammaincc_one(double s, double x, double lgam) {
    if (!(x == x) || !(s == s)) return NAN;
    if (x <= 0.0) return 0.0;
    if (x == INFINITY) return -INFINITY;
    double log_front = -x + s * log(x) - lgam;
    if (x < s + 1.0) {
        /* series for P(s, x); Q = 1 - P is not a deep tail here */
        double ap = s;
        double total = 1.0 / s;
        double delta = total;
        for (int64_t it = 0; it < GK_MAXIT; it++) {
            ap += 1.0;
            delta *= x / ap;
            total += delta;
            if (fabs(delta) < fabs(total) * GK_EPS) break;
        }
        double p = exp(log_front) * total;
        if (p >= 1.0) return -INFINITY;
        return log1p(-p);
    }
    /* continued fraction for Q(s, x) */
    double b = x + 1.0 - s;
    double c = 1.0 / GK_FPMIN;
    double d = 1.0 / b;
    double h = d;
    for (int64_t ii = 1; ii < GK_MAXIT + 1; ii++) {
        double i = (double)ii;
        double an = -i * (i - s);
        b += 2.0;
        d = an * d + b;
        if (fabs(d) < GK_FPMIN) d = GK_FPMIN;
        c = b + an / c;
        if (fabs(c) < GK_FPMIN) c = GK_FPMIN;
        d = 1.0 / d;
        double delta = d * c;
        h *= delta;
        if (fabs(delta - 1.0) < GK_EPS) break;
    }
    return log_front + log(h);
}

void gk_log_gammaincc(const double *s, const double *x, const double *lgam, int64_t n,
                      double *out) {
    for (int64_t i = 0; i < n; i++) out[i] = log_gammaincc_one(s[i], x[i], lgam[i]);
}

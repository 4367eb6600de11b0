/* Column statistics of dosage vectors, shared by gwaskit/io/_bgen_native.c (statistics of
   each column right after decoding it, while it is in cache) and gwaskit/stats/_scan_native.c
   (statistics of a decoded block). The Python loaders prepend this text to both sources, so the
   two compute the same bits.

   Reductions use LANES partial sums in double, combined in a fixed order, so the compiler can
   vectorise without fast-math and every build gives the same bits. (numba reassociates its
   sums differently: the backends agree to rounding, ~1e-15 relative, not bit for bit.) */
#include <math.h>
#include <stdint.h>

/* 32 partial sums: enough independent chains to hide the add latency once vectorised */
#define LANES 32

static inline double combine(const double *a) {
    double t[LANES];
    for (int l = 0; l < LANES; l++) t[l] = a[l];
    for (int w = LANES / 2; w >= 1; w /= 2) /* fixed pairwise tree */
        for (int l = 0; l < w; l++) t[l] = t[l] + t[l + w];
    return t[0];
}

/* Sum and count of the observed values of x[0..n). First the plain sum, which vectorises; it
   is finite exactly when no value is NaN (or infinite), and then it equals the masked sum bit
   for bit (the same additions in the same order). Otherwise the masked loop. */
#define SUM_COUNT(T)                                                                               \
    static double plain_sum_##T(const T *x, int64_t n) {                                           \
        double s[LANES] = {0};                                                                     \
        int64_t i = 0;                                                                             \
        for (; i + LANES <= n; i += LANES)                                                         \
            for (int l = 0; l < LANES; l++) s[l] += (double)x[i + l];                              \
        double t = 0.0;                                                                            \
        for (; i < n; i++) t += (double)x[i];                                                      \
        return combine(s) + t;                                                                     \
    }                                                                                              \
    static void sum_count_##T(const T *x, int64_t n, double *sum, double *cnt) {                   \
        double plain = plain_sum_##T(x, n);                                                        \
        if (isfinite(plain)) {                                                                     \
            *sum = plain;                                                                          \
            *cnt = (double)n;                                                                      \
            return;                                                                                \
        }                                                                                          \
        double s[LANES] = {0}, c[LANES] = {0};                                                     \
        int64_t i = 0;                                                                             \
        for (; i + LANES <= n; i += LANES)                                                         \
            for (int l = 0; l < LANES; l++) {                                                      \
                double v = (double)x[i + l];                                                       \
                int ok = v == v;                                                                   \
                s[l] += ok ? v : 0.0;                                                              \
                c[l] += ok ? 1.0 : 0.0;                                                            \
            }                                                                                      \
        double st = 0.0, ct = 0.0;                                                                 \
        for (; i < n; i++) {                                                                       \
            double v = (double)x[i];                                                               \
            st += v == v ? v : 0.0;                                                                \
            ct += v == v ? 1.0 : 0.0;                                                              \
        }                                                                                          \
        *sum = combine(s) + st;                                                                    \
        *cnt = combine(c) + ct;                                                                    \
    }                                                                                              \
    /* Sum of squared deviations from mu of the observed values (complete: none missing) */        \
    static double sq_dev_##T(const T *x, int64_t n, double mu, int complete) {                     \
        double a[LANES] = {0};                                                                     \
        int64_t i = 0;                                                                             \
        if (complete) {                                                                            \
            for (; i + LANES <= n; i += LANES)                                                     \
                for (int l = 0; l < LANES; l++) {                                                  \
                    double w = (double)x[i + l] - mu;                                              \
                    a[l] += w * w;                                                                 \
                }                                                                                  \
        } else {                                                                                   \
            for (; i + LANES <= n; i += LANES)                                                     \
                for (int l = 0; l < LANES; l++) {                                                  \
                    double v = (double)x[i + l];                                                   \
                    double w = v == v ? v - mu : 0.0;                                              \
                    a[l] += w * w;                                                                 \
                }                                                                                  \
        }                                                                                          \
        double t = 0.0;                                                                            \
        for (; i < n; i++) {                                                                       \
            double v = (double)x[i];                                                               \
            double w = v == v ? v - mu : 0.0;                                                      \
            t += w * w;                                                                            \
        }                                                                                          \
        return combine(a) + t;                                                                     \
    }                                                                                              \
    /* Statistics of one column: [n observed, sum, mean (NaN if none), sum of sq. deviations] */   \
    static inline void column_stats_one_##T(const T *x, int64_t n, double *st) {                   \
        double s, c;                                                                               \
        sum_count_##T(x, n, &s, &c);                                                               \
        st[0] = c;                                                                                 \
        st[1] = s;                                                                                 \
        st[2] = c == 0.0 ? NAN : s / c;                                                            \
        st[3] = c == 0.0 ? 0.0 : sq_dev_##T(x, n, s / c, c == (double)n);                         \
    }

typedef float f32;
typedef double f64;
SUM_COUNT(f32)
SUM_COUNT(f64)

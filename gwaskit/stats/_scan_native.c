/* C twins of the column kernels in gwaskit/stats/_scan_numba_fns.py (see gwaskit/_native.py).

   Dosage blocks are Fortran-ordered (N x m): column j starts at G + j * n. NaN = missing.
   Reductions use eight partial sums in double, combined in a fixed order, so the compiler can
   vectorise without fast-math and every build gives the same bits. (numba reassociates its
   sums differently: the two backends agree to rounding, ~1e-15 relative, not bit for bit.) */
#include <math.h>
#include <stdint.h>

#define LANES 8

static inline double combine(const double *a) {
    return ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
}

/* Sum and count of the observed values of x[0..n) */
#define SUM_COUNT(T)                                                                               \
    static void sum_count_##T(const T *x, int64_t n, double *sum, double *cnt) {                   \
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
    /* Sum of squared deviations from mu of the observed values */                                 \
    static double sq_dev_##T(const T *x, int64_t n, double mu) {                                   \
        double a[LANES] = {0};                                                                     \
        int64_t i = 0;                                                                             \
        for (; i + LANES <= n; i += LANES)                                                         \
            for (int l = 0; l < LANES; l++) {                                                      \
                double v = (double)x[i + l];                                                       \
                double w = v == v ? v - mu : 0.0;                                                  \
                a[l] += w * w;                                                                     \
            }                                                                                      \
        double t = 0.0;                                                                            \
        for (; i < n; i++) {                                                                       \
            double v = (double)x[i];                                                               \
            double w = v == v ? v - mu : 0.0;                                                      \
            t += w * w;                                                                            \
        }                                                                                          \
        return combine(a) + t;                                                                     \
    }                                                                                              \
    /* column_stats: per column nobs, sum, mean (NaN if none observed), sum of sq. deviations */   \
    void gk_column_stats_##T(const T *G, int64_t n, int64_t m, double *mean, double *ss,           \
                             int64_t *nobs, double *dsum) {                                        \
        for (int64_t j = 0; j < m; j++) {                                                          \
            const T *x = G + j * n;                                                                \
            double s, c;                                                                           \
            sum_count_##T(x, n, &s, &c);                                                           \
            nobs[j] = (int64_t)c;                                                                  \
            dsum[j] = s;                                                                           \
            if (c == 0.0) {                                                                        \
                mean[j] = NAN;                                                                     \
                ss[j] = 0.0;                                                                       \
                continue;                                                                          \
            }                                                                                      \
            double mu = s / c;                                                                     \
            mean[j] = mu;                                                                          \
            ss[j] = sq_dev_##T(x, n, mu);                                                          \
        }                                                                                          \
    }                                                                                              \

#define CENTRE(T, U)                                                                               \
    /* out = x - mu (0 where missing), rounded to U; returns the sum of squares written */         \
    static double centre_##T##_##U(const T *x, int64_t n, double mu, U *out) {                     \
        double a[LANES] = {0};                                                                     \
        int64_t i = 0;                                                                             \
        if (mu != mu) {                                                                            \
            for (i = 0; i < n; i++) out[i] = 0;                                                    \
            return 0.0;                                                                            \
        }                                                                                          \
        for (; i + LANES <= n; i += LANES)                                                         \
            for (int l = 0; l < LANES; l++) {                                                      \
                double v = (double)x[i + l];                                                       \
                U w = (U)(v == v ? v - mu : 0.0);                                                  \
                out[i + l] = w;                                                                    \
                a[l] += (double)w * (double)w;                                                     \
            }                                                                                      \
        double t = 0.0;                                                                            \
        for (; i < n; i++) {                                                                       \
            double v = (double)x[i];                                                               \
            U w = (U)(v == v ? v - mu : 0.0);                                                      \
            out[i] = w;                                                                            \
            t += (double)w * (double)w;                                                            \
        }                                                                                          \
        return combine(a) + t;                                                                     \
    }                                                                                              \
    /* centre_columns: out[:, k] = G[:, cols[k]] - mean[cols[k]] (0 where missing) */              \
    void gk_centre_columns_##T##_##U(const T *G, int64_t n, const int64_t *cols, int64_t k,        \
                               const double *mean, U *out, double *ss) {                           \
        for (int64_t q = 0; q < k; q++)                                                            \
            ss[q] = centre_##T##_##U(G + cols[q] * n, n, mean[cols[q]], out + q * n);              \
    }                                                                                              \
    /* impute_centre: column_stats, then centre every column into out */                           \
    void gk_impute_centre_##T##_##U(const T *G, int64_t n, int64_t m, U *out, double *mean,        \
                              double *ss, int64_t *nobs, double *dsum) {                           \
        for (int64_t j = 0; j < m; j++) {                                                          \
            const T *x = G + j * n;                                                                \
            double s, c;                                                                           \
            sum_count_##T(x, n, &s, &c);                                                           \
            nobs[j] = (int64_t)c;                                                                  \
            dsum[j] = s;                                                                           \
            double mu = c == 0.0 ? NAN : s / c;                                                    \
            mean[j] = mu;                                                                          \
            ss[j] = centre_##T##_##U(x, n, mu, out + j * n);                                       \
        }                                                                                          \
    }

typedef float f32;
typedef double f64;
SUM_COUNT(f32)
SUM_COUNT(f64)
CENTRE(f32, f32)
CENTRE(f64, f64)
CENTRE(f64, f32)
CENTRE(f32, f64)

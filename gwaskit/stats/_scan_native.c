/* C twins of the column kernels in gwaskit/stats/_scan_numba_fns.py (see gwaskit/_native.py).

   Dosage blocks are Fortran-ordered (N x m): column j starts at G + j * n. NaN = missing.
   gwaskit/io/_column_stats.h (sum_count_*, sq_dev_*, column_stats_one_*) is prepended by the
   loader (gwaskit/stats/_scan_kernels.py). */

#define COLUMN_STATS(T)                                                                            \
    /* column_stats: per column nobs, sum, mean (NaN if none observed), sum of sq. deviations */   \
    void gk_column_stats_##T(const T *G, int64_t n, int64_t m, double *mean, double *ss,           \
                             int64_t *nobs, double *dsum) {                                        \
        for (int64_t j = 0; j < m; j++) {                                                          \
            double st[4];                                                                          \
            column_stats_one_##T(G + j * n, n, st);                                                \
            nobs[j] = (int64_t)st[0];                                                              \
            dsum[j] = st[1];                                                                       \
            mean[j] = st[2];                                                                       \
            ss[j] = st[3];                                                                         \
        }                                                                                          \
    }

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

COLUMN_STATS(f32)
COLUMN_STATS(f64)
CENTRE(f32, f32)
CENTRE(f64, f64)
CENTRE(f64, f32)
CENTRE(f32, f64)

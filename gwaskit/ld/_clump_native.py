"""Optional native (C, via ctypes) versions of the .bed clumping kernels.

Why: a command-line ``gwaskit clump`` is dominated by numba's start-up (importing numba and
initialising its compiler to load even cached kernels takes about a second), more than
plink1.9 needs for the whole job. The few kernels on the ``--bed`` haplotype path are small,
so they also exist here as C, compiled once with the system C compiler into the gwaskit cache
directory (``$GWASKIT_CACHE_DIR`` or ``~/.cache/gwaskit``, keyed by a hash of the source,
flags and platform) and loaded with ctypes (milliseconds).

Exactness: the C code is a line-by-line port of :mod:`gwaskit.ld._r2_numba_fns`
(``bed_to_masks_all16``, ``bed_to_masks`` + ``mask_counts``, ``hap_r2_slots`` with
``hap_r2_from_counts``, ``cubic_real_roots``, ``_lnlike``, ``hap_r2_bound_from_counts``):
the same IEEE double operations in the same order, compiled without fast-math and without
floating-point contraction (``-ffp-contract=off``: no FMA), calling the same libm
(``sqrt``, ``acos``, ``cos``, ``pow``, ``log``) as numba's code; ``tests/ld/test_clump_native.py``
checks the r² of random count tables and of real .bed data bit for bit against the numba
kernels.

Nothing is required: with no compiler, a failed build or load, or ``GWASKIT_NATIVE=0``,
:func:`load` returns None and the numba kernels are used.
"""
from __future__ import annotations

import ctypes

import numpy as np

from .._native import BASE_FLAGS, cpu_signature, load_library

_SRC = r"""
#include <math.h>
#include <stdint.h>

#define EPSILON 0.000000000931322574615478515625
#define SMALLISH_EPSILON 0.00000000002910383045673370361328125
#define SMALL_EPSILON 0.00000000000005684341886080801486968994140625
#define PI 3.1415926535897932

static inline int64_t pc(uint64_t x) { return (int64_t)__builtin_popcountll(x); }

/* 2 x 2 cells of the category-0/1 masks: c = |x0&y0|, |x0&y1|, |x1&y0|, |x1&y1| (integers:
   any implementation gives the same counts) */
static void count4_plain(const uint64_t *x0, const uint64_t *x1, const uint64_t *y0, const uint64_t *y1,
                         int64_t W, int64_t *c) {
    int64_t c00 = 0, c01 = 0, c10 = 0, c11 = 0;
    for (int64_t w = 0; w < W; w++) {
        c00 += pc(x0[w] & y0[w]);
        c01 += pc(x0[w] & y1[w]);
        c10 += pc(x1[w] & y0[w]);
        c11 += pc(x1[w] & y1[w]);
    }
    c[0] = c00; c[1] = c01; c[2] = c10; c[3] = c11;
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
__attribute__((target("avx512f,avx512vpopcntdq")))
static void count4_avx512(const uint64_t *x0, const uint64_t *x1, const uint64_t *y0, const uint64_t *y1,
                          int64_t W, int64_t *c) {
    __m512i s00 = _mm512_setzero_si512(), s01 = _mm512_setzero_si512();
    __m512i s10 = _mm512_setzero_si512(), s11 = _mm512_setzero_si512();
    int64_t w = 0;
    for (; w + 8 <= W; w += 8) {
        __m512i X0 = _mm512_loadu_si512((const void *)(x0 + w)), X1 = _mm512_loadu_si512((const void *)(x1 + w));
        __m512i Y0 = _mm512_loadu_si512((const void *)(y0 + w)), Y1 = _mm512_loadu_si512((const void *)(y1 + w));
        s00 = _mm512_add_epi64(s00, _mm512_popcnt_epi64(_mm512_and_si512(X0, Y0)));
        s01 = _mm512_add_epi64(s01, _mm512_popcnt_epi64(_mm512_and_si512(X0, Y1)));
        s10 = _mm512_add_epi64(s10, _mm512_popcnt_epi64(_mm512_and_si512(X1, Y0)));
        s11 = _mm512_add_epi64(s11, _mm512_popcnt_epi64(_mm512_and_si512(X1, Y1)));
    }
    int64_t t[4];
    count4_plain(x0 + w, x1 + w, y0 + w, y1 + w, W - w, t);
    c[0] = _mm512_reduce_add_epi64(s00) + t[0];
    c[1] = _mm512_reduce_add_epi64(s01) + t[1];
    c[2] = _mm512_reduce_add_epi64(s10) + t[2];
    c[3] = _mm512_reduce_add_epi64(s11) + t[3];
}
#endif

static void (*count4)(const uint64_t *, const uint64_t *, const uint64_t *, const uint64_t *, int64_t,
                      int64_t *) = count4_plain;

static uint32_t LUT[65536];

void gk_init(void) {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vpopcntdq")) count4 = count4_avx512;
#endif
    for (uint32_t v = 0; v < 65536; v++) {
        uint32_t m0 = 0, m1 = 0, m2 = 0;
        for (int q = 0; q < 8; q++) {
            uint32_t code = (v >> (2 * q)) & 3u;
            if (code == 0) m0 |= 1u << q;
            else if (code == 2) m1 |= 1u << q;
            else if (code == 3) m2 |= 1u << q;
        }
        LUT[v] = m0 | (m1 << 8) | (m2 << 16);
    }
}

/* bed_to_masks_all16 */
void gk_decode_all(const uint8_t *bed, int64_t offset, int64_t bpv, int64_t n, const int64_t *variants,
                   int64_t k, int64_t W, uint64_t *out, int64_t *counts) {
    int64_t tail = n - (W - 1) * 64;
    uint64_t last_mask = tail == 64 ? ~(uint64_t)0 : (((uint64_t)1 << tail) - 1);
    for (int64_t j = 0; j < k; j++) {
        const uint8_t *row = bed + offset + variants[j] * bpv;
        uint64_t *o = out + j * 3 * W;
        int64_t n0 = 0, n1 = 0, n2 = 0;
        for (int64_t w = 0; w < W; w++) {
            uint64_t m0 = 0, m1 = 0, m2 = 0;
            int64_t b0 = w * 16;
            for (int q = 0; q < 8; q++) {
                int64_t bi = b0 + 2 * q;
                if (bi >= bpv) break;
                uint32_t u = row[bi];
                if (bi + 1 < bpv) u |= (uint32_t)row[bi + 1] << 8;
                uint64_t v = LUT[u];
                int sh = 8 * q;
                m0 |= (v & 0xFFu) << sh;
                m1 |= ((v >> 8) & 0xFFu) << sh;
                m2 |= (v >> 16) << sh;
            }
            if (w == W - 1) { m0 &= last_mask; m1 &= last_mask; m2 &= last_mask; }
            o[w] = m0; o[W + w] = m1; o[2 * W + w] = m2;
            n0 += pc(m0); n1 += pc(m1); n2 += pc(m2);
        }
        counts[3 * j] = n0; counts[3 * j + 1] = n1; counts[3 * j + 2] = n2;
    }
}

/* bed_to_masks + mask_counts */
void gk_decode_samples(const uint8_t *bed, int64_t offset, int64_t bpv, const int64_t *variants, int64_t k,
                       const int64_t *samples, int64_t ns, int64_t W, uint64_t *out, int64_t *counts) {
    for (int64_t j = 0; j < k; j++) {
        const uint8_t *row = bed + offset + variants[j] * bpv;
        uint64_t *o = out + j * 3 * W;
        for (int64_t t = 0; t < 3 * W; t++) o[t] = 0;
        for (int64_t t = 0; t < ns; t++) {
            int64_t s = samples[t];
            int code = (row[s >> 2] >> ((s & 3) * 2)) & 3;
            if (code == 1) continue;
            int cat = code == 0 ? 0 : (code == 2 ? 1 : 2);
            o[cat * W + (t >> 6)] |= (uint64_t)1 << (t & 63);
        }
        for (int a = 0; a < 3; a++) {
            int64_t c = 0;
            for (int64_t w = 0; w < W; w++) c += pc(o[a * W + w]);
            counts[3 * j + a] = c;
        }
    }
}

static int cubic_real_roots(double coef_a, double coef_b, double coef_c, double *sol) {
    double a2 = coef_a * coef_a;
    double qq = (a2 - 3 * coef_b) * (1.0 / 9.0);
    double rr = (2 * a2 * coef_a - 9 * coef_a * coef_b + 27 * coef_c) * (1.0 / 54.0);
    double r2 = rr * rr;
    double q3 = qq * qq * qq;
    double adiv3 = coef_a * (1.0 / 3.0);
    double sq, dxx;
    if (r2 < q3) {
        sq = sqrt(qq);
        dxx = acos(rr / (qq * sq)) * (1.0 / 3.0);
        sq *= -2;
        double s0 = sq * cos(dxx) - adiv3;
        double s1 = sq * cos(dxx + (2.0 * PI / 3.0)) - adiv3;
        double s2 = sq * cos(dxx - (2.0 * PI / 3.0)) - adiv3;
        double t;
        if (s0 > s1) { t = s0; s0 = s1; s1 = t; }
        if (s1 > s2) {
            t = s1; s1 = s2; s2 = t;
            if (s0 > s1) { t = s0; s0 = s1; s1 = t; }
        }
        sol[0] = s0; sol[1] = s1; sol[2] = s2;
        if (sol[1] - sol[0] < EPSILON) {
            sol[1] = sol[2];
            return (sol[1] - sol[0] < EPSILON) ? 1 : 2;
        }
        return (sol[2] - sol[1] < EPSILON) ? 2 : 3;
    }
    dxx = -pow(fabs(rr) + sqrt(r2 - q3), 1.0 / 3.0);
    if (dxx == 0.0) { sol[0] = -adiv3; return 1; }
    if (rr < 0.0) dxx = -dxx;
    sq = qq / dxx;
    sol[0] = dxx + sq - adiv3;
    if (fabs(dxx - sq) >= (EPSILON * 8)) return 1;
    if (dxx >= 0.0) { sol[1] = sol[0]; sol[0] = -dxx - adiv3; }
    else sol[1] = -dxx - adiv3;
    return 2;
}

static double lnlike(double k11, double k12, double k21, double k22, double center, double f11, double f12,
                     double f21, double f22, double half_hh, double incr) {
    f11 += incr;
    f22 += incr;
    f12 += half_hh - incr;
    f21 += half_hh - incr;
    double ll = center * log(f11 * f22 + f12 * f21);
    if (k11 != 0.0) ll += k11 * log(f11);
    if (k12 != 0.0) ll += k12 * log(f12);
    if (k21 != 0.0) ll += k21 * log(f21);
    if (k22 != 0.0) ll += k22 * log(f22);
    return ll;
}

double gk_hap_r2_from_counts(const int64_t *c) {
    double sol[3] = {0.0, 0.0, 0.0};
    double k11 = (double)(2 * c[0] + c[1] + c[3]);
    double k12 = (double)(2 * c[2] + c[1] + c[5]);
    double k21 = (double)(2 * c[6] + c[3] + c[7]);
    double k22 = (double)(2 * c[8] + c[5] + c[7]);
    int64_t center_ct = c[4];
    double center = (double)center_ct;
    double twice_tot = k11 + k12 + k21 + k22 + 2 * center;
    if (twice_tot == 0.0) return NAN;
    double recip = 1.0 / twice_tot;
    double f11 = k11 * recip, f12 = k12 * recip, f21 = k21 * recip, f22 = k22 * recip;
    double p1122 = f11 * f22, p1221 = f12 * f21;
    double half_hh = center * recip;
    double f1x = f11 + f12 + half_hh;
    double f2x = 1.0 - f1x;
    double fx1 = f11 + f21 + half_hh;
    double fx2 = 1.0 - fx1;
    int start = 0, end = 1;
    if (center_ct) {
        if (p1122 != 0.0 || p1221 != 0.0) {
            end = cubic_real_roots(0.5 * (f11 + f22 - f12 - f21 - 3 * half_hh),
                                   0.5 * (p1122 + p1221 + half_hh * (f12 + f21 - f11 - f22 + half_hh)),
                                   -0.5 * half_hh * p1122, sol);
            while (end && (sol[end - 1] > half_hh + SMALLISH_EPSILON)) end--;
            while ((start < end) && (sol[start] < -SMALLISH_EPSILON)) start++;
            if (start == end) {
                start = 0; end = 2; sol[0] = 0.0; sol[1] = half_hh;
            } else {
                if (sol[start] < 0) sol[start] = 0.0;
                if (sol[end - 1] > half_hh) sol[end - 1] = half_hh;
            }
        } else {
            sol[0] = 0.0;
            double nz_xx = f11 + f22, nz_xy = f12 + f21;
            if ((nz_xx + SMALLISH_EPSILON < half_hh + nz_xy) && (nz_xy + SMALLISH_EPSILON < half_hh + nz_xx)) {
                end = 3;
                sol[1] = (half_hh + nz_xy - nz_xx) * 0.5;
                sol[2] = half_hh;
            } else {
                end = 2;
                sol[1] = half_hh;
            }
        }
        double best = sol[start];
        if (end > start + 1) {
            double best_ll = lnlike(k11, k12, k21, k22, center, f11, f12, f21, f22, half_hh, best);
            for (int j = start + 1; j < end; j++) {
                double incr = sol[j];
                double cur = lnlike(k11, k12, k21, k22, center, f11, f12, f21, f22, half_hh, incr);
                if (cur > best_ll) best = incr;
            }
        }
        f11 += best;
    } else if (p1122 == 0.0 && p1221 == 0.0) {
        return NAN;
    }
    double expected = fx1 * f1x;
    double d = f11 - expected;
    double r2 = fabs(d);
    if (r2 >= SMALL_EPSILON) r2 = r2 * d / (expected * f2x * fx2);
    else r2 = 0.0;
    return r2;
}

static double bound_from_counts(const int64_t *c) {
    double k11 = (double)(2 * c[0] + c[1] + c[3]);
    double k12 = (double)(2 * c[2] + c[1] + c[5]);
    double k21 = (double)(2 * c[6] + c[3] + c[7]);
    double k22 = (double)(2 * c[8] + c[5] + c[7]);
    double center = (double)c[4];
    double twice_tot = k11 + k12 + k21 + k22 + 2 * center;
    if (twice_tot == 0.0) return INFINITY;
    double recip = 1.0 / twice_tot;
    double f11 = k11 * recip, f12 = k12 * recip, f21 = k21 * recip;
    double half_hh = center * recip;
    double f1x = f11 + f12 + half_hh;
    double f2x = 1.0 - f1x;
    double fx1 = f11 + f21 + half_hh;
    double fx2 = 1.0 - fx1;
    double expected = fx1 * f1x;
    double den = expected * f2x * fx2;
    if (!(den > 0.0)) return INFINITY;
    double d0 = fabs(f11 - expected);
    double d1 = fabs((f11 + half_hh) - expected);
    double d = d0 > d1 ? d0 : d1;
    return d * d / den;
}

/* hap_r2_slots */
void gk_hap_r2_slots(const uint64_t *store, const int64_t *counts, int64_t W, int64_t n, int64_t islot,
                     const int64_t *slots, int64_t k, double *out, double skip_below) {
    int64_t c[9];
    double cut = skip_below * (1.0 - 1e-9);
    const uint64_t *A = store + islot * 3 * W;
    int64_t na0 = counts[3 * islot], na1 = counts[3 * islot + 1], na2 = counts[3 * islot + 2];
    int a_full = na0 + na1 + na2 == n;
    for (int64_t j = 0; j < k; j++) {
        int64_t s = slots[j];
        const uint64_t *B = store + s * 3 * W;
        int64_t nb0 = counts[3 * s], nb1 = counts[3 * s + 1], nb2 = counts[3 * s + 2];
        if (a_full && nb0 + nb1 + nb2 == n) {
            int64_t t[4];
            count4(A, A + W, B, B + W, W, t);
            int64_t c00 = t[0], c01 = t[1], c10 = t[2], c11 = t[3];
            c[0] = c00; c[1] = c01; c[2] = na0 - c00 - c01;
            c[3] = c10; c[4] = c11; c[5] = na1 - c10 - c11;
            c[6] = nb0 - c00 - c10; c[7] = nb1 - c01 - c11; c[8] = na2 - c[6] - c[7];
        } else {
            for (int a = 0; a < 3; a++)
                for (int b = 0; b < 3; b++) {
                    int64_t t = 0;
                    for (int64_t w = 0; w < W; w++) t += pc(A[a * W + w] & B[b * W + w]);
                    c[a * 3 + b] = t;
                }
        }
        if (skip_below > 0.0 && bound_from_counts(c) < cut) out[j] = 0.0;
        else out[j] = gk_hap_r2_from_counts(c);
    }
}

/* ---- r2 straight from .bed rows (2-bit codes, 32 samples per 64-bit word; no decoded copy) ---- */
#define M5 0x5555555555555555ull
#include <string.h>

static inline void load_row(const uint8_t *row, int64_t bpv, int64_t NW, uint64_t *w) {
    memcpy(w, row, (size_t)bpv);
    memset((uint8_t *)w + bpv, 0, (size_t)(NW * 8 - bpv));
}

/* category counts over the kept samples (keep: bit 2i set for kept sample i) */
static void row_counts(const uint64_t *y, const uint64_t *keep, int64_t NW, int64_t *c3) {
    int64_t n0 = 0, n1 = 0, n2 = 0;
    for (int64_t w = 0; w < NW; w++) {
        uint64_t lo = y[w] & M5, hi = (y[w] >> 1) & M5, k = keep[w];
        n0 += pc(~(lo | hi) & k);
        n1 += pc(hi & ~lo & k);
        n2 += pc(hi & lo & k);
    }
    c3[0] = n0; c3[1] = n1; c3[2] = n2;
}

static void raw4_plain(const uint64_t *a0, const uint64_t *a1, const uint64_t *y, int64_t NW, int64_t *c) {
    int64_t c00 = 0, c01 = 0, c10 = 0, c11 = 0;
    for (int64_t w = 0; w < NW; w++) {
        uint64_t lo = y[w] & M5, hi = (y[w] >> 1) & M5;
        uint64_t b0 = ~(lo | hi), b1 = hi & ~lo;  /* a0/a1 hold even bits only */
        c00 += pc(a0[w] & b0);
        c01 += pc(a0[w] & b1);
        c10 += pc(a1[w] & b0);
        c11 += pc(a1[w] & b1);
    }
    c[0] = c00; c[1] = c01; c[2] = c10; c[3] = c11;
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
__attribute__((target("avx512f,avx512vpopcntdq")))
static void raw4_avx512(const uint64_t *a0, const uint64_t *a1, const uint64_t *y, int64_t NW, int64_t *c) {
    const __m512i m5 = _mm512_set1_epi64((long long)M5);
    __m512i s00 = _mm512_setzero_si512(), s01 = _mm512_setzero_si512();
    __m512i s10 = _mm512_setzero_si512(), s11 = _mm512_setzero_si512();
    int64_t w = 0;
    for (; w + 8 <= NW; w += 8) {
        __m512i Y = _mm512_loadu_si512((const void *)(y + w));
        __m512i lo = _mm512_and_si512(Y, m5), hi = _mm512_and_si512(_mm512_srli_epi64(Y, 1), m5);
        __m512i b0 = _mm512_andnot_si512(_mm512_or_si512(lo, hi), m5);
        __m512i b1 = _mm512_andnot_si512(lo, hi);
        __m512i A0 = _mm512_loadu_si512((const void *)(a0 + w)), A1 = _mm512_loadu_si512((const void *)(a1 + w));
        s00 = _mm512_add_epi64(s00, _mm512_popcnt_epi64(_mm512_and_si512(A0, b0)));
        s01 = _mm512_add_epi64(s01, _mm512_popcnt_epi64(_mm512_and_si512(A0, b1)));
        s10 = _mm512_add_epi64(s10, _mm512_popcnt_epi64(_mm512_and_si512(A1, b0)));
        s11 = _mm512_add_epi64(s11, _mm512_popcnt_epi64(_mm512_and_si512(A1, b1)));
    }
    int64_t t[4];
    raw4_plain(a0 + w, a1 + w, y + w, NW - w, t);
    c[0] = _mm512_reduce_add_epi64(s00) + t[0];
    c[1] = _mm512_reduce_add_epi64(s01) + t[1];
    c[2] = _mm512_reduce_add_epi64(s10) + t[2];
    c[3] = _mm512_reduce_add_epi64(s11) + t[3];
}
#endif

static void (*raw4)(const uint64_t *, const uint64_t *, const uint64_t *, int64_t, int64_t *) = raw4_plain;

void gk_init_raw(void) {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vpopcntdq")) raw4 = raw4_avx512;
#endif
}

/* signed haplotype r2 of .bed row ivar against rows win[0..k): the same 3 x 3 tables as
   hap_r2_slots on decoded masks. counts (m, 3): per-variant category counts over the kept
   samples, -1 where not yet known (filled here). scratch: 4 * NW words. */
void gk_r2_raw(const uint8_t *bed, int64_t offset, int64_t bpv, const uint64_t *keep, int64_t NW, int64_t n_used,
               int64_t ivar, const int64_t *win, int64_t k, int64_t *counts, double *out, double skip_below,
               uint64_t *scratch) {
    uint64_t *A0 = scratch, *A1 = scratch + NW, *A2 = scratch + 2 * NW, *Y = scratch + 3 * NW;
    int64_t c[9];
    double cut = skip_below * (1.0 - 1e-9);
    load_row(bed + offset + ivar * bpv, bpv, NW, Y);
    for (int64_t w = 0; w < NW; w++) {
        uint64_t lo = Y[w] & M5, hi = (Y[w] >> 1) & M5;
        A0[w] = ~(lo | hi) & keep[w];
        A1[w] = hi & ~lo & keep[w];
        A2[w] = hi & lo & keep[w];
    }
    int64_t *ca = counts + 3 * ivar;
    if (ca[0] < 0) row_counts(Y, keep, NW, ca);
    int64_t na0 = ca[0], na1 = ca[1], na2 = ca[2];
    int a_full = na0 + na1 + na2 == n_used;
    /* allele frequency of A for the frequency bound (complete data only) */
    double pa = (double)(2 * na0 + na1) / (double)(2 * n_used);
    for (int64_t j = 0; j < k; j++) {
        int64_t v = win[j];
        int64_t *cb = counts + 3 * v;
        int loaded = 0;
        if (cb[0] < 0) {
            load_row(bed + offset + v * bpv, bpv, NW, Y);
            row_counts(Y, keep, NW, cb);
            loaded = 1;
        }
        int64_t nb0 = cb[0], nb1 = cb[1], nb2 = cb[2];
        int full = a_full && nb0 + nb1 + nb2 == n_used;
        if (full && skip_below > 0.0) {
            /* |r2| <= Dmax^2 / (pa qa pb qb) for any haplotype table with these allele
               frequencies (Frechet bounds); the ML table is one of them */
            double pb = (double)(2 * nb0 + nb1) / (double)(2 * n_used);
            double qa = 1.0 - pa, qb = 1.0 - pb;
            double den = pa * qa * pb * qb;
            double dpos = pa * qb < qa * pb ? pa * qb : qa * pb;
            double dneg = pa * pb < qa * qb ? pa * pb : qa * qb;
            double dm = dpos > dneg ? dpos : dneg;
            if (!(den > 0.0) || dm * dm / den < skip_below * (1.0 - 1e-6)) {
                out[j] = 0.0;  /* cannot pass |r2| > skip_below (or undefined) */
                continue;
            }
        }
        if (!loaded) load_row(bed + offset + v * bpv, bpv, NW, Y);
        if (full) {
            int64_t t[4];
            raw4(A0, A1, Y, NW, t);
            c[0] = t[0]; c[1] = t[1]; c[2] = na0 - t[0] - t[1];
            c[3] = t[2]; c[4] = t[3]; c[5] = na1 - t[2] - t[3];
            c[6] = nb0 - t[0] - t[2]; c[7] = nb1 - t[1] - t[3]; c[8] = na2 - c[6] - c[7];
        } else {
            for (int b = 0; b < 9; b++) c[b] = 0;
            for (int64_t w = 0; w < NW; w++) {
                uint64_t lo = Y[w] & M5, hi = (Y[w] >> 1) & M5;
                uint64_t b0 = ~(lo | hi), b1 = hi & ~lo, b2 = hi & lo;
                c[0] += pc(A0[w] & b0); c[1] += pc(A0[w] & b1); c[2] += pc(A0[w] & b2);
                c[3] += pc(A1[w] & b0); c[4] += pc(A1[w] & b1); c[5] += pc(A1[w] & b2);
                c[6] += pc(A2[w] & b0); c[7] += pc(A2[w] & b1); c[8] += pc(A2[w] & b2);
            }
        }
        if (skip_below > 0.0 && bound_from_counts(c) < cut) out[j] = 0.0;
        else out[j] = gk_hap_r2_from_counts(c);
    }
}
"""

_FLAGS = [*BASE_FLAGS, "-mpopcnt"]


def _declare(lib) -> None:
    p, i64, f64 = ctypes.c_void_p, ctypes.c_int64, ctypes.c_double
    lib.gk_init.argtypes = []
    lib.gk_init_raw.argtypes = []
    lib.gk_init_raw.restype = None
    lib.gk_r2_raw.argtypes = [p, i64, i64, p, i64, i64, i64, p, i64, p, p, f64, p]
    lib.gk_r2_raw.restype = None
    lib.gk_decode_all.argtypes = [p, i64, i64, i64, p, i64, i64, p, p]
    lib.gk_decode_samples.argtypes = [p, i64, i64, p, i64, p, i64, i64, p, p]
    lib.gk_hap_r2_slots.argtypes = [p, p, i64, i64, i64, p, i64, p, f64]
    lib.gk_hap_r2_from_counts.argtypes = [p]
    lib.gk_hap_r2_from_counts.restype = f64
    for f in (lib.gk_init, lib.gk_decode_all, lib.gk_decode_samples, lib.gk_hap_r2_slots):
        f.restype = None
    lib.gk_init()
    lib.gk_init_raw()


def load():
    """The ctypes library, or None (no compiler / build or load failed / ``GWASKIT_NATIVE=0``)."""
    import platform

    flags = list(_FLAGS)
    if platform.machine() not in ("x86_64", "AMD64") or " popcnt" not in cpu_signature():
        flags.remove("-mpopcnt")
    return load_library("clump_kernels", _SRC, _declare, flags=flags)


def _ptr(a: np.ndarray) -> int:
    return a.ctypes.data


def decode(lib, mm: np.ndarray, bpv: int, n: int, variants: np.ndarray, samples: np.ndarray | None,
           out: np.ndarray, counts: np.ndarray, offset: int = 3) -> None:
    """Masks (k, 3, W) and category counts (k, 3) of ``variants`` (rows of ``bpv`` bytes from
    byte ``offset`` of ``mm``; C-contiguous outputs)."""
    variants = np.ascontiguousarray(variants, dtype=np.int64)
    assert out.flags.c_contiguous and counts.flags.c_contiguous and out.dtype == np.uint64
    W = out.shape[2]
    if samples is None:
        lib.gk_decode_all(_ptr(mm), offset, bpv, n, _ptr(variants), len(variants), W, _ptr(out), _ptr(counts))
    else:
        samples = np.ascontiguousarray(samples, dtype=np.int64)
        lib.gk_decode_samples(_ptr(mm), offset, bpv, _ptr(variants), len(variants), _ptr(samples), len(samples),
                              W, _ptr(out), _ptr(counts))


def hap_r2_slots(lib, store, counts, n, islot, slots, out, skip_below=-1.0) -> None:
    """As :func:`gwaskit.ld._r2_numba_fns.hap_r2_slots`."""
    slots = np.ascontiguousarray(slots, dtype=np.int64)
    assert store.flags.c_contiguous and counts.flags.c_contiguous and out.flags.c_contiguous
    assert len(out) >= len(slots)
    lib.gk_hap_r2_slots(_ptr(store), _ptr(counts), store.shape[2], int(n), int(islot), _ptr(slots), len(slots),
                        _ptr(out), float(skip_below))


def hap_r2_from_counts(lib, c) -> float:
    c = np.ascontiguousarray(c, dtype=np.int64)
    return lib.gk_hap_r2_from_counts(_ptr(c))


class BedRows:
    """Haplotype r² straight from the rows of a SNP-major .bed (memory-mapped; no decoded
    copy, so no large allocation): :meth:`r2` has the interface of the clump mask sources."""

    def __init__(self, lib, bed_path, n_file_samples: int, n_variants: int, samples: np.ndarray):
        self.lib = lib
        self.bpv = (n_file_samples + 3) // 4
        self.mm = np.memmap(bed_path, dtype=np.uint8, mode="r")
        if (self.mm.shape[0] != 3 + self.bpv * n_variants or self.mm[0] != 0x6C or self.mm[1] != 0x1B
                or self.mm[2] != 0x01):
            raise ValueError("not a SNP-major .bed matching the reader")
        self.NW = (self.bpv + 7) // 8
        keep = np.zeros(self.NW * 32, dtype=np.uint64)
        keep[np.asarray(samples, dtype=np.int64)] = 1
        # bit 2i of word i // 32 for each kept sample i
        sh = (2 * (np.arange(self.NW * 32) % 32)).astype(np.uint64)
        self.keep = np.bitwise_or.reduce((keep << sh).reshape(self.NW, 32), axis=1).astype(np.uint64)
        self.n_used = int(np.count_nonzero(keep))  # samples are distinct
        self.counts = np.full((n_variants, 3), -1, dtype=np.int64)
        self.scratch = np.empty(4 * self.NW, dtype=np.uint64)

    def r2(self, ivar: int, win: np.ndarray, out: np.ndarray, skip_below: float = -1.0) -> None:
        win = np.ascontiguousarray(win, dtype=np.int64)
        assert out.flags.c_contiguous and len(out) >= len(win)
        self.lib.gk_r2_raw(_ptr(self.mm), 3, self.bpv, _ptr(self.keep), self.NW, self.n_used, int(ivar),
                           _ptr(win), len(win), _ptr(self.counts), _ptr(out), float(skip_below),
                           _ptr(self.scratch))

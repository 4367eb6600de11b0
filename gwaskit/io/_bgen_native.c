/* C twins of the BGEN kernels in gwaskit/io/_bgen_numba_fns.py (walk_variants, decode_variant).

   Why: a short command-line run should not pay numba's start-up (import + compiler
   initialisation, ~0.8 s) just to read a BGEN file. These are line-by-line ports with the same
   semantics and the same error codes; the tests check them against the numba kernels
   (bit-identical dosages, identical walk output and error codes).

   Floating point: every dosage is computed in double exactly as numba does it (same operations
   in the same order) and rounded to the output type only on store. Compile without fast-math
   and without FMA contraction (gwaskit._native.BASE_FLAGS), or results could differ in the
   last bit.

   Neither function allocates: the caller passes the output and scratch arrays. Both are
   reentrant (called concurrently from a thread pool; ctypes releases the GIL). */
#include <math.h>
#include <stdint.h>

/* error codes: keep in sync with gwaskit/io/bgen.py */
#define OK 0
#define E_TRUNCATED 1     /* block extends past the end of the file / buffer */
#define E_N_MISMATCH 2    /* sample count in the probability block differs from the header */
#define E_NOT_BIALLELIC 3 /* K != 2 in the probability block */
#define E_BITS 4          /* bits per probability outside 1..32 */
#define E_PLOIDY 5        /* ploidy byte outside [pmin, pmax] or > 63 */
#define E_PHASED_FLAG 6   /* phased flag not 0/1 */
#define E_SHORT_BLOCK 7   /* decompressed block shorter than the probabilities it announces */
#define E_BAD_LENGTH 8    /* a length field that cannot be right */

static inline int64_t u16(const uint8_t *buf, int64_t o) {
    return (int64_t)buf[o] | ((int64_t)buf[o + 1] << 8);
}

static inline int64_t u32(const uint8_t *buf, int64_t o) {
    return (int64_t)buf[o] | ((int64_t)buf[o + 1] << 8) | ((int64_t)buf[o + 2] << 16)
           | ((int64_t)buf[o + 3] << 24);
}

/* walk_variants: walk the variant blocks of a layout-2 file from byte `start`.

   fields: (m_max, 12) C-ordered int64, block: (m_max, 3) C-ordered int64, both zeroed by the
   caller (the numba kernel returns np.zeros arrays: rows it does not reach stay 0).
   res[0] = n variants read, res[1] = error code (for variant n), res[2] = next offset. */
void gk_bgen_walk(const uint8_t *buf, int64_t size, int64_t start, int64_t m_max,
                  int64_t compressed, int64_t *fields, int64_t *block, int64_t *res) {
    int64_t o = start;
    int64_t n = 0;
    int64_t err = OK;
    while (n < m_max) {
        int64_t *f = fields + 12 * n;
        int64_t *b = block + 3 * n;
        if (o >= size) { err = E_TRUNCATED; goto done; }
        for (int slot = 0; slot < 6; slot += 2) { /* variant id, rsid, chromosome */
            if (o + 2 > size) { err = E_TRUNCATED; goto done; }
            int64_t len = u16(buf, o);
            f[slot] = o + 2;
            f[slot + 1] = len;
            o += 2 + len;
        }
        if (o + 6 > size) { err = E_TRUNCATED; goto done; }
        f[6] = u32(buf, o);
        o += 4;
        int64_t k = u16(buf, o);
        f[7] = k;
        o += 2;
        for (int64_t a = 0; a < k; a++) {
            if (o + 4 > size) { err = E_TRUNCATED; goto done; }
            int64_t la = u32(buf, o);
            if (a < 2) {
                f[8 + 2 * a] = o + 4;
                f[9 + 2 * a] = la;
            }
            o += 4 + la;
        }
        if (o + 4 > size) { err = E_TRUNCATED; goto done; }
        int64_t c = u32(buf, o);
        o += 4;
        if (compressed) {
            if (c < 4) { err = E_BAD_LENGTH; goto done; }
            if (o + 4 > size) { err = E_TRUNCATED; goto done; }
            b[2] = u32(buf, o);
            b[0] = o + 4;
            b[1] = c - 4;
        } else {
            b[0] = o;
            b[1] = c;
            b[2] = -1;
        }
        o += c;
        if (o > size) { err = E_TRUNCATED; goto done; }
        n += 1;
    }
done:
    res[0] = n;
    res[1] = err;
    res[2] = o;
}

static inline int64_t getbits(const uint8_t *blk, int64_t data, int64_t bitpos, int64_t bits,
                              int64_t mask) {
    int64_t byte = data + (bitpos >> 3);
    int64_t shift = bitpos & 7;
    int64_t nbytes = (shift + bits + 7) >> 3;
    int64_t v = 0;
    for (int64_t t = 0; t < nbytes; t++) v |= (int64_t)blk[byte + t] << (8 * t);
    return (v >> shift) & mask;
}

/* Store a double into the float32 or float64 output; the rounding to float32 happens here, as
   in numba's store into a float32 array. `is_f32` is a compile-time constant in each caller. */
#define STORE(idx, x)                                         \
    do {                                                      \
        if (is_f32) ((float *)out)[idx] = (float)(x);         \
        else ((double *)out)[idx] = (double)(x);              \
    } while (0)

/* decode_variant (see the numba kernel for the dosage convention). starts: scratch of at least
   n_expected + 1 int64 (only used for blocks with varying ploidy). */
static inline __attribute__((always_inline)) int64_t
decode_impl(const uint8_t *blk, int64_t size, int64_t n_expected, const int64_t *sample_idx,
            int64_t n_idx, int64_t all_samples, void *out, int64_t base, int64_t *starts,
            const int is_f32) {
    if (size < 10) return E_SHORT_BLOCK;
    int64_t n = u32(blk, 0);
    if (n != n_expected) return E_N_MISMATCH;
    int64_t k = u16(blk, 4);
    if (k != 2) return E_NOT_BIALLELIC;
    int64_t pmin = (int64_t)blk[6];
    int64_t pmax = (int64_t)blk[7];
    if (pmax > 63 || pmin > pmax) return E_PLOIDY;
    if (size < 10 + n) return E_SHORT_BLOCK;
    const int64_t ploid = 8;
    int64_t phased = (int64_t)blk[8 + n];
    if (phased > 1) return E_PHASED_FLAG;
    int64_t bits = (int64_t)blk[9 + n];
    if (bits < 1 || bits > 32) return E_BITS;
    int64_t data = 10 + n;
    /* 2**bits - 1 is exact in double for bits <= 32, as is numba's 2.0 ** bits */
    double scale = 1.0 / ((double)((int64_t)1 << bits) - 1.0);
    const double nan = NAN;
    int64_t n_out = all_samples ? n : n_idx;

    if (pmin == 2 && pmax == 2) {
        /* Fast path: every sample diploid -> 2 stored values per sample. */
        if (size < data + (2 * n * bits + 7) / 8) return E_SHORT_BLOCK;
        double w0 = phased == 1 ? 1.0 : 2.0;
        if (bits == 8) {
            int32_t iw = phased == 1 ? 1 : 2;
            if (all_samples) {
                for (int64_t i = 0; i < n; i++) {
                    int32_t v = iw * (int32_t)blk[data + 2 * i] + (int32_t)blk[data + 2 * i + 1];
                    STORE(base + i, (double)v * scale);
                }
                for (int64_t i = 0; i < n; i++)
                    if (blk[ploid + i] & 0x80) STORE(base + i, nan);
            } else {
                for (int64_t r = 0; r < n_out; r++) {
                    int64_t i = sample_idx[r];
                    int32_t v = iw * (int32_t)blk[data + 2 * i] + (int32_t)blk[data + 2 * i + 1];
                    STORE(base + r, (blk[ploid + i] & 0x80) ? nan : (double)v * scale);
                }
            }
            return OK;
        }
        if (bits == 16) {
            for (int64_t r = 0; r < n_out; r++) {
                int64_t i = all_samples ? r : sample_idx[r];
                int64_t o = data + 4 * i;
                int64_t a = (int64_t)blk[o] | ((int64_t)blk[o + 1] << 8);
                int64_t b = (int64_t)blk[o + 2] | ((int64_t)blk[o + 3] << 8);
                double x = (w0 * (double)a + (double)b) * scale;
                STORE(base + r, (blk[ploid + i] & 0x80) ? nan : x);
            }
            return OK;
        }
        if (bits == 32) {
            for (int64_t r = 0; r < n_out; r++) {
                int64_t i = all_samples ? r : sample_idx[r];
                int64_t o = data + 8 * i;
                int64_t a = u32(blk, o);
                int64_t b = u32(blk, o + 4);
                double x = (w0 * (double)a + (double)b) * scale;
                STORE(base + r, (blk[ploid + i] & 0x80) ? nan : x);
            }
            return OK;
        }
        int64_t mask = ((int64_t)1 << bits) - 1;
        for (int64_t r = 0; r < n_out; r++) {
            int64_t i = all_samples ? r : sample_idx[r];
            if (blk[ploid + i] & 0x80) {
                STORE(base + r, nan);
                continue;
            }
            int64_t bp = 2 * i * bits;
            int64_t a = getbits(blk, data, bp, bits, mask);
            int64_t b = getbits(blk, data, bp + bits, bits, mask);
            STORE(base + r, (w0 * (double)a + (double)b) * scale);
        }
        return OK;
    }

    /* General path: per-sample ploidy. Values per sample: P (unphased, K=2) or P (phased, one
       value per haplotype). Build the start (in values) of every sample first. */
    int64_t acc = 0;
    for (int64_t i = 0; i < n; i++) {
        int64_t p = (int64_t)(blk[ploid + i] & 0x3F);
        if (p < pmin || p > pmax) return E_PLOIDY;
        starts[i] = acc;
        acc += p;
    }
    starts[n] = acc;
    if (size < data + (acc * bits + 7) / 8) return E_SHORT_BLOCK;
    int64_t mask = ((int64_t)1 << bits) - 1;
    for (int64_t r = 0; r < n_out; r++) {
        int64_t i = all_samples ? r : sample_idx[r];
        if (blk[ploid + i] & 0x80) {
            STORE(base + r, nan);
            continue;
        }
        int64_t p = (int64_t)(blk[ploid + i] & 0x3F);
        double s = 0.0;
        for (int64_t t = 0; t < p; t++) {
            int64_t v = getbits(blk, data, (starts[i] + t) * bits, bits, mask);
            if (phased == 1) s += (double)v;
            else s += (double)((p - t) * v);
        }
        STORE(base + r, s * scale);
    }
    return OK;
}

/* One uncompressed probability block `blk` of `size` bytes -> dosages in out[base ...]
   (float32 output). Returns an error code (0 = fine). */
int64_t gk_bgen_decode_f32(const uint8_t *blk, int64_t size, int64_t n_expected,
                           const int64_t *sample_idx, int64_t n_idx, int64_t all_samples,
                           float *out, int64_t base, int64_t *starts) {
    return decode_impl(blk, size, n_expected, sample_idx, n_idx, all_samples, out, base, starts,
                       1);
}

/* As gk_bgen_decode_f32, float64 output. */
int64_t gk_bgen_decode_f64(const uint8_t *blk, int64_t size, int64_t n_expected,
                           const int64_t *sample_idx, int64_t n_idx, int64_t all_samples,
                           double *out, int64_t base, int64_t *starts) {
    return decode_impl(blk, size, n_expected, sample_idx, n_idx, all_samples, out, base, starts,
                       0);
}

/* --- batch path: inflate (libdeflate) + decode a range of variants in one call --------------
   Why: per-variant Python glue (slicing, the inflater call, the decoder call) holds the GIL for
   several microseconds per variant, so reader threads serialise on it. Here the whole loop
   runs in C, with libdeflate reached through function pointers that Python resolves in a
   library that exports them (the `deflate` package's extension module, or the system
   libdeflate). Any failure returns the index of the variant: the caller then redoes the range
   on the per-variant path, which produces the precise error message. */
#include <stddef.h>

typedef void *(*alloc_fn)(void);
typedef void (*free_fn)(void *);
typedef int (*zlib_fn)(void *, const void *, size_t, void *, size_t, size_t *);

/* blocks: (k, 3) int64 [data_off, data_len, uncompressed_len] of the variants, in output
   order; scratch: at least max_ulen bytes. Column q of the output starts at out[base0 +
   q * nrow]. Returns -1 when every variant decoded, else the index q of the first failure
   (nothing after it is written). stats: NULL, or (k, 4) doubles receiving each column's
   [n observed, sum, mean, sum of squared deviations] (gwaskit/io/_column_stats.h, prepended
   by the loader). */
#define READ_RANGE(NAME, T, ISF32)                                                                 \
    int64_t NAME(const uint8_t *buf, const int64_t *blocks, int64_t k, int64_t compressed,          \
                 void *alloc, void *release, void *zlib_decompress, uint8_t *scratch,              \
                 int64_t max_ulen, int64_t n_expected, const int64_t *sample_idx, int64_t n_idx,   \
                 int64_t all_samples, T *out, int64_t base0, int64_t nrow, int64_t *starts,        \
                 double *stats) {                                                                  \
        void *d = NULL;                                                                            \
        if (compressed) {                                                                          \
            d = ((alloc_fn)alloc)();                                                               \
            if (d == NULL) return 0;                                                               \
        }                                                                                          \
        int64_t failed = -1;                                                                       \
        for (int64_t q = 0; q < k; q++) {                                                          \
            const uint8_t *blk = buf + blocks[3 * q];                                              \
            int64_t size = blocks[3 * q + 1];                                                      \
            if (compressed) {                                                                      \
                int64_t ulen = blocks[3 * q + 2];                                                  \
                size_t got = 0;                                                                    \
                if (ulen < 0 || ulen > max_ulen ||                                                 \
                    ((zlib_fn)zlib_decompress)(d, blk, (size_t)size, scratch, (size_t)ulen,        \
                                               &got) != 0 ||                                       \
                    (int64_t)got != ulen) {                                                        \
                    failed = q;                                                                    \
                    break;                                                                         \
                }                                                                                  \
                blk = scratch;                                                                     \
                size = ulen;                                                                       \
            }                                                                                      \
            if (decode_impl(blk, size, n_expected, sample_idx, n_idx, all_samples, out,            \
                            base0 + q * nrow, starts, ISF32) != OK) {                              \
                failed = q;                                                                        \
                break;                                                                             \
            }                                                                                      \
            if (stats != NULL) /* the column is still in cache */                                  \
                column_stats_one_##T(out + base0 + q * nrow, nrow, stats + 4 * q);                 \
        }                                                                                          \
        if (d != NULL) ((free_fn)release)(d);                                                      \
        return failed;                                                                             \
    }

READ_RANGE(gk_bgen_read_range_f32, f32, 1)
READ_RANGE(gk_bgen_read_range_f64, f64, 0)

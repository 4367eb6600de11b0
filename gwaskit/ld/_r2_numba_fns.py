"""numba kernels for two-locus r².

Haplotype r² (PLINK 1.9 ``--clump`` / ``--r2``): the 3 × 3 table of pairwise-complete hard-call
genotype counts is reduced to known haplotype counts plus double heterozygotes; the
double-heterozygote split is the maximum-likelihood real root of a cubic (root selection as in
PLINK 1.9's ``em_phase_hethet``, including its comparison of every root against the *first*
root's likelihood). Genotype categories follow PLINK's .bed codes: 0 = homozygous for allele 1
(the .bim column-5 allele), 1 = heterozygous, 2 = homozygous for allele 2, -1 = missing.

Pearson r²: squared correlation of dosages over pairwise-complete samples.

All arithmetic is IEEE double without fast-math, with operations in the same order as the
reference formulas, so results match PLINK to the last bit in practice.
"""
from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

EPSILON = 0.000000000931322574615478515625  # 2^-30
SMALLISH_EPSILON = 0.00000000002910383045673370361328125  # 2^-35
SMALL_EPSILON = 0.00000000000005684341886080801486968994140625  # 2^-44
PI = 3.1415926535897932


@njit(cache=True, nogil=True)
def cubic_real_roots(coef_a, coef_b, coef_c, sol):
    """Real roots of x³ + a x² + b x + c, ascending, near-duplicates merged; returns count."""
    a2 = coef_a * coef_a
    qq = (a2 - 3 * coef_b) * (1.0 / 9.0)
    rr = (2 * a2 * coef_a - 9 * coef_a * coef_b + 27 * coef_c) * (1.0 / 54.0)
    r2 = rr * rr
    q3 = qq * qq * qq
    adiv3 = coef_a * (1.0 / 3.0)
    if r2 < q3:
        sq = math.sqrt(qq)
        dxx = math.acos(rr / (qq * sq)) * (1.0 / 3.0)
        sq *= -2
        s0 = sq * math.cos(dxx) - adiv3
        s1 = sq * math.cos(dxx + (2.0 * PI / 3.0)) - adiv3
        s2 = sq * math.cos(dxx - (2.0 * PI / 3.0)) - adiv3
        # ascending order
        if s0 > s1:
            s0, s1 = s1, s0
        if s1 > s2:
            s1, s2 = s2, s1
            if s0 > s1:
                s0, s1 = s1, s0
        sol[0] = s0
        sol[1] = s1
        sol[2] = s2
        if sol[1] - sol[0] < EPSILON:
            sol[1] = sol[2]
            return 1 if (sol[1] - sol[0] < EPSILON) else 2
        return 2 if (sol[2] - sol[1] < EPSILON) else 3
    dxx = -math.pow(abs(rr) + math.sqrt(r2 - q3), 1.0 / 3.0)
    if dxx == 0.0:
        sol[0] = -adiv3
        return 1
    if rr < 0.0:
        dxx = -dxx
    sq = qq / dxx
    sol[0] = dxx + sq - adiv3
    if abs(dxx - sq) >= (EPSILON * 8):
        return 1
    if dxx >= 0.0:
        sol[1] = sol[0]
        sol[0] = -dxx - adiv3
    else:
        sol[1] = -dxx - adiv3
    return 2


@njit(cache=True, nogil=True)
def _lnlike(k11, k12, k21, k22, center, f11, f12, f21, f22, half_hh, incr):
    f11 += incr
    f22 += incr
    f12 += half_hh - incr
    f21 += half_hh - incr
    ll = center * math.log(f11 * f22 + f12 * f21)
    if k11 != 0.0:
        ll += k11 * math.log(f11)
    if k12 != 0.0:
        ll += k12 * math.log(f12)
    if k21 != 0.0:
        ll += k21 * math.log(f21)
    if k22 != 0.0:
        ll += k22 * math.log(f22)
    return ll


@njit(cache=True, nogil=True)
def hap_r2_from_counts(c, sol):
    """Signed haplotype r² from a 3 × 3 count table ``c`` (length-9, row = locus A category,
    column = locus B category). NaN when either locus is monomorphic over the complete pairs."""
    k11 = float(2 * c[0] + c[1] + c[3])
    k12 = float(2 * c[2] + c[1] + c[5])
    k21 = float(2 * c[6] + c[3] + c[7])
    k22 = float(2 * c[8] + c[5] + c[7])
    center_ct = c[4]
    center = float(center_ct)
    twice_tot = k11 + k12 + k21 + k22 + 2 * center
    if twice_tot == 0.0:
        return np.nan
    recip = 1.0 / twice_tot
    f11 = k11 * recip
    f12 = k12 * recip
    f21 = k21 * recip
    f22 = k22 * recip
    p1122 = f11 * f22
    p1221 = f12 * f21
    half_hh = center * recip
    f1x = f11 + f12 + half_hh
    f2x = 1.0 - f1x
    fx1 = f11 + f21 + half_hh
    fx2 = 1.0 - fx1
    start = 0
    end = 1
    if center_ct:
        if p1122 != 0.0 or p1221 != 0.0:
            end = cubic_real_roots(
                0.5 * (f11 + f22 - f12 - f21 - 3 * half_hh),
                0.5 * (p1122 + p1221 + half_hh * (f12 + f21 - f11 - f22 + half_hh)),
                -0.5 * half_hh * p1122,
                sol,
            )
            while end and (sol[end - 1] > half_hh + SMALLISH_EPSILON):
                end -= 1
            while (start < end) and (sol[start] < -SMALLISH_EPSILON):
                start += 1
            if start == end:
                start = 0
                end = 2
                sol[0] = 0.0
                sol[1] = half_hh
            else:
                if sol[start] < 0:
                    sol[start] = 0.0
                if sol[end - 1] > half_hh:
                    sol[end - 1] = half_hh
        else:
            sol[0] = 0.0
            nz_xx = f11 + f22
            nz_xy = f12 + f21
            if (nz_xx + SMALLISH_EPSILON < half_hh + nz_xy) and (nz_xy + SMALLISH_EPSILON < half_hh + nz_xx):
                end = 3
                sol[1] = (half_hh + nz_xy - nz_xx) * 0.5
                sol[2] = half_hh
            else:
                end = 2
                sol[1] = half_hh
        best = sol[start]
        if end > start + 1:
            # PLINK quirk: each root is compared with the FIRST root's likelihood; the running
            # best likelihood is never updated, so the last root beating the first one wins.
            best_ll = _lnlike(k11, k12, k21, k22, center, f11, f12, f21, f22, half_hh, best)
            j = start + 1
            while j < end:
                incr = sol[j]
                cur = _lnlike(k11, k12, k21, k22, center, f11, f12, f21, f22, half_hh, incr)
                if cur > best_ll:
                    best = incr
                j += 1
        f11 += best
    elif p1122 == 0.0 and p1221 == 0.0:
        return np.nan
    expected = fx1 * f1x
    d = f11 - expected
    r2 = abs(d)
    if r2 >= SMALL_EPSILON:
        r2 = r2 * d / (expected * f2x * fx2)
    else:
        r2 = 0.0
    return r2


@njit(cache=True, nogil=True)
def pearson_r2_index_vs_block(d0, D, out):
    """Squared Pearson correlation of dosages ``d0`` (n,) with each column of ``D`` (n × k),
    over pairwise-complete samples (NaN = missing); NaN where either is constant."""
    n = d0.shape[0]
    k = D.shape[1]
    for j in range(k):
        cnt = 0
        sx = 0.0
        sy = 0.0
        sxx = 0.0
        syy = 0.0
        sxy = 0.0
        for i in range(n):
            x = d0[i]
            y = D[i, j]
            if x == x and y == y:
                cnt += 1
                sx += x
                sy += y
                sxx += x * x
                syy += y * y
                sxy += x * y
        if cnt < 2:
            out[j] = np.nan
            continue
        vx = sxx - sx * sx / cnt
        vy = syy - sy * sy / cnt
        cxy = sxy - sx * sy / cnt
        if vx <= 0.0 or vy <= 0.0:
            out[j] = np.nan
        else:
            r = cxy / math.sqrt(vx * vy)
            out[j] = r * abs(r)  # signed r²


@njit(cache=True, nogil=True)
def hard_calls(D, threshold, out):
    """PLINK-style hard calls from dosages counting allele 1: category = 2 − round(d) (0 = hom
    allele 1), -1 when missing or when |d − round(d)| > threshold."""
    n, k = D.shape
    for j in range(k):
        for i in range(n):
            x = D[i, j]
            if x != x:
                out[i, j] = -1
                continue
            r = math.floor(x + 0.5)
            if abs(x - r) > threshold or r < 0 or r > 2:
                out[i, j] = -1
            else:
                out[i, j] = 2 - int(r)


@njit(cache=True, nogil=True)
def standardize_chunk(D, maf, out_keep, out_mean, out_sd, Z):
    """plink2 --pca scaling of a dosage chunk: z = (d − 2p)/sqrt(2p(1−p)), missing -> 0.

    Columns with minor-allele frequency below ``maf`` (or monomorphic) get keep = False."""
    n, k = D.shape
    for j in range(k):
        s = 0.0
        c = 0
        for i in range(n):
            x = D[i, j]
            if x == x:
                s += x
                c += 1
        p = s / (2.0 * c) if c > 0 else 0.0
        mf = p if p < 0.5 else 1.0 - p
        sd = math.sqrt(2.0 * p * (1.0 - p))
        ok = c > 0 and mf >= maf and sd > 0.0
        out_keep[j] = ok
        out_mean[j] = 2.0 * p
        out_sd[j] = sd
        for i in range(n):
            x = D[i, j]
            Z[i, j] = (x - 2.0 * p) / sd if (ok and x == x) else 0.0


@njit(cache=True, nogil=True)
def greedy_prune(Z, cand, chrom_code, buf, buf_chrom, state, r2_thresh, out_keep):
    """Greedy LD pruning in file order: a candidate column is kept unless its squared
    correlation (standardised, missing = mean) with one of the last W kept variants on the same
    chromosome exceeds ``r2_thresh``. ``buf`` (n × W) is a ring buffer carried across chunks;
    ``state`` = [next slot, filled]."""
    n, k = Z.shape
    W = buf.shape[1]
    for j in range(k):
        out_keep[j] = False
        if not cand[j]:
            continue
        ok = True
        filled = state[1]
        for t in range(filled):
            if buf_chrom[t] != chrom_code[j]:
                continue
            dot = 0.0
            na = 0.0
            nb = 0.0
            for i in range(n):
                a = Z[i, j]
                b = buf[i, t]
                dot += a * b
                na += a * a
                nb += b * b
            if na > 0 and nb > 0 and dot * dot / (na * nb) > r2_thresh:
                ok = False
                break
        if ok:
            out_keep[j] = True
            slot = state[0]
            for i in range(n):
                buf[i, slot] = Z[i, j]
            buf_chrom[slot] = chrom_code[j]
            state[0] = (slot + 1) % W
            if state[1] < W:
                state[1] += 1


# ---- 2-bit genotype codes, PLINK .bed layout, read 32 samples (one uint64 word) at a time ------
# Codes: 00 hom allele 1 (category 0), 10 het (1), 11 hom allele 2 (2), 01 missing. A variant's
# row is its .bed bytes (all samples: the memory-mapped file itself) or the kept samples
# re-packed in that layout; category planes are derived on the fly with bit operations (one bit
# per sample at the even positions), so a .bed row needs no decoding and no copy.

_M5 = np.uint64(0x5555555555555555)


@intrinsic
def _ctpop64(typingctx, x):
    """LLVM's ``llvm.ctpop.i64``: one ``popcnt`` instruction on CPUs that have it."""
    if not isinstance(x, types.Integer):
        return None
    sig = types.uint64(types.uint64)

    def codegen(context, builder, signature, args):
        fnty = ir.FunctionType(ir.IntType(64), [ir.IntType(64)])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.ctpop.i64")
        return builder.call(fn, [args[0]])

    return sig, codegen


@njit(cache=True, nogil=True, inline="always")
def _popcount64(x):
    return np.int64(_ctpop64(np.uint64(x)))


@njit(cache=True, nogil=True, inline="always")
def _planes(x):
    """Category 0, 1 and 2 planes of a word of 2-bit codes (bits at even positions)."""
    lo = x & _M5
    hi = (x >> np.uint64(1)) & _M5
    return ~(lo | hi) & _M5, hi & ~lo, lo & hi


@njit(cache=True, nogil=True, inline="always")
def _last_word_mask(n, W):
    """Plane mask of the samples present in the last word (padding codes are 00)."""
    tail = n - (W - 1) * 32
    if tail >= 32:
        return _M5
    return ((np.uint64(1) << np.uint64(2 * tail)) - np.uint64(1)) & _M5


@intrinsic
def _load_u64(typingctx, rows, r, o):
    """The 8 bytes ``rows[r, o : o + 8]`` as one little-endian uint64: a single unaligned load
    (a .bed row starts at any byte), which also lets LLVM vectorise the loops over words.
    ``rows`` must be a C-contiguous 2-D uint8 array and ``o + 8 <= rows.shape[1]``."""
    if not (isinstance(rows, types.Array) and rows.ndim == 2 and rows.dtype == types.uint8
            and rows.layout == "C"):
        return None
    sig = types.uint64(rows, r, o)

    def codegen(context, builder, signature, args):
        aryty, rty, oty = signature.args
        ary = context.make_array(aryty)(context, builder, args[0])
        row_stride = cgutils.unpack_tuple(builder, ary.strides, 2)[0]
        ri = context.cast(builder, args[1], rty, types.intp)
        oi = context.cast(builder, args[2], oty, types.intp)
        byte = builder.gep(ary.data, [builder.add(builder.mul(ri, row_stride), oi)])
        return builder.load(builder.bitcast(byte, ir.IntType(64).as_pointer()), align=1)

    return sig, codegen


@njit(cache=True, nogil=True, inline="always")
def _word(rows, r, w):
    """Word ``w`` (32 samples) of byte row ``r``: 8 little-endian bytes, zero past the row."""
    B = rows.shape[1]
    o = 8 * w
    if o + 8 <= B:
        return _load_u64(rows, r, o)
    v = np.uint64(0)
    for b in range(B - o):
        v |= np.uint64(rows[r, o + b]) << np.uint64(8 * b)
    return v


@njit(cache=True, nogil=True)
def _row_counts(rows, r, n, counts):
    """Category counts of byte row ``r`` of ``n`` samples into ``counts[r]``."""
    W = (n + 31) // 32
    last = _last_word_mask(n, W)
    n0 = 0
    n1 = 0
    n2 = 0
    for w in range(W):
        p0, p1, p2 = _planes(_word(rows, r, w))
        if w == W - 1:
            p0 &= last
        n0 += _popcount64(p0)
        n1 += _popcount64(p1)
        n2 += _popcount64(p2)
    counts[r, 0] = n0
    counts[r, 1] = n1
    counts[r, 2] = n2


@njit(cache=True, nogil=True)
def load_bed_rows(bed, bytes_per_variant, variants, samples, rows, counts):
    """The codes of ``samples`` (positions in the file, in output order) of .bed rows
    ``variants`` (SNP-major bytes ``bed``) re-packed as byte rows ``rows`` (k, ceil(n/4)) in the
    .bed layout, and their category counts ``counts`` (k, 3)."""
    n = samples.shape[0]
    for j in range(variants.shape[0]):
        base = variants[j] * bytes_per_variant
        rows[j, :] = 0
        for t in range(n):
            s = samples[t]
            code = (bed[base + (s >> 2)] >> ((s & 3) * 2)) & 3
            rows[j, t >> 2] |= np.uint8(code << ((t & 3) * 2))
        _row_counts(rows, j, n, counts)


@njit(cache=True, nogil=True)
def pack_hard_calls(H, rows, counts):
    """int8 hard-call categories (n × k; -1 missing) as byte rows ``rows`` (k, ceil(n/4)) in the
    .bed layout, and their category counts ``counts`` (k, 3)."""
    n, k = H.shape
    for j in range(k):
        rows[j, :] = 0
        for i in range(n):
            c = H[i, j]
            code = 1 if c < 0 else (0 if c == 0 else c + 1)
            rows[j, i >> 2] |= np.uint8(code << ((i & 3) * 2))
        _row_counts(rows, j, n, counts)


@njit(cache=True, nogil=True)
def hap_r2_bound_from_counts(c):
    """Upper bound on ``|hap_r2_from_counts(c)|`` without solving the cubic: the ML double-
    heterozygote share lies in [0, half_hh], so ``|D|`` is at most its value at an end of that
    interval (same floating-point steps as :func:`hap_r2_from_counts`). Inf when undefined."""
    k11 = float(2 * c[0] + c[1] + c[3])
    k12 = float(2 * c[2] + c[1] + c[5])
    k21 = float(2 * c[6] + c[3] + c[7])
    k22 = float(2 * c[8] + c[5] + c[7])
    center = float(c[4])
    twice_tot = k11 + k12 + k21 + k22 + 2 * center
    if twice_tot == 0.0:
        return np.inf
    recip = 1.0 / twice_tot
    f11 = k11 * recip
    f12 = k12 * recip
    f21 = k21 * recip
    half_hh = center * recip
    f1x = f11 + f12 + half_hh
    f2x = 1.0 - f1x
    fx1 = f11 + f21 + half_hh
    fx2 = 1.0 - fx1
    expected = fx1 * f1x
    den = expected * f2x * fx2
    if not den > 0.0:
        return np.inf
    d0 = abs(f11 - expected)
    d1 = abs((f11 + half_hh) - expected)
    d = d0 if d0 > d1 else d1
    return d * d / den


@njit(cache=True, nogil=True, inline="always")
def _add4(acc, x0, x1, y):
    """``acc`` plus the category-0/1 cross counts of index planes ``x0, x1`` and codes ``y``."""
    y0, y1, _ = _planes(y)
    return (acc[0] + _popcount64(x0 & y0), acc[1] + _popcount64(x0 & y1),
            acc[2] + _popcount64(x1 & y0), acc[3] + _popcount64(x1 & y1))


@njit(cache=True, nogil=True, inline="always")
def _add9(acc, x0, x1, x2, y):
    """``acc`` plus the full 3 × 3 cross counts of index planes ``x0, x1, x2`` and codes ``y``."""
    y0, y1, y2 = _planes(y)
    return (acc[0] + _popcount64(x0 & y0), acc[1] + _popcount64(x0 & y1), acc[2] + _popcount64(x0 & y2),
            acc[3] + _popcount64(x1 & y0), acc[4] + _popcount64(x1 & y1), acc[5] + _popcount64(x1 & y2),
            acc[6] + _popcount64(x2 & y0), acc[7] + _popcount64(x2 & y1), acc[8] + _popcount64(x2 & y2))


@njit(cache=True, nogil=True)
def hap_r2_rows(rows, counts, n, islot, slots, out, skip_below=-1.0):
    """Signed haplotype r² of the variant in byte row ``rows[islot]`` against each
    ``rows[slots[j]]``: the one builder of the 3 × 3 table of pairwise-complete hard calls.

    ``rows`` (·, B) uint8 holds 2-bit codes in the PLINK .bed layout (a memory-mapped .bed
    seen as rows, or rows packed by :func:`load_bed_rows` / :func:`pack_hard_calls`) of ``n``
    samples; ``counts`` (·, 3) their category counts, computed here where ``counts[r, 0] < 0``.
    When neither variant has a missing call only the four category-0/1 cells are counted and
    the rest follow from the margins.

    With ``skip_below > 0``, pairs whose r² bound (:func:`hap_r2_bound_from_counts`) is below
    ``skip_below · (1 − 1e-9)`` get 0.0 instead of their r² (they cannot pass ``|r²| >
    skip_below``); every other value is exact."""
    W = (n + 31) // 32
    last = _last_word_mask(n, W)
    cut = skip_below * (1.0 - 1e-9)
    c = np.zeros(9, dtype=np.int64)
    sol = np.zeros(3, dtype=np.float64)
    if counts[islot, 0] < 0:
        _row_counts(rows, islot, n, counts)
    # the index variant's planes, derived once; the last word masked to the samples present
    x0 = np.empty(W, dtype=np.uint64)
    x1 = np.empty(W, dtype=np.uint64)
    x2 = np.empty(W, dtype=np.uint64)
    for w in range(W):
        p0, p1, p2 = _planes(_word(rows, islot, w))
        x0[w] = p0 & last if w == W - 1 else p0
        x1[w] = p1
        x2[w] = p2
    n_whole = min(W, rows.shape[1] // 8)  # words loaded in one piece: the vectorised loops
    na0 = counts[islot, 0]
    na1 = counts[islot, 1]
    na2 = counts[islot, 2]
    a_full = na0 + na1 + na2 == n
    for j in range(slots.shape[0]):
        s = slots[j]
        if counts[s, 0] < 0:
            _row_counts(rows, s, n, counts)
        nb0 = counts[s, 0]
        nb1 = counts[s, 1]
        nb2 = counts[s, 2]
        if a_full and nb0 + nb1 + nb2 == n:
            acc4 = (0, 0, 0, 0)
            for w in range(n_whole):
                acc4 = _add4(acc4, x0[w], x1[w], _load_u64(rows, s, 8 * w))
            for w in range(n_whole, W):
                acc4 = _add4(acc4, x0[w], x1[w], _word(rows, s, w))
            c00, c01, c10, c11 = acc4
            c[0] = c00
            c[1] = c01
            c[2] = na0 - c00 - c01
            c[3] = c10
            c[4] = c11
            c[5] = na1 - c10 - c11
            c[6] = nb0 - c00 - c10
            c[7] = nb1 - c01 - c11
            c[8] = na2 - c[6] - c[7]
        else:
            acc9 = (0, 0, 0, 0, 0, 0, 0, 0, 0)
            for w in range(n_whole):
                acc9 = _add9(acc9, x0[w], x1[w], x2[w], _load_u64(rows, s, 8 * w))
            for w in range(n_whole, W):
                acc9 = _add9(acc9, x0[w], x1[w], x2[w], _word(rows, s, w))
            for t in range(9):
                c[t] = acc9[t]
        if skip_below > 0.0 and hap_r2_bound_from_counts(c) < cut:
            out[j] = 0.0
        else:
            out[j] = hap_r2_from_counts(c, sol)

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
from numba import njit

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
def hap_r2_index_vs_block(g0, G, out):
    """Signed haplotype r² of hard calls ``g0`` (n,) against each column of ``G`` (n × k)."""
    n = g0.shape[0]
    k = G.shape[1]
    c = np.zeros(9, dtype=np.int64)
    sol = np.zeros(3, dtype=np.float64)
    for j in range(k):
        for t in range(9):
            c[t] = 0
        for i in range(n):
            a = g0[i]
            b = G[i, j]
            if a >= 0 and b >= 0:
                c[a * 3 + b] += 1
        out[j] = hap_r2_from_counts(c, sol)


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


# ---- bit-packed genotype masks: 3 planes (category 0, 1, 2) of uint64 words per variant ------


@njit(cache=True, nogil=True, inline="always")
def _popcount64(x):
    x = x - ((x >> np.uint64(1)) & np.uint64(0x5555555555555555))
    x = (x & np.uint64(0x3333333333333333)) + ((x >> np.uint64(2)) & np.uint64(0x3333333333333333))
    x = (x + (x >> np.uint64(4))) & np.uint64(0x0F0F0F0F0F0F0F0F)
    return (x * np.uint64(0x0101010101010101)) >> np.uint64(56)


@njit(cache=True, nogil=True)
def pack_hard_calls(H, out):
    """int8 hard-call categories (n × k; -1 missing) -> masks ``out`` (k, 3, W) uint64."""
    n, k = H.shape
    out[:] = 0
    for j in range(k):
        for i in range(n):
            c = H[i, j]
            if c >= 0:
                out[j, c, i >> 6] |= np.uint64(1) << np.uint64(i & 63)


@njit(cache=True, nogil=True)
def bed_to_masks(bed, offset, bytes_per_variant, variants, samples, out):
    """Decode PLINK .bed rows (SNP-major) straight into category masks.

    ``bed`` is the memory-mapped file (uint8), ``variants`` the row indices, ``samples`` the
    sample positions to keep (in output order). Codes: 00 hom allele 1 -> 0, 10 het -> 1,
    11 hom allele 2 -> 2, 01 missing."""
    k = variants.shape[0]
    ns = samples.shape[0]
    out[:] = 0
    for j in range(k):
        base = offset + variants[j] * bytes_per_variant
        for t in range(ns):
            s = samples[t]
            code = (bed[base + (s >> 2)] >> ((s & 3) * 2)) & 3
            if code == 1:
                continue
            cat = 0 if code == 0 else (1 if code == 2 else 2)
            out[j, cat, t >> 6] |= np.uint64(1) << np.uint64(t & 63)


@njit(cache=True, nogil=True)
def hap_r2_packed(idx_masks, block, out):
    """Signed haplotype r² of one variant (masks (3, W)) against each of ``block`` (k, 3, W)."""
    k = block.shape[0]
    W = block.shape[2]
    c = np.zeros(9, dtype=np.int64)
    sol = np.zeros(3, dtype=np.float64)
    for j in range(k):
        for a in range(3):
            for b in range(3):
                s = 0
                for w in range(W):
                    s += _popcount64(idx_masks[a, w] & block[j, b, w])
                c[a * 3 + b] = s
        out[j] = hap_r2_from_counts(c, sol)


def _bed_luts():
    lut = np.zeros((3, 256), dtype=np.uint64)
    for b in range(256):
        for q in range(4):
            code = (b >> (2 * q)) & 3
            if code == 0:
                lut[0, b] |= 1 << q
            elif code == 2:
                lut[1, b] |= 1 << q
            elif code == 3:
                lut[2, b] |= 1 << q
    return lut


BED_LUT = _bed_luts()


@njit(cache=True, nogil=True)
def bed_to_masks_all(bed, offset, bytes_per_variant, n, variants, lut, out):
    """As :func:`bed_to_masks` for all samples in file order, a byte (4 samples) at a time."""
    k = variants.shape[0]
    W = out.shape[2]
    tail = n - (W - 1) * 64  # valid samples in the last word (1..64)
    last_mask = np.uint64(0xFFFFFFFFFFFFFFFF) if tail == 64 else (np.uint64(1) << np.uint64(tail)) - np.uint64(1)
    for j in range(k):
        base = offset + variants[j] * bytes_per_variant
        for w in range(W):
            m0 = np.uint64(0)
            m1 = np.uint64(0)
            m2 = np.uint64(0)
            b0 = w * 16
            nb = bytes_per_variant - b0
            if nb > 16:
                nb = 16
            for q in range(nb):
                byte = bed[base + b0 + q]
                sh = np.uint64(4 * q)
                m0 |= lut[0, byte] << sh
                m1 |= lut[1, byte] << sh
                m2 |= lut[2, byte] << sh
            if w == W - 1:
                m0 &= last_mask
                m1 &= last_mask
                m2 &= last_mask
            out[j, 0, w] = m0
            out[j, 1, w] = m1
            out[j, 2, w] = m2


def _bed_luts16():
    """(3, 65536) uint8: for 8 samples (two .bed bytes, little-endian) the category-0/1/2 bits."""
    v = np.arange(65536, dtype=np.uint32)
    lut = np.zeros((3, 65536), dtype=np.uint8)
    for q in range(8):
        code = (v >> np.uint32(2 * q)) & np.uint32(3)
        for cat, c in ((0, 0), (1, 2), (2, 3)):
            lut[cat] |= ((code == c).astype(np.uint8) << np.uint8(q)).astype(np.uint8)
    return lut


BED_LUT16 = _bed_luts16()
# one look-up per 8 samples: category-0 bits | category-1 bits << 8 | category-2 bits << 16
BED_LUT16_PACKED = (BED_LUT16[0].astype(np.uint32) | (BED_LUT16[1].astype(np.uint32) << np.uint32(8))
                    | (BED_LUT16[2].astype(np.uint32) << np.uint32(16)))


@njit(cache=True, nogil=True)
def bed_to_masks_all16(bed, offset, bytes_per_variant, n, variants, lut, out, counts):
    """As :func:`bed_to_masks_all`, 8 samples per look-up in ``lut`` (:data:`BED_LUT16_PACKED`);
    also writes the per-variant category counts ``counts`` (k, 3)."""
    k = variants.shape[0]
    W = out.shape[2]
    tail = n - (W - 1) * 64
    last_mask = np.uint64(0xFFFFFFFFFFFFFFFF) if tail == 64 else (np.uint64(1) << np.uint64(tail)) - np.uint64(1)
    ff = np.uint64(0xFF)
    for j in range(k):
        base = offset + variants[j] * bytes_per_variant
        n0 = 0
        n1 = 0
        n2 = 0
        for w in range(W):
            m0 = np.uint64(0)
            m1 = np.uint64(0)
            m2 = np.uint64(0)
            b0 = w * 16
            for q in range(8):
                bi = b0 + 2 * q
                if bi >= bytes_per_variant:
                    break
                u = np.int64(bed[base + bi])
                if bi + 1 < bytes_per_variant:
                    u |= np.int64(bed[base + bi + 1]) << 8
                v = np.uint64(lut[u])
                sh = np.uint64(8 * q)
                m0 |= (v & ff) << sh
                m1 |= ((v >> np.uint64(8)) & ff) << sh
                m2 |= (v >> np.uint64(16)) << sh
            if w == W - 1:
                m0 &= last_mask
                m1 &= last_mask
                m2 &= last_mask
            out[j, 0, w] = m0
            out[j, 1, w] = m1
            out[j, 2, w] = m2
            n0 += np.int64(_popcount64(m0))
            n1 += np.int64(_popcount64(m1))
            n2 += np.int64(_popcount64(m2))
        counts[j, 0] = n0
        counts[j, 1] = n1
        counts[j, 2] = n2


@njit(cache=True, nogil=True)
def mask_counts(masks, counts):
    """Per-variant category counts (k, 3) of masks (k, 3, W)."""
    for j in range(masks.shape[0]):
        for a in range(3):
            s = 0
            for w in range(masks.shape[2]):
                s += np.int64(_popcount64(masks[j, a, w]))
            counts[j, a] = s


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


@njit(cache=True, nogil=True)
def hap_r2_slots(store, counts, n, islot, slots, out, skip_below=-1.0):
    """Signed haplotype r² of the variant in ``store[islot]`` against each ``store[slots[j]]``
    (masks (·, 3, W), category counts ``counts`` (·, 3), ``n`` samples). The 3 × 3 table is the
    same integer table as :func:`hap_r2_packed` computes; when neither variant has a missing
    call only the four category-0/1 cells are counted and the rest follow from the margins.

    With ``skip_below > 0``, pairs whose r² bound (:func:`hap_r2_bound_from_counts`) is below
    ``skip_below · (1 − 1e-9)`` get 0.0 instead of their r² (they cannot pass ``|r²| >
    skip_below``); every other value is exact."""
    W = store.shape[2]
    cut = skip_below * (1.0 - 1e-9)
    c = np.zeros(9, dtype=np.int64)
    sol = np.zeros(3, dtype=np.float64)
    na0 = counts[islot, 0]
    na1 = counts[islot, 1]
    na2 = counts[islot, 2]
    a_full = na0 + na1 + na2 == n
    for j in range(slots.shape[0]):
        s = slots[j]
        nb0 = counts[s, 0]
        nb1 = counts[s, 1]
        nb2 = counts[s, 2]
        if a_full and nb0 + nb1 + nb2 == n:
            c00 = 0
            c01 = 0
            c10 = 0
            c11 = 0
            for w in range(W):
                x0 = store[islot, 0, w]
                x1 = store[islot, 1, w]
                y0 = store[s, 0, w]
                y1 = store[s, 1, w]
                c00 += np.int64(_popcount64(x0 & y0))
                c01 += np.int64(_popcount64(x0 & y1))
                c10 += np.int64(_popcount64(x1 & y0))
                c11 += np.int64(_popcount64(x1 & y1))
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
            for a in range(3):
                for b in range(3):
                    t = 0
                    for w in range(W):
                        t += np.int64(_popcount64(store[islot, a, w] & store[s, b, w]))
                    c[a * 3 + b] = t
        if skip_below > 0.0 and hap_r2_bound_from_counts(c) < cut:
            out[j] = 0.0
        else:
            out[j] = hap_r2_from_counts(c, sol)

"""numba kernels for BGEN: header walk, probability -> dosage decoding, probability encoding.

All kernels are ``nogil=True`` and single-threaded: the caller runs them from its own thread pool
(decompression and decoding of one variant happen in the same worker thread, so the
decompressed block is decoded while it is still in cache). They are deliberately not
``parallel=True``: numba's default ``workqueue`` threading layer aborts the process when two
Python threads launch parallel kernels at once, which a Dask-threaded caller would do.

Error codes returned by the kernels (0 = fine; defined in :mod:`gwaskit.io.bgen`) are turned
into one-line :class:`~gwaskit.errors.GenotypeFormatError` messages by :mod:`gwaskit.io.bgen`.
The reader uses the C twins of :func:`walk_variants` and :func:`decode_variant`
(``_bgen_native.c``) when they can be built; these are the fallback.
"""
from __future__ import annotations

import numpy as np
from numba import njit

# Error codes (and their texts) live in gwaskit.io.bgen, so that the reader can report them
# without importing numba; the C twins in _bgen_native.c use the same values.
from gwaskit.io.bgen import (  # noqa: F401  (re-exported)
    E_BAD_LENGTH,
    E_BITS,
    E_N_MISMATCH,
    E_NOT_BIALLELIC,
    E_PHASED_FLAG,
    E_PLOIDY,
    E_SHORT_BLOCK,
    E_TRUNCATED,
    ERROR_TEXT,
    OK,
)


@njit(cache=True, nogil=True)
def _u16(buf, o):
    return np.int64(buf[o]) | (np.int64(buf[o + 1]) << 8)


@njit(cache=True, nogil=True)
def _u32(buf, o):
    return (
        np.int64(buf[o])
        | (np.int64(buf[o + 1]) << 8)
        | (np.int64(buf[o + 2]) << 16)
        | (np.int64(buf[o + 3]) << 24)
    )


@njit(cache=True, nogil=True)
def walk_variants(buf, start, m_max, compressed):
    """Walk the variant blocks of a layout-2 BGEN file (v1.2/1.3) starting at byte ``start``.

    Records, per variant, the offsets/lengths of the identifying strings, the position, the
    number of alleles, and the offset/length of the genotype data block (from its 4-byte
    length field ``C``). Stops at the end of the buffer or after ``m_max`` variants.

    Returns ``(n, err, fields, block, next_offset)``: ``fields`` is an (m, 12) int64 array
    ``[varid_off, varid_len, rsid_off, rsid_len, chr_off, chr_len, pos, K, a1_off, a1_len,
    a2_off, a2_len]``; ``block`` is (m, 3): ``[data_off, data_len, uncompressed_len]`` where
    ``data_off`` points after ``C`` (and after ``D`` when compressed) and
    ``uncompressed_len`` is -1 for uncompressed files. ``err`` is 0 or an error code for
    variant ``n`` (the file ends before ``m_max`` variants were read: ``E_TRUNCATED``).
    """
    size = buf.shape[0]
    fields = np.zeros((m_max, 12), dtype=np.int64)
    block = np.zeros((m_max, 3), dtype=np.int64)
    o = start
    n = 0
    while n < m_max:
        if o >= size:
            return n, E_TRUNCATED, fields, block, o
        for slot in range(0, 6, 2):  # variant id, rsid, chromosome: u16 length + bytes
            if o + 2 > size:
                return n, E_TRUNCATED, fields, block, o
            ln = _u16(buf, o)
            fields[n, slot] = o + 2
            fields[n, slot + 1] = ln
            o += 2 + ln
        if o + 6 > size:
            return n, E_TRUNCATED, fields, block, o
        fields[n, 6] = _u32(buf, o)
        o += 4
        k = _u16(buf, o)
        fields[n, 7] = k
        o += 2
        for a in range(k):
            if o + 4 > size:
                return n, E_TRUNCATED, fields, block, o
            la = _u32(buf, o)
            if a < 2:
                fields[n, 8 + 2 * a] = o + 4
                fields[n, 9 + 2 * a] = la
            o += 4 + la
        if o + 4 > size:
            return n, E_TRUNCATED, fields, block, o
        c = _u32(buf, o)
        o += 4
        if compressed:
            if c < 4:
                return n, E_BAD_LENGTH, fields, block, o
            if o + 4 > size:
                return n, E_TRUNCATED, fields, block, o
            block[n, 2] = _u32(buf, o)
            block[n, 0] = o + 4
            block[n, 1] = c - 4
        else:
            block[n, 0] = o
            block[n, 1] = c
            block[n, 2] = -1
        o += c
        if o > size:
            return n, E_TRUNCATED, fields, block, o
        n += 1
    return n, OK, fields, block, o


@njit(cache=True, nogil=True)
def decode_variant(blk, n_expected, sample_idx, all_samples, out, base):
    """Decode one uncompressed layout-2 probability block into dosages.

    ``out`` is the flat (Fortran-order raveled) output; the variant's column starts at
    ``out[base]`` and has one row per selected sample (``sample_idx``, or all samples in file
    order when ``all_samples``).

    The dosage counts allele 1 (the first allele stored): unphased
    ``sum_k (P - k) * p_k`` over the genotypes (``2*p0 + p1`` for diploids, where ``p0`` is
    the probability of two copies of allele 1); phased: the sum over haplotypes of the
    probability of allele 1 (``p[hap1, a1] + p[hap2, a1]``). Missing samples (ploidy byte bit 7)
    give NaN. Probabilities are the stored integers divided by ``2**B - 1``.

    Returns an error code (0 = fine).
    """
    size = blk.shape[0]
    if size < 10:
        return E_SHORT_BLOCK
    n = _u32(blk, 0)
    if n != n_expected:
        return E_N_MISMATCH
    k = _u16(blk, 4)
    if k != 2:
        return E_NOT_BIALLELIC
    pmin = np.int64(blk[6])
    pmax = np.int64(blk[7])
    if pmax > 63 or pmin > pmax:
        return E_PLOIDY
    if size < 10 + n:
        return E_SHORT_BLOCK
    ploid = 8
    phased = np.int64(blk[8 + n])
    if phased > 1:
        return E_PHASED_FLAG
    bits = np.int64(blk[9 + n])
    if bits < 1 or bits > 32:
        return E_BITS
    data = 10 + n
    scale = 1.0 / (2.0 ** bits - 1.0)
    nan = np.nan
    n_out = n if all_samples else sample_idx.shape[0]

    if pmin == 2 and pmax == 2:
        # Fast path: every sample diploid -> 2 stored values per sample.
        if size < data + (2 * n * bits + 7) // 8:
            return E_SHORT_BLOCK
        w0 = 1.0 if phased == 1 else 2.0
        if bits == 8:
            iw = np.int32(1) if phased == 1 else np.int32(2)
            if all_samples:
                for i in range(n):
                    v = iw * np.int32(blk[data + 2 * i]) + np.int32(blk[data + 2 * i + 1])
                    out[base + i] = v * scale
                for i in range(n):
                    if blk[ploid + i] & 0x80:
                        out[base + i] = nan
            else:
                for r in range(n_out):
                    i = sample_idx[r]
                    v = iw * np.int32(blk[data + 2 * i]) + np.int32(blk[data + 2 * i + 1])
                    out[base + r] = nan if blk[ploid + i] & 0x80 else v * scale
            return OK
        if bits == 16:
            for r in range(n_out):
                i = r if all_samples else sample_idx[r]
                o = data + 4 * i
                a = np.int64(blk[o]) | (np.int64(blk[o + 1]) << 8)
                b = np.int64(blk[o + 2]) | (np.int64(blk[o + 3]) << 8)
                out[base + r] = nan if blk[ploid + i] & 0x80 else (w0 * a + b) * scale
            return OK
        if bits == 32:
            for r in range(n_out):
                i = r if all_samples else sample_idx[r]
                o = data + 8 * i
                a = _u32(blk, o)
                b = _u32(blk, o + 4)
                out[base + r] = nan if blk[ploid + i] & 0x80 else (w0 * a + b) * scale
            return OK
        mask = (np.int64(1) << bits) - 1
        for r in range(n_out):
            i = r if all_samples else sample_idx[r]
            if blk[ploid + i] & 0x80:
                out[base + r] = nan
                continue
            bp = 2 * i * bits
            a = _getbits(blk, data, bp, bits, mask)
            b = _getbits(blk, data, bp + bits, bits, mask)
            out[base + r] = (w0 * a + b) * scale
        return OK

    # General path: per-sample ploidy. Values per sample: P (unphased, K=2) or P (phased,
    # one value per haplotype). Build the start (in values) of every sample first.
    starts = np.empty(n + 1, dtype=np.int64)
    acc = 0
    for i in range(n):
        p = np.int64(blk[ploid + i] & 0x3F)
        if p < pmin or p > pmax:
            return E_PLOIDY
        starts[i] = acc
        acc += p
    starts[n] = acc
    if size < data + (acc * bits + 7) // 8:
        return E_SHORT_BLOCK
    mask = (np.int64(1) << bits) - 1
    for r in range(n_out):
        i = r if all_samples else sample_idx[r]
        if blk[ploid + i] & 0x80:
            out[base + r] = nan
            continue
        p = np.int64(blk[ploid + i] & 0x3F)
        s = 0.0
        for t in range(p):
            v = _getbits(blk, data, (starts[i] + t) * bits, bits, mask)
            if phased == 1:
                s += v
            else:
                s += (p - t) * v
        out[base + r] = s * scale
    return OK


@njit(cache=True, nogil=True)
def _getbits(blk, data, bitpos, bits, mask):
    byte = data + (bitpos >> 3)
    shift = bitpos & 7
    nbytes = (shift + bits + 7) >> 3
    v = np.int64(0)
    for t in range(nbytes):
        v |= np.int64(blk[byte + t]) << (8 * t)
    return (v >> shift) & mask


@njit(cache=True, nogil=True)
def _round_probs(p, scale, outv, frac):
    """Scale probabilities ``p`` (summing to 1) to integers summing to ``scale`` (BGEN spec:
    floor, then give the remainder to the largest fractional parts). ``frac`` is scratch."""
    k = p.shape[0]
    tot = 0
    for t in range(k):
        x = p[t] * scale
        f = np.floor(x)
        outv[t] = np.int64(f)
        frac[t] = x - f
        tot += np.int64(f)
    rem = np.int64(scale) - tot
    while rem > 0:
        best = 0
        for t in range(1, k):
            if frac[t] > frac[best]:
                best = t
        outv[best] += 1
        frac[best] = -1.0
        rem -= 1


@njit(cache=True, nogil=True)
def encode_unphased(probs, bits, out):
    """Encode one variant's unphased probabilities ``probs`` (N x 3; NaN row = missing) as a
    layout-2 probability block into ``out`` (preallocated, zeroed). Returns the byte length."""
    n = probs.shape[0]
    scale = (np.int64(1) << bits) - 1
    o = 0
    out[0] = n & 0xFF
    out[1] = (n >> 8) & 0xFF
    out[2] = (n >> 16) & 0xFF
    out[3] = (n >> 24) & 0xFF
    out[4] = 2
    out[5] = 0
    out[6] = 2
    out[7] = 2
    o = 8
    for i in range(n):
        missing = np.isnan(probs[i, 0]) or np.isnan(probs[i, 1]) or np.isnan(probs[i, 2])
        out[o + i] = 0x82 if missing else 2
    o += n
    out[o] = 0
    out[o + 1] = bits
    o += 2
    vals = np.zeros(3, dtype=np.int64)
    p = np.empty(3)
    frac = np.empty(3)
    bitpos = 0
    for i in range(n):
        if out[8 + i] & 0x80:
            vals[0] = 0
            vals[1] = 0
        else:
            s = probs[i, 0] + probs[i, 1] + probs[i, 2]
            for t in range(3):
                p[t] = min(max(probs[i, t], 0.0), 1.0) / s if s > 0 else 0.0
            _round_probs(p, scale, vals, frac)
        _putbits(out, o, bitpos, bits, vals[0])
        _putbits(out, o, bitpos + bits, bits, vals[1])
        bitpos += 2 * bits
    return o + (bitpos + 7) // 8


@njit(cache=True, nogil=True)
def encode_phased(haps, bits, out):
    """Encode one variant's phased allele-1 probabilities ``haps`` (N x 2, one per haplotype;
    NaN = missing sample) as a layout-2 phased probability block. Returns the byte length."""
    n = haps.shape[0]
    scale = (np.int64(1) << bits) - 1
    out[0] = n & 0xFF
    out[1] = (n >> 8) & 0xFF
    out[2] = (n >> 16) & 0xFF
    out[3] = (n >> 24) & 0xFF
    out[4] = 2
    out[5] = 0
    out[6] = 2
    out[7] = 2
    o = 8
    for i in range(n):
        missing = np.isnan(haps[i, 0]) or np.isnan(haps[i, 1])
        out[o + i] = 0x82 if missing else 2
    o += n
    out[o] = 1
    out[o + 1] = bits
    o += 2
    vals = np.zeros(2, dtype=np.int64)
    p = np.empty(2)
    frac = np.empty(2)
    bitpos = 0
    for i in range(n):
        for h in range(2):
            if out[8 + i] & 0x80:
                vals[0] = 0
            else:
                x = min(max(haps[i, h], 0.0), 1.0)
                p[0] = x
                p[1] = 1.0 - x
                _round_probs(p, scale, vals, frac)
            _putbits(out, o, bitpos, bits, vals[0])
            bitpos += bits
    return o + (bitpos + 7) // 8


@njit(cache=True, nogil=True)
def _putbits(out, data, bitpos, bits, v):
    byte = data + (bitpos >> 3)
    shift = bitpos & 7
    x = np.int64(v) << shift
    nbytes = (shift + bits + 7) >> 3
    for t in range(nbytes):
        out[byte + t] |= np.uint8((x >> (8 * t)) & 0xFF)


@njit(cache=True, nogil=True)
def dosage_to_probs(d, probs):
    """Dosage of allele 1 in [0, 2] -> unphased (p0, p1, p2) with p0 = P(two copies of allele 1):
    ``d <= 1: (0, d, 1 - d)``; ``d > 1: (d - 1, 2 - d, 0)``; NaN -> NaN row."""
    n = d.shape[0]
    for i in range(n):
        x = d[i]
        if np.isnan(x):
            probs[i, 0] = np.nan
            probs[i, 1] = np.nan
            probs[i, 2] = np.nan
        else:
            x = min(max(x, 0.0), 2.0)
            if x <= 1.0:
                probs[i, 0] = 0.0
                probs[i, 1] = x
                probs[i, 2] = 1.0 - x
            else:
                probs[i, 0] = x - 1.0
                probs[i, 1] = 2.0 - x
                probs[i, 2] = 0.0

"""numba kernels for BGEN: header walk, fused inflate + decode + column statistics of a variant
range, probability encoding.

All kernels are ``nogil=True`` and serial: the caller runs them from its own threads (the
engine runs one chunk per thread), so a decompressed block is decoded, and each decoded column's
statistics computed, while it is still in cache. zlib blocks are inflated inside the kernel by
libdeflate's ``libdeflate_zlib_decompress``, declared as an external function and resolved
from the ``deflate`` wheel's extension module (which exports libdeflate's symbols), loaded into
LLVM's symbol table once by :func:`_load_libdeflate`; no address is baked into numba's cache.

Error codes returned by the kernels (0 = fine) are defined here and turned into one-line
:class:`~gwaskit.errors.GenotypeFormatError` messages by :mod:`gwaskit.io.bgen` (:data:`ERROR_TEXT`).
"""
from __future__ import annotations

import numpy as np
from numba import njit, types

from gwaskit.stats._column_numba_fns import column_stats_one

OK = 0
E_TRUNCATED = 1  # block extends past the end of the file / buffer
E_N_MISMATCH = 2  # sample count in the probability block differs from the header
E_NOT_BIALLELIC = 3  # K != 2 in the probability block
E_BITS = 4  # bits per probability outside 1..32
E_PLOIDY = 5  # ploidy byte outside [pmin, pmax] or > 63
E_PHASED_FLAG = 6  # phased flag not 0/1
E_SHORT_BLOCK = 7  # decompressed block shorter than the probabilities it announces
E_BAD_LENGTH = 8  # a length field that cannot be right
E_INFLATE = 9  # zlib stream corrupt, or not of the announced length
E_PROB_SUM = 10  # unphased stored probabilities of a sample sum to more than 1

ERROR_TEXT = {
    E_TRUNCATED: "block runs past the end of the file (truncated file?)",
    E_N_MISMATCH: "sample count in the probability block differs from the file header",
    E_NOT_BIALLELIC: "probability block is not biallelic",
    E_BITS: "bits per probability outside 1..32",
    E_PLOIDY: "invalid ploidy byte",
    E_PHASED_FLAG: "invalid phased flag",
    E_SHORT_BLOCK: "probability block shorter than announced (corrupt data?)",
    E_BAD_LENGTH: "invalid length field (corrupt data?)",
    E_INFLATE: "corrupt zlib data, or not of the announced uncompressed length",
    E_PROB_SUM: "the stored probabilities of a sample sum to more than 1 (the implied last "
                "probability would be negative)",
}


def _load_libdeflate() -> None:
    """Make libdeflate's symbols (exported by the ``deflate`` wheel's extension module, a core
    dependency) visible to numba's JIT linker."""
    import llvmlite.binding as llvm
    from deflate import _deflate

    llvm.load_library_permanently(_deflate.__file__)


_load_libdeflate()
_inflater_new = types.ExternalFunction("libdeflate_alloc_decompressor", types.voidptr())
_inflater_free = types.ExternalFunction("libdeflate_free_decompressor", types.void(types.voidptr))
# int libdeflate_zlib_decompress(d, in, in_nbytes, out, out_nbytes_avail, size_t *actual_out):
# with actual_out NULL, success (0) means exactly out_nbytes_avail bytes were produced
_zlib_inflate = types.ExternalFunction(
    "libdeflate_zlib_decompress",
    types.int32(types.voidptr, types.voidptr, types.uintp, types.voidptr, types.uintp,
                types.voidptr))


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

    Layout 2 stores all probabilities of a sample but the last, which is implied
    (``1 - sum``); an unphased sample whose stored integers sum to more than ``2**B - 1``
    would imply a negative probability and gives ``E_PROB_SUM`` (plink2 rejects such files
    too). Phased blocks store one value per haplotype, so the check cannot fail there.
    Missing samples are not checked. The fast paths only track the largest per-sample sum
    (one max per sample) and re-check the missing flags when it is too large.

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
            top = np.int32(0)
            if all_samples:
                for i in range(n):
                    a = np.int32(blk[data + 2 * i])
                    b = np.int32(blk[data + 2 * i + 1])
                    out[base + i] = (iw * a + b) * scale
                    top = max(top, a + b)
                for i in range(n):
                    if blk[ploid + i] & 0x80:
                        out[base + i] = nan
            else:
                for r in range(n_out):
                    i = sample_idx[r]
                    a = np.int32(blk[data + 2 * i])
                    b = np.int32(blk[data + 2 * i + 1])
                    out[base + r] = nan if blk[ploid + i] & 0x80 else (iw * a + b) * scale
                    top = max(top, a + b)
            if phased == 0 and top > 255:
                return _check_sums(blk, n, ploid, data, bits, 2)
            return OK
        limit = (np.int64(1) << bits) - 1
        top = np.int64(0)
        if bits == 16:
            for r in range(n_out):
                i = r if all_samples else sample_idx[r]
                o = data + 4 * i
                a = np.int64(blk[o]) | (np.int64(blk[o + 1]) << 8)
                b = np.int64(blk[o + 2]) | (np.int64(blk[o + 3]) << 8)
                out[base + r] = nan if blk[ploid + i] & 0x80 else (w0 * a + b) * scale
                top = max(top, a + b)
        elif bits == 32:
            for r in range(n_out):
                i = r if all_samples else sample_idx[r]
                o = data + 8 * i
                a = _u32(blk, o)
                b = _u32(blk, o + 4)
                out[base + r] = nan if blk[ploid + i] & 0x80 else (w0 * a + b) * scale
                top = max(top, a + b)
        else:
            for r in range(n_out):
                i = r if all_samples else sample_idx[r]
                if blk[ploid + i] & 0x80:
                    out[base + r] = nan
                    continue
                bp = 2 * i * bits
                a = _getbits(blk, data, bp, bits, limit)
                b = _getbits(blk, data, bp + bits, bits, limit)
                out[base + r] = (w0 * a + b) * scale
                top = max(top, a + b)
        if phased == 0 and top > limit:
            return _check_sums(blk, n, ploid, data, bits, 2)
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
        tot = np.int64(0)
        for t in range(p):
            v = _getbits(blk, data, (starts[i] + t) * bits, bits, mask)
            tot += v
            if phased == 1:
                s += v
            else:
                s += (p - t) * v
        if phased == 0 and tot > mask:
            return E_PROB_SUM
        out[base + r] = s * scale
    return OK


@njit(cache=True, nogil=True)
def _check_sums(blk, n, ploid, data, bits, per_sample):
    """``E_PROB_SUM`` if a non-missing sample's ``per_sample`` stored values (unphased, all
    samples of the same ploidy) sum to more than ``2**bits - 1``, else ``OK`` (the fast
    paths' maximum included a missing sample, whose values are not probabilities)."""
    limit = (np.int64(1) << bits) - 1
    for i in range(n):
        if blk[ploid + i] & 0x80:
            continue
        tot = np.int64(0)
        for t in range(per_sample):
            tot += _getbits(blk, data, (i * per_sample + t) * bits, bits, limit)
        if tot > limit:
            return E_PROB_SUM
    return OK


@njit(cache=True, nogil=True)
def read_range(buf, blocks, compressed, n, sample_idx, all_samples, out, base0, nrow, stats,
               scratch):
    """Inflate (zlib, or none) and decode the variants ``blocks`` into consecutive output columns.

    Parameters
    ----------
    buf : the file (uint8, memory-mapped)
    blocks : (k, 3) int64 ``[data offset, data length, uncompressed length]`` per variant
    compressed : True for zlib blocks (zstd blocks are inflated by the caller)
    n, sample_idx, all_samples : as :func:`decode_variant`
    out : the flat (Fortran-order raveled) output; variant ``q`` goes to
        ``out[base0 + q * nrow : base0 + (q + 1) * nrow]``
    stats : (k, 4) float64: row ``q`` receives :func:`column_stats_one` of column ``q``
        (computed right after decoding it, while it is in cache); an empty array skips them
    scratch : uint8 buffer of at least the largest uncompressed length (zlib only)

    Returns ``(q, err)``: ``q = -1`` when every variant decoded, else the first failing
    variant and its error code (nothing is written for variants after it).
    """
    k = blocks.shape[0]
    size = buf.shape[0]
    want_stats = stats.shape[0] > 0
    d = _inflater_new()  # a few kB, once per range (unused for uncompressed blocks)
    fail, err = -1, OK
    for q in range(k):
        off, ln, ulen = blocks[q, 0], blocks[q, 1], blocks[q, 2]
        if off < 0 or ln < 0 or off + ln > size:
            fail, err = q, E_TRUNCATED
            break
        if compressed:
            if ulen < 0 or ulen > scratch.shape[0]:
                fail, err = q, E_BAD_LENGTH
                break
            src = buf[off:off + ln]
            r = _zlib_inflate(d, src.ctypes.data, ln, scratch.ctypes.data, ulen, 0)
            if r != 0:
                fail, err = q, E_INFLATE
                break
            blk = scratch[:ulen]
        else:
            blk = buf[off:off + ln]
        base = base0 + q * nrow
        e = decode_variant(blk, n, sample_idx, all_samples, out, base)
        if e != OK:
            fail, err = q, e
            break
        if want_stats:
            column_stats_one(out[base:base + nrow], stats[q])
    _inflater_free(d)
    return fail, err


@njit(cache=True, nogil=True)
def column_stats_range(out, base0, nrow, stats):
    """:func:`column_stats_one` of ``stats.shape[0]`` consecutive columns of a flat output (for
    blocks decoded outside :func:`read_range`, e.g. zstd)."""
    for q in range(stats.shape[0]):
        b = base0 + q * nrow
        column_stats_one(out[b:b + nrow], stats[q])


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

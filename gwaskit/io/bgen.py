"""BGEN reader (v1.2 and v1.3, layout 2) with a fast multi-threaded dosage path.

Format: https://www.well.ox.ac.uk/~gav/bgen_format/spec/latest.html (layout 2). Supported:
compression none, zlib and zstd; 1..32 bits per probability; phased and unphased; any
ploidy per sample (diploid fast path); biallelic variants (multi-allelic variants are left out
of the variant table and counted). Layout 1 (BGEN v1.1) raises
:class:`~gwaskit.errors.GenotypeFormatError`.

**Dosage convention.** The dosage counts the FIRST allele stored in the file (BGEN allele 1),
reported as ``effect_allele``: unphased ``2*p0 + p1`` where ``p0`` is the probability of two
copies of allele 1 (in general ``sum_k (P - k) p_k`` for ploidy ``P``); phased
``p[hap1, allele1] + p[hap2, allele1]``. Probabilities are the stored B-bit integers divided
by ``2**B - 1`` (so 8-bit dosages are multiples of 1/255). Missing samples give NaN. Haploid
calls (plink2 writes male chrX with ploidy 1) give the expected number of copies, 0..1 (plink2
itself reports them as 0/2). For files written by plink2 allele 1 is ALT (read them with
``plink2 --bgen F ref-last``).

How it works: the file is memory-mapped; a walk over the variant headers records each
genotype block's offset (cached under the cache directory for large files, never beside the
input); reading decompresses each block in a thread pool (zlib via libdeflate or ISA-L when
installed, stdlib zlib otherwise; zstd via ``zstandard``; all release the GIL) and decodes it
in the same worker thread straight into the Fortran-ordered output column.

The walk and the decoder are C kernels (``_bgen_native.c``, compiled once and loaded with
ctypes by :mod:`gwaskit._native`; ctypes releases the GIL) so that reading a BGEN file does not
start numba (~0.8 s, more than a typical read). Without a C compiler, or with
``GWASKIT_NATIVE=0``, the ``nogil`` numba kernels of :mod:`gwaskit.io._bgen_numba_fns` are used;
both give bit-identical dosages.
"""
from __future__ import annotations

import ctypes
import hashlib
import mmap
import os
import struct
import threading
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

from gwaskit._log import logger
from gwaskit._native import VECTOR_FLAGS, load_library, read_source
from gwaskit.errors import GenotypeFormatError, InputError

__all__ = ["BgenFile", "default_cache_dir", "default_threads"]

# --- kernel error codes ----------------------------------------------------------------------
# Shared by the numba kernels (which import them from here) and the C kernels (same values in
# _bgen_native.c); defined here so that reporting an error does not import numba.
OK = 0
E_TRUNCATED = 1  # block extends past the end of the file / buffer
E_N_MISMATCH = 2  # sample count in the probability block differs from the header
E_NOT_BIALLELIC = 3  # K != 2 in the probability block
E_BITS = 4  # bits per probability outside 1..32
E_PLOIDY = 5  # ploidy byte outside [pmin, pmax] or > 63
E_PHASED_FLAG = 6  # phased flag not 0/1
E_SHORT_BLOCK = 7  # decompressed block shorter than the probabilities it announces
E_BAD_LENGTH = 8  # a length field that cannot be right

ERROR_TEXT = {
    E_TRUNCATED: "block runs past the end of the file (truncated file?)",
    E_N_MISMATCH: "sample count in the probability block differs from the file header",
    E_NOT_BIALLELIC: "probability block is not biallelic",
    E_BITS: "bits per probability outside 1..32",
    E_PLOIDY: "invalid ploidy byte",
    E_PHASED_FLAG: "invalid phased flag",
    E_SHORT_BLOCK: "probability block shorter than announced (corrupt data?)",
    E_BAD_LENGTH: "invalid length field (corrupt data?)",
}

#: Variant indices of files with at least this many variants are cached (parquet).
INDEX_CACHE_MIN_VARIANTS = 200_000
_INDEX_VERSION = 1
_WALK_BATCH = 1 << 18


def default_cache_dir(cache_dir: str | os.PathLike | None = None) -> Path:
    """``cache_dir``, else ``$GWASKIT_CACHE_DIR``, else ``~/.cache/gwaskit`` (absolute)."""
    if cache_dir is None:
        cache_dir = os.environ.get("GWASKIT_CACHE_DIR") or Path.home() / ".cache" / "gwaskit"
    return Path(cache_dir).expanduser().resolve()


def default_threads() -> int:
    """``$GWASKIT_THREADS`` if set, else the number of usable CPUs (at most 16)."""
    env = os.environ.get("GWASKIT_THREADS")
    if env:
        return max(1, int(env))
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        n = os.cpu_count() or 1
    return max(1, min(n, 16))


# --- decompressors ---------------------------------------------------------------------------
def _pick_zlib():
    """Fastest available zlib inflater: libdeflate, ISA-L, then stdlib zlib.

    Each candidate is checked on a probe first (an unknown API version falls through).
    """
    probe = b"gwaskit" * 20
    probe_z = zlib.compress(probe)
    try:
        import deflate

        def inflate_deflate(data, size):
            return deflate.zlib_decompress(data, size)

        if inflate_deflate(probe_z, len(probe)) == probe:
            return inflate_deflate, "libdeflate"
    except Exception:  # not installed, or an API we do not know
        pass
    try:
        from isal import isal_zlib

        def inflate_isal(data, size):
            return isal_zlib.decompress(data, bufsize=max(size, 1))

        if inflate_isal(probe_z, len(probe)) == probe:
            return inflate_isal, "isal"
    except Exception:
        pass

    def inflate_zlib(data, size):
        return zlib.decompress(data, bufsize=max(size, 1))

    return inflate_zlib, "zlib"


_INFLATE, INFLATER = _pick_zlib()
_zstd_local = threading.local()


def _unzstd(data, size):
    d = getattr(_zstd_local, "d", None)
    if d is None:
        import zstandard

        d = _zstd_local.d = zstandard.ZstdDecompressor()
    return d.decompress(data, max_output_size=size)


# --- kernels: C when it can be built, numba otherwise -----------------------------------------
def _declare(lib: ctypes.CDLL) -> None:
    # c_void_p / c_int64 only: ctypes converts plain ints (and bytes, for decompressed blocks)
    # without building a ctypes object per argument, which keeps a per-variant call cheap
    p, i64 = ctypes.c_void_p, ctypes.c_int64
    lib.gk_bgen_walk.argtypes = [p, i64, i64, i64, i64, p, p, p]
    lib.gk_bgen_walk.restype = None
    for f in (lib.gk_bgen_decode_f32, lib.gk_bgen_decode_f64):
        f.argtypes = [p, i64, i64, p, i64, i64, p, i64, p]
        f.restype = i64
    for f in (lib.gk_bgen_read_range_f32, lib.gk_bgen_read_range_f64):
        f.argtypes = [p, p, i64, i64, p, p, p, p, i64, i64, p, i64, i64, p, i64, i64, p, p]
        f.restype = i64


def _libdeflate_symbols() -> tuple[int, int, int] | None:
    """Addresses of ``libdeflate_alloc_decompressor``, ``libdeflate_free_decompressor`` and
    ``libdeflate_zlib_decompress``: from the ``deflate`` package's extension module (which
    exports them), else from a system libdeflate; None when neither is found."""
    import ctypes.util

    candidates = []
    try:
        from deflate import _deflate

        candidates.append(_deflate.__file__)
    except Exception:  # not installed, or built differently
        pass
    found = ctypes.util.find_library("deflate")
    if found:
        candidates.append(found)
    for path in candidates:
        try:
            lib = ctypes.CDLL(path)
            return tuple(ctypes.cast(getattr(lib, name), ctypes.c_void_p).value for name in (
                "libdeflate_alloc_decompressor", "libdeflate_free_decompressor",
                "libdeflate_zlib_decompress"))
        except (OSError, AttributeError):
            continue
    return None


class _CDecoder:
    """The C decoder bound to one output: every pointer and constant is computed once, so
    decoding a variant is one ctypes call (:meth:`BgenFile._decode_range` calls it per variant).

    Holds references to the arrays its raw pointers point into."""

    __slots__ = ("_fn", "_keep", "_bp", "_n", "_sp", "_ns", "_all", "_op", "_st")

    def __init__(self, fn, buf: np.ndarray, n: int, sidx: np.ndarray, all_samples: bool,
                 flat: np.ndarray):
        starts = np.empty(n + 1, dtype=np.int64)  # scratch for blocks with varying ploidy
        self._fn = fn
        self._keep = (buf, sidx, flat, starts)
        self._bp = buf.ctypes.data
        self._n = n
        self._sp = sidx.ctypes.data
        self._ns = len(sidx)
        self._all = int(all_samples)
        self._op = flat.ctypes.data
        self._st = starts.ctypes.data

    def at(self, off: int, ln: int, base: int) -> int:
        """Decode the uncompressed block ``buf[off : off + ln]`` into ``flat[base:]``."""
        return self._fn(self._bp + off, ln, self._n, self._sp, self._ns, self._all, self._op,
                        base, self._st)

    def block(self, data, base: int) -> int:
        """Decode a decompressed block (bytes, bytearray or other buffer) into ``flat[base:]``."""
        if type(data) is bytes or len(data) == 0:  # bytes: ctypes passes its buffer, no copy
            ptr = data if len(data) else None
        else:
            try:  # writable buffer (libdeflate returns bytearray): 0.4 us, no copy
                ptr = ctypes.addressof(ctypes.c_char.from_buffer(data))
            except TypeError:  # read-only buffer: keep the view alive during the call
                data = np.frombuffer(data, dtype=np.uint8)
                ptr = data.ctypes.data
        return self._fn(ptr, len(data), self._n, self._sp, self._ns, self._all, self._op, base,
                        self._st)


class _CKernels:
    """The C kernels of ``_bgen_native.c`` with the interface of :class:`_NumbaKernels`."""

    name = "c"

    def __init__(self, lib: ctypes.CDLL):
        self._lib = lib
        self._zlib = _libdeflate_symbols()

    def read_range(self, buf: np.ndarray, blocks: np.ndarray, compression: int, max_ulen: int,
                   n: int, sidx: np.ndarray, all_samples: bool, flat: np.ndarray, base0: int,
                   nrow: int, stats: np.ndarray | None = None) -> int | None:
        """Inflate and decode the variants ``blocks`` ((k, 3) ``[off, len, ulen]``) into
        consecutive output columns starting at ``flat[base0]``, all in one C call (no GIL).
        ``stats``: None or a C-contiguous (k, 4) float64 array receiving each column's
        ``[n observed, sum, mean, sum of squared deviations]`` (see :meth:`BgenFile.read_into`).

        Returns -1 when all decoded, the index of the first variant that failed (the caller
        redoes the range variant by variant for the error message), or None when this path
        does not apply (zstd, no libdeflate, another output type)."""
        if (compression == 1 and self._zlib is None) or compression == 2:
            return None
        if flat.dtype == np.float32:
            fn = self._lib.gk_bgen_read_range_f32
        elif flat.dtype == np.float64:
            fn = self._lib.gk_bgen_read_range_f64
        else:
            return None
        blocks = np.ascontiguousarray(blocks, dtype=np.int64)
        k = blocks.shape[0]
        if k == 0:
            return -1
        sidx = np.ascontiguousarray(sidx, dtype=np.int64)
        alloc, release, inflate = self._zlib if compression == 1 else (None, None, None)
        scratch = np.empty(max(int(blocks[:, 2].max()), 1) if compression else 1, dtype=np.uint8)
        starts = np.empty(n + 1, dtype=np.int64)
        return fn(buf.ctypes.data, blocks.ctypes.data, k, int(compression != 0), alloc, release,
                  inflate, scratch.ctypes.data, max_ulen, n, sidx.ctypes.data, len(sidx),
                  int(all_samples), flat.ctypes.data, base0, nrow, starts.ctypes.data,
                  None if stats is None else stats.ctypes.data)

    def walk(self, buf: np.ndarray, start: int, m_max: int, compressed: bool):
        """As :func:`gwaskit.io._bgen_numba_fns.walk_variants`.

        Returns ``(n, err, fields, block, next_offset)``."""
        buf = np.ascontiguousarray(buf, dtype=np.uint8)  # no copy for the memory map
        # zeroed like the numba kernel's outputs (calloc: pages the walk never reaches cost nothing)
        fields = np.zeros((m_max, 12), dtype=np.int64)
        block = np.zeros((m_max, 3), dtype=np.int64)
        res = np.zeros(3, dtype=np.int64)
        self._lib.gk_bgen_walk(buf.ctypes.data, buf.shape[0], int(start), int(m_max),
                               int(bool(compressed)), fields.ctypes.data, block.ctypes.data,
                               res.ctypes.data)
        return int(res[0]), int(res[1]), fields, block, int(res[2])

    def decoder(self, buf: np.ndarray, n: int, sidx: np.ndarray, all_samples: bool,
                flat: np.ndarray):
        """``(at, block)``: decode functions bound to the output ``flat``.

        ``at(off, ln, base)`` decodes ``buf[off : off + ln]``, ``block(data, base)`` a
        decompressed block; both write ``flat[base:]`` and return an error code (0 = fine)."""
        if flat.dtype == np.float32:
            fn = self._lib.gk_bgen_decode_f32
        elif flat.dtype == np.float64:
            fn = self._lib.gk_bgen_decode_f64
        else:  # no C variant for other output types
            return _NumbaKernels().decoder(buf, n, sidx, all_samples, flat)
        if not (flat.flags.c_contiguous and buf.flags.c_contiguous and buf.dtype == np.uint8):
            raise ValueError("decoder needs contiguous uint8 input and contiguous output")
        d = _CDecoder(fn, buf, n, np.ascontiguousarray(sidx, dtype=np.int64), all_samples, flat)
        return d.at, d.block


class _NumbaKernels:
    """The numba kernels of :mod:`gwaskit.io._bgen_numba_fns` (imported here, on first use)."""

    name = "numba"

    def __init__(self):
        from gwaskit.io import _bgen_numba_fns

        self._nf = _bgen_numba_fns

    def walk(self, buf: np.ndarray, start: int, m_max: int, compressed: bool):
        return self._nf.walk_variants(buf, start, m_max, compressed)

    def decoder(self, buf: np.ndarray, n: int, sidx: np.ndarray, all_samples: bool,
                flat: np.ndarray):
        decode = self._nf.decode_variant

        def at(off: int, ln: int, base: int) -> int:
            return decode(buf[off : off + ln], n, sidx, all_samples, flat, base)

        def block(data, base: int) -> int:
            return decode(np.frombuffer(data, dtype=np.uint8), n, sidx, all_samples, flat, base)

        return at, block


def _c_kernels() -> _CKernels | None:
    """The C kernels, or None (no compiler, build failure, ``GWASKIT_NATIVE=0``, source missing)."""
    try:
        from gwaskit.io import _column_stats_source

        source = _column_stats_source() + read_source(__file__, "_bgen_native.c")
    except OSError:
        return None
    lib = load_library("bgen_kernels", source, _declare, flags=VECTOR_FLAGS)
    return None if lib is None else _CKernels(lib)


_KERNELS: _CKernels | _NumbaKernels | None = None


def _kernels() -> _CKernels | _NumbaKernels:
    """The kernels in use: C when available, else numba (chosen once per process)."""
    global _KERNELS
    k = _KERNELS
    if k is None:  # a race only builds the same object twice
        k = _c_kernels() or _NumbaKernels()
        logger.debug("BGEN kernels: %s", k.name)
        _KERNELS = k
    return k


def _chrom_label(c: str) -> str:
    """'chr01' / '01' -> '1'; 'chrX' -> 'X'; 'M' stays as written."""
    s = c[3:] if c[:3].lower() == "chr" else c
    if s.isdigit():
        return str(int(s))
    return s.upper() if s.lower() in ("x", "y", "xy", "mt", "m") else s


def _strings(buf: np.ndarray, off: np.ndarray, ln: np.ndarray) -> np.ndarray:
    """Object array of str from byte ranges of ``buf``."""
    n = len(off)
    if n == 0:
        return np.array([], dtype=object)
    maxlen = int(ln.max())
    if maxlen == 0:
        return np.full(n, "", dtype=object)
    if maxlen <= 64:
        idx = off[:, None] + np.arange(maxlen)[None, :]
        mask = np.arange(maxlen)[None, :] < ln[:, None]
        np.minimum(idx, len(buf) - 1, out=idx)
        b = np.where(mask, buf[idx], 0).astype(np.uint8)
        s = b.view(f"S{maxlen}").ravel()
        try:
            return s.astype(str).astype(object)
        except UnicodeDecodeError:
            pass
    return np.array(
        [bytes(buf[o : o + l]).decode("utf-8", "replace") for o, l in zip(off, ln)], dtype=object
    )


class BgenFile:
    """One BGEN file: header, samples, variant table and dosage decoding.

    Parameters
    ----------
    path
        The ``.bgen`` file (opened read-only; nothing is written beside it).
    sample_table
        Optional sample table (``FID``, ``IID``[, ``sex``]) from a ``.sample`` file; its row
        count must equal the file's N. Without it the embedded sample identifiers are used.
    cache_dir
        Where large files' variant indices are cached (see :func:`default_cache_dir`).
    """

    def __init__(self, path, sample_table: pd.DataFrame | None = None, *, cache_dir=None,
                 sample_source: str | None = None):
        self.path = Path(path)
        self._cache_dir = cache_dir
        try:
            self._fh = open(self.path, "rb")
        except OSError as e:
            raise InputError(f"{self.path}: cannot open BGEN file ({e.strerror})") from None
        self._mm = None
        self._buf = None
        try:
            size = os.fstat(self._fh.fileno()).st_size
            if size < 24:
                raise GenotypeFormatError(f"{self.path}: not a BGEN file (only {size} bytes)")
            self._mm = mmap.mmap(self._fh.fileno(), 0, access=mmap.ACCESS_READ)
            self._buf = np.frombuffer(self._mm, dtype=np.uint8)
            self._parse_header()
            self._set_samples(sample_table, sample_source)
            self._build_index()
        except BaseException:
            self.close()
            raise

    # -- header ---------------------------------------------------------------------------
    def _parse_header(self) -> None:
        b = self._buf
        size = len(b)
        offset, lh, m, n = struct.unpack_from("<IIII", self._mm, 0)
        magic = bytes(b[16:20])
        if magic not in (b"bgen", b"\x00\x00\x00\x00") or lh < 20 or lh + 4 > size:
            raise GenotypeFormatError(f"{self.path}: not a BGEN file (bad header/magic number)")
        (flags,) = struct.unpack_from("<I", self._mm, lh)  # at 4 + lh - 4
        self.compression = flags & 3
        self.layout = (flags >> 2) & 0xF
        self.has_sample_ids = bool(flags >> 31)
        if self.layout == 1:
            raise GenotypeFormatError(
                f"{self.path}: BGEN layout 1 (v1.1) is not supported; convert it to v1.2 "
                "(e.g. plink2 --bgen F ref-last --export bgen-1.2)"
            )
        if self.layout != 2:
            raise GenotypeFormatError(f"{self.path}: unsupported BGEN layout {self.layout}")
        if self.compression == 3:
            raise GenotypeFormatError(f"{self.path}: unknown compression flag 3 in BGEN header")
        if offset + 4 > size or offset < lh:
            raise GenotypeFormatError(f"{self.path}: truncated BGEN file (header offset {offset})")
        self.n_header_variants = int(m)
        self.n_samples = int(n)
        self.first_variant = offset + 4
        self.embedded_ids = None
        if self.has_sample_ids:
            o = 4 + lh
            if o + 8 > self.first_variant:
                raise GenotypeFormatError(f"{self.path}: truncated sample identifier block")
            lsi, ns = struct.unpack_from("<II", self._mm, o)
            if ns != n:
                raise GenotypeFormatError(
                    f"{self.path}: sample block has {ns} samples, header says {n}"
                )
            if o + lsi > self.first_variant:
                raise GenotypeFormatError(f"{self.path}: sample identifier block overruns the data")
            ids = []
            o += 8
            end = 4 + lh + lsi
            for _ in range(ns):
                if o + 2 > end:
                    raise GenotypeFormatError(f"{self.path}: truncated sample identifier block")
                (ln,) = struct.unpack_from("<H", self._mm, o)
                if o + 2 + ln > end:
                    raise GenotypeFormatError(f"{self.path}: truncated sample identifier block")
                ids.append(self._mm[o + 2 : o + 2 + ln].decode("utf-8", "replace"))
                o += 2 + ln
            self.embedded_ids = np.array(ids, dtype=object)

    def _set_samples(self, table: pd.DataFrame | None, source: str | None) -> None:
        if table is not None:
            if len(table) != self.n_samples:
                raise InputError(
                    f"{source or 'sample file'}: {len(table)} samples, but {self.path} has "
                    f"{self.n_samples}"
                )
            self.sample_table = table.reset_index(drop=True)
        elif self.embedded_ids is not None:
            self.sample_table = pd.DataFrame(
                {"FID": np.full(self.n_samples, None, dtype=object), "IID": self.embedded_ids}
            )
        else:
            raise InputError(
                f"{self.path}: no sample identifiers in the file; pass the .sample file "
                "(--sample / sample_file=)"
            )
        iid = self.sample_table["IID"].astype(str)
        dup = iid[iid.duplicated()]
        if len(dup):
            where = source or str(self.path)
            raise InputError(
                f"{where}: {len(dup)} duplicate sample ID(s), e.g. {dup.iloc[0]!r}"
            )
        self.samples = iid.to_numpy(dtype=str)

    # -- variant index --------------------------------------------------------------------
    def _cache_path(self) -> Path:
        st = os.stat(self.path)
        key = f"{self.path.resolve()}|{st.st_size}|{st.st_mtime_ns}|{_INDEX_VERSION}"
        h = hashlib.sha1(key.encode()).hexdigest()[:20]
        return default_cache_dir(self._cache_dir) / "bgen-index" / f"{self.path.name}.{h}.parquet"

    def _build_index(self) -> None:
        m = self.n_header_variants
        cache = None
        if m >= INDEX_CACHE_MIN_VARIANTS:
            cache = self._cache_path()
            if cache.exists():
                try:
                    df = pd.read_parquet(cache)
                    self._blocks = df[["data_off", "data_len", "ulen"]].to_numpy(np.int64)
                    self.n_multiallelic = 0
                    self.variants = df.drop(columns=["data_off", "data_len", "ulen"])
                    nm = cache.with_suffix(".nmulti")
                    if nm.exists():
                        self.n_multiallelic = int(nm.read_text())
                    self.variants.index = pd.RangeIndex(len(self.variants))
                    return
                except Exception as e:  # corrupt cache: rebuild
                    logger.debug("ignoring unreadable index cache %s: %s", cache, e)
        parts = []
        blocks = []
        n_multi = 0
        start = self.first_variant
        done = 0
        compressed = self.compression != 0
        walk = _kernels().walk
        while done < m:
            want = min(_WALK_BATCH, m - done)
            n, err, fields, block, nxt = walk(self._buf, start, want, compressed)
            if err:
                raise GenotypeFormatError(
                    f"{self.path}: truncated or corrupt BGEN file: variant header {done + n} "
                    f"(header announces {m} variants): {ERROR_TEXT.get(err, err)}"
                )
            fields = fields[:n]
            block = block[:n]
            keep = fields[:, 7] == 2
            n_multi += int(n - keep.sum())
            fields = fields[keep]
            blocks.append(block[keep])
            b = self._buf
            varid = _strings(b, fields[:, 0], fields[:, 1])
            rsid = _strings(b, fields[:, 2], fields[:, 3])
            chrom = _strings(b, fields[:, 4], fields[:, 5])
            a1 = _strings(b, fields[:, 8], fields[:, 9])
            a2 = _strings(b, fields[:, 10], fields[:, 11])
            pos = fields[:, 6].astype(np.int64)
            ulab = {c: _chrom_label(c) for c in pd.unique(chrom)}
            chrom = np.array([ulab[c] for c in chrom], dtype=object) if len(chrom) else chrom
            vid = np.where(rsid != "", rsid, varid)
            empty = np.flatnonzero(vid == "")
            for i in empty:
                vid[i] = f"{chrom[i]}:{pos[i]}:{a1[i]}:{a2[i]}"
            parts.append(
                pd.DataFrame(
                    {
                        "chromosome": chrom,
                        "base_pair_location": pos,
                        "variant_id": vid,
                        "effect_allele": a1,
                        "other_allele": a2,
                    }
                )
            )
            done += n
            start = nxt
        self._blocks = np.concatenate(blocks) if blocks else np.zeros((0, 3), np.int64)
        self.variants = (
            pd.concat(parts, ignore_index=True)
            if parts
            else pd.DataFrame(
                {
                    "chromosome": pd.Series([], dtype=object),
                    "base_pair_location": pd.Series([], dtype=np.int64),
                    "variant_id": pd.Series([], dtype=object),
                    "effect_allele": pd.Series([], dtype=object),
                    "other_allele": pd.Series([], dtype=object),
                }
            )
        )
        self.n_multiallelic = n_multi
        if cache is not None:
            try:
                cache.parent.mkdir(parents=True, exist_ok=True)
                df = self.variants.copy()
                df["data_off"] = self._blocks[:, 0]
                df["data_len"] = self._blocks[:, 1]
                df["ulen"] = self._blocks[:, 2]
                tmp = cache.with_name(cache.name + f".tmp{os.getpid()}")
                df.to_parquet(tmp, index=False)
                cache.with_suffix(".nmulti").write_text(str(n_multi))
                os.replace(tmp, cache)
            except OSError as e:
                logger.debug("could not write index cache %s: %s", cache, e)

    # -- reading --------------------------------------------------------------------------
    @property
    def n_variants(self) -> int:
        return len(self.variants)

    def _variant_name(self, j: int) -> str:
        return f"variant {self.variants['variant_id'].iat[j]!r} (index {j} in the file)"

    def _decode_range(self, local, flat, nrow, col0, lo, hi, sidx, all_samples, stats=None):
        """Decode variants ``local[lo:hi]`` into columns ``col0 + lo ...`` of the output
        (``flat`` = the Fortran-ordered output raveled, ``nrow`` rows); ``stats`` as in
        :meth:`read_into` (filled only on the one-call C path)."""
        buf = self._buf
        n = self.n_samples
        comp = self.compression
        # biallelic layout 2: header 10 + N ploidy bytes + at most 63 values of 32 bits each
        max_ulen = 10 + n + 63 * 4 * n
        kernels = _kernels()
        if isinstance(kernels, _CKernels) and hi > lo:
            st = None if stats is None else stats[col0 + lo: col0 + hi]
            failed = kernels.read_range(buf, self._blocks[local[lo:hi]], comp, max_ulen, n, sidx,
                                        all_samples, flat, (col0 + lo) * nrow, nrow, st)
            if failed == -1:
                return
            if failed is not None:  # redo from the failing variant: its precise error below
                lo += failed
        inflate = _INFLATE if comp == 1 else _unzstd
        decode_at, decode_block = kernels.decoder(buf, n, sidx, all_samples, flat)
        col = col0 + lo
        for j, (off, ln, ulen) in zip(
            local[lo:hi].tolist(), self._blocks[local[lo:hi]].tolist()
        ):
            if comp:
                raw = buf[off : off + ln]
                if ulen > max_ulen:
                    raise GenotypeFormatError(
                        f"{self.path}: corrupt genotype block for {self._variant_name(j)}: "
                        f"announces {ulen} bytes uncompressed, too many for {n} samples"
                    )
                try:
                    data = inflate(raw, ulen)
                except Exception as e:  # zlib.error, IsalError, DeflateError, ZstdError
                    raise GenotypeFormatError(
                        f"{self.path}: corrupt genotype block for {self._variant_name(j)}: "
                        f"{type(e).__name__}: {e}"
                    ) from None
                if len(data) != ulen:
                    raise GenotypeFormatError(
                        f"{self.path}: corrupt genotype block for {self._variant_name(j)}: "
                        f"decompressed {len(data)} bytes, expected {ulen}"
                    )
                err = decode_block(data, col * nrow)
            else:
                err = decode_at(off, ln, col * nrow)
            if err:
                raise GenotypeFormatError(
                    f"{self.path}: corrupt genotype block for {self._variant_name(j)}: "
                    f"{ERROR_TEXT.get(err, err)}"
                )
            col += 1

    def read_into(
        self,
        out: np.ndarray,
        col0: int,
        local: np.ndarray,
        samples: np.ndarray | None,
        pool: ThreadPoolExecutor | None = None,
        n_threads: int = 1,
        stats: np.ndarray | None = None,
    ) -> None:
        """Write dosages of variants ``local`` (indices into :attr:`variants`) into
        ``out[:, col0 : col0 + len(local)]``; ``samples`` = row indices or None for all.

        ``stats``: optional C-contiguous float64 array of shape ``(out.shape[1], 4)``; row
        ``col0 + q`` receives ``[n observed, sum, mean, sum of squared deviations]`` of output
        column ``col0 + q``, computed while the column is in cache (the C path only: rows the
        decoder did not fill are left untouched, so pre-fill them with a sentinel).
        """
        all_samples = samples is None
        sidx = np.zeros(0, np.int64) if all_samples else np.ascontiguousarray(samples, np.int64)
        k = len(local)
        if k == 0:
            return
        if not out.flags.f_contiguous:
            raise ValueError("output array must be Fortran-ordered")
        nrow = out.shape[0]
        flat = out.reshape(-1, order="F")
        local = np.asarray(local, dtype=np.int64)
        if stats is not None and (stats.shape != (out.shape[1], 4) or stats.dtype != np.float64
                                  or not stats.flags.c_contiguous):
            raise ValueError("stats must be a C-contiguous float64 array of shape (m, 4)")
        if pool is None or n_threads <= 1 or k < 4:
            self._decode_range(local, flat, nrow, col0, 0, k, sidx, all_samples, stats)
            return
        bounds = np.linspace(0, k, min(n_threads, k) + 1).astype(int)
        futs = [
            pool.submit(self._decode_range, local, flat, nrow, col0, int(a), int(b), sidx,
                        all_samples, stats)
            for a, b in zip(bounds[:-1], bounds[1:])
            if b > a
        ]
        first = None
        for f in futs:
            try:
                f.result()
            except BaseException as e:  # report the first failure, wait for all
                if first is None:
                    first = e
        if first is not None:
            raise first

    def __enter__(self) -> "BgenFile":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._buf = None
        if self._mm is not None:
            try:
                self._mm.close()
            except BufferError:  # a view is still alive; the GC will unmap it
                pass
            self._mm = None
        if getattr(self, "_fh", None) is not None:
            self._fh.close()
            self._fh = None

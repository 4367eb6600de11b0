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
input, and validated against the file before use: see :meth:`BgenFile._load_index_cache`).
Reading a variant range is one call of the ``nogil`` numba kernel
:func:`gwaskit.io._bgen_numba_fns.read_range`: it inflates each zlib block with libdeflate,
decodes it straight into the Fortran-ordered output column and computes the column's
statistics while it is in cache. zstd blocks are inflated by ``zstandard`` (which releases the
GIL) and decoded by the same kernels. The kernels are imported on first use.
"""
from __future__ import annotations

import hashlib
import mmap
import os
import struct
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

from gwaskit._log import logger
from gwaskit.errors import GenotypeFormatError, InputError

__all__ = ["BgenFile", "default_cache_dir"]

#: Variant indices of files with at least this many variants are cached (parquet).
INDEX_CACHE_MIN_VARIANTS = 200_000
_INDEX_VERSION = 2
_WALK_BATCH = 1 << 18


def default_cache_dir(cache_dir: str | os.PathLike | None = None) -> Path:
    """``cache_dir``, else ``$GWASKIT_CACHE_DIR``, else ``~/.cache/gwaskit`` (absolute)."""
    if cache_dir is None:
        cache_dir = os.environ.get("GWASKIT_CACHE_DIR") or Path.home() / ".cache" / "gwaskit"
    return Path(cache_dir).expanduser().resolve()


_zstd_local = threading.local()


def _unzstd(data, size):
    d = getattr(_zstd_local, "d", None)
    if d is None:
        import zstandard

        d = _zstd_local.d = zstandard.ZstdDecompressor()
    return d.decompress(data, max_output_size=size)


def _kernels():
    """The numba kernels (:mod:`gwaskit.io._bgen_numba_fns`), imported on first use."""
    from gwaskit.io import _bgen_numba_fns

    return _bgen_numba_fns


def _error_text(err: int) -> str:
    return _kernels().ERROR_TEXT.get(err, f"error code {err}")


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
        [bytes(buf[o : o + k]).decode("utf-8", "replace") for o, k in zip(off, ln)], dtype=object
    )


def _variants_digest(cols: dict, pos: np.ndarray) -> str:
    h = hashlib.sha256(np.ascontiguousarray(pos, dtype=np.int64).tobytes())
    for c in ("chromosome", "variant_id", "effect_allele", "other_allele"):
        h.update("\x00".join(map(str, cols[c])).encode())
        h.update(b"\x01")
    return h.hexdigest()


def _blocks_plausible(blocks: np.ndarray, first_variant: int, size: int) -> bool:
    """Every block inside the file, after the header, in file order and not overlapping."""
    if len(blocks) == 0:
        return True
    off, ln = blocks[:, 0], blocks[:, 1]
    if (off < first_variant).any() or (ln < 0).any() or (off + ln > size).any():
        return False
    return bool((off[1:] >= off[:-1] + ln[:-1]).all())


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
        key = f"{self.path.resolve()}|{_INDEX_VERSION}"
        h = hashlib.sha256(key.encode()).hexdigest()[:20]
        return default_cache_dir(self._cache_dir) / "bgen-index" / f"{self.path.name}.{h}.npz"

    def _file_identity(self) -> dict:
        """What a cached index must match: size, mtime and a hash of the header and sample
        block (bytes ``0 .. first variant``, at most 64 MiB)."""
        st = os.fstat(self._fh.fileno())
        head = hashlib.sha256(self._mm[: min(self.first_variant, 64 << 20)]).hexdigest()
        return {"size": int(st.st_size), "mtime_ns": int(st.st_mtime_ns), "header_sha256": head,
                "n_header_variants": int(self.n_header_variants), "version": _INDEX_VERSION}

    def _load_index_cache(self, cache: Path) -> bool:
        """Use a cached index only if it matches this file exactly; False (rebuild) otherwise.

        Checked: the file's size, mtime and header hash; the hash of the offsets table and of
        the variant table as stored; and that the blocks lie inside the file, in order, one
        after the other (each starts after the previous one ends). A cache that fails any
        check is ignored (and rewritten), so a tampered cache can neither crash the reader nor
        change genotypes. The cache holds arrays only (``allow_pickle=False``), never code."""
        import json

        try:
            with np.load(cache, allow_pickle=False) as z:
                meta = json.loads(str(z["meta"]))
                blocks = np.ascontiguousarray(z["blocks"], dtype=np.int64)
                cols = {c: z[c] for c in ("chromosome", "variant_id", "effect_allele",
                                          "other_allele")}
                pos = np.asarray(z["base_pair_location"], dtype=np.int64)
                n_multi = int(z["n_multiallelic"])
        except Exception as e:  # unreadable, truncated, not ours
            logger.warning("%s: ignoring unreadable BGEN index cache %s (%s); rebuilding",
                           self.path, cache, type(e).__name__)
            return False
        why = None
        if meta.get("file") != self._file_identity():
            why = "it was made for another version of the file"
        elif meta.get("blocks_sha256") != hashlib.sha256(blocks.tobytes()).hexdigest():
            why = "its offsets table does not match its checksum"
        elif meta.get("variants_sha256") != _variants_digest(cols, pos):
            why = "its variant table does not match its checksum"
        elif blocks.ndim != 2 or blocks.shape[1] != 3 or any(len(v) != len(blocks)
                                                             for v in (*cols.values(), pos)):
            why = "its tables have inconsistent shapes"
        elif not _blocks_plausible(blocks, self.first_variant, len(self._buf)):
            why = "its offsets do not lie inside the file in order"
        if why is not None:
            logger.warning("%s: ignoring BGEN index cache %s: %s; rebuilding", self.path, cache,
                           why)
            return False
        self._blocks = blocks
        self.n_multiallelic = n_multi
        self.variants = pd.DataFrame({"chromosome": cols["chromosome"].astype(object),
                                      "base_pair_location": pos,
                                      "variant_id": cols["variant_id"].astype(object),
                                      "effect_allele": cols["effect_allele"].astype(object),
                                      "other_allele": cols["other_allele"].astype(object)})
        return True

    def _write_index_cache(self, cache: Path) -> None:
        import json

        v = self.variants
        cols = {c: v[c].to_numpy().astype(str) for c in ("chromosome", "variant_id",
                                                         "effect_allele", "other_allele")}
        pos = v["base_pair_location"].to_numpy(np.int64)
        meta = {"file": self._file_identity(),
                "blocks_sha256": hashlib.sha256(self._blocks.tobytes()).hexdigest(),
                "variants_sha256": _variants_digest(cols, pos)}
        try:
            cache.parent.mkdir(parents=True, exist_ok=True)
            tmp = cache.with_name(f".{cache.name}.{os.getpid()}.tmp")
            with open(tmp, "wb") as fh:
                np.savez(fh, meta=np.array(json.dumps(meta)), blocks=self._blocks,
                         base_pair_location=pos, n_multiallelic=np.array(self.n_multiallelic),
                         **cols)
            os.replace(tmp, cache)
        except OSError as e:
            logger.debug("could not write index cache %s: %s", cache, e)

    def _build_index(self) -> None:
        m = self.n_header_variants
        cache = None
        if m >= INDEX_CACHE_MIN_VARIANTS:
            cache = self._cache_path()
            if cache.exists() and self._load_index_cache(cache):
                self.variants.index = pd.RangeIndex(len(self.variants))
                return
        parts = []
        blocks = []
        n_multi = 0
        start = self.first_variant
        done = 0
        compressed = self.compression != 0
        walk = _kernels().walk_variants
        while done < m:
            want = min(_WALK_BATCH, m - done)
            n, err, fields, block, nxt = walk(self._buf, start, want, compressed)
            if err:
                raise GenotypeFormatError(
                    f"{self.path}: truncated or corrupt BGEN file: variant header {done + n} "
                    f"(header announces {m} variants): {_error_text(err)}"
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
            self._write_index_cache(cache)

    # -- reading --------------------------------------------------------------------------
    @property
    def n_variants(self) -> int:
        return len(self.variants)

    def _variant_name(self, j: int) -> str:
        return f"variant {self.variants['variant_id'].iat[j]!r} (index {j} in the file)"

    def _decode_range(self, local, flat, nrow, col0, lo, hi, sidx, all_samples, stats=None):
        """Decode variants ``local[lo:hi]`` into columns ``col0 + lo ...`` of the output
        (``flat`` = the Fortran-ordered output raveled, ``nrow`` rows); ``stats`` as in
        :meth:`read_into`."""
        if hi <= lo:
            return
        k = _kernels()
        n = self.n_samples
        blocks = np.ascontiguousarray(self._blocks[local[lo:hi]])
        st = np.empty((0, 4)) if stats is None else stats[col0 + lo: col0 + hi]
        base0 = (col0 + lo) * nrow
        if self.compression == 2:  # zstd: inflated here (zstandard releases the GIL)
            fail, err = self._decode_zstd(blocks, flat, nrow, base0, sidx, all_samples)
            if fail < 0 and st.shape[0]:
                k.column_stats_range(flat, base0, nrow, st)
        else:
            # biallelic layout 2: header 10 + N ploidy bytes + at most 63 values of 32 bits each
            max_ulen = 10 + n + 63 * 4 * n
            ulen = int(blocks[:, 2].max()) if self.compression else 0
            if ulen > max_ulen:
                q = int(np.argmax(blocks[:, 2] > max_ulen))
                raise GenotypeFormatError(
                    f"{self.path}: corrupt genotype block for "
                    f"{self._variant_name(int(local[lo + q]))}: announces {blocks[q, 2]} bytes "
                    f"uncompressed, too many for {n} samples")
            scratch = np.empty(max(min(ulen, max_ulen), 1), dtype=np.uint8)
            fail, err = k.read_range(self._buf, blocks, self.compression == 1, n, sidx,
                                     all_samples, flat, base0, nrow, st, scratch)
        if fail >= 0:
            raise GenotypeFormatError(
                f"{self.path}: corrupt genotype block for "
                f"{self._variant_name(int(local[lo + fail]))}: {_error_text(err)}")

    def _decode_zstd(self, blocks, flat, nrow, base0, sidx, all_samples) -> tuple[int, int]:
        decode = _kernels().decode_variant
        n = self.n_samples
        max_ulen = 10 + n + 63 * 4 * n
        for q, (off, ln, ulen) in enumerate(blocks.tolist()):
            if off + ln > len(self._buf) or not 0 <= ulen <= max_ulen:
                return q, _kernels().E_BAD_LENGTH
            try:
                data = _unzstd(self._buf[off: off + ln], ulen)
            except Exception:  # noqa: BLE001 - zstd.ZstdError and friends
                return q, _kernels().E_INFLATE
            if len(data) != ulen:
                return q, _kernels().E_INFLATE
            err = decode(np.frombuffer(data, dtype=np.uint8), n, sidx, all_samples, flat,
                         base0 + q * nrow)
            if err:
                return q, err
        return -1, 0

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
        column ``col0 + q``, computed while the column is in cache.
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

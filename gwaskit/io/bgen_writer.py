"""BGEN writer (v1.2 layout 2, or v1.3 with zstd), used by the simulator and test fixtures.

Files are written to a temporary file beside the target and renamed at :meth:`BgenWriter.close`
(atomic); the variant count is patched into the header then. Sample identifiers are embedded
(header flag bit 31) and, by default, also written to a classic ``.sample`` file
(``ID_1 ID_2 missing`` / ``0 0 0``; FID = IID unless given) with the BGEN's stem.

**Dosage convention.** The ``effect_allele`` column is stored FIRST (BGEN allele 1); dosages
count it. A dosage ``d`` in [0, 2] becomes the unphased probabilities
``(p0, p1, p2) = (0, d, 1 - d)`` for ``d <= 1`` and ``(d - 1, 2 - d, 0)`` for ``d > 1`` (``p0`` =
two copies of allele 1), so ``2*p0 + p1 = d`` up to the B-bit rounding (``1/(2**B - 1)``).
Probabilities are rounded as the BGEN spec says (floor, then the remainder to the largest
fractional parts). NaN = missing sample.
"""
from __future__ import annotations

import os
import struct
import threading
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from gwaskit.errors import InputError
from gwaskit.io import _bgen_numba_fns as nf
from gwaskit._threads import default_threads
from gwaskit.io.samples import write_sample_file

__all__ = ["BgenWriter", "write_bgen"]

def _pick_deflate():
    """libdeflate's zlib compressor (3-4x faster than stdlib zlib at level 6) if installed."""
    try:
        import deflate

        probe = b"gwaskit" * 20
        if zlib.decompress(deflate.zlib_compress(probe, 6)) == probe:
            return deflate.zlib_compress
    except Exception:
        pass
    return zlib.compress


_ZLIB_COMPRESS = _pick_deflate()

_BATCH = 64  # variants per encoding task

_REQUIRED = ["chromosome", "base_pair_location", "variant_id", "effect_allele", "other_allele"]


class BgenWriter:
    """Stream variants into a BGEN file.

    Parameters
    ----------
    path
        Output ``.bgen`` path (replaced atomically at close).
    samples
        Sample IDs (IIDs), embedded in the file.
    bits
        Bits per stored probability, 1..32 (8 and 16 are the usual choices).
    compression
        ``"zlib"`` (default), ``"zstd"`` (requires ``layout_version="1.3"``) or ``None``.
    layout_version
        ``"1.2"`` or ``"1.3"`` (both layout 2; only the allowed compression differs).
    phased
        Write phased blocks (two haplotype probabilities per sample) instead of unphased ones.
    sample_file
        Also write ``<stem>.sample`` (classic format).
    fids
        Optional FIDs for the ``.sample`` file (default: FID = IID).
    compression_level
        zlib level (libdeflate when installed).
    threads
        Encoding/compression threads (default: as for reading, ``$GWASKIT_THREADS`` or CPUs).
    """

    def __init__(
        self,
        path,
        samples: Sequence[str],
        *,
        bits: int = 8,
        compression: str | None = "zlib",
        layout_version: str = "1.2",
        phased: bool = False,
        sample_file: bool = True,
        fids: Sequence[str] | None = None,
        compression_level: int = 6,
        threads: int | None = None,
    ):
        self.path = Path(path)
        self.samples = [str(s) for s in samples]
        if not 1 <= int(bits) <= 32:
            raise InputError(f"bits must be in 1..32, not {bits}")
        if layout_version not in ("1.2", "1.3"):
            raise InputError(f"layout_version must be '1.2' or '1.3', not {layout_version!r}")
        comp = {None: 0, "none": 0, "zlib": 1, "zstd": 2}.get(compression, -1)
        if comp < 0:
            raise InputError(f"compression must be 'zlib', 'zstd' or None, not {compression!r}")
        if comp == 2 and layout_version != "1.3":
            raise InputError("zstd compression needs layout_version='1.3'")
        if len(set(self.samples)) != len(self.samples):
            raise InputError(f"{self.path}: duplicate sample IDs")
        self.bits = int(bits)
        self.compression = comp
        self.phased = bool(phased)
        self._level = compression_level
        self._sample_file = sample_file
        self._fids = fids
        self.n_samples = len(self.samples)
        self.n_written = 0
        self._local = threading.local()
        self._threads = default_threads() if threads is None else max(1, int(threads))
        self._tmp = self.path.with_name(f".{self.path.name}.tmp{os.getpid()}")
        self._fh = open(self._tmp, "wb")
        self._write_header()
        n = self.n_samples
        nvals = 2 * n
        self._scratch = np.zeros(10 + n + (nvals * self.bits + 7) // 8 + 8, dtype=np.uint8)

    def _write_header(self) -> None:
        ids = [s.encode("utf-8") for s in self.samples]
        for s in ids:
            if len(s) > 65535:
                raise InputError("sample ID longer than 65,535 bytes")
        sblock = b"".join(struct.pack("<H", len(s)) + s for s in ids)
        lsi = 8 + len(sblock)
        lh = 20
        flags = self.compression | (2 << 2) | (1 << 31)
        offset = lh + lsi
        self._fh.write(struct.pack("<IIII", offset, lh, 0, self.n_samples))
        self._fh.write(b"bgen")
        self._fh.write(struct.pack("<I", flags))
        self._fh.write(struct.pack("<II", lsi, self.n_samples))
        self._fh.write(sblock)

    def __enter__(self) -> "BgenWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def _variant_header(self, chrom, pos, vid, a1, a2) -> bytes:
        def s16(x):
            b = str(x).encode("utf-8")
            if len(b) > 65535:
                raise InputError(f"{self.path}: identifier too long: {x[:40]!r}...")
            return struct.pack("<H", len(b)) + b

        def s32(x):
            b = str(x).encode("utf-8")
            return struct.pack("<I", len(b)) + b

        pos = int(pos)
        if not 0 <= pos < 2**32:
            raise InputError(f"{self.path}: position {pos} of {vid} out of range for BGEN")
        # varid field empty, ID in the rsid field (as plink2 writes it)
        return (
            s16("") + s16(vid) + s16(chrom) + struct.pack("<IH", pos, 2) + s32(a1) + s32(a2)
        )

    def write(
        self,
        variants: pd.DataFrame,
        dosages: np.ndarray | None = None,
        *,
        probabilities: np.ndarray | None = None,
        haplotypes: np.ndarray | None = None,
    ) -> None:
        """Append variants.

        Parameters
        ----------
        variants
            Columns ``chromosome``, ``base_pair_location``, ``variant_id``, ``effect_allele``
            (stored first, counted), ``other_allele``.
        dosages
            (n_samples, n_variants) counts of ``effect_allele`` in [0, 2]; NaN = missing.
        probabilities
            (n_variants, n_samples, 3) unphased ``(p0, p1, p2)``, ``p0`` = two copies of the
            effect allele; a NaN anywhere in a row = missing.
        haplotypes
            (n_samples, n_variants, 2) phased: probability that each haplotype carries the effect
            allele (0/1 for hard calls); NaN = missing. Requires ``phased=True``.
        """
        missing = [c for c in _REQUIRED if c not in variants.columns]
        if missing:
            raise InputError(f"variant table lacks column(s) {missing}")
        m = len(variants)
        given = [x is not None for x in (dosages, probabilities, haplotypes)]
        if sum(given) != 1:
            raise InputError("give exactly one of dosages, probabilities, haplotypes")
        n = self.n_samples
        if haplotypes is not None:
            if not self.phased:
                raise InputError("haplotypes need BgenWriter(..., phased=True)")
            haplotypes = np.asarray(haplotypes, dtype=np.float64)
            if haplotypes.shape != (n, m, 2):
                raise InputError(f"haplotypes shape {haplotypes.shape}, expected {(n, m, 2)}")
        elif self.phased:
            if dosages is None:
                raise InputError("a phased writer takes haplotypes (or hard-call dosages)")
            d = np.asarray(dosages, dtype=np.float64)
            if d.shape != (n, m):
                raise InputError(f"dosages shape {d.shape}, expected {(n, m)}")
            # hard calls -> haplotypes (het: allele 1 on the first haplotype)
            haplotypes = np.stack([np.clip(d, 0, 1), np.clip(d - 1, 0, 1)], axis=2)
        elif dosages is not None:
            dosages = np.asarray(dosages, dtype=np.float64)
            if dosages.shape != (n, m):
                raise InputError(f"dosages shape {dosages.shape}, expected {(n, m)}")
        else:
            probabilities = np.asarray(probabilities, dtype=np.float64)
            if probabilities.shape != (m, n, 3):
                raise InputError(f"probabilities shape {probabilities.shape}, expected {(m, n, 3)}")

        cols = [variants[c].to_numpy() for c in _REQUIRED]
        heads = [self._variant_header(*(c[j] for c in cols)) for j in range(m)]
        batches = [(a, min(m, a + _BATCH)) for a in range(0, m, _BATCH)]

        def encode(batch):
            return self._encode_batch(batch[0], batch[1], dosages, probabilities, haplotypes)

        if len(batches) > 1 and self._threads > 1:
            with ThreadPoolExecutor(min(self._threads, len(batches))) as pool:
                results = pool.map(encode, batches)
                for (a, _), blocks in zip(batches, results):
                    for j, block in enumerate(blocks, start=a):
                        self._fh.write(heads[j])
                        self._fh.write(block)
        else:
            for (a, _), blocks in zip(batches, map(encode, batches)):
                for j, block in enumerate(blocks, start=a):
                    self._fh.write(heads[j])
                    self._fh.write(block)
        self.n_written += m

    def _encode_batch(self, a, b, dosages, probabilities, haplotypes) -> list[bytes]:
        """Genotype data blocks (with their length fields) of variants ``a:b``; thread-safe."""
        n = self.n_samples
        tl = self._local
        if getattr(tl, "scratch", None) is None:
            tl.scratch = np.zeros_like(self._scratch)
            tl.probs = np.empty((n, 3))
            tl.zstd = None
            if self.compression == 2:
                import zstandard

                tl.zstd = zstandard.ZstdCompressor(level=3)
        scratch, probs = tl.scratch, tl.probs
        if dosages is not None:
            dos = np.asfortranarray(dosages[:, a:b])
        out = []
        for j in range(a, b):
            scratch[:] = 0
            if haplotypes is not None:
                ln = nf.encode_phased(np.ascontiguousarray(haplotypes[:, j, :]), self.bits,
                                      scratch)
            else:
                if dosages is not None:
                    nf.dosage_to_probs(dos[:, j - a], probs)
                    p = probs
                else:
                    p = np.ascontiguousarray(probabilities[j])
                ln = nf.encode_unphased(p, self.bits, scratch)
            raw = scratch[:ln].tobytes()
            if self.compression == 1:
                comp = _ZLIB_COMPRESS(raw, self._level)
                out.append(struct.pack("<II", len(comp) + 4, len(raw)) + comp)
            elif self.compression == 2:
                comp = tl.zstd.compress(raw)
                out.append(struct.pack("<II", len(comp) + 4, len(raw)) + comp)
            else:
                out.append(struct.pack("<I", len(raw)) + raw)
        return out

    def close(self) -> Path:
        """Patch the variant count, flush, rename into place; write the ``.sample`` file."""
        if self._fh is None:
            return self.path
        try:
            self._fh.seek(8)
            self._fh.write(struct.pack("<I", self.n_written))
            self._fh.flush()
            os.fsync(self._fh.fileno())
            self._fh.close()
            self._fh = None
            os.replace(self._tmp, self.path)
        except BaseException:
            self.abort()
            raise
        if self._sample_file:
            write_sample_file(self.path.with_suffix(".sample"), self.samples, self._fids)
        return self.path

    def abort(self) -> None:
        """Discard the partial file."""
        if self._fh is not None:
            self._fh.close()
            self._fh = None
        if self._tmp.exists():
            self._tmp.unlink()


def write_bgen(path, samples, variants, dosages=None, **kw) -> Path:
    """Write a whole BGEN file at once: ``BgenWriter(path, samples, **kw).write(variants, dosages)``.

    ``probabilities=`` / ``haplotypes=`` may be passed in ``kw`` instead of ``dosages``; other
    keywords go to :class:`BgenWriter`.
    """
    data = {k: kw.pop(k) for k in ("probabilities", "haplotypes") if k in kw}
    with BgenWriter(path, samples, **kw) as w:
        w.write(variants, dosages, **data)
    return Path(path)

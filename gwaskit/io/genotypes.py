"""One entry point for genotype dosages: BGEN (fast path), PLINK 1 ``.bed``, PLINK 2 ``.pgen``,
VCF/BCF and VCF Zarr.

>>> with open_genotypes("chr*.bgen", "cohort.sample") as g:          # doctest: +SKIP
...     for table, dosages in g.iter_dosages(chunk_size=2000):
...         ...  # dosages: (n_samples, len(table)) float32, Fortran order, NaN = missing

**Dosage convention.** Every dosage counts the FIRST allele stored in the genotype file,
reported as ``effect_allele`` (BGEN allele 1; ``.bim`` column 5 = PLINK A1 = bed-reader's
``count_A1=True``); the other allele is ``other_allele``. BGEN: unphased ``2*p0 + p1`` with
``p0`` the probability of two copies of allele 1; phased ``p[hap1, allele1] + p[hap2, allele1]``.
Haploid BGEN calls (e.g. male chrX from plink2) give 0..1 copies. Missing calls are NaN.
For plink2-written BGEN allele 1 is ALT (plink2 reads them back with ``ref-last``).
``.pgen``, VCF/BCF and VCF Zarr dosages count ALT (plink2's A1; see :mod:`gwaskit.io.pgen`,
:mod:`gwaskit.io.vcf` and :mod:`gwaskit.io.vcz`), so a BGEN exported by plink2 and its
``.pgen``/VCF source (or that VCF converted to Zarr by bio2zarr) agree.
"""
from __future__ import annotations

import glob as _glob
import os
import re
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Iterator

import numpy as np
import pandas as pd

from gwaskit._log import logger
from gwaskit.errors import InputError
from gwaskit.io.bed import BedFile, bed_prefix
from gwaskit._threads import default_threads
from gwaskit.io.bgen import BgenFile
from gwaskit.io.pgen import PgenFile, pgen_prefix
from gwaskit.io.samples import read_sample_file
from gwaskit.io.vcf import VCF_DOSAGE_FIELDS, VcfFile, is_vcf_path
from gwaskit.io.vcz import VczFile, is_vcz_path

__all__ = ["open_genotypes", "GenotypeReader", "chromosome_sort_key"]

_CHROM_RANK = {"X": 23, "Y": 24, "XY": 25, "MT": 26, "M": 26}


def chromosome_sort_key(chrom: str) -> tuple:
    """Natural chromosome order: 1, 2, ..., 10, ..., 22, X, Y, XY, MT, then others by name."""
    c = str(chrom)
    c = c[3:] if c[:3].lower() == "chr" else c
    if c.isdigit():
        return (0, int(c), "")
    u = c.upper()
    if u in _CHROM_RANK:
        return (0, _CHROM_RANK[u], "")
    return (1, 0, c)


def _natural_key(s: str) -> list:
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", s)]


def _expand(paths_or_glob) -> list[Path]:
    if isinstance(paths_or_glob, (str, os.PathLike)):
        items = [paths_or_glob]
    else:
        items = list(paths_or_glob)
        if not items:
            raise InputError("no genotype files given")
    out: list[Path] = []
    for item in items:
        s = os.fspath(item)
        if any(ch in s for ch in "*?[") and not Path(s).exists():
            hits = sorted(_glob.glob(os.path.expanduser(s)), key=_natural_key)
            hits = [h for h in hits if h.endswith((".bgen", ".bed", ".pgen"))
                    or is_vcf_path(h) or is_vcz_path(h)] or hits
            if not hits:
                raise InputError(f"{s}: no genotype file matches this pattern")
            out.extend(Path(h) for h in hits)
        else:
            out.append(Path(s).expanduser())
    return out


def _as_index(sel, n: int, what: str, *, sort: bool) -> np.ndarray | None:
    """None, an integer index array or a boolean mask -> int64 positions (or None = all)."""
    if sel is None:
        return None
    if isinstance(sel, slice):
        return np.arange(n, dtype=np.int64)[sel]
    a = np.asarray(sel)
    if a.dtype == bool:
        if a.shape != (n,):
            raise InputError(f"{what} mask has length {a.shape}, expected {n}")
        return np.flatnonzero(a).astype(np.int64)
    if a.size == 0:
        return np.zeros(0, dtype=np.int64)
    if not np.issubdtype(a.dtype, np.integer):
        raise InputError(f"{what} selection must be integer positions or a boolean mask")
    a = a.astype(np.int64).ravel()
    if a.min() < 0 or a.max() >= n:
        raise InputError(f"{what} index out of range 0..{n - 1}")
    if sort and np.any(np.diff(a) < 0):
        a = np.sort(a)
    return a


class GenotypeReader:
    """Dosages from one or more genotype files sharing the same samples.

    Attributes
    ----------
    samples : ndarray of str
        IIDs in file order.
    sample_table : DataFrame
        ``FID`` (None or '0' when unknown), ``IID`` and, when known, ``sex``.
    variants : DataFrame
        Global table (RangeIndex 0..M-1 across files): ``chromosome``, ``base_pair_location``,
        ``variant_id``, ``effect_allele`` (the counted allele), ``other_allele``.
    paths : list of Path
        The files, in reading (natural chromosome) order.
    vcf_dosage : str
        The VCF FORMAT field choice it was opened with (see :func:`open_genotypes`).
    """

    vcf_dosage: str = "auto"

    def __init__(self, backends: list, n_threads: int | None = None):
        self._backends = backends
        self.paths = [b.path for b in backends]
        first = backends[0]
        self.sample_table = first.sample_table.reset_index(drop=True)
        self.samples = np.asarray(first.samples, dtype=str)
        sizes = [b.n_variants for b in backends]
        self._starts = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        self.variants = pd.concat([b.variants for b in backends], ignore_index=True)
        self.variants.index = pd.RangeIndex(len(self.variants))
        self._n_threads = n_threads or default_threads()
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self._closed = False

    # -- basic properties -----------------------------------------------------------------
    @property
    def n_samples(self) -> int:
        return len(self.samples)

    @property
    def variants_per_file(self) -> list[int]:
        """Number of variants of each file, in :attr:`paths` order."""
        return np.diff(self._starts).tolist()

    @property
    def n_variants(self) -> int:
        return len(self.variants)

    def __repr__(self) -> str:
        return (
            f"GenotypeReader({len(self.paths)} file(s), {self.n_samples} samples, "
            f"{self.n_variants} variants)"
        )

    def __enter__(self) -> "GenotypeReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Release files and worker threads."""
        self._closed = True
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        for b in self._backends:
            b.close()

    # -- reading --------------------------------------------------------------------------
    def _fill(self, out: np.ndarray, gidx: np.ndarray, sidx: np.ndarray | None,
              stats: np.ndarray | None = None) -> None:
        if self._closed:
            raise ValueError("genotype reader is closed")
        if self._pool is None and self._n_threads > 1:
            with self._lock:
                if self._pool is None:
                    self._pool = ThreadPoolExecutor(self._n_threads,
                                                    thread_name_prefix="gwaskit-io")
        f_of = np.searchsorted(self._starts, gidx, side="right") - 1
        cuts = np.flatnonzero(np.diff(f_of)) + 1
        for lo, hi in zip(np.r_[0, cuts], np.r_[cuts, len(gidx)]):
            f = int(f_of[lo])
            local = gidx[lo:hi] - self._starts[f]
            self._backends[f].read_into(out, int(lo), local, sidx, self._pool, self._n_threads,
                                        stats=stats)

    def _selection(self, samples, variants, dtype):
        """Validated ``(dtype, sample rows or None for all in file order, sorted variant
        indices, number of selected samples)``."""
        dtype = np.dtype(dtype)
        if dtype not in (np.dtype(np.float32), np.dtype(np.float64)):
            raise InputError(f"dtype must be float32 or float64, not {dtype}")
        sidx = _as_index(samples, self.n_samples, "sample", sort=False)
        if sidx is not None and len(sidx) == self.n_samples and np.array_equal(
            sidx, np.arange(self.n_samples)
        ):
            sidx = None  # every sample in file order: the decoders' fast path
        vidx = _as_index(variants, self.n_variants, "variant", sort=True)
        if vidx is None:
            vidx = np.arange(self.n_variants, dtype=np.int64)
        return dtype, sidx, vidx, (self.n_samples if sidx is None else len(sidx))

    def iter_dosages(
        self,
        chunk_size: int = 1000,
        samples=None,
        variants=None,
        dtype=np.float32,
    ) -> Iterator[tuple[pd.DataFrame, np.ndarray]]:
        """Yield ``(variant_table_chunk, dosages)`` chunk by chunk.

        Parameters
        ----------
        chunk_size
            Variants per chunk (memory is ``n_selected_samples * chunk_size * itemsize``).
        samples
            None (all, file order), integer positions into :attr:`samples` (any order; rows
            come out in that order) or a boolean mask.
        variants
            None (all), integer global indices (sorted if not ascending) or a boolean mask.
        dtype
            ``numpy.float32`` or ``numpy.float64``.

        Yields
        ------
        table : DataFrame
            The chunk's rows of :attr:`variants` (global index kept).
        dosages : ndarray, shape (n_selected_samples, len(table)), Fortran order
            Expected count of ``effect_allele`` (the first allele stored; see the module
            docstring), NaN for missing calls. A chunk's array is yours as long as you (or a
            view of it) reference it; once every reference is dropped its memory may be reused
            for a later chunk (this saves the page faults of fresh allocations).

        Notes
        -----
        Decompression and decoding run in a thread pool of ``n_threads`` workers (see
        :func:`open_genotypes`); memory is bounded by the chunk, never by M.
        """
        if chunk_size < 1:
            raise InputError(f"chunk_size must be >= 1, not {chunk_size}")
        dtype, sidx, vidx, ns = self._selection(samples, variants, dtype)
        spare: list[np.ndarray] = []
        for s in range(0, len(vidx), chunk_size):
            g = vidx[s : s + chunk_size]
            out = _recycled(spare, (ns, len(g)), dtype)
            self._fill(out, g, sidx)
            yield self.variants.iloc[g], out

    def read_dosages(
        self, samples=None, variants=None, dtype=np.float32, out: np.ndarray | None = None,
        stats: np.ndarray | None = None,
    ) -> tuple[pd.DataFrame, np.ndarray]:
        """All selected dosages in memory: ``(variant_table, array)`` as in :meth:`iter_dosages`.

        ``out``: optional Fortran-ordered array of shape ``(n_selected_samples,
        n_selected_variants)`` to fill instead of allocating (its dtype wins over ``dtype``).
        ``stats``: optional C-contiguous float64 ``(n_selected_variants, 4)`` array; where the
        decoder can (BGEN, C kernels) it fills each variant's ``[n observed, sum, mean, sum of
        squared deviations]`` of the dosages written, other rows are left as they were.
        """
        dtype, sidx, vidx, ns = self._selection(samples, variants,
                                                dtype if out is None else out.dtype)
        if out is None:
            out = np.empty((ns, len(vidx)), dtype=dtype, order="F")
        elif out.shape != (ns, len(vidx)) or not out.flags.f_contiguous:
            raise ValueError(f"out: expected a Fortran-ordered {(ns, len(vidx))} array, got "
                             f"shape {out.shape}")
        step = 4096
        for s in range(0, len(vidx), step):
            self._fill(out[:, s : s + step], vidx[s : s + step], sidx,
                       None if stats is None else stats[s : s + step])
        return self.variants.iloc[vidx], out

    def variant_qc(self, samples=None, variants=None, chunk_size: int = 4000) -> pd.DataFrame:
        """Per-variant call rate, allele frequencies and imputation quality in one decode pass.

        Parameters
        ----------
        samples, variants
            As in :meth:`iter_dosages` (the statistics use the selected samples only).
        chunk_size
            Variants decoded at a time (memory ``n_selected_samples * chunk_size * 8`` bytes).

        Returns
        -------
        DataFrame
            Index = global variant index (as in :attr:`variants`), columns:

            ``n_called``
                Samples with a non-missing dosage.
            ``effect_allele_frequency``
                Mean dosage / 2 (the frequency of ``effect_allele``; NaN when nothing called).
            ``minor_allele_frequency``
                ``min(f, 1 - f)``.
            ``minor_allele_count``
                ``min(S, 2 * n_called - S)`` with ``S`` the dosage sum: plink2's allele
                counts on dosages (``--freq counts``: ``ALT_CTS`` and ``OBS_CT - ALT_CTS``),
                the quantity its ``--mac`` filter uses.
            ``missing_rate``
                ``1 - n_called / n_selected_samples``: a call is missing when its dosage is,
                plink2's ``--geno dosage`` semantics. (Plain ``--geno`` counts missing hard
                calls, and plink2 turns dosages farther than 0.1 from an integer into missing
                hard calls; for hard-call data the two agree.)
            ``info``
                MaCH R² as plink2 prints it in ``--freq cols=+machr2`` (column ``MACH_R2``):
                ``var(d) / (2 p (1 - p))`` with ``var`` the population variance (divided by
                ``n_called``) of the called dosages ``d`` and ``p = mean(d) / 2``; plink-ng
                ``pgenlib_read.cc`` (``PgrGetDCounts``), ``plink2_misc.cc``
                (``LoadAlleleAndGenoCounts``). It can exceed 1. A monomorphic variant
                (``p`` 0 or 1) gives NaN, as plink2 prints ``nan``. The same diploid formula is
                used on every chromosome (plink2 halves it for haploid chromosomes and
                leaves it out on chrX).

        Notes
        -----
        Dosages are decoded as float64; the column sums come from the one column-statistics
        kernel (:func:`gwaskit.stats._column_numba_fns.column_stats_one`), computed by the BGEN
        decoder while each column is in cache, for other formats right after the chunk is
        read.
        """
        from gwaskit.io._bgen_numba_fns import column_stats_range
        from gwaskit.stats.quality import mach_r2

        if chunk_size < 1:
            raise InputError(f"chunk_size must be >= 1, not {chunk_size}")
        _, sidx, vidx, ns = self._selection(samples, variants, np.float64)
        st = np.full((len(vidx), 4), np.nan)
        spare: list[np.ndarray] = []
        for s in range(0, len(vidx), chunk_size):
            g = vidx[s:s + chunk_size]
            out = _recycled(spare, (ns, len(g)), np.dtype(np.float64))
            cst = st[s:s + len(g)]
            self._fill(out, g, sidx, cst)
            # backends that do not fill the statistics while decoding leave NaN rows
            todo = np.isnan(cst[:, 0])
            if todo.any():
                flat = out.reshape(-1, order="F")
                idx = np.flatnonzero(todo)
                cuts = np.flatnonzero(np.diff(idx) != 1) + 1
                for run in np.split(idx, cuts):
                    a, b = int(run[0]), int(run[-1]) + 1
                    sub = np.ascontiguousarray(cst[a:b])
                    column_stats_range(flat, a * ns, ns, sub)
                    cst[a:b] = sub
            del out
        n = st[:, 0]
        ssum = st[:, 1]
        mean = st[:, 2]
        with np.errstate(invalid="ignore", divide="ignore"):
            eaf = mean / 2.0
            missing = 1.0 - n / ns if ns else np.full(len(n), np.nan)
        return pd.DataFrame(
            {
                "n_called": n.astype(np.int64),
                "effect_allele_frequency": eaf,
                "minor_allele_frequency": np.minimum(eaf, 1.0 - eaf),
                "minor_allele_count": np.minimum(ssum, 2.0 * n - ssum),
                "missing_rate": missing,
                "info": mach_r2(n, mean, st[:, 3]),
            },
            index=pd.Index(vidx, name="variant"),
        )


def _recycled(spare: list, shape: tuple, dtype) -> np.ndarray:
    """A Fortran-ordered output array, reusing one of ours that nobody else references.

    Fresh large arrays cost a page fault per 4 KiB on first write (a third of a full pass on
    the benchmark machine). An array yielded earlier is reused only when the reference held
    by ``spare`` is the last one (the caller dropped it and every view of it), so chunks the
    caller keeps are never overwritten.
    """
    for k in range(len(spare)):
        # references: the list slot and getrefcount's argument
        if sys.getrefcount(spare[k]) == 2 and spare[k].shape == shape and spare[k].dtype == dtype:
            return spare[k]
    out = np.empty(shape, dtype=dtype, order="F")
    if len(spare) < 3:
        spare.append(out)
    else:
        spare[len(spare) - 1] = out  # keep the list short; the replaced one stays the caller's
    return out


_FORMATS = ("BGEN (.bgen), PLINK 1 (.bed or a prefix with .bed/.bim/.fam), PLINK 2 (.pgen or a "
            "prefix with .pgen/.pvar/.psam), VCF/BCF (.vcf, .vcf.gz, .bcf), VCF Zarr (a .vcz "
            "store directory, e.g. from bio2zarr vcf2zarr)")


def _open_one(path: Path, sample_table, sample_source, cache_dir, n_threads,
              vcf_dosage: str = "auto"):
    if is_vcf_path(path):
        if sample_table is not None:
            raise InputError(f"{sample_source}: a sample file applies to BGEN input only; "
                             f"{path} names its samples itself")
        return VcfFile(path, vcf_dosage=vcf_dosage)
    if is_vcz_path(path):
        if sample_table is not None:
            raise InputError(f"{sample_source}: a sample file applies to BGEN input only; "
                             f"{path} names its samples itself")
        return VczFile(path, vcf_dosage=vcf_dosage)
    if path.suffix == ".bgen":
        if not path.exists():
            raise InputError(f"{path}: file not found")
        if sample_table is None:
            return _open_bgen_auto_sample(path, cache_dir)
        return BgenFile(path, sample_table, cache_dir=cache_dir, sample_source=sample_source)
    pgen = pgen_prefix(path)
    bed = bed_prefix(path)
    if pgen is not None and (bed is None or path.suffix == ".pgen"):
        if sample_table is not None:
            raise InputError(f"{sample_source}: a sample file applies to BGEN input only; "
                             f"{pgen} has its .psam")
        return PgenFile(pgen)
    if bed is not None:
        return BedFile(bed, num_threads=n_threads)
    if not path.exists():
        raise InputError(f"{path}: file not found (expected {_FORMATS})")
    raise InputError(f"{path}: unrecognised genotype file (expected {_FORMATS})")


def _open_bgen_auto_sample(path: Path, cache_dir):
    """Embedded IDs, else a ``.sample`` file with the same stem beside the BGEN."""
    try:
        return BgenFile(path, None, cache_dir=cache_dir)
    except InputError as e:
        side = path.with_suffix(".sample")
        if "no sample identifiers" not in str(e) or not side.exists():
            raise
    logger.info("%s has no embedded sample IDs; using %s", path, side)
    return BgenFile(path, read_sample_file(side), cache_dir=cache_dir, sample_source=str(side))


def open_genotypes(
    paths_or_glob,
    sample_file: str | os.PathLike | None = None,
    *,
    cache_dir: str | os.PathLike | None = None,
    n_threads: int | None = None,
    vcf_dosage: str = "auto",
) -> GenotypeReader:
    """Open genotype files for dosage reading.

    Parameters
    ----------
    paths_or_glob
        A path, a glob string (``'chr*.bgen'``) or a sequence of paths. ``.bgen`` files use the
        BGEN backend (v1.2/1.3, layout 2); a ``.bed`` path or a PLINK prefix (``foo`` with
        ``foo.bed/.bim/.fam``) the PLINK 1 backend; a ``.pgen`` path or a prefix with
        ``foo.pgen/.pvar/.psam`` the PLINK 2 backend (a prefix with both a .pgen and a .bed
        fileset reads the .pgen); ``.vcf``, ``.vcf.gz`` and ``.bcf`` the VCF/BCF backend; a
        ``.vcz`` directory (or a directory holding a VCF Zarr group, as bio2zarr writes it) the
        VCF Zarr backend (needs the ``vcz`` extra, ``zarr``).
        Several files are concatenated in natural
        chromosome order (1, 2, ..., 10, ..., 22, X, Y, MT; by each file's first variant, then
        by file name) and must all have the same samples.
    sample_file
        ``.sample`` file (v1 ``ID_1 ID_2 ...`` -> FID/IID, or v2 ``ID ...`` -> IID) for the BGEN
        files; its row count must equal the BGEN N. Without it: the embedded sample IDs, else a
        ``.sample`` with the BGEN's stem beside it, else an :class:`InputError`.
    cache_dir
        Where variant-index caches of large BGEN files go (default ``$GWASKIT_CACHE_DIR`` or
        ``~/.cache/gwaskit``); nothing is ever written beside the inputs.
    n_threads
        Worker threads for decompression/decoding (default ``$GWASKIT_THREADS`` or the CPUs).
    vcf_dosage
        VCF/BCF and VCF Zarr only: ``"auto"`` (per record FORMAT ``DS``, else ``GP``, else
        ``GT``) or ``"DS"``, ``"GP"``, ``"GT"`` to force one field (see :mod:`gwaskit.io.vcf`;
        VCF Zarr reads the arrays ``call_DS``, ``call_GP``, ``call_genotype``:
        :mod:`gwaskit.io.vcz`).

    Returns
    -------
    GenotypeReader
        A context manager; see :meth:`GenotypeReader.iter_dosages`.
    """
    if vcf_dosage not in VCF_DOSAGE_FIELDS:
        raise InputError(f"vcf_dosage: expected one of {', '.join(VCF_DOSAGE_FIELDS)}, not "
                         f"{vcf_dosage!r}")
    paths = _expand(paths_or_glob)
    sample_table = None
    if sample_file is not None:
        sample_table = read_sample_file(sample_file)
    n_threads = n_threads or default_threads()
    backends = []
    try:
        for p in paths:
            backends.append(_open_one(p, sample_table, str(sample_file) if sample_file else None,
                                      cache_dir, n_threads, vcf_dosage))
        first = backends[0]
        for b in backends[1:]:
            if b.n_samples != first.n_samples or not np.array_equal(b.samples, first.samples):
                raise InputError(
                    f"{b.path}: samples differ from {first.path} ({b.n_samples} vs "
                    f"{first.n_samples} samples, or a different order)"
                )
        if len(backends) > 1:
            def key(b):
                c = b.variants["chromosome"].iat[0] if b.n_variants else "~"
                return (chromosome_sort_key(c), _natural_key(b.path.name))

            backends.sort(key=key)
        n_multi = sum(getattr(b, "n_multiallelic", 0) for b in backends)
        if n_multi:
            logger.info("excluded %d multi-allelic (non-biallelic) variant(s): only biallelic "
                        "variants are read", n_multi)
        reader = GenotypeReader(backends, n_threads=n_threads)
        reader.vcf_dosage = vcf_dosage  # reopened alike by tasks on other processes
    except BaseException:
        for b in backends:
            b.close()
        raise
    logger.info(
        "opened %d genotype file(s): %d samples, %d variants", len(paths), reader.n_samples,
        reader.n_variants,
    )
    return reader

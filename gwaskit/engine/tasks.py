"""The per-chunk task: decode a variant range and apply the fitted null model.

A task needs only a :class:`ScanJob` (the fitted :class:`~gwaskit.stats.multitrait.MultiTraitScan`
plus where the genotypes are) and a :class:`~gwaskit.engine.plan.Chunk`. On a Dask worker the
job is scattered once (broadcast) and each task opens the genotype files itself, so the files
must be visible under the same paths on every worker (a shared filesystem). Readers are cached
per process.

**Bit-identical results.** The statistics of a chunk depend on its boundaries and those of its
blocks (the GEMM shapes) and on the number of BLAS threads. The plan and the blocks are the same
in every mode, and every task runs its BLAS single-threaded (threadpoolctl), so in-process (any
number of worker threads), LocalCluster and remote runs produce the same bits on the same
machine. The column kernels (C or numba) reduce per column (thread count does not matter).
"""
from __future__ import annotations

import contextlib
import os
import threading
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .._log import logger
from ..errors import GenotypeFormatError
from .plan import Chunk

__all__ = ["ScanJob", "ChunkResult", "decode_chunk", "compute_chunk", "run_chunk", "ERR_BAD"]

ERR_BAD = "BAD_GENOTYPES"

_READERS: dict = {}
_READERS_LOCK = threading.Lock()
# numba's default (workqueue) threading layer aborts when two threads launch parallel kernels
# at once: with the numba backend, a process runs the statistics of one chunk at a time
_COMPUTE_LOCK = threading.Lock()
_BLAS_PINNED = False


@dataclass
class ScanJob:
    """Everything a worker needs besides the chunk: scattered once per run."""

    paths: list[str]
    sample_file: str | None
    sample_index: np.ndarray
    model: object  # fitted MultiTraitScan
    dtype: str = "float32"
    per_dim: bool = False
    skip_bad_variants: bool = False
    n_variants: int = 0
    io_threads: int = 1
    extra: dict = field(default_factory=dict)


@dataclass
class ChunkResult:
    chunk: Chunk
    frame: pd.DataFrame
    skipped: list  # dicts: index, variant_id, file, error
    seconds: float = 0.0


def _reader_for(job: ScanJob):
    from ..io.genotypes import open_genotypes

    key = (tuple(job.paths), job.sample_file, job.io_threads)
    with _READERS_LOCK:
        r = _READERS.get(key)
        if r is None:
            r = open_genotypes(list(job.paths), sample_file=job.sample_file, n_threads=job.io_threads)
            if r.n_variants != job.n_variants:
                r.close()
                raise GenotypeFormatError(
                    f"{job.paths[0]}: this worker sees {r.n_variants} variants, the client "
                    f"planned {job.n_variants} (genotype files must be the same on every worker)")
            _READERS[key] = r
        return r


def _np_dtype(job: ScanJob):
    return np.float32 if job.dtype == "float32" else np.float64


_BUFFERS = threading.local()


def _chunk_buffer(shape: tuple, dtype) -> np.ndarray:
    """A Fortran-ordered array for one decoded chunk, recycled per thread (see
    :func:`gwaskit.io.genotypes._recycled`: reused only once nobody else references it)."""
    from ..io.genotypes import _recycled

    spare = getattr(_BUFFERS, "spare", None)
    if spare is None:
        spare = _BUFFERS.spare = []
    return _recycled(spare, shape, np.dtype(dtype))


def decode_chunk(job: ScanJob, chunk: Chunk, reader=None
                 ) -> tuple[pd.DataFrame, np.ndarray, list, np.ndarray | None]:
    """Dosages of ``chunk`` for the analysis samples: ``(variant_table, N x m, skipped,
    column_stats)``; ``column_stats`` is the decoder's (m, 4) per-variant statistics when it
    computed them for every variant (BGEN with the C kernels), else None.

    A corrupt variant raises :class:`GenotypeFormatError` (naming file and variant) unless
    ``job.skip_bad_variants``: then the chunk is re-decoded variant by variant and each
    unreadable variant becomes a NaN column, listed in ``skipped``. The array is recycled for
    a later chunk of the same thread once the caller drops every reference to it.
    """
    reader = reader if reader is not None else _reader_for(job)
    idx = np.arange(chunk.start, chunk.stop, dtype=np.int64)
    dt = _np_dtype(job)
    out = _chunk_buffer((len(job.sample_index), chunk.size), dt)
    stats = np.full((chunk.size, 4), -1.0)  # n observed = -1: not filled by the decoder
    try:
        vt, dos = reader.read_dosages(samples=job.sample_index, variants=idx, out=out,
                                      stats=stats)
        return vt, dos, [], stats if np.all(stats[:, 0] >= 0) else None
    except GenotypeFormatError:
        if not job.skip_bad_variants:
            raise
    vt = reader.variants.iloc[idx]
    dos = out
    skipped = []
    for k, i in enumerate(idx.tolist()):
        try:
            reader.read_dosages(samples=job.sample_index, variants=[i], out=dos[:, k:k + 1])
        except GenotypeFormatError as e:
            dos[:, k] = np.nan
            path = reader.paths[chunk.file] if hasattr(reader, "paths") else job.paths[0]
            skipped.append({"index": i, "variant_id": str(vt["variant_id"].iat[k]),
                            "file": str(path), "error": str(e)})
            logger.warning("skipped unreadable variant %s (index %d): %s",
                           vt["variant_id"].iat[k], i, e)
    return vt, dos, skipped, None


def _numba_parallel_in_use() -> bool:
    """True when the statistics run numba ``parallel=True`` kernels (the fallback backend)."""
    from ..stats import _scan_kernels, pvalues

    return _scan_kernels.backend() == "numba" or pvalues.backend() == "numba"


def compute_chunk(job: ScanJob, vt: pd.DataFrame, dos: np.ndarray,
                  column_stats: np.ndarray | None = None) -> pd.DataFrame:
    """Apply the fitted model to one decoded chunk; one row per variant (the output columns).
    ``column_stats``: the decoder's per-variant statistics, if any (see :func:`decode_chunk`)."""
    from ..stats.multitrait import OUTPUT_COLUMNS

    model = job.model
    # numba's default threading layer aborts when two threads launch parallel kernels at once;
    # the C kernels have no such limit, so chunks are tested concurrently with them
    with _COMPUTE_LOCK if _numba_parallel_in_use() else contextlib.nullcontext():
        res = model.test(dos, column_stats=column_stats)
    vt = vt.reset_index(drop=True)
    block = {c: vt[c].to_numpy() for c in OUTPUT_COLUMNS[:5]}
    block.update({c: res[c] for c in OUTPUT_COLUMNS[5:]})
    if job.per_dim:
        for k in model.dim_names_:
            for pre in ("beta_", "standard_error_", "p_value_"):
                block[pre + k] = res[pre + k]
    return pd.DataFrame(block)


def _mark_bad(df: pd.DataFrame, chunk: Chunk, skipped: list) -> pd.DataFrame:
    if skipped:
        rows = np.array([s["index"] - chunk.start for s in skipped], dtype=np.int64)
        df.loc[rows, "errcode"] = ERR_BAD
    return df


def _pin_blas_single_thread() -> None:
    """Worker processes: BLAS single-threaded for good (never restored, so concurrent tasks
    cannot see another task's restore)."""
    global _BLAS_PINNED
    if not _BLAS_PINNED:
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=1, user_api="blas")
        _BLAS_PINNED = True


def run_chunk(job: ScanJob, chunk: Chunk, reader=None, pin_blas: bool = True) -> ChunkResult:
    """Decode ``chunk`` and test it, block by block (:data:`BLOCK_BYTES`); the Dask task.
    BLAS is pinned to one thread."""
    t0 = time.time()
    if pin_blas:
        _pin_blas_single_thread()
    delay = float(os.environ.get("_GWASKIT_TEST_CHUNK_DELAY", "0") or 0)  # tests only
    if delay > 0:
        time.sleep(delay)
    frames, skipped = [], []
    for block in _blocks(job, chunk):
        vt, dos, bad, stats = decode_chunk(job, block, reader)
        frames.append(compute_chunk(job, vt, dos, stats))
        skipped += bad
        del dos  # its buffer is recycled for the next block
    df = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
    return ChunkResult(chunk, _mark_bad(df, chunk, skipped), skipped, time.time() - t0)


#: A chunk is decoded and tested in blocks of about this many bytes of dosages: each worker
#: thread then reuses one small buffer (on the benchmark machine, first-touch page faults of a
#: fresh 80 MB chunk buffer cost ~0.1-0.2 s, more than testing the chunk). The block size depends
#: only on N, the dtype and the chunk, so every execution mode computes the same bits.
BLOCK_BYTES = 16 << 20
_MIN_BLOCK = 64


def _blocks(job: ScanJob, chunk: Chunk) -> list[Chunk]:
    """Consecutive sub-ranges of ``chunk`` (same index and file) of at most the block size."""
    per_variant = max(len(job.sample_index), 1) * np.dtype(_np_dtype(job)).itemsize
    size = max(_MIN_BLOCK, BLOCK_BYTES // per_variant)
    return [Chunk(chunk.index, chunk.file, a, min(a + size, chunk.stop))
            for a in range(chunk.start, chunk.stop, size)] or [chunk]


# -- helpers for other commands' Dask tasks (clump, prs) ---------------------------------------

def _file_signature(paths) -> tuple:
    sig = []
    for p in paths:
        try:
            st = os.stat(p)
            sig.append((st.st_size, st.st_mtime_ns))
        except OSError:
            sig.append(None)
    return tuple(sig)


def worker_reader(paths, sample_file: str | None, n_variants: int, n_samples: int):
    """Genotype reader for a task running on a worker, cached per process (reopened when a
    file's size or mtime changes). The files must be readable under the client's paths (a
    shared filesystem); a worker that sees other variant or sample counts than the client
    raises :class:`GenotypeFormatError`."""
    from ..ld._readers import open_reference

    paths = [str(p) for p in paths]
    key = (tuple(paths), sample_file, "reference")
    sig = _file_signature(paths)
    with _READERS_LOCK:
        hit = _READERS.get(key)
        if hit is not None and hit[0] == sig:
            return hit[1]
        if hit is not None:
            close = getattr(hit[1], "close", None)
            if callable(close):
                close()
            del _READERS[key]
        r = open_reference(paths if len(paths) > 1 else paths[0], sample_file=sample_file)
        if len(r.variants) != n_variants or len(r.samples) != n_samples:
            close = getattr(r, "close", None)
            if callable(close):
                close()
            raise GenotypeFormatError(
                f"{paths[0]}: this worker sees {len(r.variants)} variants and {len(r.samples)} "
                f"samples, the client {n_variants} and {n_samples} (genotype files must be the "
                f"same on every worker)")
        _READERS[key] = (sig, r)
        return r


def reader_files(reader, what: str) -> list[str]:
    """Absolute paths of a reader's genotype files (for tasks that reopen them on workers)."""
    paths = getattr(reader, "paths", None)
    if not paths and getattr(reader, "prefix", None) is not None:
        paths = [str(reader.prefix) + ".bed"]
    if not paths:
        from ..errors import InputError

        raise InputError(f"{what}: --scheduler/--workers need genotype files (this reader has "
                         f"none to reopen on the workers)")
    return [os.path.abspath(str(p)) for p in paths]


class capture_logs:
    """Collect the records gwaskit logs inside a task (on a worker they would end in the
    worker's log): ``with capture_logs() as records: ...``; the client replays them with
    :func:`replay_logs`. Records are reduced to picklable form (message formatted)."""

    def __enter__(self) -> list:
        import logging

        self.records: list = []
        records = self.records

        class _Keep(logging.Handler):
            def emit(self, record):
                records.append(record)

        self._handler = _Keep(level=logging.DEBUG)
        self._saved = (logger.level, logger.propagate)
        logger.setLevel(logging.INFO)  # the client filters again on replay
        logger.propagate = False
        logger.addHandler(self._handler)
        return self.records

    def __exit__(self, *exc) -> None:
        logger.removeHandler(self._handler)
        logger.setLevel(self._saved[0])
        logger.propagate = self._saved[1]
        for r in self.records:
            r.msg, r.args, r.exc_info, r.exc_text, r.stack_info = r.getMessage(), None, None, None, None


def replay_logs(records) -> None:
    """Emit records captured by :class:`capture_logs` through the client's logger."""
    for r in records:
        if logger.isEnabledFor(r.levelno):
            logger.handle(r)

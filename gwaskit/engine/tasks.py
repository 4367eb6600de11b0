"""The per-chunk task: decode a variant range and apply the fitted null model.

A task needs only a :class:`ScanJob` (the fitted :class:`~gwaskit.stats.multitrait.MultiTraitScan`
plus where the genotypes are) and a :class:`~gwaskit.engine.plan.Chunk`. On a Dask worker the
job is scattered once (broadcast) and each task opens the genotype files itself, so the files
must be visible under the same paths on every worker (a shared filesystem). Readers are cached
per process.

**Bit-identical results.** The statistics of a chunk depend on its boundaries (the GEMM shape)
and on the number of BLAS threads. The plan is the same in every mode, and every task runs its
BLAS single-threaded (threadpoolctl), so in-process, LocalCluster and remote runs produce the
same bits on the same machine. numba kernels reduce per column (thread count does not matter).
"""
from __future__ import annotations

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
# at once: a worker with several threads runs the statistics of one chunk at a time
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


def decode_chunk(job: ScanJob, chunk: Chunk, reader=None) -> tuple[pd.DataFrame, np.ndarray, list]:
    """Dosages of ``chunk`` for the analysis samples: ``(variant_table, N x m, skipped)``.

    A corrupt variant raises :class:`GenotypeFormatError` (naming file and variant) unless
    ``job.skip_bad_variants``: then the chunk is re-decoded variant by variant and each
    unreadable variant becomes a NaN column, listed in ``skipped``.
    """
    reader = reader if reader is not None else _reader_for(job)
    idx = np.arange(chunk.start, chunk.stop, dtype=np.int64)
    dt = _np_dtype(job)
    try:
        (vt, dos), = reader.iter_dosages(chunk_size=max(chunk.size, 1), samples=job.sample_index,
                                         variants=idx, dtype=dt)
        return vt, dos, []
    except GenotypeFormatError:
        if not job.skip_bad_variants:
            raise
    vt = reader.variants.iloc[idx]
    dos = np.empty((len(job.sample_index), chunk.size), dtype=dt, order="F")
    skipped = []
    for k, i in enumerate(idx.tolist()):
        try:
            (_, one), = reader.iter_dosages(chunk_size=1, samples=job.sample_index, variants=[i],
                                            dtype=dt)
            dos[:, k] = one[:, 0]
        except GenotypeFormatError as e:
            dos[:, k] = np.nan
            path = reader.paths[chunk.file] if hasattr(reader, "paths") else job.paths[0]
            skipped.append({"index": i, "variant_id": str(vt["variant_id"].iat[k]),
                            "file": str(path), "error": str(e)})
            logger.warning("skipped unreadable variant %s (index %d): %s",
                           vt["variant_id"].iat[k], i, e)
    return vt, dos, skipped


def compute_chunk(job: ScanJob, vt: pd.DataFrame, dos: np.ndarray) -> pd.DataFrame:
    """Apply the fitted model to one decoded chunk; one row per variant (the output columns)."""
    from ..stats.multitrait import OUTPUT_COLUMNS

    model = job.model
    with _COMPUTE_LOCK:
        res = model.test(dos)
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
    """Decode ``chunk`` and test it (the Dask task). BLAS is pinned to one thread."""
    t0 = time.time()
    if pin_blas:
        _pin_blas_single_thread()
    delay = float(os.environ.get("_GWASKIT_TEST_CHUNK_DELAY", "0") or 0)  # tests only
    if delay > 0:
        time.sleep(delay)
    vt, dos, skipped = decode_chunk(job, chunk, reader)
    df = _mark_bad(compute_chunk(job, vt, dos), chunk, skipped)
    return ChunkResult(chunk, df, skipped, time.time() - t0)

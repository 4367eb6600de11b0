"""Polygenic scores as tasks: one task per panel chunk, on threads or Dask workers.

The chunks' partial scores are added in chunk order on the client
(:func:`gwaskit.loci.prs.combine_partial_scores`), so the scores are bit-identical whatever the
execution (threads, LocalCluster, remote scheduler) on one machine.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field

import numpy as np

from ..engine.execute import Execution, run_tasks
from ..engine.workers import capture_logs, pin_blas_single_thread, replay_logs
from ..loci.prs import combine_partial_scores, panel_chunks, partial_score
from ._workers import reader_files, worker_reader

__all__ = ["PrsConfig", "PrsResult", "run_prs"]


@dataclass(frozen=True)
class PrsConfig:
    """Options of a score. ``chunk_size``: panel variants per task (memory N x chunk_size);
    it does not change the score's bits beyond the order of the float64 additions, which is
    fixed by the chunk plan."""

    chunk_size: int = 2000

    def fingerprint(self) -> str:
        blob = json.dumps({"kind": "prs", **asdict(self)}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()


@dataclass
class PrsResult:
    """``table``: FID, IID, score, n_variants [, score_resid]; ``used``: the aligned panel rows
    that entered the score; ``metadata``: counts and the execution."""

    table: "object"
    used: "object"
    metadata: dict = field(default_factory=dict)


@dataclass
class _PrsJob:
    """What every chunk task shares (scattered once to each Dask worker)."""

    paths: list
    sample_file: str | None
    samples: object
    panel: object
    n_variants: int
    n_samples: int
    vcf_dosage: str = "auto"
    selected: object = None  # SelectionResult of a SelectedGenotypes reader (reopened alike)


def _prs_chunk_task(job: _PrsJob, span: tuple[int, int]):
    """One panel chunk on a Dask worker: ``(partial score or None, captured log records)``."""
    pin_blas_single_thread()
    reader = worker_reader(job.paths, job.sample_file, job.n_variants, job.n_samples,
                           vcf_dosage=job.vcf_dosage, selected=job.selected)
    with capture_logs() as records:
        part = partial_score(reader, job.panel.iloc[span[0]:span[1]], job.samples)
    return part, records


class _InProcessTask:
    def __init__(self, reader):
        self.reader = reader

    def __call__(self, job: _PrsJob, span: tuple[int, int]):
        with capture_logs() as records:  # replayed in chunk order, whatever the thread count
            part = partial_score(self.reader, job.panel.iloc[span[0]:span[1]], job.samples)
        return part, records


def run_prs(reader, panel, config: PrsConfig | None = None, *, samples=None,
            execution: Execution | None = None, sample_file: str | None = None,
            covariates: np.ndarray | None = None, fit_rows=None) -> PrsResult:
    """Weighted allele-count score per sample (``plink2 --score ... cols=+scoresums``
    ``SCORE1_SUM``; see :mod:`gwaskit.loci.prs`).

    Parameters
    ----------
    reader : genotype reader (``open_genotypes`` API); on Dask its files are reopened by the
        workers under the same paths (a shared filesystem)
    panel : panel table (:func:`gwaskit.loci.panel.read_panel`)
    config : :class:`PrsConfig`
    samples : samples to score (bool mask / index; default all)
    execution : threads, a Dask scheduler or a LocalCluster; does not change the scores
    sample_file : the ``.sample`` file the reader was opened with (reopened on the workers)
    covariates, fit_rows : regress the score on covariates (adds ``score_resid``)
    """
    config = config or PrsConfig()
    execution = execution or Execution()
    p, spans = panel_chunks(panel, config.chunk_size)
    distributed = execution.distributed
    job = _PrsJob(paths=reader_files(reader, "prs") if distributed else [],
                  sample_file=os.path.abspath(sample_file) if sample_file else None,
                  samples=samples, panel=p, n_variants=len(reader.variants),
                  n_samples=len(reader.samples), vcf_dosage=getattr(reader, "vcf_dosage", "auto"),
                  selected=getattr(reader, "selection", None))
    results: dict = {}
    nxt = 0

    def on_result(k: int, res) -> None:
        nonlocal nxt
        results[k] = res
        while nxt in results:  # replay the tasks' log lines in chunk order
            replay_logs(results[nxt][1])
            nxt += 1

    task = _prs_chunk_task if distributed else _InProcessTask(reader)
    run_tasks(task, job, spans, on_result, execution, label="panel-chunk")
    if nxt != len(spans):
        raise RuntimeError(f"prs: {len(spans) - nxt} chunk result(s) missing")
    table, used = combine_partial_scores(reader, panel, samples,
                                         [results[k][0] for k in range(len(spans))],
                                         covariates, fit_rows)
    return PrsResult(table, used, {"execution": execution.describe(), "n_chunks": len(spans),
                                   "n_variants_used": len(used), "config": asdict(config)})

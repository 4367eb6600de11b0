"""LD clumping as tasks: one task per chromosome holding index candidates, on threads or Dask
workers, merged into the same result as a one-pass run (see :mod:`gwaskit.ld.clump`)."""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass

from ..engine.execute import Execution, run_tasks
from ..engine.workers import capture_logs, pin_blas_single_thread, replay_logs
from ..ld.clump import PRESETS, ClumpResult, check_params, clump, clump_part
from ._workers import worker_reader

__all__ = ["ClumpConfig", "run_clump", "PRESETS"]


@dataclass(frozen=True)
class ClumpConfig:
    """PLINK 1.9 ``--clump`` options (defaults PLINK's; :data:`PRESETS` has ``plink`` and
    ``seed``) and gwaskit's additions. See :func:`gwaskit.ld.clump.clump`."""

    p1: float = 1e-4
    p2: float = 0.01
    r2: float = 0.5
    kb: float = 250.0
    allow_overlap: bool = False
    method: str = "haplotype"
    hard_call_threshold: float = 0.1
    missing_as_singletons: bool = False
    cache_mb: float = 512.0

    def __post_init__(self) -> None:
        check_params(self.p1, self.p2, self.r2, self.kb, self.method)

    @classmethod
    def preset(cls, name: str, **overrides) -> "ClumpConfig":
        """``plink`` (PLINK's defaults) or ``seed`` (the method's own: r2 0.05, 5 Mb, p1 5e-8)."""
        return cls(**{**PRESETS[name], **overrides})

    def fingerprint(self) -> str:
        opts = asdict(self)
        opts.pop("cache_mb")  # memory, not results
        blob = json.dumps({"kind": "clump", **opts}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()


def _worker_task(job, part):
    """One chromosome on a Dask worker: the worker reopens the LD reference itself."""
    pin_blas_single_thread()
    reader = worker_reader(job.paths, job.sample_file, job.n_variants, job.n_samples,
                           vcf_dosage=job.vcf_dosage, selected=job.selected)
    with capture_logs() as records:
        res = clump_part(job, part, reader)
    return res, records


class _InProcessTask:
    def __init__(self, reader):
        self.reader = reader

    def __call__(self, job, part):
        with capture_logs() as records:
            res = clump_part(job, part, self.reader)
        return res, records


def run_clump(reports, reader, config: ClumpConfig | None = None, *, samples=None,
              execution: Execution | None = None, sample_file: str | None = None) -> ClumpResult:
    """Clump association results against an LD reference (PLINK 1.9 ``--clump`` semantics).

    Parameters
    ----------
    reports : one or several tables with ``variant_id`` and ``p_value``
    reader : LD reference reader (``open_genotypes`` API); on Dask its files are reopened by
        the workers under the same paths (a shared filesystem)
    config : :class:`ClumpConfig`
    samples : reference samples to use (bool mask or index)
    execution : one task per chromosome on threads (default: all CPUs) or Dask; the result
        is identical in every mode
    sample_file : the ``.sample`` file the reader was opened with (reopened on the workers)
    """
    config = config or ClumpConfig()
    execution = execution or Execution()
    if execution.distributed and not getattr(reader, "paths", None):
        from ..errors import InputError

        raise InputError("clump: Dask execution needs genotype files (this reader has none "
                         "to reopen on the workers)")
    task = _worker_task if execution.distributed else _InProcessTask(reader)

    def run_parts(job, parts):
        done: dict = {}
        nxt = 0

        def on_result(k, res):
            nonlocal nxt
            done[k] = res
            while nxt in done:  # the tasks' log lines in chromosome order
                replay_logs(done[nxt][1])
                nxt += 1

        run_tasks(task, job, parts, on_result, execution, label="chromosome", scatter_items=True)
        return [done[k][0] for k in range(len(parts))]

    opts = asdict(config)
    return clump(reports, reader, samples=samples, sample_file=sample_file, run_parts=run_parts,
                 **opts)

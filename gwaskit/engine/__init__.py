"""Execution engine of the file-level scan: chunk plans, checkpoints, local and Dask runs.

* :mod:`~gwaskit.engine.plan`: the chunk plan (file, variant range), computed on the client
  from the reader's variant table; identical in every execution mode.
* :mod:`~gwaskit.engine.tasks`: the per-chunk task (open the genotype files, decode the range,
  apply the fitted null model with single-threaded BLAS).
* :mod:`~gwaskit.engine.checkpoint`: the ``<out>.parts/`` work directory (one parquet part per
  finished chunk, a JSON manifest with input fingerprints, options and plan) and resume.
* :mod:`~gwaskit.engine.execute`: in-process (threads) and Dask execution; ``run_tasks`` (any
  task function, one object broadcast to every worker, a callback per finished task) also runs
  ``clump`` (a task per chromosome) and ``prs`` (a task per panel chunk) on Dask.

Nothing here imports dask at module import time; ``pip install gwaskit[dist]`` provides it.
"""

from ..errors import InputError


def check_execution_flags(scheduler: str | None, workers: int | None) -> None:
    """Validate ``--scheduler`` / ``--workers`` before any work (shared by scan, clump, prs)."""
    if scheduler and workers:
        raise InputError("--scheduler and --workers are mutually exclusive")
    if workers is not None and workers < 1:
        raise InputError(f"--workers: must be >= 1, got {workers}")

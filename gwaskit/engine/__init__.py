"""Execution engine: chunk plans, executors and checkpoints. Generic: it never imports the
domain modules (io, stats, ld, loci); the pipelines (:mod:`gwaskit.pipelines`) join the two.

* :mod:`~gwaskit.engine.plan`: the chunk plan (file, variant range); identical in every mode.
* :mod:`~gwaskit.engine.execute`: :class:`~gwaskit.engine.execute.Execution` (threads, a Dask
  scheduler, or an authenticated LocalCluster) and ``run_tasks`` (any task function, one
  object broadcast to every worker, a callback per finished task).
* :mod:`~gwaskit.engine.workers`: single-threaded BLAS, per-process caches, log capture.
* :mod:`~gwaskit.engine.checkpoint`: the ``<out>.parts/`` work directory (one parquet part
  per finished chunk, a manifest with the configuration fingerprint, input hashes, package
  versions and the plan) and resume.

Nothing here imports dask at module import time; ``pip install 'gwaskit[dist]'`` provides it.
"""


"""gwaskit: multi-trait GWAS of learned phenotypes.

The public entry points are re-exported here lazily, so that ``import gwaskit`` stays cheap
(no numba compilation, no torch, no dask) until a function is actually used.
"""
from __future__ import annotations

from importlib import import_module

_LAZY = {
    "open_genotypes": "gwaskit.io.genotypes",
    "read_table": "gwaskit.io.tables",
    "MultiTraitScan": "gwaskit.stats.multitrait",
    "ScanInputs": "gwaskit.pipelines.scan",
    "ScanConfig": "gwaskit.pipelines.scan",
    "ScanResult": "gwaskit.pipelines.scan",
    "Checkpoint": "gwaskit.pipelines.scan",
    "run_scan": "gwaskit.pipelines.scan",
    "scan": "gwaskit.pipelines.scan",
    "Execution": "gwaskit.engine.execute",
    "InputError": "gwaskit.errors",
}

__all__ = sorted(_LAZY) + ["__version__"]

#: Single source of the version (pyproject.toml reads it: ``[tool.setuptools.dynamic]``).
__version__ = "0.1.0"


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'gwaskit' has no attribute {name!r}")

"""The array-level multi-trait scan, re-exported under its historical name.

:class:`~gwaskit.stats.multitrait.MultiTraitScan` tests genotype blocks against a fitted null
model; the file-level scan (files -> chunks -> executor -> table) is
:func:`gwaskit.pipelines.scan.run_scan`.
"""
from __future__ import annotations

from .multitrait import OUTPUT_COLUMNS, PVALUE_LAWS, TESTS, MultiTraitScan
from .pvalues import lambda_gc

__all__ = ["MultiTraitScan", "lambda_gc", "TESTS", "PVALUE_LAWS", "OUTPUT_COLUMNS"]

"""Genotype, table and summary-statistics input/output."""
from __future__ import annotations


def _column_stats_source() -> str:
    """C text of the per-column dosage statistics (``_column_stats.h``), prepended to the C
    sources of the BGEN decoder and of the scan kernels so that both compute the same bits."""
    from .._native import read_source

    return read_source(__file__, "_column_stats.h")

"""Figures: Manhattan and QQ plots (matplotlib, imported lazily, Agg canvas, no pyplot)."""
from .manhattan import chromosome_sort_key, genome_positions, manhattan, neg_log10_p, read_results, thin_points
from .qq import lambda_gc, qq

__all__ = ["manhattan", "qq", "lambda_gc", "thin_points", "read_results", "neg_log10_p",
           "chromosome_sort_key", "genome_positions"]

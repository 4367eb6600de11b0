"""Per-variant quality summaries computed from dosage column statistics."""
from __future__ import annotations

import numpy as np

__all__ = ["mach_r2"]


def mach_r2(n_called: np.ndarray, mean: np.ndarray, ssd: np.ndarray) -> np.ndarray:
    """MaCH R² (the imputation quality reported as ``info``) of dosage columns.

    ``var / (2 p (1 - p))`` with ``var = ssd / n_called`` the population variance of the
    non-missing dosages and ``p = mean / 2`` (Li, Willer, Ding, Scheet & Abecasis 2010, Genet
    Epidemiol 34:816-834; plink2 ``--freq cols=+machr2``, column ``MACH_R2``). Valid for diploid
    dosages; it can exceed 1 (dosages more spread than Hardy-Weinberg predicts).

    Parameters
    ----------
    n_called, mean, ssd
        Per column: the number of non-missing calls, their mean dosage and their sum of
        squared deviations from that mean.

    Returns
    -------
    ndarray of float64
        NaN where ``p`` is 0 or 1 (monomorphic; plink2 prints ``nan``) or nothing is called.
    """
    n_called = np.asarray(n_called, dtype=np.float64)
    p = np.asarray(mean, dtype=np.float64) / 2.0
    with np.errstate(invalid="ignore", divide="ignore"):
        out = (np.asarray(ssd, dtype=np.float64) / n_called) / (2.0 * p * (1.0 - p))
    out[~((p > 0) & (p < 1) & (n_called > 0))] = np.nan
    return out

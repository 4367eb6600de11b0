"""Two-locus LD (r²) between variants.

Two methods:

``'haplotype'`` (default; PLINK 1.9 ``--clump``/``--r2``)
    Dosages are turned into hard calls (nearest integer; a dosage further than
    ``hard_call_threshold`` from it is missing, as plink2 does when it writes a .bed from
    dosages — exact 0/1/2 from a .bed are unaffected). Over samples complete at both variants,
    the 3 × 3 genotype table gives two-locus haplotype frequencies by maximum likelihood (the
    double-heterozygote split is the best real root of a cubic; Hill 1974, as implemented in
    PLINK 1.9 ``em_phase_hethet``), ``D = f11 − pA pB`` and ``r² = sign(D) D² / (pA pa pB pb)``
    (0 when |D| < 2^-44). Valid for unphased diploid autosomal data.
``'dosage'``
    Squared Pearson correlation of dosages over pairwise-complete samples (plink2
    ``--clump-unphased``; ``cov² / (var₀ var₁)``). Equal to the haplotype r² only under
    Hardy–Weinberg-like conditions; it is usually a little smaller for tight LD and differs
    most for rare variants. Observed on the 1,000-diploid msprime test set (6,928 SNPs) at
    PLINK defaults: 54 clumps either way, 53 shared index variants, 248 (haplotype) vs 237
    (dosage) member entries with 235 shared; at the seed preset (r² 0.05, 5 Mb) the dosage
    r² admits more members (201 vs 177), because weak-LD Pearson r² is not systematically
    below the haplotype r².

Both return a *signed* r² (the sign is that of D / the correlation); thresholds apply to |r²|.
NaN means undefined (a variant monomorphic over the complete samples).
"""
from __future__ import annotations

import numpy as np

from ..errors import InputError


class _LazyKernels:
    """``gwaskit.ld._r2_numba_fns``, imported (with numba) on first attribute access."""

    def __getattr__(self, name):
        from . import _r2_numba_fns

        return getattr(_r2_numba_fns, name)


_k = _LazyKernels()

METHODS = ("haplotype", "dosage")


def hard_calls(dosages: np.ndarray, threshold: float = 0.1) -> np.ndarray:
    """PLINK hard-call categories (int8, n × m): 0 = two copies of the counted allele, 1 = het,
    2 = none, -1 = missing (NaN, or further than ``threshold`` from the nearest integer)."""
    D = np.asarray(dosages)
    if D.ndim == 1:
        D = D[:, None]
    out = np.empty(D.shape, dtype=np.int8, order="F")
    _k.hard_calls(D, float(threshold), out)
    return out


def pack_code_rows(H: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Hard-call categories ``H`` (n × k int8, -1 missing) as 2-bit code rows in the .bed layout
    (k, ceil(n/4)) uint8 and their category counts (k, 3): the input of ``hap_r2_rows``."""
    H = np.asfortranarray(H, dtype=np.int8)
    n, k = H.shape
    rows = np.empty((k, max(1, (n + 3) // 4)), dtype=np.uint8)
    counts = np.empty((k, 3), dtype=np.int64)
    _k.pack_hard_calls(H, rows, counts)
    return rows, counts


def r2_vs_index(index: np.ndarray, block: np.ndarray, method: str = "haplotype") -> np.ndarray:
    """Signed r² of one variant against each column of ``block``.

    For ``'haplotype'`` pass hard-call categories (from :func:`hard_calls`); for ``'dosage'``
    pass float dosages (NaN missing).
    """
    block = np.asarray(block)
    if block.ndim == 1:
        block = block[:, None]
    out = np.empty(block.shape[1], dtype=np.float64)
    if method == "haplotype":
        H = np.column_stack([np.asarray(index, dtype=np.int8), block.astype(np.int8)])
        rows, counts = pack_code_rows(H)
        _k.hap_r2_rows(rows, counts, H.shape[0], 0, np.arange(1, H.shape[1], dtype=np.int64), out)
    elif method == "dosage":
        _k.pearson_r2_index_vs_block(
            np.ascontiguousarray(index, dtype=np.float64), block.astype(np.float64, copy=False), out
        )
    else:
        raise InputError(f"method: {method!r}, use one of {', '.join(METHODS)}")
    return out


def r2(a: np.ndarray, b: np.ndarray, method: str = "haplotype", hard_call_threshold: float = 0.1) -> float:
    """Signed r² between two dosage vectors (hard-called first for ``'haplotype'``)."""
    if method == "haplotype":
        ga = hard_calls(np.asarray(a, dtype=np.float64), hard_call_threshold)[:, 0]
        gb = hard_calls(np.asarray(b, dtype=np.float64), hard_call_threshold)
        return float(r2_vs_index(ga, gb, method)[0])
    return float(r2_vs_index(np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)[:, None], method)[0])


def r2_matrix(dosages: np.ndarray, method: str = "haplotype", hard_call_threshold: float = 0.1) -> np.ndarray:
    """Signed r² between all pairs of columns (small blocks only: O(m² n))."""
    D = np.asarray(dosages, dtype=np.float64)
    X = hard_calls(D, hard_call_threshold) if method == "haplotype" else D
    m = D.shape[1]
    R = np.empty((m, m))
    for j in range(m):
        R[j] = r2_vs_index(X[:, j], X, method)
    return R

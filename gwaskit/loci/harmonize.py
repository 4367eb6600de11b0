"""Vectorised allele harmonisation of two allele pairs (study vs reference).

Codes returned by :func:`orient`:
``1`` same alleles, ``-1`` swapped (negate beta, 1 − EAF), ``2`` same after strand complement,
``-2`` swapped after complement, ``0`` incompatible. Palindromic (A/T, C/G) pairs are reported
separately: their strand cannot be told from alleles and is resolved from the effect-allele
frequency by :func:`resolve_palindromes` (TwoSampleMR ``action = 2``: ambiguous when the EAF lies
in the closed band [0.42, 0.58] by default).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

_COMP = str.maketrans("ACGT", "TGCA")


def _up(x) -> np.ndarray:
    return pd.Series(x, dtype=object).astype(str).str.upper().to_numpy()


def _comp(x: np.ndarray) -> np.ndarray:
    return np.array([s.translate(_COMP) for s in x], dtype=object)


def palindromic(a1, a2) -> np.ndarray:
    a1, a2 = _up(a1), _up(a2)
    single = (pd.Series(a1).str.len() == 1).to_numpy() & (pd.Series(a2).str.len() == 1).to_numpy()
    return single & (_comp(a1) == a2)


def orient(a1, a2, r1, r2) -> np.ndarray:
    """Orientation code of study alleles (a1 effect, a2 other) relative to reference (r1, r2)."""
    a1, a2, r1, r2 = _up(a1), _up(a2), _up(r1), _up(r2)
    c1, c2 = _comp(a1), _comp(a2)
    code = np.zeros(len(a1), dtype=np.int8)
    code[(c1 == r1) & (c2 == r2)] = 2
    code[(c1 == r2) & (c2 == r1)] = -2
    code[(a1 == r2) & (a2 == r1)] = -1
    code[(a1 == r1) & (a2 == r2)] = 1
    return code


def resolve_palindromes(code, is_pal, eaf, ref_eaf, band=(0.42, 0.58), keep_as_written=False):
    """Strand for palindromic variants from frequencies.

    At face value a palindromic pair is ``1`` (same) or ``-1`` (swapped). If the study EAF and
    the reference frequency of the study's effect allele (taken at face value) fall on opposite
    sides of 0.5, the strand differs and the orientation flips (``1 ↔ -2``, ``-1 ↔ 2``). A study
    EAF inside ``band`` or a missing frequency makes the variant ambiguous: code 0, unless
    ``keep_as_written`` and the alleles agree as written (code ``1``: same effect and other
    allele), which are then taken on the same strand (METAL's rule); an ambiguous pair listed
    swapped (A/T vs T/A) could be a swap or a strand flip and is still code 0.

    Returns (new_code, n_ambiguous): ``n_ambiguous`` counts the variants set to 0 here.
    """
    code = np.asarray(code).copy()
    is_pal = np.asarray(is_pal, dtype=bool)
    eaf = np.asarray(eaf, dtype=float)
    ref_eaf = np.asarray(ref_eaf, dtype=float)
    lo, hi = band
    face_ref = np.where(code == -1, 1.0 - ref_eaf, ref_eaf)
    amb = is_pal & (code != 0) & (~np.isfinite(eaf) | ~np.isfinite(ref_eaf) | ((eaf >= lo) & (eaf <= hi)))
    flip = is_pal & (code != 0) & ~amb & ((eaf - 0.5) * (face_ref - 0.5) < 0)
    code[flip & (code == 1)] = -2
    code[flip & (code == -1)] = 2
    if keep_as_written:
        amb &= code != 1
    code[amb] = 0
    return code, int(amb.sum())

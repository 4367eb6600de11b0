"""Genotype-reader helpers for the LD / loci modules.

``open_reference`` opens genotypes through ``gwaskit.io.genotypes.open_genotypes`` (the one
reader). ``ArrayGenotypes`` wraps in-memory arrays in the same reader API (tests, simulations).

Reader API used here: ``.samples``, ``.sample_table`` (FID, IID), ``.variants`` (RangeIndex =
global variant index; chromosome, base_pair_location, variant_id, effect_allele,
other_allele), ``.iter_dosages(chunk_size, samples, variants, dtype)`` and
``.read_dosages(samples, variants, dtype)``; dosages are (n_samples × m), NaN = missing, and
count ``effect_allele``.
"""
from __future__ import annotations

import glob
from typing import TYPE_CHECKING, Iterator

import numpy as np

from ..errors import InputError

if TYPE_CHECKING:
    import pandas as pd


def _sel_index(sel, n: int) -> np.ndarray | None:
    if sel is None:
        return None
    sel = np.asarray(sel)
    if sel.dtype == bool:
        return np.flatnonzero(sel)
    return sel.astype(np.int64)


class ArrayGenotypes:
    """In-memory genotype reader with the ``open_genotypes`` API (dosages N × M)."""

    def __init__(self, dosages: np.ndarray, variants: pd.DataFrame, samples=None, fids=None):
        import pandas as pd

        self._G = np.asarray(dosages)
        n, m = self._G.shape
        if len(variants) != m:
            raise ValueError("variants table does not match dosage columns")
        self.variants = variants.reset_index(drop=True)
        self.samples = np.asarray(samples if samples is not None else [f"s{i}" for i in range(n)], dtype=object)
        fid = np.asarray(fids if fids is not None else self.samples, dtype=object)
        self.sample_table = pd.DataFrame({"FID": fid, "IID": self.samples})

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def close(self) -> None:
        pass

    def read_dosages(self, samples=None, variants=None, dtype=np.float32):
        si = _sel_index(samples, self._G.shape[0])
        vi = _sel_index(variants, self._G.shape[1])
        G = self._G
        if si is not None:
            G = G[si]
        if vi is not None:
            G = G[:, vi]
            table = self.variants.iloc[vi]
        else:
            table = self.variants
        return table, np.asfortranarray(G, dtype=dtype)

    def iter_dosages(self, chunk_size=1000, samples=None, variants=None, dtype=np.float32) -> Iterator:
        vi = _sel_index(variants, self._G.shape[1])
        if vi is None:
            vi = np.arange(self._G.shape[1])
        for s in range(0, len(vi), chunk_size):
            yield self.read_dosages(samples, vi[s : s + chunk_size], dtype)


def open_reference(paths, sample_file: str | None = None):
    """Open genotypes (BGEN files/globs or a .bed prefix) with :func:`gwaskit.io.genotypes.open_genotypes`."""
    from ..io.genotypes import open_genotypes

    return open_genotypes(paths, sample_file=sample_file)


def open_from_flags(bgen: str | None, bed: str | None, sample_file: str | None = None, what: str = "genotypes"):
    """Open ``--bgen``/``--bed`` CLI inputs (exactly one must be given)."""
    if (bgen is None) == (bed is None):
        raise InputError(f"{what}: give exactly one of --bgen or --bed")
    if bgen is not None:
        paths = sorted(glob.glob(bgen)) if any(ch in bgen for ch in "*?[") else [bgen]
        if not paths:
            raise InputError(f"--bgen {bgen}: no file matches")
        return open_reference(paths if len(paths) > 1 else paths[0], sample_file=sample_file)
    return open_reference(bed, sample_file=sample_file)

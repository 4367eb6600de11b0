"""PLINK 1 ``.bed/.bim/.fam`` backend (via ``bed_reader.open_bed``).

**Dosage convention.** The dosage counts the ``.bim`` column-5 allele (``allele_1``, bed-reader's
``count_A1=True``; PLINK's A1), reported as ``effect_allele``; column 6 is ``other_allele``.
Missing calls are NaN. Hard calls only (0, 1, 2).
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from gwaskit.errors import GenotypeFormatError, InputError

__all__ = ["BedFile", "bed_prefix"]


def bed_prefix(path: str | os.PathLike) -> Path | None:
    """The ``.bed`` path for ``foo.bed`` or a prefix ``foo`` with ``foo.bed`` present, else None."""
    p = Path(path)
    if p.suffix == ".bed":
        return p
    cand = Path(str(p) + ".bed")
    return cand if cand.exists() else None


def _chrom_label(c: str) -> str:
    s = c[3:] if c[:3].lower() == "chr" else c
    if s.isdigit():
        return str(int(s))
    return s.upper() if s.lower() in ("x", "y", "xy", "mt", "m") else s


class BedFile:
    """One PLINK 1 fileset, with the same reading interface as :class:`~gwaskit.io.bgen.BgenFile`."""

    def __init__(self, path, *, num_threads: int | None = None):
        import bed_reader
        import pandas as pd

        self.path = Path(path)
        prefix = self.path.with_suffix("")
        for ext in (".bed", ".bim", ".fam"):
            if not prefix.with_suffix(ext).exists():
                raise InputError(f"{prefix.with_suffix(ext)}: file not found (PLINK 1 fileset)")
        self._num_threads = num_threads
        try:
            # the .bim through pandas' C parser (4x faster than bed-reader's own for large
            # files); bed-reader then reads only the .fam and the genotypes
            bim = pd.read_csv(prefix.with_suffix(".bim"), sep=r"\s+", header=None,
                              usecols=[0, 1, 3, 4, 5], dtype=str, keep_default_na=False,
                              na_filter=False, engine="c")
            if bim.shape[1] != 5:
                raise ValueError(f"{prefix.with_suffix('.bim')}: expected 6 columns")
            props = {"chromosome": bim[0].to_numpy(), "sid": bim[1].to_numpy(),
                     "bp_position": bim[3].to_numpy().astype(np.int32),
                     "allele_1": bim[4].to_numpy(), "allele_2": bim[5].to_numpy()}
            self._bed = bed_reader.open_bed(self.path, count_A1=True, num_threads=num_threads,
                                            sid_count=len(bim), properties=props)
            fid = np.asarray(self._bed.fid, dtype=object)
            iid = np.asarray(self._bed.iid, dtype=object)
            sex = np.asarray(self._bed.sex)
            chrom = np.asarray(self._bed.chromosome, dtype=object)
            sid = np.asarray(self._bed.sid, dtype=object)
            pos = np.asarray(self._bed.bp_position, dtype=np.int64)
            a1 = np.asarray(self._bed.allele_1, dtype=object)
            a2 = np.asarray(self._bed.allele_2, dtype=object)
            # touch the .bed header so a bad file fails here, not in the first read
            self._bed.read(index=np.s_[:1, :1]) if len(iid) and len(sid) else None
        except (ValueError, OSError, RuntimeError) as e:
            raise GenotypeFormatError(f"{self.path}: cannot read PLINK 1 fileset: {e}") from None
        self.n_samples = len(iid)
        self.sample_table = pd.DataFrame(
            {
                "FID": fid,
                "IID": iid,
                "sex": pd.array([int(s) if s in (1, 2) else None for s in sex], dtype="Int8"),
            }
        )
        dup = self.sample_table["IID"][self.sample_table["IID"].duplicated()]
        if len(dup):
            raise InputError(
                f"{prefix.with_suffix('.fam')}: {len(dup)} duplicate sample ID(s), "
                f"e.g. {dup.iloc[0]!r}"
            )
        self.samples = iid.astype(str)
        ulab = {c: _chrom_label(str(c)) for c in pd.unique(chrom)}
        chrom = np.array([ulab[c] for c in chrom], dtype=object)
        vid = sid.copy()
        for i in np.flatnonzero((sid == "") | (sid == ".")):
            vid[i] = f"{chrom[i]}:{pos[i]}:{a1[i]}:{a2[i]}"
        self.variants = pd.DataFrame(
            {
                "chromosome": chrom,
                "base_pair_location": pos,
                "variant_id": vid,
                "effect_allele": a1,
                "other_allele": a2,
            }
        )
        self.n_multiallelic = 0

    @property
    def n_variants(self) -> int:
        return len(self.variants)

    def read_into(self, out, col0, local, samples, pool: ThreadPoolExecutor | None = None,
                  n_threads: int = 1, stats=None) -> None:
        """Write dosages of variants ``local`` into ``out[:, col0 : col0 + len(local)]``
        (``stats`` is accepted for the BGEN interface and never filled)."""
        k = len(local)
        if k == 0 or out.shape[0] == 0:
            return
        sidx = slice(None) if samples is None else np.asarray(samples, dtype=np.intp)
        try:
            arr = self._bed.read(
                index=np.s_[sidx, np.asarray(local, dtype=np.intp)],
                dtype=out.dtype,
                order="F",
                num_threads=n_threads,
            )
        except (ValueError, OSError, RuntimeError) as e:
            raise GenotypeFormatError(f"{self.path}: cannot read genotypes: {e}") from None
        out[:, col0 : col0 + k] = arr

    def close(self) -> None:
        if getattr(self, "_bed", None) is not None:
            self._bed.__exit__(None, None, None)
            self._bed = None

"""VCF/BCF backend (``.vcf``, ``.vcf.gz``, ``.bcf``; records decoded by ``cyvcf2``).

**Dosage convention.** The dosage counts the ALT allele, reported as ``effect_allele``
(``REF`` is ``other_allele``), as plink2 does for ``--vcf`` input (its A1 allele; plink2
2.00a3.5's ``--export A`` counts REF by default, i.e. ``2 - dosage``: see
``tests/io/test_vcf.py``). Per record, with ``vcf_dosage="auto"``: FORMAT ``DS`` when the
record has it, else ``GP`` (``2 * P(hom ALT) + P(het)``; haploid ``GP`` = ``P(ALT)``), else
``GT`` (number of ALT alleles); a sample whose value is missing in the field used takes the
next field's value (plink2's fallback from ``DS`` to the hard call). ``"DS"``, ``"GP"`` or
``"GT"`` force one field alone; a record without it is an
:class:`~gwaskit.errors.InputError` naming the file and the variant.
Missing values (``.``, ``./.``, and ``GT`` with any allele missing, e.g. ``./1``) are NaN.
Haploid calls (e.g. ``GT=1`` for males on chrX) give 0..1 copies, as in the BGEN backend
(plink2 itself reports haploid calls as 0/2). ``DS``/``GP`` are read as cyvcf2 decodes them
(float32).

Multi-allelic records (more than one ALT) are left out of :attr:`VcfFile.variants` and counted
in :attr:`VcfFile.n_multiallelic`. Missing IDs become ``chrom:pos:ref:alt``.

How it reads: opening makes one pass over the records to build the variant table. Reads then
continue a record cursor when the requested variants lie ahead of it (chunked reading is one
more pass); a request behind the cursor, or far ahead of it, uses a region query on the
``.tbi``/``.csi`` index when the file has one, else restarts the pass (plain or unindexed
files).
"""
from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

from gwaskit.errors import GenotypeFormatError, InputError
from gwaskit.io.bed import _chrom_label

__all__ = ["VcfFile", "VCF_DOSAGE_FIELDS", "is_vcf_path"]

#: Accepted values of ``vcf_dosage``.
VCF_DOSAGE_FIELDS = ("auto", "DS", "GP", "GT")

_VCF_SUFFIXES = (".vcf", ".vcf.gz", ".vcf.bgz", ".bcf")
# a region query pays off over streaming once this many records would be skipped
_JUMP_RECORDS = 2000


def is_vcf_path(path: str | os.PathLike) -> bool:
    """True for names ending in ``.vcf``, ``.vcf.gz``, ``.vcf.bgz`` or ``.bcf``."""
    s = os.fspath(path).lower()
    return s.endswith(_VCF_SUFFIXES)


def _index_of(path: Path) -> Path | None:
    for ext in (".tbi", ".csi"):
        cand = Path(str(path) + ext)
        if cand.exists():
            return cand
    return None


class VcfFile:
    """One VCF/BCF file, with the reading interface of :class:`~gwaskit.io.bgen.BgenFile`.

    Parameters
    ----------
    path
        ``.vcf``, ``.vcf.gz`` (bgzipped; optionally with ``.tbi``/``.csi``) or ``.bcf``.
    vcf_dosage
        ``"auto"``, ``"DS"``, ``"GP"`` or ``"GT"`` (see the module docstring).
    """

    def __init__(self, path, *, vcf_dosage: str = "auto"):
        if vcf_dosage not in VCF_DOSAGE_FIELDS:
            raise InputError(f"vcf_dosage: expected one of {', '.join(VCF_DOSAGE_FIELDS)}, "
                             f"not {vcf_dosage!r}")
        self.path = Path(path)
        if not self.path.exists():
            raise InputError(f"{self.path}: file not found")
        self.vcf_dosage = vcf_dosage
        self._lock = threading.Lock()  # one cursor per file; cyvcf2 objects are not shared
        self._index = _index_of(self.path)
        self._cursor = None  # (cyvcf2 iterator over records, ordinal of its next record)
        self._vcf = None
        self._open_vcf()
        samples = list(self._vcf.samples)
        self.n_samples = len(samples)
        self.sample_table = pd.DataFrame({"FID": np.full(self.n_samples, None, dtype=object),
                                          "IID": np.array(samples, dtype=object)})
        dup = self.sample_table["IID"][self.sample_table["IID"].duplicated()]
        if len(dup):
            raise InputError(f"{self.path}: {len(dup)} duplicate sample ID(s), "
                             f"e.g. {dup.iloc[0]!r}")
        self.samples = np.array(samples, dtype=str)
        self._build_table()

    def _open_vcf(self) -> None:
        from cyvcf2 import VCF

        # the previous handle is dropped, not closed: a record or iterator of it may still be
        # referenced (cyvcf2 crashes when a record outlives a closed file); the last
        # reference frees it
        self._cursor = None
        self._vcf = None
        try:
            # not lazy=True: cyvcf2 0.35 crashes reading FORMAT of lazily unpacked records
            self._vcf = VCF(os.fspath(self.path), lazy=False)
        except (OSError, IOError, RuntimeError, ValueError) as e:
            raise GenotypeFormatError(f"{self.path}: cannot read VCF/BCF: "
                                      f"{' '.join(str(e).split())}") from None
        if self._index is not None:
            try:
                self._vcf.set_index(os.fspath(self._index))
            except Exception:  # noqa: BLE001 - an unusable index: stream instead
                self._index = None

    def _build_table(self) -> None:
        chrom, pos, vid, ref, alt, keep, occ = [], [], [], [], [], [], []
        n_multi = 0
        last = (None, -1)
        k_same = 0
        try:
            for rec in self._vcf:
                c, p = rec.CHROM, rec.POS
                if (c, p) == last:
                    k_same += 1
                else:
                    last, k_same = (c, p), 0
                occ.append(k_same)
                chrom.append(c)
                pos.append(p)
                a = rec.ALT
                if len(a) > 1:
                    n_multi += 1
                    keep.append(False)
                    vid.append(None)
                    ref.append(None)
                    alt.append(None)
                    continue
                keep.append(True)
                vid.append(rec.ID)
                ref.append(rec.REF)
                alt.append(a[0] if a else ".")
        except Exception as e:  # noqa: BLE001 - htslib parse errors surface as several types
            raise GenotypeFormatError(f"{self.path}: cannot read VCF/BCF record "
                                      f"{len(chrom) + 1}: {' '.join(str(e).split())}") from None
        keep = np.array(keep, dtype=bool)
        self.n_multiallelic = n_multi
        self._contig = np.array(chrom, dtype=object)  # as written (for region queries)
        self._pos = np.array(pos, dtype=np.int64)
        self._occ = np.array(occ, dtype=np.int64)  # rank among records at the same position
        self._ordinal = np.flatnonzero(keep).astype(np.int64)  # variant -> record ordinal
        c = self._contig[keep]
        ulab = {x: _chrom_label(str(x)) for x in pd.unique(c)}
        c = np.array([ulab[x] for x in c], dtype=object)
        p = self._pos[keep]
        r = np.array(ref, dtype=object)[keep]
        a = np.array(alt, dtype=object)[keep]
        v = np.array(vid, dtype=object)[keep]
        for i in np.flatnonzero(pd.isna(v) | (v == ".") | (v == "")):
            v[i] = f"{c[i]}:{p[i]}:{r[i]}:{a[i]}"
        self.variants = pd.DataFrame({"chromosome": c, "base_pair_location": p,
                                      "variant_id": v, "effect_allele": a, "other_allele": r})
        self._cursor = None  # the table pass consumed the file iterator

    @property
    def n_variants(self) -> int:
        return len(self.variants)

    # -- reading --------------------------------------------------------------------------
    def _variant_name(self, j: int) -> str:
        return f"variant {self.variants['variant_id'].iat[j]!r} (index {j} in the file)"

    def _seek(self, target: int):
        """A record iterator positioned at record ordinal ``target``: the cursor when the
        target is a little ahead of it, else a region query (indexed files) or a new pass."""
        cur = self._cursor
        if cur is not None and cur[1] <= target and (
            self._index is None or target - cur[1] <= _JUMP_RECORDS
        ):
            it, nxt = cur
            for rec in it:
                if nxt == target:
                    self._cursor = (it, target + 1)
                    return rec
                nxt += 1
            if self._index is None:
                raise GenotypeFormatError(f"{self.path}: file ended before record {target + 1}"
                                          " (it changed since it was opened?)")
            # a region cursor stops at the end of its contig: query the next one
        if self._index is not None:
            contig, pos, occ = self._contig[target], int(self._pos[target]), self._occ[target]
            self._open_vcf()
            # 'chrom:pos' = from pos to the end of the contig; records overlapping it from
            # the left (deletions) come first and are skipped
            it = iter(self._vcf(f"{contig}:{pos}"))
            seen = 0
            for rec in it:
                if rec.POS < pos:
                    continue
                if rec.POS == pos and seen < occ:
                    seen += 1
                    continue
                self._cursor = (it, target + 1)
                return rec
            raise GenotypeFormatError(f"{self.path}: record {target + 1} not found by its "
                                      "index (stale .tbi/.csi?)")
        self._open_vcf()
        it, nxt = iter(self._vcf), 0
        for rec in it:
            if nxt == target:
                self._cursor = (it, target + 1)
                return rec
            nxt += 1
        raise GenotypeFormatError(f"{self.path}: file ended before record {target + 1} "
                                  "(it changed since it was opened?)")

    def _ds(self, rec, j: int) -> np.ndarray | None:
        ds = rec.format("DS")
        return None if ds is None else ds[:, 0].astype(np.float64)

    def _gp(self, rec, j: int) -> np.ndarray | None:
        gp = rec.format("GP")
        if gp is None:
            return None
        gp = gp.astype(np.float64)
        if gp.shape[1] < 2:
            raise InputError(f"{self.path}: {self._variant_name(j)}: FORMAT/GP has "
                             f"{gp.shape[1]} value(s) per sample, expected 3 (or 2 for "
                             "haploid calls)")
        if gp.shape[1] == 2:
            return gp[:, 1].copy()
        d = 2.0 * gp[:, 2] + gp[:, 1]
        # haploid samples: the third value is the vector end (NaN), P(ALT) is the second
        hap = np.isnan(gp[:, 2]) & ~np.isnan(gp[:, 1]) & ~np.isnan(gp[:, 0])
        d[hap] = gp[hap, 1]
        return d

    def _gt(self, rec, j: int) -> np.ndarray | None:
        if "GT" not in rec.FORMAT:  # cyvcf2 raises rather than returning None
            return None
        a = rec.genotype.array()[:, :-1]  # the last column is the phased flag
        # -1 = missing allele, -2 = vector end (fewer alleles than the maximum ploidy)
        d = np.sum(a == 1, axis=1).astype(np.float64)
        d[np.any(a == -1, axis=1)] = np.nan
        return d

    def _dosage(self, rec, j: int) -> np.ndarray:
        """ALT dosages (float64, n) of one record per :attr:`vcf_dosage`.

        ``auto`` goes down DS, GP, GT per sample: a sample whose DS is missing (``.``) takes
        its GP, then its GT, as plink2 ``--vcf dosage=DS`` falls back to the hard call
        (checked in ``tests/io/test_vcf.py``). A forced field is used alone.
        """
        mode = self.vcf_dosage
        if mode != "auto":
            d = {"DS": self._ds, "GP": self._gp, "GT": self._gt}[mode](rec, j)
            if d is None:
                raise InputError(f"{self.path}: {self._variant_name(j)} has no FORMAT/{mode} "
                                 f"field (vcf_dosage='{mode}')")
            return d
        d = None
        for get in (self._ds, self._gp, self._gt):
            x = get(rec, j)
            if x is None:
                continue
            if d is None:
                d = x
            else:
                miss = np.isnan(d)
                d[miss] = x[miss]
            if not np.isnan(d).any():
                break
        if d is None:
            raise InputError(f"{self.path}: {self._variant_name(j)} has none of FORMAT/DS, GP "
                             "and GT")
        return d

    def read_into(self, out, col0, local, samples, pool: ThreadPoolExecutor | None = None,
                  n_threads: int = 1, stats=None) -> None:
        """Write ALT dosages of variants ``local`` (indices into :attr:`variants`) into
        ``out[:, col0 : col0 + len(local)]``; ``samples`` = row indices or None for all.
        ``stats`` is accepted for the BGEN interface and never filled."""
        local = np.asarray(local, dtype=np.int64)
        k = len(local)
        if k == 0:
            return
        rows = None if samples is None else np.asarray(samples, dtype=np.intp)
        order = np.argsort(local, kind="stable")
        with self._lock:
            if self._vcf is None:
                raise ValueError("file is closed")
            for q in order:
                j = int(local[q])
                target = int(self._ordinal[j])
                try:
                    rec = self._seek(target)
                    d = self._dosage(rec, j)
                except InputError:
                    raise
                except Exception as e:  # noqa: BLE001 - htslib errors surface as several types
                    raise GenotypeFormatError(f"{self.path}: cannot read "
                                              f"{self._variant_name(j)}: "
                                              f"{' '.join(str(e).split())}") from None
                if d.shape[0] != self.n_samples:
                    raise GenotypeFormatError(f"{self.path}: {self._variant_name(j)} has "
                                              f"{d.shape[0]} samples, expected {self.n_samples}")
                out[:, col0 + q] = d if rows is None else d[rows]

    def close(self) -> None:
        with self._lock:
            self._cursor = None
            if self._vcf is not None:
                self._vcf.close()
                self._vcf = None

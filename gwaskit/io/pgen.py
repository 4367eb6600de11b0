"""PLINK 2 ``.pgen/.pvar/.psam`` backend (genotypes decoded by ``pgenlib.PgenReader``).

**Dosage convention.** The dosage counts the ALT allele (``.pvar`` column ``ALT``; pgenlib's
``allele_idx=1``), reported as ``effect_allele``; ``REF`` is ``other_allele``. This is plink2's
A1 allele (what ``--glm`` reports as ``A1`` and what plink2's BGEN export stores as allele 1),
so a ``.pgen`` and the BGEN plink2 exports from it give the same dosages here. Note that
plink2 2.00a3.5's ``--export A`` counts REF by default (its ``.raw`` columns are named
``<ID>_<REF>``; checked by ``tests/io/test_pgen.py``), i.e. ``2 - dosage``. Variants with
dosages give them (multiples of 1/16384, plink2's dosage precision), hard-call-only variants
give 0/1/2; missing calls are NaN (pgenlib's -9).

Multi-allelic variants (``ALT`` with a comma) are left out of :attr:`PgenFile.variants` and
counted in :attr:`PgenFile.n_multiallelic`, as in the BGEN backend. Missing variant IDs
(``.``) become ``chrom:pos:ref:alt``. ``.pvar`` files may carry ``##`` header lines and a
``#CHROM POS ID REF ALT ...`` header (columns in any order, extra columns ignored), or no
header (``.bim``-like: ``CHROM ID CM POS ALT REF``); ``.psam`` files a ``#FID IID ...`` or
``#IID ...`` header (``SEX``, ``PAT``, ``MAT`` optional) or none (``.fam``-like).
Compressed ``.pvar.zst`` is not read.
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

__all__ = ["PgenFile", "pgen_prefix", "read_pvar", "read_psam"]

_PGEN_MISSING = -9.0


def pgen_prefix(path: str | os.PathLike) -> Path | None:
    """The ``.pgen`` path for ``foo.pgen`` or a prefix ``foo`` with ``foo.pgen`` present, else
    None."""
    p = Path(path)
    if p.suffix == ".pgen":
        return p
    cand = Path(str(p) + ".pgen")
    return cand if cand.exists() else None


def _header_lines(path: Path) -> tuple[int, str | None]:
    """(number of ``##`` lines, the ``#...`` header line or None) at the top of ``path``."""
    n = 0
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            if line.startswith("##"):
                n += 1
                continue
            if line.startswith("#"):
                return n, line.rstrip("\r\n")
            return n, None
    return n, None


def read_pvar(path: str | os.PathLike) -> pd.DataFrame:
    """The variant table of a ``.pvar`` (or ``.bim``-like headerless) file.

    Parameters
    ----------
    path
        The ``.pvar`` file.

    Returns
    -------
    DataFrame
        One row per variant in file order with string columns ``CHROM``, ``ID``, ``REF``,
        ``ALT`` and int64 ``POS``.

    Raises
    ------
    InputError
        A required column is missing, or a position is not an integer (naming the row).
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: file not found (PLINK 2 fileset)")
    skip, header = _header_lines(path)
    if header is not None:
        names = header[1:].split("\t") if "\t" in header else header[1:].split()
        need = ["CHROM", "POS", "ID", "REF", "ALT"]
        miss = [c for c in need if c not in names]
        if miss:
            raise InputError(f"{path}: header line lacks column(s) {', '.join(miss)}")
        sep = "\t" if "\t" in header else r"\s+"
        tab = pd.read_csv(path, sep=sep, skiprows=skip + 1, header=None, names=names,
                          usecols=need, dtype=str, keep_default_na=False, na_filter=False,
                          engine="c" if sep == "\t" else "python")
    else:
        tab = pd.read_csv(path, sep=r"\s+", skiprows=skip, header=None, dtype=str,
                          keep_default_na=False, na_filter=False)
        if tab.shape[1] == 6:  # CHROM ID CM POS ALT REF
            tab.columns = ["CHROM", "ID", "CM", "POS", "ALT", "REF"]
        elif tab.shape[1] == 5:  # CHROM ID POS ALT REF
            tab.columns = ["CHROM", "ID", "POS", "ALT", "REF"]
        elif len(tab) == 0:
            tab = pd.DataFrame({c: pd.Series([], dtype=str)
                                for c in ("CHROM", "ID", "POS", "ALT", "REF")})
        else:
            raise InputError(f"{path}: headerless .pvar must have 5 or 6 columns (.bim-like), "
                             f"found {tab.shape[1]}")
    pos = pd.to_numeric(tab["POS"], errors="coerce")
    bad = np.flatnonzero(pos.isna().to_numpy())
    if len(bad):
        raise InputError(f"{path}: row {bad[0] + 1} (variant {tab['ID'].iat[bad[0]]!r}): "
                         f"POS {tab['POS'].iat[bad[0]]!r} is not an integer")
    out = tab[["CHROM", "ID", "REF", "ALT"]].copy()
    out["POS"] = pos.to_numpy(np.int64)
    return out.reset_index(drop=True)


def read_psam(path: str | os.PathLike) -> pd.DataFrame:
    """The sample table of a ``.psam`` (or ``.fam``-like headerless) file.

    Returns
    -------
    DataFrame
        ``FID`` (None when the file has no FID column), ``IID`` and ``sex`` (Int8: 1 male,
        2 female, <NA> unknown), one row per sample in file order.

    Raises
    ------
    InputError
        No IID column, or duplicate IIDs (naming one).
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: file not found (PLINK 2 fileset)")
    skip, header = _header_lines(path)
    if header is not None:
        names = header[1:].split("\t") if "\t" in header else header[1:].split()
        tab = pd.read_csv(path, sep=r"\s+", skiprows=skip + 1, header=None, names=names,
                          dtype=str, keep_default_na=False, na_filter=False)
        if "IID" not in tab.columns:
            raise InputError(f"{path}: header line lacks an IID column")
    else:
        tab = pd.read_csv(path, sep=r"\s+", skiprows=skip, header=None, dtype=str,
                          keep_default_na=False, na_filter=False)
        if tab.shape[1] < 5:
            raise InputError(f"{path}: headerless .psam must be .fam-like (FID IID PAT MAT SEX"
                             f" ...), found {tab.shape[1]} columns")
        tab = tab.rename(columns={0: "FID", 1: "IID", 2: "PAT", 3: "MAT", 4: "SEX"})
    n = len(tab)
    fid = (tab["FID"].astype(object).to_numpy() if "FID" in tab.columns
           else np.full(n, None, dtype=object))
    sex_raw = tab["SEX"].to_numpy() if "SEX" in tab.columns else np.full(n, "NA")
    sex = pd.array([1 if s == "1" else 2 if s == "2" else None for s in sex_raw], dtype="Int8")
    st = pd.DataFrame({"FID": fid, "IID": tab["IID"].astype(object).to_numpy(), "sex": sex})
    dup = st["IID"][st["IID"].duplicated()]
    if len(dup):
        raise InputError(f"{path}: {len(dup)} duplicate sample ID(s), e.g. {dup.iloc[0]!r}")
    return st


class PgenFile:
    """One PLINK 2 fileset, with the reading interface of :class:`~gwaskit.io.bgen.BgenFile`.

    Parameters
    ----------
    path
        The ``.pgen`` file; ``.pvar`` and ``.psam`` with the same prefix must exist.
    """

    def __init__(self, path):
        import pgenlib

        self.path = Path(path)
        prefix = self.path.with_suffix("")
        for ext in (".pgen", ".pvar", ".psam"):
            if not prefix.with_suffix(ext).exists():
                raise InputError(f"{prefix.with_suffix(ext)}: file not found (PLINK 2 fileset)")
        self._lock = threading.Lock()  # a PgenReader is not safe to share between threads
        self._reader = None
        pvar = read_pvar(prefix.with_suffix(".pvar"))
        self.sample_table = read_psam(prefix.with_suffix(".psam"))
        self.n_samples = len(self.sample_table)
        self.samples = self.sample_table["IID"].astype(str).to_numpy(dtype=str)
        alt = pvar["ALT"].to_numpy(dtype=object)
        n_alleles = 1 + np.array([a.count(",") + 1 for a in alt], dtype=np.int64)
        multi = n_alleles > 2
        self.n_multiallelic = int(multi.sum())
        # pgenlib needs the allele counts to walk a file that holds multi-allelic variants
        offsets = None
        if self.n_multiallelic:
            offsets = np.concatenate([[0], np.cumsum(n_alleles)]).astype(np.uintp)
        try:
            self._reader = pgenlib.PgenReader(
                os.fsencode(self.path), raw_sample_ct=self.n_samples,
                variant_ct=len(pvar), allele_idx_offsets=offsets)
        except RuntimeError as e:
            msg = e.args[0].decode(errors="replace") if e.args and isinstance(e.args[0], bytes) \
                else str(e)
            raise GenotypeFormatError(f"{self.path}: cannot read PLINK 2 .pgen: "
                                      f"{' '.join(msg.split())}") from None
        keep = np.flatnonzero(~multi)
        self._file_index = keep.astype(np.uint32)
        v = pvar.iloc[keep]
        chrom = v["CHROM"].to_numpy(dtype=object)
        ulab = {c: _chrom_label(str(c)) for c in pd.unique(chrom)}
        chrom = np.array([ulab[c] for c in chrom], dtype=object)
        pos = v["POS"].to_numpy(np.int64)
        ref = v["REF"].to_numpy(dtype=object)
        alt = v["ALT"].to_numpy(dtype=object)
        vid = v["ID"].to_numpy(dtype=object).copy()
        for i in np.flatnonzero((vid == ".") | (vid == "")):
            vid[i] = f"{chrom[i]}:{pos[i]}:{ref[i]}:{alt[i]}"
        self.variants = pd.DataFrame({"chromosome": chrom, "base_pair_location": pos,
                                      "variant_id": vid, "effect_allele": alt,
                                      "other_allele": ref})

    @property
    def n_variants(self) -> int:
        return len(self.variants)

    def read_into(self, out, col0, local, samples, pool: ThreadPoolExecutor | None = None,
                  n_threads: int = 1, stats=None) -> None:
        """Write ALT dosages of variants ``local`` (indices into :attr:`variants`) into
        ``out[:, col0 : col0 + len(local)]`` (Fortran order); ``samples`` = row indices or None
        for all. ``stats`` is accepted for the BGEN interface and never filled."""
        k = len(local)
        if k == 0 or out.shape[0] == 0:
            return
        if not out.flags.f_contiguous:
            raise ValueError("output array must be Fortran-ordered")
        vidx = np.ascontiguousarray(self._file_index[np.asarray(local, dtype=np.int64)])
        direct = samples is None and out.dtype in (np.float32, np.float64)
        # pgenlib writes variant-major rows: a Fortran block's transpose is exactly that
        buf = out[:, col0:col0 + k].T if direct else np.empty((k, self.n_samples), np.float64)
        try:
            with self._lock:
                if self._reader is None:
                    raise ValueError("file is closed")
                self._reader.read_dosages_list(vidx, buf)
        except RuntimeError as e:
            raise GenotypeFormatError(f"{self.path}: cannot read genotypes: {e}") from None
        if direct:
            buf[buf == _PGEN_MISSING] = np.nan
        else:
            sel = buf if samples is None else buf[:, np.asarray(samples, dtype=np.intp)]
            sel[sel == _PGEN_MISSING] = np.nan
            out[:, col0:col0 + k] = sel.T

    def close(self) -> None:
        with self._lock:
            if self._reader is not None:
                self._reader.close()
                self._reader = None

"""VCF Zarr backend (a ``.vcz`` store as written by bio2zarr's ``vcf2zarr``; read with ``zarr``).

Layout: the VCF Zarr specification (``sgkit-dev/vcf-zarr-spec``, ``vcf_zarr_spec.md``; bio2zarr
0.2 writes ``vcf_zarr_version`` 0.5, Zarr format 2 or 3). One Zarr group per store; each VCF
column is one array whose first dimension is ``variants`` (records in file order):

=========================  ===========================  ====================================
array                      dimensions                   VCF
=========================  ===========================  ====================================
``sample_id``              (samples)                    sample names of the header line
``contig_id``              (contigs)                    ``##contig`` IDs (older stores: the
                                                        group attribute ``contigs``)
``variant_contig``         (variants)                   CHROM, an index into ``contig_id``
``variant_position``       (variants)                   POS
``variant_id``             (variants)                   ID (``variant_id_mask``: ID was ``.``)
``variant_allele``         (variants, alleles)          REF, then the ALTs; ``""`` pads
``call_genotype``          (variants, samples, ploidy)  GT: allele index, -1 missing, -2 fill
                                                        (shorter ploidy of a mixed-ploidy
                                                        store)
``call_DS``                (variants, samples[, alt])   FORMAT/DS
``call_GP``                (variants, samples, genot.)  FORMAT/GP
=========================  ===========================  ====================================

FORMAT fields are ``call_<FIELD>`` and float missing/fill values are NaN (signalling-NaN
patterns 0x7F800001/0x7F800002 in float32), as the specification defines.

**Dosage convention.** The same as :mod:`gwaskit.io.vcf` for the VCF the store was converted
from: the dosage counts the ALT allele, reported as ``effect_allele`` (``REF`` is
``other_allele``; plink2's A1 for ``--vcf`` input). ``vcf_dosage="auto"``: ``call_DS`` where a
sample's value is present, else the ``call_GP`` dosage ``2 * P(hom ALT) + P(het)`` (haploid
``GP`` = ``P(ALT)``), else the ``call_genotype`` count of ALT alleles, per sample, as the VCF
backend falls back per sample (a record that lacked the field in the VCF holds missing values
in the store, so it falls back the same way). ``"DS"``, ``"GP"`` or ``"GT"`` use one field
alone; a store without that array is an :class:`~gwaskit.errors.InputError` naming the store
and the array. Unlike a VCF, a store cannot tell a record that lacked the field from one whose
values are all missing (bio2zarr writes an array for every FORMAT field of the header, and
missing values for a record without it), so with a forced field such a record reads as NaN for
every sample, where the VCF backend raises; the first such variant of a store is logged as a
warning. Missing calls (any allele -1 in ``call_genotype``, NaN in ``call_DS`` /
``call_GP``) are NaN; haploid calls (``[1, -2]`` in a diploid store, or a haploid store) give
0..1 copies, as in the VCF and BGEN backends.

Multi-allelic records (more than two non-empty entries in ``variant_allele``) are left out of
:attr:`VczFile.variants` and counted in :attr:`VczFile.n_multiallelic`, as in the VCF backend;
missing IDs become ``chrom:pos:ref:alt``. FILTER (``variant_filter``) is not applied, as the VCF
backend and plink2's ``--vcf`` (without ``--var-filter``) do not apply it.

How it reads: opening reads the sample and variant arrays (one value per variant). Dosages are
read per request with Zarr's orthogonal selection: only the chunks holding the requested
variants and samples are decompressed (a contiguous run of variants is read as one slice).
A chunk size that is a multiple of the store's variant chunk length
(:attr:`VczFile.variants_chunk`) decompresses each store chunk once. Only local directory
stores are read (not zipped ``.vcz.zip`` stores or cloud URLs).
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

from gwaskit._log import logger
from gwaskit.errors import GenotypeFormatError, InputError
from gwaskit.io.bed import _chrom_label
from gwaskit.io.vcf import VCF_DOSAGE_FIELDS as _DOSAGE_FIELDS

__all__ = ["VczFile", "is_vcz_path"]

#: The array holding each ``vcf_dosage`` field.
_FIELD_ARRAY = {"DS": "call_DS", "GP": "call_GP", "GT": "call_genotype"}
_REQUIRED = ("sample_id", "variant_contig", "variant_position", "variant_allele")
# a span of store rows read as one slice (then subset) when at most this many times the rows
# wanted; farther apart, an orthogonal selection of the rows
_SLICE_SPAN = 4


def _is_zarr_dir(p: Path) -> bool:
    return (p / "zarr.json").exists() or (p / ".zgroup").exists()


def is_vcz_path(path: str | os.PathLike) -> bool:
    """True for a name ending in ``.vcz`` (existing or not), or a directory holding a Zarr
    group with VCF Zarr arrays (``sample_id`` and one of ``call_genotype``, ``call_DS``,
    ``call_GP``), e.g. a store named ``cohort.zarr``."""
    p = Path(path)
    if p.name.lower().endswith(".vcz"):
        return True
    if not p.is_dir() or not _is_zarr_dir(p):
        return False
    return (p / "sample_id").is_dir() and any(
        (p / a).is_dir() for a in ("call_genotype", "call_DS", "call_GP"))


def _strings(a) -> np.ndarray:
    """A Zarr string array (numpy StringDType, fixed-width, bytes or object) as an object array
    of ``str``."""
    a = np.asarray(a)
    if a.dtype.kind == "S":
        return np.char.decode(a, "utf-8").astype(object)
    out = a.astype(object)
    if a.dtype.kind == "O":
        out = np.vectorize(str, otypes=[object])(out) if out.size else out
    return out


class VczFile:
    """One VCF Zarr store, with the reading interface of :class:`~gwaskit.io.bgen.BgenFile`.

    Parameters
    ----------
    path
        The store's directory (``foo.vcz``).
    vcf_dosage
        ``"auto"``, ``"DS"``, ``"GP"`` or ``"GT"`` (see the module docstring).

    Attributes
    ----------
    samples : ndarray of str
        ``sample_id``, in store order.
    sample_table : DataFrame
        ``FID`` (None), ``IID``.
    variants : DataFrame
        ``chromosome``, ``base_pair_location``, ``variant_id``, ``effect_allele`` (ALT),
        ``other_allele`` (REF), biallelic records only.
    n_multiallelic : int
        Records left out for having more than one ALT allele.
    variants_chunk : int
        The store's chunk length along ``variants`` of the dosage array read first.

    Raises
    ------
    ModuleNotFoundError
        ``zarr`` (the ``vcz`` extra) is not installed.
    InputError
        The path does not exist, or ``vcf_dosage`` names a field the store lacks.
    GenotypeFormatError
        Not a Zarr group, or an array the format needs is missing or has the wrong shape
        (the message names the store and the array).
    """

    def __init__(self, path, *, vcf_dosage: str = "auto"):
        if vcf_dosage not in _DOSAGE_FIELDS:
            raise InputError(f"vcf_dosage: expected one of {', '.join(_DOSAGE_FIELDS)}, "
                             f"not {vcf_dosage!r}")
        self.path = Path(path)
        self.vcf_dosage = vcf_dosage
        self._arrays: dict | None = None
        # lazy: the ``vcz`` extra. A missing zarr raises ModuleNotFoundError, which the CLI
        # reports as one line naming ``pip install 'gwaskit[vcz]'`` (cli/main.py:EXTRAS)
        import zarr

        if not self.path.exists():
            raise InputError(f"{self.path}: file not found (VCF Zarr store)")
        if not self.path.is_dir():
            raise GenotypeFormatError(f"{self.path}: not a directory (a VCF Zarr store is a "
                                      "directory; zipped stores are not read)")
        try:
            group = zarr.open_group(os.fspath(self.path), mode="r")
            names = set(group.array_keys())
        except Exception as e:  # noqa: BLE001 - zarr raises several types for a non-store
            raise GenotypeFormatError(f"{self.path}: cannot open as a Zarr group: "
                                      f"{' '.join(str(e).split())}") from None
        missing = [a for a in _REQUIRED if a not in names]
        if missing:
            raise GenotypeFormatError(f"{self.path}: not a VCF Zarr store: array(s) "
                                      f"{', '.join(missing)} missing")
        fields = [f for f in ("DS", "GP", "GT") if _FIELD_ARRAY[f] in names]
        if not fields:
            raise GenotypeFormatError(f"{self.path}: no dosage array (call_DS, call_GP or "
                                      "call_genotype) in the VCF Zarr store")
        if vcf_dosage != "auto" and vcf_dosage not in fields:
            raise InputError(f"{self.path}: no {_FIELD_ARRAY[vcf_dosage]} array (FORMAT/"
                             f"{vcf_dosage}; vcf_dosage='{vcf_dosage}')")
        self._fields = fields if vcf_dosage == "auto" else [vcf_dosage]
        self._warned_empty = False
        try:
            self._read_tables(group, names)
        except InputError:
            raise
        except Exception as e:  # noqa: BLE001 - corrupt chunks surface as codec errors
            raise GenotypeFormatError(f"{self.path}: cannot read the VCF Zarr store: "
                                      f"{' '.join(str(e).split())}") from None
        n_rec = self._n_records
        self._arrays = {}
        for f in self._fields:
            a = group[_FIELD_ARRAY[f]]
            if a.ndim < 2 or a.ndim > 3 or tuple(a.shape[:2]) != (n_rec, self.n_samples):
                raise GenotypeFormatError(
                    f"{self.path}: array {_FIELD_ARRAY[f]} has shape {tuple(a.shape)}, "
                    f"expected ({n_rec}, {self.n_samples}, ...) (variants, samples, ...)")
            if f == "GP" and (a.ndim != 3 or a.shape[2] < 2):
                raise GenotypeFormatError(f"{self.path}: array call_GP has shape "
                                          f"{tuple(a.shape)}: expected 3 values per call "
                                          "(2 for haploid calls)")
            if f == "GT" and a.ndim != 3:
                raise GenotypeFormatError(f"{self.path}: array call_genotype has shape "
                                          f"{tuple(a.shape)}, expected (variants, samples, "
                                          "ploidy)")
            self._arrays[f] = a
        self.variants_chunk = int(self._arrays[self._fields[0]].chunks[0])

    def _read_tables(self, group, names: set) -> None:
        samples = _strings(group["sample_id"][:])
        self.n_samples = len(samples)
        self.sample_table = pd.DataFrame({"FID": np.full(self.n_samples, None, dtype=object),
                                          "IID": samples})
        dup = self.sample_table["IID"][self.sample_table["IID"].duplicated()]
        if len(dup):
            raise InputError(f"{self.path}: {len(dup)} duplicate sample ID(s), "
                             f"e.g. {dup.iloc[0]!r}")
        self.samples = np.array(samples, dtype=str)

        if "contig_id" in names:
            contigs = _strings(group["contig_id"][:])
        elif "contigs" in group.attrs:  # VCF Zarr spec <= 0.3: a group attribute
            contigs = np.array([str(c) for c in group.attrs["contigs"]], dtype=object)
        else:
            raise GenotypeFormatError(f"{self.path}: not a VCF Zarr store: array contig_id "
                                      "missing")
        contig = np.asarray(group["variant_contig"][:]).astype(np.int64)
        pos = np.asarray(group["variant_position"][:]).astype(np.int64)
        alleles = _strings(group["variant_allele"][:])
        n_rec = len(pos)
        if len(contig) != n_rec or alleles.ndim != 2 or alleles.shape[0] != n_rec:
            raise GenotypeFormatError(f"{self.path}: variant_contig, variant_position and "
                                      "variant_allele have different lengths")
        if n_rec and (contig.min() < 0 or contig.max() >= len(contigs)):
            raise GenotypeFormatError(f"{self.path}: variant_contig holds an index outside "
                                      f"contig_id (0..{len(contigs) - 1})")
        self._n_records = n_rec
        n_alleles = (alleles != "").sum(axis=1)
        keep = n_alleles <= 2
        self.n_multiallelic = int((~keep).sum())
        self._row = np.flatnonzero(keep).astype(np.int64)  # variant -> store row
        ulab = {i: _chrom_label(str(c)) for i, c in enumerate(contigs)}
        c = np.array([ulab[i] for i in contig[keep]], dtype=object)
        p = pos[keep]
        ref = alleles[keep, 0]
        alt = (alleles[keep, 1] if alleles.shape[1] > 1
               else np.full(len(p), "", dtype=object)).copy()
        alt[alt == ""] = "."  # no ALT (as the VCF backend reports a record with ALT '.')
        if "variant_id" in names:
            vid = _strings(group["variant_id"][:])[keep]
            miss = (vid == ".") | (vid == "")
            if "variant_id_mask" in names:
                miss |= np.asarray(group["variant_id_mask"][:], dtype=bool)[keep]
        else:
            vid = np.full(len(p), "", dtype=object)
            miss = np.ones(len(p), dtype=bool)
        for i in np.flatnonzero(miss):
            vid[i] = f"{c[i]}:{p[i]}:{ref[i]}:{alt[i]}"
        self.variants = pd.DataFrame({"chromosome": c, "base_pair_location": p,
                                      "variant_id": vid, "effect_allele": alt,
                                      "other_allele": ref})

    @property
    def n_variants(self) -> int:
        return len(self.variants)

    # -- reading --------------------------------------------------------------------------
    def _block(self, field: str, rows: np.ndarray, samples) -> np.ndarray:
        """``array[rows][:, samples]`` of one field (rows ascending store rows)."""
        a = self._arrays[field]
        lo, hi = int(rows[0]), int(rows[-1]) + 1
        ssel = slice(None) if samples is None else samples
        if hi - lo == len(rows):
            return a.oindex[slice(lo, hi), ssel]
        if hi - lo <= _SLICE_SPAN * len(rows):
            return a.oindex[slice(lo, hi), ssel][rows - lo]
        return a.oindex[rows, ssel]

    @staticmethod
    def _convert(field: str, x: np.ndarray) -> np.ndarray:
        """ALT dosages (float64) of raw values ``x`` of one field, shape ``(..., inner)`` (the
        field's last dimension: alt alleles, genotypes or ploidy) -> ``(...)``.

        The inner dimension is short (1-3), so it is looped over: numpy reductions along a
        short last axis are several times slower.
        """
        if field == "DS":
            with np.errstate(invalid="ignore"):  # the signalling-NaN missing/fill values
                return x[..., 0].astype(np.float64)
        if field == "GP":
            with np.errstate(invalid="ignore"):
                p0, p1 = x[..., 0].astype(np.float64), x[..., 1].astype(np.float64)
                if x.shape[-1] == 2:  # a haploid store: (P(REF), P(ALT))
                    return p1
                p2 = x[..., 2].astype(np.float64)
            d = 2.0 * p2 + p1
            # haploid calls in a diploid store: the third value is the fill (NaN)
            hap = np.isnan(p2) & ~np.isnan(p1) & ~np.isnan(p0)
            d[hap] = p1[hap]
            return d
        d = np.zeros(x.shape[:-1], dtype=np.float64)
        miss = np.zeros(x.shape[:-1], dtype=bool)
        for h in range(x.shape[-1]):
            a = x[..., h]
            d += a == 1  # -2 (fill: a lower ploidy) counts nothing
            miss |= a == -1
        d[miss] = np.nan
        return d

    def _raw(self, field: str, rows: np.ndarray, samples) -> np.ndarray:
        """Raw values of one field, ``(len(rows), n_selected, inner)`` (a 2-D ``call_DS`` of a
        Number=1 field gets an inner dimension of 1)."""
        x = np.asarray(self._block(field, rows, samples))
        return x[:, :, None] if x.ndim == 2 else x

    def _variant_name(self, j: int) -> str:
        return f"variant {self.variants['variant_id'].iat[j]!r} (index {j} in the store)"

    def read_into(self, out, col0, local, samples, pool: ThreadPoolExecutor | None = None,
                  n_threads: int = 1, stats=None) -> None:
        """Write ALT dosages of variants ``local`` (indices into :attr:`variants`) into
        ``out[:, col0 : col0 + len(local)]``; ``samples`` = row indices or None for all.
        ``stats`` is accepted for the BGEN interface and never filled (Zarr decompresses the
        chunks on its own threads; ``pool`` is not used)."""
        local = np.asarray(local, dtype=np.int64)
        k = len(local)
        if k == 0:
            return
        if self._arrays is None:
            raise ValueError("file is closed")
        rows_sel = None if samples is None else np.asarray(samples, dtype=np.intp)
        order = np.argsort(local, kind="stable")
        rows = self._row[local[order]]
        d = miss = None
        try:
            for f in self._fields:
                if d is None:
                    d = self._convert(f, self._raw(f, rows, rows_sel))
                else:  # auto: calls missing so far take the next field's value
                    todo = np.flatnonzero(miss.any(axis=1))
                    if len(todo) == len(rows):
                        # only the missing calls are converted
                        d[miss] = self._convert(f, self._raw(f, rows, rows_sel)[miss])
                    else:
                        m = miss[todo]
                        sub = d[todo]
                        sub[m] = self._convert(f, self._raw(f, rows[todo], rows_sel)[m])
                        d[todo] = sub
                miss = np.isnan(d)
                if not miss.any():
                    break
        except InputError:
            raise
        except Exception as e:  # noqa: BLE001 - codec and store errors surface as several types
            raise GenotypeFormatError(
                f"{self.path}: cannot read {k} variant(s) from "
                f"{self._variant_name(int(local[order[0]]))} on: "
                f"{' '.join(str(e).split())}") from None
        if self.vcf_dosage != "auto" and not self._warned_empty and d.shape[1]:
            empty = np.flatnonzero(np.isnan(d).all(axis=1))
            if len(empty):
                self._warned_empty = True
                logger.warning("%s: %s has no %s value for any sample read (a record without "
                               "FORMAT/%s?); it reads as missing (vcf_dosage='%s')", self.path,
                               self._variant_name(int(local[order[empty[0]]])),
                               _FIELD_ARRAY[self.vcf_dosage], self.vcf_dosage, self.vcf_dosage)
        if np.array_equal(order, np.arange(k)):
            out[:, col0:col0 + k] = d.T
        else:
            out[:, col0 + order] = d.T

    def close(self) -> None:
        self._arrays = None

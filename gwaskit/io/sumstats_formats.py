"""Summary-statistics files of a ``gwaskit scan`` in GWAS-SSF, plink2 ``--glm`` and REGENIE layouts.

The input is the scan result table (columns ``chromosome, base_pair_location, variant_id,
effect_allele, other_allele, effect_allele_frequency, [info,] n, chisq, df, p_value,
neg_log_10_p_value, errcode``, then, with ``--per-dim``, ``beta_<k>, standard_error_<k>,
p_value_<k>`` for each phenotype dimension ``k``) and the run's metadata dict. All three formats
carry one effect size per trait, so each writes **one file per dimension**; a table without the
per-dimension columns is refused with an :class:`~gwaskit.errors.InputError` that names
``--per-dim``. Every file is written atomically (temporary file beside it, then a rename, see
:func:`gwaskit.io.output.atomic_path`) and an existing file is never replaced unless
``overwrite=True``; all the targets of one call are checked before anything is written.

GWAS-SSF (:func:`write_gwas_ssf`)
---------------------------------
GWAS Catalog summary statistics format v1.0 [1]_, as checked by the Catalog's validator
``gwas-ssf validate`` (PyPI ``gwas-sumstats-tools`` 1.0.25) [2]_. Decisions, each forced by the
spec or the validator:

* **One file per dimension**, ``<stem>.<dim>.tsv.gz`` (or ``.tsv`` when ``path`` ends in ``.tsv``)
  with ``<dim>`` reduced to ``[A-Za-z0-9_.-]``. The validator accepts any name whose suffixes end
  in ``.tsv`` or ``.tsv.gz``; nothing in the standard constrains the stem (the ``GCST`` accession
  and ``build<NN>`` are only parsed out of the name when present). The metadata sidecar is
  ``<data file name>-meta.yaml``, the name the validator's ``--infer-from-metadata`` and
  ``gwas-ssf read`` look for.
* **The joint D-df test is not GWAS-SSF** (it has no beta nor standard error, both mandatory and
  non-missing, ``#NA`` refused): it goes to the companion ``<stem>.joint.tsv.gz`` with columns
  :data:`JOINT_COLUMNS` (all variants, missing ``#NA``; ``p_value`` written from
  ``neg_log_10_p_value`` where the double underflows). Its last column ``gwas_ssf_excluded`` is
  ``.`` for a variant present in every per-dimension file, else the reasons it was left out, comma
  separated: ``NOT_TESTED`` (errcode other than ``.``), ``CHROMOSOME`` (no GWAS-SSF code 1..25),
  ``POSITION`` (not > 0), ``ALLELE`` (not ``[ACGT]+``), ``EAF`` (missing or outside [0, 1]),
  ``STATS:<dim>`` (missing beta, standard error or p-value in that dimension).
* **Mandatory columns, in the spec's order** (Table 1), then the encouraged ``variant_id, rsid,
  info, n``: see :data:`GWAS_SSF_COLUMNS`.
* **Rows the validator refuses are dropped** from the per-dimension files (listed above, kept in
  the companion file): all eight mandatory fields are non-nullable, chromosome must be 1..25,
  alleles ``^[ACGTacgt]+$``, frequency in [0, 1] and p-value > 0.
* ``chromosome``: ``X``/``23`` -> 23, ``Y``/``24`` -> 24, ``MT``/``M``/``26`` -> 25 (PLINK's
  numeric code for MT), ``XY``/``PAR1``/``PAR2``/``25`` -> 23 (PLINK's 25 is the X
  pseudo-autosomal region, on X coordinates); a ``chr`` prefix is ignored.
* ``variant_id``: the spec defines it as ``<chromosome>_<base_pair_location>_<ref>_<alt>``
  (pattern ``[1-25]_[0-9]+_([ACGT]+_[ACGT]+|LONG_STRING)``; the validator checks
  ``^[A-Za-z0-9_]+$``), so gwaskit's ids such as ``1:1000:A:G`` would be refused. It is built as
  ``<GWAS-SSF chromosome>_<position>_<other_allele>_<effect_allele>``: other_allele is the
  genotype file's REF (plink2) / A2 (PLINK 1, not necessarily the genome reference; this file is
  not harmonised, ``is_harmonised: false``). The input id is written to ``rsid`` when it is an
  rsID (``^rs[0-9]+$``), else ``#NA``; it is always in the companion file.
* Missing values (only possible in ``info``) are written ``#NA`` (spec section 3.1).
* ``info`` (MaCH R², which exceeds 1 when the dosages vary more than Hardy-Weinberg predicts, e.g.
  for a genotyped or well imputed variant in a structured sample) is capped to [0, 1], the
  spec's accepted range for ``info``.
* ``p_value`` is written in full precision; where the double underflows (p < 2.2e-308) it is
  written in scientific notation from the log p-value (``1.234e-412``), which the validator reads
  as mantissa and exponent: recomputed from ``t = beta/se`` with the scan's residual degrees of
  freedom ``n - c - 1`` (metadata ``n`` and ``c``; per-variant ``n`` with ``missing="drop"``), or
  from the normal tail when ``c`` is absent. No p-value is 0.
* The sidecar ``-meta.yaml`` carries the spec's fields (Table 2): file name, md5 checksum, file
  type ``GWAS-SSF v1.0``, genome assembly, coordinate system (``1-based``: PLINK, VCF and BGEN
  positions), sample size, trait description, ancestry category and genotyping technology
  (``NR``, not reported, unless given), analysis software, adjusted covariates, ``is_harmonised``
  and ``is_sorted``, plus a ``gwaskit`` block (dimension, joint-test file, λ_GC, command line).
  It is written by a small emitter here (PyYAML is not a core dependency): strings double-quoted
  with JSON escapes, which YAML reads the same way.
* The validator also requires at least 100,000 rows (``--min-rows``) and every autosome 1..22 in
  a file: a scan of a few chromosomes or a small panel is written the same way but fails those
  two checks of the default validator run.

plink2 ``--glm`` (:func:`write_plink2_glm`)
-------------------------------------------
``<prefix>.<dim>.glm.linear``, the name plink2 gives ``--out <prefix>`` for phenotype ``<dim>``.
The default columns are those of the plink2 installed with the project (PLINK v2.00a3.5, its
``cols=`` default ``chrom,pos,ref,alt,firth,test,nobs,orbeta,se,ci,tz,p,err`` for a linear model):
``#CHROM POS ID REF ALT A1 TEST OBS_CT BETA SE T_STAT P ERRCODE``, tab separated; other column
sets are chosen with ``cols`` as in plink2 (``"+a1freq,+machr2"``; see :data:`PLINK2_COLUMN_SETS`).
REF = other_allele, ALT = A1 = effect_allele (gwaskit's effect allele is the counted ALT,
as with ``--glm omit-ref``), TEST = ``ADD``, OBS_CT = n, T_STAT = beta/se. As in plink2,
numbers have 6 significant digits (``%g``), regression columns of an untested variant are
``NA`` and an undefined A1_FREQ or MACH_R2 is ``nan``; ERRCODE is gwaskit's errcode (``.`` when
tested, else e.g. ``MONOMORPHIC`` where plink2 would write its own code). MACH_R2 is not capped.
Newer plink2 releases add columns to the default (``PROVISIONAL_REF?``, ``OMITTED``,
``A1_FREQ``); those are not written.

REGENIE step 2 (:func:`write_regenie`)
--------------------------------------
``<prefix>_<dim>.regenie`` (``.regenie.gz`` with ``gz=True``), the per-trait files of
``regenie --step 2 --out <prefix>`` [3]_: space separated ``CHROM GENPOS ID ALLELE0 ALLELE1
A1FREQ INFO N TEST BETA SE CHISQ LOG10P EXTRA`` (REGENIE writes INFO only for dosage input;
here, when the table has an ``info`` column). ALLELE0 = other_allele, ALLELE1 = effect_allele
(the tested allele, A1FREQ its frequency), TEST = ``ADD``, CHISQ = (BETA/SE)², LOG10P = -log10 of
gwaskit's per-dimension t-test p-value, EXTRA = ``NA``. Missing values are ``NA``; an untested
variant (errcode other than ``.``) has ``NA`` statistics and EXTRA ``TEST_FAIL``, as REGENIE
writes a failed test. CHROM is numeric as in REGENIE (``chr`` prefix dropped; X, Y, XY, PAR1,
PAR2 -> 23). Numbers have 6 significant digits (C++ stream default precision).

References
----------
.. [1] GWAS Catalog, "GWAS-SSF: A GWAS Summary Statistics Format", v1.0,
   https://github.com/EBISPOT/gwas-summary-statistics-standard (``gwas-ssf_v1.0.0.tex``).
   Hayhurst J. et al., "A community driven GWAS summary statistics standard", bioRxiv (2022).
.. [2] https://pypi.org/project/gwas-sumstats-tools/ (``gwas-ssf validate``).
.. [3] REGENIE documentation, "Output" of ``--step 2``,
   https://rgcgithub.github.io/regenie/options/#output
"""
from __future__ import annotations

import contextlib
import datetime
import gzip
import hashlib
import io
import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence

import numpy as np

from ..errors import InputError
from .output import atomic_path, check_writable

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "GWAS_SSF_COLUMNS", "JOINT_COLUMNS", "PLINK2_COLUMN_SETS", "PLINK2_DEFAULT_COLS",
    "REGENIE_COLUMNS", "GwasSsfFiles", "dimension_names", "gwas_ssf_chromosome", "ssf_stem",
    "write_gwas_ssf", "write_plink2_glm", "write_regenie",
]

#: Version of the GWAS-SSF specification written (metadata ``file_type: GWAS-SSF v1.0``).
GWAS_SSF_VERSION = "1.0"

#: Columns of a per-dimension GWAS-SSF file: the eight mandatory fields in the spec's order, then
#: the encouraged ``variant_id``, ``rsid``, ``info`` (only when the table has one) and ``n``.
GWAS_SSF_COLUMNS = ("chromosome", "base_pair_location", "effect_allele", "other_allele", "beta",
                    "standard_error", "effect_allele_frequency", "p_value",
                    "variant_id", "rsid", "info", "n")

#: Columns of the joint-test companion file written beside the GWAS-SSF files.
JOINT_COLUMNS = ("chromosome", "base_pair_location", "variant_id", "effect_allele",
                 "other_allele", "effect_allele_frequency", "n", "chisq", "df", "p_value",
                 "neg_log_10_p_value", "errcode", "gwas_ssf_excluded")

#: plink2 ``--glm`` column sets (``cols=`` names) and their headers, in plink2's column order.
#: ``ID`` and ``A1`` are always present (between ``pos`` and ``ref``, and after ``alt``).
PLINK2_COLUMN_SETS = {
    "chrom": "#CHROM", "pos": "POS", "ref": "REF", "alt1": "ALT1", "alt": "ALT", "ax": "AX",
    "a1count": "A1_CT", "totallele": "ALLELE_CT", "a1freq": "A1_FREQ", "machr2": "MACH_R2",
    "test": "TEST", "nobs": "OBS_CT", "beta": "BETA", "orbeta": "BETA", "se": "SE",
    "tz": "T_STAT", "p": "P", "err": "ERRCODE",
}
_PLINK2_ORDER = ("chrom", "pos", "ID", "ref", "alt1", "alt", "A1", "ax", "a1count", "totallele",
                 "a1freq", "machr2", "test", "nobs", "beta", "se", "tz", "p", "err")

#: The default column sets of the plink2 installed with the project (v2.00a3.5) for a linear
#: model without Firth regression or ``--ci`` (``firth`` and ``ci`` write nothing then).
PLINK2_DEFAULT_COLS = ("chrom", "pos", "ref", "alt", "test", "nobs", "beta", "se", "tz", "p",
                       "err")

#: REGENIE step-2 per-trait header (``INFO`` only when the table has an ``info`` column).
REGENIE_COLUMNS = ("CHROM", "GENPOS", "ID", "ALLELE0", "ALLELE1", "A1FREQ", "INFO", "N", "TEST",
                   "BETA", "SE", "CHISQ", "LOG10P", "EXTRA")

_BASE_COLUMNS = ("chromosome", "base_pair_location", "variant_id", "effect_allele",
                 "other_allele", "effect_allele_frequency", "n", "p_value", "neg_log_10_p_value",
                 "errcode")
_PER_DIM = ("beta_", "standard_error_", "p_value_")
_DBL_MIN = np.finfo(np.float64).tiny  # smallest normal double: p below it has lost precision
_LN10 = math.log(10.0)
_ALLELE_RE = r"^[ACGTacgt]+$"
_RSID_RE = r"^rs[0-9]+$"
_ERR_OK = "."


@dataclass(frozen=True)
class GwasSsfFiles:
    """The files written by :func:`write_gwas_ssf`.

    Attributes
    ----------
    data : dict
        Dimension name -> GWAS-SSF data file (``<stem>.<dim>.tsv.gz``).
    metadata : dict
        Dimension name -> its YAML sidecar (``<data file>-meta.yaml``).
    joint : Path
        The joint-test companion file (``<stem>.joint.tsv.gz``; not GWAS-SSF).
    n_rows : dict
        Dimension name -> number of variants written to its data file.
    """

    data: dict[str, Path] = field(default_factory=dict)
    metadata: dict[str, Path] = field(default_factory=dict)
    joint: Path | None = None
    n_rows: dict[str, int] = field(default_factory=dict)


# -- helpers shared by the three writers ------------------------------------------------------

def dimension_names(table: pd.DataFrame, metadata: Mapping[str, Any] | None = None,
                    fmt: str = "this format") -> list[str]:
    """Dimension names ``k`` with ``beta_<k>``, ``standard_error_<k>`` and ``p_value_<k>`` columns.

    Parameters
    ----------
    table
        The scan result table.
    metadata
        The run's metadata; its ``dimensions`` list gives the order when present.
    fmt
        Format named in the error message.

    Returns
    -------
    list of str
        In the order of ``metadata["dimensions"]``, else of the ``beta_<k>`` columns.

    Raises
    ------
    InputError
        When the table has no per-dimension columns (the scan ran without ``--per-dim``), or
        lacks some named by ``metadata["dimensions"]``.
    """
    cols = set(map(str, table.columns))
    found = [c[len("beta_"):] for c in map(str, table.columns) if c.startswith("beta_")]
    found = [k for k in found if all(p + k in cols for p in _PER_DIM)]
    if not found:
        raise InputError(
            f"{fmt} needs per-dimension statistics (columns beta_<k>, standard_error_<k>, "
            f"p_value_<k>), which this scan table lacks: rerun `gwaskit scan` with --per-dim")
    dims = list(metadata.get("dimensions") or []) if metadata else []
    if not dims:
        return found
    dims = [str(k) for k in dims]
    missing = [k for k in dims if k not in found]
    if missing:
        raise InputError(f"{fmt}: the table lacks the per-dimension columns of dimension(s) "
                         f"{', '.join(missing[:5])} named in the metadata; rerun `gwaskit scan` "
                         f"with --per-dim")
    return dims


def _check_columns(table: pd.DataFrame, fmt: str) -> None:
    missing = [c for c in _BASE_COLUMNS if c not in table.columns]
    if missing:
        raise InputError(f"{fmt}: the scan table lacks column(s) {', '.join(missing)}")


def _select_dims(table, metadata, dims: Sequence[str] | None, fmt: str) -> list[str]:
    all_dims = dimension_names(table, metadata, fmt)
    if dims is None:
        return all_dims
    dims = [str(k) for k in dims]
    unknown = [k for k in dims if k not in all_dims]
    if unknown:
        raise InputError(f"{fmt}: unknown dimension(s) {', '.join(unknown)}; the table has "
                         f"{', '.join(all_dims)}")
    return dims


def _safe_name(dim: str) -> str:
    """A dimension name as a file-name part: characters outside ``[A-Za-z0-9_.-]`` become ``_``."""
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", str(dim)).strip(".")
    return name or "_"


def _name_parts(dims: Sequence[str], fmt: str) -> dict[str, str]:
    parts = {k: _safe_name(k) for k in dims}
    seen: dict[str, str] = {}
    for k, part in parts.items():
        if part in seen:
            raise InputError(f"{fmt}: dimensions {seen[part]!r} and {k!r} would be written to "
                             f"the same file name part {part!r}")
        seen[part] = k
    return parts


def _fmt_g(x: np.ndarray, digits: int | None, na: str) -> np.ndarray:
    """Numbers as text: ``%.<digits>g`` (None: shortest round-trip repr); non-finite -> ``na``."""
    x = np.asarray(x, dtype=np.float64)
    ok = np.isfinite(x)
    out = np.full(x.shape, na, dtype=object)
    if ok.any():
        vals = x[ok]
        text = vals.astype(str) if digits is None else np.char.mod(f"%.{digits}g", vals)
        out[ok] = text
    return out


def _fmt_int(x) -> np.ndarray:
    return np.asarray(x, dtype=np.int64).astype(str).astype(object)


def _fmt_count(x, na: str) -> np.ndarray:
    """Counts as integers; missing or negative -> ``na``."""
    x = np.asarray(x, dtype=np.float64)
    ok = np.isfinite(x) & (x >= 0)
    out = np.full(x.shape, na, dtype=object)
    out[ok] = np.round(x[ok]).astype(np.int64).astype(str)
    return out


def _p_from_log10(neg_log10: float, digits: int | None) -> str:
    """``10^-neg_log10`` as ``<mantissa>e<exponent>`` text, for p-values below the double range."""
    e = math.floor(-neg_log10)
    m = 10.0 ** (-neg_log10 - e)
    nd = 16 if digits is None else max(digits - 1, 0)
    text = f"{m:.{nd}f}"
    if float(text) >= 10.0:  # the mantissa rounded up to 10
        e += 1
        text = f"{m / 10.0:.{nd}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return f"{text}e{e:+03d}"


def _fmt_p(p: np.ndarray, neg_log10: np.ndarray, digits: int | None, na: str) -> np.ndarray:
    """p-values as text: from ``p`` where it is a normal double, else from ``neg_log10``."""
    p = np.asarray(p, dtype=np.float64)
    neg_log10 = np.asarray(neg_log10, dtype=np.float64)
    out = _fmt_g(p, digits, na)
    tiny = ~(p >= _DBL_MIN) & np.isfinite(neg_log10) & (neg_log10 > 0)
    for i in np.flatnonzero(tiny):
        out[i] = _p_from_log10(float(neg_log10[i]), digits)
    return out


def _dim_neg_log10_p(table: pd.DataFrame, k: str, metadata: Mapping[str, Any] | None) -> np.ndarray:
    """``-log10`` of the per-dimension p-value of ``k``, recomputed where the double underflowed.

    gwaskit's per-dimension test is a two-sided t-test of ``t = beta/se`` with ``n - c - 1``
    residual degrees of freedom; where ``p_value_<k>`` is below the smallest normal double its
    log is recomputed from ``t`` (with ``metadata["c"]`` and ``metadata["n"]``, or the variant's
    ``n`` when the scan dropped missing calls), else from the normal tail when ``c`` is unknown.
    """
    p = table[f"p_value_{k}"].to_numpy(dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = -np.log10(p)
    tiny = ~(p >= _DBL_MIN) & np.isfinite(p)
    if not tiny.any():
        return out
    from ..stats import pvalues as _pv

    beta = table[f"beta_{k}"].to_numpy(dtype=np.float64)[tiny]
    se = table[f"standard_error_{k}"].to_numpy(dtype=np.float64)[tiny]
    with np.errstate(divide="ignore", invalid="ignore"):
        t = beta / se
    meta = metadata or {}
    c = meta.get("c")
    if c is None:
        logp = _pv.chi2_logsf(t * t, 1.0)
    else:
        missing = str((meta.get("config") or {}).get("missing", "mean"))
        if missing == "drop" or meta.get("n") is None:
            n = table["n"].to_numpy(dtype=np.float64)[tiny]
        else:
            n = np.full(t.shape, float(meta["n"]))
        logp = _pv.t_logsf_two_sided(t, n - float(c) - 1.0)
    out[tiny] = np.where(np.isfinite(t), -np.asarray(logp) / _LN10, np.nan)
    return out


def _joint_neg_log10(table: pd.DataFrame) -> np.ndarray:
    return table["neg_log_10_p_value"].to_numpy(dtype=np.float64)


def _write_frame(frame: pd.DataFrame, tmp: Path, sep: str, compress: bool,
                 header: Sequence[str] | None = None) -> None:
    """Write preformatted text columns; gzip without name or time stamp (same bytes, same md5)."""
    import csv

    with open(tmp, "wb") as raw:
        gz = gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) if compress else None
        stream = io.TextIOWrapper(gz if gz is not None else raw, encoding="utf-8", newline="")
        try:
            frame.to_csv(stream, sep=sep, index=False,
                         header=list(header) if header is not None else True,
                         lineterminator="\n", quoting=csv.QUOTE_NONE)
        except csv.Error as e:  # a field holds the separator
            raise InputError(f"a value (e.g. a variant id) contains the column separator {sep!r}, "
                             f"which this format cannot hold ({e})") from None
        finally:
            stream.flush()
            stream.detach()
            if gz is not None:
                gz.close()


@contextlib.contextmanager
def _atomic_all(paths: Sequence[Path], overwrite: bool):
    """Temporary paths for all ``paths``, renamed onto them only when the block succeeds."""
    for p in paths:  # refuse before any work
        check_writable(p, overwrite)
    with contextlib.ExitStack() as stack:
        yield [stack.enter_context(atomic_path(p, overwrite)) for p in paths]


def _md5(path: Path) -> str:
    h = hashlib.md5()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# -- GWAS-SSF ---------------------------------------------------------------------------------

_SSF_CHROM = {"X": 23, "Y": 24, "XY": 23, "PAR1": 23, "PAR2": 23, "MT": 25, "M": 25}
_SSF_NUMERIC = {**{str(i): i for i in range(1, 25)}, "25": 23, "26": 25}


def gwas_ssf_chromosome(chromosome: Iterable) -> np.ndarray:
    """GWAS-SSF chromosome codes (1..22, X = 23, Y = 24, MT = 25); 0 where there is none.

    Parameters
    ----------
    chromosome
        Chromosome names as in the genotype files (``"1"``, ``"chr1"``, ``"X"``, ``"23"``).

    Returns
    -------
    numpy.ndarray of int64
        ``X``, ``XY``, ``PAR1``, ``PAR2`` -> 23, ``Y`` -> 24, ``MT``/``M`` -> 25; numeric codes
        follow PLINK (23 X, 24 Y, 25 XY -> 23, 26 MT -> 25); a ``chr`` prefix is ignored;
        anything else (contigs, 0) -> 0. See the GWAS-SSF v1.0 spec, Table 1, ``chromosome``.
    """
    import pandas as pd

    text = pd.Series(np.asarray(list(chromosome), dtype=object)).astype(str)
    text = text.str.strip().str.upper().str.replace(r"^CHR", "", regex=True)
    digits = text.str.fullmatch(r"[0-9]+")
    text = text.where(~digits, text.str.lstrip("0"))
    codes = text.map({**_SSF_NUMERIC, **_SSF_CHROM})
    return codes.fillna(0).to_numpy(dtype=np.int64)


def _yaml_string(text: str) -> str:
    """A YAML double-quoted scalar: JSON escapes, and non-printable characters escaped too."""
    body = json.dumps(text, ensure_ascii=False)[1:-1]
    out = []
    for ch in body:
        if ch.isprintable():
            out.append(ch)
        elif ord(ch) <= 0xFFFF:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    return '"' + "".join(out) + '"'


def _yaml_scalar(value: Any) -> str:
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        v = float(value)
        if math.isnan(v):
            return ".nan"
        if math.isinf(v):
            return ".inf" if v > 0 else "-.inf"
        return repr(v)
    if isinstance(value, datetime.date):
        return value.isoformat()
    return _yaml_string(str(value))


def _yaml_lines(mapping: Mapping[str, Any], indent: int = 0) -> list[str]:
    """Block-style YAML of nested mappings, lists and scalars (None values are left out)."""
    pad = " " * indent
    lines: list[str] = []
    for key, value in mapping.items():
        if value is None:
            continue
        if isinstance(value, Mapping):
            sub = _yaml_lines(value, indent + 2)
            lines += [f"{pad}{key}:"] + sub if sub else [f"{pad}{key}: {{}}"]
        elif isinstance(value, (list, tuple)):
            if not value:
                lines.append(f"{pad}{key}: []")
                continue
            lines.append(f"{pad}{key}:")
            for item in value:
                if isinstance(item, Mapping):
                    sub = _yaml_lines(item, indent + 4)
                    if not sub:
                        lines.append(f"{pad}  - {{}}")
                        continue
                    lines.append(f"{pad}  - {sub[0].lstrip()}")
                    lines += sub[1:]
                else:
                    lines.append(f"{pad}  - {_yaml_scalar(item)}")
        else:
            lines.append(f"{pad}{key}: {_yaml_scalar(value)}")
    return lines


def _as_list(value) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value]


def ssf_stem(path: str | os.PathLike) -> tuple[str, str]:
    """(stem, extension) of the GWAS-SSF file names from ``path``."""
    text = os.fspath(path)
    for ext in (".tsv.gz", ".tsv"):
        if text.endswith(ext):
            return text[: -len(ext)], ext
    return text, ".tsv.gz"


def _is_sorted(codes: np.ndarray, pos: np.ndarray) -> bool:
    if codes.size < 2:
        return True
    dc, dp = np.diff(codes), np.diff(pos)
    return bool(np.all((dc > 0) | ((dc == 0) & (dp >= 0))))


def write_gwas_ssf(
    table: pd.DataFrame,
    path: str | os.PathLike,
    metadata: Mapping[str, Any] | None = None,
    *,
    overwrite: bool = False,
    genome_assembly: str = "GRCh38",
    coordinate_system: str = "1-based",
    trait_description: str | Sequence[str] | None = None,
    sample_ancestry_category: str | Sequence[str] | None = None,
    genotyping_technology: str | Sequence[str] | None = None,
    extra_metadata: Mapping[str, Any] | None = None,
    dims: Sequence[str] | None = None,
    digits: int | None = None,
) -> GwasSsfFiles:
    """Write one GWAS-SSF v1.0 file (and ``-meta.yaml``) per dimension, and the joint-test file.

    See the module documentation for every layout decision; in short, per the GWAS-SSF v1.0
    spec (GWAS Catalog, ``gwas-ssf_v1.0.0``, Tables 1 and 2) and its validator
    ``gwas-ssf validate`` (``gwas-sumstats-tools`` 1.0.25):

    * ``<stem>.<dim>.tsv.gz``: :data:`GWAS_SSF_COLUMNS` for dimension ``dim`` (beta,
      standard_error and p_value of ``beta_<dim>``, ``standard_error_<dim>``, ``p_value_<dim>``),
      only the variants the validator accepts; ``#NA`` for a missing ``info``; ``info`` capped
      to [0, 1].
    * ``<stem>.<dim>.tsv.gz-meta.yaml``: the metadata sidecar with the file's md5 checksum.
    * ``<stem>.joint.tsv.gz``: :data:`JOINT_COLUMNS` for every variant (the joint D-df test,
      which GWAS-SSF cannot hold, and why a variant is missing from the per-dimension files).

    Parameters
    ----------
    table
        The ``gwaskit scan --per-dim`` result table.
    path
        ``<stem>.tsv.gz``, ``<stem>.tsv`` (files uncompressed) or a bare ``<stem>``.
    metadata
        The scan's metadata (``n``, ``c``, ``dimensions``, ``covariates_kept``,
        ``command_line``, ``versions``, ``config``, ``lambda_gc``); may be None.
    overwrite
        Replace existing files; otherwise any existing target raises before anything is written.
    genome_assembly
        Metadata ``genome_assembly`` (e.g. ``GRCh37``, ``GRCh38``).
    coordinate_system
        Metadata ``coordinate_system``, ``1-based`` (PLINK, VCF, BGEN) or ``0-based``.
    trait_description, sample_ancestry_category, genotyping_technology
        Mandatory metadata the scan does not know: default ``[<dim>]`` for the trait and
        ``[NR]`` (not reported) for the others.
    extra_metadata
        More metadata fields (e.g. ``sex``, ``imputation_panel``, ``gwas_id``); they override the
        ones computed here, except ``data_file_name`` and ``data_file_md5sum``.
    dims
        Dimensions to write (default: all).
    digits
        Significant digits of the statistics (default None: the shortest text that reads back
        to the same double).

    Returns
    -------
    GwasSsfFiles
        The paths written and the number of rows in each data file.

    Raises
    ------
    InputError
        Without per-dimension columns (``--per-dim``), with a missing column, an existing output
        (unless ``overwrite``) or a missing output directory.
    """
    import pandas as pd

    fmt = "GWAS-SSF"
    _check_columns(table, fmt)
    dims = _select_dims(table, metadata, dims, fmt)
    parts = _name_parts(dims, fmt)
    if "joint" in parts.values():
        raise InputError(f"{fmt}: a dimension named 'joint' would collide with the joint-test "
                         f"file; rename it")
    meta = dict(metadata or {})
    stem, ext = ssf_stem(path)
    compress = ext.endswith(".gz")
    data_paths = {k: Path(f"{stem}.{parts[k]}{ext}") for k in dims}
    meta_paths = {k: Path(str(p) + "-meta.yaml") for k, p in data_paths.items()}
    joint_path = Path(f"{stem}.joint{ext}")
    targets = [*data_paths.values(), *meta_paths.values(), joint_path]
    for p in targets:
        check_writable(p, overwrite)

    m = len(table)
    chrom = gwas_ssf_chromosome(table["chromosome"])
    pos = pd.to_numeric(table["base_pair_location"], errors="coerce").to_numpy(dtype=np.float64)
    ea = table["effect_allele"].astype(str)
    oa = table["other_allele"].astype(str)
    eaf = table["effect_allele_frequency"].to_numpy(dtype=np.float64)
    err = table["errcode"].astype(str).to_numpy()
    reasons = {
        "NOT_TESTED": err != _ERR_OK,
        "CHROMOSOME": chrom == 0,
        "POSITION": ~(pos > 0),
        "ALLELE": ~(ea.str.fullmatch(_ALLELE_RE).to_numpy(dtype=bool)
                    & oa.str.fullmatch(_ALLELE_RE).to_numpy(dtype=bool)),
        "EAF": ~((eaf >= 0) & (eaf <= 1)),
    }
    row_ok = ~np.logical_or.reduce(list(reasons.values())) if m else np.ones(0, dtype=bool)
    excluded = np.full(m, "", dtype=object)
    for name, bad in reasons.items():
        excluded[bad] = excluded[bad] + "," + name

    pos_int = np.where(np.isfinite(pos), pos, 0).astype(np.int64)
    vid = table["variant_id"].astype(str)
    rsid = np.where(vid.str.fullmatch(_RSID_RE).to_numpy(dtype=bool), vid.to_numpy(), "#NA")
    ssf_id = (pd.Series(chrom).astype(str) + "_" + pd.Series(pos_int).astype(str) + "_"
              + oa.str.upper().reset_index(drop=True) + "_" + ea.str.upper().reset_index(drop=True))
    has_info = "info" in table.columns
    info_text = None
    if has_info:
        info = np.clip(table["info"].to_numpy(dtype=np.float64), 0.0, 1.0)
        info_text = _fmt_g(info, digits, "#NA")
    n_text = _fmt_count(pd.to_numeric(table["n"], errors="coerce"), "#NA")

    frames: dict[str, pd.DataFrame] = {}
    sorted_: dict[str, bool] = {}
    for k in dims:
        beta = table[f"beta_{k}"].to_numpy(dtype=np.float64)
        se = table[f"standard_error_{k}"].to_numpy(dtype=np.float64)
        p = table[f"p_value_{k}"].to_numpy(dtype=np.float64)
        nl10 = _dim_neg_log10_p(table, k, meta)
        stat_ok = np.isfinite(beta) & np.isfinite(se) & (p <= 1) & np.isfinite(nl10) & (nl10 >= 0)
        bad = row_ok & ~stat_ok
        excluded[bad] = excluded[bad] + f",STATS:{k}"
        keep = row_ok & stat_ok
        sorted_[k] = _is_sorted(chrom[keep], pos_int[keep])
        cols = {
            "chromosome": chrom[keep].astype(str),
            "base_pair_location": pos_int[keep].astype(str),
            "effect_allele": ea.to_numpy()[keep],
            "other_allele": oa.to_numpy()[keep],
            "beta": _fmt_g(beta[keep], digits, "#NA"),
            "standard_error": _fmt_g(se[keep], digits, "#NA"),
            "effect_allele_frequency": _fmt_g(eaf[keep], digits, "#NA"),
            "p_value": _fmt_p(p[keep], nl10[keep], digits, "#NA"),
            "variant_id": ssf_id.to_numpy()[keep],
            "rsid": rsid[keep],
        }
        if has_info:
            cols["info"] = info_text[keep]
        cols["n"] = n_text[keep]
        frames[k] = pd.DataFrame(cols)

    excluded = np.array([e[1:] if e else _ERR_OK for e in excluded], dtype=object)
    joint = pd.DataFrame({
        "chromosome": table["chromosome"].astype(str).to_numpy(),
        "base_pair_location": table["base_pair_location"].to_numpy(),
        "variant_id": vid.to_numpy(),
        "effect_allele": ea.to_numpy(),
        "other_allele": oa.to_numpy(),
        "effect_allele_frequency": _fmt_g(eaf, digits, "#NA"),
        "n": n_text,
        "chisq": _fmt_g(table["chisq"].to_numpy(dtype=np.float64), digits, "#NA")
        if "chisq" in table.columns else "#NA",
        "df": table["df"].to_numpy() if "df" in table.columns else "#NA",
        "p_value": _fmt_p(table["p_value"].to_numpy(dtype=np.float64), _joint_neg_log10(table),
                          digits, "#NA"),
        "neg_log_10_p_value": _fmt_g(_joint_neg_log10(table), digits, "#NA"),
        "errcode": err,
        "gwas_ssf_excluded": excluded,
    })

    out = GwasSsfFiles(data=dict(data_paths), metadata=dict(meta_paths), joint=joint_path,
                       n_rows={k: len(frames[k]) for k in dims})
    with _atomic_all(targets, overwrite) as tmps:
        tmp_data = dict(zip(dims, tmps[: len(dims)]))
        tmp_meta = dict(zip(dims, tmps[len(dims): 2 * len(dims)]))
        _write_frame(joint, tmps[-1], "\t", compress)
        for i, k in enumerate(dims):
            _write_frame(frames[k], tmp_data[k], "\t", compress)
            doc = _ssf_metadata(
                meta, dim=k, index=i, n_dims=len(dims), data_path=data_paths[k],
                md5=_md5(tmp_data[k]), joint_path=joint_path, n_rows=len(frames[k]),
                genome_assembly=genome_assembly, coordinate_system=coordinate_system,
                trait_description=trait_description,
                sample_ancestry_category=sample_ancestry_category,
                genotyping_technology=genotyping_technology, extra=extra_metadata,
                is_sorted=sorted_[k], info_capped=has_info)
            tmp_meta[k].write_text("\n".join(["---", *_yaml_lines(doc)]) + "\n", encoding="utf-8")
    return out


def _ssf_metadata(meta: Mapping[str, Any], *, dim: str, index: int, n_dims: int, data_path: Path,
                  md5: str, joint_path: Path, n_rows: int, genome_assembly: str,
                  coordinate_system: str, trait_description, sample_ancestry_category,
                  genotyping_technology, extra: Mapping[str, Any] | None, is_sorted: bool,
                  info_capped: bool) -> dict[str, Any]:
    """The GWAS-SSF metadata of one data file, in the order of the spec's example (Table 2)."""
    import gwaskit

    versions = meta.get("versions") or {}
    software = f"gwaskit {versions.get('gwaskit') or gwaskit.__version__}"
    d = meta.get("d", n_dims)
    notes = (f"gwaskit multi-trait scan, phenotype dimension {dim} ({index + 1} of {d}): "
             f"per-dimension linear regression on the allele dosage, beta and standard_error of "
             f"the effect allele, two-sided t-test p_value. The joint {d}-df test of all "
             f"dimensions is in {joint_path.name} (not GWAS-SSF; its gwas_ssf_excluded column "
             f"says why a variant is missing here). variant_id is "
             f"<chromosome>_<position>_<other_allele>_<effect_allele> in the genotype files' "
             f"REF/ALT orientation, not harmonised.")
    if info_capped:
        notes += " info is the MaCH R2 capped at 1."
    covariates = meta.get("covariates_kept")
    n = meta.get("n")
    sample: dict[str, Any] = {
        "sample_ancestry_category": _as_list(sample_ancestry_category) or ["NR"],
        "sample_size": int(n) if n is not None else None,
        "case_control_study": False,
    }
    doc: dict[str, Any] = {
        "author_notes": notes,
        "date_metadata_last_modified": datetime.date.today(),
        "trait_description": _as_list(trait_description) or [str(dim)],
        "genome_assembly": genome_assembly,
        "coordinate_system": coordinate_system,
        "genotyping_technology": _as_list(genotyping_technology) or ["NR"],
        "samples": [sample],
        "data_file_name": data_path.name,
        "file_type": f"GWAS-SSF v{GWAS_SSF_VERSION}",
        "data_file_md5sum": md5,
        "analysis_software": software,
        "adjusted_covariates": [str(c) for c in covariates] if covariates else None,
        "is_harmonised": False,
        "is_sorted": bool(is_sorted),
    }
    lam = meta.get("lambda_gc")
    doc["gwaskit"] = {
        "dimension": str(dim),
        "n_variants": n_rows,
        "joint_test_file": joint_path.name,
        "joint_test_df": int(d) if d is not None else None,
        "lambda_gc_joint": float(lam) if lam is not None else None,
        "command_line": meta.get("command_line"),
    }
    if extra:
        for key, value in extra.items():
            if key not in ("data_file_name", "data_file_md5sum"):
                doc[key] = value
    return doc


# -- plink2 --glm -----------------------------------------------------------------------------

def _plink2_cols(cols: str | Sequence[str] | None) -> list[str]:
    """plink2 ``cols=`` semantics: a list replaces the default, ``+x``/``-x`` edit it."""
    if cols is None:
        return list(PLINK2_DEFAULT_COLS)
    items = [c.strip() for c in (cols.split(",") if isinstance(cols, str) else cols) if c.strip()]
    if items and all(c[0] in "+-" for c in items):
        chosen = list(PLINK2_DEFAULT_COLS)
        for c in items:
            name = c[1:]
            if name not in PLINK2_COLUMN_SETS:
                raise InputError(f"plink2 --glm: unknown column set {name!r}; choose from "
                                 f"{', '.join(PLINK2_COLUMN_SETS)}")
            if c[0] == "+" and name not in chosen:
                chosen.append(name)
            elif c[0] == "-" and name in chosen:
                chosen.remove(name)
        return chosen
    if any(c[0] in "+-" for c in items):
        raise InputError("plink2 --glm: cols mixes a list with +/- edits")
    unknown = [c for c in items if c not in PLINK2_COLUMN_SETS]
    if unknown:
        raise InputError(f"plink2 --glm: unknown column set(s) {', '.join(unknown)}; choose "
                         f"from {', '.join(PLINK2_COLUMN_SETS)}")
    return items


def write_plink2_glm(
    table: pd.DataFrame,
    out_prefix: str | os.PathLike,
    metadata: Mapping[str, Any] | None = None,
    *,
    overwrite: bool = False,
    cols: str | Sequence[str] | None = None,
    log10: bool = False,
    dims: Sequence[str] | None = None,
    digits: int = 6,
) -> dict[str, Path]:
    """Write plink2 ``--glm`` linear-regression reports, ``<out_prefix>.<dim>.glm.linear``.

    Parameters
    ----------
    table
        The ``gwaskit scan --per-dim`` result table.
    out_prefix
        As plink2's ``--out``.
    metadata
        The scan's metadata (dimension order, and ``c`` to recompute underflowed p-values).
    overwrite
        Replace existing files; otherwise any existing target raises before anything is written.
    cols
        plink2 ``cols=`` column sets, e.g. ``"+a1freq,+machr2"`` or a full list; default
        :data:`PLINK2_DEFAULT_COLS` (``#CHROM POS ID REF ALT A1 TEST OBS_CT BETA SE T_STAT P
        ERRCODE``). ``ID`` and ``A1`` are always written.
    log10
        Write ``LOG10_P`` (-log10 p) instead of ``P``, as plink2's ``log10`` modifier.
    dims
        Dimensions to write (default: all).
    digits
        Significant digits (plink2 prints 6).

    Returns
    -------
    dict
        Dimension name -> file written.

    Raises
    ------
    InputError
        Without per-dimension columns (``--per-dim``), with an unknown column set, ``machr2``
        without an ``info`` column, or an existing output (unless ``overwrite``).

    Notes
    -----
    REF = other_allele, ALT = ALT1 = A1 = effect_allele, AX = other_allele, A1_CT = 2 n EAF,
    ALLELE_CT = 2 n, TEST = ``ADD``, OBS_CT = n, T_STAT = BETA/SE, ERRCODE = gwaskit's errcode.
    NA conventions follow plink2 2.00a3.5: ``NA`` in the regression columns of an untested
    variant, ``nan`` for an undefined A1_FREQ or MACH_R2.
    """
    fmt = "plink2 --glm"
    _check_columns(table, fmt)
    dims = _select_dims(table, metadata, dims, fmt)
    parts = _name_parts(dims, fmt)
    chosen = set(_plink2_cols(cols)) | {"ID", "A1"}
    if "beta" in chosen:
        chosen.discard("orbeta")
    if "machr2" in chosen and "info" not in table.columns:
        raise InputError(f"{fmt}: column set machr2 needs the scan table's info column")
    order = [c for c in _PLINK2_ORDER if c in chosen]
    paths = {k: Path(f"{os.fspath(out_prefix)}.{parts[k]}.glm.linear") for k in dims}
    for p in paths.values():
        check_writable(p, overwrite)

    import pandas as pd

    tested = table["errcode"].astype(str).to_numpy() == _ERR_OK
    n = table["n"].to_numpy(dtype=np.float64)
    eaf = table["effect_allele_frequency"].to_numpy(dtype=np.float64)
    common = {
        "chrom": table["chromosome"].astype(str).to_numpy(),
        "pos": table["base_pair_location"].astype(str).to_numpy(),
        "ID": table["variant_id"].astype(str).to_numpy(),
        "ref": table["other_allele"].astype(str).to_numpy(),
        "alt1": table["effect_allele"].astype(str).to_numpy(),
        "alt": table["effect_allele"].astype(str).to_numpy(),
        "A1": table["effect_allele"].astype(str).to_numpy(),
        "ax": table["other_allele"].astype(str).to_numpy(),
        "a1count": _fmt_g(2.0 * n * eaf, digits, "nan"),
        "totallele": _fmt_int(2 * np.nan_to_num(n)),
        "a1freq": _fmt_g(eaf, digits, "nan"),
        "test": np.full(len(table), "ADD", dtype=object),
        "nobs": _fmt_int(np.nan_to_num(n)),
        "err": table["errcode"].astype(str).to_numpy(),
    }
    if "machr2" in chosen:
        common["machr2"] = _fmt_g(table["info"].to_numpy(dtype=np.float64), digits, "nan")
    frames = {}
    for k in dims:
        beta = table[f"beta_{k}"].to_numpy(dtype=np.float64)
        se = table[f"standard_error_{k}"].to_numpy(dtype=np.float64)
        ok = tested & np.isfinite(beta) & np.isfinite(se)
        with np.errstate(divide="ignore", invalid="ignore"):
            t = beta / se
        nl10 = _dim_neg_log10_p(table, k, metadata)
        p = table[f"p_value_{k}"].to_numpy(dtype=np.float64)
        nan = np.full(len(table), np.nan)
        col = dict(common)
        col["beta"] = col["orbeta"] = _fmt_g(np.where(ok, beta, nan), digits, "NA")
        col["se"] = _fmt_g(np.where(ok, se, nan), digits, "NA")
        col["tz"] = _fmt_g(np.where(ok, t, nan), digits, "NA")
        col["p"] = (_fmt_g(np.where(ok, nl10, nan), digits, "NA") if log10
                    else _fmt_p(np.where(ok, p, nan), np.where(ok, nl10, nan), digits, "NA"))
        frame = pd.DataFrame({c: col[c] for c in order})
        header = [c if c in ("ID", "A1") else PLINK2_COLUMN_SETS[c] for c in order]
        if log10:
            header = ["LOG10_P" if h == "P" else h for h in header]
        frames[k] = (frame, header)
    with _atomic_all(list(paths.values()), overwrite) as tmps:
        for k, tmp in zip(dims, tmps):
            frame, header = frames[k]
            _write_frame(frame, tmp, "\t", compress=False, header=header)
    return paths


# -- REGENIE ----------------------------------------------------------------------------------

def _regenie_chrom(chromosome) -> np.ndarray:
    import pandas as pd

    text = pd.Series(chromosome).astype(str).str.strip()
    bare = text.str.replace(r"^(chr|CHR|Chr)", "", regex=True)
    upper = bare.str.upper()
    out = bare.where(~upper.isin(["X", "Y", "XY", "PAR1", "PAR2"]), "23")
    out = out.where(~out.str.fullmatch(r"0+[0-9]+"), out.str.lstrip("0"))
    return out.to_numpy(dtype=object)


def write_regenie(
    table: pd.DataFrame,
    out_prefix: str | os.PathLike,
    metadata: Mapping[str, Any] | None = None,
    *,
    overwrite: bool = False,
    gz: bool = False,
    dims: Sequence[str] | None = None,
    digits: int = 6,
) -> dict[str, Path]:
    """Write REGENIE step-2 per-trait result files, ``<out_prefix>_<dim>.regenie``.

    Parameters
    ----------
    table
        The ``gwaskit scan --per-dim`` result table.
    out_prefix
        As REGENIE's ``--out``.
    metadata
        The scan's metadata (dimension order, and ``c`` to recompute underflowed p-values).
    overwrite
        Replace existing files; otherwise any existing target raises before anything is written.
    gz
        Gzip the files (``.regenie.gz``), as REGENIE's ``--gz``.
    dims
        Dimensions to write (default: all).
    digits
        Significant digits (REGENIE prints 6).

    Returns
    -------
    dict
        Dimension name -> file written.

    Raises
    ------
    InputError
        Without per-dimension columns (``--per-dim``) or with an existing output (unless
        ``overwrite``).

    Notes
    -----
    Space separated :data:`REGENIE_COLUMNS` (``INFO`` only when the table has ``info``, as
    REGENIE writes it for dosage input only). ALLELE0 = other_allele, ALLELE1 = effect_allele
    (the tested allele), A1FREQ = its frequency, TEST = ``ADD``, CHISQ = (BETA/SE)², LOG10P =
    -log10 of gwaskit's per-dimension p-value, EXTRA = ``NA``; an untested variant has ``NA``
    statistics and EXTRA ``TEST_FAIL``. Missing values are ``NA``.
    """
    import pandas as pd

    fmt = "REGENIE"
    _check_columns(table, fmt)
    dims = _select_dims(table, metadata, dims, fmt)
    parts = _name_parts(dims, fmt)
    ext = ".regenie.gz" if gz else ".regenie"
    paths = {k: Path(f"{os.fspath(out_prefix)}_{parts[k]}{ext}") for k in dims}
    for p in paths.values():
        check_writable(p, overwrite)

    tested = table["errcode"].astype(str).to_numpy() == _ERR_OK
    n = table["n"].to_numpy(dtype=np.float64)
    head = {
        "CHROM": _regenie_chrom(table["chromosome"].to_numpy()),
        "GENPOS": table["base_pair_location"].astype(str).to_numpy(),
        "ID": table["variant_id"].astype(str).to_numpy(),
        "ALLELE0": table["other_allele"].astype(str).to_numpy(),
        "ALLELE1": table["effect_allele"].astype(str).to_numpy(),
        "A1FREQ": _fmt_g(table["effect_allele_frequency"].to_numpy(dtype=np.float64), digits, "NA"),
    }
    if "info" in table.columns:
        head["INFO"] = _fmt_g(table["info"].to_numpy(dtype=np.float64), digits, "NA")
    head["N"] = _fmt_int(np.nan_to_num(n))
    head["TEST"] = np.full(len(table), "ADD", dtype=object)
    frames = {}
    for k in dims:
        beta = table[f"beta_{k}"].to_numpy(dtype=np.float64)
        se = table[f"standard_error_{k}"].to_numpy(dtype=np.float64)
        ok_se = tested & np.isfinite(beta) & np.isfinite(se) & (se >= 0)
        nl10 = _dim_neg_log10_p(table, k, metadata)
        ok_p = ok_se & np.isfinite(nl10)
        with np.errstate(divide="ignore", invalid="ignore"):
            chisq = (beta / se) ** 2
        nan = np.full(len(table), np.nan)
        col = dict(head)
        col["BETA"] = _fmt_g(np.where(ok_se, beta, nan), digits, "NA")
        col["SE"] = _fmt_g(np.where(ok_se, se, nan), digits, "NA")
        col["CHISQ"] = _fmt_g(np.where(ok_p, chisq, nan), digits, "NA")
        col["LOG10P"] = _fmt_g(np.where(ok_p, nl10, nan), digits, "NA")
        col["EXTRA"] = np.where(ok_p, "NA", "TEST_FAIL").astype(object)
        frames[k] = pd.DataFrame(col)
    with _atomic_all(list(paths.values()), overwrite) as tmps:
        for k, tmp in zip(dims, tmps):
            _write_frame(frames[k], tmp, " ", compress=gz)
    return paths

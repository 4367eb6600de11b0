"""Phenotype and covariate tables, and the sample intersection of an analysis.

Tables are Parquet, CSV, or delimited text (``.tsv``, ``.txt``, ``.psam``, ``.pheno``, ``.cov``;
tab-separated when the header has a tab, else whitespace) with an ``IID`` column and an optional
``FID`` column (a leading ``#`` on the header, as plink2 writes it, is ignored; an all-``NA``
FID column is dropped). Samples are matched to the genotypes on IID alone, as strings exactly
as written; FID is carried through to outputs but never used for matching, because BGEN files
usually embed a single identifier per sample.

Nothing goes wrong silently: an ID overlap under 50% of the smaller side, or unmatched IDs that
differ only by leading zeros, is refused (:func:`check_id_overlap`); a non-numeric cell in a
numeric column is an error naming the file, column, data row and value; the default phenotype
selection never takes ``SEX``/``PAT``/``MAT``/``split`` and logs what it took; a table whose
``split`` column holds several values (a learner's train/val/test) must be told which rows to
use (:func:`load_analysis_data`).

Missing values are ``NA``, ``NaN``, ``nan`` or an empty field. The association scan needs
complete cases across all selected phenotype columns and covariates (the REGENIE ``--strict``
rule); :func:`load_analysis_data` applies it and logs the count after every step, in the
plink2 manner.
"""
from __future__ import annotations

import fnmatch
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from .._log import logger
from ..errors import InputError
from .output import table_format

ID_COLUMNS = ("FID", "IID")
MISSING_VALUES = ["NA", "NaN", "nan", "", "#NA"]
#: Columns never taken as phenotypes by the default selection (compared case-insensitively):
#: plink's .psam/.fam sample columns and the learner's train/val/test label.
NON_PHENOTYPE_COLUMNS = ("FID", "IID", "SEX", "PAT", "MAT", "split")
#: Text extensions read as delimited tables (the delimiter is sniffed from the header line).
TEXT_SUFFIXES = (".tsv", ".txt", ".tab", ".psam", ".pheno", ".cov", ".eigenvec")
#: Below this fraction of matched IDs (of the smaller side) an analysis is refused.
MIN_ID_MATCH = 0.5


def _table_format(path: Path) -> str:
    """``parquet``, ``csv`` or ``text`` from the extension (``.gz`` allowed for text)."""
    name = path.name.lower().removesuffix(".gz")
    if name.endswith((".parquet", ".pq")):
        return "parquet"
    if name.endswith(".csv"):
        return "csv"
    if name.endswith(TEXT_SUFFIXES):
        return "text"
    table_format(path)  # raises the one "unknown table extension" message
    return "text"


def _header_line(path: Path) -> str:
    import gzip

    opener = gzip.open if path.name.lower().endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8", errors="replace") as fh:
        for line in fh:
            if line.strip():
                return line
    return ""


def _sniff_sep(path: Path) -> str:
    """Tab when the header line has a tab (so fields may contain spaces), else any whitespace:
    plink's .psam/.pheno/.cov files and hand-written tables are often space-separated."""
    return "\t" if "\t" in _header_line(path) else r"\s+"


def read_table(path: str | os.PathLike) -> pd.DataFrame:
    """Read a sample table; ``IID`` (and ``FID`` when present) are returned as strings.

    Parameters
    ----------
    path
        ``.parquet``; ``.csv[.gz]`` (comma); or a delimited text file ``.tsv``, ``.txt``,
        ``.tab``, ``.psam``, ``.pheno``, ``.cov`` (optionally ``.gz``): tab-separated when the
        header line contains a tab, otherwise whitespace-separated. A leading ``#`` on the
        header (``#FID``, ``#IID``, as plink2 writes it) is dropped.

    Returns
    -------
    DataFrame with the file's columns in file order. IDs are strings as written (a Parquet
    integer ID 7 becomes ``'7'``, never ``'0007'``). An ``FID`` column that is entirely
    missing (``NA``) is dropped: such tables (e.g. from BGEN files without family IDs) carry
    no FID. Columns with non-numeric cells are kept as text; :func:`select_columns` and
    :func:`numeric_matrix` report such a cell by column, data row and value.

    Raises
    ------
    InputError
        If the file is missing or unreadable, has no ``IID`` column, has an ID missing on some
        rows, or repeats an IID.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: file not found")
    fmt = _table_format(path)
    try:
        if fmt == "parquet":
            # no Arrow thread pools for a small table: a native pool thread still alive when an
            # error exits the process can abort it (std::terminate, exit 134; apache/arrow#34314)
            df = pd.read_parquet(path, use_threads=False, pre_buffer=False)
        else:
            sep = "," if fmt == "csv" else _sniff_sep(path)
            df = pd.read_csv(path, sep=sep, dtype={c: str for c in ("FID", "IID", "#FID", "#IID")},
                             na_values=MISSING_VALUES, keep_default_na=False)
    except InputError:
        raise
    except Exception as exc:  # pyarrow/pandas raise many types for a corrupt file
        raise InputError(f"{path}: cannot read table ({type(exc).__name__}: {exc})") from None
    df.columns = [str(c) for c in df.columns]
    df = df.rename(columns={c: c.lstrip("#") for c in df.columns[:1]})
    if "IID" not in df.columns:
        raise InputError(f"{path}: no IID column (columns: {', '.join(map(str, df.columns[:8]))})")
    if "FID" in df.columns and len(df) and df["FID"].isna().all():
        df = df.drop(columns="FID")
    for col in ID_COLUMNS:
        if col in df.columns:
            if df[col].isna().any():
                row = int(np.flatnonzero(df[col].isna().to_numpy())[0])
                raise InputError(f"{path}: column {col} is missing on data row {row + 1}")
            df[col] = df[col].map(_id_str)
    dup = df["IID"].duplicated()
    if dup.any():
        raise InputError(f"{path}: duplicate IID {df['IID'][dup].iloc[0]!r} "
                         f"({int(dup.sum())} duplicated rows)")
    return df


def _id_str(v) -> str:
    """An ID as a string: integers stored as floats (Parquet with NA, 7.0) print as '7'."""
    if isinstance(v, (float, np.floating)) and float(v).is_integer():
        return str(int(v))
    return str(v)


def _first_bad_cell(values: pd.Series) -> tuple[int, object] | None:
    """(0-based row, value) of the first non-missing cell of a text column that is not a
    number, or None when every cell is a number or missing."""
    if pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        return None
    bad = values.notna().to_numpy() & pd.to_numeric(values, errors="coerce").isna().to_numpy()
    if not bad.any():
        return None
    row = int(np.flatnonzero(bad)[0])
    return row, values.iloc[row]


def _is_mixed(values: pd.Series) -> bool:
    """A text column in which some cells are numbers: a numeric column with bad cells."""
    if pd.api.types.is_numeric_dtype(values):
        return False
    return bool(pd.to_numeric(values, errors="coerce").notna().any())


def _bad_cell_error(path, col: str, cell: tuple[int, object], what: str) -> InputError:
    row, value = cell
    line = "" if _table_format(Path(path)) == "parquet" else f", line {row + 2}"
    return InputError(f"{path}: {what} {col}: non-numeric value {value!r} on data row {row + 1}"
                      f"{line} (rows counted from 1 after the header)")


def select_columns(df: pd.DataFrame, patterns: Sequence[str] | str | None, path: str | os.PathLike,
                   what: str = "column",
                   exclude: Sequence[str] = NON_PHENOTYPE_COLUMNS) -> list[str]:
    """Resolve column names or glob patterns (``'emb_*'``) against ``df``, in file order.

    Parameters
    ----------
    df, path
        The table and its file (for messages).
    patterns
        Names or globs; each must match at least one non-ID column. ``None`` selects every
        numeric column except :data:`NON_PHENOTYPE_COLUMNS` (``SEX``, ``PAT``, ``MAT``,
        ``split``, ...; case-insensitive). Text columns (no cell is a number, e.g. a label)
        are skipped; a column whose cells are numbers except some is an error naming the
        column, row and value, so one bad cell never silently drops a column. The selection
        is logged.
    what
        Noun for messages (``"phenotype column"``).
    exclude
        Column names the default selection never takes (case-insensitive).

    Returns
    -------
    list of str
    """
    candidates = [c for c in df.columns if c not in ID_COLUMNS]
    if patterns is None:
        excluded = {c.lower() for c in exclude}
        reserved = [c for c in candidates if str(c).lower() in excluded]
        chosen, text = [], []
        for c in candidates:
            if c in reserved:
                continue
            if pd.api.types.is_numeric_dtype(df[c]) or df[c].isna().all():
                chosen.append(c)
            elif _is_mixed(df[c]):
                raise _bad_cell_error(path, c, _first_bad_cell(df[c]), what)
            else:
                text.append(c)
        if not chosen:
            raise InputError(f"{path}: no numeric {what}s")
        logger.info("%s: using %d %ss by default (%s)%s%s", path, len(chosen), what,
                    _abbrev(chosen), f"; not used: {', '.join(reserved)}" if reserved else "",
                    f"; non-numeric, skipped: {', '.join(text)}" if text else "")
        return chosen
    if isinstance(patterns, str):
        patterns = [p for p in patterns.split(",") if p]
    chosen = []
    for pattern in patterns:
        hits = [c for c in candidates if fnmatch.fnmatchcase(str(c), pattern)]
        if not hits:
            raise InputError(f"{path}: no {what} matches {pattern!r}")
        chosen.extend(h for h in hits if h not in chosen)
    return [c for c in candidates if c in chosen]


def _abbrev(names: Sequence[str], k: int = 6) -> str:
    names = [str(n) for n in names]
    return ", ".join(names) if len(names) <= k else ", ".join(names[:k - 1]) + f", ..., {names[-1]}"


def numeric_matrix(df: pd.DataFrame, columns: Sequence[str], path: str | os.PathLike,
                   what: str = "column") -> np.ndarray:
    """Columns as a float64 matrix.

    Raises
    ------
    InputError
        For the first non-numeric cell, naming the file, column, data row and value.
    """
    for col in columns:
        cell = _first_bad_cell(df[col])
        if cell is not None:
            raise _bad_cell_error(path, col, cell, what)
    out = np.empty((len(df), len(columns)))
    for j, col in enumerate(columns):
        out[:, j] = pd.to_numeric(df[col], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    return out


def _canon_id(s: str) -> str | None:
    """The number an ID spells ('0007', '7', '7.0' -> '7'), or None for non-numeric IDs."""
    t = s.strip()
    if not t or not (t.isdigit() or (t.replace(".", "", 1).isdigit() and t.endswith(".0"))):
        return None
    return str(int(float(t))) if "." in t else str(int(t))


def check_id_overlap(geno: pd.Index, table_ids: pd.Index, path, allow_mismatch: bool = False) -> int:
    """Refuse an ID match between genotype samples and a table that is probably wrong.

    Parameters
    ----------
    geno, table_ids
        Genotype sample IIDs and the table's IIDs (strings).
    path
        The table (for messages).
    allow_mismatch
        Only log (``allow_id_mismatch=True``): the overlap is what the user wants.

    Returns
    -------
    int
        The number of table IDs found among the genotype samples.

    Raises
    ------
    InputError
        When fewer than :data:`MIN_ID_MATCH` of the smaller side match (a subset of either
        side is fine: a phenotyped sub-cohort, or genotypes of one batch), or when IDs that
        do not match spell the same number on both sides (``'7'`` vs ``'0007'``: IDs stored
        as numbers lost their leading zeros). The message gives both counts and three
        example IDs from each side.
    """
    in_geno = table_ids.isin(geno)
    n = int(in_geno.sum())
    smaller = min(len(geno), len(table_ids))
    problem = None
    if n == 0:
        problem = "no IID in common with the genotype samples"
    elif smaller and n < MIN_ID_MATCH * smaller:
        problem = (f"only {n} of its {len(table_ids)} IIDs are among the {len(geno)} genotype "
                   f"samples (less than {MIN_ID_MATCH:.0%} of the smaller side)")
    else:
        lost = table_ids[~in_geno]
        free = geno[~geno.isin(table_ids)]
        if len(lost) and len(free):
            canon = {c for c in map(_canon_id, free[:200_000]) if c is not None}
            same = [s for s in lost[:200_000] if _canon_id(s) in canon]
            if same:
                problem = (f"{len(same)} unmatched IIDs spell the same number as a genotype "
                           f"sample ID (e.g. {same[0]!r}; were IDs stored as numbers and "
                           f"leading zeros lost?); {n} of {len(table_ids)} matched")
    if problem is None:
        if n < len(table_ids) or n < len(geno):
            logger.info("%s: %d of %d IIDs matched to the %d genotype samples", path, n,
                        len(table_ids), len(geno))
        return n
    ex_t = ", ".join(repr(s) for s in table_ids[~in_geno][:3])
    ex_g = ", ".join(repr(s) for s in geno[~geno.isin(table_ids)][:3])
    msg = (f"{path}: {problem}; unmatched examples: table {ex_t}; genotypes {ex_g} "
           f"(pass allow_id_mismatch=True if this is intended)")
    if allow_mismatch:
        logger.warning("%s", msg.replace(" (pass allow_id_mismatch=True if this is intended)", ""))
        return n
    raise InputError(msg)


def one_hot(df: pd.DataFrame, column: str) -> tuple[np.ndarray, list[str]]:
    """Dummy-code a categorical column, dropping its first level (sorted); NaN stays missing."""
    values = df[column]
    levels = sorted(values.dropna().astype(str).unique())
    if len(levels) < 2:
        return np.empty((len(df), 0)), []
    codes = values.astype("object").where(values.notna(), None)
    out = np.zeros((len(df), len(levels) - 1))
    for j, level in enumerate(levels[1:]):
        out[:, j] = (codes.astype(str) == level).to_numpy()
    out[values.isna().to_numpy()] = np.nan
    return out, [f"{column}={level}" for level in levels[1:]]


@dataclass
class AnalysisData:
    """Phenotypes and covariates aligned to the genotype samples of one analysis.

    Attributes
    ----------
    sample_index
        Positions of the analysis samples in the genotype files' sample order (ascending).
    iids, fids
        Their identifiers (``fids`` from the phenotype table, or None).
    Y
        N x D phenotype matrix (float64), complete cases only.
    pheno_names
        The D phenotype column names.
    covariates
        N x k covariate matrix, categorical columns one-hot encoded with the first level
        dropped; **no intercept** (the model always adds one).
    covariate_names
        The k covariate names.
    counts
        Sample counts after each step, for the log and the metadata sidecar.
    """

    sample_index: np.ndarray
    iids: np.ndarray
    Y: np.ndarray
    pheno_names: list[str]
    covariates: np.ndarray
    covariate_names: list[str]
    fids: np.ndarray | None = None
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def n_samples(self) -> int:
        return int(self.Y.shape[0])


def load_analysis_data(
    genotype_iids: Sequence[str],
    pheno: str | os.PathLike,
    pheno_cols: Sequence[str] | str | None = None,
    covar: str | os.PathLike | None = None,
    covar_cols: Sequence[str] | str | None = None,
    categorical: Sequence[str] = (),
    keep: Sequence[str] | None = None,
    *,
    allow_id_mismatch: bool = False,
    samples_chosen: bool = False,
    split_col: str = "split",
    split_values: Sequence[str] | None = None,
    all_splits: bool = False,
) -> AnalysisData:
    """Intersect genotype samples with phenotypes and covariates; keep complete cases.

    Parameters
    ----------
    genotype_iids
        Sample IIDs of the genotype files, in file order.
    pheno, pheno_cols
        Phenotype table and the columns (names or globs) to analyse; default: every numeric
        column but :data:`NON_PHENOTYPE_COLUMNS` (see :func:`select_columns`).
    covar, covar_cols, categorical
        Optional covariate table, its columns (default: all non-ID columns), and which of them
        are categorical (one-hot encoded, first level dropped). A non-numeric covariate not
        declared categorical is an error.
    keep
        Optional IIDs to restrict the analysis to.
    allow_id_mismatch
        Accept an ID overlap that :func:`check_id_overlap` refuses (it is then only logged).
    samples_chosen
        ``genotype_iids`` are already a sample list the user chose explicitly (plink2
        ``--keep``): like ``keep``, this answers the held-out guard.
    split_col, split_values, all_splits
        Held-out guard: a phenotype table whose ``split_col`` column holds more than one value
        (a learner's train/val/test labels) is refused unless ``split_values`` selects the
        rows to use (e.g. ``["test"]``: GWAS on individuals the learner never saw), ``keep``
        names the samples, or ``all_splits=True`` uses every row on purpose.

    Returns
    -------
    AnalysisData, with samples in genotype-file order.
    """
    geno = pd.Index(np.asarray(genotype_iids, dtype=str))
    if geno.has_duplicates:
        raise InputError(f"genotype samples: duplicate IID {geno[geno.duplicated()][0]!r}")
    counts = {"genotypes": len(geno)}
    logger.info("%d samples in the genotype files", len(geno))

    ph = read_table(pheno)
    ph = _select_split(ph, pheno, split_col, split_values, all_splits,
                       keep is not None or samples_chosen)
    names = select_columns(ph, pheno_cols, pheno, "phenotype column")
    Y_all = numeric_matrix(ph, names, pheno, "phenotype column")
    if len(ph) == 0:
        raise InputError(f"{pheno}: the table has no rows")
    check_id_overlap(geno, pd.Index(ph["IID"]), pheno, allow_id_mismatch)
    mask = geno.isin(ph["IID"])
    counts["phenotyped"] = int(mask.sum())
    logger.info("%s: %d rows, %d phenotype columns; %d of them in the genotype files",
                pheno, len(ph), len(names), counts["phenotyped"])
    if counts["phenotyped"] == 0:
        raise InputError(f"{pheno}: no IID in common with the genotype samples "
                         f"(e.g. genotype {geno[0]!r}, phenotype {ph['IID'].iloc[0]!r})")
    pos_ph = pd.Index(ph["IID"]).get_indexer(geno)

    C_all = np.empty((len(ph), 0))
    cov_names: list[str] = []
    pos_cv = None
    if covar is not None:
        cv = read_table(covar)
        if len(cv) == 0:
            raise InputError(f"{covar}: the table has no rows")
        unknown = [c for c in categorical if c not in cv.columns]
        if unknown:
            raise InputError(f"{covar}: categorical column {unknown[0]!r} not found")
        cols = select_columns(cv, covar_cols if covar_cols is not None else ["*"], covar, "covariate column")
        blocks, cov_names = [], []
        for col in cols:
            if col in categorical:
                block, block_names = one_hot(cv, col)
            else:
                if not pd.api.types.is_numeric_dtype(cv[col]) and not cv[col].isna().all():
                    if _is_mixed(cv[col]):
                        raise _bad_cell_error(covar, col, _first_bad_cell(cv[col]), "covariate column")
                    raise InputError(f"{covar}: covariate {col} is not numeric; "
                                     f"declare it categorical ({col!r})")
                block, block_names = numeric_matrix(cv, [col], covar, "covariate column"), [col]
            blocks.append(block)
            cov_names.extend(block_names)
        C_all = np.hstack(blocks) if blocks else np.empty((len(cv), 0))
        check_id_overlap(geno, pd.Index(cv["IID"]), covar, allow_id_mismatch)
        pos_cv = pd.Index(cv["IID"]).get_indexer(geno)
        in_cv = pos_cv >= 0
        logger.info("%s: %d rows, %d covariates after encoding; %d phenotyped samples have them",
                    covar, len(cv), len(cov_names), int((mask & in_cv).sum()))
        mask &= in_cv
        counts["with_covariates"] = int(mask.sum())

    if keep is not None:
        mask &= geno.isin(pd.Index(np.asarray(keep, dtype=str)))
        counts["kept"] = int(mask.sum())
        logger.info("keep: %d samples remain", counts["kept"])

    idx = np.flatnonzero(mask)
    Y = Y_all[pos_ph[idx]]
    C = C_all[pos_cv[idx]] if pos_cv is not None else np.empty((len(idx), 0))
    _check_finite(Y, names, pheno, "phenotype column")
    _check_finite(C, cov_names, covar, "covariate")
    complete = ~np.isnan(Y).any(axis=1) & ~np.isnan(C).any(axis=1)
    dropped = int((~complete).sum())
    idx, Y, C = idx[complete], Y[complete], C[complete]
    counts["complete_cases"] = len(idx)
    logger.info("%d samples with complete phenotypes and covariates (%d dropped for missing values)",
                len(idx), dropped)
    if len(idx) == 0:
        raise InputError(f"{pheno}: no sample has complete phenotypes and covariates")
    fids = ph["FID"].to_numpy()[pos_ph[idx]] if "FID" in ph.columns else None
    return AnalysisData(sample_index=idx, iids=np.asarray(geno[idx]), Y=Y, pheno_names=[str(n) for n in names],
                        covariates=C, covariate_names=cov_names, fids=fids, counts=counts)


#: Largest magnitude accepted in a phenotype or covariate: squares and cross-products of
#: values beyond it overflow float64 in the null model (sqrt of the float64 maximum / 1e4).
MAX_ABS_VALUE = 1e150


def _check_finite(M: np.ndarray, names: Sequence[str], path, what: str) -> None:
    """Infinite or huge values are an error naming the column (NaN is missing, not an error):
    they would overflow the null fit (a LinAlgError deep in the PCA instead of a message)."""
    bad = np.isinf(M) | (np.abs(np.nan_to_num(M)) > MAX_ABS_VALUE)
    if bad.any():
        j = int(np.flatnonzero(bad.any(axis=0))[0])
        v = M[np.flatnonzero(bad[:, j])[0], j]
        raise InputError(f"{path}: {what} {names[j]}: value {float(v)!r} is infinite or beyond "
                         f"+-{MAX_ABS_VALUE:g} (rescale the column)")


def _select_split(ph: pd.DataFrame, path, split_col: str, split_values: Sequence[str] | None,
                  all_splits: bool, has_keep: bool) -> pd.DataFrame:
    """The held-out guard of :func:`load_analysis_data`: rows of the chosen split(s)."""
    if split_values is not None:
        if all_splits:
            raise InputError("split_values and all_splits are mutually exclusive")
        if split_col not in ph.columns:
            raise InputError(f"{path}: no column {split_col!r} to select split_values from")
        want = [str(v) for v in split_values]
        labels = ph[split_col].astype("string")
        sel = labels.isin(want).fillna(False).to_numpy(dtype=bool)
        if not sel.any():
            have = sorted(labels.dropna().unique())
            raise InputError(f"{path}: no row has {split_col} in {want} "
                             f"(values: {', '.join(map(str, have[:8]))})")
        logger.info("%s: using the %d rows with %s in %s (of %d)", path, int(sel.sum()),
                    split_col, ", ".join(want), len(ph))
        return ph[sel].reset_index(drop=True)
    if split_col in ph.columns and not all_splits and not has_keep:
        levels = ph[split_col].dropna().astype(str).unique()
        if len(levels) > 1:
            raise InputError(
                f"{path}: column {split_col} holds {len(levels)} values "
                f"({', '.join(sorted(levels)[:5])}); say which rows to scan (split_values=['test']"
                f" for held-out individuals, or keep the samples to use), or pass all_splits=True to use them all")
    return ph

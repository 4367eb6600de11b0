"""Phenotype and covariate tables, and the sample intersection of an analysis.

Tables are Parquet, CSV or TSV (chosen by extension) with an ``IID`` column and an optional
``FID`` column (a leading ``#`` on the header, as plink2 writes it, is ignored). Samples are
matched to the genotypes on IID alone; FID is carried through to outputs but never used for
matching, because BGEN files usually embed a single identifier per sample.

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


def read_table(path: str | os.PathLike) -> pd.DataFrame:
    """Read a sample table; ``IID`` (and ``FID`` when present) are returned as strings.

    Parameters
    ----------
    path
        ``.parquet``, ``.csv[.gz]``, ``.tsv[.gz]`` or ``.txt`` (whitespace-separated) file.

    Returns
    -------
    DataFrame with the file's columns in file order.

    Raises
    ------
    InputError
        If the file is missing or unreadable, has no ``IID`` column, or repeats an IID.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: file not found")
    fmt = table_format(path)
    try:
        if fmt == "parquet":
            df = pd.read_parquet(path)
        else:
            sep = {"csv": ","}.get(fmt, "\t")
            if str(path).lower().endswith((".txt", ".txt.gz")):
                sep = r"\s+"
            df = pd.read_csv(path, sep=sep, dtype={c: str for c in ("FID", "IID", "#FID", "#IID")},
                             na_values=MISSING_VALUES, keep_default_na=False)
    except InputError:
        raise
    except Exception as exc:  # pyarrow/pandas raise many types for a corrupt file
        raise InputError(f"{path}: cannot read table ({type(exc).__name__}: {exc})") from None
    df = df.rename(columns={c: c.lstrip("#") for c in df.columns[:1]})
    if "IID" not in df.columns:
        raise InputError(f"{path}: no IID column (columns: {', '.join(map(str, df.columns[:8]))})")
    for col in ID_COLUMNS:
        if col in df.columns:
            if df[col].isna().any():
                row = int(np.flatnonzero(df[col].isna().to_numpy())[0])
                raise InputError(f"{path}: column {col} is missing on row {row + 1}")
            df[col] = df[col].astype(str)
    dup = df["IID"].duplicated()
    if dup.any():
        raise InputError(f"{path}: duplicate IID {df['IID'][dup].iloc[0]!r} "
                         f"({int(dup.sum())} duplicated rows)")
    return df


def select_columns(df: pd.DataFrame, patterns: Sequence[str] | str | None, path: str | os.PathLike,
                   what: str = "column") -> list[str]:
    """Resolve column names or glob patterns (``'emb_*'``) against ``df``, in file order.

    Each pattern must match at least one non-ID column; ``None`` selects every numeric non-ID
    column (non-numeric columns such as a ``split`` label are then skipped and logged).
    """
    candidates = [c for c in df.columns if c not in ID_COLUMNS]
    if patterns is None:
        numeric = [c for c in candidates if pd.api.types.is_numeric_dtype(df[c])]
        skipped = [c for c in candidates if c not in numeric]
        if skipped:
            logger.info("%s: ignoring non-numeric %ss %s", path, what, ", ".join(map(str, skipped)))
        if not numeric:
            raise InputError(f"{path}: no numeric {what}s")
        return numeric
    if isinstance(patterns, str):
        patterns = [p for p in patterns.split(",") if p]
    chosen: list[str] = []
    for pattern in patterns:
        hits = [c for c in candidates if fnmatch.fnmatchcase(str(c), pattern)]
        if not hits:
            raise InputError(f"{path}: no {what} matches {pattern!r}")
        chosen.extend(h for h in hits if h not in chosen)
    return [c for c in candidates if c in chosen]


def numeric_matrix(df: pd.DataFrame, columns: Sequence[str], path: str | os.PathLike) -> np.ndarray:
    """Columns as a float64 matrix; a non-numeric column is an error naming it."""
    for col in columns:
        if not pd.api.types.is_numeric_dtype(df[col]) and not df[col].isna().all():
            bad = df[col][pd.to_numeric(df[col], errors="coerce").isna() & df[col].notna()]
            raise InputError(f"{path}: column {col} is not numeric (e.g. {bad.iloc[0]!r})")
    return df[list(columns)].to_numpy(dtype=np.float64, na_value=np.nan)


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
) -> AnalysisData:
    """Intersect genotype samples with phenotypes and covariates; keep complete cases.

    Parameters
    ----------
    genotype_iids
        Sample IIDs of the genotype files, in file order.
    pheno, pheno_cols
        Phenotype table and the columns (names or globs) to analyse; default: every numeric
        non-ID column.
    covar, covar_cols, categorical
        Optional covariate table, its columns (default: all non-ID columns), and which of them
        are categorical (one-hot encoded, first level dropped). A non-numeric covariate not
        declared categorical is an error.
    keep
        Optional IIDs to restrict the analysis to.

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
    names = select_columns(ph, pheno_cols, pheno, "phenotype column")
    Y_all = numeric_matrix(ph, names, pheno)
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
                    raise InputError(f"{covar}: covariate {col} is not numeric; "
                                     f"declare it categorical ({col!r})")
                block, block_names = numeric_matrix(cv, [col], covar), [col]
            blocks.append(block)
            cov_names.extend(block_names)
        C_all = np.hstack(blocks) if blocks else np.empty((len(cv), 0))
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
    complete = np.isfinite(Y).all(axis=1) & np.isfinite(C).all(axis=1)
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

"""Read GWAS summary statistics into one column layout, mapping columns by header name.

Accepted inputs (format told apart by header, not by extension):

* GWAS-SSF (GWAS Catalog): ``chromosome base_pair_location effect_allele other_allele beta|
  odds_ratio standard_error effect_allele_frequency p_value|neg_log_10_p_value [variant_id rsid n]``,
  missing ``#NA``.
* plink2 ``--glm``: ``#CHROM POS ID REF ALT A1 [AX] ... BETA|OR SE ... P|LOG10_P``; A1 is the
  effect allele; the other allele is AX, or whichever of REF/ALT is not A1; only ``TEST == ADD``
  rows are kept when a TEST column is present.
* REGENIE step 2: ``CHROM GENPOS ID ALLELE0 ALLELE1 A1FREQ ... BETA SE CHISQ LOG10P``
  (ALLELE1 = effect allele, p = 10^-LOG10P).
* BOLT-LMM, PLINK 1.9 ``.assoc``/``.qassoc`` and plain tables with ``SNP`` and ``P``.
* gwaskit scan output (parquet or tsv): ``variant_id ... p_value``.

Output columns (those that could be found): ``variant_id, chromosome, base_pair_location,
effect_allele, other_allele, beta, standard_error, effect_allele_frequency, p_value, n``, then
the file's other columns unchanged. Rows keep file order. ``p_value`` is float (NaN where the
file had NA or an unparseable value); ``odds_ratio`` is turned into ``beta = ln(OR)``.
"""
from __future__ import annotations

import gzip
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

import numpy as np

from .._log import logger
from ..errors import InputError

if TYPE_CHECKING:
    import pandas as pd

CANONICAL = [
    "variant_id",
    "chromosome",
    "base_pair_location",
    "effect_allele",
    "other_allele",
    "beta",
    "standard_error",
    "effect_allele_frequency",
    "p_value",
    "n",
]

# Header aliases, case-insensitive, earlier names win. A leading '#' is ignored.
ALIASES: dict[str, list[str]] = {
    "variant_id": ["variant_id", "id", "snp", "rsid", "markername", "snpid", "marker", "rs", "variant"],
    "chromosome": ["chromosome", "chrom", "chr", "#chrom", "chromosome_name"],
    "base_pair_location": ["base_pair_location", "pos", "bp", "genpos", "position", "bp_hg19", "bp_hg38"],
    "effect_allele": ["effect_allele", "a1", "allele1", "ea", "alt_allele_effect"],
    "other_allele": ["other_allele", "ax", "a2", "allele0", "allele2", "oa", "nea", "non_effect_allele"],
    "beta": ["beta", "effect", "b"],
    "odds_ratio": ["odds_ratio", "or"],
    "standard_error": ["standard_error", "se", "stderr", "log(or)_se", "sebeta"],
    "effect_allele_frequency": ["effect_allele_frequency", "a1freq", "a1_freq", "eaf", "freq1", "frq", "af"],
    "p_value": ["p_value", "p", "pval", "p-value", "pvalue", "p_bolt_lmm", "p_bolt_lmm_inf", "p_linreg"],
    "neg_log_10_p_value": ["neg_log_10_p_value", "log10p", "log10_p", "neg_log10_p", "mlog10p", "minuslog10pval"],
    "n": ["n", "obs_ct", "n_total", "nmiss", "num_samples"],
}

NA_VALUES = ["NA", "#NA", "na", "NaN", "nan", ".", "", "null", "NULL", "None"]


def _open_text(path: Path):
    if str(path).endswith(".gz"):
        return gzip.open(path, "rt")
    return open(path, "rt")


def _text_layout(path: Path) -> tuple[int, str, list[str]]:
    """``(lines to skip, separator, header names)`` of a text table (``##`` lines skipped)."""
    import pandas as pd

    name = str(path).lower()
    with _open_text(path) as fh:
        header = None
        skip = 0
        for line in fh:
            if line.startswith("##"):
                skip += 1
                continue
            header = line
            break
    if header is None:
        raise InputError(f"{path}: empty summary-statistics file")
    if name.endswith((".csv", ".csv.gz")):
        sep = ","
    elif "\t" in header:
        sep = "\t"
    else:
        sep = r"\s+"
    names = pd.read_csv(path, sep=sep, skiprows=skip, nrows=0, index_col=False).columns
    return skip, sep, [str(c) for c in names]


def _read_raw(path: Path, wanted: Callable[[list[str]], list[str]] | None = None) -> pd.DataFrame:
    """The file as a table of strings (parquet: its own dtypes).

    ``wanted(header)`` names the columns to parse (default all). Columns are taken by header
    position, as PLINK does: tokens beyond the header are ignored and missing trailing tokens
    are empty (the caller drops rows lacking the ID or p-value).
    """
    import pandas as pd

    if str(path).lower().endswith((".parquet", ".pq")):
        if wanted is None:
            return pd.read_parquet(path)
        import pyarrow.parquet as pq

        return pd.read_parquet(path, columns=wanted(list(pq.read_schema(path).names)))
    skip, sep, names = _text_layout(path)
    stripped = [c.strip() for c in names]
    keep = set(wanted(stripped)) if wanted is not None else set(stripped)
    positions = [i for i, c in enumerate(stripped) if c in keep]
    df = pd.read_csv(
        path,
        sep=sep,
        skiprows=skip,
        dtype=str,
        keep_default_na=False,  # only absent tokens become NaN; NA strings are handled later
        index_col=False,  # never take a row with extra tokens as a sign of an index column
        usecols=positions,
    )
    df.columns = [stripped[i] for i in positions]
    return df


def _find(columns: Sequence[str], names: Sequence[str]) -> str | None:
    lut = {}
    for c in columns:
        lut.setdefault(c.lower().lstrip("#"), c)
        lut.setdefault(c.lower(), c)
    for n in names:
        if n.lower() in lut:
            return lut[n.lower()]
        if n.lower().lstrip("#") in lut:
            return lut[n.lower().lstrip("#")]
    return None


def _split_fields(field: str | Sequence[str] | None) -> list[str] | None:
    if field is None:
        return None
    if isinstance(field, str):
        return [f for f in field.split(",") if f]
    return list(field)


def _map_columns(cols: Sequence[str], path, snp_field, p_field) -> dict[str, str]:
    """Canonical name -> file column (header aliases, --snp-field / --p-field first)."""
    used: dict[str, str] = {}

    snp_names = _split_fields(snp_field)
    p_names = _split_fields(p_field)
    if snp_names:
        c = _find(cols, snp_names)
        if c is None:
            raise InputError(f"{path}: no column named {', '.join(snp_names)} (--snp-field)")
        used["variant_id"] = c
    if p_names:
        c = _find(cols, p_names)
        if c is None:
            raise InputError(f"{path}: no column named {', '.join(p_names)} (--p-field)")
        key = "neg_log_10_p_value" if c.lower().lstrip("#") in ALIASES["neg_log_10_p_value"] else "p_value"
        used[key] = c
    for key, names in ALIASES.items():
        if key in used:
            continue
        if key in ("p_value", "neg_log_10_p_value") and ("p_value" in used or "neg_log_10_p_value" in used):
            continue
        c = _find([x for x in cols if x not in used.values()], names)
        if c is not None:
            used[key] = c
    return used


def _to_float(tokens: Sequence[str]) -> np.ndarray:
    """Text -> float64, correctly rounded (as C ``strtod``, i.e. PLINK, and Python ``float``);
    NaN where a token is not a number, with the spellings ``pd.to_numeric(errors="coerce")``
    accepts (no ``_`` digit separators, ASCII only)."""
    toks = tokens if isinstance(tokens, list) else list(tokens)
    joined = "".join(toks)
    if "_" not in joined and joined.isascii():
        try:
            return np.fromiter(map(float, toks), dtype=np.float64, count=len(toks))
        except ValueError:
            pass
    out = np.empty(len(toks), dtype=np.float64)
    for i, t in enumerate(toks):
        try:
            out[i] = float(t) if (t.isascii() and "_" not in t) else np.nan
        except ValueError:
            out[i] = np.nan
    return out


def _numeric_p(col) -> "pd.Series":
    """p-value column -> float Series: text is parsed correctly rounded (see :func:`_to_float`),
    other dtypes as ``pd.to_numeric``."""
    import pandas as pd

    if col.dtype == object and all(isinstance(v, str) for v in col.tolist()):
        return pd.Series(_to_float(col.tolist()), index=col.index, dtype=np.float64)
    return pd.to_numeric(col, errors="coerce")


def read_sumstats(
    path: str | Path,
    snp_field: str | Sequence[str] | None = None,
    p_field: str | Sequence[str] | None = None,
    require: Sequence[str] = (),
    columns: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Read one summary-statistics file (see module docstring for the formats).

    Parameters
    ----------
    path : file (.tsv/.txt/.csv[.gz], .parquet, plink/REGENIE outputs).
    snp_field, p_field : header name(s) overriding the variant-ID / p-value columns; a list or
        comma-separated string, earlier names win (as plink's ``--clump-snp-field``). A p field
        whose name looks like -log10 (``LOG10P``, ``neg_log_10_p_value`` ...) is converted.
    require : canonical columns that must be present (e.g. ``("variant_id", "p_value")``).
    columns : canonical columns to return (default: all found, then the file's other columns).
        Only the file columns they need are parsed, which is what makes reading a long report
        for clumping fast.

    Raises
    ------
    InputError naming the file and the missing column; p-values outside [0, 1] are an error
    (as in PLINK), NA p-values become NaN.
    """
    import pandas as pd

    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: summary-statistics file not found")
    found: dict[str, list] = {}

    def wanted(header: list[str]) -> list[str]:
        used = _map_columns(header, path, snp_field, p_field)
        found["header"], found["used"] = header, used
        if columns is None:
            return header
        need = set(columns) | set(require)
        if "p_value" in need:
            need.add("neg_log_10_p_value")
        if "beta" in need:
            need.add("odds_ratio")
        names = [c for k, c in used.items() if k in need]
        if "other_allele" in need:
            names += [c for c in (_find(header, ["REF"]), _find(header, ["ALT"])) if c]
        if "effect_allele" in need or "other_allele" in need:
            names.append(used.get("effect_allele"))
        names += [c for c in header if c == "TEST"]
        return [c for c in header if c in set(names)]

    raw = _read_raw(path, wanted)
    cols = found["header"]
    used = {k: c for k, c in found["used"].items() if c in raw.columns}
    # BOLT-LMM: prefer the non-infinitesimal p if present (already first in the alias list).

    # rows with too few tokens for the ID / p columns are skipped, as PLINK does
    key_cols = [used[k] for k in ("variant_id", "p_value", "neg_log_10_p_value") if k in used]
    if key_cols and not str(path).lower().endswith((".parquet", ".pq")):
        short = (raw[key_cols].isna() | (raw[key_cols] == "")).any(axis=1)
        if short.any():
            logger.info(f"{path}: skipped {int(short.sum())} rows with too few fields")
            raw = raw[~short]
    out = pd.DataFrame(index=raw.index)
    if "TEST" in raw.columns:  # plink2 --glm / REGENIE: keep the additive test only
        test = raw["TEST"].astype(str)
        if (test != "ADD").any() and (test == "ADD").any():
            keep = test == "ADD"
            logger.info(f"{path}: kept {int(keep.sum())} TEST=ADD rows of {len(raw)}")
            raw = raw[keep]
            out = pd.DataFrame(index=raw.index)

    for key in ("variant_id", "chromosome", "effect_allele", "other_allele"):
        if key in used:
            col = raw[used[key]].astype("string").astype(object)
            out[key] = col.where(~col.isin(NA_VALUES), None)
    if "base_pair_location" in used:
        out["base_pair_location"] = pd.to_numeric(raw[used["base_pair_location"]], errors="coerce").astype("Int64")
    # plink2 --glm without AX: the other allele is whichever of REF/ALT is not A1
    if "other_allele" not in out and "effect_allele" in out:
        ref, alt = _find(cols, ["REF"]), _find(cols, ["ALT"])
        if ref in raw.columns and alt in raw.columns:
            a1 = out["effect_allele"]
            out["other_allele"] = np.where(a1 == raw[ref], raw[alt], raw[ref])
            used["other_allele"] = f"{ref}/{alt}"
    for key in ("beta", "standard_error", "effect_allele_frequency", "n"):
        if key in used:
            out[key] = pd.to_numeric(raw[used[key]], errors="coerce")
    if "beta" not in out and "odds_ratio" in used:
        orv = pd.to_numeric(raw[used["odds_ratio"]], errors="coerce")
        with np.errstate(divide="ignore", invalid="ignore"):
            out["beta"] = np.log(orv)
    if "p_value" in used:
        out["p_value"] = _numeric_p(raw[used["p_value"]])
    elif "neg_log_10_p_value" in used:
        out["p_value"] = 10.0 ** (-_numeric_p(raw[used["neg_log_10_p_value"]]))
    if "p_value" in out:
        p = out["p_value"]
        bad = (p < 0) | (p > 1)
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise InputError(f"{path}: p-value {p.iloc[i]} outside [0, 1] in row {i + 1}")
    for key in require:
        if key not in out:
            raise InputError(
                f"{path}: no {key} column found (looked for {', '.join(ALIASES.get(key, [key]))})"
            )
    if columns is not None:
        out = out[[c for c in out.columns if c in set(columns) | set(require)]]
    extras = [] if columns is not None else [c for c in raw.columns if c not in used.values()]
    for c in extras:
        if c not in out:
            out[c] = raw[c]
    ordered = [c for c in CANONICAL if c in out] + [c for c in out.columns if c not in CANONICAL]
    return out[ordered].reset_index(drop=True)



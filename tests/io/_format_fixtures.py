"""Genotype test data in PLINK 2 and VCF/BCF form, made at test time (by plink2 and bcftools
where a real tool writes the format)."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from _geno_fixtures import run  # noqa: F401 - re-exported for the tests


def grid_dosages(n: int, m: int, seed: int, missing_rate: float = 0.03,
                 grid: int = 32) -> np.ndarray:
    """(n, m) ALT dosages on the grid k/``grid`` in [0, 2] (exact in float32, in plink2's
    1/16384 units and as printed decimals), NaN = missing; varied frequencies."""
    rng = np.random.default_rng(seed)
    p = rng.uniform(0.05, 0.5, size=m)
    hard = rng.binomial(2, p, size=(n, m)).astype(np.float64)
    noise = rng.integers(-grid // 4, grid // 4 + 1, size=(n, m)) / grid
    d = np.clip(hard + noise, 0.0, 2.0)
    d[rng.random((n, m)) < missing_rate] = np.nan
    return d


def _fmt(x: float) -> str:
    return "." if np.isnan(x) else repr(float(x))


def _gt(x: float, haploid: bool = False) -> str:
    if np.isnan(x):
        return "." if haploid else "./."
    if haploid:
        return str(int(x))
    return ("0/0", "0/1", "1/1")[int(round(x))]


def _gp(x: float) -> str:
    """GP (RR, RA, AA) with ALT dosage ``x``: the two genotypes around it."""
    if np.isnan(x):
        return "."
    if x <= 1.0:
        p = (1.0 - x, x, 0.0)
    else:
        p = (0.0, 2.0 - x, x - 1.0)
    return ",".join(repr(float(v)) for v in p)


def write_vcf(path: Path, samples: list[str], variants: pd.DataFrame, *, gt=None, ds=None,
              gp=None, multi_after: int | None = None, haploid_rows=None) -> Path:
    """A plain-text VCF; ALT = ``effect_allele``, REF = ``other_allele``.

    ``gt``/``ds``/``gp``: (n, m) arrays (ALT count / dosage, NaN = missing) for the FORMAT
    fields written (GT from ``gt``, DS from ``ds``, GP from ``gp``'s dosages).
    ``multi_after``: insert a tri-allelic record after that variant. ``haploid_rows``: sample
    rows whose GT is written haploid (``0``/``1``).
    """
    n = len(samples)
    keys = [k for k, a in (("GT", gt), ("DS", ds), ("GP", gp)) if a is not None]
    hap = np.zeros(n, dtype=bool)
    if haploid_rows is not None:
        hap[np.asarray(haploid_rows)] = True
    lines = ["##fileformat=VCFv4.2"]
    for c in pd.unique(variants["chromosome"]):
        lines.append(f"##contig=<ID={c}>")
    lines += ['##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
              '##FORMAT=<ID=DS,Number=A,Type=Float,Description="ALT dosage">',
              '##FORMAT=<ID=GP,Number=G,Type=Float,Description="Genotype probabilities">',
              "\t".join(["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO",
                         "FORMAT", *samples])]
    for j in range(len(variants)):
        v = variants.iloc[j]
        cells = []
        for i in range(n):
            f = []
            for k in keys:
                if k == "GT":
                    f.append(_gt(gt[i, j], hap[i]))
                elif k == "DS":
                    f.append(_fmt(ds[i, j]))
                else:
                    f.append(_gp(gp[i, j]))
            cells.append(":".join(f))
        lines.append("\t".join([str(v["chromosome"]), str(int(v["base_pair_location"])),
                                str(v["variant_id"]), v["other_allele"], v["effect_allele"],
                                ".", "PASS", ".", ":".join(keys), *cells]))
        if multi_after is not None and j == multi_after:
            pos = int(v["base_pair_location"]) + 1
            ref = "A"
            cells = []
            for i in range(n):
                f = []
                for k in keys:
                    f.append({"GT": "0/2" if i % 3 else "0/1", "DS": "0,1",
                              "GP": "0,0,0,1,0,0"}[k])
                cells.append(":".join(f))
            lines.append("\t".join([str(v["chromosome"]), str(pos), "rsmulti", ref, "C,T", ".",
                                    "PASS", ".", ":".join(keys), *cells]))
    path.write_text("\n".join(lines) + "\n")
    return path


def bcftools() -> str:
    # Read the switch here: ``import conftest`` is ambiguous with several conftest.py files.
    require = os.environ.get("GWASKIT_REQUIRE_ORACLES", "") not in ("", "0")
    p = shutil.which("bcftools")
    if p is None:
        if require:
            pytest.fail("bcftools not found on PATH (GWASKIT_REQUIRE_ORACLES=1)")
        pytest.skip("bcftools not found on PATH")
    return p


def compress(vcf: Path, kind: str, index: bool) -> Path:
    """``kind`` 'vcf.gz' (bgzip) or 'bcf', optionally indexed (.tbi for vcf.gz, .csi for bcf)."""
    bt = bcftools()
    stem = str(vcf)[: -len(".vcf")]
    out = Path(f"{stem}{'_idx' if index else ''}.{kind}")
    run([bt, "view", "-O", "z" if kind == "vcf.gz" else "b", "-o", out, vcf])
    if index:
        # -f: a fixture may compress the same VCF twice (the index beside it is then stale)
        run([bt, "index", "-f", "-t" if kind == "vcf.gz" else "-c", out])
    return out


def printed_tolerance(text: pd.DataFrame) -> np.ndarray:
    """Half a unit of the last printed digit of each cell of a table of number strings (for
    comparing with values a tool printed); NaN where the cell is not a number."""
    def one(s: str) -> float:
        s = s.strip()
        if s in ("NA", "nan", "NaN", ".", ""):
            return np.nan
        mant, _, exp = s.lower().partition("e")
        dec = len(mant.split(".", 1)[1]) if "." in mant else 0
        return 0.5 * 10.0 ** (-dec + (int(exp) if exp else 0))

    return np.vectorize(one, otypes=[float])(text.to_numpy(dtype=str))


def read_raw(path: Path) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, list[str], list[str]]:
    """A plink2 ``.raw``: (table of strings, values, tolerances, variant IDs, counted alleles)."""
    raw = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    cols = list(raw.columns[6:])
    txt = raw[cols]
    vals = txt.replace({"NA": "nan"}).to_numpy(dtype=np.float64)
    ids = [c.rsplit("_", 1)[0] for c in cols]
    counted = [c.rsplit("_", 1)[1] for c in cols]
    return raw, vals, printed_tolerance(txt), ids, counted


def assert_matches_printed(ours: np.ndarray, printed: np.ndarray, tol: np.ndarray) -> None:
    """``ours`` equals the printed values to half a unit of their last digit; NaN where NaN."""
    assert ours.shape == printed.shape
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(printed))
    ok = ~np.isnan(printed)
    err = np.abs(ours[ok] - printed[ok])
    assert (err <= tol[ok] * (1 + 1e-9)).all(), float((err - tol[ok]).max())

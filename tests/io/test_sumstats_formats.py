"""``scan --format gwas-ssf|plink2|regenie`` (gwaskit.io.sumstats_formats).

GWAS-SSF output is checked by the GWAS Catalog's own validator (``gwas-ssf validate``,
gwas-sumstats-tools 1.0.25, in ``.venv-ssf`` from ``make oracles``); the plink2 layout against
``plink2 --glm`` run on the same files and phenotypes; the REGENIE layout against its documented
step-2 header (REGENIE itself is not packaged for Debian or PyPI).
"""
from __future__ import annotations

import json
import subprocess

import numpy as np
import pandas as pd
import pytest
from _geno_fixtures import variant_table, write_bed

from gwaskit.cli.main import main
from gwaskit.errors import InputError
from gwaskit.io.sumstats_formats import (
    GWAS_SSF_COLUMNS,
    REGENIE_COLUMNS,
    write_gwas_ssf,
    write_plink2_glm,
)

N, PER_CHROM, D = 300, 6, 3
DIMS = [f"y{k}" for k in range(D)]


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    """A .bed over all 22 autosomes (the validator requires each) plus X, a monomorphic and an
    all-missing variant, and D phenotypes with a signal."""
    d = tmp_path_factory.mktemp("formats")
    rng = np.random.default_rng(12)
    chroms = [str(c) for c in range(1, 23)] + ["X"]
    variants = pd.concat([variant_table(PER_CHROM, chrom=c, start=10_000 * (i + 1))
                          for i, c in enumerate(chroms)], ignore_index=True)
    variants["variant_id"] = [f"rs{1000 + j}" for j in range(len(variants))]
    variants.loc[3, "variant_id"] = "1:40111:A:C"  # not an rsID: rsid #NA
    m = len(variants)
    geno = rng.binomial(2, rng.uniform(0.05, 0.5, m), size=(N, m)).astype(np.float64)
    geno[rng.random((N, m)) < 0.02] = np.nan
    geno[:, 7] = 0.0  # monomorphic: not tested
    geno[:, 8] = np.nan  # all missing: not tested
    iids = [f"s{i}" for i in range(N)]
    write_bed(d / "g", geno, variants, iids=iids)
    y = rng.normal(size=(N, D))
    y[:, 0] += 0.8 * np.nan_to_num(geno[:, 2], nan=1.0)
    pd.DataFrame({"#FID": "0", "IID": iids, **{k: y[:, i] for i, k in enumerate(DIMS)}}).to_csv(
        d / "y.txt", sep="\t", index=False)
    return d, variants


def _scan(cohort_dir, out, *extra):
    main(["scan", "--bed", str(cohort_dir / "g"), "--pheno", str(cohort_dir / "y.txt"),
          "--no-pca", "--no-rank-normalize", "--dtype", "float64", "--quiet",
          "--out", str(out), *extra])


def _validate(gwas_ssf, path, *extra):
    return subprocess.run([gwas_ssf, "validate", str(path), "--min-rows", "10", *extra],
                          capture_output=True, text=True)


@pytest.fixture(scope="module")
def ssf_run(cohort):
    d, _ = cohort
    out = d / "ssf" / "scan.tsv.gz"
    out.parent.mkdir()
    _scan(d, out, "--format", "gwas-ssf", "--genome-assembly", "GRCh37")
    return out


def test_gwas_ssf_passes_the_catalog_validator(ssf_run, cohort, gwas_ssf):
    d, variants = cohort
    stem = str(ssf_run)[: -len(".tsv.gz")]
    for k in DIMS:
        data = f"{stem}.{k}.tsv.gz"
        for flags in ((), ("--infer-from-metadata",)):
            r = _validate(gwas_ssf, data, *flags)
            assert r.returncode == 0 and "Validation status: True" in r.stdout, (flags, r.stdout,
                                                                           r.stderr)
        table = pd.read_csv(data, sep="\t", dtype=str, keep_default_na=False)
        assert tuple(table.columns) == GWAS_SSF_COLUMNS
        # the two untested variants are left out, every other one is present
        assert len(table) == len(variants) - 2
        assert table["chromosome"].iloc[-1] == "23"
        assert table["variant_id"].iloc[0] == (f"1_{variants.base_pair_location[0]}_"
                                               f"{variants.other_allele[0]}_"
                                               f"{variants.effect_allele[0]}")
        assert table["rsid"].iloc[3] == "#NA" and table["rsid"].iloc[0] == "rs1000"
        assert (table["info"].astype(float) <= 1).all()
        meta = (d / "ssf" / f"scan.{k}.tsv.gz-meta.yaml").read_text()
        assert 'genome_assembly: "GRCh37"' in meta and 'file_type: "GWAS-SSF v1.0"' in meta
        assert "data_file_md5sum" in meta
    joint = pd.read_csv(f"{stem}.joint.tsv.gz", sep="\t", dtype=str, keep_default_na=False)
    assert len(joint) == len(variants)
    assert joint["gwas_ssf_excluded"].iloc[7].startswith("NOT_TESTED")
    assert joint["p_value"].iloc[7] == "#NA" and (joint["df"].iloc[:7] == str(D)).all()
    meta = json.loads((d / "ssf" / "scan.tsv.gz.meta.json").read_text())
    assert meta["output_format"] == "gwas-ssf" and len(meta["output_files"]) == 2 * D + 1
    assert (d / "ssf" / "scan.tsv.gz.log").exists()


def test_validator_can_fail_on_the_old_layout(cohort, gwas_ssf, tmp_path):
    """The validator is a real check: gwaskit's own table (``1:310``-style ids, ``NA``, joint
    columns) is refused."""
    d, _ = cohort
    out = tmp_path / "native.tsv.gz"
    _scan(d, out, "--per-dim")
    r = _validate(gwas_ssf, out)
    assert "Validation status: False" in r.stdout, r.stdout


def test_gwas_ssf_underflowed_p_written_from_log10(tmp_path):
    table = pd.DataFrame({
        "chromosome": ["1", "2"], "base_pair_location": [100, 200], "variant_id": ["rs1", "rs2"],
        "effect_allele": ["A", "C"], "other_allele": ["G", "T"],
        "effect_allele_frequency": [0.3, 0.2], "info": [1.02, np.nan], "n": [1000, 1000],
        "chisq": [3000.0, 1.0], "df": [1, 1], "p_value": [0.0, 0.3],
        "neg_log_10_p_value": [652.1, 0.52], "errcode": [".", "."],
        "beta_y": [2.0, 0.1], "standard_error_y": [0.01, 0.1], "p_value_y": [0.0, 0.3]})
    files = write_gwas_ssf(table, tmp_path / "s.tsv", {"n": 1000, "c": 1})
    text = pd.read_csv(files.data["y"], sep="\t", dtype=str, keep_default_na=False)
    mantissa, exponent = text["p_value"][0].split("e-")
    assert int(exponent) > 308 and 1 <= float(mantissa) < 10
    assert text["info"].tolist() == ["1.0", "#NA"]
    with pytest.raises(InputError, match="exists"):
        write_gwas_ssf(table, tmp_path / "s.tsv", {"n": 1000, "c": 1})
    with pytest.raises(InputError, match="--per-dim"):
        write_gwas_ssf(table.drop(columns=["beta_y"]), tmp_path / "t.tsv")


def test_plink2_layout_matches_plink2_glm(cohort, plink2, tmp_path):
    d, _ = cohort
    subprocess.run([plink2, "--bfile", str(d / "g"), "--pheno", str(d / "y.txt"), "--glm",
                    "allow-no-covars", "omit-ref", "--out", str(tmp_path / "ref"), "--threads",
                    "1"], check=True, capture_output=True)
    out = tmp_path / "ours"
    # plink2 fits each variant on its called samples: --missing drop is the same model
    _scan(d, out, "--format", "plink2", "--missing", "drop")
    for k in DIMS:
        ref_path, our_path = tmp_path / f"ref.{k}.glm.linear", tmp_path / f"ours.{k}.glm.linear"
        ref = pd.read_csv(ref_path, sep="\t", dtype=str, keep_default_na=False)
        ours = pd.read_csv(our_path, sep="\t", dtype=str, keep_default_na=False)
        assert list(ours.columns) == list(ref.columns)
        pd.testing.assert_frame_equal(
            ours[["#CHROM", "POS", "ID", "REF", "ALT", "A1", "TEST", "OBS_CT"]],
            ref[["#CHROM", "POS", "ID", "REF", "ALT", "A1", "TEST", "OBS_CT"]])
        tested = ref["ERRCODE"] == "."
        assert (ours["ERRCODE"] == ".").tolist() == tested.tolist()
        assert (ours.loc[~tested, "BETA"] == "NA").all()
        for col in ("BETA", "SE", "T_STAT", "P"):
            a = ours.loc[tested, col].astype(float).to_numpy()
            b = ref.loc[tested, col].astype(float).to_numpy()
            # both printed with 6 significant digits: agree to the last printed digit
            np.testing.assert_allclose(a, b, rtol=1.5e-5, atol=0, err_msg=f"{k} {col}")


def test_plink2_cols_and_log10(cohort, tmp_path):
    d, _ = cohort
    out = tmp_path / "native.parquet"
    _scan(d, out, "--per-dim")
    table = pd.read_parquet(out)
    meta = json.loads((tmp_path / "native.parquet.meta.json").read_text())
    files = write_plink2_glm(table, tmp_path / "p", meta, cols="+a1freq,+machr2", log10=True)
    text = pd.read_csv(files["y0"], sep="\t", dtype=str, keep_default_na=False)
    assert list(text.columns) == ["#CHROM", "POS", "ID", "REF", "ALT", "A1", "A1_FREQ",
                                  "MACH_R2", "TEST", "OBS_CT", "BETA", "SE", "T_STAT",
                                  "LOG10_P", "ERRCODE"]
    tested = table["errcode"] == "."
    np.testing.assert_allclose(text.loc[tested, "LOG10_P"].astype(float),
                               -np.log10(table.loc[tested, "p_value_y0"]), rtol=1e-5)


def test_regenie_layout(cohort, tmp_path):
    d, variants = cohort
    out = tmp_path / "reg"
    _scan(d, out, "--format", "regenie")
    native = tmp_path / "native.parquet"
    _scan(d, native, "--per-dim")
    table = pd.read_parquet(native)
    tested = (table["errcode"] == ".").to_numpy()
    for k in DIMS:
        path = tmp_path / f"reg_{k}.regenie"
        first = path.read_text().splitlines()[0]
        assert first.split(" ") == list(REGENIE_COLUMNS)  # space separated, INFO present
        reg = pd.read_csv(path, sep=" ", dtype=str, keep_default_na=False)
        assert len(reg) == len(variants)
        assert reg["CHROM"].iloc[-1] == "23" and (reg["TEST"] == "ADD").all()
        assert (reg["ALLELE1"] == variants["effect_allele"]).all()
        assert (reg["EXTRA"][~tested] == "TEST_FAIL").all() and (reg["BETA"][~tested] == "NA").all()
        beta, se = reg["BETA"][tested].astype(float), reg["SE"][tested].astype(float)
        np.testing.assert_allclose(reg["CHISQ"][tested].astype(float), (beta / se) ** 2,
                                   rtol=5e-5)
        np.testing.assert_allclose(reg["LOG10P"][tested].astype(float),
                                   -np.log10(table.loc[tested, f"p_value_{k}"]), rtol=1e-5)
        np.testing.assert_allclose(beta, table.loc[tested, f"beta_{k}"], rtol=1e-5)


def test_format_outputs_refused_before_the_scan(cohort, tmp_path):
    d, _ = cohort
    (tmp_path / "p.y1.glm.linear").write_text("keep me\n")
    with pytest.raises(SystemExit) as exc:
        main(["scan", "--bed", str(d / "g"), "--pheno", str(d / "y.txt"), "--no-pca",
              "--quiet", "--format", "plink2", "--out", str(tmp_path / "p")])
    assert exc.value.code == 2
    assert (tmp_path / "p.y1.glm.linear").read_text() == "keep me\n"
    assert not (tmp_path / "p.y0.glm.linear").exists()

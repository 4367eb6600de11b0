import logging

import numpy as np
import pandas as pd
import pytest

from gwaskit.errors import InputError
from gwaskit.io.tables import load_analysis_data, read_table

GENO = [f"s{i}" for i in range(10)]


@pytest.fixture
def pheno(tmp_path):
    df = pd.DataFrame({"FID": ["f"] * 8, "IID": [f"s{i}" for i in range(2, 10)],
                       "emb_0": np.arange(8.0), "emb_1": np.arange(8.0) ** 2, "split": ["test"] * 8,
                       "other": np.ones(8)})
    df.loc[3, "emb_1"] = np.nan
    path = tmp_path / "emb.parquet"
    df.to_parquet(path)
    return path


@pytest.mark.parametrize("ext,sep", [(".csv", ","), (".tsv", "\t")])
def test_text_formats_and_missing(tmp_path, ext, sep):
    path = tmp_path / f"p{ext}"
    path.write_text(sep.join(["#FID", "IID", "y"]) + "\n" + sep.join(["0", "007", "NA"]) + "\n"
                    + sep.join(["0", "a", ""]) + "\n" + sep.join(["0", "b", "1.5"]) + "\n")
    df = read_table(path)
    assert list(df.columns) == ["FID", "IID", "y"]
    assert df["IID"].tolist() == ["007", "a", "b"]  # IDs stay strings (no int parsing)
    assert np.isnan(df["y"][0]) and np.isnan(df["y"][1]) and df["y"][2] == 1.5


def test_glob_selection_and_complete_cases(pheno, caplog):
    caplog.set_level(logging.INFO, logger="gwaskit")
    data = load_analysis_data(GENO, pheno, pheno_cols="emb_*")
    assert data.pheno_names == ["emb_0", "emb_1"]
    # s2..s9 phenotyped, s5 (row 3) has a missing emb_1
    assert data.iids.tolist() == ["s2", "s3", "s4", "s6", "s7", "s8", "s9"]
    assert data.sample_index.tolist() == [2, 3, 4, 6, 7, 8, 9]
    np.testing.assert_array_equal(data.Y[:, 0], [0, 1, 2, 4, 5, 6, 7])
    assert data.counts["complete_cases"] == 7
    assert "1 dropped for missing values" in caplog.text


def test_default_columns_skip_non_numeric(pheno):
    data = load_analysis_data(GENO, pheno)
    assert data.pheno_names == ["emb_0", "emb_1", "other"]


def test_covariates_categorical_one_hot(tmp_path, pheno):
    cv = pd.DataFrame({"IID": GENO, "age": np.arange(10.0), "site": list("abcabcabca")})
    cv.loc[9, "age"] = np.nan
    path = tmp_path / "cov.tsv"
    cv.to_csv(path, sep="\t", index=False)
    data = load_analysis_data(GENO, pheno, ["emb_0"], covar=path, categorical=["site"])
    assert data.covariate_names == ["age", "site=b", "site=c"]
    assert "s9" not in data.iids  # missing age
    row = data.iids.tolist().index("s4")  # site of s4 is 'b'
    np.testing.assert_array_equal(data.covariates[row], [4.0, 1.0, 0.0])
    with pytest.raises(InputError, match="covariate site is not numeric; declare it categorical"):
        load_analysis_data(GENO, pheno, ["emb_0"], covar=path)


@pytest.mark.parametrize("case,match", [
    ("dup", "duplicate IID 's2'"),
    ("missing_col", "no phenotype column matches 'nope'"),
    ("non_numeric", "column split is not numeric"),
    ("no_overlap", "no IID in common"),
    ("no_iid", "no IID column"),
])
def test_bad_tables(tmp_path, pheno, case, match):
    cols = ["emb_0"]
    path = pheno
    geno = GENO
    if case == "dup":
        path = tmp_path / "dup.csv"
        path.write_text("IID,y\ns2,1\ns2,2\n")
        cols = None
    elif case == "missing_col":
        cols = ["nope"]
    elif case == "non_numeric":
        cols = ["split"]
    elif case == "no_overlap":
        geno = ["x1", "x2"]
    elif case == "no_iid":
        path = tmp_path / "noiid.csv"
        path.write_text("ID,y\na,1\n")
    with pytest.raises(InputError, match=match) as err:
        load_analysis_data(geno, path, cols)
    message = str(err.value)
    assert "\n" not in message and message.startswith(str(path))

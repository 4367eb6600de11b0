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
    ("non_numeric", "phenotype column split: non-numeric value 'test' on data row 1"),
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


# -- conventions that cannot go wrong silently (issue 12) ---------------------------------------

ZERO_PADDED = [f"{i:04d}" for i in range(1, 2001)]  # '0001' .. '2000'


def test_parquet_integer_ids_are_not_matched_by_number(tmp_path):
    """IIDs stored as integers lose their leading zeros: '1000'..'2000' would match 1,001 of
    2,000 zero-padded genotype IDs (over 50%) and silently drop the rest."""
    path = tmp_path / "int.parquet"
    pd.DataFrame({"IID": np.arange(1, 2001), "y": np.arange(2000.0)}).to_parquet(path)
    assert read_table(path)["IID"].iloc[6] == "7"  # a string, as written: not '0007'
    with pytest.raises(InputError) as err:
        load_analysis_data(ZERO_PADDED, path)
    msg = str(err.value)
    assert "1001 of 2000 matched" in msg and "'1'" in msg and "'0001'" in msg and "\n" not in msg
    data = load_analysis_data(ZERO_PADDED, path, allow_id_mismatch=True)
    assert data.n_samples == 1001


def test_id_match_below_half_is_refused_and_overridable(tmp_path, caplog):
    geno = [f"g{i}" for i in range(100)]
    path = tmp_path / "p.tsv"
    ids = [f"g{i}" for i in range(40)] + [f"x{i}" for i in range(60)]
    pd.DataFrame({"IID": ids, "y": np.arange(100.0)}).to_csv(path, sep="\t", index=False)
    with pytest.raises(InputError, match=r"only 40 of its 100 IIDs are among the 100 genotype samples"
                                         r".*table 'x0', 'x1', 'x2'; genotypes 'g40', 'g41', 'g42'"):
        load_analysis_data(geno, path)
    assert load_analysis_data(geno, path, allow_id_mismatch=True).n_samples == 40
    # a partial overlap above 50% works and is logged; so does a phenotyped subset
    caplog.set_level(logging.INFO, logger="gwaskit")
    ids = [f"g{i}" for i in range(60)] + [f"x{i}" for i in range(40)]
    pd.DataFrame({"IID": ids, "y": np.arange(100.0)}).to_csv(path, sep="\t", index=False)
    assert load_analysis_data(geno, path).n_samples == 60
    assert "60 of 100 IIDs matched" in caplog.text
    pd.DataFrame({"IID": geno[:10], "y": np.arange(10.0)}).to_csv(path, sep="\t", index=False)
    assert load_analysis_data(geno, path).n_samples == 10


def test_covariate_id_mismatch_is_refused(tmp_path, pheno):
    cov = tmp_path / "cov.tsv"
    pd.DataFrame({"IID": [f"z{i}" for i in range(7)] + ["s2", "s3"], "age": np.arange(9.0)}).to_csv(
        cov, sep="\t", index=False)
    with pytest.raises(InputError, match=r"cov.tsv: only 2 of its 9 IIDs"):
        load_analysis_data(GENO, pheno, ["emb_0"], covar=cov)


@pytest.mark.parametrize("explicit", [False, True])
def test_bad_cell_names_file_column_row_and_value(tmp_path, explicit):
    path = tmp_path / "emb.tsv"
    rows = ["IID\temb_0\temb_1\temb_2"] + [f"s{i}\t{i}\t{i * 2}\t{i * 3}" for i in range(10)]
    rows[5] = "s4\t4\t8\tabc"  # data row 5 (line 6)
    path.write_text("\n".join(rows) + "\n")
    with pytest.raises(InputError) as err:
        load_analysis_data(GENO, path, ["emb_*"] if explicit else None)
    msg = str(err.value)
    assert msg.startswith(str(path)) and "emb_2" in msg and "'abc'" in msg
    assert "data row 5" in msg and "line 6" in msg


def test_bad_covariate_cell_names_row(tmp_path, pheno):
    cov = tmp_path / "cov.csv"
    cov.write_text("IID,age\n" + "".join(f"s{i},{'x' if i == 3 else i}\n" for i in range(10)))
    with pytest.raises(InputError, match=r"covariate column age: non-numeric value 'x' on data row 4"):
        load_analysis_data(GENO, pheno, ["emb_0"], covar=cov)


@pytest.mark.parametrize("name", ["p.tsv", "p.txt", "p.psam", "p.pheno", "p.cov", "p.tsv.gz"])
def test_whitespace_delimited_and_plink_extensions(tmp_path, name):
    path = tmp_path / name
    text = "#FID  IID   SEX y\n0 s1  1 0.5\n0   s2 2 1.5\n"
    if name.endswith(".gz"):
        import gzip

        with gzip.open(path, "wt") as fh:
            fh.write(text)
    else:
        path.write_text(text)
    df = read_table(path)
    assert list(df.columns) == ["FID", "IID", "SEX", "y"]
    assert df["IID"].tolist() == ["s1", "s2"] and df["y"].tolist() == [0.5, 1.5]


def test_tab_delimited_keeps_spaces_in_fields(tmp_path):
    path = tmp_path / "p.tsv"
    path.write_text("IID\tsite\ty\ns1\tnew york\t1\ns2\tparis\t2\n")
    assert read_table(path)["site"].tolist() == ["new york", "paris"]


def test_default_selection_skips_sample_columns(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="gwaskit")
    path = tmp_path / "p.psam"
    lines = ["#FID IID PAT MAT SEX Split y1 y2"] + [f"0 s{i} 0 0 {1 + i % 2} test {i} {i * i}"
                                                      for i in range(10)]
    path.write_text("\n".join(lines) + "\n")
    data = load_analysis_data(GENO, path)
    assert data.pheno_names == ["y1", "y2"]
    assert "using 2 phenotype columns by default (y1, y2); not used: PAT, MAT, SEX, Split" in caplog.text


def test_split_guard(tmp_path):
    path = tmp_path / "emb.tsv"
    df = pd.DataFrame({"IID": GENO, "split": ["train"] * 6 + ["test"] * 4, "e": np.arange(10.0)})
    df.to_csv(path, sep="\t", index=False)
    with pytest.raises(InputError, match=r"column split holds 2 values \(test, train\)"):
        load_analysis_data(GENO, path)
    assert load_analysis_data(GENO, path, split_values=["test"]).iids.tolist() == GENO[6:]
    assert load_analysis_data(GENO, path, all_splits=True).n_samples == 10
    assert load_analysis_data(GENO, path, keep=GENO[:3]).n_samples == 3
    with pytest.raises(InputError, match="no row has split in"):
        load_analysis_data(GENO, path, split_values=["val"])
    df.assign(split="test").to_csv(path, sep="\t", index=False)  # one value: nothing to choose
    assert load_analysis_data(GENO, path).n_samples == 10


def test_header_only_and_huge_values(tmp_path):
    empty = tmp_path / "empty.parquet"
    pd.DataFrame({"IID": pd.Series([], dtype=str), "y": pd.Series([], dtype=float)}).to_parquet(empty)
    with pytest.raises(InputError, match="has no rows"):
        load_analysis_data(GENO, empty)
    path = tmp_path / "p.tsv"
    pd.DataFrame({"IID": GENO, "y": [1e300] + [1.0] * 9}).to_csv(path, sep="\t", index=False)
    with pytest.raises(InputError, match=r"phenotype column y: value 1e\+300 is infinite or beyond"):
        load_analysis_data(GENO, path)


def test_all_na_fid_column_is_dropped(tmp_path):
    path = tmp_path / "pcs.tsv"
    pd.DataFrame({"FID": [None] * 3, "IID": ["a", "b", "c"], "PC1": [1.0, 2.0, 3.0]}).to_csv(
        path, sep="\t", index=False, na_rep="NA")
    assert list(read_table(path).columns) == ["IID", "PC1"]

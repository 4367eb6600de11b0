import gzip

import numpy as np
import pandas as pd
import pytest

from gwaskit.errors import InputError
from gwaskit.io.sumstats import read_sumstats


def test_gwas_ssf(tmp_path):
    p = tmp_path / "ssf.tsv.gz"
    with gzip.open(p, "wt") as fh:
        fh.write("chromosome\tbase_pair_location\teffect_allele\tother_allele\tbeta\tstandard_error\t"
                 "effect_allele_frequency\tp_value\tvariant_id\trsid\tn\n")
        fh.write("1\t100\tA\tG\t0.1\t0.01\t0.3\t1e-10\t1_100_G_A\trs1\t1000\n")
        fh.write("1\t200\tC\tT\t#NA\t0.02\t0.2\t#NA\t1_200_T_C\trs2\t1000\n")
    d = read_sumstats(p)
    assert list(d.columns[:10]) == ["variant_id", "chromosome", "base_pair_location", "effect_allele",
                                    "other_allele", "beta", "standard_error", "effect_allele_frequency",
                                    "p_value", "n"]
    assert d["variant_id"].tolist() == ["1_100_G_A", "1_200_T_C"]
    assert np.isnan(d.loc[1, "p_value"]) and np.isnan(d.loc[1, "beta"])
    assert d["base_pair_location"].tolist() == [100, 200]


def test_plink2_glm(tmp_path):
    p = tmp_path / "res.trait1.glm.linear"
    p.write_text(
        "#CHROM\tPOS\tID\tREF\tALT\tA1\tTEST\tOBS_CT\tBETA\tSE\tT_STAT\tP\tERRCODE\n"
        "1\t10\trs1\tA\tG\tG\tADD\t100\t0.5\t0.1\t5\t1e-6\t.\n"
        "1\t10\trs1\tA\tG\tG\tage\t100\t0.1\t0.1\t1\t0.3\t.\n"
        "1\t20\trs2\tC\tT\tC\tADD\t100\t-0.2\t0.1\t-2\tNA\t.\n"
    )
    d = read_sumstats(p)
    assert d["variant_id"].tolist() == ["rs1", "rs2"]
    assert d["effect_allele"].tolist() == ["G", "C"]
    assert d["other_allele"].tolist() == ["A", "T"]  # whichever of REF/ALT is not A1
    assert d["chromosome"].tolist() == ["1", "1"]
    assert d["n"].tolist() == [100, 100]


def test_regenie_log10p(tmp_path):
    p = tmp_path / "x_Y1.regenie"
    p.write_text("CHROM GENPOS ID ALLELE0 ALLELE1 A1FREQ N TEST BETA SE CHISQ LOG10P EXTRA\n"
                 "1 10 rs1 A G 0.2 500 ADD 0.3 0.1 9 2.5 NA\n")
    d = read_sumstats(p)
    assert d.loc[0, "effect_allele"] == "G" and d.loc[0, "other_allele"] == "A"
    assert d.loc[0, "p_value"] == pytest.approx(10 ** -2.5)
    assert d.loc[0, "effect_allele_frequency"] == pytest.approx(0.2)


def test_plain_and_overrides(tmp_path):
    p = tmp_path / "plain.txt"
    p.write_text("SNP  P   PALT\nrs1  0.01 0.5\nrs2  NA 0.2\nshort\n")
    d = read_sumstats(p)
    assert d["variant_id"].tolist() == ["rs1", "rs2"]
    assert d.loc[0, "p_value"] == 0.01 and np.isnan(d.loc[1, "p_value"])
    d2 = read_sumstats(p, p_field="PALT,P")
    assert d2["p_value"].tolist() == [0.5, 0.2]
    with pytest.raises(InputError, match="NOPE"):
        read_sumstats(p, snp_field="NOPE")


def test_scan_parquet_and_bad_p(tmp_path):
    df = pd.DataFrame({"chromosome": ["1"], "base_pair_location": [5], "variant_id": ["v"], "effect_allele": ["A"],
                       "other_allele": ["C"], "p_value": [1e-3], "chisq": [10.0]})
    df.to_parquet(tmp_path / "scan.parquet")
    d = read_sumstats(tmp_path / "scan.parquet", require=("variant_id", "p_value"))
    assert d.loc[0, "variant_id"] == "v" and "chisq" in d
    (tmp_path / "bad.txt").write_text("SNP P\nrs1 1.5\n")
    with pytest.raises(InputError, match="outside"):
        read_sumstats(tmp_path / "bad.txt")
    with pytest.raises(InputError, match="beta"):
        read_sumstats(tmp_path / "scan.parquet", require=("beta",))

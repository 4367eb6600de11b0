"""D = 1 per-dimension statistics against `plink2 --glm omit-ref` (1e-4 relative)."""
import subprocess

import bed_reader
import numpy as np
import pandas as pd
import pytest

from gwaskit.stats.scan import MultiTraitScan

N, M = 300, 40


@pytest.fixture(scope="module")
def plink_data(tmp_path_factory):
    rng = np.random.default_rng(42)
    d = tmp_path_factory.mktemp("glm")
    af = rng.uniform(0.05, 0.5, M)
    G = rng.binomial(2, af, size=(N, M)).astype(np.float32)
    iids = [f"s{i}" for i in range(N)]
    bed_reader.to_bed(d / "g.bed", G, properties={
        "fid": ["0"] * N, "iid": iids, "chromosome": ["1"] * M,
        "sid": [f"rs{j}" for j in range(M)], "bp_position": list(range(1000, 1000 + M)),
        "allele_1": ["A"] * M, "allele_2": ["G"] * M,
    })
    cov = np.column_stack([rng.normal(50, 10, N), rng.integers(0, 2, N), rng.normal(size=N)])
    y = 0.3 * G[:, 3] + 0.05 * cov[:, 0] + rng.normal(size=N)
    pd.DataFrame({"#FID": "0", "IID": iids, "y": y}).to_csv(d / "pheno.txt", sep="\t", index=False)
    pd.DataFrame({"#FID": "0", "IID": iids, "age": cov[:, 0], "sex": cov[:, 1], "pc1": cov[:, 2]}).to_csv(
        d / "covar.txt", sep="\t", index=False)
    return d, y, cov


def test_d1_per_dim_equals_plink2_glm(plink_data, plink2):
    d, y, cov = plink_data
    subprocess.run([plink2, "--bfile", str(d / "g"), "--pheno", str(d / "pheno.txt"),
                    "--covar", str(d / "covar.txt"), "--covar-variance-standardize",
                    "--glm", "hide-covar", "omit-ref", "--out", str(d / "res"), "--threads", "1"],
                   check=True, capture_output=True)
    ref = pd.read_csv(d / "res.y.glm.linear", sep="\t")
    assert (ref["A1"] == ref["ALT"]).all()
    with bed_reader.open_bed(d / "g.bed", count_A1=True) as bed:  # A1 (.bim col 5) = ALT
        G = np.asfortranarray(bed.read(dtype="float64"))
    res = MultiTraitScan(per_dim=True, rank_normalize=False, pca=None, dtype="float64").fit(y, cov).test(G)
    rel = lambda a, b: np.max(np.abs(a - b) / np.abs(b))  # noqa: E731
    assert rel(res["beta_1"], ref["BETA"].to_numpy()) < 1e-4
    assert rel(res["standard_error_1"], ref["SE"].to_numpy()) < 1e-4
    assert rel(res["p_value_1"], ref["P"].to_numpy()) < 1e-4
    # D = 1: the joint exact p is the same t-test
    assert rel(res["p_value"], ref["P"].to_numpy()) < 1e-4
    # float32 GEMM path stays within plink2's print precision as well
    r32 = MultiTraitScan(per_dim=True, rank_normalize=False, pca=None).fit(y, cov).test(G.astype(np.float32))
    assert rel(r32["beta_1"], ref["BETA"].to_numpy()) < 1e-4
    assert rel(r32["p_value_1"], ref["P"].to_numpy()) < 1e-4


def test_d1_end_to_end_scan_equals_plink2(plink_data, plink2):
    import gwaskit

    d, y, cov = plink_data
    ref_path = d / "res.y.glm.linear"
    if not ref_path.exists():
        test_d1_per_dim_equals_plink2_glm(plink_data, plink2)
    ref = pd.read_csv(ref_path, sep="\t")
    out = gwaskit.scan(bed=str(d / "g"), pheno=str(d / "pheno.txt"), pheno_cols=["y"],
                       covar=str(d / "covar.txt"), pca=None, rank_normalize=False, per_dim=True,
                       chunk_size=7)
    assert list(out.columns[:13]) == ["chromosome", "base_pair_location", "variant_id", "effect_allele",
                                      "other_allele", "effect_allele_frequency", "info", "n", "chisq", "df",
                                      "p_value", "neg_log_10_p_value", "errcode"]
    assert list(out["variant_id"]) == list(ref["ID"])
    assert (out["effect_allele"].to_numpy() == ref["A1"].to_numpy()).all()
    beta = out.filter(like="beta_").iloc[:, 0].to_numpy()
    se = out.filter(like="standard_error_").iloc[:, 0].to_numpy()
    np.testing.assert_allclose(beta, ref["BETA"], rtol=1e-4)
    np.testing.assert_allclose(se, ref["SE"], rtol=1e-4)
    np.testing.assert_allclose(out["p_value"], ref["P"], rtol=1e-4)
    assert (out["n"] == N).all()

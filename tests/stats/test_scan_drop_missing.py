"""MultiTraitScan(missing="drop"): each variant tested on its non-missing samples only.

Checked against brute force (a fresh null fit on each variant's called samples) and against
plink2 --glm, which removes a variant's missing calls the same way."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gwaskit.errors import InputError
from gwaskit.stats.multitrait import MultiTraitScan

N, D, K, M = 160, 3, 2, 12


def _data(seed=4):
    rng = np.random.default_rng(seed)
    F = rng.normal(size=(N, K))
    Y = rng.normal(size=(N, D)) + F[:, :1]
    G = rng.binomial(2, rng.uniform(0.1, 0.5, M), size=(N, M)).astype(np.float64)
    Y[:, 0] += 0.4 * G[:, 3]
    G[rng.random((N, M)) < np.linspace(0, 0.4, M)] = np.nan  # column 0 complete, then more
    return Y, F, G


def _model(**kw):
    return MultiTraitScan(pca=None, rank_normalize=False, dtype="float64", per_dim=True, **kw)


@pytest.mark.parametrize("test", ["scaled-lrt", "wilks"])
def test_drop_equals_a_fresh_fit_on_the_called_samples(test):
    Y, F, G = _data()
    res = _model(missing="drop", test=test).fit(Y, F).test(G)
    for j in range(M):
        obs = ~np.isnan(G[:, j])
        ref = _model(test=test).fit(Y[obs], F[obs]).test(G[obs, j:j + 1])
        assert res["n"][j] == obs.sum() == ref["n"][0]
        assert res["errcode"][j] == ref["errcode"][0] == "."
        for key in ("q", "chisq", "p_value", "beta_1", "standard_error_2", "p_value_3"):
            np.testing.assert_allclose(res[key][j], ref[key][0], rtol=1e-9, err_msg=f"{key} {j}")


def test_complete_variants_are_unchanged_and_mean_differs_with_missing():
    Y, F, G = _data()
    drop = _model(missing="drop").fit(Y, F).test(G)
    mean = _model().fit(Y, F).test(G)
    assert drop["q"][0] == mean["q"][0] and drop["p_value"][0] == mean["p_value"][0]
    assert not np.allclose(drop["q"][1:], mean["q"][1:], rtol=1e-6)  # the modes really differ
    np.testing.assert_array_equal(drop["n"], mean["n"])  # n: non-missing calls in both


def test_float32_and_too_few_calls_and_bad_mode():
    Y, F, G = _data()
    G[: N - 5, 5] = np.nan  # 5 calls < c + D + 1 = 7
    res = MultiTraitScan(pca=None, rank_normalize=False, missing="drop").fit(Y, F).test(
        G.astype(np.float32))
    assert res["errcode"][5] == "TOO_FEW_CALLS" and np.isnan(res["p_value"][5])
    ref = _model(missing="drop").fit(Y, F).test(G)
    ok = res["errcode"] == "."
    np.testing.assert_allclose(res["q"][ok], ref["q"][ok], rtol=1e-5)
    with pytest.raises(InputError, match="missing"):
        MultiTraitScan(missing="pairwise")


def test_drop_matches_plink2_glm(plink2, tmp_path):
    """D = 1 with covariates: BETA, SE, P and OBS_CT of plink2 --glm on a .bed with missing
    calls equal the drop-mode per-dimension results (and the 1-df joint p)."""
    sys.path.insert(0, str(Path(__file__).parents[1] / "io"))
    from _geno_fixtures import variant_table, write_bed

    Y, F, G = _data(seed=8)
    variants = variant_table(M, chrom="3")
    write_bed(tmp_path / "g", G, variants)
    iids = [f"s{i}" for i in range(N)]
    pd.DataFrame({"#FID": "0", "IID": iids, "y": Y[:, 0]}).to_csv(tmp_path / "y.txt", sep="\t",
                                                                 index=False)
    pd.DataFrame({"#FID": "0", "IID": iids, "c1": F[:, 0], "c2": F[:, 1]}).to_csv(
        tmp_path / "c.txt", sep="\t", index=False)
    r = subprocess.run([plink2, "--bfile", tmp_path / "g", "--pheno", tmp_path / "y.txt",
                        "--covar", tmp_path / "c.txt", "--glm", "hide-covar", "cols=+a1freq",
                        "--covar-variance-standardize", "--threads", "1", "--out",
                        tmp_path / "p"], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    glm = pd.read_csv(tmp_path / "p.y.glm.linear", sep="\t")
    res = _model(missing="drop").fit(Y[:, :1], F).test(G)
    # write_bed counts effect_allele = .bim A1 = plink2's A1 here
    assert (glm["A1"].to_numpy() == variants["effect_allele"].to_numpy()).all()
    np.testing.assert_array_equal(res["n"], glm["OBS_CT"])
    np.testing.assert_allclose(res["beta_1"], glm["BETA"], rtol=1e-5)
    np.testing.assert_allclose(res["standard_error_1"], glm["SE"], rtol=1e-5)
    np.testing.assert_allclose(res["p_value_1"], glm["P"], rtol=1e-4)
    np.testing.assert_allclose(res["p_value"], glm["P"], rtol=1e-4)
    mean = _model().fit(Y[:, :1], F).test(G)
    assert not np.allclose(mean["beta_1"][1:], glm["BETA"][1:], rtol=1e-3)  # imputation differs

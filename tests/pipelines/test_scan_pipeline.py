"""The scan pipeline end to end through the CLI (BGEN in, parquet out) against statsmodels'
MANOVA on the same dosages: float64 to 1e-8, and the documented float32 error."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gwaskit.cli.main import main

from engine.conftest import make_cohort  # tests/ is on sys.path (rootdir-based packages)

pytest.importorskip("statsmodels")


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    return make_cohort(tmp_path_factory.mktemp("manova"), n=300, m=40, seed=11)


def _manova(cohort) -> pd.DataFrame:
    """Wilks' lambda, F and p of each variant by statsmodels (intercept + the variant), on
    the mean-imputed dosages read back from the BGEN files."""
    from statsmodels.multivariate.manova import MANOVA

    from gwaskit.io.genotypes import open_genotypes

    emb = pd.read_parquet(cohort["pheno"])
    Y = emb[[c for c in emb.columns if c.startswith("emb_")]].to_numpy()
    with open_genotypes(cohort["glob"]) as r:
        assert list(r.samples) == emb["IID"].tolist()
        vt, G = r.read_dosages(dtype=np.float64)
    rows = []
    for j in range(G.shape[1]):
        g = G[:, j].copy()
        miss = np.isnan(g)
        g[miss] = g[~miss].mean()
        if np.ptp(g) == 0:
            rows.append((np.nan, np.nan))
            continue
        exog = np.column_stack([np.ones(len(g)), g])
        res = MANOVA(Y, exog).mv_test(hypotheses=[("g", np.array([[0.0, 1.0]]))])
        st = res.results["g"]["stat"].loc["Wilks' lambda"]
        rows.append((float(st["Value"]), float(st["Pr > F"])))
    return pd.DataFrame(rows, columns=["wilks", "p"], index=vt["variant_id"].to_numpy())


def _analysis_n(out) -> int:
    import json

    return int(json.loads(open(str(out) + ".meta.json").read())["n"])


@pytest.mark.parametrize("test", ["wilks", "scaled-lrt"])
def test_float64_cli_matches_manova_to_1e8(cohort, tmp_path, test):
    out = tmp_path / "r.parquet"
    main(["scan", "--bgen", cohort["glob"], "--pheno", str(cohort["pheno"]), "--pheno-cols",
          "emb_*", "--no-pca", "--no-rank-normalize", "--test", test, "--dtype", "float64",
          "--quiet", "--out", str(out)])
    df = pd.read_parquet(out).set_index("variant_id")
    ref = _manova(cohort).loc[df.index]
    ok = df["errcode"] == "."
    assert ok.sum() >= 75 and (~ok).sum() >= 2  # the monomorphic variant of each file
    # the statistic's N is the analysis N (mean-imputed calls enter the test); the n column
    # counts each variant's non-missing calls
    n, d = _analysis_n(out), int(df.loc[ok, "df"].iat[0])
    assert (df.loc[ok, "n"] <= n).all() and (df.loc[ok, "n"] < n).any()
    wilks = ref.loc[ok, "wilks"].to_numpy()
    expect = -n * np.log(wilks) if test == "wilks" else -n * d * np.log(1 - (1 - wilks) / d)
    np.testing.assert_allclose(df.loc[ok, "chisq"].to_numpy(), expect, rtol=1e-8)
    np.testing.assert_allclose(df.loc[ok, "p_value"].to_numpy(), ref.loc[ok, "p"].to_numpy(),
                               rtol=1e-8)


def test_float32_error_within_1e4_relative(cohort, tmp_path):
    """The default float32 GEMM: the D-df statistic within 1e-4 relative of MANOVA (the bound
    the README quotes), and the same variants tested."""
    out = tmp_path / "r32.parquet"
    main(["scan", "--bgen", cohort["glob"], "--pheno", str(cohort["pheno"]), "--pheno-cols",
          "emb_*", "--no-pca", "--no-rank-normalize", "--test", "wilks", "--quiet",
          "--out", str(out)])
    df = pd.read_parquet(out).set_index("variant_id")
    ref = _manova(cohort).loc[df.index]
    ok = df["errcode"] == "."
    rel = np.abs(df.loc[ok, "chisq"].to_numpy() / (-_analysis_n(out)
                                                   * np.log(ref.loc[ok, "wilks"].to_numpy())) - 1)
    assert rel.max() < 1e-4, rel.max()
    assert rel.max() > 1e-12  # float32 really ran (a float64 run would agree to ~1e-13)

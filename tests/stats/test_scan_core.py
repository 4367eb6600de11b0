"""MultiTraitScan (pure-array core) against independent oracles, invariances and edge cases."""
import logging

import numpy as np
import pytest
from scipy import optimize, stats

from gwaskit.errors import InputError
from gwaskit.stats.scan import MultiTraitScan


def _data(n=120, d=4, k=3, m=6, seed=0):
    rng = np.random.default_rng(seed)
    Y = rng.normal(size=(n, d)) @ rng.normal(size=(d, d))
    F = rng.normal(size=(n, k))
    G = rng.binomial(2, rng.uniform(0.1, 0.5, m), size=(n, m)).astype(float)
    G[:, 0] += rng.uniform(0, 0.4, n)  # a dosage-valued variant
    Y[:, 0] += 0.4 * G[:, 1]           # one associated variant
    return Y, F, G


def _fit(Y, F, **kw):
    kw.setdefault("rank_normalize", False)
    kw.setdefault("dtype", "float64")
    return MultiTraitScan(**kw).fit(Y, F)


@pytest.mark.parametrize("d", [2, 5, 8])
def test_wilks_matches_statsmodels_manova(d):
    from statsmodels.multivariate.manova import MANOVA

    Y, F, G = _data(n=90, d=d, k=2, m=4, seed=d)
    res = _fit(Y, F, test="wilks").test(G)
    X = np.column_stack([np.ones(len(Y)), F])
    for j in range(G.shape[1]):
        exog = np.column_stack([X, G[:, j]])
        L = np.zeros((1, exog.shape[1]))
        L[0, -1] = 1
        row = MANOVA(Y, exog).mv_test(hypotheses=[("g", L)]).results["g"]["stat"].loc["Wilks' lambda"]
        wilks, num_df, den_df, fval, p = (float(row[c]) for c in ["Value", "Num DF", "Den DF", "F Value", "Pr > F"])
        q = res["q"][j]
        n, c = len(Y), X.shape[1]
        assert 1 - q == pytest.approx(wilks, rel=1e-8)
        assert res["chisq"][j] == pytest.approx(-n * np.log(wilks), rel=1e-8)
        assert (num_df, den_df) == (d, n - c - d) and res["df"][j] == d
        assert (q / d) / ((1 - q) / (n - c - d)) == pytest.approx(fval, rel=1e-8)
        assert res["p_value"][j] == pytest.approx(p, rel=1e-8)


def _gls_scale_loglik(Y, X, C0):
    """Max over (B, s) of the Gaussian log-likelihood of vec(Y) ~ N(vec(XB), s C0 ⊗ I_N).

    B by explicit Kronecker GLS; the scale s by numerical optimisation.
    """
    n, d = Y.shape
    Omega = np.kron(C0, np.eye(n))
    Oi = np.linalg.inv(Omega)
    Xk = np.kron(np.eye(d), X)
    y = Y.T.reshape(-1)  # vec (column-stacked)
    beta = np.linalg.solve(Xk.T @ Oi @ Xk, Xk.T @ Oi @ y)
    r = y - Xk @ beta
    quad = r @ Oi @ r
    _, logdet = np.linalg.slogdet(Omega)

    def negll(log_s):
        s = np.exp(log_s)
        return 0.5 * (n * d * np.log(2 * np.pi) + n * d * log_s + logdet + quad / s)

    opt = optimize.minimize_scalar(negll, bounds=(-5, 5), method="bounded", options={"xatol": 1e-12})
    return -opt.fun


def test_scaled_lrt_matches_numerical_likelihood_maximisation():
    Y, F, G = _data(n=40, d=3, k=1, m=3, seed=7)
    res = _fit(Y, F, test="scaled-lrt").test(G)
    X0 = np.column_stack([np.ones(len(Y)), F])
    R0 = Y - X0 @ np.linalg.lstsq(X0, Y, rcond=None)[0]
    C0 = R0.T @ R0 / len(Y)  # null MLE of the trait covariance, then fixed
    l0 = _gls_scale_loglik(Y, X0, C0)
    for j in range(G.shape[1]):
        l1 = _gls_scale_loglik(Y, np.column_stack([X0, G[:, j]]), C0)
        assert res["chisq"][j] == pytest.approx(2 * (l1 - l0), rel=1e-7, abs=1e-9)


def test_per_dim_equals_ols():
    import statsmodels.api as sm

    Y, F, G = _data(n=80, d=3, k=2, m=3, seed=3)
    res = _fit(Y, F, per_dim=True).test(G)
    X = np.column_stack([np.ones(len(Y)), F])
    for j in range(G.shape[1]):
        for k in range(Y.shape[1]):
            ols = sm.OLS(Y[:, k], np.column_stack([X, G[:, j]])).fit()
            assert res[f"beta_{k + 1}"][j] == pytest.approx(ols.params[-1], rel=1e-9)
            assert res[f"standard_error_{k + 1}"][j] == pytest.approx(ols.bse[-1], rel=1e-9)
            assert res[f"p_value_{k + 1}"][j] == pytest.approx(ols.pvalues[-1], rel=1e-8)


def test_invariances():
    Y, F, G = _data(n=100, d=5, k=3, m=5, seed=11)
    rng = np.random.default_rng(5)
    q = _fit(Y, F).test(G)["q"]
    T = rng.normal(size=(5, 5))
    np.testing.assert_allclose(_fit(Y @ T, F).test(G)["q"], q, rtol=1e-9)
    np.testing.assert_allclose(_fit(Y, F).test(-2.5 * G + 0.7)["q"], q, rtol=1e-9)
    R = rng.normal(size=(3, 3))
    np.testing.assert_allclose(_fit(Y, F @ R).test(G)["q"], q, rtol=1e-9)
    # full-rank PCA is a rotation: no change without INT
    np.testing.assert_allclose(_fit(Y, F, pca="all").test(G)["q"], q, rtol=1e-9)


def test_float32_gemm_matches_float64():
    Y, F, G = _data(n=400, d=8, k=4, m=30, seed=2)
    r64 = _fit(Y, F).test(G)
    r32 = _fit(Y, F, dtype="float32").test(G.astype(np.float32))
    np.testing.assert_allclose(r32["q"], r64["q"], rtol=1e-4)
    np.testing.assert_allclose(r32["neg_log_10_p_value"], r64["neg_log_10_p_value"], rtol=1e-4, atol=1e-5)


def test_monomorphic_collinear_and_filters():
    Y, F, G = _data(n=100, d=3, k=2, m=6, seed=4)
    G[:, 0] = 1.0                               # monomorphic
    G[:, 1] = 2 * F[:, 0] + 1                   # collinear with covariates
    G[:, 2] = 0.0
    G[:3, 2] = 1.0                              # MAF = 0.015
    G[:, 3] = np.nan                            # all missing
    for dtype in ("float64", "float32"):
        res = _fit(Y, F, maf=0.02, dtype=dtype).test(G)
        assert list(res["errcode"]) == ["MONOMORPHIC", "COLLINEAR", "MAF_FILTER", "ALL_MISSING", ".", "."]
        assert np.isnan(res["p_value"][:4]).all() and np.isnan(res["chisq"][:4]).all()
        assert np.isnan(res["neg_log_10_p_value"][:4]).all()
        assert np.isfinite(res["p_value"][4:]).all()
    res = _fit(Y, F, mac=4).test(G)
    assert res["errcode"][2] == "MAC_FILTER"


def test_missing_dosages_mean_imputed():
    Y, F, G = _data(n=100, d=3, k=2, m=4, seed=6)
    Gm = G.copy()
    Gm[::7, 1] = np.nan
    Gm[3, 2] = np.nan
    res = _fit(Y, F).test(Gm)
    imputed = Gm.copy()
    for j in range(4):
        col = imputed[:, j]
        col[np.isnan(col)] = np.nanmean(col)
    ref = _fit(Y, F).test(imputed)
    np.testing.assert_allclose(res["q"], ref["q"], rtol=1e-10)
    np.testing.assert_allclose(res["effect_allele_frequency"], np.nanmean(Gm, axis=0) / 2)
    # n counts the calls that carried information (plink2's OBS_CT), not the mean-imputed ones
    np.testing.assert_array_equal(res["n"], (~np.isnan(Gm)).sum(axis=0))
    assert res["n"].tolist() == [100, 85, 99, 100]


def test_too_few_samples_error():
    rng = np.random.default_rng(0)
    with pytest.raises(InputError, match="N - c - D"):
        MultiTraitScan().fit(rng.normal(size=(10, 7)), rng.normal(size=(10, 2)))
    MultiTraitScan().fit(rng.normal(size=(11, 7)), rng.normal(size=(11, 2)))  # N-c-D = 1


def test_collinear_covariate_dropped_with_warning(caplog):
    Y, F, G = _data(n=100, d=3, k=2, m=3, seed=8)
    F2 = np.column_stack([F, F[:, 0] - F[:, 1], np.ones(100)])
    with caplog.at_level(logging.WARNING, logger="gwaskit"):
        s = _fit(Y, F2)
    assert s.c_ == 3 and len(s.covariates_dropped_) == 2 and "covar_4" in s.covariates_dropped_
    assert "Dropped 2 collinear covariate" in caplog.text
    np.testing.assert_allclose(s.test(G)["q"], _fit(Y, F).test(G)["q"], rtol=1e-9)


def test_d1_rank_normalised():
    Y, F, G = _data(n=150, d=1, k=2, m=3, seed=9)
    Y = np.exp(Y[:, 0])  # skewed, 1-D input
    s = MultiTraitScan(per_dim=True, rank_normalize=True, dtype="float64").fit(Y, F)
    res = s.test(G)
    assert s.d_ == 1 and res["df"][0] == 1
    # D = 1: exact p = t-test p; the Wilks/scaled statistics coincide
    np.testing.assert_allclose(res["p_value"], res["p_value_1"], rtol=1e-9)
    w = MultiTraitScan(test="wilks", dtype="float64").fit(Y, F).test(G)
    np.testing.assert_allclose(w["chisq"], res["chisq"], rtol=1e-12)


def test_chi2_pvalue_mode():
    Y, F, G = _data(n=100, d=4, k=2, m=4, seed=10)
    res = _fit(Y, F, pvalue="chi2").test(G)
    np.testing.assert_allclose(res["p_value"], stats.chi2.sf(res["chisq"], 4), rtol=1e-10)


def test_pca_truncation_and_bad_options():
    Y, F, G = _data(n=100, d=6, k=2, m=3, seed=12)
    s = _fit(Y, F, pca=2)
    assert s.d_ == 2 and s.dim_names_ == ["PC1", "PC2"]
    with pytest.raises(InputError):
        MultiTraitScan(test="bogus")
    with pytest.raises(InputError):
        MultiTraitScan(pca=0)
    with pytest.raises(InputError, match="linearly dependent"):
        _fit(np.column_stack([Y[:, :2], Y[:, 0] + Y[:, 1]]), F)

"""Log-space tail probabilities against scipy (moderate tails) and mpmath (deep tails)."""
import numpy as np
import pytest
from scipy import stats

from gwaskit.stats.pvalues import (beta_logsf, chi2_logsf, exact_multitrait_logp, f_logsf,
                                   lambda_gc, lambda_gc_from_p, log_beta, neg_log10,
                                   t_logsf_two_sided)

mpmath = pytest.importorskip("mpmath")


def _mp_beta_logsf(x, a, b):
    with mpmath.workdps(60):
        x = mpmath.mpf(x)
        return float(mpmath.log(mpmath.betainc(b, a, 0, 1 - x, regularized=True)))


@pytest.mark.parametrize("a,b", [(0.5, 10.0), (8.0, 2000.0), (128.0, 2400.0), (1.0, 1.0), (0.5, 2.5)])
def test_beta_logsf_matches_scipy(a, b):
    x = np.random.default_rng(0).uniform(0, 1, 400) ** 3
    ref = stats.beta.logsf(x, a, b)
    got = beta_logsf(x, a, b)
    ok = np.isfinite(ref) & (ref > -600)
    np.testing.assert_allclose(got[ok], ref[ok], rtol=1e-11, atol=1e-12)


@pytest.mark.parametrize("a,b,x", [
    (128, 2400, 0.5), (128, 9800, 0.9), (128, 9800, 0.999999), (4, 10000, 0.99),
    (0.5, 20000, 0.7), (128, 9800, 0.013), (8, 5000, 0.05), (32, 40000, 0.4),
])
def test_beta_logsf_deep_tail_matches_mpmath(a, b, x):
    ref = _mp_beta_logsf(x, a, b)
    got = float(beta_logsf(x, a, b))
    assert got == pytest.approx(ref, rel=1e-10, abs=1e-12)


def test_tail_reaches_1e4():
    # -log10 p around 1e4: N=20000, D=256, Q=0.91 (scipy gives -inf here)
    logp = float(exact_multitrait_logp(0.91, 20000, 20, 256))
    ref = _mp_beta_logsf(0.91, 128, (20000 - 20 - 256) / 2)
    assert neg_log10(logp) > 1e4
    assert logp == pytest.approx(ref, rel=1e-11)
    assert np.isinf(stats.f.logsf(0.91 / 256 / (0.09 / (20000 - 20 - 256)), 256, 20000 - 276))


def test_exact_equals_f_law():
    q = np.linspace(0.001, 0.2, 30)
    n, c, d = 500, 3, 8
    f = (q / d) / ((1 - q) / (n - c - d))
    np.testing.assert_allclose(exact_multitrait_logp(q, n, c, d), stats.f.logsf(f, d, n - c - d), rtol=1e-10)
    np.testing.assert_allclose(f_logsf(f, d, n - c - d), stats.f.logsf(f, d, n - c - d), rtol=1e-10)


@pytest.mark.parametrize("df", [1, 2, 16, 256])
def test_chi2_logsf(df):
    x = np.random.default_rng(1).uniform(0, 3 * df + 200, 400)
    ref = stats.chi2.logsf(x, df)
    np.testing.assert_allclose(chi2_logsf(x, df), ref, rtol=1e-11, atol=1e-13)
    for xx in (40000.0, 5000.0):
        with mpmath.workdps(50):
            r = float(mpmath.log(mpmath.gammainc(mpmath.mpf(df) / 2, mpmath.mpf(xx) / 2, regularized=True)))
        assert float(chi2_logsf(xx, df)) == pytest.approx(r, rel=1e-12)


def test_t_two_sided():
    t = np.random.default_rng(2).normal(0, 5, 300)
    ref = np.log(2 * stats.t.sf(np.abs(t), 50))
    np.testing.assert_allclose(t_logsf_two_sided(t, 50), ref, rtol=1e-10, atol=1e-14)


def test_edges_and_nan():
    assert beta_logsf(0.0, 2, 3) == 0.0
    assert np.isneginf(beta_logsf(1.0, 2, 3))
    assert np.isnan(beta_logsf(np.nan, 2, 3))
    assert np.isnan(chi2_logsf(np.nan, 3))
    with pytest.raises(ValueError):
        exact_multitrait_logp(0.1, 10, 5, 5)


def test_log_beta_large_arguments():
    for a, b in [(9800, 128), (1e5, 128), (20000, 0.5), (3, 4)]:
        with mpmath.workdps(40):
            ref = float(mpmath.log(mpmath.beta(a, b)))
        assert float(log_beta(a, b)) == pytest.approx(ref, rel=1e-15, abs=1e-12)


def test_lambda_gc_uses_d_df_median():
    rng = np.random.default_rng(3)
    x = rng.chisquare(10, 20000)
    assert lambda_gc(x, 10) == pytest.approx(1.0, abs=0.03)
    assert lambda_gc(1.1 * x, 10) == pytest.approx(1.1, abs=0.03)
    assert lambda_gc_from_p(stats.chi2.sf(1.1 * x, 10), 10) == pytest.approx(1.1, abs=0.03)


def test_log_beta_small_arguments_match_mpmath():
    # max(a, b) < 20 uses the Gamma ratio (no scipy): within ~1.4e-14 absolute, as betaln
    rng = np.random.default_rng(4)
    a = np.concatenate([rng.uniform(0.01, 20, 300), np.arange(1, 40) / 2])
    b = np.concatenate([rng.uniform(0.01, 20, 300), np.arange(39, 0, -1) / 2])
    got = log_beta(a, b)
    with mpmath.workdps(40):
        ref = np.array([float(mpmath.log(mpmath.beta(mpmath.mpf(x), mpmath.mpf(y))))
                        for x, y in zip(a, b)])
    np.testing.assert_allclose(got, ref, rtol=0, atol=3e-14)
    # broadcasting and one value per distinct pair
    np.testing.assert_array_equal(log_beta(a[:5, None], b[None, :7]),
                                  np.array([[float(log_beta(x, y)) for y in b[:7]] for x in a[:5]]))


@pytest.mark.parametrize("p", [0.5, 1e-3, 0.1, 0.9, 1e-10])
def test_chi2_quantile_matches_scipy_chdtri(p):
    from scipy import special

    from gwaskit.stats.pvalues import _chi2_isf

    df = np.arange(1, 1001)
    got = np.array([_chi2_isf(p, d) for d in df])
    np.testing.assert_allclose(got, special.chdtri(df, p), rtol=1e-12)


def test_chi2_quantile_edges():
    from gwaskit.stats.pvalues import _chi2_isf

    assert _chi2_isf(1.0, 3) == 0.0
    assert _chi2_isf(0.0, 3) == np.inf
    for p, df in [(1.5, 3), (-0.1, 3), (np.nan, 3), (0.5, 0), (0.5, -1), (0.5, np.nan)]:
        assert np.isnan(_chi2_isf(p, df))
    # deep tail: residual of the quantile against mpmath
    x = _chi2_isf(1e-300, 4)
    with mpmath.workdps(40):
        q = mpmath.gammainc(2, mpmath.mpf(x) / 2, regularized=True)
    assert float(q) == pytest.approx(1e-300, rel=1e-13)


def test_lambda_gc_exact_median():
    # chi2(1) median is 0.454936423119572...; median(T) / that
    assert lambda_gc(np.array([0.454936423119572694]), 1) == pytest.approx(1.0, rel=1e-14)
    assert np.isnan(lambda_gc(np.array([np.nan]), 1))
    assert lambda_gc_from_p(np.array([0.5, np.nan]), 7) == pytest.approx(1.0, rel=1e-14)

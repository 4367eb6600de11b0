import logging

import numpy as np
import pytest
from scipy import stats

from gwaskit.errors import InputError
from gwaskit.stats.transforms import (covariate_basis, drop_collinear, pca_project,
                                      rank_inverse_normal, residualize)


def test_rank_inverse_normal_blom_and_ties():
    y = np.array([3.0, 1.0, 2.0, 2.0, 10.0])
    r = np.array([4, 1, 2.5, 2.5, 5])
    expected = stats.norm.ppf((r - 3 / 8) / (5 + 1 / 4))
    np.testing.assert_allclose(rank_inverse_normal(y), expected)
    np.testing.assert_allclose(rank_inverse_normal(y[:, None])[:, 0], expected)
    np.testing.assert_allclose(rank_inverse_normal(y, kappa=0.5), stats.norm.ppf((r - 0.5) / 5))


def test_rank_inverse_normal_columns_and_nan():
    rng = np.random.default_rng(0)
    Y = rng.exponential(size=(200, 3))
    Z = rank_inverse_normal(Y)
    for j in range(3):
        assert stats.spearmanr(Y[:, j], Z[:, j]).statistic == pytest.approx(1.0)
    Y[5, 1] = np.nan
    Z = rank_inverse_normal(Y)
    assert np.isnan(Z[5, 1]) and np.isfinite(Z[:, [0, 2]]).all()


def test_pca_project():
    rng = np.random.default_rng(1)
    Y = rng.normal(size=(100, 6)) @ rng.normal(size=(6, 6))
    full = pca_project(Y)
    assert full.scores.shape == (100, 6)
    assert full.explained_variance_ratio.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(full.scores.T @ full.scores, np.diag(np.diag(full.scores.T @ full.scores)), atol=1e-8)
    top2 = pca_project(Y, 2)
    np.testing.assert_allclose(top2.scores, full.scores[:, :2])
    with pytest.raises(InputError):
        pca_project(Y[:, :2] @ np.ones((2, 4)), 3)  # rank 2


def test_drop_collinear_names_and_warns(caplog):
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(2, 50))
    F = np.column_stack([a, b, a + 2 * b, np.full(50, 3.0)])
    with caplog.at_level(logging.WARNING, logger="gwaskit"):
        Fk, kept, dropped = drop_collinear(F, ["a", "b", "ab", "const"])
    assert Fk.shape == (50, 2) and len(kept) == 2 and "const" in dropped and len(dropped) == 2
    assert "const" in caplog.text
    assert np.linalg.matrix_rank(np.column_stack([np.ones(50), Fk])) == 3


def test_residualize():
    rng = np.random.default_rng(3)
    F = rng.normal(size=(40, 2))
    Y = rng.normal(size=(40, 3))
    R = residualize(Y, F)
    X = np.column_stack([np.ones(40), F])
    np.testing.assert_allclose(X.T @ R, 0, atol=1e-10)
    np.testing.assert_allclose(R, Y - X @ np.linalg.lstsq(X, Y, rcond=None)[0], atol=1e-10)
    Qf = covariate_basis(F, 40)
    np.testing.assert_allclose(Qf.T @ Qf, np.eye(3), atol=1e-12)


def test_ndtri_matches_scipy():
    from scipy import special

    from gwaskit.stats.transforms import ndtri

    p = np.concatenate([np.linspace(1e-12, 1 - 1e-12, 100_001), np.logspace(-300, -1, 500),
                        1 - np.logspace(-16, -1, 100)])
    got, want = ndtri(p), special.ndtri(p)
    far = np.abs(want) > 0.1
    assert np.max(np.abs(got[far] - want[far]) / np.abs(want[far])) < 2e-15
    assert np.max(np.abs(got[~far] - want[~far])) < 5e-16
    np.testing.assert_array_equal(ndtri(np.array([0.0, 1.0, 0.5])), [-np.inf, np.inf, 0.0])
    assert np.isnan(ndtri(np.array([-0.1, 1.5, np.nan]))).all()


@pytest.mark.parametrize("n_levels", [3, 50, None])
def test_rank_inverse_normal_ties_equal_rankdata(n_levels):
    from scipy import special

    rng = np.random.default_rng(n_levels or 7)
    n, d = 400, 5
    Y = (rng.integers(0, n_levels, size=(n, d)).astype(float) if n_levels
         else rng.normal(size=(n, d)))
    Y[0, 0] = -0.0  # equal to 0.0: one tie run
    Y[1, 0] = 0.0
    want = special.ndtri((stats.rankdata(Y, axis=0) - 3 / 8) / (n + 1 / 4))
    np.testing.assert_allclose(rank_inverse_normal(Y), want, rtol=1e-14, atol=1e-15)
    Y[::7, 2] = np.nan  # per-column path
    ok = ~np.isnan(Y[:, 2])
    want2 = special.ndtri((stats.rankdata(Y[ok, 2]) - 3 / 8) / (ok.sum() + 1 / 4))
    np.testing.assert_allclose(rank_inverse_normal(Y)[ok, 2], want2, rtol=1e-14, atol=1e-15)


def test_pivoted_rank_matches_lapack():
    from scipy import linalg

    from gwaskit.stats.transforms import _pivoted_rank

    rng = np.random.default_rng(3)
    for trial in range(20):
        X = rng.normal(size=(300, 8))
        X[:, 3] = X[:, 0] - 2 * X[:, 1]          # exactly dependent
        X[:, 5] = X[:, 2] + 1e-9 * rng.normal(size=300) * (trial % 2)  # nearly dependent
        Xs = (X - X.mean(0)) / np.linalg.norm(X - X.mean(0), axis=0)
        _, R, _ = linalg.qr(Xs, mode="economic", pivoting=True)
        assert _pivoted_rank(Xs, 1e-7) == int(np.sum(np.abs(np.diag(R)) > 1e-7))

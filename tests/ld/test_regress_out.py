import numpy as np
import pytest

from gwaskit.errors import InputError
from gwaskit.ld.pca import regress_out


def test_regress_out_matches_lstsq_on_fit_rows():
    rng = np.random.default_rng(0)
    n, s, k = 60, 3, 2
    C = rng.normal(size=(n, k))
    X = C @ rng.normal(size=(k, s)) + 1.5 + rng.normal(size=(n, s))
    fit = np.zeros(n, bool)
    fit[:40] = True
    R = regress_out(X, C, fit)
    D = np.column_stack([np.ones(n), C])
    b = np.linalg.solve(D[fit].T @ D[fit], D[fit].T @ X[fit])
    np.testing.assert_allclose(R, X - D @ b, atol=1e-10)
    # residuals orthogonal to the design on the fit rows only
    np.testing.assert_allclose(D[fit].T @ R[fit], 0, atol=1e-9)
    # index form and all rows
    np.testing.assert_allclose(regress_out(X, C, np.arange(40)), R, atol=1e-12)
    R_all = regress_out(X, C)
    np.testing.assert_allclose(D.T @ R_all, 0, atol=1e-9)
    # 1-d input
    np.testing.assert_allclose(regress_out(X[:, 0], C, fit), R[:, 0], atol=1e-12)


def test_regress_out_rejects_nan():
    X = np.ones((5, 2))
    X[0, 0] = np.nan
    with pytest.raises(InputError):
        regress_out(X, np.zeros((5, 1)))

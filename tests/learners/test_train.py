"""Trainer: seed reproducibility, exact resume, weights-only checkpoints, baselines."""
from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from learners.gemcont.train import Trainer, load_checkpoint


def test_same_seed_same_embeddings(tiny_cfg, tiny_cohort):
    tiny_cfg.epochs = 1
    tiny_cfg.augment = {"translate": {"max_frac": 0.1}, "noise": {"std": 0.05}}
    a = Trainer(copy.deepcopy(tiny_cfg), tiny_cohort, out_dir="")
    a.fit()
    b = Trainer(copy.deepcopy(tiny_cfg), tiny_cohort, out_dir="")
    b.fit()
    np.testing.assert_array_equal(a.embed(), b.embed())
    tiny_cfg.seed = 7
    c = Trainer(tiny_cfg, tiny_cohort, out_dir="")
    c.fit()
    assert not np.array_equal(a.embed(), c.embed())


@pytest.mark.parametrize("pool", ["batch", "cohort"])
def test_resume_equals_straight_run(tmp_path, tiny_cfg, tiny_cohort, pool, flat_params):
    tiny_cfg.scarf_pool = pool
    tiny_cfg.augment = {"translate": {"max_frac": 0.1}, "erasing": {"p": 0.5}}
    straight = Trainer(copy.deepcopy(tiny_cfg), tiny_cohort, out_dir=str(tmp_path / "a"))
    straight.fit()
    first = Trainer(copy.deepcopy(tiny_cfg), tiny_cohort, out_dir=str(tmp_path / "b"))
    first.fit(stop_after=1)
    assert first.epoch == 1
    torch.manual_seed(123)      # disturb global RNG: resume must restore it
    np.random.seed(5)
    resumed = Trainer(copy.deepcopy(tiny_cfg), tiny_cohort, out_dir=str(tmp_path / "b"))
    resumed.resume(tmp_path / "b" / "last.pt")
    resumed.fit()
    assert resumed.epoch == straight.epoch == 2
    np.testing.assert_array_equal(flat_params(straight.model), flat_params(resumed.model))
    sa, sb = straight.optimizer.state_dict(), resumed.optimizer.state_dict()
    for k in sa["state"]:
        for name in ("exp_avg", "exp_avg_sq"):
            assert torch.equal(sa["state"][k][name], sb["state"][k][name])
    assert straight.scheduler.state_dict() == resumed.scheduler.state_dict()
    np.testing.assert_array_equal(straight.embed(), resumed.embed())
    assert [h["train_loss"] for h in straight.history] == [h["train_loss"]
                                                            for h in resumed.history]


def test_checkpoint_is_weights_only_and_atomic(tmp_path, tiny_cfg, tiny_cohort):
    tr = Trainer(tiny_cfg, tiny_cohort, out_dir=str(tmp_path))
    tr.fit(stop_after=1)
    ck = torch.load(tmp_path / "last.pt", weights_only=True)
    assert ck["epoch"] == 1 and ck["config"]["embed_dim"] == 16
    assert set(ck) >= {"model", "optimizer", "scheduler", "scaler", "rng", "iids", "split"}
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    assert load_checkpoint(tmp_path / "last.pt")["epoch"] == 1
    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint")
    from gwaskit.errors import InputError

    with pytest.raises(InputError, match="bad.pt"):
        load_checkpoint(tmp_path / "bad.pt")


def test_resume_rejects_other_cohort(tmp_path, tiny_cfg, tiny_cohort, tiny_sim):
    from gwaskit.errors import InputError
    from learners.gemcont.simulate import glyph_cohort_arrays

    Trainer(tiny_cfg, tiny_cohort, out_dir=str(tmp_path)).fit(stop_after=1)
    other = glyph_cohort_arrays(tiny_sim, prs=True)
    with pytest.raises(InputError):
        Trainer(tiny_cfg, other, out_dir="").resume(tmp_path / "last.pt")


@pytest.mark.parametrize("method,extra", [
    ("gemcont", {"loss": "dcl"}),
    ("gemcont", {"genetic_projector": "mlp"}),
    ("gemcont", {"projector_init": "beta_first"}),
    ("prs", {}),
    ("simclr", {"augment": {"translate": {"max_frac": 0.1}, "noise": {"std": 0.1}}}),
    ("vae", {"vae_beta": 0.5}),
    ("supervised", {}),
])
def test_methods_train_and_embed(tiny_cfg, tiny_sim, method, extra):
    from learners.gemcont.simulate import glyph_cohort_arrays

    cohort = glyph_cohort_arrays(tiny_sim, 0.2, 0.2, prs=(method == "prs"))
    tiny_cfg.method = method
    for k, v in extra.items():
        setattr(tiny_cfg, k, v)
    tr = Trainer(tiny_cfg, cohort, out_dir="")
    hist = tr.fit()
    assert len(hist) == 2 and all(np.isfinite(h["train_loss"]) for h in hist)
    emb = tr.embed()
    assert emb.shape == (60, 16) and emb.dtype == np.float32 and np.isfinite(emb).all()
    if method == "prs":
        assert tr.model.genetic_proj.in_features == 1


def test_supervised_early_stopping(tiny_cfg, tiny_cohort):
    tiny_cfg.method = "supervised"
    tiny_cfg.epochs = 30
    tiny_cfg.patience = 1
    tiny_cfg.lr = 0.5           # diverging on purpose: validation never improves twice
    tr = Trainer(tiny_cfg, tiny_cohort, out_dir="")
    tr.fit()
    assert tr.epoch < 30 and tr.bad_epochs >= 1


def test_loss_decreases_and_temperature_stays_clamped(tiny_cfg):
    from learners.gemcont.simulate import glyph_cohort_arrays, simulate_glyph_cohort

    sim = simulate_glyph_cohort(n=240, n_variants=20, image_size=16, seed=1, h2=0.9)
    cohort = glyph_cohort_arrays(sim, 0.0, 0.2)
    tiny_cfg.epochs, tiny_cfg.batch_size, tiny_cfg.lr = 8, 32, 3e-3
    tiny_cfg.cnn_widths = [8, 16]
    tr = Trainer(tiny_cfg, cohort, out_dir="")
    hist = tr.fit()
    assert np.mean([h["train_loss"] for h in hist[-2:]]) < hist[0]["train_loss"] - 0.3
    assert 0.0 <= tr.model.logit_scale.item() <= np.log(100) + 1e-6

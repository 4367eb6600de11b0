"""The paper's recipe, the fair budget and the controls (issue 14, items 1-3).

Each test fails with the behaviour it guards against: presets resolving to the wrong
transforms, a method ignoring the augmentation (the VAE did), a budget in epochs instead of
steps, early stopping that keeps the last weights, a permuted control that does not permute,
an untrained control that trains, and study rows missing from the table.
"""
from __future__ import annotations

import copy
import json

import numpy as np
import pandas as pd
import pytest
import torch

from gwaskit.errors import InputError


# ----------------------------------------------------------------------------- presets
def test_augment_presets_resolve_by_task_and_method():
    from learners.gemcont.augment import PRESETS, describe, resolve_augment
    from learners.gemcont.config import GemcontConfig

    assert describe(resolve_augment("paper", "rotation", "gemcont")) == "erasing"
    assert describe(resolve_augment("paper", "spirometry", "supervised")) == \
        "resized_crop+gaussian_blur"
    assert describe(resolve_augment("paper", "fundus", "vae")) == \
        "resized_crop+colour_jitter+gaussian_blur"
    # SimCLR gets its standard pair whatever the task; no flip (it would mirror the trait)
    for task in ("rotation", "spirometry", "fundus", ""):
        assert resolve_augment("paper", task, "simclr") == PRESETS["simclr"]
    assert PRESETS["simclr"]["resized_crop"]["scale"] == (0.08, 1.0)
    assert resolve_augment("none") == {} and resolve_augment({"noise": True}) == {"noise": True}
    with pytest.raises(InputError, match="task"):
        resolve_augment("paper", "", "gemcont")
    with pytest.raises(InputError, match="not a preset"):
        resolve_augment("rotations")
    # a configuration naming `paper` without a task is refused when it is validated
    with pytest.raises(InputError, match="augment=paper"):
        GemcontConfig(augment="paper").validate()
    cfg = GemcontConfig.from_dict({"augment": "paper", "task": "spirometry"}).validate()
    assert describe(cfg.augment_spec()) == "resized_crop+gaussian_blur"


def test_blur_sigma_scales_with_the_image():
    """``sigma_frac`` blurs a 4x larger image with a 4x wider kernel: a thin line spreads over
    the same fraction of the image at 16 and at 64 px."""
    from learners.gemcont.augment import gaussian_blur

    def spread(size: int) -> float:
        x = torch.zeros(1, 1, size, size)
        x[..., size // 2, :] = 1.0
        y = gaussian_blur(x, torch.Generator().manual_seed(0), p=1.0, sigma_frac=(0.1, 0.1))
        col = y[0, 0, :, 0]
        pos = torch.arange(size, dtype=torch.float32)
        mean = (col * pos).sum() / col.sum()
        return float(((col * (pos - mean) ** 2).sum() / col.sum()).sqrt()) / size

    assert spread(64) == pytest.approx(spread(16), rel=0.1)
    assert spread(16) == pytest.approx(0.1, rel=0.15)


@pytest.mark.parametrize("method", ["gemcont", "prs", "simclr", "vae", "supervised"])
def test_paper_augmentation_reaches_every_trained_method(tiny_cfg, tiny_sim, method):
    """The encoder of every trained method sees augmented images in a training step (erasing
    for rotation; SimCLR its own pair). Before, the VAE trained on raw images."""
    from learners.gemcont.augment import PRESETS
    from learners.gemcont.simulate import glyph_cohort_arrays
    from learners.gemcont.train import Trainer

    cohort = glyph_cohort_arrays(tiny_sim, 0.2, 0.2, prs=(method == "prs"))
    tiny_cfg.method, tiny_cfg.augment, tiny_cfg.task = method, "paper", "rotation"
    tr = Trainer(tiny_cfg, cohort, out_dir="")
    assert tr.augment_spec == (PRESETS["simclr"] if method == "simclr" else PRESETS["rotation"])
    seen = []
    hook = tr.model.encoder.register_forward_pre_hook(lambda m, args: seen.append(args[0]))
    batch = tr._to_device(next(iter(tr.loader)))
    tr._step(batch)
    hook.remove()
    raw = batch["x"] if method != "simclr" else torch.cat([batch["x"], batch["x"]])
    assert seen[0].shape == raw.shape
    changed = (seen[0] != raw).flatten(1).any(1)
    assert changed.any(), f"{method}: the encoder saw the raw images"
    if method != "simclr":
        # erasing zeroes pixels and changes nothing else
        assert torch.all((seen[0] == raw) | (seen[0] == 0))


def test_preset_on_cached_tokens_is_refused():
    """A preset (here `paper`) on the frozen backbone's token cache is refused like a mapping."""
    from learners.gemcont.config import GemcontConfig

    base = dict(method="simclr", encoder="frozen-backbone", backbone_factory="tiny-vit",
                token_cache="/nonexistent/tok", task="rotation")
    with pytest.raises(InputError, match="token_cache"):
        GemcontConfig.from_dict({**base, "augment": "paper"}).validate()
    GemcontConfig.from_dict({**base, "augment": "none"}).validate()


# ----------------------------------------------------------------------------- budget
def test_max_steps_is_the_budget(tiny_cfg, tiny_cohort):
    """36 training individuals in batches of 16 give 2 steps per epoch: a 5-step budget runs 3
    epochs, the last partial, and the schedule ends at step 5 (epochs says 2, i.e. 4 steps)."""
    from learners.gemcont.train import Trainer

    tiny_cfg.max_steps, tiny_cfg.warmup_steps = 5, 2
    tr = Trainer(tiny_cfg, tiny_cohort, out_dir="")
    assert tr.steps_per_epoch == 2 and tr.max_epochs == 3
    tr.fit()
    assert tr.scheduler.step_num == 5 and tr.epoch == 3
    assert [h["step"] for h in tr.history] == [2, 4, 5]
    assert tr.scheduler.total == 5 and tr.scheduler.warmup == 2


@pytest.mark.parametrize("early", [True, False])
def test_early_stopping_restores_best_epoch_weights(tmp_path, tiny_cfg, tiny_cohort,
                                                    monkeypatch, flat_params, early):
    """Validation losses 3, 1, 2, 4: with patience 2 training stops after epoch 4 and the
    model holds epoch 2's weights, the ones in best.pt, not last.pt's. Without early stopping
    it runs the budget and keeps the last weights. The metrics file has one line per epoch."""
    from learners.gemcont.train import Trainer, load_checkpoint

    losses = iter([3.0, 1.0, 2.0, 4.0, 5.0, 6.0])
    monkeypatch.setattr(Trainer, "validation_loss", lambda self: next(losses))
    tiny_cfg.max_steps, tiny_cfg.patience, tiny_cfg.early_stopping = 12, 2, early
    tr = Trainer(tiny_cfg, tiny_cohort, out_dir=str(tmp_path))
    tr.fit()
    best, last = load_checkpoint(tmp_path / "best.pt"), load_checkpoint(tmp_path / "last.pt")
    assert best["epoch"] == 2 and tr.best_epoch == 2
    now = flat_params(tr.model)
    tr.model.load_state_dict(best["model"])
    at_best = flat_params(tr.model)
    tr.model.load_state_dict(last["model"])
    at_last = flat_params(tr.model)
    assert not np.array_equal(at_best, at_last)
    if early:
        assert tr.stopped_early and tr.epoch == 4 and tr.scheduler.step_num == 8
        np.testing.assert_array_equal(now, at_best)
    else:
        assert not tr.stopped_early and tr.epoch == 6 and tr.scheduler.step_num == 12
        np.testing.assert_array_equal(now, at_last)
    lines = [json.loads(t) for t in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in lines] == list(range(1, tr.epoch + 1))
    assert [r["step"] for r in lines] == [2 * e for e in range(1, tr.epoch + 1)]
    assert [r["val_loss"] for r in lines][:4] == [3.0, 1.0, 2.0, 4.0]
    assert [r["best"] for r in lines][:4] == [True, True, False, False]
    assert {"train_loss", "lr", "time_s"} <= set(lines[0])
    assert all(b["time_s"] >= a["time_s"] for a, b in zip(lines, lines[1:]))


def test_early_stopping_restores_best_after_resume(tmp_path, tiny_cfg, tiny_cohort, monkeypatch,
                                                   flat_params):
    """Best epoch before the interruption, stop after it: the weights come back from best.pt."""
    from learners.gemcont.train import Trainer, load_checkpoint

    losses = iter([1.0, 2.0, 3.0])
    monkeypatch.setattr(Trainer, "validation_loss", lambda self: next(losses))
    tiny_cfg.max_steps, tiny_cfg.patience, tiny_cfg.early_stopping = 12, 2, True
    Trainer(copy.deepcopy(tiny_cfg), tiny_cohort, out_dir=str(tmp_path)).fit(stop_after=1)
    tr = Trainer(copy.deepcopy(tiny_cfg), tiny_cohort, out_dir=str(tmp_path))
    tr.resume(tmp_path / "last.pt")
    tr.fit()
    assert tr.stopped_early and tr.epoch == 3 and tr.best_epoch == 1
    ref = Trainer(copy.deepcopy(tiny_cfg), tiny_cohort, out_dir="")
    ref.model.load_state_dict(load_checkpoint(tmp_path / "best.pt")["model"])
    np.testing.assert_array_equal(flat_params(tr.model), flat_params(ref.model))


def test_simclr_validation_loss_scores_fixed_augmented_views(tiny_cfg, tiny_cohort):
    """SimCLR's validation loss uses augmented views (identical views only measure spread),
    the same ones at every call, so epochs are comparable."""
    from learners.gemcont.train import Trainer

    tiny_cfg.method, tiny_cfg.augment = "simclr", "simclr"
    tr = Trainer(tiny_cfg, tiny_cohort, out_dir="")
    a, b = tr.validation_loss(), tr.validation_loss()
    assert a == b
    tr.augment_spec = {}
    assert tr.validation_loss() != a


# ----------------------------------------------------------------------------- controls
def test_permuted_control_shuffles_training_genotypes_only():
    """Training rows get another training individual's genotypes (same multiset: the
    standardisation is unchanged, so rows are exactly permuted), held-out rows keep theirs;
    the seed fixes the permutation and differs between splits."""
    from learners.gemcont.study import StudyConfig, genetic_input, permute_seed

    rng = np.random.default_rng(0)
    dos = rng.binomial(2, 0.3, size=(50, 7)).astype(float)
    betas = rng.normal(size=7)
    split = np.array(["train"] * 30 + ["test"] * 20, dtype=object)
    g0, b0 = genetic_input(dos, betas, split)
    g1, b1 = genetic_input(dos, betas, split, permute_seed=11)
    g2, _ = genetic_input(dos, betas, split, permute_seed=11)
    np.testing.assert_array_equal(g1, g2)
    np.testing.assert_array_equal(g1[30:], g0[30:])
    np.testing.assert_allclose(b1, b0)
    match = [np.flatnonzero((g0[:30] == row).all(1)) for row in g1[:30]]
    assert all(len(m) >= 1 for m in match)              # every row is some training row
    moved = sum(i not in m for i, m in enumerate(match))
    assert moved >= 20                                   # and most moved
    cfg = StudyConfig()
    assert permute_seed(cfg, 0) != permute_seed(cfg, 1) and permute_seed(cfg, 0) == \
        permute_seed(StudyConfig(), 0)


def _fake_study_data(n: int = 60, size: int = 12):
    """In-memory stand-ins for the study's cohort and images (no msprime)."""
    from pathlib import Path

    from learners.gemcont.study import _CohortData, _Phenotypes

    rng = np.random.default_rng(1)
    data = _CohortData(
        iids=np.array([f"i{k}" for k in range(n)]), z=rng.normal(size=n),
        disease=np.zeros(n), dosages=np.zeros((n, 1), np.float32), variants=pd.DataFrame(),
        causal=pd.DataFrame(), manifest={}, bgens=[], order=np.arange(n), directory=Path("."))
    from learners.gemcont.study import _Panel

    data.panels[1e-5] = _Panel(rng.binomial(2, 0.3, (n, 5)).astype(float), rng.normal(size=5),
                               {"panel": 5})
    ph = _Phenotypes(rng.random((n, 1, size, size)).astype(np.float32))
    return data, ph


def test_untrained_control_takes_no_optimiser_step():
    """``untrained`` embeds the encoder every method starts from: no optimiser step, no
    optimiser state, embeddings equal to GEMCONT's before its first step."""
    from learners.gemcont.data import ArraySource, Cohort
    from learners.gemcont.study import StudyConfig, _train_embed, split_rows, train_config
    from learners.gemcont.train import Trainer

    cfg = StudyConfig(n_train=30, n_heldout=20, val_fraction=0.2,
                      train={"max_steps": 3, "batch_size": 8, "embed_dim": 6, "cnn_widths": [4],
                             "augment": "paper", "device": "cpu", "early_stopping": True})
    data, ph = _fake_study_data()
    rows = split_rows(cfg, len(data.iids), 0)
    assert (len(rows.train), len(rows.val), len(rows.test)) == (24, 6, 20)
    emb, logs = _train_embed(cfg, "untrained", data, ph, rows, seed=3)
    assert logs["steps"] == 0 and logs["epochs_run"] == 0 and logs["augment"] == "none"
    tcfg = train_config(cfg, "gemcont", 3)
    all_rows, split = rows.rows_and_labels()
    g = np.random.default_rng(0).normal(size=(len(all_rows), 5))
    start = Trainer(tcfg, Cohort([str(i) for i in data.iids[all_rows]],
                                 ArraySource(ph.images[all_rows]), split, g=g), out_dir="")
    np.testing.assert_array_equal(emb, start.embed(split="test"))
    emb_t, logs_t = _train_embed(cfg, "gemcont", data, ph, rows, seed=3)
    assert logs_t["steps"] == 3 and not np.array_equal(emb_t, emb)


def test_frozen_mean_is_the_mean_of_patch_tokens(tmp_path):
    """RetFound-style baseline: the frozen backbone's patch tokens averaged, nothing trained."""
    from learners.gemcont.baselines import MeanTokenModel
    from learners.gemcont.encoders import TinyViT
    from learners.gemcont.study import StudyConfig, _train_embed, split_rows

    vit = TinyViT(image_size=12, patch=4, dim=8, depth=1, heads=2)
    torch.save(vit.state_dict(), tmp_path / "vit.pt")
    x = torch.rand(5, 1, 12, 12)
    with torch.no_grad():
        want = vit(x).mean(1)
    torch.testing.assert_close(MeanTokenModel(vit).embed(x), want)
    cfg = StudyConfig(n_train=30, n_heldout=20, methods=["frozen_mean"],
                      train={"encoder": "frozen-backbone", "backbone_factory": "tiny-vit",
                             "backbone_checkpoint": str(tmp_path / "vit.pt"),
                             "backbone_kwargs": {"image_size": 12, "patch": 4, "dim": 8,
                                                 "depth": 1, "heads": 2},
                             "batch_size": 8, "device": "cpu"}).validate()
    data, ph = _fake_study_data()
    rows = split_rows(cfg, len(data.iids), 0)
    emb, logs = _train_embed(cfg, "frozen_mean", data, ph, rows, seed=0)
    with torch.no_grad():
        ref = vit(torch.from_numpy(ph.images[rows.test])).mean(1).numpy()
    np.testing.assert_allclose(emb, ref, rtol=1e-5, atol=1e-6)
    assert logs["steps"] == 0


def test_study_config_enforces_the_budget_rule():
    from learners.gemcont.study import load_study_config

    cfg = load_study_config(None)
    assert cfg.train["max_steps"] > 0 and cfg.train["early_stopping"] and cfg.val_fraction > 0
    assert cfg.method_panel_p("gemcont_strict") == 5e-8 and cfg.method_panel_p("gemcont") == 1e-5
    over = load_study_config(None, ["method_overrides={gemcont_strict: {panel_p: 1.0e-6}}"])
    assert over.method_panel_p("gemcont_strict") == 1e-6
    with pytest.raises(InputError, match="budget is the same for every method"):
        load_study_config(None, ["method_overrides={simclr: {max_steps: 10}}"])
    with pytest.raises(InputError, match="max_steps"):
        load_study_config(None, ["train.max_steps=0"])
    with pytest.raises(InputError, match="validation split"):
        load_study_config(None, ["val_fraction=0"])
    with pytest.raises(InputError, match="frozen_mean needs"):
        load_study_config(None, ["methods=[frozen_mean]"])
    with pytest.raises(InputError, match="reads no panel"):
        load_study_config(None, ["method_overrides={vae: {panel_p: 1.0e-6}}"])

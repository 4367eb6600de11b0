"""The simulation-study runner (``gemcont study``) on tiny configurations."""
from __future__ import annotations

import json

import pandas as pd
import pytest
import yaml

pytest.importorskip("torch")
pytest.importorskip("msprime")

TINY = {
    "n_splits": 2, "methods": ["gemcont", "vae"], "threads": 1,
    "n_train": 40, "n_heldout": 60, "n_external": 200, "n_chromosomes": 1,
    "chrom_length_mb": 0.3, "n_causal": 2, "h_g": 0.9, "image_size": 12,
    "vary": {"alpha_max": [20.0]},
    "train": {"max_steps": 2, "early_stopping": True, "patience": 1, "batch_size": 16,
              "warmup_steps": 1, "embed_dim": 6, "cnn_widths": [4], "augment": "paper",
              "device": "cpu"},
    "scan_pca": 3, "ridge_splits": 2,
}


def _write(tmp_path, **extra):
    values = dict(TINY, out_dir=str(tmp_path / "out"), cache_dir=str(tmp_path / "cache"), **extra)
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(values))
    return path


def test_study_end_to_end_tiny(tmp_path):
    from learners.gemcont.study import load_study_config, run_study

    cfg = load_study_config(_write(tmp_path))
    summary = run_study(cfg, progress=False)
    out = tmp_path / "out"
    runs = pd.read_csv(out / "runs.tsv", sep="\t")
    assert len(runs) == 2 * 2 * 2          # settings x splits x methods
    assert set(runs["setting"]) == {"default", "alpha_max=20"}
    assert runs["r2_z"].notna().all() and runs["causal_fraction"].between(0, 1).all()
    assert list(summary["method"][:2]) == ["gemcont", "vae"]
    assert {"r2_z_mean", "r2_z_std", "causal_fraction_mean"} <= set(summary.columns)
    table = (out / "table.md").read_text()
    assert "| default | GEMCONT (CLIP loss) |" in table and "±" in table
    assert (out / "figure.png").stat().st_size > 1000
    assert yaml.safe_load((out / "config.yaml").read_text())["n_train"] == 40
    # a second invocation finds every run done and only rewrites the summary
    run_study(cfg, progress=False)
    assert len(pd.read_csv(out / "runs.tsv", sep="\t")) == 8


def test_study_settings_run_separately_share_one_folder(tmp_path):
    from gwaskit.errors import InputError
    from learners.gemcont.study import load_study_config, run_study

    cfg = load_study_config(_write(tmp_path, n_splits=1, methods=["vae"]))
    with pytest.raises(InputError, match="'h_g=0.4': not a setting"):
        run_study(cfg, progress=False, only_settings=["h_g=0.4"])
    run_study(cfg, progress=False, only_settings=["alpha_max=20"])
    runs = pd.read_csv(tmp_path / "out" / "runs.tsv", sep="\t")
    assert list(runs["setting"]) == ["alpha_max=20"]
    summary = run_study(cfg, progress=False, only_settings=["default"])
    runs = pd.read_csv(tmp_path / "out" / "runs.tsv", sep="\t")
    assert sorted(runs["setting"]) == ["alpha_max=20", "default"]
    # the last process's summary covers both settings, in config order
    assert list(summary["setting"]) == ["default", "alpha_max=20"]


def test_manifest_records_the_code_at_the_start(tmp_path, monkeypatch):
    """A commit made while a study runs is not recorded as the source of its results."""
    from learners.gemcont import study

    states = iter([{"git_sha": "a" * 40, "source_clean": True, "uncommitted_source_files": []},
                   {"git_sha": "b" * 40, "source_clean": False,
                    "uncommitted_source_files": ["learners/x.py"]}])
    monkeypatch.setattr(study, "_source_state", lambda: next(states))
    cfg = study.load_study_config(_write(tmp_path, n_splits=1, methods=["vae"], vary={}))
    study.run_study(cfg, progress=False)
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["git_sha"] == "a" * 40 and manifest["source_clean"] is True
    assert manifest["source_at_end"]["git_sha"] == "b" * 40


def test_study_refuses_other_config_in_same_folder(tmp_path):
    from gwaskit.errors import InputError
    from learners.gemcont.study import load_study_config, run_study

    out = tmp_path / "out"
    out.mkdir()
    (out / "config.yaml").write_text("n_train: 1\n")
    (out / "runs.tsv").write_text("setting\tsplit\tmethod\n")
    with pytest.raises(InputError, match="different study config"):
        run_study(load_study_config(_write(tmp_path)), progress=False)


def test_spirometry_study_reports_auc_and_biomarker(tmp_path):
    from learners.gemcont.study import load_study_config, run_study

    cfg = load_study_config(_write(tmp_path), ["task=spirometry", "methods=[fev1fvc, supervised]",
                                               "n_splits=1", "vary={}", "image_size=16",
                                               "asthma_prevalence=0.3"])
    summary = run_study(cfg, progress=False)
    assert {"asthma_auc_mean", "r2_z_mean"} <= set(summary.columns)
    bio = summary.set_index("method").loc["fev1fvc"]
    assert bio["r2_z_mean"] > 0.5          # the ratio is a monotone function of z
    assert "asthma ROC AUC" in (tmp_path / "out" / "table.md").read_text()


def test_config_overrides_and_errors(tmp_path):
    from gwaskit.errors import InputError
    from learners.gemcont.study import load_study_config, settings

    cfg = load_study_config(None, ["n_train=300", "train.epochs=3", "vary.h_g=[0.5, 0.7]"])
    assert cfg.n_train == 300 and cfg.train["epochs"] == 3
    names = [n for n, _ in settings(cfg)]
    assert names[0] == "default" and "h_g=0.5" in names and "h_g=0.7" not in names  # 0.7 = default
    with pytest.raises(InputError, match="unknown study option"):
        load_study_config(None, ["n_trian=3"])
    with pytest.raises(InputError, match="fev1fvc needs task"):
        load_study_config(None, ["methods=[fev1fvc]"])
    with pytest.raises(InputError, match="not a scalar study option"):
        load_study_config(None, ["vary={train: [1]}"])


def test_table_and_figure_from_summary(tmp_path):
    from learners.gemcont.study import markdown_table, plot_summary

    summary = pd.DataFrame({
        "setting": ["default", "default", "h_g=0.4", "h_g=0.4"],
        "method": ["gemcont", "simclr"] * 2, "n_splits": 5,
        "r2_z_mean": [0.5, 0.3, 0.4, 0.2], "r2_z_std": [0.01, 0.02, 0.03, 0.04],
        "causal_fraction_mean": [0.5, 0.1, 0.2, 0.0], "causal_fraction_std": [0.1] * 4,
    })
    md = markdown_table(summary)
    assert md.splitlines()[0].startswith("| setting | method | held-out ridge R² of z")
    assert "| h_g=0.4 | SimCLR | 0.200 ± 0.040 | 0.000 ± 0.100 | 5 |" in md
    assert plot_summary(summary, tmp_path / "f.png").stat().st_size > 1000


def test_cli_study_bad_config_exits_2(tmp_path):
    import subprocess
    import sys

    bad = tmp_path / "bad.yaml"
    bad.write_text("task: glaucoma\n")
    res = subprocess.run([sys.executable, "-m", "learners.gemcont.cli", "study", "--config",
                          str(bad)], capture_output=True, text=True)
    assert res.returncode == 2
    assert "task='glaucoma'" in res.stderr and "Traceback" not in res.stderr


def test_study_table_has_every_method_control_and_ablation(tmp_path):
    """Every row of the design appears with its budget: trained methods run train.max_steps
    (or stop early), the untrained control 0 steps; curves exist for trained runs only;
    every trained method got the paper's augmentation (SimCLR its own pair); the strict
    ablation used the p < 5e-8 panel; table.md explains the controls and both losses."""
    from learners.gemcont.study import DEFAULT_METHODS, METHOD_LABELS, load_study_config, run_study

    cfg = load_study_config(_write(tmp_path), ["n_splits=1", "vary={}", "n_external=1500",
                                               f"methods={DEFAULT_METHODS}"])
    summary = run_study(cfg, progress=False)
    out = tmp_path / "out"
    runs = pd.read_csv(out / "runs.tsv", sep="\t").set_index("method")
    assert list(summary["method"]) == DEFAULT_METHODS and len(runs) == len(DEFAULT_METHODS)
    trained = [m for m in DEFAULT_METHODS if m != "untrained"]
    for m in trained:
        r = runs.loc[m]
        assert r["steps"] == 2 or (r["stopped_early"] and r["steps"] < 2), m
        assert r["augment"] == ("resized_crop+colour_jitter+gaussian_blur" if m == "simclr"
                                else "erasing"), m
        lines = (out / "curves" / f"default__split0__{m}.jsonl").read_text().splitlines()
        assert len(lines) == r["epochs_run"] >= 1
    assert runs.loc["untrained", "steps"] == 0
    assert not (out / "curves" / "default__split0__untrained.jsonl").exists()
    assert runs.loc["gemcont", "loss"] == "clip" and runs.loc["gemcont_dcl", "loss"] == "dcl"
    assert runs.loc["gemcont_strict", "panel_p"] == 5e-8
    assert runs.loc["gemcont_strict", "panel_size"] <= runs.loc["gemcont", "panel_size"]
    assert runs.loc["gemcont", "n_val"] == 4       # 10 % of 40
    table = (out / "table.md").read_text()
    for m in DEFAULT_METHODS:
        assert f"| default | {METHOD_LABELS[m]} |" in table, m
    assert "0 (not trained)" in table and "equation (2)" in table and "Budget rule" in table
    manifest = json.loads((out / "manifest.json").read_text())
    assert "source_clean" in manifest and "note" not in manifest


def test_frozen_backbone_setting_runs_mean_pooling_baseline(tmp_path):
    """In the frozen-backbone setting the RetFound-style row (mean of patch tokens) sits next
    to GEMCONT (trained attention pooling) and the untrained pooling head."""
    import torch

    from learners.gemcont.encoders import TinyViT
    from learners.gemcont.study import load_study_config, run_study

    kw = {"image_size": 12, "patch": 4, "dim": 8, "depth": 1, "heads": 2}
    torch.save(TinyViT(**kw).state_dict(), tmp_path / "vit.pt")
    cfg = load_study_config(_write(tmp_path), [
        "n_splits=1", "vary={}", "methods=[gemcont, untrained, frozen_mean]",
        "train.encoder=frozen-backbone", "train.backbone_factory=tiny-vit",
        f"train.backbone_checkpoint={tmp_path / 'vit.pt'}", f"train.backbone_kwargs={kw}"])
    summary = run_study(cfg, progress=False)
    assert list(summary["method"]) == ["gemcont", "untrained", "frozen_mean"]
    assert summary["r2_z_mean"].notna().all()
    runs = pd.read_csv(tmp_path / "out" / "runs.tsv", sep="\t").set_index("method")
    assert runs.loc["frozen_mean", "steps"] == 0 and runs.loc["gemcont", "steps"] > 0


@pytest.mark.parametrize("name", ["rotation_cpu", "spirometry_cpu", "rotation_paper"])
def test_example_configs_follow_the_budget_rule(name):
    """Every committed study config loads, and so does each of its methods' training config:
    one step budget, early stopping on a validation split, the paper's augmentation, and the
    controls and ablations in the CPU studies."""
    from pathlib import Path

    from learners.gemcont.study import STUDY_METHODS, load_study_config, train_config

    path = Path(__file__).resolve().parents[2] / "examples" / "configs" / f"{name}.yaml"
    cfg = load_study_config(path)
    assert cfg.train["max_steps"] > 0 and cfg.train["early_stopping"] and cfg.val_fraction > 0
    assert cfg.train["augment"] == "paper"
    for m in cfg.methods:
        if STUDY_METHODS[m].trained:
            assert train_config(cfg, m, 0).max_steps == cfg.train["max_steps"]
    if name.endswith("_cpu"):
        assert {"gemcont", "gemcont_dcl", "untrained", "gemcont_permuted", "gemcont_mlp",
                "gemcont_strict"} <= set(cfg.methods)

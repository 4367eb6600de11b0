"""The simulation-study runner (``gemcont study``) on tiny configurations."""
from __future__ import annotations

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
    "train": {"epochs": 1, "batch_size": 20, "warmup_epochs": 1, "embed_dim": 6,
              "cnn_widths": [4], "device": "cpu"},
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
    assert "| default | GEMCONT |" in table and "±" in table
    assert (out / "figure.png").stat().st_size > 1000
    assert yaml.safe_load((out / "config.yaml").read_text())["n_train"] == 40
    # a second invocation finds every run done and only rewrites the summary
    run_study(cfg, progress=False)
    assert len(pd.read_csv(out / "runs.tsv", sep="\t")) == 8


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

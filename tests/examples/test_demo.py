"""``examples/demo.py`` end to end at the ``quick`` size (every CLI step, tiny data)."""
from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("msprime")
pytest.importorskip("matplotlib")

DEMO = Path(__file__).resolve().parents[2] / "examples" / "demo.py"


def _demo():
    spec = importlib.util.spec_from_file_location("gwaskit_demo", DEMO)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod          # dataclasses look the module up
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.slow
def test_demo_quick_runs_twice(tmp_path, capsys):
    demo = _demo()
    out = tmp_path / "demo"
    assert demo.main(["--out", str(out), "--size", "quick", "--threads", "1"]) == 0
    for name in ("report.md", "manhattan.png", "qq.png", "scan.parquet", "clumps.tsv",
                 "overlap.tsv", "panel.tsv", "embeddings.parquet", "numbers.json"):
        assert (out / name).exists(), name
    numbers = json.loads((out / "numbers.json").read_text())
    assert numbers["panel_size"] >= 1 and numbers["n_heldout"] == 150
    report = (out / "report.md").read_text()
    assert "held-out ridge R² of z" in report and "$ " not in report.split("## Commands")[0]
    assert "gwaskit scan --bgen" in report and "![Manhattan plot](manhattan.png)" in report
    printed = capsys.readouterr().out
    assert "$ gwaskit panel --sumstats" in printed
    # re-running over existing outputs works (every step overwrites)
    assert demo.main(["--out", str(out), "--size", "quick", "--threads", "1"]) == 0


def test_report_writer(tmp_path):
    demo = _demo()
    x = {"n_individuals": 10, "n_external": 5, "n_variants": 100, "h2_target": 0.8,
         "h2_realised": 0.79, "n_causal": 4, "panel_size": 3, "epochs": 2,
         "train_loss_first": 2.0, "train_loss_last": 1.5, "n_train": 5, "n_heldout": 5,
         "r2_z_mean": 0.4, "r2_z_std": 0.1, "scan_d": 3, "lambda_gc": 1.01,
         "genome_wide_variants": 0, "genome_wide_loci": 0, "causal_recovered": 0,
         "recovered_fraction": 0.0, "recovered_ci95": [0.0, 0.5],
         "true_z_genome_wide_variants": 7, "true_z_causal_recovered": 2,
         "true_z_recovered_fraction": 0.5, "timings_s": {"train": 1.0}, "wall_seconds": 3.0}
    path = demo.write_report(tmp_path, x, ["gwaskit scan --bgen x"], [2.0, 1.5],
                             demo.SIZES["quick"])
    text = path.read_text()
    assert "too weak" in text                 # honest verdict when nothing is recovered
    assert "| panel size (external GWAS p < 1e-5, clumped) | 3 |" in text
    x.update(genome_wide_loci=2, causal_recovered=2, recovered_fraction=0.5)
    assert "recovers 2 of 4 causal loci" in demo.write_report(
        tmp_path, x, [], [2.0], demo.SIZES["quick"]).read_text()

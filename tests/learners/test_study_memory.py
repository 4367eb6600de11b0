"""The study's compact arrays, per-run checkpoints with resume, and the memory dry run
(issue 14, item 7), on tiny configurations."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

pytest.importorskip("torch")
pytest.importorskip("msprime")

ROOT = Path(__file__).resolve().parents[2]
TINY = {
    "n_splits": 1, "methods": ["gemcont"], "threads": 1, "vary": {},
    "n_train": 40, "n_heldout": 60, "n_external": 300, "n_chromosomes": 1,
    "chrom_length_mb": 0.3, "n_causal": 2, "h_g": 0.9, "image_size": 12,
    # 36 training rows, batch 16: 2 steps per epoch, 3 epochs
    "train": {"max_steps": 6, "early_stopping": True, "patience": 10, "batch_size": 16,
              "warmup_steps": 1, "embed_dim": 6, "cnn_widths": [4], "augment": "paper",
              "device": "cpu", "log_every": 1},
    "scan_pca": 3, "ridge_splits": 2,
}
#: columns that measure time, not results
TIMING = ["train_seconds"]


def _cfg(tmp_path, out="out", overrides=()):
    from learners.gemcont.study import load_study_config

    values = dict(TINY, out_dir=str(tmp_path / out), cache_dir=str(tmp_path / "cache"))
    path = tmp_path / f"{out}.yaml"
    path.write_text(yaml.safe_dump(values))
    return load_study_config(path, list(overrides))


def _runs(tmp_path, out):
    return pd.read_csv(tmp_path / out / "runs.tsv", sep="\t").drop(columns=TIMING)


def test_compact_dosages_dtypes_and_exactness():
    from learners.gemcont.study import compact_dosages

    hard = np.array([[0, 1, 2], [2, 2, 0]], dtype=np.float32)
    c = compact_dosages(hard)
    assert c.dtype == np.int8 and c.flags.c_contiguous
    np.testing.assert_array_equal(c.astype(np.float32), hard)
    missing = hard.copy()
    missing[0, 1] = np.nan
    m = compact_dosages(missing)
    assert m.dtype == np.float16                 # NaN kept, no sentinel
    np.testing.assert_array_equal(m.astype(np.float32), missing)
    soft = np.array([[0.1234567, 1.0], [2.0, 0.5]])
    s = compact_dosages(soft)
    assert s.dtype == np.float64 and np.array_equal(s, soft)   # precision kept


def test_study_holds_compact_arrays_and_estimate_matches(tmp_path):
    """The cohort's dosages are int8 hard calls equal to the float32 read, images uint8
    (N, 1, H, W); the dry-run estimate of both is within a factor 2 of the real sizes."""
    from gwaskit.io.genotypes import open_genotypes
    from learners.gemcont.memory import study_memory
    from learners.gemcont.study import _cohort, _phenotypes, total_individuals

    cfg = _cfg(tmp_path)
    n = total_individuals(cfg)
    data = _cohort(cfg, cfg.h_g, n, tmp_path / "cache")
    assert data.dosages.dtype == np.int8 and data.dosages.flags.c_contiguous
    with open_genotypes(data.bgens[0]) as reader:
        _, ref = reader.read_dosages(samples=data.order, dtype=np.float32)
    np.testing.assert_array_equal(data.dosages.astype(np.float32), ref)
    for panel in data.panels.values():
        assert panel.dosages.dtype == np.int8
    ph = _phenotypes(cfg, data.z)
    assert ph.images.dtype == np.uint8 and ph.images.shape == (n, 1, 12, 12)

    est = study_memory(cfg)[0]
    items = {i.label: i.nbytes for i in est.host}
    assert 0.5 < items["cohort dosages"] / data.dosages.nbytes < 2.0
    assert 0.5 < est.n_variants / data.dosages.shape[1] < 2.0
    assert items["images"] == ph.images.nbytes
    assert est.host_bytes >= data.dosages.nbytes + ph.images.nbytes


def test_compact_arrays_leave_runs_unchanged(tmp_path, monkeypatch):
    """runs.tsv of a tiny study with every kind of consumer of the arrays (GEMCONT, PRS,
    permuted control, VAE, untrained encoder) is identical with the compact arrays and with
    the former float32 dosages, float64 panels and float32 / 255 images."""
    import learners.gemcont.study as study

    over = ["methods=[gemcont, prs, gemcont_permuted, vae, untrained]"]
    study.run_study(_cfg(tmp_path, "compact", over), progress=False)

    def old_read(reader, order):
        variants, dos = reader.read_dosages(samples=order, dtype=np.float32)
        return variants, np.ascontiguousarray(dos)

    with monkeypatch.context() as mp:
        mp.setattr(study, "_read_compact_dosages", old_read)
        mp.setattr(study, "compact_dosages", lambda x: np.asarray(x))
        mp.setattr(study, "_compact_images",
                   lambda im: np.asarray(im)[:, None].astype(np.float32) / 255.0)
        seen = {}
        real_metrics = study._metrics

        def spy(cfg, emb, data, ph, test, seed):
            seen["dtypes"] = (data.dosages.dtype, ph.images.dtype)
            return real_metrics(cfg, emb, data, ph, test, seed)

        mp.setattr(study, "_metrics", spy)
        study.run_study(_cfg(tmp_path, "float32", over), progress=False)
        assert seen["dtypes"] == (np.float32, np.float32)     # the old path really ran
    new, old = _runs(tmp_path, "compact"), _runs(tmp_path, "float32")
    assert len(new) == 5 and new["r2_z"].notna().all()
    pd.testing.assert_frame_equal(new, old)


class _Stop(Exception):
    pass


def _run_interrupted_in_second_epoch(cfg, monkeypatch) -> None:
    """Run the study until its first run enters epoch 2, then stop it (as a crash would)."""
    import learners.gemcont.study as study
    from learners.gemcont.train import Trainer

    real_epoch = Trainer.train_epoch

    def stop_in_second(self):
        if self.epoch == 1:
            raise _Stop
        return real_epoch(self)

    with monkeypatch.context() as mp:
        mp.setattr(Trainer, "train_epoch", stop_in_second)
        with pytest.raises(_Stop):
            study.run_study(cfg, progress=False)


def _epochs_trained(cfg, monkeypatch) -> list[int]:
    """Run the study; the epoch numbers its trainers trained, in order."""
    import learners.gemcont.study as study
    from learners.gemcont.train import Trainer

    real_epoch, epochs = Trainer.train_epoch, []

    def counting(self):
        epochs.append(self.epoch + 1)
        return real_epoch(self)

    with monkeypatch.context() as mp:
        mp.setattr(Trainer, "train_epoch", counting)
        study.run_study(cfg, progress=False)
    return epochs


def test_interrupted_study_resumes_run_from_last_checkpoint(tmp_path, monkeypatch):
    """A study stopped during a run's second epoch resumes that run from
    checkpoints/<setting>/split<k>/<method>/last.pt (two more epochs, not three) and reports
    what an uninterrupted study reports."""
    import learners.gemcont.study as study
    from learners.gemcont.train import load_checkpoint

    study.run_study(_cfg(tmp_path, "straight"), progress=False)
    ck = tmp_path / "straight" / "checkpoints" / "default" / "split0" / "gemcont"
    assert {"last.pt", "best.pt", "metrics.jsonl"} <= {p.name for p in ck.iterdir()}

    cfg = _cfg(tmp_path, "resumed")
    _run_interrupted_in_second_epoch(cfg, monkeypatch)
    ck = tmp_path / "resumed" / "checkpoints" / "default" / "split0" / "gemcont"
    assert load_checkpoint(ck / "last.pt")["epoch"] == 1
    assert not (tmp_path / "resumed" / "runs.tsv").exists()

    assert _epochs_trained(cfg, monkeypatch) == [2, 3]      # resumed, not started over
    curve = [json.loads(x) for x in (tmp_path / "resumed" / "curves"
                                     / "default__split0__gemcont.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in curve] == [1, 2, 3]
    pd.testing.assert_frame_equal(_runs(tmp_path, "resumed"), _runs(tmp_path, "straight"))
    # a third invocation skips the finished run
    assert _epochs_trained(cfg, monkeypatch) == []
    assert len(_runs(tmp_path, "resumed")) == 1


def test_checkpoint_of_another_training_config_is_not_resumed(tmp_path, monkeypatch):
    _run_interrupted_in_second_epoch(_cfg(tmp_path), monkeypatch)
    assert _epochs_trained(_cfg(tmp_path, overrides=["train.lr=0.01"]), monkeypatch) == [1, 2, 3]


def _dry_run(args, cwd):
    res = subprocess.run([sys.executable, "-m", "learners.gemcont.cli", "--quiet", "study",
                          *args, "--dry-run"], capture_output=True, text=True, cwd=cwd,
                         env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert res.returncode == 0, res.stderr
    host = re.search(r"^expected host memory: ([0-9.]+) GB", res.stdout, re.M)
    gpu = re.search(r"^expected GPU memory: ([0-9.]+) GB", res.stdout, re.M)
    assert host and gpu, res.stdout
    return float(host.group(1)), float(gpu.group(1)), res.stdout


def test_dry_run_of_paper_config_fits_64_gb_host(tmp_path):
    """At the paper's sizes the study holds < 64 GB on the host; the GPU figure counts the
    activations of batch 1024 at 256 px. Nothing is simulated or written."""
    host, gpu, text = _dry_run(["--config", str(ROOT / "examples/configs/rotation_paper.yaml")],
                               tmp_path)
    assert 5 < host < 64
    assert 1 < gpu < 80
    assert "cohort dosages" in text and "int8" in text and "uint8" in text
    assert "activations" in text and "batch 1024 x 256^2" in text
    # the one-off simulation of 80,000 individuals runs in the same process: the headline is
    # the larger of it and the training peak
    sim = re.search(r"^simulation of setting \S+ cohort .*: ([0-9.]+) GB", text, re.M)
    assert sim and 15 < float(sim.group(1)) <= host, text
    assert list(tmp_path.iterdir()) == []


def test_dry_run_of_tiny_config_has_cpu_gpu_figure_zero(tmp_path):
    cfg_path = tmp_path / "tiny.yaml"
    cfg_path.write_text(yaml.safe_dump(dict(TINY, out_dir=str(tmp_path / "o"))))
    host, gpu, text = _dry_run(["--config", str(cfg_path)], tmp_path)
    assert gpu == 0.0 and 0 < host < 1
    assert not (tmp_path / "o").exists()

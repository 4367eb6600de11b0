"""Simulation study: GEMCONT against SimCLR, VAE, supervised and PRS baselines.

Design (the paper's simulation, learner reference sections 1 and 9, at a configurable scale):

1. **Cohort** (:func:`gwaskit.simulate.simulate_cohort`): msprime genotypes with LD on a few
   chromosomes, latent trait ``z = √h_g·std(Gβ) + √(1−h_g)·std(ε)`` on ``n_causal`` causal
   variants, and an external GWAS of z in a disjoint cohort. One simulation per distinct
   ``h_g`` (same seed: same genotypes and causal variants, only the trait differs), cached.
2. **Panel** (:func:`gwaskit.loci.panel.build_panel`): external GWAS, p < ``panel_p``, clumped
   at r² ``panel_r2`` within ``panel_kb``; dosages by :func:`gwaskit.loci.panel.panel_dosages`.
3. **Phenotype images**: ``task: rotation``, an MNIST digit per individual rotated by
   ``alpha_max·tanh(c·z)`` (:func:`.datasets.rotated_digits`); ``task: spirometry``,
   flow-volume curve images whose FEV1/FVC ratio follows z (:func:`.datasets.simulate_spirometry`).
4. **Splits**: for each of ``n_splits`` random splits, ``n_heldout`` individuals are held out
   and ``n_train`` others train every method (same individuals for every method).
5. **Metrics on the held-out individuals**: ridge R² of z from the embeddings
   (:func:`.evaluate.ridge_r2`, the mean over 5 inner 50/50 splits), the fraction of causal
   variants significant at ``p_threshold`` in a gwaskit multi-trait scan of the embeddings
   (``MultiTraitScan(pca=scan_pca)``, rank-INT; :func:`gwaskit.loci.overlap.loci_overlap`,
   ``recovery_mode`` ``exact`` = the causal variant itself, ``window`` = any variant within
   ±``window_kb``), and for spirometry the asthma-like ROC AUC (:func:`.evaluate.logistic_auc`).
   The pseudo-method ``fev1fvc`` scores the classical biomarker (the realised FEV1/FVC ratio,
   one column) with the same metrics.
6. **Settings**: the defaults, then one factor at a time from ``vary`` (``n_train``, ``h_g``,
   ``alpha_max`` or any other scalar study option).

Outputs in ``out_dir``: ``config.yaml`` (resolved study configuration), ``runs.tsv`` (one row
per setting × split × method, appended as runs finish; a re-run skips finished runs),
``summary.tsv`` (mean ± std over splits), ``table.md``, ``figure.png`` (one row per metric,
bars per method per setting, error bars = std over splits) and ``manifest.json`` (versions,
wall time). Results are valid for the simulated model only; the split-to-split std does not
include simulation-to-simulation variation (one cohort per ``h_g``).
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from gwaskit._log import logger
from gwaskit.errors import InputError

TASKS = ("rotation", "spirometry")
STUDY_METHODS = ("gemcont", "simclr", "vae", "supervised", "prs", "fev1fvc")
METHOD_LABELS = {"gemcont": "GEMCONT", "simclr": "SimCLR", "vae": "VAE",
                 "supervised": "supervised (upper bound)", "prs": "PRS", "fev1fvc": "FEV1/FVC"}
METRIC_LABELS = {"r2_z": "held-out ridge R² of z",
                 "causal_fraction": "fraction of causal variants at p < 5e-8",
                 "asthma_auc": "asthma ROC AUC"}


@dataclass
class StudyConfig:
    """Every option of a study (YAML keys). CPU-sized defaults (see ``examples/configs``)."""

    task: str = "rotation"
    out_dir: str = "runs/study"
    cache_dir: str = ""                 # simulated cohorts (default: out_dir/cohorts)
    seed: int = 0
    n_splits: int = 5
    methods: list = field(default_factory=lambda: ["gemcont", "simclr", "vae", "supervised", "prs"])
    threads: int = 2
    # --- cohort
    n_train: int = 1000
    n_heldout: int = 1500
    n_external: int = 4000
    n_chromosomes: int = 3
    chrom_length_mb: float = 3.0
    h_g: float = 0.7
    n_causal: int = 12
    prevalence: float = 0.1
    # --- phenotype images
    alpha_max: float = 45.0
    c: float = 0.5
    image_size: int = 28
    mnist_source: str = ""
    asthma_prevalence: float = 0.15
    asthma_noise: float = 0.5
    # --- panel
    panel_p: float = 1e-5
    panel_r2: float = 0.05
    panel_kb: float = 5000.0
    # --- settings varied one at a time around the defaults
    vary: dict = field(default_factory=lambda: {"n_train": [500], "h_g": [0.4],
                                                "alpha_max": [20.0]})
    # --- training: GemcontConfig options for every method, then per-method overrides
    train: dict = field(default_factory=lambda: {
        "epochs": 8, "batch_size": 128, "lr": 2e-3, "warmup_epochs": 1, "embed_dim": 32,
        "cnn_widths": [8, 16, 32], "device": "cpu"})
    method_overrides: dict = field(default_factory=lambda: {
        "simclr": {"augment": {"translate": {"max_frac": 0.1}, "noise": {"std": 0.05}}}})
    # --- evaluation
    p_threshold: float = 5e-8
    scan_pca: int = 10
    recovery_mode: str = "exact"
    window_kb: float = 500.0
    ridge_splits: int = 5

    def validate(self) -> "StudyConfig":
        if self.task not in TASKS:
            raise InputError(f"study option task={self.task!r}: choose one of {', '.join(TASKS)}")
        bad = [m for m in self.methods if m not in STUDY_METHODS]
        if bad:
            raise InputError(f"study option methods: unknown method {bad[0]!r}; "
                             f"choose from {', '.join(STUDY_METHODS)}")
        if "fev1fvc" in self.methods and self.task != "spirometry":
            raise InputError("study option methods: fev1fvc needs task: spirometry")
        if not self.methods:
            raise InputError("study option methods: give at least one method")
        for key in ("n_splits", "n_train", "n_heldout", "n_causal", "n_chromosomes"):
            if getattr(self, key) < 1:
                raise InputError(f"study option {key}={getattr(self, key)}: must be >= 1")
        if self.recovery_mode not in ("exact", "window"):
            raise InputError(f"study option recovery_mode={self.recovery_mode!r}: exact or window")
        known = {f.name for f in dataclasses.fields(self)}
        for key, values in self.vary.items():
            if key not in known or key in ("vary", "train", "method_overrides", "methods"):
                raise InputError(f"study option vary: {key!r} is not a scalar study option")
            if not isinstance(values, (list, tuple)):
                raise InputError(f"study option vary.{key}: give a list of values")
        return self

    def to_dict(self) -> dict[str, Any]:
        return json.loads(json.dumps(dataclasses.asdict(self)))


def load_study_config(path: str | os.PathLike | None = None,
                      overrides: list[str] | None = None) -> StudyConfig:
    """Defaults, then a YAML file, then ``key=value`` overrides (``train.epochs=2`` style)."""
    from .config import _coerce, apply_overrides

    values: dict[str, Any] = {}
    source = "study config"
    if path:
        source = str(path)
        if not os.path.exists(path):
            raise InputError(f"{path}: study config not found")
        try:
            loaded = yaml.safe_load(Path(path).read_text())
        except yaml.YAMLError as exc:
            raise InputError(f"{path}: cannot parse ({str(exc).splitlines()[0]})") from None
        if loaded is not None and not isinstance(loaded, dict):
            raise InputError(f"{path}: a study config is a mapping of option: value")
        values.update(loaded or {})
    if overrides:
        base = StudyConfig().to_dict()
        base.update(values)
        values = apply_overrides(base, overrides)
    cfg = StudyConfig()
    known = {f.name for f in dataclasses.fields(StudyConfig)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise InputError(f"{source}: unknown study option(s) {', '.join(unknown)}")
    for key, value in values.items():
        setattr(cfg, key, _coerce(key, value, getattr(cfg, key), source))
    return cfg.validate()


def settings(cfg: StudyConfig) -> list[tuple[str, dict[str, Any]]]:
    """``[("default", {}), ("n_train=500", {"n_train": 500}), ...]``: one factor at a time."""
    out: list[tuple[str, dict[str, Any]]] = [("default", {})]
    for key, values in cfg.vary.items():
        for v in values:
            if v == getattr(cfg, key):
                continue
            out.append((f"{key}={v:g}" if isinstance(v, (int, float)) else f"{key}={v}", {key: v}))
    return out


# ============================================================================ data
@dataclass
class _CohortData:
    iids: np.ndarray
    z: np.ndarray
    disease: np.ndarray
    dosages: np.ndarray          # (N, M) float32, every variant
    variants: pd.DataFrame
    panel_dosages: np.ndarray    # (N, S)
    panel_betas: np.ndarray
    causal: pd.DataFrame
    manifest: dict


def _cohort(cfg: StudyConfig, h_g: float, n_total: int, cache: Path) -> _CohortData:
    """Simulate (or reuse) the cohort for ``h_g`` and build its panel."""
    from gwaskit.io.genotypes import open_genotypes
    from gwaskit.io.sumstats import read_sumstats
    from gwaskit.loci.panel import build_panel, panel_dosages
    from gwaskit.simulate import simulate_cohort

    params = dict(n_individuals=n_total, n_chromosomes=cfg.n_chromosomes,
                  chrom_length=cfg.chrom_length_mb * 1e6, h_g=h_g, n_causal=cfg.n_causal,
                  prevalence=cfg.prevalence, n_external=cfg.n_external, seed=cfg.seed + 1)
    key = json.dumps(params, sort_keys=True)
    d = cache / f"cohort_h{h_g:g}_n{n_total}_s{cfg.seed}"
    stamp = d / "study_params.json"
    if not (stamp.exists() and stamp.read_text() == key):
        t0 = time.perf_counter()
        simulate_cohort(d, overwrite=True, **params)
        stamp.write_text(key)
        logger.info("study: simulated cohort h_g=%g (%d + %d external) in %.0f s", h_g, n_total,
                    cfg.n_external, time.perf_counter() - t0)
    manifest = json.loads((d / "manifest.json").read_text())
    ph = pd.read_parquet(d / "phenotypes.parquet")
    causal = pd.read_csv(d / "causal.tsv", sep="\t", dtype={"variant_id": str, "chromosome": str})
    bgens = sorted(str(p) for p in d.glob("chr*.bgen"))
    with open_genotypes(bgens if len(bgens) > 1 else bgens[0]) as reader:
        samples = [str(s) for s in reader.samples]
        order = pd.Index(samples).get_indexer(ph["IID"].astype(str))
        if (order < 0).any():
            raise InputError(f"{d}: phenotypes and genotypes have different individuals")
        variants, dos = reader.read_dosages(samples=order, dtype=np.float32)
        panel, counts = build_panel(read_sumstats(str(d / "external_gwas.tsv")), reader,
                                    p_threshold=cfg.panel_p, r2=cfg.panel_r2, kb=cfg.panel_kb)
        aligned, pdos = panel_dosages(reader, panel, samples=order)
    manifest["panel_counts"] = counts
    return _CohortData(
        iids=ph["IID"].astype(str).to_numpy(), z=ph["z"].to_numpy(np.float64),
        disease=ph["disease"].to_numpy(), dosages=np.ascontiguousarray(dos),
        variants=variants.reset_index(drop=True), panel_dosages=np.asarray(pdos, np.float64),
        panel_betas=aligned["beta"].to_numpy(np.float64), causal=causal, manifest=manifest)


@dataclass
class _Phenotypes:
    images: np.ndarray            # (N, 1, H, W) float32 in [0, 1]
    asthma: np.ndarray | None = None
    ratio: np.ndarray | None = None


def _phenotypes(cfg: StudyConfig, z: np.ndarray) -> _Phenotypes:
    from .datasets import rotated_digits, simulate_spirometry

    if cfg.task == "rotation":
        rd = rotated_digits(z, alpha_max=cfg.alpha_max, c=cfg.c, size=cfg.image_size,
                            seed=cfg.seed, source=cfg.mnist_source or None)
        return _Phenotypes(rd.images[:, None].astype(np.float32) / 255.0)
    sp = simulate_spirometry(z, c=cfg.c, image_size=cfg.image_size, seed=cfg.seed,
                             asthma_prevalence=cfg.asthma_prevalence,
                             asthma_noise=cfg.asthma_noise)
    return _Phenotypes(sp.images[:, None].astype(np.float32) / 255.0,
                       asthma=sp.asthma.astype(np.float64), ratio=sp.ratio)


# ============================================================================ one run
def _train_embed(cfg: StudyConfig, method: str, data: _CohortData, ph: _Phenotypes,
                 train: np.ndarray, test: np.ndarray, seed: int) -> tuple[np.ndarray, dict]:
    """Train ``method`` on ``train`` rows; embeddings of ``test`` rows and training logs."""
    from .config import GemcontConfig, apply_overrides
    from .data import ArraySource, Cohort, prepare_genetics, prs_input, standardised_betas
    from .train import Trainer

    if method == "fev1fvc":
        return ph.ratio[test].reshape(-1, 1).astype(np.float64), {"train_loss": float("nan"),
                                                                   "train_seconds": 0.0}
    values = dict(cfg.train)
    values = apply_overrides(values, [])
    values.update(cfg.method_overrides.get(method, {}))
    values.update(method=method, seed=seed, out_dir="", progress=False, val_fraction=0.0)
    if method == "supervised":
        values.setdefault("supervised_target", "z")
    tcfg = GemcontConfig.from_dict(values, "study train options").validate()
    rows = np.concatenate([train, test])
    split = np.array(["train"] * len(train) + ["test"] * len(test), dtype=object)
    g = betas = None
    if method in ("gemcont", "prs"):
        dos, b = data.panel_dosages[rows], data.panel_betas
        if method == "prs":
            # missing dosages take the training individuals' mean, as prepare_genetics does
            dos, b = prs_input(dos, b, split == "train"), np.ones(1)
        g, state = prepare_genetics(dos, split == "train")
        betas = standardised_betas(b, state)
    y = None
    if method == "supervised":
        target = tcfg.supervised_target
        y = (data.z if target == "z" else ph.asthma)[rows].reshape(-1, 1)
    cohort = Cohort([str(i) for i in data.iids[rows]], ArraySource(ph.images[rows]), split,
                    g=g, betas=betas, y=y)
    t0 = time.perf_counter()
    trainer = Trainer(tcfg, cohort, out_dir="")
    trainer.fit()
    seconds = time.perf_counter() - t0
    emb = trainer.embed(split="test")
    return emb, {"train_loss": float(trainer.history[-1]["train_loss"]),
                 "train_seconds": round(seconds, 1)}


def _metrics(cfg: StudyConfig, emb: np.ndarray, data: _CohortData, ph: _Phenotypes,
             test: np.ndarray, seed: int) -> dict[str, float]:
    from gwaskit.loci.overlap import loci_overlap, reference_loci
    from gwaskit.stats.scan import MultiTraitScan

    from .evaluate import logistic_auc, ridge_r2

    out: dict[str, float] = {}
    out["r2_z"] = ridge_r2(emb, data.z[test], cfg.ridge_splits, seed)["mean"]
    if ph.asthma is not None:
        out["asthma_auc"] = logistic_auc(emb, ph.asthma[test], cfg.ridge_splits, seed)["mean"]
    y = np.asarray(emb, dtype=np.float64)
    pca = min(cfg.scan_pca, y.shape[1]) if y.shape[1] > 1 else None
    res = MultiTraitScan(pca=pca).fit(y).test(data.dosages[test], as_frame=True)
    for col in ("variant_id", "chromosome", "base_pair_location"):
        res[col] = data.variants[col].to_numpy()
    _, summary = loci_overlap(reference_loci(data.causal), res, p=cfg.p_threshold,
                              mode=cfg.recovery_mode, window_kb=cfg.window_kb)
    out["causal_fraction"] = float(summary["fraction"])
    out["n_hits"] = int((res["p_value"] < cfg.p_threshold).sum())
    tested = res["errcode"] == "."
    chisq = res.loc[tested, "chisq"].to_numpy()
    from gwaskit.stats.scan import lambda_gc

    out["lambda_gc"] = float(lambda_gc(chisq, int(res["df"].iloc[0]))) if len(chisq) else math.nan
    return out


# ============================================================================ driver
RUN_COLUMNS = ["setting", "split", "method", "r2_z", "causal_fraction", "asthma_auc", "n_hits",
               "lambda_gc", "train_loss", "train_seconds", "n_train", "n_heldout", "h_g",
               "alpha_max", "realised_h_g", "panel_size"]


def run_study(cfg: StudyConfig, out_dir: str | os.PathLike | None = None,
              progress: bool = True) -> pd.DataFrame:
    """Run every setting × split × method (skipping rows already in ``runs.tsv``); write the
    summary, table and figure. Returns the summary frame."""
    import torch

    cfg.validate()
    out = Path(out_dir or cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    cache = Path(cfg.cache_dir) if cfg.cache_dir else out / "cohorts"
    cache.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(max(1, cfg.threads))
    cfg_path = out / "config.yaml"
    text = yaml.safe_dump(cfg.to_dict(), sort_keys=False)
    runs_path = out / "runs.tsv"
    if cfg_path.exists() and cfg_path.read_text() != text and runs_path.exists():
        raise InputError(f"{out}: holds results of a different study config; use another "
                         "out_dir or delete runs.tsv")
    cfg_path.write_text(text)
    done = pd.read_csv(runs_path, sep="\t") if runs_path.exists() else pd.DataFrame(
        columns=RUN_COLUMNS)
    finished = set(zip(done["setting"].astype(str), done["split"].astype(int),
                       done["method"].astype(str)))
    t_start = time.perf_counter()
    sets = settings(cfg)
    n_total = cfg.n_heldout + max([cfg.n_train] + [int(v) for v in cfg.vary.get("n_train", [])])
    cohorts: dict[float, _CohortData] = {}
    pheno_cache: dict[tuple, _Phenotypes] = {}
    for name, change in sets:
        scfg = dataclasses.replace(cfg, **change)
        todo = [(s, m) for s in range(cfg.n_splits) for m in cfg.methods
                if (name, s, m) not in finished]
        if not todo:
            continue
        if scfg.h_g not in cohorts:
            cohorts[scfg.h_g] = _cohort(scfg, scfg.h_g, n_total, cache)
        data = cohorts[scfg.h_g]
        pkey = (scfg.h_g, scfg.alpha_max, scfg.c, scfg.image_size, scfg.task)
        if pkey not in pheno_cache:
            pheno_cache[pkey] = _phenotypes(scfg, data.z)
        ph = pheno_cache[pkey]
        for s, method in todo:
            rng = np.random.default_rng(np.random.SeedSequence([cfg.seed, 0x5717, s]))
            perm = rng.permutation(len(data.iids))
            test = np.sort(perm[: scfg.n_heldout])
            train = np.sort(perm[scfg.n_heldout: scfg.n_heldout + scfg.n_train])
            t0 = time.perf_counter()
            emb, logs = _train_embed(scfg, method, data, ph, train, test, cfg.seed * 100 + s)
            met = _metrics(scfg, emb, data, ph, test, cfg.seed * 100 + s)
            row = {"setting": name, "split": s, "method": method, **met, **logs,
                   "n_train": scfg.n_train, "n_heldout": scfg.n_heldout, "h_g": scfg.h_g,
                   "alpha_max": scfg.alpha_max,
                   "realised_h_g": round(float(data.manifest["realised_h_g"]), 4),
                   "panel_size": int(data.manifest["panel_counts"]["panel"])}
            frame = pd.DataFrame([{c: row.get(c, math.nan) for c in RUN_COLUMNS}])
            frame.to_csv(runs_path, sep="\t", index=False, mode="a",
                         header=not runs_path.exists())
            if progress:
                logger.info("study: %s split %d %s: R2(z) %.3f, causal %.3f%s (%.0f s)", name, s,
                            method, met["r2_z"], met["causal_fraction"],
                            f", AUC {met['asthma_auc']:.3f}" if "asthma_auc" in met else "",
                            time.perf_counter() - t0)
    runs = pd.read_csv(runs_path, sep="\t")
    summary = summarise(runs, cfg)
    write_outputs(summary, runs, cfg, out, wall_seconds=time.perf_counter() - t_start)
    return summary


def summarise(runs: pd.DataFrame, cfg: StudyConfig) -> pd.DataFrame:
    """Mean and std (ddof 1) over splits per setting and method, in config order."""
    metrics = [m for m in ("r2_z", "causal_fraction", "asthma_auc") if runs[m].notna().any()]
    agg = runs.groupby(["setting", "method"], sort=False)
    rows = []
    for (setting, method), g in agg:
        rec = {"setting": setting, "method": method, "n_splits": len(g)}
        for m in metrics + ["train_seconds"]:
            v = g[m].to_numpy(dtype=float)
            rec[f"{m}_mean"] = float(np.nanmean(v))
            rec[f"{m}_std"] = float(np.nanstd(v, ddof=1)) if len(v) > 1 else 0.0
        rows.append(rec)
    df = pd.DataFrame(rows)
    order_s = {n: i for i, (n, _) in enumerate(settings(cfg))}
    order_m = {m: i for i, m in enumerate(cfg.methods)}
    df["_s"] = df["setting"].map(order_s).fillna(99)
    df["_m"] = df["method"].map(order_m).fillna(99)
    return df.sort_values(["_s", "_m"]).drop(columns=["_s", "_m"]).reset_index(drop=True)


def markdown_table(summary: pd.DataFrame) -> str:
    """Markdown table ``setting | method | metric (mean ± std) ...``."""
    metrics = [m for m in ("r2_z", "causal_fraction", "asthma_auc") if f"{m}_mean" in summary]
    head = ["setting", "method"] + [METRIC_LABELS[m] for m in metrics] + ["splits"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for _, r in summary.iterrows():
        cells = [str(r["setting"]), METHOD_LABELS.get(r["method"], r["method"])]
        cells += [f"{r[f'{m}_mean']:.3f} ± {r[f'{m}_std']:.3f}" for m in metrics]
        cells.append(str(int(r["n_splits"])))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot_summary(summary: pd.DataFrame, path: str | os.PathLike, title: str = "") -> Path:
    """One row per metric; groups = settings; bars = methods; error bars = std over splits."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics = [m for m in ("r2_z", "causal_fraction", "asthma_auc") if f"{m}_mean" in summary]
    sets = list(dict.fromkeys(summary["setting"]))
    methods = list(dict.fromkeys(summary["method"]))
    colors = {"gemcont": "#c0392b", "simclr": "#2e86c1", "vae": "#27ae60",
              "supervised": "#7f8c8d", "prs": "#8e44ad", "fev1fvc": "#d68910"}
    fig, axes = plt.subplots(len(metrics), 1, figsize=(max(6.0, 1.6 * len(sets) + 2),
                                                       2.6 * len(metrics)), squeeze=False)
    width = 0.8 / max(1, len(methods))
    x = np.arange(len(sets))
    for ax, m in zip(axes[:, 0], metrics):
        for j, meth in enumerate(methods):
            sub = summary[summary["method"] == meth].set_index("setting").reindex(sets)
            ax.bar(x + (j - (len(methods) - 1) / 2) * width, sub[f"{m}_mean"], width,
                   yerr=sub[f"{m}_std"], capsize=2, color=colors.get(meth, None),
                   label=METHOD_LABELS.get(meth, meth))
        ax.set_ylabel(METRIC_LABELS[m].replace(" of causal variants", "\nof causal variants"),
                      fontsize=8)
        ax.set_xticks(x)
        ax.set_xticklabels(sets, fontsize=8)
        lo = 0.5 if m == "asthma_auc" else 0.0
        low = float(np.nanmin(summary[f"{m}_mean"] - summary[f"{m}_std"]))
        ax.set_ylim(min(lo, np.floor(low * 10) / 10) if np.isfinite(low) else lo, 1.0)
        ax.grid(axis="y", alpha=0.3)
    axes[0, 0].legend(fontsize=7, ncol=min(len(methods), 5), loc="upper center",
                      bbox_to_anchor=(0.5, 1.28 if not title else 1.35), frameon=False)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return path


def write_outputs(summary: pd.DataFrame, runs: pd.DataFrame, cfg: StudyConfig, out: Path,
                  wall_seconds: float = math.nan) -> None:
    """``summary.tsv``, ``table.md``, ``figure.png``, ``manifest.json`` in ``out``."""
    from importlib.metadata import PackageNotFoundError, version

    summary.to_csv(out / "summary.tsv", sep="\t", index=False, float_format="%.5g")
    scale = (f"task {cfg.task}; N_train {cfg.n_train}, held-out {cfg.n_heldout}, external GWAS "
             f"{cfg.n_external}; {cfg.n_chromosomes} chromosomes x {cfg.chrom_length_mb:g} Mb; "
             f"h_g {cfg.h_g:g}, {cfg.n_causal} causal; "
             + (f"alpha_max {cfg.alpha_max:g}, " if cfg.task == "rotation" else
                f"asthma prevalence {cfg.asthma_prevalence:g}, ")
             + f"image {cfg.image_size}px; {cfg.n_splits} splits; training "
             + ", ".join(f"{k} {v}" for k, v in cfg.train.items()))
    panel = runs.groupby("setting", sort=False)[["panel_size", "realised_h_g"]].first()
    text = [f"# Simulation study ({cfg.task})", "", scale, "",
            "Mean ± std over random splits; metrics on held-out individuals (see "
            "`learners/gemcont/study.py`). Causal recovery mode: "
            f"`{cfg.recovery_mode}`, p < {cfg.p_threshold:g}, scan of {cfg.scan_pca} PCs of "
            "the embedding.", "", markdown_table(summary),
            "Panel size and realised h_g per setting: "
            + "; ".join(f"{s}: {int(r.panel_size)} variants, h_g {r.realised_h_g:.3f}"
                        for s, r in panel.iterrows()), ""]
    (out / "table.md").write_text("\n".join(text))
    plot_summary(summary, out / "figure.png", title=scale if len(scale) < 150 else "")
    versions = {}
    for pkg in ("gwaskit", "torch", "numpy", "msprime", "scikit-learn"):
        try:
            versions[pkg] = version(pkg)
        except PackageNotFoundError:
            pass
    previous = {}
    if (out / "manifest.json").exists():
        try:
            previous = json.loads((out / "manifest.json").read_text())
        except json.JSONDecodeError:
            previous = {}
    total = float(previous.get("wall_seconds_all_invocations", 0.0)) + (
        wall_seconds if math.isfinite(wall_seconds) else 0.0)
    manifest = {"wall_seconds_last_invocation": round(wall_seconds, 1),
                "wall_seconds_all_invocations": round(total, 1),
                "train_seconds_total": float(runs["train_seconds"].sum()),
                "n_runs": int(len(runs)), "versions": versions,
                "python": platform.python_version(), "machine": platform.machine(),
                "cpu_count": os.cpu_count(), "threads": cfg.threads}
    try:
        from .export import git_sha

        manifest["git_sha"] = git_sha()
    except Exception:  # pragma: no cover
        pass
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")

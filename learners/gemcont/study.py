"""Simulation study: GEMCONT against SimCLR, VAE, supervised and PRS baselines, with controls.

Design (the paper's simulation, learner reference sections 1 and 9, at a configurable scale):

1. **Cohort** (:func:`gwaskit.simulate.simulate_cohort`): msprime genotypes with LD on a few
   chromosomes, latent trait ``z = √h_g·std(Gβ) + √(1−h_g)·std(ε)`` on ``n_causal`` causal
   variants, and an external GWAS of z in a disjoint cohort. One simulation per distinct
   ``h_g`` (same seed: same genotypes and causal variants, only the trait differs), cached.
2. **Panel** (:func:`gwaskit.loci.panel.build_panel`): external GWAS, p < ``panel_p``, clumped
   at r² ``panel_r2`` within ``panel_kb``; dosages by :func:`gwaskit.loci.panel.panel_dosages`.
   A method may use another threshold (``gemcont_strict``: p < 5e-8, the paper's strict
   panel; ``method_overrides: {m: {panel_p: ...}}``).
3. **Phenotype images**: ``task: rotation``, an MNIST digit per individual rotated by
   ``alpha_max·tanh(c·z)`` (:func:`.datasets.rotated_digits`); ``task: spirometry``,
   flow-volume curve images whose FEV1/FVC ratio follows z (:func:`.datasets.simulate_spirometry`).
4. **Splits**: for each of ``n_splits`` random splits, ``n_heldout`` individuals are held out
   and ``n_train`` others are the training individuals of every method (same individuals for
   every method); ``val_fraction`` of the training individuals form the validation split used
   for early stopping (not for fitting).
5. **Methods** (:data:`STUDY_METHODS`): ``gemcont`` (CLIP loss, open_clip's: the positive in
   the softmax denominator) and ``gemcont_dcl`` (the paper's equation (2): positive left out),
   ``simclr``, ``vae``, ``supervised`` (upper bound), ``prs``; controls ``untrained`` (the shared
   phenotype encoder at its seeded initialisation, no optimiser step) and
   ``gemcont_permuted`` (genotype rows shuffled among the training individuals, fixed seed per
   split: any gain over ``untrained`` that survives it is not genetic); Table 1 ablations
   ``gemcont_mlp`` (MLP genetic projector) and ``gemcont_strict`` (panel p < 5e-8); in the
   frozen-backbone setting (``train.encoder: frozen-backbone``) ``frozen_mean`` (RetFound-style:
   mean of the frozen backbone's patch tokens, nothing trained); for spirometry ``fev1fvc`` (the
   realised FEV1/FVC ratio, one column). The genetic variants of GEMCONT (permuted, MLP,
   strict) and ``prs`` use ``train.loss`` (CLIP unless set); ``gemcont``/``gemcont_dcl`` fix it.
6. **Recipe**: ``train.augment: paper`` gives every trained method the paper's augmentation of
   the task (random erasing for rotation, random resized crop + Gaussian blur for
   spirometry) and SimCLR its standard pair (:data:`.augment.PRESETS`).
7. **Budget rule** (one rule for every method and setting): every trained method runs the same
   number of optimiser steps, ``train.max_steps`` (same batch size, same schedule; also the
   same across ``n_train`` settings, unlike a fixed number of epochs), with early stopping on
   the validation loss (``train.early_stopping``, ``train.patience`` epochs) and the best
   epoch's weights restored at the end. The budget keys cannot be overridden per method.
   Each run's training curve (one JSON line per epoch: epoch, step, train and validation
   loss, learning rate, time) is written to ``curves/<setting>__split<k>__<method>.jsonl``;
   ``runs.tsv`` records steps run, the best epoch and its step, and whether it stopped early.
8. **Metrics on the held-out individuals**: ridge R² of z from the embeddings
   (:func:`.evaluate.ridge_r2`, the mean over 5 inner 50/50 splits), the fraction of causal
   variants significant at ``p_threshold`` in a gwaskit multi-trait scan of the embeddings
   (``MultiTraitScan(pca=scan_pca)``, rank-INT; :func:`gwaskit.loci.overlap.loci_overlap`,
   ``recovery_mode`` ``exact`` = the causal variant itself, ``window`` = any variant within
   ±``window_kb``), and for spirometry the asthma-like ROC AUC (:func:`.evaluate.logistic_auc`).
9. **Settings**: the defaults, then one factor at a time from ``vary`` (``n_train``, ``h_g``,
   ``alpha_max`` or any other scalar study option).

Outputs in ``out_dir``: ``config.yaml`` (resolved study configuration), ``runs.tsv`` (one row
per setting × split × method, appended as runs finish; a re-run skips finished runs),
``curves/`` (training curves), ``checkpoints/<setting>/split<k>/<method>/`` (each trained
run's ``last.pt``, ``best.pt`` and ``metrics.jsonl``; an interrupted run resumes from its
``last.pt`` on the next invocation instead of starting over), ``summary.tsv`` (mean ± std over splits), ``table.md``,
``figure.png`` (one row per metric, bars per method per setting, error bars = std over splits)
and ``manifest.json`` (versions, wall time, git commit and whether the source tree had
uncommitted changes; written by the program only). Results are valid for the simulated model
only; the split-to-split std does not include simulation-to-simulation variation (one cohort
per ``h_g``).

Memory: only the current setting's cohort and images are held; dosages are stored compact
(:func:`compact_dosages`: int8 for the simulated hard calls) and images as uint8
``(N, 1, H, W)``, widened to float per slice or per batch (same numbers as float32).
``gemcont study --dry-run`` prints the expected host and GPU memory
(:func:`.memory.study_memory`) without simulating anything.
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


@dataclass(frozen=True)
class StudyMethod:
    """One row family of the study table.

    Attributes
    ----------
    label : str
        Name in the table and figure.
    trainer : str or None
        :class:`.config.GemcontConfig` ``method`` that trains it; ``None`` for methods with no
        trainer (``fev1fvc``, ``frozen_mean``).
    train : dict
        GemcontConfig options fixed by the method (e.g. the loss of ``gemcont_dcl``).
    panel_p : float or None
        Panel threshold of this method (``None``: the study's ``panel_p``).
    permute : bool
        Genotype rows shuffled among the training individuals (null control).
    trained : bool
        ``False``: embedded at initialisation, no optimiser step (``untrained``).
    kind : str
        ``method``, ``baseline``, ``control`` or ``ablation`` (table legend).
    """

    label: str
    trainer: str | None
    train: dict = field(default_factory=dict)
    panel_p: float | None = None
    permute: bool = False
    trained: bool = True
    kind: str = "method"

    @property
    def genetic(self) -> bool:
        """Whether the method reads the panel (GEMCONT variants and PRS)."""
        return self.trainer in ("gemcont", "prs")


#: Every method the study runs, by name (``methods`` option).
STUDY_METHODS: dict[str, StudyMethod] = {
    "gemcont": StudyMethod("GEMCONT (CLIP loss)", "gemcont", {"loss": "clip"}),
    "gemcont_dcl": StudyMethod("GEMCONT (DCL loss, paper eq. 2)", "gemcont", {"loss": "dcl"}),
    "simclr": StudyMethod("SimCLR", "simclr", kind="baseline"),
    "vae": StudyMethod("VAE", "vae", kind="baseline"),
    "supervised": StudyMethod("supervised (upper bound)", "supervised", kind="baseline"),
    "prs": StudyMethod("PRS", "prs", kind="baseline"),
    "untrained": StudyMethod("untrained encoder (control)", "simclr", trained=False,
                             kind="control"),
    "gemcont_permuted": StudyMethod("GEMCONT, permuted genotypes (control)", "gemcont",
                                    permute=True, kind="control"),
    "gemcont_mlp": StudyMethod("GEMCONT, MLP genetic projector (ablation)", "gemcont",
                               {"genetic_projector": "mlp"}, kind="ablation"),
    "gemcont_strict": StudyMethod("GEMCONT, panel p < 5e-8 (ablation)", "gemcont",
                                  panel_p=5e-8, kind="ablation"),
    "frozen_mean": StudyMethod("frozen backbone, mean of patch tokens (RetFound-style)", None,
                               trained=False, kind="baseline"),
    "fev1fvc": StudyMethod("FEV1/FVC", None, trained=False, kind="baseline"),
}
STUDY_METHOD_NAMES = tuple(STUDY_METHODS)
METHOD_LABELS = {k: v.label for k, v in STUDY_METHODS.items()}
METRIC_LABELS = {"r2_z": "held-out ridge R² of z",
                 "causal_fraction": "fraction of causal variants at p < 5e-8",
                 "asthma_auc": "asthma ROC AUC"}
#: Training options that make the budget: one value for every method (see the budget rule).
BUDGET_KEYS = ("max_steps", "epochs", "batch_size", "early_stopping", "patience",
               "warmup_steps", "warmup_epochs")
#: Study options a method override may set besides GemcontConfig options.
STUDY_OVERRIDE_KEYS = ("panel_p",)
DEFAULT_METHODS = ["gemcont", "gemcont_dcl", "simclr", "vae", "supervised", "prs", "untrained",
                   "gemcont_permuted", "gemcont_mlp", "gemcont_strict"]


@dataclass
class StudyConfig:
    """Every option of a study (YAML keys). CPU-sized defaults (see ``examples/configs``)."""

    task: str = "rotation"
    out_dir: str = "runs/study"
    cache_dir: str = ""                 # simulated cohorts (default: out_dir/cohorts)
    seed: int = 0
    n_splits: int = 5
    methods: list = field(default_factory=lambda: list(DEFAULT_METHODS))
    threads: int = 2                    # torch, BLAS and OpenMP threads
    val_fraction: float = 0.1           # of the training individuals: early-stopping split
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
    # --- training: GemcontConfig options for every method (the budget rule: same max_steps,
    # early stopping on the validation split), then per-method overrides (no budget keys)
    train: dict = field(default_factory=lambda: {
        "max_steps": 600, "early_stopping": True, "patience": 10, "batch_size": 128,
        "lr": 2e-3, "warmup_steps": 50, "embed_dim": 32, "cnn_widths": [8, 16, 32],
        "augment": "paper", "device": "cpu"})
    method_overrides: dict = field(default_factory=dict)
    # --- evaluation
    p_threshold: float = 5e-8
    scan_pca: int = 10
    recovery_mode: str = "exact"
    window_kb: float = 500.0
    ridge_splits: int = 5

    def validate(self) -> "StudyConfig":
        """Check choices, ranges and the budget rule; raise :class:`InputError` naming the
        option."""
        if self.task not in TASKS:
            raise InputError(f"study option task={self.task!r}: choose one of {', '.join(TASKS)}")
        if not self.methods:
            raise InputError("study option methods: give at least one method")
        bad = [m for m in self.methods if m not in STUDY_METHODS]
        if bad:
            raise InputError(f"study option methods: unknown method {bad[0]!r}; "
                             f"choose from {', '.join(STUDY_METHOD_NAMES)}")
        if "fev1fvc" in self.methods and self.task != "spirometry":
            raise InputError("study option methods: fev1fvc needs task: spirometry")
        if "frozen_mean" in self.methods and self.train.get("encoder") != "frozen-backbone":
            raise InputError("study option methods: frozen_mean needs the frozen-backbone "
                             "setting (train.encoder: frozen-backbone, train.backbone_checkpoint)")
        for key in ("n_splits", "n_train", "n_heldout", "n_causal", "n_chromosomes"):
            if getattr(self, key) < 1:
                raise InputError(f"study option {key}={getattr(self, key)}: must be >= 1")
        if not 0 <= self.val_fraction < 0.5:
            raise InputError(f"study option val_fraction={self.val_fraction}: must lie in "
                             "[0, 0.5)")
        if self.recovery_mode not in ("exact", "window"):
            raise InputError(f"study option recovery_mode={self.recovery_mode!r}: exact or window")
        trained = [m for m in self.methods if STUDY_METHODS[m].trained]
        if trained and int(self.train.get("max_steps", 0) or 0) < 1:
            raise InputError("study option train.max_steps: set the optimiser-step budget that "
                             "every trained method gets (the study's budget rule)")
        if trained and self.train.get("early_stopping") and self.val_fraction <= 0:
            raise InputError("study option val_fraction: early stopping needs a validation "
                             "split (val_fraction > 0)")
        for m, over in self.method_overrides.items():
            if m not in STUDY_METHODS:
                raise InputError(f"study option method_overrides: unknown method {m!r}")
            if not isinstance(over, dict):
                raise InputError(f"study option method_overrides.{m}: give a mapping")
            budget = sorted(set(over) & set(BUDGET_KEYS))
            if budget:
                raise InputError(f"study option method_overrides.{m}.{budget[0]}: the budget is "
                                 "the same for every method; set it under train")
            if "panel_p" in over and not STUDY_METHODS[m].genetic:
                raise InputError(f"study option method_overrides.{m}.panel_p: {m} reads no panel")
        known = {f.name for f in dataclasses.fields(self)}
        for key, values in self.vary.items():
            if key not in known or key in ("vary", "train", "method_overrides", "methods"):
                raise InputError(f"study option vary: {key!r} is not a scalar study option")
            if not isinstance(values, (list, tuple)):
                raise InputError(f"study option vary.{key}: give a list of values")
        return self

    def method_panel_p(self, method: str) -> float:
        """Panel threshold of ``method``: its override, else its own, else ``panel_p``."""
        over = self.method_overrides.get(method, {})
        if "panel_p" in over:
            return float(over["panel_p"])
        spec = STUDY_METHODS[method].panel_p
        return float(self.panel_p if spec is None else spec)

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
class _Panel:
    dosages: np.ndarray          # (N, S) compact (:func:`compact_dosages`): int8 hard calls
    betas: np.ndarray            # (S,)
    counts: dict


@dataclass
class _CohortData:
    iids: np.ndarray
    z: np.ndarray
    disease: np.ndarray
    dosages: np.ndarray          # (N, M) every variant, compact (:func:`compact_dosages`)
    variants: pd.DataFrame
    causal: pd.DataFrame
    manifest: dict
    bgens: list
    order: np.ndarray            # genotype-file sample index of each row
    directory: Path              # the simulated cohort (external GWAS for the panels)
    panels: dict = field(default_factory=dict)     # panel_p -> _Panel


def _build_panel(cfg: StudyConfig, data: _CohortData, panel_p: float, d: Path,
                 allow_empty: bool = False) -> _Panel:
    """Panel from the external GWAS at ``panel_p`` (clumped as configured) and its dosages.

    ``allow_empty``: a threshold no variant passes gives an empty panel (its runs are reported
    as missing) instead of an error; used for the per-method thresholds (strict panel), so
    that one empty ablation does not stop the study.
    """
    from gwaskit.io.genotypes import open_genotypes
    from gwaskit.io.sumstats import read_sumstats
    from gwaskit.loci.panel import build_panel, panel_dosages

    empty = _Panel(np.zeros((len(data.iids), 0)), np.zeros(0), {"panel": 0})
    with open_genotypes(data.bgens if len(data.bgens) > 1 else data.bgens[0]) as reader:
        try:
            panel, counts = build_panel(read_sumstats(str(d / "external_gwas.tsv")), reader,
                                        p_threshold=panel_p, r2=cfg.panel_r2, kb=cfg.panel_kb)
        except InputError as exc:
            if allow_empty and str(exc).startswith("panel: no"):
                logger.warning("study: %s; runs using this panel are reported as missing", exc)
                return empty
            raise
        if len(panel) == 0:
            return empty
        aligned, pdos = panel_dosages(reader, panel, samples=data.order)
    # the old float64 copy, compacted: simulated panel dosages are hard calls (int8, exact)
    return _Panel(compact_dosages(np.asarray(pdos, np.float64)),
                  aligned["beta"].to_numpy(np.float64), dict(counts))


#: variants decoded per block when the cohort's dosages are read (bounds the float32 transient)
DOSAGE_BLOCK = 4096


def compact_dosages(x: np.ndarray) -> np.ndarray:
    """The smallest dtype that holds every dosage of ``x`` exactly, C-ordered.

    ``int8`` when every value is a hard call 0, 1 or 2 (simulated genotypes; no missing
    value, so no sentinel can be mistaken for a dosage by a plain ``astype``), else
    ``float16`` when it round-trips every value (hard calls with missing = NaN), else ``x``
    unchanged (soft dosages keep their precision: the study's numbers must not move).
    Consumers widen slices only (``astype(np.float32)`` / ``float64``), which is exact.

    Parameters
    ----------
    x : (N, S) array
        Dosages, NaN = missing.

    Returns
    -------
    (N, S) array, int8, float16 or the dtype of ``x``.
    """
    x = np.asarray(x)
    if x.dtype == np.int8:
        return np.ascontiguousarray(x)
    if x.size == 0:
        return np.ascontiguousarray(x.astype(np.int8))
    if _hard_calls(x):
        return np.ascontiguousarray(x, dtype=np.int8)
    with np.errstate(over="ignore"):
        h = x.astype(np.float16)
    if np.array_equal(h.astype(x.dtype), x, equal_nan=True):
        return np.ascontiguousarray(h)
    return np.ascontiguousarray(x)


def _hard_calls(x: np.ndarray) -> bool:
    """Every value of ``x`` is 0, 1 or 2 (NaN is not)."""
    return bool(((x == 0) | (x == 1) | (x == 2)).all())


def _read_compact_dosages(reader: Any, order: np.ndarray) -> tuple[pd.DataFrame, np.ndarray]:
    """Every variant's dosages of the rows ``order``, read in blocks of :data:`DOSAGE_BLOCK`
    variants and stored compact (:func:`compact_dosages`), so the float32 copy of the whole
    matrix never exists; blocks that are not all hard calls switch the result to float32
    (then compacted as a whole, as before the switch)."""
    n, m = len(order), int(reader.n_variants)
    out = np.empty((n, m), dtype=np.int8)
    tables = []
    for s in range(0, m, DOSAGE_BLOCK):
        idx = np.arange(s, min(m, s + DOSAGE_BLOCK))
        table, block = reader.read_dosages(samples=order, variants=idx, dtype=np.float32)
        tables.append(table)
        if out.dtype == np.int8 and not _hard_calls(block):
            logger.info("study: dosages are not all hard calls; holding them as float32")
            wide = np.empty((n, m), dtype=np.float32)
            wide[:, :s] = out[:, :s]
            out = wide
        out[:, s:s + len(idx)] = block
    variants = pd.concat(tables) if tables else reader.variants.iloc[:0]
    return variants, compact_dosages(out)


def _compact_images(images: np.ndarray) -> np.ndarray:
    """``(N, H, W)`` uint8 images as the study holds them: ``(N, 1, H, W)`` uint8 (no copy).

    The trainer and the exporter scale batches to float32 in [0, 1] on the device
    (:func:`.data.to_float_images`: ``x.float() / 255``, the same float32 division the study
    did on the host), so the results do not change while the host copy is 4x smaller.
    """
    images = np.ascontiguousarray(images, dtype=np.uint8)
    # reshape, not [:, None]: the view's channel stride (1) would make torch take the
    # (N, 1, H, W) tensor for channels_last too, and the CPU convolution would then pick
    # another kernel than for the float32 array (last-bit differences in the embeddings)
    return images.reshape(images.shape[0], 1, *images.shape[1:])


def total_individuals(cfg: StudyConfig) -> int:
    """Study cohort size: ``n_heldout`` plus the largest ``n_train`` of any setting."""
    return cfg.n_heldout + max([cfg.n_train] + [int(v) for v in cfg.vary.get("n_train", [])])


def _simulation_params(cfg: StudyConfig, h_g: float, n_total: int) -> dict[str, Any]:
    """Arguments of :func:`gwaskit.simulate.simulate_cohort` for one cohort."""
    return dict(n_individuals=n_total, n_chromosomes=cfg.n_chromosomes,
                chrom_length=cfg.chrom_length_mb * 1e6, h_g=h_g, n_causal=cfg.n_causal,
                prevalence=cfg.prevalence, n_external=cfg.n_external, seed=cfg.seed + 1)


def _cohort(cfg: StudyConfig, h_g: float, n_total: int, cache: Path) -> _CohortData:
    """Simulate (or reuse) the cohort for ``h_g`` and build its default panel."""
    from gwaskit.io.genotypes import open_genotypes
    from gwaskit.simulate import simulate_cohort

    params = _simulation_params(cfg, h_g, n_total)
    key = json.dumps(params, sort_keys=True)
    d = _cohort_dir(cfg, h_g, n_total, cache)
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
        variants, dos = _read_compact_dosages(reader, order)
    data = _CohortData(
        iids=ph["IID"].astype(str).to_numpy(), z=ph["z"].to_numpy(np.float64),
        disease=ph["disease"].to_numpy(), dosages=dos,
        variants=variants.reset_index(drop=True), causal=causal, manifest=manifest,
        bgens=bgens, order=order, directory=d)
    panel_of(cfg, data, cfg.panel_p, allow_empty=False)
    return data


def _cohort_dir(cfg: StudyConfig, h_g: float, n_total: int, cache: Path) -> Path:
    return cache / f"cohort_h{h_g:g}_n{n_total}_s{cfg.seed}"


def panel_of(cfg: StudyConfig, data: _CohortData, panel_p: float,
             allow_empty: bool = True) -> _Panel:
    """The cohort's panel at ``panel_p``, built once per threshold."""
    key = float(panel_p)
    if key not in data.panels:
        data.panels[key] = _build_panel(cfg, data, key, data.directory, allow_empty)
        logger.info("study: panel p < %g: %d variants", key, data.panels[key].dosages.shape[1])
    return data.panels[key]

@dataclass
class _Phenotypes:
    images: np.ndarray            # (N, 1, H, W) uint8 (:func:`_compact_images`)
    asthma: np.ndarray | None = None
    ratio: np.ndarray | None = None


def _phenotypes(cfg: StudyConfig, z: np.ndarray) -> _Phenotypes:
    from .datasets import rotated_digits, simulate_spirometry

    if cfg.task == "rotation":
        rd = rotated_digits(z, alpha_max=cfg.alpha_max, c=cfg.c, size=cfg.image_size,
                            seed=cfg.seed, source=cfg.mnist_source or None)
        return _Phenotypes(_compact_images(rd.images))
    sp = simulate_spirometry(z, c=cfg.c, image_size=cfg.image_size, seed=cfg.seed,
                             asthma_prevalence=cfg.asthma_prevalence,
                             asthma_noise=cfg.asthma_noise)
    return _Phenotypes(_compact_images(sp.images),
                       asthma=sp.asthma.astype(np.float64), ratio=sp.ratio)


# ============================================================================ one run
@dataclass
class SplitRows:
    """Cohort rows of one random split: training, validation (early stopping), held-out."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray

    def rows_and_labels(self) -> tuple[np.ndarray, np.ndarray]:
        """All rows in the order train, val, test, and their ``split`` labels."""
        rows = np.concatenate([self.train, self.val, self.test])
        split = np.array(["train"] * len(self.train) + ["val"] * len(self.val)
                         + ["test"] * len(self.test), dtype=object)
        return rows, split


def split_rows(cfg: StudyConfig, n: int, s: int) -> SplitRows:
    """Split ``s``: ``n_heldout`` held out, ``n_train`` training individuals, of which
    ``val_fraction`` form the validation split. The held-out and training sets do not depend
    on ``val_fraction`` (the same draws as before the validation split existed)."""
    rng = np.random.default_rng(np.random.SeedSequence([cfg.seed, 0x5717, s]))
    perm = rng.permutation(n)
    test = np.sort(perm[: cfg.n_heldout])
    train_all = perm[cfg.n_heldout: cfg.n_heldout + cfg.n_train]
    n_val = int(round(cfg.val_fraction * len(train_all)))
    return SplitRows(np.sort(train_all[n_val:]), np.sort(train_all[:n_val]), test)


def genetic_input(dosages: np.ndarray, betas: np.ndarray, split: np.ndarray, prs: bool = False,
                  permute_seed: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Prepared genetic input ``g`` and standardised betas for the rows of ``dosages``.

    Parameters
    ----------
    dosages : (N, S) array
        Panel dosages of the rows, labelled by ``split``.
    betas : (S,) array
        Panel betas from the external GWAS.
    split : (N,) array of ``train``/``val``/``test``
    prs : bool
        One input, the polygenic score (PRS baseline).
    permute_seed : int, optional
        Null control: the genotype rows of the training individuals (``train`` and ``val``)
        are shuffled among them with this seed before anything else, so each image is paired
        with another individual's genotypes; held-out rows are not touched (GEMCONT embeds
        images only, and the GWAS uses the real genotypes).
    """
    from .data import prepare_genetics, prs_input, standardised_betas

    dos = np.array(dosages, dtype=np.float64, copy=True)
    if permute_seed is not None:
        fit = np.flatnonzero(split != "test")
        perm = np.random.default_rng(permute_seed).permutation(len(fit))
        dos[fit] = dos[fit[perm]]
    b = np.asarray(betas, dtype=np.float64)
    if prs:
        # missing dosages take the training individuals' mean, as prepare_genetics does
        dos, b = prs_input(dos, b, split == "train"), np.ones(1)
    g, state = prepare_genetics(dos, split == "train")
    return g, standardised_betas(b, state)


def permute_seed(cfg: StudyConfig, s: int) -> int:
    """Fixed seed of the permuted-genotype control for split ``s``."""
    return int(np.random.SeedSequence([cfg.seed, 0x9E27, s]).generate_state(1)[0])


def train_config(cfg: StudyConfig, method: str, seed: int) -> Any:
    """The :class:`.config.GemcontConfig` of ``method``: the shared ``train`` options, the
    method's own (:data:`STUDY_METHODS`), then ``method_overrides`` (never budget keys)."""
    from .config import GemcontConfig

    spec = STUDY_METHODS[method]
    values = dict(cfg.train)
    values.update(spec.train)
    values.update({k: v for k, v in cfg.method_overrides.get(method, {}).items()
                   if k not in STUDY_OVERRIDE_KEYS})
    # methods without a trainer still parse the shared options (backbone of frozen_mean)
    values.update(method=spec.trainer or "simclr", seed=seed, out_dir="", progress=False,
                  val_fraction=0.0)
    values.setdefault("task", cfg.task)
    if spec.trainer == "supervised":
        values.setdefault("supervised_target", "z")
    return GemcontConfig.from_dict(values, f"study train options ({method})").validate()


class _EmptyPanel(Exception):
    """The method's panel threshold kept no variant: the run is reported as missing."""


def _train_embed(cfg: StudyConfig, method: str, data: _CohortData, ph: _Phenotypes,
                 rows: SplitRows, seed: int, split_index: int = 0,
                 curve_path: Path | None = None, ckpt_dir: Path | None = None
                 ) -> tuple[np.ndarray, dict]:
    """Train ``method`` on the training rows (early stopping on the validation rows); the
    held-out rows' embeddings and the run's log fields.

    With ``ckpt_dir`` the trainer writes ``last.pt``, ``best.pt`` and ``metrics.jsonl`` there
    every epoch, and a ``last.pt`` left by an interrupted attempt of the same run (same
    training configuration) is resumed (:meth:`.train.Trainer.resume`: model, optimiser,
    schedule, RNG states and early-stopping counters), so the run continues where it stopped
    and ends with the weights an uninterrupted run gets. The finished curve is copied to
    ``curve_path``.
    """
    from .augment import describe
    from .data import ArraySource, Cohort
    from .train import Trainer

    spec = STUDY_METHODS[method]
    logs: dict[str, Any] = {"steps": 0, "epochs_run": 0, "best_epoch": 0, "best_step": 0,
                            "stopped_early": False, "train_loss": math.nan,
                            "val_loss_best": math.nan, "train_seconds": 0.0, "augment": "none",
                            "loss": ""}
    if method == "fev1fvc":
        return ph.ratio[rows.test].reshape(-1, 1).astype(np.float64), logs
    tcfg = train_config(cfg, method, seed)
    all_rows, split = rows.rows_and_labels()
    g = betas = None
    if spec.genetic:
        panel = panel_of(cfg, data, cfg.method_panel_p(method))
        if panel.dosages.shape[1] == 0:
            raise _EmptyPanel(method)
        g, betas = genetic_input(
            panel.dosages[all_rows], panel.betas, split, prs=spec.trainer == "prs",
            permute_seed=permute_seed(cfg, split_index) if spec.permute else None)
        logs["loss"] = tcfg.loss
    y = None
    if spec.trainer == "supervised":
        target = tcfg.supervised_target
        y = (data.z if target == "z" else ph.asthma)[all_rows].reshape(-1, 1)
    cohort = Cohort([str(i) for i in data.iids[all_rows]], ArraySource(ph.images[all_rows]),
                    split, g=g, betas=betas, y=y)
    t0 = time.perf_counter()
    if method == "frozen_mean":
        from .baselines import MeanTokenModel
        from .encoders import load_backbone
        from .export import embed_cohort
        from .train import resolve_device

        backbone = load_backbone(tcfg.backbone_checkpoint, tcfg.backbone_factory,
                                 tcfg.backbone_kwargs)
        device = resolve_device(tcfg.device)
        emb = embed_cohort(MeanTokenModel(backbone).to(device), cohort, tcfg, device,
                           tcfg.batch_size, split="test")
        return emb, logs
    if curve_path is not None and curve_path.exists():
        curve_path.unlink()          # an interrupted earlier attempt of this run
    use_ckpt = spec.trained and ckpt_dir is not None
    metrics = (ckpt_dir / "metrics.jsonl" if use_ckpt else curve_path) if spec.trained else None
    trainer = Trainer(tcfg, cohort, out_dir=str(ckpt_dir) if use_ckpt else "",
                      metrics_path=metrics)
    if use_ckpt:
        _resume_or_start(trainer, tcfg, ckpt_dir)
    if spec.trained:
        trainer.fit()
        logs["augment"] = describe(trainer.augment_spec)
        if use_ckpt and curve_path is not None:
            _copy_atomic(ckpt_dir / "metrics.jsonl", curve_path)
    emb = trainer.embed(split="test")
    hist = trainer.history
    logs.update(
        steps=int(trainer.scheduler.step_num), epochs_run=int(trainer.epoch),
        best_epoch=int(trainer.best_epoch),
        best_step=int(hist[trainer.best_epoch - 1]["step"]) if trainer.best_epoch else 0,
        stopped_early=bool(trainer.stopped_early),
        train_loss=float(hist[-1]["train_loss"]) if hist else math.nan,
        val_loss_best=float(trainer.best_val) if math.isfinite(trainer.best_val) else math.nan,
        train_seconds=round(time.perf_counter() - t0, 1))
    return emb, logs


def _resume_or_start(trainer: Any, tcfg: Any, ckpt_dir: Path) -> bool:
    """Resume ``trainer`` from ``ckpt_dir/last.pt`` when it belongs to this run; whether it did.

    A checkpoint of another training configuration (the study config changed before any run
    finished), or one that cannot be read, is discarded with the curve and the run starts
    over. The curve keeps the lines of the epochs the checkpoint holds (an epoch logged after
    the last checkpoint is dropped; one checkpointed but not logged is written again).
    """
    from .train import load_checkpoint

    last, metrics = ckpt_dir / "last.pt", ckpt_dir / "metrics.jsonl"
    ckpt = None
    if last.exists():
        try:
            ckpt = load_checkpoint(last, "cpu")
        except InputError as exc:
            logger.warning("study: %s; starting the run over", exc)
        if ckpt is not None and ckpt.get("config") != tcfg.to_dict():
            logger.warning("study: %s was written for another training configuration; starting "
                           "the run over", last)
            ckpt = None
    if ckpt is None:
        for f in ("last.pt", "best.pt", "metrics.jsonl"):
            (ckpt_dir / f).unlink(missing_ok=True)
        return False
    trainer.load_state_dict(ckpt)
    logger.info("study: resumed %s at epoch %d (step %d)", last, trainer.epoch,
                trainer.scheduler.step_num)
    kept = []
    if metrics.exists():
        for line in metrics.read_text().splitlines():
            if line.strip() and int(json.loads(line)["epoch"]) <= trainer.epoch:
                kept.append(line)
    _write_atomic(metrics, "".join(f"{line}\n" for line in kept))
    for rec in trainer.history[len(kept):]:
        trainer._write_metrics(rec)
    return True


def _write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through :func:`gwaskit.io.output.atomic_path` (temporary
    file beside it, then rename)."""
    from gwaskit.io.output import atomic_path

    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path, overwrite=True) as tmp:
        tmp.write_text(text)


def _copy_atomic(src: Path, dst: Path) -> None:
    """Copy a text file atomically (an absent ``src`` copies as empty)."""
    _write_atomic(dst, src.read_text() if src.exists() else "")


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
    # widened per slice, to the float32 the scan was always given (same numbers)
    res = MultiTraitScan(pca=pca).fit(y).test(np.asarray(data.dosages[test], dtype=np.float32),
                                              as_frame=True)
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
               "lambda_gc", "train_loss", "val_loss_best", "steps", "epochs_run", "best_epoch",
               "best_step", "stopped_early", "loss", "augment", "train_seconds", "n_train",
               "n_val", "n_heldout", "h_g", "alpha_max", "realised_h_g", "panel_p",
               "panel_size"]


def run_study(cfg: StudyConfig, out_dir: str | os.PathLike | None = None,
              progress: bool = True, only_settings: list[str] | None = None) -> pd.DataFrame:
    """Run every setting × split × method (skipping rows already in ``runs.tsv``); write the
    summary, table and figure. Returns the summary frame.

    ``only_settings`` restricts the runs to the named settings (names as in :func:`settings`:
    ``default``, ``n_train=500``, ...), so that processes on separate cores or machines can
    share one ``out_dir``: each appends its own rows, and the summary written by whichever
    finishes last covers every setting. Two processes must not run the same setting."""
    from threadpoolctl import threadpool_limits

    cfg.validate()
    if only_settings:
        names = [n for n, _ in settings(cfg)]
        unknown = [n for n in only_settings if n not in names]
        if unknown:
            raise InputError(f"study setting {unknown[0]!r}: not a setting of this config "
                             f"(settings: {', '.join(names)})")
    # `threads` bounds every thread pool, not only torch's: on shared cores BLAS/OpenMP pools
    # larger than the free cores wait on each other (the logistic AUC ran 5x slower with 2
    # BLAS threads than with 1 on 2 busy cores)
    with threadpool_limits(limits=max(1, cfg.threads)):
        return _run_study(cfg, out_dir, progress, only_settings)


def _run_study(cfg: StudyConfig, out_dir: str | os.PathLike | None, progress: bool,
               only_settings: list[str] | None = None) -> pd.DataFrame:
    import torch

    out = Path(out_dir or cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    cache = Path(cfg.cache_dir) if cfg.cache_dir else out / "cohorts"
    cache.mkdir(parents=True, exist_ok=True)
    curves = out / "curves"
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
    # the code that runs is the code at the start: a commit made while the study runs must not
    # be recorded as the source of its results
    source_at_start = _source_state()
    sets = settings(cfg)
    n_total = total_individuals(cfg)
    # only the current setting's cohort and images are held: a setting that needs another
    # cohort (h_g) or other images re-reads / re-renders them (the simulation itself is
    # cached on disk), so host memory is one setting's arrays whatever the number of settings
    data: _CohortData | None = None
    ph: _Phenotypes | None = None
    data_key = pkey = None
    for name, change in sets:
        if only_settings and name not in only_settings:
            continue
        scfg = dataclasses.replace(cfg, **change)
        todo = [(s, m) for s in range(cfg.n_splits) for m in cfg.methods
                if (name, s, m) not in finished]
        if not todo:
            continue
        new_key = (scfg.h_g, json.dumps(_simulation_params(scfg, scfg.h_g, n_total),
                                        sort_keys=True))
        if new_key != data_key:
            data = ph = pkey = None          # release the previous arrays before reading
            data, data_key = _cohort(scfg, scfg.h_g, n_total, cache), new_key
        new_pkey = (new_key, scfg.alpha_max, scfg.c, scfg.image_size, scfg.task, scfg.seed,
                    scfg.mnist_source, scfg.asthma_prevalence, scfg.asthma_noise)
        if new_pkey != pkey:
            ph = None
            ph, pkey = _phenotypes(scfg, data.z), new_pkey
        for s, method in todo:
            rows = split_rows(scfg, len(data.iids), s)
            seed = cfg.seed * 100 + s          # same seed, same initial encoder, every method
            t0 = time.perf_counter()
            curve = curves / f"{name}__split{s}__{method}.jsonl"
            panel_p = scfg.method_panel_p(method) if STUDY_METHODS[method].genetic else math.nan
            ckpt = out / "checkpoints" / name / f"split{s}" / method
            try:
                emb, logs = _train_embed(scfg, method, data, ph, rows, seed, s, curve, ckpt)
                met = _metrics(scfg, emb, data, ph, rows.test, seed)
            except _EmptyPanel:
                emb, logs, met = None, {}, {}
            panel_size = (panel_of(scfg, data, panel_p).dosages.shape[1]
                          if math.isfinite(panel_p) else math.nan)
            row = {"setting": name, "split": s, "method": method, **met, **logs,
                   "n_train": scfg.n_train, "n_val": len(rows.val), "n_heldout": scfg.n_heldout,
                   "h_g": scfg.h_g, "alpha_max": scfg.alpha_max,
                   "realised_h_g": round(float(data.manifest["realised_h_g"]), 4),
                   "panel_p": panel_p, "panel_size": panel_size}
            frame = pd.DataFrame([{c: row.get(c, math.nan) for c in RUN_COLUMNS}])
            frame.to_csv(runs_path, sep="\t", index=False, mode="a",
                         header=not runs_path.exists())
            if progress and met:
                logger.info("study: %s split %d %s: R2(z) %.3f, causal %.3f%s, %d steps (best "
                            "epoch %d) (%.0f s)", name, s, method, met["r2_z"],
                            met["causal_fraction"],
                            f", AUC {met['asthma_auc']:.3f}" if "asthma_auc" in met else "",
                            logs.get("steps", 0), logs.get("best_epoch", 0),
                            time.perf_counter() - t0)
    runs = pd.read_csv(runs_path, sep="\t")
    summary = summarise(runs, cfg)
    write_outputs(summary, runs, cfg, out, wall_seconds=time.perf_counter() - t_start,
                  source=source_at_start)
    return summary


def _source_state() -> dict[str, Any]:
    """``git_sha``, ``source_clean`` and ``uncommitted_source_files`` of the running code."""
    try:
        from .export import git_sha

        sha = git_sha()
    except Exception:  # pragma: no cover
        sha = ""
    dirty = source_changes()
    # the results are reproducible from git_sha only if the code was committed
    return {"git_sha": sha, "source_clean": dirty == [], "uncommitted_source_files": dirty}


def summarise(runs: pd.DataFrame, cfg: StudyConfig) -> pd.DataFrame:
    """Mean and std (ddof 1) over splits per setting and method, in config order."""
    metrics = [m for m in ("r2_z", "causal_fraction", "asthma_auc") if runs[m].notna().any()]
    agg = runs.groupby(["setting", "method"], sort=False)
    rows = []
    for (setting, method), g in agg:
        rec = {"setting": setting, "method": method, "n_splits": len(g)}
        extra = [c for c in ("steps", "best_step", "train_seconds") if c in g]
        for m in metrics + extra:
            v = g[m].to_numpy(dtype=float)
            ok = v[np.isfinite(v)]
            # a method with no finite value (e.g. an empty strict panel) stays NaN, quietly
            rec[f"{m}_mean"] = float(ok.mean()) if len(ok) else math.nan
            rec[f"{m}_std"] = float(ok.std(ddof=1)) if len(ok) > 1 else 0.0
        rec["n_splits"] = int(np.isfinite(g["r2_z"].to_numpy(dtype=float)).sum())
        rows.append(rec)
    df = pd.DataFrame(rows)
    order_s = {n: i for i, (n, _) in enumerate(settings(cfg))}
    order_m = {m: i for i, m in enumerate(cfg.methods)}
    df["_s"] = df["setting"].map(order_s).fillna(99)
    df["_m"] = df["method"].map(order_m).fillna(99)
    return df.sort_values(["_s", "_m"]).drop(columns=["_s", "_m"]).reset_index(drop=True)


def markdown_table(summary: pd.DataFrame) -> str:
    """Markdown table ``setting | method | metric (mean ± std over splits) ... | steps | splits``.

    The steps column (optimiser steps run / step of the restored best epoch, means over
    splits) appears when the summary has it, so the budget of every row can be read off.
    """
    metrics = [m for m in ("r2_z", "causal_fraction", "asthma_auc") if f"{m}_mean" in summary]
    steps = "steps_mean" in summary
    head = (["setting", "method"] + [METRIC_LABELS[m] for m in metrics]
            + (["optimiser steps: run / at best epoch"] if steps else []) + ["splits"])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for _, r in summary.iterrows():
        cells = [str(r["setting"]), METHOD_LABELS.get(r["method"], r["method"])]
        cells += [f"{r[f'{m}_mean']:.3f} ± {r[f'{m}_std']:.3f}"
                  if np.isfinite(r[f"{m}_mean"]) else "—" for m in metrics]
        if steps:
            run, best = r["steps_mean"], r.get("best_step_mean", math.nan)
            cells.append("0 (not trained)" if run == 0 else
                         f"{run:.0f} / {best:.0f}" if np.isfinite(best) and best > 0
                         else (f"{run:.0f}" if np.isfinite(run) else "—"))
        cells.append(str(int(r["n_splits"])))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def table_legend(methods: list[str]) -> str:
    """What the controls, ablations and the two losses in ``methods`` are (for ``table.md``)."""
    notes = {
        "gemcont": "GEMCONT (CLIP loss): open_clip's symmetric InfoNCE, positive pair kept in "
                   "the softmax denominator.",
        "gemcont_dcl": "GEMCONT (DCL loss): the paper's equation (2), positive pair left out of "
                       "the denominator.",
        "untrained": "untrained encoder: the same phenotype encoder at its seeded "
                     "initialisation (the one every method starts from), no optimiser step.",
        "gemcont_permuted": "permuted genotypes: GEMCONT with the genotype rows shuffled among "
                            "the training individuals (fixed seed per split); a gain over the "
                            "untrained encoder that survives it is not genetic.",
        "gemcont_mlp": "MLP genetic projector: Linear-BN-ReLU-Linear instead of the linear "
                       "projector (the paper's Table 1 ablation).",
        "gemcont_strict": "panel p < 5e-8: the panel built at genome-wide significance instead "
                          "of the study's panel_p (the paper's Table 1 ablation).",
        "frozen_mean": "RetFound-style: the frozen backbone's patch tokens averaged, nothing "
                       "trained (no attention pooling, no head).",
    }
    return "\n".join(f"- {notes[m]}" for m in methods if m in notes)


def plot_summary(summary: pd.DataFrame, path: str | os.PathLike, title: str = "") -> Path:
    """One row per metric; groups = settings; bars = methods; error bars = std over splits."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics = [m for m in ("r2_z", "causal_fraction", "asthma_auc") if f"{m}_mean" in summary]
    sets = list(dict.fromkeys(summary["setting"]))
    methods = list(dict.fromkeys(summary["method"]))
    colors = {"gemcont": "#c0392b", "gemcont_dcl": "#e74c3c", "simclr": "#2e86c1",
              "vae": "#27ae60", "supervised": "#7f8c8d", "prs": "#8e44ad", "fev1fvc": "#d68910",
              "untrained": "#bdc3c7", "gemcont_permuted": "#f5b7b1", "gemcont_mlp": "#922b21",
              "gemcont_strict": "#f1948a", "frozen_mean": "#16a085"}
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
    n_rows = math.ceil(len(methods) / 4)
    axes[0, 0].legend(fontsize=6, ncol=min(len(methods), 4), loc="lower center",
                      bbox_to_anchor=(0.5, 1.02 + (0.05 if title else 0.0)), frameon=False)
    if n_rows > 2:
        fig.set_figheight(fig.get_figheight() + 0.25 * n_rows)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return path


def write_outputs(summary: pd.DataFrame, runs: pd.DataFrame, cfg: StudyConfig, out: Path,
                  wall_seconds: float = math.nan, source: dict[str, Any] | None = None) -> None:
    """``summary.tsv``, ``table.md``, ``figure.png``, ``manifest.json`` in ``out``.

    ``source``: the code state when the invocation started (:func:`_source_state`; read now
    when not given). A manifest records it, and the state at the end when that differs.
    """
    from importlib.metadata import PackageNotFoundError, version

    summary.to_csv(out / "summary.tsv", sep="\t", index=False, float_format="%.5g")
    scale = (f"task {cfg.task}; N_train {cfg.n_train}, held-out {cfg.n_heldout}, external GWAS "
             f"{cfg.n_external}; {cfg.n_chromosomes} chromosomes x {cfg.chrom_length_mb:g} Mb; "
             f"h_g {cfg.h_g:g}, {cfg.n_causal} causal; "
             + (f"alpha_max {cfg.alpha_max:g}, " if cfg.task == "rotation" else
                f"asthma prevalence {cfg.asthma_prevalence:g}, ")
             + f"image {cfg.image_size}px; {cfg.n_splits} splits; training "
             + ", ".join(f"{k} {v}" for k, v in cfg.train.items()))
    panels = []
    for setting, g in runs.groupby("setting", sort=False):
        sizes = g.dropna(subset=["panel_size"]).groupby("panel_p", sort=True)["panel_size"].first()
        text_p = ", ".join(f"p < {pp:g}: {int(n)} variants" for pp, n in sizes.items())
        panels.append(f"{setting}: {text_p or 'no genetic method'}, "
                      f"h_g {g['realised_h_g'].iloc[0]:.3f}")
    legend = table_legend(list(cfg.methods))
    text = [f"# Simulation study ({cfg.task})", "", scale, "",
            "Mean ± std over random splits; metrics on held-out individuals (see "
            "`learners/gemcont/study.py`). Causal recovery mode: "
            f"`{cfg.recovery_mode}`, p < {cfg.p_threshold:g}, scan of {cfg.scan_pca} PCs of "
            "the embedding.", "",
            "Budget rule: every trained method runs the same number of optimiser steps "
            f"(train.max_steps = {cfg.train.get('max_steps', 0)}), with early stopping on the "
            f"validation loss of {100 * cfg.val_fraction:g} % of the training individuals "
            "(patience "
            f"{cfg.train.get('patience', '')} epochs) and the best epoch's weights restored; "
            "curves in `curves/`.", "", markdown_table(summary), legend, "",
            "Panel sizes and realised h_g per setting: " + "; ".join(panels), ""]
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
    now = _source_state()
    manifest.update(source or now)
    if source is not None and now != source:
        manifest["source_at_end"] = now
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")


def source_changes() -> list[str] | None:
    """Uncommitted changes to the code the study runs (``git status --porcelain`` of
    ``gwaskit``, ``learners`` and the packaging files); ``None`` when git cannot tell."""
    import subprocess

    root = Path(__file__).resolve().parents[2]
    try:
        out = subprocess.run(["git", "status", "--porcelain", "--", "gwaskit", "learners",
                              "pyproject.toml"], capture_output=True, text=True, cwd=root,
                             timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    return sorted(line[3:] for line in out.stdout.splitlines() if line.strip())

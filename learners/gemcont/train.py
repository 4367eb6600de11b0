"""The training loop: plain PyTorch, one device, checkpoint every epoch, exact resume.

* Optimiser: AdamW (lr 3e-4, weight decay 1e-4) with no decay on ``logit_scale``, biases and
  norm parameters; learning rate set **per step**: linear warm-up ``base·(step+1)/W`` over
  ``W = warmup_epochs × steps per epoch``, then ``½(1 + cos(π·e/E))·base`` with ``e = step − W``,
  ``E = total − W`` (``open_clip_train/scheduler.py: cosine_lr``).
* ``logit_scale`` clamped to ``[0, ln 100]`` after every optimiser step.
* CUDA: bf16 autocast (losses computed in fp32); ``precision: fp16`` adds a GradScaler. CPU: fp32.
* Reproducibility: :func:`seed_everything` seeds python, numpy, torch (and CUDA) and
  ``PYTHONHASHSEED``; the batch sampler, the augmentations and SCARF draw from their own
  :class:`torch.Generator`, loader workers are seeded from a seeded generator. On CPU the same
  seed gives the same weights and embeddings.
* Checkpoints (``out_dir/last.pt`` every epoch, ``best.pt`` on a new best validation loss) hold
  only tensors and primitives (``torch.load(weights_only=True)`` works) and are written to a
  temporary file then ``os.replace``\\d. They restore model, optimiser, scheduler, scaler, every
  RNG state and the early-stopping counters: 2 epochs straight equal 1 + resume + 1 on CPU.
  A checkpoint is always read onto the CPU first (``torch.set_rng_state`` and
  ``Generator.set_state`` take CPU byte tensors whatever the device); model and optimiser
  states then move to the training device as they are loaded, so a run saved on one device
  resumes on another.
* Image augmentation needs images: asking for it on cached tokens or vectors is an error
  (:class:`InputError`), not a silent no-op. ``augment`` may name a preset or ``paper``
  (:func:`.augment.resolve_augment`); the resolved transforms are logged.
* Budget: ``max_steps`` > 0 trains exactly that many optimiser steps (the epoch count is
  derived and the last epoch may be partial; the cosine schedule ends there), so every method
  and cohort size can get the same number of steps.
* Early stopping (``early_stopping``, and always for ``supervised``): after every epoch the
  validation loss is computed on the ``val`` split (no SCARF; SimCLR's two views are drawn
  from a generator reseeded at every validation, so every epoch sees the same views); after
  ``patience`` epochs without a lower one training stops, and when training ends (stopped or
  budget spent) the weights of the best epoch are restored — the same weights ``best.pt``
  holds. ``last.pt`` keeps the last epoch's, for resuming.
* Training curve: one JSON line per epoch (``epoch``, ``step``, ``train_loss``, ``val_loss``,
  ``lr``, ``time_s`` = seconds of training, validation and checkpointing since this process
  started fitting, ``samples_per_s``, ``best``, the method's logs) to ``metrics_path``
  (default ``out_dir/metrics.jsonl``), so convergence can be checked after the fact.
* Throughput: images may be held as uint8 and are scaled/normalised on the device per batch;
  the loss, its finiteness and the logged metrics are read back to the host only every
  ``log_every`` steps and at the end of an epoch (:attr:`Trainer.host_syncs` counts the reads),
  so a non-finite loss raises at the next read, at most ``log_every`` steps late; the training
  DataLoader is built once (persistent workers when ``num_workers`` > 0); on CUDA
  ``cudnn_benchmark``, ``channels_last`` and ``compile`` (``nn.Module.compile`` in place, so
  checkpoint keys do not change) are options; ``genetic_dtype: float16`` halves the host copy
  of the genetic input (cast to float32 on the device).
"""
from __future__ import annotations

import json
import math
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gwaskit._log import logger
from gwaskit.errors import InputError

from .augment import Augment, describe
from .config import GemcontConfig
from .data import Cohort, InstanceBatchSampler, make_loader, to_float_images
from .models import build_model, param_groups
from .scarf import scarf_corrupt

CHECKPOINT_FORMAT = "gemcont-checkpoint/1"


def seed_everything(seed: int) -> None:
    """Seed python, numpy, torch (CPU and CUDA) and ``PYTHONHASHSEED``."""
    os.environ["PYTHONHASHSEED"] = str(seed)
    random.seed(seed)
    np.random.seed(seed % 2 ** 32)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)


def resolve_device(name: str = "auto") -> torch.device:
    """``cuda`` when available (``auto``), else ``cpu``; explicit names are checked."""
    if name in ("", "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise InputError(f"option device={name}: CUDA is not available on this machine")
    try:
        return torch.device(name)
    except RuntimeError:
        raise InputError(f"option device={name!r}: not a torch device") from None


class CosineWarmup:
    """Per-step linear warm-up then cosine decay of every parameter group's learning rate."""

    def __init__(self, optimizer: torch.optim.Optimizer, base_lr: float, warmup_steps: int,
                 total_steps: int):
        self.optimizer, self.base_lr = optimizer, base_lr
        self.warmup, self.total = int(warmup_steps), max(1, int(total_steps))
        self.step_num = 0

    def lr_at(self, step: int) -> float:
        if step < self.warmup:
            return self.base_lr * (step + 1) / self.warmup
        e, big_e = step - self.warmup, self.total - self.warmup
        if big_e <= 0:
            return self.base_lr
        return 0.5 * (1 + math.cos(math.pi * min(e, big_e) / big_e)) * self.base_lr

    def apply(self) -> float:
        """Set the learning rate for the coming step; returns it."""
        lr = self.lr_at(self.step_num)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        return lr

    def step(self) -> None:
        self.step_num += 1

    def state_dict(self) -> dict[str, Any]:
        return {"step_num": self.step_num, "warmup": self.warmup, "total": self.total,
                "base_lr": self.base_lr}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.step_num = int(state["step_num"])
        self.warmup, self.total = int(state["warmup"]), int(state["total"])
        self.base_lr = float(state["base_lr"])


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> Path:
    """``torch.save`` to a temporary file in the same directory, then ``os.replace``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu"
                    ) -> dict[str, Any]:
    """Load a checkpoint with ``weights_only=True``; bad files raise :class:`InputError`."""
    if not os.path.exists(path):
        raise InputError(f"{path}: checkpoint not found")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure is the user's file
        raise InputError(f"{path}: not a readable checkpoint ({type(exc).__name__})") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise InputError(f"{path}: not a GEMCONT checkpoint")
    return ckpt


def _np_state() -> dict[str, Any]:
    st = np.random.get_state(legacy=False)
    return {"key": torch.from_numpy(st["state"]["key"].astype(np.int64)),
            "pos": int(st["state"]["pos"]), "has_gauss": int(st["has_gauss"]),
            "gauss": float(st["gauss"])}


def _set_np_state(st: dict[str, Any]) -> None:
    np.random.set_state({"bit_generator": "MT19937",
                         "state": {"key": st["key"].numpy().astype(np.uint32), "pos": st["pos"]},
                         "has_gauss": st["has_gauss"], "gauss": st["gauss"]})


class _Progress:
    """tqdm bar (when installed and wanted) with samples/s and loss; else periodic log lines."""

    def __init__(self, total: int, desc: str, enabled: bool, log_every: int):
        self.bar = None
        self.log_every, self.desc, self.total = max(1, log_every), desc, total
        if enabled and sys.stderr.isatty():
            try:
                from tqdm.auto import tqdm

                self.bar = tqdm(total=total, desc=desc, unit="batch", leave=False)
            except ImportError:
                self.bar = None

    def update(self, i: int, loss: float, rate: float) -> None:
        if self.bar is not None:
            self.bar.set_postfix(loss=f"{loss:.4f}", samples_s=f"{rate:.0f}")
            self.bar.update(1)
        elif (i + 1) % self.log_every == 0:
            logger.info("%s step %d/%d loss %.4f %.0f samples/s", self.desc, i + 1, self.total,
                        loss, rate)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


class Trainer:
    """Train GEMCONT (or a baseline) on a :class:`Cohort`.

    Parameters
    ----------
    cfg : GemcontConfig
    cohort : Cohort
        Needs ``g`` for ``gemcont``/``prs`` and ``y`` for ``supervised``.
    out_dir : path, optional
        Where checkpoints go (default ``cfg.out_dir``); ``None``/"" keeps them in memory only.
    trust_code : bool or str
        Allow a ``module:callable`` ``backbone_factory`` (never implied by the configuration;
        see :func:`.encoders.resolve_backbone_factory`).
    metrics_path : path, optional
        JSON-lines file receiving one record per epoch (appended); default
        ``out_dir/metrics.jsonl`` when there is an ``out_dir``, none otherwise.
    """

    def __init__(self, cfg: GemcontConfig, cohort: Cohort, out_dir: str | None = None,
                 trust_code: bool | str = False, metrics_path: str | os.PathLike | None = None):
        cfg.validate(trust_code)
        self.cfg, self.cohort = cfg, cohort
        self.out_dir = Path(cfg.out_dir if out_dir is None else out_dir) if (
            out_dir or (out_dir is None and cfg.out_dir)) else None
        self.device = resolve_device(cfg.device)
        seed_everything(cfg.seed)
        needs_g = cfg.method in ("gemcont", "prs")
        if needs_g and cohort.g is None:
            raise InputError(f"method {cfg.method}: the cohort has no genetic input")
        if cfg.method == "supervised" and cohort.y is None:
            raise InputError("method supervised: the cohort has no target (supervised_target)")
        g_dtype = torch.float16 if cfg.genetic_dtype == "float16" else torch.float32
        self.train_ds = cohort.dataset("train", g_dtype=g_dtype)
        self.val_ds = cohort.dataset("val", g_dtype=g_dtype)
        if len(self.train_ds) < 2:
            raise InputError("fewer than 2 training individuals")
        n_genetic = 0 if cohort.g is None else cohort.g.shape[1]
        n_targets = 1 if cohort.y is None else cohort.y.shape[1]
        check_augment_inputs(cfg, cohort.source.shape)
        self.model = build_model(cfg, cohort.source.shape, n_genetic, cohort.betas,
                                 n_targets, trust_code=trust_code).to(self.device)
        cuda = self.device.type == "cuda"
        if cuda:
            torch.backends.cudnn.benchmark = bool(cfg.cudnn_benchmark)
        self.channels_last = bool(cfg.channels_last and cuda and len(cohort.source.shape) == 3)
        if self.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        if cfg.compile and cuda:
            # in place: parameters and state_dict keys stay those of the plain module
            self.model.encoder.compile()
        self.host_syncs = 0      # device-to-host reads in the training loop (see log_every)
        self._loader = None
        self.meta = {"input_shape": list(cohort.source.shape), "n_genetic": int(n_genetic),
                     "n_targets": int(n_targets)}
        # generators: sampler on CPU; augmentation and SCARF on the training device
        self.g_sampler = torch.Generator().manual_seed(cfg.seed + 1)
        self.g_augment = torch.Generator(device=self.device).manual_seed(cfg.seed + 2)
        self.g_scarf = torch.Generator(device=self.device).manual_seed(cfg.seed + 3)
        self.augment_spec = cfg.augment_spec()
        self.augment = Augment(self.augment_spec, self.g_augment)
        if self.augment:
            logger.info("%s: augmentation %s %s", cfg.method, describe(self.augment_spec),
                        self.augment_spec)
        self.sampler = InstanceBatchSampler(self.train_ds.counts, cfg.batch_size, self.g_sampler)
        self.steps_per_epoch = len(self.sampler)
        # the budget: max_steps when set (same for every method and cohort size), else epochs
        self.total_steps = int(cfg.max_steps) or cfg.epochs * self.steps_per_epoch
        self.max_epochs = math.ceil(self.total_steps / self.steps_per_epoch)
        self.optimizer = torch.optim.AdamW(param_groups(self.model, cfg.weight_decay), lr=cfg.lr,
                                           weight_decay=cfg.weight_decay)
        warmup = int(cfg.warmup_steps) or round(cfg.warmup_epochs * self.steps_per_epoch)
        self.scheduler = CosineWarmup(self.optimizer, cfg.lr, min(warmup, self.total_steps),
                                      self.total_steps)
        prec = cfg.precision
        if prec == "auto":
            prec = "bf16" if self.device.type == "cuda" else "fp32"
        self.precision = prec
        self.amp_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(prec)
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=(prec == "fp16"))
        self.scarf_pool = None
        if needs_g and cfg.scarf_pool == "cohort":
            self.scarf_pool = self.train_ds.g.to(self.device).float()
        self.epoch = 0
        self.best_val = float("inf")
        self.best_epoch = 0
        self.bad_epochs = 0
        self.stopped_early = False
        # weights of the best validation epoch, kept in memory so that they can be restored
        # without an out_dir (the study trains without checkpoints)
        self._best_state: dict[str, torch.Tensor] | None = None
        self.early_stopping = bool(cfg.early_stopping or cfg.method == "supervised")
        self.history: list[dict[str, float]] = []
        if metrics_path is None and self.out_dir is not None:
            metrics_path = self.out_dir / "metrics.jsonl"
        self.metrics_path = Path(metrics_path) if metrics_path else None
        self._fit_seconds = 0.0

    # ------------------------------------------------------------------ one batch
    def _to_device(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        nb = self.device.type == "cuda"
        out = {k: v.to(self.device, non_blocking=nb) for k, v in batch.items()}
        # uint8 images and float16 dosages cross to the device compact, widen there
        x = to_float_images(out["x"])
        if x.dim() == 4 and (self.cfg.pixel_mean != 0.0 or self.cfg.pixel_std != 1.0):
            x = (x - self.cfg.pixel_mean) / self.cfg.pixel_std
        if self.channels_last and x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        out["x"] = x
        if "g" in out:
            out["g"] = out["g"].float()
        return out

    def _corrupt(self, g: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        if self.cfg.scarf_p <= 0:
            return g
        if self.scarf_pool is not None:
            return scarf_corrupt(g, self.cfg.scarf_p, self.g_scarf, self.scarf_pool, idx)
        return scarf_corrupt(g, self.cfg.scarf_p, self.g_scarf)

    def _autocast(self):
        return torch.autocast(self.device.type, dtype=self.amp_dtype,
                              enabled=self.amp_dtype is not None)

    def train_step(self, batch: dict[str, torch.Tensor]) -> tuple[float, dict[str, float]]:
        """One optimiser step on a (device) batch; returns the loss and logs as floats.

        Reads the loss back (one host sync); the epoch loop uses :meth:`_step`, which does not.
        """
        loss, logs = self._step(batch)
        loss_f = float(loss)
        if not math.isfinite(loss_f):
            raise FloatingPointError(f"non-finite loss at step {self.scheduler.step_num}")
        return loss_f, {k: float(v) for k, v in logs.items()}

    def _step(self, batch: dict[str, torch.Tensor]
              ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """One optimiser step; the loss and logs stay on the device (no host sync)."""
        self.scheduler.apply()
        with self._autocast():
            loss, logs = self.model.training_loss(
                batch, self.augment if self.augment else None, self._corrupt)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        if self.cfg.grad_clip > 0:
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.model.after_step()
        self.scheduler.step()
        return loss.detach(), logs

    # ------------------------------------------------------------------ epochs
    @property
    def loader(self) -> torch.utils.data.DataLoader:
        """The training DataLoader, built once (persistent workers when ``num_workers`` > 0).

        Each epoch's ``iter(loader)`` draws a new order from the checkpointed sampler
        generator, so one loader gives the same batches as one loader per epoch.
        """
        if self._loader is None:
            self._loader = make_loader(self.train_ds, self.sampler, self.cfg.num_workers,
                                       seed=self.cfg.seed * 1000,
                                       pin_memory=self.device.type == "cuda",
                                       persistent=self.cfg.num_workers > 0)
        return self._loader

    def _read(self, values: list[torch.Tensor]) -> list[float]:
        """One device-to-host transfer of several scalars (counted in :attr:`host_syncs`)."""
        self.host_syncs += 1
        return torch.stack([v.detach().float().reshape(()) for v in values]).cpu().tolist()

    def train_epoch(self) -> dict[str, float]:
        self.model.train()
        # the last epoch of a max_steps budget may be partial
        n_steps = min(self.steps_per_epoch, self.total_steps - self.scheduler.step_num)
        bar = _Progress(n_steps, f"epoch {self.epoch + 1}/{self.max_epochs}",
                        self.cfg.progress, self.cfg.log_every)
        every = max(1, int(self.cfg.log_every))
        total = torch.zeros((), dtype=torch.float64, device=self.device)
        n_seen, t0 = 0, time.perf_counter()
        logs: dict[str, torch.Tensor] = {}
        mean_loss, read_logs = float("nan"), []
        for i, batch in enumerate(self.loader):
            batch = self._to_device(batch)
            loss, logs = self._step(batch)
            total += loss.double() * len(batch["idx"])
            n_seen += len(batch["idx"])
            if (i + 1) % every == 0 or i + 1 == n_steps:
                # the only host sync: a non-finite loss poisons the running sum, so it is
                # caught here (at most log_every steps after it happened)
                got = self._read([total] + list(logs.values()))
                mean_loss, read_logs = got[0] / n_seen, got[1:]
                if not math.isfinite(mean_loss):
                    raise FloatingPointError(
                        f"non-finite loss by step {self.scheduler.step_num} "
                        f"(checked every {every} steps)")
            bar.update(i, mean_loss, n_seen / max(time.perf_counter() - t0, 1e-9))
            if i + 1 >= n_steps:     # budget reached inside the epoch: stop before loading more
                break
        bar.close()
        dt = time.perf_counter() - t0
        out = {"epoch": self.epoch + 1, "step": self.scheduler.step_num,
               "train_loss": mean_loss if n_seen else 0.0,
               "samples_per_s": n_seen / max(dt, 1e-9), "lr": self.optimizer.param_groups[0]["lr"],
               "epoch_s": dt}
        out.update(dict(zip(logs.keys(), read_logs)))
        return out

    def _validation_augment(self) -> Augment | None:
        """Augmentation for the validation loss: none, except for models whose loss is defined
        by augmented views (SimCLR: two identical views give a loss that only measures how
        spread the embeddings are). Their generator is reseeded at every call, so every epoch
        is scored on the same views and the losses are comparable."""
        if not getattr(self.model, "augment_in_validation", False) or not self.augment:
            return None
        g = torch.Generator(device=self.device).manual_seed(self.cfg.seed + 4)
        return Augment(self.augment_spec, g)

    @torch.no_grad()
    def validation_loss(self) -> float:
        """Mean loss on the validation split (no SCARF; augmentation only where the loss needs
        views, see :meth:`_validation_augment`); NaN if the split has fewer than 2 rows."""
        if len(self.val_ds) < 2:
            return float("nan")
        self.model.eval()
        augment = self._validation_augment()
        sampler = InstanceBatchSampler(self.val_ds.counts, self.cfg.batch_size,
                                       torch.Generator().manual_seed(self.cfg.seed),
                                       shuffle=False, drop_last=False)
        total, n = torch.zeros((), dtype=torch.float64, device=self.device), 0
        for batch in make_loader(self.val_ds, sampler, 0):
            if len(batch["idx"]) < 2:
                continue
            batch = self._to_device(batch)
            with self._autocast():
                loss, _ = self.model.training_loss(batch, augment, None)
            total += loss.detach().double() * len(batch["idx"])
            n += len(batch["idx"])
        return float(total) / n if n else float("nan")

    def fit(self, stop_after: int | None = None) -> list[dict[str, float]]:
        """Train from the current epoch to the budget (or ``stop_after`` more epochs).

        The budget is ``max_steps`` optimiser steps when set, else ``epochs``. Writes
        ``last.pt`` after every epoch, ``best.pt`` on a new best validation loss, and one
        metrics line per epoch. With early stopping (``early_stopping``; always for
        ``supervised``) training stops after ``patience`` epochs without improvement, and once
        training is over (stopped, or budget spent) the best epoch's weights are restored.
        """
        end = self.max_epochs if stop_after is None else min(self.max_epochs,
                                                             self.epoch + stop_after)
        t_fit = time.perf_counter()
        # a run resumed after it stopped early stays stopped
        while (self.epoch < end and self.scheduler.step_num < self.total_steps
               and not self.stopped_early):
            rec = self.train_epoch()
            rec["val_loss"] = self.validation_loss()
            self.epoch += 1
            improved = math.isfinite(rec["val_loss"]) and rec["val_loss"] < self.best_val
            if improved:
                self.best_val, self.bad_epochs, self.best_epoch = rec["val_loss"], 0, self.epoch
                if self.early_stopping:
                    self._best_state = {k: v.detach().clone()
                                        for k, v in self.model.state_dict().items()}
            else:
                self.bad_epochs += 1
            rec["best"] = bool(improved)
            self.history.append(rec)
            logger.info("epoch %d/%d step %d train_loss %.4f val_loss %.4f %.0f samples/s",
                        self.epoch, self.max_epochs, rec["step"], rec["train_loss"],
                        rec["val_loss"], rec["samples_per_s"])
            if self.out_dir is not None:
                self.save(self.out_dir / "last.pt")
                if improved:
                    self.save(self.out_dir / "best.pt")
            self._fit_seconds += time.perf_counter() - t_fit
            t_fit = time.perf_counter()
            self._write_metrics(rec)
            if (self.early_stopping and math.isfinite(rec["val_loss"])
                    and self.bad_epochs >= self.cfg.patience):
                logger.info("early stopping at epoch %d: no validation improvement in %d "
                            "epochs (best epoch %d)", self.epoch, self.cfg.patience,
                            self.best_epoch)
                self.stopped_early = True
                break
        if self.finished:
            self.restore_best()
        return self.history

    @property
    def finished(self) -> bool:
        """Budget spent or stopped early (not a pause of ``fit(stop_after=...)``)."""
        return (self.stopped_early or self.epoch >= self.max_epochs
                or self.scheduler.step_num >= self.total_steps)

    def restore_best(self) -> bool:
        """Load the best validation epoch's weights (early stopping only); whether it did.

        The in-memory copy is used when this process saw that epoch; after a resume it is read
        from ``out_dir/best.pt``.
        """
        if not self.early_stopping or self.best_epoch == 0:
            return False
        state = self._best_state
        if state is None and self.out_dir is not None and (self.out_dir / "best.pt").exists():
            state = load_checkpoint(self.out_dir / "best.pt", "cpu")["model"]
        if state is None:
            logger.info("early stopping: best epoch %d's weights are not available; keeping the "
                        "last epoch's", self.best_epoch)
            return False
        self.model.load_state_dict(state)
        logger.info("restored the weights of epoch %d (validation loss %.4f)", self.best_epoch,
                    self.best_val)
        return True

    def _write_metrics(self, rec: dict[str, Any]) -> None:
        """Append one epoch's record to the metrics file (JSON lines; NaN written as null)."""
        if self.metrics_path is None:
            return
        line = {"method": self.cfg.method, "epoch": rec["epoch"], "step": rec["step"],
                "train_loss": rec["train_loss"], "val_loss": rec["val_loss"], "lr": rec["lr"],
                "time_s": round(self._fit_seconds, 3), "samples_per_s": rec["samples_per_s"],
                "best": rec["best"]}
        line.update({k: v for k, v in rec.items() if k not in line and k != "epoch_s"})
        clean = {k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                 for k, v in line.items()}
        self.metrics_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.metrics_path, "a") as fh:
            fh.write(json.dumps(clean) + "\n")

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume and to export; tensors and primitives only."""
        rng = {"torch": torch.get_rng_state(), "numpy": _np_state(),
               "python": _to_lists(random.getstate()),
               "sampler": self.g_sampler.get_state(), "augment": self.g_augment.get_state(),
               "scarf": self.g_scarf.get_state()}
        if torch.cuda.is_available():
            rng["cuda"] = torch.cuda.get_rng_state_all()
        c = self.cohort
        return {
            "format": CHECKPOINT_FORMAT, "config": self.cfg.to_dict(), "epoch": self.epoch,
            "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(), "scaler": self.scaler.state_dict(),
            "rng": rng, "best_val": self.best_val, "bad_epochs": self.bad_epochs,
            "best_epoch": self.best_epoch, "stopped_early": self.stopped_early,
            "history": self.history, "meta": self.meta,
            "iids": list(c.iids), "fids": list(c.fids) if c.fids else [],
            "split": [str(s) for s in c.split],
        }

    def save(self, path: str | os.PathLike) -> Path:
        return atomic_torch_save(self.state_dict(), path)

    def load_state_dict(self, ckpt: dict[str, Any]) -> None:
        if ckpt["meta"] != self.meta:
            raise InputError(f"checkpoint was made for {ckpt['meta']}, this run has {self.meta}")
        if list(ckpt["iids"]) != list(self.cohort.iids):
            raise InputError("checkpoint individuals differ from this cohort's")
        self.model.load_state_dict(ckpt["model"])
        self.optimizer.load_state_dict(ckpt["optimizer"])
        self.scheduler.load_state_dict(ckpt["scheduler"])
        self.scaler.load_state_dict(ckpt["scaler"])
        # RNG states are CPU byte tensors for every generator, CUDA ones included; a
        # checkpoint mapped onto another device must come back before they are set
        rng = {k: _cpu(v) for k, v in ckpt["rng"].items()}
        torch.set_rng_state(rng["torch"])
        _set_np_state(rng["numpy"])
        random.setstate(_to_tuples(rng["python"]))
        self.g_sampler.set_state(rng["sampler"])
        self.g_augment.set_state(rng["augment"])
        self.g_scarf.set_state(rng["scarf"])
        if "cuda" in rng and torch.cuda.is_available():
            # a run saved on more GPUs than this machine has restores the ones present
            torch.cuda.set_rng_state_all(list(rng["cuda"])[:torch.cuda.device_count()])
        self.epoch = int(ckpt["epoch"])
        self.best_val, self.bad_epochs = float(ckpt["best_val"]), int(ckpt["bad_epochs"])
        # older checkpoints lack these: no best epoch recorded, not stopped
        self.best_epoch = int(ckpt.get("best_epoch", 0))
        self.stopped_early = bool(ckpt.get("stopped_early", False))
        self._best_state = None      # read from best.pt by restore_best if needed
        self.history = list(ckpt["history"])

    def resume(self, path: str | os.PathLike) -> None:
        """Restore a run from ``path`` (``last.pt``), on whatever device this trainer uses.

        The file is read onto the CPU: loading it straight onto the training device would put
        the RNG states there, and ``torch.set_rng_state`` rejects them.
        """
        self.load_state_dict(load_checkpoint(path, "cpu"))
        logger.info("resumed %s at epoch %d", path, self.epoch)

    def embed(self, split: str | None = None, batch_size: int | None = None) -> np.ndarray:
        """Embeddings of the cohort (instances averaged), see :func:`.export.embed_cohort`."""
        from .export import embed_cohort

        return embed_cohort(self.model, self.cohort, self.cfg, self.device,
                            batch_size or self.cfg.batch_size, split=split)


def _cpu(obj: Any) -> Any:
    """Tensors (also inside lists/dicts) on the CPU; anything else unchanged."""
    if torch.is_tensor(obj):
        return obj.cpu()
    if isinstance(obj, (list, tuple)):
        return type(obj)(_cpu(o) for o in obj)
    if isinstance(obj, dict):
        return {k: _cpu(v) for k, v in obj.items()}
    return obj


def check_augment_inputs(cfg: GemcontConfig, input_shape: tuple[int, ...]) -> None:
    """Refuse image augmentation on inputs that are not images.

    The transforms act on ``(C, H, W)`` images; on cached backbone tokens or on vectors they
    cannot apply, and skipping them silently would train a different model than configured.

    Raises
    ------
    InputError
        ``augment`` is set and the inputs are tokens ``(K, d)`` or vectors ``(F,)``.
    """
    if not Augment(cfg.augment_spec()):
        return
    if len(input_shape) == 3:
        return
    what = "cached backbone tokens" if len(input_shape) == 2 else "vectors, not images"
    hint = (" (token_cache); unset token_cache to run the frozen backbone on augmented images, "
            "or drop augment" if len(input_shape) == 2 else "; drop augment")
    raise InputError(f"option augment: image augmentation requested but the inputs are {what} "
                     f"of shape {tuple(input_shape)}{hint}")


def _to_lists(obj: Any) -> Any:
    if isinstance(obj, tuple):
        return [_to_lists(o) for o in obj]
    return obj


def _to_tuples(obj: Any) -> Any:
    if isinstance(obj, list):
        return tuple(_to_tuples(o) for o in obj)
    return obj


def train(cfg: GemcontConfig, cohort: Cohort | None = None, resume: bool = False,
          trust_code: bool | str = False) -> Trainer:
    """Train per ``cfg`` (loading the cohort from files unless given); returns the trainer.

    Parameters
    ----------
    cfg : GemcontConfig
    cohort : Cohort, optional
        Default: read from the configured files (:func:`.data.load_cohort`).
    resume : bool
        Continue from ``out_dir/last.pt``.
    trust_code : bool or str
        Allow a ``module:callable`` ``backbone_factory``; a configuration alone never can.
    """
    from .encoders import resolve_backbone_factory

    # refuse before any file is read or any token cache is built: an untrusted module path
    # or augmentation on cached tokens fails validation; a trusted path must import
    cfg.validate(trust_code)
    if cfg.backbone_factory:
        resolve_backbone_factory(cfg.backbone_factory, trust_code)
    if cohort is None:
        from .data import load_cohort

        cohort = load_cohort(cfg, trust_code=trust_code)
    trainer = Trainer(cfg, cohort, trust_code=trust_code)
    last = trainer.out_dir / "last.pt" if trainer.out_dir else None
    if resume:
        if last is None or not last.exists():
            raise InputError(f"--resume: no checkpoint at {last}")
        trainer.resume(last)
    trainer.fit()
    return trainer

"""Training configuration: one dataclass, defaults from the project specification.

Defaults follow ``docs``/the learner reference: embedding D = 256 (projections D/2), CLIP loss with
learnable temperature initialised to 0.07 and clamped to ``[0, ln 100]``, SCARF corruption p = 0.1,
AdamW (lr 3e-4, weight decay 1e-4), per-step cosine schedule after a 10-epoch linear warm-up,
batch 1024, 150 epochs.

A configuration is built from defaults, then a YAML/JSON file, then ``key=value`` overrides
(``--set`` on the command line); unknown keys and ill-typed values raise
:class:`gwaskit.errors.InputError` naming the key.

A configuration is data: ``backbone_factory`` names a registered backbone, and a
``module:callable`` path is refused at validation unless the caller passes ``trust_code``
(``--trust-code`` on the command line), which no file or override can set.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
from dataclasses import dataclass, field
from typing import Any

import yaml

from gwaskit.errors import InputError

#: Methods the trainer knows: GEMCONT itself and the baselines sharing its data and export.
METHODS = ("gemcont", "prs", "simclr", "vae", "supervised")
LOSSES = ("clip", "dcl")
PROJECTOR_INITS = ("beta_noise", "beta_first", "random")
GENETIC_PROJECTORS = ("linear", "mlp")
PRECISIONS = ("auto", "bf16", "fp16", "fp32")
SCARF_POOLS = ("batch", "cohort")
GENETIC_DTYPES = ("float32", "float16")


@dataclass
class GemcontConfig:
    """All knobs of a GEMCONT (or baseline) run.

    Attributes
    ----------
    method : str
        ``gemcont`` (default), ``prs`` (genetic branch fed one polygenic score), ``simclr``,
        ``vae`` or ``supervised``. The MLP-projector ablation is ``gemcont`` with
        ``genetic_projector: mlp``.
    encoder : str
        Phenotype encoder from the registry (:mod:`learners.gemcont.encoders`): ``cnn``, ``mlp``
        or ``frozen-backbone``.
    embed_dim : int
        D, the phenotype embedding size (exported). Projections have ``embed_dim // 2`` units.
    projector_init : str
        Genetic projector initialisation: ``beta_noise`` (every output unit = beta/|beta| plus
        N(0, ``init_noise``²) noise, so each unit starts as a scaled polygenic score),
        ``beta_first`` (first unit = beta/|beta|, the rest Xavier-uniform) or ``random``
        (Xavier-uniform). Beta-based choices need panel betas; otherwise ``random`` is used
        with a warning.
    loss : str
        ``clip``: symmetric InfoNCE as in ``open_clip`` (the positive pair stays in the softmax
        denominator); ``dcl``: the positive pair left out of the denominator, which is the
        paper's equation (2) as written. ``clip`` is the default because it is the
        open_clip convention the trainer follows elsewhere; the simulation study runs both
        (methods ``gemcont`` and ``gemcont_dcl``) and reports both.
    scarf_p : float
        SCARF corruption probability on the genetic input (0 disables).
    scarf_pool : str
        Donor pool for SCARF: ``batch`` (another individual of the same batch) or ``cohort``
        (any training individual; needs the N x S matrix on the device).
    augment : dict or str
        Image augmentation: a mapping of transforms, or a preset name (``rotation``,
        ``spirometry``, ``fundus``, ``simclr``, ``none``) or ``paper`` (the paper's recipe for
        ``task``, SimCLR's standard pair for ``method: simclr``); see
        :func:`.augment.resolve_augment`. Every trained method applies it (SimCLR draws its
        two views from it).
    task : str
        Experiment the data come from (``rotation``, ``spirometry``, ``fundus``); only
        ``augment: paper`` reads it.
    max_steps : int
        Training budget in optimiser steps (0: ``epochs`` x steps per epoch). When set, the
        number of epochs is derived (the last may be partial) and the cosine schedule ends at
        ``max_steps``, so methods and cohort sizes can be given the same budget.
    warmup_steps : int
        Warm-up length in steps (0: ``warmup_epochs`` x steps per epoch).
    early_stopping : bool
        Stop after ``patience`` epochs without a lower validation loss and restore the best
        epoch's weights (needs a validation split). The supervised baseline always stops
        early (its historical behaviour); with this option it also gets its best weights back.
    patience : int
        Epochs without improvement of the validation loss before stopping.
    """

    # --- run
    method: str = "gemcont"
    seed: int = 0
    device: str = "auto"
    precision: str = "auto"
    out_dir: str = "runs/gemcont"
    epochs: int = 150
    batch_size: int = 1024
    num_workers: int = 0
    progress: bool = True
    log_every: int = 50   # steps between host syncs (loss read back, finiteness checked)
    max_steps: int = 0    # > 0: optimiser-step budget (epochs derived from it)
    # --- throughput (results unchanged on CPU; compile/channels_last may change GPU rounding)
    channels_last: bool = False     # NHWC memory format for CNN images on CUDA
    cudnn_benchmark: bool = True    # let cuDNN pick convolution algorithms (CUDA only)
    compile: bool = False           # torch.compile the model (CUDA only)
    genetic_dtype: str = "float32"  # float16 halves host memory of the genetic input
    # --- optimiser and schedule
    lr: float = 3e-4
    weight_decay: float = 1e-4
    warmup_epochs: float = 10.0
    warmup_steps: int = 0           # > 0: warm-up in steps (replaces warmup_epochs)
    grad_clip: float = 0.0
    # --- model
    encoder: str = "cnn"
    embed_dim: int = 256
    cnn_widths: list = field(default_factory=lambda: [32, 64, 128, 256])
    cnn_blocks: int = 1
    mlp_hidden: int = 512
    genetic_projector: str = "linear"
    genetic_hidden: int = 512
    projector_init: str = "beta_noise"
    init_noise: float = 0.01
    export_representation: str = "encoder"
    # --- frozen backbone
    backbone_checkpoint: str = ""
    # a registered name (encoders.BACKBONES); a module:callable path needs --trust-code
    backbone_factory: str = ""
    backbone_kwargs: dict = field(default_factory=dict)
    token_dim: int = 0
    token_cache: str = ""
    attention_dim: int = 128
    # --- loss
    loss: str = "clip"
    init_temperature: float = 0.07
    max_logit_scale: float = math.log(100.0)
    scarf_p: float = 0.1
    scarf_pool: str = "batch"
    # --- baselines
    simclr_temperature: float = 0.1
    vae_beta: float = 1.0
    supervised_target: str = ""
    supervised_binary: bool = False
    patience: int = 50              # epochs without validation improvement
    early_stopping: bool = False    # every method: stop on patience, restore best weights
    # --- data
    images: str = ""
    image_root: str = ""
    image_size: int = 0
    channels: int = 1
    pixel_mean: float = 0.0
    pixel_std: float = 1.0
    genotypes: list = field(default_factory=list)
    sample_file: str = ""
    panel: str = ""
    pcs: str = ""
    n_pcs: int = 20
    targets: str = ""
    val_fraction: float = 0.1
    test_fraction: float = 0.5
    augment: dict | str = field(default_factory=dict)   # mapping, preset name or "paper"
    task: str = ""                  # rotation, spirometry or fundus (for augment: paper)

    # ------------------------------------------------------------------ helpers
    @property
    def proj_dim(self) -> int:
        """Size of both projections (D/2)."""
        return max(1, self.embed_dim // 2)

    def augment_spec(self) -> dict[str, Any]:
        """The resolved ``augment`` mapping (presets and ``paper`` expanded for this method)."""
        from .augment import resolve_augment

        return resolve_augment(self.augment, self.task, self.method)

    def validate(self, trust_code: bool | str = False) -> "GemcontConfig":
        """Check choices and ranges; raise :class:`InputError` naming the option.

        Parameters
        ----------
        trust_code : bool or str
            Allow a ``module:callable`` ``backbone_factory`` (``True``, or that exact string,
            as ``--trust-code`` passes it). It is a parameter and not an option, so that a
            configuration file can never grant it to itself.

        Raises
        ------
        InputError
            A bad choice or range; a ``backbone_factory`` that is neither registered nor
            trusted (nothing is imported); image augmentation asked for together with a
            frozen-backbone ``token_cache`` (the cached tokens are not images).
        """
        choices = {
            "method": METHODS, "loss": LOSSES, "projector_init": PROJECTOR_INITS,
            "genetic_projector": GENETIC_PROJECTORS, "precision": PRECISIONS,
            "genetic_dtype": GENETIC_DTYPES,
            "scarf_pool": SCARF_POOLS, "export_representation": ("encoder", "projection"),
        }
        for key, allowed in choices.items():
            if getattr(self, key) not in allowed:
                raise InputError(
                    f"option {key}={getattr(self, key)!r}: choose one of {', '.join(allowed)}")
        if not 0.0 <= self.scarf_p < 1.0:
            raise InputError(f"option scarf_p={self.scarf_p}: must lie in [0, 1)")
        for key in ("epochs", "batch_size", "embed_dim", "patience"):
            if getattr(self, key) < 1:
                raise InputError(f"option {key}={getattr(self, key)}: must be >= 1")
        for key in ("max_steps", "warmup_steps"):
            if getattr(self, key) < 0:
                raise InputError(f"option {key}={getattr(self, key)}: must be >= 0")
        from .augment import TASKS

        if self.task not in ("",) + TASKS:
            raise InputError(f"option task={self.task!r}: choose one of {', '.join(TASKS)}")
        # resolving here refuses an unknown preset or `paper` without a task at load time
        spec = self.augment_spec()
        if self.init_temperature <= 0:
            raise InputError(f"option init_temperature={self.init_temperature}: must be > 0")
        if not 0 <= self.val_fraction < 1 or not 0 <= self.test_fraction < 1 \
                or self.val_fraction + self.test_fraction >= 1:
            raise InputError("options val_fraction/test_fraction: each in [0, 1), sum < 1")
        if self.backbone_factory:
            from .encoders import check_backbone_factory

            check_backbone_factory(self.backbone_factory, trust_code)
        if self.encoder == "frozen-backbone" and self.token_cache and spec:
            from .augment import Augment

            # transforms act on images; the cache holds backbone tokens, so they could only be
            # skipped, which would silently train another model than the one configured
            if Augment(spec):
                raise InputError("option augment: image augmentation cannot apply to the cached "
                                 "backbone tokens of token_cache; unset token_cache (the frozen "
                                 "backbone then runs on augmented images) or drop augment")
        return self

    def to_dict(self) -> dict[str, Any]:
        """Plain dict of primitives (safe in a ``weights_only`` checkpoint)."""
        return json.loads(json.dumps(dataclasses.asdict(self)))

    def hash(self) -> str:
        """Short SHA-1 of the configuration (sorted JSON), written into exports."""
        text = json.dumps(self.to_dict(), sort_keys=True)
        return hashlib.sha1(text.encode()).hexdigest()[:12]

    @classmethod
    def from_dict(cls, values: dict[str, Any], source: str = "config") -> "GemcontConfig":
        """Build from a mapping, rejecting unknown keys."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise InputError(f"{source}: unknown option(s) {', '.join(unknown)}")
        cfg = cls()
        for key, value in values.items():
            if key == "augment" and isinstance(value, str):
                cfg.augment = value         # a preset name (checked by validate)
                continue
            setattr(cfg, key, _coerce(key, value, getattr(cfg, key), source))
        return cfg


def _coerce(key: str, value: Any, default: Any, source: str) -> Any:
    """Coerce ``value`` to the type of the field's default."""
    try:
        if isinstance(default, bool):
            if isinstance(value, str):
                low = value.strip().lower()
                if low in ("1", "true", "yes", "on"):
                    return True
                if low in ("0", "false", "no", "off"):
                    return False
                raise ValueError(value)
            return bool(value)
        if isinstance(default, int):
            if isinstance(value, float) and not value.is_integer():
                raise ValueError(value)
            return int(value)
        if isinstance(default, float):
            return float(value)
        if isinstance(default, str):
            return "" if value is None else str(value)
        if isinstance(default, list):
            if isinstance(value, str):
                value = [v for v in value.split(",") if v] if value else []
            if not isinstance(value, (list, tuple)):
                value = [value]
            if default and isinstance(default[0], int):
                return [int(v) for v in value]
            return list(value)
        if isinstance(default, dict):
            if value is None:
                return {}
            if not isinstance(value, dict):
                raise ValueError(value)
            return dict(value)
    except (TypeError, ValueError):
        raise InputError(
            f"{source}: option {key}={value!r} is not a valid {type(default).__name__}") from None
    return value


def _parse_scalar(text: str) -> Any:
    """Parse a ``--set`` value with YAML rules (numbers, booleans, lists, dicts)."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def apply_overrides(values: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``key=value`` strings; ``a.b=v`` sets key ``b`` inside dict option ``a``."""
    values = json.loads(json.dumps(values))
    for item in overrides:
        if "=" not in item:
            raise InputError(f"--set {item!r}: expected key=value")
        key, text = item.split("=", 1)
        key = key.strip()
        value = _parse_scalar(text)
        parts = key.split(".")
        target = values
        for part in parts[:-1]:
            nxt = target.get(part)
            if not isinstance(nxt, dict):
                nxt = {}
                target[part] = nxt
            target = nxt
        target[parts[-1]] = value
    return values


def load_config(path: str | os.PathLike | None = None, overrides: list[str] | None = None,
                trust_code: bool | str = False) -> GemcontConfig:
    """Defaults, then a YAML/JSON file, then ``key=value`` overrides; validated.

    Parameters
    ----------
    path : path-like, optional
        YAML (``.yaml``/``.yml``) or JSON file holding a flat mapping of options.
    overrides : list of str, optional
        ``key=value`` strings (YAML-parsed values), applied last.
    trust_code : bool or str
        Passed to :meth:`GemcontConfig.validate`: only the caller (``--trust-code
        MODULE:CALLABLE`` on the command line) can allow a ``module:callable``
        ``backbone_factory``; neither the file nor ``--set`` can (``trust_code`` is not an
        option, so a file naming it is refused as unknown).
    """
    values: dict[str, Any] = {}
    source = "config"
    if path:
        source = str(path)
        if not os.path.exists(path):
            raise InputError(f"{path}: config file not found")
        with open(path) as fh:
            text = fh.read()
        try:
            loaded = json.loads(text) if str(path).endswith(".json") else yaml.safe_load(text)
        except (json.JSONDecodeError, yaml.YAMLError) as exc:
            raise InputError(f"{path}: cannot parse config ({str(exc).splitlines()[0]})") from None
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            raise InputError(f"{path}: config must be a mapping of option: value")
        values.update(loaded)
    if overrides:
        base = GemcontConfig().to_dict()
        base.update(values)
        values = apply_overrides(base, overrides)
        source = f"{source} + --set"
    return GemcontConfig.from_dict(values, source).validate(trust_code)

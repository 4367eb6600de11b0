"""The GEMCONT dual encoder and the genetic projectors.

Phenotype branch: encoder ``f(x) -> e_p ∈ R^D`` (registry in :mod:`.encoders`), one linear
projector to ``R^{D/2}``, L2-normalised ``z_p``. Genetic branch: a linear projector (with bias)
from the S panel variants to ``R^{D/2}``, no hidden layer, L2-normalised ``z_g``; or, for the
ablation, an MLP ``Linear(S, h) → BN → ReLU → Linear(h, D/2)``. The temperature is learnt as
``logit_scale`` (``s = exp(logit_scale)``, initialised to ``log(1/0.07)``) and clamped to
``[0, ln 100]`` after every optimiser step by the trainer (:meth:`GemcontModel.clamp_`).

Every model in this package (GEMCONT and the baselines in :mod:`.baselines`) exposes
``training_loss(batch, augment, corrupt) -> (loss, logs)``, ``embed(x) -> (B, D)`` and
``after_step()``; ``uses_genetics`` says whether it reads the genetic input.
"""
from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from gwaskit._log import logger

from .encoders import build_encoder
from .losses import contrastive_loss

Batch = dict[str, torch.Tensor]


def init_projector_from_betas(layer: nn.Linear, betas: np.ndarray | torch.Tensor | None,
                              mode: str = "beta_noise", noise: float = 0.01,
                              generator: torch.Generator | None = None) -> str:
    """Initialise a linear genetic projector ``W ∈ R^{d_out × S}`` from GWAS betas.

    Parameters
    ----------
    layer : nn.Linear
        Projector with ``in_features == len(betas)``; its bias (if any) is set to zero.
    betas : array (S,), optional
        Panel effect sizes on the scale of the encoder input (per standardised dosage).
    mode : str
        ``beta_noise``: every row = ``β/‖β‖ + N(0, noise²)``, so each output starts as a scaled
        polygenic score (the PRS baseline is the rank-1 limit); ``beta_first``: row 0 =
        ``β/‖β‖``, the others Xavier-uniform; ``random``: Xavier-uniform.
    noise : float
        Standard deviation of the Gaussian noise of ``beta_noise``.

    Returns
    -------
    The mode actually used (``random`` when betas are missing or all zero).
    """
    with torch.no_grad():
        nn.init.xavier_uniform_(layer.weight, generator=generator)
        if layer.bias is not None:
            layer.bias.zero_()
        if mode == "random":
            return mode
        if betas is None:
            logger.info("projector_init=%s but no panel betas: using random", mode)
            return "random"
        b = torch.as_tensor(np.asarray(betas, dtype=np.float32)).to(layer.weight)
        if b.numel() != layer.in_features:
            raise ValueError(f"{b.numel()} betas for a projector of {layer.in_features} inputs")
        norm = torch.linalg.vector_norm(b)
        if not torch.isfinite(norm) or norm == 0:
            logger.info("panel betas are all zero or not finite: projector_init=random")
            return "random"
        u = b / norm
        if mode == "beta_noise":
            eps = torch.randn(layer.weight.shape, generator=generator).to(layer.weight)
            layer.weight.copy_(u.unsqueeze(0) + noise * eps)
        elif mode == "beta_first":
            layer.weight[0].copy_(u)
        else:
            raise ValueError(f"unknown projector_init {mode!r}")
    return mode


class MLPProjector(nn.Module):
    """Ablation genetic projector: ``Linear(S, h) → BatchNorm → ReLU → Linear(h, d_out)``."""

    def __init__(self, n_in: int, hidden: int, d_out: int):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(n_in, hidden), nn.BatchNorm1d(hidden),
                                 nn.ReLU(inplace=True), nn.Linear(hidden, d_out))

    def forward(self, g: torch.Tensor) -> torch.Tensor:
        return self.net(g)


class GemcontModel(nn.Module):
    """Dual encoder trained with the CLIP (or DCL) loss between phenotype and genotype.

    Parameters
    ----------
    cfg : GemcontConfig
    input_shape : tuple
        Phenotype shape without the batch axis.
    n_genetic : int
        S, number of genetic inputs (1 for the PRS baseline).
    betas : array (S,), optional
        Panel betas for the projector initialisation.
    trust_code : bool or str
        Allow a ``module:callable`` backbone factory (:func:`.encoders.build_encoder`).
    restore : bool
        The weights will be loaded from a checkpoint (export, resume): the projector is left
        at its Xavier initialisation, and ``projector_init`` (which needs panel betas the
        exporter does not read) is neither applied nor reported.
    """

    uses_genetics = True

    def __init__(self, cfg: Any, input_shape: tuple[int, ...], n_genetic: int,
                 betas: np.ndarray | None = None, trust_code: bool | str = False,
                 restore: bool = False):
        super().__init__()
        self.loss_name = cfg.loss
        self.max_logit_scale = float(cfg.max_logit_scale)
        self.export_representation = cfg.export_representation
        self.encoder = build_encoder(cfg, input_shape, trust_code=trust_code)
        self.pheno_proj = nn.Linear(cfg.embed_dim, cfg.proj_dim)
        if cfg.genetic_projector == "mlp":
            self.genetic_proj: nn.Module = MLPProjector(n_genetic, cfg.genetic_hidden,
                                                        cfg.proj_dim)
            self.projector_init = "random"
        elif restore:
            self.genetic_proj = nn.Linear(n_genetic, cfg.proj_dim, bias=True)
            self.projector_init = "checkpoint"
        else:
            self.genetic_proj = nn.Linear(n_genetic, cfg.proj_dim, bias=True)
            self.projector_init = init_projector_from_betas(
                self.genetic_proj, betas, cfg.projector_init, cfg.init_noise)
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1.0 / cfg.init_temperature)))

    def encode_phenotype(self, x: torch.Tensor) -> torch.Tensor:
        """``e_p = f(x)``, shape ``(B, D)``."""
        return self.encoder(x)

    def forward(self, x: torch.Tensor, g: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """L2-normalised projections ``(z_p, z_g)``."""
        z_p = F.normalize(self.pheno_proj(self.encoder(x)).float(), dim=1)
        z_g = F.normalize(self.genetic_proj(g).float(), dim=1)
        return z_p, z_g

    def training_loss(self, batch: Batch, augment: Callable, corrupt: Callable
                      ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        x = augment(batch["x"]) if augment is not None else batch["x"]
        g = corrupt(batch["g"], batch["idx"]) if corrupt is not None else batch["g"]
        z_p, z_g = self(x, g)
        loss = contrastive_loss(self.loss_name, z_p, z_g, self.logit_scale)
        with torch.no_grad():
            sim = z_p @ z_g.t()
            acc = (sim.argmax(1) == torch.arange(len(sim), device=sim.device)).float().mean()
        # tensors, not floats: converting here would wait on the device every step; the
        # trainer reads them every ``log_every`` steps
        return loss, {"acc": acc, "temp": (-self.logit_scale.detach()).exp()}

    @torch.no_grad()
    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Exported phenotype representation: ``e_p`` (default) or the projection ``z_p``."""
        e = self.encoder(x)
        if self.export_representation == "projection":
            return F.normalize(self.pheno_proj(e).float(), dim=1)
        return e

    @torch.no_grad()
    def after_step(self) -> None:
        """Clamp ``logit_scale`` to ``[0, ln 100]`` (call after every optimiser step)."""
        self.logit_scale.clamp_(0.0, self.max_logit_scale)

    clamp_ = after_step


def build_model(cfg: Any, input_shape: tuple[int, ...], n_genetic: int = 0,
                betas: np.ndarray | None = None, n_targets: int = 1, trust_code: bool | str = False,
                restore: bool = False) -> nn.Module:
    """Model for ``cfg.method``: GEMCONT/PRS dual encoder or one of the baselines.

    Parameters
    ----------
    cfg : GemcontConfig
    input_shape : tuple of int
        Phenotype shape without the batch axis.
    n_genetic : int
        Number of genetic inputs (GEMCONT/PRS).
    betas : array (S,), optional
        Panel betas for the projector initialisation.
    n_targets : int
        Outputs of the supervised baseline.
    trust_code : bool or str
        Allow a ``module:callable`` backbone factory.
    restore : bool
        Weights come from a checkpoint next: skip the beta-based initialisation.
    """
    from . import baselines

    if cfg.method in ("gemcont", "prs"):
        return GemcontModel(cfg, input_shape, n_genetic, betas, trust_code=trust_code,
                            restore=restore)
    if cfg.method == "simclr":
        return baselines.SimCLRModel(cfg, input_shape, trust_code=trust_code)
    if cfg.method == "vae":
        return baselines.VAEModel(cfg, input_shape, trust_code=trust_code)
    if cfg.method == "supervised":
        return baselines.SupervisedModel(cfg, input_shape, n_targets, trust_code=trust_code)
    raise ValueError(f"unknown method {cfg.method!r}")


def param_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """AdamW groups: no weight decay for ``logit_scale``, biases, norms (all ``ndim < 2``)."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        (no_decay if p.ndim < 2 or name.endswith("logit_scale") else decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay},
            {"params": no_decay, "weight_decay": 0.0}]

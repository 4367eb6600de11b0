"""Baselines on the same data and export as GEMCONT.

* :class:`SimCLRModel`: SimCLR (Chen et al. 2020): two augmented views, encoder + MLP head,
  NT-Xent (:func:`.losses.nt_xent_loss`); embedding = encoder output.
* :class:`VAEModel`: β-VAE; embedding = encoder mean μ (as REGLE); with ``augment`` it
  encodes and reconstructs the augmented image (data augmentation, as for the other methods).
* :class:`SupervisedModel`: encoder + linear head predicting the latent trait (MSE) or a disease
  label (BCE); early stopping on the validation loss is done by the trainer (``patience``).
* PRS baseline: ``method: prs``, the GEMCONT dual encoder whose genetic branch gets one input,
  the panel polygenic score (:func:`.data.prs_input`).
* MLP projector ablation: ``method: gemcont`` with ``genetic_projector: mlp``.
* :class:`MeanTokenModel`: the RetFound-style baseline of the frozen-backbone setting
  (frozen backbone, mean of its patch tokens, nothing trained).
* Untrained control: any model above embedded before its first optimiser step (the study's
  ``untrained`` method uses the shared phenotype encoder at its seeded initialisation).
"""
from __future__ import annotations

import math
from typing import Any, Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

from .encoders import build_encoder
from .losses import nt_xent_loss, vae_loss

Batch = dict[str, torch.Tensor]


class _Base(nn.Module):
    uses_genetics = False

    @torch.no_grad()
    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)

    def after_step(self) -> None:
        pass


class SimCLRModel(_Base):
    """Encoder + projection head ``D → D → D/2`` trained with NT-Xent on two views.

    The two views are two independent draws of the configured augmentation (``augment:
    paper`` or ``simclr`` gives SimCLR's standard recipe, :data:`.augment.PRESETS`).
    """

    # the loss is defined by augmented views: the validation loss uses them too (fixed seed)
    augment_in_validation = True

    def __init__(self, cfg: Any, input_shape: tuple[int, ...], trust_code: bool | str = False):
        super().__init__()
        self.temperature = float(cfg.simclr_temperature)
        self.encoder = build_encoder(cfg, input_shape, trust_code=trust_code)
        self.head = nn.Sequential(nn.Linear(cfg.embed_dim, cfg.embed_dim), nn.ReLU(inplace=True),
                                  nn.Linear(cfg.embed_dim, cfg.proj_dim))

    def training_loss(self, batch: Batch, augment: Callable, corrupt: Callable
                      ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        x = batch["x"]
        v1 = augment(x) if augment is not None else x
        v2 = augment(x) if augment is not None else x
        h = self.head(self.encoder(torch.cat([v1, v2])))
        return nt_xent_loss(h[: len(x)], h[len(x):], self.temperature), {}


class _ImageDecoder(nn.Module):
    """``Linear → (64, s, s)`` then transposed-conv upsampling, resized to ``(C, H, W)``."""

    def __init__(self, latent: int, shape: tuple[int, int, int]):
        super().__init__()
        c, h, w = shape
        n_up = max(1, min(5, int(math.log2(max(h, w) / 4))))
        s = max(1, math.ceil(max(h, w) / 2 ** n_up))
        self.shape, self.s = shape, s
        self.fc = nn.Linear(latent, 64 * s * s)
        layers: list[nn.Module] = []
        ch = 64
        for _ in range(n_up):
            layers += [nn.ConvTranspose2d(ch, max(16, ch // 2), 4, 2, 1), nn.ReLU(inplace=True)]
            ch = max(16, ch // 2)
        layers.append(nn.Conv2d(ch, c, 3, 1, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        y = self.net(F.relu(self.fc(z)).view(-1, 64, self.s, self.s))
        if tuple(y.shape[-2:]) != tuple(self.shape[1:]):
            y = F.interpolate(y, size=self.shape[1:], mode="bilinear", align_corners=False)
        return y


class VAEModel(_Base):
    """β-VAE: ``μ, log σ² = heads(f(x))``, latent size D; embedding = μ."""

    def __init__(self, cfg: Any, input_shape: tuple[int, ...], trust_code: bool | str = False):
        super().__init__()
        self.beta = float(cfg.vae_beta)
        self.encoder = build_encoder(cfg, input_shape, trust_code=trust_code)
        d = cfg.embed_dim
        self.mu = nn.Linear(d, d)
        self.logvar = nn.Linear(d, d)
        self.input_shape = tuple(input_shape)
        if len(input_shape) == 3:
            self.decoder: nn.Module = _ImageDecoder(d, tuple(input_shape))
        else:
            n = int(math.prod(input_shape))
            self.decoder = nn.Sequential(nn.Linear(d, cfg.mlp_hidden), nn.ReLU(inplace=True),
                                         nn.Linear(cfg.mlp_hidden, n))

    def training_loss(self, batch: Batch, augment: Callable, corrupt: Callable
                      ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        # augmentation as data augmentation: the VAE encodes and reconstructs the augmented
        # image, so it trains on the same inputs as every other method
        x = augment(batch["x"]) if augment is not None else batch["x"]
        e = self.encoder(x)
        mu, logvar = self.mu(e).float(), self.logvar(e).float().clamp(-10, 10)
        if self.training:
            z = mu + torch.randn_like(mu) * (0.5 * logvar).exp()
        else:
            z = mu
        recon = self.decoder(z).view(x.shape)
        loss, rec, kl = vae_loss(x, recon, mu, logvar, self.beta)
        return loss, {"rec": rec.detach(), "kl": kl.detach()}   # tensors: no host sync

    @torch.no_grad()
    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.mu(self.encoder(x))


class SupervisedModel(_Base):
    """Encoder + linear head; MSE on a continuous target or BCE on a binary label."""

    def __init__(self, cfg: Any, input_shape: tuple[int, ...], n_targets: int = 1,
                 trust_code: bool | str = False):
        super().__init__()
        self.binary = bool(cfg.supervised_binary)
        self.encoder = build_encoder(cfg, input_shape, trust_code=trust_code)
        self.head = nn.Linear(cfg.embed_dim, n_targets)

    def training_loss(self, batch: Batch, augment: Callable, corrupt: Callable
                      ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        if "y" not in batch:
            raise ValueError("supervised baseline: no target in the batch (set supervised_target)")
        x = augment(batch["x"]) if augment is not None else batch["x"]
        pred = self.head(self.encoder(x)).float()
        y = batch["y"].float().view_as(pred)
        keep = torch.isfinite(y)
        if self.binary:
            loss = F.binary_cross_entropy_with_logits(pred[keep], y[keep])
        else:
            loss = F.mse_loss(pred[keep], y[keep])
        return loss, {}


class MeanTokenModel(nn.Module):
    """Frozen backbone, mean of its patch tokens: the RetFound-style baseline.

    Nothing is trained (no attention pooling, no head): the embedding is the foundation model's
    own representation, the mean over patch tokens ``(B, K, d) -> (B, d)``. It answers whether
    GEMCONT's trained pooling and head add anything over the frozen features. Inputs are images
    (run through the backbone in ``no_grad``/eval mode) or precomputed tokens ``(B, K, d)``.
    """

    uses_genetics = False

    def __init__(self, backbone: nn.Module):
        super().__init__()
        self.backbone = backbone.eval()
        for p in self.backbone.parameters():
            p.requires_grad_(False)

    def train(self, mode: bool = True) -> "MeanTokenModel":
        super().train(mode)
        self.backbone.eval()        # frozen: batch/layer statistics never update
        return self

    @torch.no_grad()
    def embed(self, x: torch.Tensor) -> torch.Tensor:
        from .encoders import backbone_tokens

        tokens = x if x.dim() == 3 else backbone_tokens(self.backbone, x)
        return tokens.float().mean(dim=1)

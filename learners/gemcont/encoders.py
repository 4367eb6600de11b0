"""Phenotype encoders, by name: ``cnn``, ``mlp``, ``frozen-backbone``.

Every encoder maps a batch of phenotypes to ``(B, D)`` embeddings ``e_p``:

* ``cnn``: compact ResNet-style CNN (He et al. 2016 basic blocks, batch norm) for single- or
  multi-channel images from 28x28 up to 256x256; the stem down-samples more for large inputs so
  the cost stays bounded; global average pooling and a linear layer to D.
* ``mlp``: two hidden layers with batch norm for vectors (e.g. curves, expert features).
* ``frozen-backbone``: any torch module loaded from a local checkpoint (e.g. a DINOv2-style ViT
  whose ``forward_features`` returns ``x_norm_patchtokens``), frozen, followed by gated
  attention pooling over patch tokens (Ilse et al. 2018, ICML) and a two-layer MLP. The encoder
  accepts images (runs the backbone under ``no_grad``) or precomputed tokens ``(B, K, d)``.

:class:`TinyViT` is a minimal ViT used in tests and as a template for local checkpoints.
"""
from __future__ import annotations

import importlib
import math
from typing import Any, Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

from gwaskit._log import logger
from gwaskit.errors import InputError

ENCODERS: dict[str, Callable[..., nn.Module]] = {}


def register(name: str) -> Callable:
    """Decorator adding an encoder builder ``fn(cfg, input_shape) -> nn.Module``."""
    def deco(fn: Callable) -> Callable:
        ENCODERS[name] = fn
        return fn
    return deco


def build_encoder(cfg: Any, input_shape: tuple[int, ...]) -> nn.Module:
    """Build the phenotype encoder named by ``cfg.encoder`` for inputs of ``input_shape``.

    ``input_shape`` excludes the batch axis: ``(C, H, W)`` images, ``(F,)`` vectors or
    ``(K, d)`` token sets.
    """
    if cfg.encoder not in ENCODERS:
        raise InputError(f"option encoder={cfg.encoder!r}: choose one of {', '.join(ENCODERS)}")
    return ENCODERS[cfg.encoder](cfg, tuple(input_shape))


# ----------------------------------------------------------------------------- CNN
class BasicBlock(nn.Module):
    """ResNet basic block: two 3x3 convs with batch norm, identity or 1x1 shortcut."""

    def __init__(self, c_in: int, c_out: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.short = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.short = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False),
                                       nn.BatchNorm2d(c_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.short(x))


class ResNetCNN(nn.Module):
    """Compact ResNet for grey (or C-channel) images, 28x28 to 256x256.

    The stem is a 3x3 conv for inputs up to 64 px and a strided 5x5 conv + max-pool (4x down)
    above, so a 256x256 image reaches the first stage at 64x64. Each later stage halves the
    resolution. Output: ``(B, embed_dim)``.
    """

    def __init__(self, in_channels: int, image_size: int, embed_dim: int,
                 widths: list[int] | tuple[int, ...] = (32, 64, 128, 256), blocks: int = 1):
        super().__init__()
        w0 = widths[0]
        if image_size > 64:
            self.stem = nn.Sequential(nn.Conv2d(in_channels, w0, 5, 2, 2, bias=False),
                                      nn.BatchNorm2d(w0), nn.ReLU(inplace=True),
                                      nn.MaxPool2d(3, 2, 1))
        else:
            self.stem = nn.Sequential(nn.Conv2d(in_channels, w0, 3, 1, 1, bias=False),
                                      nn.BatchNorm2d(w0), nn.ReLU(inplace=True))
        layers: list[nn.Module] = []
        c_in = w0
        for i, w in enumerate(widths):
            for j in range(blocks):
                layers.append(BasicBlock(c_in, w, stride=2 if (i > 0 and j == 0) else 1))
                c_in = w
        self.stages = nn.Sequential(*layers)
        self.head = nn.Linear(c_in, embed_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stages(self.stem(x))
        return self.head(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


@register("cnn")
def _build_cnn(cfg: Any, shape: tuple[int, ...]) -> nn.Module:
    if len(shape) != 3:
        raise InputError(f"encoder cnn needs images (C, H, W); got input shape {shape}")
    return ResNetCNN(shape[0], max(shape[1], shape[2]), cfg.embed_dim,
                     widths=list(cfg.cnn_widths), blocks=cfg.cnn_blocks)


# ----------------------------------------------------------------------------- MLP
class MLPEncoder(nn.Module):
    """Flatten, then Linear-BN-ReLU x2 and a linear layer to ``embed_dim``."""

    def __init__(self, n_in: int, hidden: int, embed_dim: int):
        super().__init__()
        self.net = nn.Sequential(
            nn.Flatten(), nn.Linear(n_in, hidden), nn.BatchNorm1d(hidden), nn.ReLU(inplace=True),
            nn.Linear(hidden, hidden), nn.BatchNorm1d(hidden), nn.ReLU(inplace=True),
            nn.Linear(hidden, embed_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


@register("mlp")
def _build_mlp(cfg: Any, shape: tuple[int, ...]) -> nn.Module:
    return MLPEncoder(int(math.prod(shape)), cfg.mlp_hidden, cfg.embed_dim)


# ----------------------------------------------------------------------------- pooling
class GatedAttentionPool(nn.Module):
    """Gated attention pooling (Ilse, Tomczak & Welling 2018, eq. 9).

    ``a_k = softmax_k(wᵀ[tanh(V h_k) ⊙ σ(U h_k)])``, ``z = Σ_k a_k h_k``; softmax over the token
    axis of ``H ∈ R^{B×K×d}``. :attr:`last_attention` keeps the latest ``(B, K)`` map.
    """

    def __init__(self, dim: int, attention_dim: int = 128):
        super().__init__()
        self.V = nn.Linear(dim, attention_dim)
        self.U = nn.Linear(dim, attention_dim)
        self.w = nn.Linear(attention_dim, 1)
        self.last_attention: torch.Tensor | None = None

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        scores = self.w(torch.tanh(self.V(h)) * torch.sigmoid(self.U(h))).squeeze(-1)
        a = torch.softmax(scores.float(), dim=1).to(h.dtype)
        self.last_attention = a.detach()
        return torch.einsum("bk,bkd->bd", a, h)


def backbone_tokens(backbone: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Patch tokens ``(B, K, d)`` of a backbone.

    Uses ``forward_features`` when present (DINOv2 returns a dict with ``x_norm_patchtokens``),
    else ``forward``; a ``(B, d)`` output is treated as one token.
    """
    fn = getattr(backbone, "forward_features", None) or backbone
    out = fn(x)
    if isinstance(out, dict):
        for key in ("x_norm_patchtokens", "patch_tokens", "tokens"):
            if key in out:
                out = out[key]
                break
        else:
            raise InputError("backbone output dict has no x_norm_patchtokens/patch_tokens key")
    if isinstance(out, (tuple, list)):
        out = out[0]
    if out.dim() == 2:
        out = out.unsqueeze(1)
    if out.dim() != 3:
        raise InputError(f"backbone returned shape {tuple(out.shape)}; expected (B, K, d)")
    return out


class FrozenBackboneEncoder(nn.Module):
    """Frozen backbone -> gated attention pooling -> two-layer MLP -> ``(B, D)``.

    Inputs with 3 axes after the batch are treated as ``(C, H, W)`` images and passed through
    the frozen backbone in ``no_grad``/eval mode; inputs ``(B, K, d)`` are precomputed tokens.
    """

    def __init__(self, backbone: nn.Module | None, token_dim: int, embed_dim: int,
                 attention_dim: int = 128):
        super().__init__()
        self.backbone = backbone
        if backbone is not None:
            for p in backbone.parameters():
                p.requires_grad_(False)
            backbone.eval()
        self.pool = GatedAttentionPool(token_dim, attention_dim)
        self.mlp = nn.Sequential(nn.Linear(token_dim, embed_dim), nn.GELU(),
                                 nn.Linear(embed_dim, embed_dim))

    def train(self, mode: bool = True) -> "FrozenBackboneEncoder":
        super().train(mode)
        if self.backbone is not None:
            self.backbone.eval()
        return self

    @torch.no_grad()
    def tokens(self, images: torch.Tensor) -> torch.Tensor:
        if self.backbone is None:
            raise InputError("frozen-backbone: images given but no backbone_checkpoint loaded")
        return backbone_tokens(self.backbone, images)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 4:
            x = self.tokens(x)
        return self.mlp(self.pool(x.to(self.pool.V.weight.dtype)))


def load_backbone(path: str, factory: str = "", kwargs: dict | None = None) -> nn.Module:
    """Load a backbone from a **local** file; nothing is downloaded.

    * with ``factory`` (``"package.module:callable"``): build the module, then load a state dict
      from ``path`` with ``torch.load(weights_only=True)`` (a ``state_dict``/``model`` key is
      unwrapped);
    * without: a TorchScript archive (``torch.jit.load``), else a whole pickled module
      (``torch.load(weights_only=False)``: only for files you trust).
    """
    import os

    if not path or not os.path.exists(path):
        raise InputError(f"backbone_checkpoint {path!r}: file not found")
    if factory:
        mod_name, _, attr = factory.partition(":")
        try:
            fn = getattr(importlib.import_module(mod_name), attr)
        except (ImportError, AttributeError):
            raise InputError(f"backbone_factory {factory!r}: cannot import") from None
        module = fn(**(kwargs or {}))
        state = torch.load(path, map_location="cpu", weights_only=True)
        for key in ("state_dict", "model", "teacher"):
            if isinstance(state, dict) and key in state and isinstance(state[key], dict):
                state = state[key]
                break
        missing, unexpected = module.load_state_dict(state, strict=False)
        if missing or unexpected:
            logger.info("backbone %s: %d missing, %d unexpected keys", path, len(missing),
                        len(unexpected))
        return module
    try:
        return torch.jit.load(path, map_location="cpu")
    except (RuntimeError, ValueError):
        pass
    module = torch.load(path, map_location="cpu", weights_only=False)
    if not isinstance(module, nn.Module):
        raise InputError(f"backbone_checkpoint {path}: not a module; give backbone_factory too")
    return module


@register("frozen-backbone")
def _build_frozen(cfg: Any, shape: tuple[int, ...]) -> nn.Module:
    backbone = None
    if cfg.backbone_checkpoint:
        backbone = load_backbone(cfg.backbone_checkpoint, cfg.backbone_factory,
                                 cfg.backbone_kwargs)
    if len(shape) == 2:          # precomputed tokens (K, d)
        token_dim = shape[1]
    else:
        token_dim = cfg.token_dim
        if not token_dim:
            if backbone is None:
                raise InputError("frozen-backbone on images needs backbone_checkpoint")
            with torch.no_grad():
                token_dim = backbone_tokens(backbone.eval(), torch.zeros(1, *shape)).shape[-1]
    return FrozenBackboneEncoder(backbone, token_dim, cfg.embed_dim, cfg.attention_dim)


# ----------------------------------------------------------------------------- tiny ViT
class TinyViT(nn.Module):
    """Minimal ViT (patch embedding, pre-norm transformer blocks, final norm).

    ``forward_features`` returns a DINOv2-style dict with ``x_norm_clstoken`` and
    ``x_norm_patchtokens`` (``(B, (H/p)·(W/p), dim)``); ``forward`` returns the patch tokens.
    """

    def __init__(self, image_size: int = 28, patch: int = 7, in_channels: int = 1,
                 dim: int = 32, depth: int = 2, heads: int = 2):
        super().__init__()
        self.patch_embed = nn.Conv2d(in_channels, dim, patch, patch)
        n = (image_size // patch) ** 2
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.randn(1, n + 1, dim) * 0.02)
        layer = nn.TransformerEncoderLayer(dim, heads, dim * 2, dropout=0.0, batch_first=True,
                                           norm_first=True)
        self.blocks = nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(dim)
        self.embed_dim = dim

    def forward_features(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        t = self.patch_embed(x).flatten(2).transpose(1, 2)
        t = torch.cat([self.cls_token.expand(t.shape[0], -1, -1), t], dim=1) + self.pos_embed
        t = self.norm(self.blocks(t))
        return {"x_norm_clstoken": t[:, 0], "x_norm_patchtokens": t[:, 1:]}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_features(x)["x_norm_patchtokens"]

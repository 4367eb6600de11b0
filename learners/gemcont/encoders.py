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

Backbones are data, not code: ``backbone_factory`` names an entry of the backbone registry
(:data:`BACKBONES`: ``tiny-vit`` and the DINOv2 ViTs ``dinov2_vits14`` … ``dinov2_vitg14_reg``,
the latter needing the ``dinov2`` package), and ``backbone_kwargs`` are passed to it. A
``module:callable`` path is imported and called only when the caller says so explicitly
(``trust_code=True`` in the library, ``--trust-code MODULE:CALLABLE`` on the command line), so
a configuration file or a checkpoint can never make this package call an arbitrary function.
Weights are read with ``torch.load(weights_only=True)`` only.
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
    """Decorator adding an encoder builder ``fn(cfg, input_shape, trust_code=False)``.

    The builder returns an ``nn.Module``; ``trust_code`` is forwarded from
    :func:`build_encoder` (see :func:`resolve_backbone_factory`).
    """
    def deco(fn: Callable) -> Callable:
        ENCODERS[name] = fn
        return fn
    return deco


def build_encoder(cfg: Any, input_shape: tuple[int, ...],
                  trust_code: bool | str = False) -> nn.Module:
    """Build the phenotype encoder named by ``cfg.encoder`` for inputs of ``input_shape``.

    Parameters
    ----------
    cfg : GemcontConfig
    input_shape : tuple of int
        Without the batch axis: ``(C, H, W)`` images, ``(F,)`` vectors or ``(K, d)`` token sets.
    trust_code : bool or str
        Allow a ``module:callable`` ``backbone_factory`` (see :func:`resolve_backbone_factory`).
    """
    if cfg.encoder not in ENCODERS:
        raise InputError(f"option encoder={cfg.encoder!r}: choose one of {', '.join(ENCODERS)}")
    return ENCODERS[cfg.encoder](cfg, tuple(input_shape), trust_code=trust_code)


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
def _build_cnn(cfg: Any, shape: tuple[int, ...], trust_code: bool | str = False) -> nn.Module:
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
def _build_mlp(cfg: Any, shape: tuple[int, ...], trust_code: bool | str = False) -> nn.Module:
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


#: Named backbone factories ``fn(**backbone_kwargs) -> nn.Module``: the only callables a
#: configuration file may name (see :func:`register_backbone`).
BACKBONES: dict[str, Callable[..., nn.Module]] = {}

#: Why a refused ``module:callable`` needs an explicit opt-in (kept in one place so the library
#: and the command line say the same thing).
TRUST_HINT = ("a module path is imported only when given explicitly: --trust-code MODULE:CALLABLE "
              "on the command line, trust_code=True in the library")


def register_backbone(name: str) -> Callable:
    """Decorator adding a backbone factory ``fn(**kwargs) -> nn.Module`` under ``name``.

    Registered names may appear in configuration files as ``backbone_factory``; registering is
    code, so it happens in Python (a plugin module imported by the user), never from a file.
    """
    def deco(fn: Callable) -> Callable:
        BACKBONES[name] = fn
        return fn
    return deco


def is_module_path(factory: str) -> bool:
    """Whether ``factory`` is a ``package.module:callable`` path rather than a registry name."""
    return ":" in factory


def check_backbone_factory(factory: str, trust_code: bool | str = False) -> None:
    """Refuse a ``backbone_factory`` the caller has not allowed, without importing anything.

    Used by :meth:`.config.GemcontConfig.validate`, so a configuration naming
    ``os:system`` fails when it is loaded, before any file is read.

    Parameters
    ----------
    factory : str
        A registered name (:data:`BACKBONES`), or a ``package.module:callable`` path.
    trust_code : bool or str
        ``True``, or the same ``module:callable`` string (what ``--trust-code`` passes), allows
        that module path; it comes from the caller (the command line), never from a file.

    Raises
    ------
    InputError
        Unknown name, or a module path without ``trust_code``.
    """
    if factory in BACKBONES:
        return
    names = ", ".join(sorted(BACKBONES))
    if not is_module_path(factory):
        raise InputError(f"backbone_factory {factory!r}: not a registered backbone "
                         f"(choose one of {names})")
    # a string grants exactly one path: --trust-code a:b does not open the door to os:system
    if not (trust_code is True or (isinstance(trust_code, str) and trust_code == factory)):
        raise InputError(f"backbone_factory {factory!r}: not a registered backbone "
                         f"({names}); {TRUST_HINT}")


def resolve_backbone_factory(factory: str, trust_code: bool | str = False
                             ) -> Callable[..., nn.Module]:
    """The callable that builds the backbone named by ``factory``.

    Parameters
    ----------
    factory : str
        A registered name (:data:`BACKBONES`), or a ``package.module:callable`` path.
    trust_code : bool or str
        Must be ``True``, or the same ``module:callable`` string (what ``--trust-code`` passes),
        for a module path: importing and calling it runs arbitrary code, so a configuration
        file or checkpoint alone must never be enough.

    Raises
    ------
    InputError
        Unknown name, a module path without ``trust_code``, or a path that cannot be imported.
    """
    check_backbone_factory(factory, trust_code)
    if factory in BACKBONES:
        return BACKBONES[factory]
    mod_name, _, attr = factory.partition(":")
    try:
        fn = getattr(importlib.import_module(mod_name), attr)
    except (ImportError, AttributeError, ValueError):
        raise InputError(f"backbone_factory {factory!r}: cannot import") from None
    if not callable(fn):
        raise InputError(f"backbone_factory {factory!r}: not callable")
    return fn


def _weights_only_load(path: str) -> Any:
    """``torch.load(weights_only=True)``; a file needing arbitrary unpickling is refused."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - whatever fails to unpickle is the user's file
        # the weights-only unpickler refuses globals it does not know: such a file may carry
        # code, and falling back to a full unpickle would run it
        raise InputError(f"backbone_checkpoint {path}: not a weights-only state dict "
                         f"({type(exc).__name__}); save model.state_dict() instead") from None


def load_backbone(path: str, factory: str = "", kwargs: dict | None = None,
                  trust_code: bool | str = False) -> nn.Module:
    """Load a backbone from a **local** file; nothing is downloaded.

    Parameters
    ----------
    path : str
        ``backbone_checkpoint``: a state dict (``torch.save(model.state_dict())``; a
        ``state_dict``/``model``/``teacher`` key is unwrapped) or, without ``factory``, a
        TorchScript archive.
    factory : str
        Registered backbone name or, with ``trust_code``, a ``module:callable`` path; the module
        is built with ``**kwargs`` and the state dict loaded into it (``strict=False``, counts
        of missing/unexpected keys logged).
    kwargs : dict, optional
        ``backbone_kwargs`` for the factory.
    trust_code : bool or str
        Allow a ``module:callable`` factory (see :func:`resolve_backbone_factory`).

    Notes
    -----
    Every ``torch.load`` uses ``weights_only=True``: a whole pickled module is refused rather
    than unpickled, since unpickling can run any code.
    """
    import os

    # the factory is checked before the file so that a refused configuration touches nothing
    fn = resolve_backbone_factory(factory, trust_code) if factory else None
    if not path or not os.path.exists(path):
        raise InputError(f"backbone_checkpoint {path!r}: file not found")
    if fn is not None:
        module = fn(**(kwargs or {}))
        if not isinstance(module, nn.Module):
            raise InputError(f"backbone_factory {factory!r}: returned "
                             f"{type(module).__name__}, not a torch module")
        state = _weights_only_load(path)
        for key in ("state_dict", "model", "teacher"):
            if isinstance(state, dict) and key in state and isinstance(state[key], dict):
                state = state[key]
                break
        if not isinstance(state, dict):
            raise InputError(f"backbone_checkpoint {path}: not a state dict")
        missing, unexpected = module.load_state_dict(state, strict=False)
        if missing or unexpected:
            logger.info("backbone %s: %d missing, %d unexpected keys", path, len(missing),
                        len(unexpected))
        return module
    try:
        return torch.jit.load(path, map_location="cpu")
    except (RuntimeError, ValueError):
        pass
    raise InputError(f"backbone_checkpoint {path}: not a TorchScript archive; give "
                     f"backbone_factory (one of {', '.join(sorted(BACKBONES))}) to load a state "
                     "dict (whole pickled modules are not loaded)")


def backbone_fingerprint(backbone: nn.Module, factory: str = "", kwargs: dict | None = None
                         ) -> str:
    """SHA-256 of a backbone's weights and configuration (token-cache key).

    Covers the module class, ``factory`` and ``kwargs``, and every parameter and buffer (name,
    dtype, shape, bytes), so another checkpoint or architecture gives another key.
    """
    import hashlib
    import json

    h = hashlib.sha256()
    h.update(json.dumps({"class": f"{type(backbone).__module__}.{type(backbone).__qualname__}",
                         "factory": factory, "kwargs": kwargs or {}},
                        sort_keys=True, default=str).encode())
    for name, t in backbone.state_dict().items():
        t = t.detach().cpu().contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}".encode())
        # bytes through uint8 so that every dtype (bf16 included) hashes without conversion
        h.update(t.reshape(-1).view(torch.uint8).numpy() if t.numel() else b"")
    return h.hexdigest()


@register("frozen-backbone")
def _build_frozen(cfg: Any, shape: tuple[int, ...], trust_code: bool | str = False) -> nn.Module:
    backbone = None
    if cfg.backbone_checkpoint:
        backbone = load_backbone(cfg.backbone_checkpoint, cfg.backbone_factory,
                                 cfg.backbone_kwargs, trust_code=trust_code)
    elif cfg.backbone_factory:
        resolve_backbone_factory(cfg.backbone_factory, trust_code)
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


register_backbone("tiny-vit")(TinyViT)


def _dinov2(name: str) -> Callable[..., nn.Module]:
    """Factory for DINOv2 ViT ``name``, built from the ``dinov2`` package, untrained."""
    def build(**kwargs: Any) -> nn.Module:
        try:
            hub = importlib.import_module("dinov2.hub.backbones")
        except ImportError:
            raise InputError(f"backbone_factory {name!r}: needs the dinov2 package "
                             "(pip install from facebookresearch/dinov2)") from None
        # pretrained=False: weights come only from the local backbone_checkpoint (no download)
        return getattr(hub, name)(pretrained=False, **kwargs)
    build.__name__ = name
    return build


for _arch in ("vits14", "vitb14", "vitl14", "vitg14"):
    for _suffix in ("", "_reg"):
        register_backbone(f"dinov2_{_arch}{_suffix}")(_dinov2(f"dinov2_{_arch}{_suffix}"))

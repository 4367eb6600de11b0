"""Image augmentations on batched torch tensors ``(B, C, H, W)``, one draw per sample.

Written on tensors (no torchvision) so that they run on the training device and draw from an
explicit :class:`torch.Generator` (reproducible, checkpointed). None of them rotates or flips:
the simulated trait may *be* the orientation of a glyph, or the direction of a curve. Pick per
experiment the ones that do not destroy the trait (e.g. no ``resized_crop`` when size matters).

Configuration (``augment`` option): a mapping ``name -> parameters`` (or ``name -> true`` for
defaults), applied in the fixed order of :data:`ORDER`::

    augment:
      translate: {max_frac: 0.1}
      noise: {std: 0.05}
      erasing: {p: 0.25}

or the name of a preset (:data:`PRESETS`, resolved by :func:`resolve_augment`):

* ``rotation``: random erasing (the paper's augmentation for the rotation simulation);
* ``spirometry``: random resized crop + Gaussian blur (the paper's, for spirometry);
* ``fundus``: random resized crop + colour jitter + Gaussian blur (the paper's, for fundus);
* ``simclr``: SimCLR's standard augmentation (Chen et al. 2020, appendix A: crop to 8-100 %
  of the area and resize, colour distortion with p 0.8, Gaussian blur with p 0.5), minus the
  horizontal flip, which would mirror the trait (a rotation angle alpha becomes -alpha; a
  flow-volume curve runs backwards); SimCLR's two views are two draws of it;
* ``paper``: the paper's recipe by experiment: ``simclr`` for ``method: simclr`` (its
  standard pair), otherwise the preset of the configured ``task`` — the same transforms for
  GEMCONT, the supervised model, the VAE and PRS, so that no method is favoured by its inputs;
* ``none``: no augmentation.

The paper names the transforms, not their parameters: the parameters of the presets are this
package's choices (torchvision's defaults where one exists, e.g. RandomErasing p 0.5, area
2-33 %). Blur widths are fractions of the image side (``sigma_frac``), so a preset means the
same at 28 px as at 256 px.
"""
from __future__ import annotations

import copy
import math
from typing import Any, Callable

import torch
import torch.nn.functional as F

from gwaskit.errors import InputError


def _u(n: int, lo: float, hi: float, g: torch.Generator | None, dev: torch.device) -> torch.Tensor:
    return lo + (hi - lo) * torch.rand(n, generator=g, device=dev)


def _affine(x: torch.Tensor, scale_x: torch.Tensor, scale_y: torch.Tensor, tx: torch.Tensor,
            ty: torch.Tensor) -> torch.Tensor:
    """Resample ``x`` with a per-sample axis-aligned affine map (zero padding, bilinear)."""
    b = x.shape[0]
    theta = torch.zeros(b, 2, 3, device=x.device, dtype=torch.float32)
    theta[:, 0, 0], theta[:, 1, 1] = scale_x, scale_y
    theta[:, 0, 2], theta[:, 1, 2] = tx, ty
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x.float(), grid, mode="bilinear", padding_mode="zeros",
                         align_corners=False).to(x.dtype)


def translate(x: torch.Tensor, g: torch.Generator | None = None, max_frac: float = 0.1,
              p: float = 1.0) -> torch.Tensor:
    """Shift each image by up to ``max_frac`` of its width/height (zero fill)."""
    b, dev = x.shape[0], x.device
    on = (torch.rand(b, generator=g, device=dev) < p).float()
    tx = _u(b, -2 * max_frac, 2 * max_frac, g, dev) * on   # grid units span 2
    ty = _u(b, -2 * max_frac, 2 * max_frac, g, dev) * on
    one = torch.ones(b, device=dev)
    return _affine(x, one, one, tx, ty)


def resized_crop(x: torch.Tensor, g: torch.Generator | None = None,
                 scale: tuple[float, float] = (0.7, 1.0),
                 ratio: tuple[float, float] = (3 / 4, 4 / 3), p: float = 1.0) -> torch.Tensor:
    """Random resized crop: an area fraction in ``scale``, aspect in ``ratio``, resized back."""
    b, dev = x.shape[0], x.device
    area = _u(b, scale[0], scale[1], g, dev)
    logr = _u(b, math.log(ratio[0]), math.log(ratio[1]), g, dev)
    r = logr.exp()
    sx = (area * r).sqrt().clamp(max=1.0)
    sy = (area / r).sqrt().clamp(max=1.0)
    tx = (torch.rand(b, generator=g, device=dev) * 2 - 1) * (1 - sx)
    ty = (torch.rand(b, generator=g, device=dev) * 2 - 1) * (1 - sy)
    on = torch.rand(b, generator=g, device=dev) < p
    one = torch.ones(b, device=dev)
    return _affine(x, torch.where(on, sx, one), torch.where(on, sy, one),
                   torch.where(on, tx, 0 * one), torch.where(on, ty, 0 * one))


def gaussian_blur(x: torch.Tensor, g: torch.Generator | None = None,
                  sigma: tuple[float, float] = (0.1, 1.5), p: float = 0.5,
                  sigma_frac: tuple[float, float] | None = None) -> torch.Tensor:
    """Separable Gaussian blur with a per-sample sigma, applied with probability ``p``.

    ``sigma`` is in pixels; ``sigma_frac``, when given, replaces it by a range in fractions of
    the image side (SimCLR blurs with sigma up to 2 px on 224 px images, ``sigma_frac`` up to
    0.009), so that one preset blurs alike at every resolution.
    """
    b, c, h, w = x.shape
    dev = x.device
    if sigma_frac is not None:
        side = max(h, w)
        sigma = (sigma_frac[0] * side, sigma_frac[1] * side)
    s = _u(b, sigma[0], sigma[1], g, dev).clamp(min=1e-3)
    on = torch.rand(b, generator=g, device=dev) < p
    radius = max(1, int(math.ceil(3 * sigma[1])))
    t = torch.arange(-radius, radius + 1, device=dev, dtype=torch.float32)
    k = torch.exp(-0.5 * (t.view(1, -1) / s.view(-1, 1)) ** 2)
    k = k / k.sum(1, keepdim=True)                                   # (B, K)
    k = k.repeat_interleave(c, 0)                                     # (B*C, K)
    y = x.float().reshape(1, b * c, h, w)
    y = F.conv2d(F.pad(y, (radius, radius, 0, 0), mode="replicate"),
                 k.view(b * c, 1, 1, -1), groups=b * c)
    y = F.conv2d(F.pad(y, (0, 0, radius, radius), mode="replicate"),
                 k.view(b * c, 1, -1, 1), groups=b * c)
    y = y.view(b, c, h, w).to(x.dtype)
    return torch.where(on.view(-1, 1, 1, 1), y, x)


def colour_jitter(x: torch.Tensor, g: torch.Generator | None = None, brightness: float = 0.2,
                  contrast: float = 0.2, p: float = 1.0) -> torch.Tensor:
    """Brightness (multiplicative) and contrast (about the image mean) jitter per sample."""
    b, dev = x.shape[0], x.device
    on = (torch.rand(b, generator=g, device=dev) < p).view(-1, 1, 1, 1)
    bf = _u(b, 1 - brightness, 1 + brightness, g, dev).view(-1, 1, 1, 1)
    cf = _u(b, 1 - contrast, 1 + contrast, g, dev).view(-1, 1, 1, 1)
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    y = ((x * bf) - mean * bf) * cf + mean * bf
    return torch.where(on, y.to(x.dtype), x)


def noise(x: torch.Tensor, g: torch.Generator | None = None, std: float = 0.05) -> torch.Tensor:
    """Additive Gaussian noise of standard deviation ``std``."""
    return x + std * torch.randn(x.shape, generator=g, device=x.device, dtype=x.dtype)


def erasing(x: torch.Tensor, g: torch.Generator | None = None, p: float = 0.25,
            scale: tuple[float, float] = (0.02, 0.2), ratio: tuple[float, float] = (0.3, 3.3),
            value: float = 0.0) -> torch.Tensor:
    """Random erasing (Zhong et al. 2020): a rectangle set to ``value`` with probability p."""
    b, c, h, w = x.shape
    dev = x.device
    area = _u(b, scale[0], scale[1], g, dev) * h * w
    r = _u(b, math.log(ratio[0]), math.log(ratio[1]), g, dev).exp()
    eh = (area * r).sqrt().clamp(1, h)
    ew = (area / r).sqrt().clamp(1, w)
    y0 = torch.rand(b, generator=g, device=dev) * (h - eh)
    x0 = torch.rand(b, generator=g, device=dev) * (w - ew)
    on = torch.rand(b, generator=g, device=dev) < p
    rows = torch.arange(h, device=dev).view(1, h, 1)
    cols = torch.arange(w, device=dev).view(1, 1, w)
    box = ((rows >= y0.view(-1, 1, 1)) & (rows < (y0 + eh).view(-1, 1, 1))
           & (cols >= x0.view(-1, 1, 1)) & (cols < (x0 + ew).view(-1, 1, 1)))
    box = (box & on.view(-1, 1, 1)).unsqueeze(1)
    return x.masked_fill(box, value)


TRANSFORMS: dict[str, Callable[..., torch.Tensor]] = {
    "resized_crop": resized_crop,
    "translate": translate,
    "gaussian_blur": gaussian_blur,
    "colour_jitter": colour_jitter,
    "noise": noise,
    "erasing": erasing,
}
#: Order in which configured transforms are applied.
ORDER = ("resized_crop", "translate", "colour_jitter", "gaussian_blur", "noise", "erasing")


#: Named augmentation recipes (see the module docstring); values are ``augment`` mappings.
PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    # torchvision RandomErasing defaults (Zhong et al. 2020): p 0.5, area 2-33 %, aspect 0.3-3.3
    "rotation": {"erasing": {"p": 0.5, "scale": (0.02, 0.33), "ratio": (0.3, 3.3)}},
    # mild crop (>= 80 % of the area): the plot axes are fixed, so a crop also rescales FVC and
    # PEF; the trait (the FEV1/FVC ratio, the curve's concavity) survives it
    "spirometry": {"resized_crop": {"scale": (0.8, 1.0), "ratio": (3 / 4, 4 / 3)},
                   "gaussian_blur": {"p": 0.5, "sigma_frac": (0.002, 0.02)}},
    "fundus": {"resized_crop": {"scale": (0.5, 1.0), "ratio": (3 / 4, 4 / 3)},
               "colour_jitter": {"brightness": 0.2, "contrast": 0.2, "p": 0.8},
               "gaussian_blur": {"p": 0.5, "sigma_frac": (0.0005, 0.01)}},
    # SimCLR (Chen et al. 2020, appendix A), colour strength s = 1 (brightness/contrast 0.8;
    # saturation and hue do not exist on grey images), blur sigma 0.1-2.0 px at 224 px
    "simclr": {"resized_crop": {"scale": (0.08, 1.0), "ratio": (3 / 4, 4 / 3)},
               "colour_jitter": {"brightness": 0.8, "contrast": 0.8, "p": 0.8},
               "gaussian_blur": {"p": 0.5, "sigma_frac": (0.1 / 224, 2.0 / 224)}},
}
#: Experiments whose paper recipe ``augment: paper`` resolves to (``task`` option).
TASKS = ("rotation", "spirometry", "fundus")


def resolve_augment(spec: dict[str, Any] | str | None, task: str = "",
                    method: str = "") -> dict[str, Any]:
    """The ``augment`` mapping that ``spec`` stands for.

    Parameters
    ----------
    spec : dict, str or None
        A mapping (returned as a copy), a preset name of :data:`PRESETS`, ``paper`` or
        ``none``/empty.
    task : str
        Experiment (``rotation``, ``spirometry``, ``fundus``) for ``paper``.
    method : str
        Training method: ``paper`` gives ``simclr`` its standard pair, every other method the
        task's preset.

    Raises
    ------
    InputError
        An unknown preset, or ``paper`` without a ``task`` (for a method other than simclr).
    """
    if spec is None or (isinstance(spec, str) and spec.strip().lower() in ("", "none")):
        return {}
    if isinstance(spec, dict):
        return copy.deepcopy(spec)
    name = str(spec).strip().lower()
    if name == "paper":
        if method == "simclr":
            name = "simclr"
        elif task in TASKS:
            name = task
        else:
            raise InputError(f"option augment=paper: set task to one of {', '.join(TASKS)} "
                             f"(the paper's augmentation depends on the experiment), got "
                             f"task={task!r}")
    if name not in PRESETS:
        raise InputError(f"option augment={spec!r}: not a preset; choose one of "
                         f"{', '.join(sorted(PRESETS))}, paper, none, or give a mapping of "
                         f"transforms ({', '.join(ORDER)})")
    return copy.deepcopy(PRESETS[name])


def describe(spec: dict[str, Any]) -> str:
    """Short label of a resolved ``augment`` mapping, e.g. ``resized_crop+gaussian_blur``."""
    names = [n for n in ORDER if n in spec and spec[n] not in (False, None)]
    return "+".join(names) if names else "none"


class Augment:
    """Composition of configured transforms drawing from one generator.

    Parameters
    ----------
    spec : dict or str
        ``name -> dict of keyword arguments`` (``true``/``{}`` for defaults, ``false``/``null``
        to disable), or a preset name (:func:`resolve_augment`). Unknown names raise
        :class:`InputError`.
    generator : torch.Generator, optional
    """

    def __init__(self, spec: dict[str, Any] | str | None,
                 generator: torch.Generator | None = None):
        # a preset name needs no task here; ``paper`` does (see resolve_augment)
        spec = resolve_augment(spec) if isinstance(spec, str) else dict(spec or {})
        unknown = sorted(set(spec) - set(TRANSFORMS))
        if unknown:
            raise InputError(f"option augment: unknown transform(s) {', '.join(unknown)}; "
                             f"choose from {', '.join(ORDER)}")
        self.steps: list[tuple[str, dict[str, Any]]] = []
        for name in ORDER:
            if name not in spec or spec[name] in (False, None):
                continue
            kwargs = spec[name]
            if kwargs is True:
                kwargs = {}
            if not isinstance(kwargs, dict):
                raise InputError(f"option augment.{name}: expected a mapping of parameters")
            kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in kwargs.items()}
            self.steps.append((name, kwargs))
        self.generator = generator

    def __bool__(self) -> bool:
        return bool(self.steps)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4:         # vectors or tokens: image transforms do not apply
            return x
        for name, kwargs in self.steps:
            try:
                x = TRANSFORMS[name](x, self.generator, **kwargs)
            except TypeError as exc:
                raise InputError(f"option augment.{name}: {exc}") from None
        return x

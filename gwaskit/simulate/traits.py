"""Latent trait and disease labels from simulated genotypes.

Latent trait, the project specification's equation (4) (the transferGWAS simulation recipe,
Kirchler et al. 2022)::

    z = sqrt(h_g) * std(G beta) + sqrt(1 - h_g) * std(eps)

with ``std`` = standardise to mean 0 and standard deviation 1 over the individuals, ``G`` the
0/1/2 counts of the effect allele at ``S`` causal variants drawn among common variants, and
``beta`` in {-1, +1}. Because both parts are standardised, ``h_g`` is the realised proportion of
variance of ``z`` explained by ``G beta`` up to the sample correlation of the two parts
(O(1/sqrt(N)); set ``orthogonal=True`` to remove it exactly). ``eps`` may carry a per-deme
mean shift (non-genetic stratification, so genotype PCs are needed in association tests).

Disease: liability threshold. ``l = (z + noise_sd * e) / sqrt(1 + noise_sd^2)``; an individual
is a case when ``l > Phi^-1(1 - prevalence)``. Since z has mean 0 and variance 1 in the cohort the
realised prevalence equals the target up to sampling error.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import InputError
from .genotypes import SimulatedGenotypes, allele_frequencies


def standardize(x: np.ndarray) -> np.ndarray:
    """Mean 0, standard deviation 1 (population sd, ddof=0); a constant gives zeros."""
    x = np.asarray(x, dtype=np.float64)
    sd = x.std()
    return (x - x.mean()) / sd if sd > 0 else np.zeros_like(x)


def choose_causal(
    variants: pd.DataFrame,
    frequencies: np.ndarray,
    n_causal: int,
    *,
    min_maf: float = 0.05,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """Pick ``n_causal`` variants among those with MAF >= ``min_maf``; effects +-1.

    Returns the causal table (sorted by genomic order): ``variant_index`` (column in the
    genotype matrix), ``variant_id``, ``chromosome``, ``base_pair_location``, ``effect_allele``,
    ``other_allele``, ``effect_allele_frequency`` and ``beta`` (+1 or -1, per effect allele).
    """
    frequencies = np.asarray(frequencies, dtype=np.float64)
    maf = np.minimum(frequencies, 1 - frequencies)
    pool = np.flatnonzero(maf >= min_maf)
    if n_causal < 1:
        raise InputError(f"n_causal: need at least 1, got {n_causal}")
    if pool.size < n_causal:
        raise InputError(
            f"n_causal: {n_causal} causal variants requested but only {pool.size} variants "
            f"have MAF >= {min_maf}; simulate longer chromosomes or ask for fewer"
        )
    idx = np.sort(rng.choice(pool, size=n_causal, replace=False))
    beta = rng.choice(np.array([-1.0, 1.0]), size=n_causal)
    table = variants.iloc[idx][
        ["variant_id", "chromosome", "base_pair_location", "effect_allele", "other_allele"]
    ].reset_index(drop=True)
    table.insert(0, "variant_index", idx.astype(np.int64))
    table["effect_allele_frequency"] = frequencies[idx]
    table["beta"] = beta
    return table


def latent_trait(
    genetic_value: np.ndarray,
    h_g: float,
    *,
    rng: np.random.Generator,
    env_shift: np.ndarray | None = None,
    orthogonal: bool = False,
) -> np.ndarray:
    """``z = sqrt(h_g) std(g) + sqrt(1 - h_g) std(eps)`` with ``eps ~ N(0, 1) (+ env_shift)``.

    ``orthogonal=True`` projects ``eps`` off ``g`` (and a constant) so the R^2 of z on g is
    exactly ``h_g``.
    """
    if not 0 <= h_g <= 1:
        raise InputError(f"h_g: must lie in [0, 1], got {h_g}")
    g = standardize(genetic_value)
    eps = rng.standard_normal(g.shape[0])
    if env_shift is not None:
        eps = eps + np.asarray(env_shift, dtype=np.float64)
    if orthogonal:
        eps = eps - eps.mean()
        eps = eps - g * (g @ eps) / max(g @ g, 1e-300)
    return np.sqrt(h_g) * g + np.sqrt(1 - h_g) * standardize(eps)


def liability_threshold(
    z: np.ndarray,
    prevalence: float,
    *,
    noise_sd: float = 0.0,
    rng: np.random.Generator | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Binary label from a liability threshold.

    Returns ``(disease, liability)``: ``disease`` is int8 (1 = case), ``liability`` is
    ``(z + noise_sd e) / sqrt(1 + noise_sd^2)``, ``e ~ N(0, 1)``. The threshold is the standard
    normal ``1 - prevalence`` quantile, so the expected prevalence is exact when z ~ N(0, 1).
    """
    if not 0 < prevalence < 1:
        raise InputError(f"prevalence: must lie in (0, 1), got {prevalence}")
    z = np.asarray(z, dtype=np.float64)
    liability = z
    if noise_sd > 0:
        if rng is None:
            raise ValueError("noise_sd > 0 needs an rng")
        liability = (z + noise_sd * rng.standard_normal(z.shape)) / np.sqrt(1 + noise_sd**2)
    threshold = stats.norm.isf(prevalence)
    return (liability > threshold).astype(np.int8), liability


@dataclass
class SimulatedTrait:
    """Latent trait of a cohort: ``z``, true genetic value ``gbeta`` (= G beta) and causal table."""

    z: np.ndarray
    gbeta: np.ndarray
    causal: pd.DataFrame


def simulate_trait(
    sim: SimulatedGenotypes,
    h_g: float,
    n_causal: int,
    *,
    min_causal_maf: float = 0.05,
    population_shift: float = 0.0,
    orthogonal: bool = False,
    seed: int = 0,
    frequency_rows: np.ndarray | None = None,
) -> SimulatedTrait:
    """Causal variants, genetic value and latent trait for a simulated cohort.

    Parameters
    ----------
    sim
        Genotypes; allele frequencies (for the common-variant pool) are computed from
        ``sim.genotypes[frequency_rows]`` (all rows by default).
    h_g
        Proportion of variance of z explained by G beta.
    n_causal, min_causal_maf
        Number of causal variants and the MAF a variant needs to be eligible.
    population_shift
        Deme ``k`` adds ``k * population_shift`` to the non-genetic part before standardising
        (confounding by ancestry; 0 disables).
    """
    rows = slice(None) if frequency_rows is None else frequency_rows
    return trait_from_row_blocks(
        sim.variants, allele_frequencies(sim.genotypes[rows]),
        [(np.arange(sim.n_samples), sim.genotypes)], sim.populations, h_g, n_causal,
        min_causal_maf=min_causal_maf, population_shift=population_shift,
        orthogonal=orthogonal, seed=seed)


def trait_from_row_blocks(
    variants: pd.DataFrame,
    frequencies: np.ndarray,
    row_blocks: list[tuple[np.ndarray, np.ndarray]],
    populations: np.ndarray,
    h_g: float,
    n_causal: int,
    *,
    min_causal_maf: float = 0.05,
    population_shift: float = 0.0,
    orthogonal: bool = False,
    seed: int = 0,
) -> SimulatedTrait:
    """:func:`simulate_trait` for a cohort held as separate row blocks (study and external).

    ``row_blocks`` is ``[(rows, genotypes), ...]``: ``genotypes[i]`` is row ``rows[i]`` of the
    cohort, the blocks together cover ``len(populations)`` rows once each. ``frequencies``
    (one per variant) choose the causal pool. With one block of every row this is
    :func:`simulate_trait` itself: the genetic value of integer counts and +-1 effects is exact,
    so the result does not depend on how the rows are split.
    """
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0xC0FFEE]))
    causal = choose_causal(variants, frequencies, n_causal, min_maf=min_causal_maf, rng=rng)
    idx = causal["variant_index"].to_numpy()
    beta = causal["beta"].to_numpy()
    gbeta = np.empty(len(populations))
    for rows, genotypes in row_blocks:
        gbeta[rows] = genotypes[:, idx].astype(np.float64) @ beta
    shift = None
    if population_shift:
        labels = pd.Series(populations).astype(str)
        codes = labels.str.extract(r"(\d+)$")[0].astype(float).fillna(0).to_numpy()
        shift = codes * population_shift
    z = latent_trait(gbeta, h_g, rng=rng, env_shift=shift, orthogonal=orthogonal)
    return SimulatedTrait(z=z, gbeta=gbeta, causal=causal)

"""Diploid genotypes with realistic linkage disequilibrium, simulated with msprime.

Method: one independent coalescent simulation with recombination per chromosome
(``msprime.sim_ancestry``, Hudson model, uniform recombination rate, default 1e-8 per bp per
generation, Ne = 10,000), then infinite-sites-like mutations on a discrete genome
(``msprime.sim_mutations``, JC69, default rate 1.25e-8). Only sites carrying exactly one
mutation are kept (biallelic, derived allele well defined); the genotype counts the derived
allele, reported as ``effect_allele`` (= ALT), the ancestral allele as ``other_allele``.
Positions are msprime's 0-based integer coordinates plus one (1-based, unique per chromosome).

Population structure (``populations > 1``) uses a symmetric island model: the total effective
size is split evenly across demes connected by migration at rate ``migration_rate`` per
generation, so allele frequencies differ between demes (F_ST roughly 1 / (1 + 4 N_deme m)) and
genotype principal components separate them.

The result is valid as a neutral, panmictic (or island-model) cohort without relatives and
without genotyping error; it is not a model of any real population's demography.

msprime and tskit are optional dependencies, imported inside the functions.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pandas as pd

from .._log import logger
from ..errors import InputError

VARIANT_COLUMNS = ("chromosome", "base_pair_location", "variant_id", "effect_allele", "other_allele")


@dataclass
class SimulatedGenotypes:
    """A simulated cohort in memory.

    Attributes
    ----------
    genotypes : ndarray, int8, shape (n_samples, n_variants)
        Diploid counts (0/1/2) of ``effect_allele`` (the derived allele).
    variants : DataFrame
        One row per column of ``genotypes``: ``chromosome`` (str), ``base_pair_location``
        (int64, 1-based), ``variant_id`` (``<chrom>:<pos>``), ``effect_allele``, ``other_allele``.
    samples : ndarray of str
        Individual identifiers (IIDs).
    populations : ndarray of str
        Deme label of every individual (``pop_0`` ... ).
    params : dict
        Simulation parameters, for manifests.
    """

    genotypes: np.ndarray
    variants: pd.DataFrame
    samples: np.ndarray
    populations: np.ndarray
    params: dict = field(default_factory=dict)

    @property
    def n_samples(self) -> int:
        return int(self.genotypes.shape[0])

    @property
    def n_variants(self) -> int:
        return int(self.genotypes.shape[1])

    def allele_frequencies(self) -> np.ndarray:
        """Frequency of ``effect_allele`` per variant (float64)."""
        return allele_frequencies(self.genotypes)

    def subset_samples(self, rows: np.ndarray | Sequence[int] | slice) -> "SimulatedGenotypes":
        """A copy restricted to some individuals (variants unchanged)."""
        return SimulatedGenotypes(
            genotypes=np.ascontiguousarray(self.genotypes[rows]),
            variants=self.variants.copy(),
            samples=self.samples[rows].copy(),
            populations=self.populations[rows].copy(),
            params=dict(self.params),
        )

    def subset_variants(self, mask_or_index: np.ndarray) -> "SimulatedGenotypes":
        """A copy restricted to some variants (boolean mask or integer index)."""
        idx = np.asarray(mask_or_index)
        return SimulatedGenotypes(
            genotypes=np.ascontiguousarray(self.genotypes[:, idx]),
            variants=self.variants.iloc[idx if idx.dtype != bool else np.flatnonzero(idx)]
            .reset_index(drop=True),
            samples=self.samples.copy(),
            populations=self.populations.copy(),
            params=dict(self.params),
        )

    def chromosome_slices(self) -> dict[str, slice]:
        """Column range of every chromosome (variants are stored chromosome by chromosome)."""
        out: dict[str, slice] = {}
        chrom = self.variants["chromosome"].to_numpy()
        for c in pd.unique(chrom):
            idx = np.flatnonzero(chrom == c)
            out[str(c)] = slice(int(idx[0]), int(idx[-1]) + 1)
        return out


def allele_frequencies(genotypes: np.ndarray) -> np.ndarray:
    """Effect-allele frequency of every column of a samples x variants 0/1/2 matrix."""
    g = np.asarray(genotypes)
    if g.shape[0] == 0:
        return np.full(g.shape[1], np.nan)
    return g.sum(axis=0, dtype=np.int64) / (2.0 * g.shape[0])


def minor_allele_frequencies(genotypes: np.ndarray) -> np.ndarray:
    f = allele_frequencies(genotypes)
    return np.minimum(f, 1.0 - f)


def _demography(populations: int, ne: float, migration_rate: float):
    import msprime

    if populations == 1:
        return None
    sizes = [ne / populations] * populations
    return msprime.Demography.island_model(sizes, migration_rate=migration_rate)


def _simulate_chromosome(
    chrom: str,
    n_per_pop: list[int],
    length: int,
    recombination_rate: float,
    mutation_rate: float,
    ne: float,
    migration_rate: float,
    min_count: int,
    seed: int,
) -> tuple[np.ndarray, pd.DataFrame]:
    haplotypes, variants = simulate_chromosome_haplotypes(
        chrom, n_per_pop, length, recombination_rate, mutation_rate, ne, migration_rate,
        min_count, seed,
    )
    return np.ascontiguousarray(haplotypes[0] + haplotypes[1]), variants


def simulate_chromosome_haplotypes(
    chrom: str,
    n_per_pop: list[int],
    length: int,
    recombination_rate: float,
    mutation_rate: float,
    ne: float,
    migration_rate: float,
    min_count: int,
    seed: int,
) -> tuple[np.ndarray, pd.DataFrame]:
    """Phased haplotypes of one msprime chromosome (the generator behind every simulated cohort).

    Parameters
    ----------
    chrom
        Chromosome name written to the variant table.
    n_per_pop
        Diploid individuals per deme (one entry: panmictic, ``ne`` the population size).
    length, recombination_rate, mutation_rate, ne, migration_rate
        Chromosome length (bp), per-bp rates, effective size and island-model migration rate.
    min_count
        Sites whose derived-allele count over the ``2 * sum(n_per_pop)`` haplotypes is below
        ``min_count`` or above ``2 * sum(n_per_pop) - min_count`` are dropped.
    seed
        Seeds the ancestry and the mutations.

    Returns
    -------
    haplotypes : ndarray, int8, shape (2, n_individuals, n_variants)
        0/1 derived allele on the first and second haplotype of every individual.
    variants : DataFrame
        The variant table (:data:`VARIANT_COLUMNS`) of the kept sites.
    """
    import msprime

    seeds = np.random.SeedSequence(seed).generate_state(2)
    demography = _demography(len(n_per_pop), ne, migration_rate)
    if demography is None:
        samples = n_per_pop[0]
        kwargs = dict(population_size=ne)
    else:
        samples = {f"pop_{k}": n for k, n in enumerate(n_per_pop) if n > 0}
        kwargs = dict(demography=demography)
    ts = msprime.sim_ancestry(
        samples=samples, sequence_length=length, recombination_rate=recombination_rate,
        ploidy=2, random_seed=int(seeds[0]) + 1, **kwargs,
    )
    ts = msprime.sim_mutations(ts, rate=mutation_rate, random_seed=int(seeds[1]) + 1)
    n_ind = ts.num_individuals
    # individual i owns sample nodes ind_nodes[i]; genotypes are indexed by ts.samples() order
    ind_nodes = ts.individuals_nodes
    sample_pos = np.full(ts.num_nodes, -1, dtype=np.int64)
    sample_pos[ts.samples()] = np.arange(ts.num_samples)
    h0 = sample_pos[ind_nodes[:, 0]]
    h1 = sample_pos[ind_nodes[:, 1]]
    n_mut = np.bincount(ts.tables.mutations.site, minlength=ts.num_sites)
    n_alleles = 2 * n_ind
    cols0: list[np.ndarray] = []
    cols1: list[np.ndarray] = []
    pos: list[int] = []
    ref: list[str] = []
    alt: list[str] = []
    dropped_multi = dropped_maf = 0
    for var in ts.variants(copy=False):
        site = var.site
        if n_mut[site.id] != 1:
            dropped_multi += 1
            continue
        g = var.genotypes
        c = int(np.count_nonzero(g))   # one mutation: alleles 0/1; every sample node is an individual's
        if c < min_count or c > n_alleles - min_count:
            dropped_maf += 1
            continue
        cols0.append(g[h0].astype(np.int8))
        cols1.append(g[h1].astype(np.int8))
        pos.append(int(site.position) + 1)
        ref.append(site.ancestral_state)
        alt.append(site.mutations[0].derived_state)
    logger.info(
        "chromosome %s: %d sites simulated; dropped %d with more than one mutation, %d below the "
        "MAF filter; %d variants kept", chrom, ts.num_sites, dropped_multi, dropped_maf, len(cols0),
    )
    haplotypes = np.zeros((2, n_ind, len(cols0)), dtype=np.int8)
    if cols0:
        haplotypes[0] = np.stack(cols0, axis=1)
        haplotypes[1] = np.stack(cols1, axis=1)
    pos_arr = np.asarray(pos, dtype=np.int64)
    variants = pd.DataFrame({
        "chromosome": chrom,
        "base_pair_location": pos_arr,
        "variant_id": [f"{chrom}:{p}" for p in pos_arr],
        "effect_allele": alt,
        "other_allele": ref,
    })
    return haplotypes, variants


def simulate_genotypes(
    n_individuals: int,
    n_chromosomes: int = 1,
    chrom_length: float = 5e6,
    *,
    populations: int = 1,
    migration_rate: float = 5e-4,
    recombination_rate: float = 1e-8,
    mutation_rate: float = 1.25e-8,
    ne: float = 10_000,
    maf: float = 0.01,
    seed: int = 0,
    sample_prefix: str = "ID",
) -> SimulatedGenotypes:
    """Simulate ``n_individuals`` diploids over ``n_chromosomes`` independent chromosomes.

    Parameters
    ----------
    n_individuals
        Cohort size; with ``populations > 1`` split as evenly as possible across demes.
    n_chromosomes, chrom_length
        Number and length (bp) of chromosomes, named ``"1"``, ``"2"``, ...
    populations
        1 (panmictic) or more demes of a symmetric island model (total Ne = ``ne``).
    migration_rate
        Per-generation migration rate between demes (island model only).
    recombination_rate, mutation_rate, ne
        Per-bp rates and the (total) effective population size.
    maf
        Minimum minor-allele frequency in this cohort (0 keeps every polymorphic site).
    seed
        Seeds everything; the same arguments and seed give identical output.

    Returns
    -------
    SimulatedGenotypes
        Genotype counts of the derived allele, variant table, IIDs and deme labels.
    """
    if n_individuals < 2:
        raise InputError(f"n_individuals: need at least 2 individuals, got {n_individuals}")
    if n_chromosomes < 1:
        raise InputError(f"n_chromosomes: need at least 1, got {n_chromosomes}")
    if populations < 1:
        raise InputError(f"populations: need at least 1, got {populations}")
    if not 0 <= maf < 0.5:
        raise InputError(f"maf: must lie in [0, 0.5), got {maf}")
    length = int(round(chrom_length))
    if length < 1000:
        raise InputError(f"length_mb: chromosome length {length} bp is too short")
    n_per_pop = [n_individuals // populations + (1 if k < n_individuals % populations else 0)
                 for k in range(populations)]
    min_count = max(1, int(np.ceil(maf * 2 * n_individuals - 1e-9)))
    chrom_seeds = np.random.SeedSequence(seed).spawn(n_chromosomes)
    blocks, tables = [], []
    for k in range(n_chromosomes):
        chrom_seed = int(chrom_seeds[k].generate_state(1)[0])
        g, v = _simulate_chromosome(
            str(k + 1), n_per_pop, length, recombination_rate, mutation_rate, ne,
            migration_rate, min_count, chrom_seed,
        )
        blocks.append(g)
        tables.append(v)
    genotypes = np.ascontiguousarray(np.concatenate(blocks, axis=1))
    variants = pd.concat(tables, ignore_index=True)
    width = max(6, len(str(n_individuals)))
    samples = np.array([f"{sample_prefix}{i + 1:0{width}d}" for i in range(n_individuals)], dtype=object)
    populations_arr = np.repeat([f"pop_{k}" for k in range(populations)], n_per_pop).astype(object)
    params = dict(
        n_individuals=n_individuals, n_chromosomes=n_chromosomes, chrom_length=length,
        populations=populations, migration_rate=migration_rate if populations > 1 else None,
        recombination_rate=recombination_rate, mutation_rate=mutation_rate, ne=ne, maf=maf,
        seed=seed,
    )
    return SimulatedGenotypes(genotypes, variants, samples, populations_arr, params)


def adjacent_r2(genotypes: np.ndarray, max_pairs: int | None = None) -> np.ndarray:
    """Squared Pearson correlation of every pair of neighbouring columns (LD diagnostic)."""
    g = np.asarray(genotypes, dtype=np.float64)
    if max_pairs is not None:
        g = g[:, : max_pairs + 1]
    g = g - g.mean(axis=0)
    norm = np.sqrt((g * g).sum(axis=0))
    num = (g[:, :-1] * g[:, 1:]).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = num / (norm[:-1] * norm[1:])
    return r * r


def write_bgen(
    sim: SimulatedGenotypes,
    out_dir: str,
    *,
    prefix: str = "chr",
    bits: int = 8,
    overwrite: bool = False,
    fids: Sequence[str] | None = None,
) -> list[str]:
    """Write one BGEN (+ ``.sample``) per chromosome with the project writer.

    Files are ``<out_dir>/<prefix><chrom>.bgen``; dosages count ``effect_allele`` (stored as
    allele 1). ``fids``: the ``.sample`` file's FID of every sample (default FID = IID).
    Returns the written BGEN paths.
    """
    import os

    from ..io.bgen_writer import write_bgen as _write_bgen

    paths = []
    for chrom, sl in sim.chromosome_slices().items():
        path = os.path.join(out_dir, f"{prefix}{chrom}.bgen")
        if os.path.exists(path) and not overwrite:
            raise InputError(f"{path}: output exists; pass overwrite=True to replace it")
        variants = sim.variants.iloc[sl].reset_index(drop=True)
        extra = {} if fids is None else {"fids": [str(f) for f in fids]}
        _write_bgen(path, list(sim.samples), variants, dosages=sim.genotypes[:, sl], bits=bits,
                    **extra)
        paths.append(path)
        logger.info("wrote %s (%d samples x %d variants)", path, sim.n_samples, variants.shape[0])
    return paths

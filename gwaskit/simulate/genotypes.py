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
from typing import Callable, Iterator, Sequence

import numpy as np
import pandas as pd

from .._log import logger
from ..errors import InputError

#: variants per call to the BGEN writer in :func:`write_bgen` (bounds its float64 copy)
WRITE_CHUNK_VARIANTS = 2048

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
    """Unphased counts (int8, individuals x variants) of :func:`simulate_chromosome_haplotypes`'
    chromosome: one column per site is kept instead of two, half the memory in flight."""
    (cols,), variants = _simulate_sites(
        chrom, n_per_pop, length, recombination_rate, mutation_rate, ne, migration_rate,
        min_count, seed, lambda g, h0, h1: ((g[h0] + g[h1]).astype(np.int8),), 1,
    )
    dosages = np.zeros((sum(n_per_pop), len(cols)), dtype=np.int8)
    _stack_columns(cols, dosages)
    return dosages, variants


def _stack_columns(cols: list[np.ndarray], out: np.ndarray) -> None:
    """Write per-site columns into ``out`` (rows x sites) and empty ``cols``."""
    if cols:
        np.stack(cols, axis=1, out=out)
    cols.clear()


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
    (cols0, cols1), variants = _simulate_sites(
        chrom, n_per_pop, length, recombination_rate, mutation_rate, ne, migration_rate,
        min_count, seed, lambda g, h0, h1: (g[h0].astype(np.int8), g[h1].astype(np.int8)), 2,
    )
    haplotypes = np.zeros((2, sum(n_per_pop), len(cols0)), dtype=np.int8)
    _stack_columns(cols0, haplotypes[0])
    _stack_columns(cols1, haplotypes[1])
    return haplotypes, variants


def _simulate_sites(
    chrom: str,
    n_per_pop: list[int],
    length: int,
    recombination_rate: float,
    mutation_rate: float,
    ne: float,
    migration_rate: float,
    min_count: int,
    seed: int,
    columns: Callable[[np.ndarray, np.ndarray, np.ndarray], tuple[np.ndarray, ...]],
    n_columns: int,
) -> tuple[tuple[list[np.ndarray], ...], pd.DataFrame]:
    """msprime ancestry and mutations for one chromosome, then the kept sites' columns.

    ``columns(g, h0, h1)`` turns one site's genotypes (``g``, indexed by sample node) and the
    nodes of every individual's two haplotypes into the ``n_columns`` arrays kept for that site;
    returns one list per array, in site order, and the variant table.
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
    kept: tuple[list[np.ndarray], ...] = tuple([] for _ in range(n_columns))
    n_kept = 0
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
        for dest, arr in zip(kept, columns(g, h0, h1)):
            dest.append(arr)
        n_kept += 1
        pos.append(int(site.position) + 1)
        ref.append(site.ancestral_state)
        alt.append(site.mutations[0].derived_state)
    logger.info(
        "chromosome %s: %d sites simulated; dropped %d with more than one mutation, %d below the "
        "MAF filter; %d variants kept", chrom, ts.num_sites, dropped_multi, dropped_maf, n_kept,
    )
    pos_arr = np.asarray(pos, dtype=np.int64)
    variants = pd.DataFrame({
        "chromosome": chrom,
        "base_pair_location": pos_arr,
        "variant_id": [f"{chrom}:{p}" for p in pos_arr],
        "effect_allele": alt,
        "other_allele": ref,
    })
    return kept, variants


def _checked_chromosome_args(n_individuals: int, n_chromosomes: int, chrom_length: float,
                             populations: int, maf: float) -> tuple[int, list[int], int]:
    """Validated length (bp), individuals per deme and minimum allele count."""
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
    min_count = max(1, int(np.ceil(maf * 2 * n_individuals - 1e-9)))
    return length, _deme_sizes(n_individuals, populations), min_count


def _deme_sizes(n_individuals: int, populations: int) -> list[int]:
    """Individuals per deme, as even as possible (the first demes take the remainder)."""
    return [n_individuals // populations + (1 if k < n_individuals % populations else 0)
            for k in range(populations)]


def iter_chromosome_genotypes(
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
) -> Iterator[tuple[np.ndarray, pd.DataFrame]]:
    """The chromosomes of :func:`simulate_genotypes`, one at a time.

    Yields ``(genotypes, variants)`` per chromosome (int8 ``n_individuals x m_k`` counts and
    its variant table), exactly the column blocks that :func:`simulate_genotypes` concatenates,
    so a caller that filters or splits each block never holds the whole cohort twice. The
    arguments are checked at the call, before the first chromosome is simulated.
    """
    length, n_per_pop, min_count = _checked_chromosome_args(
        n_individuals, n_chromosomes, chrom_length, populations, maf)
    chrom_seeds = np.random.SeedSequence(seed).spawn(n_chromosomes)

    def chromosomes() -> Iterator[tuple[np.ndarray, pd.DataFrame]]:
        for k in range(n_chromosomes):
            chrom_seed = int(chrom_seeds[k].generate_state(1)[0])
            yield _simulate_chromosome(
                str(k + 1), n_per_pop, length, recombination_rate, mutation_rate, ne,
                migration_rate, min_count, chrom_seed,
            )

    return chromosomes()


#: row pieces each column block is cut into before :func:`join_column_blocks` (the join's peak
#: is its output plus one piece of every block's rows)
ROW_PIECES = 8


def row_pieces(block: np.ndarray, rows: np.ndarray | None = None,
               n_pieces: int = ROW_PIECES) -> list[np.ndarray]:
    """``block[rows]`` cut into up to ``n_pieces`` row ranges, each a copy in its own memory
    map.

    The input of :func:`join_column_blocks`: pieces that own their memory can be released one by
    one while the joined matrix is written.
    """
    rows = np.arange(block.shape[0]) if rows is None else np.asarray(rows)
    bounds = np.linspace(0, len(rows), max(1, min(n_pieces, len(rows))) + 1).astype(int)
    out = []
    for a, b in zip(bounds[:-1], bounds[1:]):
        piece = _mapped_empty((b - a, block.shape[1]), block.dtype)
        np.take(block, rows[a:b], axis=0, out=piece)
        out.append(piece)
    return out


def select_piece_columns(pieces: list[np.ndarray], columns: np.ndarray) -> list[np.ndarray]:
    """The columns ``columns`` (a boolean mask) of every piece of :func:`row_pieces`, as new
    pieces."""
    idx = np.flatnonzero(columns)
    out = []
    for p in pieces:
        piece = _mapped_empty((p.shape[0], idx.size), p.dtype)
        np.take(p, idx, axis=1, out=piece)
        out.append(piece)
    return out


def _mapped_empty(shape: tuple[int, int], dtype: np.dtype) -> np.ndarray:
    """An uninitialised C-ordered array in its own anonymous memory map.

    Freed pieces of heap memory stay resident until the heap is trimmed, so row pieces of a
    few MB each (below malloc's mmap threshold) would keep the join's peak at twice its output
    (measured: ``benchmarks/bench_simulate_memory.py``); a mapping of its own is handed back
    to the operating system as soon as the array is released.
    """
    import mmap

    dtype = np.dtype(dtype)
    count = int(np.prod(shape))
    buf = mmap.mmap(-1, max(1, count * dtype.itemsize))
    return np.frombuffer(buf, dtype=dtype, count=count).reshape(shape)


def join_column_blocks(blocks: list[list[np.ndarray]], n_rows: int) -> np.ndarray:
    """``np.concatenate`` of column blocks (each as :func:`row_pieces`) that empties ``blocks``.

    The output is written one row range at a time and each piece is released once copied, so
    the peak is the output plus one row range, not twice the output. (Filling the output a
    column block at a time would not do: numpy asks for transparent huge pages on large
    arrays, so the first column block would commit nearly every page of the output.)
    """
    if not blocks:
        return np.empty((n_rows, 0), dtype=np.int8)
    n_pieces = len(blocks[0])
    if any(len(b) != n_pieces for b in blocks):
        raise ValueError("join_column_blocks: blocks are cut into different row ranges")
    m = sum(b[0].shape[1] for b in blocks)
    out = np.empty((n_rows, m), dtype=blocks[0][0].dtype)
    start = 0
    for r in range(n_pieces):
        pieces = [b[r] for b in blocks]
        stop = start + pieces[0].shape[0]
        np.concatenate(pieces, axis=1, out=out[start:stop])
        for b in blocks:
            b[r] = None
        del pieces
        start = stop
    if start != n_rows:
        raise ValueError(f"join_column_blocks: pieces hold {start} rows, expected {n_rows}")
    blocks.clear()
    return out


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
    blocks, tables = [], []
    for g, v in iter_chromosome_genotypes(
            n_individuals, n_chromosomes, chrom_length, populations=populations,
            migration_rate=migration_rate, recombination_rate=recombination_rate,
            mutation_rate=mutation_rate, ne=ne, maf=maf, seed=seed):
        blocks.append(row_pieces(g))
        tables.append(v)
        del g
    genotypes = join_column_blocks(blocks, n_individuals)
    variants = pd.concat(tables, ignore_index=True)
    return SimulatedGenotypes(
        genotypes, variants, cohort_samples(n_individuals, sample_prefix),
        cohort_populations(n_individuals, populations),
        genotype_params(n_individuals, n_chromosomes, chrom_length, populations, migration_rate,
                        recombination_rate, mutation_rate, ne, maf, seed))


def cohort_samples(n_individuals: int, prefix: str = "ID", min_width: int = 6) -> np.ndarray:
    """IIDs ``<prefix>000001`` ... (at least ``min_width`` digits)."""
    width = max(min_width, len(str(n_individuals)))
    return np.array([f"{prefix}{i + 1:0{width}d}" for i in range(n_individuals)], dtype=object)


def cohort_populations(n_individuals: int, populations: int) -> np.ndarray:
    """Deme label of every individual, in :func:`simulate_genotypes`' order."""
    return np.repeat([f"pop_{k}" for k in range(populations)],
                     _deme_sizes(n_individuals, populations)).astype(object)


def genotype_params(n_individuals: int, n_chromosomes: int, chrom_length: float,
                    populations: int, migration_rate: float, recombination_rate: float,
                    mutation_rate: float, ne: float, maf: float, seed: int) -> dict:
    """The parameter record :func:`simulate_genotypes` stores in ``params``."""
    return dict(
        n_individuals=n_individuals, n_chromosomes=n_chromosomes,
        chrom_length=int(round(chrom_length)), populations=populations,
        migration_rate=migration_rate if populations > 1 else None,
        recombination_rate=recombination_rate, mutation_rate=mutation_rate, ne=ne, maf=maf,
        seed=seed,
    )


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

    from ..io.bgen_writer import BgenWriter

    paths = []
    for chrom, sl in sim.chromosome_slices().items():
        path = os.path.join(out_dir, f"{prefix}{chrom}.bgen")
        if os.path.exists(path) and not overwrite:
            raise InputError(f"{path}: output exists; pass overwrite=True to replace it")
        variants = sim.variants.iloc[sl].reset_index(drop=True)
        extra = {} if fids is None else {"fids": [str(f) for f in fids]}
        with BgenWriter(path, list(sim.samples), bits=bits, **extra) as writer:
            # the writer widens its input to float64: a chunk at a time, not the chromosome
            for a in range(0, len(variants), WRITE_CHUNK_VARIANTS):
                b = min(len(variants), a + WRITE_CHUNK_VARIANTS)
                writer.write(variants.iloc[a:b], sim.genotypes[:, sl.start + a:sl.start + b])
        paths.append(path)
        logger.info("wrote %s (%d samples x %d variants)", path, sim.n_samples, variants.shape[0])
    return paths

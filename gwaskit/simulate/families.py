"""Related cohorts: sibling pairs and parent-offspring trios with a polygenic, multi-trait background.

Method
------
1. **Founders.** ``n_founders`` unrelated diploids per chromosome from the same msprime
   generator as every other simulated cohort (:func:`.genotypes.simulate_chromosome_haplotypes`:
   Hudson coalescent with recombination, JC69 mutations, biallelic sites only), panmictic.
2. **Families.** A share ``family_fraction`` of the cohort's individuals belongs to a family;
   ``trio_share`` of those to parent-offspring trios (two founder parents in the cohort and one
   child) and the rest to sibling pairs (two children of two founders who are *not* in the
   cohort). Everyone else is an unrelated founder.
3. **Meiosis.** Each child receives one gamete from each parent. A gamete is a mosaic of the
   parent's two haplotypes: the number of crossovers on a chromosome of ``L`` bp is Poisson with
   mean ``L * morgans_per_bp`` (Haldane's map function: no interference), their positions are
   uniform on the chromosome, and the starting haplotype is chosen by a fair coin. The default
   ``morgans_per_bp = recombination_rate = 1e-8`` is 1 cM/Mb, the rate the founders were
   simulated with. Every allele of a child therefore comes from one parent at every site.
4. **Traits.** ``n_causal_per_chromosome`` causal variants on every chromosome not listed in
   ``null_chromosomes`` (MAF >= ``min_causal_maf`` in the cohort). With ``X`` the causal
   genotypes standardised over the cohort, the effects of the D traits are drawn jointly,
   rows ``beta_j ~ N(0, R_g)`` with ``R_g`` the compound-symmetric correlation matrix of
   ``genetic_correlation``; the genetic value ``G = X beta`` is then scaled so that every
   column has variance exactly ``h2`` in the cohort. The environment ``E`` has rows
   ``N(0, R_e)`` (``environmental_correlation``), each column standardised then scaled to
   variance ``1 - h2``; ``Y = G + E``. So the realised heritability is ``h2`` up to the sample
   covariance of G and E (O(1/sqrt(N))) and the realised genetic correlation is
   ``genetic_correlation`` up to the sampling error of the effects (O(1/sqrt(S)), larger with
   LD). Relatives share no environment.

Validity
--------
A neutral, panmictic cohort of nuclear families without shared environment, assortative mating,
genotyping error or population structure; relatedness is first degree only (no cousins). The
traits follow the infinitesimal-like model above (Gaussian effects on standardised genotypes),
the setting REGENIE/BOLT-LMM are built for; it is not a model of any real population.

msprime is optional (``pip install gwaskit[sim]``), imported when founders are simulated.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from .._log import logger
from ..errors import InputError
from .genotypes import SimulatedGenotypes, allele_frequencies, simulate_chromosome_haplotypes

__all__ = ["FAMILY_OUTPUT_FILES", "FamilyCohortConfig", "SimulatedFamilies", "simulate_families",
           "simulate_family_cohort", "transmit"]

FAMILY_TYPES = ("unrelated", "trio", "sibpair")
_MEIOSIS_CHUNK = 1024


@dataclass(frozen=True)
class FamilyCohortConfig:
    """Every option of :func:`simulate_families` (frozen; ``to_dict()`` for manifests).

    Parameters
    ----------
    n_individuals
        Cohort size N (individuals with genotypes and traits).
    n_chromosomes, chrom_length
        Chromosomes ``"1"`` ... and their length in bp.
    family_fraction
        Share of the N individuals who belong to a family (sibling pair or trio), in [0, 1].
    trio_share
        Share of the family members who are in parent-offspring trios; the rest are in sibling
        pairs. Rounded to whole families.
    n_traits
        Number of traits D.
    h2
        Heritability of every trait (variance of the genetic value, the trait variance being 1).
    genetic_correlation, environmental_correlation
        Correlation between every pair of traits' effects (genetic values) and environments.
        Must be at least ``-1 / (D - 1)`` so that the matrices are positive semi-definite.
    n_causal_per_chromosome
        Causal variants on each non-null chromosome (the polygenic background).
    null_chromosomes
        Chromosomes without any causal variant (e.g. ``("3",)``), to measure inflation.
    min_causal_maf, maf
        MAF a variant needs in the cohort to be causal, and to be kept at all.
    morgans_per_bp
        Genetic map of the transmission (Morgans per bp, uniform); ``None`` uses
        ``recombination_rate`` (1e-8 = 1 cM/Mb).
    recombination_rate, mutation_rate, ne
        msprime parameters of the founders (per bp per generation; effective size).
    keep_haplotypes
        Return the phased haplotypes (2 N S bytes) besides the dosages (N S bytes); ``False``
        saves memory on large cohorts.
    shuffle
        Put the cohort's rows in random order (``True``) so relatives are not adjacent, as in
        a biobank; ``False`` keeps unrelated, then trios, then sibling pairs.
    seed
        Seeds everything: the same configuration gives identical output.
    """

    n_individuals: int = 2000
    n_chromosomes: int = 3
    chrom_length: float = 5e6
    family_fraction: float = 0.4
    trio_share: float = 0.5
    n_traits: int = 1
    h2: float = 0.5
    genetic_correlation: float = 0.5
    environmental_correlation: float = 0.0
    n_causal_per_chromosome: int = 200
    null_chromosomes: tuple[str, ...] = ()
    min_causal_maf: float = 0.01
    maf: float = 0.01
    morgans_per_bp: float | None = None
    recombination_rate: float = 1e-8
    mutation_rate: float = 1.25e-8
    ne: float = 10_000
    keep_haplotypes: bool = True
    shuffle: bool = True
    seed: int = 0

    def validate(self) -> None:
        """Raise :class:`~gwaskit.errors.InputError` naming the first invalid option."""
        if self.n_individuals < 2:
            raise InputError(f"n_individuals: need at least 2, got {self.n_individuals}")
        if self.n_chromosomes < 1:
            raise InputError(f"n_chromosomes: need at least 1, got {self.n_chromosomes}")
        if int(round(self.chrom_length)) < 1000:
            raise InputError(f"chrom_length: {self.chrom_length} bp is too short")
        if not 0 <= self.family_fraction <= 1:
            raise InputError(f"family_fraction: must lie in [0, 1], got {self.family_fraction}")
        if not 0 <= self.trio_share <= 1:
            raise InputError(f"trio_share: must lie in [0, 1], got {self.trio_share}")
        if self.n_traits < 1:
            raise InputError(f"n_traits: need at least 1, got {self.n_traits}")
        if not 0 <= self.h2 <= 1:
            raise InputError(f"h2: must lie in [0, 1], got {self.h2}")
        lo = -1.0 / (self.n_traits - 1) if self.n_traits > 1 else -1.0
        for name in ("genetic_correlation", "environmental_correlation"):
            r = getattr(self, name)
            if not lo - 1e-12 <= r <= 1:
                raise InputError(f"{name}: must lie in [{lo:.4g}, 1] for {self.n_traits} traits, got {r}")
        if self.n_causal_per_chromosome < 0:
            raise InputError(f"n_causal_per_chromosome: must be >= 0, got {self.n_causal_per_chromosome}")
        names = {str(k + 1) for k in range(self.n_chromosomes)}
        bad = [c for c in self.null_chromosomes if str(c) not in names]
        if bad:
            raise InputError(
                f"null_chromosomes: {bad[0]!r} is not one of the simulated chromosomes 1..{self.n_chromosomes}"
            )
        if not 0 <= self.maf < 0.5:
            raise InputError(f"maf: must lie in [0, 0.5), got {self.maf}")
        if not 0 <= self.min_causal_maf < 0.5:
            raise InputError(f"min_causal_maf: must lie in [0, 0.5), got {self.min_causal_maf}")
        if self.morgans_per_bp is not None and self.morgans_per_bp < 0:
            raise InputError(f"morgans_per_bp: must be >= 0, got {self.morgans_per_bp}")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["null_chromosomes"] = [str(c) for c in self.null_chromosomes]
        return d

    @property
    def family_counts(self) -> tuple[int, int, int]:
        """``(n_unrelated, n_trios, n_sibling_pairs)`` for this configuration."""
        in_families = self.family_fraction * self.n_individuals
        n_trios = int(round(in_families * self.trio_share / 3.0))
        n_pairs = int(round(in_families * (1.0 - self.trio_share) / 2.0))
        while 3 * n_trios + 2 * n_pairs > self.n_individuals:
            if n_pairs > 0:
                n_pairs -= 1
            else:
                n_trios -= 1
        return self.n_individuals - 3 * n_trios - 2 * n_pairs, n_trios, n_pairs


@dataclass
class SimulatedFamilies:
    """Result of :func:`simulate_families`; rows of every array are the cohort's individuals.

    Attributes
    ----------
    genotypes : SimulatedGenotypes
        Dosages (int8 0/1/2, N x S) of the derived allele, variant table and IIDs; usable with
        :func:`gwaskit.simulate.write_bgen`.
    haplotypes : ndarray, int8, shape (2, N, S), or None
        ``[0]`` paternal and ``[1]`` maternal allele of children; for founders an arbitrary
        order. ``haplotypes.sum(axis=0) == genotypes.genotypes``. ``None`` unless
        ``config.keep_haplotypes``.
    pedigree : DataFrame
        PLINK ``.fam``-like: ``FID`` (family id; an unrelated individual is a family of one),
        ``IID``, ``PAT``, ``MAT`` (parent IIDs, ``"0"`` when the parent is not in the cohort),
        ``SEX`` (1 male, 2 female), ``family_type`` (``unrelated``/``trio``/``sibpair``) and
        ``role`` (``founder``/``father``/``mother``/``child``).
    traits : ndarray, float64, shape (N, D)
        ``Y = G + E``.
    genetic_values : ndarray, float64, shape (N, D)
        ``G``; every column has mean 0 and variance ``h2`` in the cohort.
    chromosome_genetic_values : dict
        Chromosome name -> its part of ``G`` (N x D); they sum to ``G``; zero on null
        chromosomes.
    effects : DataFrame
        Causal variants: ``variant_index`` (column of the genotype matrix), ``variant_id``,
        ``chromosome``, ``base_pair_location``, ``effect_allele_frequency``, ``mean``, ``sd``
        (cohort moments used to standardise), and ``beta_1`` ... ``beta_D`` per standardised
        genotype, so ``G = ((dosage - mean) / sd) @ beta``.
    crossovers : DataFrame
        One row per meiosis and chromosome: ``IID`` (child), ``parent`` (``PAT``/``MAT``),
        ``parent_id`` (the parent's IID, or ``<FID>_father``/``<FID>_mother`` outside the
        cohort), ``chromosome``, ``n_crossovers``.
    config : FamilyCohortConfig
    """

    genotypes: SimulatedGenotypes
    haplotypes: np.ndarray | None
    pedigree: pd.DataFrame
    traits: np.ndarray
    genetic_values: np.ndarray
    chromosome_genetic_values: dict
    effects: pd.DataFrame
    crossovers: pd.DataFrame
    config: FamilyCohortConfig
    manifest: dict = field(default_factory=dict)

    @property
    def trait_names(self) -> list[str]:
        return [f"trait_{k + 1}" for k in range(self.traits.shape[1])]

    def phenotype_table(self) -> pd.DataFrame:
        """``FID, IID, trait_1 ... trait_D`` (the layout of a phenotype file)."""
        # one concat, not D inserts: pandas fragments (and warns about) a frame built column by
        # column at D = 256
        traits = pd.DataFrame(self.traits, columns=self.trait_names,
                              index=self.pedigree.index)
        return pd.concat([self.pedigree[["FID", "IID"]], traits], axis=1)

    def relative_pairs(self) -> pd.DataFrame:
        """Row indices of every first-degree pair in the cohort.

        Columns ``i``, ``j`` (rows, ``i < j``) and ``relationship`` (``parent-offspring`` or
        ``siblings``).
        """
        ped = self.pedigree
        row = {iid: k for k, iid in enumerate(ped["IID"])}
        out = []
        for k, (pat, mat) in enumerate(zip(ped["PAT"], ped["MAT"])):
            for parent in (pat, mat):
                if parent != "0":
                    out.append((min(k, row[parent]), max(k, row[parent]), "parent-offspring"))
        sibs = ped[ped["family_type"] == "sibpair"]
        for _, grp in sibs.groupby("FID", sort=False):
            r = sorted(row[i] for i in grp["IID"])
            out.append((r[0], r[1], "siblings"))
        return pd.DataFrame(out, columns=["i", "j", "relationship"]).sort_values(["i", "j"], ignore_index=True)


def transmit(
    haplotype_a: np.ndarray,
    haplotype_b: np.ndarray,
    positions: np.ndarray,
    length: float,
    morgans_per_bp: float,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Gametes of many meioses on one chromosome (Haldane: Poisson crossovers, no interference).

    Parameters
    ----------
    haplotype_a, haplotype_b : ndarray, int8, shape (n_meioses, S)
        The two haplotypes of the transmitting parent of every meiosis.
    positions : ndarray, shape (S,)
        Increasing site positions (bp) on a chromosome of ``length`` bp.
    morgans_per_bp
        Genetic map: the crossover count is Poisson(``length * morgans_per_bp``).
    rng
        Random generator (crossover counts, their uniform positions, the starting haplotype).

    Returns
    -------
    gametes : ndarray, int8, shape (n_meioses, S)
        At every site, the allele of ``haplotype_a`` or ``haplotype_b`` of that meiosis;
        the source switches at every crossover.
    n_crossovers : ndarray, int64, shape (n_meioses,)
    """
    n_meio, n_sites = haplotype_a.shape
    counts = rng.poisson(length * morgans_per_bp, n_meio).astype(np.int64)
    start = rng.integers(0, 2, n_meio).astype(np.uint8)
    xs = rng.uniform(0.0, length, int(counts.sum()))
    owner = np.repeat(np.arange(n_meio), counts)
    gametes = np.empty((n_meio, n_sites), dtype=np.int8)
    # a crossover at x switches the source of every site with position > x
    first = np.searchsorted(np.asarray(positions, dtype=np.float64), xs, side="right")
    for lo in range(0, n_meio, _MEIOSIS_CHUNK):
        hi = min(n_meio, lo + _MEIOSIS_CHUNK)
        sel = (owner >= lo) & (owner < hi)
        toggle = np.zeros((hi - lo, n_sites + 1), dtype=np.uint8)
        np.add.at(toggle, (owner[sel] - lo, first[sel]), 1)
        # uint8 wraps modulo 256, which keeps the parity
        source = (np.cumsum(toggle[:, :n_sites], axis=1, dtype=np.uint8) + start[lo:hi, None]) & 1
        gametes[lo:hi] = np.where(source == 0, haplotype_a[lo:hi], haplotype_b[lo:hi])
    return gametes, counts


def _sqrt_psd(r: float, d: int) -> np.ndarray:
    """A square root ``L`` (``L Lᵀ = R``) of the compound-symmetric correlation matrix."""
    R = np.full((d, d), float(r))
    np.fill_diagonal(R, 1.0)
    w, v = np.linalg.eigh(R)
    return v * np.sqrt(np.clip(w, 0.0, None))


def _standardize_columns(x: np.ndarray) -> np.ndarray:
    x = x - x.mean(axis=0)
    sd = x.std(axis=0)
    return np.divide(x, sd, out=np.zeros_like(x), where=sd > 0)


def simulate_families(config: FamilyCohortConfig | None = None, **overrides) -> SimulatedFamilies:
    """Simulate a related cohort (sibling pairs, trios, unrelated) with D polygenic traits.

    Parameters
    ----------
    config
        All options (:class:`FamilyCohortConfig`); keyword ``overrides`` replace single fields,
        e.g. ``simulate_families(n_individuals=500, n_traits=4)``.

    Returns
    -------
    SimulatedFamilies
        Genotypes, haplotypes, pedigree (FID = family id), traits and their genetic values,
        causal effects and the crossover record; see the module docstring for the model and
        where it is valid.
    """
    import dataclasses

    cfg = config if config is not None else FamilyCohortConfig()
    if overrides:
        cfg = dataclasses.replace(cfg, **overrides)
    cfg.validate()
    n_unrel, n_trios, n_pairs = cfg.family_counts
    n_founders = n_unrel + 2 * n_trios + 2 * n_pairs
    n_children = n_trios + 2 * n_pairs
    length = int(round(cfg.chrom_length))
    rate = cfg.recombination_rate if cfg.morgans_per_bp is None else cfg.morgans_per_bp
    logger.info(
        "related cohort: %d unrelated, %d trios, %d sibling pairs (%d founders, %d children)",
        n_unrel,
        n_trios,
        n_pairs,
        n_founders,
        n_children,
    )

    # founder index of every cohort member and of every meiosis, in creation order:
    # unrelated founders, then per trio (father, mother), then the parents of each sibling pair
    trio_fathers = n_unrel + 2 * np.arange(n_trios)
    pair_fathers = n_unrel + 2 * n_trios + 2 * np.arange(n_pairs)
    child_fathers = np.concatenate([trio_fathers, np.repeat(pair_fathers, 2)]).astype(np.int64)
    child_mothers = child_fathers + 1

    n = n_unrel + 2 * n_trios + n_children
    # pedigree in creation order: unrelated, trio parents (father, mother), trio children,
    # sibling pairs; founder index == creation row for the first n_unrel + 2 n_trios rows
    fam_of = np.empty(n, dtype=np.int64)
    family_type = np.empty(n, dtype=object)
    role = np.empty(n, dtype=object)
    pat_row = np.full(n, -1, dtype=np.int64)
    mat_row = np.full(n, -1, dtype=np.int64)
    fam_of[:n_unrel] = np.arange(n_unrel)
    family_type[:n_unrel], role[:n_unrel] = "unrelated", "founder"
    t0 = n_unrel
    c0 = n_unrel + 2 * n_trios
    for t in range(n_trios):
        f, m, c = t0 + 2 * t, t0 + 2 * t + 1, c0 + t
        fam_of[[f, m, c]] = n_unrel + t
        family_type[[f, m, c]] = "trio"
        role[f], role[m], role[c] = "father", "mother", "child"
        pat_row[c], mat_row[c] = f, m
    s0 = c0 + n_trios
    for s in range(n_pairs):
        rows = [s0 + 2 * s, s0 + 2 * s + 1]
        fam_of[rows] = n_unrel + n_trios + s
        family_type[rows] = "sibpair"
        role[rows] = "child"
    rng = np.random.default_rng(np.random.SeedSequence([cfg.seed, 0x9ED16EE]))
    sex = rng.integers(1, 3, n).astype(np.int8)
    sex[role == "father"] = 1
    sex[role == "mother"] = 2
    order = rng.permutation(n) if cfg.shuffle else np.arange(n)  # final row -> creation row
    new_row = np.empty(n, dtype=np.int64)
    new_row[order] = np.arange(n)

    # per chromosome: founders, meioses, cohort rows in final order, cohort MAF filter
    chrom_seeds = np.random.SeedSequence(cfg.seed).spawn(cfg.n_chromosomes)
    members = np.arange(c0)
    hap_blocks, tables, cross_counts = [], [], []
    n_sites = 0
    for k in range(cfg.n_chromosomes):
        chrom = str(k + 1)
        founders, variants = simulate_chromosome_haplotypes(
            chrom,
            [n_founders],
            length,
            cfg.recombination_rate,
            cfg.mutation_rate,
            cfg.ne,
            0.0,
            1,
            int(chrom_seeds[k].generate_state(1)[0]),
        )
        pos = variants["base_pair_location"].to_numpy()
        rng = np.random.default_rng(np.random.SeedSequence([cfg.seed, 0xFA417, k]))
        pat, n_pat = transmit(founders[0][child_fathers], founders[1][child_fathers], pos, length, rate, rng)
        mat, n_mat = transmit(founders[0][child_mothers], founders[1][child_mothers], pos, length, rate, rng)
        hap = np.empty((2, n, pos.size), dtype=np.int8)
        hap[:, :c0] = founders[:, members]
        hap[0, c0:] = pat
        hap[1, c0:] = mat
        del founders, pat, mat
        hap = hap[:, order]
        count = hap[0].sum(axis=0, dtype=np.int64) + hap[1].sum(axis=0, dtype=np.int64)
        freq_c = count / (2.0 * n)
        maf_c = np.minimum(freq_c, 1.0 - freq_c)
        keep = (maf_c >= cfg.maf) & (maf_c > 0)
        n_sites += keep.size
        if cfg.keep_haplotypes:
            hap_blocks.append(np.ascontiguousarray(hap[:, :, keep]))
        else:
            hap_blocks.append(np.ascontiguousarray(hap[0][:, keep] + hap[1][:, keep]))
        tables.append(variants[keep])
        cross_counts.append((chrom, n_pat, n_mat))
        del hap
    if cfg.keep_haplotypes:
        haplotypes = np.concatenate(hap_blocks, axis=2)
        dosages = np.ascontiguousarray(haplotypes[0] + haplotypes[1])
    else:
        haplotypes = None
        dosages = np.concatenate(hap_blocks, axis=1)
    del hap_blocks
    variants = pd.concat(tables, ignore_index=True)
    logger.info("related cohort MAF filter (>= %g): %d of %d variants kept", cfg.maf, variants.shape[0], n_sites)

    width = max(6, len(str(n)))
    iids = np.array([f"ID{i + 1:0{width}d}" for i in range(n)], dtype=object)  # by final row
    n_fam = n_unrel + n_trios + n_pairs
    fwidth = max(5, len(str(n_fam)))
    fids = np.array([f"FAM{f + 1:0{fwidth}d}" for f in range(n_fam)], dtype=object)

    def parent_ids(rows: np.ndarray) -> np.ndarray:
        return np.array([iids[new_row[r]] if r >= 0 else "0" for r in rows], dtype=object)

    pedigree = pd.DataFrame(
        {
            "FID": fids[fam_of[order]],
            "IID": iids,
            "PAT": parent_ids(pat_row[order]),
            "MAT": parent_ids(mat_row[order]),
            "SEX": sex[order],
            "family_type": family_type[order],
            "role": role[order],
        }
    )

    # crossover record: child rows c0 .. c0 + n_children in creation order
    child_rows = c0 + np.arange(n_children)
    child_iid = iids[new_row[child_rows]]
    child_fid = fids[fam_of[child_rows]]
    # trio parents are cohort rows (founder index = creation row); sibling pairs' are not
    is_trio = np.arange(n_children) < n_trios
    father_id = np.array(
        [iids[new_row[child_fathers[i]]] if is_trio[i] else f"{child_fid[i]}_father" for i in range(n_children)],
        dtype=object,
    )
    mother_id = np.array(
        [iids[new_row[child_mothers[i]]] if is_trio[i] else f"{child_fid[i]}_mother" for i in range(n_children)],
        dtype=object,
    )
    rec = []
    for chrom, n_pat, n_mat in cross_counts:
        rec.append(
            pd.DataFrame(
                {"IID": child_iid, "parent": "PAT", "parent_id": father_id, "chromosome": chrom, "n_crossovers": n_pat}
            )
        )
        rec.append(
            pd.DataFrame(
                {"IID": child_iid, "parent": "MAT", "parent_id": mother_id, "chromosome": chrom, "n_crossovers": n_mat}
            )
        )
    crossovers = pd.concat(rec, ignore_index=True)

    freq = allele_frequencies(dosages)
    maf = np.minimum(freq, 1.0 - freq)

    effects, G, G_chrom, E = _polygenic_traits(cfg, dosages, variants, freq, maf)
    traits = G + E
    geno = SimulatedGenotypes(
        genotypes=dosages,
        variants=variants,
        samples=iids.copy(),
        populations=np.full(n, "pop_0", dtype=object),
        params=cfg.to_dict(),
    )
    realised_h2 = (G.var(axis=0) / traits.var(axis=0)).tolist()
    manifest = {
        "generator": "gwaskit.simulate.simulate_families",
        "parameters": cfg.to_dict(),
        "model": "Y = G + E; G = X_std beta, beta_j ~ N(0, R_g), var(G_d) = h2; "
        "E rows ~ N(0, R_e), var(E_d) = 1 - h2; Haldane transmission",
        "n_unrelated": n_unrel,
        "n_trios": n_trios,
        "n_sibling_pairs": n_pairs,
        "n_variants": int(dosages.shape[1]),
        "n_causal": int(effects.shape[0]),
        "realised_h2": realised_h2,
    }
    return SimulatedFamilies(
        genotypes=geno,
        haplotypes=haplotypes,
        pedigree=pedigree,
        traits=traits,
        genetic_values=G,
        chromosome_genetic_values=G_chrom,
        effects=effects,
        crossovers=crossovers,
        config=cfg,
        manifest=manifest,
    )


def _polygenic_traits(
    cfg: FamilyCohortConfig,
    dosages: np.ndarray,
    variants: pd.DataFrame,
    freq: np.ndarray,
    maf: np.ndarray,
) -> tuple[pd.DataFrame, np.ndarray, dict, np.ndarray]:
    """Causal effects, genetic value (total and per chromosome) and environment."""
    n = dosages.shape[0]
    d = cfg.n_traits
    rng = np.random.default_rng(np.random.SeedSequence([cfg.seed, 0x7A175]))
    chrom = variants["chromosome"].to_numpy().astype(str)
    null = {str(c) for c in cfg.null_chromosomes}
    chosen = []
    for c in pd.unique(chrom):
        if c in null or cfg.n_causal_per_chromosome == 0:
            continue
        pool = np.flatnonzero((chrom == c) & (maf >= cfg.min_causal_maf))
        if pool.size < cfg.n_causal_per_chromosome:
            raise InputError(
                f"n_causal_per_chromosome: {cfg.n_causal_per_chromosome} causal variants requested "
                f"on chromosome {c} but only {pool.size} have MAF >= {cfg.min_causal_maf}; "
                "simulate longer chromosomes or ask for fewer"
            )
        chosen.append(np.sort(rng.choice(pool, size=cfg.n_causal_per_chromosome, replace=False)))
    idx = np.concatenate(chosen) if chosen else np.zeros(0, dtype=np.int64)
    x = dosages[:, idx].astype(np.float64)
    mean = x.mean(axis=0)
    sd = x.std(axis=0)
    xs = (x - mean) / sd
    beta = rng.standard_normal((idx.size, d)) @ _sqrt_psd(cfg.genetic_correlation, d).T
    g_raw = xs @ beta
    sd_g = g_raw.std(axis=0)
    scale = np.divide(np.sqrt(cfg.h2), sd_g, out=np.zeros(d), where=sd_g > 0)
    beta = beta * scale
    G = xs @ beta
    G_chrom = {}
    causal_chrom = chrom[idx]
    for c in pd.unique(chrom):
        sel = causal_chrom == c
        G_chrom[str(c)] = xs[:, sel] @ beta[sel] if sel.any() else np.zeros((n, d))
    e = rng.standard_normal((n, d)) @ _sqrt_psd(cfg.environmental_correlation, d).T
    E = np.sqrt(1.0 - cfg.h2) * _standardize_columns(e)
    effects = variants.iloc[idx][["variant_id", "chromosome", "base_pair_location"]].reset_index(drop=True)
    effects.insert(0, "variant_index", idx.astype(np.int64))
    effects["effect_allele_frequency"] = freq[idx]
    effects["mean"] = mean
    effects["sd"] = sd
    betas = pd.DataFrame(beta, columns=[f"beta_{k + 1}" for k in range(d)])
    effects = pd.concat([effects, betas], axis=1)
    return effects, G, G_chrom, E


#: Files :func:`simulate_family_cohort` writes besides ``chr<k>.bgen`` + ``chr<k>.sample``.
FAMILY_OUTPUT_FILES = ("phenotypes.parquet", "pedigree.tsv", "causal.tsv", "manifest.json")


def simulate_family_cohort(
    out_dir: str | os.PathLike | None,
    config: FamilyCohortConfig | None = None,
    *,
    write_bgen: bool = True,
    overwrite: bool = False,
    **overrides,
) -> SimulatedFamilies:
    """Simulate a related cohort (:func:`simulate_families`) and write it to ``out_dir``.

    The layout follows :func:`gwaskit.simulate.simulate_cohort`:

    ======================  =====================================================================
    ``chr<k>.bgen``         one per chromosome, 8-bit BGEN 1.2, IIDs embedded, + ``.sample``
                            (``ID_1`` = FID = family ID, ``ID_2`` = IID)
    ``phenotypes.parquet``  ``FID, IID, SEX, trait_1 ... trait_D`` (SEX 1 male, 2 female)
    ``pedigree.tsv``        ``FID IID PAT MAT SEX family_type role`` (PAT/MAT ``0``: not in the
                            cohort; ``family_type`` unrelated/trio/sibpair; ``role``
                            founder/father/mother/child)
    ``causal.tsv``          the causal variants: index, ID, position, frequency, the cohort
                            mean and SD used to standardise, ``beta_1 ... beta_D``
    ``manifest.json``       parameters, family counts, realised h2 and genetic correlation,
                            variants and causal variants per chromosome, files, versions
    ======================  =====================================================================

    Parameters
    ----------
    out_dir
        Output folder (created if missing); ``None`` writes nothing.
    config
        The cohort (:class:`FamilyCohortConfig`); keyword ``overrides`` replace single fields.
    write_bgen
        Write the BGEN files (``False``: only the tables).
    overwrite
        Replace existing outputs (otherwise an existing one is refused before any work).

    Returns
    -------
    SimulatedFamilies
        As :func:`simulate_families`, with ``manifest["files"]`` naming what was written.

    Raises
    ------
    InputError
        An invalid option (named), or an existing output without ``overwrite``.
    """
    import dataclasses
    from pathlib import Path

    cfg = config if config is not None else FamilyCohortConfig()
    if overrides:
        cfg = dataclasses.replace(cfg, **overrides)
    cfg.validate()
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        if not overwrite:
            bgens = [f"chr{k + 1}.bgen" for k in range(cfg.n_chromosomes)] if write_bgen else []
            clash = [f for f in (*FAMILY_OUTPUT_FILES, *bgens) if (out / f).exists()]
            if clash:
                raise InputError(f"{out}: {clash[0]} exists; pass overwrite=True to replace outputs")
    fam = simulate_families(cfg)
    geno = fam.genotypes
    chrom = geno.variants["chromosome"].astype(str)
    causal_chrom = fam.effects["chromosome"].astype(str)
    fam.manifest["variants_per_chromosome"] = {c: s.stop - s.start
                                               for c, s in geno.chromosome_slices().items()}
    fam.manifest["causal_per_chromosome"] = {c: int((causal_chrom == c).sum())
                                             for c in pd.unique(chrom)}
    if cfg.n_traits > 1:
        g = np.corrcoef(fam.genetic_values, rowvar=False)
        fam.manifest["realised_genetic_correlation"] = float(g[np.triu_indices(cfg.n_traits, 1)].mean())
    fam.manifest["allele_coding"] = "dosage counts effect_allele (derived allele, BGEN allele 1)"
    fam.manifest["trait_names"] = fam.trait_names
    try:
        from importlib.metadata import version

        fam.manifest["gwaskit_version"] = version("gwaskit")
        fam.manifest["msprime_version"] = version("msprime")
    except Exception:  # pragma: no cover - metadata missing in odd installs
        pass
    if out_dir is None:
        return fam

    from ..io.output import write_json, write_table
    from .genotypes import write_bgen as _write_bgen

    out = Path(out_dir)
    paths: dict = {}
    if write_bgen:
        written = _write_bgen(geno, str(out), overwrite=overwrite, fids=fam.pedigree["FID"].tolist())
        paths["bgen"] = [os.path.basename(p) for p in written]
    pheno = fam.phenotype_table()
    pheno.insert(2, "SEX", fam.pedigree["SEX"].to_numpy())
    write_table(pheno, out / "phenotypes.parquet", overwrite=overwrite)
    write_table(fam.pedigree, out / "pedigree.tsv", overwrite=overwrite)
    write_table(fam.effects, out / "causal.tsv", overwrite=overwrite)
    paths.update(phenotypes="phenotypes.parquet", pedigree="pedigree.tsv", causal="causal.tsv",
                 manifest="manifest.json")
    fam.manifest["files"] = paths
    write_json(fam.manifest, out / "manifest.json", overwrite=overwrite)
    logger.info("related cohort written to %s (%d individuals, %d variants, %d traits)", out,
                geno.n_samples, geno.n_variants, cfg.n_traits)
    return fam

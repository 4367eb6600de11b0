"""A complete simulated study: genotypes, latent trait, disease, covariates, external GWAS.

``n_individuals + n_external`` diploids are simulated together (same demography, same
chromosomes), then split at random into the study cohort and a disjoint external cohort. The
latent trait (equation (4), :mod:`gwaskit.simulate.traits`) is standardised over both cohorts
together, so one set of causal effects acts in both; the external GWAS is a per-variant linear
regression in the external cohort only (adjusted for deme indicators when there are several
demes), i.e. independent summary statistics of the kind ``gwaskit panel`` consumes.

Files written to ``out_dir``:

=====================  ===========================================================
``chr<k>.bgen``         study cohort, one per chromosome, 8-bit BGEN 1.2 + ``.sample``
``phenotypes.parquet``  ``IID, z, disease, population`` (study cohort)
``covariates.parquet``  ``IID, sex, age`` (non-genetic, independent of z)
``causal.tsv``          causal variants and their +-1 effects
``external_gwas.tsv``   GWAS-SSF-style summary statistics from the external cohort
``manifest.json``       parameters, counts, realised heritability and prevalence
=====================  ===========================================================
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .._log import logger
from ..errors import InputError
from .genotypes import (
    SimulatedGenotypes,
    allele_frequencies,
    cohort_populations,
    cohort_samples,
    genotype_params,
    iter_chromosome_genotypes,
    join_column_blocks,
    row_pieces,
    select_piece_columns,
)
from .gwas import gwas_sumstats, population_design, write_sumstats
from .traits import liability_threshold, trait_from_row_blocks

OUTPUT_FILES = ("phenotypes.parquet", "covariates.parquet", "causal.tsv", "external_gwas.tsv",
                "manifest.json")


@dataclass
class SimulatedCohort:
    """In-memory result of :func:`simulate_cohort`."""

    genotypes: SimulatedGenotypes          # study cohort
    phenotypes: pd.DataFrame               # IID, z, disease, population
    covariates: pd.DataFrame               # IID, sex, age
    causal: pd.DataFrame
    external_gwas: pd.DataFrame
    external: SimulatedGenotypes | None    # external cohort genotypes
    external_phenotypes: pd.DataFrame | None
    gbeta: np.ndarray                      # true G beta of the study cohort
    manifest: dict = field(default_factory=dict)
    paths: dict = field(default_factory=dict)


def _frequency_pair(pieces: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """``(f, 1 - f)``, ``f`` the effect-allele frequency over the rows of every piece (exact
    integer counts: the same as :func:`.genotypes.allele_frequencies` of the stacked rows)."""
    n = sum(p.shape[0] for p in pieces)
    counts = sum(p.sum(axis=0, dtype=np.int64) for p in pieces)
    f = counts / (2.0 * n) if n else np.full(pieces[0].shape[1], np.nan)
    return f, 1.0 - f


def simulate_cohort(
    out_dir: str | os.PathLike | None,
    n_individuals: int = 3000,
    n_chromosomes: int = 3,
    chrom_length: float = 5e6,
    h_g: float = 0.6,
    n_causal: int = 30,
    prevalence: float = 0.1,
    n_external: int = 5000,
    populations: int = 1,
    seed: int = 1,
    *,
    maf: float = 0.01,
    min_causal_maf: float = 0.05,
    migration_rate: float = 5e-4,
    population_shift: float = 0.0,
    disease_noise: float = 0.0,
    external_trait: str = "z",
    adjust_populations: bool = True,
    recombination_rate: float = 1e-8,
    mutation_rate: float = 1.25e-8,
    ne: float = 10_000,
    write_bgen: bool = True,
    keep_external: bool = False,
    overwrite: bool = False,
) -> SimulatedCohort:
    """Simulate a study cohort plus an external GWAS and (optionally) write them to ``out_dir``.

    Parameters
    ----------
    out_dir
        Output folder (created if missing); ``None`` writes nothing.
    n_individuals, n_external
        Sizes of the study cohort and of the disjoint external GWAS cohort (0 = no GWAS).
    n_chromosomes, chrom_length
        Independent chromosomes and their length in bp.
    h_g
        Heritability of the latent trait z (equation (4)).
    n_causal, min_causal_maf
        Number of causal variants (effects +-1), drawn among variants with MAF >=
        ``min_causal_maf`` in the study cohort.
    prevalence, disease_noise
        Liability threshold for the binary ``disease`` label; ``disease_noise`` adds N(0, s^2)
        to the liability before thresholding (lower AUC ceiling).
    populations, migration_rate, population_shift
        Island-model demes; deme ``k`` shifts the non-genetic part of z by
        ``k * population_shift`` (confounding that genotype PCs remove).
    maf
        Variants kept have MAF >= ``maf`` in the study cohort and vary in the external one.
    external_trait
        ``"z"`` (quantitative) or ``"disease"`` (linear regression on the 0/1 label).
    adjust_populations
        Adjust the external GWAS for deme indicators.
    seed
        Seeds everything: identical arguments and seed give identical files.
    """
    if external_trait not in ("z", "disease"):
        raise InputError(f"external_trait: use 'z' or 'disease', got {external_trait!r}")
    if n_external < 0:
        raise InputError(f"n_external: must be >= 0, got {n_external}")
    paths: dict[str, str] = {}
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        if not overwrite:
            clash = [f for f in OUTPUT_FILES if (out / f).exists()] + [
                f"chr{k + 1}.bgen" for k in range(n_chromosomes) if (out / f"chr{k + 1}.bgen").exists()
            ]
            if clash:
                raise InputError(f"{out}: {clash[0]} exists; pass overwrite=True to replace outputs")

    n_total = n_individuals + n_external
    chromosomes = iter_chromosome_genotypes(
        n_total, n_chromosomes, chrom_length, populations=populations,
        migration_rate=migration_rate, recombination_rate=recombination_rate,
        mutation_rate=mutation_rate, ne=ne, maf=maf, seed=seed,
    )
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x5EED]))
    perm = rng.permutation(n_total)
    main_rows = np.sort(perm[:n_individuals])
    ext_rows = np.sort(perm[n_individuals:])

    # each chromosome is filtered and split into the two cohorts as soon as it is simulated:
    # the whole cohort is never held twice (the peak is about one byte per individual and
    # variant, plus one chromosome in flight)
    main_blocks, ext_blocks, tables = [], [], []
    n_simulated = 0
    for block, table in chromosomes:
        n_simulated += block.shape[1]
        in_main, in_ext = row_pieces(block, main_rows), row_pieces(block, ext_rows)
        del block
        keep = np.minimum(*_frequency_pair(in_main)) >= max(maf, 1e-12)
        if n_external:
            keep &= np.minimum(*_frequency_pair(in_ext)) > 0
        if not keep.all():
            in_main = select_piece_columns(in_main, keep)
            in_ext = select_piece_columns(in_ext, keep)
            table = table.iloc[np.flatnonzero(keep)]
        main_blocks.append(in_main)
        ext_blocks.append(in_ext)
        tables.append(table)
        del in_main, in_ext
    variants = pd.concat(tables, ignore_index=True)
    logger.info("study cohort MAF filter (>= %g): %d of %d variants kept", maf, len(variants),
                n_simulated)
    main_genotypes = join_column_blocks(main_blocks, n_individuals)
    ext_genotypes = join_column_blocks(ext_blocks, n_external)
    all_populations = cohort_populations(n_total, populations)

    row_blocks = [(main_rows, main_genotypes)] + (
        [(ext_rows, ext_genotypes)] if n_external else [])
    trait = trait_from_row_blocks(
        variants, allele_frequencies(main_genotypes), row_blocks, all_populations, h_g, n_causal,
        min_causal_maf=min_causal_maf, population_shift=population_shift, seed=seed,
    )
    del row_blocks
    disease, _ = liability_threshold(trait.z, prevalence, noise_sd=disease_noise, rng=rng)

    params = genotype_params(n_total, n_chromosomes, chrom_length, populations, migration_rate,
                             recombination_rate, mutation_rate, ne, maf, seed)
    # both cohorts' IIDs have the same number of digits
    width = max(6, len(str(max(n_individuals, n_external, 1))))
    main = SimulatedGenotypes(main_genotypes, variants, cohort_samples(n_individuals, "ID", width),
                              all_populations[main_rows], dict(params))
    del main_genotypes
    phenotypes = pd.DataFrame({
        "IID": main.samples.astype(str),
        "z": trait.z[main_rows],
        "disease": disease[main_rows],
        "population": main.populations.astype(str),
    })
    covariates = pd.DataFrame({
        "IID": main.samples.astype(str),
        "sex": rng.integers(0, 2, n_individuals).astype(np.int8),
        "age": np.round(rng.uniform(40, 70, n_individuals), 1),
    })
    gbeta_main = trait.gbeta[main_rows]
    causal = trait.causal.copy()
    causal["effect_allele_frequency"] = main.allele_frequencies()[causal["variant_index"].to_numpy()]

    external = ext_pheno = None
    sumstats = pd.DataFrame(columns=["variant_id"])
    if n_external:
        external = SimulatedGenotypes(ext_genotypes, variants.copy(),
                                      cohort_samples(n_external, "EXT", width),
                                      all_populations[ext_rows], dict(params))
        y = trait.z[ext_rows] if external_trait == "z" else disease[ext_rows].astype(np.float64)
        cov = population_design(external.populations) if adjust_populations else None
        sumstats = gwas_sumstats(external.genotypes, external.variants, y, cov)
        ext_pheno = pd.DataFrame({
            "IID": external.samples.astype(str), "z": trait.z[ext_rows],
            "disease": disease[ext_rows], "population": external.populations.astype(str),
        })
    del ext_genotypes
    if not keep_external:
        external = None          # released before the BGEN files are written

    r2 = float(np.corrcoef(phenotypes["z"].to_numpy(), gbeta_main)[0, 1] ** 2)
    manifest = {
        "generator": "gwaskit.simulate.simulate_cohort",
        "parameters": dict(
            n_individuals=n_individuals, n_chromosomes=n_chromosomes, chrom_length=int(chrom_length),
            h_g=h_g, n_causal=n_causal, prevalence=prevalence, n_external=n_external,
            populations=populations, seed=seed, maf=maf, min_causal_maf=min_causal_maf,
            migration_rate=migration_rate, population_shift=population_shift,
            disease_noise=disease_noise, external_trait=external_trait,
            adjust_populations=adjust_populations, recombination_rate=recombination_rate,
            mutation_rate=mutation_rate, ne=ne,
        ),
        "model": "z = sqrt(h_g) std(G beta) + sqrt(1 - h_g) std(eps); beta in {-1,+1}; "
                 "disease = liability > Phi^-1(1 - prevalence)",
        "n_variants": main.n_variants,
        "variants_per_chromosome": {c: s.stop - s.start for c, s in main.chromosome_slices().items()},
        "realised_h_g": r2,
        "realised_prevalence": float(phenotypes["disease"].mean()),
        "external_gwas_variants": int(sumstats.shape[0]),
        "allele_coding": "dosage counts effect_allele (derived allele, BGEN allele 1)",
    }
    try:
        from importlib.metadata import version

        manifest["gwaskit_version"] = version("gwaskit")
        manifest["msprime_version"] = version("msprime")
    except Exception:  # pragma: no cover - metadata missing in odd installs
        pass

    if out_dir is not None:
        from ..io.output import write_json, write_table

        out = Path(out_dir)
        if write_bgen:
            from .genotypes import write_bgen as _write_bgen

            bgens = _write_bgen(main, str(out), overwrite=overwrite)
            paths["bgen"] = [os.path.basename(p) for p in bgens]
        write_table(phenotypes, out / "phenotypes.parquet", overwrite=overwrite)
        write_table(covariates, out / "covariates.parquet", overwrite=overwrite)
        write_table(causal, out / "causal.tsv", overwrite=overwrite)
        if n_external:
            write_sumstats(sumstats, out / "external_gwas.tsv", overwrite=overwrite)
            paths["external_gwas"] = "external_gwas.tsv"
        paths.update(phenotypes="phenotypes.parquet", covariates="covariates.parquet",
                     causal="causal.tsv", manifest="manifest.json")
        manifest["files"] = paths
        write_json(manifest, out / "manifest.json", overwrite=overwrite)
        logger.info("simulated cohort written to %s (%d individuals, %d variants, realised h_g %.3f, "
                    "prevalence %.3f)", out, n_individuals, main.n_variants, r2,
                    manifest["realised_prevalence"])
    return SimulatedCohort(
        genotypes=main, phenotypes=phenotypes, covariates=covariates, causal=causal,
        external_gwas=sumstats, external=external,
        external_phenotypes=ext_pheno, gbeta=gbeta_main, manifest=manifest, paths=paths,
    )

"""``gwaskit simulate``: a cohort with realistic LD, latent trait, disease and an external GWAS."""
from __future__ import annotations

import click


@click.command("simulate")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Output folder (created if missing).")
@click.option("--n", "n_individuals", default=3000, show_default=True, type=click.IntRange(2),
              help="Study cohort size.")
@click.option("--n-external", default=5000, show_default=True, type=click.IntRange(0),
              help="Disjoint cohort for the external GWAS (0: none).")
@click.option("--chromosomes", "n_chromosomes", default=3, show_default=True, type=click.IntRange(1))
@click.option("--length-mb", default=5.0, show_default=True, type=click.FloatRange(0.001),
              help="Length of every chromosome in Mb.")
@click.option("--h2", "h_g", default=0.6, show_default=True, type=click.FloatRange(0, 1),
              help="Heritability of the latent trait z.")
@click.option("--n-causal", default=30, show_default=True, type=click.IntRange(1))
@click.option("--prevalence", default=0.1, show_default=True, type=click.FloatRange(0, 1, min_open=True, max_open=True))
@click.option("--disease-noise", default=0.0, show_default=True, type=click.FloatRange(0),
              help="SD of extra liability noise before thresholding.")
@click.option("--populations", default=1, show_default=True, type=click.IntRange(1),
              help="Demes of an island model (population structure).")
@click.option("--migration-rate", default=5e-4, show_default=True, type=float)
@click.option("--population-shift", default=0.0, show_default=True, type=float,
              help="Non-genetic shift of z per deme index (stratification).")
@click.option("--maf", default=0.01, show_default=True, type=click.FloatRange(0, 0.5, max_open=True))
@click.option("--min-causal-maf", default=0.05, show_default=True, type=click.FloatRange(0, 0.5))
@click.option("--external-trait", type=click.Choice(["z", "disease"]), default="z", show_default=True)
@click.option("--no-bgen", is_flag=True, help="Skip the BGEN files.")
@click.option("--seed", default=1, show_default=True, type=int)
@click.option("--overwrite", is_flag=True, help="Replace existing outputs.")
@click.option("--quiet", is_flag=True, help="No log on stderr.")
def command(out_dir, n_individuals, n_external, n_chromosomes, length_mb, h_g, n_causal, prevalence,
            disease_noise, populations, migration_rate, population_shift, maf, min_causal_maf,
            external_trait, no_bgen, seed, overwrite, quiet):
    """Simulate a cohort (msprime genotypes, z, disease, covariates) and an external GWAS."""
    from ..simulate import simulate_cohort
    from .main import setup_logging

    setup_logging(quiet)
    cohort = simulate_cohort(
        out_dir, n_individuals=n_individuals, n_chromosomes=n_chromosomes,
        chrom_length=length_mb * 1e6, h_g=h_g, n_causal=n_causal, prevalence=prevalence,
        n_external=n_external, populations=populations, seed=seed, maf=maf,
        min_causal_maf=min_causal_maf, migration_rate=migration_rate,
        population_shift=population_shift, disease_noise=disease_noise,
        external_trait=external_trait, write_bgen=not no_bgen, overwrite=overwrite,
    )
    m = cohort.manifest
    click.echo(f"{out_dir}: {n_individuals} individuals x {m['n_variants']} variants; "
               f"realised h2 {m['realised_h_g']:.3f}, prevalence {m['realised_prevalence']:.3f}")

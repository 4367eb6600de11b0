"""``gwaskit simulate``: a cohort with realistic LD, latent trait, disease and an external GWAS.

With ``--families FRACTION`` it simulates a related cohort instead
(:func:`gwaskit.simulate.simulate_family_cohort`): sibling pairs and parent-offspring trios by
Mendelian transmission from msprime founders, a polygenic background of ``--polygenic`` causal
variants per chromosome shared by ``--n-traits`` traits with ``--genetic-correlation``, and
optional ``--null-chromosomes`` without causal variants.
"""
from __future__ import annotations

import click

#: Flags of the single-trait cohort only (refused with --families when given).
_COHORT_ONLY = ("n_external", "n_causal", "prevalence", "disease_noise", "populations",
                "migration_rate", "population_shift", "external_trait")
#: Flags of the related cohort only (refused without --families when given).
_FAMILY_ONLY = ("trio_share", "n_traits", "genetic_correlation", "environmental_correlation",
                "null_chromosomes", "polygenic")


def _flag(ctx: click.Context, name: str) -> str:
    param = next(p for p in ctx.command.params if p.name == name)
    return param.opts[0]


def _given(ctx: click.Context, names: tuple[str, ...]) -> list[str]:
    """Flags of ``names`` given on the command line (not left at their default)."""
    src = click.core.ParameterSource
    return [_flag(ctx, n) for n in names
            if ctx.get_parameter_source(n) not in (None, src.DEFAULT, src.DEFAULT_MAP)]


def _chromosome_list(ctx: click.Context, param: click.Parameter, value: str | None):
    """``--null-chromosomes 3,4`` -> ``("3", "4")`` (a ``chr`` prefix is dropped)."""
    if value is None:
        return ()
    out: list[str] = []
    for item in value.split(","):
        code = item.strip()
        code = code[3:] if code[:3].lower() == "chr" else code
        if not code.isdigit() or int(code) < 1:
            raise click.BadParameter(f"{item.strip()!r} is not a chromosome number (use e.g. 3,4)")
        if str(int(code)) not in out:
            out.append(str(int(code)))
    return tuple(out)


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
              help="Heritability of the latent trait z (with --families: of every trait).")
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
@click.option("--families", "family_fraction", default=None, type=click.FloatRange(0, 1),
              metavar="FRACTION",
              help="Simulate a related cohort instead: this share of the --n individuals in "
                   "sibling pairs and parent-offspring trios (0: unrelated, same polygenic "
                   "model), D polygenic traits, no external GWAS. Writes chr<k>.bgen (+ .sample, "
                   "FID = family), phenotypes.parquet, pedigree.tsv, causal.tsv, manifest.json. "
                   "[default: off]")
@click.option("--trio-share", default=0.5, show_default=True, type=click.FloatRange(0, 1),
              help="With --families: share of family members in trios (the rest in sibling pairs).")
@click.option("--n-traits", default=1, show_default=True, type=click.IntRange(1),
              help="With --families: number of traits D.")
@click.option("--genetic-correlation", default=0.5, show_default=True, type=float,
              help="With --families: correlation of every pair of traits' genetic values.")
@click.option("--environmental-correlation", default=0.0, show_default=True, type=float,
              help="With --families: correlation of every pair of traits' environments.")
@click.option("--null-chromosomes", default=None, callback=_chromosome_list, metavar="LIST",
              help="With --families: chromosomes without any causal variant, e.g. 3,4.")
@click.option("--polygenic", default=200, show_default=True, type=click.IntRange(0),
              metavar="N_CAUSAL_PER_CHROMOSOME",
              help="With --families: causal variants on every non-null chromosome.")
@click.option("--no-bgen", is_flag=True, help="Skip the BGEN files.")
@click.option("--seed", default=1, show_default=True, type=int)
@click.option("--overwrite", is_flag=True, help="Replace existing outputs.")
@click.option("--quiet", is_flag=True, help="No log on stderr.")
def command(out_dir, n_individuals, n_external, n_chromosomes, length_mb, h_g, n_causal, prevalence,
            disease_noise, populations, migration_rate, population_shift, maf, min_causal_maf,
            external_trait, family_fraction, trio_share, n_traits, genetic_correlation,
            environmental_correlation, null_chromosomes, polygenic, no_bgen, seed, overwrite,
            quiet):
    """Simulate a cohort (msprime genotypes, z, disease, covariates) and an external GWAS, or a
    related cohort with D polygenic traits (--families)."""
    from ..errors import InputError
    from .main import setup_logging

    ctx = click.get_current_context()
    if family_fraction is None:
        wrong = _given(ctx, _FAMILY_ONLY)
        if wrong:
            raise click.UsageError(f"{wrong[0]} applies to a related cohort: add --families "
                                   f"FRACTION (0 for unrelated individuals)")
    else:
        wrong = _given(ctx, _COHORT_ONLY)
        if wrong:
            hint = " (use --polygenic for causal variants per chromosome)" \
                if wrong[0] == "--n-causal" else ""
            raise click.UsageError(f"{wrong[0]} does not apply with --families{hint}")
        from ..simulate import FamilyCohortConfig, simulate_family_cohort

        config = FamilyCohortConfig(
            n_individuals=n_individuals, n_chromosomes=n_chromosomes,
            chrom_length=length_mb * 1e6, family_fraction=family_fraction, trio_share=trio_share,
            n_traits=n_traits, h2=h_g, genetic_correlation=genetic_correlation,
            environmental_correlation=environmental_correlation,
            n_causal_per_chromosome=polygenic, null_chromosomes=null_chromosomes,
            min_causal_maf=min_causal_maf, maf=maf, keep_haplotypes=False, seed=seed,
        )
        config.validate()  # before any output or log line: bad values name their flag
        setup_logging(quiet)
        try:
            fam = simulate_family_cohort(out_dir, config, write_bgen=not no_bgen,
                                         overwrite=overwrite)
        except InputError as exc:  # the library names its field; say the flag
            field = "n_causal_per_chromosome:"
            if str(exc).startswith(field):
                raise InputError("--polygenic:" + str(exc)[len(field):]) from None
            raise
        m = fam.manifest
        h2 = sum(m["realised_h2"]) / len(m["realised_h2"])
        click.echo(f"{out_dir}: {n_individuals} individuals ({m['n_trios']} trios, "
                   f"{m['n_sibling_pairs']} sibling pairs, {m['n_unrelated']} unrelated) x "
                   f"{m['n_variants']} variants, {n_traits} trait(s); mean realised h2 {h2:.3f}")
        return

    from ..simulate import simulate_cohort

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

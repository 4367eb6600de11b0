"""``gwaskit transform``: write the traits a scan tests (PCA + rank-INT, on the analysed
samples) and the covariates it adjusts for, as phenotype and covariate files for REGENIE or
plink2, so that another tool tests exactly what ``gwaskit scan`` tests.

Flags -> :class:`~gwaskit.pipelines.scan.ScanInputs`, :class:`~gwaskit.pipelines.scan.ScanConfig`
(the scan's trait flags, :mod:`gwaskit.cli._traits`) ->
:func:`gwaskit.pipelines.loco.transform_traits` -> ``<out>.pheno`` and ``<out>.covar``.
"""
from __future__ import annotations

import logging
import sys

import click

from ._options import genotype_options, pop_genotype_inputs, pop_selection, selection_options
from ._traits import pop_trait_options, trait_options


@click.command(name="transform", context_settings={"help_option_names": ["-h", "--help"]})
@genotype_options
@selection_options(dosage_filters=False)
@trait_options
@click.option("--quiet", is_flag=True, help="No log on the terminal.")
@click.option("--overwrite", is_flag=True, help="Replace existing output files.")
@click.option("--out", required=True, type=click.Path(dir_okay=False),
              help="Output prefix: <out>.pheno (FID IID and one column per tested dimension) "
                   "and <out>.covar (FID IID and the encoded covariates), space separated as "
                   "REGENIE and plink2 read them; provenance in <out>.meta.json.")
def command(quiet, overwrite, out, **kwargs):
    """Write the scan's traits and covariates for REGENIE step 1/2 or plink2 --glm.

    The genotype flags choose the samples exactly as the scan does (their IDs, --keep,
    --remove), so the traits are those of `gwaskit scan` with the same flags.
    """
    from ..io.output import atomic_path, check_writable, write_json
    from ..pipelines.loco import transform_traits
    from ..pipelines.scan import ScanConfig, ScanInputs
    from .main import setup_logging

    setup_logging(quiet=quiet)
    geno = pop_genotype_inputs(kwargs)
    selection = pop_selection(kwargs)
    files, traits = pop_trait_options(kwargs)
    paths = {"pheno": out + ".pheno", "covar": out + ".covar", "meta": out + ".meta.json"}
    for p in paths.values():
        check_writable(p, overwrite)
    inputs = ScanInputs(genotypes=geno["genotypes"], pheno=files["pheno"],
                        sample_file=geno["sample_file"], covar=files["covar"],
                        vcf_dosage=geno["vcf_dosage"])
    table, covs, meta = transform_traits(inputs, ScanConfig(**traits, selection=selection))
    with atomic_path(paths["pheno"], overwrite) as tmp:
        # %.17g: the values read back to the same doubles
        table.to_csv(tmp, sep=" ", index=False, float_format="%.17g")
    if covs is not None:
        with atomic_path(paths["covar"], overwrite) as tmp:
            covs.to_csv(tmp, sep=" ", index=False, float_format="%.17g")
    write_json({"command_line": " ".join(["gwaskit", *sys.argv[1:]]), **meta,
                "files": [paths["pheno"]] + ([paths["covar"]] if covs is not None else [])},
               paths["meta"], overwrite=overwrite)
    logging.getLogger("gwaskit").info(
        "Wrote %d samples x %d traits to %s%s", meta["n"], meta["d"], paths["pheno"],
        f" and {len(meta['covariates_kept'])} covariates to {paths['covar']}"
        if covs is not None else " (no covariates)")

"""``gwaskit loco``: REGENIE-style step 1 (whole-genome ridge, LOCO predictions) for the traits
a scan with the same flags tests.

Flags -> :class:`~gwaskit.pipelines.scan.ScanInputs`, :class:`~gwaskit.pipelines.scan.ScanConfig`
(trait options shared with ``scan`` through :mod:`gwaskit.cli._traits`),
:class:`~gwaskit.pipelines.loco.LocoConfig`, :class:`~gwaskit.engine.execute.Execution` ->
:func:`gwaskit.pipelines.loco.run_loco` -> ``<out>`` (``.loco.parquet``) and ``<out>.meta.json``.
"""
from __future__ import annotations

import logging
import sys

import click

from ..errors import InputError
from ._options import genotype_options, pop_genotype_inputs, pop_selection, selection_options
from ._traits import pop_trait_options, trait_options


@click.command(name="loco", context_settings={"help_option_names": ["-h", "--help"]})
@genotype_options
@selection_options
@trait_options
@click.option("--block-size", type=click.IntRange(min=1), default=1000, show_default=True,
              help="Consecutive variants per level-0 block, within a chromosome (REGENIE "
                   "--bsize).")
@click.option("--cv", "n_folds", type=click.IntRange(min=2), default=5, show_default=True,
              help="Folds of the cross-validation at both levels (REGENIE --cv).")
@click.option("--fold-seed", type=int, default=None,
              help="Random folds (same sizes) from this seed; default REGENIE's consecutive "
                   "folds.")
@click.option("--level1-cv", type=click.Choice(["nested", "regenie"]), default="nested",
              show_default=True,
              help="nested: level 1's cross-validation never sees the held-out fold (5x the "
                   "memory of the level-0 predictors for --cv 5, 3x the level-0 work); regenie: "
                   "REGENIE's scheme, which leaks the held-out fold into its own level-1 fit "
                   "(it fits pure noise a little; expected to shrink as N grows against "
                   "--block-size).")
@click.option("--threads", type=click.IntRange(min=1), default=None,
              help="Worker threads, one block each (default: all usable CPUs).")
@click.option("--scheduler", default=None, help="Run the blocks on a running Dask scheduler.")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Start a Dask LocalCluster of N single-threaded worker processes here.")
@click.option("--resume", is_flag=True,
              help="Finish an interrupted run from <out>.parts/ (same inputs and options).")
@click.option("--keep-parts", is_flag=True, help="Keep <out>.parts/ after the output is written.")
@click.option("--quiet", is_flag=True, help="No log on the terminal (the <out>.log is written).")
@click.option("--overwrite", is_flag=True, help="Replace existing output files.")
@click.option("--out", required=True, type=click.Path(dir_okay=False),
              help="LOCO predictions, e.g. step1.loco.parquet (for scan --loco); metadata in "
                   "<out>.meta.json.")
def command(block_size, n_folds, fold_seed, level1_cv, threads, scheduler, workers, resume, keep_parts,
            quiet, overwrite, out, **kwargs):
    """Step 1: per chromosome, the traits' prediction from all other chromosomes (REGENIE's
    two-level ridge regression, for all D traits at once).

    Give it the same trait flags as the scan that will use it (--pheno, --pca, --covar,
    --split-value ...) and a set of genotyped or well-imputed variants (e.g. --maf 0.01 and
    --extract), then run `gwaskit scan ... --loco <out>`.
    """
    from ..engine.checkpoint import package_versions, work_dir_for
    from ..engine.execute import Execution
    from ..io.loco import write_loco
    from ..io.output import check_writable, write_json
    from ..pipelines.loco import LocoConfig, run_loco
    from ..pipelines.scan import Checkpoint, ScanConfig, ScanInputs
    from .main import setup_logging

    setup_logging(quiet=quiet)
    geno = pop_genotype_inputs(kwargs)
    selection = pop_selection(kwargs)
    files, traits = pop_trait_options(kwargs)
    if scheduler and workers:
        raise InputError("--scheduler and --workers are mutually exclusive")
    if not out.endswith(".parquet"):
        raise InputError(f"--out {out}: a .parquet file (e.g. step1.loco.parquet)")
    inputs = ScanInputs(genotypes=geno["genotypes"], pheno=files["pheno"],
                        sample_file=geno["sample_file"], covar=files["covar"],
                        vcf_dosage=geno["vcf_dosage"])
    config = ScanConfig(**traits, selection=selection)
    loco = LocoConfig(block_size=block_size, n_folds=n_folds, fold_seed=fold_seed,
                      level1_cv=level1_cv)
    execution = Execution(threads=threads, scheduler=scheduler, workers=workers)
    meta_path = out + ".meta.json"
    check_writable(out, overwrite)
    check_writable(meta_path, overwrite)
    from .scan import _log_through_bar, checked_work_dir

    work_dir = checked_work_dir(work_dir_for(out), resume)
    bar = None
    show_bar = not quiet and sys.stderr.isatty()

    def start_bar(total: int) -> None:
        nonlocal bar
        check_writable(out, overwrite)
        if show_bar:
            from tqdm import tqdm

            bar = tqdm(total=total, unit=" variants", file=sys.stderr, dynamic_ncols=True,
                       smoothing=0.1)

    try:
        with _log_through_bar(show_bar):
            run = run_loco(inputs, config, loco, execution=execution,
                           checkpoint=Checkpoint(str(work_dir), resume=resume),
                           progress=lambda k: bar.update(k) if bar is not None else None,
                           before_genotypes=start_bar)
    finally:
        if bar is not None:
            bar.close()
    write_loco(out, run.predictions, overwrite=overwrite)
    meta = {"command_line": " ".join(["gwaskit", *sys.argv[1:]]),
            "versions": package_versions(),
            "inputs": {"genotypes": geno["genotypes"], "sample": geno["sample_file"],
                       "pheno": files["pheno"], "covar": files["covar"]},
            **run.metadata}
    write_json(meta, meta_path, overwrite=overwrite)
    if not keep_parts:
        import shutil

        shutil.rmtree(work_dir, ignore_errors=True)
    logging.getLogger("gwaskit").info("Wrote LOCO predictions for %d chromosome(s) to %s; "
                                      "metadata in %s", len(run.predictions.predictions), out,
                                      meta_path)

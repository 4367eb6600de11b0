"""``gwaskit scan``: multi-trait (D-df) association scan of an embedding.

Flags -> :class:`~gwaskit.pipelines.scan.ScanInputs`, :class:`~gwaskit.pipelines.scan.ScanConfig`,
:class:`~gwaskit.engine.execute.Execution` -> :func:`gwaskit.pipelines.scan.run_scan`.
"""
from __future__ import annotations

import logging
import sys

import click

from ..errors import InputError
from ._options import genotype_options, pop_genotype_inputs, pop_selection, selection_options
from ._traits import pop_trait_options, trait_options


#: ``--format`` values -> what a file of each holds.
OUTPUT_FORMATS = {"gwaskit": "table", "gwas-ssf": "GWAS-SSF v1.0", "plink2": "plink2 --glm",
                  "regenie": "REGENIE step 2"}


@click.command(name="scan", context_settings={"help_option_names": ["-h", "--help"]})
@genotype_options
@selection_options
@trait_options
@click.option("--test", type=click.Choice(["scaled-lrt", "wilks"]), default="scaled-lrt", show_default=True,
              help="scaled-lrt: LIMIX -N D log(1-Q/D); wilks: full LRT -N log(1-Q).")
@click.option("--pvalue", type=click.Choice(["exact", "chi2"]), default="exact", show_default=True,
              help="exact: Q ~ Beta(D/2, (N-c-D)/2) (F test); chi2: statistic vs chi2_D (LIMIX).")
@click.option("--per-dim", is_flag=True, help="Also write per-dimension beta, SE and p (plink2 --glm).")
@click.option("--missing", "missing", type=click.Choice(["mean", "drop"]), default="mean",
              show_default=True,
              help="Missing calls: mean = replaced by the variant's mean (one GEMM per block; "
                   "the sample stays in N); drop = each variant tested on its non-missing "
                   "samples only, covariates and null refitted per variant, as plink2 --glm "
                   "(slower for variants with missing calls). n is the non-missing count in both.")
@click.option("--dtype", type=click.Choice(["float32", "float64"]), default="float32", show_default=True,
              help="GEMM precision. float32: fastest, statistic within ~1e-5 relative of MANOVA; "
                   "float64: within 1e-8.")
@click.option("--chunk-size", type=click.IntRange(min=1), default=2000, show_default=True,
              help="Variants per block.")
@click.option("--threads", type=click.IntRange(min=1), default=None,
              help="Worker threads, each decoding and testing one chunk (default: all usable "
                   "CPUs); BLAS runs single-threaded per chunk in every mode.")
@click.option("--scheduler", default=None,
              help="Run the chunks on a running Dask scheduler, e.g. tcp://host:8786 (needs "
                   "gwaskit[dist]; the genotype files must be readable under the same paths on "
                   "every worker).")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Start a Dask LocalCluster of N single-threaded worker processes here.")
@click.option("--resume", is_flag=True,
              help="Finish an interrupted run from its checkpoint <out>.parts/ (same inputs and "
                   "options required); only missing chunks are computed.")
@click.option("--keep-parts", is_flag=True, help="Keep <out>.parts/ after the output is written.")
@click.option("--skip-bad-variants", is_flag=True,
              help="Variants whose genotype block cannot be decoded get errcode BAD_GENOTYPES "
                   "(listed in <out>.skipped.tsv) instead of stopping the scan.")
@click.option("--loco", type=click.Path(dir_okay=False),
              help="A `gwaskit loco` file (<prefix>.loco.parquet): variants of chromosome c are "
                   "tested against the traits minus their chromosome-c prediction (made with "
                   "the same trait options and samples, else refused).")
@click.option("--loco-regenie", type=click.Path(dir_okay=False),
              help="Instead of --loco: REGENIE step 1's <prefix>_pred.list, fitted to the "
                   "traits `gwaskit transform` wrote with the same flags.")
@click.option("--dry-run", is_flag=True,
              help="Open the inputs, apply the filters and fit the null model, then print the "
                   "plan (N, D, c, variants after filters, chunks, estimated peak memory and "
                   "disk) and stop; nothing is written.")
@click.option("--quiet", is_flag=True, help="No log and no progress bar.")
@click.option("--overwrite", is_flag=True, help="Replace existing output files.")
@click.option("--format", "out_format", type=click.Choice(list(OUTPUT_FORMATS)), default="gwaskit",
              show_default=True,
              help="gwaskit: one table, joint test and (--per-dim) per-dimension columns. "
                   "gwas-ssf: GWAS Catalog GWAS-SSF v1.0, <stem>.<dim>.tsv.gz + -meta.yaml per "
                   "dimension and the joint test in <stem>.joint.tsv.gz. plink2: "
                   "<out>.<dim>.glm.linear. regenie: <out>_<dim>.regenie. The last three imply "
                   "--per-dim.")
@click.option("--genome-assembly", default="NR", show_default=True,
              help="GWAS-SSF metadata genome_assembly of the positions, e.g. GRCh37 or GRCh38 "
                   "(NR: not reported).")
@click.option("--out", required=True, type=click.Path(dir_okay=False),
              help="--format gwaskit: result table, .parquet, .tsv or .tsv.gz. gwas-ssf: "
                   "<stem>.tsv.gz (or .tsv). plink2/regenie: output prefix. Always "
                   "<out>.meta.json and <out>.log beside.")
def command(test, pvalue, per_dim, missing, dtype, chunk_size, threads, scheduler, workers, resume,
            keep_parts, skip_bad_variants, loco, loco_regenie, dry_run, quiet, overwrite,
            out_format, genome_assembly, out, **kwargs):
    """Multi-trait (D-df) association scan of an embedding against every variant.

    Genotypes come from exactly one of --bgen, --bed, --pfile, --vcf or --vcz; the selection flags
    (--keep ... --info-min) act as in plink2 and are applied before the analysis, and what each
    removed is logged and recorded in the metadata.
    """
    from ..engine.execute import Execution, WorkersLostError
    from ..errors import GenotypeFormatError
    from ..io.output import check_writable, table_format, write_json, write_table
    from ..pipelines.scan import Checkpoint, ScanConfig, ScanInputs, plan_scan, run_scan
    from .main import setup_logging

    setup_logging(quiet=quiet)
    geno = pop_genotype_inputs(kwargs)
    selection = pop_selection(kwargs)
    files, traits = pop_trait_options(kwargs)
    pheno, covar = files["pheno"], files["covar"]
    if scheduler and workers:
        raise InputError("--scheduler and --workers are mutually exclusive")
    # every file format other than gwaskit's holds one effect size per trait
    per_dim = per_dim or out_format != "gwaskit"
    inputs = ScanInputs(genotypes=geno["genotypes"], pheno=pheno,
                        sample_file=geno["sample_file"], covar=covar,
                        vcf_dosage=geno["vcf_dosage"], loco=loco, loco_regenie=loco_regenie)
    config = ScanConfig(**traits, test=test, pvalue=pvalue, per_dim=per_dim, dtype=dtype,
                        missing=missing, chunk_size=chunk_size, selection=selection,
                        skip_bad_variants=skip_bad_variants)
    execution = Execution(threads=threads, scheduler=scheduler, workers=workers)
    if out_format == "gwaskit":
        table_format(out)
    if dry_run:
        for line in plan_scan(inputs, config, execution=execution, out=out).describe():
            click.echo(line)
        return
    meta_path = out + ".meta.json"
    skipped_path = out + ".skipped.tsv"
    if out_format == "gwaskit":
        check_writable(out, overwrite)
    else:
        _check_format_targets(out_format, out, overwrite)
    check_writable(meta_path, overwrite)
    from ..engine.checkpoint import package_versions, work_dir_for

    work_dir = checked_work_dir(work_dir_for(out), resume)

    bar = None
    progress = None
    show_bar = not quiet and sys.stderr.isatty()

    def start_bar(total: int) -> None:
        # writability is re-checked after the null fit, right before genotypes are read
        nonlocal bar, progress
        if out_format == "gwaskit":
            check_writable(out, overwrite)
        else:
            _check_format_targets(out_format, out, overwrite)
        if show_bar:
            from tqdm import tqdm

            # a total gives tqdm's percentage and ETA; log lines go through tqdm.write
            # (logging_redirect_tqdm below) so they never overwrite the bar
            bar = tqdm(total=total, unit=" variants", file=sys.stderr, dynamic_ncols=True,
                       smoothing=0.1)
            progress = bar.update

    received = _install_sigterm()
    try:
        with _log_through_bar(show_bar):
            result = run_scan(inputs, config, execution=execution,
                              checkpoint=Checkpoint(str(work_dir), resume=resume),
                              progress=lambda k: progress(k) if progress is not None else None,
                              before_genotypes=start_bar)
    except KeyboardInterrupt:
        if bar is not None:
            bar.close()
            bar = None
        code = 143 if received else 130
        click.echo(f"Interrupted ({'SIGTERM' if received else 'SIGINT'}): "
                   f"{_kept(work_dir)}.", err=True)
        sys.exit(code)
    except GenotypeFormatError as e:
        kept = f"{_kept(work_dir)}; " if (work_dir / "manifest.json").exists() else ""
        raise GenotypeFormatError(f"{e} ({kept}--skip-bad-variants skips unreadable variants"
                                  f"{', with --resume' if kept else ''})") from None
    except WorkersLostError as e:
        raise WorkersLostError(f"{e}; {_kept(work_dir)}") from None
    finally:
        if bar is not None:
            bar.close()
        _restore_sigterm()
    df, info = result.table, dict(result.metadata)
    skipped = info.pop("skipped", [])
    if skipped:
        import pandas as pd

        from ..io.output import atomic_path

        with atomic_path(skipped_path, overwrite=True) as tmp:
            pd.DataFrame(skipped, columns=["index", "variant_id", "file", "error"]).to_csv(
                tmp, sep="\t", index=False)
        info["skipped_file"] = skipped_path
    meta = {
        "command_line": " ".join(["gwaskit"] + [click.utils.make_str(a) for a in sys.argv[1:]]),
        "versions": package_versions(),
        "inputs": {"genotypes": geno["genotypes"], "sample": geno["sample_file"],
                   "vcf_dosage": geno["vcf_dosage"], "pheno": pheno, "covar": covar,
                   "loco": loco, "loco_regenie": loco_regenie},
        **info,
    }
    if out_format == "gwaskit":
        write_table(df, out, overwrite=overwrite)
        written = out
    else:
        files = _write_format(out_format, df, out, meta, overwrite=overwrite,
                              genome_assembly=genome_assembly)
        meta["output_format"] = out_format
        meta["output_files"] = files
        written = f"{len(files)} {out_format} files ({files[0]} ...)" if files else "no files"
    write_json(meta, meta_path, overwrite=overwrite)
    if not keep_parts:
        import shutil

        shutil.rmtree(work_dir, ignore_errors=True)
    # through the logger, so these lines reach <out>.log as well as the terminal
    logger = logging.getLogger("gwaskit")
    logger.info("Wrote %d variants to %s (lambda_GC %s-df = %.4f); metadata in %s", len(df),
                written, info.get("d"), info.get("lambda_gc", float("nan")), meta_path)
    if skipped:
        logger.warning("Skipped %d variant(s) with unreadable genotypes (errcode BAD_GENOTYPES); "
                       "listed in %s", len(skipped), skipped_path)


def _format_patterns(out_format: str, out: str) -> list[str]:
    """Glob patterns of the files ``--format`` writes for ``--out`` (dimension names are known
    only after the null fit)."""
    import glob

    if out_format == "gwas-ssf":
        from ..io.sumstats_formats import ssf_stem

        stem, ext = ssf_stem(out)
        return [f"{glob.escape(stem)}.*{ext}", f"{glob.escape(stem)}.*{ext}-meta.yaml"]
    if out_format == "plink2":
        return [f"{glob.escape(out)}.*.glm.linear"]
    return [f"{glob.escape(out)}_*.regenie"]


def _check_format_targets(out_format: str, out: str, overwrite: bool) -> None:
    """Refuse, before the scan, a run whose format files already exist (unless --overwrite)."""
    import glob
    import os

    directory = os.path.dirname(os.path.abspath(out))
    if not os.path.isdir(directory):
        raise InputError(f"{out}: output directory {directory} does not exist")
    if overwrite:
        return
    for pattern in _format_patterns(out_format, out):
        existing = sorted(glob.glob(pattern))
        if existing:
            raise InputError(f"{existing[0]}: output exists (--format {out_format} --out {out}); "
                             f"pass --overwrite to replace it")


def _write_format(out_format: str, table, out: str, meta: dict, *, overwrite: bool,
                  genome_assembly: str) -> list[str]:
    """Write the scan table in ``out_format``; returns the files written."""
    from ..io import sumstats_formats as fmt

    if out_format == "gwas-ssf":
        files = fmt.write_gwas_ssf(table, out, meta, overwrite=overwrite,
                                   genome_assembly=genome_assembly)
        return [str(p) for p in [*files.data.values(), *files.metadata.values(), files.joint]]
    if out_format == "plink2":
        return [str(p) for p in fmt.write_plink2_glm(table, out, meta,
                                                     overwrite=overwrite).values()]
    return [str(p) for p in fmt.write_regenie(table, out, meta, overwrite=overwrite).values()]


def checked_work_dir(work_dir, resume: bool):
    """``work_dir``, refused when an earlier run left it and this one does not --resume."""
    if work_dir.exists() and not resume:
        raise InputError(f"{work_dir}: a work directory from an earlier run exists; pass --resume "
                         f"to finish that run, or remove the directory")
    return work_dir


def _log_through_bar(show_bar: bool):
    """While a progress bar is shown, gwaskit's stderr log lines are printed with
    ``tqdm.write`` (above the bar) instead of over it."""
    import contextlib

    if not show_bar:
        return contextlib.nullcontext()
    import logging

    from tqdm.contrib.logging import logging_redirect_tqdm

    return logging_redirect_tqdm(loggers=[logging.getLogger("gwaskit")])


def _kept(work_dir) -> str:
    """What an interrupted or failed run left in its work directory, from its manifest."""
    import json

    try:
        man = json.loads((work_dir / "manifest.json").read_text())
    except (OSError, ValueError):
        return "nothing kept"
    if not isinstance(man, dict):  # a foreign or hand-edited file: say nothing wrong
        return "nothing kept"
    return (f"{man.get('n_done', 0)} of {man.get('n_chunks', '?')} chunks done and kept in "
            f"{work_dir}; rerun with --resume to finish")


_SIGTERM_STATE: dict = {}


def _install_sigterm() -> list:
    """SIGTERM raises KeyboardInterrupt in the main thread (finished parts are kept); returns a
    list that is non-empty once SIGTERM was received."""
    import signal
    import threading

    received: list = []
    if threading.current_thread() is not threading.main_thread():
        return received

    def handler(signum, frame):
        received.append(signum)
        raise KeyboardInterrupt

    _SIGTERM_STATE["old"] = signal.signal(signal.SIGTERM, handler)
    return received


def _restore_sigterm() -> None:
    import signal

    if "old" in _SIGTERM_STATE:
        signal.signal(signal.SIGTERM, _SIGTERM_STATE.pop("old"))

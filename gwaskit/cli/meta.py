"""``gwaskit meta``: fixed-effect IVW meta-analysis. Flags only; see :mod:`gwaskit.loci.meta`."""
from __future__ import annotations

import click

from ..errors import InputError


@click.command(name="meta", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--sumstats", multiple=True, required=True, type=click.Path(dir_okay=False),
              help="Per-study summary statistics (repeat; at least two).")
@click.option("--gc", "gc", is_flag=True, help="Per-study genomic control (lambda from median chi2).")
@click.option("--gc-lambda", "gc_lambda", help="Comma-separated fixed per-study lambdas (instead of --gc).")
@click.option("--palindrome-band", nargs=2, type=float, default=(0.42, 0.58), show_default=True,
              help="Palindromic (A/T, C/G) variants are strand-resolved by effect-allele frequency "
                   "when it lies outside this band. Otherwise those whose alleles agree as written "
                   "in every study are kept (METAL); those listed swapped (A/T vs T/A) are dropped.")
@click.option("--drop-ambiguous", is_flag=True,
              help="Drop every palindromic variant the frequencies cannot resolve, even when its "
                   "alleles agree as written.")
@click.option("--quiet", is_flag=True)
@click.option("--overwrite", is_flag=True)
@click.option("--out", required=True, type=click.Path(dir_okay=False),
              help="Result table (.tsv/.parquet) in the scan's column layout plus beta, standard_error, "
                   "n_studies, q, i2; details in <out>.meta.json.")
def command(sumstats, gc, gc_lambda, palindrome_band, drop_ambiguous, quiet, overwrite, out):
    """Fixed-effect inverse-variance meta-analysis (METAL STDERR) with Cochran's Q and I2."""
    from ..io.output import check_writable, table_format, write_json, write_table
    from ..io.sumstats import read_sumstats
    from ..loci.meta import meta_analyze
    from .main import setup_logging

    setup_logging(quiet=quiet)
    table_format(out)
    check_writable(out, overwrite)
    check_writable(out + ".meta.json", overwrite)
    if len(sumstats) < 2:
        raise InputError("meta: give at least two --sumstats files")
    if gc and gc_lambda:
        raise InputError("--gc and --gc-lambda are mutually exclusive")
    studies = [read_sumstats(s, require=("effect_allele", "other_allele", "beta", "standard_error"))
               for s in sumstats]
    g = True if gc else False
    if gc_lambda:
        try:
            g = [float(x) for x in gc_lambda.split(",")]
        except ValueError:
            raise InputError(f"--gc-lambda {gc_lambda}: not a list of numbers") from None
    res, info = meta_analyze(studies, genomic_control=g, palindrome_band=tuple(palindrome_band),
                             drop_ambiguous=drop_ambiguous)
    write_table(res, out, overwrite=overwrite)
    write_json({"command": "meta", "scheme": "STDERR (fixed-effect IVW)", "studies": list(sumstats),
                "drop_ambiguous": drop_ambiguous, **info},
               out + ".meta.json", overwrite=overwrite)

"""``gwaskit overlap``: fraction of reference loci recovered by a scan. Flags only; see
:mod:`gwaskit.loci.overlap`."""
from __future__ import annotations

import click


@click.command(name="overlap", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--reference", required=True, type=click.Path(dir_okay=False),
              help="Reference loci: clump table (gwaskit or PLINK .clumped) or variant list.")
@click.option("--scan", required=True, type=click.Path(dir_okay=False), help="Scan results (or their clumps).")
@click.option("--p", "p", type=float, default=5e-8, show_default=True, help="Significance threshold.")
@click.option("--bonferroni", type=float, help="Divide --p by this number (e.g. embedding dimensions).")
@click.option("--match", "mode", type=click.Choice(["window", "ld", "exact"]), default="window", show_default=True)
@click.option("--window-kb", type=float, default=500.0, show_default=True, help="Physical window (+-kb).")
@click.option("--r2", type=float, default=0.6, show_default=True, help="LD threshold for --match ld (>=).")
@click.option("--ld-bed", help="LD reference panel (.bed prefix) for --match ld.")
@click.option("--ld-bgen", help="LD reference panel (BGEN) for --match ld.")
@click.option("--sample", "sample_file", type=click.Path(dir_okay=False), help=".sample file for --ld-bgen.")
@click.option("--quiet", is_flag=True)
@click.option("--overwrite", is_flag=True)
@click.option("--out", required=True, type=click.Path(dir_okay=False),
              help="Per-locus table (.tsv/.parquet); summary (fraction, Wilson 95% CI) in <out>.summary.json.")
def command(reference, scan, p, bonferroni, mode, window_kb, r2, ld_bed, ld_bgen, sample_file, quiet,
            overwrite, out):
    """Fraction of reference loci recovered at genome-wide significance."""
    import pandas as pd

    from ..io.output import check_writable, table_format, write_json, write_table
    from ..io.sumstats import read_sumstats
    from ..loci.overlap import loci_overlap
    from .main import setup_logging

    setup_logging(quiet=quiet)
    table_format(out)
    check_writable(out, overwrite)
    check_writable(out + ".summary.json", overwrite)
    if reference.endswith(".clumped"):
        ref = pd.read_csv(reference, sep=r"\s+", dtype={"SNP": str})
    else:
        ref = read_sumstats(reference, require=("variant_id",))
    sc = read_sumstats(scan, require=("p_value",))
    ld_reader = None
    if mode == "ld":
        from ..ld._readers import open_from_flags

        ld_reader = open_from_flags(ld_bgen, ld_bed, sample_file, what="LD panel")
    try:
        table, summary = loci_overlap(ref, sc, p=p, bonferroni=bonferroni, mode=mode, window_kb=window_kb,
                                      r2=r2, ld_reader=ld_reader)
    finally:
        if ld_reader is not None:
            ld_reader.close()
    write_table(table, out, overwrite=overwrite)
    write_json(summary, out + ".summary.json", overwrite=overwrite)

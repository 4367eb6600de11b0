"""``gwaskit panel``: build a GWAS variant panel from disease summary statistics.

Flags only; the work is :func:`gwaskit.loci.panel.build_panel`.
"""
from __future__ import annotations

import click

from ._options import genotype_options, open_selected, pop_genotype_inputs, pop_selection, selection_options


@click.command(name="panel", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--sumstats", required=True, type=click.Path(dir_okay=False), help="Disease summary statistics.")
@genotype_options
@selection_options
@click.option("--ld-bed", help="Separate LD reference (.bed prefix) for clumping (default: the target).")
@click.option("--p", "p_threshold", type=float, default=1e-5, show_default=True, help="Keep p < this.")
@click.option("--r2", type=float, default=0.05, show_default=True, help="Clumping r2 (|r2| > r2 joins).")
@click.option("--kb", type=float, default=5000.0, show_default=True, help="Clumping window (kb).")
@click.option("--no-clump", is_flag=True, help="Keep every aligned significant variant.")
@click.option("--palindrome-band", nargs=2, type=float, default=(0.42, 0.58), show_default=True,
              help="Palindromic variants with EAF in this closed band are dropped.")
@click.option("--r2-method", type=click.Choice(["haplotype", "dosage"]), default="haplotype", show_default=True)
@click.option("--quiet", is_flag=True)
@click.option("--overwrite", is_flag=True)
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="Panel table (.tsv/.parquet); "
              "counts in <out>.meta.json.")
def command(sumstats, ld_bed, p_threshold, r2, kb, no_clump, palindrome_band, r2_method, quiet,
            overwrite, out, **kwargs):
    """Build a GWAS variant panel aligned to target genotypes."""
    from ..io.output import check_writable, table_format, write_json, write_table
    from ..io.sumstats import read_sumstats
    from ..ld._readers import open_reference
    from ..loci.panel import build_panel
    from .main import setup_logging

    setup_logging(quiet=quiet)
    geno = pop_genotype_inputs(kwargs)
    selection = pop_selection(kwargs)
    table_format(out)
    check_writable(out, overwrite)
    check_writable(out + ".meta.json", overwrite)
    ss = read_sumstats(sumstats, require=("effect_allele", "other_allele", "beta", "p_value"))
    with open_selected(geno, selection, what="target genotypes") as reader:
        ld_reader = open_reference(ld_bed) if ld_bed else None
        try:
            panel, counts = build_panel(ss, reader, p_threshold=p_threshold, r2=r2, kb=kb,
                                        palindrome_band=tuple(palindrome_band), ld_reader=ld_reader,
                                        r2_method=r2_method, clump_variants=not no_clump)
        finally:
            if ld_reader is not None:
                ld_reader.close()
    write_table(panel, out, overwrite=overwrite)
    write_json({"command": "panel", "selection": selection.fingerprint(),
                "sumstats": sumstats, "p_threshold": p_threshold, "r2": r2, "kb": kb,
                "clumped": not no_clump, "palindrome_band": list(palindrome_band), "counts": counts},
               out + ".meta.json", overwrite=overwrite)

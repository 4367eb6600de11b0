"""``gwaskit clump``: LD-clump association results with PLINK 1.9 ``--clump`` semantics.

Flags -> :class:`~gwaskit.pipelines.clump.ClumpConfig` -> :func:`gwaskit.pipelines.clump.run_clump`.
"""
from __future__ import annotations

import click

from ..errors import InputError
from ._options import genotype_options, open_selected, pop_genotype_inputs, pop_selection, selection_options


@click.command(name="clump", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--sumstats", "sumstats", multiple=True, required=True, type=click.Path(dir_okay=False),
              help="Association results (GWAS-SSF, plink2 .glm, REGENIE, plain SNP/P, gwaskit scan "
                   "output); repeat for several reports (PLINK multi-file --clump).")
@genotype_options
@selection_options
@click.option("--preset", type=click.Choice(["plink", "seed"]), default="plink", show_default=True,
              help="plink: p1 1e-4, p2 0.01, r2 0.5, 250 kb; seed: p1 5e-8, p2 0.01, r2 0.05, 5000 kb. "
                   "Explicit flags override.")
@click.option("--p1", type=float, help="Index p-value threshold (inclusive).")
@click.option("--p2", type=float, help="SP2 listing threshold (strict).")
@click.option("--r2", type=float, help="LD threshold (member if |r2| > r2).")
@click.option("--kb", type=float, help="Window radius in kb (|dbp| <= kb*1000-1).")
@click.option("--allow-overlap", is_flag=True, help="Non-index variants may join several clumps.")
@click.option("--r2-method", type=click.Choice(["haplotype", "dosage"]), default="haplotype", show_default=True,
              help="haplotype: PLINK 1.9 ML haplotype r2 from hard calls; dosage: Pearson r2 of dosages.")
@click.option("--hard-call-threshold", type=click.FloatRange(0, 0.5), default=0.1, show_default=True,
              help="Dosages further than this from an integer are missing hard calls (haplotype method).")
@click.option("--snp-field", help="Variant-ID column name(s), comma-separated, earlier wins.")
@click.option("--p-field", help="p-value column name(s), comma-separated, earlier wins.")
@click.option("--missing-as-singletons", is_flag=True,
              help="Also report top variants absent from the LD reference as one-variant clumps.")
@click.option("--format", "fmt", type=click.Choice(["table", "plink"]), default="table", show_default=True,
              help="table: .tsv/.parquet clump table; plink: PLINK 1.9 .clumped layout.")
@click.option("--members", type=click.Path(dir_okay=False), help="Also write every member with its r2.")
@click.option("--scheduler", default=None,
              help="Run the clumping pass on a running Dask scheduler, e.g. tcp://host:8786, one task "
                   "per chromosome (needs gwaskit[dist]; the LD reference must be readable under the "
                   "same paths on every worker). Output identical to an in-process run.")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Start a Dask LocalCluster of N single-threaded worker processes here (one task "
                   "per chromosome).")
@click.option("--threads", type=click.IntRange(min=1), default=None,
              help="In-process worker threads, one chromosome each (default: all usable CPUs).")
@click.option("--quiet", is_flag=True)
@click.option("--overwrite", is_flag=True, help="Replace existing output files.")
@click.option("--out", required=True, type=click.Path(dir_okay=False),
              help="Output (.tsv/.parquet for table; any name for plink). Top variants missing from "
                   "the reference go to <out>.missing_id.")
def command(sumstats, preset, p1, p2, r2, kb, allow_overlap, r2_method, hard_call_threshold,
            snp_field, p_field, missing_as_singletons, fmt, members, scheduler, workers, threads,
            quiet, overwrite, out, **kwargs):
    """LD-clump association results (PLINK 1.9 --clump semantics).

    The LD reference is one of --bgen, --bed, --pfile or --vcf; the selection flags pick its
    samples and variants as in plink2."""
    from ..io.output import check_writable, table_format, write_table
    from ..io.sumstats import read_sumstats
    from ..engine.execute import Execution
    from ..ld.clump import PRESETS, write_plink
    from ..pipelines.clump import ClumpConfig, run_clump
    from .main import setup_logging

    setup_logging(quiet=quiet)
    geno = pop_genotype_inputs(kwargs)
    selection = pop_selection(kwargs)
    if scheduler and workers:
        raise InputError("--scheduler and --workers are mutually exclusive")
    execution = Execution(threads=threads, scheduler=scheduler, workers=workers)
    if fmt == "table":
        table_format(out)
    check_writable(out, overwrite)
    missing_path = out + ".missing_id"
    params = dict(PRESETS[preset])
    for k, v in (("p1", p1), ("p2", p2), ("r2", r2), ("kb", kb)):
        if v is not None:
            params[k] = v
    if params["p2"] < params["p1"]:
        if p2 is None:
            params["p2"] = params["p1"]
        else:
            raise InputError(f"--p2 {params['p2']} is below --p1 {params['p1']}")
    reports = [read_sumstats(s, snp_field=snp_field, p_field=p_field, require=("variant_id", "p_value"),
                             columns=("variant_id", "p_value"))
               for s in sumstats]
    with open_selected(geno, selection, what="LD reference") as reader:
        config = ClumpConfig(allow_overlap=allow_overlap, method=r2_method,
                             hard_call_threshold=hard_call_threshold,
                             missing_as_singletons=missing_as_singletons, **params)
        res = run_clump(reports, reader, config, execution=execution,
                        sample_file=geno["sample_file"])
    if fmt == "plink":
        write_plink(res, out, overwrite=overwrite)
    else:
        write_table(res.clumps, out, overwrite=overwrite)
    if members:
        write_table(res.members, members, overwrite=overwrite)
    if len(res.missing):
        from ..io.output import atomic_path

        with atomic_path(missing_path, overwrite) as tmp:
            res.missing.to_csv(tmp, sep="\t", index=False)

"""``gwaskit clump``: LD-clump association results with PLINK 1.9 ``--clump`` semantics.

Flags only; the work is :func:`gwaskit.ld.clump.clump`.
"""
from __future__ import annotations

import click

from ..errors import InputError


@click.command(name="clump", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--sumstats", "sumstats", multiple=True, required=True, type=click.Path(dir_okay=False),
              help="Association results (GWAS-SSF, plink2 .glm, REGENIE, plain SNP/P, gwaskit scan "
                   "output); repeat for several reports (PLINK multi-file --clump).")
@click.option("--bgen", help="LD reference BGEN file(s) (path or quoted glob).")
@click.option("--sample", "sample_file", type=click.Path(dir_okay=False), help=".sample file for --bgen.")
@click.option("--bed", help="LD reference PLINK .bed prefix.")
@click.option("--keep", type=click.Path(dir_okay=False), help="Reference samples to use (FID IID or IID per line).")
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
@click.option("--quiet", is_flag=True)
@click.option("--overwrite", is_flag=True, help="Replace existing output files.")
@click.option("--out", required=True, type=click.Path(dir_okay=False),
              help="Output (.tsv/.parquet for table; any name for plink). Top variants missing from "
                   "the reference go to <out>.missing_id.")
def command(sumstats, bgen, sample_file, bed, keep, preset, p1, p2, r2, kb, allow_overlap, r2_method,
            hard_call_threshold, snp_field, p_field, missing_as_singletons, fmt, members, scheduler,
            workers, quiet, overwrite, out):
    """LD-clump association results (PLINK 1.9 --clump semantics)."""
    from ..io.output import check_writable, table_format, write_table
    from ..io.sumstats import read_sumstats
    from ..ld._readers import keep_mask, open_from_flags
    from ..ld.clump import PRESETS, clump, write_plink
    from .main import setup_logging

    setup_logging(quiet=quiet)
    from ..engine import check_execution_flags

    check_execution_flags(scheduler, workers)
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
    if (bed is not None and bgen is None and sample_file is None and r2_method == "haplotype"
            and fmt == "plink" and members is None and not (scheduler or workers)):
        _plink_layout_from_bed(sumstats, bed, keep, params, allow_overlap, hard_call_threshold,
                               missing_as_singletons, snp_field, p_field, out, overwrite, missing_path)
        return
    reports = [read_sumstats(s, snp_field=snp_field, p_field=p_field, require=("variant_id", "p_value"))
               for s in sumstats]
    with open_from_flags(bgen, bed, sample_file, what="LD reference") as reader:
        samples = keep_mask(reader, keep)
        res = clump(reports, reader, allow_overlap=allow_overlap, method=r2_method, samples=samples,
                    hard_call_threshold=hard_call_threshold, missing_as_singletons=missing_as_singletons,
                    scheduler=scheduler, workers=workers, sample_file=sample_file, **params)
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


def _plink_layout_from_bed(sumstats, bed, keep, params, allow_overlap, hard_call_threshold,
                           missing_as_singletons, snp_field, p_field, out, overwrite, missing_path):
    """``--bed ... --format plink``: the same steps, results, messages and files as the general
    path, on plain arrays (no pandas / bed-reader import unless an input needs them): reports
    through ``read_id_p``, the fileset through ``LeanBedReference`` (both fall back to the
    general readers), then the clumping core and the .clumped writer."""
    import numpy as np

    from .._log import logger
    from ..io.sumstats import read_id_p, read_sumstats
    from ..ld._readers import LeanBedReference, keep_mask, keep_mask_ids, open_from_flags
    from ..ld.clump import (_bed_source, _clump_core, _mask_source, _plink_maxsnp, check_params,
                            write_plink_rows)

    reports = []
    for s in sumstats:
        r = read_id_p(s, snp_field, p_field)
        if r is None:
            import pandas as pd

            rep = read_sumstats(s, snp_field=snp_field, p_field=p_field, require=("variant_id", "p_value"))
            r = (rep["variant_id"].astype(str).to_numpy(),
                 pd.to_numeric(rep["p_value"], errors="coerce").to_numpy(dtype=np.float64))
        reports.append(r)
    max_bytes = int(512.0 * 2**20)
    ref = LeanBedReference.open(bed)
    reader = None
    try:
        if ref is not None:
            logger.info("opened %d genotype file(s): %d samples, %d variants", 1, ref.n_samples,
                        ref.n_variants)
            samples = keep_mask_ids(ref.fid.astype(str), ref.iid.astype(str), keep) if keep else None
            vid, chrom, pos = ref.vid, ref.chrom, ref.pos  # object arrays of str
            n_file = ref.n_samples

            def make_masks():
                return _bed_source(str(ref.paths[0]), n_file, len(vid), samples, max_bytes)
        else:
            reader = open_from_flags(None, bed, None, what="LD reference")
            samples = keep_mask(reader, keep)
            v = reader.variants
            vid = v["variant_id"].astype(str).to_numpy()
            chrom = v["chromosome"].astype(str).to_numpy()
            pos = v["base_pair_location"].to_numpy().astype(np.int64)

            def make_masks():
                return _mask_source(reader, samples, hard_call_threshold, max_bytes)
        check_params(params["p1"], params["p2"], params["r2"], params["kb"], "haplotype")
        core = _clump_core(reports, vid, chrom, pos, make_masks, p1=params["p1"], p2=params["p2"],
                           r2=params["r2"], kb=params["kb"], allow_overlap=allow_overlap,
                           method="haplotype", hard_call_threshold=hard_call_threshold, cache_mb=512.0)
    finally:
        if reader is not None:
            reader.close()
    n_missing = len(set(core.missing[0]))
    logger.info(f"clump: {len(core.rows)} clumps formed from {core.n_cand} top variants")
    write_plink_rows(core.rows, _plink_maxsnp(vid), out, overwrite=overwrite)
    if n_missing:
        from ..io.output import atomic_path
        from ..ld.clump import _missing_table

        with atomic_path(missing_path, overwrite) as tmp:
            _missing_table(*core.missing).to_csv(tmp, sep="\t", index=False)

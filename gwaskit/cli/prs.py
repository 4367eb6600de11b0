"""``gwaskit prs``: polygenic score from a panel. Flags -> :func:`gwaskit.pipelines.prs.run_prs`."""
from __future__ import annotations

import click

from ..errors import InputError
from ._options import genotype_options, open_selected, pop_genotype_inputs, pop_selection, selection_options


@click.command(name="prs", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--panel", required=True, type=click.Path(dir_okay=False), help="Panel table (gwaskit panel output).")
@genotype_options
@selection_options
@click.option("--covar", type=click.Path(dir_okay=False),
              help="Covariate table (IID [FID] + columns) to regress out of the score (adds score_resid).")
@click.option("--covar-cols", help="Comma-separated covariate columns (default: all numeric).")
@click.option("--fit-samples", type=click.Path(dir_okay=False),
              help="Samples on which the covariate coefficients are fitted (default: all scored).")
@click.option("--chunk-size", type=click.IntRange(min=1), default=2000, show_default=True,
              help="Panel variants read at a time (one Dask task each with --scheduler/--workers).")
@click.option("--scheduler", default=None,
              help="Score the panel chunks on a running Dask scheduler, e.g. tcp://host:8786 (needs "
                   "gwaskit[dist]; the genotype files must be readable under the same paths on every "
                   "worker). Scores identical to an in-process run.")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Start an authenticated Dask LocalCluster of N single-threaded worker processes here.")
@click.option("--threads", type=click.IntRange(min=1), default=None,
              help="In-process worker threads, one panel chunk each (default: all usable CPUs).")
@click.option("--quiet", is_flag=True)
@click.option("--overwrite", is_flag=True)
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="Score table (.tsv/.parquet).")
def command(panel, covar, covar_cols, fit_samples, chunk_size, scheduler, workers, threads, quiet,
            overwrite, out, **kwargs):
    """Weighted allele-count score per sample (plink2 --score SCORE1_SUM)."""
    import numpy as np
    import pandas as pd

    from ..io.output import check_writable, table_format, write_table
    from ..loci.panel import read_panel
    from ..engine.execute import Execution
    from ..pipelines.prs import PrsConfig, run_prs
    from .main import setup_logging

    setup_logging(quiet=quiet)
    geno = pop_genotype_inputs(kwargs)
    selection = pop_selection(kwargs)
    if scheduler and workers:
        raise InputError("--scheduler and --workers are mutually exclusive")
    execution = Execution(threads=threads, scheduler=scheduler, workers=workers)
    table_format(out)
    check_writable(out, overwrite)
    pan = read_panel(panel)
    with open_selected(geno, selection) as reader:
        scores = run_prs(reader, pan, PrsConfig(chunk_size=chunk_size), execution=execution,
                         sample_file=geno["sample_file"]).table
    if covar:
        # the one table reader: IDs as strings, delimiter sniffed, bad cells named
        from ..io.tables import check_id_overlap, numeric_matrix, read_table, select_columns

        cv = read_table(covar)
        cols = select_columns(cv, covar_cols.split(",") if covar_cols else None, covar,
                              "covariate column", exclude=("FID", "IID"))
        check_id_overlap(pd.Index(scores["IID"].astype(str)), pd.Index(cv["IID"]), covar)
        C = pd.DataFrame(numeric_matrix(cv, cols, covar, "covariate column"), columns=cols,
                         index=cv["IID"]).reindex(scores["IID"].astype(str))
        ok = C.notna().all(axis=1).to_numpy()
        if not ok.all():
            from .._log import logger

            logger.info(f"prs: {int((~ok).sum())} samples without complete covariates get no score_resid")
        fit = ok.copy()
        if fit_samples:
            ids = {line.split()[-1] for line in open(fit_samples) if line.strip() and not line.startswith("#")}
            fit &= scores["IID"].astype(str).isin(ids).to_numpy()
        from ..ld.pca import regress_out

        resid = np.full(len(scores), np.nan)
        idx = np.flatnonzero(ok)
        resid[idx] = regress_out(scores["score"].to_numpy()[idx], C.to_numpy(float)[idx], fit[idx])
        scores["score_resid"] = resid
    write_table(scores, out, overwrite=overwrite)

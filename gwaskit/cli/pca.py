"""``gwaskit pca``: genotype principal components. Flags only; see :mod:`gwaskit.ld.pca`."""
from __future__ import annotations

import click

from ._options import genotype_options, open_selected, pop_genotype_inputs, pop_selection, selection_options


@click.command(name="pca", context_settings={"help_option_names": ["-h", "--help"]})
@genotype_options
@selection_options(dosage_filters=False)
@click.option("--n-pcs", type=click.IntRange(min=1), default=20, show_default=True)
@click.option("--maf", type=click.FloatRange(0, 0.5), default=0.01, show_default=True,
              help="Variants used for the PCs: MAF over the selected samples at least this.")
@click.option("--prune-r2", type=click.FloatRange(0, 1), default=0.2, show_default=True,
              help="Greedy LD pruning threshold (1 = no pruning).")
@click.option("--prune-window", type=click.IntRange(min=1), default=50, show_default=True,
              help="Kept variants compared against (same chromosome).")
@click.option("--chunk-size", type=click.IntRange(min=1), default=2000, show_default=True)
@click.option("--n-iter", type=click.IntRange(min=0), default=4, show_default=True, help="Power iterations.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--quiet", is_flag=True)
@click.option("--overwrite", is_flag=True)
@click.option("--out", required=True, type=click.Path(dir_okay=False),
              help="FID IID PC1..PCk table (.tsv/.parquet), ready for scan --covar; eigenvalues in "
                   "<out>.meta.json.")
def command(n_pcs, maf, prune_r2, prune_window, chunk_size, n_iter, seed, quiet, overwrite, out,
            **kwargs):
    """Top genotype principal components (randomised SVD over LD-pruned variants)."""
    from ..io.output import check_writable, table_format, write_json, write_table
    from ..ld.pca import genotype_pcs
    from .main import setup_logging

    setup_logging(quiet=quiet)
    geno = pop_genotype_inputs(kwargs)
    selection = pop_selection(kwargs)
    table_format(out)
    check_writable(out, overwrite)
    check_writable(out + ".meta.json", overwrite)
    with open_selected(geno, selection) as reader:
        pcs, eig, used = genotype_pcs(reader, n_pcs=n_pcs, maf=maf, prune_r2=prune_r2,
                                      prune_window=prune_window, chunk_size=chunk_size, n_iter=n_iter,
                                      seed=seed)
    write_table(pcs, out, overwrite=overwrite)
    write_json({"command": "pca", "selection": selection.fingerprint(),
                "eigenvalues": eig, "n_variants": len(used), "maf": maf,
                "prune_r2": prune_r2, "prune_window": prune_window, "n_iter": n_iter, "seed": seed},
               out + ".meta.json", overwrite=overwrite)

"""Shared click options of the commands that build the scan's traits: ``scan``, ``loco`` and
``transform`` (the phenotype and covariate tables, the trait transformation, the held-out
split guard and sample-ID matching).

The three commands must produce exactly the same traits from the same flags (a LOCO file is
valid only for the traits it was fitted to), so the flags and their mapping onto
:class:`~gwaskit.pipelines.scan.ScanConfig` fields live here once.
"""
from __future__ import annotations

import click

from ..errors import InputError

__all__ = ["trait_options", "pop_trait_options", "split_values"]

_KEYS = ("pheno", "pheno_cols", "covar", "covar_cols", "categorical", "pca", "no_pca",
         "no_rank_normalize", "split_col", "split_values", "all_splits", "allow_id_mismatch")


def split_values(values: tuple[str, ...]) -> list[str] | None:
    """Accept repeated flags and/or comma-separated lists."""
    items = [v.strip() for val in values for v in val.split(",") if v.strip()]
    return items or None


def trait_options(f):
    """``--pheno ... --allow-id-mismatch``."""
    options = [
        click.option("--pheno", required=True, type=click.Path(dir_okay=False),
                     help="Embedding/phenotype table (.parquet, .csv, or "
                          ".tsv/.txt/.psam/.pheno[.gz]: tab- or whitespace-separated) with IID "
                          "(and FID); IDs are matched as strings."),
        click.option("--pheno-cols", multiple=True,
                     help="Columns or globs, e.g. 'emb_*' (default: all numeric)."),
        click.option("--covar", type=click.Path(dir_okay=False), help="Covariate table."),
        click.option("--covar-cols", multiple=True,
                     help="Covariate columns or globs (default: all)."),
        click.option("--categorical", multiple=True,
                     help="Categorical covariates (one-hot, first level dropped)."),
        click.option("--pca", "pca", type=click.IntRange(min=1), default=None,
                     help="Project the embedding on its top D principal components "
                          "(default: all components, at most 256)."),
        click.option("--no-pca", is_flag=True, help="Test the phenotype columns as given."),
        click.option("--no-rank-normalize", is_flag=True,
                     help="Skip the per-column rank-based inverse normal transform (Blom)."),
        click.option("--split-col", default="split", show_default=True,
                     help="Column of the phenotype table holding a learner's split labels."),
        click.option("--split-value", "split_values", multiple=True,
                     help="Use only the rows whose split column has this value (repeatable), "
                          "e.g. --split-value test for individuals the learner never trained "
                          "on. A table whose split column holds several values is refused "
                          "without this, --keep or --all-splits."),
        click.option("--all-splits", is_flag=True,
                     help="Use every row of a phenotype table that has several split values, "
                          "on purpose."),
        click.option("--allow-id-mismatch", is_flag=True,
                     help="Run although under 50%% of the sample IDs match (of the smaller "
                          "side) or unmatched IDs differ only by leading zeros (the overlap is "
                          "then logged)."),
    ]
    for opt in reversed(options):
        f = opt(f)
    return f


def pop_trait_options(kwargs: dict) -> tuple[dict, dict]:
    """Remove the trait options from a click callback's ``kwargs``.

    Returns
    -------
    (files, config_fields)
        ``{"pheno", "covar"}`` for :class:`~gwaskit.pipelines.scan.ScanInputs`, and the
        :class:`~gwaskit.pipelines.scan.ScanConfig` fields they set.
    """
    v = {k: kwargs.pop(k, None) for k in _KEYS}
    if v["pca"] is not None and v["no_pca"]:
        raise InputError("--pca and --no-pca are mutually exclusive")
    fields = {"pheno_cols": split_values(v["pheno_cols"] or ()),
              "covar_cols": split_values(v["covar_cols"] or ()),
              "categorical": split_values(v["categorical"] or ()) or (),
              "pca": None if v["no_pca"] else (v["pca"] if v["pca"] is not None else "all"),
              "rank_normalize": not v["no_rank_normalize"],
              "split_col": v["split_col"] or "split",
              "split_values": split_values(v["split_values"] or ()),
              "all_splits": bool(v["all_splits"]),
              "allow_id_mismatch": bool(v["allow_id_mismatch"])}
    return {"pheno": v["pheno"], "covar": v["covar"]}, fields

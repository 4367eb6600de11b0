"""``gwaskit plot manhattan|qq RESULTS --out FIG``: figures from association results."""
from __future__ import annotations

import click


@click.command("plot")
@click.argument("kind", type=click.Choice(["manhattan", "qq"]))
@click.argument("results", type=click.Path(dir_okay=False))
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False),
              help="Figure path; format from the extension (.png, .svg, .pdf).")
@click.option("--clumps", type=click.Path(dir_okay=False), default=None,
              help="Clump table with variant_id: leads highlighted and labelled (manhattan).")
@click.option("--df", "df", type=click.FloatRange(0, min_open=True), default=None,
              help="D of the test for lambda_D (qq; default: the df column, else 1).")
@click.option("--title", default=None)
@click.option("--keep-above", default=2.0, show_default=True, type=float,
              help="Draw every point above this -log10 p; thin below.")
@click.option("--dpi", default=150, show_default=True, type=click.IntRange(30))
@click.option("--overwrite", is_flag=True, help="Replace an existing figure.")
@click.option("--quiet", is_flag=True, help="No log on stderr.")
def command(kind, results, out_path, clumps, df, title, keep_above, dpi, overwrite, quiet):
    """Manhattan or QQ plot of a results table (.parquet, .tsv, .tsv.gz)."""
    from ..errors import InputError
    from .main import setup_logging

    setup_logging(quiet)
    if kind == "manhattan":
        if df is not None:
            raise InputError("--df applies to qq plots only")
        from ..plot import manhattan

        info = manhattan(results, out_path, clumps=clumps, title=title, keep_above=keep_above,
                         dpi=dpi, overwrite=overwrite)
        click.echo(f"{info['path']}: {info['n']} variants ({info['n_drawn']} drawn), "
                   f"{info['n_labelled']} leads labelled")
    else:
        if clumps is not None:
            raise InputError("--clumps applies to manhattan plots only")
        from ..plot import qq

        info = qq(results, out_path, df=df, title=title, keep_above=keep_above, dpi=dpi,
                  overwrite=overwrite)
        click.echo(f"{info['path']}: lambda_{info['df']:g} = {info['lambda']:.4f} "
                   f"(D = {info['df']:g}, {info['n']} p-values)")

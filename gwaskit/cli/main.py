"""The ``gwaskit`` command: one subcommand per job, as in plink2.

Subcommands live in sibling modules (``gwaskit/cli/<name>.py``, each defining a click command
called ``command``) and are imported only when invoked, so ``gwaskit --help`` is fast. The CLI
holds no statistics of its own: each subcommand parses flags, calls the library and reports.
"""
from __future__ import annotations

import logging
import sys
from importlib import import_module

import click

from ..errors import InputError

# name -> (module, one-line help shown by `gwaskit --help`)
SUBCOMMANDS = {
    "scan": ("gwaskit.cli.scan", "Multi-trait (D-df) association scan of an embedding."),
    "clump": ("gwaskit.cli.clump", "LD-clump association results (PLINK 1.9 semantics)."),
    "overlap": ("gwaskit.cli.overlap", "Fraction of reference loci recovered by a scan."),
    "panel": ("gwaskit.cli.panel", "Build a GWAS variant panel from summary statistics."),
    "meta": ("gwaskit.cli.meta", "Fixed-effect inverse-variance meta-analysis."),
    "prs": ("gwaskit.cli.prs", "Polygenic score from a panel."),
    "pca": ("gwaskit.cli.pca", "Genotype principal components."),
    "loco": ("gwaskit.cli.loco", "LOCO step 1: whole-genome ridge predictions (REGENIE)."),
    "transform": ("gwaskit.cli.transform", "Write the scan's traits and covariates for REGENIE/plink2."),
    "plot": ("gwaskit.cli.plot", "Manhattan and QQ plots."),
    "simulate": ("gwaskit.cli.simulate", "Simulate a cohort with realistic LD."),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return [name for name in SUBCOMMANDS if _available(name)]

    def get_command(self, ctx: click.Context, name: str):
        if name not in SUBCOMMANDS or not _available(name):
            return None
        from ._conventions import guard_outputs

        return guard_outputs(import_module(SUBCOMMANDS[name][0]).command, name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, SUBCOMMANDS[name][1]) for name in self.list_commands(ctx)]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


def _available(name: str) -> bool:
    from importlib.util import find_spec

    return find_spec(SUBCOMMANDS[name][0]) is not None


def setup_logging(quiet: bool = False, log_file: str | None = None) -> None:
    """Log to stderr (and optionally a file) in plink's terse style.

    The ``<out>.log`` handler of :func:`gwaskit.cli._log.command_log` is kept: it collects the
    records with ``quiet`` too.
    """
    from ._log import LOG_HANDLER_FLAG

    log = logging.getLogger("gwaskit")
    log.setLevel(logging.INFO)
    # third-party code calling logging.info() installs a root handler (basicConfig); do not let
    # gwaskit records reach it, or --quiet would still print them
    log.propagate = False
    for handler in list(log.handlers):
        if not isinstance(handler, logging.NullHandler) and not getattr(
                handler, LOG_HANDLER_FLAG, False):
            log.removeHandler(handler)
    if not quiet:
        stream = logging.StreamHandler(sys.stderr)
        stream.setFormatter(logging.Formatter("%(message)s"))
        log.addHandler(stream)
    if log_file:
        fh = logging.FileHandler(log_file)
        fh.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        log.addHandler(fh)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="gwaskit")
def cli() -> None:
    """gwaskit: GWAS of learned phenotypes (multi-trait scan, clumping, loci, panels)."""


#: Top-level module -> the extra of pyproject.toml that provides it.
EXTRAS = {"matplotlib": "plot", "msprime": "sim", "tskit": "sim", "mlxtend": "sim",
          "stdpopsim": "sim", "dask": "dist", "distributed": "dist", "cryptography": "dist",
          "torch": "learn", "sklearn": "learn", "PIL": "learn", "zarr": "vcz"}


def missing_extra_hint(exc: ModuleNotFoundError) -> str | None:
    """``pip install 'gwaskit[<extra>]'`` for a module that an optional extra provides."""
    top = (exc.name or "").split(".")[0]
    extra = EXTRAS.get(top)
    if extra is None:
        return None
    return f"this command needs the optional package {top!r}: pip install 'gwaskit[{extra}]'"


def _in_flags(message: str, group: click.Group, argv: list[str] | None) -> str:
    """The library names parameters (``maf: must lie in [0, 0.5]``, ``pass overwrite=True``);
    say the invoked command's flags instead (``--maf: ...``, ``pass --overwrite``)."""
    import re

    args = sys.argv[1:] if argv is None else argv
    name = next((a for a in args if not a.startswith("-")), None)
    cmd = group.get_command(click.Context(group), name) if name else None
    if cmd is None:
        return message
    flags = {p.name: p.opts[0] for p in cmd.params
             if isinstance(p, click.Option) and p.opts[0].startswith("--")}

    def flag(m: re.Match) -> str:
        return flags.get(m.group(1), m.group(0))

    message = re.sub(r"\b([a-z][a-z0-9_]*)=True\b",
                     lambda m: flags.get(m.group(1), m.group(0)), message)
    # a suggested value: "split_values=['test']" -> "--split-value test"
    message = re.sub(r"\b([a-z][a-z0-9_]*)=\['?([^'\]]*)'?\]",
                     lambda m: f"{flags[m.group(1)]} {m.group(2)}" if m.group(1) in flags
                     else m.group(0), message)
    # a parameter named at the start of the message or of a "<path>: " prefix
    return re.sub(r"(?:(?<=^)|(?<=: ))([a-z][a-z0-9_]*)(?=[:=])", flag, message)


def run_cli(group: click.Group, prog_name: str, argv: list[str] | None = None) -> None:
    """Run a click group; bad input becomes one line on stderr and exit code 2, never a traceback.

    Shared by ``gwaskit`` and ``gemcont`` so both report errors the same way.
    """
    from ._log import COMMAND_ARGV

    token = COMMAND_ARGV.set(list(sys.argv[1:] if argv is None else argv))
    try:
        group.main(args=argv, prog_name=prog_name, standalone_mode=False)
    except InputError as exc:
        click.echo(f"Error: {_in_flags(str(exc), group, argv)}", err=True)
        sys.exit(2)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        sys.exit(130)
    except ModuleNotFoundError as exc:  # an optional extra that is not installed
        hint = missing_extra_hint(exc)
        if hint is None:
            raise
        click.echo(f"Error: {hint}", err=True)
        sys.exit(2)
    except OSError as exc:  # missing or unreadable files named by the user
        click.echo(f"Error: {exc}", err=True)
        sys.exit(2)
    finally:
        COMMAND_ARGV.reset(token)


def main(argv: list[str] | None = None) -> None:
    """The ``gwaskit`` entry point."""
    run_cli(cli, "gwaskit", argv)


if __name__ == "__main__":
    main()

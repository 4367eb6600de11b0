"""Checks every subcommand gets without writing them itself.

:func:`guard_outputs` wraps a command's callback so that no output it will write (``--out`` and
its sidecars, ``--members``, ``--log``) resolves to one of its input files: a mistyped ``--out``
never destroys a phenotype table or genotype file, with or without ``--overwrite``. Inputs are
the values of the command's ``click.Path`` options and arguments and of its genotype options
(``--bgen``, ``--bed``, ... which take prefixes and globs), so flags added later are covered.

It also runs the command inside :func:`gwaskit.cli._log.command_log`, so every command with an
output writes ``<out>.log`` (``<dir>/<command>.log`` for a directory output).
"""
from __future__ import annotations

import functools

import click

#: Parameters that name files the command writes (not inputs).
OUTPUT_PARAMS = ("out", "out_path", "members", "log", "log_file")
#: Directory outputs: what is written inside is named by the command itself.
OUTPUT_DIRS = ("out_dir",)
#: Genotype options that take a prefix or glob rather than a click.Path.
GENOTYPE_PARAMS = ("bgen", "bed", "pgen", "ld_bed", "ld_bgen", "ld_pgen", "bfile", "pfile")
#: Sidecars written next to ``--out`` by some command.
SIDECARS = (".meta.json", ".summary.json", ".skipped.tsv", ".log")


def _values(value) -> list[str]:
    if value is None or isinstance(value, bool):
        return []
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value if v is not None]
    return [str(value)]


def _log_target(kwargs: dict, name: str) -> tuple[str | None, list[str]]:
    """The log path of a command run, and the result files it sits beside (none for a dry run,
    which promises to write nothing)."""
    import os

    if kwargs.get("dry_run"):
        return None, []
    for param in ("out", "out_path"):
        out = kwargs.get(param)
        if isinstance(out, str) and out:
            return out + ".log", [out, out + ".meta.json"]
    out_dir = kwargs.get("out_dir")
    if isinstance(out_dir, str) and out_dir:
        return os.path.join(out_dir, f"{name}.log"), [os.path.join(out_dir, "meta.json")]
    return None, []


def guard_outputs(command: click.Command, name: str | None = None) -> click.Command:
    """Make ``command`` refuse, before any work, outputs that resolve to one of its inputs, and
    write its ``<out>.log``.

    Parameters
    ----------
    command
        A subcommand.
    name
        Its name in the log (default ``command.name``).
    """
    if getattr(command, "_gwaskit_guarded", False) or command.callback is None:
        return command
    inner = command.callback
    params = {p.name: p for p in command.params}
    log_name = name or command.name

    @functools.wraps(inner)
    def callback(**kwargs):
        from ..io.output import check_not_input

        outputs, inputs = [], []
        for param_name, value in kwargs.items():
            param = params.get(param_name)
            if param_name in OUTPUT_DIRS or param is None:
                continue
            if param_name in OUTPUT_PARAMS:
                for out in _values(value):
                    outputs += [out] + [out + s for s in SIDECARS]
            elif param_name in GENOTYPE_PARAMS or isinstance(param.type, click.Path):
                inputs += _values(value)
        if outputs and inputs:
            check_not_input(outputs, inputs)
        log_path, results = _log_target(kwargs, log_name)
        if log_path is None:
            return inner(**kwargs)
        from ._log import command_log

        with command_log(log_path, log_name, results=results,
                         overwrite=bool(kwargs.get("overwrite"))):
            return inner(**kwargs)

    command.callback = callback
    command._gwaskit_guarded = True
    return command

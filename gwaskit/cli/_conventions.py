"""Checks every subcommand gets without writing them itself.

:func:`guard_outputs` wraps a command's callback so that no output it will write (``--out`` and
its sidecars, ``--members``, ``--log``) resolves to one of its input files: a mistyped ``--out``
never destroys a phenotype table or genotype file, with or without ``--overwrite``. Inputs are
the values of the command's ``click.Path`` options and arguments and of its genotype options
(``--bgen``, ``--bed``, ... which take prefixes and globs), so flags added later are covered.
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


def guard_outputs(command: click.Command) -> click.Command:
    """Make ``command`` refuse, before any work, outputs that resolve to one of its inputs."""
    if getattr(command, "_gwaskit_guarded", False) or command.callback is None:
        return command
    inner = command.callback
    params = {p.name: p for p in command.params}

    @functools.wraps(inner)
    def callback(**kwargs):
        from ..io.output import check_not_input

        outputs, inputs = [], []
        for name, value in kwargs.items():
            param = params.get(name)
            if name in OUTPUT_DIRS or param is None:
                continue
            if name in OUTPUT_PARAMS:
                for out in _values(value):
                    outputs += [out] + [out + s for s in SIDECARS]
            elif name in GENOTYPE_PARAMS or isinstance(param.type, click.Path):
                inputs += _values(value)
        if outputs and inputs:
            check_not_input(outputs, inputs)
        return inner(**kwargs)

    command.callback = callback
    command._gwaskit_guarded = True
    return command

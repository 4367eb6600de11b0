"""``<out>.log``: what a command ran, with which versions, what it kept and dropped, and how it ended.

Every subcommand with an ``--out`` writes a log beside its results, as plink2 and REGENIE do: the
command line, start and end time, working directory, the versions of the packages that decide
results, every gwaskit log record (counts, filters, warnings), Python warnings, and the final
error line when the command fails. Records reach the log with ``--quiet`` too: quiet silences the
terminal only.

The log is collected in memory and written once, atomically, when the command ends (a temporary
file beside it, then a rename), so a half-written log never replaces a complete one. It follows
the command's ``--overwrite`` rule for results: when the command fails and a log already sits next
to existing results, that log is kept and the failure is only reported on stderr; a log left by
an earlier failed run (no results beside it) is replaced. For a directory output (``simulate
--out DIR``) the log is ``DIR/<command>.log``.
"""
from __future__ import annotations

import contextlib
import contextvars
import datetime
import io
import logging
import os
import sys
import warnings
from collections.abc import Iterator, Sequence

#: Marks the handler so :func:`gwaskit.cli.main.setup_logging` keeps it when it resets handlers.
LOG_HANDLER_FLAG = "_gwaskit_command_log"

#: The arguments the running command was given: set by :func:`gwaskit.cli.main.run_cli`, because
#: ``sys.argv`` is another program's when the CLI is called in-process (``main([...])``).
COMMAND_ARGV: contextvars.ContextVar[Sequence[str] | None] = contextvars.ContextVar(
    "gwaskit_command_argv", default=None)


def _now() -> str:
    return datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")


def _header(command: str, argv: Sequence[str]) -> list[str]:
    import gwaskit

    return [f"gwaskit {gwaskit.__version__} {command}",
            "Command line: " + " ".join(["gwaskit", *argv]),
            f"Working directory: {os.getcwd()}",
            f"Start time: {_now()}"]


def _versions_line() -> str:
    from ..engine.checkpoint import package_versions

    versions = package_versions()
    blas = versions.pop("blas", None)
    text = ", ".join(f"{k} {v}" for k, v in versions.items() if v is not None)
    if blas:
        text += f", BLAS {'; '.join(blas)}"
    return f"Versions: {text}"


@contextlib.contextmanager
def command_log(path: str, command: str, *, results: Sequence[str] = (),
                overwrite: bool = False, argv: Sequence[str] | None = None) -> Iterator[None]:
    """Collect the log of one command run and write it to ``path`` when the run ends.

    Parameters
    ----------
    path
        The log file (``<out>.log``).
    command
        Subcommand name, for the first line.
    results
        The command's result files: a failed run does not replace a log beside any of them
        unless ``overwrite``.
    overwrite
        The command's ``--overwrite``.
    argv
        The command line without the program name (default: what :func:`run_cli` was given,
        else ``sys.argv[1:]``).
    """
    from ..io.output import atomic_path

    if argv is None:
        argv = COMMAND_ARGV.get()
    argv = list(sys.argv[1:] if argv is None else argv)
    header = _header(command, argv)  # now: it holds the start time
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setLevel(logging.INFO)
    handler.setFormatter(logging.Formatter("%(message)s"))
    setattr(handler, LOG_HANDLER_FLAG, True)
    gwaskit_log = logging.getLogger("gwaskit")
    warnings_log = logging.getLogger("py.warnings")
    gwaskit_log.addHandler(handler)
    if gwaskit_log.level == logging.NOTSET or gwaskit_log.level > logging.INFO:
        gwaskit_log.setLevel(logging.INFO)
    warnings_log.addHandler(handler)
    logging.captureWarnings(True)
    ended = "End time"
    failed: BaseException | None = None
    try:
        yield
    except BaseException as exc:  # noqa: BLE001 - reported in the log, then re-raised
        if not (isinstance(exc, SystemExit) and exc.code in (0, None)):
            failed = exc
        raise
    finally:
        logging.captureWarnings(False)
        gwaskit_log.removeHandler(handler)
        warnings_log.removeHandler(handler)
        lines = list(header)
        try:
            lines.append(_versions_line())
        except Exception as e:  # noqa: BLE001 - the log must not turn a result into a failure
            lines.append(f"Versions: unavailable ({e})")
        lines.append("")
        lines += buffer.getvalue().splitlines()
        lines.append("")
        if failed is not None:
            ended = "Failed at"
            lines.append(_failure_line(failed))
        lines.append(f"{ended}: {_now()}")
        keep_old = (failed is not None and not overwrite and os.path.exists(path)
                    and any(os.path.exists(r) for r in results))
        directory = os.path.dirname(os.path.abspath(path))
        if not keep_old and os.path.isdir(directory):
            try:
                with atomic_path(path, overwrite=True) as tmp:
                    with open(tmp, "w", encoding="utf-8") as fh:
                        fh.write("\n".join(lines) + "\n")
            except OSError as e:
                # a read-only directory must not hide the command's own outcome
                warnings.warn(f"{path}: could not write the log ({e})", stacklevel=2)


def _failure_line(exc: BaseException) -> str:
    from ..errors import InputError

    if isinstance(exc, SystemExit):
        return f"Exit status {exc.code if isinstance(exc.code, int) else 1}"
    if isinstance(exc, KeyboardInterrupt):
        return "Interrupted"
    kind = "Error" if isinstance(exc, (InputError, OSError)) else type(exc).__name__
    return f"{kind}: {exc}".splitlines()[0]

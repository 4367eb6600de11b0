"""Result files: atomic writes, format by extension, metadata sidecars.

A user's results are never lost or half-written: every writer here writes to a temporary file
in the destination directory, then renames it over the target (``os.replace`` is atomic on
POSIX within one filesystem). An existing output is refused unless ``overwrite=True``.
"""
from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

if TYPE_CHECKING:
    import pandas as pd

from ..errors import InputError

TABLE_SUFFIXES = (".parquet", ".tsv", ".tsv.gz", ".csv", ".csv.gz", ".txt")


def table_format(path: str | os.PathLike) -> str:
    """Return ``'parquet'``, ``'tsv'`` or ``'csv'`` for a path, from its extension."""
    name = str(path).lower()
    if name.endswith(".parquet") or name.endswith(".pq"):
        return "parquet"
    if name.endswith((".tsv", ".tsv.gz", ".txt", ".txt.gz", ".tab")):
        return "tsv"
    if name.endswith((".csv", ".csv.gz")):
        return "csv"
    raise InputError(
        f"{path}: unknown table extension; use one of {', '.join(TABLE_SUFFIXES)}"
    )


def check_writable(path: str | os.PathLike, overwrite: bool = False) -> Path:
    """Fail early (before any work) if ``path`` exists and may not be overwritten."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise InputError(f"{path}: output exists; pass overwrite=True to replace it")
    if not path.parent.exists():
        raise InputError(f"{path}: directory {path.parent} does not exist")
    return path


#: Files that travel with a genotype path or prefix (a .bed prefix names all three).
_COMPANIONS = (".bed", ".bim", ".fam", ".pgen", ".pvar", ".psam", ".bgen", ".bgi", ".sample")


def _input_files(inputs) -> list[Path]:
    """Resolved paths of the input files named by ``inputs`` (paths, prefixes or globs)."""
    import glob

    found: list[Path] = []
    for item in inputs:
        if item is None:
            continue
        if isinstance(item, (list, tuple, set)):
            found += _input_files(item)
            continue
        text = str(item)
        names = glob.glob(text) if any(ch in text for ch in "*?[") else [text]
        for name in names:
            found.append(Path(name))
            stem = name[: -len(Path(name).suffix)] if Path(name).suffix in _COMPANIONS else name
            found += [Path(stem + ext) for ext in _COMPANIONS]
    return [p.resolve() for p in found if p.exists()]


def check_not_input(outputs, inputs) -> None:
    """Refuse outputs that would overwrite an input, whatever ``overwrite`` says.

    Parameters
    ----------
    outputs
        Every file the command will write (the table and its sidecars such as
        ``<out>.meta.json``).
    inputs
        Input paths, PLINK/BGEN prefixes or globs (None entries are ignored). A prefix or a
        genotype file also names its companions (``.bed/.bim/.fam``, ``.pgen/.pvar/.psam``,
        ``.bgen/.bgi/.sample``).

    Raises
    ------
    InputError
        Naming the output and the input it resolves to (symlinks and relative paths are
        resolved, so ``./x.tsv`` and a link to ``x.tsv`` are the same file).
    """
    files = {p: p for p in _input_files(list(inputs))}
    for out in outputs:
        if out is None:
            continue
        target = Path(out).resolve()
        if target in files:
            raise InputError(f"{out}: output would overwrite the input {files[target]}; "
                             f"choose another --out")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it onto ``path``.

    On an exception the temporary file is removed and ``path`` is left untouched.
    """
    path = check_writable(path, overwrite)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp creates 0600; give the usual file mode
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_table(
    df: pd.DataFrame, path: str | os.PathLike, overwrite: bool = False, float_format: str | None = None
) -> Path:
    """Write ``df`` atomically, format chosen by extension (parquet, tsv[.gz], csv[.gz])."""
    fmt = table_format(path)
    with atomic_path(path, overwrite) as tmp:
        if fmt == "parquet":
            df.to_parquet(tmp, index=False)
        else:
            compression = "gzip" if str(path).endswith(".gz") else None
            sep = "\t" if fmt == "tsv" else ","
            df.to_csv(tmp, sep=sep, index=False, na_rep="NA", compression=compression,
                      float_format=float_format)
    return Path(path)


def write_json(meta: dict[str, Any], path: str | os.PathLike, overwrite: bool = False) -> Path:
    """Write a JSON metadata sidecar atomically."""
    with atomic_path(path, overwrite) as tmp:
        tmp.write_text(json.dumps(meta, indent=2, default=_json_default) + "\n")
    return Path(path)


def _json_default(obj: Any) -> Any:
    import numpy as np

    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")

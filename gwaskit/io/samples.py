"""Oxford ``.sample`` files (SNPTEST / QCTOOL / plink2), read by column name.

Two dialects (see the reference notes, formats 2.1):

* v1 / classic: header ``ID_1 ID_2 missing [sex ...]``, a types line ``0 0 0 [D ...]``, then one
  row per sample in BGEN order -> ``FID = ID_1``, ``IID = ID_2``.
* v2: header ``ID [missing sex ...]`` (a single ID column), types line ``0 [0 D ...]`` ->
  ``IID = ID``, ``FID = None``.

Whitespace separated; ``NA`` is missing. A ``sex`` column, when present, is returned as a
nullable integer (1 = male, 2 = female, missing otherwise).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from gwaskit.errors import InputError

__all__ = ["read_sample_file", "write_sample_file"]

_MISSING = {"NA", "na", "NaN", "nan", "-9", ""}


def read_sample_file(path: str | os.PathLike) -> pd.DataFrame:
    """Read a ``.sample`` file into a table with ``FID``, ``IID`` (and ``sex`` when present).

    Parameters
    ----------
    path
        The ``.sample`` file.

    Returns
    -------
    DataFrame
        One row per sample, in file (= BGEN) order. ``FID`` is None for single-ID (v2) files.

    Raises
    ------
    InputError
        Missing header or types line, a row with the wrong number of columns, an empty ID or
        duplicate IIDs; the message names the file and line.
    """
    path = Path(path)
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            lines = fh.read().splitlines()
    except OSError as e:
        raise InputError(f"{path}: cannot read sample file ({e.strerror})") from None
    lines = [ln for ln in lines if ln.strip()]
    if len(lines) < 2:
        raise InputError(f"{path}: not a .sample file (needs a header line and a types line)")
    header = lines[0].split()
    types = lines[1].split()
    if len(types) != len(header) or types[0] != "0":
        raise InputError(
            f"{path}: line 2 must be the column types line ('0 0 0 ...'), one per header column"
        )
    ncol = len(header)
    rows = []
    for ln_no, line in enumerate(lines[2:], start=3):
        parts = line.split()
        if len(parts) != ncol:
            raise InputError(
                f"{path}: line {ln_no} has {len(parts)} columns, the header has {ncol}"
            )
        rows.append(parts)
    cols = {name: [r[k] for r in rows] for k, name in enumerate(header)}
    lower = [h.lower() for h in header]
    if ncol >= 2 and lower[1] == "id_2":
        fid = np.array(cols[header[0]], dtype=object)
        iid = np.array(cols[header[1]], dtype=object)
    else:
        fid = np.full(len(rows), None, dtype=object)
        iid = np.array(cols[header[0]], dtype=object)
    table = pd.DataFrame({"FID": fid, "IID": iid})
    if "sex" in lower:
        raw = cols[header[lower.index("sex")]]
        sex = [
            1 if s in ("1", "M", "m", "male") else 2 if s in ("2", "F", "f", "female") else None
            for s in raw
        ]
        table["sex"] = pd.array(sex, dtype="Int8")
    empty = np.flatnonzero(np.isin(table["IID"].to_numpy(), list(_MISSING - {"-9"})))
    if len(empty):
        raise InputError(f"{path}: line {empty[0] + 3} has an empty/missing sample ID")
    dup = table["IID"][table["IID"].duplicated()]
    if len(dup):
        raise InputError(
            f"{path}: {len(dup)} duplicate sample ID(s) in column {header[1] if fid[0] is not None else header[0]}, "
            f"e.g. {dup.iloc[0]!r}"
        )
    return table


def write_sample_file(
    path: str | os.PathLike, iids: Sequence[str], fids: Sequence[str] | None = None
) -> Path:
    """Write a classic (v1) ``.sample`` file: ``ID_1 ID_2 missing`` / ``0 0 0`` / ``FID IID 0``.

    ``FID`` defaults to the IID. Written to a temporary file and renamed (atomic).
    """
    path = Path(path)
    iids = [str(s) for s in iids]
    fids = iids if fids is None else [str(s) for s in fids]
    if len(fids) != len(iids):
        raise InputError(f"{path}: {len(fids)} FIDs for {len(iids)} samples")
    for s in iids + fids:
        if not s or any(c.isspace() for c in s):
            raise InputError(f"{path}: sample ID {s!r} is empty or contains whitespace")
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write("ID_1 ID_2 missing\n0 0 0\n")
            fh.writelines(f"{f} {i} 0\n" for f, i in zip(fids, iids))
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path

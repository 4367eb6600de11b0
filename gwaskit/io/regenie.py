"""REGENIE step-1 output (``<prefix>_pred.list`` + ``<prefix>_<k>.loco``) as :class:`LocoPredictions`.

:func:`read_regenie_pred` reads the LOCO predictions of ``regenie --step 1 --out <prefix>`` for
users who already ran REGENIE on the transformed traits; :func:`write_regenie_pred` writes
gwaskit's LOCO predictions in the same layout, for ``regenie --step 2 --pred <prefix>_pred.list``.

The layout (verified against REGENIE 4.1.2, commit ``5f924b9`` of rgcgithub/regenie, 2025-11-12)
------------------------------------------------------------------------------------------------
``<prefix>_pred.list`` [1]_ [2]_
    One line per phenotype: its name, one space, the path of its prediction file. The path is
    absolute by default (``get_fullpath``: ``boost::filesystem::absolute``) and, with
    ``--use-relative-path`` (REGENIE >= 2.2), the ``--out`` prefix exactly as given plus
    ``_<k>.loco``, i.e. relative to REGENIE's working directory, *not* to the list's directory.
    Step 2 (``check_blup``) splits each line on spaces/tabs, requires exactly two fields, refuses
    a phenotype listed twice, and opens the path as written. Phenotypes that failed level 1
    (binary traits that did not converge) are left out, so file numbers may have gaps; the list
    is in phenotype-file order, and phenotypes of the list that step 2 does not analyse are
    ignored.
``<prefix>_<k>.loco`` (``.loco.gz`` with ``--gz``) [1]_ [2]_
    ``k`` is the phenotype's 1-based column index in the phenotype file. Space separated. Line 1
    is ``FID_IID`` followed by the N sample keys ``<FID>_<IID>`` (built as ``FID + "_" + IID``
    from the .fam/.psam/.sample, ``Geno.cpp``), in the iteration order of REGENIE's
    ``std::map`` (byte-lexicographic order of the keys), the same header for every phenotype of
    a run. Then one line per chromosome 1 .. ``nChrom`` (23 by default, ``--nauto`` + 1;
    ``write_chr_row``): the chromosome number, then the N LOCO predictions (C++ stream default
    precision, 6 significant digits). Sex chromosomes are collapsed into chromosome 23, and a
    chromosome without any step-1 block gets the whole-genome prediction. Every line ends with a
    space. A sample whose phenotype is missing is kept with ``NA`` predictions; step 2
    (``blup_read``) drops a sample for a trait when its chromosome-1 value is ``NA`` and
    ``blup_read_chr`` aborts on an ``NA`` elsewhere. Step 2 reads line ``c + 1`` as chromosome
    ``c`` (it skips ``c - 1`` lines, then checks the first field with ``chrStrToInt``, which
    accepts a ``chr`` prefix and maps X/XY/Y/PAR1/PAR2 to 23), so the rows are positional. A
    file is read as gzip when its name ends in ``.gz`` and it starts with ``1f 8b``
    (``Files::isGzipped``); fields are split on single spaces or tabs (``string_split``).
``<prefix>_<k>.prs`` (``--print-prs``)
    The same header and one row for "chromosome" ``0``: a whole-genome prediction without LOCO.
    It is refused here (proximal contamination); pass the ``_pred.list``.

Reading (:func:`read_regenie_pred`)
-----------------------------------
* A path in the list is tried as written (relative to the current directory, as REGENIE does),
  then relative to the list file's directory, then as its file name in the list file's
  directory (an output folder moved or downloaded as a whole); the file used for every trait is
  recorded in ``provenance["files"]``.
* ``sample_ids`` are the ``FID_IID`` keys exactly as in the files; the caller maps its own
  samples to ``f"{FID}_{IID}"`` (:func:`regenie_sample_ids`) before
  :meth:`~gwaskit.io.loco.LocoPredictions.aligned`. A key is ambiguous when FIDs or IIDs
  contain ``_`` (``a_b`` + ``c`` and ``a`` + ``b_c``); REGENIE has the same ambiguity.
* Predictions are keyed by :func:`~gwaskit.io.selection.normalize_chromosome` of the row's
  chromosome: ``1`` .. ``22`` and ``X`` (row 23, which holds all sex chromosomes). Variants on
  XY, Y, PAR1 and PAR2 are tested with that row, as REGENIE's step 2 does, and the scan's
  metadata records ``X`` as the prediction used for them. Codes above 23 (``--nauto`` other than
  22, non-human genomes) are refused, as they would be mislabelled by plink2's human codes.
* ``NA`` (and ``nan``/``inf``, which REGENIE also reads as missing) is refused with one line
  naming the file, line and sample: gwaskit's scan needs a prediction for every sample and
  trait. Rerun step 1 with ``--strict`` or ``--remove`` those samples.
* Every trait's file must list the same samples (in any order: later files are reordered to the
  first) and the same chromosomes.
* REGENIE's files carry no provenance, so ``provenance`` holds no ``transform``,
  ``traits_sha256`` or ``samples_sha256``: :meth:`LocoPredictions.check_matches` then compares
  the dimension names only, and the sample set is checked by ``aligned``.

References
----------
.. [1] REGENIE documentation, "Predictions file format" and "Output" (``--step 1``),
   https://rgcgithub.github.io/regenie/options/ (``docs/docs/options.md``).
.. [2] REGENIE source, https://github.com/rgcgithub/regenie: ``src/Data.cpp``
   (``Data::write_predictions``, ``write_ID_header``, ``write_chr_row``, the ``_pred.list``
   writer and ``get_fullpath``), ``src/Pheno.cpp`` (``check_blup``, ``blup_read``),
   ``src/Step2_Models.cpp`` (``blup_read_chr``), ``src/Regenie.cpp`` (``chrStrToInt``,
   ``convertDouble``), ``src/Files.cpp`` (``isGzipped``, ``string_split``).
"""
from __future__ import annotations

import gzip
import io
import os
from pathlib import Path
from typing import IO, Sequence

import numpy as np

from .._log import logger
from ..errors import InputError
from .loco import LocoPredictions
from .selection import normalize_chromosome

__all__ = ["HEADER", "N_CHROMOSOME_ROWS", "read_regenie_pred", "regenie_sample_ids",
           "write_regenie_pred"]

#: First field of a ``.loco`` file's header line.
HEADER = "FID_IID"
#: Rows REGENIE writes: chromosomes 1-22 and 23 (the sex chromosomes, collapsed).
N_CHROMOSOME_ROWS = 23
_SEX_CODES = ("X", "XY", "Y", "PAR1", "PAR2")
_MISSING = ("NA", "nan", "inf", "-nan", "-inf")


def regenie_sample_ids(fids: Sequence[str], iids: Sequence[str]) -> list[str]:
    """REGENIE's sample keys ``f"{FID}_{IID}"`` (the ``FID_IID`` header of a ``.loco`` file).

    Parameters
    ----------
    fids, iids
        Family and individual IDs of the same samples, in order.

    Returns
    -------
    list of str

    Raises
    ------
    InputError
        ``fids`` and ``iids`` differ in length.
    """
    if len(fids) != len(iids):
        raise InputError(f"fids: {len(fids)} FIDs for {len(iids)} IIDs")
    return [f"{f}_{i}" for f, i in zip(fids, iids)]


# --------------------------------------------------------------------------------------- read
def _open_text(path: Path) -> IO[str]:
    """Text stream of a plain or gzip file (detected by its magic bytes, not its name)."""
    with open(path, "rb") as fh:
        magic = fh.read(2)
    if magic == b"\x1f\x8b":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8")
    return open(path, encoding="utf-8")


def _read_list(path: Path) -> list[tuple[str, str, int]]:
    """``(phenotype, path as written, line number)`` of every line of a ``_pred.list``."""
    entries: list[tuple[str, str, int]] = []
    seen: dict[str, int] = {}
    try:
        with open(path, encoding="utf-8") as fh:
            for lineno, line in enumerate(fh, 1):
                fields = line.split()
                if not fields:
                    continue
                if len(fields) != 2:
                    raise InputError(f"{path}:{lineno}: expected 'PHENOTYPE PATH' (2 fields, as "
                                     f"regenie --step 1 writes its _pred.list), got {len(fields)}")
                name, file = fields
                if name in seen:
                    raise InputError(f"{path}:{lineno}: phenotype {name!r} is listed twice (also "
                                     f"on line {seen[name]})")
                seen[name] = lineno
                entries.append((name, file, lineno))
    except FileNotFoundError:
        raise InputError(f"{path}: REGENIE prediction list not found") from None
    except UnicodeDecodeError:
        raise InputError(f"{path}: not a text file (expected a REGENIE _pred.list)") from None
    if not entries:
        raise InputError(f"{path}: empty REGENIE prediction list (no 'PHENOTYPE PATH' line)")
    return entries


def _resolve(written: str, list_dir: Path) -> tuple[Path | None, list[Path]]:
    """The prediction file a list entry names (see the module docstring), and the candidates."""
    p = Path(written)
    candidates = [p] if p.is_absolute() else [p, list_dir / p]
    candidates.append(list_dir / p.name)
    unique: list[Path] = []
    for c in candidates:
        if c not in unique:
            unique.append(c)
    for c in unique:
        if c.is_file():
            return c, unique
    return None, unique


def _chromosome_key(token: str, path: Path, lineno: int) -> str:
    code = token[3:] if token[:3].lower() == "chr" else token
    if code.isdigit():
        k = int(code)
        if k == 0:
            raise InputError(f"{path}:{lineno}: chromosome 0 is a whole-genome PRS row (regenie "
                             f"--print-prs, a .prs file), not LOCO predictions; pass the "
                             f"<prefix>_pred.list of step 1")
        if k > N_CHROMOSOME_ROWS:
            raise InputError(f"{path}:{lineno}: chromosome {token} is not a REGENIE row of a "
                             f"human genome (1-22, 23 = X); runs with --nauto other than 22 are "
                             f"not supported")
        return normalize_chromosome(str(k))
    if code.upper() in _SEX_CODES:
        return "X"
    raise InputError(f"{path}:{lineno}: {token!r} is not a chromosome number (a REGENIE .loco "
                     f"row starts with its chromosome, 1-23)")


def _values(fields: list[str], ids: list[str], path: Path, lineno: int) -> np.ndarray:
    try:
        values = np.array(fields, dtype=np.float64)
    except ValueError:
        values = None
    if values is not None:
        bad = np.flatnonzero(~np.isfinite(values))
    else:
        bad_list = []
        for j, text in enumerate(fields):
            try:
                float(text)
            except ValueError:
                if text not in _MISSING:
                    raise InputError(f"{path}:{lineno}: non-numeric prediction {text!r} for "
                                     f"sample {ids[j]} (field {j + 2})") from None
                bad_list.append(j)
        bad = np.asarray(bad_list, dtype=np.int64)
    if bad.size:
        raise InputError(
            f"{path}:{lineno}: missing prediction ({fields[bad[0]]}) for {bad.size} sample(s), "
            f"e.g. {ids[bad[0]]} (REGENIE writes NA for a sample whose phenotype is missing); "
            f"gwaskit needs every sample's prediction: rerun step 1 with --strict or --remove "
            f"those samples")
    return values


def _read_loco_file(path: Path) -> tuple[list[str], dict[str, np.ndarray]]:
    """Sample keys and chromosome -> (N,) predictions of one ``.loco`` file."""
    ids: list[str] | None = None
    rows: dict[str, np.ndarray] = {}
    row_line: dict[str, int] = {}
    try:
        with _open_text(path) as fh:
            for lineno, line in enumerate(fh, 1):
                fields = line.split()
                if ids is None:
                    if not fields or fields[0] != HEADER:
                        got = fields[0] if fields else "an empty line"
                        raise InputError(f"{path}:{lineno}: the header must start with {HEADER} "
                                         f"(REGENIE step-1 .loco layout), got {got!r}")
                    ids = fields[1:]
                    if not ids:
                        raise InputError(f"{path}:{lineno}: the {HEADER} header names no sample")
                    if len(set(ids)) != len(ids):
                        seen: set[str] = set()
                        dup = next(s for s in ids if s in seen or seen.add(s))
                        raise InputError(f"{path}:{lineno}: sample {dup} appears twice in the "
                                         f"header")
                    continue
                if not fields:
                    continue
                if len(fields) != len(ids) + 1:
                    raise InputError(f"{path}:{lineno}: {len(fields) - 1} predictions, the header "
                                     f"has {len(ids)} samples")
                key = _chromosome_key(fields[0], path, lineno)
                if key in rows:
                    raise InputError(f"{path}:{lineno}: chromosome {key} appears twice (also on "
                                     f"line {row_line[key]})")
                rows[key] = _values(fields[1:], ids, path, lineno)
                row_line[key] = lineno
    except (OSError, EOFError, UnicodeDecodeError) as e:
        raise InputError(f"{path}: cannot read as a REGENIE .loco file ({e})") from None
    if ids is None:
        raise InputError(f"{path}: empty file (expected a REGENIE .loco file)")
    if not rows:
        raise InputError(f"{path}: no chromosome rows after the {HEADER} header")
    return ids, rows


def read_regenie_pred(pred_list: str | os.PathLike,
                      dim_names: Sequence[str] | None = None) -> LocoPredictions:
    """Read REGENIE's step-1 LOCO predictions through its ``<prefix>_pred.list``.

    Parameters
    ----------
    pred_list
        The ``_pred.list`` that ``regenie --step 1 --out <prefix>`` wrote (``--pred`` of step 2).
    dim_names
        The traits wanted, in the column order wanted; each must be in the list (others are
        ignored, as REGENIE's step 2 ignores them). ``None``: every trait, in list order.

    Returns
    -------
    LocoPredictions
        ``sample_ids`` = the ``FID_IID`` keys of the first trait's file, as written (map your
        samples with :func:`regenie_sample_ids`); ``predictions`` = chromosome (``1`` ..
        ``22``, ``X``) -> (N, D) float64; ``dim_names`` as above; ``genome`` = ``None``;
        ``provenance`` = ``{"source": "regenie", "pred_list", "files", "n_samples"}``.

    Raises
    ------
    InputError
        One line naming the file (and line) at fault: a malformed list, a trait not in the list,
        a prediction file that cannot be found, a header or row that is not REGENIE's layout,
        a non-numeric or missing (``NA``) prediction, or traits whose files list other samples
        or chromosomes than the first.
    """
    list_path = Path(pred_list)
    entries = _read_list(list_path)
    by_name = {name: (file, lineno) for name, file, lineno in entries}
    if dim_names is None:
        names = [name for name, _, _ in entries]
    else:
        names = [str(d) for d in dim_names]
        if not names:
            raise InputError("dim_names: no trait given")
        dups = sorted({d for d in names if names.count(d) > 1})
        if dups:
            raise InputError(f"dim_names: trait {dups[0]!r} is given twice")
        for name in names:
            if name not in by_name:
                listed = ", ".join(n for n, _, _ in entries[:6])
                more = ", ..." if len(entries) > 6 else ""
                raise InputError(f"{list_path}: no prediction file for trait {name!r} (the list "
                                 f"has {listed}{more})")
    list_dir = list_path.parent
    ref_ids: list[str] | None = None
    ref_pos: dict[str, int] = {}
    ref_path: Path | None = None
    ref_keys: list[str] = []
    columns: dict[str, list[np.ndarray]] = {}
    files: dict[str, str] = {}
    for name in names:
        written, lineno = by_name[name]
        path, tried = _resolve(written, list_dir)
        if path is None:
            raise InputError(f"{list_path}:{lineno}: prediction file of {name!r} not found (tried "
                             f"{', '.join(str(t) for t in tried)})")
        if path != Path(written):
            logger.info("REGENIE predictions of %s: %s not found, read %s", name, written, path)
        ids, rows = _read_loco_file(path)
        if ref_ids is None:
            ref_ids, ref_path, ref_keys = ids, path, list(rows)
            ref_pos = {s: i for i, s in enumerate(ids)}
        else:
            if ids != ref_ids:
                here = set(ids)
                only_here = [s for s in ids if s not in ref_pos]
                only_there = [s for s in ref_ids if s not in here]
                if only_here or only_there:
                    ex = (f"{len(only_here)} only here (e.g. {only_here[0]})" if only_here
                          else "0 only here")
                    ex += (f", {len(only_there)} only there (e.g. {only_there[0]})" if only_there
                           else ", 0 only there")
                    raise InputError(f"{path}: its samples differ from those of {ref_path} "
                                     f"(trait {names[0]!r}): {ex}")
                order = _reorder(ids, ref_ids)
                rows = {k: v[order] for k, v in rows.items()}
            if set(rows) != set(ref_keys):
                missing = [k for k in ref_keys if k not in rows]
                extra = [k for k in rows if k not in ref_keys]
                what = (f"no row for chromosome {missing[0]}" if missing
                        else f"a row for chromosome {extra[0]}")
                raise InputError(f"{path}: {what}, unlike {ref_path} (trait {names[0]!r})")
        for key, v in rows.items():
            columns.setdefault(key, []).append(v)
        files[name] = str(path)
    assert ref_ids is not None
    predictions = {key: np.column_stack(columns[key]) for key in ref_keys}
    provenance = {"source": "regenie", "pred_list": str(list_path.resolve()), "files": files,
                  "n_samples": len(ref_ids)}
    logger.info("REGENIE step-1 predictions: %d traits x %d samples x %d chromosomes from %s",
                len(names), len(ref_ids), len(predictions), list_path)
    # REGENIE's step 2 tests XY, Y and the PARs with row 23 (chrStrToInt maps them all to 23)
    aliases = {normalize_chromosome(c): "X" for c in _SEX_CODES if c != "X"}
    return LocoPredictions(list(ref_ids), names, predictions, None, provenance, str(pred_list),
                           aliases if "X" in predictions else {})


def _reorder(ids: list[str], ref_ids: list[str]) -> np.ndarray:
    pos = {s: i for i, s in enumerate(ids)}
    return np.array([pos[s] for s in ref_ids], dtype=np.int64)


# -------------------------------------------------------------------------------------- write
def _format_row(code: str, values: np.ndarray) -> str:
    # repr of a float is the shortest text that reads back to the same double
    return code + " " + " ".join(map(repr, values.tolist())) + "\n"


def write_regenie_pred(
    prefix: str | os.PathLike,
    loco: LocoPredictions,
    fid_iid: Sequence[str],
    *,
    gz: bool = False,
    relative_paths: bool = False,
    overwrite: bool = False,
) -> Path:
    """Write ``loco`` as REGENIE step-1 output, for ``regenie --step 2 --pred <prefix>_pred.list``.

    Writes ``<prefix>_<k>.loco`` (``.loco.gz`` with ``gz``) for the k-th dimension (1-based, in
    ``loco.dim_names`` order), each with the ``FID_IID`` header and the 23 rows REGENIE's step 2
    reads positionally (chromosome 23 = X); a chromosome without its own prediction gets
    ``loco.genome``, as REGENIE writes for a chromosome without step-1 blocks. Then
    ``<prefix>_pred.list`` (dimension name, space, path), last, so a list never names a missing
    file. Values are written with 17 significant digits at most (exact round trip), single
    spaces, no trailing space. Every file is written atomically
    (:func:`gwaskit.io.output.atomic_path`).

    Parameters
    ----------
    prefix
        Output prefix, as REGENIE's ``--out``.
    loco
        The predictions.
    fid_iid
        REGENIE's key ``f"{FID}_{IID}"`` of every sample, in ``loco.sample_ids`` order
        (:func:`regenie_sample_ids`).
    gz
        gzip the ``.loco`` files (no name or time stamp in the gzip header: same bytes every run).
    relative_paths
        Write the paths in the list as ``<prefix>_<k>.loco`` as given (REGENIE's
        ``--use-relative-path``) instead of absolute ones.
    overwrite
        Replace existing files.

    Returns
    -------
    Path
        The ``_pred.list``.

    Raises
    ------
    InputError
        ``fid_iid`` of the wrong length, with duplicates, empty or containing whitespace; a
        dimension name with whitespace; a chromosome REGENIE has no row for (other than 1-22,
        X); a chromosome of 1-22, X without a prediction when there is no whole-genome one;
        non-finite predictions; existing files without ``overwrite``.
    """
    from .output import atomic_path, check_writable

    stem = str(prefix)
    keys = [str(k) for k in fid_iid]
    n = len(loco.sample_ids)
    if len(keys) != n:
        raise InputError(f"fid_iid: {len(keys)} sample keys for {n} samples")
    for k in keys:
        if not k or any(c.isspace() for c in k):
            raise InputError(f"fid_iid: sample key {k!r} is empty or contains whitespace")
    if len(set(keys)) != n:
        seen: set[str] = set()
        dup = next(k for k in keys if k in seen or seen.add(k))
        raise InputError(f"fid_iid: sample key {dup} appears twice")
    for name in loco.dim_names:
        if not name or any(c.isspace() for c in name):
            raise InputError(f"{stem}: trait name {name!r} is empty or contains whitespace; a "
                             f"_pred.list line is 'NAME PATH'")
    row_keys = [normalize_chromosome(str(c)) for c in range(1, N_CHROMOSOME_ROWS + 1)]
    extra = [k for k in loco.predictions if k not in row_keys]
    if extra:
        raise InputError(f"{stem}: chromosome {extra[0]} has no row in REGENIE's layout "
                         f"(1-22, 23 = X)")
    missing = [k for k in row_keys if k not in loco.predictions]
    if missing and loco.genome is None:
        raise InputError(f"{stem}: no prediction for chromosome(s) {', '.join(missing)} and no "
                         f"whole-genome prediction; REGENIE step 2 reads line c + 1 as "
                         f"chromosome c, so rows 1-23 are all needed")
    blocks = [loco.predictions.get(k, loco.genome) for k in row_keys]
    for k, b in zip(row_keys, blocks):
        if not np.all(np.isfinite(b)):
            raise InputError(f"{stem}: chromosome {k}: non-finite predictions")
    suffix = ".loco.gz" if gz else ".loco"
    loco_paths = [Path(f"{stem}_{j + 1}{suffix}") for j in range(len(loco.dim_names))]
    list_path = Path(f"{stem}_pred.list")
    for p in [*loco_paths, list_path]:
        check_writable(p, overwrite)
        if any(c.isspace() for c in str(p if relative_paths else p.absolute())):
            raise InputError(f"{p}: a path with whitespace cannot be written in a _pred.list "
                             f"line ('NAME PATH'); choose another prefix")
    header = HEADER + " " + " ".join(keys) + "\n"
    for j, path in enumerate(loco_paths):
        with atomic_path(path, overwrite) as tmp:
            with open(tmp, "wb") as raw:
                out = (gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) if gz
                       else raw)
                try:
                    out.write(header.encode())
                    for c, b in enumerate(blocks, 1):
                        out.write(_format_row(str(c), b[:, j]).encode())
                finally:
                    if gz:
                        out.close()
    lines = []
    for name, path in zip(loco.dim_names, loco_paths):
        lines.append(f"{name} {path if relative_paths else path.absolute()}\n")
    with atomic_path(list_path, overwrite) as tmp:
        tmp.write_text("".join(lines), encoding="utf-8")
    logger.info("wrote %s and %d REGENIE .loco files (%d samples)", list_path, len(loco_paths), n)
    return list_path

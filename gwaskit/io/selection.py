"""Sample and variant selection with plink2's flag semantics (``--keep``, ``--extract``, ...).

One :class:`Selection` describes every filter; :func:`apply_selection` turns it into sample
and variant positions of a :class:`gwaskit.io.genotypes.GenotypeReader`, in plink2's order of
operations: samples first (``--keep`` then ``--remove``), then the variant filters that need no
genotypes (``--extract``/``--exclude``, their range forms, ``--chr``, ``--from-bp``/``--to-bp``),
then the dosage filters (``--geno``, ``--maf``/``--max-maf``/``--mac``, ``--info-min``) computed
over the SELECTED samples only, as plink2 computes them after its sample filters.

**Sample matching.** plink2 identifies a sample by FID+IID when the sample file has an FID
column and by IID alone when it has none (a ``.psam`` without ``#FID``; a BGEN ``.sample``
file's ID_1 is its FID). gwaskit follows that: when the genotype samples carry FIDs (any FID
other than missing), an ID-file row matches on ``(FID, IID)``; an IID-only ID file (one
column, or a ``#IID`` header) supplies FID ``0``, as plink2 does. When the genotype samples
have no FIDs (BGEN with IIDs only), rows match on IID alone and an ID file's FID column is
ignored.
"""
from __future__ import annotations

import dataclasses
import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from gwaskit._log import logger
from gwaskit.errors import InputError

__all__ = [
    "Selection",
    "SelectedGenotypes",
    "SelectionResult",
    "apply_selection",
    "normalize_chromosome",
    "parse_chromosomes",
    "read_id_file",
    "read_variant_list",
    "read_variant_ranges",
    "select_genotypes",
]

_CODE = {"23": "X", "24": "Y", "25": "XY", "26": "MT", "M": "MT", "X": "X", "Y": "Y",
         "XY": "XY", "MT": "MT"}
# plink2's human chromosome order; ranges like 20-X follow it
_ORDER = [str(i) for i in range(1, 23)] + ["X", "Y", "XY", "MT"]


def normalize_chromosome(code: str) -> str:
    """plink2 chromosome code normalisation: drop a ``chr`` prefix, 23/24/25/26 -> X/Y/XY/MT.

    Parameters
    ----------
    code
        A chromosome name such as ``chr7``, ``07``, ``23``, ``chrM``.

    Returns
    -------
    str
        ``1``..``22``, ``X``, ``Y``, ``XY``, ``MT`` or the (prefix-stripped) name unchanged.
    """
    c = str(code).strip()
    if c[:3].lower() == "chr":
        c = c[3:]
    if c.isdigit():
        c = str(int(c))
    u = c.upper()
    return _CODE.get(u, c)


def parse_chromosomes(spec: str) -> tuple[str, ...]:
    """Parse plink2's ``--chr`` list: comma-separated codes and ``a-b`` ranges.

    Parameters
    ----------
    spec
        E.g. ``"1-4,X,chr22"`` (spaces are also accepted as separators, as plink2 takes
        several arguments).

    Returns
    -------
    tuple of str
        Normalised codes (see :func:`normalize_chromosome`), in the order given, no duplicates.

    Raises
    ------
    InputError
        An empty list or a range whose ends are not both human chromosome codes in order.
    """
    out: list[str] = []
    for tok in (t for t in re.split(r"[,\s]+", str(spec).strip()) if t):
        # a range's dash must separate two codes; a leading dash is not a range
        if "-" in tok[1:]:
            lo, hi = tok.split("-", 1)
            a, b = normalize_chromosome(lo), normalize_chromosome(hi)
            if a not in _ORDER or b not in _ORDER or _ORDER.index(a) > _ORDER.index(b):
                raise InputError(f"--chr: invalid chromosome range '{tok}'")
            codes = _ORDER[_ORDER.index(a):_ORDER.index(b) + 1]
        else:
            codes = [normalize_chromosome(tok)]
        out.extend(c for c in codes if c not in out)
    if not out:
        raise InputError("--chr: no chromosome given")
    return tuple(out)


def _lines(path: str | os.PathLike):
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: file not found")
    with open(p, encoding="utf-8", errors="replace") as fh:
        yield from enumerate(fh, start=1)


def read_id_file(path: str | os.PathLike) -> pd.DataFrame:
    """Read a ``--keep``/``--remove`` sample ID file with plink2's rules.

    Parameters
    ----------
    path
        Text file. A first line starting with ``#FID`` or ``#IID`` is a header naming the
        columns (``.psam`` files are of this kind); ``FID``/``IID`` columns are then taken by
        name. Without a header, one column means IID and two or more mean FID IID (so a
        ``.fam`` file works as-is). Blank lines are skipped.

    Returns
    -------
    DataFrame
        Columns ``FID`` (``"0"`` where the file has none, as plink2 assumes) and ``IID``.

    Raises
    ------
    InputError
        Naming the file and line of a row with too few columns, or a header without IID.
    """
    rows: list[tuple[str, str]] = []
    fid_col, iid_col, ncol_min = None, None, None
    for lineno, line in _lines(path):
        toks = line.split()
        if not toks:
            continue
        if ncol_min is None:
            head = toks[0]
            if head.startswith("#FID") or head.startswith("#IID"):
                names = [head[1:]] + toks[1:]
                if "IID" not in names:
                    raise InputError(f"{path}: line {lineno}: header has no IID column")
                iid_col = names.index("IID")
                fid_col = names.index("FID") if "FID" in names else None
                ncol_min = max(iid_col, fid_col or 0) + 1
                continue
            if head.startswith("#"):
                # plink2 treats other '#' first lines as a comment line before the data
                continue
            if len(toks) == 1:
                fid_col, iid_col, ncol_min = None, 0, 1
            else:
                fid_col, iid_col, ncol_min = 0, 1, 2
        if len(toks) < ncol_min:
            raise InputError(
                f"{path}: line {lineno}: expected at least {ncol_min} column(s), "
                f"found {len(toks)}"
            )
        rows.append(("0" if fid_col is None else toks[fid_col], toks[iid_col]))
    return pd.DataFrame(rows, columns=["FID", "IID"], dtype=object)


def read_variant_list(path: str | os.PathLike) -> set[str]:
    """Variant IDs for ``--extract``/``--exclude``: every whitespace-separated token.

    plink2 accepts IDs one per line or separated by spaces; every token is an ID.

    Parameters
    ----------
    path
        Text file.

    Returns
    -------
    set of str
    """
    ids: set[str] = set()
    for _, line in _lines(path):
        ids.update(line.split())
    return ids


def read_variant_ranges(path: str | os.PathLike, kind: str = "bed1") -> pd.DataFrame:
    """Ranges for ``--extract range``/``--exclude range`` (plink2 ``bed1``/``bed0`` forms).

    Parameters
    ----------
    path
        Whitespace-delimited ``chr start end [label ...]`` rows. Lines starting with ``#``,
        ``track`` or ``browser`` are skipped (BED header lines).
    kind
        ``"bed1"`` (also ``"range"``): 1-based, both ends inclusive (plink 1.9's range files);
        ``"bed0"``: standard BED, 0-based start, end exclusive.

    Returns
    -------
    DataFrame
        ``chromosome`` (normalised), ``start``, ``end``: 1-based inclusive.

    Raises
    ------
    InputError
        Naming the file and line of a row with fewer than 3 columns, non-integer or
        reversed coordinates.
    """
    if kind == "range":
        kind = "bed1"
    if kind not in ("bed0", "bed1"):
        raise InputError(f"range file kind must be bed0, bed1 or range, not '{kind}'")
    rows = []
    for lineno, line in _lines(path):
        toks = line.split()
        if not toks or toks[0].startswith("#") or toks[0] in ("track", "browser"):
            continue
        if len(toks) < 3:
            raise InputError(f"{path}: line {lineno}: expected chr start end")
        try:
            start, end = int(toks[1]), int(toks[2])
        except ValueError:
            raise InputError(f"{path}: line {lineno}: start/end must be integers") from None
        if kind == "bed0":
            start += 1  # half-open 0-based -> 1-based inclusive
        if start > end or start < 0:
            raise InputError(f"{path}: line {lineno}: invalid range {toks[1]}-{toks[2]}")
        rows.append((normalize_chromosome(toks[0]), start, end))
    return pd.DataFrame(rows, columns=["chromosome", "start", "end"])


def _tuple(v) -> tuple[str, ...]:
    if v is None:
        return ()
    if isinstance(v, (str, os.PathLike)):
        return (os.fspath(v),)
    return tuple(os.fspath(x) for x in v)


def _sha256(path: str) -> str:
    h = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    except OSError as e:
        raise InputError(f"{path}: cannot read ({e.strerror})") from None
    return h.hexdigest()


_FILE_FIELDS = ("keep", "remove", "extract", "exclude", "extract_range", "exclude_range")


@dataclass(frozen=True)
class Selection:
    """Every sample/variant filter, plink2 flag by flag (all optional; default = no filter).

    Attributes
    ----------
    keep, remove
        Sample ID files (:func:`read_id_file`); several files are united, as in plink2.
    extract, exclude
        Variant ID lists (:func:`read_variant_list`).
    extract_range, exclude_range
        Range files (:func:`read_variant_ranges`), 1-based inclusive (``bed1``).
    range_kind
        ``"bed1"`` or ``"bed0"``: how the range files' coordinates are read.
    chromosomes
        ``--chr`` codes (a string is parsed by :func:`parse_chromosomes`).
    from_bp, to_bp
        Inclusive base-pair window; needs exactly one chromosome in ``chromosomes``, as plink2.
    maf, max_maf
        Keep variants with ``maf <= MAF <= max_maf`` (minor allele frequency of the dosages).
    mac
        Keep variants with minor allele (dosage) count ``>= mac``.
    geno
        Remove variants whose missing rate is ``> geno``.
    info_min
        Remove variants whose MaCH R² is ``< info_min`` or undefined (monomorphic).
    """

    keep: tuple[str, ...] = ()
    remove: tuple[str, ...] = ()
    extract: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    extract_range: tuple[str, ...] = ()
    exclude_range: tuple[str, ...] = ()
    range_kind: str = "bed1"
    chromosomes: tuple[str, ...] = ()
    from_bp: int | None = None
    to_bp: int | None = None
    maf: float | None = None
    max_maf: float | None = None
    mac: float | None = None
    geno: float | None = None
    info_min: float | None = None
    _hashes: tuple = field(default=(), repr=False, compare=False)

    def __post_init__(self) -> None:
        for name in _FILE_FIELDS:
            object.__setattr__(self, name, _tuple(getattr(self, name)))
        ch = self.chromosomes
        if isinstance(ch, str):
            ch = parse_chromosomes(ch)
        else:
            ch = tuple(normalize_chromosome(c) for c in (ch or ()))
        object.__setattr__(self, "chromosomes", ch)
        if self.range_kind not in ("bed0", "bed1", "range"):
            raise InputError(f"range kind must be bed0 or bed1, not '{self.range_kind}'")
        object.__setattr__(self, "range_kind",
                           "bed1" if self.range_kind == "range" else self.range_kind)
        for name, lo, hi in (("maf", 0.0, 0.5), ("max_maf", 0.0, 0.5), ("geno", 0.0, 1.0),
                             ("info_min", 0.0, None), ("mac", 0.0, None)):
            v = getattr(self, name)
            if v is None:
                continue
            try:
                v = float(v)
            except (TypeError, ValueError):
                raise InputError(f"--{name.replace('_', '-')}: not a number: {v!r}") from None
            if not (v >= lo and (hi is None or v <= hi)):
                rng = f"[{lo}, {hi}]" if hi is not None else f">= {lo}"
                raise InputError(f"--{name.replace('_', '-')} must be in {rng}, not {v}")
            object.__setattr__(self, name, v)
        if self.maf is not None and self.max_maf is not None and self.maf > self.max_maf:
            raise InputError(f"--maf {self.maf} is above --max-maf {self.max_maf}")
        for name in ("from_bp", "to_bp"):
            v = getattr(self, name)
            if v is not None:
                if int(v) != v or v < 0:
                    raise InputError(f"--{name.replace('_', '-')} must be a position >= 0")
                object.__setattr__(self, name, int(v))
        if (self.from_bp is not None or self.to_bp is not None) and len(self.chromosomes) != 1:
            raise InputError("--from-bp/--to-bp need --chr with exactly one chromosome")
        if self.from_bp is not None and self.to_bp is not None and self.from_bp > self.to_bp:
            raise InputError(f"--from-bp {self.from_bp} is after --to-bp {self.to_bp}")

    @property
    def is_empty(self) -> bool:
        """True when no filter is set."""
        return self == Selection()

    @property
    def needs_dosages(self) -> bool:
        """True when a filter needs a pass over the genotypes (maf/mac/geno/info)."""
        return any(v is not None for v in (self.maf, self.max_maf, self.mac, self.geno,
                                           self.info_min))

    def fingerprint(self) -> dict:
        """JSON-able description for checkpoint manifests: options, and files by content.

        Each file enters as ``{"path": ..., "sha256": ...}`` so that editing a keep/extract
        file invalidates a checkpoint even if its name stays the same.
        """
        out: dict = {}
        for f in dataclasses.fields(self):
            if f.name.startswith("_"):
                continue
            v = getattr(self, f.name)
            if f.name in _FILE_FIELDS:
                v = [{"path": os.path.abspath(p), "sha256": _sha256(p)} for p in v]
            elif isinstance(v, tuple):
                v = list(v)
            out[f.name] = v
        return out


@dataclass
class SelectionResult:
    """What :func:`apply_selection` selected.

    Attributes
    ----------
    sample_index
        Sorted int64 positions into ``reader.samples``.
    variant_index
        Sorted int64 global variant positions into ``reader.variants``.
    counts
        Per step, ``{"remain": n, "removed": n}`` (keys ``keep``, ``remove``, ``extract``, ...),
        plus ``n_samples``/``n_variants`` before and after; for the output metadata.
    log
        The lines logged, one per applied step.
    """

    sample_index: np.ndarray
    variant_index: np.ndarray
    counts: dict
    log: list[str]


def _sample_keys(reader, ids: pd.DataFrame, with_fid: bool):
    if with_fid:
        return set(zip(ids["FID"].astype(str), ids["IID"].astype(str)))
    return set(ids["IID"].astype(str))


def _genotype_sample_keys(reader) -> tuple[list, bool]:
    st = reader.sample_table
    fid = st["FID"] if "FID" in st.columns else pd.Series([None] * len(st))
    has_fid = bool(fid.notna().any())
    iid = st["IID"].astype(str).tolist()
    if has_fid:
        return list(zip(fid.fillna("0").astype(str).tolist(), iid)), True
    return iid, False


def apply_selection(reader, selection: Selection, chunk_size: int = 4000) -> SelectionResult:
    """Apply ``selection`` to an open genotype reader, in plink2's order of operations.

    Parameters
    ----------
    reader
        A :class:`gwaskit.io.genotypes.GenotypeReader` (anything with ``sample_table``,
        ``variants`` and ``variant_qc``).
    selection
        The filters.
    chunk_size
        Variants decoded at a time by the dosage filters.

    Returns
    -------
    SelectionResult

    Raises
    ------
    InputError
        An unreadable/malformed file, or a step that leaves no sample or no variant.
    """
    log: list[str] = []
    counts: dict = {"n_samples_in": int(len(reader.sample_table)),
                    "n_variants_in": int(len(reader.variants))}

    def step(flag: str, what: str, before: int, after: int) -> None:
        msg = f"{flag}: {after:,} {what} remain ({before - after:,} removed)"
        logger.info(msg)
        log.append(msg)
        counts[flag.lstrip("-").replace("-", "_")] = {"remain": int(after),
                                                      "removed": int(before - after)}
        if after == 0:
            raise InputError(f"{flag}: no {what} remain")

    # -- samples: --keep then --remove ----------------------------------------------------
    keys, with_fid = _genotype_sample_keys(reader)
    smask = np.ones(len(keys), dtype=bool)
    for flag, files, keep in (("--keep", selection.keep, True),
                              ("--remove", selection.remove, False)):
        if not files:
            continue
        wanted: set = set()
        for f in files:
            wanted |= _sample_keys(reader, read_id_file(f), with_fid)
        hit = np.fromiter((k in wanted for k in keys), dtype=bool, count=len(keys))
        before = int(smask.sum())
        smask &= hit if keep else ~hit
        step(flag, "samples", before, int(smask.sum()))

    # -- variants without genotypes -------------------------------------------------------
    v = reader.variants
    vmask = np.ones(len(v), dtype=bool)
    vid = v["variant_id"].astype(str).to_numpy()
    chrom = np.array([normalize_chromosome(c) for c in v["chromosome"].astype(str)],
                     dtype=object)
    pos = v["base_pair_location"].to_numpy(dtype=np.int64)

    def in_ranges(files) -> np.ndarray:
        hit = np.zeros(len(v), dtype=bool)
        for f in files:
            for c, s, e in read_variant_ranges(f, selection.range_kind).itertuples(index=False):
                hit |= (chrom == c) & (pos >= s) & (pos <= e)
        return hit

    for flag, files, keep in (("--extract", selection.extract, True),
                              ("--exclude", selection.exclude, False)):
        if files:
            ids: set[str] = set()
            for f in files:
                ids |= read_variant_list(f)
            hit = np.isin(vid, np.array(sorted(ids), dtype=object)) if ids else \
                np.zeros(len(v), dtype=bool)
            before = int(vmask.sum())
            vmask &= hit if keep else ~hit
            step(flag, "variants", before, int(vmask.sum()))
    for flag, files, keep in (("--extract-range", selection.extract_range, True),
                              ("--exclude-range", selection.exclude_range, False)):
        if files:
            hit = in_ranges(files)
            before = int(vmask.sum())
            vmask &= hit if keep else ~hit
            step(flag, "variants", before, int(vmask.sum()))
    if selection.chromosomes:
        before = int(vmask.sum())
        vmask &= np.isin(chrom, np.array(selection.chromosomes, dtype=object))
        step("--chr", "variants", before, int(vmask.sum()))
    if selection.from_bp is not None:
        before = int(vmask.sum())
        vmask &= pos >= selection.from_bp
        step("--from-bp", "variants", before, int(vmask.sum()))
    if selection.to_bp is not None:
        before = int(vmask.sum())
        vmask &= pos <= selection.to_bp
        step("--to-bp", "variants", before, int(vmask.sum()))

    sample_index = np.flatnonzero(smask).astype(np.int64)
    variant_index = np.flatnonzero(vmask).astype(np.int64)

    # -- dosage filters, over the selected samples ----------------------------------------
    if selection.needs_dosages:
        qc = reader.variant_qc(samples=sample_index, variants=variant_index,
                               chunk_size=chunk_size)
        keepv = np.ones(len(qc), dtype=bool)

        def qstep(flag: str, ok: np.ndarray) -> None:
            nonlocal keepv
            before = int(keepv.sum())
            keepv &= ok
            step(flag, "variants", before, int(keepv.sum()))

        # Thresholds are widened by plink2's kSmallEpsilon (2^-44) so that a value ON the
        # threshold is kept as plink2 keeps it (80 samples, --geno 0.05: 4 missing calls stay,
        # although 1 - 76/80 > 0.05 in floating point).
        eps = 2.0 ** -44
        with np.errstate(invalid="ignore"):
            if selection.geno is not None:
                # plink2: a whole number of missing calls, at most int(geno * n)
                n_sel = len(sample_index)
                n_missing = n_sel - qc["n_called"].to_numpy()
                qstep("--geno", n_missing <= int(selection.geno * (1 + eps) * n_sel))
            maf = qc["minor_allele_frequency"].to_numpy()
            if selection.maf is not None:
                qstep("--maf", maf >= selection.maf * (1 - eps))
            if selection.max_maf is not None:
                qstep("--max-maf", maf <= selection.max_maf * (1 + eps))
            if selection.mac is not None:
                qstep("--mac", qc["minor_allele_count"].to_numpy() >= selection.mac * (1 - eps))
            if selection.info_min is not None:
                qstep("--info-min", qc["info"].to_numpy() >= selection.info_min)
        variant_index = qc.index.to_numpy(dtype=np.int64)[keepv]

    counts["n_samples"] = int(len(sample_index))
    counts["n_variants"] = int(len(variant_index))
    return SelectionResult(sample_index, variant_index, counts, log)


class SelectedGenotypes:
    """A genotype reader restricted to a :class:`SelectionResult`: the one way every command
    sees only the selected samples and variants.

    It has the reader API of :class:`gwaskit.io.genotypes.GenotypeReader` (``samples``,
    ``sample_table``, ``variants`` with a RangeIndex over the SELECTED variants, ``paths``,
    ``variants_per_file``, ``iter_dosages``, ``read_dosages``, ``variant_qc``); sample and
    variant positions given to it are positions in the selection, translated to the parent's
    before reading. Closing it closes the parent.

    Parameters
    ----------
    reader
        An open genotype reader.
    result
        What :func:`apply_selection` selected on ``reader`` (sorted positions).
    """

    def __init__(self, reader, result: SelectionResult):
        self.parent = reader
        self.sample_index = np.asarray(result.sample_index, dtype=np.int64)
        self.variant_index = np.asarray(result.variant_index, dtype=np.int64)
        self.selection = result
        self.paths = reader.paths
        self.vcf_dosage = getattr(reader, "vcf_dosage", "auto")
        self.samples = np.asarray(reader.samples)[self.sample_index]
        self.sample_table = reader.sample_table.iloc[self.sample_index].reset_index(drop=True)
        self.variants = reader.variants.iloc[self.variant_index].reset_index(drop=True)
        starts = np.concatenate([[0], np.cumsum(reader.variants_per_file)]).astype(np.int64)
        file_of = np.searchsorted(starts, self.variant_index, side="right") - 1
        self._per_file = np.bincount(file_of, minlength=len(self.paths)).tolist()

    # -- reader API ---------------------------------------------------------------------------
    @property
    def n_samples(self) -> int:
        return len(self.samples)

    @property
    def n_variants(self) -> int:
        return len(self.variants)

    @property
    def variants_per_file(self) -> list[int]:
        """Selected variants of each file, in :attr:`paths` order."""
        return list(self._per_file)

    def __repr__(self) -> str:
        return f"SelectedGenotypes({self.n_samples} samples, {self.n_variants} variants of {self.parent!r})"

    def __enter__(self) -> "SelectedGenotypes":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.parent.close()

    def _parent_samples(self, samples):
        if samples is None:
            return self.sample_index
        s = np.asarray(samples)
        if s.dtype == bool:
            if len(s) != self.n_samples:
                raise InputError(f"sample mask has {len(s)} entries, the selection "
                                 f"{self.n_samples} samples")
            s = np.flatnonzero(s)
        return self.sample_index[s.astype(np.int64)]

    def _parent_variants(self, variants):
        if variants is None:
            return self.variant_index, np.arange(self.n_variants, dtype=np.int64)
        v = np.asarray(variants)
        if v.dtype == bool:
            if len(v) != self.n_variants:
                raise InputError(f"variant mask has {len(v)} entries, the selection "
                                 f"{self.n_variants} variants")
            v = np.flatnonzero(v)
        v = np.sort(v.astype(np.int64))  # the parent reads (and returns) variants sorted
        return self.variant_index[v], v

    def read_dosages(self, samples=None, variants=None, dtype=np.float32,
                     out: np.ndarray | None = None, stats: np.ndarray | None = None):
        """As :meth:`GenotypeReader.read_dosages`; the table's index is the selection's."""
        parent_v, local = self._parent_variants(variants)
        _, dos = self.parent.read_dosages(samples=self._parent_samples(samples),
                                          variants=parent_v, dtype=dtype, out=out, stats=stats)
        return self.variants.iloc[local], dos

    def iter_dosages(self, chunk_size: int = 1000, samples=None, variants=None,
                     dtype=np.float32):
        """As :meth:`GenotypeReader.iter_dosages`; the tables' index is the selection's."""
        parent_v, local = self._parent_variants(variants)
        start = 0
        for _, dos in self.parent.iter_dosages(chunk_size, samples=self._parent_samples(samples),
                                               variants=parent_v, dtype=dtype):
            k = dos.shape[1]
            yield self.variants.iloc[local[start:start + k]], dos
            start += k

    def variant_qc(self, samples=None, variants=None, chunk_size: int = 4000) -> pd.DataFrame:
        """As :meth:`GenotypeReader.variant_qc`, indexed by selection position."""
        parent_v, local = self._parent_variants(variants)
        qc = self.parent.variant_qc(samples=self._parent_samples(samples), variants=parent_v,
                                    chunk_size=chunk_size)
        qc.index = pd.Index(local)
        return qc


def select_genotypes(reader, selection: Selection | None, chunk_size: int = 4000):
    """``reader`` itself when ``selection`` is empty, else a :class:`SelectedGenotypes` view
    of what :func:`apply_selection` keeps (the steps are logged)."""
    if selection is None or selection.is_empty:
        return reader
    return SelectedGenotypes(reader, apply_selection(reader, selection, chunk_size))

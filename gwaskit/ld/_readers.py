"""Genotype-reader helpers for the LD / loci modules.

``open_reference`` opens genotypes through ``gwaskit.io.genotypes.open_genotypes`` when that
module is available and falls back to a minimal PLINK .bed reader (bed-reader, count_A1) so the
LD tools work on .bed references on their own. ``ArrayGenotypes`` wraps in-memory arrays in the
same reader API (tests, simulations).

Reader API used here: ``.samples``, ``.sample_table`` (FID, IID), ``.variants`` (RangeIndex =
global variant index; chromosome, base_pair_location, variant_id, effect_allele,
other_allele), ``.iter_dosages(chunk_size, samples, variants, dtype)`` and
``.read_dosages(samples, variants, dtype)``; dosages are (n_samples × m), NaN = missing, and
count ``effect_allele``.
"""
from __future__ import annotations

import glob
import os
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

import numpy as np

from ..errors import InputError

if TYPE_CHECKING:
    import pandas as pd


def _sel_index(sel, n: int) -> np.ndarray | None:
    if sel is None:
        return None
    sel = np.asarray(sel)
    if sel.dtype == bool:
        return np.flatnonzero(sel)
    return sel.astype(np.int64)


class ArrayGenotypes:
    """In-memory genotype reader with the ``open_genotypes`` API (dosages N × M)."""

    def __init__(self, dosages: np.ndarray, variants: pd.DataFrame, samples=None, fids=None):
        import pandas as pd

        self._G = np.asarray(dosages)
        n, m = self._G.shape
        if len(variants) != m:
            raise ValueError("variants table does not match dosage columns")
        self.variants = variants.reset_index(drop=True)
        self.samples = np.asarray(samples if samples is not None else [f"s{i}" for i in range(n)], dtype=object)
        fid = np.asarray(fids if fids is not None else self.samples, dtype=object)
        self.sample_table = pd.DataFrame({"FID": fid, "IID": self.samples})

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def close(self) -> None:
        pass

    def read_dosages(self, samples=None, variants=None, dtype=np.float32):
        si = _sel_index(samples, self._G.shape[0])
        vi = _sel_index(variants, self._G.shape[1])
        G = self._G
        if si is not None:
            G = G[si]
        if vi is not None:
            G = G[:, vi]
            table = self.variants.iloc[vi]
        else:
            table = self.variants
        return table, np.asfortranarray(G, dtype=dtype)

    def iter_dosages(self, chunk_size=1000, samples=None, variants=None, dtype=np.float32) -> Iterator:
        vi = _sel_index(variants, self._G.shape[1])
        if vi is None:
            vi = np.arange(self._G.shape[1])
        for s in range(0, len(vi), chunk_size):
            yield self.read_dosages(samples, vi[s : s + chunk_size], dtype)


class _BedGenotypes:
    """Minimal .bed reader (fallback while gwaskit.io.genotypes is unavailable)."""

    def __init__(self, prefix: str):
        import pandas as pd
        from bed_reader import open_bed

        self.prefix = prefix
        bim = pd.read_csv(prefix + ".bim", sep=r"\s+", header=None, dtype=str,
                          names=["chromosome", "variant_id", "cm", "bp", "a1", "a2"])
        fam = pd.read_csv(prefix + ".fam", sep=r"\s+", header=None, dtype=str)
        self.variants = pd.DataFrame({
            "chromosome": bim["chromosome"].to_numpy(),
            "base_pair_location": bim["bp"].astype(np.int64).to_numpy(),
            "variant_id": bim["variant_id"].to_numpy(),
            "effect_allele": bim["a1"].to_numpy(),
            "other_allele": bim["a2"].to_numpy(),
        })
        self.sample_table = pd.DataFrame({"FID": fam[0].to_numpy(), "IID": fam[1].to_numpy()})
        self.samples = self.sample_table["IID"].to_numpy()
        self._bed = open_bed(prefix + ".bed", iid_count=len(fam), sid_count=len(bim),
                             count_A1=True, num_threads=1)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def close(self) -> None:
        self._bed = None

    def read_dosages(self, samples=None, variants=None, dtype=np.float32):
        si = _sel_index(samples, len(self.samples))
        vi = _sel_index(variants, len(self.variants))
        index = (si if si is not None else slice(None), vi if vi is not None else slice(None))
        G = self._bed.read(index=index, dtype=np.dtype(dtype), order="F")
        table = self.variants if vi is None else self.variants.iloc[vi]
        return table, G

    def iter_dosages(self, chunk_size=1000, samples=None, variants=None, dtype=np.float32):
        vi = _sel_index(variants, len(self.variants))
        if vi is None:
            vi = np.arange(len(self.variants))
        for s in range(0, len(vi), chunk_size):
            yield self.read_dosages(samples, vi[s : s + chunk_size], dtype)


def open_reference(paths, sample_file: str | None = None):
    """Open genotypes (BGEN files/globs or a .bed prefix) with the project reader, or fall back
    to the built-in .bed reader when ``gwaskit.io.genotypes`` is not available."""
    try:
        from ..io.genotypes import open_genotypes  # type: ignore[attr-defined]
    except ImportError:
        open_genotypes = None
    if open_genotypes is not None:
        return open_genotypes(paths, sample_file=sample_file)
    p = str(paths[0] if isinstance(paths, (list, tuple)) else paths)
    prefix = p[:-4] if p.endswith((".bed", ".bim", ".fam")) else p
    if not Path(prefix + ".bed").exists():
        raise InputError(f"{p}: genotype reader unavailable for this input (need a .bed prefix)")
    return _BedGenotypes(prefix)


def keep_mask(reader, keep_path: str | None) -> np.ndarray | None:
    """Boolean sample mask from a ``--keep`` file (FID IID or IID per line, '#' header ok)."""
    if keep_path is None:
        return None
    st = reader.sample_table
    return keep_mask_ids(st["FID"].astype(str).to_numpy(), st["IID"].astype(str).to_numpy(), keep_path)


def keep_mask_ids(fid: np.ndarray, iid: np.ndarray, keep_path: str) -> np.ndarray:
    """:func:`keep_mask` on FID / IID arrays (str)."""
    rows = []
    with open(keep_path) as fh:
        for line in fh:
            tok = line.split()
            if not tok or tok[0].startswith("#") or tok[0] in ("FID", "IID"):
                continue
            rows.append(tok)
    if not rows:
        raise InputError(f"{keep_path}: --keep file lists no samples")
    if len(rows[0]) >= 2:
        want = {(r[0], r[1]) for r in rows}
        mask = np.array([(f, i) in want for f, i in zip(fid, iid)])
        if not mask.any():  # maybe IID-only lines with extra columns
            mask = np.isin(iid, [r[0] for r in rows])
    else:
        mask = np.isin(iid, [r[0] for r in rows])
    if not mask.any():
        raise InputError(f"{keep_path}: no --keep sample found in the genotype data")
    return mask


def _split_table(path: Path, k: int, want: tuple[int, ...]) -> list[list[str]] | None:
    """Columns ``want`` of a whitespace-separated ASCII table whose every line holds exactly
    ``k`` fields (None otherwise, or for blank lines / control characters)."""
    from ..io._text import slices, token_bounds

    raw = path.read_bytes()
    if not raw.isascii() or b"\r" in raw:
        return None
    if raw.endswith(b"\n"):
        raw = raw[:-1]
    if not raw:
        return [[] for _ in want]
    b = np.frombuffer(raw, dtype=np.uint8)
    tb = token_bounds(b)
    if tb is None or np.any(tb[2] != k):
        return None
    tstart, tstop, _ = tb
    return [slices(b, tstart[j::k], tstop[j::k]) for j in want]


class LeanBedReference:
    """What clumping needs from a PLINK 1 fileset (IDs, chromosomes, positions, samples, the
    memory-mapped .bed), read without pandas or bed-reader: the clump CLI's fast path.

    :meth:`open` returns None whenever the fileset is anything but plain (then
    ``open_genotypes`` reads it, with its own checks and errors): every .bim/.fam line must have
    6 whitespace-separated fields, positions must be integers, IIDs unique, the .bed SNP-major
    with the size the .bim/.fam imply. Variant IDs and chromosome labels are those of
    :class:`gwaskit.io.bed.BedFile`.
    """

    def __init__(self, bed: Path, fid, iid, chrom, vid, pos):
        self.paths = [bed]
        self.fid, self.iid = fid, iid
        self.chrom, self.vid, self.pos = chrom, vid, pos
        self.n_samples, self.n_variants = len(iid), len(vid)

    @classmethod
    def open(cls, flag: str) -> LeanBedReference | None:
        from ..io.bed import _chrom_label, bed_prefix

        s = os.fspath(flag)
        if any(ch in s for ch in "*?["):
            return None
        bed = bed_prefix(Path(s).expanduser())
        if bed is None:
            return None
        prefix = bed.with_suffix("")
        bim, fam = prefix.with_suffix(".bim"), prefix.with_suffix(".fam")
        try:
            if not (bed.exists() and bim.exists() and fam.exists()):
                return None
            f = _split_table(fam, 6, (0, 1))
            v = _split_table(bim, 6, (0, 1, 3))
            if f is None or v is None or not f[0] or not v[0]:
                return None
            n, m = len(f[0]), len(v[0])
            with open(bed, "rb") as fh:
                magic = fh.read(3)
            if magic != b"\x6c\x1b\x01" or bed.stat().st_size != 3 + (n + 3) // 4 * m:
                return None
            if not "".join(v[2]).isdigit():
                return None
            pos = np.fromiter(map(int, v[2]), dtype=np.int64, count=m)
        except (OSError, ValueError, OverflowError):
            return None
        if np.any(pos > 2**31 - 1):
            return None
        iid = np.array(f[1], dtype=object)
        if len(set(f[1])) != n:
            return None
        lab = {c: _chrom_label(c) for c in set(v[0])}
        if all(k == x for k, x in lab.items()):
            chrom = np.array(v[0], dtype=object)
        else:
            chrom = np.array([lab[c] for c in v[0]], dtype=object)
        vid = np.array(v[1], dtype=object)
        dots = [i for i, x in enumerate(v[1]) if x == "."]
        if dots:
            a1, a2 = _split_table(bim, 6, (4, 5))
            for i in dots:
                vid[i] = f"{chrom[i]}:{pos[i]}:{a1[i]}:{a2[i]}"
        return cls(bed, np.array(f[0], dtype=object), iid, chrom, vid, pos)


def open_from_flags(bgen: str | None, bed: str | None, sample_file: str | None = None, what: str = "genotypes"):
    """Open ``--bgen``/``--bed`` CLI inputs (exactly one must be given)."""
    if (bgen is None) == (bed is None):
        raise InputError(f"{what}: give exactly one of --bgen or --bed")
    if bgen is not None:
        paths = sorted(glob.glob(bgen)) if any(ch in bgen for ch in "*?[") else [bgen]
        if not paths:
            raise InputError(f"--bgen {bgen}: no file matches")
        return open_reference(paths if len(paths) > 1 else paths[0], sample_file=sample_file)
    return open_reference(bed, sample_file=sample_file)

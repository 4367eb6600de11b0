"""LD clumping with PLINK 1.9 ``--clump`` semantics.

Reference: PLINK 1.9 ``clump_reports()`` (plink_ld.c), summarised in
``clumping-and-loci.md`` §1; checked against ``plink1.9 --clump`` (v1.90b6.26) in the tests.

Rules, exactly as PLINK 1.9:

* Report rows are matched to the LD reference **by variant ID only**. Rows with an unparseable
  p (NA) are skipped. Rows with ``p > max(0.05, p2, p1)`` are not stored but still counted in
  NSIG/TOTAL of the clump that absorbs their variant.
* Index candidates: report variants present in the reference with ``p ≤ p1``; with several
  reports the smallest p is used. Sorted by p, ties by reference (genomic file) order. A
  candidate already absorbed into an earlier clump is skipped.
* Members: report variants on the same chromosome with ``|Δbp| ≤ kb·1000 − 1`` and
  ``|r²| > r2`` (strict); without ``allow_overlap`` variants already clumped are skipped. Every
  member is marked clumped; it is listed in SP2 only when ``p < p2`` (strict). TOTAL / NSIG /
  S05 / S01 / S001 / S0001 count all member report entries (p ≥ .05, [.01,.05), [.001,.01),
  [1e-4,.001), < 1e-4).
* r²: see :mod:`gwaskit.ld.r2` (default haplotype ML on hard calls, as PLINK 1.9).

Differences from PLINK 1.9, by design: top variants (p ≤ p1) absent from the LD reference are
returned in ``ClumpResult.missing`` (and logged) instead of only a warning; with
``missing_as_singletons=True`` they become one-variant clumps flagged ``in_reference=False``.
All samples given are used (PLINK uses founders only; pass ``samples`` to restrict).

Genotypes are read per clump window (only the window's report variants), with a bounded cache,
so memory is bounded by the window and the cache size, not by the genome. For a single .bed
reference the haplotype r² is computed straight from the file's 2-bit rows (memory-mapped as
they are with all samples, re-packed for a sample subset; numba kernels of
:mod:`gwaskit.ld._r2_numba_fns`, popcount by LLVM's ``ctpop``); pairs whose r² provably cannot
pass ``r2`` (an upper bound from allele frequencies or from the 3 × 3 table) are not solved and
read 0.0 in the kernel, which never changes membership or any reported r².

**Tasks.** Windows never cross chromosomes, so the greedy pass can run as one task per
chromosome holding index candidates (``run_parts``; :mod:`gwaskit.pipelines.clump` runs them
on threads or Dask workers). The report is matched and the candidates sorted once; the parts
are merged by (index p, reference index), the one-pass candidate order (:func:`_merge_parts`),
so tables, members and ``.clumped`` files are identical to a one-pass run.
"""
from __future__ import annotations

import os
from collections import OrderedDict
from dataclasses import dataclass, field
from itertools import repeat
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

if TYPE_CHECKING:  # pandas is imported where tables are built (the CLI's .clumped path needs none)
    import pandas as pd

import numpy as np

from .._log import logger
from ..errors import InputError
from .r2 import METHODS, _k, pack_code_rows  # _k: the numba kernels, imported on first use

PRESETS = {
    "plink": dict(p1=1e-4, p2=0.01, r2=0.5, kb=250.0),
    "seed": dict(p1=5e-8, p2=0.01, r2=0.05, kb=5000.0),
}

CLUMP_COLUMNS = [
    "variant_id", "chromosome", "base_pair_location", "p_value", "file_index", "total", "nsig",
    "s05", "s01", "s001", "s0001", "n_sp2", "sp2", "sp2_r2", "in_reference",
]


@dataclass
class ClumpResult:
    """Clumps in index-p order (``clumps``), all members with r² (``members``, one row per
    member report entry incl. those with p ≥ p2) and top variants absent from the LD reference
    (``missing``)."""

    clumps: pd.DataFrame
    members: pd.DataFrame
    missing: pd.DataFrame
    params: dict = field(default_factory=dict)
    id_width: int = 4  # PLINK's SNP column width (see _plink_maxsnp)


def bp_radius(kb: float) -> int:
    """PLINK 1.9 window radius in bp: ``int(kb·1000·(1+ε) − 1)`` (250 kb → 249,999)."""
    return int(kb * 1000 * (1 + 2.0 ** -44) - 1)


def _bin(p: float) -> int:
    if p >= 0.05:
        return 0
    if p >= 0.01:
        return 1
    if p >= 0.001:
        return 2
    if p >= 0.0001:
        return 3
    return 4


class _GenotypeCache:
    """Per-variant columns (hard calls or dosages) read on demand, FIFO-evicted by bytes."""

    def __init__(self, reader, samples, method, hard_call_threshold, max_bytes):
        self.reader = reader
        self.samples = samples
        self.method = method
        self.thr = hard_call_threshold
        self.max_bytes = max_bytes
        self.cols: OrderedDict[int, np.ndarray] = OrderedDict()
        self.bytes = 0
        self.reads = 0

    def get(self, idx: np.ndarray) -> np.ndarray:
        need = np.array([i for i in idx if i not in self.cols], dtype=np.int64)
        if need.size:
            need.sort()
            _, D = self.reader.read_dosages(samples=self.samples, variants=need, dtype=np.float32)
            self.reads += 1
            D = np.asarray(D)
            if self.method == "haplotype":
                X = np.empty(D.shape, dtype=np.int8, order="F")
                _k.hard_calls(D, float(self.thr), X)
            else:
                X = np.asfortranarray(D, dtype=np.float64)
            for j, v in enumerate(need):
                col = np.ascontiguousarray(X[:, j])
                self.cols[int(v)] = col
                self.bytes += col.nbytes
            while self.bytes > self.max_bytes and len(self.cols) > len(idx):
                _, old = self.cols.popitem(last=False)
                self.bytes -= old.nbytes
        n = self.cols[int(idx[0])].shape[0] if len(idx) else 0
        out = np.empty((n, len(idx)), dtype=np.int8 if self.method == "haplotype" else np.float64, order="F")
        for j, v in enumerate(idx):
            out[:, j] = self.cols[int(v)]
        return out


def _sample_positions(samples, n: int) -> np.ndarray:
    if samples is None:
        return np.arange(n, dtype=np.int64)
    s = np.asarray(samples)
    return (np.flatnonzero(s) if s.dtype == bool else s).astype(np.int64)


class _BedMasks:
    """Hard calls straight from a SNP-major .bed as 2-bit code rows. With all samples the
    memory-mapped file's rows are used as they are (no decoding, no copy; category counts are
    computed once per variant on first use); with a sample subset the kept samples' codes are
    re-packed into a FIFO cache of rows bounded by bytes."""

    def __init__(self, bed_path, n_file_samples: int, n_variants: int, samples, max_bytes: int):
        self.bpv = (n_file_samples + 3) // 4
        with open(bed_path, "rb") as fh:
            head = fh.read(3)
            size = os.fstat(fh.fileno()).st_size
        if size != 3 + self.bpv * n_variants or head != b"\x6c\x1b\x01":
            raise ValueError("not a SNP-major .bed matching the reader")
        self.path = bed_path
        self.n = n_file_samples
        self.samples = _sample_positions(samples, n_file_samples)
        self.all = len(self.samples) == n_file_samples and np.array_equal(self.samples, np.arange(n_file_samples))
        self.mm = np.memmap(bed_path, dtype=np.uint8, mode="r", offset=3,
                            shape=(n_variants, self.bpv)) if n_variants and self.bpv else None
        if self.all:
            self.counts_all = np.full((n_variants, 3), -1, dtype=np.int64)
            return
        self.B = max(1, (len(self.samples) + 3) // 4)
        cap = max(1, min(n_variants, int(max_bytes // (self.B + 24))))
        self.store = np.zeros((cap, self.B), dtype=np.uint8)
        self.counts = np.zeros((cap, 3), dtype=np.int64)
        self.slot = np.full(n_variants, -1, dtype=np.int64)
        self.owner = np.full(cap, -1, dtype=np.int64)
        self.next = 0

    def _decode(self, idx: np.ndarray, out=None, counts=None):
        if out is None:
            out = np.empty((len(idx), self.B), dtype=np.uint8)
            counts = np.empty((len(idx), 3), dtype=np.int64)
        if len(idx):
            _k.load_bed_rows(self.mm.reshape(-1), self.bpv, idx.astype(np.int64), self.samples,
                             out, counts)
        return out, counts

    def r2(self, ivar: int, win: np.ndarray, out: np.ndarray, skip_below: float = -1.0) -> None:
        """Signed r² of variant ``ivar`` against each of ``win`` into ``out``; with
        ``skip_below > 0`` pairs that certainly have ``|r²| <= skip_below`` may get 0.0."""
        win = win.astype(np.int64, copy=False)
        nsamp = len(self.samples)
        if self.all:
            _k.hap_r2_rows(self.mm, self.counts_all, nsamp, int(ivar), win, out, skip_below)
            return
        idx = np.concatenate([np.array([ivar], dtype=np.int64), win])
        cap = self.store.shape[0]
        if len(idx) > cap:
            P, C = self._decode(idx)
            _k.hap_r2_rows(P, C, nsamp, 0, np.arange(1, len(idx), dtype=np.int64), out, skip_below)
            return
        need = np.unique(idx[self.slot[idx] < 0])
        if need.size:
            slots = (self.next + np.arange(len(need))) % cap
            old = self.owner[slots]
            self.slot[old[old >= 0]] = -1
            P, C = self._decode(need)
            self.store[slots] = P
            self.counts[slots] = C
            self.owner[slots] = need
            self.slot[need] = slots
            self.next = int((self.next + len(need)) % cap)
            if np.any(self.slot[idx] < 0):  # evicted within this call (tiny cache)
                P, C = self._decode(idx)
                _k.hap_r2_rows(P, C, nsamp, 0, np.arange(1, len(idx), dtype=np.int64), out, skip_below)
                return
        _k.hap_r2_rows(self.store, self.counts, nsamp, int(self.slot[ivar]), self.slot[idx[1:]], out,
                       skip_below)


class _ReaderMasks:
    """Hard calls from any reader's dosages, packed as 2-bit code rows (FIFO cache bounded by
    bytes)."""

    def __init__(self, reader, samples, hard_call_threshold, max_bytes):
        self.reader = reader
        self.samples = samples
        self.thr = hard_call_threshold
        self.n = len(_sample_positions(samples, len(reader.samples)))
        self.B = max(1, (self.n + 3) // 4)
        self.max_cols = max(1, int(max_bytes // (self.B + 24)))
        self.slot_of: OrderedDict[int, tuple] = OrderedDict()

    def get(self, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        need = np.array(sorted(int(i) for i in set(idx.tolist()) if i not in self.slot_of), dtype=np.int64)
        if need.size:
            _, D = self.reader.read_dosages(samples=self.samples, variants=need, dtype=np.float32)
            H = np.empty(D.shape, dtype=np.int8, order="F")
            _k.hard_calls(np.asarray(D), float(self.thr), H)
            P, C = pack_code_rows(H)
            for j, v in enumerate(need):
                self.slot_of[int(v)] = (P[j], C[j])
            while len(self.slot_of) > max(self.max_cols, len(idx)):
                self.slot_of.popitem(last=False)
        if not len(idx):
            return np.empty((0, self.B), np.uint8), np.empty((0, 3), np.int64)
        got = [self.slot_of[int(v)] for v in idx]
        return np.stack([g[0] for g in got]), np.stack([g[1] for g in got])

    def r2(self, ivar: int, win: np.ndarray, out: np.ndarray, skip_below: float = -1.0) -> None:
        P, C = self.get(np.concatenate([np.array([ivar], dtype=np.int64), win.astype(np.int64, copy=False)]))
        _k.hap_r2_rows(P, C, self.n, 0, np.arange(1, len(P), dtype=np.int64), out, skip_below)


def _bed_source(bed: str, n_file_samples: int, n_variants: int, samples, max_bytes: int):
    """r² source for a SNP-major .bed: hard-call masks decoded straight from the file's rows."""
    return _BedMasks(bed, n_file_samples, n_variants, samples, max_bytes)


def _mask_source(reader, samples, hard_call_threshold, max_bytes):
    """Fast path for a single .bed reference (exact hard calls, no float round trip)."""
    paths = getattr(reader, "paths", None)
    bed = None
    if getattr(reader, "parent", None) is not None:
        paths = None  # a selection view: its rows are not the file's rows
    if paths is not None and len(paths) == 1 and str(paths[0]).endswith(".bed"):
        bed = str(paths[0])
    elif hasattr(reader, "prefix") and Path(str(reader.prefix) + ".bed").exists():
        bed = str(reader.prefix) + ".bed"
    if bed is not None:
        try:
            return _bed_source(bed, len(reader.samples), len(reader.variants), samples, max_bytes)
        except (ValueError, OSError):
            pass
    return _ReaderMasks(reader, samples, hard_call_threshold, max_bytes)


def _chrom_blocks(chrom: np.ndarray, pos: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start/end (exclusive) of each variant's contiguous chromosome run; positions must be
    non-decreasing within a run."""
    m = len(chrom)
    start = np.zeros(m, dtype=np.int64)
    end = np.zeros(m, dtype=np.int64)
    if m == 0:
        return start, end
    change = np.flatnonzero(chrom[1:] != chrom[:-1]) + 1
    bounds = np.concatenate([[0], change, [m]])
    seen = set()
    for a, b in zip(bounds[:-1], bounds[1:]):
        c = chrom[a]
        if c in seen:
            raise InputError(f"LD reference: chromosome {c} is not contiguous; sort the variants")
        seen.add(c)
        if np.any(np.diff(pos[a:b]) < 0):
            raise InputError(f"LD reference: positions on chromosome {c} are not sorted")
        start[a:b] = a
        end[a:b] = b
    return start, end


@dataclass
class _Core:
    rows: list
    mem_rows: list
    missing: tuple  # (ids, p) of top variants absent from the reference, report order
    n_cand: int


class _FirstIndex:
    """Variant ID -> position of its first occurrence, the dict built only when a report is not
    simply the reference's IDs in order (logs duplicated IDs at once)."""

    def __init__(self, vid: np.ndarray):
        self.vid = vid
        self.ids = vid.tolist()
        n_distinct = len(set(self.ids))
        self.unique = n_distinct == len(self.ids)
        if not self.unique:
            seen: set = set()
            dup = {v for v in self.ids if v in seen or seen.add(v)}
            logger.info(f"clump: {len(dup)} duplicated variant IDs in the LD reference; the first of each is used")
        self._map = None

    def positions(self, ids: np.ndarray) -> np.ndarray:
        """Reference position of each of ``ids`` (-1 where absent)."""
        m = len(self.ids)
        if self.unique and len(ids) == m and np.array_equal(ids, self.vid):
            return np.arange(m, dtype=np.int64)  # report rows in reference order (common)
        if self._map is None:
            self._map = dict(zip(self.ids[::-1], range(m - 1, -1, -1)))
        return np.fromiter(map(self._map.get, ids.tolist(), repeat(-1, len(ids))), dtype=np.int64,
                           count=len(ids))


def _clump_core(reports, vid, chrom, pos, make_masks, *, reader=None, samples=None, p1, p2, r2, kb,
                allow_overlap, method, hard_call_threshold, cache_mb) -> _Core:
    """The clumping pass on plain arrays (no pandas): ``reports`` is a list of (IDs as str array,
    p as float64 array with NaN for unparseable); ``vid``/``chrom`` str arrays and ``pos`` int64
    in reference order; ``make_masks()`` gives the haplotype-r² mask source."""
    prep = _clump_prepare(reports, vid, chrom, pos, p1=p1, p2=p2, r2=r2, kb=kb, method=method)
    masks = cache = None
    if method == "haplotype":
        masks = make_masks()
    else:
        cache = _GenotypeCache(reader, samples, method, hard_call_threshold, int(cache_mb * 2**20))
    rows, mem_rows = _clump_pass(prep, masks, cache, p2=p2, r2=r2, allow_overlap=allow_overlap,
                                 method=method)
    return _Core(rows, mem_rows, prep.missing, len(prep.cand))


@dataclass
class _Prep:
    """Report entries matched to the reference and the sorted index candidates: everything the
    greedy pass needs besides genotypes. Indices are positions in ``vid`` (reference order,
    shifted by ``offset`` for a one-chromosome part, see :meth:`part`)."""

    vid: np.ndarray
    chrom: np.ndarray
    pos: np.ndarray
    cstart: np.ndarray
    cend: np.ndarray
    nsig: np.ndarray
    e_start: np.ndarray
    e_end: np.ndarray
    e_p: np.ndarray
    e_f: np.ndarray
    in_report: np.ndarray
    cand_p: np.ndarray
    cand: np.ndarray  # by p, ties by reference order
    radius: int
    missing: tuple = ((), ())
    offset: int = 0

    def blocks(self) -> list[tuple[int, int]]:
        """Reference row ranges ``[a, b)`` of the chromosomes holding index candidates, in
        reference order."""
        starts = sorted(set(self.cstart[self.cand].tolist()))
        return [(int(a), int(self.cend[a])) for a in starts]

    def part(self, a: int, b: int) -> "_Prep":
        """The sub-problem of reference rows ``a .. b-1`` (one whole chromosome): local indices,
        ``offset = a``. Windows never leave a chromosome, so its greedy pass is the same as in
        the whole problem."""
        lo, hi = int(self.e_start[a]), int(self.e_end[b - 1])
        n = b - a
        cand = self.cand[(self.cand >= a) & (self.cand < b)] - a
        return _Prep(vid=self.vid[a:b], chrom=self.chrom[a:b], pos=self.pos[a:b],
                     cstart=np.zeros(n, dtype=np.int64), cend=np.full(n, n, dtype=np.int64),
                     nsig=self.nsig[a:b], e_start=self.e_start[a:b] - lo,
                     e_end=self.e_end[a:b] - lo, e_p=self.e_p[lo:hi], e_f=self.e_f[lo:hi],
                     in_report=self.in_report[a:b], cand_p=self.cand_p[a:b], cand=cand,
                     radius=self.radius, offset=self.offset + a)


def _clump_prepare(reports, vid, chrom, pos, *, p1, p2, r2, kb, method) -> _Prep:
    """Load the report entries (PLINK's rules, see the module docstring) and sort the index
    candidates; logs what was skipped or missing."""
    radius = bp_radius(kb)
    load_thresh = max(0.05, p2, p1)

    m = len(vid)
    cstart, cend = _chrom_blocks(chrom, pos)
    first_of = _FirstIndex(vid)

    # ---- load report entries --------------------------------------------------------------
    nsig = np.zeros(m, dtype=np.int64)
    e_var, e_p, e_f, e_line = [], [], [], []
    miss_ids, miss_p = [], []
    n_na = 0
    for fidx, (ids, p) in enumerate(reports, start=1):
        ids = np.asarray(ids)
        p = np.asarray(p, dtype=np.float64)
        ok = ~np.isnan(p)
        n_na += int((~ok).sum())
        if np.any(p[ok] < 0) or np.any(p[ok] > 1):
            raise InputError(f"clump: report {fidx} has p-values outside [0, 1]")
        gi = first_of.positions(ids)
        found = gi >= 0
        absent_top = ok & ~found & (p <= p1)
        miss_ids.extend(ids[absent_top].tolist())
        miss_p.extend(p[absent_top].tolist())
        sel = ok & found
        gi_sel = gi[sel]
        p_sel = p[sel]
        line = np.flatnonzero(sel)
        counted = p_sel > load_thresh
        np.add.at(nsig, gi_sel[counted & (p_sel >= 0.05)], 1)
        keep = ~counted
        e_var.append(gi_sel[keep])
        e_p.append(p_sel[keep])
        e_f.append(np.full(int(keep.sum()), fidx, dtype=np.int64))
        e_line.append(line[keep])
    if n_na:
        logger.info(f"clump: skipped {n_na} report rows without a numeric p-value")
    e_var = np.concatenate(e_var) if e_var else np.zeros(0, np.int64)
    e_p = np.concatenate(e_p) if e_p else np.zeros(0)
    e_f = np.concatenate(e_f) if e_f else np.zeros(0, np.int64)
    e_line = np.concatenate(e_line) if e_line else np.zeros(0, np.int64)
    # PLINK's per-variant entry list order: file 1 first; within a file, later lines first
    order = np.lexsort((-e_line, e_f, e_var))
    e_var, e_p, e_f = e_var[order], e_p[order], e_f[order]
    e_start = np.searchsorted(e_var, np.arange(m), side="left")
    e_end = np.searchsorted(e_var, np.arange(m), side="right")
    has_entry = e_end > e_start
    in_report = has_entry | (nsig > 0)

    if miss_ids:
        mids, _ = _missing_sorted(miss_ids, miss_p)
        shown = ", ".join(mids[:3])
        logger.warning(
            f"clump: {len(mids)} top variant(s) (p <= {p1:g}) missing from the LD reference "
            f"(e.g. {shown}); listed separately"
        )

    # ---- index candidates ------------------------------------------------------------------
    cand_p = np.full(m, np.inf)
    np.minimum.at(cand_p, e_var, e_p)
    cand = np.flatnonzero(has_entry & (cand_p <= p1))
    cand = cand[np.lexsort((cand, cand_p[cand]))]
    logger.info(
        f"clump: {len(cand)} top variants (p <= {p1:g}) in the LD reference; r2 > {r2:g}, "
        f"window +-{radius} bp, method {method}"
    )
    return _Prep(vid=vid, chrom=chrom, pos=pos, cstart=cstart, cend=cend, nsig=nsig,
                 e_start=e_start, e_end=e_end, e_p=e_p, e_f=e_f, in_report=in_report,
                 cand_p=cand_p, cand=cand, radius=radius, missing=(miss_ids, miss_p))


def _clump_pass(prep: _Prep, masks, cache, *, p2, r2, allow_overlap, method) -> tuple[list, list]:
    """The greedy pass over ``prep.cand``: clump rows (index-p order) and member rows; indices
    in them are ``prep``'s (local to a part)."""
    vid, chrom, pos, cstart, cend = prep.vid, prep.chrom, prep.pos, prep.cstart, prep.cend
    nsig, e_start, e_end, e_p, e_f = prep.nsig, prep.e_start, prep.e_end, prep.e_p, prep.e_f
    in_report, cand_p, cand, radius = prep.in_report, prep.cand_p, prep.cand, prep.radius
    m = len(vid)
    clumped = np.zeros(m, dtype=bool)
    rows = []
    mem_rows = []
    r2buf = np.empty(0)
    for ivar in cand:
        if clumped[ivar]:
            continue
        cur_bp = pos[ivar]
        a, b = cstart[ivar], cend[ivar]
        lo = a + int(np.searchsorted(pos[a : ivar + 1], cur_bp - radius, side="left"))
        hi = ivar + int(np.searchsorted(pos[ivar:b], cur_bp + radius + 1, side="left"))
        win = np.arange(lo, hi)
        win = win[(win != ivar) & in_report[lo:hi] & (allow_overlap | ~clumped[lo:hi])]
        idx = np.concatenate([[ivar], win]).astype(np.int64)
        if r2buf.shape[0] < len(win):
            r2buf = np.empty(max(len(win), 2 * r2buf.shape[0]))
        out = r2buf[: len(win)]
        if len(win):
            if method == "haplotype":
                masks.r2(int(ivar), win, out, float(r2))  # non-members may read 0.0
            else:
                X = cache.get(idx)
                _k.pearson_r2_index_vs_block(np.ascontiguousarray(X[:, 0]), X[:, 1:], out)
        with np.errstate(invalid="ignore"):
            is_member = np.abs(out) > r2  # NaN -> False
        histo = [0, 0, 0, 0, 0]
        sp2 = []  # (variant, fidx, r2) in PLINK order
        pval = cand_p[ivar]

        def absorb(v, rv):
            for e in range(e_start[v], e_end[v]):
                pe = e_p[e]
                histo[_bin(pe)] += 1
                mem_rows.append((ivar, v, e_f[e], pe, rv))
                if pe < p2:
                    sp2.append((v, e_f[e], rv))
            histo[0] += nsig[v]
            if nsig[v]:
                for _ in range(nsig[v]):
                    mem_rows.append((ivar, v, 0, np.nan, rv))
            clumped[v] = True

        members = win[is_member]
        mr2 = out[is_member]
        before = members < ivar
        for v, rv in zip(members[before], mr2[before]):
            absorb(v, rv)
        # the index variant's other report entries (r2 = 1)
        idx_entry = None
        colocated = False
        for e in range(e_start[ivar], e_end[ivar]):
            if idx_entry is None and e_p[e] == pval:
                idx_entry = e
                continue
            colocated = True
            histo[_bin(e_p[e])] += 1
            mem_rows.append((ivar, ivar, e_f[e], e_p[e], 1.0))
            if e_p[e] < p2:
                sp2.append((ivar, e_f[e], 1.0))
        if (colocated or nsig[ivar]) and (allow_overlap or not clumped[ivar]):
            histo[0] += nsig[ivar]
            clumped[ivar] = True
        for v, rv in zip(members[~before], mr2[~before]):
            absorb(v, rv)
        rows.append((
            vid[ivar], chrom[ivar], int(cur_bp), float(pval), int(e_f[idx_entry]), int(sum(histo)),
            *map(int, histo), len(sp2),
            ",".join(f"{vid[v]}({f})" for v, f, _ in sp2) if sp2 else "NONE",
            ",".join(f"{rv:.6g}" for _, _, rv in sp2),
            True, int(ivar),
        ))
    return rows, mem_rows


class _Shifted:
    """A mask source / genotype cache seen through a part's local indices."""

    def __init__(self, inner, offset: int):
        self.inner, self.offset = inner, offset

    def r2(self, ivar, win, out, skip_below: float = -1.0) -> None:
        self.inner.r2(int(ivar) + self.offset, win + self.offset, out, skip_below)

    def get(self, idx: np.ndarray) -> np.ndarray:
        return self.inner.get(idx + self.offset)


@dataclass
class _ClumpJob:
    """What every chromosome task shares (scattered once to each Dask worker)."""

    paths: list
    sample_file: str | None
    samples: object
    n_variants: int
    n_samples: int
    p2: float
    r2: float
    allow_overlap: bool
    method: str
    hard_call_threshold: float
    cache_mb: float
    vcf_dosage: str = "auto"
    selected: object = None  # SelectionResult of a SelectedGenotypes reference (reopened alike)


def clump_part(job: _ClumpJob, part: _Prep, reader) -> tuple[list, list]:
    """One chromosome's greedy pass (a task: any thread or process holding a reader of the
    same LD reference). Indices in the result are global."""
    max_bytes = int(job.cache_mb * 2**20)
    masks = cache = None
    if job.method == "haplotype":
        masks = _Shifted(_mask_source(reader, job.samples, job.hard_call_threshold, max_bytes), part.offset)
    else:
        cache = _Shifted(_GenotypeCache(reader, job.samples, job.method, job.hard_call_threshold,
                                        max_bytes), part.offset)
    rows, mem_rows = _clump_pass(part, masks, cache, p2=job.p2, r2=job.r2,
                                 allow_overlap=job.allow_overlap, method=job.method)
    a = part.offset
    rows = [(*r[:-1], r[-1] + a) for r in rows]
    mem_rows = [(int(i) + a, int(v) + a, *rest) for i, v, *rest in mem_rows]
    return rows, mem_rows


def _clump_core_parts(reports, vid, chrom, pos, reader, run_parts, *, samples, sample_file,
                      p1, p2, r2, kb, allow_overlap, method, hard_call_threshold, cache_mb) -> _Core:
    """:func:`_clump_core` as one task per chromosome holding index candidates.

    Windows never cross chromosomes, so each chromosome's greedy pass is independent;
    ``run_parts(job, parts)`` returns their results in part order (:func:`clump_part` of each,
    on threads or worker processes). Rows come back in index-p order and are merged by (p,
    reference index), the order of the one-pass run (candidates sorted by p, ties by reference
    order), and members follow their clump: the result is identical to :func:`_clump_core`."""
    prep = _clump_prepare(reports, vid, chrom, pos, p1=p1, p2=p2, r2=r2, kb=kb, method=method)
    parts = [prep.part(a, b) for a, b in prep.blocks()]
    paths = [os.path.abspath(str(p)) for p in getattr(reader, "paths", None) or []]
    job = _ClumpJob(paths=paths, sample_file=os.path.abspath(sample_file) if sample_file else None,
                    samples=samples, n_variants=len(vid), n_samples=len(reader.samples), p2=p2,
                    r2=r2, allow_overlap=allow_overlap, method=method,
                    hard_call_threshold=hard_call_threshold, cache_mb=cache_mb,
                    vcf_dosage=getattr(reader, "vcf_dosage", "auto"),
                    selected=getattr(reader, "selection", None))
    rows, mem_rows = _merge_parts(run_parts(job, parts))
    return _Core(rows, mem_rows, prep.missing, len(prep.cand))


def _merge_parts(results) -> tuple[list, list]:
    """Rows and member rows of the whole greedy pass from its per-chromosome parts (global
    indices): rows by (index p, reference index), the in-process candidate order; each clump's
    members right after the previous clump's, in the order its part produced them."""
    rows: list = []
    members: dict = {}
    for r, mr in results:
        rows.extend(r)
        for row in mr:
            members.setdefault(row[0], []).append(row)
    rows.sort(key=lambda r: (r[3], r[-1]))
    return rows, [row for r in rows for row in members.get(r[-1], ())]


def check_params(p1: float, p2: float, r2: float, kb: float, method: str) -> None:
    """Raise InputError for clumping parameters PLINK would refuse."""
    if not (0 < p1 <= 1):
        raise InputError(f"p1: {p1} must be in (0, 1]")
    if not (p1 <= p2 <= 1):
        raise InputError(f"p2: {p2} must satisfy p1 <= p2 <= 1")
    if not (r2 < 1):
        raise InputError(f"r2: {r2} must be < 1")
    if kb <= 0:
        raise InputError(f"kb: {kb} must be positive")
    if method not in METHODS:
        raise InputError(f"method: {method!r}, use one of {', '.join(METHODS)}")


def clump(
    reports: pd.DataFrame | Sequence[pd.DataFrame],
    reader,
    p1: float = 1e-4,
    p2: float = 0.01,
    r2: float = 0.5,
    kb: float = 250.0,
    allow_overlap: bool = False,
    method: str = "haplotype",
    samples=None,
    hard_call_threshold: float = 0.1,
    missing_as_singletons: bool = False,
    cache_mb: float = 512.0,
    sample_file: str | None = None,
    run_parts=None,
) -> ClumpResult:
    """Clump association results (PLINK 1.9 ``--clump`` semantics; see module docstring).

    Parameters
    ----------
    reports : one or several tables with ``variant_id`` and ``p_value`` columns (e.g. from
        :func:`gwaskit.io.sumstats.read_sumstats`); several = PLINK's multi-file ``--clump``.
    reader : LD reference genotype reader (``gwaskit.io.genotypes.open_genotypes`` API).
    p1, p2, r2, kb : PLINK ``--clump-p1/-p2/-r2/-kb`` (defaults PLINK's).
    allow_overlap : ``--clump-allow-overlap``.
    method : 'haplotype' (PLINK 1.9) or 'dosage' (squared Pearson correlation of dosages).
    samples : reference samples to use (bool mask or index; e.g. from ``--keep``).
    hard_call_threshold : for 'haplotype': dosages further than this from an integer are
        missing (plink2's default 0.1 when writing .bed from dosages); 0.5 rounds everything.
    missing_as_singletons : also report top variants absent from the reference as one-variant
        clumps (``in_reference=False``, counts 0), placed in p order.
    cache_mb : genotype cache size.
    sample_file : the ``.sample`` file the reader was opened with (for tasks that reopen it).
    run_parts : run the greedy pass as one task per chromosome holding index candidates:
        ``run_parts(job, parts)`` returns :func:`clump_part` of each part, in order (the
        pipeline runs them on threads or Dask workers: :func:`gwaskit.pipelines.clump.run_clump`).
        The result is identical to the one-pass run.
    """
    check_params(p1, p2, r2, kb, method)
    import pandas as pd

    if isinstance(reports, pd.DataFrame):
        reports = [reports]
    arrays = []
    for rep in reports:
        if "variant_id" not in rep or "p_value" not in rep:
            raise InputError("clump: report lacks variant_id or p_value")
        arrays.append((rep["variant_id"].astype(str).to_numpy(),
                       pd.to_numeric(rep["p_value"], errors="coerce").to_numpy(dtype=np.float64)))
    variants = reader.variants
    vid = variants["variant_id"].astype(str).to_numpy()
    chrom = variants["chromosome"].astype(str).to_numpy()
    pos = variants["base_pair_location"].to_numpy().astype(np.int64)
    if run_parts is not None:
        core = _clump_core_parts(arrays, vid, chrom, pos, reader, run_parts, samples=samples,
                                 sample_file=sample_file, p1=p1, p2=p2, r2=r2, kb=kb,
                                 allow_overlap=allow_overlap, method=method,
                                 hard_call_threshold=hard_call_threshold, cache_mb=cache_mb)
    else:
        core = _clump_core(arrays, vid, chrom, pos,
                           lambda: _mask_source(reader, samples, hard_call_threshold, int(cache_mb * 2**20)),
                           reader=reader, samples=samples, p1=p1, p2=p2, r2=r2, kb=kb,
                           allow_overlap=allow_overlap, method=method,
                           hard_call_threshold=hard_call_threshold, cache_mb=cache_mb)
    rows, mem_rows, missing, n_cand = core.rows, core.mem_rows, _missing_table(*core.missing), core.n_cand
    m = len(vid)
    radius = bp_radius(kb)

    clumps = pd.DataFrame(rows, columns=CLUMP_COLUMNS + ["_gidx"])
    if missing_as_singletons and len(missing):
        extra = pd.DataFrame({
            "variant_id": missing["variant_id"], "chromosome": None, "base_pair_location": pd.NA,
            "p_value": missing["p_value"], "file_index": 1, "total": 0, "nsig": 0, "s05": 0,
            "s01": 0, "s001": 0, "s0001": 0, "n_sp2": 0, "sp2": "NONE", "sp2_r2": "",
            "in_reference": False, "_gidx": m,
        })
        clumps = pd.concat([clumps, extra], ignore_index=True)
        clumps = clumps.sort_values(["p_value", "_gidx"], kind="mergesort").reset_index(drop=True)
    clumps = clumps.drop(columns="_gidx")
    clumps["base_pair_location"] = clumps["base_pair_location"].astype("Int64")
    if mem_rows:
        mr = np.array(mem_rows, dtype=object)
        members_df = pd.DataFrame({
            "index_variant_id": vid[mr[:, 0].astype(np.int64)],
            "variant_id": vid[mr[:, 1].astype(np.int64)],
            "chromosome": chrom[mr[:, 1].astype(np.int64)],
            "base_pair_location": pos[mr[:, 1].astype(np.int64)],
            "file_index": mr[:, 2].astype(np.int64),
            "p_value": mr[:, 3].astype(np.float64),
            "r2": mr[:, 4].astype(np.float64),
        })
    else:
        members_df = pd.DataFrame(columns=["index_variant_id", "variant_id", "chromosome",
                                           "base_pair_location", "file_index", "p_value", "r2"])
    n_formed = int(clumps["in_reference"].sum()) if len(clumps) else 0
    logger.info(f"clump: {n_formed} clumps formed from {n_cand} top variants")
    params = dict(p1=p1, p2=p2, r2=r2, kb=kb, bp_radius=radius, allow_overlap=allow_overlap,
                  method=method, hard_call_threshold=hard_call_threshold,
                  n_samples=int(_n_samples(reader, samples)), n_top=int(n_cand),
                  n_missing_top=int(len(missing)))
    id_width = _plink_maxsnp(vid)
    return ClumpResult(clumps=clumps, members=members_df, missing=missing, params=params, id_width=id_width)


def _plink_maxsnp(ids) -> int:
    """PLINK 1.9's SNP column width: starts at 4; scanning IDs in file order, an ID longer than
    the current width sets it to its length + 2."""
    w = 4
    for n in map(len, map(str, np.asarray(ids).tolist())):
        if n > w:
            w = n + 2
    return w


def _n_samples(reader, samples) -> int:
    n = len(reader.samples)
    if samples is None:
        return n
    s = np.asarray(samples)
    return int(s.sum()) if s.dtype == bool else len(s)


def _missing_sorted(ids, ps) -> tuple[list, list]:
    """Distinct missing top variants with their smallest p, by p then ID."""
    best: dict = {}
    for i, p in zip(ids, ps):
        if i not in best or p < best[i]:
            best[i] = p
    items = sorted(best.items(), key=lambda t: (t[1], t[0]))
    return [t[0] for t in items], [t[1] for t in items]


def _missing_table(ids, ps) -> pd.DataFrame:
    import pandas as pd

    if not ids:
        return pd.DataFrame({"variant_id": pd.Series(dtype=str), "p_value": pd.Series(dtype=float)})
    df = pd.DataFrame({"variant_id": ids, "p_value": ps})
    df = df.groupby("variant_id", sort=True, as_index=False)["p_value"].min()
    return df.sort_values(["p_value", "variant_id"], kind="mergesort").reset_index(drop=True)


# ----------------------------------------------------------------------------------------------
# PLINK 1.9 .clumped writer
# ----------------------------------------------------------------------------------------------


def _bround(x: float, tol_even: float, tol_odd: float) -> int:
    """PLINK's banker-style rounding of a non-negative double with a tolerance band."""
    r = int(x)
    return r + int((x - r) + (tol_odd if (r & 1) else tol_even))


_BR11 = (0.499999999995, 0.500000000005)  # PLINK banker_round11 (even, odd)


def _trim(digits: str) -> str:
    return digits.rstrip("0")


def _g3(x: float) -> str:
    """PLINK 1.9 ``dtoa_g_wxp3``: 3 significant digits, %g-like, with PLINK's own decimal
    scaling and tie rounding (e.g. 7.175e-05 prints as 7.18e-05 where C's %g gives 7.17e-05)."""
    if x != x:
        return "nan"
    sign = ""
    if x < 0:
        sign, x = "-", -x
    if x == 0:
        return "0"
    if x < 9.9949999999999e-5:
        xp = 0
        for thr, mul, bit in ((9.9949999999999e-256, 1.0e256, 256), (9.9949999999999e-128, 1.0e128, 128)):
            if x < 9.9949999999999e-128:
                if x < thr:
                    x *= mul
                    xp |= bit
                    break
        for thr, mul, bit in ((9.9949999999999e-64, 1.0e64, 64), (9.9949999999999e-32, 1.0e32, 32),
                              (9.9949999999999e-16, 1.0e16, 16), (9.9949999999999e-8, 100000000.0, 8),
                              (9.9949999999999e-4, 10000.0, 4), (9.9949999999999e-2, 100.0, 2),
                              (9.9949999999999e-1, 10.0, 1)):
            if x < thr:
                x *= mul
                xp |= bit
        v = _bround(x * 100, *_BR11)
        q, r = divmod(v, 100)
        frac = _trim(f"{r:02d}")
        return f"{sign}{q}{'.' + frac if frac else ''}e-{xp:02d}"
    if x >= 999.49999999999:
        return sign + f"{x:.3g}"  # not reached for p-values
    if x >= 0.99949999999999:
        if x < 9.9949999999999:
            v = _bround(x * 100, *_BR11)
            q, r = divmod(v, 100)
            frac = _trim(f"{r:02d}")
        elif x < 99.949999999999:
            v = _bround(x * 10, *_BR11)
            q, r = divmod(v, 10)
            frac = _trim(f"{r:01d}")
        else:
            q, frac = _bround(x, *_BR11), ""
        return f"{sign}{q}{'.' + frac if frac else ''}"
    head = "0."
    if x < 9.9949999999999e-3:
        x *= 100
        head += "00"
    if x < 9.9949999999999e-2:
        x *= 10
        head += "0"
    return sign + head + _trim(f"{_bround(x * 1000, *_BR11):03d}")


def format_plink(result: ClumpResult) -> str:
    """Text of PLINK 1.9's ``.clumped`` file for ``result`` (fixed width, PLINK number format,
    trailing blank lines). Clumps of variants missing from the reference are not written (as
    PLINK)."""
    cols = ["chromosome", "file_index", "variant_id", "base_pair_location", "p_value", "total", "nsig",
            "s05", "s01", "s001", "s0001", "sp2"]
    rows = [r for r in result.clumps[cols + ["in_reference"]].itertuples(index=False, name=None) if r[-1]]
    return _format_plink_rows(rows, result.id_width)


def _format_plink_rows(rows, w: int) -> str:
    """``rows``: (chromosome, file_index, variant_id, bp, p, total, nsig, s05, s01, s001, s0001,
    sp2, ...) of the clumps to write, in order."""
    lines = [" CHR    F " + "SNP".rjust(w)
             + "         BP        P    TOTAL   NSIG    S05    S01   S001  S0001    SP2\n"]
    for r in rows:
        s = (
            str(r[0]).rjust(4) + " " + str(r[1]).rjust(4) + " "
            + str(r[2]).rjust(w) + " " + str(int(r[3])).rjust(10) + " "
            + _g3(r[4]).rjust(10) + " " + str(r[5]).rjust(8) + " "
            + "".join(str(h).rjust(6) + " " for h in r[6:11])
            + r[11] + "\n"
        )
        lines.append(s)
    lines.append("\n\n")
    return "".join(lines)


def write_plink_rows(rows, id_width: int, path: str | Path, overwrite: bool = False) -> Path | None:
    """:func:`write_plink` for the core's clump rows (all in the reference, index-p order)."""
    from ..io.output import atomic_path

    if not rows:
        logger.warning("clump: no significant clump results; no .clumped file written (as PLINK)")
        return None
    text = _format_plink_rows([(r[1], r[4], r[0], r[2], r[3], *r[5:11], r[12]) for r in rows], id_width)
    with atomic_path(path, overwrite) as tmp:
        Path(tmp).write_text(text)
    return Path(path)


def write_plink(result: ClumpResult, path: str | Path, overwrite: bool = False) -> Path | None:
    """Write the ``.clumped`` file atomically. Like PLINK, nothing is written when no clump
    formed; returns None then."""
    from ..io.output import atomic_path

    if not int(result.clumps["in_reference"].sum() if len(result.clumps) else 0):
        logger.warning("clump: no significant clump results; no .clumped file written (as PLINK)")
        return None
    with atomic_path(path, overwrite) as tmp:
        Path(tmp).write_text(format_plink(result))
    return Path(path)


def read_plink_clumped(path: str | Path) -> pd.DataFrame:
    """Parse a PLINK 1.9 ``.clumped`` file (whitespace-delimited) into a table with an ``sp2``
    list column of member IDs (file indices stripped)."""
    import pandas as pd

    df = pd.read_csv(path, sep=r"\s+", dtype={"SNP": str, "SP2": str})
    df["members"] = [
        [] if s == "NONE" else [t.rsplit("(", 1)[0] for t in s.split(",")] for s in df["SP2"]
    ]
    return df

"""The C clumping kernels (gwaskit.ld._clump_native) equal the numba kernels bit for bit."""
from __future__ import annotations

import numpy as np
import pytest

from gwaskit.ld import _clump_native as native
from gwaskit.ld import _r2_numba_fns as k
from gwaskit.ld.clump import _BedMasks

lib = native.load()
pytestmark = pytest.mark.skipif(lib is None, reason="no C compiler: the numba kernels are used")


def _same(a, b) -> bool:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return np.array_equal(a.view(np.int64), b.view(np.int64))


def test_r2_from_counts_bitwise():
    rng = np.random.default_rng(11)
    tables = [rng.integers(0, hi, size=9) for hi in (2, 3, 5, 20, 300, 3000) for _ in range(4000)]
    # sparse tables (monomorphic, no double hets, single cells) hit every branch
    for _ in range(4000):
        c = np.zeros(9, dtype=np.int64)
        c[rng.choice(9, rng.integers(1, 4), replace=False)] = rng.integers(1, 50, 1)
        tables.append(c)
    sol = np.zeros(3)
    for c in tables:
        c = np.asarray(c, dtype=np.int64)
        assert _same(native.hap_r2_from_counts(lib, c), k.hap_r2_from_counts(c, sol)), c


def _write_bed(path, G):
    """G: (m, n) codes 0 hom A1, 1 het, 2 hom A2, -1 missing -> SNP-major .bed."""
    code = {0: 0b00, 1: 0b10, 2: 0b11, -1: 0b01}
    m, n = G.shape
    bpv = (n + 3) // 4
    out = bytearray(b"\x6c\x1b\x01")
    for j in range(m):
        row = bytearray(bpv)
        for i in range(n):
            row[i >> 2] |= code[int(G[j, i])] << (2 * (i & 3))
        out += row
    path.write_bytes(bytes(out))


@pytest.mark.parametrize("n", [70, 131, 200])
def test_bed_masks_native_vs_numba(tmp_path, n):
    rng = np.random.default_rng(n)
    m = 60
    base = rng.integers(0, 3, size=n)
    G = np.empty((m, n), dtype=np.int64)
    for j in range(m):  # correlated neighbours, some missing calls, some variants complete
        flip = rng.random(n) < rng.uniform(0.02, 0.6)
        G[j] = np.where(flip, rng.integers(0, 3, size=n), base)
        if j % 3:
            G[j, rng.random(n) < 0.05] = -1
    bed = tmp_path / "x.bed"
    _write_bed(bed, G)
    for samples in (None, rng.random(n) < 0.7):
        nat = _BedMasks(str(bed), n, m, samples, 2**20)
        ref = _BedMasks(str(bed), n, m, samples, 2**20)
        ref.lib = None
        assert nat.lib is not None
        idx = np.arange(m, dtype=np.int64)
        P1, C1 = nat._decode(idx)
        P2, C2 = ref._decode(idx)
        assert np.array_equal(P1, P2) and np.array_equal(C1, C2)
        for ivar in range(0, m, 7):
            win = np.array([v for v in range(m) if v != ivar], dtype=np.int64)
            exact = np.empty(len(win))
            k.hap_r2_packed(P2[ivar], P2[win], exact)
            for skip in (-1.0, 0.1, 0.5):
                a, b = np.empty(len(win)), np.empty(len(win))
                nat.r2(ivar, win, a, skip)
                ref.r2(ivar, win, b, skip)
                assert _same(a, b)
                if skip < 0:
                    assert _same(a, exact)
                else:  # only pairs that cannot pass |r2| > skip may differ (they read 0.0)
                    keep = np.abs(exact) > skip
                    assert _same(a[keep], exact[keep])
                    assert np.all((a[~keep] == exact[~keep]) | (a[~keep] == 0.0) | np.isnan(exact[~keep]))


@pytest.mark.parametrize("n", [70, 131, 200, 256])
def test_bed_rows_vs_numba_masks(tmp_path, n):
    rng = np.random.default_rng(n + 1)
    m = 50
    base = rng.integers(0, 3, size=n)
    G = np.empty((m, n), dtype=np.int64)
    for j in range(m):
        flip = rng.random(n) < rng.uniform(0.02, 0.6)
        G[j] = np.where(flip, rng.integers(0, 3, size=n), base)
        if j % 4 == 1:
            G[j, rng.random(n) < 0.05] = -1
    bed = tmp_path / "x.bed"
    _write_bed(bed, G)
    for samples in (None, rng.random(n) < 0.6, np.sort(rng.choice(n, n // 2, replace=False))):
        pos = np.arange(n) if samples is None else (np.flatnonzero(samples) if samples.dtype == bool else samples)
        rows = native.BedRows(lib, str(bed), n, m, pos)
        ref = _BedMasks(str(bed), n, m, samples, 2**20)
        ref.lib = None
        for ivar in range(0, m, 5):
            win = np.array([v for v in range(m) if v != ivar], dtype=np.int64)
            exact = np.empty(len(win))
            ref.r2(ivar, win, exact, -1.0)
            for skip in (-1.0, 0.05, 0.3, 0.6):
                a = np.empty(len(win))
                rows.r2(ivar, win, a, skip)
                if skip < 0:
                    assert _same(a, exact)
                else:  # members exact; the others may read 0.0 (never computed)
                    keep = np.abs(exact) > skip
                    assert _same(a[keep], exact[keep])
                    assert np.all((a[~keep] == exact[~keep]) | (a[~keep] == 0.0) | np.isnan(exact[~keep]))

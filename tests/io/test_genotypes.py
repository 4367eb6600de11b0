"""open_genotypes: multi-file ordering, selections, chunking, dtypes, missing calls, caches."""
from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).parent))
import _geno_fixtures as fx  # noqa: E402

import gwaskit.io.bgen as bgen_mod  # noqa: E402
from gwaskit.errors import InputError  # noqa: E402
from gwaskit.io.bgen_writer import write_bgen  # noqa: E402
from gwaskit.io.genotypes import chromosome_sort_key, open_genotypes  # noqa: E402

N = 50
SAMPLES = [f"s{i}" for i in range(N)]
CHROMS = {"1": 9, "2": 7, "10": 11, "X": 4}


@pytest.fixture(scope="module")
def multi(tmp_path_factory):
    d = tmp_path_factory.mktemp("multi")
    truth = {}
    for k, (c, m) in enumerate(CHROMS.items()):
        geno = fx.random_genotypes(N, m, seed=100 + k, missing_rate=0.05)
        var = fx.variant_table(m, chrom=c)
        write_bgen(d / f"chr{c}.bgen", SAMPLES, var, geno, bits=16)
        truth[c] = (var, geno)
    order = ["1", "2", "10", "X"]
    var = pd.concat([truth[c][0] for c in order], ignore_index=True)
    geno = np.hstack([truth[c][1] for c in order])
    return {"dir": d, "var": var, "geno": geno}


def test_natural_chromosome_order(multi):
    d = multi["dir"]
    for spec in (str(d / "chr*.bgen"), sorted(d.glob("chr*.bgen"), reverse=True)):
        with open_genotypes(spec) as g:
            assert [p.name for p in g.paths] == ["chr1.bgen", "chr2.bgen", "chr10.bgen",
                                                 "chrX.bgen"]
            assert g.n_variants == sum(CHROMS.values()) and g.n_samples == N
            assert isinstance(g.variants.index, pd.RangeIndex)
            assert list(g.variants["chromosome"].unique()) == ["1", "2", "10", "X"]
            assert list(g.variants["variant_id"]) == list(multi["var"]["variant_id"])
            assert list(g.samples) == SAMPLES
            assert g.samples.dtype.kind == "U"


def test_chromosome_sort_key():
    chroms = ["MT", "X", "10", "chr2", "1", "22", "Y", "3"]
    assert sorted(chroms, key=chromosome_sort_key) == ["1", "chr2", "3", "10", "22", "X", "Y",
                                                       "MT"]


def test_chunks_cross_file_boundaries(multi):
    with open_genotypes(str(multi["dir"] / "chr*.bgen")) as g:
        full_t, full = g.read_dosages(dtype=np.float64)
        np.testing.assert_allclose(full, multi["geno"], atol=1 / 65535, equal_nan=True)
        for cs in (1, 5, 8, 100):
            parts = list(g.iter_dosages(chunk_size=cs, dtype=np.float64))
            assert all(p[1].flags.f_contiguous for p in parts)
            assert all(p[1].shape[1] <= cs for p in parts)
            idx = np.concatenate([p[0].index.to_numpy() for p in parts])
            np.testing.assert_array_equal(idx, np.arange(g.n_variants))
            np.testing.assert_array_equal(np.hstack([p[1] for p in parts]), full)


def test_chunks_the_caller_keeps_are_never_overwritten(multi):
    with open_genotypes(str(multi["dir"] / "chr*.bgen")) as g:
        _, full = g.read_dosages()
        copies, kept_views, ids = [], [], set()
        for k, (_, d) in enumerate(g.iter_dosages(chunk_size=3)):
            copies.append(d.copy())
            ids.add(id(d))
            if k % 4 == 0:
                kept_views.append(d[:, :1])  # a view keeps its chunk alive
        np.testing.assert_array_equal(np.hstack(copies), full)
        np.testing.assert_array_equal(np.hstack(kept_views), full[:, ::12])
        assert len(ids) < len(copies)  # released buffers were recycled


def test_sample_and_variant_selection(multi):
    with open_genotypes(str(multi["dir"] / "chr*.bgen")) as g:
        _, full = g.read_dosages()
        rows = np.array([7, 3, 3, 49, 0])
        cols = np.array([30, 2, 15, 9, 10])  # unsorted: sorted on the way
        t, d = g.read_dosages(samples=rows, variants=cols)
        np.testing.assert_array_equal(t.index, np.sort(cols))
        np.testing.assert_array_equal(d, full[np.ix_(rows, np.sort(cols))])
        smask = np.zeros(N, bool)
        smask[[1, 4, 40]] = True
        vmask = np.zeros(g.n_variants, bool)
        vmask[::3] = True
        chunks = list(g.iter_dosages(chunk_size=4, samples=smask, variants=vmask))
        d2 = np.hstack([c[1] for c in chunks])
        assert d2.flags.f_contiguous or d2.shape[1] == 0
        np.testing.assert_array_equal(d2, full[np.ix_(smask, vmask)])
        np.testing.assert_array_equal(
            np.concatenate([c[0].index for c in chunks]), np.flatnonzero(vmask)
        )
        t0, d0 = g.read_dosages(variants=np.array([], dtype=int))
        assert d0.shape == (N, 0) and len(t0) == 0
        with pytest.raises(InputError):
            g.read_dosages(samples=[N])
        with pytest.raises(InputError):
            g.read_dosages(variants=np.zeros(3, bool))


def test_dtypes_and_missing(multi):
    with open_genotypes(str(multi["dir"] / "chr1.bgen")) as g:
        _, d32 = g.read_dosages()
        _, d64 = g.read_dosages(dtype=np.float64)
        assert d32.dtype == np.float32 and d64.dtype == np.float64
        assert d32.flags.f_contiguous and d64.flags.f_contiguous
        miss = np.isnan(multi["geno"][:, :9])
        assert miss.any()
        np.testing.assert_array_equal(np.isnan(d32), miss)
        np.testing.assert_allclose(d32, d64, atol=1e-6, equal_nan=True)
        with pytest.raises(InputError):
            g.read_dosages(dtype=np.int8)


def test_single_thread_equals_pool(multi):
    p = str(multi["dir"] / "chr*.bgen")
    with open_genotypes(p, n_threads=1) as g1, open_genotypes(p, n_threads=3) as g3:
        np.testing.assert_array_equal(g1.read_dosages()[1], g3.read_dosages()[1])


def test_different_samples_is_an_error(multi, tmp_path):
    other = [f"t{i}" for i in range(N)]
    write_bgen(tmp_path / "chr3.bgen", other, fx.variant_table(2, chrom="3"),
               fx.random_genotypes(N, 2, seed=1))
    (tmp_path / "chr1.bgen").write_bytes((multi["dir"] / "chr1.bgen").read_bytes())
    with pytest.raises(InputError) as ei:
        open_genotypes(str(tmp_path / "chr*.bgen"))
    assert "chr3.bgen" in str(ei.value) and "samples differ" in str(ei.value)


def test_sample_file_overrides_embedded(multi, tmp_path):
    s = tmp_path / "v2.sample"
    s.write_text("ID missing\n0 0\n" + "".join(f"new{i} 0\n" for i in range(N)))
    with open_genotypes(multi["dir"] / "chr2.bgen", s) as g:
        assert g.samples[0] == "new0"
        assert g.sample_table["FID"].isna().all()


def test_read_only_inputs_and_index_cache(multi, tmp_path, monkeypatch, caplog):
    src = tmp_path / "ro"
    src.mkdir()
    for c in ("2", "10"):
        for ext in (".bgen", ".sample"):
            (src / f"chr{c}{ext}").write_bytes((multi["dir"] / f"chr{c}{ext}").read_bytes())
    fx.read_only_tree(src)
    before = sorted(os.listdir(src))
    cache = tmp_path / "cache"
    monkeypatch.setattr(bgen_mod, "INDEX_CACHE_MIN_VARIANTS", 0)
    try:
        with open_genotypes(str(src / "chr*.bgen"), src / "chr2.sample", cache_dir=cache) as g:
            t1, d1 = g.read_dosages()
        cached = list((cache / "bgen-index").glob("*.npz"))
        assert len(cached) == 2
        with open_genotypes(str(src / "chr*.bgen"), cache_dir=cache) as g:  # from the cache
            t2, d2 = g.read_dosages()
        pd.testing.assert_frame_equal(t1, t2)
        np.testing.assert_array_equal(d1, d2)
        assert sorted(os.listdir(src)) == before
    finally:
        fx.writable_tree(src)


def test_bed_prefix_and_mixed(tmp_path):
    geno = fx.random_genotypes(N, 6, seed=9)
    var = fx.variant_table(6, chrom="5")
    fx.write_bed(tmp_path / "b5", geno, var, iids=SAMPLES)
    write_bgen(tmp_path / "b4.bgen", SAMPLES, fx.variant_table(3, chrom="4"),
               fx.random_genotypes(N, 3, seed=10))
    with open_genotypes(tmp_path / "b5") as g:
        t, d = g.read_dosages(dtype=np.float64)
        np.testing.assert_array_equal(d, geno)
        assert list(t["effect_allele"]) == list(var["effect_allele"])
        assert list(g.sample_table.columns[:2]) == ["FID", "IID"]
    with open_genotypes([tmp_path / "b5.bed", tmp_path / "b4.bgen"]) as g:
        assert [p.name for p in g.paths] == ["b4.bgen", "b5.bed"]
        assert g.read_dosages()[1].shape == (N, 9)


def test_read_after_close(multi):
    g = open_genotypes(multi["dir"] / "chr1.bgen")
    g.close()
    with pytest.raises(ValueError, match="closed"):
        g.read_dosages()


def test_open_logs_counts(multi, caplog):
    with caplog.at_level(logging.INFO, logger="gwaskit"):
        with open_genotypes(multi["dir"] / "chr1.bgen"):
            pass
    assert any("50 samples, 9 variants" in r.getMessage() for r in caplog.records)

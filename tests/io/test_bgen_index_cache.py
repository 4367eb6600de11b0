"""The BGEN variant-index cache is validated against its file: a stale or tampered cache is
ignored and rebuilt; it never crashes the reader and never changes genotypes."""
from __future__ import annotations

import hashlib
import json
import logging
import os

import numpy as np
import pytest

import gwaskit.io.bgen as bgen_mod
from gwaskit.io.bgen_writer import write_bgen
from gwaskit.io.genotypes import open_genotypes

import _geno_fixtures as fx  # tests/io is on sys.path (rootdir-based module)

N, M = 30, 40


@pytest.fixture
def setup(tmp_path, monkeypatch):
    monkeypatch.setattr(bgen_mod, "INDEX_CACHE_MIN_VARIANTS", 0)  # cache even small files
    path = write_bgen(tmp_path / "g.bgen", [f"s{i}" for i in range(N)], fx.variant_table(M),
                      fx.random_genotypes(N, M, seed=4), bits=8, sample_file=False)
    cache_dir = tmp_path / "cache"
    with open_genotypes(path, cache_dir=cache_dir) as g:  # writes the cache
        table, dosages = g.read_dosages()
    (cache,) = (cache_dir / "bgen-index").glob("*.npz")
    return path, cache_dir, cache, table, dosages


def _load(cache) -> dict:
    with np.load(cache, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def _save(cache, arrays: dict, rehash: bool) -> None:
    """Write a modified cache; with ``rehash`` its checksums are made to match (a careful
    forger), so only the consistency checks against the file can catch it."""
    if rehash:
        meta = json.loads(str(arrays["meta"]))
        meta["blocks_sha256"] = hashlib.sha256(
            np.ascontiguousarray(arrays["blocks"], dtype=np.int64).tobytes()).hexdigest()
        cols = {c: arrays[c] for c in ("chromosome", "variant_id", "effect_allele", "other_allele")}
        meta["variants_sha256"] = bgen_mod._variants_digest(cols, arrays["base_pair_location"])
        arrays["meta"] = np.array(json.dumps(meta))
    with open(cache, "wb") as fh:
        np.savez(fh, **arrays)


def _check_rebuilt(setup, caplog, why: str) -> None:
    path, cache_dir, cache, table, dosages = setup
    caplog.set_level(logging.WARNING, logger="gwaskit")
    with open_genotypes(path, cache_dir=cache_dir) as g:
        t, d = g.read_dosages()
    assert t.equals(table)
    np.testing.assert_array_equal(d, dosages)
    assert any("ignoring" in r.getMessage() and why in r.getMessage() for r in caplog.records), \
        [r.getMessage() for r in caplog.records]
    caplog.clear()
    with open_genotypes(path, cache_dir=cache_dir) as g:  # the rewritten cache is good again
        np.testing.assert_array_equal(g.read_dosages()[1], dosages)
    assert not [r for r in caplog.records if "ignoring" in r.getMessage()]


@pytest.mark.parametrize("rehash", [False, True])
def test_offsets_past_the_end_of_the_file(setup, caplog, rehash):
    a = _load(setup[2])
    a["blocks"] = a["blocks"].copy()
    a["blocks"][5, 0] = os.path.getsize(setup[0]) + 1000
    _save(setup[2], a, rehash)
    _check_rebuilt(setup, caplog, "do not lie inside the file" if rehash else "checksum")


@pytest.mark.parametrize("rehash", [False, True])
def test_swapped_rows(setup, caplog, rehash):
    """Two variants' blocks (and, for the careful forger, their table rows) swapped."""
    a = _load(setup[2])
    for k in ("blocks", "variant_id", "base_pair_location"):
        a[k] = a[k].copy()
        a[k][[2, 3]] = a[k][[3, 2]]
    _save(setup[2], a, rehash)
    _check_rebuilt(setup, caplog, "in order" if rehash else "checksum")


def test_edited_variant_table(setup, caplog):
    a = _load(setup[2])
    a["effect_allele"] = a["effect_allele"].copy()
    a["effect_allele"][0] = "T"
    _save(setup[2], a, rehash=False)
    _check_rebuilt(setup, caplog, "variant table does not match")


def test_file_changed_since(setup, caplog):
    """Same name, new mtime: the cache describes another version of the file."""
    st = os.stat(setup[0])
    os.utime(setup[0], ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    _check_rebuilt(setup, caplog, "another version of the file")


@pytest.mark.parametrize("content", [b"", b"garbage" * 100, b"PK\x03\x04 truncated zip"])
def test_unreadable_cache(setup, caplog, content):
    setup[2].write_bytes(content)
    _check_rebuilt(setup, caplog, "unreadable")


def test_cache_holds_no_objects(setup):
    """Only plain arrays: loading with allow_pickle=False succeeds for every entry."""
    with np.load(setup[2], allow_pickle=False) as z:
        for k in z.files:
            assert z[k].dtype != object

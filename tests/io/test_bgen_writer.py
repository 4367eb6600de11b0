"""BgenWriter: header, streaming writes, atomic rename, probability convention, validation."""
from __future__ import annotations

import struct
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
import _geno_fixtures as fx  # noqa: E402

from gwaskit.errors import InputError  # noqa: E402
from gwaskit.io._bgen_numba_fns import dosage_to_probs  # noqa: E402
from gwaskit.io.bgen_writer import BgenWriter, write_bgen  # noqa: E402
from gwaskit.io.genotypes import open_genotypes  # noqa: E402

SAMPLES = ["a", "b", "c", "d"]


def test_streaming_writes_patch_variant_count(tmp_path):
    var = fx.variant_table(10)
    dos = fx.random_genotypes(4, 10, seed=1)
    with BgenWriter(tmp_path / "s.bgen", SAMPLES, bits=16, fids=["F"] * 4) as w:
        assert not (tmp_path / "s.bgen").exists()  # temporary file until close
        w.write(var.iloc[:3], dos[:, :3])
        w.write(var.iloc[3:], dos[:, 3:])
    raw = (tmp_path / "s.bgen").read_bytes()
    offset, lh, m, n = struct.unpack_from("<IIII", raw)
    assert (lh, m, n, raw[16:20]) == (20, 10, 4, b"bgen")
    flags = struct.unpack_from("<I", raw, 20)[0]
    assert flags & 3 == 1 and (flags >> 2) & 0xF == 2 and flags >> 31 == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.bgen", "s.sample"]
    assert (tmp_path / "s.sample").read_text().splitlines()[2] == "F a 0"
    with open_genotypes(tmp_path / "s.bgen", tmp_path / "s.sample") as g:
        t, d = g.read_dosages(dtype=np.float64)
        assert list(g.sample_table["FID"]) == ["F"] * 4
    np.testing.assert_allclose(d, dos, atol=1 / 65535, equal_nan=True)
    assert list(t["variant_id"]) == list(var["variant_id"])


def test_exception_leaves_nothing(tmp_path):
    with pytest.raises(RuntimeError):
        with BgenWriter(tmp_path / "x.bgen", SAMPLES) as w:
            w.write(fx.variant_table(2), np.ones((4, 2)))
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_dosage_probability_convention():
    d = np.array([0.0, 0.25, 1.0, 1.5, 2.0, np.nan])
    p = np.empty((6, 3))
    dosage_to_probs(d, p)
    np.testing.assert_allclose(p[:5], [[0, 0, 1], [0, .25, .75], [0, 1, 0], [.5, .5, 0],
                                       [1, 0, 0]])
    assert np.isnan(p[5]).all()
    np.testing.assert_allclose(2 * p[:5, 0] + p[:5, 1], d[:5])


def test_rounding_keeps_sum(tmp_path):
    # 1/3 each cannot be represented: the spec's rounding keeps the sum at 2**B - 1
    probs = np.full((1, 4, 3), 1 / 3)
    write_bgen(tmp_path / "r.bgen", SAMPLES, fx.variant_table(1), probabilities=probs, bits=8)
    with open_genotypes(tmp_path / "r.bgen") as g:
        d = g.read_dosages(dtype=np.float64)[1]
    np.testing.assert_allclose(d, 1.0, atol=2 / 255)


@pytest.mark.parametrize(
    "kw",
    [dict(bits=0), dict(bits=33), dict(compression="lzma"),
     dict(compression="zstd", layout_version="1.2"), dict(layout_version="1.1")],
)
def test_bad_options(tmp_path, kw):
    with pytest.raises(InputError):
        BgenWriter(tmp_path / "o.bgen", SAMPLES, **kw)
    assert list(tmp_path.iterdir()) == []


def test_bad_write_arguments(tmp_path):
    var = fx.variant_table(2)
    with pytest.raises(InputError):
        BgenWriter(tmp_path / "d.bgen", ["a", "a"])
    with BgenWriter(tmp_path / "w.bgen", SAMPLES) as w:
        with pytest.raises(InputError):
            w.write(var, np.ones((3, 2)))
        with pytest.raises(InputError):
            w.write(var.drop(columns="other_allele"), np.ones((4, 2)))
        with pytest.raises(InputError):
            w.write(var)
        with pytest.raises(InputError):
            w.write(var, haplotypes=np.ones((4, 2, 2)))
    with open_genotypes(tmp_path / "w.bgen") as g:
        assert g.n_variants == 0
        assert list(g.iter_dosages()) == []

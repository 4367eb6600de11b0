"""Bad BGEN input: each case is a one-line InputError / GenotypeFormatError, never a crash."""
from __future__ import annotations

import logging
import os
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
import _geno_fixtures as fx  # noqa: E402

from gwaskit.errors import GenotypeFormatError, InputError  # noqa: E402
from gwaskit.io.bgen import BgenFile  # noqa: E402
from gwaskit.io.bgen_writer import write_bgen  # noqa: E402
from gwaskit.io.genotypes import open_genotypes  # noqa: E402

N, M = 40, 12


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    d = tmp_path_factory.mktemp("bgen_bad")
    geno = fx.random_genotypes(N, M, seed=2)
    var = fx.variant_table(M)
    path = write_bgen(d / "good.bgen", [f"s{i}" for i in range(N)], var, geno, bits=8)
    return path


def _copy(src: Path, dst: Path, data: bytes | None = None) -> Path:
    dst.write_bytes(src.read_bytes() if data is None else data)
    return dst


def _one_line(e: BaseException, *words: str) -> str:
    msg = str(e)
    assert "\n" not in msg
    for w in words:
        assert w in msg, msg
    return msg


def test_truncated_file(good, tmp_path):
    data = good.read_bytes()
    for cut in (len(data) // 2, len(data) - 3, 30, 10):
        bad = _copy(good, tmp_path / f"trunc{cut}.bgen", data[:cut])
        with pytest.raises(GenotypeFormatError) as ei:
            open_genotypes(bad)
        _one_line(ei.value, str(bad))


def test_random_bytes(tmp_path):
    bad = tmp_path / "random.bgen"
    bad.write_bytes(np.random.default_rng(0).bytes(5000))
    with pytest.raises(GenotypeFormatError) as ei:
        open_genotypes(bad)
    _one_line(ei.value, "random.bgen", "not a BGEN file")
    empty = tmp_path / "empty.bgen"
    empty.write_bytes(b"")
    with pytest.raises(GenotypeFormatError):
        open_genotypes(empty)


def test_layout1_handmade(tmp_path):
    bad = tmp_path / "v11.bgen"
    bad.write_bytes(fx.bgen_bytes_v11(4))
    with pytest.raises(GenotypeFormatError) as ei:
        open_genotypes(bad)
    _one_line(ei.value, "layout 1", "v1.1")


def test_layout1_from_plink2(good, tmp_path, plink2):
    out = tmp_path / "p11"
    fx.run([plink2, "--bgen", good, "ref-last", "--sample", good.with_suffix(".sample"),
            "--export", "bgen-1.1", "--threads", "1", "--out", out])
    with pytest.raises(GenotypeFormatError) as ei:
        open_genotypes(out.with_suffix(".bgen"), out.with_suffix(".sample"))
    _one_line(ei.value, "layout 1")


def test_sample_count_mismatch(good, tmp_path):
    s = tmp_path / "short.sample"
    s.write_text("ID_1 ID_2 missing\n0 0 0\n" + "".join(f"f{i} s{i} 0\n" for i in range(N - 1)))
    with pytest.raises(InputError) as ei:
        open_genotypes(good, s)
    _one_line(ei.value, "short.sample", str(N - 1), str(N))


def test_duplicate_ids_in_sample_file(good, tmp_path):
    s = tmp_path / "dup.sample"
    ids = [f"s{i}" for i in range(N)]
    ids[7] = "s3"
    s.write_text("ID_1 ID_2 missing\n0 0 0\n" + "".join(f"0 {i} 0\n" for i in ids))
    with pytest.raises(InputError) as ei:
        open_genotypes(good, s)
    _one_line(ei.value, "dup.sample", "duplicate", "s3")


def test_duplicate_embedded_ids(good, tmp_path):
    data = bytearray(good.read_bytes())
    # embedded IDs start after the 4-byte offset, 20-byte header and 8-byte block header
    o = 4 + 20 + 8
    assert data[o + 2 : o + 4] == b"s0"
    data[o + 2 + 4 : o + 2 + 4 + 2] = b"s0"  # sample 1 ('s1') -> 's0'
    bad = _copy(good, tmp_path / "dupemb.bgen", bytes(data))
    with pytest.raises(InputError) as ei:
        open_genotypes(bad)
    _one_line(ei.value, "dupemb.bgen", "duplicate", "s0")


def test_no_sample_ids_anywhere(tmp_path):
    geno = fx.random_genotypes(5, 3, seed=1)
    path = write_bgen(tmp_path / "noid.bgen", [f"s{i}" for i in range(5)], fx.variant_table(3),
                      geno, sample_file=False)
    data = bytearray(path.read_bytes())
    flags = struct.unpack_from("<I", data, 20)[0] & ~(1 << 31)
    struct.pack_into("<I", data, 20, flags)
    path.write_bytes(bytes(data))
    with pytest.raises(InputError) as ei:
        open_genotypes(path)
    _one_line(ei.value, "noid.bgen", "--sample")
    # a .sample beside it is picked up
    (tmp_path / "noid.sample").write_text("ID\n0\n" + "".join(f"x{i}\n" for i in range(5)))
    with open_genotypes(path) as g:
        assert list(g.samples) == [f"x{i}" for i in range(5)]


def _block_positions(path: Path):
    with BgenFile(path) as b:
        return b._blocks.copy(), list(b.variants["variant_id"])


def test_corrupt_compressed_block_names_the_variant(good, tmp_path):
    blocks, ids = _block_positions(good)
    data = bytearray(good.read_bytes())
    off, ln, _ = blocks[6]
    data[off + 2 : off + ln] = bytes((x ^ 0x5A) for x in data[off + 2 : off + ln])
    bad = _copy(good, tmp_path / "corrupt.bgen", bytes(data))
    with open_genotypes(bad) as g:
        with pytest.raises(GenotypeFormatError) as ei:
            for _ in g.iter_dosages(chunk_size=4):
                pass
        _one_line(ei.value, "corrupt.bgen", ids[6], "index 6")
        # variants before the bad one still read
        _, d = g.read_dosages(variants=np.arange(6))
        assert d.shape == (N, 6)


def test_wrong_uncompressed_length_names_the_variant(good, tmp_path):
    blocks, ids = _block_positions(good)
    data = bytearray(good.read_bytes())
    off, _, ulen = blocks[9]
    struct.pack_into("<I", data, off - 4, int(ulen) - 10)  # D field
    bad = _copy(good, tmp_path / "badlen.bgen", bytes(data))
    with open_genotypes(bad) as g, pytest.raises(GenotypeFormatError) as ei:
        g.read_dosages()
    _one_line(ei.value, "badlen.bgen", ids[9])


def test_absurd_uncompressed_length(good, tmp_path):
    blocks, ids = _block_positions(good)
    data = bytearray(good.read_bytes())
    struct.pack_into("<I", data, int(blocks[2][0]) - 4, 2**32 - 1)
    bad = _copy(good, tmp_path / "huge.bgen", bytes(data))
    with open_genotypes(bad) as g, pytest.raises(GenotypeFormatError) as ei:
        g.read_dosages()
    _one_line(ei.value, ids[2], "too many")


def test_wrong_block_length_is_caught_at_open(good, tmp_path):
    blocks, _ = _block_positions(good)
    data = bytearray(good.read_bytes())
    off = int(blocks[4][0])
    struct.pack_into("<I", data, off - 8, 10**8)  # C field of variant 4
    bad = _copy(good, tmp_path / "badc.bgen", bytes(data))
    with pytest.raises(GenotypeFormatError) as ei:
        open_genotypes(bad)
    _one_line(ei.value, "badc.bgen", "variant header 4")


def test_sample_count_inside_block(good, tmp_path):
    # an uncompressed file whose 3rd block announces another N
    geno = fx.random_genotypes(N, 5, seed=3)
    path = write_bgen(tmp_path / "unc.bgen", [f"s{i}" for i in range(N)], fx.variant_table(5),
                      geno, compression=None)
    blocks, ids = _block_positions(path)
    data = bytearray(path.read_bytes())
    struct.pack_into("<I", data, int(blocks[2][0]), N + 1)
    path.write_bytes(bytes(data))
    with open_genotypes(path) as g, pytest.raises(GenotypeFormatError) as ei:
        g.read_dosages()
    _one_line(ei.value, ids[2], "sample count")


def test_multiallelic_excluded_and_logged(tmp_path, caplog):
    n = 6
    geno = fx.random_genotypes(n, 4, seed=3)
    var = fx.variant_table(4)
    path = write_bgen(tmp_path / "multi.bgen", [f"s{i}" for i in range(n)], var, geno,
                      compression=None)
    data = bytearray(path.read_bytes()) + fx.multiallelic_block(n) + fx.multiallelic_block(n)
    struct.pack_into("<I", data, 8, 6)
    path.write_bytes(bytes(data))
    with caplog.at_level(logging.INFO, logger="gwaskit"):
        with open_genotypes(path) as g:
            assert g.n_variants == 4
            _, d = g.read_dosages()
    np.testing.assert_allclose(d, geno, atol=1 / 255)
    lines = [r.getMessage() for r in caplog.records if "multi-allelic" in r.getMessage()]
    assert len(lines) == 1 and "2" in lines[0]


def test_missing_file_and_unknown_kind(tmp_path):
    with pytest.raises(InputError):
        open_genotypes(tmp_path / "nope.bgen")
    with pytest.raises(InputError):
        open_genotypes(str(tmp_path / "none*.bgen"))
    (tmp_path / "x.txt").write_text("hi")
    with pytest.raises(InputError):
        open_genotypes(tmp_path / "x.txt")
    os.chmod(tmp_path, 0o755)


def test_corrupt_zlib_block_names_the_variant(good, tmp_path):
    """A zlib block whose stream is corrupt: one line naming the file and the variant."""
    blocks, ids = _block_positions(good)
    data = bytearray(good.read_bytes())
    off, ln, _ = blocks[3]
    data[off + 2 : off + ln] = bytes((x ^ 0x33) for x in data[off + 2 : off + ln])
    bad = _copy(good, tmp_path / "corrupt.bgen", bytes(data))
    with open_genotypes(bad) as g, pytest.raises(GenotypeFormatError) as ei:
        g.read_dosages()
    _one_line(ei.value, ids[3], "corrupt.bgen", "zlib")


def test_fuzzed_files_never_crash(tmp_path):
    """Random byte flips/truncations: the reader either works or raises InputError."""
    rng = np.random.default_rng(0)
    srcs = [
        write_bgen(tmp_path / "a.bgen", [f"s{i}" for i in range(20)], fx.variant_table(6),
                   fx.random_genotypes(20, 6, seed=1), bits=8, sample_file=False),
        write_bgen(tmp_path / "b.bgen", [f"s{i}" for i in range(20)], fx.variant_table(6),
                   fx.random_genotypes(20, 6, seed=1), bits=3, compression=None,
                   sample_file=False),
    ]
    originals = [p.read_bytes() for p in srcs]
    q = tmp_path / "f.bgen"
    for it in range(300):
        data = bytearray(originals[it % 2])
        for _ in range(rng.integers(1, 4)):
            data[rng.integers(0, len(data))] = rng.integers(0, 256)
        if rng.random() < 0.2:
            data = data[: rng.integers(0, len(data))]
        q.write_bytes(bytes(data))
        try:
            with open_genotypes(q, n_threads=1) as g:
                g.read_dosages()
        except InputError as e:
            assert "\n" not in str(e)


def _overfull(path: Path, dst: Path, variant: int, sample: int, bits: int, n: int,
              missing: int | None = None) -> Path:
    """A copy of the uncompressed ``path`` where ``sample``'s two stored unphased values of
    ``variant`` are both the largest integer (sum > 2**bits - 1: the implied third would be
    negative); optionally ``missing`` gets the same values but its missing flag set."""
    blocks, _ = _block_positions(path)
    data = bytearray(path.read_bytes())
    off = int(blocks[variant][0])
    assert data[off + 9 + n] == bits  # header: N, K, pmin, pmax, N ploidy bytes, phased, B
    for i in [sample] + ([missing] if missing is not None else []):
        bitpos = 2 * i * bits
        for t in range(2 * bits):  # set the 2 * bits bits of sample i
            b = off + 10 + n + (bitpos + t) // 8
            data[b] |= 1 << ((bitpos + t) % 8)
    if missing is not None:
        data[off + 8 + missing] = 0x82
    return _copy(path, dst, bytes(data))


@pytest.mark.parametrize("bits", [8, 16, 32, 5])
def test_probabilities_summing_above_one(tmp_path, bits):
    n, m = 30, 8
    geno = fx.random_genotypes(n, m, seed=3)
    path = write_bgen(tmp_path / "ok.bgen", [f"s{i}" for i in range(n)], fx.variant_table(m),
                      geno, bits=bits, compression=None)
    bad = _overfull(path, tmp_path / "over.bgen", variant=5, sample=11, bits=bits, n=n)
    with open_genotypes(bad) as g:
        _, d = g.read_dosages(variants=np.arange(5))  # the variants before it are fine
        np.testing.assert_allclose(d, geno[:, :5], atol=1e-6)
        for sel in (None, np.array([11, 0]), np.array([0, 11, 1])):
            with pytest.raises(GenotypeFormatError) as ei:
                g.read_dosages(samples=sel)
            _one_line(ei.value, "over.bgen", "rs1_5", "sum to more than 1")
    # the same values on a missing sample are not probabilities: no error, NaN
    ok = _overfull(path, tmp_path / "miss.bgen", variant=5, sample=11, bits=bits, n=n,
                   missing=4)
    data = bytearray(ok.read_bytes())
    blocks, _ = _block_positions(path)
    off = int(blocks[5][0])
    # undo sample 11 (its bytes from the good file; neighbours there are unchanged)
    good_bytes = path.read_bytes()
    lo = off + 10 + n + (2 * 11 * bits) // 8
    hi = off + 10 + n + (2 * 12 * bits + 7) // 8
    data[lo:hi] = good_bytes[lo:hi]
    ok.write_bytes(bytes(data))
    with open_genotypes(ok) as g:
        _, d = g.read_dosages(dtype=np.float64)
    assert np.isnan(d[4, 5])
    keep = np.ones(n, bool)
    keep[4] = False
    np.testing.assert_allclose(d[keep], geno[keep], atol=1e-6)


def test_probabilities_summing_above_one_plink2_refuses(tmp_path, plink2):
    n, m = 20, 4
    geno = fx.random_genotypes(n, m, seed=4)
    path = write_bgen(tmp_path / "ok.bgen", [f"s{i}" for i in range(n)], fx.variant_table(m),
                      geno, bits=8, compression=None)
    bad = _overfull(path, tmp_path / "over.bgen", variant=2, sample=3, bits=8, n=n)
    r = subprocess.run([plink2, "--bgen", str(bad), "ref-last", "--sample",
                        str(path.with_suffix(".sample")), "--export", "A", "--threads", "1",
                        "--out", str(tmp_path / "x")], capture_output=True, text=True)
    assert r.returncode != 0, r.stdout
    with open_genotypes(bad) as g, pytest.raises(GenotypeFormatError):
        g.read_dosages()

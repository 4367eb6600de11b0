"""The C BGEN kernels (``gwaskit/io/_bgen_native.c``) against their numba twins.

Dosages must be bit-identical (float32 and float64, all samples and sample subsets), the header
walk must give identical arrays, and corrupt blocks identical error codes. Reading a BGEN file
with the C kernels must not import numba; with ``GWASKIT_NATIVE=0`` the numba kernels are used.

Skipped when the C library cannot be built or loaded, unless ``GWASKIT_REQUIRE_NATIVE=1``
(then such a test fails).
"""
from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import textwrap
import zlib
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
import _geno_fixtures as fx  # noqa: E402

from gwaskit.io import bgen  # noqa: E402
from gwaskit.io.bgen import BgenFile  # noqa: E402
from gwaskit.io.bgen_writer import BgenWriter, write_bgen  # noqa: E402

REQUIRE_NATIVE = os.environ.get("GWASKIT_REQUIRE_NATIVE", "") not in ("", "0")
DTYPES = (np.float32, np.float64)


@pytest.fixture(scope="module")
def kern():
    """(C kernels, numba kernels)."""
    ck = bgen._c_kernels()
    if ck is None:
        msg = "the C BGEN kernels cannot be built or loaded (no compiler? GWASKIT_NATIVE=0?)"
        if REQUIRE_NATIVE:
            pytest.fail(msg + " (GWASKIT_REQUIRE_NATIVE=1)")
        pytest.skip(msg)
    return ck, bgen._NumbaKernels()


def _same(a: np.ndarray, b: np.ndarray) -> None:
    assert a.dtype == b.dtype and a.shape == b.shape
    assert np.array_equal(a, b, equal_nan=True)  # exact, NaN in the same places


# --- hand-made probability blocks ------------------------------------------------------------
def _pack(values, bits: int) -> bytes:
    acc = 0
    for t, v in enumerate(values):
        acc |= int(v) << (t * bits)
    return acc.to_bytes((len(values) * bits + 7) // 8, "little")


def make_block(rng, ploidy, bits: int, phased: bool, missing=None, pmin=None, pmax=None) -> bytes:
    """A layout-2 biallelic probability block (uncompressed) with random stored values.

    ``ploidy`` per sample (values per sample = ploidy for K = 2, phased or not); ``missing``
    sets bit 7 of the ploidy byte; ``pmin``/``pmax`` default to the range of ``ploidy``."""
    ploidy = np.asarray(ploidy, dtype=np.int64)
    n = len(ploidy)
    missing = np.zeros(n, bool) if missing is None else np.asarray(missing, bool)
    pmin = int(ploidy.min()) if pmin is None else pmin
    pmax = int(ploidy.max()) if pmax is None else pmax
    vals = rng.integers(0, 2**bits, size=int(ploidy.sum()), dtype=np.uint64)
    pbytes = bytes(int(p) | (0x80 if m else 0) for p, m in zip(ploidy, missing))
    return (struct.pack("<IHBB", n, 2, pmin, pmax) + pbytes + bytes([int(phased), bits])
            + _pack(vals, bits))


def decode_all_ways(k, blk: bytes, n: int, sidx, dtype, n_expected=None):
    """Decode ``blk`` with kernels ``k`` through both entry points (pointer into a larger
    buffer, as for the memory map; and a decompressed bytes/bytearray object). Returns
    ``(errors, outputs)``; outputs have a sentinel margin so stray writes would show."""
    n_expected = n if n_expected is None else n_expected
    all_s = sidx is None
    s = np.zeros(0, np.int64) if all_s else np.asarray(sidx, dtype=np.int64)
    n_out = n_expected if all_s else len(s)
    errs, outs = [], []
    pad = b"\xab" * 5
    buf = np.frombuffer(pad + blk + pad, dtype=np.uint8)
    for how in ("at", "bytes", "bytearray"):
        flat = np.full(n_out + 6, 3.25, dtype=dtype)
        at, block = k.decoder(buf, n_expected, s, all_s, flat)
        if how == "at":
            errs.append(int(at(len(pad), len(blk), 3)))
        else:
            data = bytes(blk) if how == "bytes" else bytearray(blk)
            errs.append(int(block(data, 3)))
        outs.append(flat)
    return errs, outs


def check_block(kern, blk: bytes, n: int, expect_err: int = bgen.OK, n_expected=None):
    ck, nk = kern
    rng = np.random.default_rng(len(blk))
    subsets = [None]
    if n:
        subsets += [rng.permutation(n)[: max(1, n // 2)], rng.integers(0, n, size=n + 3)]
    for dtype in DTYPES:
        for sidx in subsets:
            ec, oc = decode_all_ways(ck, blk, n, sidx, dtype, n_expected)
            en, on = decode_all_ways(nk, blk, n, sidx, dtype, n_expected)
            assert ec == en == [expect_err] * 3, (ec, en, expect_err)
            for a, b in zip(oc, on):
                _same(a, b)
            if expect_err == bgen.OK:  # sentinels untouched, every output written
                for a in oc:
                    assert (a[:3] == 3.25).all() and (a[-3:] == 3.25).all()
                    assert not (a[3:-3] == 3.25).any()


@pytest.mark.parametrize("bits", range(1, 33))
@pytest.mark.parametrize("phased", [False, True])
def test_diploid_blocks_every_bit_width(kern, bits, phased):
    rng = np.random.default_rng(bits + 100 * phased)
    n = 37
    missing = rng.random(n) < 0.2
    check_block(kern, make_block(rng, [2] * n, bits, phased, missing), n)
    # extreme stored values (all zeros / all ones) and no missing samples
    blk = make_block(rng, [2] * n, bits, phased)
    hdr = 10 + n
    for fill in (0x00, 0xFF):
        check_block(kern, blk[:hdr] + bytes([fill]) * (len(blk) - hdr), n)


@pytest.mark.parametrize("bits", [1, 3, 7, 8, 13, 16, 24, 31, 32])
@pytest.mark.parametrize("phased", [False, True])
def test_mixed_ploidy_blocks(kern, bits, phased):
    rng = np.random.default_rng(bits)
    n = 41
    ploidy = rng.integers(0, 6, n)
    missing = rng.random(n) < 0.15
    check_block(kern, make_block(rng, ploidy, bits, phased, missing), n)
    check_block(kern, make_block(rng, [1] * n, bits, phased), n)  # haploid only
    # diploid samples but a declared range wider than 2..2: the general path
    check_block(kern, make_block(rng, [2] * n, bits, phased, missing, pmin=1, pmax=3), n)
    check_block(kern, make_block(rng, [63] * 3, bits, phased), 3)  # the largest ploidy


def test_empty_and_single_sample_blocks(kern):
    rng = np.random.default_rng(0)
    check_block(kern, make_block(rng, [2], 8, False), 1)
    check_block(kern, make_block(rng, [2], 8, False, [True]), 1)
    check_block(kern, struct.pack("<IHBB", 0, 2, 2, 2) + bytes([0, 8]), 0)
    check_block(kern, struct.pack("<IHBB", 0, 2, 1, 3) + bytes([0, 8]), 0)


@pytest.mark.parametrize("bits", [8, 16, 32, 5])
@pytest.mark.parametrize("ploidy", ["diploid", "mixed"])
def test_corrupt_blocks_give_the_same_error(kern, bits, ploidy):
    rng = np.random.default_rng(7)
    n = 20
    pl = [2] * n if ploidy == "diploid" else list(rng.integers(1, 4, n))
    good = make_block(rng, pl, bits, False)
    pmin, pmax = min(pl), max(pl)

    def patched(pos: int, fmt: str, value: int) -> bytes:
        b = bytearray(good)
        struct.pack_into(fmt, b, pos, value)
        return bytes(b)

    check_block(kern, good, n)
    # truncated: shorter than the fixed header, than the ploidy bytes, than the data
    for cut in (0, 1, 9, 10, 10 + n - 1, 10 + n + 1, len(good) - 1):
        check_block(kern, good[:cut], n, bgen.E_SHORT_BLOCK)
    check_block(kern, good, n, bgen.E_N_MISMATCH, n_expected=n + 1)  # wrong N
    check_block(kern, good, n, bgen.E_N_MISMATCH, n_expected=n - 1)
    for k in (0, 1, 3, 65535):  # K != 2
        check_block(kern, patched(4, "<H", k), n, bgen.E_NOT_BIALLELIC)
    for b in (0, 33, 64, 255):  # bits outside 1..32
        check_block(kern, patched(9 + n, "<B", b), n, bgen.E_BITS)
    for flag in (2, 3, 255):  # phased flag
        check_block(kern, patched(8 + n, "<B", flag), n, bgen.E_PHASED_FLAG)
    check_block(kern, patched(7, "<B", 64), n, bgen.E_PLOIDY)  # pmax > 63
    check_block(kern, patched(6, "<B", pmax + 1), n, bgen.E_PLOIDY)  # pmin > pmax
    if ploidy == "mixed":  # a sample's ploidy outside [pmin, pmax]
        check_block(kern, patched(8 + 3, "<B", pmax + 1), n, bgen.E_PLOIDY)
        check_block(kern, patched(8 + 5, "<B", 0x80 | (pmax + 1)), n, bgen.E_PLOIDY)
        if pmin > 0:
            check_block(kern, patched(8 + 4, "<B", pmin - 1), n, bgen.E_PLOIDY)


# --- whole files -----------------------------------------------------------------------------
def _variant_record(i: int, blk: bytes, compressed: bool, k: int = 2) -> bytes:
    vid, chrom = f"rs{i}", "X"
    rec = struct.pack("<H", len(vid)) + vid.encode() + struct.pack("<H", len(vid)) + vid.encode()
    rec += struct.pack("<H", len(chrom)) + chrom.encode() + struct.pack("<IH", 1000 + i, k)
    for a in "ACGT"[:k]:
        rec += struct.pack("<I", 1) + a.encode()
    if compressed:
        z = zlib.compress(blk)
        return rec + struct.pack("<II", len(z) + 4, len(blk)) + z
    return rec + struct.pack("<I", len(blk)) + blk


def handmade_file(path: Path, compressed: bool, n: int = 30) -> Path:
    """A BGEN file whose variants are hand-made blocks: mixed ploidy, haploid, phased and not,
    odd bit widths, missing samples, and one multi-allelic variant (left out by the reader)."""
    rng = np.random.default_rng(int(compressed))
    template = write_bgen(path, [f"s{i}" for i in range(n)], fx.variant_table(1),
                          fx.random_genotypes(n, 1, seed=0),
                          compression="zlib" if compressed else None, sample_file=False)
    with BgenFile(template) as b:
        first = b.first_variant
    head = bytearray(template.read_bytes()[:first])
    recs = []
    for i, (bits, phased) in enumerate([(8, False), (3, True), (13, False), (16, True),
                                        (32, False), (1, False), (7, True), (24, False)]):
        pl = rng.integers(0, 4, n) if i % 2 == 0 else np.full(n, 1 + i % 3)
        recs.append(_variant_record(i, make_block(rng, pl, bits, phased, rng.random(n) < 0.1),
                                    compressed))
    multi = struct.pack("<IHBB", n, 3, 2, 2) + bytes([2] * n) + bytes([0, 8]) + bytes(5 * n)
    recs.insert(3, _variant_record(99, multi, compressed, k=3))
    struct.pack_into("<I", head, 8, len(recs))  # M in the header
    path.write_bytes(bytes(head) + b"".join(recs))
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("bgen_native")
    n, m = 53, 21
    rng = np.random.default_rng(3)
    samples = [f"s{i}" for i in range(n)]
    var = fx.variant_table(m)
    hard = fx.random_genotypes(n, m, seed=4, missing_rate=0.05)
    dos = np.clip(hard + rng.normal(0, 0.2, (n, m)), 0, 2)
    out = {}
    for bits in (1, 3, 7, 8, 13, 16, 24, 32):
        out[f"zlib-{bits}"] = write_bgen(d / f"b{bits}.bgen", samples, var, dos, bits=bits)
    out["hard-8"] = write_bgen(d / "hard.bgen", samples, var, hard, bits=8)
    out["none-8"] = write_bgen(d / "none8.bgen", samples, var, dos, bits=8, compression=None)
    out["none-5"] = write_bgen(d / "none5.bgen", samples, var, dos, bits=5, compression=None)
    out["zstd-16"] = write_bgen(d / "zstd.bgen", samples, var, dos, bits=16, compression="zstd",
                                layout_version="1.3")
    haps = (rng.random((n, m, 2)) < 0.4).astype(float)
    haps[rng.random((n, m)) < 0.05] = np.nan
    for bits in (8, 11):
        with BgenWriter(d / f"ph{bits}.bgen", samples, phased=True, bits=bits) as w:
            w.write(var, haplotypes=haps)
        out[f"phased-{bits}"] = d / f"ph{bits}.bgen"
    out["handmade-zlib"] = handmade_file(d / "hm_z.bgen", True)
    out["handmade-none"] = handmade_file(d / "hm_n.bgen", False)
    return out


def _read_with(monkeypatch, k, path: Path, threads: int = 1):
    """Index and dosages (float32/float64; all samples and a shuffled subset) with kernels k."""
    from concurrent.futures import ThreadPoolExecutor

    monkeypatch.setattr(bgen, "_KERNELS", k)
    res = {}
    with BgenFile(path) as b, ThreadPoolExecutor(threads) as pool:
        res["blocks"] = b._blocks.copy()
        res["variants"] = b.variants.copy()
        nv, ns = b.n_variants, b.n_samples
        sub = np.random.default_rng(1).permutation(ns)[: ns // 2 + 1]
        for dtype in DTYPES:
            for name, sidx in (("all", None), ("sub", sub)):
                o = np.full((ns if sidx is None else len(sidx), nv + 1), 9.0, dtype, order="F")
                b.read_into(o, 1, np.arange(nv)[::-1].copy(), sidx, pool, threads)
                assert (o[:, 0] == 9.0).all()
                res[f"{name}-{np.dtype(dtype).name}"] = o
    return res


def _compare(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    np.testing.assert_array_equal(a["blocks"], b["blocks"])
    assert a["variants"].equals(b["variants"])
    for key in a:
        if key not in ("blocks", "variants"):
            _same(a[key], b[key])


KEYS = ["zlib-1", "zlib-3", "zlib-7", "zlib-8", "zlib-13", "zlib-16", "zlib-24", "zlib-32",
        "hard-8", "none-8", "none-5", "zstd-16", "phased-8", "phased-11", "handmade-zlib",
        "handmade-none"]


@pytest.mark.parametrize("key", KEYS)
def test_files_read_identically(kern, files, monkeypatch, key):
    ck, nk = kern
    c = _read_with(monkeypatch, ck, files[key], threads=3)
    _compare(c, _read_with(monkeypatch, nk, files[key]))
    assert np.isnan(c["all-float64"]).any()


def test_plink2_files_read_identically(kern, monkeypatch, tmp_path, plink2):
    """plink2's exports, including male chrX (ploidy 1 and 2 in one block)."""
    import bed_reader

    n, m = 30, 12
    rng = np.random.default_rng(8)
    g = rng.integers(0, 3, (n, m)).astype(np.int8)
    sex = np.array([1, 2] * (n // 2))
    g[sex == 1] = np.where(g[sex == 1] == 1, 2, g[sex == 1])
    g[0, 0] = g[3, 5] = -127
    bed_reader.to_bed(tmp_path / "x.bed", g, count_A1=True, properties={
        "iid": [f"s{i}" for i in range(n)], "sex": sex, "chromosome": ["X"] * 6 + ["2"] * 6,
        "bp_position": np.arange(1, m + 1) * 10_000_000, "allele_1": ["A"] * m,
        "allele_2": ["G"] * m})
    ck, nk = kern
    for ver, bits in (("1.2", 8), ("1.3", 16)):
        out = tmp_path / f"xb{bits}"
        fx.run([plink2, "--bfile", tmp_path / "x", "--export", f"bgen-{ver}", f"bits={bits}",
                "--threads", "1", "--out", out])
        bg = out.with_suffix(".bgen")
        c = _read_with_sample(monkeypatch, ck, bg)
        _compare(c, _read_with_sample(monkeypatch, nk, bg))
        assert np.isnan(c["float64"]).any()
        # the chrX blocks hold haploid and diploid samples (the general decoding path)
        with BgenFile(bg, _sample_table(out.with_suffix(".sample"))) as b:
            off, ln, ulen = (int(x) for x in b._blocks[0])
            raw = b._buf[off : off + ln]
            blk = bgen._INFLATE(raw, ulen) if b.compression == 1 else bgen._unzstd(raw, ulen)
        assert (blk[6], blk[7]) == (1, 2)


def _sample_table(path: Path):
    from gwaskit.io.samples import read_sample_file

    return read_sample_file(path)


def _read_with_sample(monkeypatch, k, path: Path):
    monkeypatch.setattr(bgen, "_KERNELS", k)
    with BgenFile(path, _sample_table(path.with_suffix(".sample"))) as b:
        res = {"blocks": b._blocks.copy(), "variants": b.variants.copy()}
        for dtype in DTYPES:
            o = np.empty((b.n_samples, b.n_variants), dtype, order="F")
            b.read_into(o, 0, np.arange(b.n_variants), None)
            res[np.dtype(dtype).name] = o
    return res


# --- the header walk -------------------------------------------------------------------------
def _walk_both(kern, buf: np.ndarray, start: int, m_max: int, compressed: bool):
    ck, nk = kern
    rc = ck.walk(buf, start, m_max, compressed)
    rn = nk.walk(buf, start, m_max, compressed)
    assert rc[0] == rn[0] and rc[1] == rn[1] and rc[4] == rn[4], (rc[::4], rn[::4])
    assert type(rc[0]) is int and type(rc[4]) is int
    np.testing.assert_array_equal(rc[2], rn[2])
    np.testing.assert_array_equal(rc[3], rn[3])
    assert rc[2].shape == (m_max, 12) and rc[3].shape == (m_max, 3)
    return rc


@pytest.mark.parametrize("key", ["zlib-8", "none-5", "zstd-16", "phased-11", "handmade-zlib",
                                 "handmade-none"])
def test_walk_identical_including_truncations(kern, files, key):
    with BgenFile(files[key]) as b:
        first, m, comp = b.first_variant, b.n_header_variants, b.compression != 0
        buf = np.array(b._buf)  # a copy: the file is closed below
    n, err, *_ = _walk_both(kern, buf, first, m, comp)
    assert (n, err) == (m, bgen.OK)
    for m_max in (1, 2, m - 1, m + 1, m + 5):  # past the end: E_TRUNCATED
        n, err, *_ = _walk_both(kern, buf, first, m_max, comp)
        assert err == (bgen.E_TRUNCATED if m_max > m else bgen.OK)
    _walk_both(kern, buf, first + 7, m, comp)  # misaligned: garbage lengths, same result
    _walk_both(kern, buf, len(buf) + 3, 2, comp)  # start past the end
    rng = np.random.default_rng(0)
    for cut in sorted(set(rng.integers(first, len(buf), 40).tolist())) + [first, first + 1]:
        n, err, *_ = _walk_both(kern, buf[:cut].copy(), first, m, comp)
        assert err == bgen.E_TRUNCATED and n < m


def test_walk_bad_length_field(kern, files):
    with BgenFile(files["zlib-8"]) as b:
        first, m, blocks = b.first_variant, b.n_header_variants, b._blocks.copy()
        buf = np.array(b._buf)
    for c in (0, 3):  # a compressed block needs C >= 4 (room for D)
        bad = buf.copy()
        o = int(blocks[2, 0]) - 8  # C of variant 2 (then D, then the data)
        bad[o : o + 4] = np.frombuffer(struct.pack("<I", c), np.uint8)
        n, err, *_ = _walk_both(kern, bad, first, m, True)
        assert (n, err) == (2, bgen.E_BAD_LENGTH)
    n, err, *_ = _walk_both(kern, bad, first, m, False)  # uncompressed: any C is fine
    assert err in (bgen.OK, bgen.E_TRUNCATED)


# --- which kernels a fresh process uses -------------------------------------------------------
_CHILD = textwrap.dedent("""
    import json, sys
    from concurrent.futures import ThreadPoolExecutor
    import numpy as np
    import gwaskit.io.bgen as bgen
    from gwaskit.io.bgen import BgenFile
    with BgenFile(sys.argv[1]) as b, ThreadPoolExecutor(2) as pool:
        o = np.empty((b.n_samples, b.n_variants), np.float64, order="F")
        b.read_into(o, 0, np.arange(b.n_variants), None, pool, 2)
    np.save(sys.argv[2], o)
    print(json.dumps({"kernels": bgen._kernels().name, "numba": "numba" in sys.modules}))
""")


def _child(path: Path, out: Path, **env) -> dict:
    r = subprocess.run([sys.executable, "-c", _CHILD, str(path), str(out)], capture_output=True,
                       text=True, env={**os.environ, **env}, timeout=300)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("key", ["zlib-8", "handmade-none"])
def test_reading_does_not_import_numba(kern, files, monkeypatch, tmp_path, key):
    info = _child(files[key], tmp_path / "c.npy", GWASKIT_NATIVE="1")
    assert info == {"kernels": "c", "numba": False}
    ref = _read_with(monkeypatch, kern[1], files[key])["all-float64"][:, 1:][:, ::-1]
    _same(np.load(tmp_path / "c.npy"), ref)


def test_numba_fallback_when_native_disabled(files, tmp_path):
    """Runs without the C library too: the numba kernels read the file."""
    info = _child(files["handmade-zlib"], tmp_path / "n.npy", GWASKIT_NATIVE="0")
    assert info == {"kernels": "numba", "numba": True}
    # reference: this process's kernels (C where available: a cross-check)
    with BgenFile(files["handmade-zlib"]) as b:
        ref = np.empty((b.n_samples, b.n_variants), np.float64, order="F")
        b.read_into(ref, 0, np.arange(b.n_variants), None)
    _same(np.load(tmp_path / "n.npy"), ref)


@pytest.mark.parametrize("key", ["zlib-8", "zlib-13", "none-8", "phased-8", "handmade-zlib"])
def test_batch_range_path_equals_per_variant_path(kern, files, monkeypatch, key):
    """The one-call inflate + decode of a range (libdeflate through function pointers) gives
    the bits of the per-variant path; it is available wherever the deflate package is."""
    ck, _ = kern
    assert ck._zlib is not None, "libdeflate symbols not found: the batch path is never used"
    batch = _read_with(monkeypatch, ck, files[key], threads=2)
    monkeypatch.setattr(bgen._CKernels, "read_range", lambda self, *a, **k: None)
    _compare(batch, _read_with(monkeypatch, ck, files[key], threads=2))


def test_batch_range_path_reports_the_failing_variant(kern, tmp_path, monkeypatch):
    """A corrupt block mid-range: the batch call stops there and the per-variant path names
    the same variant (and only that one) as it always did."""
    from gwaskit.errors import GenotypeFormatError
    from gwaskit.io.bgen_writer import write_bgen
    import pandas as pd

    ck, _ = kern
    rng = np.random.default_rng(4)
    n, m = 50, 12
    v = pd.DataFrame({"chromosome": "1", "base_pair_location": np.arange(1, m + 1),
                      "variant_id": [f"v{j}" for j in range(m)], "effect_allele": "A",
                      "other_allele": "G"})
    path = tmp_path / "c.bgen"
    write_bgen(path, [f"s{i}" for i in range(n)], v, dosages=rng.uniform(0, 2, (n, m)), threads=1)
    with BgenFile(path) as b:
        off, ln, _ = b._blocks[7]
        clean = np.zeros((n, m), np.float32, order="F")
        b.read_into(clean, 0, np.arange(m), None)
    raw = bytearray(path.read_bytes())
    raw[off + ln // 2: off + ln // 2 + 8] = b"\xff" * 8  # damage variant 7's deflate stream
    path.write_bytes(bytes(raw))
    monkeypatch.setattr(bgen, "_KERNELS", ck)
    with BgenFile(path) as b:
        out = np.zeros((n, m), np.float32, order="F")
        with pytest.raises(GenotypeFormatError, match="'v7'"):
            b.read_into(out, 0, np.arange(m), None)
        np.testing.assert_array_equal(out[:, :7], clean[:, :7])  # decoded before the failure

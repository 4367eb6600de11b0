"""Oracle tests: gwaskit's BGEN fast path against bgen-reader and ``plink2 --export A``.

Files: plink2-written BGEN (v1.2 and v1.3, 8 and 16 bits, unphased from a .bed with missing
calls, phased from an msprime VCF, fractional dosages re-exported by plink2) and gwaskit's own
writer's files (8/16/32 bits, zlib/zstd/uncompressed, phased).
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
import _geno_fixtures as fx  # noqa: E402

from gwaskit.io.bgen_writer import BgenWriter, write_bgen  # noqa: E402
from gwaskit.io.genotypes import open_genotypes  # noqa: E402

N, M = 150, 240


@pytest.fixture(scope="module")
def data(tmp_path_factory, plink2):
    d = tmp_path_factory.mktemp("bgen_oracle")
    geno = fx.random_genotypes(N, M, seed=11, missing_rate=0.03)
    var = fx.variant_table(M, chrom="1")
    bed = fx.write_bed(d / "hc", geno, var)
    files = {}
    for ver, bits in (("1.2", 8), ("1.2", 16), ("1.3", 8), ("1.3", 16)):
        out = d / f"hc_v{ver.replace('.', '')}_b{bits}"
        fx.run([plink2, "--bfile", bed.with_suffix(""), "--export", f"bgen-{ver}", f"bits={bits}",
                "--threads", "1", "--out", out])
        files[f"hardcall-{ver}-{bits}"] = out.with_suffix(".bgen")
    # fractional dosages: written by gwaskit (16 bit), re-exported by plink2 (v1.3 16-bit)
    rng = np.random.default_rng(5)
    frac = np.clip(geno + rng.normal(0, 0.15, geno.shape), 0, 2)
    write_bgen(d / "frac_gw.bgen", [f"s{i}" for i in range(N)], var, frac, bits=16)
    out = d / "frac_p2"
    fx.run([plink2, "--bgen", d / "frac_gw.bgen", "ref-last", "--sample", d / "frac_gw.sample",
            "--export", "bgen-1.3", "bits=16", "--threads", "1", "--out", out])
    files["dosage-1.3-16"] = out.with_suffix(".bgen")
    # phased, from a VCF
    vcf = fx.phased_vcf(d / "ph.vcf", 60, seed=21)
    for ver, bits in (("1.2", 8), ("1.3", 16)):
        out = d / f"ph_v{ver.replace('.', '')}_b{bits}"
        fx.run([plink2, "--vcf", vcf, "--max-alleles", "2", "--set-all-var-ids", "rs@_#_$r",
                "--export", f"bgen-{ver}", f"bits={bits}", "--threads", "1", "--out", out])
        files[f"phased-{ver}-{bits}"] = out.with_suffix(".bgen")
    return {"dir": d, "geno": geno, "var": var, "frac": frac, "vcf": vcf, "files": files}


PLINK2_FILES = ["hardcall-1.2-8", "hardcall-1.2-16", "hardcall-1.3-8", "hardcall-1.3-16",
                "dosage-1.3-16", "phased-1.2-8", "phased-1.3-16"]


@pytest.mark.parametrize("key", PLINK2_FILES)
def test_plink2_files_match_bgen_reader_and_plink2(data, plink2, key):
    path = data["files"][key]
    sample = path.with_suffix(".sample")
    with open_genotypes(path, sample) as g:
        table, d64 = g.read_dosages(dtype=np.float64)
        _, d32 = g.read_dosages(dtype=np.float32)
        assert g.samples[0] in ("s0", "i0")
        assert list(table.columns[:5]) == ["chromosome", "base_pair_location", "variant_id",
                                          "effect_allele", "other_allele"]
    assert d64.flags.f_contiguous and d32.dtype == np.float32
    ref = fx.cbgen_dosage(path, data["dir"] / "cache")
    assert ref.shape == d64.shape
    np.testing.assert_array_equal(np.isnan(d64), np.isnan(ref))
    np.testing.assert_allclose(d64, ref, atol=1e-6, equal_nan=True)
    np.testing.assert_allclose(d32, ref, atol=1e-6, equal_nan=True)
    if not key.startswith("phased"):
        # bgen-reader misreads plink2's phased exports (see fx.cbgen_dosage)
        ref_br = fx.bgen_reader_dosage(path, data["dir"] / "cache")
        np.testing.assert_allclose(d64, ref_br, atol=1e-6, equal_nan=True)
    raw = fx.plink2_raw(plink2, path, sample, data["dir"] / f"raw_{key}", table["effect_allele"])
    np.testing.assert_array_equal(np.isnan(raw), np.isnan(d64))
    # plink2 keeps dosages in units of 2**-14 and prints ~6 digits; hard calls are exact
    tol = 0.0 if key.startswith(("hardcall", "phased")) else 1e-4
    np.testing.assert_allclose(d64, raw, atol=tol + 1e-9, equal_nan=True)


def test_hardcalls_equal_the_genotypes_and_alt_is_effect(data):
    geno, var = data["geno"], data["var"]
    for key in ("hardcall-1.2-8", "hardcall-1.3-16"):
        path = data["files"][key]
        with open_genotypes(path, path.with_suffix(".sample")) as g:
            table, d = g.read_dosages()
        # .bim column 5 (our effect allele) is plink2's ALT, stored first
        assert list(table["effect_allele"]) == list(var["effect_allele"])
        assert list(table["variant_id"]) == list(var["variant_id"])
        np.testing.assert_array_equal(table["base_pair_location"], var["base_pair_location"])
        assert table["base_pair_location"].dtype == np.int64
        np.testing.assert_array_equal(d, geno.astype(np.float32))


def test_fractional_dosages_roundtrip(data):
    with open_genotypes(data["files"]["dosage-1.3-16"]) as g:
        _, d = g.read_dosages(dtype=np.float64)
    assert np.nanmax(np.abs(d - data["frac"])) < 2e-4


def test_phased_equals_vcf_alt_count(data):
    ids, alt = fx.vcf_alt_counts(data["vcf"])
    for key in ("phased-1.2-8", "phased-1.3-16"):
        with open_genotypes(data["files"][key]) as g:
            table, d = g.read_dosages()
        assert len(table) == alt.shape[1]
        assert list(table["effect_allele"]) == [i[3] for i in ids]
        assert list(table["chromosome"].unique()) == ["3"]
        np.testing.assert_array_equal(d, alt)


@pytest.fixture(scope="module")
def own_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("bgen_own")
    rng = np.random.default_rng(3)
    n, m = 90, 70
    dos = np.clip(fx.random_genotypes(n, m, seed=4) + rng.normal(0, 0.2, (n, m)), 0, 2)
    var = fx.variant_table(m, chrom="2")
    samples = [f"id{i}" for i in range(n)]
    files = {}
    for bits in (8, 16, 32, 5):
        files[f"zlib-{bits}"] = write_bgen(d / f"own_b{bits}.bgen", samples, var, dos, bits=bits)
    files["zstd-8"] = write_bgen(d / "own_zstd.bgen", samples, var, dos, bits=8,
                                 compression="zstd", layout_version="1.3")
    files["none-16"] = write_bgen(d / "own_none.bgen", samples, var, dos, bits=16,
                                  compression=None)
    haps = (rng.random((n, m, 2)) < 0.3).astype(float)
    haps[2, 3, :] = np.nan
    with BgenWriter(d / "own_phased.bgen", samples, phased=True, bits=8) as w:
        w.write(var.iloc[:30], haplotypes=haps[:, :30])
        w.write(var.iloc[30:], haplotypes=haps[:, 30:])
    files["phased-8"] = d / "own_phased.bgen"
    probs = rng.dirichlet([1, 1, 1], size=(m, n))
    files["probs-16"] = write_bgen(d / "own_probs.bgen", samples, var, bits=16,
                                   probabilities=probs)
    return {"dir": d, "dos": dos, "haps": haps, "probs": probs, "var": var, "files": files}


@pytest.mark.parametrize("key", ["zlib-8", "zlib-16", "zlib-32", "zlib-5", "zstd-8", "none-16",
                                 "phased-8", "probs-16"])
def test_own_writer_files_match_bgen_reader(own_files, key):
    path = own_files["files"][key]
    with open_genotypes(path) as g:
        table, d = g.read_dosages(dtype=np.float64)
        assert list(g.samples[:2]) == ["id0", "id1"]
        assert g.sample_table["FID"].isna().all()  # embedded IDs: no FID
    if key != "none-16":  # bgen-reader/cbgen cannot read uncompressed layout-2 files
        ref = fx.bgen_reader_dosage(path, own_files["dir"] / "cache")
        np.testing.assert_allclose(d, ref, atol=1e-6, equal_nan=True)
    bits = {"zlib-8": 8, "zlib-16": 16, "zlib-32": 32, "zlib-5": 5, "zstd-8": 8,
            "none-16": 16}.get(key)
    if bits is not None:
        np.testing.assert_allclose(d, own_files["dos"], atol=2.0 / (2**bits - 1) + 1e-9)
    elif key == "phased-8":
        exp = np.nansum(own_files["haps"], axis=2)
        exp[2, 3] = np.nan
        np.testing.assert_array_equal(d, exp)
    else:
        p = own_files["probs"]
        np.testing.assert_allclose(d, (2 * p[..., 0] + p[..., 1]).T, atol=3 / 65535)


@pytest.mark.parametrize("key", ["zlib-8", "zlib-16", "phased-8", "none-16", "zstd-8"])
def test_own_writer_files_read_by_plink2(own_files, plink2, key):
    path = own_files["files"][key]
    sample = path.with_suffix(".sample")
    assert sample.read_text().splitlines()[:3] == ["ID_1 ID_2 missing", "0 0 0", "id0 id0 0"]
    with open_genotypes(path, sample) as g:
        table, d = g.read_dosages(dtype=np.float64)
        assert g.sample_table["FID"].iloc[0] == "id0"
    raw = fx.plink2_raw(plink2, path, sample, own_files["dir"] / f"raw_{key}",
                        table["effect_allele"])
    np.testing.assert_allclose(d, raw, atol=1e-4, equal_nan=True)


def test_haploid_male_chrx_from_plink2(tmp_path, plink2):
    """plink2 writes male chrX calls with ploidy 1: the dosage is the expected number of copies
    of allele 1 (0..1); plink2 itself reports such calls as 0/2."""
    import bed_reader

    n, m = 30, 8
    rng = np.random.default_rng(8)
    g = rng.integers(0, 3, (n, m)).astype(np.int8)
    sex = np.array([1, 2] * (n // 2))
    males = sex == 1
    g[males] = np.where(g[males] == 1, 2, g[males])
    g[0, 0] = -127
    bed_reader.to_bed(tmp_path / "x.bed", g, count_A1=True, properties={
        "iid": [f"s{i}" for i in range(n)], "sex": sex, "chromosome": ["X"] * m,
        "bp_position": np.arange(1, m + 1) * 10_000_000, "allele_1": ["A"] * m,
        "allele_2": ["G"] * m})
    fx.run([plink2, "--bfile", tmp_path / "x", "--export", "bgen-1.2", "bits=8",
            "--threads", "1", "--out", tmp_path / "xb"])
    bgen, sample = tmp_path / "xb.bgen", tmp_path / "xb.sample"
    with open_genotypes(bgen, sample) as r:
        table, d = r.read_dosages(dtype=np.float64)
        assert list(r.sample_table["sex"]) == list(sex)
    truth = np.where(g == -127, np.nan, g).astype(float)
    truth[males] /= 2
    np.testing.assert_array_equal(d, truth)
    np.testing.assert_allclose(d, fx.cbgen_dosage(bgen, tmp_path / "c"), atol=1e-6,
                               equal_nan=True)
    raw = fx.plink2_raw(plink2, bgen, sample, tmp_path / "xraw", table["effect_allele"])
    raw[males] /= 2
    np.testing.assert_allclose(d, raw, atol=1e-9, equal_nan=True)

"""VCF/BCF backend: DS/GP/GT dosages (ALT) against the values written and plink2 --vcf
--export A; bgzipped/indexed, unindexed and BCF files; region reads; bad input."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
import _format_fixtures as ff  # noqa: E402
import _geno_fixtures as fx  # noqa: E402

from gwaskit.errors import InputError  # noqa: E402
from gwaskit.io.genotypes import open_genotypes  # noqa: E402
from gwaskit.io.vcf import VcfFile  # noqa: E402

N, M = 40, 24


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    d = tmp_path_factory.mktemp("vcf")
    samples = [f"i{k}" for k in range(N)]
    var = fx.variant_table(M, chrom="4")
    var.loc[3, "variant_id"] = "."
    ds = ff.grid_dosages(N, M, seed=9)
    gt = fx.random_genotypes(N, M, seed=10, missing_rate=0.05)  # unrelated to ds on purpose
    files = {
        # plink2 2.00a3.5 cannot import multi-allelic records with dosages: one file each
        "f_ds": ff.write_vcf(d / "ds.vcf", samples, var, gt=gt, ds=ds),
        "f_dsm": ff.write_vcf(d / "dsm.vcf", samples, var, gt=gt, ds=ds, multi_after=7),
        "f_gp": ff.write_vcf(d / "gp.vcf", samples, var, gp=ds),
        "f_gt": ff.write_vcf(d / "gt.vcf", samples, var, gt=gt, multi_after=7),
        "f_all": ff.write_vcf(d / "all.vcf", samples, var, gt=gt, ds=ds, gp=gt),
    }
    # "auto": a sample without DS takes its GT (plink2's fallback)
    auto = np.where(np.isnan(ds), gt, ds)
    return {"dir": d, "var": var, "ds": ds, "gt": gt, "auto": auto, "samples": samples,
            **files}


def _plink2_vcf(plink2, vcf: Path, out: Path, *mods: str):
    fx.run([plink2, "--vcf", vcf, *mods, "--export", "A", "--threads", "1", "--out", out])
    _, vals, tol, ids, counted = ff.read_raw(Path(str(out) + ".raw"))
    keep = [k for k, i in enumerate(ids) if i != "rsmulti"]
    return vals[:, keep], tol[:, keep], [counted[k] for k in keep]


@pytest.mark.parametrize("field,mods", [("ds", ("dosage=DS",)), ("gp", ("dosage=GP-force",)),
                                        ("gt", ())])
def test_fields_match_plink2(data, plink2, field, mods):
    with open_genotypes(data["f_" + field]) as g:
        t, d = g.read_dosages(dtype=np.float64)
        assert list(g.samples) == data["samples"]
        assert g._backends[0].n_multiallelic == (1 if field == "gt" else 0)
    assert t["effect_allele"].tolist() == data["var"]["effect_allele"].tolist()  # ALT
    v = data["var"]
    assert t["variant_id"].iat[3] == f"4:{v['base_pair_location'].iat[3]}:" \
        f"{v['other_allele'].iat[3]}:{v['effect_allele'].iat[3]}"
    expect = {"gt": data["gt"], "gp": data["ds"], "ds": data["auto"]}[field]
    np.testing.assert_array_equal(d, expect)
    vals, tol, counted = _plink2_vcf(plink2, data["f_" + field], data["dir"] / f"p_{field}", *mods)
    assert counted == data["var"]["other_allele"].tolist()  # plink2 --export A counts REF
    ff.assert_matches_printed(2.0 - d, vals, tol)


@pytest.mark.parametrize("kind,index", [("vcf.gz", True), ("vcf.gz", False), ("bcf", True),
                                        ("bcf", False)])
def test_compressed_indexed_and_bcf(data, kind, index):
    path = ff.compress(data["f_dsm"], kind, index)
    with open_genotypes(path) as g:
        assert (g._backends[0]._index is not None) == index
        assert g._backends[0].n_multiallelic == 1
        _, d = g.read_dosages(dtype=np.float64)
        np.testing.assert_array_equal(d, data["auto"])
        # out of order / behind the cursor / scattered: region queries or restarted passes
        for cols in ([20, 2, 21], [5], [0, 23], [11, 12, 13]):
            rows = np.array([3, 1])
            _, x = g.read_dosages(samples=rows, variants=np.array(cols), dtype=np.float64)
            np.testing.assert_array_equal(x, data["auto"][np.ix_(rows, np.sort(cols))])
        parts = [p for _, p in g.iter_dosages(chunk_size=5)]
    np.testing.assert_array_equal(np.hstack(parts), data["auto"].astype(np.float32))


def test_region_reads_far_apart(tmp_path):
    """Several contigs and a jump larger than the streaming window: the index path."""
    from gwaskit.io import vcf as vcf_mod

    samples = [f"s{i}" for i in range(6)]
    var = fx.variant_table(30, chrom="1")
    var2 = fx.variant_table(30, chrom="2")
    var2["variant_id"] = [f"b{i}" for i in range(30)]
    import pandas as pd

    both = pd.concat([var, var2], ignore_index=True)
    gt = fx.random_genotypes(6, 60, seed=3)
    path = ff.compress(ff.write_vcf(tmp_path / "two.vcf", samples, both, gt=gt), "vcf.gz", True)
    old = vcf_mod._JUMP_RECORDS
    vcf_mod._JUMP_RECORDS = 3
    try:
        with open_genotypes(path) as g:
            _, d = g.read_dosages(variants=np.array([1, 25, 29, 30, 33, 59, 58]),
                                  dtype=np.float64)
    finally:
        vcf_mod._JUMP_RECORDS = old
    np.testing.assert_array_equal(d, gt[:, [1, 25, 29, 30, 33, 58, 59]])


def test_auto_order_and_forced_fields(data):
    # DS wins over GP and GT; GP over GT; forcing a field reads it
    with open_genotypes(data["f_all"]) as g:
        np.testing.assert_array_equal(g.read_dosages(dtype=np.float64)[1], data["auto"])
    with open_genotypes(data["f_all"], vcf_dosage="DS") as g:  # alone: missing stays NaN
        np.testing.assert_array_equal(g.read_dosages(dtype=np.float64)[1], data["ds"])
    with open_genotypes(data["f_all"], vcf_dosage="GT") as g:
        np.testing.assert_array_equal(g.read_dosages(dtype=np.float64)[1], data["gt"])
    with open_genotypes(data["f_all"], vcf_dosage="GP") as g:
        np.testing.assert_array_equal(g.read_dosages(dtype=np.float64)[1], data["gt"])
    with open_genotypes(data["f_gp"]) as g:
        np.testing.assert_array_equal(g.read_dosages(dtype=np.float64)[1], data["ds"])
    with open_genotypes(data["f_gt"], vcf_dosage="DS") as g:
        with pytest.raises(InputError) as ei:
            g.read_dosages()
    msg = str(ei.value)
    assert "gt.vcf" in msg and "rs4_0" in msg and "DS" in msg and "\n" not in msg
    with pytest.raises(InputError, match="vcf_dosage"):
        open_genotypes(data["f_gt"], vcf_dosage="dosage")
    sample = data["dir"] / "x.sample"
    sample.write_text("ID_1 ID_2 missing\n0 0 0\n" + "".join(f"{i} {i} 0\n"
                                                          for i in data["samples"]))
    with pytest.raises(InputError, match="sample file applies to BGEN"):
        open_genotypes(data["f_gt"], sample)


def test_haploid_calls_count_0_to_1(tmp_path):
    samples = [f"s{i}" for i in range(8)]
    var = fx.variant_table(5, chrom="X")
    gt = fx.random_genotypes(8, 5, seed=4, missing_rate=0.1)
    hap = [1, 4, 6]
    gt[hap] = np.where(np.isnan(gt[hap]), np.nan, np.minimum(gt[hap], 1.0))
    path = ff.write_vcf(tmp_path / "x.vcf", samples, var, gt=gt, haploid_rows=hap)
    assert VcfFile(path).n_variants == 5
    with open_genotypes(path) as g:
        _, d = g.read_dosages(dtype=np.float64)
        assert g.variants["chromosome"].iat[0] == "X"
    np.testing.assert_array_equal(d, gt)
    assert np.nanmax(d[hap]) <= 1.0


def test_not_a_vcf(tmp_path):
    bad = tmp_path / "bad.vcf"
    bad.write_text("this is not a vcf\n")
    with pytest.raises(InputError) as ei:  # GenotypeFormatError is an InputError
        open_genotypes(bad)
    assert "bad.vcf" in str(ei.value) and "\n" not in str(ei.value)

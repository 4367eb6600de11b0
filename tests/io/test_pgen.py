"""PLINK 2 backend: .pgen dosages (ALT) against the data plink2 imported and its --export A."""
from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).parent))
import _format_fixtures as ff  # noqa: E402
import _geno_fixtures as fx  # noqa: E402

from gwaskit.errors import InputError  # noqa: E402
from gwaskit.io.genotypes import open_genotypes  # noqa: E402
from gwaskit.io.pgen import read_psam, read_pvar  # noqa: E402

N, M = 50, 30


@pytest.fixture(scope="module")
def data(tmp_path_factory, plink2):
    d = tmp_path_factory.mktemp("pgen")
    samples = [f"s{i}" for i in range(N)]
    var = fx.variant_table(M, chrom="2")
    var.loc[4, "variant_id"] = "."  # -> chrom:pos:ref:alt
    ds = ff.grid_dosages(N, M, seed=5)
    gt = np.where(np.isnan(ds), np.nan, np.round(ds))
    vcf = ff.write_vcf(d / "dos.vcf", samples, var, gt=gt, ds=ds)
    fx.run([plink2, "--vcf", vcf, "dosage=DS", "--make-pgen", "--threads", "1",
            "--out", d / "dos"])
    hard = fx.random_genotypes(N, M, seed=6, missing_rate=0.05)
    vcf_h = ff.write_vcf(d / "hard.vcf", samples, var, gt=hard, multi_after=10)
    fx.run([plink2, "--vcf", vcf_h, "--make-pgen", "--threads", "1", "--out", d / "hard"])
    return {"dir": d, "var": var, "ds": ds, "hard": hard, "samples": samples}


def _plink2_export(plink2, pfile: Path, out: Path):
    fx.run([plink2, "--pfile", pfile, "--export", "A", "--threads", "1", "--out", out])
    return ff.read_raw(Path(str(out) + ".raw"))


def test_dosage_pgen_is_the_imported_dosage_and_plink2_export(data, plink2):
    with open_genotypes(data["dir"] / "dos.pgen") as g:
        t, d = g.read_dosages(dtype=np.float64)
        assert list(g.samples) == data["samples"]
        assert g.sample_table["FID"].isna().all()  # plink2 wrote '#IID SEX'
        assert g._backends[0].n_multiallelic == 0
    np.testing.assert_array_equal(d, data["ds"])
    v = data["var"]
    assert t["effect_allele"].tolist() == v["effect_allele"].tolist()  # ALT
    assert t["other_allele"].tolist() == v["other_allele"].tolist()  # REF
    assert t["variant_id"].iat[4] == f"2:{v['base_pair_location'].iat[4]}:" \
        f"{v['other_allele'].iat[4]}:{v['effect_allele'].iat[4]}"
    raw, vals, tol, ids, counted = _plink2_export(plink2, data["dir"] / "dos",
                                                  data["dir"] / "dos_raw")
    # plink2 (2.00a3.5) --export A counts REF: what the module docstring says
    assert counted == v["other_allele"].tolist()
    ff.assert_matches_printed(2.0 - d, vals, tol)


def test_hardcall_pgen_and_multiallelic_left_out(data, plink2):
    with open_genotypes(data["dir"] / "hard") as g:  # a prefix
        t, d = g.read_dosages(dtype=np.float64)
        assert g._backends[0].n_multiallelic == 1
        assert "rsmulti" not in set(t["variant_id"])
    assert len(t) == M
    np.testing.assert_array_equal(d, data["hard"])
    _, vals, tol, ids, counted = _plink2_export(plink2, data["dir"] / "hard",
                                                data["dir"] / "hard_raw")
    keep = [k for k, i in enumerate(ids) if i != "rsmulti"]
    vals, tol = vals[:, keep], tol[:, keep]
    assert [counted[k] for k in keep] == data["var"]["other_allele"].tolist()
    ff.assert_matches_printed(2.0 - d, vals, tol)


def test_pgen_from_bed_keeps_bed_alleles(tmp_path, plink2):
    geno = fx.random_genotypes(N, 12, seed=8, missing_rate=0.1)
    var = fx.variant_table(12, chrom="chr5")
    bed = fx.write_bed(tmp_path / "b", geno, var)
    fx.run([plink2, "--bfile", tmp_path / "b", "--make-pgen", "--threads", "1",
            "--out", tmp_path / "p"])
    with open_genotypes(bed) as a, open_genotypes(tmp_path / "p.pgen") as b:
        ta, da = a.read_dosages(dtype=np.float64)
        tb, db = b.read_dosages(dtype=np.float64)
        # plink2 leaves out an all-'0' FID column: FID unknown either way
        assert b.sample_table["FID"].isna().all()
        assert list(b.samples) == list(a.samples)
    pd.testing.assert_frame_equal(ta.reset_index(drop=True), tb.reset_index(drop=True))
    np.testing.assert_array_equal(da, db)
    # the same fileset with a headerless (.bim-like) .pvar and a .fam-like .psam
    alt = tmp_path / "alt"
    alt.mkdir()
    shutil.copy(tmp_path / "p.pgen", alt / "q.pgen")
    shutil.copy(tmp_path / "b.bim", alt / "q.pvar")
    shutil.copy(tmp_path / "b.fam", alt / "q.psam")
    with open_genotypes(alt / "q.pgen") as c:
        tc, dc = c.read_dosages(dtype=np.float64)
    pd.testing.assert_frame_equal(ta.reset_index(drop=True), tc.reset_index(drop=True))
    np.testing.assert_array_equal(da, dc)


def test_subsets_chunks_and_float32(data):
    rows = np.array([7, 0, 33, 2])
    cols = np.arange(3, 25)
    with open_genotypes(data["dir"] / "dos.pgen") as g:
        parts = list(g.iter_dosages(chunk_size=5, samples=rows, variants=cols))
        _, d32 = g.read_dosages()
    d = np.hstack([p[1] for p in parts])
    assert all(p[1].flags.f_contiguous and p[1].dtype == np.float32 for p in parts)
    np.testing.assert_array_equal(d, data["ds"][np.ix_(rows, cols)].astype(np.float32))
    np.testing.assert_array_equal(d32, data["ds"].astype(np.float32))


def test_pvar_psam_parsing(tmp_path):
    pvar = tmp_path / "x.pvar"
    pvar.write_text("##fileformat=PVARv1.0\n##contig=<ID=1>\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\n"
                    "1\t10\trsA\tA\tG\t.\n1\t20\t.\tC\tT,G\t.\n")
    t = read_pvar(pvar)
    assert t["POS"].tolist() == [10, 20] and t["ALT"].tolist() == ["G", "T,G"]
    pvar.write_text("#CHROM\tPOS\tID\tREF\tALT\n1\tten\trsA\tA\tG\n")
    with pytest.raises(InputError, match=r"x\.pvar: row 1 .*'rsA'.*POS"):
        read_pvar(pvar)
    pvar.write_text("#CHROM\tPOS\tREF\tALT\n1\t10\tA\tG\n")
    with pytest.raises(InputError, match="lacks column.*ID"):
        read_pvar(pvar)
    psam = tmp_path / "x.psam"
    psam.write_text("#FID\tIID\tPAT\tMAT\tSEX\nf1\ti1\t0\t0\t1\nf2\ti2\t0\t0\tNA\n")
    s = read_psam(psam)
    assert s["FID"].tolist() == ["f1", "f2"] and s["sex"].tolist()[0] == 1
    assert pd.isna(s["sex"].iat[1])
    psam.write_text("#IID\tSEX\ni1\t2\ni1\t1\n")
    with pytest.raises(InputError, match="duplicate sample ID"):
        read_psam(psam)


def test_missing_parts_and_unknown_suffix(tmp_path, data):
    shutil.copy(data["dir"] / "dos.pgen", tmp_path / "h.pgen")
    with pytest.raises(InputError, match=r"h\.pvar: file not found"):
        open_genotypes(tmp_path / "h.pgen")
    (tmp_path / "x.txt").write_text("hello")
    with pytest.raises(InputError) as ei:
        open_genotypes(tmp_path / "x.txt")
    msg = str(ei.value)
    for fmt in (".bgen", ".bed", ".pgen", ".vcf", ".vcf.gz", ".bcf"):
        assert fmt in msg, msg

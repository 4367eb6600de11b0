"""PLINK 1 backend: dosages count the .bim column-5 allele; oracle plink2 --export A."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).parent))
import _geno_fixtures as fx  # noqa: E402

from gwaskit.errors import InputError  # noqa: E402
from gwaskit.io.genotypes import open_genotypes  # noqa: E402

N, M = 80, 60


@pytest.fixture(scope="module")
def bed(tmp_path_factory):
    d = tmp_path_factory.mktemp("bed")
    geno = fx.random_genotypes(N, M, seed=31, missing_rate=0.05)
    var = fx.variant_table(M, chrom="7")
    path = fx.write_bed(d / "g", geno, var)
    return {"dir": d, "geno": geno, "var": var, "path": path}


def test_bed_reads_counts_of_a1(bed):
    with open_genotypes(bed["path"]) as g:
        t, d = g.read_dosages(dtype=np.float64)
        assert list(g.sample_table["FID"].unique()) == ["0"]
        assert g.samples[1] == "s1"
        assert "sex" in g.sample_table.columns
    np.testing.assert_array_equal(d, bed["geno"])
    pd.testing.assert_frame_equal(t.reset_index(drop=True), bed["var"], check_dtype=False)
    assert t["base_pair_location"].dtype == np.int64


def test_bed_matches_plink2(bed, plink2):
    out = bed["dir"] / "rawbed"
    fx.run([plink2, "--bfile", bed["path"].with_suffix(""), "--export", "A", "--threads", "1",
            "--out", out])
    raw = pd.read_csv(str(out) + ".raw", sep="\t")
    vals = raw.iloc[:, 6:].to_numpy(float)
    counted = [c.rsplit("_", 1)[1] for c in raw.columns[6:]]
    flip = np.array([c != e for c, e in zip(counted, bed["var"]["effect_allele"])])
    vals[:, flip] = 2 - vals[:, flip]
    with open_genotypes(bed["dir"] / "g") as g:
        _, d = g.read_dosages()
    np.testing.assert_array_equal(d, vals.astype(np.float32))


def test_bed_subsets_and_chunks(bed):
    with open_genotypes(bed["path"]) as g:
        rows = np.array([5, 1, 70])
        parts = list(g.iter_dosages(chunk_size=7, samples=rows, variants=np.arange(3, 40)))
        d = np.hstack([p[1] for p in parts])
        assert all(p[1].flags.f_contiguous for p in parts)
        np.testing.assert_array_equal(d, bed["geno"][np.ix_(rows, np.arange(3, 40))]
                                      .astype(np.float32))
        assert parts[0][0].index[0] == 3


def test_bed_missing_parts(tmp_path, bed):
    (tmp_path / "h.bed").write_bytes(bed["path"].read_bytes())
    with pytest.raises(InputError):
        open_genotypes(tmp_path / "h.bed")

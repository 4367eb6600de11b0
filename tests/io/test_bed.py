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


def _sample_major_copy(bed_path: Path, dst: Path, n: int, m: int) -> Path:
    """``dst.bed/.bim/.fam``: the same genotypes in a sample-major .bed (mode byte 0x00),
    re-packed from the variant-major file's 2-bit codes."""
    import shutil

    raw = np.frombuffer(bed_path.read_bytes(), dtype=np.uint8)
    assert raw[2] == 1  # variant-major
    bpv = (n + 3) // 4
    blocks = raw[3:].reshape(m, bpv)
    i = np.arange(n)
    codes = (blocks[:, i // 4] >> (2 * (i % 4)).astype(np.uint8)) & 3  # (m, n)
    bps = (m + 3) // 4
    rows = np.zeros((n, bps), dtype=np.uint8)
    for j in range(m):
        rows[:, j // 4] |= (codes[j] << (2 * (j % 4))).astype(np.uint8)
    out = Path(str(dst) + ".bed")
    out.write_bytes(bytes([0x6C, 0x1B, 0x00]) + rows.tobytes())
    for ext in (".bim", ".fam"):
        shutil.copy(bed_path.with_suffix(ext), Path(str(dst) + ext))
    return out


def test_sample_major_bed_reads_like_variant_major(bed, tmp_path, plink2):
    sm = _sample_major_copy(bed["path"], tmp_path / "sm", N, M)
    with open_genotypes(sm) as g:
        _, d = g.read_dosages(dtype=np.float64)
        _, sub = g.read_dosages(samples=np.array([9, 2]), variants=np.arange(10, 20),
                                dtype=np.float64)
    np.testing.assert_array_equal(d, bed["geno"])
    np.testing.assert_array_equal(sub, bed["geno"][np.ix_([9, 2], np.arange(10, 20))])
    # plink2 reads the same file (it transposes sample-major input) to the same calls
    fx.run([plink2, "--bfile", tmp_path / "sm", "--export", "A", "--threads", "1",
            "--out", tmp_path / "smraw"])
    raw = pd.read_csv(tmp_path / "smraw.raw", sep="\t")
    vals = raw.iloc[:, 6:].to_numpy(float)
    counted = [c.rsplit("_", 1)[1] for c in raw.columns[6:]]
    flip = np.array([c != e for c, e in zip(counted, bed["var"]["effect_allele"])])
    vals[:, flip] = 2 - vals[:, flip]
    np.testing.assert_array_equal(d, vals)

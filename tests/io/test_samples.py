"""The .sample reader and writer (both dialects)."""
from __future__ import annotations

import numpy as np
import pytest

from gwaskit.errors import InputError
from gwaskit.io.samples import read_sample_file, write_sample_file


def test_v1_classic_plink2(tmp_path):
    p = tmp_path / "a.sample"
    p.write_text("ID_1 ID_2 missing sex\n0 0 0 D\n0 s0 0 NA\n0 s1 0.01 1\nF2 s2 0 2\n")
    t = read_sample_file(p)
    assert list(t["FID"]) == ["0", "0", "F2"]
    assert list(t["IID"]) == ["s0", "s1", "s2"]
    assert t["sex"].isna().tolist() == [True, False, False]
    assert list(t["sex"].iloc[1:]) == [1, 2]


def test_v2_single_id(tmp_path):
    p = tmp_path / "b.sample"
    p.write_text("ID missing sex\n0 0 D\ns0 0 NA\ns1 0 1\n")
    t = read_sample_file(p)
    assert t["FID"].isna().all() and list(t["IID"]) == ["s0", "s1"]
    p.write_text("ID\n0\nx\ny\n\n")
    assert list(read_sample_file(p)["IID"]) == ["x", "y"]


@pytest.mark.parametrize(
    "text, words",
    [
        ("ID_1 ID_2 missing\n", ["types line"]),
        ("ID_1 ID_2 missing\n0 0\n", ["line 2"]),
        ("ID_1 ID_2 missing\nD 0 0\n", ["line 2"]),
        ("ID_1 ID_2 missing\n0 0 0\n0 a 0\n0 b\n", ["line 4", "2 columns"]),
        ("ID_1 ID_2 missing\n0 0 0\n0 a 0\n1 a 0\n", ["duplicate", "'a'"]),
        ("ID missing\n0 0\nNA 0\n", ["line 3", "missing sample ID"]),
    ],
)
def test_bad_sample_files(tmp_path, text, words):
    p = tmp_path / "bad.sample"
    p.write_text(text)
    with pytest.raises(InputError) as ei:
        read_sample_file(p)
    msg = str(ei.value)
    assert "bad.sample" in msg and "\n" not in msg
    for w in words:
        assert w in msg, msg


def test_missing_file(tmp_path):
    with pytest.raises(InputError):
        read_sample_file(tmp_path / "nope.sample")


def test_write_roundtrip(tmp_path):
    p = write_sample_file(tmp_path / "w.sample", ["a", "b"], fids=["F1", "F2"])
    assert p.read_text() == "ID_1 ID_2 missing\n0 0 0\nF1 a 0\nF2 b 0\n"
    t = read_sample_file(p)
    assert list(t["FID"]) == ["F1", "F2"] and list(t["IID"]) == ["a", "b"]
    write_sample_file(p, np.array(["x"]))
    assert p.read_text().splitlines()[2] == "x x 0"
    with pytest.raises(InputError):
        write_sample_file(tmp_path / "ws.sample", ["a b"])
    assert sorted(f.name for f in tmp_path.iterdir()) == ["w.sample"]

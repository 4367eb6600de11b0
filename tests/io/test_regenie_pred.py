"""REGENIE step-1 predictions (``_pred.list`` + ``.loco``): reading, writing, refusing.

REGENIE cannot be installed here, so the fixtures are written by hand from its documented layout
(https://rgcgithub.github.io/regenie/options/, "Predictions file format" and "Output") and the
writer of its source (rgcgithub/regenie 4.1.2, ``src/Data.cpp``: ``write_ID_header``,
``write_chr_row``): a ``FID_IID`` header of ``<FID>_<IID>`` keys in sorted order, one row per
chromosome (number first, 6 significant digits, a trailing space on every line), ``NA`` for a
sample with a missing phenotype, and a list of ``NAME PATH`` lines (absolute paths, or the
``--out`` prefix as given with ``--use-relative-path``).
"""
from __future__ import annotations

import gzip
import os

import numpy as np
import pytest

from gwaskit.errors import InputError
from gwaskit.io.loco import LocoPredictions
from gwaskit.io.regenie import read_regenie_pred, regenie_sample_ids, write_regenie_pred

IDS = ["F1_I1", "F1_I2", "F2_I3"]
# trait -> rows (chromosome code, values), as REGENIE prints them (trailing space included)
Y1 = [("1", [0.0123457, -0.5, 1.25e-05]), ("2", [0.1, 0.2, 0.3]), ("23", [-1.5, 0, 2])]
Y2 = [("1", [3, 2, 1]), ("2", [-0.25, 0.75, -1e-06]), ("23", [0.5, 0.5, 0.5])]


def _loco_text(ids, rows, header="FID_IID"):
    lines = [header + " " + " ".join(ids) + " \n"]
    for code, vals in rows:
        lines.append(code + " " + " ".join(str(v) for v in vals) + " \n")
    return "".join(lines)


def _fixture(tmp_path, y1=Y1, y2=Y2, ids1=IDS, ids2=IDS, gz2=False, relative=False):
    """``out/fit_pred.list`` with ``out/fit_1.loco`` and ``out/fit_2.loco[.gz]``."""
    out = tmp_path / "out"
    out.mkdir(exist_ok=True)
    p1 = out / "fit_1.loco"
    p1.write_text(_loco_text(ids1, y1))
    p2 = out / ("fit_2.loco.gz" if gz2 else "fit_2.loco")
    if gz2:
        p2.write_bytes(gzip.compress(_loco_text(ids2, y2).encode()))
    else:
        p2.write_text(_loco_text(ids2, y2))
    lst = out / "fit_pred.list"
    if relative:  # --use-relative-path with --out out/fit, run from tmp_path
        lst.write_text(f"Y1 out/{p1.name}\nY2 out/{p2.name}\n")
    else:
        lst.write_text(f"Y1 {p1.absolute()}\nY2 {p2.absolute()}\n")
    return lst


def _one_line_error(exc: pytest.ExceptionInfo, *names: str) -> str:
    msg = str(exc.value)
    assert "\n" not in msg
    for name in names:
        assert name in msg, msg
    return msg


def test_reads_hand_written_fixture(tmp_path):
    lst = _fixture(tmp_path, gz2=True)
    loco = read_regenie_pred(lst)
    assert isinstance(loco, LocoPredictions)
    assert loco.sample_ids == IDS
    assert loco.dim_names == ["Y1", "Y2"]
    assert list(loco.predictions) == ["1", "2", "X"]  # REGENIE's row 23 is X
    for k, (code, _) in enumerate(Y1):
        key = "X" if code == "23" else code
        np.testing.assert_array_equal(loco.predictions[key][:, 0], Y1[k][1])
        np.testing.assert_array_equal(loco.predictions[key][:, 1], Y2[k][1])
    assert loco.genome is None
    assert loco.provenance["source"] == "regenie"
    assert loco.provenance["files"]["Y2"].endswith("fit_2.loco.gz")
    assert loco.provenance["n_samples"] == 3
    pred, key = loco.for_chromosome("chrX")
    assert key == "X" and pred[0, 0] == -1.5
    # REGENIE carries no provenance: only the dimension names are compared
    loco.check_matches({"dim_names": ["Y1", "Y2"], "samples_sha256": "x", "traits_sha256": "y",
                        "transform": {"pca": 3}})


def test_sex_chromosomes_use_row_23_as_regenie_step_2_does(tmp_path):
    """REGENIE writes one row, 23, for X, XY, Y and the PARs and its step 2 tests them all
    with it; a gwaskit-made file without an alias still refuses a chromosome it lacks."""
    loco = read_regenie_pred(_fixture(tmp_path)).aligned(list(reversed(IDS)))
    for chrom in ("Y", "chrY", "XY", "24", "25", "PAR1", "PAR2"):
        pred, key = loco.for_chromosome(chrom)
        assert key == "X", chrom
        np.testing.assert_array_equal(pred[:, 0], Y1[2][1][::-1])
    with pytest.raises(InputError) as e:
        loco.for_chromosome("MT")
    _one_line_error(e, "chromosome MT")
    own = LocoPredictions(IDS, ["y"], {"X": np.zeros((3, 1))})
    with pytest.raises(InputError) as e:
        own.for_chromosome("Y")
    _one_line_error(e, "chromosome Y")
    # without a row 23 there is nothing to alias
    (tmp_path / "b").mkdir()
    no_x = read_regenie_pred(_fixture(tmp_path / "b", y1=Y1[:2], y2=Y2[:2]))
    assert no_x.aliases == {}


def test_caller_maps_samples_to_fid_iid(tmp_path):
    loco = read_regenie_pred(_fixture(tmp_path))
    keys = regenie_sample_ids(["F2", "F1"], ["I3", "I1"])
    sub = loco.aligned(keys)
    np.testing.assert_array_equal(sub.predictions["1"][:, 0], [1.25e-05, 0.0123457])
    with pytest.raises(InputError) as e:
        loco.aligned(regenie_sample_ids(["F9"], ["I1"]))
    _one_line_error(e, "F9_I1")


def test_dim_names_select_and_reorder(tmp_path):
    lst = _fixture(tmp_path)
    loco = read_regenie_pred(lst, dim_names=["Y2", "Y1"])
    assert loco.dim_names == ["Y2", "Y1"]
    np.testing.assert_array_equal(loco.predictions["1"][:, 0], [3, 2, 1])
    only = read_regenie_pred(lst, dim_names=["Y2"])
    assert only.dim_names == ["Y2"] and only.predictions["2"].shape == (3, 1)
    with pytest.raises(InputError) as e:
        read_regenie_pred(lst, dim_names=["Y1", "PC7"])
    _one_line_error(e, str(lst), "'PC7'")


@pytest.mark.parametrize("gz", [False, True])
def test_round_trip(tmp_path, gz):
    rng = np.random.default_rng(1)
    n, d = 7, 3
    keys = [str(c) for c in range(1, 23)] + ["X"]
    loco = LocoPredictions([f"s{i}" for i in range(n)], ["PC1", "PC2", "PC3"],
                           {k: rng.standard_normal((n, d)) * 10.0 ** rng.integers(-8, 3)
                            for k in keys})
    fid_iid = regenie_sample_ids([f"f{i}" for i in range(n)], loco.sample_ids)
    lst = write_regenie_pred(tmp_path / "step1", loco, fid_iid, gz=gz)
    assert lst == tmp_path / "step1_pred.list"
    suffix = ".loco.gz" if gz else ".loco"
    assert lst.read_text().splitlines() == [
        f"PC{j} {(tmp_path / f'step1_{j}{suffix}').absolute()}" for j in (1, 2, 3)]
    first = (tmp_path / f"step1_1{suffix}").read_bytes()
    assert first[:2] == b"\x1f\x8b" if gz else first.startswith(b"FID_IID f0_s0 f1_s1")
    text = (gzip.decompress(first) if gz else first).decode().splitlines()
    assert len(text) == 24 and [row.split()[0] for row in text[1:]] == [str(c) for c in range(1, 24)]
    back = read_regenie_pred(lst)
    assert back.sample_ids == fid_iid and back.dim_names == loco.dim_names
    assert list(back.predictions) == keys
    for k in keys:
        np.testing.assert_array_equal(back.predictions[k], loco.predictions[k])  # exact
    with pytest.raises(InputError) as e:  # no silent overwrite
        write_regenie_pred(tmp_path / "step1", loco, fid_iid, gz=gz)
    _one_line_error(e, "exists")
    write_regenie_pred(tmp_path / "step1", loco, fid_iid, gz=gz, overwrite=True)


def test_write_fills_chromosomes_without_prediction_from_genome(tmp_path):
    rng = np.random.default_rng(2)
    genome = rng.standard_normal((4, 1))
    loco = LocoPredictions(["a", "b", "c", "d"], ["y"], {"1": rng.standard_normal((4, 1))},
                           genome=genome)
    lst = write_regenie_pred(tmp_path / "p", loco, ["a", "b", "c", "d"], relative_paths=True)
    assert lst.read_text() == f"y {tmp_path / 'p'}_1.loco\n"
    back = read_regenie_pred(lst)
    np.testing.assert_array_equal(back.predictions["1"], loco.predictions["1"])
    for k in [str(c) for c in range(2, 23)] + ["X"]:
        np.testing.assert_array_equal(back.predictions[k], genome)
    with pytest.raises(InputError) as e:
        write_regenie_pred(tmp_path / "q", LocoPredictions(["a"], ["y"], {"1": [[0.0]]}), ["a"])
    _one_line_error(e, "chromosome(s) 2, 3")
    with pytest.raises(InputError) as e:
        write_regenie_pred(tmp_path / "q", loco, ["a", "b", "c"])
    _one_line_error(e, "fid_iid", "3 sample keys for 4")
    with pytest.raises(InputError) as e:
        write_regenie_pred(tmp_path / "q", LocoPredictions(["a"], ["y"], {"Y": [[0.0]]},
                                                           genome=np.zeros((1, 1))), ["a"])
    _one_line_error(e, "chromosome Y")


def test_relative_paths_resolved(tmp_path, monkeypatch):
    lst = _fixture(tmp_path, relative=True)  # "Y1 out/fit_1.loco"
    monkeypatch.chdir(tmp_path)  # REGENIE's own rule: relative to the working directory
    a = read_regenie_pred("out/fit_pred.list")
    assert a.provenance["files"]["Y1"] == os.path.join("out", "fit_1.loco")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # from elsewhere: the file name in the list's folder
    b = read_regenie_pred(lst)
    assert b.provenance["files"]["Y1"] == str(lst.parent / "fit_1.loco")
    np.testing.assert_array_equal(a.predictions["X"], b.predictions["X"])
    # relative to the list's folder, and an absolute path of a folder since moved
    (tmp_path / "out" / "fit_pred.list").write_text(
        f"Y1 fit_1.loco\nY2 /no/such/dir/{tmp_path.name}/fit_2.loco\n")
    c = read_regenie_pred(lst)
    assert c.provenance["files"]["Y2"] == str(lst.parent / "fit_2.loco")
    np.testing.assert_array_equal(c.predictions["1"], a.predictions["1"])


def test_samples_in_another_order_are_reordered(tmp_path):
    perm = [2, 0, 1]
    y2 = [(code, [vals[i] for i in perm]) for code, vals in Y2]
    loco = read_regenie_pred(_fixture(tmp_path, y2=y2, ids2=[IDS[i] for i in perm]))
    assert loco.sample_ids == IDS
    for k, (code, vals) in enumerate(Y2):
        np.testing.assert_array_equal(loco.predictions["X" if code == "23" else code][:, 1], vals)


def _bad(tmp_path, **kw):
    return _fixture(tmp_path, **kw)


@pytest.mark.parametrize("case, kw, expect", [
    ("ragged", {"y2": [Y2[0], ("2", [1, 2]), Y2[2]]}, ["fit_2.loco:3:", "2 predictions", "3 samples"]),
    ("non-numeric", {"y1": [Y1[0], ("2", [0.1, "0.2x", 0.3]), Y1[2]]},
     ["fit_1.loco:3:", "'0.2x'", "F1_I2"]),
    ("NA", {"y1": [("1", ["NA", 1, "NA"]), Y1[1], Y1[2]]}, ["fit_1.loco:2:", "NA", "2 sample(s)",
                                                            "F1_I1", "--strict"]),
    ("samples differ", {"ids2": ["F1_I1", "F1_I2", "F3_I9"]},
     ["fit_2.loco", "differ", "F3_I9", "F2_I3"]),
    ("chromosomes differ", {"y2": Y2[:2]}, ["fit_2.loco", "chromosome X"]),
    ("PRS row", {"y1": [("0", [1, 2, 3])]}, ["fit_1.loco:2:", "--print-prs"]),
    ("nauto", {"y1": [*Y1, ("24", [1, 2, 3])]}, ["fit_1.loco:5:", "--nauto"]),
    ("duplicate row", {"y1": [*Y1, ("chr2", [1, 2, 3])]}, ["fit_1.loco:5:", "chromosome 2 appears twice"]),
    ("bad code", {"y1": [("chrUn", [1, 2, 3])]}, ["fit_1.loco:2:", "'chrUn'"]),
    ("duplicate sample", {"ids1": ["F1_I1", "F1_I1", "F2_I3"]}, ["fit_1.loco:1:", "F1_I1"]),
])
def test_bad_loco_files_give_one_line_errors(tmp_path, case, kw, expect):
    with pytest.raises(InputError) as e:
        read_regenie_pred(_bad(tmp_path, **kw))
    _one_line_error(e, *expect)


def test_bad_lists_and_missing_files(tmp_path):
    lst = _fixture(tmp_path)
    (tmp_path / "out" / "fit_2.loco").unlink()
    with pytest.raises(InputError) as e:  # missing trait file
        read_regenie_pred(lst)
    _one_line_error(e, f"{lst}:2:", "'Y2'", "not found")
    read_regenie_pred(lst, dim_names=["Y1"])  # a trait not asked for is not read (REGENIE too)
    for text, expect in [("Y1 a b\n", ":1:", ), ("Y1 a\nY1 b\n", "listed twice"), ("\n", "empty")]:
        lst.write_text(text)
        with pytest.raises(InputError) as e:
            read_regenie_pred(lst)
        _one_line_error(e, str(lst), expect)
    with pytest.raises(InputError) as e:
        read_regenie_pred(tmp_path / "nope_pred.list")
    _one_line_error(e, "nope_pred.list", "not found")
    bad_header = tmp_path / "out" / "fit_1.loco"
    bad_header.write_text("IID a b\n1 0 0\n")
    lst.write_text(f"Y1 {bad_header}\n")
    with pytest.raises(InputError) as e:
        read_regenie_pred(lst)
    _one_line_error(e, f"{bad_header}:1:", "FID_IID")

"""``gwaskit clump --bed ... --format plink`` runs on plain arrays (lean readers, C or numba
kernels); it must give the same files as the general (pandas / open_genotypes) path."""
import gzip
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "ld"))
import _simdata  # noqa: E402

from gwaskit.cli import clump as cli_clump  # noqa: E402
from gwaskit.cli.main import main  # noqa: E402
from gwaskit.io.sumstats import read_id_p, read_sumstats  # noqa: E402
from gwaskit.ld._readers import LeanBedReference, open_from_flags  # noqa: E402


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return _simdata.clump_dataset(str(tmp_path_factory.getbasetemp() / "clump_fast"))




def _run_both(tmp_path, monkeypatch, args):
    calls = []
    real = cli_clump._plink_layout_from_bed
    monkeypatch.setattr(cli_clump, "_plink_layout_from_bed", lambda *a: calls.append(1) or real(*a))
    fast = tmp_path / "fast.clumped"
    main(["clump", *args, "--format", "plink", "--quiet", "--out", str(fast)])
    assert calls == [1]
    slow = tmp_path / "slow.clumped"
    # members=... forces the general path; its .clumped is written by write_plink as well
    main(["clump", *args, "--format", "plink", "--quiet", "--members", str(tmp_path / "m.tsv"), "--out", str(slow)])
    return fast, slow


@pytest.mark.parametrize("variant", ["plain", "tab", "csv_gz", "log10", "na", "spaces", "keep", "dots", "overlap",
                                     "missing", "dup_ids"])
def test_fast_path_equals_general_path(data, tmp_path, monkeypatch, variant):
    prefix, report, *_ = data
    df = pd.read_csv(report, sep=r"\s+", dtype=str)
    args = ["--bed", prefix]
    rep = tmp_path / "r.txt"
    if variant == "plain":
        rep = Path(report)
    elif variant == "tab":
        df.to_csv(rep, sep="\t", index=False)
    elif variant == "csv_gz":
        rep = tmp_path / "r.csv.gz"
        with gzip.open(rep, "wt") as fh:
            df.to_csv(fh, index=False)
    elif variant == "log10":
        df["LOG10P"] = (-np.log10(df["P"].astype(float))).map(lambda x: f"{x:.5g}")
        df.drop(columns="P").to_csv(rep, sep="\t", index=False)
    elif variant == "na":
        df.loc[df.index[::7], "P"] = "NA"
        df.loc[df.index[3], "SNP"] = "NA"
        with open(rep, "w") as fh:
            fh.write("## comment line\n")
            df.to_csv(fh, sep=" ", index=False)
    elif variant == "spaces":
        with open(rep, "w") as fh:
            fh.write("  " + "   ".join(df.columns) + "\n")
            for row in df.itertuples(index=False):
                fh.write("  " + "   ".join(row) + "  \n")
    elif variant == "keep":
        rep = Path(report)
        fam = pd.read_csv(prefix + ".fam", sep=r"\s+", header=None, dtype=str)
        fam.iloc[::3, :2].to_csv(tmp_path / "keep.txt", sep=" ", header=False, index=False)
        args += ["--keep", str(tmp_path / "keep.txt")]
    elif variant in ("dots", "dup_ids"):  # '.' IDs -> chrom:pos:a1:a2; duplicated IDs: first wins
        import shutil

        for ext in (".bed", ".fam"):
            shutil.copy(prefix + ext, tmp_path / f"d{ext}")
        bim = pd.read_csv(prefix + ".bim", sep=r"\s+", header=None, dtype=str)
        if variant == "dots":
            bim.loc[bim.index[::5], 1] = "."
        else:
            bim.loc[bim.index[1::4], 1] = bim.loc[bim.index[0::4], 1].to_numpy()[: len(bim.index[1::4])]
        bim.to_csv(tmp_path / "d.bim", sep="\t", header=False, index=False)
        args = ["--bed", str(tmp_path / "d")]
        rep = Path(report)
    elif variant == "missing":  # top variants absent from the reference -> <out>.missing_id
        extra = pd.DataFrame([df.iloc[0].tolist()] * 3, columns=df.columns)
        extra["SNP"] = ["absent1", "absent2", "absent1"]
        extra["P"] = ["1e-9", "3e-5", "2e-9"]
        pd.concat([df, extra]).to_csv(rep, sep=" ", index=False)
    elif variant == "overlap":
        rep = Path(report)
        args += ["--allow-overlap", "--r2", "0.2", "--p1", "1e-3"]
    fast, slow = _run_both(tmp_path, monkeypatch, [*args, "--sumstats", str(rep)])
    assert fast.read_text() == slow.read_text()
    if variant == "missing":
        assert Path(str(fast) + ".missing_id").read_text() == Path(str(slow) + ".missing_id").read_text()
        assert "absent1" in Path(str(fast) + ".missing_id").read_text()
    if variant not in ("keep", "dots", "dup_ids", "overlap"):
        r = read_id_p(rep)
        assert r is not None
        d = read_sumstats(rep, require=("variant_id", "p_value"))
        assert np.array_equal(d["variant_id"].astype(str).to_numpy(), r[0])
        assert np.array_equal(d["p_value"].to_numpy(), r[1], equal_nan=True)


def test_lean_reference_matches_open_genotypes(data):
    prefix, *_ = data
    ref = LeanBedReference.open(prefix)
    assert ref is not None
    with open_from_flags(None, prefix) as g:
        v = g.variants
        assert np.array_equal(v["variant_id"].astype(str).to_numpy(), ref.vid.astype(str))
        assert np.array_equal(v["chromosome"].astype(str).to_numpy(), ref.chrom.astype(str))
        assert np.array_equal(v["base_pair_location"].to_numpy(), ref.pos)
        assert np.array_equal(g.sample_table["IID"].astype(str).to_numpy(), ref.iid.astype(str))


def test_read_id_p_falls_back(tmp_path):
    p = tmp_path / "q.txt"
    p.write_text('SNP P\n"rs1" 0.1\n')
    assert read_id_p(p) is None
    p.write_text("SNP P\nrs1 0.1 7\nrs2 0.2\n")
    assert read_id_p(p) is None
    p.write_text("ID TEST P\nrs1 ADD 0.1\nrs1 DOM 0.2\n")
    assert read_id_p(p) is None


def test_p_values_correctly_rounded(tmp_path):
    # pandas' own text-to-float conversion is off by an ulp for some inputs; PLINK uses strtod
    vals = ["3.9339980577941738e-16", "8.3083531807050856e-202", "0.0001", "1e-4", "2.0454e-52"]
    p = tmp_path / "r.txt"
    p.write_text("SNP P\n" + "".join(f"rs{i} {v}\n" for i, v in enumerate(vals)))
    d = read_sumstats(p)
    assert d["p_value"].tolist() == [float(v) for v in vals]
    assert read_id_p(p)[1].tolist() == [float(v) for v in vals]

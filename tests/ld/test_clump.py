"""Clumping against plink1.9 --clump (oracle) on msprime genotypes, plus edge cases."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).parent))
import _simdata  # noqa: E402

from gwaskit.io.sumstats import read_sumstats  # noqa: E402
from gwaskit.ld._readers import ArrayGenotypes, open_reference  # noqa: E402
from gwaskit.ld.clump import PRESETS, bp_radius, clump, format_plink, read_plink_clumped  # noqa: E402
from gwaskit.ld.r2 import hard_calls, r2_vs_index  # noqa: E402


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return _simdata.clump_dataset(str(tmp_path_factory.getbasetemp() / "clump_sim"))


def _plink_clump(plink1_9, prefix, report, out, p1, p2, r2, kb, extra=()):
    cmd = [plink1_9, "--bfile", prefix, "--clump", report, "--clump-p1", str(p1), "--clump-p2", str(p2),
           "--clump-r2", str(r2), "--clump-kb", str(kb), "--out", str(out), *extra]
    subprocess.run(cmd, check=True, capture_output=True)
    path = Path(str(out) + ".clumped")
    return path.read_text() if path.exists() else None


SETTINGS = {
    "plink_defaults": dict(PRESETS["plink"]),
    "seed": dict(PRESETS["seed"]),
    "gw_r2_0.1_150kb": dict(p1=5e-8, p2=1e-7, r2=0.1, kb=150.0),
    "lenient_r2_0.2": dict(p1=1e-3, p2=0.05, r2=0.2, kb=500.0),
}


@pytest.mark.parametrize("name", list(SETTINGS))
def test_clump_matches_plink19(plink1_9, data, tmp_path, name):
    prefix, report, *_ = data
    s = SETTINGS[name]
    ref = _plink_clump(plink1_9, prefix, report, tmp_path / "p", s["p1"], s["p2"], s["r2"], s["kb"])
    with open_reference(prefix) as rd:
        res = clump(read_sumstats(report), rd, **s)
    ours = format_plink(res)
    # identical index variants and member sets ...
    pl = read_plink_clumped(tmp_path / "p.clumped")
    assert res.clumps["variant_id"].tolist() == pl["SNP"].tolist()
    mine = [[] if x == "NONE" else [t.rsplit("(", 1)[0] for t in x.split(",")] for x in res.clumps["sp2"]]
    assert mine == pl["members"].tolist()
    assert res.clumps["total"].tolist() == pl["TOTAL"].tolist()
    # ... and in fact the byte-identical .clumped file
    assert ours == ref
    assert len(res.clumps) >= 1


def test_allow_overlap_matches_plink19(plink1_9, data, tmp_path):
    prefix, report, *_ = data
    s = dict(p1=1e-4, p2=0.01, r2=0.3, kb=250.0)
    ref = _plink_clump(plink1_9, prefix, report, tmp_path / "p", **s, extra=["--clump-allow-overlap"])
    with open_reference(prefix) as rd:
        res = clump(read_sumstats(report), rd, allow_overlap=True, **s)
    assert format_plink(res) == ref


def test_dosage_method_differs_little(data):
    """--r2-method dosage (Pearson r² of allele counts) vs the PLINK 1.9 haplotype r²:
    same index variants for the strong hits here; member sets may differ near the threshold
    (Pearson r² of genotypes is typically a little below the haplotype r²)."""
    prefix, report, *_ = data
    ss = read_sumstats(report)
    with open_reference(prefix) as rd:
        hap = clump(ss, rd, **PRESETS["plink"])
        dos = clump(ss, rd, method="dosage", **PRESETS["plink"])
    top_h = hap.clumps.head(5)["variant_id"].tolist()
    top_d = dos.clumps.head(5)["variant_id"].tolist()
    assert top_h[0] == top_d[0]
    assert len(set(top_h) & set(top_d)) >= 3
    m = hap.members.merge(dos.members, on=["index_variant_id", "variant_id"], suffixes=("_h", "_d"))
    assert len(m) > 0
    assert np.all(np.abs(m["r2_h"]) > 0.5)


def test_r2_kernel_matches_plink_dprime(plink1_9, data, tmp_path):
    prefix, *_ = data
    subprocess.run([plink1_9, "--bfile", prefix, "--r2", "dprime", "--ld-window-r2", "0", "--ld-window", "99999",
                    "--ld-window-kb", "20", "--chr", "1", "--from-bp", "1", "--to-bp", "150000",
                    "--out", str(tmp_path / "ld")], check=True, capture_output=True)
    ld = pd.read_csv(tmp_path / "ld.ld", sep=r"\s+")
    assert len(ld) > 500
    with open_reference(prefix) as rd:
        ids = rd.variants["variant_id"].tolist()
        _, D = rd.read_dosages(dtype=np.float64)
    H = hard_calls(D)
    pos = {s: i for i, s in enumerate(ids)}
    ours = np.array([r2_vs_index(H[:, pos[a]], H[:, [pos[b]]])[0] for a, b in zip(ld.SNP_A, ld.SNP_B)])
    np.testing.assert_allclose(np.abs(ours), ld["R2"], rtol=6e-6, atol=1e-12)


def test_bp_radius():
    assert bp_radius(250) == 249_999
    assert bp_radius(5000) == 4_999_999
    assert bp_radius(0.001) == 0


def _edge_case_data(tmp_path):
    """Hand-built reference exercising the window edge, p ties, p == p1 / p2, NA, counted-only
    rows, monomorphic variants and a top variant missing from the reference."""
    rng = np.random.default_rng(5)
    n = 300
    base = rng.binomial(2, 0.3, n).astype(np.float32)
    other = rng.binomial(2, 0.4, n).astype(np.float32)
    noisy = base.copy()
    flip = rng.random(n) < 0.1
    noisy[flip] = rng.binomial(2, 0.3, flip.sum())
    cols = {
        "v1": (1_000, base), "v2": (1_000 + 249_999, base), "v3": (1_000 + 250_000, base),
        "v4": (300_000, other), "v5": (300_010, noisy), "v6": (300_020, np.zeros(n, np.float32)),
        "v7": (300_030, other), "v8": (900_000, base), "v9": (900_100, base),
        "v10": (1_300_000, noisy),
    }
    G = np.column_stack([c[1] for c in cols.values()])
    G[rng.random(G.shape) < 0.02] = np.nan  # some missing calls
    pos = np.array([c[0] for c in cols.values()])
    prefix = tmp_path / "edge"
    from bed_reader import to_bed

    to_bed(str(prefix) + ".bed", G, properties={
        "fid": [f"f{i}" for i in range(n)], "iid": [f"i{i}" for i in range(n)], "sid": list(cols),
        "chromosome": ["1"] * len(cols), "bp_position": pos,
        "allele_1": ["A"] * len(cols), "allele_2": ["G"] * len(cols),
    }, count_A1=True, num_threads=1)
    report = pd.DataFrame({
        "SNP": ["v1", "v2", "v3", "v4", "v5", "v6", "v7", "v8", "v9", "v10", "vMISSING", "v5"],
        "P": ["1e-6", "0.01", "0.2", "1e-4", "1e-4", "1e-9", "0.5", "1e-6", "NA", "0.0123", "1e-12", "0.7"],
    })
    rpath = tmp_path / "edge.txt"
    report.to_csv(rpath, sep=" ", index=False)
    return str(prefix), str(rpath), G, pos


def test_edge_cases_match_plink19(plink1_9, tmp_path):
    prefix, report, G, pos = _edge_case_data(tmp_path)
    for s in (dict(p1=1e-4, p2=0.01, r2=0.5, kb=250.0), dict(p1=1e-6, p2=0.05, r2=0.0, kb=250.0)):
        ref = _plink_clump(plink1_9, prefix, report, tmp_path / "p", **s)
        with open_reference(prefix) as rd:
            res = clump(read_sumstats(report), rd, **s)
        assert format_plink(res) == ref
        assert res.missing["variant_id"].tolist() == ["vMISSING"]
    # the window edge: v2 is 249,999 bp from v1 (inside), v3 250,000 (outside)
    first = res.clumps.iloc[0]
    assert "v2(1)" in first["sp2"] or first["variant_id"] != "v1"


def test_ragged_report_rows_match_plink19(plink1_9, tmp_path):
    """PLINK takes report columns by header position: tokens past the header are ignored and
    a row too short for the p column is skipped. The first data row carrying an extra token
    once made pandas shift every column (its first column taken for an index)."""
    prefix, report, *_ = _edge_case_data(tmp_path)
    lines = Path(report).read_text().splitlines()
    lines[1] += " extra"          # first data row: one token more than the header
    lines[6] += " x y"            # another, two more
    lines[8] = lines[8].split()[0]  # a row without its p-value
    ragged = tmp_path / "ragged.txt"
    ragged.write_text("\n".join(lines) + "\n")
    s = dict(p1=1e-4, p2=0.01, r2=0.5, kb=250.0)
    ref = _plink_clump(plink1_9, prefix, str(ragged), tmp_path / "p", **s)
    for columns in (None, ("variant_id", "p_value")):
        with open_reference(prefix) as rd:
            res = clump(read_sumstats(ragged, columns=columns), rd, **s)
        assert format_plink(res) == ref


def test_report_columns_subset_reads_the_same_values(tmp_path):
    _, report, *_ = _edge_case_data(tmp_path)
    full = read_sumstats(report)
    part = read_sumstats(report, columns=("variant_id", "p_value"))
    assert list(part.columns) == ["variant_id", "p_value"]
    pd.testing.assert_frame_equal(part, full[["variant_id", "p_value"]])


def test_missing_top_variants_reported_not_dropped(tmp_path):
    prefix, report, *_ = _edge_case_data(tmp_path)
    with open_reference(prefix) as rd:
        res = clump(read_sumstats(report), rd, missing_as_singletons=True)
    row = res.clumps[res.clumps["variant_id"] == "vMISSING"]
    assert len(row) == 1 and not bool(row["in_reference"].iloc[0])
    assert res.clumps.iloc[0]["variant_id"] == "vMISSING"  # p = 1e-12 sorts first
    assert "vMISSING" not in format_plink(res)


def test_keep_subset_and_array_reader():
    rng = np.random.default_rng(0)
    n = 200
    x = rng.binomial(2, 0.3, n).astype(float)
    G = np.column_stack([x, x, rng.binomial(2, 0.5, n)])
    variants = pd.DataFrame({"chromosome": ["1"] * 3, "base_pair_location": [10, 20, 30],
                             "variant_id": ["a", "b", "c"], "effect_allele": ["A"] * 3,
                             "other_allele": ["C"] * 3})
    rd = ArrayGenotypes(G, variants)
    rep = pd.DataFrame({"variant_id": ["a", "b", "c"], "p_value": [1e-8, 1e-6, 1e-5]})
    res = clump(rep, rd)
    assert res.clumps["variant_id"].tolist() == ["a", "c"]
    assert res.clumps["sp2"].tolist() == ["b(1)", "NONE"]
    res2 = clump(rep, rd, samples=np.arange(100))
    assert res2.params["n_samples"] == 100


def test_bgen_reference_and_keep_match_plink19(plink1_9, plink2, data, tmp_path):
    """LD reference as BGEN (plink2 export, ALT first) and a --keep subset give PLINK's result."""
    from gwaskit.io.selection import Selection, select_genotypes

    prefix, report, *_ = data
    subprocess.run([plink2, "--bfile", prefix, "--export", "bgen-1.2", "bits=8", "--out", str(tmp_path / "b")],
                   check=True, capture_output=True)
    fam = pd.read_csv(prefix + ".fam", sep=r"\s+", header=None)
    fam.iloc[::3, :2].to_csv(tmp_path / "keep.txt", sep=" ", header=False, index=False)
    ref = _plink_clump(plink1_9, prefix, report, tmp_path / "p", 1e-4, 0.01, 0.5, 250,
                       extra=["--keep", str(tmp_path / "keep.txt")])
    rd = open_reference(str(tmp_path / "b.bgen"), sample_file=str(tmp_path / "b.sample"))
    with select_genotypes(rd, Selection(keep=str(tmp_path / "keep.txt"))) as view:
        assert view.n_samples == len(fam.iloc[::3])
        res = clump(read_sumstats(report), view)
    assert format_plink(res) == ref


def test_plink_number_format():
    from gwaskit.ld.clump import _g3

    # PLINK's dtoa_g_wxp3 rounds decimal near-ties up where C's %.3g rounds the binary value down
    assert _g3(7.175e-05) == "7.18e-05"
    assert [_g3(v) for v in (3.82677e-53, 1e-4, 0.0123, 0.5, 1.0, 1e-300)] == [
        "3.83e-53", "0.0001", "0.0123", "0.5", "1", "1e-300"]

"""gwaskit.io.selection: parsing, validation, and sample/variant sets equal to plink2's."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gwaskit.errors import InputError
from gwaskit.io.genotypes import open_genotypes
from gwaskit.io.selection import (
    Selection,
    apply_selection,
    normalize_chromosome,
    parse_chromosomes,
    read_id_file,
    read_variant_list,
    read_variant_ranges,
)

sys.path.insert(0, str(Path(__file__).parent))
from _geno_fixtures import random_genotypes, variant_table, write_bed  # noqa: E402

N = 120


# -- parsing ----------------------------------------------------------------------------
def test_parse_chromosomes_ranges_prefix_and_codes():
    assert parse_chromosomes("1-4,X,chr22") == ("1", "2", "3", "4", "X", "22")
    assert parse_chromosomes("chr21-24, 26") == ("21", "22", "X", "Y", "MT")
    assert parse_chromosomes("23,X,chrX") == ("X",)
    assert normalize_chromosome("chrM") == "MT"
    assert normalize_chromosome("07") == "7"
    with pytest.raises(InputError, match="range"):
        parse_chromosomes("5-2")
    with pytest.raises(InputError):
        parse_chromosomes(" , ")


def test_read_id_file_header_rules(tmp_path):
    p = tmp_path / "a.txt"
    p.write_text("#FID\tIID\tX\nf1 s1 9\nf2 s2 9\n")
    assert read_id_file(p).values.tolist() == [["f1", "s1"], ["f2", "s2"]]
    p.write_text("#IID SEX\ns1 1\n")
    assert read_id_file(p).values.tolist() == [["0", "s1"]]
    p.write_text("s1\n\ns2\n")
    assert read_id_file(p).values.tolist() == [["0", "s1"], ["0", "s2"]]
    p.write_text("f1 s1 0 0 1 -9\n")  # a .fam line: FID IID
    assert read_id_file(p).values.tolist() == [["f1", "s1"]]
    p.write_text("f1 s1\nf2\n")
    with pytest.raises(InputError, match=r"a.txt: line 2"):
        read_id_file(p)
    with pytest.raises(InputError, match="not found"):
        read_id_file(tmp_path / "missing.txt")


def test_variant_lists_and_ranges(tmp_path):
    p = tmp_path / "ids"
    p.write_text("rs1 rs2\n  rs3\n\n")
    assert read_variant_list(p) == {"rs1", "rs2", "rs3"}
    r = tmp_path / "r"
    r.write_text("# c\nchr1 10 20 a\n23 5 5\n")
    assert read_variant_ranges(r).values.tolist() == [["1", 10, 20], ["X", 5, 5]]
    with pytest.raises(InputError, match="line 3"):
        read_variant_ranges(r, "bed0")  # bed0 "5 5" is empty (half-open)
    r.write_text("chr1 10 20 a\n")
    assert read_variant_ranges(r, "bed0").values.tolist() == [["1", 11, 20]]
    r.write_text("1 10\n")
    with pytest.raises(InputError, match="line 1"):
        read_variant_ranges(r)


def test_selection_validation_and_fingerprint(tmp_path):
    with pytest.raises(InputError, match="--maf"):
        Selection(maf=0.7)
    with pytest.raises(InputError, match="--geno"):
        Selection(geno=-0.1)
    with pytest.raises(InputError, match="--from-bp"):
        Selection(from_bp=10)
    with pytest.raises(InputError, match="after"):
        Selection(chromosomes="1", from_bp=10, to_bp=5)
    f = tmp_path / "k"
    f.write_text("s1\n")
    s = Selection(keep=f, chromosomes="1-2")
    assert s.keep == (str(f),) and s.chromosomes == ("1", "2")
    fp1 = s.fingerprint()
    f.write_text("s2\n")
    assert s.fingerprint() != fp1  # files enter by content
    assert Selection().is_empty and not s.is_empty


# -- plink2 oracle ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def bedset(tmp_path_factory):
    """.bed over chromosomes 1, 2, 3 and 23 (X) with missing calls and real FIDs."""
    d = tmp_path_factory.mktemp("sel")
    parts = [variant_table(m, chrom=c, start=1000 + 11 * k)
             for k, (c, m) in enumerate([("1", 60), ("2", 50), ("3", 40), ("23", 30)])]
    variants = pd.concat(parts, ignore_index=True)
    geno = random_genotypes(N, len(variants), seed=7, missing_rate=0.03)
    prefix = d / "g"
    write_bed(prefix, geno, variants)
    # real, non-unique FIDs so that FID+IID matching matters; sex 2 avoids haploid chrX
    # FID 0 for every 9th sample: an IID-only ID file (plink2: FID 0) matches only those
    fam = pd.DataFrame({"FID": [f"f{i % 9}" if i % 9 else "0" for i in range(N)],
                        "IID": [f"s{i}" for i in range(N)],
                        "P": 0, "M": 0, "S": 2, "Y": -9})
    fam.to_csv(str(prefix) + ".fam", sep=" ", header=False, index=False)
    return prefix, fam, variants


def _plink2(plink2: str, prefix: Path, args: list[str], out: Path):
    cmd = [plink2, "--bfile", str(prefix), "--write-samples", "--write-snplist",
           "--threads", "1", "--out", str(out), *args]
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    ids = pd.read_csv(str(out) + ".id", sep=r"\s+", dtype=str)
    snps = Path(str(out) + ".snplist").read_text().split()
    return ids["IID"].tolist(), snps


def _ours(prefix: Path, sel: Selection):
    with open_genotypes(str(prefix) + ".bed") as g:
        res = apply_selection(g, sel)
        return (g.samples[res.sample_index].tolist(),
                g.variants["variant_id"].to_numpy()[res.variant_index].tolist(), res)


def _cases(d: Path, fam: pd.DataFrame, variants: pd.DataFrame):
    rng = np.random.default_rng(3)
    # 40 samples, at least one with FID 0 (see bedset)
    pick = np.sort(np.r_[0, 9, rng.choice(np.flatnonzero(np.arange(N) % 9), 38, replace=False)])
    sub = fam.iloc[pick]
    (d / "keep_hdr.txt").write_text("#FID\tIID\n" + "".join(
        f"{a}\t{b}\n" for a, b in zip(sub.FID, sub.IID)))
    # no header; one row with a wrong FID must NOT match (FID+IID rule)
    (d / "keep_fidiid.txt").write_text("".join(f"{a} {b}\n" for a, b in zip(sub.FID, sub.IID))
                                       + "fXX s1\n")
    (d / "keep_iid.txt").write_text("".join(f"{b}\n" for b in sub.IID))
    (d / "keep_iidhdr.txt").write_text("#IID\n" + "".join(f"{b}\n" for b in sub.IID))
    fam.iloc[pick[:25]].to_csv(d / "keep.fam", sep=" ", header=False, index=False)
    (d / "remove.txt").write_text("".join(f"{a} {b}\n" for a, b in
                                          zip(sub.FID[:15], sub.IID[:15])))
    vids = variants.variant_id.to_numpy()
    vpick = rng.choice(len(vids), 70, replace=False)
    (d / "extract.txt").write_text(" ".join(vids[vpick[:35]]) + "\n" + "\n".join(vids[vpick[35:]])
                                   + "\nrs_not_there\n")
    (d / "exclude.txt").write_text("\n".join(vids[vpick[:20]]) + "\n")
    p1 = variants.base_pair_location[variants.chromosome == "1"].to_numpy()
    p2 = variants.base_pair_location[variants.chromosome == "2"].to_numpy()
    # ends ON variant positions to pin down inclusiveness
    (d / "range.txt").write_text(f"1 {p1[5]} {p1[20]} a\nchr2 {p2[3]} {p2[9]}\nX 1 100000\n")
    (d / "xrange.txt").write_text(f"chr1 {p1[0]} {p1[30]}\n")
    return {
        "keep_header": (Selection(keep=d / "keep_hdr.txt"), ["--keep", d / "keep_hdr.txt"]),
        "keep_fid_iid": (Selection(keep=d / "keep_fidiid.txt"),
                         ["--keep", d / "keep_fidiid.txt"]),
        "keep_iid_hdr": (Selection(keep=d / "keep_iidhdr.txt"),
                         ["--keep", d / "keep_iidhdr.txt"]),
        "keep_iid": (Selection(keep=d / "keep_iid.txt"), ["--keep", d / "keep_iid.txt"]),
        "keep_fam": (Selection(keep=d / "keep.fam"), ["--keep", d / "keep.fam"]),
        "remove": (Selection(remove=d / "remove.txt"), ["--remove", d / "remove.txt"]),
        "keep_remove": (Selection(keep=d / "keep_hdr.txt", remove=d / "remove.txt"),
                        ["--keep", d / "keep_hdr.txt", "--remove", d / "remove.txt"]),
        "extract": (Selection(extract=d / "extract.txt"), ["--extract", d / "extract.txt"]),
        "exclude": (Selection(exclude=d / "exclude.txt"), ["--exclude", d / "exclude.txt"]),
        "extract_range": (Selection(extract_range=d / "range.txt"),
                          ["--extract", "range", d / "range.txt"]),
        "extract_bed0": (Selection(extract_range=d / "range.txt", range_kind="bed0"),
                         ["--extract", "bed0", d / "range.txt"]),
        "exclude_range": (Selection(exclude_range=d / "xrange.txt"),
                          ["--exclude", "range", d / "xrange.txt"]),
        "chr": (Selection(chromosomes="2-3,X"), ["--chr", "2-3,X"]),
        "chr_bp": (Selection(chromosomes="chr2", from_bp=int(p2[4]), to_bp=int(p2[30])),
                   ["--chr", "2", "--from-bp", p2[4], "--to-bp", p2[30]]),
        "maf": (Selection(chromosomes="1-3", maf=0.1117), ["--chr", "1-3", "--maf", 0.1117]),
        "max_maf": (Selection(chromosomes="1-3", max_maf=0.2231),
                    ["--chr", "1-3", "--max-maf", 0.2231]),
        "mac": (Selection(chromosomes="1-3", mac=23), ["--chr", "1-3", "--mac", 23]),
        "geno": (Selection(geno=0.0311), ["--geno", 0.0311]),
        # 40 samples: 2 missing calls is a rate of exactly 0.05, which plink2 keeps
        "geno_tie": (Selection(keep=d / "keep_hdr.txt", geno=0.05),
                     ["--keep", d / "keep_hdr.txt", "--geno", 0.05]),
        "keep_maf_geno": (Selection(keep=d / "keep_hdr.txt", chromosomes="1-3", maf=0.1317,
                                    geno=0.0411),
                          ["--keep", d / "keep_hdr.txt", "--chr", "1-3", "--maf", 0.1317,
                           "--geno", 0.0411]),
    }


CASES = ["keep_header", "keep_fid_iid", "keep_iid_hdr", "keep_iid", "keep_fam", "remove", "keep_remove",
         "extract", "exclude", "extract_range", "extract_bed0", "exclude_range", "chr",
         "chr_bp", "maf", "max_maf", "mac", "geno", "geno_tie", "keep_maf_geno"]


@pytest.mark.parametrize("case", CASES)
def test_selection_equals_plink2(plink2, bedset, tmp_path, case):
    prefix, fam, variants = bedset
    sel, args = _cases(tmp_path, fam, variants)[case]
    want_s, want_v = _plink2(plink2, prefix, [str(a) for a in args], tmp_path / "out")
    got_s, got_v, res = _ours(prefix, sel)
    assert got_s == want_s
    assert got_v == want_v
    assert res.counts["n_samples"] == len(want_s) and res.counts["n_variants"] == len(want_v)
    # the filter removed something, so the comparison is not vacuous
    assert len(want_s) < N or len(want_v) < len(variants)


def test_iid_only_file_against_fids(plink2, bedset, tmp_path):
    """A one-column ID file against genotype samples WITH FIDs: same result as plink2."""
    prefix, fam, variants = bedset
    sel, args = _cases(tmp_path, fam, variants)["keep_fid_iid"]
    (tmp_path / "iid.txt").write_text("s1\ns2\n")
    r = subprocess.run([plink2, "--bfile", str(prefix), "--keep", str(tmp_path / "iid.txt"),
                        "--write-samples", "--out", str(tmp_path / "o")],
                       capture_output=True, text=True)
    ours_fails = False
    try:
        got_s, _, _ = _ours(prefix, Selection(keep=tmp_path / "iid.txt"))
    except InputError:
        ours_fails = True
    if r.returncode != 0:
        assert ours_fails  # plink2 keeps no sample: so must we (an error, not all samples)
    else:
        want = pd.read_csv(tmp_path / "o.id", sep=r"\s+", dtype=str)["IID"].tolist()
        assert not ours_fails and got_s == want


def test_selection_log_and_counts(bedset, tmp_path):
    prefix, fam, variants = bedset
    sel, _ = _cases(tmp_path, fam, variants)["keep_maf_geno"]
    _, got_v, res = _ours(prefix, sel)
    assert [line.split(":")[0] for line in res.log] == ["--keep", "--chr", "--geno", "--maf"]
    assert res.counts["keep"]["remain"] == 40 and res.counts["keep"]["removed"] == N - 40
    assert res.log[0] == f"--keep: 40 samples remain ({N - 40} removed)"
    assert res.counts["n_variants"] == len(got_v)


def test_selected_genotypes_view_reads_the_selection(bedset, tmp_path):
    """The view's samples/variants/dosages/qc are the parent's at the selected positions."""
    from gwaskit.io.selection import SelectedGenotypes, select_genotypes

    prefix, fam, variants = bedset
    sel, _ = _cases(tmp_path, fam, variants)["keep_maf_geno"]
    parent = open_genotypes(str(prefix) + ".bed")
    res = apply_selection(parent, sel)
    view = SelectedGenotypes(parent, res)
    assert view.samples.tolist() == parent.samples[res.sample_index].tolist()
    assert view.variants["variant_id"].tolist() == \
        parent.variants["variant_id"].to_numpy()[res.variant_index].tolist()
    assert list(view.variants.index) == list(range(len(res.variant_index)))
    assert sum(view.variants_per_file) == view.n_variants
    _, full = parent.read_dosages(samples=res.sample_index, variants=res.variant_index,
                                  dtype=np.float64)
    _, got = view.read_dosages(dtype=np.float64)
    np.testing.assert_array_equal(got, full)
    # local positions, any order for samples, masks, and the tables' local index
    t, part = view.read_dosages(samples=[3, 0], variants=[5, 1], dtype=np.float64)
    assert list(t.index) == [1, 5]
    np.testing.assert_array_equal(part, full[[3, 0]][:, [1, 5]])
    chunks = list(view.iter_dosages(chunk_size=7, dtype=np.float64))
    np.testing.assert_array_equal(np.hstack([c[1] for c in chunks]), full)
    assert np.concatenate([c[0].index for c in chunks]).tolist() == list(range(view.n_variants))
    qc = view.variant_qc()
    ref = parent.variant_qc(samples=res.sample_index, variants=res.variant_index)
    np.testing.assert_array_equal(qc.to_numpy(), ref.to_numpy())
    assert list(qc.index) == list(range(view.n_variants))
    with pytest.raises(InputError, match="mask"):
        view.read_dosages(samples=np.ones(N, dtype=bool))
    assert select_genotypes(parent, Selection()) is parent  # nothing to select: the reader
    view.close()

"""VCF Zarr backend: stores written at test time by bio2zarr (``vcf2zarr``'s Python API) from
VCFs of the format fixtures; DS/GP/GT dosages (ALT) against the values written, the VCF backend
and ``plink2 --vcf --export A`` of the same VCF; subsets and chunking; a scan from ``--vcz``
against the scan from ``--vcf``; bad stores and a missing ``zarr``."""
from __future__ import annotations

import json
import logging
import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("zarr")
b2z = pytest.importorskip("bio2zarr.vcf")

sys.path.insert(0, str(Path(__file__).parent))
import _format_fixtures as ff  # noqa: E402
import _geno_fixtures as fx  # noqa: E402

from gwaskit.errors import GenotypeFormatError, InputError  # noqa: E402
from gwaskit.io.genotypes import open_genotypes  # noqa: E402
from gwaskit.io.vcz import VczFile  # noqa: E402

N, M = 40, 24


def to_vcz(vcf: Path, out: Path, **kw) -> Path:
    """``vcf2zarr convert`` through bio2zarr's API (bgzipped and indexed first, in-process)."""
    src = ff.compress(vcf, "vcf.gz", True)
    b2z.convert([str(src)], str(out), worker_processes=0, show_progress=False, **kw)
    return out


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    d = tmp_path_factory.mktemp("vcz")
    samples = [f"i{k}" for k in range(N)]
    var = fx.variant_table(M, chrom="4")
    var.loc[3, "variant_id"] = "."
    ds = ff.grid_dosages(N, M, seed=9)
    gt = fx.random_genotypes(N, M, seed=10, missing_rate=0.05)  # unrelated to ds on purpose
    vcfs = {
        # plink2 2.00a3.5 cannot import multi-allelic records with dosages: only in "gt"
        "all": ff.write_vcf(d / "all.vcf", samples, var, gt=gt, ds=ds, gp=gt),
        "gp": ff.write_vcf(d / "gp.vcf", samples, var, gp=ds),
        "gt": ff.write_vcf(d / "gt.vcf", samples, var, gt=gt, multi_after=7),
    }
    # without GT bio2zarr needs the ploidy to size GP's Number=G dimension
    stores = {k: to_vcz(v, d / f"{k}.vcz", **({"ploidy": 2} if k == "gp" else {}))
              for k, v in vcfs.items()}
    # "auto": a sample without DS takes its GT (plink2's fallback)
    auto = np.where(np.isnan(ds), gt, ds)
    return {"dir": d, "var": var, "ds": ds, "gt": gt, "auto": auto, "samples": samples,
            "vcf": vcfs, "vcz": stores}


def _plink2_raw(plink2, vcf: Path, out: Path, *mods: str):
    fx.run([plink2, "--vcf", vcf, *mods, "--export", "A", "--threads", "1", "--out", out])
    _, vals, tol, ids, counted = ff.read_raw(Path(str(out) + ".raw"))
    keep = [k for k, i in enumerate(ids) if i != "rsmulti"]
    return vals[:, keep], tol[:, keep], [counted[k] for k in keep]


@pytest.mark.parametrize("field,store,mods", [("ds", "all", ("dosage=DS",)),
                                              ("gp", "gp", ("dosage=GP-force",)),
                                              ("gt", "gt", ())])
def test_fields_match_plink2_and_the_vcf_backend(data, plink2, field, store, mods):
    """The store's call_DS / call_GP / call_genotype give the dosages written (ALT), the VCF
    backend's dosages of the source VCF, and plink2's --export A of it (2 - ours: plink2
    counts REF) to its printed precision."""
    with open_genotypes(data["vcz"][store]) as g:
        t, d = g.read_dosages(dtype=np.float64)
        assert list(g.samples) == data["samples"]
        assert g._backends[0].n_multiallelic == (1 if field == "gt" else 0)
    assert t["effect_allele"].tolist() == data["var"]["effect_allele"].tolist()  # ALT
    assert t["other_allele"].tolist() == data["var"]["other_allele"].tolist()
    v = data["var"]
    assert t["variant_id"].iat[3] == f"4:{v['base_pair_location'].iat[3]}:" \
        f"{v['other_allele'].iat[3]}:{v['effect_allele'].iat[3]}"
    expect = {"gt": data["gt"], "gp": data["ds"], "ds": data["auto"]}[field]
    np.testing.assert_array_equal(d, expect)
    with open_genotypes(data["vcf"][store]) as h:
        tv, dv = h.read_dosages(dtype=np.float64)
    pd.testing.assert_frame_equal(t, tv)
    np.testing.assert_array_equal(d, dv)
    vals, tol, counted = _plink2_raw(plink2, data["vcf"][store], data["dir"] / f"p_{field}",
                                     *mods)
    assert counted == data["var"]["other_allele"].tolist()
    ff.assert_matches_printed(2.0 - d, vals, tol)


def test_auto_order_and_forced_fields(data, tmp_path, caplog):
    """auto: DS, else GP, else GT per sample; a forced field alone; a forced field the store
    lacks is one line naming the store and the array."""
    store = data["vcz"]["all"]  # DS = ds, GP = gt's genotypes, GT = gt
    with open_genotypes(store) as g:
        np.testing.assert_array_equal(g.read_dosages(dtype=np.float64)[1], data["auto"])
    with open_genotypes(store, vcf_dosage="DS") as g:  # alone: missing stays NaN
        np.testing.assert_array_equal(g.read_dosages(dtype=np.float64)[1], data["ds"])
    for f in ("GT", "GP"):
        with open_genotypes(store, vcf_dosage=f) as g:
            np.testing.assert_array_equal(g.read_dosages(dtype=np.float64)[1], data["gt"])
    # bio2zarr writes call_DS (all missing) for a header that declares DS: NaN and a warning
    with caplog.at_level(logging.WARNING, logger="gwaskit"):
        with open_genotypes(data["vcz"]["gt"], vcf_dosage="DS") as g:
            assert np.isnan(g.read_dosages(dtype=np.float64)[1]).all()
    assert "gt.vcz" in caplog.text and "'rs4_0'" in caplog.text and "call_DS" in caplog.text
    no_ds = _broken(data["vcz"]["gt"], tmp_path / "no_ds.vcz", "call_DS")
    with pytest.raises(InputError) as ei:  # no array at all
        open_genotypes(no_ds, vcf_dosage="DS")
    msg = str(ei.value)
    assert str(no_ds) in msg and "call_DS" in msg and "\n" not in msg
    with pytest.raises(InputError, match="vcf_dosage"):
        open_genotypes(store, vcf_dosage="HDS")
    sample = data["dir"] / "x.sample"
    sample.write_text("ID_1 ID_2 missing\n0 0 0\n" + "".join(f"{i} {i} 0\n"
                                                          for i in data["samples"]))
    with pytest.raises(InputError, match="sample file applies to BGEN"):
        open_genotypes(store, sample)


def _haploid_gp(vcf: Path, rows) -> Path:
    """Give the samples ``rows`` of ``vcf`` haploid GP values (the first two of three)."""
    lines = vcf.read_text().splitlines()
    for i, line in enumerate(lines):
        if line.startswith("#"):
            continue
        f = line.split("\t")
        k = f[8].split(":").index("GP")
        for r in rows:
            cell = f[9 + r].split(":")
            cell[k] = ",".join(cell[k].split(",")[:2])
            f[9 + r] = ":".join(cell)
        lines[i] = "\t".join(f)
    vcf.write_text("\n".join(lines) + "\n")
    return vcf


def test_subsets_chunks_and_mixed_ploidy_agree_with_full_reads(data, tmp_path):
    """A store with small chunks (5 variants x 7 samples), Zarr format 3 (the module's other
    stores are format 2, bio2zarr's default), a left-out multi-allelic record and haploid GT
    calls in a diploid store (fill -2; they count 0..1, as in the VCF backend): the full read
    equals the values written and the VCF backend's; sample orders, scattered, contiguous and
    far-apart variant sets and chunked iteration give the full read's values."""
    hap = [1, 4, 30]
    gt = data["gt"].copy()
    gt[hap] = np.where(np.isnan(gt[hap]), np.nan, np.minimum(gt[hap], 1.0))
    vcf = _haploid_gp(ff.write_vcf(tmp_path / "mixed.vcf", data["samples"], data["var"], gt=gt,
                                   ds=data["ds"], gp=gt, multi_after=7, haploid_rows=hap), hap)
    store = to_vcz(vcf, tmp_path / "mixed.vcz", variants_chunk_size=5, samples_chunk_size=7,
                   zarr_format=3)
    assert (store / "zarr.json").exists()
    for f in ("GT", "GP"):  # haploid GP = (P(REF), P(ALT)), then the fill value
        with open_genotypes(store, vcf_dosage=f) as g, open_genotypes(vcf, vcf_dosage=f) as h:
            _, d = g.read_dosages(dtype=np.float64)
            np.testing.assert_array_equal(d, gt)
            np.testing.assert_array_equal(d, h.read_dosages(dtype=np.float64)[1])
            assert np.nanmax(d[hap]) == 1.0 and np.nanmax(d) == 2.0
    with open_genotypes(store) as g, open_genotypes(vcf) as h:
        assert g._backends[0].variants_chunk == 5 and g._backends[0].n_multiallelic == 1
        _, full = g.read_dosages(dtype=np.float64)
        np.testing.assert_array_equal(full, np.where(np.isnan(data["ds"]), gt, data["ds"]))
        np.testing.assert_array_equal(full, h.read_dosages(dtype=np.float64)[1])
        rows = np.array([33, 2, 17, 0, 17])  # unsorted, repeated
        for cols in ([20, 2, 21], [5], [0, 23], [8, 9, 10, 11], [2, 4, 6, 8], list(range(M))):
            _, x = g.read_dosages(samples=rows, variants=np.array(cols), dtype=np.float64)
            np.testing.assert_array_equal(x, full[np.ix_(rows, np.sort(cols))])
        mask = np.zeros(N, dtype=bool)
        mask[::3] = True
        for cs in (5, 7):
            parts = [p for _, p in g.iter_dosages(chunk_size=cs, samples=mask)]
            np.testing.assert_array_equal(np.hstack(parts), full[mask].astype(np.float32))
        # the backend itself, columns out of order (a view may ask so)
        out = np.full((N, 3), -1.0, order="F")
        g._backends[0].read_into(out, 0, np.array([9, 1, 22]), None)
        np.testing.assert_array_equal(out, full[:, [9, 1, 22]])


def test_dispatch_by_content_and_glob(data, tmp_path):
    """A store not named .vcz is recognised by its arrays; a glob of stores works."""
    other = tmp_path / "cohort.zarr"
    shutil.copytree(data["vcz"]["gt"], other)
    with open_genotypes(other) as g:
        assert isinstance(g._backends[0], VczFile)
        np.testing.assert_array_equal(g.read_dosages(dtype=np.float64)[1], data["gt"])
    with open_genotypes(str(data["dir"] / "g*.vcz")) as g:
        assert [p.name for p in g.paths] == ["gp.vcz", "gt.vcz"]
        assert g.n_variants == 2 * M


def _broken(src: Path, dst: Path, drop: str) -> Path:
    shutil.copytree(src, dst)
    shutil.rmtree(dst / drop)
    meta = dst / ".zmetadata"  # consolidated metadata would still list the array
    if meta.exists():
        m = json.loads(meta.read_text())
        m["metadata"] = {k: v for k, v in m["metadata"].items() if not k.startswith(drop + "/")}
        meta.write_text(json.dumps(m))
    return dst


def test_bad_stores_name_the_path(data, tmp_path):
    for drop in ("variant_position", "sample_id"):
        bad = _broken(data["vcz"]["gt"], tmp_path / f"no_{drop}.vcz", drop)
        with pytest.raises(GenotypeFormatError) as ei:
            open_genotypes(bad)
        msg = str(ei.value)
        assert str(bad) in msg and drop in msg and "\n" not in msg
    bad = _broken(data["vcz"]["gt"], tmp_path / "no_calls.vcz", "call_genotype")
    for drop in ("call_DS", "call_GP"):
        bad = _broken(bad, tmp_path / f"no_calls_{drop}.vcz", drop)
    with pytest.raises(GenotypeFormatError, match="no dosage array"):
        open_genotypes(bad)
    empty = tmp_path / "empty.vcz"
    empty.mkdir()
    with pytest.raises(GenotypeFormatError) as ei:
        open_genotypes(empty)
    assert str(empty) in str(ei.value)
    with pytest.raises(InputError, match="file not found"):
        open_genotypes(tmp_path / "absent.vcz")
    # a corrupt chunk: a one-line error naming the store, at read time
    bad = tmp_path / "corrupt.vcz"
    shutil.copytree(data["vcz"]["gt"], bad)
    for f in (bad / "call_genotype").rglob("*"):
        if f.is_file() and not f.name.startswith(".") and f.name != "zarr.json":
            f.write_bytes(b"\x00garbage")
    with open_genotypes(bad) as g:
        with pytest.raises(GenotypeFormatError) as ei:
            g.read_dosages()
    assert str(bad) in str(ei.value) and "\n" not in str(ei.value)


# -- the scan -------------------------------------------------------------------------------
NS, MS, D = 150, 36, 3


@pytest.fixture(scope="module")
def scan_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("vczscan")
    samples = [f"s{i}" for i in range(NS)]
    var = fx.variant_table(MS, chrom="6")
    gt = fx.random_genotypes(NS, MS, seed=21, missing_rate=0.03)
    ds = ff.grid_dosages(NS, MS, seed=22)
    ds[:, 5] = 0.0  # monomorphic (DS): skipped the same way from both
    vcf = ff.write_vcf(d / "g.vcf", samples, var, gt=gt, ds=ds)
    store = to_vcz(vcf, d / "g.vcz", variants_chunk_size=8)
    rng = np.random.default_rng(3)
    Y = rng.normal(size=(NS, D))
    Y[:, 0] += 0.7 * np.nan_to_num(ds[:, 2])
    pheno = d / "emb.parquet"
    pd.DataFrame({"IID": samples, **{f"emb_{k}": Y[:, k] for k in range(D)}}).to_parquet(pheno)
    return {"vcf": ff.compress(vcf, "vcf.gz", True), "vcz": store, "pheno": pheno}


def test_scan_from_vcz_equals_scan_from_vcf(scan_files):
    from gwaskit.pipelines.scan import ScanConfig, ScanInputs, run_scan

    cfg = ScanConfig(dtype="float64", chunk_size=10, pca=None)
    res = {k: run_scan(ScanInputs(genotypes=str(scan_files[k]), pheno=str(scan_files["pheno"])),
                       cfg).table.reset_index(drop=True) for k in ("vcf", "vcz")}
    ref, t = res["vcf"], res["vcz"]
    assert len(ref) == MS and (ref["errcode"] == ".").sum() == MS - 1
    assert list(t.columns) == list(ref.columns)
    num = [c for c in ref.columns if pd.api.types.is_float_dtype(ref[c])]
    assert {"chisq", "p_value"} <= set(num)
    other = [c for c in ref.columns if c not in num]
    pd.testing.assert_frame_equal(t[other], ref[other], check_dtype=False)
    np.testing.assert_allclose(t[num].to_numpy(float), ref[num].to_numpy(float), rtol=1e-12,
                               atol=0, equal_nan=True)


def test_cli_vcz_flag_equals_vcf_flag(scan_files, tmp_path, capsys):
    """``--vcz`` with a selection flag and ``--vcf-dosage`` as ``--vcf`` takes them; a bad
    store and two genotype flags are one-line errors, exit 2."""
    from gwaskit.cli.main import main

    (tmp_path / "keep.txt").write_text("".join(f"s{i}\n" for i in range(0, NS, 2)))
    out = {}
    for flag in ("--vcf", "--vcz"):
        o = tmp_path / f"{flag[2:]}.tsv"
        main(["scan", flag, str(scan_files[flag[2:]]), "--pheno", str(scan_files["pheno"]),
              "--no-pca", "--dtype", "float64", "--keep", str(tmp_path / "keep.txt"),
              "--vcf-dosage", "GT", "--chunk-size", "7", "--quiet", "--out", str(o)])
        out[flag] = pd.read_csv(o, sep="\t")
        assert json.loads(Path(str(o) + ".meta.json").read_text())["n"] == NS // 2
    assert out["--vcz"]["variant_id"].tolist() == out["--vcf"]["variant_id"].tolist()
    np.testing.assert_allclose(out["--vcz"]["chisq"], out["--vcf"]["chisq"], rtol=1e-12)
    capsys.readouterr()
    for args in (["--vcz", str(tmp_path / "absent.vcz")],
                 ["--vcz", str(scan_files["vcz"]), "--vcf", str(scan_files["vcf"])]):
        with pytest.raises(SystemExit) as ei:
            main(["scan", *args, "--pheno", str(scan_files["pheno"]), "--quiet", "--out",
                  str(tmp_path / "x.tsv")])
        assert ei.value.code == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("Error:")
    assert "--vcz" in err[0]


def test_missing_zarr_gives_the_pip_hint(scan_files, tmp_path, monkeypatch, capsys):
    """Without zarr (blocked here) ``--vcz`` is one line naming the extra, exit 2."""
    from gwaskit.cli.main import main

    monkeypatch.setitem(sys.modules, "zarr", None)  # 'import zarr' -> ModuleNotFoundError
    with pytest.raises(SystemExit) as ei:
        main(["scan", "--vcz", str(scan_files["vcz"]), "--pheno", str(scan_files["pheno"]),
              "--quiet", "--out", str(tmp_path / "x.tsv")])
    assert ei.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["Error: this command needs the optional package 'zarr': "
                   "pip install 'gwaskit[vcz]'"]

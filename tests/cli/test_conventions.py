"""Conventions every command keeps (issue 12): outputs never overwrite inputs, PCA/PRS tables
round-trip into ``scan --covar``, the held-out split guard, and bad input is one line on stderr
with exit code 2 (never a traceback, never an abort at exit)."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from gwaskit.cli.main import main

bed_reader = pytest.importorskip("bed_reader")
N, M = 80, 120


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    d = tmp_path_factory.mktemp("conventions")
    rng = np.random.default_rng(3)
    G = rng.binomial(2, rng.uniform(0.1, 0.5, M), size=(N, M)).astype(np.float32)
    iids = [f"{i:04d}" for i in range(N)]
    bed_reader.to_bed(d / "g.bed", G, properties={
        "fid": [f"f{i}" for i in range(N)], "iid": iids, "chromosome": ["1"] * M,
        "sid": [f"rs{j}" for j in range(M)], "bp_position": list(range(1000, 1000 + 10 * M, 10)),
        "allele_1": ["T"] * M, "allele_2": ["C"] * M})
    Y = rng.normal(size=(N, 3))
    emb = pd.DataFrame({"IID": iids, **{f"emb_{k}": Y[:, k] for k in range(3)}})
    emb.to_csv(d / "emb.tsv", sep="\t", index=False)
    emb.assign(split=["train"] * 50 + ["test"] * 30).to_parquet(d / "split.parquet")
    emb.iloc[:0].to_parquet(d / "header_only.parquet")
    emb.assign(emb_1=np.where(np.arange(N) == 3, 1e300, Y[:, 1])).to_csv(d / "huge.tsv", sep="\t",
                                                                          index=False)
    pd.DataFrame({"IID": np.arange(N), "y": Y[:, 0]}).to_parquet(d / "int_ids.parquet")
    emb.assign(IID=iids[:30] + [f"x{i}" for i in range(N - 30)]).to_csv(d / "partial.tsv",
                                                                        sep="\t", index=False)
    return d


def _exit(args) -> int:
    with pytest.raises(SystemExit) as exc:
        main(args)
    return exc.value.code


def _sub(args, env=None, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gwaskit.cli.main", *args], capture_output=True,
                          text=True, env={**os.environ, **(env or {})}, cwd=cwd, timeout=120)


def _one_line_error(proc: subprocess.CompletedProcess, *needles: str) -> None:
    err = proc.stderr.strip().splitlines()
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and "terminate called" not in proc.stderr
    errors = [ln for ln in err if ln.startswith("Error:")]
    assert len(errors) == 1 and errors[0] == err[-1], proc.stderr
    for needle in needles:
        assert needle in errors[0], errors[0]


# -- --out never names an input -----------------------------------------------------------------

def test_out_naming_an_input_is_refused_even_with_overwrite(data, capsys):
    before = (data / "emb.tsv").read_bytes()
    for out in (data / "emb.tsv", "./" + os.path.relpath(data / "emb.tsv")):
        assert _exit(["scan", "--bed", str(data / "g"), "--pheno", str(data / "emb.tsv"),
                      "--overwrite", "--quiet", "--out", str(out)]) == 2
        assert "would overwrite the input" in capsys.readouterr().err
    assert (data / "emb.tsv").read_bytes() == before
    link = data / "link.tsv"
    link.symlink_to(data / "emb.tsv")
    assert _exit(["scan", "--bed", str(data / "g"), "--pheno", str(data / "emb.tsv"),
                  "--overwrite", "--quiet", "--out", str(link)]) == 2
    # a genotype prefix names its .fam; a sidecar (<out>.meta.json) counts too
    assert _exit(["pca", "--bed", str(data / "g"), "--overwrite", "--quiet",
                  "--out", str(data / "g.fam")]) == 2
    (data / "pcs.tsv.meta.json").write_text("f0 0000\n")
    assert _exit(["pca", "--bed", str(data / "g"), "--keep", str(data / "pcs.tsv.meta.json"),
                  "--overwrite", "--quiet", "--out", str(data / "pcs.tsv")]) == 2
    assert "pcs.tsv.meta.json: output would overwrite the input" in capsys.readouterr().err
    assert (data / "g.fam").stat().st_size > 0


def test_meta_out_naming_a_sumstats_file_is_refused(tmp_path, capsys):
    ss = tmp_path / "a.tsv"
    pd.DataFrame({"variant_id": ["v1"], "effect_allele": ["A"], "other_allele": ["G"], "beta": [0.1],
                  "standard_error": [0.1]}).to_csv(ss, sep="\t", index=False)
    before = ss.read_bytes()
    assert _exit(["meta", "--sumstats", str(ss), "--sumstats", str(ss), "--overwrite", "--quiet",
                  "--out", str(ss)]) == 2
    assert ss.read_bytes() == before


# -- pca / prs output feeds scan --covar ---------------------------------------------------------

def test_pca_output_round_trips_into_scan_covar(data):
    pcs = data / "pcs_rt.tsv"
    main(["pca", "--bed", str(data / "g"), "--n-pcs", "3", "--quiet", "--out", str(pcs)])
    t = pd.read_csv(pcs, sep="\t", dtype={"IID": str})
    assert t["FID"].tolist() == [f"f{i}" for i in range(N)]  # from the .fam
    out = data / "scan_pcs.tsv"
    main(["scan", "--bed", str(data / "g"), "--pheno", str(data / "emb.tsv"), "--covar", str(pcs),
          "--quiet", "--out", str(out)])
    meta = json.loads((data / "scan_pcs.tsv.meta.json").read_text())
    assert meta["n"] == N and meta["c"] == 4  # intercept + PC1..PC3
    assert meta["covariates_kept"][-3:] == ["PC1", "PC2", "PC3"]


def test_pca_without_fids_round_trips_into_scan_covar(data, tmp_path):
    from gwaskit.io.bgen_writer import write_bgen

    g = bed_reader.open_bed(data / "g.bed", count_A1=True)
    variants = pd.DataFrame({"chromosome": "1", "base_pair_location": g.bp_position,
                             "variant_id": g.sid, "effect_allele": "T", "other_allele": "C"})
    write_bgen(tmp_path / "g.bgen", list(g.iid), variants, dosages=g.read(dtype=np.float64))
    pcs = tmp_path / "pcs.tsv"
    main(["pca", "--bgen", str(tmp_path / "g.bgen"), "--n-pcs", "2", "--quiet", "--out", str(pcs)])
    assert pd.read_csv(pcs, sep="\t")["FID"].isna().all()  # BGEN without family IDs
    main(["scan", "--bgen", str(tmp_path / "g.bgen"), "--pheno", str(data / "emb.tsv"), "--covar",
          str(pcs), "--quiet", "--out", str(tmp_path / "s.tsv")])
    assert json.loads((tmp_path / "s.tsv.meta.json").read_text())["c"] == 3


# -- held-out split guard -------------------------------------------------------------------------

def test_scan_refuses_several_splits_until_one_is_chosen(data, capsys):
    base = ["scan", "--bed", str(data / "g"), "--pheno", str(data / "split.parquet"), "--quiet"]
    assert _exit(base + ["--out", str(data / "sp.tsv")]) == 2
    err = capsys.readouterr().err
    assert "column split holds 2 values" in err and "--split-value test" in err and "--all-splits" in err
    main(base + ["--split-value", "test", "--out", str(data / "sp_test.tsv")])
    assert json.loads((data / "sp_test.tsv.meta.json").read_text())["n"] == 30
    main(base + ["--all-splits", "--out", str(data / "sp_all.tsv")])
    assert json.loads((data / "sp_all.tsv.meta.json").read_text())["n"] == N


def test_id_mismatch_flag(data, capsys):
    base = ["scan", "--bed", str(data / "g"), "--quiet"]
    assert _exit(base + ["--pheno", str(data / "int_ids.parquet"), "--out", str(data / "i.tsv")]) == 2
    err = capsys.readouterr().err
    assert "no IID in common" in err and "'0000'" in err and "table '0', '1', '2'" in err
    base += ["--pheno", str(data / "partial.tsv")]
    assert _exit(base + ["--out", str(data / "ids.tsv")]) == 2
    err = capsys.readouterr().err
    assert "only 30 of its 80 IIDs" in err and "pass --allow-id-mismatch" in err
    main(base + ["--allow-id-mismatch", "--out", str(data / "ids.tsv")])
    assert json.loads((data / "ids.tsv.meta.json").read_text())["n"] == 30


# -- one line, exit 2 ------------------------------------------------------------------------------

@pytest.mark.parametrize("case", ["header_only", "huge", "threads", "manifest"])
def test_errors_are_one_line_exit_2(data, tmp_path, case):
    args = ["scan", "--bed", str(data / "g"), "--pheno", str(data / "emb.tsv"),
            "--out", str(tmp_path / "r.tsv")]
    env, needles = None, ()
    if case == "header_only":
        args[4], needles = str(data / "header_only.parquet"), ("header_only.parquet", "no rows")
    elif case == "huge":
        args[4], needles = str(data / "huge.tsv"), ("emb_1", "1e+300")
    elif case == "threads":
        env, needles = {"GWASKIT_THREADS": "abc"}, ("GWASKIT_THREADS", "'abc'")
    else:
        main(args + ["--quiet", "--chunk-size", "40", "--keep-parts"])
        man_path = tmp_path / "r.tsv.parts" / "manifest.json"
        man = json.loads(man_path.read_text())
        man["done"] = [0, "x"]
        man_path.write_text(json.dumps(man))
        for f in ("r.tsv", "r.tsv.meta.json"):
            (tmp_path / f).unlink()
        args += ["--resume", "--chunk-size", "40"]
        needles = ("manifest.json", "'done' entry 2 is 'x'")
    _one_line_error(_sub(args, env), *needles)


def test_refused_scan_always_exits_2(data):
    """A refusal after the genotypes and a Parquet table were opened exits 2 every time (no
    native thread left running at exit: 'terminate called without an active exception', 134)."""
    args = [sys.executable, "-m", "gwaskit.cli.main", "scan", "--bed", str(data / "g"), "--pheno",
            str(data / "int_ids.parquet"), "--quiet", "--out", str(data / "never.tsv")]
    codes, errs = [], []
    for batch in range(5):  # 4 at a time: 20 runs in a few seconds of wall time
        procs = [subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
                 for _ in range(4)]
        for p in procs:
            _, err = p.communicate(timeout=120)
            codes.append(p.returncode)
            errs.append(err)
    assert codes == [2] * 20, [e for c, e in zip(codes, errs) if c != 2][:1]
    assert not (data / "never.tsv").exists() and not (data / "never.tsv.parts").exists()


def test_prs_output_round_trips_into_scan_covar(data, tmp_path):
    from gwaskit.io.bgen_writer import write_bgen

    g = bed_reader.open_bed(data / "g.bed", count_A1=True)
    variants = pd.DataFrame({"chromosome": "1", "base_pair_location": g.bp_position,
                             "variant_id": g.sid, "effect_allele": "T", "other_allele": "C"})
    write_bgen(tmp_path / "g.bgen", list(g.iid), variants, dosages=g.read(dtype=np.float64))
    panel = variants.iloc[:20].assign(beta=np.linspace(-1, 1, 20))
    panel.to_csv(tmp_path / "panel.tsv", sep="\t", index=False)
    prs = tmp_path / "prs.tsv"
    main(["prs", "--panel", str(tmp_path / "panel.tsv"), "--bgen", str(tmp_path / "g.bgen"),
          "--quiet", "--out", str(prs)])
    assert pd.read_csv(prs, sep="\t")["FID"].isna().all()
    main(["scan", "--bgen", str(tmp_path / "g.bgen"), "--pheno", str(data / "emb.tsv"), "--covar",
          str(prs), "--covar-cols", "score", "--quiet", "--out", str(tmp_path / "s.tsv")])
    meta = json.loads((tmp_path / "s.tsv.meta.json").read_text())
    assert meta["n"] == N and meta["covariates_kept"][-1] == "score"

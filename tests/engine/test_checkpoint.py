"""Chunk plan, checkpoint manifest and resume rules (in-process, fast)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gwaskit.engine.checkpoint import WorkDir
from gwaskit.engine.plan import plan_chunks
from gwaskit.errors import InputError
from gwaskit.engine.execute import Execution
from gwaskit.pipelines.scan import Checkpoint, ScanConfig, ScanInputs, run_scan as run_pipeline
from gwaskit.pipelines.scan import scan

from .conftest import ROOT, assert_identical, run_scan


def test_plan_never_straddles_files():
    ch = plan_chunks([25, 0, 7], 10)
    assert [(c.file, c.start, c.stop) for c in ch] == [(0, 0, 10), (0, 10, 20), (0, 20, 25),
                                                       (2, 25, 32)]
    assert [c.index for c in ch] == [0, 1, 2, 3]
    with pytest.raises(InputError):
        plan_chunks([5], 0)


def test_import_does_not_load_dask():
    code = ("import sys, gwaskit, gwaskit.pipelines.scan, gwaskit.engine.execute, gwaskit.cli.scan; "
            "assert not any(m == 'dask' or m.startswith(('dask.', 'distributed')) "
            "for m in sys.modules), [m for m in sys.modules if 'dask' in m]")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, timeout=60)


@pytest.mark.parametrize("per_dim", [False, True])
def test_thread_count_does_not_change_bits(cohort, per_dim):
    """In-process worker threads test chunks concurrently; results are bit-identical to one
    thread (BLAS single-threaded per chunk, fixed chunk boundaries) and in plan order."""
    kw = dict(bgen=cohort["glob"], pheno=str(cohort["pheno"]), pheno_cols=["emb_*"],
              chunk_size=17, per_dim=per_dim)
    one = scan(**kw, threads=1)
    assert list(one["variant_id"]) == [f"rs{c}_{j}" for c in "12" for j in range(cohort["m"] // 2)]
    assert_identical(one, scan(**kw, threads=3))


def test_work_dir_matches_in_memory_and_resume_rules(cohort, tmp_path):
    inputs = ScanInputs(genotypes=cohort["glob"], pheno=str(cohort["pheno"]))
    config = ScanConfig(pheno_cols=("emb_*",), chunk_size=40)
    mem = run_pipeline(inputs, config).table
    wd = tmp_path / "r.parquet.parts"
    res = run_pipeline(inputs, config, checkpoint=Checkpoint(str(wd)))
    assert_identical(mem, res.table)
    assert res.metadata["chunks_total"] == 8 and res.metadata["chunks_computed"] == 8
    man = json.loads((wd / "manifest.json").read_text())
    assert man["n_done"] == 8 and len(man["plan"]["chunks"]) == 8
    assert man["fingerprint"] == config.fingerprint()
    assert man["versions"]["numba"] and man["versions"]["numpy"]
    assert [g["path"] for g in man["inputs"]["genotypes"]] == [str(p) for p in cohort["bgen"]]
    # no resume: refused
    with pytest.raises(InputError, match="resume"):
        run_pipeline(inputs, config, checkpoint=Checkpoint(str(wd)))
    # resume with everything done: nothing recomputed, same result
    again = run_pipeline(inputs, config, checkpoint=Checkpoint(str(wd), resume=True))
    assert again.metadata["chunks_resumed"] == 8 and again.metadata["chunks_computed"] == 0
    assert_identical(mem, again.table)
    # a part lost (e.g. disk trouble) is recomputed
    (wd / "part-000003.parquet").unlink()
    again = run_pipeline(inputs, config, checkpoint=Checkpoint(str(wd), resume=True))
    assert_identical(mem, again.table)
    assert again.metadata["chunks_computed"] == 1
    # a part swapped with another chunk's (same size) is refused and recomputed
    p2, p5 = wd / "part-000002.parquet", wd / "part-000005.parquet"
    b2, b5 = p2.read_bytes(), p5.read_bytes()
    p2.write_bytes(b5)
    p5.write_bytes(b2)
    again = run_pipeline(inputs, config, checkpoint=Checkpoint(str(wd), resume=True))
    assert again.metadata["chunks_computed"] == 2
    assert_identical(mem, again.table)
    # different options or chunking: clear error, never a mix
    with pytest.raises(InputError, match=r"different config \(config\.maf"):
        run_pipeline(inputs, ScanConfig(pheno_cols=("emb_*",), chunk_size=40, maf=0.01),
                     checkpoint=Checkpoint(str(wd), resume=True))
    with pytest.raises(InputError, match="different config"):
        run_pipeline(inputs, ScanConfig(pheno_cols=("emb_*",), chunk_size=30),
                     checkpoint=Checkpoint(str(wd), resume=True))


def test_part_swapped_after_resume_check_is_refused_at_assembly(tmp_path):
    """A part replaced by another chunk's while the run goes on never enters the result."""
    chunks = plan_chunks([4], 2)
    ids = np.array(["a", "b", "c", "d"])
    w = WorkDir(tmp_path / "x.parts", "f", {}, chunks, chunk_ids=lambda c: ids[c.start:c.stop])
    w.check(resume=False)
    w.open()
    w.write_part(chunks[0], pd.DataFrame({"variant_id": ["a", "b"]}))
    w.write_part(chunks[1], pd.DataFrame({"variant_id": ["a", "b"]}))  # wrong IDs
    with pytest.raises(InputError, match="does not hold the variants of chunk 1"):
        w.assemble()
    w.close()


def test_config_fingerprint_and_validation():
    a, b = ScanConfig(maf=0.01), ScanConfig(maf=0.01)
    assert a == b and a.fingerprint() == b.fingerprint()
    assert ScanConfig(dtype="float64").fingerprint() != a.fingerprint()
    assert ScanConfig(pheno_cols="emb_*").pheno_cols == ("emb_*",)
    with pytest.raises(InputError, match="^pca: expected a positive integer"):
        ScanConfig(pca=0)
    with pytest.raises(InputError, match="^chunk_size"):
        ScanConfig(chunk_size=0)
    with pytest.raises(InputError, match="^maf"):
        ScanConfig(maf=0.7)
    with pytest.raises(InputError, match="mutually exclusive"):
        Execution(scheduler="tls://x:1", workers=2)


def test_changed_input_is_refused(cohort, tmp_path):
    pheno = tmp_path / "emb.parquet"
    pheno.write_bytes(Path(cohort["pheno"]).read_bytes())
    out = tmp_path / "o.parquet"
    r = run_scan(cohort | {"pheno": pheno}, out, "--chunk-size", "100", "--keep-parts", "--quiet")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "o.parquet.parts" / "manifest.json").exists()
    out.unlink()
    Path(str(out) + ".meta.json").unlink()
    df = pd.read_parquet(pheno)
    df["emb_0"] += 1.0
    df.to_parquet(pheno)
    r = run_scan(cohort | {"pheno": pheno}, out, "--chunk-size", "100", "--resume")
    assert r.returncode == 2
    err = r.stderr.strip().splitlines()
    assert "different inputs (inputs.pheno" in err[-1] and "Traceback" not in r.stderr
    assert not out.exists()
    # without --resume the existing work dir is refused up front
    r = run_scan(cohort | {"pheno": pheno}, out, "--chunk-size", "100")
    assert r.returncode == 2 and "pass --resume" in r.stderr


def test_manifest_roundtrip_and_stray_tmp(tmp_path):
    from gwaskit.engine.plan import Chunk

    chunks = plan_chunks([5], 2)
    w = WorkDir(tmp_path / "x.parts", "fp", {"a": 1}, chunks)
    assert w.check(resume=False) == set()
    w.open()
    f = pd.DataFrame({"v": np.arange(2.0)})
    w.write_part(chunks[0], f, [{"index": 1, "variant_id": "rs", "file": "f", "error": "bad"}])
    (w.path / ".part-000001.parquet.123.tmp").write_text("half")
    w.close()
    w2 = WorkDir(tmp_path / "x.parts", "fp", {"a": 1}, chunks)
    assert w2.check(resume=True) == {0}
    w2.open()
    assert not list(w2.path.glob(".*.tmp"))
    assert w2.skipped_table()["variant_id"].tolist() == ["rs"]
    assert [c.index for c in w2.missing()] == [1, 2]
    w2.close()
    assert isinstance(chunks[0], Chunk)

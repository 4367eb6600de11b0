"""Fault tests on loopback: a killed client, SIGTERM, a corrupt BGEN block, a killed Dask
worker, and bit-identity across execution modes. Every process started here is killed in
teardown; each test takes well under a minute on 2 cores."""
from __future__ import annotations

import json
import shutil
import signal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from .conftest import (assert_identical, kill, n_parts, read, run_scan, start_scan, wait_for)

CHUNK = ["--chunk-size", "10"]  # 30 chunks over the two files
N_CHUNKS = 30


@pytest.fixture(scope="module")
def reference(cohort, tmp_path_factory):
    """A clean in-process run with the chunking every test uses."""
    out = tmp_path_factory.mktemp("ref") / "ref.parquet"
    r = run_scan(cohort, out, *CHUNK, "--quiet")
    assert r.returncode == 0, r.stderr
    return read(out)


def _meta(out: Path) -> dict:
    return json.loads(Path(str(out) + ".meta.json").read_text())


def test_client_killed_then_resume(cohort, reference, tmp_path):
    """Fault 2: SIGKILL the client mid-scan; --resume recomputes only the missing chunks."""
    out = tmp_path / "k.parquet"
    proc = start_scan(cohort, out, *CHUNK, _GWASKIT_TEST_CHUNK_DELAY=0.15)
    try:
        wait_for(lambda: n_parts(out) >= 5, 60, proc)
    finally:
        kill(proc, signal.SIGKILL)
    assert proc.returncode == -signal.SIGKILL
    assert not out.exists()
    kept = n_parts(out)
    assert 5 <= kept < N_CHUNKS
    r = run_scan(cohort, out, *CHUNK, "--resume")
    assert r.returncode == 0, r.stderr
    meta = _meta(out)
    assert meta["chunks_total"] == N_CHUNKS
    assert meta["chunks_resumed"] >= kept and meta["chunks_computed"] < N_CHUNKS
    assert meta["chunks_resumed"] + meta["chunks_computed"] == N_CHUNKS
    assert f"{meta['chunks_resumed']} already done" in r.stderr
    df = read(out)
    assert df["variant_id"].is_unique and set(df["variant_id"]) == set(reference["variant_id"])
    assert_identical(reference, df)
    assert not Path(str(out) + ".parts").exists()  # removed after assembly (no --keep-parts)


def test_sigterm_stops_cleanly(cohort, reference, tmp_path):
    out = tmp_path / "t.parquet"
    proc = start_scan(cohort, out, *CHUNK, _GWASKIT_TEST_CHUNK_DELAY=0.15)
    try:
        wait_for(lambda: n_parts(out) >= 3, 60, proc)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    finally:
        kill(proc)
    assert proc.returncode == 143, err
    last = err.strip().splitlines()[-1]
    assert last.startswith("Interrupted (SIGTERM):") and "--resume" in last and "Traceback" not in err
    assert n_parts(out) >= 3 and not out.exists()
    r = run_scan(cohort, out, *CHUNK, "--resume", "--quiet")
    assert r.returncode == 0, r.stderr
    assert_identical(reference, read(out))


def _corrupt(src: dict, dst: Path, chrom: str, j: int) -> dict:
    """Copy the cohort into ``dst`` and flip bytes inside variant j's compressed block."""
    from gwaskit.io.bgen import BgenFile

    for p in src["bgen"] + [src["pheno"]]:
        shutil.copy(p, dst / Path(p).name)
    path = dst / f"chr{chrom}.bgen"
    with BgenFile(path, None, cache_dir=dst / "cache") as b:
        off, ln, _ = (int(x) for x in b._blocks[j])
    raw = bytearray(path.read_bytes())
    mid = off + ln // 2
    raw[mid:mid + 8] = bytes(x ^ 0xFF for x in raw[mid:mid + 8])
    path.write_bytes(bytes(raw))
    return src | {"dir": dst, "bgen": [dst / Path(p).name for p in src["bgen"]],
                  "glob": str(dst / "chr*.bgen"), "pheno": dst / Path(src["pheno"]).name}


def test_corrupt_variant_then_skip(cohort, reference, tmp_path):
    """Fault 3: a corrupt block in the middle: a one-line error naming file and variant, the
    finished parts stay; --resume --skip-bad-variants finishes and records the skip."""
    bad = _corrupt(cohort, tmp_path, "2", 75)  # global variant 225, chunk 22
    out = tmp_path / "c.parquet"
    r = run_scan(bad, out, *CHUNK)
    assert r.returncode == 2
    last = r.stderr.strip().splitlines()[-1]
    assert "chr2.bgen" in last and "'rs2_75'" in last and "Traceback" not in r.stderr
    assert "--skip-bad-variants" in last
    assert n_parts(out) == 22  # chunks before the bad one, in plan order
    r = run_scan(bad, out, *CHUNK, "--resume", "--skip-bad-variants")
    assert r.returncode == 0, r.stderr
    assert "skipped unreadable variant rs2_75" in r.stderr
    df = read(out)
    assert len(df) == len(reference) and df["variant_id"].is_unique
    row = df.index[df["variant_id"] == "rs2_75"][0]
    assert df.loc[row, "errcode"] == "BAD_GENOTYPES" and np.isnan(df.loc[row, "p_value"])
    assert (df["errcode"] == "BAD_GENOTYPES").sum() == 1
    assert_identical(reference.drop(index=row), df.drop(index=row))
    sk = pd.read_csv(str(out) + ".skipped.tsv", sep="\t")
    assert sk["variant_id"].tolist() == ["rs2_75"] and sk["index"].tolist() == [225]
    assert "chr2.bgen" in sk["file"].iat[0]
    meta = _meta(out)
    assert meta["chunks_resumed"] == 22 and meta["chunks_computed"] == 8 and meta["n_skipped"] == 1


def test_worker_killed_mid_scan(cohort, reference, tmp_path, hand_cluster):
    """Fault 1: kill one of two Dask worker processes once some parts exist; the scheduler
    reruns its tasks elsewhere and the output is identical to a clean run."""
    pytest.importorskip("distributed")
    cl = hand_cluster(2, _GWASKIT_TEST_CHUNK_DELAY=0.3)
    out = tmp_path / "w.parquet"
    proc = start_scan(cohort, out, *CHUNK, "--scheduler", cl.address)
    try:
        wait_for(lambda: n_parts(out) >= 4, 90, proc)
        kill(cl.workers[0], signal.SIGKILL)
        assert n_parts(out) < N_CHUNKS
        _, err = proc.communicate(timeout=120)
    finally:
        kill(proc)
    assert proc.returncode == 0, err
    assert_identical(reference, read(out))


def test_identity_across_modes(cohort, reference, tmp_path, hand_cluster):
    """Fault 4: in-process, LocalCluster and a hand-started scheduler + worker: same bits."""
    pytest.importorskip("distributed")
    out = tmp_path / "lc.parquet"
    r = run_scan(cohort, out, *CHUNK, "--workers", "2", "--quiet", timeout=180)
    assert r.returncode == 0, r.stderr
    assert_identical(reference, read(out))
    cl = hand_cluster(1)
    out = tmp_path / "hs.parquet"
    r = run_scan(cohort, out, *CHUNK, "--scheduler", cl.address, "--quiet", timeout=180)
    assert r.returncode == 0, r.stderr
    assert_identical(reference, read(out))
    assert _meta(out)["execution"].startswith("Dask scheduler tcp://127.0.0.1:")


def test_losing_every_worker_is_one_line_exit_2_and_resumable(cohort, reference, tmp_path,
                                                              hand_cluster):
    """The only worker dies mid-scan (no nanny to restart it): after the grace period the run
    ends with one line and exit 2, the finished parts stay, and --resume finishes in-process
    with the same bits as a clean run."""
    pytest.importorskip("distributed")
    cl = hand_cluster(1, _GWASKIT_TEST_CHUNK_DELAY=0.3)
    out = tmp_path / "lost.parquet"
    proc = start_scan(cohort, out, *CHUNK, "--scheduler", cl.address, GWASKIT_WORKER_GRACE=2)
    try:
        wait_for(lambda: n_parts(out) >= 3, 90, proc)
        kill(cl.workers[0], signal.SIGKILL)
        _, err = proc.communicate(timeout=120)
    finally:
        kill(proc)
    assert proc.returncode == 2, err
    assert "Traceback" not in err and "FutureCancelledError" not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith("Error: Dask: lost every worker"), last
    assert "rerun with --resume" in last
    kept = n_parts(out)
    assert 3 <= kept < N_CHUNKS and not out.exists()
    r = run_scan(cohort, out, *CHUNK, "--resume", "--quiet")
    assert r.returncode == 0, r.stderr
    assert_identical(reference, read(out))


def test_local_cluster_refuses_unauthenticated_clients():
    """--workers starts its LocalCluster on loopback with TLS and mutual authentication: a
    client without the run's certificate cannot connect (so cannot run code in the workers),
    while the run's own client can."""
    pytest.importorskip("distributed")
    from distributed import Client

    from gwaskit.engine.execute import Execution, _client

    client, cluster = _client(Execution(workers=1))
    try:
        address = cluster.scheduler_address
        assert address.startswith("tls://127.0.0.1:")
        assert client.submit(sum, [1, 2]).result(timeout=60) == 3
        for addr in (address, address.replace("tls://", "tcp://")):
            with pytest.raises(Exception) as e:  # noqa: PT011 - TLS handshake or timeout
                intruder = Client(addr, timeout="3s")
                intruder.run(lambda: "ran code in a worker")
                intruder.close()
            assert not isinstance(e.value, AssertionError)
    finally:
        client.close()
        cluster.close()

"""Fixtures for the engine tests: two small BGEN files, a phenotype table, CLI runners and a
hand-started Dask scheduler + workers on loopback (always killed in teardown)."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[2]
N, M_PER_FILE, D = 240, 150, 4


def make_cohort(d: Path, n: int = N, m: int = M_PER_FILE, files=("1", "2"), seed: int = 7) -> dict:
    from gwaskit.io.bgen_writer import write_bgen

    rng = np.random.default_rng(seed)
    iids = [f"s{i}" for i in range(n)]
    paths = []
    G_all = []
    for chrom in files:
        maf = rng.uniform(0.05, 0.5, m)
        G = rng.binomial(2, maf, size=(n, m)).astype(np.float64)
        G[rng.random((n, m)) < 0.01] = np.nan
        G[:, 3] = 0.0  # monomorphic
        v = pd.DataFrame({"chromosome": chrom, "base_pair_location": 1000 + 50 * np.arange(m),
                          "variant_id": [f"rs{chrom}_{j}" for j in range(m)],
                          "effect_allele": "A", "other_allele": "G"})
        p = d / f"chr{chrom}.bgen"
        write_bgen(p, iids, v, dosages=G, threads=1)
        paths.append(p)
        G_all.append(G)
    Y = rng.normal(size=(n, D))
    Y[:, 0] += 0.8 * np.nan_to_num(G_all[0][:, 10])
    pheno = d / "emb.parquet"
    pd.DataFrame({"IID": iids, **{f"emb_{k}": Y[:, k] for k in range(D)}}).to_parquet(pheno)
    return {"dir": d, "bgen": paths, "glob": str(d / "chr*.bgen"), "pheno": pheno,
            "m": m * len(files)}


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    return make_cohort(tmp_path_factory.mktemp("engine"))


def env(**extra) -> dict:
    e = dict(os.environ)
    e["PYTHONPATH"] = str(ROOT) + os.pathsep + e.get("PYTHONPATH", "")
    e.setdefault("OMP_NUM_THREADS", "1")
    e.update({k: str(v) for k, v in extra.items()})
    return e


def scan_args(cohort: dict, out: Path, *extra) -> list[str]:
    return [sys.executable, "-m", "gwaskit.cli.main", "scan", "--bgen", cohort["glob"],
            "--pheno", str(cohort["pheno"]), "--pheno-cols", "emb_*", "--out", str(out), *extra]


def run_scan(cohort: dict, out: Path, *extra, timeout: float = 120, **envx) -> subprocess.CompletedProcess:
    return subprocess.run(scan_args(cohort, out, *extra), capture_output=True, text=True,
                          timeout=timeout, env=env(**envx), cwd=ROOT)


def start_scan(cohort: dict, out: Path, *extra, **envx) -> subprocess.Popen:
    return subprocess.Popen(scan_args(cohort, out, *extra), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env(**envx), cwd=ROOT)


def n_parts(out: Path) -> int:
    d = Path(str(out) + ".parts")
    return len(list(d.glob("part-*.parquet"))) if d.exists() else 0


def wait_for(pred, timeout: float, proc: subprocess.Popen | None = None, step: float = 0.05) -> None:
    t_end = time.time() + timeout
    while time.time() < t_end:
        if pred():
            return
        if proc is not None and proc.poll() is not None:
            out, err = proc.communicate()
            raise AssertionError(f"process ended early ({proc.returncode}):\n{err[-3000:]}")
        time.sleep(step)
    raise AssertionError("timed out waiting")


def kill(proc: subprocess.Popen, sig=signal.SIGKILL) -> None:
    if proc.poll() is None:
        try:
            proc.send_signal(sig)
        except ProcessLookupError:
            pass
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


class HandCluster:
    """``dask scheduler`` + ``dask worker`` processes on 127.0.0.1 (no nanny: killing a worker
    process really removes the worker)."""

    def __init__(self, n_workers: int, tmp: Path, **envx):
        self.procs: list[subprocess.Popen] = []
        self.workers: list[subprocess.Popen] = []
        self.logs = tmp
        dask = str(Path(sys.executable).parent / "dask")
        e = env(**envx)
        slog = open(tmp / "scheduler.log", "w")
        sched = subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1", "--port", "0",
                                  "--no-dashboard"], stdout=slog, stderr=subprocess.STDOUT,
                                 env=e, cwd=ROOT)
        self.procs.append(sched)
        self.address = None
        wait_for(lambda: self._address(), 60, sched, step=0.2)
        for k in range(n_workers):
            wl = open(tmp / f"worker{k}.log", "w")
            w = subprocess.Popen([dask, "worker", self.address, "--nthreads", "1", "--no-nanny",
                                  "--no-dashboard", "--host", "127.0.0.1", "--name", f"w{k}"],
                                 stdout=wl, stderr=subprocess.STDOUT, env=e, cwd=ROOT)
            self.procs.append(w)
            self.workers.append(w)
        from distributed import Client

        with Client(self.address, timeout="60s") as c:
            c.wait_for_workers(n_workers, timeout=60)

    def _address(self) -> bool:
        txt = (self.logs / "scheduler.log").read_text()
        m = re.search(r"Scheduler at:\s+(tcp://127\.0\.0\.1:\d+)", txt)
        if m:
            self.address = m.group(1)
        return self.address is not None

    def close(self) -> None:
        for p in reversed(self.procs):
            kill(p, signal.SIGTERM)


@pytest.fixture
def hand_cluster(tmp_path):
    clusters = []

    def start(n_workers: int, **envx) -> HandCluster:
        c = HandCluster(n_workers, tmp_path, **envx)
        clusters.append(c)
        return c

    yield start
    for c in clusters:
        c.close()


def read(out: Path) -> pd.DataFrame:
    return pd.read_parquet(out)


def assert_identical(a: pd.DataFrame, b: pd.DataFrame) -> None:
    assert list(a.columns) == list(b.columns) and len(a) == len(b)
    for c in a.columns:
        x, y = a[c].to_numpy(), b[c].to_numpy()
        if x.dtype.kind == "f":
            nx, ny = np.isnan(x), np.isnan(y)
            assert np.array_equal(nx, ny), c
            # bit for bit (NaN payloads aside: parquet may canonicalise them)
            assert np.array_equal(x[~nx].view(np.int64), y[~ny].view(np.int64)), \
                (c, np.flatnonzero(x != y)[:20].tolist())
        else:
            assert (x == y).all(), c

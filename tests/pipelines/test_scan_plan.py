"""`gwaskit scan --dry-run`: the plan it prints, and its memory and disk estimates checked
against a measured run of the same command (peak RSS of the process, size of the output)."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "io"))
from _geno_fixtures import random_genotypes, variant_table, write_bed  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
N, M, D = 3000, 30000, 4

# The peak RSS of the scan process itself: VmHWM belongs to the process's memory map, which
# exec replaces (ru_maxrss would carry over the forking pytest process's peak).
_RUN = """
import sys
from gwaskit.cli.main import main
try:
    main(sys.argv[2:])
except SystemExit as e:
    if e.code:
        raise
hwm = [ln for ln in open("/proc/self/status") if ln.startswith("VmHWM:")][0].split()[1]
open(sys.argv[1], "w").write(str(int(hwm) * 1024))
"""


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("plan")
    geno = random_genotypes(N, M, seed=3, missing_rate=0.01)
    write_bed(d / "g", geno, variant_table(M, chrom="5"))
    rng = np.random.default_rng(1)
    pd.DataFrame({"IID": [f"s{i}" for i in range(N)],
                  **{f"emb_{k}": rng.normal(size=N) for k in range(D)}}).to_csv(
        d / "emb.tsv", sep="\t", index=False)
    (d / "keep.txt").write_text("".join(f"s{i}\n" for i in range(0, N, 3)))
    return d


def _gwaskit(*args) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    r = subprocess.run([sys.executable, "-m", "gwaskit.cli.main", *map(str, args)],
                       capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    return r


def _mib(text: str, what: str) -> float:
    return float(re.search(rf"estimated peak {what}: ([\d,.]+) MiB", text).group(1).replace(",", ""))


def test_dry_run_prints_the_plan_and_writes_nothing(files, tmp_path):
    out = tmp_path / "r.tsv"
    r = _gwaskit("scan", "--bed", files / "g", "--pheno", files / "emb.tsv", "--keep",
                 files / "keep.txt", "--maf", "0.05", "--no-pca", "--chunk-size", "5000",
                 "--threads", "2", "--dry-run", "--quiet", "--out", out)
    text = r.stdout
    assert f"N = {N // 3}, D = {D}, c = 1" in text
    kept = int(re.search(r"variants: ([\d,]+) to test", text).group(1).replace(",", ""))
    assert 0 < kept < M and f"({M:,} in the files)" in text
    assert "--keep: 1,000 samples remain" in text and "--maf:" in text
    assert f"chunks: {-(-kept // 5000)} of <= 5000" in text and "2 thread(s)" in text
    assert not list(tmp_path.iterdir())  # nothing written


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")
def test_memory_and_disk_estimates_match_a_measured_run(files, tmp_path):
    out = tmp_path / "r.tsv"
    args = ["scan", "--bed", files / "g", "--pheno", files / "emb.tsv", "--no-pca", "--per-dim",
            "--threads", "2", "--quiet", "--out", out]
    est = _gwaskit(*args, "--dry-run").stdout
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    rss_file = tmp_path / "rss"
    r = subprocess.run([sys.executable, "-c", _RUN, rss_file, *map(str, args)],
                       capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    measured = int(rss_file.read_text()) / 2**20
    estimate = _mib(est, "memory")
    assert 0.8 < measured / estimate < 1.25, (measured, estimate, est)
    disk = _mib(est, "disk")
    size = out.stat().st_size / 2**20
    assert 0.5 < size / (disk / 2) < 2.0, (size, disk)  # output half of the peak (parts + output)

"""``<out>.log`` (gwaskit.cli._log) and the scan's progress bar."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gwaskit.cli.main import main

N, M = 200, 40


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    sys.path.insert(0, str(Path(__file__).parents[1] / "io"))
    from _geno_fixtures import random_genotypes, variant_table, write_bed

    d = tmp_path_factory.mktemp("logfile")
    iids = [f"s{i}" for i in range(N)]
    write_bed(d / "g", random_genotypes(N, M, 1), variant_table(M), iids=iids)
    rng = np.random.default_rng(0)
    age = rng.normal(50, 5, N)
    pd.DataFrame({"IID": iids, "y": rng.normal(size=N), "z": rng.normal(size=N)}).to_csv(
        d / "y.tsv", sep="\t", index=False)
    pd.DataFrame({"IID": iids, "age": age, "age2": 2 * age}).to_csv(d / "cov.tsv", sep="\t",
                                                                      index=False)
    pd.DataFrame({"IID": iids[:150]}).to_csv(d / "keep.txt", sep="\t", index=False)
    bad = pd.DataFrame({"IID": iids, "y": rng.normal(size=N).astype(object)})
    bad.loc[17, "y"] = "oops"
    bad.to_csv(d / "bad.tsv", sep="\t", index=False)
    return d


def _scan(d, out, *extra) -> int:
    args = ["scan", "--bed", str(d / "g"), "--pheno", str(d / "y.tsv"), "--out", str(out),
            *extra]
    try:
        main(args)
    except SystemExit as e:
        return int(e.code or 0)
    return 0


def test_log_holds_command_versions_counts_and_warnings(data, tmp_path):
    out = tmp_path / "r.tsv"
    assert _scan(data, out, "--keep", str(data / "keep.txt"), "--maf", "0.05", "--covar",
                 str(data / "cov.tsv"), "--quiet") == 0
    log = (tmp_path / "r.tsv.log").read_text()
    lines = log.splitlines()
    assert lines[0].startswith("gwaskit ") and lines[0].endswith(" scan")
    # the arguments main() was given, not pytest's sys.argv
    assert lines[1] == "Command line: gwaskit scan --bed " + " ".join(
        [str(data / "g"), "--pheno", str(data / "y.tsv"), "--out", str(out), "--keep",
         str(data / "keep.txt"), "--maf", "0.05", "--covar", str(data / "cov.tsv"), "--quiet"])
    assert any(ln.startswith("Versions: ") and "numpy" in ln and "numba" in ln for ln in lines)
    # the selection's counts, the covariate dropped as collinear, the result line: all written
    # with --quiet, which silences only the terminal
    assert "--keep: 150 samples remain (50 removed)" in log
    assert re.search(r"--maf: \d+ variants remain \(\d+ removed\)", log)
    assert "age2" in log
    assert "Wrote " in log and "lambda_GC" in log
    assert lines[-1].startswith("End time: ")


def test_start_time_is_taken_when_the_command_starts(tmp_path, monkeypatch):
    import logging

    from gwaskit.cli import _log

    clock = {"now": "09:00"}
    monkeypatch.setattr(_log, "_now", lambda: clock["now"])
    with _log.command_log(str(tmp_path / "x.log"), "demo", argv=["demo"]):
        logging.getLogger("gwaskit").info("working")
        clock["now"] = "09:05"
    text = (tmp_path / "x.log").read_text()
    assert "Start time: 09:00" in text and "End time: 09:05" in text and "working" in text


def test_failed_run_logs_the_error(data, tmp_path):
    out = tmp_path / "bad.tsv"
    code = _scan(data, out, "--pheno", str(data / "bad.tsv"), "--quiet")
    assert code == 2 and not out.exists()
    lines = (tmp_path / "bad.tsv.log").read_text().splitlines()
    assert lines[-2].startswith("Error: ") and "oops" in lines[-2] and "y" in lines[-2]
    assert lines[-1].startswith("Failed at: ")


def test_a_refused_rerun_keeps_the_log_of_the_results(data, tmp_path):
    out = tmp_path / "r.tsv"
    assert _scan(data, out, "--quiet") == 0
    before = (tmp_path / "r.tsv.log").read_text()
    assert _scan(data, out, "--quiet") == 2  # exists, no --overwrite
    assert (tmp_path / "r.tsv.log").read_text() == before
    assert _scan(data, out, "--quiet", "--overwrite", "--maf", "0.1") == 0
    assert "--maf" in (tmp_path / "r.tsv.log").read_text()


def test_other_commands_write_a_log(data, tmp_path):
    out = tmp_path / "pcs.tsv"
    main(["pca", "--bed", str(data / "g"), "--n-pcs", "2", "--out", str(out), "--quiet"])
    log = (tmp_path / "pcs.tsv.log").read_text()
    assert log.splitlines()[0].endswith(" pca") and "Versions: " in log


def test_progress_bar_has_total_and_eta_and_log_lines_stay_above(data, tmp_path):
    """Run the CLI on a pseudo-terminal (the bar is drawn only on a tty)."""
    import pty

    out = tmp_path / "bar.tsv"
    cmd = [sys.executable, "-m", "gwaskit.cli.main", "scan", "--bed", str(data / "g"),
           "--pheno", str(data / "y.tsv"), "--chunk-size", "5", "--threads", "1",
           "--out", str(out)]
    import fcntl
    import struct
    import termios

    primary, secondary = pty.openpty()
    # a pty starts 0 x 0, where tqdm draws nothing: give it a terminal's size
    fcntl.ioctl(secondary, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=secondary)
    os.close(secondary)
    chunks = []
    while True:
        try:
            chunk = os.read(primary, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(primary)
    assert proc.wait(timeout=120) == 0
    text = b"".join(chunks).decode("utf-8", "replace")
    m = M  # all variants pass the default filters
    assert f"{m}/{m}" in text and "100%" in text
    assert re.search(r"\[\d\d:\d\d<\d\d:\d\d", text), text  # elapsed<remaining: the ETA
    # a record logged while the bar is drawn starts its own line: tqdm clears the bar first
    tested = [seg for line in text.replace("\r\n", "\n").split("\n")
              for seg in line.split("\r") if "Tested " in seg]
    assert tested and all(seg.startswith("Tested ") for seg in tested), tested

"""``examples/ukb_style.sh`` (the README's UK Biobank-style run) end to end at a tiny size."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

pytest.importorskip("msprime")

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_ukb_style_run(tmp_path, gwas_ssf):
    out = tmp_path / "ukb"
    env = {**os.environ, "PYTHON": sys.executable, "GWASKIT": f"{sys.executable} -m gwaskit.cli.main",
           "GWAS_SSF": gwas_ssf, "MIN_ROWS": "100"}
    r = subprocess.run(["bash", str(ROOT / "examples" / "ukb_style.sh"), str(out), "400", "0.05"],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    # the validator ran on each of the 4 dimensions' files and passed
    assert r.stdout.count("Validation status: True") == 4, r.stdout
    log = (out / "scan.tsv.gz.log").read_text()
    for line in ("--keep: 360 samples remain (40 removed)", "--info-min: ", "--maf: ", "--geno: ",
                 "using the ", "rows with split in test"):
        assert line in log, line
    meta = json.loads((out / "scan.tsv.gz.meta.json").read_text())
    assert meta["output_format"] == "gwas-ssf" and meta["d"] == 4
    joint = pd.read_csv(out / "scan.joint.tsv.gz", sep="\t")
    per_dim = pd.read_csv(out / "scan.PC1.tsv.gz", sep="\t")
    assert len(per_dim) == (joint["gwas_ssf_excluded"] == ".").sum() > 0
    assert set(per_dim["chromosome"]) == set(range(1, 23))

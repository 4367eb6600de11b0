"""Core-only install check (run by .ci/run inside a venv made with a plain `pip install .`).

Writes a small BGEN + phenotype table and a small .bed + GWAS report with the core package
alone, then runs `gwaskit scan` and `gwaskit clump` as a user would. Exits non-zero on failure.
"""
from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd


def main() -> int:
    from bed_reader import to_bed

    from gwaskit.io.bgen_writer import write_bgen

    rng = np.random.default_rng(1)
    n, m = 200, 300
    d = Path(tempfile.mkdtemp(prefix="gwaskit-core-"))
    iids = [f"s{i}" for i in range(n)]
    hap = rng.random((2 * n, m)) < rng.uniform(0.1, 0.5, m)
    hap[:, 1::2] = hap[:, ::2] ^ (rng.random((2 * n, m // 2)) < 0.05)  # LD between neighbours
    G = hap[:n].astype(np.float64) + hap[n:]  # 0/1/2 copies
    v = pd.DataFrame({"chromosome": "1", "base_pair_location": 1000 + 100 * np.arange(m),
                      "variant_id": [f"rs{j}" for j in range(m)], "effect_allele": "A",
                      "other_allele": "G"})
    write_bgen(d / "g.bgen", iids, v, dosages=G, threads=1)
    Y = rng.normal(size=(n, 4))
    Y[:, 0] += 1.5 * G[:, 10]
    pd.DataFrame({"IID": iids, **{f"emb_{k}": Y[:, k] for k in range(4)}}).to_csv(
        d / "emb.tsv", sep="\t", index=False)
    to_bed(str(d / "ref.bed"), G, count_A1=True, num_threads=1, properties={
        "fid": iids, "iid": iids, "sid": v["variant_id"], "chromosome": v["chromosome"],
        "bp_position": v["base_pair_location"], "allele_1": v["effect_allele"],
        "allele_2": v["other_allele"]})
    gw = shutil_which("gwaskit")
    run = [gw, "scan", "--bgen", str(d / "g.bgen"), "--pheno", str(d / "emb.tsv"),
           "--out", str(d / "scan.tsv")]
    subprocess.run(run, check=True)
    res = pd.read_csv(d / "scan.tsv", sep="\t")
    assert len(res) == m and res["p_value"].notna().sum() > m // 2, res.head()
    subprocess.run([gw, "clump", "--sumstats", str(d / "scan.tsv"), "--bed", str(d / "ref"),
                    "--p1", "1e-3", "--format", "plink", "--out", str(d / "scan.clumped")],
                   check=True)
    text = (d / "scan.clumped").read_text()
    assert "rs10" in text, text
    print(f"core-only install: scan of {m} variants and clump OK ({d})")
    return 0


def shutil_which(name: str) -> str:
    import shutil

    path = shutil.which(name, path=str(Path(sys.executable).parent))
    if path is None:
        raise SystemExit(f"{name} not installed in {sys.prefix}")
    return path


if __name__ == "__main__":
    sys.exit(main())

"""Genotype PCs on structured msprime populations, against plink2 --pca."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).parent))
import _simdata  # noqa: E402

from gwaskit.ld._readers import open_reference  # noqa: E402
from gwaskit.ld.pca import genotype_pcs  # noqa: E402


@pytest.fixture(scope="module")
def structured(tmp_path_factory):
    base = tmp_path_factory.mktemp("pca")
    G, pos, pop = _simdata.simulate_genotypes(length=3e6, seed=21, demes=(4, 50, 5e-5))
    prefix = _simdata.write_bed(base / "s", G, pos)
    return prefix, pop


def test_pca_separates_demes_and_matches_plink2(plink2, structured, tmp_path):
    prefix, pop = structured
    with open_reference(prefix) as rd:
        pcs, eig, used = genotype_pcs(rd, n_pcs=4, maf=0.01, prune_r2=0.2)
    assert list(pcs.columns[:4]) == ["FID", "IID", "PC1", "PC2"]
    X = pcs[["PC1", "PC2", "PC3"]].to_numpy()
    # 4 demes separate: between-deme variance dominates on PC1-3
    cent = np.array([X[pop == k].mean(axis=0) for k in range(4)])
    within = np.mean([X[pop == k].var(axis=0).sum() for k in range(4)])
    between = ((cent - X.mean(axis=0)) ** 2).sum(axis=1).mean()
    assert between > 5 * within
    # nearest-centroid classification
    lab = np.argmin(((X[:, None, :] - cent[None]) ** 2).sum(axis=2), axis=1)
    assert (lab == pop).mean() >= 0.97  # recent migrants may sit with another deme
    # plink2 --pca on the same variants
    (tmp_path / "use.txt").write_text("\n".join(used["variant_id"]) + "\n")
    subprocess.run([plink2, "--bfile", prefix, "--extract", str(tmp_path / "use.txt"), "--pca", "4",
                    "--out", str(tmp_path / "p")], check=True, capture_output=True)
    ev = pd.read_csv(tmp_path / "p.eigenvec", sep="\t")
    assert ev["IID"].tolist() == pcs["IID"].tolist()
    for j in (1, 2, 3):
        r = np.corrcoef(ev[f"PC{j}"], pcs[f"PC{j}"])[0, 1]
        assert abs(r) > 0.99, (j, r)
    val = np.loadtxt(tmp_path / "p.eigenval")
    np.testing.assert_allclose(eig[:3], val[:3], rtol=1e-3)

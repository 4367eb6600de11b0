import json
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).parents[1] / "ld"))
import _simdata  # noqa: E402

from gwaskit.cli.main import main  # noqa: E402


def test_pca_cli(tmp_path):
    G, pos, pop = _simdata.simulate_genotypes(length=1e6, seed=3, demes=(2, 40, 5e-5))
    prefix = _simdata.write_bed(tmp_path / "s", G, pos)
    out = tmp_path / "pcs.tsv"
    main(["pca", "--bed", prefix, "--n-pcs", "5", "--quiet", "--out", str(out)])
    t = pd.read_csv(out, sep="\t")
    assert list(t.columns) == ["FID", "IID", "PC1", "PC2", "PC3", "PC4", "PC5"]
    assert len(t) == 80
    # PC1 splits the two demes
    m0, m1 = t["PC1"][pop == 0].mean(), t["PC1"][pop == 1].mean()
    assert ((t["PC1"] > (m0 + m1) / 2) == (m1 > m0)).eq(pop == 1).mean() >= 0.95
    meta = json.loads((tmp_path / "pcs.tsv.meta.json").read_text())
    assert len(meta["eigenvalues"]) == 5

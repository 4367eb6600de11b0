import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).parents[1] / "ld"))
import _simdata  # noqa: E402

from gwaskit.cli.main import main  # noqa: E402


def test_prs_cli_with_covariates(tmp_path):
    G, pos, _ = _simdata.simulate_genotypes(n=120, length=3e5, seed=5)
    prefix = _simdata.write_bed(tmp_path / "t", G[:, :50], pos[:50])
    bim = pd.read_csv(prefix + ".bim", sep="\t", header=None)
    panel = pd.DataFrame({"variant_id": bim[1], "chromosome": bim[0], "base_pair_location": bim[3],
                          "effect_allele": bim[4], "other_allele": bim[5], "beta": np.linspace(-1, 1, 50)})
    panel.to_csv(tmp_path / "panel.tsv", sep="\t", index=False)
    rng = np.random.default_rng(0)
    cov = pd.DataFrame({"FID": [f"f{i}" for i in range(120)], "IID": [f"i{i}" for i in range(120)],
                        "age": rng.normal(size=120), "sex": rng.integers(0, 2, 120)})
    cov.to_csv(tmp_path / "cov.tsv", sep="\t", index=False)
    main(["prs", "--panel", str(tmp_path / "panel.tsv"), "--bed", prefix, "--covar", str(tmp_path / "cov.tsv"),
          "--quiet", "--out", str(tmp_path / "s.tsv")])
    s = pd.read_csv(tmp_path / "s.tsv", sep="\t")
    exact = G[:, :50] @ np.linspace(-1, 1, 50)
    np.testing.assert_allclose(s["score"], exact, atol=1e-6)
    X = np.column_stack([np.ones(120), cov[["age", "sex"]].to_numpy(float)])
    assert np.abs(X.T @ s["score_resid"].to_numpy()).max() < 1e-8

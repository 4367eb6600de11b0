import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).parents[1] / "ld"))
import _simdata  # noqa: E402

from gwaskit.cli.main import main  # noqa: E402


def test_panel_cli(tmp_path):
    prefix, report, G, pos, causal, y = _simdata.clump_dataset(str(tmp_path / "sim"))
    ss = pd.read_csv(report, sep=" ")
    bim = pd.read_csv(prefix + ".bim", sep="\t", header=None)
    ss["A2"] = bim[5].to_numpy()
    ss.to_csv(tmp_path / "ss.tsv", sep="\t", index=False)
    out = tmp_path / "panel.tsv"
    main(["panel", "--sumstats", str(tmp_path / "ss.tsv"), "--bed", prefix, "--quiet", "--out", str(out)])
    p = pd.read_csv(out, sep="\t")
    assert list(p.columns) == ["variant_id", "chromosome", "base_pair_location", "effect_allele",
                               "other_allele", "beta", "standard_error", "p_value"]
    assert (p["p_value"] < 1e-5).all() and len(p) >= 1
    meta = json.loads((tmp_path / "panel.tsv.meta.json").read_text())
    assert meta["counts"]["panel"] == len(p)
    # then score it
    main(["prs", "--panel", str(out), "--bed", prefix, "--quiet", "--out", str(tmp_path / "s.tsv")])
    s = pd.read_csv(tmp_path / "s.tsv", sep="\t")
    assert len(s) == G.shape[0] and np.isfinite(s["score"]).all()

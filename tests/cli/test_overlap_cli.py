import json

import pandas as pd

from gwaskit.cli.main import main


def test_overlap_cli(tmp_path):
    ref = pd.DataFrame({"variant_id": ["L1", "L2"], "chromosome": [1, 1], "base_pair_location": [1_000_000, 9_000_000]})
    scan = pd.DataFrame({"variant_id": ["a", "b"], "chromosome": [1, 1], "base_pair_location": [1_200_000, 3_000_000],
                         "p_value": [1e-10, 1e-12]})
    ref.to_csv(tmp_path / "ref.tsv", sep="\t", index=False)
    scan.to_parquet(tmp_path / "scan.parquet")
    main(["overlap", "--reference", str(tmp_path / "ref.tsv"), "--scan", str(tmp_path / "scan.parquet"),
          "--quiet", "--out", str(tmp_path / "o.tsv")])
    t = pd.read_csv(tmp_path / "o.tsv", sep="\t")
    assert t["recovered"].tolist() == [True, False]
    s = json.loads((tmp_path / "o.tsv.summary.json").read_text())
    assert s["fraction"] == 0.5 and 0 < s["ci95_low"] < 0.5 < s["ci95_high"] < 1

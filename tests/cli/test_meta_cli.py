import json

import pandas as pd

from gwaskit.cli.main import main


def test_meta_cli(tmp_path):
    a = pd.DataFrame({"chromosome": [1, 1], "base_pair_location": [10, 20], "effect_allele": ["A", "C"],
                      "other_allele": ["G", "T"], "beta": [0.1, 0.2], "standard_error": [0.02, 0.05],
                      "effect_allele_frequency": [0.3, 0.2], "p_value": [1e-6, 1e-4], "variant_id": ["x", "y"]})
    b = a.copy()
    b["effect_allele"], b["other_allele"] = a["other_allele"], a["effect_allele"]
    b["beta"] = [-0.12, -0.18]
    b["effect_allele_frequency"] = [0.7, 0.8]
    a.to_csv(tmp_path / "a.tsv", sep="\t", index=False)
    b.to_csv(tmp_path / "b.tsv", sep="\t", index=False)
    main(["meta", "--sumstats", str(tmp_path / "a.tsv"), "--sumstats", str(tmp_path / "b.tsv"), "--quiet",
          "--out", str(tmp_path / "m.tsv")])
    m = pd.read_csv(tmp_path / "m.tsv", sep="\t")
    assert m["n_studies"].tolist() == [2, 2]
    w = [1 / 0.02 ** 2, 1 / 0.02 ** 2]
    assert abs(m.loc[0, "beta"] - (0.1 * w[0] + 0.12 * w[1]) / sum(w)) < 1e-12
    for c in ("chisq", "p_value", "neg_log_10_p_value", "standard_error", "q", "i2"):
        assert c in m
    info = json.loads((tmp_path / "m.tsv.meta.json").read_text())
    assert info["scheme"].startswith("STDERR")

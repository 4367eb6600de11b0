import numpy as np
import pandas as pd
import pytest

from gwaskit.ld._readers import ArrayGenotypes
from gwaskit.loci.overlap import loci_overlap, reference_loci, wilson_ci


def test_wilson_ci_known_values():
    lo, hi = wilson_ci(8, 10)
    assert lo == pytest.approx(0.4901625, abs=1e-6)
    assert hi == pytest.approx(0.9433178, abs=1e-6)
    assert wilson_ci(0, 5)[0] == 0.0


REF = pd.DataFrame({"variant_id": ["L1", "L2", "L3", "L4"], "chromosome": ["1", "1", "2", "3"],
                    "base_pair_location": [1_000_000, 5_000_000, 2_000_000, 100]})
SCAN = pd.DataFrame({
    "variant_id": ["a", "b", "c", "L3", "d", "e"],
    "chromosome": ["1", "1", "1", "2", "2", "3"],
    "base_pair_location": [1_400_000, 1_600_000, 5_600_000, 2_000_000, 2_000_100, 200],
    "p_value": [1e-9, 1e-12, 1e-10, 3e-8, 1e-20, 1e-7],
})


def test_window_match():
    t, s = loci_overlap(REF, SCAN, p=5e-8, window_kb=500)
    t = t.set_index("variant_id")
    assert t.loc["L1", "recovered"] and t.loc["L1", "matched_variant"] == "a"  # b is 600 kb away
    assert t.loc["L1", "distance_bp"] == 400_000
    assert not t.loc["L2", "recovered"]  # c at 600 kb
    assert t.loc["L3", "matched_variant"] == "d" and t.loc["L3", "best_p"] == 1e-20
    assert not t.loc["L4", "recovered"]  # e not significant
    assert s["n_recovered"] == 2 and s["fraction"] == 0.5
    t2, s2 = loci_overlap(REF, SCAN, p=5e-8, window_kb=1000)
    assert s2["n_recovered"] == 3
    # Bonferroni: 5e-8 / 10 -> a (1e-9) still passes
    _, s3 = loci_overlap(REF, SCAN, p=5e-8, bonferroni=100)
    assert s3["n_recovered"] == 1 and s3["p_threshold"] == pytest.approx(5e-10)


def test_exact_match_and_clump_input():
    clumps = pd.DataFrame({"SNP": ["L3", "L1"], "CHR": [2, 1], "BP": [2_000_000, 1_000_000]})
    ref = reference_loci(clumps)
    assert ref["variant_id"].tolist() == ["L3", "L1"]
    t, s = loci_overlap(ref, SCAN, mode="exact")
    assert t["recovered"].tolist() == [True, False]


def test_ld_match():
    rng = np.random.default_rng(0)
    n = 500
    x = rng.binomial(2, 0.3, n).astype(float)
    y = x.copy()
    flip = rng.random(n) < 0.05
    y[flip] = rng.binomial(2, 0.3, flip.sum())
    z = rng.binomial(2, 0.3, n).astype(float)
    G = np.column_stack([x, y, z])
    variants = pd.DataFrame({"chromosome": ["1"] * 3, "base_pair_location": [100, 50_000, 90_000],
                             "variant_id": ["lead", "proxy", "other"], "effect_allele": ["A"] * 3,
                             "other_allele": ["G"] * 3})
    rd = ArrayGenotypes(G, variants)
    ref = pd.DataFrame({"variant_id": ["lead"], "chromosome": ["1"], "base_pair_location": [100]})
    scan = pd.DataFrame({"variant_id": ["proxy", "other"], "chromosome": ["1", "1"],
                         "base_pair_location": [50_000, 90_000], "p_value": [1e-9, 1e-30]})
    t, s = loci_overlap(ref, scan, mode="ld", r2=0.6, ld_reader=rd)
    assert t.loc[0, "recovered"] and t.loc[0, "matched_variant"] == "proxy"
    assert t.loc[0, "r2"] > 0.6
    t, s = loci_overlap(ref, scan.iloc[[1]], mode="ld", r2=0.6, ld_reader=rd)
    assert not t.loc[0, "recovered"]

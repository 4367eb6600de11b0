"""Panel alignment against known answers; PRS against plink2 --score and numpy."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "ld"))
import _simdata  # noqa: E402

from gwaskit.ld._readers import ArrayGenotypes, open_reference  # noqa: E402
from gwaskit.ld.pca import regress_out  # noqa: E402
from gwaskit.loci.panel import PANEL_COLUMNS, build_panel  # noqa: E402
from gwaskit.loci.prs import polygenic_score  # noqa: E402


def _target():
    rng = np.random.default_rng(1)
    n = 400
    freqs = [0.3, 0.3, 0.3, 0.3, 0.2, 0.2, 0.5, 0.3, 0.3]
    G = np.column_stack([rng.binomial(2, f, n) for f in freqs]).astype(float)
    variants = pd.DataFrame({
        "chromosome": ["1"] * 9,
        "base_pair_location": np.arange(1, 10, dtype=np.int64) * 10_000_000,  # far apart
        "variant_id": [f"g{i}" for i in range(1, 10)],
        "effect_allele": ["A", "A", "A", "A", "A", "A", "C", "A", "A"],
        "other_allele": ["G", "G", "G", "G", "T", "T", "G", "C", "G"],
    })
    return ArrayGenotypes(G, variants), G


def test_panel_alignment_known_answers():
    reader, G = _target()
    eaf_g5 = G[:, 4].mean() / 2  # ~0.2 for allele A of g5 (A/T)
    ss = pd.DataFrame({
        "variant_id": ["s1", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9", "s10"],
        "chromosome": ["1"] * 9 + ["2"],
        "base_pair_location": [10_000_000 * i for i in range(1, 10)] + [5],
        "effect_allele": ["A", "G", "T", "C", "A", "A", "C", "A", "A", "A"],
        "other_allele": ["G", "A", "C", "T", "T", "T", "G", "G", "G", "G"],
        "beta": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0],
        "standard_error": [0.01] * 10,
        "effect_allele_frequency": [0.3, 0.7, 0.3, 0.7, 0.2, 0.8, 0.5, 0.3, 0.3, 0.3],
        "p_value": [1e-8] * 8 + [0.01, 1e-9],
    })
    # s1 exact; s2 swapped; s3 strand flip (T/C = A/G complemented); s4 strand flip + swap;
    # s5 palindromic A/T, EAF 0.2 agrees with target -> kept as is; s6 palindromic with EAF 0.8
    # -> other strand -> swapped; s7 palindromic C/G EAF 0.5 -> ambiguous, dropped;
    # s8 alleles A/G vs target A/C -> mismatch; s9 not significant; s10 absent
    panel, counts = build_panel(ss, reader, clump_variants=False)
    assert list(panel.columns) == PANEL_COLUMNS
    assert panel["variant_id"].tolist() == ["g1", "g2", "g3", "g4", "g5", "g6"]
    assert panel["beta"].tolist() == [0.1, -0.2, 0.3, -0.4, 0.5, -0.6]
    assert panel["effect_allele"].tolist() == ["A"] * 6
    assert counts["significant"] == 9
    assert counts["palindromic_ambiguous"] == 1
    assert counts["allele_mismatch"] == 1
    assert counts["absent"] == 1
    assert counts["swapped"] == 3 and counts["strand_flipped"] == 3
    assert abs(eaf_g5 - 0.2) < 0.1


def test_panel_clumps_to_independent_variants():
    rng = np.random.default_rng(2)
    n = 300
    x = rng.binomial(2, 0.3, n).astype(float)
    G = np.column_stack([x, x, rng.binomial(2, 0.4, n)])
    variants = pd.DataFrame({"chromosome": ["1"] * 3, "base_pair_location": np.array([100, 200, 300]),
                             "variant_id": ["a", "b", "c"], "effect_allele": ["A"] * 3,
                             "other_allele": ["G"] * 3})
    ss = pd.DataFrame({"variant_id": ["a", "b", "c"], "chromosome": 1, "base_pair_location": [100, 200, 300],
                       "effect_allele": "A", "other_allele": "G", "beta": [1.0, 2.0, 3.0],
                       "standard_error": 0.1, "p_value": [1e-7, 1e-9, 1e-6]})
    panel, counts = build_panel(ss, ArrayGenotypes(G, variants))
    assert panel["variant_id"].tolist() == ["b", "c"]


@pytest.fixture(scope="module")
def prs_data(tmp_path_factory):
    base = tmp_path_factory.mktemp("prs")
    G, pos, _ = _simdata.simulate_genotypes(n=300, length=1e6, seed=11)
    G = G[:, :400].copy()
    pos = pos[:400]
    rng = np.random.default_rng(3)
    G[rng.random(G.shape) < 0.03] = np.nan
    prefix = _simdata.write_bed(base / "t", G, pos)
    with open_reference(prefix) as rd:
        v = rd.variants.copy()
    pick = np.sort(rng.choice(len(v), 60, replace=False))
    swap = rng.random(60) < 0.5
    p = v.iloc[pick].reset_index(drop=True)
    a1 = np.where(swap, p["other_allele"], p["effect_allele"])
    a2 = np.where(swap, p["effect_allele"], p["other_allele"])
    panel = pd.DataFrame({"variant_id": p["variant_id"], "chromosome": p["chromosome"],
                          "base_pair_location": p["base_pair_location"], "effect_allele": a1,
                          "other_allele": a2, "beta": np.round(rng.normal(size=60), 6),
                          "standard_error": 0.1, "p_value": 1e-8})
    ppath = base / "panel.tsv"
    panel.to_csv(ppath, sep="\t", index=False)
    return prefix, ppath, panel, G, pick, swap


def test_prs_matches_numpy_and_plink2(plink2, prs_data, tmp_path):
    prefix, ppath, panel, G, pick, swap = prs_data
    with open_reference(prefix) as rd:
        scores, used = polygenic_score(rd, panel)
    assert len(used) == 60
    D = G[:, pick].astype(np.float64)
    D[:, swap] = 2 - D[:, swap]
    D = np.where(np.isnan(D), np.nanmean(D, axis=0), D)
    exact = D @ panel["beta"].to_numpy()
    np.testing.assert_allclose(scores["score"], exact, rtol=0, atol=1e-9)
    # plink2 --score: ID col 1, allele col 4, score col 6; SCORE1_SUM via cols=+scoresums
    subprocess.run([plink2, "--bfile", prefix, "--score", str(ppath), "1", "4", "6", "header",
                    "cols=+scoresums", "--out", str(tmp_path / "sc")], check=True, capture_output=True)
    sc = pd.read_csv(tmp_path / "sc.sscore", sep="\t")
    assert sc["IID"].tolist() == scores["IID"].tolist()
    np.testing.assert_allclose(sc["SCORE1_SUM"], scores["score"], rtol=1e-5, atol=1e-6)
    # plink2's default SCORE1_AVG = (mean-imputed) sum / (2 x panel variants), whatever is missing
    np.testing.assert_allclose(sc["SCORE1_AVG"] * 2 * len(panel), scores["score"], rtol=1e-5, atol=1e-6)


def test_prs_regress_covariates(prs_data):
    prefix, ppath, panel, G, pick, swap = prs_data
    rng = np.random.default_rng(0)
    C = rng.normal(size=(G.shape[0], 2))
    fit = np.arange(G.shape[0]) < 200
    with open_reference(prefix) as rd:
        scores, _ = polygenic_score(rd, panel, covariates=C, fit_rows=fit)
    np.testing.assert_allclose(scores["score_resid"], regress_out(scores["score"].to_numpy(), C, fit), atol=1e-12)

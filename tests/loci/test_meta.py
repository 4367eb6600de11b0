import numpy as np
import pandas as pd
import pytest
from scipy import stats

from gwaskit.loci.meta import gc_lambda, meta_analyze


def _study(rows):
    return pd.DataFrame(rows, columns=["variant_id", "chromosome", "base_pair_location", "effect_allele",
                                       "other_allele", "beta", "standard_error", "effect_allele_frequency"])


S1 = _study([
    ("v1", 1, 100, "A", "G", 0.10, 0.02, 0.30),   # reference alleles A/G
    ("v2", 1, 200, "C", "T", -0.05, 0.01, 0.20),
    ("v3", 1, 300, "A", "T", 0.08, 0.02, 0.20),   # palindromic, resolvable
    ("v4", 1, 400, "C", "G", 0.03, 0.02, 0.50),   # palindromic, ambiguous
    ("v5", 2, 500, "A", "C", 0.20, 0.05, 0.10),
])
S2 = _study([
    ("v1", 1, 100, "G", "A", -0.12, 0.03, 0.70),  # swapped
    ("v2", 1, 200, "G", "A", -0.07, 0.02, 0.20),  # strand flip (C/T -> G/A), same orientation
    ("v3", 1, 300, "T", "A", -0.06, 0.03, 0.80),  # palindromic: T/A is A/T swapped (EAF agrees)
    ("v4", 1, 400, "C", "G", 0.05, 0.02, 0.45),   # ambiguous -> dropped
    ("v5", 2, 500, "A", "G", 0.10, 0.05, 0.10),   # incompatible -> dropped
    ("v6", 3, 600, "A", "G", 0.01, 0.01, 0.40),   # only in study 2
])
S3 = _study([
    ("v1", 1, 100, "T", "C", 0.09, 0.025, 0.31),  # strand-flipped, same orientation (A/G -> T/C)
    ("v3", 1, 300, "A", "T", -0.07, 0.02, 0.78),  # palindromic: EAF says strand flipped -> beta *= -1
])


def _ivw(b, s):
    b, s = np.asarray(b), np.asarray(s)
    w = 1 / s ** 2
    bh = (w * b).sum() / w.sum()
    se = 1 / np.sqrt(w.sum())
    q = (w * (b - bh) ** 2).sum()
    k = len(b)
    p = 2 * stats.norm.sf(abs(bh / se))
    hp = stats.chi2.sf(q, k - 1) if k > 1 and q >= 1e-7 else 1.0
    i2 = max(0.0, (q - (k - 1)) / q) * 100 if k > 1 and q > 0 else 0.0
    return bh, se, p, q, hp, i2


@pytest.mark.parametrize("drop_ambiguous", [False, True])
def test_meta_matches_hand_ivw(drop_ambiguous):
    res, info = meta_analyze([S1, S2, S3], drop_ambiguous=drop_ambiguous)
    r = res.set_index("variant_id")
    exp = {
        "v1": ([0.10, 0.12, 0.09], [0.02, 0.03, 0.025]),
        "v2": ([-0.05, -0.07], [0.01, 0.02]),
        "v3": ([0.08, 0.06, 0.07], [0.02, 0.03, 0.02]),
        # C/G as written in both studies, EAF in the band: kept as METAL does, unless dropped
        "v4": ([0.03], [0.02]) if drop_ambiguous else ([0.03, 0.05], [0.02, 0.02]),
        "v5": ([0.20], [0.05]),
        "v6": ([0.01], [0.01]),
    }
    for v, (b, s) in exp.items():
        bh, se, p, q, hp, i2 = _ivw(b, s)
        assert r.loc[v, "n_studies"] == len(b), v
        np.testing.assert_allclose(r.loc[v, "beta"], bh, rtol=1e-12)
        np.testing.assert_allclose(r.loc[v, "standard_error"], se, rtol=1e-12)
        np.testing.assert_allclose(r.loc[v, "p_value"], p, rtol=1e-9)
        np.testing.assert_allclose(r.loc[v, "q"], q, rtol=1e-9, atol=1e-15)
        np.testing.assert_allclose(r.loc[v, "het_p"], hp, rtol=1e-9)
        np.testing.assert_allclose(r.loc[v, "i2"], i2, rtol=1e-9, atol=1e-12)
    assert r.loc["v1", "effect_allele"] == "A" and r.loc["v1", "other_allele"] == "G"
    assert r.loc["v1", "direction"] == "+++"
    assert r.loc["v4", "direction"] == ("+??" if drop_ambiguous else "++?")
    assert r.loc["v6", "direction"] == "?+?"
    assert info["dropped"][1]["palindromic_ambiguous"] == int(drop_ambiguous)
    assert info["dropped"][1]["allele_mismatch"] == 1
    assert list(res["variant_id"]) == ["v1", "v2", "v3", "v4", "v5", "v6"]


def test_meta_genomic_control():
    lam = gc_lambda(S1["beta"], S1["standard_error"])
    z2 = (S1["beta"] / S1["standard_error"]) ** 2
    assert lam == pytest.approx(np.median(z2) / 0.4549364)
    res, info = meta_analyze([S1, S2], genomic_control=[4.0, 1.0])
    r = res.set_index("variant_id")
    bh, se, *_ = _ivw([0.10, 0.12], [0.02 * 2, 0.03])
    np.testing.assert_allclose(r.loc["v1", "beta"], bh, rtol=1e-12)
    np.testing.assert_allclose(r.loc["v1", "standard_error"], se, rtol=1e-12)


def _random_study(m, seed):
    rng = np.random.default_rng(seed)
    bases = np.array(list("ACGT"))
    a1 = bases[rng.integers(0, 4, m)]
    a2 = bases[(np.searchsorted(bases, a1) + rng.integers(1, 4, m)) % 4]
    eaf = rng.uniform(0.01, 0.99, m)
    eaf[: m // 10] = np.nan  # some studies report no frequency
    return pd.DataFrame({"variant_id": [f"rs{i}" for i in range(m)], "chromosome": 1,
                         "base_pair_location": np.arange(m) * 10 + 1, "effect_allele": a1,
                         "other_allele": a2, "beta": rng.normal(0, 0.1, m),
                         "standard_error": rng.uniform(0.01, 0.1, m),
                         "effect_allele_frequency": eaf})


def test_meta_with_itself_keeps_every_variant():
    s = _random_study(600, 5)
    from gwaskit.loci.harmonize import palindromic

    n_pal = int(palindromic(s["effect_allele"], s["other_allele"]).sum())
    assert n_pal > 50  # the case this test is about
    res, info = meta_analyze([s, s])
    assert len(res) == len(s) and (res["n_studies"] == 2).all()
    assert info["dropped"][1]["palindromic_ambiguous"] == 0
    np.testing.assert_allclose(res["beta"], s["beta"], rtol=1e-12)
    # --drop-ambiguous: palindromic variants with a missing or mid-band frequency stay single
    res2, info2 = meta_analyze([s, s], drop_ambiguous=True)
    assert info2["dropped"][1]["palindromic_ambiguous"] > 0
    assert (res2["n_studies"] == 1).sum() == info2["dropped"][1]["palindromic_ambiguous"]


def test_meta_palindrome_listed_swapped_without_frequency_is_dropped():
    a = _study([("v1", 1, 100, "A", "T", 0.1, 0.02, np.nan), ("v2", 1, 200, "A", "G", 0.1, 0.02, np.nan)])
    b = _study([("v1", 1, 100, "T", "A", -0.1, 0.02, np.nan), ("v2", 1, 200, "G", "A", -0.1, 0.02, np.nan)])
    res, info = meta_analyze([a, b])
    r = res.set_index("variant_id")
    assert r.loc["v1", "n_studies"] == 1 and r.loc["v2", "n_studies"] == 2
    assert info["dropped"][1]["palindromic_ambiguous"] == 1

"""Related-cohort simulator: Mendelian transmission, recombination, kinship, polygenic traits."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("msprime")

from gwaskit.errors import InputError  # noqa: E402
from gwaskit.simulate import FamilyCohortConfig, simulate_families, transmit  # noqa: E402

H2 = 0.5
RG = 0.6


@pytest.fixture(scope="module")
def cohort():
    return simulate_families(
        n_individuals=600,
        n_chromosomes=3,
        chrom_length=2e6,
        family_fraction=0.6,
        n_traits=3,
        h2=H2,
        genetic_correlation=RG,
        null_chromosomes=("3",),
        n_causal_per_chromosome=150,
        seed=1,
    )


@pytest.fixture(scope="module")
def trios():
    """Trios only, 1 Morgan per chromosome: many crossovers to count."""
    return simulate_families(
        n_individuals=300,
        n_chromosomes=2,
        chrom_length=1e6,
        family_fraction=1.0,
        trio_share=1.0,
        morgans_per_bp=1e-6,
        n_causal_per_chromosome=20,
        seed=2,
    )


def _rows(sim, iids):
    row = {iid: k for k, iid in enumerate(sim.pedigree["IID"])}
    return np.array([row[i] for i in iids])


def _grm(dosages: np.ndarray, min_maf: float = 0.05) -> np.ndarray:
    p = dosages.mean(axis=0) / 2
    keep = np.minimum(p, 1 - p) >= min_maf
    x = (dosages[:, keep] - 2 * p[keep]) / np.sqrt(2 * p[keep] * (1 - p[keep]))
    return x @ x.T / keep.sum()


def test_pedigree_structure(cohort):
    ped = cohort.pedigree
    n_unrel, n_trios, n_pairs = cohort.config.family_counts
    assert (n_unrel, n_trios, n_pairs) == (240, 60, 90)
    assert ped.shape[0] == 600 and ped["IID"].is_unique
    in_fam = (ped["family_type"] != "unrelated").mean()
    assert abs(in_fam - 0.6) < 0.01
    sizes = ped.groupby("FID")["family_type"].agg(["first", "size"])
    assert set(sizes.loc[sizes["first"] == "trio", "size"]) == {3}
    assert set(sizes.loc[sizes["first"] == "sibpair", "size"]) == {2}
    assert set(sizes.loc[sizes["first"] == "unrelated", "size"]) == {1}
    kids = ped[(ped["family_type"] == "trio") & (ped["role"] == "child")]
    assert (kids["PAT"] != "0").all() and (kids["MAT"] != "0").all()
    rows = _rows(cohort, kids["PAT"])
    assert (ped["SEX"].to_numpy()[rows] == 1).all()
    assert (ped["FID"].to_numpy()[rows] == kids["FID"].to_numpy()).all()
    assert (ped.loc[ped["family_type"] == "sibpair", ["PAT", "MAT"]] == "0").all().all()
    # shuffled: relatives are not adjacent rows as a rule
    pairs = cohort.relative_pairs()
    assert (pairs["j"] - pairs["i"] > 1).mean() > 0.8
    assert np.array_equal(cohort.haplotypes.sum(axis=0), cohort.genotypes.genotypes)


def test_mendelian_consistency(trios):
    """Every allele of a child comes from the matching parent's two haplotypes at every site."""
    ped = trios.pedigree
    hap = trios.haplotypes
    kids = np.flatnonzero(ped["role"].to_numpy() == "child")
    fathers = _rows(trios, ped["PAT"].to_numpy()[kids])
    mothers = _rows(trios, ped["MAT"].to_numpy()[kids])
    for slot, parents in ((0, fathers), (1, mothers)):
        child = hap[slot, kids]
        assert ((child == hap[0, parents]) | (child == hap[1, parents])).all()
    # and a child's genotype is never Mendel-inconsistent with both parents
    g = trios.genotypes.genotypes.astype(int)
    assert not ((g[kids] == 0) & ((g[fathers] == 2) | (g[mothers] == 2))).any()


def test_recombination_counts_are_poisson(trios):
    """Crossovers per meiosis ~ Poisson(1 Morgan); switches seen at informative sites agree."""
    cross = trios.crossovers
    n = cross["n_crossovers"].to_numpy()
    assert n.size == 2 * 2 * 100  # 100 children x 2 parents x 2 chromosomes
    assert abs(n.mean() - 1.0) < 0.15
    assert 0.75 < n.var() / n.mean() < 1.3
    assert abs(np.mean(n == 0) - np.exp(-1)) < 0.08

    ped, hap = trios.pedigree, trios.haplotypes
    chrom = trios.genotypes.variants["chromosome"].to_numpy()
    rows = _rows(trios, cross["IID"])
    parents = _rows(trios, cross["parent_id"])
    slot = np.where(cross["parent"].to_numpy() == "PAT", 0, 1)
    seen = np.empty(n.size, dtype=np.int64)
    for k in range(n.size):
        sites = chrom == cross["chromosome"].iat[k]
        a, b = hap[0, parents[k], sites], hap[1, parents[k], sites]
        child = hap[slot[k], rows[k], sites]
        informative = a != b
        source = (child[informative] == b[informative]).astype(int)
        seen[k] = np.count_nonzero(np.diff(source))
    assert (seen <= n).all()  # a switch needs a crossover
    assert np.mean(seen == n) > 0.85  # dense sites see nearly all of them
    assert ped.shape[0] == 300


def test_transmit_direct():
    """No crossover copies one haplotype; the source switches exactly after each crossover."""
    rng = np.random.default_rng(0)
    a = np.zeros((4, 50), dtype=np.int8)
    b = np.ones((4, 50), dtype=np.int8)
    pos = np.arange(1, 51) * 10
    g, n = transmit(a, b, pos, 500.0, 0.0, rng)
    assert (n == 0).all() and ((g == 0).all(axis=1) | (g == 1).all(axis=1)).all()
    g, n = transmit(a, b, pos, 500.0, 0.01, rng)  # 5 Morgans
    assert (np.count_nonzero(np.diff(g, axis=1), axis=1) <= n).all() and n.sum() > 0


def test_kinship_of_relatives(cohort):
    """Genotype correlation: siblings ~0.5, parent-offspring ~0.5, unrelated ~0."""
    K = _grm(cohort.genotypes.genotypes.astype(np.float64))
    pairs = cohort.relative_pairs()
    sib = pairs[pairs["relationship"] == "siblings"]
    po = pairs[pairs["relationship"] == "parent-offspring"]
    k_sib = K[sib["i"], sib["j"]]
    k_po = K[po["i"], po["j"]]
    assert abs(k_sib.mean() - 0.5) < 0.1
    assert abs(k_po.mean() - 0.5) < 0.05 and k_po.std() < 0.1  # always IBD1
    unrel = np.flatnonzero(cohort.pedigree["family_type"].to_numpy() == "unrelated")
    ku = K[np.ix_(unrel, unrel)][np.triu_indices(unrel.size, 1)]
    assert abs(ku.mean()) < 0.02 and np.percentile(np.abs(ku), 99) < 0.2
    # relatives from different families are unrelated too
    fid = cohort.pedigree["FID"].to_numpy()
    kids = np.flatnonzero(cohort.pedigree["role"].to_numpy() == "child")
    other = K[np.ix_(kids, kids)][fid[kids][:, None] != fid[kids][None, :]]
    assert abs(other.mean()) < 0.02


def test_null_chromosome_has_no_effects(cohort):
    eff = cohort.effects
    assert not (eff["chromosome"] == "3").any()
    assert set(eff["chromosome"]) == {"1", "2"}
    assert (eff.groupby("chromosome").size() == 150).all()
    assert not cohort.chromosome_genetic_values["3"].any()
    total = sum(cohort.chromosome_genetic_values.values())
    np.testing.assert_allclose(total, cohort.genetic_values, atol=1e-12)
    x = cohort.genotypes.genotypes[:, eff["variant_index"]].astype(np.float64)
    beta = eff[[f"beta_{k + 1}" for k in range(3)]].to_numpy()
    np.testing.assert_allclose(
        (x - eff["mean"].to_numpy()) / eff["sd"].to_numpy() @ beta, cohort.genetic_values, atol=1e-10
    )
    assert (eff["effect_allele_frequency"].pipe(lambda f: np.minimum(f, 1 - f)) >= 0.01).all()


def test_heritability_and_genetic_correlation(cohort):
    G, Y = cohort.genetic_values, cohort.traits
    np.testing.assert_allclose(G.var(axis=0), H2, rtol=1e-10)
    h2 = G.var(axis=0) / Y.var(axis=0)
    assert np.all(np.abs(h2 - H2) < 0.08), h2
    rg = np.corrcoef(G.T)[np.triu_indices(3, 1)]
    assert np.all(np.abs(rg - RG) < 0.15), rg
    E = Y - G
    re = np.corrcoef(E.T)[np.triu_indices(3, 1)]
    assert np.all(np.abs(re) < 0.15), re
    table = cohort.phenotype_table()
    assert list(table.columns) == ["FID", "IID", "trait_1", "trait_2", "trait_3"]
    np.testing.assert_array_equal(table["trait_2"].to_numpy(), Y[:, 1])


def test_determinism_and_config():
    cfg = FamilyCohortConfig(n_individuals=60, n_chromosomes=1, chrom_length=5e5, n_causal_per_chromosome=10, seed=7)
    a, b = simulate_families(cfg), simulate_families(cfg)
    assert np.array_equal(a.haplotypes, b.haplotypes)
    assert np.array_equal(a.traits, b.traits)
    pd.testing.assert_frame_equal(a.pedigree, b.pedigree)
    c = simulate_families(cfg, seed=8)
    assert not np.array_equal(a.traits, c.traits)
    lean = simulate_families(cfg, keep_haplotypes=False)
    assert lean.haplotypes is None
    assert np.array_equal(lean.genotypes.genotypes, a.genotypes.genotypes)
    assert np.array_equal(lean.traits, a.traits)
    assert a.manifest["parameters"]["seed"] == 7
    for bad, name in (
        (dict(family_fraction=1.5), "family_fraction"),
        (dict(n_traits=3, genetic_correlation=-0.9), "genetic_correlation"),
        (dict(null_chromosomes=("7",)), "null_chromosomes"),
        (dict(h2=2.0), "h2"),
    ):
        with pytest.raises(InputError, match=name):
            simulate_families(cfg, **bad)

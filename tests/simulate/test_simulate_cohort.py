"""Cohort simulator: heritability, causal effects, MAF, LD, prevalence, determinism, external GWAS."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats

pytest.importorskip("msprime")

from gwaskit.errors import InputError  # noqa: E402
from gwaskit.simulate import (  # noqa: E402
    adjacent_r2,
    latent_trait,
    linear_regression,
    liability_threshold,
    minor_allele_frequencies,
    simulate_cohort,
    simulate_genotypes,
)

H2 = 0.6


@pytest.fixture(scope="module")
def cohort():
    return simulate_cohort(
        None, n_individuals=2000, n_chromosomes=2, chrom_length=1.5e6, h_g=H2, n_causal=10,
        prevalence=0.2, n_external=2000, seed=3, keep_external=True,
    )


def test_realised_heritability(cohort):
    z = cohort.phenotypes["z"].to_numpy()
    r2 = np.corrcoef(z, cohort.gbeta)[0, 1] ** 2
    assert abs(r2 - H2) < 0.05
    assert abs(cohort.manifest["realised_h_g"] - r2) < 1e-12
    assert abs(z.mean()) < 0.1 and abs(z.std() - 1) < 0.1


def test_gbeta_is_genotypes_times_effects(cohort):
    causal = cohort.causal
    g = cohort.genotypes.genotypes[:, causal["variant_index"].to_numpy()].astype(float)
    np.testing.assert_allclose(g @ causal["beta"].to_numpy(), cohort.gbeta)


def test_causal_effects_and_count(cohort):
    causal = cohort.causal
    assert causal.shape[0] == 10
    assert set(np.unique(causal["beta"])) <= {-1.0, 1.0}
    assert causal["variant_id"].is_unique
    maf = np.minimum(causal["effect_allele_frequency"], 1 - causal["effect_allele_frequency"])
    assert (maf >= 0.05).all()   # chosen among common variants (study cohort frequencies)
    v = cohort.genotypes.variants.iloc[causal["variant_index"]]
    assert (v["variant_id"].to_numpy() == causal["variant_id"].to_numpy()).all()


def test_variant_table_and_maf_filter(cohort):
    g = cohort.genotypes
    v = g.variants
    assert g.genotypes.dtype == np.int8 and g.genotypes.shape == (2000, v.shape[0])
    assert set(np.unique(g.genotypes)) <= {0, 1, 2}
    assert minor_allele_frequencies(g.genotypes).min() >= 0.01
    assert v["chromosome"].map(type).eq(str).all() and set(v["chromosome"]) == {"1", "2"}
    assert v["base_pair_location"].dtype == np.int64
    assert (v["base_pair_location"] >= 1).all()
    for _, grp in v.groupby("chromosome"):
        assert grp["base_pair_location"].is_unique
        assert grp["base_pair_location"].is_monotonic_increasing
    assert (v["effect_allele"] != v["other_allele"]).all()
    assert set(v["effect_allele"]) | set(v["other_allele"]) <= set("ACGT")
    assert v["variant_id"].is_unique
    assert len(set(g.samples)) == 2000
    assert not set(g.samples) & set(cohort.external.samples)   # disjoint cohorts


def test_linkage_disequilibrium_present(cohort):
    geno = cohort.genotypes.genotypes
    sl = cohort.genotypes.chromosome_slices()
    adjacent = adjacent_r2(geno[:, sl["1"]][:, :1500])
    # independent reference: variants on different chromosomes (independent simulations)
    a = geno[:, sl["1"]][:, :1500].astype(float)
    b = geno[:, sl["2"]][:, :1500].astype(float)
    a, b = a - a.mean(0), b - b.mean(0)
    indep = ((a * b).sum(0) / np.sqrt((a * a).sum(0) * (b * b).sum(0))) ** 2
    assert np.nanmedian(adjacent) > 10 * np.nanmedian(indep)
    assert np.nanmean(adjacent > 0.5) > 0.05 > np.nanmean(indep > 0.05)


def test_disease_prevalence(cohort):
    prev = cohort.phenotypes["disease"].mean()
    assert abs(prev - 0.2) < 0.03
    z = cohort.phenotypes["z"]
    assert z[cohort.phenotypes["disease"] == 1].min() > z[cohort.phenotypes["disease"] == 0].max() - 1e-12


def test_liability_threshold_with_noise():
    rng = np.random.default_rng(0)
    z = rng.standard_normal(200_000)
    d, lia = liability_threshold(z, 0.05, noise_sd=1.0, rng=rng)
    assert abs(d.mean() - 0.05) < 0.003
    assert abs(np.corrcoef(lia, z)[0, 1] - 1 / np.sqrt(2)) < 0.01


def test_latent_trait_orthogonal_is_exact():
    rng = np.random.default_rng(1)
    g = rng.standard_normal(500)
    z = latent_trait(g, 0.3, rng=rng, orthogonal=True)
    assert abs(np.corrcoef(z, g)[0, 1] ** 2 - 0.3) < 1e-10
    with pytest.raises(InputError):
        latent_trait(g, 1.5, rng=rng)


def test_external_gwas_finds_causal_variants(cohort):
    ss = cohort.external_gwas
    causal = cohort.causal
    assert list(ss.columns[:8]) == ["chromosome", "base_pair_location", "effect_allele", "other_allele",
                                    "beta", "standard_error", "effect_allele_frequency", "p_value"]
    assert (ss["n"] == 2000).all()
    top = ss.nsmallest(5, "p_value")
    for _, row in top.iterrows():
        same = causal[causal["chromosome"] == row["chromosome"]]
        assert (same["base_pair_location"] - row["base_pair_location"]).abs().min() < 200_000
    cp = ss.set_index("variant_id").loc[causal["variant_id"], "p_value"]
    assert (cp < 1e-5).mean() >= 0.5
    # causal betas have the simulated sign where significant
    cs = ss.set_index("variant_id").loc[causal["variant_id"]]
    sig = cs["p_value"].to_numpy() < 1e-8
    assert (np.sign(cs["beta"].to_numpy()[sig]) == causal["beta"].to_numpy()[sig]).all()
    # with 10 causal variants in 3 Mb nearly every variant tags a signal; a null trait on the same
    # genotypes is calibrated
    y0 = np.random.default_rng(0).standard_normal(cohort.external.n_samples)
    p0 = linear_regression(cohort.external.genotypes, y0)["p_value"]
    assert 0.8 < np.median(stats.chi2.isf(p0, 1)) / stats.chi2.ppf(0.5, 1) < 1.25


def test_linear_regression_matches_scipy_and_lstsq():
    rng = np.random.default_rng(2)
    n = 300
    g = rng.integers(0, 3, size=(n, 4)).astype(np.int8)
    y = 0.3 * g[:, 0] + rng.standard_normal(n)
    res = linear_regression(g, y)
    for j in range(4):
        ref = stats.linregress(g[:, j].astype(float), y)
        assert res["beta"][j] == pytest.approx(ref.slope, rel=1e-10)
        assert res["standard_error"][j] == pytest.approx(ref.stderr, rel=1e-10)
        assert res["p_value"][j] == pytest.approx(ref.pvalue, rel=1e-8)
    cov = rng.standard_normal((n, 2))
    res = linear_regression(g, y, cov)
    x = np.column_stack([np.ones(n), cov, g[:, 1]])
    coef, rss, *_ = np.linalg.lstsq(x, y, rcond=None)
    s2 = rss[0] / (n - 4)
    se = np.sqrt(s2 * np.linalg.inv(x.T @ x)[3, 3])
    assert res["beta"][1] == pytest.approx(coef[3], rel=1e-10)
    assert res["standard_error"][1] == pytest.approx(se, rel=1e-10)
    assert res["p_value"][1] == pytest.approx(2 * stats.t.sf(abs(coef[3] / se), n - 4), rel=1e-8)


def test_linear_regression_monomorphic_and_tiny_p():
    rng = np.random.default_rng(3)
    g = np.zeros((1000, 2), dtype=np.int8)
    g[:, 1] = rng.integers(0, 3, 1000)
    y = g[:, 1] * 5.0 + 0.01 * rng.standard_normal(1000)
    res = linear_regression(g, y)
    assert np.isnan(res["beta"][0])
    assert res["p_value"][1] == 0.0 and res["neg_log_10_p_value"][1] > 1000


def test_determinism_by_seed():
    kw = dict(n_individuals=150, n_chromosomes=1, chrom_length=3e5, h_g=0.5, n_causal=3,
              prevalence=0.3, n_external=100)
    a = simulate_cohort(None, seed=7, **kw)
    b = simulate_cohort(None, seed=7, **kw)
    c = simulate_cohort(None, seed=8, **kw)
    np.testing.assert_array_equal(a.genotypes.genotypes, b.genotypes.genotypes)
    pd.testing.assert_frame_equal(a.genotypes.variants, b.genotypes.variants)
    pd.testing.assert_frame_equal(a.phenotypes, b.phenotypes)
    pd.testing.assert_frame_equal(a.causal, b.causal)
    pd.testing.assert_frame_equal(a.external_gwas, b.external_gwas)
    pd.testing.assert_frame_equal(a.covariates, b.covariates)
    assert not a.phenotypes["z"].equals(c.phenotypes["z"])


def test_population_structure():
    sim = simulate_genotypes(300, 4, 5e5, populations=3, migration_rate=5e-4, seed=4, maf=0.05)
    pops = pd.Series(sim.populations)
    assert pops.value_counts().tolist() == [100, 100, 100]
    g = sim.genotypes.astype(float)
    freq = np.stack([g[sim.populations == p].mean(0) / 2 for p in ("pop_0", "pop_1", "pop_2")])
    # F_ST-like: between-deme frequency variance relative to p(1-p), well above the sampling noise
    pbar = freq.mean(0)
    fst = np.mean(freq.var(0)) / np.mean(pbar * (1 - pbar))
    assert fst > 0.015   # sampling noise alone gives ~0.003 here
    # the top two genotype PCs are explained by the deme labels
    gc = (g - g.mean(0)) / np.maximum(g.std(0), 1e-9)
    u = np.linalg.svd(gc, full_matrices=False)[0][:, :2]
    dummies = pd.get_dummies(pops).to_numpy(float)
    fitted = dummies @ np.linalg.lstsq(dummies, u, rcond=None)[0]
    r2 = 1 - ((u - fitted) ** 2).sum(0) / ((u - u.mean(0)) ** 2).sum(0)
    assert (r2 > 0.5).all()


def test_population_shift_confounds_unadjusted_gwas():
    kw = dict(n_individuals=200, n_chromosomes=1, chrom_length=1e6, h_g=0.3, n_causal=3,
              prevalence=0.2, n_external=1200, populations=2, population_shift=1.5, seed=5)
    adj = simulate_cohort(None, adjust_populations=True, **kw).external_gwas
    raw = simulate_cohort(None, adjust_populations=False, **kw).external_gwas
    lam = lambda p: np.median(stats.chi2.isf(p, 1)) / stats.chi2.ppf(0.5, 1)  # noqa: E731
    assert lam(raw["p_value"]) > lam(adj["p_value"]) + 0.3


def test_bad_arguments():
    with pytest.raises(InputError, match="^n_causal"):
        simulate_cohort(None, n_individuals=50, n_chromosomes=1, chrom_length=2e4, n_causal=500,
                        n_external=0, seed=1)
    with pytest.raises(InputError, match="^maf"):
        simulate_genotypes(10, maf=0.7)


def test_files_written(tmp_path):
    out = tmp_path / "sim"
    c = simulate_cohort(out, n_individuals=120, n_chromosomes=2, chrom_length=2e5, h_g=0.5,
                        n_causal=4, prevalence=0.25, n_external=150, seed=2, write_bgen=False)
    ph = pd.read_parquet(out / "phenotypes.parquet")
    assert list(ph.columns) == ["IID", "z", "disease", "population"] and len(ph) == 120
    cov = pd.read_parquet(out / "covariates.parquet")
    assert list(cov.columns[:3]) == ["IID", "sex", "age"]
    causal = pd.read_csv(out / "causal.tsv", sep="\t")
    assert len(causal) == 4 and set(causal["beta"]) <= {-1, 1}
    ss = pd.read_csv(out / "external_gwas.tsv", sep="\t")
    assert list(ss.columns[:10]) == ["chromosome", "base_pair_location", "effect_allele", "other_allele",
                                     "beta", "standard_error", "effect_allele_frequency", "p_value",
                                     "variant_id", "n"]
    assert len(ss) == len(c.external_gwas)
    man = json.loads((out / "manifest.json").read_text())
    assert man["parameters"]["seed"] == 2 and man["n_variants"] == c.genotypes.n_variants
    with pytest.raises(InputError, match="exists"):
        simulate_cohort(out, n_individuals=120, n_chromosomes=2, chrom_length=2e5, n_causal=4,
                        n_external=150, seed=2, write_bgen=False)
    from gwaskit.io.sumstats import read_sumstats

    back = read_sumstats(out / "external_gwas.tsv")
    assert len(back) == len(ss)
    np.testing.assert_allclose(back["beta"].to_numpy(float), ss["beta"].to_numpy(float))


def test_cli_simulate(tmp_path):
    from gwaskit.cli.main import main

    out = tmp_path / "cli"
    main(["simulate", "--out", str(out), "--n", "100", "--n-external", "100", "--chromosomes", "1",
          "--length-mb", "0.2", "--n-causal", "3", "--seed", "1", "--no-bgen", "--quiet"])
    assert (out / "manifest.json").exists() and (out / "external_gwas.tsv").exists()
    with pytest.raises(SystemExit) as exc:
        main(["simulate", "--out", str(out), "--n", "100", "--n-external", "100", "--chromosomes",
              "1", "--length-mb", "0.2", "--n-causal", "3", "--no-bgen", "--quiet"])
    assert exc.value.code == 2


def test_bgen_written_and_read_back(tmp_path):
    from gwaskit.io.genotypes import open_genotypes

    out = tmp_path / "bgen"
    c = simulate_cohort(out, n_individuals=60, n_chromosomes=2, chrom_length=2e5, h_g=0.5,
                        n_causal=3, prevalence=0.2, n_external=50, seed=4)
    assert c.paths["bgen"] == ["chr1.bgen", "chr2.bgen"]
    assert list(out.glob("*.sample"))
    with open_genotypes(sorted(out.glob("chr*.bgen"))) as reader:
        assert list(reader.samples) == list(c.genotypes.samples)
        table, dosages = reader.read_dosages(dtype=np.float64)
    v = c.genotypes.variants
    assert len(table) == len(v)
    for col in ("chromosome", "base_pair_location", "variant_id", "effect_allele", "other_allele"):
        assert table[col].astype(str).tolist() == v[col].astype(str).tolist(), col
    np.testing.assert_allclose(dosages, c.genotypes.genotypes, atol=1e-6)


def test_regression_and_bgen_against_plink2(tmp_path, plink2):
    import subprocess

    out = tmp_path / "sim"
    c = simulate_cohort(out, n_individuals=150, n_chromosomes=1, chrom_length=2e5, h_g=0.5,
                        n_causal=3, prevalence=0.2, n_external=0, seed=6)
    ph = c.phenotypes
    pd.DataFrame({"FID": ph["IID"], "IID": ph["IID"], "z": ph["z"]}).to_csv(
        tmp_path / "pheno.txt", sep="\t", index=False)
    subprocess.run([plink2, "--bgen", str(out / "chr1.bgen"), "ref-last", "--sample",
                    str(out / "chr1.sample"), "--pheno", str(tmp_path / "pheno.txt"), "--glm",
                    "allow-no-covars", "--freq", "--out", str(tmp_path / "p2"), "--threads", "1"],
                   check=True, capture_output=True)
    glm = pd.read_csv(tmp_path / "p2.z.glm.linear", sep="\t")
    ours = linear_regression(c.genotypes.genotypes, ph["z"].to_numpy())
    ours["variant_id"] = c.genotypes.variants["variant_id"]
    ours["effect_allele"] = c.genotypes.variants["effect_allele"]
    m = glm.merge(ours, left_on="ID", right_on="variant_id")
    assert len(m) == c.genotypes.n_variants
    assert (m["A1"] == m["effect_allele"]).all() or (m["ALT"] == m["effect_allele"]).all()
    sign = np.where(m["A1"] == m["effect_allele"], 1.0, -1.0)
    np.testing.assert_allclose(m["BETA"] * sign, m["beta"], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(m["SE"], m["standard_error"], rtol=1e-4)
    np.testing.assert_allclose(m["P"], m["p_value"], rtol=1e-3, atol=1e-12)
    freq = pd.read_csv(tmp_path / "p2.afreq", sep="\t")
    assert (freq["ALT"].to_numpy() == c.genotypes.variants["effect_allele"].to_numpy()).all()
    np.testing.assert_allclose(freq["ALT_FREQS"], c.genotypes.allele_frequencies(), atol=1e-6)


def test_cohort_equals_the_whole_matrix_construction():
    """simulate_cohort splits and filters each chromosome as it comes; the result must be
    what the plain construction gives: simulate every individual, filter on the study
    cohort's MAF, split the rows, draw the trait from the whole matrix."""
    from gwaskit.simulate.genotypes import cohort_populations
    from gwaskit.simulate.traits import simulate_trait

    kw = dict(n_chromosomes=3, chrom_length=4e5, populations=2, migration_rate=5e-4, maf=0.02,
              seed=8)
    n_main, n_ext = 150, 230
    got = simulate_cohort(None, n_individuals=n_main, n_external=n_ext, h_g=0.5, n_causal=5,
                          population_shift=0.2, keep_external=True, **kw)
    whole = simulate_genotypes(n_main + n_ext, **kw)
    assert list(whole.populations) == list(cohort_populations(n_main + n_ext, 2))
    perm = np.random.default_rng(np.random.SeedSequence([8, 0x5EED])).permutation(n_main + n_ext)
    main_rows, ext_rows = np.sort(perm[:n_main]), np.sort(perm[n_main:])
    keep = (minor_allele_frequencies(whole.genotypes[main_rows]) >= 0.02) & (
        minor_allele_frequencies(whole.genotypes[ext_rows]) > 0)
    assert 0 < keep.sum() < keep.size          # the filter does drop variants here
    whole = whole.subset_variants(keep)
    np.testing.assert_array_equal(got.genotypes.genotypes, whole.genotypes[main_rows])
    np.testing.assert_array_equal(got.external.genotypes, whole.genotypes[ext_rows])
    pd.testing.assert_frame_equal(got.genotypes.variants, whole.variants)
    trait = simulate_trait(whole, 0.5, 5, population_shift=0.2, seed=8, frequency_rows=main_rows)
    np.testing.assert_array_equal(got.gbeta, trait.gbeta[main_rows])
    np.testing.assert_array_equal(got.phenotypes["z"].to_numpy(), trait.z[main_rows])
    assert list(got.genotypes.populations) == list(whole.populations[main_rows])


def test_join_column_blocks_is_concatenate():
    from gwaskit.simulate.genotypes import join_column_blocks, row_pieces, select_piece_columns

    rng = np.random.default_rng(0)
    blocks = [rng.integers(0, 3, (37, m)).astype(np.int8) for m in (5, 0, 11, 3)]
    rows = np.array([0, 3, 4, 9, 20, 36])
    cols = [rng.random(b.shape[1]) < 0.6 for b in blocks]
    pieces = [select_piece_columns(row_pieces(b, rows, n_pieces=4), c)
              for b, c in zip(blocks, cols)]
    # copies, not views of the block: releasing a piece releases its memory
    assert not any(np.shares_memory(p, b) for b, ps in zip(blocks, pieces) for p in ps)
    joined = join_column_blocks(pieces, len(rows))
    np.testing.assert_array_equal(
        joined, np.concatenate([b[rows][:, c] for b, c in zip(blocks, cols)], axis=1))
    assert pieces == []                       # emptied as it copies
    assert join_column_blocks([], 4).shape == (4, 0)
    with pytest.raises(ValueError, match="different row ranges"):
        join_column_blocks([row_pieces(blocks[0], n_pieces=2), row_pieces(blocks[2], n_pieces=3)],
                           37)

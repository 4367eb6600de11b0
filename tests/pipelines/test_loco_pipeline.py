"""``gwaskit loco`` and ``gwaskit scan --loco`` (gwaskit.pipelines.loco) on a small related
cohort: the wiring (each chromosome tested against its own LOCO prediction), refusals of
predictions made for something else, bit-identity across modes and resume, and the
no-relatedness control."""
from __future__ import annotations

import json

import bed_reader
import numpy as np
import pandas as pd
import pytest

from gwaskit.cli.main import main
from gwaskit.io.loco import read_loco

pytest.importorskip("msprime")

D = 3


def _write_bed(prefix, sim) -> None:
    g = sim.genotypes
    v = g.variants
    bed_reader.to_bed(f"{prefix}.bed", g.genotypes.astype(np.int8), properties={
        "fid": sim.pedigree["FID"].astype(str).tolist(), "iid": list(g.samples),
        "chromosome": v["chromosome"].astype(str).tolist(),
        "sid": v["variant_id"].tolist(), "bp_position": v["base_pair_location"].to_numpy(),
        "allele_1": v["effect_allele"].tolist(), "allele_2": v["other_allele"].tolist()},
        count_A1=True)


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    from gwaskit.simulate.families import simulate_families

    d = tmp_path_factory.mktemp("loco")
    sim = simulate_families(n_individuals=500, n_chromosomes=3, chrom_length=1.5e6,
                            family_fraction=0.6, n_traits=D, h2=0.6, genetic_correlation=0.5,
                            n_causal_per_chromosome=60, null_chromosomes=("3",), seed=5,
                            keep_haplotypes=False)
    _write_bed(d / "g", sim)
    ph = sim.phenotype_table()
    rng = np.random.default_rng(1)
    ph["age"] = rng.normal(50, 5, len(ph))
    ph["bmi"] = rng.normal(25, 3, len(ph))
    ph[["FID", "IID", *sim.trait_names]].to_csv(d / "y.tsv", sep="\t", index=False)
    ph[["FID", "IID", "age", "bmi"]].to_csv(d / "cov.tsv", sep="\t", index=False)
    return d, sim


def _loco(d, out, *extra):
    main(["loco", "--bed", str(d / "g"), "--pheno", str(d / "y.tsv"), "--covar",
          str(d / "cov.tsv"), "--block-size", "200", "--quiet", "--out", str(out), *extra])


def _scan(d, out, *extra, pheno=None):
    main(["scan", "--bed", str(d / "g"), "--pheno", str(pheno or d / "y.tsv"), "--covar",
          str(d / "cov.tsv"), "--dtype", "float64", "--quiet", "--out", str(out), *extra])
    return pd.read_parquet(out), json.loads(open(str(out) + ".meta.json").read())


@pytest.fixture(scope="module")
def step1(cohort):
    d, _ = cohort
    out = d / "step1.loco.parquet"
    _loco(d, out)
    return out


def test_loco_file_and_scan_metadata(cohort, step1, tmp_path):
    d, sim = cohort
    loco = read_loco(step1)
    assert set(loco.predictions) == {"1", "2", "3"} and loco.genome is not None
    assert loco.dim_names == [f"PC{k}" for k in range(1, D + 1)]
    assert len(loco.sample_ids) == 500
    assert (d / "step1.loco.parquet.log").exists()
    res, meta = _scan(d, tmp_path / "s.parquet", "--loco", str(step1))
    assert meta["loco"]["prediction_used"] == {"1": "1", "2": "2", "3": "3"}
    assert meta["loco"]["format"] == "gwaskit"
    ols, _ = _scan(d, tmp_path / "ols.parquet")
    assert not np.allclose(res["chisq"], ols["chisq"])


def test_each_chromosome_is_tested_against_its_own_prediction(cohort, step1, tmp_path):
    """scan --loco on chromosome c == a plain scan of (transformed traits - loco_c), with the
    transformation switched off, restricted to chromosome c."""
    d, _ = cohort
    main(["transform", "--bed", str(d / "g"), "--pheno", str(d / "y.tsv"), "--covar",
          str(d / "cov.tsv"), "--quiet", "--out", str(tmp_path / "t")])
    traits = pd.read_csv(tmp_path / "t.pheno", sep=" ", dtype={"FID": str, "IID": str})
    loco = read_loco(step1).aligned(traits["IID"].tolist())
    res, _ = _scan(d, tmp_path / "s.parquet", "--loco", str(step1))
    for c in ("1", "3"):
        adj = traits.copy()
        adj[loco.dim_names] = traits[loco.dim_names].to_numpy() - loco.predictions[c]
        adj.to_csv(tmp_path / f"adj{c}.tsv", sep="\t", index=False, float_format="%.17g")
        direct, _ = _scan(d, tmp_path / f"direct{c}.parquet", "--chr", c, "--no-pca",
                          "--no-rank-normalize", pheno=tmp_path / f"adj{c}.tsv")
        mine = res[res["chromosome"].astype(str) == c].reset_index(drop=True)
        np.testing.assert_allclose(mine["chisq"], direct["chisq"], rtol=1e-9)
        np.testing.assert_allclose(mine["p_value"], direct["p_value"], rtol=1e-8)


def test_regenie_layout_of_the_same_predictions_gives_the_same_scan(cohort, step1, tmp_path):
    """--loco-regenie reads REGENIE's _pred.list/.loco layout (written here from the gwaskit
    file, values exact) and maps samples by FID_IID: the scan is the same."""
    from gwaskit.io.regenie import regenie_sample_ids, write_regenie_pred

    d, sim = cohort
    loco = read_loco(step1)
    fid = dict(zip(sim.pedigree["IID"].astype(str), sim.pedigree["FID"].astype(str)))
    keys = regenie_sample_ids([fid[i] for i in loco.sample_ids], loco.sample_ids)
    pred_list = write_regenie_pred(tmp_path / "reg", loco, keys)
    a, _ = _scan(d, tmp_path / "a.parquet", "--loco", str(step1))
    b, meta = _scan(d, tmp_path / "b.parquet", "--loco-regenie", str(pred_list))
    assert meta["loco"]["format"] == "regenie"
    pd.testing.assert_frame_equal(a, b)


@pytest.mark.parametrize("case", ["pca", "samples", "values", "covariates"])
def test_loco_made_for_something_else_is_refused(cohort, step1, tmp_path, capsys, case):
    d, _ = cohort
    extra, pheno = [], None
    if case == "pca":
        extra, needle = ["--pca", "2"], "pca"
    elif case == "samples":
        fam = pd.read_csv(d / "g.fam", sep=r"\s+", header=None, dtype=str)
        fam[[0, 1]].iloc[:400].to_csv(tmp_path / "keep.txt", sep="\t", index=False,
                                      header=False)
        extra, needle = ["--keep", str(tmp_path / "keep.txt")], "sample"
    elif case == "values":
        y = pd.read_csv(d / "y.tsv", sep="\t", dtype={"FID": str, "IID": str})
        y.loc[0, "trait_1"] += 1.0
        y.to_csv(tmp_path / "y2.tsv", sep="\t", index=False)
        pheno, needle = tmp_path / "y2.tsv", "traits differ"
    else:
        extra, needle = ["--covar-cols", "age"], "covar_cols"
    with pytest.raises(SystemExit) as exc:
        _scan(d, tmp_path / "r.parquet", "--loco", str(step1), *extra, pheno=pheno)
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and needle in err[0] and "step1.loco.parquet" in err[0], err


def test_bit_identical_across_threads_and_resume(cohort, step1, tmp_path):
    d, _ = cohort
    one = tmp_path / "one.loco.parquet"
    _loco(d, one, "--threads", "1", "--keep-parts")
    a, b = read_loco(step1), read_loco(one)
    for c in a.predictions:
        assert np.array_equal(a.predictions[c], b.predictions[c])
    # a resumed run recomputes only the removed parts and gives the same bits
    parts = sorted((tmp_path / "one.loco.parquet.parts").glob("part-*.parquet"))
    assert len(parts) >= 6
    parts[2].unlink()
    for f in ("one.loco.parquet", "one.loco.parquet.meta.json"):
        (tmp_path / f).unlink()
    _loco(d, one, "--threads", "2", "--resume")
    c = read_loco(one)
    for k in a.predictions:
        assert np.array_equal(a.predictions[k], c.predictions[k])
    s1, _ = _scan(d, tmp_path / "s1.parquet", "--loco", str(step1), "--threads", "1",
                  "--chunk-size", "150")
    s2, _ = _scan(d, tmp_path / "s2.parquet", "--loco", str(step1), "--threads", "2",
                  "--chunk-size", "150")
    pd.testing.assert_frame_equal(s1, s2)


def test_no_relatedness_no_background_leaves_lambda(tmp_path):
    """Unrelated samples and traits with no genetic part: the LOCO predictions are near 0 and
    lambda_GC moves by less than 0.01."""
    from gwaskit.simulate.families import simulate_families

    sim = simulate_families(n_individuals=600, n_chromosomes=2, chrom_length=1.5e6,
                            family_fraction=0.0, n_traits=2, h2=0.0,
                            n_causal_per_chromosome=0, seed=9, keep_haplotypes=False)
    _write_bed(tmp_path / "g", sim)
    sim.phenotype_table().to_csv(tmp_path / "y.tsv", sep="\t", index=False)
    pd.DataFrame({"FID": sim.pedigree["FID"], "IID": sim.pedigree["IID"],
                  "age": np.random.default_rng(2).normal(size=600)}).to_csv(
        tmp_path / "cov.tsv", sep="\t", index=False)
    _loco(tmp_path, tmp_path / "l.loco.parquet")
    _, with_loco = _scan(tmp_path, tmp_path / "a.parquet", "--loco",
                         str(tmp_path / "l.loco.parquet"))
    _, ols = _scan(tmp_path, tmp_path / "b.parquet")
    assert abs(with_loco["lambda_gc"] - ols["lambda_gc"]) < 0.01, (with_loco["lambda_gc"],
                                                                  ols["lambda_gc"])

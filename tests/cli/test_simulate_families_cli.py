"""``gwaskit simulate --families``: a related cohort on disk (BGEN + .sample, phenotypes, pedigree,
causal effects, manifest) that reads back with the project reader and carries its relatedness."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("msprime")

from gwaskit.cli.main import main  # noqa: E402
from gwaskit.io.genotypes import open_genotypes  # noqa: E402

ARGS = ["simulate", "--n", "200", "--chromosomes", "2", "--length-mb", "0.5", "--families", "0.6",
        "--trio-share", "0.5", "--n-traits", "2", "--genetic-correlation", "0.5",
        "--polygenic", "20", "--null-chromosomes", "2", "--h2", "0.5", "--seed", "3", "--quiet"]
FILES = {"chr1.bgen", "chr1.sample", "chr2.bgen", "chr2.sample", "phenotypes.parquet",
         "pedigree.tsv", "causal.tsv", "manifest.json", "simulate.log"}


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    out = tmp_path_factory.mktemp("fam") / "sim"
    main([*ARGS, "--out", str(out)])
    return out


def _pedigree(sim) -> pd.DataFrame:
    return pd.read_csv(sim / "pedigree.tsv", sep="\t", dtype=str)


def test_writes_the_files(sim):
    assert {p.name for p in sim.iterdir()} == FILES
    m = json.loads((sim / "manifest.json").read_text())
    assert m["generator"] == "gwaskit.simulate.simulate_families"
    assert m["parameters"]["family_fraction"] == 0.6 and m["parameters"]["n_traits"] == 2
    assert m["parameters"]["null_chromosomes"] == ["2"]
    assert m["n_unrelated"] + 3 * m["n_trios"] + 2 * m["n_sibling_pairs"] == 200
    assert m["files"]["bgen"] == ["chr1.bgen", "chr2.bgen"]
    assert sum(m["variants_per_chromosome"].values()) == m["n_variants"]
    pheno = pd.read_parquet(sim / "phenotypes.parquet")
    assert list(pheno.columns) == ["FID", "IID", "SEX", "trait_1", "trait_2"]
    ped = _pedigree(sim)
    assert list(ped.columns) == ["FID", "IID", "PAT", "MAT", "SEX", "family_type", "role"]
    assert (pheno["IID"].to_numpy() == ped["IID"].to_numpy()).all()
    assert (pheno["FID"].to_numpy() == ped["FID"].to_numpy()).all()
    y = pheno[["trait_1", "trait_2"]].to_numpy()
    assert np.allclose(y.var(axis=0), 1.0, atol=0.25)


def test_fids_group_siblings_and_trios(sim):
    ped = _pedigree(sim)
    m = json.loads((sim / "manifest.json").read_text())
    sizes = ped.groupby("FID").size()
    kinds = ped.groupby("FID")["family_type"].agg(lambda s: set(s))
    assert all(len(k) == 1 for k in kinds)  # one family type per FID
    kind = kinds.map(lambda s: next(iter(s)))
    assert (sizes[kind == "unrelated"] == 1).all()
    assert (sizes[kind == "sibpair"] == 2).all() and (kind == "sibpair").sum() == m["n_sibling_pairs"]
    assert (sizes[kind == "trio"] == 3).all() and (kind == "trio").sum() == m["n_trios"]
    for _, fam in ped[ped["family_type"] == "trio"].groupby("FID"):
        roles = dict(zip(fam["role"], fam["IID"]))
        child = fam[fam["role"] == "child"].iloc[0]
        assert (child["PAT"], child["MAT"]) == (roles["father"], roles["mother"])
        assert fam.set_index("role").loc[["father", "mother"], "SEX"].tolist() == ["1", "2"]
    sibs = ped[ped["family_type"] == "sibpair"]
    assert (sibs["role"] == "child").all() and (sibs[["PAT", "MAT"]] == "0").all().all()
    # the .sample of every BGEN carries FID = family, in the BGEN's sample order
    for k in (1, 2):
        sample = pd.read_csv(sim / f"chr{k}.sample", sep=" ", skiprows=[1], dtype=str)
        assert (sample["ID_1"].to_numpy() == ped["FID"].to_numpy()).all()
        assert (sample["ID_2"].to_numpy() == ped["IID"].to_numpy()).all()


def test_bgen_reads_back_and_relatives_share_genotypes(sim):
    ped = _pedigree(sim)
    with open_genotypes(str(sim / "chr*.bgen")) as reader:
        assert list(reader.samples) == ped["IID"].tolist()
        assert reader.variants["chromosome"].astype(str).unique().tolist() == ["1", "2"]
        _, x = reader.read_dosages(dtype=np.float64)
    assert np.array_equal(x, np.round(x)) and set(np.unique(x)) <= {0.0, 1.0, 2.0}
    row = {iid: k for k, iid in enumerate(ped["IID"])}
    # Mendelian transmission: a trio child is never homozygous opposite to a parent
    for _, child in ped[(ped["family_type"] == "trio") & (ped["role"] == "child")].iterrows():
        for parent in (child["PAT"], child["MAT"]):
            assert not np.any(np.abs(x[row[child["IID"]]] - x[row[parent]]) == 2)
    # genetic relationship (standardised genotypes): ~0.5 for first-degree relatives, ~0 else
    p = x.mean(axis=0) / 2
    keep = (p > 0.05) & (p < 0.95)
    z = (x[:, keep] - 2 * p[keep]) / np.sqrt(2 * p[keep] * (1 - p[keep]))
    grm = z @ z.T / keep.sum()
    sib = [grm[row[a], row[b]] for _, f in ped[ped["family_type"] == "sibpair"].groupby("FID")
           for a, b in [tuple(f["IID"])]]
    po = [grm[row[c["IID"]], row[par]] for _, c in ped[ped["PAT"] != "0"].iterrows()
          for par in (c["PAT"], c["MAT"])]
    founders = np.array([row[i] for i in ped.loc[ped["family_type"] == "unrelated", "IID"]])
    unrelated = grm[np.ix_(founders, founders)][np.triu_indices(founders.size, 1)]
    # 1 Mb in all, hardly any crossover: a sib pair shares 0, 1 or 2 haplotypes per chromosome,
    # so single pairs vary widely; the mean over pairs is ~0.5
    assert 0.3 < np.mean(sib) < 0.7, np.mean(sib)
    assert 0.35 < np.mean(po) < 0.65, np.mean(po)
    assert abs(np.mean(unrelated)) < 0.05


def test_null_chromosome_has_no_causal_variant(sim):
    causal = pd.read_csv(sim / "causal.tsv", sep="\t", dtype={"chromosome": str})
    assert set(causal["chromosome"]) == {"1"} and len(causal) == 20
    assert list(causal.columns[-2:]) == ["beta_1", "beta_2"]
    m = json.loads((sim / "manifest.json").read_text())
    assert m["causal_per_chromosome"] == {"1": 20, "2": 0}


def test_same_seed_same_files(sim, tmp_path):
    main([*ARGS, "--no-bgen", "--out", str(tmp_path / "again")])
    for name in ("phenotypes.parquet", "pedigree.tsv", "causal.tsv"):
        assert (tmp_path / "again" / name).read_bytes() == (sim / name).read_bytes(), name
    with pytest.raises(SystemExit) as exc:  # no silent overwrite
        main([*ARGS, "--no-bgen", "--out", str(tmp_path / "again")])
    assert exc.value.code == 2


@pytest.mark.parametrize("extra, needle", [
    (["--families", "1.5"], "'--families'"),
    (["--families", "0.4", "--trio-share", "2"], "'--trio-share'"),
    (["--families", "0.4", "--n-traits", "0"], "'--n-traits'"),
    (["--families", "0.4", "--null-chromosomes", "x"], "'--null-chromosomes'"),
    (["--families", "0.4", "--null-chromosomes", "3"], "--null-chromosomes: '3'"),
    (["--families", "0.4", "--n-traits", "3", "--genetic-correlation", "-0.9"],
     "--genetic-correlation: must lie in [-0.5, 1]"),
    (["--families", "0.4", "--n-causal", "5"], "--n-causal does not apply with --families"),
    (["--n-traits", "2"], "--n-traits applies to a related cohort: add --families"),
    (["--families", "0.4", "--polygenic", "100000"], "--polygenic: 100000 causal variants"),
])
def test_bad_flag_values_exit_2_with_one_error_line(tmp_path, capsys, extra, needle):
    base = ["simulate", "--n", "200", "--chromosomes", "2", "--length-mb", "0.2", "--quiet"]
    with pytest.raises(SystemExit) as exc:
        main([*base, *extra, "--out", str(tmp_path / "bad")])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    errors = [ln for ln in err if ln.startswith("Error:")]
    assert len(errors) == 1 and errors[0] == err[-1], err
    assert needle in errors[0], errors[0]
    assert "Traceback" not in "\n".join(err)

"""`gwaskit scan` end to end on a small PLINK fileset (plink2 --glm oracle for D = 1)."""
import json
import subprocess
import sys
import types

import numpy as np
import pandas as pd
import pytest

from gwaskit.cli.main import main
from gwaskit.pipelines.scan import ScanConfig

bed_reader = pytest.importorskip("bed_reader")
N, M, D = 200, 30, 3


def _stub_genotypes_module():
    """Minimal stand-in for gwaskit.io.genotypes (PLINK only) until the real reader lands."""
    mod = types.ModuleType("gwaskit.io.genotypes")

    class _Reader:
        def __init__(self, prefix):
            self._bed = bed_reader.open_bed(str(prefix) + ".bed", count_A1=True)
            self.samples = np.asarray(self._bed.iid)
            self.variants = pd.DataFrame({
                "chromosome": self._bed.chromosome, "base_pair_location": self._bed.bp_position,
                "variant_id": self._bed.sid, "effect_allele": self._bed.allele_1,
                "other_allele": self._bed.allele_2})

        def iter_dosages(self, chunk_size=1000, samples=None, variants=None, dtype=np.float32):
            for s in range(0, len(self.variants), chunk_size):
                sl = np.s_[s:s + chunk_size]
                yield self.variants.iloc[sl], np.asfortranarray(
                    self._bed.read(index=(samples, sl), dtype=dtype, order="F"))

        def close(self):
            self._bed.__exit__()

    def open_genotypes(paths, sample_file=None):
        return _Reader(str(paths).removesuffix(".bed"))

    mod.open_genotypes = open_genotypes
    return mod


@pytest.fixture(autouse=True)
def genotypes_module(monkeypatch):
    try:
        import gwaskit.io.genotypes  # noqa: F401
    except ImportError:
        monkeypatch.setitem(sys.modules, "gwaskit.io.genotypes", _stub_genotypes_module())


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    rng = np.random.default_rng(1)
    d = tmp_path_factory.mktemp("scan_cli")
    G = rng.binomial(2, rng.uniform(0.05, 0.5, M), size=(N, M)).astype(np.float32)
    G[:, 5] = 0  # monomorphic
    iids = [f"s{i}" for i in range(N)]
    bed_reader.to_bed(d / "g.bed", G, properties={
        "fid": ["0"] * N, "iid": iids, "chromosome": ["1"] * M, "sid": [f"rs{j}" for j in range(M)],
        "bp_position": list(range(100, 100 + M)), "allele_1": ["T"] * M, "allele_2": ["C"] * M})
    Y = rng.normal(size=(N, D))
    Y[:, 0] += 0.5 * G[:, 2]
    pheno = pd.DataFrame({"IID": iids, **{f"emb_{k}": Y[:, k] for k in range(D)}, "other": rng.normal(size=N)})
    pheno.to_csv(d / "emb.tsv", sep="\t", index=False)
    pd.DataFrame({"#FID": "0", "IID": iids, "y": Y[:, 0]}).to_csv(d / "y.txt", sep="\t", index=False)
    age = rng.normal(50, 5, N)
    cov = pd.DataFrame({"IID": iids, "age": age, "age2": 2 * age, "batch": rng.choice(["a", "b", "c"], N)})
    cov.to_csv(d / "cov.tsv", sep="\t", index=False)
    pd.DataFrame({"#FID": "0", "IID": iids, "age": age}).to_csv(d / "cov_plink.txt", sep="\t", index=False)
    return d


def _run(args):
    with pytest.raises(SystemExit) as exc:
        main(args)
    return exc.value.code


def test_scan_cli_end_to_end(data, caplog):
    out = data / "res.tsv"
    main(["scan", "--bed", str(data / "g"), "--pheno", str(data / "emb.tsv"), "--pheno-cols", "emb_*",
          "--covar", str(data / "cov.tsv"), "--categorical", "batch", "--per-dim",
          "--chunk-size", "8", "--quiet", "--out", str(out)])
    df = pd.read_csv(out, sep="\t")
    assert list(df.columns[:13]) == ["chromosome", "base_pair_location", "variant_id", "effect_allele",
                                     "other_allele", "effect_allele_frequency", "info", "n", "chisq", "df",
                                     "p_value", "neg_log_10_p_value", "errcode"]
    assert len(df) == M and (df["df"] == D).all() and (df["n"] == N).all()
    assert df.loc[5, "errcode"] == "MONOMORPHIC" and np.isnan(df.loc[5, "p_value"])
    assert df["neg_log_10_p_value"].idxmax() == 2
    assert {"beta_PC1", "standard_error_PC3", "p_value_PC2"} <= set(df.columns)
    meta = json.loads((data / "res.tsv.meta.json").read_text())
    assert meta["n"] == N and meta["d"] == D
    assert meta["covariates_dropped"] == ["age2"] and meta["c"] == 4  # 1 + age + 2 batch dummies
    assert meta["config"]["test"] == "scaled-lrt" and "Beta(3/2" in meta["pvalue_law"]
    assert meta["config_fingerprint"] == ScanConfig(**meta["config"]).fingerprint()
    assert np.isfinite(meta["lambda_gc"]) and "numpy" in meta["versions"]
    assert "scan" in meta["command_line"] or meta["command_line"].startswith("gwaskit")


def test_scan_cli_d1_matches_plink2(data, plink2):
    subprocess.run([plink2, "--bfile", str(data / "g"), "--pheno", str(data / "y.txt"), "--covar",
                    str(data / "cov_plink.txt"), "--glm", "hide-covar", "omit-ref", "--out",
                    str(data / "ref"), "--threads", "1"], check=True, capture_output=True)
    ref = pd.read_csv(data / "ref.y.glm.linear", sep="\t")
    out = data / "d1.parquet"
    main(["scan", "--bed", str(data / "g"), "--pheno", str(data / "y.txt"), "--pheno-cols", "y",
          "--covar", str(data / "cov_plink.txt"), "--no-pca", "--no-rank-normalize", "--per-dim",
          "--quiet", "--out", str(out)])
    df = pd.read_parquet(out).set_index("variant_id").loc[ref["ID"]]
    ok = ref["ERRCODE"].eq(".").to_numpy()
    np.testing.assert_allclose(df["beta_y"].to_numpy()[ok], ref["BETA"][ok], rtol=1e-4)
    np.testing.assert_allclose(df["standard_error_y"].to_numpy()[ok], ref["SE"][ok], rtol=1e-4)
    np.testing.assert_allclose(df["p_value"].to_numpy()[ok], ref["P"][ok], rtol=1e-4)


def test_existing_output_refused_before_reading(data, tmp_path):
    out = tmp_path / "exists.parquet"
    out.write_text("x")
    assert _run(["scan", "--bed", str(tmp_path / "missing"), "--pheno", str(data / "emb.tsv"),
                 "--out", str(out)]) == 2
    assert out.read_text() == "x"


def test_too_few_samples_is_input_error(data, tmp_path, capsys):
    small = pd.read_csv(data / "emb.tsv", sep="\t").iloc[:4]  # N - c - D = 4 - 1 - 3 = 0
    small.to_csv(tmp_path / "small.tsv", sep="\t", index=False)
    code = _run(["scan", "--bed", str(data / "g"), "--pheno", str(tmp_path / "small.tsv"),
                 "--pheno-cols", "emb_*", "--out", str(tmp_path / "r.tsv")])
    assert code == 2
    err = capsys.readouterr().err
    assert "N - c - D" in err and "Traceback" not in err
    assert not (tmp_path / "r.tsv").exists()
    # --pca wider than the embedding: one-line error too
    assert _run(["scan", "--bed", str(data / "g"), "--pheno", str(data / "emb.tsv"), "--pheno-cols",
                 "emb_*", "--pca", "5", "--quiet", "--out", str(tmp_path / "r.tsv")]) == 2


def test_pca_and_no_pca_exclusive(data, tmp_path):
    assert _run(["scan", "--bed", str(data / "g"), "--pheno", str(data / "emb.tsv"), "--pca", "2",
                 "--no-pca", "--out", str(tmp_path / "r.tsv")]) == 2

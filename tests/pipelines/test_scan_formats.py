"""A scan of the same genotypes from .bgen, .pgen and .vcf.gz gives the same statistics.

The genotypes are hard calls with missing calls (exact in all three formats); the .pgen and the
VCF count ALT, which is the BGEN's allele 1 here, so effect alleles agree too."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "io"))
import _format_fixtures as ff  # noqa: E402
import _geno_fixtures as fx  # noqa: E402

from gwaskit.io.bgen_writer import write_bgen  # noqa: E402
from gwaskit.pipelines.scan import ScanConfig, ScanInputs, run_scan  # noqa: E402

N, M, D = 150, 36, 3


@pytest.fixture(scope="module")
def files(tmp_path_factory, plink2):
    d = tmp_path_factory.mktemp("scanfmt")
    samples = [f"s{i}" for i in range(N)]
    var = fx.variant_table(M, chrom="6")
    geno = fx.random_genotypes(N, M, seed=21, missing_rate=0.03)
    geno[:, 5] = 0.0  # monomorphic: skipped the same way everywhere
    bgen = write_bgen(d / "g.bgen", samples, var, geno, bits=8)
    vcf = ff.write_vcf(d / "g.vcf", samples, var, gt=geno)
    fx.run([plink2, "--vcf", vcf, "--make-pgen", "--threads", "1", "--out", d / "g"])
    vcfgz = ff.compress(vcf, "vcf.gz", True)
    rng = np.random.default_rng(3)
    Y = rng.normal(size=(N, D))
    Y[:, 0] += 0.7 * np.nan_to_num(geno[:, 2])
    pheno = d / "emb.parquet"
    pd.DataFrame({"IID": samples, **{f"emb_{k}": Y[:, k] for k in range(D)}}).to_parquet(pheno)
    return {"bgen": bgen, "pgen": d / "g.pgen", "vcf": vcfgz, "pheno": pheno}


def test_bgen_pgen_vcf_give_the_same_scan(files):
    cfg = ScanConfig(dtype="float64", chunk_size=10, pca=None)
    res = {k: run_scan(ScanInputs(genotypes=str(files[k]), pheno=str(files["pheno"])), cfg)
           for k in ("bgen", "pgen", "vcf")}
    ref = res["bgen"].table.reset_index(drop=True)
    assert len(ref) == M
    num = [c for c in ref.columns if pd.api.types.is_float_dtype(ref[c])]
    assert {"chisq", "p_value"} <= set(num)
    for k in ("pgen", "vcf"):
        t = res[k].table.reset_index(drop=True)
        assert list(t.columns) == list(ref.columns)
        other = [c for c in ref.columns if c not in num]
        pd.testing.assert_frame_equal(t[other], ref[other], check_dtype=False)
        np.testing.assert_allclose(t[num].to_numpy(float), ref[num].to_numpy(float),
                                   rtol=1e-12, atol=0, equal_nan=True)
    ok = ref["errcode"] == "."
    assert ok.sum() == M - 1


def test_cli_pfile_vcf_bgen_flags_give_the_same_scan(files, tmp_path):
    """The same through the CLI: ``--bgen``, ``--pfile PREFIX`` and ``--vcf`` (with a
    selection flag, applied alike to every format)."""
    import json

    from gwaskit.cli.main import main

    (tmp_path / "keep.txt").write_text("".join(f"s{i}\n" for i in range(0, N, 2)))
    out = {}
    for flag, path in (("--bgen", files["bgen"]), ("--pfile", str(files["pgen"])[:-5]),
                       ("--vcf", files["vcf"])):
        o = tmp_path / f"{flag[2:]}.tsv"
        main(["scan", flag, str(path), "--pheno", str(files["pheno"]), "--no-pca", "--dtype",
              "float64", "--keep", str(tmp_path / "keep.txt"), "--quiet", "--out", str(o)])
        out[flag] = pd.read_csv(o, sep="\t")
        assert json.loads(Path(str(o) + ".meta.json").read_text())["n"] == N // 2
    for flag in ("--pfile", "--vcf"):
        np.testing.assert_allclose(out[flag]["chisq"], out["--bgen"]["chisq"], rtol=1e-12)
        assert out[flag]["variant_id"].tolist() == out["--bgen"]["variant_id"].tolist()

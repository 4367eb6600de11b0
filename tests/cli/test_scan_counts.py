"""The scan's per-variant ``n`` is the number of non-missing calls (plink2 --glm OBS_CT) and its
``info`` is plink2's MACH_R2 (--freq cols=+machr2), on a .bed with 25% missing calls on some
variants and one variant with no call at all."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from gwaskit.cli.main import main

sys.path.insert(0, str(Path(__file__).parents[1] / "io"))
from _geno_fixtures import random_genotypes, variant_table, write_bed  # noqa: E402

N, M = 400, 20


def test_n_is_obs_ct_and_info_is_mach_r2(plink2, tmp_path):
    rng = np.random.default_rng(2)
    variants = variant_table(M, chrom="4")
    geno = random_genotypes(N, M, seed=9, missing_rate=0.0)
    first5 = geno[:, :5]
    first5[rng.random((N, 5)) < 0.25] = np.nan  # 25% missing on the first five (a view)
    geno[:, 7] = np.nan                            # no call at all
    write_bed(tmp_path / "g", geno, variants)
    y = rng.normal(size=N)
    pd.DataFrame({"#FID": "0", "IID": [f"s{i}" for i in range(N)], "y": y}).to_csv(
        tmp_path / "y.txt", sep="\t", index=False)
    r = subprocess.run([plink2, "--bfile", tmp_path / "g", "--pheno", tmp_path / "y.txt",
                        "--glm", "allow-no-covars", "--freq", "cols=+machr2", "--threads", "1",
                        "--out", tmp_path / "p"], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    glm = pd.read_csv(tmp_path / "p.y.glm.linear", sep="\t")
    freq = pd.read_csv(tmp_path / "p.afreq", sep="\t", dtype=str)
    main(["scan", "--bed", str(tmp_path / "g"), "--pheno", str(tmp_path / "y.txt"), "--no-pca",
          "--no-rank-normalize", "--quiet", "--out", str(tmp_path / "o.tsv")])
    ours = pd.read_csv(tmp_path / "o.tsv", sep="\t")
    assert ours["variant_id"].tolist() == glm["ID"].tolist() == freq["ID"].tolist()
    tested = glm["OBS_CT"].notna().to_numpy()
    np.testing.assert_array_equal(ours["n"].to_numpy()[tested], glm["OBS_CT"].to_numpy()[tested])
    assert (ours["n"].to_numpy()[:5] < 0.8 * N).all()  # the missing calls are not counted
    assert ours.loc[7, "n"] == 0 and ours.loc[7, "errcode"] == "ALL_MISSING"
    # info: to plink2's printed precision (6 significant digits); nan where plink2 prints nan
    printed = freq["MACH_R2"].to_numpy()
    want = pd.to_numeric(pd.Series(printed), errors="coerce").to_numpy()
    got = ours["info"].to_numpy()
    assert np.array_equal(np.isnan(got), np.isnan(want))
    ok = ~np.isnan(want)
    np.testing.assert_allclose(got[ok], want[ok], rtol=5e-6, atol=0)
    # --missing drop: plink2's per-variant removal of missing calls, so P equals plink2's
    main(["scan", "--bed", str(tmp_path / "g"), "--pheno", str(tmp_path / "y.txt"), "--no-pca",
          "--no-rank-normalize", "--missing", "drop", "--dtype", "float64", "--quiet",
          "--out", str(tmp_path / "d.tsv")])
    drop = pd.read_csv(tmp_path / "d.tsv", sep="\t")
    np.testing.assert_allclose(drop["p_value"].to_numpy()[tested], glm["P"].to_numpy()[tested],
                               rtol=1e-4)
    assert not np.allclose(ours["p_value"].to_numpy()[:5], glm["P"].to_numpy()[:5], rtol=1e-4)

"""GenotypeReader.variant_qc against plink2 --freq cols=+machr2 / --freq counts / --missing
(BGEN, .pgen, VCF with DS), to plink2's printed precision, and against plain numpy."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).parent))
import _format_fixtures as ff  # noqa: E402
import _geno_fixtures as fx  # noqa: E402

from gwaskit.io.bgen_writer import write_bgen  # noqa: E402
from gwaskit.io.genotypes import open_genotypes  # noqa: E402

N, M = 60, 20


def _plink2_stats(plink2, src: list, out: Path, missing: bool) -> dict:
    """plink2's ALT_FREQS, MACH_R2, ALT_CTS, OBS_CT (and F_MISS) as strings + values."""
    fx.run([plink2, *src, "--freq", "cols=+machr2", "--threads", "1", "--out", out])
    fx.run([plink2, *src, "--freq", "counts", "--threads", "1", "--out", Path(f"{out}_c")])
    fr = pd.read_csv(f"{out}.afreq", sep="\t", dtype=str, keep_default_na=False)
    ct = pd.read_csv(f"{out}_c.acount", sep="\t", dtype=str, keep_default_na=False)
    res = {"freq": fr["ALT_FREQS"], "machr2": fr["MACH_R2"], "alt_ct": ct["ALT_CTS"],
           "obs_ct": ct["OBS_CT"].astype(int).to_numpy()}
    if missing:
        fx.run([plink2, *src, "--missing", "variant-only", "--threads", "1", "--out", out])
        res["f_miss"] = pd.read_csv(f"{out}.vmiss", sep="\t", dtype=str)["F_MISS"]
    return res


def _check(qc: pd.DataFrame, ref: dict) -> None:
    def close(ours, printed: pd.Series):
        txt = printed.to_frame()
        vals = printed.replace({"NA": "nan"}).to_numpy(dtype=np.float64)
        ff.assert_matches_printed(np.asarray(ours, float)[:, None], vals[:, None],
                                  ff.printed_tolerance(txt))

    close(qc["effect_allele_frequency"], ref["freq"])
    close(qc["info"], ref["machr2"])  # monomorphic: plink2 prints 'nan', we give NaN
    np.testing.assert_array_equal(2 * qc["n_called"].to_numpy(), ref["obs_ct"])
    alt = ref["alt_ct"].astype(float).to_numpy()
    mac = np.minimum(alt, ref["obs_ct"] - alt)
    # OBS_CT is exact, so OBS_CT - ALT_CTS has the printed precision of ALT_CTS
    tol = ff.printed_tolerance(ref["alt_ct"].to_frame())
    ff.assert_matches_printed(qc["minor_allele_count"].to_numpy(float)[:, None], mac[:, None],
                              tol)
    if "f_miss" in ref:
        close(qc["missing_rate"], ref["f_miss"])
    assert np.isnan(qc["info"]).any()  # the monomorphic variant is covered


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    d = tmp_path_factory.mktemp("qc")
    samples = [f"s{i}" for i in range(N)]
    var = fx.variant_table(M, chrom="3")
    hard = fx.random_genotypes(N, M, seed=12, missing_rate=0.05)
    hard[:, 4] = 0.0  # monomorphic
    hard[:, 9] = np.where(np.isnan(hard[:, 9]), np.nan, 2.0)  # monomorphic for ALT
    ds = ff.grid_dosages(N, M, seed=13)
    ds[:, 6] = np.where(np.isnan(ds[:, 6]), np.nan, 0.0)
    return {"dir": d, "samples": samples, "var": var, "hard": hard, "ds": ds}


def test_bgen_matches_plink2(data, plink2):
    path = write_bgen(data["dir"] / "h.bgen", data["samples"], data["var"], data["hard"],
                      bits=8)
    ref = _plink2_stats(plink2, ["--bgen", path, "ref-last", "--sample",
                                 path.with_suffix(".sample")], data["dir"] / "pb", True)
    with open_genotypes(path) as g:
        qc = g.variant_qc(chunk_size=7)
    assert list(qc.index) == list(range(M))
    _check(qc, ref)


def test_pgen_dosages_match_plink2(data, plink2):
    vcf = ff.write_vcf(data["dir"] / "d.vcf", data["samples"], data["var"], ds=data["ds"])
    fx.run([plink2, "--vcf", vcf, "dosage=DS", "--make-pgen", "--threads", "1",
            "--out", data["dir"] / "d"])
    ref = _plink2_stats(plink2, ["--pfile", data["dir"] / "d"], data["dir"] / "pp", False)
    with open_genotypes(data["dir"] / "d.pgen") as g:
        qc = g.variant_qc(chunk_size=6)
    _check(qc, ref)
    # a hard-call pgen: missing_rate is plink2's F_MISS
    fx.run([plink2, "--bgen", write_bgen(data["dir"] / "h2.bgen", data["samples"], data["var"],
                                         data["hard"], bits=8), "ref-last", "--sample",
            data["dir"] / "h2.sample", "--make-pgen", "--threads", "1",
            "--out", data["dir"] / "h2"])
    ref = _plink2_stats(plink2, ["--pfile", data["dir"] / "h2"], data["dir"] / "ph", True)
    with open_genotypes(data["dir"] / "h2.pgen") as g:
        _check(g.variant_qc(), ref)


def test_vcf_ds_matches_plink2(data, plink2):
    vcf = ff.write_vcf(data["dir"] / "v.vcf", data["samples"], data["var"], ds=data["ds"])
    ref = _plink2_stats(plink2, ["--vcf", vcf, "dosage=DS"], data["dir"] / "pv", False)
    with open_genotypes(vcf) as g:
        _check(g.variant_qc(), ref)


def test_matches_numpy_on_subsets(data):
    path = write_bgen(data["dir"] / "n.bgen", data["samples"], data["var"], data["hard"],
                      bits=8)
    rows = np.array([5, 3, 40, 41, 42, 7, 50, 11, 0, 2])
    cols = np.array([1, 4, 9, 15, 17])
    with open_genotypes(path) as g:
        qc = g.variant_qc(samples=rows, variants=cols, chunk_size=2)
    x = data["hard"][np.ix_(rows, cols)]
    n = (~np.isnan(x)).sum(0)
    mu = np.nanmean(x, 0)
    p = mu / 2
    with np.errstate(invalid="ignore", divide="ignore"):
        info = np.nanvar(x, 0) / (2 * p * (1 - p))
    assert list(qc.index) == list(cols)
    np.testing.assert_array_equal(qc["n_called"], n)
    np.testing.assert_allclose(qc["effect_allele_frequency"], p, rtol=1e-12)
    np.testing.assert_allclose(qc["minor_allele_frequency"], np.minimum(p, 1 - p), rtol=1e-12)
    np.testing.assert_allclose(qc["minor_allele_count"],
                               np.minimum(np.nansum(x, 0), 2 * n - np.nansum(x, 0)), rtol=1e-12)
    np.testing.assert_allclose(qc["missing_rate"], 1 - n / len(rows), rtol=1e-12)
    np.testing.assert_allclose(qc["info"], info, rtol=1e-10)  # NaN where monomorphic

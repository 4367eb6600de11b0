"""Manhattan and QQ plots: files, thinning, lambda_D, chromosome order, CLI."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

pytest.importorskip("matplotlib")

from gwaskit.errors import InputError  # noqa: E402
from gwaskit.plot import chromosome_sort_key, lambda_gc, manhattan, qq, read_results, thin_points  # noqa: E402


def _results(n=20_000, D=4, scale=1.0, seed=0, chroms=("1", "2", "10", "X")):
    rng = np.random.default_rng(seed)
    T = stats.chi2.rvs(D, size=n, random_state=rng) * scale
    T[:5] += 120.0
    chrom = np.array(chroms)[rng.integers(0, len(chroms), n)]
    df = pd.DataFrame({
        "chromosome": chrom,
        "base_pair_location": rng.integers(1, 5_000_000, n),
        "variant_id": [f"v{i}" for i in range(n)],
        "p_value": stats.chi2.sf(T, D),
        "neg_log_10_p_value": -stats.chi2.logsf(T, D) / np.log(10),
        "df": D,
    })
    return df


def test_natural_chromosome_order():
    names = ["10", "2", "X", "1", "MT", "chr3", "Y", "22", "scaffold_9"]
    assert sorted(names, key=chromosome_sort_key) == ["1", "2", "chr3", "10", "22", "X", "Y", "MT", "scaffold_9"]


def test_thinning_keeps_all_significant_points():
    rng = np.random.default_rng(1)
    n = 200_000
    x = rng.uniform(0, 1e9, n)
    y = -np.log10(rng.uniform(size=n))
    keep = thin_points(x, y, keep_above=2.0)
    assert set(np.flatnonzero(y > 2.0)) <= set(keep)
    assert keep.size < n / 2
    assert np.unique(keep).size == keep.size


def test_manhattan_png_and_svg(tmp_path):
    res = _results()
    clumps = pd.DataFrame({"variant_id": ["v0", "v3", "not_there"]})
    info = manhattan(res, tmp_path / "m.png", clumps=clumps, title="test")
    assert (tmp_path / "m.png").stat().st_size > 1000
    assert (tmp_path / "m.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert info["n"] == len(res) and info["n_labelled"] == 2 and info["n_drawn"] < len(res)
    manhattan(res.drop(columns=["neg_log_10_p_value"]), tmp_path / "m.svg")
    assert b"<svg" in (tmp_path / "m.svg").read_bytes()[:500]
    with pytest.raises(InputError, match="exists"):
        manhattan(res, tmp_path / "m.png")
    manhattan(res, tmp_path / "m.png", overwrite=True)


def test_manhattan_uses_neg_log10_below_double_range(tmp_path):
    res = _results(n=2000)
    res.loc[0, "p_value"] = 0.0
    res.loc[0, "neg_log_10_p_value"] = 500.0
    manhattan(res, tmp_path / "tiny.png")   # no error, p = 0 handled by neg_log_10_p_value
    res2 = res.drop(columns=["neg_log_10_p_value"])
    manhattan(res2, tmp_path / "tiny2.png")


def test_qq_lambda_matches_direct_computation(tmp_path):
    res = _results(D=4, scale=1.1, seed=2)
    info = qq(res, tmp_path / "q.png")
    direct = stats.chi2.isf(np.median(res["p_value"]), 4) / stats.chi2.ppf(0.5, 4)
    assert info["df"] == 4 and info["lambda"] == pytest.approx(direct, rel=1e-12)
    assert 1.05 < info["lambda"] < 1.15          # the scale inflation, not the 1-df overstatement
    assert info["lambda"] == pytest.approx(lambda_gc(res["p_value"], 4), rel=1e-12)
    assert lambda_gc(neg_log10_p=res["neg_log_10_p_value"], df=4) == pytest.approx(direct, rel=1e-6)
    # explicit df overrides, SVG by extension
    info1 = qq(res, tmp_path / "q.svg", df=1)
    assert info1["lambda"] == pytest.approx(stats.chi2.isf(np.median(res["p_value"]), 1) / 0.454936423, rel=1e-6)
    assert b"<svg" in (tmp_path / "q.svg").read_bytes()[:500]


def test_qq_thinning_and_without_df_column(tmp_path):
    res = _results(n=100_000, D=1, seed=3).drop(columns=["df"])
    info = qq(res, tmp_path / "q.png")
    assert info["df"] == 1 and info["n"] == 100_000
    assert info["n_drawn"] < 100_000
    assert abs(info["lambda"] - 1) < 0.05


def test_million_point_manhattan_renders(tmp_path):
    n = 1_000_000
    rng = np.random.default_rng(4)
    res = pd.DataFrame({
        "chromosome": np.repeat(np.arange(1, 23), n // 22 + 1)[:n],
        "base_pair_location": np.tile(np.arange(1, n // 22 + 2) * 50, 22)[:n],
        "p_value": rng.uniform(size=n),
    })
    info = manhattan(res, tmp_path / "big.png")
    assert info["n"] == n and info["n_drawn"] < n / 5
    assert (tmp_path / "big.png").exists()


def test_read_results_by_extension(tmp_path):
    res = _results(n=500)
    res.to_parquet(tmp_path / "r.parquet")
    res.to_csv(tmp_path / "r.tsv.gz", sep="\t", index=False)
    a = read_results(tmp_path / "r.parquet")
    b = read_results(tmp_path / "r.tsv.gz")
    np.testing.assert_allclose(a["p_value"], b["p_value"])
    assert b["chromosome"].tolist() == res["chromosome"].tolist()
    (tmp_path / "r.xlsx").touch()
    with pytest.raises(InputError, match="extension"):
        read_results(tmp_path / "r.xlsx")


def test_cli_plot(tmp_path, capsys):
    from gwaskit.cli.main import main

    res = _results(n=3000, D=4, seed=5)
    res.to_parquet(tmp_path / "res.parquet")
    pd.DataFrame({"variant_id": ["v1"]}).to_csv(tmp_path / "clumps.tsv", sep="\t", index=False)
    main(["plot", "qq", str(tmp_path / "res.parquet"), "--out", str(tmp_path / "q.png"), "--quiet"])
    out = capsys.readouterr().out
    direct = stats.chi2.isf(np.median(res["p_value"]), 4) / stats.chi2.ppf(0.5, 4)
    assert f"lambda_4 = {direct:.4f}" in out
    main(["plot", "manhattan", str(tmp_path / "res.parquet"), "--out", str(tmp_path / "m.png"),
          "--clumps", str(tmp_path / "clumps.tsv"), "--quiet"])
    assert (tmp_path / "m.png").exists()
    # bad input: exit code 2, one line
    res.drop(columns=["p_value", "neg_log_10_p_value"]).to_parquet(tmp_path / "bad.parquet")
    for argv in (["plot", "qq", str(tmp_path / "bad.parquet"), "--out", str(tmp_path / "b.png")],
                 ["plot", "manhattan", str(tmp_path / "missing.parquet"), "--out", str(tmp_path / "c.png")],
                 ["plot", "qq", str(tmp_path / "res.parquet"), "--out", str(tmp_path / "q.png")]):
        with pytest.raises(SystemExit) as exc:
            main(argv)
        assert exc.value.code == 2
        err = capsys.readouterr().err
        assert err.startswith("Error: ") and "Traceback" not in err

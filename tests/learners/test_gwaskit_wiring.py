"""GEMCONT on files through gwaskit: BGEN genotypes, panel, PCs residualised, images;
then export and variant recovery with gwaskit's scan and overlap."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest


def _write_inputs(tmp_path, n=80, s=10, seed=0):
    from PIL import Image

    from gwaskit.io.bgen_writer import write_bgen
    from learners.gemcont.simulate import render_bars

    rng = np.random.default_rng(seed)
    iids = [f"s{i}" for i in range(n)]
    f = rng.uniform(0.1, 0.5, s)
    g = rng.binomial(2, f, size=(n, s)).astype(float)
    variants = pd.DataFrame({"chromosome": "1",
                             "base_pair_location": 1_000_000 * (np.arange(s) + 1),
                             "variant_id": [f"rs{j}" for j in range(s)],
                             "effect_allele": "A", "other_allele": "G"})
    write_bgen(tmp_path / "geno.bgen", iids, variants, g)
    beta = np.zeros(s)
    beta[:3] = [1.0, -1.0, 0.8]
    panel = variants.copy()
    panel["beta"], panel["standard_error"], panel["p_value"] = beta + 0.01, 0.1, 1e-9
    panel.iloc[::-1].to_csv(tmp_path / "panel.tsv", sep="\t", index=False)   # other order
    pcs = pd.DataFrame({"IID": iids, **{f"PC{k}": rng.normal(size=n) for k in range(1, 4)}})
    pcs.to_csv(tmp_path / "pcs.csv", index=False)
    z = g @ beta
    z = (z - z.mean()) / z.std()
    imgs = render_bars(np.deg2rad(45) * np.tanh(z), 16, rng)
    rows = []
    for i, iid in enumerate(iids):
        Image.fromarray((imgs[i] * 255).astype(np.uint8)).save(tmp_path / f"{iid}.png")
        rows.append({"IID": iid, "path": f"{iid}.png"})
    pd.DataFrame(rows[::-1] + [{"IID": "nogeno", "path": "s0.png"}]).to_csv(
        tmp_path / "images.csv", index=False)
    pd.DataFrame({"IID": iids, "z": z}).to_csv(tmp_path / "targets.csv", index=False)
    variants.iloc[:3][["variant_id", "chromosome", "base_pair_location"]].to_csv(
        tmp_path / "causal.tsv", sep="\t", index=False)
    return iids, g, z, pcs


def test_load_cohort_through_gwaskit(tmp_path):
    from gwaskit.ld.pca import regress_out
    from learners.gemcont.config import GemcontConfig
    from learners.gemcont.data import load_cohort

    iids, g, z, pcs = _write_inputs(tmp_path)
    cfg = GemcontConfig(images=str(tmp_path / "images.csv"),
                        genotypes=[str(tmp_path / "geno.bgen")],
                        panel=str(tmp_path / "panel.tsv"), pcs=str(tmp_path / "pcs.csv"), n_pcs=2)
    cohort = load_cohort(cfg)
    assert sorted(cohort.iids) == sorted(iids)                  # 'nogeno' dropped
    assert sum(v for k, v in cohort.meta.items() if k.startswith("dropped")) == 1
    order = [iids.index(i) for i in cohort.iids]
    panel_order = list(range(9, -1, -1))                        # panel file is reversed
    train = cohort.split == "train"
    want = regress_out(g[order][:, panel_order], pcs[["PC1", "PC2"]].to_numpy()[order],
                       fit_rows=train)
    want = (want - want[train].mean(0)) / want[train].std(0)
    np.testing.assert_allclose(cohort.g, want, atol=2e-2)       # 8-bit BGEN probabilities
    np.testing.assert_allclose(cohort.g[train].mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(cohort.g[train].std(0), 1, atol=1e-4)
    assert cohort.betas.shape == (10,) and np.argmax(np.abs(cohort.betas)) in (9, 8, 7)
    assert cohort.source.shape == (1, 16, 16)


def test_cli_gemcont_on_bgen_then_recovery(tmp_path, capsys):
    from learners.gemcont.cli import main

    _write_inputs(tmp_path, n=160)
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(
        f"images: {tmp_path / 'images.csv'}\ngenotypes: [{tmp_path / 'geno.bgen'}]\n"
        f"panel: {tmp_path / 'panel.tsv'}\npcs: {tmp_path / 'pcs.csv'}\nn_pcs: 3\n"
        f"out_dir: {tmp_path / 'run'}\nepochs: 2\nbatch_size: 32\nembed_dim: 8\n"
        "cnn_widths: [4, 8]\nprogress: false\nwarmup_epochs: 1\n")
    for argv in (["train", "--config", str(cfg)],
                 ["embed", "--checkpoint", str(tmp_path / "run" / "last.pt"), "--out",
                  str(tmp_path / "emb.parquet")]):
        with pytest.raises(SystemExit) as e:
            main(["--quiet"] + argv)
        assert e.value.code == 0
    emb = pd.read_parquet(tmp_path / "emb.parquet")
    assert len(emb) == 160 and set(emb["split"]) == {"train", "val", "test"}
    capsys.readouterr()
    with pytest.raises(SystemExit) as e:
        main(["--quiet", "evaluate", "--embeddings", str(tmp_path / "emb.parquet"),
              "--targets", str(tmp_path / "targets.csv"), "--column", "z",
              "--genotypes", str(tmp_path / "geno.bgen"), "--reference",
              str(tmp_path / "causal.tsv"), "--p", "1.0", "--json"])
    assert e.value.code == 0
    res = json.loads(capsys.readouterr().out)
    assert res["recovery"]["n_loci"] == 3 and res["recovery"]["fraction"] == 1.0   # p < 1
    assert len(res["prediction"]["values"]) == 5


def test_variant_recovery_arrays():
    from learners.gemcont.evaluate import variant_recovery

    rng = np.random.default_rng(0)
    n, m = 600, 20
    g = rng.binomial(2, 0.3, size=(n, m)).astype(float)
    y = np.c_[g[:, 0] + 0.5 * rng.normal(size=n), g[:, 1] + 0.5 * rng.normal(size=n),
              rng.normal(size=(n, 3))]
    iids = [f"i{k}" for k in range(n)]
    emb = pd.DataFrame({"IID": iids, "split": ["test"] * n,
                        **{f"emb_{k}": y[:, k].astype(np.float32) for k in range(5)}})
    variants = pd.DataFrame({"variant_id": [f"v{j}" for j in range(m)], "chromosome": "2",
                             "base_pair_location": 2_000_000 * (np.arange(m) + 1)})
    reference = variants.iloc[[0, 1, 10, 15]]
    table, summary = variant_recovery(emb, g, iids, variants, reference)
    assert summary["n_loci"] == 4 and summary["n_recovered"] == 2
    assert table.set_index("variant_id").loc[["v0", "v1"], "recovered"].all()

"""Export schema (readable by gwaskit), several images per individual, frozen backbone and
token cache, image files, augmentations, configuration, evaluation and the CLI."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from gwaskit.errors import InputError
from learners.gemcont.train import Trainer


def _export(tmp_path, cfg, cohort):
    from learners.gemcont.export import export_checkpoint

    tr = Trainer(cfg, cohort, out_dir=str(tmp_path / "run"))
    tr.fit(stop_after=1)
    out = tmp_path / "emb.parquet"
    export_checkpoint(str(tmp_path / "run" / "last.pt"), str(out), cohort=cohort)
    return tr, out


def test_export_schema_readable_by_gwaskit(tmp_path, tiny_cfg, tiny_cohort):
    import pyarrow.parquet as pq

    tr, out = _export(tmp_path, tiny_cfg, tiny_cohort)
    df = pd.read_parquet(out)
    emb_cols = [f"emb_{j}" for j in range(16)]
    assert list(df.columns) == ["FID", "IID", "split"] + emb_cols
    assert all(df[c].dtype == np.float32 for c in emb_cols)
    assert df["IID"].tolist() == tiny_cohort.iids and (df["FID"] == df["IID"]).all()
    assert set(df["split"]) == {"train", "val", "test"}
    np.testing.assert_allclose(df[emb_cols].to_numpy(), tr.embed(), rtol=1e-6, atol=1e-6)
    meta = json.loads(pq.read_schema(out).metadata[b"gemcont"])
    assert meta["epoch"] == 1 and meta["method"] == "gemcont" and len(meta["config_hash"]) == 12
    with pytest.raises(InputError, match="exists"):
        from learners.gemcont.export import export_checkpoint

        export_checkpoint(str(tmp_path / "run" / "last.pt"), str(out), cohort=tiny_cohort)
    from gwaskit.io.tables import load_analysis_data

    with pytest.raises(InputError, match="split holds 3 values"):  # the held-out guard
        load_analysis_data(tiny_cohort.iids, out)
    data = load_analysis_data(tiny_cohort.iids, out, all_splits=True)
    assert data.pheno_names == emb_cols and data.Y.shape == (60, 16)
    np.testing.assert_allclose(data.Y, df[emb_cols].to_numpy(dtype=np.float64))


def test_several_images_averaged_at_export(tiny_cfg, tiny_sim):
    from learners.gemcont.data import ArraySource, Cohort, make_splits

    x = np.stack([tiny_sim.images[:, 0], 1 - tiny_sim.images[:, 0], tiny_sim.images[:, 0] * 0.5],
                 axis=1)                                   # (N, 3, 1, H, W)
    counts = np.array([1, 2, 3] * 20)
    cohort = Cohort(tiny_sim.iids, ArraySource(x, counts), make_splits(60, 0.2, 0.2, 0),
                    g=tiny_sim.dosages, betas=tiny_sim.betas)
    tr = Trainer(tiny_cfg, cohort, out_dir="")
    tr.fit(stop_after=1)
    emb = tr.embed()
    tr.model.eval()
    with torch.no_grad():
        per = [tr.model.embed(torch.from_numpy(x[:, k])).numpy() for k in range(3)]
    for i in range(6):
        want = np.mean([per[k][i] for k in range(counts[i])], axis=0)
        np.testing.assert_allclose(emb[i], want, rtol=1e-5, atol=1e-5)
    # training draws one instance per individual per step, covering all instances
    from learners.gemcont.data import InstanceBatchSampler

    s = InstanceBatchSampler(counts, 60, torch.Generator().manual_seed(0))
    seen = {pair for _ in range(20) for b in s for pair in b}
    assert seen == {(i, k) for i in range(60) for k in range(counts[i])}


def test_frozen_backbone_with_token_cache(tmp_path, tiny_cfg, tiny_cohort):
    from learners.gemcont.data import TokenSource, precompute_tokens
    from learners.gemcont.encoders import GatedAttentionPool, TinyViT, load_backbone
    from learners.gemcont.simulate import simulate_glyph_cohort

    torch.manual_seed(0)
    vit = TinyViT(image_size=16, patch=4, dim=8, depth=1, heads=2)
    ckpt = tmp_path / "vit.pt"
    torch.save(vit.state_dict(), ckpt)
    tiny_cfg.encoder = "frozen-backbone"
    tiny_cfg.backbone_checkpoint = str(ckpt)
    tiny_cfg.backbone_factory = "tiny-vit"  # registered: a configuration may name it
    tiny_cfg.backbone_kwargs = {"image_size": 16, "patch": 4, "dim": 8, "depth": 1, "heads": 2}
    loaded = load_backbone(str(ckpt), tiny_cfg.backbone_factory, tiny_cfg.backbone_kwargs)
    cache = precompute_tokens(loaded, tiny_cohort.source, tiny_cohort.iids, str(tmp_path / "tok"),
                              batch_size=7)
    toks = np.load(cache / "tokens.npy")
    assert toks.dtype == np.float16 and toks.shape == (60, 16, 8)
    src = TokenSource(str(cache), tiny_cohort.iids[::-1])      # keyed by IID, any order
    with torch.no_grad():
        direct = loaded.eval()(tiny_cohort.source.x[-1])
    np.testing.assert_allclose(src.load([0], [0])[0].numpy(), direct[0].numpy(), atol=2e-3)
    # train on images (backbone in the loop) and on cached tokens
    img_tr = Trainer(tiny_cfg, tiny_cohort, out_dir="")
    img_tr.fit(stop_after=1)
    assert all(not p.requires_grad for p in img_tr.model.encoder.backbone.parameters())
    tiny_cohort.source = TokenSource(str(cache), tiny_cohort.iids)
    tok_tr = Trainer(tiny_cfg, tiny_cohort, out_dir="")
    before = {k: v.clone() for k, v in tok_tr.model.encoder.backbone.state_dict().items()}
    tok_tr.fit(stop_after=1)
    emb = tok_tr.embed()
    assert emb.shape == (60, 16) and np.isfinite(emb).all()
    for k, v in tok_tr.model.encoder.backbone.state_dict().items():
        assert torch.equal(v, before[k])
    # wired through the file loader: the cache is built on first use, then read by IID
    from learners.gemcont.data import load_cohort

    _write_png_cohort(tmp_path, simulate_glyph_cohort(n=20, n_variants=3, image_size=16, seed=4))
    tiny_cfg.method, tiny_cfg.images = "simclr", str(tmp_path / "images.csv")
    tiny_cfg.token_cache = str(tmp_path / "tok2")
    files = load_cohort(tiny_cfg)
    assert isinstance(files.source, TokenSource) and files.source.shape == (16, 8)
    assert (tmp_path / "tok2" / "tokens.npy").exists()
    pool = GatedAttentionPool(8, 4)
    h = torch.randn(3, 5, 8)
    z = pool(h)
    a = pool.last_attention
    assert torch.allclose(a.sum(1), torch.ones(3)) and torch.allclose(z, (a[..., None] * h).sum(1))


def test_augmentations_shape_determinism_and_config():
    from learners.gemcont.augment import Augment

    x = torch.rand(6, 1, 28, 28)
    spec = {"resized_crop": {"scale": [0.8, 1.0]}, "translate": {"max_frac": 0.1},
            "colour_jitter": True, "gaussian_blur": {"p": 1.0}, "noise": {"std": 0.05},
            "erasing": {"p": 1.0}}
    a = Augment(spec, torch.Generator().manual_seed(0))(x)
    b = Augment(spec, torch.Generator().manual_seed(0))(x)
    assert a.shape == x.shape and torch.equal(a, b) and not torch.equal(a, x)
    assert torch.equal(Augment({}, None)(x), x)
    with pytest.raises(InputError, match="rotation"):
        Augment({"rotation": {}})
    from learners.gemcont.augment import translate

    shifted = translate(x, torch.Generator().manual_seed(1), max_frac=0.0)
    torch.testing.assert_close(shifted, x, atol=1e-5, rtol=0)


def test_config_yaml_json_and_overrides(tmp_path):
    from learners.gemcont.config import GemcontConfig, load_config

    d = GemcontConfig()
    assert (d.embed_dim, d.proj_dim, d.batch_size, d.epochs, d.lr, d.weight_decay,
            d.warmup_epochs, d.scarf_p, d.init_temperature, d.loss) == (
        256, 128, 1024, 150, 3e-4, 1e-4, 10.0, 0.1, 0.07, "clip")
    y = tmp_path / "c.yaml"
    y.write_text("epochs: 3\nloss: dcl\naugment:\n  noise: {std: 0.1}\n")
    cfg = load_config(y, ["lr=0.01", "augment.translate.max_frac=0.2", "cnn_widths=[8,16]"])
    assert cfg.epochs == 3 and cfg.loss == "dcl" and cfg.lr == 0.01
    assert cfg.augment == {"noise": {"std": 0.1}, "translate": {"max_frac": 0.2}}
    assert cfg.cnn_widths == [8, 16]
    j = tmp_path / "c.json"
    j.write_text(json.dumps({"batch_size": 8}))
    assert load_config(j).batch_size == 8
    for bad in (["nope=1"], ["loss=triplet"], ["epochs=abc"], ["scarf_p=1.5"]):
        with pytest.raises(InputError):
            load_config(y, bad)


def test_evaluate_metrics():
    from learners.gemcont.evaluate import logistic_auc, ridge_r2

    rng = np.random.default_rng(0)
    z = rng.normal(size=400)
    emb = np.c_[z + 0.3 * rng.normal(size=400), rng.normal(size=(400, 5))]
    r = ridge_r2(emb, z)
    assert len(r["values"]) == 5 and 0.85 < r["mean"] < 0.97 and r["std"] > 0
    assert ridge_r2(rng.normal(size=(400, 6)), z)["mean"] < 0.05
    auc = logistic_auc(emb, (z > 0).astype(float))
    assert auc["mean"] > 0.9


def _write_png_cohort(tmp_path, sim):
    from PIL import Image

    rows = []
    for i, iid in enumerate(sim.iids):
        for k in range(sim.images.shape[1]):
            p = tmp_path / f"{iid}_{k}.png"
            if i % 2:
                p = p.with_suffix(".npy")
                np.save(p, sim.images[i, k, 0])
            else:
                Image.fromarray((sim.images[i, k, 0] * 255).astype(np.uint8)).save(p)
            rows.append({"IID": iid, "path": p.name, "instance": k})
    pd.DataFrame(rows).to_csv(tmp_path / "images.csv", index=False)
    pd.DataFrame({"IID": sim.iids, "z": sim.z, "label": sim.label}).to_csv(
        tmp_path / "targets.csv", index=False)


def test_cli_train_embed_evaluate_on_image_files(tmp_path, capsys):
    from learners.gemcont.cli import main
    from learners.gemcont.simulate import simulate_glyph_cohort

    sim = simulate_glyph_cohort(n=40, n_variants=5, image_size=16, n_instances=2, seed=2)
    _write_png_cohort(tmp_path, sim)
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(f"method: simclr\nimages: {tmp_path / 'images.csv'}\n"
                   f"out_dir: {tmp_path / 'run'}\n"
                   "epochs: 1\nbatch_size: 8\nembed_dim: 8\ncnn_widths: [4, 8]\nprogress: false\n"
                   "augment: {translate: {max_frac: 0.1}}\n")
    with pytest.raises(SystemExit) as e:
        main(["--quiet", "train", "--config", str(cfg), "--set", "warmup_epochs=0"])
    assert e.value.code == 0
    out = tmp_path / "emb.parquet"
    with pytest.raises(SystemExit) as e:
        main(["--quiet", "embed", "--checkpoint", str(tmp_path / "run" / "last.pt"),
              "--out", str(out)])
    assert e.value.code == 0
    df = pd.read_parquet(out)
    assert df.shape == (40, 3 + 8) and df["emb_0"].dtype == np.float32
    capsys.readouterr()
    with pytest.raises(SystemExit) as e:
        main(["--quiet", "evaluate", "--embeddings", str(out), "--targets",
              str(tmp_path / "targets.csv"), "--column", "z", "--json"])
    assert e.value.code == 0
    res = json.loads(capsys.readouterr().out)
    assert res["metric"] == "r2" and len(res["values"]) == 5
    # resume continues from the checkpoint
    with pytest.raises(SystemExit) as e:
        main(["--quiet", "train", "--config", str(cfg), "--set", "epochs=2", "--resume"])
    assert e.value.code == 0
    assert torch.load(tmp_path / "run" / "last.pt", weights_only=True)["epoch"] == 2


@pytest.mark.parametrize("argv,needle", [
    (["train", "--config", "missing.yaml"], "missing.yaml"),
    (["train", "--set", "loss=nope", "--set", "out_dir=x"], "loss"),
    (["train", "--set", "images=nothere.csv", "--set", "method=simclr"], "nothere.csv"),
    (["embed", "--checkpoint", "nope.pt", "--out", "e.parquet"], "nope.pt"),
])
def test_cli_bad_input_exit_2_one_line(tmp_path, monkeypatch, capsys, argv, needle):
    from learners.gemcont.cli import main

    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as e:
        main(["--quiet"] + argv)
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert needle in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_module_path_backbone_needs_explicit_trust(tmp_path):
    """A configuration or checkpoint naming ``module:callable`` never imports it by itself."""
    from learners.gemcont.encoders import TinyViT, load_backbone, resolve_backbone_factory

    ckpt = tmp_path / "vit.pt"
    torch.save(TinyViT(image_size=16, patch=4, dim=8, depth=1, heads=2).state_dict(), ckpt)
    kw = {"image_size": 16, "patch": 4, "dim": 8, "depth": 1, "heads": 2}
    path = "learners.gemcont.encoders:TinyViT"
    with pytest.raises(InputError, match="--trust-code"):
        load_backbone(str(ckpt), path, kw)
    with pytest.raises(InputError, match="not a registered backbone"):
        resolve_backbone_factory("os:system", trust_code="other.module:fn")
    assert isinstance(load_backbone(str(ckpt), path, kw, trust_code=path), TinyViT)
    assert isinstance(load_backbone(str(ckpt), path, kw, trust_code=True), TinyViT)


def test_whole_pickled_module_is_refused(tmp_path):
    """``torch.load(weights_only=False)`` would run the pickle's code: not loaded."""
    from learners.gemcont.encoders import TinyViT, load_backbone

    ckpt = tmp_path / "whole.pt"
    torch.save(TinyViT(image_size=16, patch=4, dim=8, depth=1, heads=2), ckpt)
    with pytest.raises(InputError, match="not a TorchScript archive"):
        load_backbone(str(ckpt))
    with pytest.raises(InputError, match="not a weights-only state dict"):
        load_backbone(str(ckpt), "tiny-vit", {"image_size": 16, "patch": 4, "dim": 8, "depth": 1,
                                              "heads": 2})


def test_augmentation_on_non_images_is_an_error():
    """Image transforms cannot apply to cached tokens or vectors; skipping them silently would
    train another model than the one configured."""
    from learners.gemcont.config import GemcontConfig
    from learners.gemcont.train import check_augment_inputs

    cfg = GemcontConfig(augment={"erasing": True})
    check_augment_inputs(cfg, (1, 16, 16))  # images: fine
    with pytest.raises(InputError, match="cached backbone tokens"):
        check_augment_inputs(cfg, (16, 8))
    with pytest.raises(InputError, match="vectors"):
        check_augment_inputs(cfg, (12,))
    check_augment_inputs(GemcontConfig(), (16, 8))  # no augmentation asked: nothing to refuse

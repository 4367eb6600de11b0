"""Correctness fixes of issue 14: resume onto another device, fp32 export, the token-cache key,
augmentation on cached tokens, 16-bit images, mean-imputed PRS dosages, no projector_init
message at export. Each test reproduces the defect it is named after."""
from __future__ import annotations

import logging
import os
import warnings

import numpy as np
import pandas as pd
import pytest

torch = pytest.importorskip("torch")

from gwaskit.errors import InputError  # noqa: E402
from learners.gemcont.train import Trainer  # noqa: E402

_VIT_KW = {"image_size": 16, "patch": 4, "dim": 8, "depth": 1, "heads": 2}


# ----------------------------------------------------------------------------- resume
@pytest.mark.parametrize("target", ["meta", "cpu"])
def test_resume_onto_another_device_reads_checkpoint_on_cpu(tmp_path, tiny_cfg, tiny_cohort,
                                                            monkeypatch, target):
    """A run resumed on another device (``meta`` standing in for ``cuda``) reads the file onto
    the CPU, weights-only, and restores the RNG from a CPU byte tensor: mapped onto the
    device, the states would land there and ``torch.set_rng_state`` rejects them."""
    Trainer(tiny_cfg, tiny_cohort, out_dir=str(tmp_path / "run")).fit(stop_after=1)
    tr = Trainer(tiny_cfg, tiny_cohort, out_dir="")
    tr.device = torch.device(target)  # the device this run now trains on
    loads, states = [], []
    real_load, real_set = torch.load, torch.set_rng_state

    def spy_load(*args, **kwargs):
        loads.append(kwargs)
        return real_load(*args, **kwargs)

    def spy_set(state):
        states.append(state)
        return real_set(state)

    monkeypatch.setattr(torch, "load", spy_load)
    monkeypatch.setattr(torch, "set_rng_state", spy_set)
    tr.resume(tmp_path / "run" / "last.pt")
    assert len(loads) == 1 and loads[0]["weights_only"] is True
    assert torch.device(loads[0]["map_location"]).type == "cpu"
    assert len(states) == 1
    assert states[0].device.type == "cpu" and states[0].dtype == torch.uint8
    assert tr.epoch == 1


# ----------------------------------------------------------------------------- fp32 export
def _record_embed_precision(monkeypatch, device_type: str) -> list[tuple[bool, torch.dtype]]:
    """Patch ``GemcontModel.embed`` to record (autocast enabled?, output dtype) per call."""
    from learners.gemcont.models import GemcontModel

    seen: list[tuple[bool, torch.dtype]] = []
    real = GemcontModel.embed

    def spy(self, x):
        out = real(self, x)
        seen.append((torch.is_autocast_enabled(device_type), out.dtype))
        return out

    monkeypatch.setattr(GemcontModel, "embed", spy)
    return seen


@pytest.mark.parametrize("device", [
    "cpu",
    pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(),
                                                  reason="needs CUDA")),
])
def test_export_runs_in_fp32_without_autocast(tmp_path, tiny_cfg, tiny_cohort, monkeypatch,
                                              device):
    """A model trained with bf16 autocast is exported in fp32: no autocast region is entered
    (not even the caller's), embeddings are computed as float32 and equal the plain fp32
    forward pass. On CUDA the old export ran under bf16 autocast and rounded them."""
    from learners.gemcont.export import export_checkpoint

    tiny_cfg.precision, tiny_cfg.device = "bf16", device
    tr = Trainer(tiny_cfg, tiny_cohort, out_dir=str(tmp_path / "run"))
    assert tr.amp_dtype == torch.bfloat16       # the training really asked for bf16
    tr.fit(stop_after=1)
    ckpt = str(tmp_path / "run" / "last.pt")
    entered = []
    real_autocast = torch.autocast

    def spy_autocast(*args, **kwargs):
        entered.append(kwargs.get("enabled", True))
        return real_autocast(*args, **kwargs)

    monkeypatch.setattr(torch, "autocast", spy_autocast)
    seen = _record_embed_precision(monkeypatch, device)
    plain = tmp_path / "plain.parquet"
    export_checkpoint(ckpt, str(plain), cohort=tiny_cohort, device=device)
    # from inside a bf16 region (an export run during training): still fp32
    inside = tmp_path / "inside.parquet"
    with real_autocast(device, dtype=torch.bfloat16):
        export_checkpoint(ckpt, str(inside), cohort=tiny_cohort, device=device)
    assert seen and all(not on and dt == torch.float32 for on, dt in seen)
    assert entered and not any(entered)
    a, b = pd.read_parquet(plain), pd.read_parquet(inside)
    emb_cols = [c for c in a.columns if c.startswith("emb_")]
    assert all(a[c].dtype == np.float32 for c in emb_cols)
    np.testing.assert_array_equal(a[emb_cols].to_numpy(), b[emb_cols].to_numpy())
    # the same numbers as an fp32 forward pass of the trained weights
    model = tr.model.eval()
    with torch.no_grad():
        x = tiny_cohort.source.x[:, 0].to(device).float()
        ref = model.encode_phenotype(x).float().cpu().numpy()
    # on CUDA, TF32 convolutions and batch-size-dependent algorithms blur the last digits;
    # the precision itself is checked by the autocast and dtype records above
    tol = 1e-5 if device == "cpu" else 5e-3
    np.testing.assert_allclose(a[emb_cols].to_numpy(), ref, rtol=tol, atol=tol / 10)


# ----------------------------------------------------------------------------- token cache
def _image_files(folder, n: int = 6, seed: int = 0):
    from PIL import Image

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(n):
        p = folder / f"i{i}.png"
        Image.fromarray(rng.integers(0, 256, (16, 16), dtype=np.uint8)).save(p)
        rows.append({"IID": f"s{i}", "path": str(p)})
    table = folder / "images.csv"
    pd.DataFrame(rows).to_csv(table, index=False)
    return table, [r["path"] for r in rows]


def _save_vit(path, seed: int) -> None:
    from learners.gemcont.encoders import TinyViT

    torch.manual_seed(seed)
    torch.save(TinyViT(**_VIT_KW).state_dict(), path)


def test_stale_token_cache_is_rebuilt(tmp_path, tiny_cfg, monkeypatch):
    """The cache is keyed by the backbone's weights and configuration and by the image list
    (paths, sizes, mtimes): other weights or a replaced or dropped image rebuild it; the same
    inputs reuse it. The old cache was reused whenever its files existed."""
    from learners.gemcont import data
    from learners.gemcont.data import TOKEN_KEY_FILE, load_cohort

    builds = []
    real = data.precompute_tokens

    def spy(*args, **kwargs):
        builds.append(kwargs.get("key"))
        return real(*args, **kwargs)

    monkeypatch.setattr(data, "precompute_tokens", spy)
    table, paths = _image_files(tmp_path / "img")
    ckpt = tmp_path / "vit.pt"
    _save_vit(ckpt, seed=0)
    cache = tmp_path / "tok"
    tiny_cfg.method, tiny_cfg.images, tiny_cfg.encoder = "simclr", str(table), "frozen-backbone"
    tiny_cfg.backbone_checkpoint, tiny_cfg.backbone_factory = str(ckpt), "tiny-vit"
    tiny_cfg.backbone_kwargs, tiny_cfg.token_cache = dict(_VIT_KW), str(cache)

    def tokens():
        return load_cohort(tiny_cfg).source.load(np.arange(3), [0, 0, 0]).numpy()

    first = tokens()
    assert len(builds) == 1 and (cache / TOKEN_KEY_FILE).exists()
    np.testing.assert_array_equal(tokens(), first)            # same inputs: reused
    assert len(builds) == 1
    _save_vit(ckpt, seed=1)                                  # other weights, same file name
    other = tokens()
    assert len(builds) == 2 and not np.allclose(other, first)
    tiny_cfg.backbone_kwargs = dict(_VIT_KW, heads=4)        # other configuration
    tokens()
    assert len(builds) == 3
    tiny_cfg.backbone_kwargs = dict(_VIT_KW)                 # back: the cache is heads=4's
    tokens()
    assert len(builds) == 4 and builds[3] == builds[1]       # same inputs, same key
    # one image replaced (new content, newer mtime): rebuilt, and its tokens change
    from PIL import Image

    Image.fromarray(np.full((16, 16), 255, dtype=np.uint8)).save(paths[0])
    st = os.stat(paths[0])
    os.utime(paths[0], ns=(st.st_atime_ns, st.st_mtime_ns + 10 ** 9))
    replaced = tokens()
    assert len(builds) == 5 and not np.allclose(replaced[0], other[0])
    np.testing.assert_array_equal(replaced[1:], other[1:])
    # another image list (one individual dropped): rebuilt
    pd.read_csv(table).iloc[1:].to_csv(table, index=False)
    tokens()
    assert len(builds) == 6 and len(set(builds)) == 5         # one key per distinct input


# ----------------------------------------------------------------------------- augmentation
def test_augmentation_on_token_cache_refused_at_config_validation(tmp_path, capsys):
    """Image transforms cannot act on cached tokens: the configuration is refused when it is
    loaded (one line, exit 2 from the CLI), before any cache is built; before, the
    augmentation was silently skipped."""
    from learners.gemcont.cli import main
    from learners.gemcont.config import load_config

    cache = tmp_path / "tok"
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(f"method: simclr\nencoder: frozen-backbone\nbackbone_factory: tiny-vit\n"
                   f"token_cache: {cache}\nout_dir: {tmp_path / 'run'}\n"
                   f"images: {tmp_path / 'images.csv'}\naugment: {{erasing: true}}\n")
    with pytest.raises(InputError, match="token_cache") as e:
        load_config(cfg)
    assert len(str(e.value).splitlines()) == 1
    with pytest.raises(SystemExit) as e:
        main(["--quiet", "train", "--config", str(cfg)])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "augment" in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not cache.exists()
    # no transform actually requested, or no cache: nothing to refuse
    assert load_config(cfg, ["augment={erasing: false}"]).token_cache == str(cache)
    assert load_config(cfg, ["token_cache="]).augment == {"erasing": True}


# ----------------------------------------------------------------------------- 16-bit images
def test_16bit_png_read_at_full_depth(tmp_path):
    """A 16-bit grey PNG keeps its 65536 levels (scaled by 1/65535); converting it to 8-bit
    ``L`` clipped every value above 255, saturating almost every pixel."""
    from PIL import Image

    from learners.gemcont.data import read_image_file

    ramp = (np.arange(32 * 32, dtype=np.uint32) * 64).reshape(32, 32).astype(np.uint16)
    path = tmp_path / "grey16.png"
    Image.fromarray(ramp).save(path)
    with Image.open(path) as img:
        assert img.mode in ("I;16", "I")                      # really a 16-bit file
    arr = read_image_file(str(path))
    assert arr.shape == (1, 32, 32) and arr.dtype == np.float32
    np.testing.assert_allclose(arr[0], ramp / 65535.0, rtol=0, atol=1e-7)
    assert len(np.unique(arr)) == 32 * 32 > 256
    assert (arr >= 1.0).mean() == 0.0
    # resized and replicated to 3 channels: same values as resizing the full-depth array
    rgb = read_image_file(str(path), channels=3, size=16)
    want = torch.nn.functional.interpolate(torch.from_numpy(ramp / 65535.0).float()[None, None],
                                           size=(16, 16), mode="bilinear",
                                           align_corners=False)[0, 0].numpy()
    assert rgb.shape == (3, 16, 16)
    for c in range(3):
        np.testing.assert_allclose(rgb[c], want, rtol=0, atol=1e-6)


# ----------------------------------------------------------------------------- PRS input
def test_prs_missing_dosage_imputed_with_variant_mean():
    """A missing dosage takes the variant's mean over the training rows' called genotypes;
    counting it as 0 gave the individual no effect alleles at that variant."""
    from learners.gemcont.data import prs_input

    d = np.array([[0.0, 1.0, np.nan],
                  [2.0, np.nan, np.nan],
                  [1.0, 1.0, np.nan],
                  [np.nan, 2.0, 1.0]])
    b = np.array([0.5, -1.0, 3.0])
    train = np.array([True, True, True, False])
    # training means of the called dosages: (0+2+1)/3 = 1 and (1+1)/2 = 1; variant 2 is never
    # called in the training rows, so it has no mean and contributes 0 there
    filled = np.array([[0.0, 1.0, 0.0], [2.0, 1.0, 0.0], [1.0, 1.0, 0.0], [1.0, 2.0, 1.0]])
    got = prs_input(d, b, train)
    assert got.shape == (4, 1)
    np.testing.assert_allclose(got[:, 0], filled @ b)
    assert got[1, 0] == pytest.approx(0.0)                   # 2·0.5 + 1·(−1), not 2·0.5 = 1
    # without training rows: means over every row's called dosages
    all_rows = np.where(np.isnan(d), np.nanmean(d, axis=0), d)
    np.testing.assert_allclose(prs_input(d, b)[:, 0], all_rows @ b)
    # complete dosages: the plain score
    np.testing.assert_allclose(prs_input(filled, b)[:, 0], filled @ b)


# ----------------------------------------------------------------------------- export messages
def test_embed_does_not_report_projector_init(tmp_path, tiny_cfg, tiny_cohort):
    """The exporter loads trained weights: the beta-based projector initialisation, and its
    "no panel betas: using random" message, do not belong there (no log record, no warning)."""
    from learners.gemcont.export import export_checkpoint

    Trainer(tiny_cfg, tiny_cohort, out_dir=str(tmp_path / "run")).fit(stop_after=1)
    records: list[logging.LogRecord] = []

    class _Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    log = logging.getLogger("gwaskit")  # records may not propagate (the CLI's logging setup)
    handler, level = _Keep(level=logging.DEBUG), log.level
    log.addHandler(handler)
    log.setLevel(logging.DEBUG)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            export_checkpoint(str(tmp_path / "run" / "last.pt"), str(tmp_path / "e.parquet"),
                              cohort=tiny_cohort)
    finally:
        log.removeHandler(handler)
        log.setLevel(level)
    texts = [r.getMessage() for r in records] + [str(w.message) for w in caught]
    assert not [t for t in texts if "projector_init" in t or "panel betas" in t], texts

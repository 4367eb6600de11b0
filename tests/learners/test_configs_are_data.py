"""Configs are data (issue 14): a YAML file, an override or a checkpoint can name only
registered backbones; a ``module:callable`` path needs ``--trust-code`` from the caller; every
``torch.load`` is weights-only, so a pickle carrying code is refused and never run."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from gwaskit.errors import InputError  # noqa: E402

_VIT_KW = {"image_size": 16, "patch": 4, "dim": 8, "depth": 1, "heads": 2}


@pytest.fixture
def no_system(monkeypatch, tmp_path):
    """``os.system`` replaced by a recorder; returns the calls and a marker the command makes."""
    calls: list[tuple] = []
    monkeypatch.setattr(os, "system", lambda *a, **k: calls.append(a) or 0)
    return calls, tmp_path / "ran"


def _os_system_yaml(tmp_path: Path, marker: Path) -> Path:
    cfg = tmp_path / "evil.yaml"
    cfg.write_text("method: simclr\nencoder: frozen-backbone\nbackbone_factory: 'os:system'\n"
                   f"backbone_kwargs: {{command: 'touch {marker}'}}\n"
                   f"backbone_checkpoint: {tmp_path / 'vit.pt'}\n"
                   f"images: {tmp_path / 'images.csv'}\nout_dir: {tmp_path / 'run'}\n")
    return cfg


def test_yaml_naming_os_system_is_refused_and_never_called(tmp_path, capsys, no_system):
    """Before, ``backbone_factory: os:system`` with ``backbone_kwargs: {command: ...}`` ran the
    command. Now the configuration is refused when it is loaded, with one line."""
    from learners.gemcont.cli import main
    from learners.gemcont.config import load_config

    calls, marker = no_system
    cfg = _os_system_yaml(tmp_path, marker)
    with pytest.raises(InputError, match="--trust-code") as e:
        load_config(cfg)
    assert len(str(e.value).splitlines()) == 1
    for argv in (["train", "--config", str(cfg)],
                 # trust for another path does not extend to os:system
                 ["train", "--config", str(cfg), "--trust-code", "other.module:fn"],
                 # an override is configuration too
                 ["train", "--set", "backbone_factory=os:system", "--set", "method=simclr",
                  "--set", f"out_dir={tmp_path / 'run'}"]):
        with pytest.raises(SystemExit) as e:
            main(["--quiet"] + argv)
        assert e.value.code == 2
        err = capsys.readouterr().err
        assert "os:system" in err and len(err.strip().splitlines()) == 1
        assert "Traceback" not in err
    assert calls == [] and not marker.exists()
    assert not (tmp_path / "run").exists()                   # refused before anything is made


def test_trust_code_cannot_come_from_the_file(tmp_path):
    """``trust_code`` is a parameter of the loader, not an option: a file naming it is
    refused as unknown, and the module path stays refused."""
    from learners.gemcont.config import load_config

    cfg = tmp_path / "c.yaml"
    cfg.write_text("backbone_factory: 'learners.gemcont.encoders:TinyViT'\ntrust_code: true\n")
    with pytest.raises(InputError, match="unknown option.*trust_code"):
        load_config(cfg)
    with pytest.raises(InputError, match="unknown option.*trust_code"):
        load_config(None, ["trust_code=true"])
    cfg.write_text("backbone_factory: 'learners.gemcont.encoders:TinyViT'\n")
    with pytest.raises(InputError, match="--trust-code"):
        load_config(cfg)
    path = "learners.gemcont.encoders:TinyViT"
    assert load_config(cfg, trust_code=path).backbone_factory == path
    assert load_config(cfg, trust_code=True).backbone_factory == path
    assert load_config(None, ["backbone_factory=tiny-vit"]).backbone_factory == "tiny-vit"


def test_cli_trust_code_reaches_loader_and_trainer(tmp_path, monkeypatch, capsys):
    """``gemcont train --trust-code MODULE:CALLABLE`` hands exactly that string to the config
    loader and the trainer; without the flag the same file is refused."""
    import learners.gemcont.config as config_mod
    import learners.gemcont.train as train_mod
    from learners.gemcont.cli import main

    path = "learners.gemcont.encoders:TinyViT"
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"method: simclr\nencoder: frozen-backbone\nbackbone_factory: '{path}'\n"
                   f"out_dir: {tmp_path / 'run'}\n")
    seen = {}
    real_load = config_mod.load_config

    def spy_load(*args, **kwargs):
        seen["loader"] = kwargs.get("trust_code")
        return real_load(*args, **kwargs)

    class _Done:
        epoch = 0

    def fake_train(cfg, resume=False, trust_code=False):
        seen["train"], seen["factory"] = trust_code, cfg.backbone_factory
        return _Done()

    monkeypatch.setattr(config_mod, "load_config", spy_load)
    monkeypatch.setattr(train_mod, "train", fake_train)
    with pytest.raises(SystemExit) as e:
        main(["--quiet", "train", "--config", str(cfg), "--trust-code", path])
    assert e.value.code == 0
    assert seen == {"loader": path, "train": path, "factory": path}
    seen.clear()
    with pytest.raises(SystemExit) as e:
        main(["--quiet", "train", "--config", str(cfg)])
    assert e.value.code == 2 and "train" not in seen
    assert "--trust-code" in capsys.readouterr().err


def test_checkpoint_config_cannot_call_code(tmp_path, tiny_cfg, tiny_cohort, no_system):
    """A checkpoint is data as well: one whose stored configuration names ``os:system`` is
    refused by ``embed`` (library and CLI) and nothing is called."""
    from learners.gemcont.cli import main
    from learners.gemcont.export import export_checkpoint
    from learners.gemcont.train import Trainer, atomic_torch_save, load_checkpoint

    calls, marker = no_system
    Trainer(tiny_cfg, tiny_cohort, out_dir=str(tmp_path / "run")).fit(stop_after=1)
    ckpt = load_checkpoint(tmp_path / "run" / "last.pt")
    ckpt["config"].update(encoder="frozen-backbone", backbone_factory="os:system",
                          backbone_kwargs={"command": f"touch {marker}"})
    evil = atomic_torch_save(ckpt, tmp_path / "evil.pt")
    with pytest.raises(InputError, match="--trust-code"):
        export_checkpoint(str(evil), str(tmp_path / "e.parquet"), cohort=tiny_cohort)
    with pytest.raises(InputError, match="--trust-code"):
        export_checkpoint(str(tmp_path / "run" / "last.pt"), str(tmp_path / "e.parquet"),
                          cohort=tiny_cohort, config_overrides=["backbone_factory=os:system"])
    with pytest.raises(SystemExit) as e:
        main(["--quiet", "embed", "--checkpoint", str(evil), "--out", str(tmp_path / "e.pq")])
    assert e.value.code == 2
    assert calls == [] and not marker.exists() and not (tmp_path / "e.parquet").exists()


# ----------------------------------------------------------------------------- weights only
_PAYLOAD_CALLS: list[str] = []


def _payload(tag: str) -> dict:
    """What unpickling the file below runs (stands in for arbitrary code)."""
    _PAYLOAD_CALLS.append(tag)
    return {}


class _Carrier:
    """Pickles as a call of :func:`_payload`, as a malicious checkpoint would."""

    def __reduce__(self):
        return (_payload, ("ran",))


def test_pickle_with_arbitrary_object_is_refused_and_not_run(tmp_path):
    """``load_backbone`` and ``load_checkpoint`` read with ``weights_only=True`` only: a file
    whose unpickling calls a function is refused with one line, and the function never runs
    (the old ``weights_only=False`` fallback ran it)."""
    from learners.gemcont.encoders import load_backbone
    from learners.gemcont.train import load_checkpoint

    evil = tmp_path / "evil.pt"
    torch.save({"state_dict": {"patch_embed.weight": _Carrier()}}, evil)
    _PAYLOAD_CALLS.clear()
    with pytest.raises(InputError, match="not a weights-only state dict") as e:
        load_backbone(str(evil), "tiny-vit", _VIT_KW)
    assert len(str(e.value).splitlines()) == 1
    with pytest.raises(InputError, match="not a TorchScript archive"):
        load_backbone(str(evil))
    with pytest.raises(InputError, match="not a readable checkpoint"):
        load_checkpoint(evil)
    assert _PAYLOAD_CALLS == []
    # the file really carries code: a full unpickle runs it
    torch.load(evil, weights_only=False)
    assert _PAYLOAD_CALLS == ["ran"]


def test_package_never_loads_without_weights_only():
    """No ``weights_only=False`` anywhere in the learner: there is no unsafe fallback."""
    root = Path(__file__).resolve().parents[2] / "learners" / "gemcont"
    offenders = [p.name for p in root.glob("*.py") if "weights_only=False" in p.read_text()]
    assert offenders == []

"""Throughput features of the trainer (issue 14, item 7): host syncs every ``log_every`` steps,
one training DataLoader, uint8 images and float16 genetic input kept compact on the host,
CUDA-only options that are no-ops on the CPU. Tiny cohorts, a few steps each."""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")


def _cfg(tiny_cfg, **kw):
    # batch 4 on the 36 training rows of the tiny cohort: 9 steps per epoch
    base = dict(batch_size=4, epochs=2, device="cpu", augment={"noise": {"std": 0.05}})
    base.update(kw)
    return dataclasses.replace(tiny_cfg, **base)


@pytest.mark.parametrize("log_every,max_steps", [(4, 0), (1, 0), (4, 13), (50, 0)])
def test_host_syncs_once_per_log_every_steps(tiny_cfg, tiny_cohort, log_every, max_steps):
    """``host_syncs`` = sum over epochs of ceil(steps in the epoch / log_every): every
    ``log_every`` steps and at the end of the (possibly partial) epoch, nowhere else."""
    from learners.gemcont.train import Trainer

    tr = Trainer(_cfg(tiny_cfg, log_every=log_every, max_steps=max_steps), tiny_cohort)
    assert tr.steps_per_epoch == 9
    tr.fit()
    per_epoch = [min(tr.steps_per_epoch, tr.total_steps - e * tr.steps_per_epoch)
                 for e in range(tr.max_epochs)]
    assert sum(per_epoch) == tr.scheduler.step_num == tr.total_steps
    assert tr.host_syncs == sum(math.ceil(n / log_every) for n in per_epoch)
    assert all(math.isfinite(h["train_loss"]) for h in tr.history)


@pytest.mark.parametrize("bad_step", [2, 4, 7])
def test_non_finite_loss_raises_at_most_log_every_steps_late(tiny_cfg, tiny_cohort, bad_step):
    from learners.gemcont.train import Trainer

    k = 4
    tr = Trainer(_cfg(tiny_cfg, log_every=k), tiny_cohort)
    inner, calls = tr.model.training_loss, []

    def poisoned(batch, augment, corrupt):
        loss, logs = inner(batch, augment, corrupt)
        calls.append(1)
        if len(calls) == bad_step:          # a NaN at this (1-based) step only
            loss = loss * float("nan")
        return loss, logs

    tr.model.training_loss = poisoned
    with pytest.raises(FloatingPointError, match="non-finite loss"):
        tr.fit()
    # raised at the first read after the bad step, never later than k steps after it
    assert tr.scheduler.step_num == math.ceil(bad_step / k) * k
    assert bad_step <= tr.scheduler.step_num <= bad_step + k - 1
    assert tr.host_syncs == math.ceil(bad_step / k)


def test_training_loader_built_once_and_same_weights_as_rebuilt(tiny_cfg, tiny_cohort,
                                                                flat_params, monkeypatch):
    """One DataLoader for every epoch; its batches (and the weights) are those of a loader
    rebuilt every epoch, since each epoch's order comes from the checkpointed sampler."""
    import learners.gemcont.train as train_mod

    built = []
    real = train_mod.make_loader

    def counting(dataset, sampler, *a, **kw):
        built.append(sampler)
        return real(dataset, sampler, *a, **kw)

    monkeypatch.setattr(train_mod, "make_loader", counting)
    cfg = _cfg(tiny_cfg, epochs=3)
    one = train_mod.Trainer(cfg, tiny_cohort)
    first = one.loader
    one.fit()
    assert one.loader is first
    assert sum(s is one.sampler for s in built) == 1      # validation loaders not counted

    rebuilt = train_mod.Trainer(cfg, tiny_cohort)
    epoch = rebuilt.train_epoch

    def fresh_loader_epoch():
        rebuilt._loader = None
        return epoch()

    rebuilt.train_epoch = fresh_loader_epoch
    rebuilt.fit()
    assert sum(s is rebuilt.sampler for s in built) == 3
    np.testing.assert_array_equal(flat_params(one.model), flat_params(rebuilt.model))


def test_one_loader_resume_equals_straight_run(tmp_path, tiny_cfg, tiny_cohort, flat_params):
    from learners.gemcont.train import Trainer

    cfg = _cfg(tiny_cfg)
    straight = Trainer(cfg, tiny_cohort, out_dir=str(tmp_path / "a"))
    straight.fit()
    half = Trainer(cfg, tiny_cohort, out_dir=str(tmp_path / "b"))
    half.fit(stop_after=1)
    resumed = Trainer(cfg, tiny_cohort, out_dir=str(tmp_path / "b"))
    resumed.resume(tmp_path / "b" / "last.pt")
    resumed.fit()
    assert resumed.epoch == straight.epoch == 2
    np.testing.assert_array_equal(flat_params(straight.model), flat_params(resumed.model))


def test_persistent_workers_only_with_workers(tiny_cfg, tiny_cohort):
    from learners.gemcont.train import Trainer

    assert Trainer(_cfg(tiny_cfg, num_workers=1), tiny_cohort).loader.persistent_workers
    assert not Trainer(_cfg(tiny_cfg, num_workers=0), tiny_cohort).loader.persistent_workers


def _image_cohorts(tiny_sim, tiny_cohort):
    """The same cohort twice: images as uint8, and as those uint8 values / 255 in float32."""
    from learners.gemcont.data import ArraySource, Cohort

    u8 = np.round(np.asarray(tiny_sim.images) * 255).astype(np.uint8)
    f32 = u8.astype(np.float32) / 255.0
    # the channel axis as a [..., None] view (stride 1), as a study would add it: such a
    # tensor also reads as channels_last, which must not change the convolution's result
    u8 = u8[:, :, 0][:, :, None]
    assert u8.strides[2] != f32.strides[2] // 4
    counts = tiny_cohort.source.counts

    def make(x):
        c = tiny_cohort
        return Cohort(list(c.iids), ArraySource(x, counts=counts), c.split, g=c.g,
                      betas=c.betas)

    return make(u8), make(f32)


@pytest.mark.parametrize("method,augment", [
    ("gemcont", {"erasing": {"p": 0.5}, "noise": {"std": 0.05}}),
    ("vae", {}),
])
def test_uint8_images_train_exactly_like_float32(tiny_cfg, tiny_sim, tiny_cohort, flat_params,
                                                 method, augment):
    """uint8 images stay uint8 on the host (dataset and loader batches) and give bit-identical
    weights and embeddings to the same images given as float32 / 255: the device-side
    ``x.float() / 255`` is the same IEEE float32 division."""
    from learners.gemcont.train import Trainer

    c8, c32 = _image_cohorts(tiny_sim, tiny_cohort)
    cfg = _cfg(tiny_cfg, method=method, augment=augment)
    # each trainer built and fitted in turn: construction reseeds the global RNG (VAE noise)
    t8 = Trainer(cfg, c8)
    t8.fit()
    t32 = Trainer(cfg, c32)
    t32.fit()
    assert c8.source.x.dtype == torch.uint8 and c32.source.x.dtype == torch.float32
    batch = next(iter(t8.loader))        # after training: drawing a batch moves the sampler
    assert batch["x"].dtype == torch.uint8
    assert t8._to_device(batch)["x"].dtype == torch.float32
    np.testing.assert_array_equal(flat_params(t8.model), flat_params(t32.model))
    np.testing.assert_array_equal(t8.embed(), t32.embed())
    assert [h["val_loss"] for h in t8.history] == [h["val_loss"] for h in t32.history]


def test_genetic_dtype_float16_keeps_host_copy_half(tiny_cfg, tiny_cohort):
    from learners.gemcont.train import Trainer

    tr = Trainer(_cfg(tiny_cfg, genetic_dtype="float16"), tiny_cohort)
    assert tr.train_ds.g.dtype == torch.float16 and tr.val_ds.g.dtype == torch.float16
    np.testing.assert_array_equal(
        tr.train_ds.g.numpy(), tiny_cohort.g[tiny_cohort.rows("train")].astype(np.float16))
    batch = next(iter(tr.loader))
    assert batch["g"].dtype == torch.float16                 # crosses to the device compact
    assert tr._to_device(batch)["g"].dtype == torch.float32   # widened there
    tr.fit()
    assert all(math.isfinite(h["train_loss"]) for h in tr.history)
    assert Trainer(_cfg(tiny_cfg), tiny_cohort).train_ds.g.dtype == torch.float32


def test_cuda_options_are_accepted_and_noops_on_cpu(tiny_cfg, tiny_cohort, flat_params):
    from learners.gemcont.train import Trainer

    before = torch.backends.cudnn.benchmark
    plain = Trainer(_cfg(tiny_cfg, channels_last=False, compile=False,
                         cudnn_benchmark=False), tiny_cohort)
    plain.fit()
    fast = Trainer(_cfg(tiny_cfg, channels_last=True, compile=True, cudnn_benchmark=True),
                   tiny_cohort)
    assert torch.backends.cudnn.benchmark == before
    assert not fast.channels_last
    assert getattr(fast.model.encoder, "_compiled_call_impl", None) is None
    conv = next(m for m in fast.model.modules() if isinstance(m, torch.nn.Conv2d))
    assert conv.weight.is_contiguous()            # not channels_last
    fast.fit()
    assert fast._to_device(next(iter(fast.loader)))["x"].is_contiguous()
    np.testing.assert_array_equal(flat_params(plain.model), flat_params(fast.model))
    assert list(plain.model.state_dict()) == list(fast.model.state_dict())

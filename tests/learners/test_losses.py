"""Loss values against hand computations, and the temperature clamp."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from learners.gemcont.losses import clip_loss, dcl_loss, nt_xent_loss, vae_loss


def _unit(a):
    a = np.asarray(a, dtype=np.float64)
    return a / np.linalg.norm(a, axis=1, keepdims=True)


ZP = _unit([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0]])
ZG = _unit([[0.8, 0.6], [1.0, 0.0], [-0.6, 0.8]])
SCALE = 2.0  # s = exp(logit_scale)


def _lse(v):
    return math.log(sum(math.exp(x) for x in v))


def test_clip_loss_matches_hand_computation():
    s = SCALE * ZP @ ZG.T
    n = len(s)
    row = sum(-s[i, i] + _lse(s[i]) for i in range(n)) / n          # phenotype -> genotype
    col = sum(-s[i, i] + _lse(s[:, i]) for i in range(n)) / n       # genotype -> phenotype
    want = 0.5 * (row + col)
    got = clip_loss(torch.tensor(ZP), torch.tensor(ZG), torch.tensor(math.log(SCALE)))
    assert got.dtype == torch.float32
    assert float(got) == pytest.approx(want, rel=1e-5)


def test_clip_loss_uninformative_is_log_batch():
    z = F.normalize(torch.ones(5, 3), dim=1)
    assert float(clip_loss(z, z, torch.tensor(0.0))) == pytest.approx(math.log(5), rel=1e-6)


def test_dcl_loss_excludes_positive_from_denominator():
    s = SCALE * ZP @ ZG.T
    n = len(s)
    row = sum(-s[i, i] + _lse([s[i, j] for j in range(n) if j != i]) for i in range(n)) / n
    col = sum(-s[i, i] + _lse([s[j, i] for j in range(n) if j != i]) for i in range(n)) / n
    got = dcl_loss(torch.tensor(ZP), torch.tensor(ZG), torch.tensor(math.log(SCALE)))
    assert float(got) == pytest.approx(0.5 * (row + col), rel=1e-5)


def test_nt_xent_matches_hand_computation():
    t = 0.5
    h1, h2 = ZP, ZG
    n = len(h1)
    total = 0.0
    for a, b in ((h1, h2), (h2, h1)):
        loss = 0.0
        for i in range(n):
            pos = a[i] @ b[i] / t
            negs = [a[i] @ b[j] / t for j in range(n)] + [a[i] @ a[k] / t for k in range(n)
                                                          if k != i]
            loss += -pos + _lse(negs)
        total += loss / n
    # unnormalised inputs are normalised inside
    got = nt_xent_loss(torch.tensor(h1) * 3.0, torch.tensor(h2) * 0.5, temperature=t)
    assert float(got) == pytest.approx(total, rel=1e-5)


def test_vae_loss_hand():
    x = torch.tensor([[1.0, 2.0], [0.0, 0.0]])
    r = torch.tensor([[0.0, 2.0], [1.0, 1.0]])
    mu = torch.tensor([[1.0], [0.0]])
    lv = torch.tensor([[0.0], [math.log(2.0)]])
    kl = np.mean([0.5 * 1.0, -0.5 * (1 + math.log(2) - 2)])
    loss, rec, k = vae_loss(x, r, mu, lv, beta=2.0)
    assert float(rec) == pytest.approx(1.5)
    assert float(k) == pytest.approx(kl, rel=1e-6)
    assert float(loss) == pytest.approx(1.5 + 2 * kl, rel=1e-6)


def test_temperature_init_clamp_and_no_decay(tiny_cfg, tiny_cohort):
    from learners.gemcont.models import param_groups
    from learners.gemcont.train import Trainer

    tr = Trainer(tiny_cfg, tiny_cohort, out_dir="")
    m = tr.model
    assert m.logit_scale.item() == pytest.approx(math.log(1 / 0.07))
    groups = param_groups(m, 0.1)
    nodecay = {id(p) for p in groups[1]["params"]}
    assert groups[1]["weight_decay"] == 0.0 and id(m.logit_scale) in nodecay
    assert id(m.genetic_proj.bias) in nodecay and id(m.genetic_proj.weight) not in nodecay
    batch = next(iter(__import__("learners.gemcont.data", fromlist=["make_loader"]).make_loader(
        tr.train_ds, tr.sampler)))
    with torch.no_grad():
        m.logit_scale.fill_(10.0)
    tr.train_step(batch)
    assert m.logit_scale.item() == pytest.approx(math.log(100.0))
    with torch.no_grad():
        m.logit_scale.fill_(-3.0)
    tr.train_step(batch)
    assert m.logit_scale.item() == 0.0


def test_cosine_warmup_schedule():
    from learners.gemcont.train import CosineWarmup

    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    sch = CosineWarmup(opt, 1.0, warmup_steps=4, total_steps=12)
    lrs = [sch.lr_at(s) for s in range(12)]
    assert lrs[:4] == [0.25, 0.5, 0.75, 1.0]
    assert lrs[4] == pytest.approx(1.0)
    assert lrs[8] == pytest.approx(0.5)                        # halfway through the cosine
    assert lrs[11] == pytest.approx(0.5 * (1 + math.cos(math.pi * 7 / 8)))

"""SCARF realised corruption rate and the genetic projector initialisation from betas."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from learners.gemcont.models import init_projector_from_betas
from learners.gemcont.scarf import scarf_corrupt


def test_scarf_realised_rate_and_donors():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(1000, 40, generator=torch.Generator().manual_seed(1))
    out, mask = scarf_corrupt(x, 0.1, g, return_mask=True)
    rate = mask.float().mean().item()
    se = (0.1 * 0.9 / x.numel()) ** 0.5
    assert abs(rate - 0.1) < 4 * se
    changed = out != x
    assert torch.equal(changed, mask)        # continuous values: every masked entry changes
    # replacements come from the same column of another individual
    for i, j in torch.nonzero(mask)[:200].tolist():
        col = x[:, j]
        hits = torch.nonzero(col == out[i, j]).ravel().tolist()
        assert hits and i not in hits
    assert torch.equal(out[~mask], x[~mask])


def test_scarf_cohort_pool_and_p_zero():
    g = torch.Generator().manual_seed(3)
    pool = torch.arange(500 * 8, dtype=torch.float32).view(500, 8)
    rows = torch.arange(100, 200)
    x = pool[rows]
    out, mask = scarf_corrupt(x, 0.3, g, pool=pool, rows=rows, return_mask=True)
    assert abs(mask.float().mean().item() - 0.3) < 0.05
    donor_rows = (out[mask] - torch.nonzero(mask)[:, 1].float()) / 8
    assert torch.all(donor_rows.round() == donor_rows)
    assert torch.all(out[mask] != x[mask])   # never its own value (distinct entries)
    assert torch.equal(scarf_corrupt(x, 0.0), x)


def test_scarf_rate_in_training_batch(tiny_cfg, tiny_cohort):
    from learners.gemcont.train import Trainer

    tiny_cfg.scarf_p = 0.1
    tr = Trainer(tiny_cfg, tiny_cohort, out_dir="")
    g = torch.randn(400, 50)
    corrupted = tr._corrupt(g, torch.arange(400))
    assert abs((corrupted != g).float().mean().item() - 0.1) < 0.015


@pytest.mark.parametrize("mode", ["beta_noise", "beta_first", "random"])
def test_projector_init_from_betas(mode):
    beta = np.array([0.5, -1.0, 0.0, 2.0, 0.25])
    u = torch.tensor(beta / np.linalg.norm(beta), dtype=torch.float32)
    layer = torch.nn.Linear(5, 8)
    used = init_projector_from_betas(layer, beta, mode, noise=0.01,
                                     generator=torch.Generator().manual_seed(0))
    w = layer.weight.detach()
    assert used == mode
    assert torch.all(layer.bias == 0)
    cos = torch.nn.functional.cosine_similarity(w, u.expand_as(w), dim=1)
    if mode == "beta_noise":
        assert torch.all(cos > 0.99)
        assert (w - u).std().item() == pytest.approx(0.01, rel=0.5)
        # every output unit starts proportional to the polygenic score
        x = torch.randn(200, 5)
        prs = x @ u
        out = layer(x).detach()
        assert all(np.corrcoef(out[:, k], prs)[0, 1] > 0.99 for k in range(8))
    elif mode == "beta_first":
        assert torch.allclose(w[0], u)
        assert torch.all(cos[1:].abs() < 0.999)
    else:
        assert torch.all(cos.abs() < 0.999)


def test_projector_init_without_betas_falls_back():
    layer = torch.nn.Linear(3, 4)
    assert init_projector_from_betas(layer, None, "beta_noise") == "random"
    assert init_projector_from_betas(layer, np.zeros(3), "beta_first") == "random"


def test_model_uses_panel_betas(tiny_cfg, tiny_cohort):
    from learners.gemcont.models import GemcontModel

    m = GemcontModel(tiny_cfg, tiny_cohort.source.shape, tiny_cohort.g.shape[1],
                     tiny_cohort.betas)
    u = torch.tensor(tiny_cohort.betas / np.linalg.norm(tiny_cohort.betas))
    cos = torch.nn.functional.cosine_similarity(m.genetic_proj.weight.detach(),
                                                u.expand_as(m.genetic_proj.weight), dim=1)
    assert m.projector_init == "beta_noise" and torch.all(cos > 0.95)

"""Fixtures for the GEMCONT learner tests: tiny cohorts, one or two CPU threads."""
from __future__ import annotations

import numpy as np
import pytest

try:
    import torch
except ImportError:  # the learner extras are not installed: GEMCONT tests skip themselves
    torch = None


@pytest.fixture(autouse=True)
def _threads():
    if torch is None:
        yield
        return
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


@pytest.fixture
def tiny_cfg():
    from learners.gemcont.config import GemcontConfig

    return GemcontConfig(epochs=2, batch_size=16, warmup_epochs=1, embed_dim=16,
                         cnn_widths=[4, 8], mlp_hidden=16, genetic_hidden=16, out_dir="",
                         progress=False, lr=1e-3, val_fraction=0.2, test_fraction=0.2)


@pytest.fixture
def tiny_sim():
    from learners.gemcont.simulate import simulate_glyph_cohort

    return simulate_glyph_cohort(n=60, n_variants=12, image_size=16, seed=1)


@pytest.fixture
def tiny_cohort(tiny_sim):
    from learners.gemcont.simulate import glyph_cohort_arrays

    return glyph_cohort_arrays(tiny_sim, val_fraction=0.2, test_fraction=0.2, seed=0)


@pytest.fixture
def flat_params():
    return _flat_params


def _flat_params(model) -> np.ndarray:
    return np.concatenate([p.detach().cpu().numpy().ravel() for p in model.state_dict().values()
                           if p.is_floating_point()])

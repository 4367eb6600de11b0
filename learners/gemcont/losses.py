"""Contrastive and reconstruction losses, computed in fp32.

* :func:`clip_loss`: symmetric InfoNCE of CLIP (Radford et al. 2021; ``open_clip`` ``ClipLoss``):
  ``L = ½[CE(s·Z_g Z_pᵀ, I) + CE(s·Z_p Z_gᵀ, I)]`` with ``s = exp(logit_scale)``.
* :func:`dcl_loss`: decoupled contrastive loss (Yeh et al. 2022, ECCV): the positive pair is
  left out of the softmax denominator, ``ℓ_i = −s·z_iᵀw_i + log Σ_{j≠i} exp(s·z_iᵀw_j)``,
  symmetrised like :func:`clip_loss`.
* :func:`nt_xent_loss`: SimCLR NT-Xent (Chen et al. 2020, ``google-research/simclr``
  ``tf2/objective.py``): each view against the other view and the rest of its own batch
  (self-similarity masked), temperature T, the two directions **summed** (not halved).
* :func:`vae_loss`: per-sample summed squared error + β·KL(q(z|x) ‖ N(0, I)), batch mean.

All inputs must already be L2-normalised where the method says so; the functions cast to fp32
so that they are safe under bf16 autocast (``s`` may reach 100).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

_LARGE_NUM = 1e9


def clip_logits(z_p: torch.Tensor, z_g: torch.Tensor, logit_scale: torch.Tensor) -> torch.Tensor:
    """``exp(logit_scale) · Z_p Z_gᵀ`` in fp32 (rows: phenotypes, columns: genotypes)."""
    return logit_scale.float().exp() * (z_p.float() @ z_g.float().t())


def clip_loss(z_p: torch.Tensor, z_g: torch.Tensor, logit_scale: torch.Tensor) -> torch.Tensor:
    """Symmetric CLIP cross-entropy over the batch similarity matrix.

    Parameters
    ----------
    z_p, z_g : (B, d) tensors
        L2-normalised phenotype and genetic projections; row i of each is one individual.
    logit_scale : scalar tensor
        Log of the inverse temperature.

    Returns
    -------
    Scalar fp32 loss; equals ``log B`` for uninformative (all-equal) logits.
    """
    logits = clip_logits(z_p, z_g, logit_scale)
    labels = torch.arange(logits.shape[0], device=logits.device)
    return 0.5 * (F.cross_entropy(logits, labels) + F.cross_entropy(logits.t(), labels))


def _decoupled_ce(logits: torch.Tensor) -> torch.Tensor:
    """Mean over rows of ``−logits_ii + logsumexp_{j≠i} logits_ij``."""
    n = logits.shape[0]
    eye = torch.eye(n, dtype=torch.bool, device=logits.device)
    pos = logits.diagonal()
    neg = logits.masked_fill(eye, float("-inf"))
    return (torch.logsumexp(neg, dim=1) - pos).mean()


def dcl_loss(z_p: torch.Tensor, z_g: torch.Tensor, logit_scale: torch.Tensor) -> torch.Tensor:
    """Symmetric decoupled contrastive loss (positive excluded from the denominator).

    Valid for batches of at least 2 (the denominator needs one negative). Can be negative.
    """
    if z_p.shape[0] < 2:
        raise ValueError("dcl_loss needs a batch of at least 2")
    logits = clip_logits(z_p, z_g, logit_scale)
    return 0.5 * (_decoupled_ce(logits) + _decoupled_ce(logits.t()))


def contrastive_loss(name: str, z_p: torch.Tensor, z_g: torch.Tensor,
                     logit_scale: torch.Tensor) -> torch.Tensor:
    """Dispatch on the configured loss name (``clip`` or ``dcl``)."""
    if name == "clip":
        return clip_loss(z_p, z_g, logit_scale)
    if name == "dcl":
        return dcl_loss(z_p, z_g, logit_scale)
    raise ValueError(f"unknown loss {name!r}")


def nt_xent_loss(h1: torch.Tensor, h2: torch.Tensor, temperature: float = 0.1) -> torch.Tensor:
    """SimCLR NT-Xent for two views (rows i of ``h1`` and ``h2`` are the positive pair).

    Follows ``google-research/simclr`` ``tf2/objective.py: add_contrastive_loss``: features are
    L2-normalised here; logits ``[h1·h2ᵀ, h1·h1ᵀ]/T`` (self-similarity masked with −1e9) with the
    positive as target, and the same from the second view; the loss is the **sum** of the two
    mean cross-entropies.
    """
    h1 = F.normalize(h1.float(), dim=1)
    h2 = F.normalize(h2.float(), dim=1)
    n = h1.shape[0]
    labels = torch.arange(n, device=h1.device)
    mask = torch.eye(n, device=h1.device) * _LARGE_NUM
    logits_aa = h1 @ h1.t() / temperature - mask
    logits_bb = h2 @ h2.t() / temperature - mask
    logits_ab = h1 @ h2.t() / temperature
    logits_ba = h2 @ h1.t() / temperature
    loss_a = F.cross_entropy(torch.cat([logits_ab, logits_aa], dim=1), labels)
    loss_b = F.cross_entropy(torch.cat([logits_ba, logits_bb], dim=1), labels)
    return loss_a + loss_b


def vae_loss(x: torch.Tensor, recon: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor,
             beta: float = 1.0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """β-VAE loss: per-sample summed squared error + β·KL, averaged over the batch.

    Returns ``(loss, reconstruction, kl)`` (all batch means, fp32).
    """
    x, recon, mu, logvar = x.float(), recon.float(), mu.float(), logvar.float()
    rec = (recon - x).pow(2).flatten(1).sum(1).mean()
    kl = (-0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(1)).mean()
    return rec + beta * kl, rec, kl

"""SCARF corruption of the genetic input (Bahri et al. 2021, arXiv:2106.15147).

Each entry (individual i, variant j) is, independently with probability p, replaced by the same
variant's value in **another** randomly drawn individual (a draw from the empirical marginal of
column j). Applied during training only, to the already residualised and standardised dosages,
so the replacement marginals match the encoder input.
"""
from __future__ import annotations

import torch


def scarf_corrupt(
    x: torch.Tensor,
    p: float,
    generator: torch.Generator | None = None,
    pool: torch.Tensor | None = None,
    rows: torch.Tensor | None = None,
    return_mask: bool = False,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Corrupt ``x`` (B, S) SCARF-style.

    Parameters
    ----------
    x : (B, S) tensor
        Genetic input of the batch.
    p : float
        Corruption probability per entry, in [0, 1).
    generator : torch.Generator, optional
        Source of randomness (on ``x``'s device) for reproducibility.
    pool : (N, S) tensor, optional
        Donor pool (e.g. all training individuals). Default: the batch itself.
    rows : (B,) long tensor, optional
        Row of each batch individual in ``pool`` (so that the donor is another individual).
        Required with ``pool``.
    return_mask : bool
        Also return the boolean (B, S) mask of replaced entries.

    Returns
    -------
    The corrupted copy (and the mask). The realised fraction of masked entries is Binomial(B·S,
    p)/(B·S); an entry whose donor has the same value is masked but unchanged.
    """
    if p <= 0:
        out = x.clone()
        mask = torch.zeros_like(x, dtype=torch.bool)
        return (out, mask) if return_mask else out
    b, s = x.shape
    dev = x.device
    mask = torch.rand((b, s), generator=generator, device=dev) < p
    if pool is None:
        pool, rows, n = x, torch.arange(b, device=dev), b
    else:
        if rows is None:
            raise ValueError("scarf_corrupt: rows are required with a donor pool")
        n = pool.shape[0]
    if n < 2:
        out = x.clone()
        return (out, torch.zeros_like(mask)) if return_mask else out
    # donor = another individual: shift own row by 1..n-1 (uniform over the others)
    shift = torch.randint(1, n, (b, s), generator=generator, device=dev)
    donor = (rows.to(dev).view(-1, 1) + shift) % n
    col = torch.arange(s, device=dev).view(1, -1).expand(b, s)
    donors = pool[donor, col].to(x.dtype)
    out = torch.where(mask, donors, x)
    return (out, mask) if return_mask else out

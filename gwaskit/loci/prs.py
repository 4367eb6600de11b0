"""Polygenic scores from a variant panel.

``score_i = Σ_s beta_s · d_is`` where ``d_is`` is the dosage of the panel's effect allele for
sample i (flipped to ``2 − d`` where the genotype file stores that allele second) and missing
dosages are replaced by the variant's mean dosage over the scored samples. This equals
``plink2 --score <panel> <ID> <A1> <BETA> cols=+scoresums`` column ``SCORE1_SUM`` (plink2's
default mean imputation uses the allele frequency of the scored founders, i.e. the same mean);
plink2's default ``SCORE1_AVG`` is that (mean-imputed) sum divided by twice the number of panel
variants, ``SCORE1_AVG = score / (2 S)`` (checked with plink2 2.00a3.5, missing calls included).

Optionally the score is residualised on covariates (``regress_out``; coefficients fitted on
``fit_rows``, e.g. training individuals).

The panel is cut into chunks of ``chunk_size`` variants; each chunk gives a partial score per
sample (float64, ``D @ beta``, BLAS on one thread) and the partial scores are added in chunk
order, starting from zero, so the score does not depend on how the chunks were computed
(:mod:`gwaskit.pipelines.prs` runs them on threads or Dask workers).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .._log import logger
from ..errors import InputError
from ..ld.pca import regress_out
from .panel import panel_dosages


def panel_chunks(panel: pd.DataFrame, chunk_size: int) -> tuple[pd.DataFrame, list[tuple[int, int]]]:
    """The panel rows with a beta, and the ``[start, stop)`` spans of its chunks."""
    if not (isinstance(chunk_size, (int, np.integer)) and chunk_size >= 1):
        raise InputError(f"chunk_size: must be a positive integer, got {chunk_size!r}")
    if "beta" not in panel or panel["beta"].isna().all():
        raise InputError("prs: the panel has no beta column")
    p = panel[panel["beta"].notna()].reset_index(drop=True)
    if len(p) < len(panel):
        logger.info(f"prs: {len(panel) - len(p)} panel variants without beta dropped")
    return p, [(a, min(a + chunk_size, len(p))) for a in range(0, len(p), chunk_size)]


def combine_partial_scores(reader, panel: pd.DataFrame, samples, parts, covariates=None,
                           fit_rows=None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Add the chunks' partial scores in chunk order (``parts``: results of
    :func:`partial_score`, in chunk order) into the score table and the aligned panel rows."""
    st = reader.sample_table
    if samples is not None:
        s = np.asarray(samples)
        st = st.iloc[np.flatnonzero(s) if s.dtype == bool else s]
    score = np.zeros(len(st), dtype=np.float64)
    used = []
    for part in parts:
        if part is not None:
            aligned, partial = part
            np.add(score, partial, out=score)  # score += partial, in chunk order
            used.append(aligned)
    if not used:
        raise InputError("prs: no panel variant found in the genotype data with matching alleles")
    used_df = pd.concat(used, ignore_index=True)
    out = pd.DataFrame({"FID": st["FID"].to_numpy(), "IID": st["IID"].to_numpy(), "score": score,
                        "n_variants": len(used_df)})
    if covariates is not None:
        out["score_resid"] = regress_out(score, covariates, fit_rows)
    logger.info(f"prs: scored {len(out)} samples on {len(used_df)} of {len(panel)} panel variants")
    return out, used_df


def polygenic_score(reader, panel: pd.DataFrame, samples=None, chunk_size: int = 2000,
                    covariates: np.ndarray | None = None, fit_rows=None
                    ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Weighted allele-count score per sample, in this thread.

    Parameters
    ----------
    reader : genotype reader (``open_genotypes`` API).
    panel : table with variant_id, chromosome, base_pair_location, effect_allele,
        other_allele, beta (see :func:`gwaskit.loci.panel.read_panel`).
    samples : samples to score (bool mask / index; default all).
    chunk_size : panel variants read at a time (memory N x chunk_size).
    covariates : (N_scored x k) array; if given, a ``score_resid`` column holds the residual of
        the score on [1, covariates] with coefficients fitted on ``fit_rows``.

    Returns
    -------
    scores : FID, IID, score, n_variants [, score_resid]
    used : the aligned panel rows that entered the score.

    See :func:`gwaskit.pipelines.prs.run_prs` for threads and Dask (same bits).
    """
    from threadpoolctl import threadpool_limits

    p, spans = panel_chunks(panel, chunk_size)
    with threadpool_limits(limits=1, user_api="blas"):
        parts = [partial_score(reader, p.iloc[a:b], samples) for a, b in spans]
    return combine_partial_scores(reader, panel, samples, parts, covariates, fit_rows)


def partial_score(reader, part: pd.DataFrame, samples) -> tuple[pd.DataFrame, np.ndarray] | None:
    """One panel chunk: its aligned rows and ``D @ beta`` (float64), or None when none of its
    variants is in the genotype data. Call with BLAS on one thread (bit-identical modes)."""
    try:
        aligned, D = panel_dosages(reader, part, samples=samples, dtype=np.float64)
    except InputError:
        return None
    return aligned, D @ aligned["beta"].to_numpy(dtype=np.float64)

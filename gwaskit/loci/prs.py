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

**Execution.** The panel is cut into chunks of ``chunk_size`` variants; each chunk gives a
partial score per sample (float64, ``D @ beta``, BLAS on one thread) and the partial scores are
added in chunk order, starting from zero. With ``scheduler``/``workers`` each chunk is a Dask
task (the panel and sample selection are scattered once to every worker, which reopens the
genotype files under the client's paths: a shared filesystem); the sum is still taken in chunk
order on the client, so scores are bit-identical to an in-process run on the same machine.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .._log import logger
from ..errors import InputError
from ..ld.pca import regress_out
from .panel import panel_dosages


def polygenic_score(
    reader,
    panel: pd.DataFrame,
    samples=None,
    chunk_size: int = 2000,
    covariates: np.ndarray | None = None,
    fit_rows=None,
    scheduler: str | None = None,
    workers: int | None = None,
    sample_file: str | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Weighted allele-count score per sample.

    Parameters
    ----------
    reader : genotype reader (``open_genotypes`` API).
    panel : table with variant_id, chromosome, base_pair_location, effect_allele,
        other_allele, beta (see :func:`gwaskit.loci.panel.read_panel`).
    samples : samples to score (bool mask / index; default all).
    chunk_size : panel variants read at a time (memory N × chunk_size); also the Dask task size.
    covariates : (N_scored × k) array; if given, a ``score_resid`` column holds the residual of
        the score on [1, covariates] with coefficients fitted on ``fit_rows``.
    scheduler, workers : score the chunks as Dask tasks on a running scheduler
        (``tcp://host:8786``) or on a LocalCluster of ``workers`` single-threaded processes
        started here (call from a script guarded by ``if __name__ == "__main__":``); the
        genotype files must be readable under the reader's paths on every worker. Scores are
        identical to an in-process run (see the module docstring).
    sample_file : the ``.sample`` file the reader was opened with (reopened on the workers).

    Returns
    -------
    scores : FID, IID, score, n_variants [, score_resid]
    used : the aligned panel rows that entered the score.
    """
    if chunk_size < 1:
        raise InputError(f"prs: chunk size must be >= 1, got {chunk_size}")
    from ..engine import check_execution_flags

    check_execution_flags(scheduler, workers)
    if "beta" not in panel or panel["beta"].isna().all():
        raise InputError("prs: the panel has no beta column")
    p = panel[panel["beta"].notna()].reset_index(drop=True)
    if len(p) < len(panel):
        logger.info(f"prs: {len(panel) - len(p)} panel variants without beta dropped")
    st = reader.sample_table
    if samples is not None:
        s = np.asarray(samples)
        st = st.iloc[np.flatnonzero(s) if s.dtype == bool else s]
    spans = [(start, min(start + chunk_size, len(p))) for start in range(0, len(p), chunk_size)]
    score = np.zeros(len(st), dtype=np.float64)
    used = []

    def add(part) -> None:  # called in chunk order, whatever the execution mode
        if part is not None:
            aligned, partial = part
            np.add(score, partial, out=score)  # score += partial
            used.append(aligned)

    if scheduler or workers:
        _partial_scores_dask(reader, p, samples, spans, add, scheduler, workers, sample_file)
    else:
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=1, user_api="blas"):
            for a, b in spans:
                add(_partial_score(reader, p.iloc[a:b], samples))
    if not used:
        raise InputError("prs: no panel variant found in the genotype data with matching alleles")
    used_df = pd.concat(used, ignore_index=True)
    out = pd.DataFrame({"FID": st["FID"].to_numpy(), "IID": st["IID"].to_numpy(), "score": score,
                        "n_variants": len(used_df)})
    if covariates is not None:
        out["score_resid"] = regress_out(score, covariates, fit_rows)
    logger.info(f"prs: scored {len(out)} samples on {len(used_df)} of {len(panel)} panel variants")
    return out, used_df


def _partial_score(reader, part: pd.DataFrame, samples) -> tuple[pd.DataFrame, np.ndarray] | None:
    """One panel chunk: its aligned rows and ``D @ beta`` (float64), or None when none of its
    variants is in the genotype data. Call with BLAS on one thread (bit-identical modes)."""
    try:
        aligned, D = panel_dosages(reader, part, samples=samples, dtype=np.float64)
    except InputError:
        return None
    return aligned, D @ aligned["beta"].to_numpy(dtype=np.float64)


@dataclass
class _PrsJob:
    """What every chunk task shares (scattered once to each Dask worker)."""

    paths: list
    sample_file: str | None
    samples: object
    panel: pd.DataFrame
    n_variants: int
    n_samples: int


def _prs_chunk_task(job: _PrsJob, span: tuple[int, int]):
    """One panel chunk on a Dask worker: ``(partial score or None, captured log records)``."""
    from ..engine.tasks import _pin_blas_single_thread, capture_logs, worker_reader

    _pin_blas_single_thread()
    reader = worker_reader(job.paths, job.sample_file, job.n_variants, job.n_samples)
    with capture_logs() as records:
        part = _partial_score(reader, job.panel.iloc[span[0]:span[1]], job.samples)
    return part, records


def _partial_scores_dask(reader, p, samples, spans, add, scheduler, workers, sample_file) -> None:
    """:func:`_partial_score` of every span as Dask tasks; ``add`` (and the replay of the
    tasks' log lines) is called in span order: a result arriving early waits for the ones
    before it."""
    import os

    from ..engine.execute import run_tasks
    from ..engine.tasks import reader_files, replay_logs

    job = _PrsJob(paths=reader_files(reader, "prs"),
                  sample_file=os.path.abspath(sample_file) if sample_file else None,
                  samples=samples, panel=p, n_variants=len(reader.variants),
                  n_samples=len(reader.samples))
    waiting: dict = {}
    nxt = 0

    def on_result(k: int, res) -> None:
        nonlocal nxt
        waiting[k] = res
        while nxt in waiting:
            part, records = waiting.pop(nxt)
            replay_logs(records)
            add(part)
            nxt += 1

    run_tasks(_prs_chunk_task, job, spans, on_result, scheduler=scheduler, workers=workers,
              label="panel-chunk")
    if nxt != len(spans):
        raise RuntimeError(f"prs: {len(spans) - nxt} chunk result(s) missing")

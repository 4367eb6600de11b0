"""LOCO step 1 (``gwaskit loco``): whole-genome ridge regression of the scan's traits, after
REGENIE (Mbatchou et al. 2021, *Nat Genet* 53:1097), and ``gwaskit transform``.

Data flow: :class:`~gwaskit.pipelines.scan.ScanInputs` + :class:`~gwaskit.pipelines.scan.ScanConfig`
(the *same* objects as the scan, so the PCA and rank-INT produce exactly the traits the scan
will test) -> the scan's null fit (transformed traits ``T``, covariate basis ``Qf``) -> blocks of
:attr:`LocoConfig.block_size` consecutive variants within a file and chromosome -> one task per
block on the executor (decode, mean-impute, residualise and scale the block, level-0 ridge of
``R0 = T - Qf Qfᵀ T`` for all shrinkages and D traits:
:func:`gwaskit.stats.loco.level0_predictions`) -> optional checkpoint parts -> level 1 and the
LOCO predictions (:class:`gwaskit.stats.loco.LocoRidge`) -> ``<out>.loco.parquet``
(:mod:`gwaskit.io.loco`), whose provenance lets ``scan --loco`` refuse predictions made for
other traits, samples or options.

**Bit-identity.** Each block's level-0 predictors depend only on its variants, ``R0`` and the
folds (single-threaded BLAS in every task); level 1 adds the blocks in plan order whatever order
they finish in. The same inputs give the same bits with 1 or N threads, on Dask and after
``--resume``.

**Memory** (printed before the run): one decoded block per worker thread (``N x block_size``
float64, twice: dosages and the standardised copy) plus the level-0 predictors ``N x B x R x D``
float32 (:func:`gwaskit.stats.loco.memory_estimate`).
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import asdict, dataclass, field
from typing import Callable, Sequence

import numpy as np

from .._log import logger
from ..engine.execute import Execution, run_tasks
from ..engine.plan import Chunk
from ..engine.workers import pin_blas_single_thread
from ..errors import InputError
from ..io.loco import LocoPredictions
from ..io.selection import SelectionResult, normalize_chromosome
from ..stats.loco import (DEFAULT_H2_GRID, DEFAULT_N_FOLDS, LEVEL1_CV, LocoRidge, cv_folds,
                          memory_estimate)
from .scan import TRANSFORM_FIELDS, Checkpoint, ScanConfig, ScanInputs, _fit_null, \
    _genotype_fingerprints, _open_selected, _reader_for, loco_provenance

__all__ = ["LocoConfig", "LocoRun", "run_loco", "plan_blocks", "loco_provenance",
           "transform_traits", "TRANSFORM_FIELDS"]

@dataclass(frozen=True)
class LocoConfig:
    """Options of step 1 that change its result.

    Parameters
    ----------
    block_size : consecutive variants per level-0 block, within a chromosome (REGENIE's
        ``--bsize``; 1,000 is its usual choice)
    n_folds : K of the K-fold cross-validation of both levels (REGENIE's default 5)
    h2_level0, h2_level1 : heritability grids of the ridge penalties (REGENIE's defaults)
    fold_seed : None for REGENIE's consecutive folds, else random folds of the same sizes
    level1_cv : ``"nested"`` (leak-free level-1 cross-validation, K times the memory of the
        level-0 predictors) or ``"regenie"`` (REGENIE's scheme); see
        :class:`gwaskit.stats.loco.LocoRidge`
    """

    block_size: int = 1000
    n_folds: int = DEFAULT_N_FOLDS
    h2_level0: tuple = DEFAULT_H2_GRID
    h2_level1: tuple = DEFAULT_H2_GRID
    fold_seed: int | None = None
    level1_cv: str = "nested"

    def __post_init__(self) -> None:
        if self.level1_cv not in LEVEL1_CV:
            raise InputError(f"level1_cv: {' or '.join(LEVEL1_CV)}, got {self.level1_cv!r}")
        if not (isinstance(self.block_size, (int, np.integer)) and self.block_size >= 1):
            raise InputError(f"block_size: a positive integer, got {self.block_size!r}")
        if not (isinstance(self.n_folds, (int, np.integer)) and self.n_folds >= 2):
            raise InputError(f"n_folds: an integer >= 2, got {self.n_folds!r}")
        object.__setattr__(self, "h2_level0", tuple(float(h) for h in self.h2_level0))
        object.__setattr__(self, "h2_level1", tuple(float(h) for h in self.h2_level1))

    def fingerprint(self) -> str:
        blob = json.dumps({"kind": "loco", **asdict(self)}, sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()


@dataclass
class LocoRun:
    """Step 1's predictions and the run's metadata (N, D, blocks, shrinkages, CV fit)."""

    predictions: LocoPredictions
    metadata: dict = field(default_factory=dict)


def plan_blocks(chromosomes: Sequence[str], file_sizes: Sequence[int],
                block_size: int) -> list[Chunk]:
    """Blocks of at most ``block_size`` consecutive variants that never straddle a file or a
    chromosome (a block is a set of neighbouring variants of one chromosome).

    Parameters
    ----------
    chromosomes : the chromosome of every variant, in reader order
    file_sizes : variants per file
    block_size : the maximum block length
    """
    chrom = np.asarray([normalize_chromosome(c) for c in chromosomes], dtype=object)
    blocks: list[Chunk] = []
    base = 0
    for f, n in enumerate(file_sizes):
        n = int(n)
        seg = chrom[base:base + n]
        cuts = [0, *(np.flatnonzero(seg[1:] != seg[:-1]) + 1).tolist(), n] if n else [0]
        for a, b in zip(cuts[:-1], cuts[1:]):
            for s in range(a, b, block_size):
                blocks.append(Chunk(len(blocks), f, base + s, base + min(s + block_size, b)))
        base += n
    return blocks


@dataclass
class _LocoJob:
    """Everything a block task needs besides its block (scattered once to Dask workers)."""

    paths: list[str]
    sample_file: str | None
    sample_index: np.ndarray
    n_variants: int
    vcf_dosage: str
    selected: SelectionResult | None
    basis: np.ndarray  # Qf, N x c
    residual_traits: np.ndarray  # R0, N x D
    folds: np.ndarray
    lambdas: np.ndarray
    level1_cv: str = "nested"


def _block_task(job: _LocoJob, block: Chunk, reader=None) -> np.ndarray:
    """Level 0 of one block: standardised predictors, float32, shape ``(N, R, D)`` (or
    ``(K, N, R, D)`` nested)."""
    from ..stats.loco import level0_block, standardize_block

    if reader is None:  # a Dask worker
        pin_blas_single_thread()
        reader = _reader_for(job)
    idx = np.arange(block.start, block.stop, dtype=np.int64)
    _, dos = reader.read_dosages(samples=job.sample_index, variants=idx, dtype=np.float64)
    x = standardize_block(dos, job.basis)
    z = level0_block(x, job.residual_traits, job.folds, job.lambdas, job.level1_cv)
    return np.ascontiguousarray(z, dtype=np.float32)


class _InProcessBlock:
    def __init__(self, reader):
        self.reader = reader

    def __call__(self, job: _LocoJob, block: Chunk) -> np.ndarray:
        return _block_task(job, block, self.reader)


def _part_frame(z: np.ndarray):
    """A block's predictors as a checkpoint part: one row per sample (nested: outer fold
    axis moved after the sample axis)."""
    import pandas as pd

    flat = z.reshape(z.shape[0], -1) if z.ndim == 3 else z.transpose(1, 0, 2, 3).reshape(
        z.shape[1], -1)
    return pd.DataFrame(flat, columns=[f"p{k}" for k in range(flat.shape[1])])


def _from_part(frame, shape: tuple) -> np.ndarray:
    values = frame.to_numpy(dtype=np.float32)
    if len(shape) == 3:
        return values.reshape(shape)
    k, n, r, d = shape
    return values.reshape(n, k, r, d).transpose(1, 0, 2, 3)


def run_loco(inputs: ScanInputs, config: ScanConfig | None = None,
             loco: LocoConfig | None = None, *, execution: Execution | None = None,
             checkpoint: Checkpoint | None = None,
             progress: Callable[[int], None] | None = None,
             before_genotypes: Callable[[int], None] | None = None) -> LocoRun:
    """REGENIE-style step 1 for the traits a scan with ``config`` would test.

    Parameters
    ----------
    inputs : the files (as :func:`~gwaskit.pipelines.scan.run_scan`); the genotypes are the
        step-1 variants (e.g. genotyped or well-imputed variants with MAF >= 1%, chosen with
        the selection flags)
    config : the scan's configuration: its trait options and sample selection decide the
        traits; its variant selection chooses the step-1 variants
    loco : step-1 options
    execution, checkpoint, progress, before_genotypes : as for the scan (``progress`` counts
        variants; ``before_genotypes`` gets the number of step-1 variants)

    Returns
    -------
    LocoRun
    """
    from ..stats.loco import _fold_rows, shrinkage_grid

    config = config or ScanConfig()
    loco = loco or LocoConfig()
    execution = execution or Execution()
    t0 = time.time()
    reader, n_file_variants, selected = _open_selected(inputs, config)
    wd = None
    meta: dict = {}
    if selected is not None:
        meta["selection"] = {"counts": selected.counts, "log": selected.log}
    try:
        blocks = plan_blocks(reader.variants["chromosome"].astype(str).tolist(),
                             reader.variants_per_file, loco.block_size)
        if not blocks:
            raise InputError("loco: no variants left for step 1 after the selection")
        data, model = _fit_null(inputs, config, reader)
        n, d = model.n_, model.d_
        chroms = [normalize_chromosome(reader.variants["chromosome"].iat[b.start])
                  for b in blocks]
        m_total = int(sum(b.size for b in blocks))
        folds = cv_folds(n, loco.n_folds, seed=loco.fold_seed)
        _fold_rows(folds, n)
        lambdas = shrinkage_grid(m_total, loco.h2_level0)
        r0 = model.traits_ - model.Qf_ @ (model.Qf_.T @ model.traits_)
        # blocks fitted at once in this process: its threads (Dask workers fit theirs in
        # their own processes); plus what the process already holds (libraries, reader, null
        # model): without these two the figure was 481 MiB for a 1,508 MiB peak (N = 20,000,
        # D = 1, 2 threads)
        in_use = _peak_rss_bytes()
        est = in_use + memory_estimate(
            n, len(blocks), lambdas.size, d, block_size=loco.block_size,
            n_folds=loco.n_folds, n_chromosomes=len(set(chroms)), level1_cv=loco.level1_cv,
            n_workers=1 if execution.distributed else execution.n_threads())
        logger.info("LOCO step 1: N = %d, D = %d, c = %d; %d variants in %d blocks of <= %d on "
                    "%d chromosome(s); %d folds (level-1 CV %s), %d level-0 shrinkages; "
                    "estimated peak memory %.0f MiB (%.0f MiB in use now)", n, d, model.c_,
                    m_total, len(blocks), loco.block_size, len(set(chroms)), loco.n_folds,
                    loco.level1_cv, lambdas.size, est / 2 ** 20, in_use / 2 ** 20)
        if before_genotypes is not None:
            before_genotypes(m_total)
        paths = [os.path.abspath(str(p)) for p in reader.paths]
        done: set = set()
        if checkpoint is not None:
            from ..engine.checkpoint import WorkDir, fingerprint_file

            wd = WorkDir(checkpoint.path, fingerprint=loco.fingerprint() + config.fingerprint(),
                         config={"loco": asdict(loco), "scan": config.result_options()},
                         inputs={"genotypes": _genotype_fingerprints(paths),
                                 "sample": fingerprint_file(inputs.sample_file),
                                 "pheno": fingerprint_file(inputs.pheno),
                                 "covar": fingerprint_file(inputs.covar)},
                         chunks=blocks, chunk_ids=None, part_rows=lambda c: n)
            done = wd.check(checkpoint.resume)
            wd.open()
        ridge = LocoRidge(r0, folds=folds, lambdas=lambdas, h2_level1=loco.h2_level1,
                          level1_cv=loco.level1_cv)
        pending: dict[int, np.ndarray] = {}
        next_block = [0]

        def absorb() -> None:
            # level 1 sees the blocks in plan order, whatever order the tasks finish in
            while next_block[0] in pending:
                ridge.add_standardized(pending.pop(next_block[0]), chroms[next_block[0]])
                next_block[0] += 1

        for i in sorted(done):
            import pandas as pd

            pending[i] = _from_part(pd.read_parquet(wd.part_path(i)), ridge.block_shape)
        if done:
            logger.info("LOCO step 1: %d of %d blocks resumed from %s", len(done), len(blocks),
                        wd.path)
            if progress is not None:
                progress(int(sum(blocks[i].size for i in done)))
        absorb()

        def on_result(_k: int, res: tuple) -> None:
            block, z = res
            if wd is not None:
                wd.write_part(block, _part_frame(z))
            pending[block.index] = z
            absorb()
            if progress is not None:
                progress(block.size)

        job = _LocoJob(paths=paths, sample_file=(os.path.abspath(inputs.sample_file)
                                                 if inputs.sample_file else None),
                       sample_index=np.asarray(data.sample_index, dtype=np.int64),
                       n_variants=n_file_variants, vcf_dosage=inputs.vcf_dosage,
                       selected=selected, basis=model.Qf_, residual_traits=r0, folds=folds,
                       lambdas=lambdas, level1_cv=loco.level1_cv)
        todo = [b for b in blocks if b.index not in done]
        if execution.distributed:
            reader.close()
            task = _with_block(_block_task)
        else:
            task = _with_block(_InProcessBlock(reader))
        run_tasks(task, job, todo, on_result, execution, label="block")
        absorb()
        if ridge.n_blocks != len(blocks):
            raise RuntimeError(f"loco: {ridge.n_blocks} of {len(blocks)} blocks assembled")
        fit = ridge.fit()
    finally:
        if wd is not None:
            wd.close()
        reader.close()
    prov = loco_provenance(config, data, model)
    prov.pop("dim_names")
    prov.update({"loco_config": asdict(loco), "loco_fingerprint": loco.fingerprint(),
                 "n_variants": m_total, "n_blocks": len(blocks),
                 "chromosomes": sorted(set(chroms), key=chroms.index)})
    preds = LocoPredictions([str(s) for s in data.iids], list(model.dim_names_),
                            dict(fit.predictions), fit.genome_prediction, prov)
    cv_r2 = np.asarray(fit.cv_r2, dtype=np.float64)
    logger.info("LOCO step 1 done in %.1f s: level-1 CV R² median %.3f (min %.3f, max %.3f) "
                "over %d trait(s)", time.time() - t0, float(np.median(cv_r2)),
                float(cv_r2.min()), float(cv_r2.max()), d)
    meta.update({"n": n, "d": d, "c": model.c_, "n_variants": m_total,
                 "n_variants_in_files": n_file_variants, "n_blocks": len(blocks),
                 "block_chromosomes": chroms, "lambdas": lambdas.tolist(),
                 "taus": np.asarray(fit.taus).tolist(),
                 "tau_index": np.asarray(fit.tau_index).tolist(), "cv_r2": cv_r2.tolist(),
                 "dimensions": list(model.dim_names_), "config": asdict(config),
                 "loco_config": asdict(loco), "seconds": round(time.time() - t0, 3),
                 "memory_estimate_bytes": int(est)})
    return LocoRun(preds, meta)


def _peak_rss_bytes() -> int:
    """This process's peak resident memory so far (0 where the platform does not say)."""
    import sys

    try:
        import resource
    except ImportError:  # Windows
        return 0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)  # bytes on macOS, else KiB


class _with_block:
    """A block task that returns ``(block, predictors)`` (results may arrive out of order)."""

    def __init__(self, fn):
        self.fn = fn

    def __call__(self, job: _LocoJob, block: Chunk):
        return block, self.fn(job, block)


def transform_traits(inputs: ScanInputs, config: ScanConfig | None = None):
    """The traits a scan with ``config`` tests, for another tool (``gwaskit transform``).

    Returns
    -------
    (traits, covariates, metadata)
        ``traits``: FID, IID and one column per tested dimension (after PCA and the rank
        transform, before the covariates: the phenotype file of REGENIE step 1/2 or plink2,
        which adjust for covariates themselves); ``covariates``: FID, IID and the encoded
        covariates the scan kept (categorical ones one-hot), or None; ``metadata``: N, D,
        the names and the provenance a LOCO file made from these traits must match.
    """
    import pandas as pd

    config = config or ScanConfig()
    reader, _, _ = _open_selected(inputs, config)
    try:
        data, model = _fit_null(inputs, config, reader)
        table = reader.sample_table if hasattr(reader, "sample_table") else None
    finally:
        reader.close()
    ids = [str(s) for s in data.iids]
    fids = _fids(table, data, ids)
    traits = pd.DataFrame({"FID": fids, "IID": ids,
                           **{k: model.traits_[:, j] for j, k in enumerate(model.dim_names_)}})
    covs = None
    if model.covariates_kept_:
        cols = [data.covariate_names.index(k) for k in model.covariates_kept_]
        covs = pd.DataFrame({"FID": fids, "IID": ids,
                             **{k: np.asarray(data.covariates)[:, j]
                                for k, j in zip(model.covariates_kept_, cols)}})
    return traits, covs, {"n": model.n_, "d": model.d_, "c": model.c_,
                          "dimensions": list(model.dim_names_),
                          "covariates_kept": list(model.covariates_kept_),
                          "provenance": loco_provenance(config, data, model)}


def _fids(sample_table, data, ids: list[str]) -> list[str]:
    """The genotype files' FIDs of the analysed samples (IID when the files have none)."""
    if sample_table is None or "FID" not in getattr(sample_table, "columns", ()):
        return list(ids)
    fid = sample_table["FID"].astype(str).to_numpy()[np.asarray(data.sample_index)]
    return [f if f not in ("", "nan", "NA", "None") else i for f, i in zip(fid, ids)]

"""File-level multi-trait scan: genotype files x phenotype table -> one row per variant.

The statistics live in :mod:`gwaskit.stats.multitrait` (:class:`MultiTraitScan`, re-exported
here); this module streams genotype chunks through a fitted model and assembles the table.
"""
from __future__ import annotations

import os
import sys
import time
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from .._log import logger
from ..errors import GenotypeFormatError, InputError
from .multitrait import (ERR_OK, OUTPUT_COLUMNS, PVALUE_LAWS, TESTS, MultiTraitScan,
                         lambda_gc)

__all__ = ["MultiTraitScan", "scan", "lambda_gc", "TESTS", "PVALUE_LAWS", "OUTPUT_COLUMNS"]

def _empty_result(names: Sequence[str], per_dim: bool) -> pd.DataFrame:
    cols = list(OUTPUT_COLUMNS)
    if per_dim:
        for k in names:
            cols += [f"beta_{k}", f"standard_error_{k}", f"p_value_{k}"]
    return pd.DataFrame({c: [] for c in cols})


def scan(
    bgen: str | Sequence[str] | None = None,
    bed: str | Sequence[str] | None = None,
    sample_file: str | None = None,
    pheno: str | None = None,
    pheno_cols: Sequence[str] | str | None = None,
    covar: str | None = None,
    covar_cols: Sequence[str] | str | None = None,
    categorical: Sequence[str] = (),
    pca: int | str | None = "all",
    rank_normalize: bool = True,
    test: str = "scaled-lrt",
    pvalue: str = "exact",
    per_dim: bool = False,
    maf: float = 0.0,
    mac: float = 0.0,
    chunk_size: int = 2000,
    threads: int | None = None,
    progress: Callable[[int], None] | None = None,
    dtype: str = "float32",
    info: dict | None = None,
    before_genotypes: Callable[[], None] | None = None,
    scheduler: str | None = None,
    workers: int | None = None,
    work_dir: str | None = None,
    resume: bool = False,
    skip_bad_variants: bool = False,
) -> pd.DataFrame:
    """Multi-trait scan of genotype files against a phenotype table (library entry point).

    Parameters
    ----------
    bgen, bed : genotype path(s) or glob (exactly one of the two); ``bed`` is a PLINK prefix
    sample_file : ``.sample`` for BGEN files without embedded sample IDs
    pheno, pheno_cols : phenotype table and the columns (names or globs) forming the embedding
    covar, covar_cols, categorical : covariates (the intercept is always added)
    pca, rank_normalize, test, pvalue, per_dim, maf, mac, dtype : see :class:`MultiTraitScan`
    chunk_size : variants per chunk; chunks never straddle two files
        (:func:`gwaskit.engine.plan.plan_chunks`). In-process memory is about
        ``(threads + 1) x N x chunk_size x 4`` bytes (float32) beyond the null model.
    threads : in-process worker threads, each decoding and testing one chunk at a time
        (default: :func:`gwaskit.io.bgen.default_threads`, the usable CPUs); also caps numba's
        threads. BLAS always runs single-threaded per chunk, in every mode, so results are
        bit-identical across modes and thread counts.
    progress : called with the number of variants finished after each chunk
    info : if given, filled with the run's metadata (N, D, c, covariates kept/dropped, test,
        p-value law, λ_GC of the D-df statistic, number of variants, chunks, time)
    before_genotypes : called after the null fit, before any genotype is read (the CLI checks
        output writability here)
    scheduler : address of a running Dask scheduler (``tcp://host:8786``); the genotype files
        must be readable under the same paths on every worker (shared filesystem)
    workers : start a Dask LocalCluster of this many single-threaded worker processes here
        (call from a script guarded by ``if __name__ == "__main__":``)
    work_dir : checkpoint directory (``<out>.parts``): one parquet part per finished chunk and
        a manifest (:mod:`gwaskit.engine.checkpoint`); None keeps everything in memory
    resume : reuse the finished parts of ``work_dir`` (inputs, options and plan must match)
    skip_bad_variants : a variant whose genotype block cannot be decoded gets errcode
        ``BAD_GENOTYPES`` (listed in ``info["skipped"]``) instead of stopping the scan

    Returns
    -------
    DataFrame with columns ``chromosome, base_pair_location, variant_id, effect_allele,
    other_allele, effect_allele_frequency, n, chisq, df, p_value, neg_log_10_p_value, errcode``
    then ``beta_<k>, standard_error_<k>, p_value_<k>`` with ``per_dim``.
    """
    from ..engine.execute import describe_mode, run_dask, run_in_process
    from ..engine.plan import plan_chunks
    from ..engine.tasks import ScanJob
    from ..io.bgen import default_threads
    from ..io.genotypes import open_genotypes
    from ..io.tables import load_analysis_data

    t0 = time.time()
    if (bgen is None) == (bed is None):
        raise InputError("give exactly one of --bgen or --bed")
    if pheno is None:
        raise InputError("--pheno is required")
    if chunk_size < 1:
        raise InputError(f"--chunk-size: must be >= 1, got {chunk_size}")
    from ..engine import check_execution_flags

    check_execution_flags(scheduler, workers)
    if resume and work_dir is None:
        raise InputError("--resume needs a work directory (the CLI uses <out>.parts)")
    info = info if info is not None else {}
    model = MultiTraitScan(test=test, pvalue=pvalue, per_dim=per_dim, pca=pca,
                           rank_normalize=rank_normalize, maf=maf, mac=mac, dtype=dtype)
    # chunks run on `threads` worker threads, each decoding its own chunk: one reader thread
    reader = open_genotypes(bgen if bgen is not None else bed, sample_file=sample_file,
                            n_threads=1)
    limiter = lambda: None  # noqa: E731
    wd = None
    try:
        starts = getattr(reader, "_starts", None)
        sizes = (np.diff(starts).tolist() if starts is not None else [len(reader.variants)])
        chunks = plan_chunks(sizes, chunk_size)
        paths = [os.path.abspath(str(p)) for p in getattr(reader, "paths", [])] or \
            [os.path.abspath(str(bgen if bgen is not None else bed))]
        done: set = set()
        if work_dir is not None:
            from ..engine.checkpoint import WorkDir, fingerprint_file, genotype_fingerprints

            wd = WorkDir(work_dir, inputs={
                "genotypes": genotype_fingerprints(paths),
                "sample": fingerprint_file(sample_file), "pheno": fingerprint_file(pheno),
                "covar": fingerprint_file(covar)},
                options={"pheno_cols": pheno_cols, "covar_cols": covar_cols,
                         "categorical": list(categorical or ()), "pca": pca,
                         "rank_normalize": rank_normalize, "test": test, "pvalue": pvalue,
                         "per_dim": per_dim, "maf": maf, "mac": mac, "dtype": dtype,
                         "chunk_size": chunk_size},
                chunks=chunks)
            done = wd.check(resume)
        data = load_analysis_data(list(reader.samples), pheno, pheno_cols=pheno_cols, covar=covar,
                                  covar_cols=covar_cols, categorical=categorical)
        covs = data.covariates if data.covariates is not None and np.size(data.covariates) else None
        model.fit(data.Y, covs, covariate_names=data.covariate_names if covs is not None else None,
                  pheno_names=data.pheno_names)
        logger.info("Null model: N = %d, D = %d, c = %d (covariates incl. intercept); test %s, "
                    "p-values %s", model.n_, model.d_, model.c_, test, pvalue)
        if before_genotypes is not None:
            before_genotypes()
        limiter = _thread_limits(threads)
        n_workers = threads if threads is not None else default_threads()
        if wd is not None:
            wd.open()
        todo = [c for c in chunks if c.index not in done]
        mode = describe_mode(scheduler, workers)
        logger.info("Chunk plan: %d chunk(s) of <= %d variants over %d file(s)%s; computing %d, %s",
                    len(chunks), chunk_size, len(sizes),
                    f"; {len(done)} already done (resumed from {work_dir})" if done else "",
                    len(todo), mode)
        info.update({"chunks_total": len(chunks), "chunks_resumed": len(done),
                     "chunks_computed": 0, "chunks_done": len(done), "execution": mode,
                     "work_dir": None if wd is None else str(wd.path)})
        if progress is not None and done:
            progress(int(sum(chunks[i].size for i in done)))
        frames: dict = {}
        skipped_mem: list = []

        def on_result(res) -> None:
            if wd is not None:
                wd.write_part(res.chunk, res.frame, res.skipped)
            else:
                frames[res.chunk.index] = res.frame
                skipped_mem.extend(res.skipped)
            info["chunks_computed"] += 1
            info["chunks_done"] += 1
            if progress is not None:
                progress(res.chunk.size)

        job = ScanJob(paths=paths, sample_file=os.path.abspath(sample_file) if sample_file else None,
                      sample_index=np.asarray(data.sample_index, dtype=np.int64), model=model,
                      dtype=dtype, per_dim=per_dim, skip_bad_variants=skip_bad_variants,
                      n_variants=len(reader.variants), io_threads=1)
        try:
            if scheduler or workers:
                close = getattr(reader, "close", None)
                if callable(close):
                    close()
                run_dask(job, todo, on_result, scheduler=scheduler, workers=workers)
            else:
                run_in_process(job, todo, reader, on_result, threads=n_workers)
        except GenotypeFormatError as e:
            kept = (f"{info['chunks_done']} finished chunk(s) kept in {wd.path}; "
                    if wd is not None else "")
            raise GenotypeFormatError(f"{e} ({kept}--skip-bad-variants skips unreadable "
                                      f"variants{', with --resume' if wd is not None else ''})") from None
        if wd is not None:
            out = wd.assemble()
            skipped = [r for k in sorted(wd.skipped, key=int) for r in wd.skipped[k]]
        else:
            out = pd.concat([frames[c.index] for c in chunks], ignore_index=True) if chunks else None
            skipped = skipped_mem
    finally:
        limiter()
        if wd is not None:
            wd.close()
        close = getattr(reader, "close", None)
        if callable(close):
            close()
    if out is None:
        out = _empty_result(model.dim_names_, per_dim)
    n_var = len(out)
    if skipped:
        logger.warning("Skipped %d variant(s) with unreadable genotypes (errcode %s)",
                       len(skipped), "BAD_GENOTYPES")
    tested = out["errcode"] == ERR_OK
    lam = lambda_gc(out.loc[tested, "chisq"].to_numpy(), model.d_) if tested.any() else float("nan")
    counts = out["errcode"].value_counts().to_dict()
    logger.info("Tested %d of %d variants in %.1f s; lambda_GC (%d-df %s) = %.4f%s", int(tested.sum()),
                n_var, time.time() - t0, model.d_, test, lam,
                "" if len(counts) <= 1 else "; " + ", ".join(f"{k}: {v}" for k, v in counts.items() if k != ERR_OK))
    info.update({
        "n": model.n_, "d": model.d_, "c": model.c_, "df2_exact": model.df2_,
        "dimensions": model.dim_names_, "phenotypes": list(data.pheno_names),
        "covariates_kept": model.covariates_kept_, "covariates_dropped": model.covariates_dropped_,
        "pca": None if model.pca_ is None else {
            "n_components": int(model.d_),
            "explained_variance_ratio": model.pca_.explained_variance_ratio.tolist()},
        "rank_normalize": rank_normalize, "test": test,
        "statistic": ("-N D log(1 - Q/D)" if test == "scaled-lrt" else "-N log(1 - Q)"),
        "pvalue": pvalue,
        "pvalue_law": (f"Q ~ Beta({model.d_}/2, {model.df2_}/2), i.e. F({model.d_}, {model.df2_})"
                       if pvalue == "exact" else f"chisq ~ chi2({model.d_})"),
        "lambda_gc": lam, "lambda_gc_df": model.d_,
        "n_variants": n_var, "n_tested": int(tested.sum()),
        "errcodes": {str(k): int(v) for k, v in counts.items()},
        "maf": maf, "mac": mac, "chunk_size": chunk_size,
        "skipped": skipped, "n_skipped": len(skipped),
        "seconds": round(time.time() - t0, 3),
    })
    return out


def _thread_limits(threads: int | None) -> Callable[[], None]:
    """Limit BLAS threads (and numba's, when numba is loaded: the C kernels do not need it);
    returns a function restoring the previous settings."""
    if threads is None:
        return lambda: None
    if threads < 1:
        raise InputError(f"--threads: must be >= 1, got {threads}")
    from threadpoolctl import threadpool_limits

    numba = sys.modules.get("numba")
    old = numba.get_num_threads() if numba is not None else None
    if numba is not None:
        numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    lim = threadpool_limits(limits=threads)

    def restore() -> None:
        lim.restore_original_limits()
        if numba is not None:
            numba.set_num_threads(old)

    return restore

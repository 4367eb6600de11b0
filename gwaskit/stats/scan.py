"""File-level multi-trait scan: genotype files x phenotype table -> one row per variant.

The statistics live in :mod:`gwaskit.stats.multitrait` (:class:`MultiTraitScan`, re-exported
here); this module streams genotype chunks through a fitted model and assembles the table.
"""
from __future__ import annotations

import time
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from .._log import logger
from ..errors import InputError
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
) -> pd.DataFrame:
    """Multi-trait scan of genotype files against a phenotype table (library entry point).

    Parameters
    ----------
    bgen, bed : genotype path(s) or glob (exactly one of the two); ``bed`` is a PLINK prefix
    sample_file : ``.sample`` for BGEN files without embedded sample IDs
    pheno, pheno_cols : phenotype table and the columns (names or globs) forming the embedding
    covar, covar_cols, categorical : covariates (the intercept is always added)
    pca, rank_normalize, test, pvalue, per_dim, maf, mac, dtype : see :class:`MultiTraitScan`
    chunk_size : variants per block (memory ~ N x chunk_size x 8 bytes)
    threads : BLAS and numba threads (default: library defaults)
    progress : called with the number of variants finished after each block
    info : if given, filled with the run's metadata (N, D, c, covariates kept/dropped, test,
        p-value law, λ_GC of the D-df statistic, number of variants, time)
    before_genotypes : called after the null fit, before any genotype is read (the CLI checks
        output writability here)

    Returns
    -------
    DataFrame with columns ``chromosome, base_pair_location, variant_id, effect_allele,
    other_allele, effect_allele_frequency, n, chisq, df, p_value, neg_log_10_p_value, errcode``
    then ``beta_<k>, standard_error_<k>, p_value_<k>`` with ``per_dim``.
    """
    from ..io.genotypes import open_genotypes
    from ..io.tables import load_analysis_data

    t0 = time.time()
    if (bgen is None) == (bed is None):
        raise InputError("give exactly one of --bgen or --bed")
    if pheno is None:
        raise InputError("--pheno is required")
    if chunk_size < 1:
        raise InputError(f"--chunk-size: must be >= 1, got {chunk_size}")
    model = MultiTraitScan(test=test, pvalue=pvalue, per_dim=per_dim, pca=pca,
                           rank_normalize=rank_normalize, maf=maf, mac=mac, dtype=dtype)
    reader = open_genotypes(bgen if bgen is not None else bed, sample_file=sample_file)
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
    frames = []
    n_var = 0
    try:
        sample_index = np.asarray(data.sample_index, dtype=np.int64)
        for vt, dos in reader.iter_dosages(chunk_size=chunk_size, samples=sample_index,
                                           dtype=np.float32 if dtype == "float32" else np.float64):
            res = model.test(dos)
            vt = vt.reset_index(drop=True)
            block = {c: vt[c].to_numpy() for c in OUTPUT_COLUMNS[:5]}
            block.update({c: res[c] for c in OUTPUT_COLUMNS[5:]})
            if per_dim:
                for k in model.dim_names_:
                    for pre in ("beta_", "standard_error_", "p_value_"):
                        block[pre + k] = res[pre + k]
            frames.append(pd.DataFrame(block))
            n_var += dos.shape[1]
            if progress is not None:
                progress(dos.shape[1])
    finally:
        limiter()
        close = getattr(reader, "close", None)
        if callable(close):
            close()
    out = pd.concat(frames, ignore_index=True) if frames else _empty_result(model.dim_names_, per_dim)
    tested = out["errcode"] == ERR_OK
    lam = lambda_gc(out.loc[tested, "chisq"].to_numpy(), model.d_) if tested.any() else float("nan")
    counts = out["errcode"].value_counts().to_dict()
    logger.info("Tested %d of %d variants in %.1f s; lambda_GC (%d-df %s) = %.4f%s", int(tested.sum()),
                n_var, time.time() - t0, model.d_, test, lam,
                "" if len(counts) <= 1 else "; " + ", ".join(f"{k}: {v}" for k, v in counts.items() if k != ERR_OK))
    if info is not None:
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
            "maf": maf, "mac": mac, "seconds": round(time.time() - t0, 3),
        })
    return out


def _thread_limits(threads: int | None) -> Callable[[], None]:
    """Limit BLAS and numba threads; returns a function restoring the previous settings."""
    if threads is None:
        return lambda: None
    if threads < 1:
        raise InputError(f"--threads: must be >= 1, got {threads}")
    import numba
    from threadpoolctl import threadpool_limits

    old = numba.get_num_threads()
    numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    lim = threadpool_limits(limits=threads)

    def restore() -> None:
        lim.restore_original_limits()
        numba.set_num_threads(old)

    return restore

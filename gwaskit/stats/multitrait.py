"""Multi-trait (D-df) single-variant association scan of an embedding.

Model per variant (statistics.md sections 1-7)::

    Y = F A + g bᵀ + Ψ,   rows of Ψ iid N(0, C),   H0: b = 0 (D-vector)

Everything follows from the squared canonical correlation between the covariate-residualised
variant ``g̃`` and the residualised traits ``R0``::

    Q = vᵀ S0⁻¹ v / (g̃ᵀ g̃),   v = R0ᵀ g,   S0 = R0ᵀ R0

Statistics (reported as ``chisq`` with ``df = D``):

* ``scaled-lrt`` (LIMIX 3 / glimix-core, one scale per variant): ``−N D log(1 − Q/D)``
* ``wilks`` (full LRT, GEMMA-style): ``−N log(1 − Q)``

p-values:

* ``exact`` (default): ``Q ~ Beta(D/2, (N − c − D)/2)`` under H0, exact for Gaussian residuals
  and any fixed genotype vector (the rank-1 MANOVA F(D, N − c − D)); ``c`` = rank of the
  covariates including the intercept. Computed in log space, exact far below 1e-300.
* ``chi2``: the chosen statistic against χ²_D (LIMIX's reference; anti-conservative for
  ``wilks`` and conservative for ``scaled-lrt`` when D is large relative to N, section 5).

Implementation: :class:`MultiTraitScan` does the null fit once (QR of the covariates, R0,
Cholesky of S0, the whitened ``W = R0 L⁻ᵀ``) and then, per block of variants, one read-only
pass (counts, means, Σ(g − ḡ)² in float64; C or numba kernels, or taken from the BGEN
decoder, which computes them while each column is in cache) and one GEMM ``Gᵀ [W | Qf]`` on
the block as given, centred by a rank-1 correction; only columns with missing calls or a large mean/SD ratio
are imputed and centred into a reused buffer first (:meth:`MultiTraitScan._products`). Memory
does not grow with the number of variants beyond the result table.
:func:`gwaskit.pipelines.scan.run_scan` streams genotype files through it.
"""
from __future__ import annotations

import threading
from typing import Sequence

import numpy as np
import pandas as pd

from .._log import logger
from ..errors import InputError
from . import pvalues as _pv
from .quality import mach_r2
from .transforms import (covariate_basis, drop_collinear, pca_project, rank_inverse_normal,
                         one_blas_thread)

__all__ = ["MultiTraitScan", "lambda_gc", "TESTS", "PVALUE_LAWS", "OUTPUT_COLUMNS", "MISSING_MODES"]

TESTS = ("scaled-lrt", "wilks")
PVALUE_LAWS = ("exact", "chi2")
PCA_MAX_DEFAULT = 256
OUTPUT_COLUMNS = ["chromosome", "base_pair_location", "variant_id", "effect_allele",
                  "other_allele", "effect_allele_frequency", "info", "n", "chisq", "df", "p_value",
                  "neg_log_10_p_value", "errcode"]
MISSING_MODES = ("mean", "drop")
ERR_OK = "."

lambda_gc = _pv.lambda_gc


class MultiTraitScan:
    """Joint D-df test of each variant against a phenotype matrix; sklearn-like.

    Parameters
    ----------
    test : ``"scaled-lrt"`` (LIMIX, default) or ``"wilks"``
    pvalue : ``"exact"`` (Beta/F law, default) or ``"chi2"`` (statistic vs χ²_D)
    per_dim : also report per-dimension OLS beta, SE and two-sided t-test p (N − c − 1 df);
        for D = 1 these equal ``plink2 --glm`` BETA/SE/P
    pca : ``None``/``False`` (no projection), an int k (top k principal components), or
        ``"all"`` (every non-degenerate component, at most 256); fitted on the samples passed
        to :meth:`fit`
    rank_normalize : rank-based inverse normal transform of each column (Blom, ties averaged),
        applied after the PCA
    maf, mac : variants with minor-allele frequency < ``maf`` or minor-allele count < ``mac``
        (dosage based, analysis samples) get errcode ``MAF_FILTER`` / ``MAC_FILTER``
    dtype : GEMM precision, ``"float32"`` (default; Σg² and the reductions stay float64 and
        variants whose genotype is > 99% explained by covariates are recomputed in float64) or
        ``"float64"``
    collinear_tol : a variant with ``g̃ᵀg̃ <= collinear_tol · |g − ḡ|²`` is ``COLLINEAR``
    missing : how a variant's missing calls enter its test.

        * ``"mean"`` (default): each missing call is replaced by the variant's mean over its
          non-missing calls. After centring such a call is 0: it adds nothing to ``gᵀg`` or to
          ``gᵀY``, but its sample still counts in N, in the covariate projection and in the null
          residual covariance, so a variant with many missing calls loses power (the statistic
          is conservative, not anti-conservative, under H0). One GEMM per block tests every
          variant.
        * ``"drop"``: each variant is tested on its non-missing samples only, as ``plink2
          --glm`` does: the covariate projection and the null residual covariance are refitted
          on those samples (by downdating the full-sample cross products), and the statistic
          and its law use that variant's N. Phenotype transforms (PCA, rank normalisation) stay
          those fitted once on all samples, as plink2 fixes phenotypes before ``--glm``.
          Variants without missing calls get exactly the ``"mean"`` result; each variant with
          missing calls costs an extra ``N (c + D) + |missing| (c + D)² + (c + D)³`` operations
          in a serial kernel: when every variant has missing calls, a block takes about 10x the
          time of ``"mean"`` at N = 20,000, D = 16, c = 11 (``benchmarks/bench_missing_drop.py``).
          A variant with fewer than ``c + D + 1`` calls is ``TOO_FEW_CALLS``.

        In both modes the ``n`` output is the number of non-missing calls.

    Attributes after :meth:`fit`
    ----------------------------
    n_, d_, c_ : sample size, number of dimensions tested, rank of covariates incl. intercept
    covariates_kept_, covariates_dropped_ : names
    dim_names_ : names of the tested dimensions (phenotype names or ``PC<k>``)
    pca_ : :class:`~gwaskit.stats.transforms.PCAResult` or None
    """

    def __init__(self, test: str = "scaled-lrt", pvalue: str = "exact", per_dim: bool = False,
                 pca: int | str | None = None, rank_normalize: bool = True, maf: float = 0.0,
                 mac: float = 0.0, dtype: str = "float32", collinear_tol: float = 1e-6,
                 missing: str = "mean"):
        if test not in TESTS:
            raise InputError(f"test: unknown test {test!r}; choose one of {', '.join(TESTS)}")
        if pvalue not in PVALUE_LAWS:
            raise InputError(f"pvalue: unknown law {pvalue!r}; choose one of {', '.join(PVALUE_LAWS)}")
        if pca is False:
            pca = None
        if pca is not None and pca != "all" and not (isinstance(pca, (int, np.integer)) and pca >= 1):
            raise InputError(f"pca: expected a positive integer or 'all', got {pca!r}")
        if not 0.0 <= maf <= 0.5:
            raise InputError(f"maf: must lie in [0, 0.5], got {maf}")
        if mac < 0:
            raise InputError(f"mac: must be >= 0, got {mac}")
        if dtype not in ("float32", "float64"):
            raise InputError(f"dtype: float32 or float64, got {dtype!r}")
        if missing not in MISSING_MODES:
            raise InputError(f"missing: {' or '.join(MISSING_MODES)}, got {missing!r}")
        self.missing = missing
        self.test_statistic = test  # `test` is the method
        self.pvalue = pvalue
        self.per_dim = per_dim
        self.pca = pca
        self.rank_normalize = rank_normalize
        self.maf = float(maf)
        self.mac = float(mac)
        self.dtype = dtype
        self.collinear_tol = collinear_tol

    # ------------------------------------------------------------------ null fit
    def fit(self, Y: np.ndarray, covariates: np.ndarray | None = None,
            covariate_names: Sequence[str] | None = None,
            pheno_names: Sequence[str] | None = None) -> "MultiTraitScan":
        """Preprocess ``Y`` (PCA, INT) and fit the null model on covariates + intercept.

        Raises :class:`InputError` when ``N − c − D < 1`` or when the residualised phenotype
        columns are linearly dependent (before any genotype is read). BLAS runs on one thread
        here (:func:`~gwaskit.stats.transforms.one_blas_thread`).
        """
        with one_blas_thread():
            return self._fit(Y, covariates, covariate_names, pheno_names)

    def _fit(self, Y, covariates, covariate_names, pheno_names) -> "MultiTraitScan":
        Y = np.asarray(Y, dtype=np.float64)
        if Y.ndim == 1:
            Y = Y[:, None]
        if Y.ndim != 2 or Y.shape[0] == 0 or Y.shape[1] == 0:
            raise InputError(f"phenotypes: expected an N x D matrix, got shape {Y.shape}")
        if not np.all(np.isfinite(Y)):
            raise InputError("phenotypes: missing or non-finite values; the joint test needs "
                             "complete cases across all dimensions")
        n, d_in = Y.shape
        names = [str(j + 1) for j in range(d_in)] if pheno_names is None else [str(x) for x in pheno_names]
        if len(names) != d_in:
            raise InputError(f"phenotypes: {d_in} columns but {len(names)} names")

        if covariates is not None:
            covariates = np.asarray(covariates, dtype=np.float64)
            if covariates.ndim == 1:
                covariates = covariates[:, None]
            if covariates.shape[0] != n:
                raise InputError(f"covariates: {covariates.shape[0]} rows but {n} phenotype rows")
        F, kept, dropped = drop_collinear(covariates, covariate_names)
        c = 1 + F.shape[1] if F.size else 1

        # PCA projection
        self.pca_ = None
        if self.pca is not None:
            if self.pca == "all":
                k = None
            else:
                k = int(self.pca)
                if k > d_in:
                    raise InputError(f"pca={k}: the phenotype has only {d_in} columns")
            # Check the degrees of freedom before the (costly) decomposition
            d_target = min(d_in, PCA_MAX_DEFAULT) if k is None else k
            self._check_df(n, c, d_target)
            res = pca_project(Y, k)
            if k is None and res.scores.shape[1] > PCA_MAX_DEFAULT:
                res.scores = res.scores[:, :PCA_MAX_DEFAULT]
                res.components = res.components[:PCA_MAX_DEFAULT]
                res.explained_variance_ratio = res.explained_variance_ratio[:PCA_MAX_DEFAULT]
            Y = res.scores
            self.pca_ = res
            names = [f"PC{j + 1}" for j in range(Y.shape[1])]
            logger.info("PCA: kept %d of %d dimensions (%.4f of the variance)", Y.shape[1], d_in,
                        float(res.explained_variance_ratio.sum()))
        d = Y.shape[1]
        self._check_df(n, c, d)

        if self.rank_normalize:
            Y = rank_inverse_normal(Y)

        Qf = covariate_basis(F if F.size else None, n)
        c = Qf.shape[1]
        self.n_, self.d_, self.c_ = n, d, c
        self.covariates_kept_, self.covariates_dropped_ = kept, dropped
        self.dim_names_ = names
        self.Qf_ = Qf
        self.traits_ = Y  # after PCA and rank normalisation: what is tested, before covariates
        self._fit_residuals(Y)
        return self

    def with_offset(self, offset: np.ndarray) -> "MultiTraitScan":
        """A copy of this fitted model testing ``traits_ - offset`` instead of ``traits_``.

        The transformation (PCA, rank normalisation), the covariates and the dimension names are
        kept; only the null residuals ``R0``, ``S0`` and the whitening are refitted (one
        ``N x D`` projection and a ``D x D`` Cholesky). This is the scan after a LOCO step 1
        (REGENIE's step 2): ``offset`` is the prediction of the traits from every chromosome
        but the one being tested.

        Parameters
        ----------
        offset : array (N, D)
            In the rows and dimension order of :meth:`fit`.

        Returns
        -------
        MultiTraitScan
        """
        import copy

        offset = np.asarray(offset, dtype=np.float64)
        if offset.shape != self.traits_.shape:
            raise InputError(f"offset: shape {offset.shape}, expected {self.traits_.shape}")
        if not np.all(np.isfinite(offset)):
            raise InputError("offset: non-finite values")
        new = copy.copy(self)
        new.__dict__.pop("_tls", None)  # scratch buffers are per model and thread
        with one_blas_thread():
            new._fit_residuals(self.traits_ - offset)
        return new

    def _fit_residuals(self, Y: np.ndarray) -> None:
        """The null model of traits ``Y`` on the fitted covariate basis ``Qf_``."""
        Qf = self.Qf_
        R0 = Y - Qf @ (Qf.T @ Y)
        S0 = R0.T @ R0
        try:
            L = np.linalg.cholesky(S0)  # lower
        except np.linalg.LinAlgError:
            L = None
        # L_jj² / S0_jj = 1 − R² of column j on the columns before it
        if L is None or np.any(np.abs(np.diag(L)) <= 1e-6 * np.sqrt(np.diag(S0))):
            raise InputError("phenotypes: the covariate-adjusted phenotype columns are linearly "
                             "dependent (or constant); reduce them with --pca k")
        W = np.linalg.solve(L, R0.T).T  # R0 L^-T, orthonormal columns (L is D x D)
        self.L_ = L
        self.S0_diag_ = np.diag(S0).copy()
        A = np.ascontiguousarray(np.hstack([W, Qf[:, 1:]]))  # intercept direction not needed
        self._A64 = A
        self._A = A.astype(np.float32) if self.dtype == "float32" else A
        self._a1 = self._A.sum(axis=0, dtype=np.float64)  # Aᵀ1 ≈ 0: centring correction
        if self.missing == "drop":  # the full-sample cross products that drop mode downdates
            self._Y = np.ascontiguousarray(Y)
            self._YtQ = np.ascontiguousarray(Y.T @ Qf)
            self._YtY = np.ascontiguousarray(Y.T @ Y)
        self._log_beta_consts = None

    @staticmethod
    def _check_df(n: int, c: int, d: int) -> None:
        if n - c - d < 1:
            raise InputError(
                f"too few samples: N - c - D = {n} - {c} - {d} = {n - c - d} < 1 "
                f"(N samples, c covariates incl. intercept, D dimensions); reduce D with pca")

    # ------------------------------------------------------------------ per-block test
    def test(self, dosages: np.ndarray, as_frame: bool = False,
             column_stats: np.ndarray | None = None) -> dict | pd.DataFrame:
        """Test every column of ``dosages`` (N x m; NaN = missing, mean-imputed per variant).

        ``column_stats``: optional (m, 4) array of each column's ``[n observed, sum, mean, sum
        of squared deviations]`` as the BGEN decoder computes them
        (:meth:`gwaskit.io.genotypes.GenotypeReader.read_dosages`); saves a pass over the block.

        Returns a dict of 1-D arrays (or a DataFrame with ``as_frame=True``): ``q``, ``chisq``,
        ``df``, ``p_value``, ``neg_log_10_p_value``, ``errcode`` (``'.'`` when tested),
        ``effect_allele_frequency`` (mean dosage / 2 over the non-missing calls), ``info``
        (MaCH R² of those calls: population variance / (2p(1-p)), plink2's ``MACH_R2``; NaN when
        monomorphic or all missing), ``n`` (the number of non-missing calls), and with ``per_dim``
        ``beta_<k>``, ``standard_error_<k>``, ``p_value_<k>``. Variants with an errcode have NaN
        statistics.
        """
        from ._scan_numba_fns import column_stats as block_column_stats
        from ._scan_numba_fns import impute_centre

        if not hasattr(self, "_A"):
            raise RuntimeError("MultiTraitScan.test() called before fit()")
        G = np.asarray(dosages)
        if G.ndim == 1:
            G = G[:, None]
        if G.dtype not in (np.float32, np.float64):
            G = G.astype(np.float64)
        n, m = G.shape
        if n != self.n_:
            raise InputError(f"dosages: {n} samples but the null model was fitted on {self.n_}")
        d, c = self.d_, self.c_
        work_dtype = self._A.dtype
        if column_stats is not None:
            cs = np.asarray(column_stats, dtype=np.float64)
            if cs.shape != (m, 4):
                raise ValueError(f"column_stats: expected shape {(m, 4)}, got {cs.shape}")
            nobs = cs[:, 0].astype(np.int64)
            dsum, mean, ss = cs[:, 1].copy(), cs[:, 2].copy(), cs[:, 3].copy()
        else:
            mean = np.empty(m)
            ss = np.empty(m)
            dsum = np.empty(m)
            nobs = np.empty(m, dtype=np.int64)
            block_column_stats(G, mean, ss, nobs, dsum)

        eaf = mean / 2.0
        errcode = np.full(m, ERR_OK, dtype=object)
        with np.errstate(invalid="ignore"):
            maf = np.minimum(eaf, 1.0 - eaf)
            mac = np.minimum(dsum, 2.0 * nobs - dsum)
            mono = ss <= 1e-10 * np.maximum(nobs, 1)
        if self.mac > 0:
            errcode[~(mac >= self.mac)] = "MAC_FILTER"
        if self.maf > 0:
            errcode[~(maf >= self.maf)] = "MAF_FILTER"
        errcode[mono] = "MONOMORPHIC"
        errcode[nobs == 0] = "ALL_MISSING"
        ok = errcode == ERR_OK
        sel = np.flatnonzero(ok)

        q = np.full(m, np.nan)
        Z = None
        gg_sel = None
        if sel.size:
            C = self._products(G, sel, mean, ss, nobs)
            Z = C[:, :d]
            H = C[:, d:]
            hh = np.einsum("ij,ij->i", H, H) if H.shape[1] else np.zeros(sel.size)
            gg_sel = ss[sel] - hh
            if work_dtype == np.float32:
                # cancellation guard: recompute genotypes largely explained by covariates
                redo = np.flatnonzero(gg_sel < 1e-2 * ss[sel])
                if redo.size:
                    G64 = np.asarray(G[:, sel[redo]], dtype=np.float64, order="F")
                    Gc64 = np.empty_like(G64, order="F")
                    tmp = [np.empty(redo.size) for _ in range(3)]
                    nb = np.empty(redo.size, dtype=np.int64)
                    impute_centre(G64, Gc64, tmp[0], tmp[1], nb, tmp[2])
                    C64 = Gc64.T @ self._A64
                    Z = np.array(Z)
                    Z[redo] = C64[:, :d]
                    H64 = C64[:, d:]
                    gg_sel[redo] = tmp[1] - np.einsum("ij,ij->i", H64, H64)
            coll = gg_sel <= self.collinear_tol * ss[sel]
            if np.any(coll):
                errcode[sel[coll]] = "COLLINEAR"
            zz = np.einsum("ij,ij->i", Z, Z)
            with np.errstate(invalid="ignore", divide="ignore"):
                qs = np.clip(zz / gg_sel, 0.0, 1.0)
            qs[coll] = np.nan
            q[sel] = qs

        n_test = np.full(m, n, dtype=np.int64)  # the N of each variant's test
        drop = None
        if self.missing == "drop":
            drop = self._drop_missing(G, sel[nobs[sel] < n], mean, q, errcode, n_test)
        stat = self._statistic(q, n_test)
        if self.pvalue == "exact":
            if drop is None:
                logp = _pv.exact_multitrait_logp(q, n, c, d)
            else:
                df2 = (n_test - c - d).astype(np.float64)
                with np.errstate(invalid="ignore"):
                    logp = _pv.beta_logsf(q, d / 2.0, np.where(df2 >= 1, df2, np.nan) / 2.0)
        else:
            logp = _pv.chi2_logsf(stat, d)
        out = {
            "q": q,
            "chisq": stat,
            "df": np.full(m, d, dtype=np.int64),
            "p_value": np.exp(logp),
            "neg_log_10_p_value": _pv.neg_log10(logp),
            "errcode": errcode,
            "effect_allele_frequency": eaf,
            "info": mach_r2(nobs, mean, ss),
            "n": nobs.astype(np.int64),
        }
        if self.per_dim:
            beta = np.full((m, d), np.nan)
            se = np.full((m, d), np.nan)
            pj = np.full((m, d), np.nan)
            if sel.size:
                keep = ~np.isnan(q[sel])
                V = Z[keep] @ self.L_.T           # (R0ᵀ g)ᵀ (m' x D)
                gk = gg_sel[keep][:, None]
                b = V / gk
                dfr = n - c - 1
                with np.errstate(invalid="ignore", divide="ignore"):
                    sig2 = (self.S0_diag_[None, :] - V * V / gk) / dfr
                    s = np.sqrt(np.maximum(sig2, 0.0) / gk)
                    t = b / s
                rows = sel[keep]
                beta[rows] = b
                se[rows] = s
                pj[rows] = np.exp(_pv.t_logsf_two_sided(t, dfr))
            if drop is not None and drop["cols"].size:
                rows, z, gk = drop["cols"], drop["z"], drop["gg"][:, None]
                dfr = drop["n"][:, None] - c - 1.0
                with np.errstate(invalid="ignore", divide="ignore"):
                    b = z / gk
                    s = np.sqrt(np.maximum((drop["sdiag"] - z * z / gk) / dfr, 0.0) / gk)
                    pt = np.exp(_pv.t_logsf_two_sided(b / s, dfr))
                bad = ~drop["ok"]
                b[bad], s[bad], pt[bad] = np.nan, np.nan, np.nan
                beta[rows], se[rows], pj[rows] = b, s, pt
            for j, name in enumerate(self.dim_names_):
                out[f"beta_{name}"] = beta[:, j]
                out[f"standard_error_{name}"] = se[:, j]
                out[f"p_value_{name}"] = pj[:, j]
        return pd.DataFrame(out) if as_frame else out

    def _products(self, G: np.ndarray, sel: np.ndarray, mean: np.ndarray, ss: np.ndarray,
                  nobs: np.ndarray) -> np.ndarray:
        """``[W | Qf₁]ᵀ (g − ḡ)`` for the columns ``sel`` of ``G``: (len(sel), D + c − 1) float64.

        One GEMM ``Gᵀ A`` (OpenBLAS runs this orientation ~5x faster than ``Aᵀ G`` for a
        skinny A; ``Gᵀ`` of a Fortran-ordered block is C-contiguous, no copy).

        * Direct path (no copy of the block): the columns of A are orthogonal to the
          intercept, so centring is a rank-1 correction, ``Gᵀ A − ḡ (Aᵀ1)ᵀ`` (``Aᵀ1`` of the
          float32 A, in float64). Rounding of the float32 GEMM grows with ``|g|/|g − ḡ|``:
          columns with missing calls or with ``ḡ² > 8 var(g)`` (e.g. a rare variant counted on
          its major allele) are recomputed from centred copies, so every column keeps the
          accuracy of a centred GEMM within a factor of 3 (relative error of Q ~ 1e-6).
        * Centred path (many such columns, many filtered columns, or a dtype conversion):
          the tested columns are mean-imputed and centred into a reused buffer, then one GEMM.
          ``ss`` of those columns is replaced by the sum of squares of the rounded values.
        """
        from ._scan_numba_fns import centre_columns

        A = self._A
        n, m = G.shape
        need = nobs[sel] < n
        with np.errstate(invalid="ignore"):
            need |= mean[sel] ** 2 * nobs[sel] > 8.0 * ss[sel]
        n_need = int(need.sum())
        direct = (G.dtype == A.dtype and 4 * sel.size >= 3 * m and 4 * n_need <= sel.size)
        if not direct:
            buf = self._work_buffer(n, sel.size, A.dtype)
            ss_c = np.empty(sel.size)
            centre_columns(G, sel.astype(np.int64), mean, buf, ss_c)
            ss[sel] = ss_c
            return (buf.T @ A).astype(np.float64)
        C = (G.T @ A).astype(np.float64)
        if sel.size != m:
            C = C[sel]
        C -= np.outer(mean[sel], self._a1)
        if n_need:
            cols = sel[need].astype(np.int64)
            buf = self._work_buffer(n, cols.size, A.dtype)
            ss_c = np.empty(cols.size)
            centre_columns(G, cols, mean, buf, ss_c)
            ss[cols] = ss_c
            C[need] = buf.T @ A
        return C

    def _work_buffer(self, n: int, m: int, dtype) -> np.ndarray:
        """An (n, m) Fortran-ordered scratch array, reused across blocks (one per thread).

        Fresh arrays of a block's size cost a page fault per 4 KiB on first write (as much as
        the centring pass itself); the buffer grows to the largest block seen and the first
        ``m`` columns are returned (still Fortran-contiguous). Buffers are thread-local, so
        several threads may call :meth:`test` on one fitted model at once.
        """
        tls = self.__dict__.get("_tls")
        if tls is None:
            tls = self.__dict__.setdefault("_tls", threading.local())  # atomic under the GIL
        buf = getattr(tls, "work", None)
        if buf is None or buf.shape[0] != n or buf.shape[1] < m or buf.dtype != dtype:
            buf = np.empty((n, m), dtype=dtype, order="F")
            tls.work = buf
        return buf[:, :m]

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state.pop("_tls", None)  # per-thread scratch memory, not model state
        return state

    def _drop_missing(self, G, cols: np.ndarray, mean: np.ndarray, q: np.ndarray,
                      errcode: np.ndarray, n_test: np.ndarray) -> dict:
        """``missing="drop"``: retest the columns ``cols`` (tested, with missing calls) on their
        non-missing samples; updates ``q``, ``errcode`` and ``n_test`` in place."""
        from ._scan_numba_fns import drop_missing_tests

        k, d = cols.size, self.d_
        res = {"cols": cols.astype(np.int64), "q": np.full(k, np.nan),
               "n": np.zeros(k, dtype=np.int64), "gg": np.full(k, np.nan),
               "z": np.full((k, d), np.nan), "sdiag": np.full((k, d), np.nan),
               "ok": np.zeros(k, dtype=np.bool_)}
        if k:
            drop_missing_tests(G, res["cols"], mean, self.Qf_, self._Y, self._YtQ, self._YtY,
                               self.collinear_tol, res["q"], res["n"], res["gg"], res["z"],
                               res["sdiag"], res["ok"])
            few = res["n"] - self.c_ - d < 1
            res["ok"] &= ~few
            errcode[cols] = np.where(few, "TOO_FEW_CALLS", np.where(res["ok"], ERR_OK, "COLLINEAR"))
            q[cols] = np.where(res["ok"], res["q"], np.nan)
            n_test[cols] = res["n"]
        return res

    def _statistic(self, q: np.ndarray, n: np.ndarray | int | None = None) -> np.ndarray:
        n, d = (self.n_ if n is None else n), self.d_
        with np.errstate(divide="ignore", invalid="ignore"):
            if self.test_statistic == "scaled-lrt":
                return -n * d * np.log1p(-q / d)
            return -n * np.log1p(-q)

    @property
    def df2_(self) -> int:
        """Denominator degrees of freedom of the exact F law, ``N − c − D``."""
        return self.n_ - self.c_ - self.d_

"""Evaluation of embeddings: latent-trait R², disease AUC, variant recovery.

* :func:`ridge_r2`: over ``n_splits`` random 50/50 splits, ridge regression of a continuous
  latent trait on standardised embeddings, penalty chosen on the training half by efficient
  leave-one-out CV (``RidgeCV``), R² on the held-out half; mean ± std.
* :func:`logistic_auc`: same splits, L2 logistic regression (C by 5-fold CV on the training half,
  ``LogisticRegressionCV``), ROC AUC on the held-out half.
* :func:`variant_recovery`: multi-trait scan of the held-out individuals' embeddings
  (``gwaskit.stats.scan.MultiTraitScan``) then the fraction of panel/causal loci recovered
  (``gwaskit.loci.overlap.loci_overlap``, Wilson 95% interval).

Results are valid as out-of-sample estimates only if the embeddings were not trained on the
target (supervised baseline: evaluate on individuals outside its training split).
"""
from __future__ import annotations

import warnings
from typing import Any, Sequence

import numpy as np
import pandas as pd

from gwaskit.errors import InputError

ALPHAS = np.logspace(-3, 5, 17)


def _splits(n: int, n_splits: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n_splits):
        perm = rng.permutation(n)
        out.append((perm[: n // 2], perm[n // 2:]))
    return out


def _summary(values: list[float]) -> dict[str, Any]:
    v = np.asarray(values, dtype=float)
    return {"mean": float(v.mean()), "std": float(v.std(ddof=1)) if len(v) > 1 else 0.0,
            "values": [float(x) for x in v]}


def _clean(emb: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    emb = np.asarray(emb, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64).ravel()
    if len(emb) != len(y):
        raise InputError(f"{len(emb)} embeddings but {len(y)} targets")
    keep = np.isfinite(y) & np.isfinite(emb).all(axis=1)
    return emb[keep], y[keep]


def ridge_r2(emb: np.ndarray, y: np.ndarray, n_splits: int = 5, seed: int = 0,
             alphas: np.ndarray = ALPHAS) -> dict[str, Any]:
    """Held-out ridge R² of ``y`` from ``emb`` over random 50/50 splits (mean, std, values)."""
    from sklearn.linear_model import RidgeCV
    from sklearn.metrics import r2_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    emb, y = _clean(emb, y)
    vals = []
    for tr, te in _splits(len(y), n_splits, seed):
        model = make_pipeline(StandardScaler(), RidgeCV(alphas=alphas))
        model.fit(emb[tr], y[tr])
        vals.append(r2_score(y[te], model.predict(emb[te])))
    return _summary(vals)


def logistic_auc(emb: np.ndarray, y: np.ndarray, n_splits: int = 5, seed: int = 0,
                 Cs: int = 10) -> dict[str, Any]:
    """Held-out ROC AUC of an L2 logistic regression for a binary ``y`` (mean, std, values)."""
    from sklearn.linear_model import LogisticRegressionCV
    from sklearn.metrics import roc_auc_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    emb, y = _clean(emb, y)
    if set(np.unique(y)) - {0.0, 1.0}:
        raise InputError("binary label must be coded 0/1")
    vals = []
    for tr, te in _splits(len(y), n_splits, seed):
        if len(np.unique(y[tr])) < 2 or len(np.unique(y[te])) < 2:
            continue
        model = make_pipeline(StandardScaler(),
                              LogisticRegressionCV(Cs=Cs, cv=5, scoring="roc_auc", max_iter=2000))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.fit(emb[tr], y[tr])
        vals.append(roc_auc_score(y[te], model.predict_proba(emb[te])[:, 1]))
    if not vals:
        raise InputError("binary label has a single class in every split")
    return _summary(vals)


def read_embeddings(path: str) -> pd.DataFrame:
    """Read an export; check ``IID`` and ``emb_*`` columns."""
    try:
        df = pd.read_parquet(path)
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: cannot read embeddings ({str(exc).splitlines()[0]})") from None
    if "IID" not in df.columns or not any(c.startswith("emb_") for c in df.columns):
        raise InputError(f"{path}: not a GEMCONT export (needs IID and emb_* columns)")
    df["IID"] = df["IID"].astype(str)
    return df


def emb_columns(df: pd.DataFrame) -> list[str]:
    return [c for c in df.columns if c.startswith("emb_")]


def evaluate_table(emb_df: pd.DataFrame, targets: pd.DataFrame, column: str,
                   binary: bool = False, n_splits: int = 5, seed: int = 0,
                   split: str | None = None) -> dict[str, Any]:
    """Join embeddings and a target table on IID and run :func:`ridge_r2`/:func:`logistic_auc`.

    ``split`` restricts to one split of the export (e.g. ``test``).
    """
    if column not in targets.columns:
        raise InputError(f"target table has no column {column}")
    df = emb_df
    if split:
        if "split" not in df.columns:
            raise InputError("--split given but the embeddings have no split column")
        df = df[df["split"] == split]
    t = targets.drop_duplicates("IID").set_index("IID")[column]
    df = df[df["IID"].isin(t.index)]
    if len(df) < 10:
        raise InputError(f"only {len(df)} individuals with both an embedding and {column}")
    emb = df[emb_columns(df)].to_numpy()
    y = pd.to_numeric(t.loc[df["IID"]], errors="coerce").to_numpy()
    res = logistic_auc(emb, y, n_splits, seed) if binary else ridge_r2(emb, y, n_splits, seed)
    res.update({"metric": "roc_auc" if binary else "r2", "n": int(len(df)), "target": column})
    return res


def variant_recovery(emb_df: pd.DataFrame, dosages: np.ndarray, dosage_iids: Sequence[str],
                     variants: pd.DataFrame, reference: pd.DataFrame,
                     covariates: np.ndarray | None = None, split: str | None = "test",
                     p: float = 5e-8, bonferroni: float | None = None, mode: str = "window",
                     window_kb: float = 500.0, scan_kwargs: dict[str, Any] | None = None
                     ) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Fraction of reference (panel or causal) loci recovered by a scan of the embeddings.

    The held-out individuals' embeddings (rows of ``split``; all rows if ``None``) are tested
    against every column of ``dosages`` with
    ``gwaskit.stats.scan.MultiTraitScan(**scan_kwargs).fit(Y, covariates).test(G)``
    (default ``pca=10``, as transferGWAS condenses to 10 PCs; rank-based INT), then
    ``gwaskit.loci.overlap.loci_overlap(reference, scan, p, bonferroni, mode, window_kb)``.

    Parameters
    ----------
    emb_df : export of :func:`.export.write_embeddings` (``IID``, ``split``, ``emb_*``).
    dosages : (N_geno, m) array, rows = ``dosage_iids``; columns = rows of ``variants``.
    variants : m rows with ``variant_id``, ``chromosome``, ``base_pair_location``.
    reference : reference loci (``variant_id`` [, ``chromosome``, ``base_pair_location``]).
    covariates : (N_geno, k) array aligned to ``dosage_iids`` (e.g. genotype PCs), optional.

    Returns
    -------
    (per-locus table, summary dict with ``fraction``, ``n_recovered``, ``n_loci``, Wilson CI).
    """
    from gwaskit.loci.overlap import loci_overlap, reference_loci
    from gwaskit.stats.scan import MultiTraitScan

    df = emb_df
    if split and "split" in df.columns:
        df = df[df["split"] == split]
    pos = {str(iid): i for i, iid in enumerate(dosage_iids)}
    df = df[df["IID"].isin(pos)]
    if len(df) < 10:
        raise InputError(f"variant recovery: only {len(df)} individuals of split {split!r} "
                         "have genotypes")
    rows = np.array([pos[i] for i in df["IID"]], dtype=np.int64)
    y = df[emb_columns(df)].to_numpy(dtype=np.float64)
    kwargs = {"pca": min(10, y.shape[1])}
    kwargs.update(scan_kwargs or {})
    cov = None if covariates is None else np.asarray(covariates, dtype=np.float64)[rows]
    res = MultiTraitScan(**kwargs).fit(y, cov).test(np.asarray(dosages)[rows], as_frame=True)
    res = res.reset_index(drop=True)
    var = variants.reset_index(drop=True)
    for col in ("variant_id", "chromosome", "base_pair_location"):
        if col in var.columns:
            res[col] = var[col].to_numpy()
    return loci_overlap(reference_loci(reference), res, p=p, bonferroni=bonferroni, mode=mode,
                        window_kb=window_kb)


def variant_recovery_from_files(emb_df: pd.DataFrame, genotypes: str | list[str],
                                reference: str, sample_file: str = "", split: str | None = "test",
                                **kwargs: Any) -> tuple[pd.DataFrame, dict[str, Any]]:
    """:func:`variant_recovery` reading every variant of ``genotypes`` through
    ``gwaskit.io.genotypes.open_genotypes`` (in memory: for simulations and panels) and the
    reference loci table (``gwaskit.io.sumstats.read_sumstats`` column aliases)."""
    from gwaskit.io.genotypes import open_genotypes
    from gwaskit.io.sumstats import read_sumstats

    reader = open_genotypes(genotypes, sample_file=sample_file or None)
    ids = [str(s) for s in reader.samples]
    df = emb_df
    if split and "split" in df.columns:
        df = df[df["split"] == split]
    wanted = pd.Index(ids).get_indexer(df["IID"])
    wanted = np.sort(wanted[wanted >= 0])
    variants, dos = reader.read_dosages(samples=wanted, dtype=np.float64)
    ref = read_sumstats(reference)
    return variant_recovery(df, dos, [ids[i] for i in wanted], variants, ref, split=None,
                            **kwargs)

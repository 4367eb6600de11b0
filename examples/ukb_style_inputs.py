"""Inputs of examples/ukb_style.sh that a UK Biobank project would already have: a list of
unrelated individuals, an embedding table with the learner's split column, and a covariate
table (sex, age, genotype PCs). Written from a `gwaskit simulate` cohort.

Usage: python examples/ukb_style_inputs.py DIR            (before `gwaskit pca`)
       python examples/ukb_style_inputs.py DIR --covariates (after it: joins the PCs)
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd


def main(d: Path, covariates: bool) -> None:
    if covariates:
        cov = pd.read_parquet(d / "cohort" / "covariates.parquet")
        pcs = pd.read_csv(d / "pcs.tsv", sep="\t", dtype={"IID": str}).drop(columns="FID")
        cov.merge(pcs, on="IID").to_csv(d / "covariates.tsv", sep="\t", index=False)
        return
    ph = pd.read_parquet(d / "cohort" / "phenotypes.parquet")
    rng = np.random.default_rng(11)
    n = len(ph)
    # "unrelated": a random 90%, in plink's FID IID layout with a header (the .sample IDs)
    keep = np.sort(rng.choice(n, int(0.9 * n), replace=False))
    pd.DataFrame({"#FID": ph["IID"].iloc[keep], "IID": ph["IID"].iloc[keep]}).to_csv(
        d / "unrelated.txt", sep="\t", index=False)
    # an embedding as a learner exports it: 4 dimensions, two carry the latent trait z
    z = ph["z"].to_numpy()
    emb = np.column_stack([z + rng.normal(0, 1, n), -z + rng.normal(0, 1, n),
                           rng.normal(size=n), rng.normal(size=n)])
    split = rng.choice(["train", "val", "test"], n, p=[0.5, 0.1, 0.4])
    pd.DataFrame({"IID": ph["IID"], "split": split,
                  **{f"emb_{k}": emb[:, k].astype(np.float32) for k in range(4)}}).to_parquet(
        d / "embedding.parquet", index=False)


if __name__ == "__main__":
    main(Path(sys.argv[1]), "--covariates" in sys.argv[2:])

"""Null calibration of the multi-trait scan (statistics.md sections 4-5, 10).

No genetic effect; correlated, skewed traits (rank-normalised by the scan), 10 covariates
(c = 11), binomial genotypes with MAF ~ U(0.01, 0.5), N = 5,000, D in {1, 16, 64, 256},
>= 200k tests per D through the in-process core (:class:`gwaskit.stats.scan.MultiTraitScan`).

Prints, per D and p-value law: λ_D (= chi2.isf(median p, D)/median(chi2_D)), the counts of
p < 1e-3 and p < 1e-4 with the binomial 99% interval, and PASS/FAIL for the exact p-values
(λ in [0.97, 1.03], both counts inside their intervals). Saves a QQ plot under
benchmarks/results/.

    .venv/bin/python benchmarks/calibration.py [--n-tests 200000] [--n 5000] [--dims 1,16,64,256]
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np
from numba import njit, prange
from scipy import stats

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from gwaskit.stats import pvalues as pv  # noqa: E402
from gwaskit.stats.scan import MultiTraitScan  # noqa: E402

RESULTS = os.path.join(os.path.dirname(__file__), "results")


@njit(parallel=True, cache=True)
def _binomial_genotypes(af, seed, out):
    """out[:, j] ~ Binomial(2, af[j]) as float32, Fortran-ordered output."""
    n, m = out.shape
    for j in prange(m):
        np.random.seed(seed + j)
        p = af[j]
        for i in range(n):
            out[i, j] = np.float32((np.random.random() < p) + (np.random.random() < p))


def simulate_null_phenotypes(rng, n, d, k):
    covs = np.column_stack([rng.normal(size=(n, k - 3)), rng.integers(0, 2, size=(n, 2)),
                            rng.normal(50, 10, size=n)])
    A = rng.normal(size=(d, d)) / np.sqrt(d)
    Sigma = A @ A.T + 0.2 * np.eye(d)
    Z = rng.normal(size=(n, d)) @ np.linalg.cholesky(Sigma).T
    Z += covs @ rng.normal(scale=0.1, size=(k, d))
    Y = np.where(np.arange(d) % 2 == 0, np.exp(0.5 * Z), Z)  # skew half of the columns
    return Y, covs


def run_one(n, d, n_tests, block, seed):
    rng = np.random.default_rng(seed)
    Y, covs = simulate_null_phenotypes(rng, n, d, 10)
    model = MultiTraitScan(test="scaled-lrt", pvalue="exact", rank_normalize=True, pca=None).fit(Y, covs)
    qs = []
    G = np.empty((n, block), dtype=np.float32, order="F")
    done = 0
    while done < n_tests:
        m = min(block, n_tests - done)
        af = rng.uniform(0.01, 0.5, m)
        _binomial_genotypes(af, int(rng.integers(1 << 30)), G[:, :m])
        res = model.test(G[:, :m])
        qs.append(res["q"][res["errcode"] == "."])
        done += m
    q = np.concatenate(qs)
    c = model.c_
    lrt_scale = -n * d * np.log1p(-q / d)
    lrt_full = -n * np.log1p(-q)
    return {
        "exact": pv.exact_multitrait_logp(q, n, c, d),
        "chi2 scaled-lrt": pv.chi2_logsf(lrt_scale, d),
        "chi2 wilks": pv.chi2_logsf(lrt_full, d),
    }, c


def summarise(logp, d):
    p = np.exp(logp)
    m = p.size
    lam = pv.lambda_gc_from_p(p, d)
    row = {"tests": m, "lambda": lam}
    for a in (1e-3, 1e-4):
        lo, hi = stats.binom.interval(0.99, m, a)
        row[a] = (int(np.sum(p < a)), int(lo), int(hi))
    return row


def qq_plot(all_logp, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    dims = list(all_logp)
    fig, axes = plt.subplots(1, len(dims), figsize=(4 * len(dims), 4), squeeze=False)
    for ax, d in zip(axes[0], dims):
        for label, logp in all_logp[d].items():
            obs = np.sort(-logp / np.log(10))[::-1]
            m = obs.size
            exp_ = -np.log10((np.arange(1, m + 1) - 0.5) / m)
            keep = np.unique(np.concatenate([np.arange(min(m, 2000)), np.geomspace(1, m, 3000).astype(int) - 1]))
            ax.plot(exp_[keep], obs[keep], ".", ms=2, label=label)
        mx = -np.log10(0.5 / m)
        lo, hi = [], []
        ranks = np.unique(np.geomspace(1, m, 200).astype(int))
        for r in ranks:
            b = stats.beta(r, m - r + 1)
            lo.append(-np.log10(b.ppf(0.995)))
            hi.append(-np.log10(b.ppf(0.005)))
        ax.fill_between(-np.log10((ranks - 0.5) / m), lo, hi, color="grey", alpha=0.3, lw=0)
        ax.plot([0, mx], [0, mx], "k-", lw=0.7)
        ax.set_title(f"D = {d}, N = {args.n}, {m:,} null tests")
        ax.set_xlabel("expected -log10 p")
        ax.set_ylabel("observed -log10 p")
        ax.legend(fontsize=7, markerscale=4)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=5000)
    ap.add_argument("--n-tests", type=int, default=200_000)
    ap.add_argument("--dims", default="1,16,64,256")
    ap.add_argument("--block", type=int, default=5000)
    ap.add_argument("--seed", type=int, default=2024)
    args = ap.parse_args()
    dims = [int(x) for x in args.dims.split(",")]
    os.makedirs(RESULTS, exist_ok=True)

    all_logp = {}
    rows = []
    t0 = time.time()
    for i, d in enumerate(dims):
        t1 = time.time()
        logps, c = run_one(args.n, d, args.n_tests, args.block, args.seed + i)
        all_logp[d] = logps
        for label, logp in logps.items():
            rows.append((d, c, label, summarise(logp, d)))
        print(f"  D = {d}: {args.n_tests:,} tests in {time.time() - t1:.1f} s", file=sys.stderr)

    hdr = (f"{'D':>4} {'c':>3} {'p-value law':<16} {'tests':>8} {'lambda_D':>9} "
           f"{'n(p<1e-3) [99% CI]':>22} {'n(p<1e-4) [99% CI]':>20}  verdict")
    print(f"Null calibration, N = {args.n}, MAF ~ U(0.01, 0.5), rank-INT correlated traits")
    print(hdr)
    print("-" * len(hdr))
    all_pass = True
    for d, c, label, r in rows:
        c3, c4 = r[1e-3], r[1e-4]
        inside = all(lo <= k <= hi for k, lo, hi in (c3, c4))
        lam_ok = 0.97 <= r["lambda"] <= 1.03
        verdict = ("PASS" if inside and lam_ok else "FAIL") if label == "exact" else \
            ("in CI" if inside else "outside CI")
        if label == "exact":
            all_pass &= inside and lam_ok
        print(f"{d:>4} {c:>3} {label:<16} {r['tests']:>8} {r['lambda']:>9.4f} "
              f"{c3[0]:>7} [{c3[1]:>4},{c3[2]:>4}]    {c4[0]:>6} [{c4[1]:>3},{c4[2]:>3}]  {verdict}")
    png = os.path.join(RESULTS, f"calibration_qq_N{args.n}.png")
    qq_plot(all_logp, png)
    print(f"exact p-values: {'all PASS' if all_pass else 'FAIL'}; QQ plot {png}; "
          f"total {time.time() - t0:.0f} s")

"""Cost of ``--missing drop`` against mean imputation (MultiTraitScan.test on one block).

Every variant carries missing calls (the worst case: each goes through the per-variant refit).
Prints seconds per 1,000 variants (median of 3) for both modes and their ratio.
Usage: python benchmarks/bench_missing_drop.py [N] [M] [D] [missing_rate]
"""
from __future__ import annotations

import statistics
import sys
import time

import numpy as np

from gwaskit.stats.multitrait import MultiTraitScan


def main(n: int = 20000, m: int = 2000, d: int = 16, rate: float = 0.02) -> None:
    rng = np.random.default_rng(0)
    F = rng.normal(size=(n, 10))
    Y = rng.normal(size=(n, d))
    G = rng.binomial(2, rng.uniform(0.05, 0.5, m), size=(n, m)).astype(np.float32)
    G[rng.random((n, m)) < rate] = np.nan
    G = np.asfortranarray(G)
    times = {}
    for mode in ("mean", "drop"):
        model = MultiTraitScan(pca=None, missing=mode).fit(Y, F)
        model.test(G[:, :50])  # compile / warm up
        runs = []
        for _ in range(3):
            t0 = time.perf_counter()
            model.test(G)
            runs.append(time.perf_counter() - t0)
        times[mode] = statistics.median(runs)
        print(f"missing={mode}: N={n} D={d} c=11 m={m} missing rate {rate}: "
              f"{1000 * times[mode] / m:.3f} s per 1,000 variants (median of 3)")
    print(f"drop / mean = {times['drop'] / times['mean']:.1f}x")


if __name__ == "__main__":
    args = sys.argv[1:]
    main(*(int(a) for a in args[:3]), *(float(a) for a in args[3:4]))

"""Oracle for benchmarks/bench_loco.py: glimix-core's exact multi-trait LMM
(``Kron2Sum``: vec(Y) ~ N((A (x) X) vec(B), C0 (x) GGᵀ + C1 (x) I)) and its per-variant LRT.

Runs in its own venv (``.venv-glimix``, glimix-core pins numpy < 2):
``python _glimix_oracle.py IN.npz OUT.npy``. IN holds ``Y`` (n x p traits), ``X`` (n x c
covariates with the intercept), ``G`` (n x r, the GRM factor, K = GGᵀ) and ``V`` (n x m
variants to test). OUT: the m LRT statistics ``2 (lml_1 - lml_0)`` with the scanner's
optimal scale (LIMIX's statistic), and the null fit's C0 and C1 in ``OUT.json``.
"""
import json
import sys
import time

import numpy as np
from glimix_core.lmm import Kron2Sum


def main(inp: str, out: str) -> None:
    data = np.load(inp)
    Y, X, G, V = data["Y"], data["X"], data["G"], data["V"]
    p = Y.shape[1]
    t0 = time.perf_counter()
    lmm = Kron2Sum(Y, np.eye(p), X, G, rank=p, restricted=False)
    lmm.fit(verbose=False)
    t_fit = time.perf_counter() - t0
    scanner = lmm.get_fast_scanner()
    null = scanner.null_lml()
    lrt = np.empty(V.shape[1])
    for j in range(V.shape[1]):
        lrt[j] = 2.0 * (scanner.scan(np.eye(p), V[:, j:j + 1])["lml"] - null)
    np.save(out, lrt)
    with open(out + ".json", "w") as fh:
        json.dump({"C0": lmm.C0.tolist(), "C1": lmm.C1.tolist(), "fit_seconds": t_fit,
                   "scan_seconds": time.perf_counter() - t0 - t_fit}, fh)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])

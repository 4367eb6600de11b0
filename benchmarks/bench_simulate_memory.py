"""Peak host memory of :func:`gwaskit.simulate.simulate_cohort` against ``gemcont study
--dry-run``'s estimate for it.

Usage::

    python benchmarks/bench_simulate_memory.py N_MAIN:N_EXTERNAL [...] [--chromosomes 10]
        [--length-mb 10]

Each size runs in a fresh child process (its peak RSS from ``getrusage``, so imports and
the interpreter are counted; a child that only imports msprime and gwaskit gives that
baseline). The number of variants kept at these sizes hardly depends on N (the study
cohort's MAF >= 1 % filter), so the peak grows linearly with N = N_MAIN + N_EXTERNAL, and the
bytes per individual per variant measured here carry over to the paper's N = 80,000.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile

CHILD = r"""
import json, resource, sys, time
args = json.loads(sys.argv[1])
import msprime  # noqa: F401  (counted in the baseline)
from gwaskit.simulate import simulate_cohort
if args["n_main"]:
    t0 = time.perf_counter()
    sim = simulate_cohort(args["out"], n_individuals=args["n_main"], n_external=args["n_ext"],
                          n_chromosomes=args["chromosomes"], chrom_length=args["length_mb"] * 1e6,
                          h_g=0.5, n_causal=100, seed=1, overwrite=True)
    m = sim.genotypes.n_variants
    seconds = time.perf_counter() - t0
else:
    m, seconds = 0, 0.0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"peak": peak, "variants": m, "seconds": seconds}))
"""


def _child(n_main: int, n_ext: int, chromosomes: int, length_mb: float) -> dict:
    with tempfile.TemporaryDirectory() as out:
        args = dict(n_main=n_main, n_ext=n_ext, chromosomes=chromosomes, length_mb=length_mb,
                    out=out)
        res = subprocess.run([sys.executable, "-c", CHILD, json.dumps(args)], check=True,
                             capture_output=True, text=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("sizes", nargs="+", help="N_MAIN:N_EXTERNAL")
    ap.add_argument("--chromosomes", type=int, default=10)
    ap.add_argument("--length-mb", type=float, default=10.0)
    a = ap.parse_args()
    from learners.gemcont.memory import simulation_bytes

    base = _child(0, 0, a.chromosomes, a.length_mb)["peak"]
    print(f"baseline (interpreter + msprime + gwaskit imports): {base / 1e9:.3f} GB")
    print(f"{a.chromosomes} chromosomes x {a.length_mb:g} Mb")
    print("N_main  N_ext  variants  seconds  peak_GB  above_baseline_GB  bytes/(N*M)  "
          "estimate_GB  peak/estimate")
    for size in a.sizes:
        n_main, n_ext = (int(v) for v in size.split(":"))
        r = _child(n_main, n_ext, a.chromosomes, a.length_mb)
        n, m = n_main + n_ext, r["variants"]
        est = simulation_bytes(n_main, n_ext, m, a.chromosomes)
        print(f"{n_main:6d} {n_ext:6d} {m:9d} {r['seconds']:8.1f} {r['peak'] / 1e9:8.3f} "
              f"{(r['peak'] - base) / 1e9:18.3f} {(r['peak'] - base) / (n * m):12.3f} "
              f"{est / 1e9:12.3f} {r['peak'] / est:14.3f}")


if __name__ == "__main__":
    main()

"""Scaling of `gwaskit scan`: wall time and peak memory vs N, M, D; in-process vs Dask; cost model.

Grid: N in {5k, 10k, 20k} samples, M in {10k, 50k} variants, D in {16, 64, 256} dimensions,
each in-process (default: decode threads + single-threaded BLAS per chunk) and on a 2-worker
Dask LocalCluster (`--workers 2`). ``--quick``: N in {5k, 10k}, M = 10k, D in {16, 64, 256}
in-process and D = 64 on the cluster. 8-bit BGEN 1.2 (zlib) written with
``gwaskit.io.bgen_writer``, no missing calls, no covariates, ``--no-pca``, chunk size 2000.

Wall time is the whole command (start-up, null fit, scan, writing); peak memory is the largest
sum of RSS over the command's process tree (client + Dask workers), sampled every 0.1 s.

Cost model (least squares over the in-process runs)::

    wall = t0 + a * N * M + b * N * M * (D + 1)

``a`` = decode + imputation cost per genotype, ``b`` = GEMM/statistics cost per sample x variant
x dimension, both in wall seconds on this machine (2 cores busy). A direct single-threaded
decode pass gives the decode cost per genotype per core. The biobank projection
(N = 500,000, M = 10 million, D = 256) turns the fitted constants into core-seconds
(x 2 cores) and divides by the cluster's cores, assuming perfect scaling of the chunk tasks;
overheads not in the model are listed with it.

Usage: ``.venv/bin/python benchmarks/bench_scaling.py [--quick] [--data DIR]``
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
GWASKIT = [sys.executable, "-m", "gwaskit.cli.main"]


def make_bgen(d: Path, n: int, m: int) -> Path:
    from gwaskit.io.bgen_writer import write_bgen

    p = d / f"g_N{n}_M{m}.bgen"
    if p.exists():
        return p
    rng = np.random.default_rng(n + m)
    maf = rng.uniform(0.02, 0.5, m)
    G = np.empty((n, m), dtype=np.float32)
    for j in range(0, m, 5000):
        G[:, j:j + 5000] = rng.binomial(2, maf[j:j + 5000], size=(n, len(maf[j:j + 5000])))
    v = pd.DataFrame({"chromosome": "1", "base_pair_location": 100 * np.arange(1, m + 1),
                      "variant_id": [f"rs{j}" for j in range(m)], "effect_allele": "A",
                      "other_allele": "G"})
    write_bgen(p, [f"s{i}" for i in range(n)], v, dosages=G)
    return p


def make_pheno(d: Path, n: int, dim: int) -> Path:
    p = d / f"pheno_N{n}_D{dim}.parquet"
    if not p.exists():
        rng = np.random.default_rng(dim)
        df = pd.DataFrame(rng.normal(size=(n, dim)), columns=[f"emb_{k}" for k in range(dim)])
        df.insert(0, "IID", [f"s{i}" for i in range(n)])
        df.to_parquet(p)
    return p


def run_measured(cmd: list[str]) -> tuple[float, float]:
    """Run; return (wall seconds, peak MB of the summed RSS of the process tree)."""
    import psutil

    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            cwd=ROOT)
    ps = psutil.Process(proc.pid)
    peak = 0
    while proc.poll() is None:
        try:
            procs = [ps] + ps.children(recursive=True)
            peak = max(peak, sum(q.memory_info().rss for q in procs if q.is_running()))
        except psutil.Error:
            pass
        time.sleep(0.1)
    wall = time.perf_counter() - t0
    err = proc.stderr.read()
    if proc.returncode != 0:
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(cmd)}\n{err[-2000:]}")
    return wall, peak / 2**20


def decode_cost(bgen: Path) -> float:
    """Seconds per genotype of a single-threaded decode pass (no statistics)."""
    from gwaskit.io.genotypes import open_genotypes

    with open_genotypes(str(bgen), n_threads=1) as r:
        t0 = time.perf_counter()
        for _ in r.iter_dosages(chunk_size=2000):
            pass
        dt = time.perf_counter() - t0
        return dt / (r.n_samples * r.n_variants)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="small subset (minutes)")
    ap.add_argument("--data", type=Path, default=None, help="where to keep the generated data")
    args = ap.parse_args()
    if args.quick:
        grid_n, grid_m, grid_d, cluster_d = [5000, 10000], [10000], [16, 64, 256], [64]
    else:
        grid_n, grid_m, grid_d, cluster_d = [5000, 10000, 20000], [10000, 50000], [16, 64, 256], [16, 64, 256]
    tmp = tempfile.TemporaryDirectory(prefix="gwaskit-scaling-") if args.data is None else None
    data = Path(tmp.name) if tmp else args.data
    data.mkdir(parents=True, exist_ok=True)
    rows = []
    dec = []
    bpg = []
    for n in grid_n:
        for m in grid_m:
            t = time.perf_counter()
            bgen = make_bgen(data, n, m)
            print(f"data N={n} M={m}: {time.perf_counter() - t:.1f} s", file=sys.stderr)
            dec.append(decode_cost(bgen))
            bpg.append(bgen.stat().st_size / (n * m))
            for dim in grid_d:
                pheno = make_pheno(data, n, dim)
                modes = [("in-process", [])] + ([("2 workers", ["--workers", "2"])] if dim in cluster_d else [])
                for label, extra in modes:
                    out = data / f"res_{n}_{m}_{dim}_{label[0]}.parquet"
                    for f in (out, Path(str(out) + ".meta.json")):
                        f.unlink(missing_ok=True)
                    cmd = GWASKIT + ["scan", "--bgen", str(bgen), "--pheno", str(pheno),
                                     "--no-pca", "--quiet", "--out", str(out), *extra]
                    wall, mb = run_measured(cmd)
                    rows.append({"N": n, "M": m, "D": dim, "mode": label, "wall_s": wall, "peak_MB": mb})
                    print(f"  N={n} M={m} D={dim} {label}: {wall:.1f} s, {mb:.0f} MB", file=sys.stderr)
    tab = pd.DataFrame(rows)
    print(f"gwaskit scan scaling (8-bit BGEN, no covariates, --no-pca, chunk 2000; "
          f"{os.cpu_count()} CPUs{' , --quick' if args.quick else ''})")
    print(f"{'N':>7} {'M':>7} {'D':>4} {'mode':<11} {'wall s':>8} {'peak MB':>8} {'ns/(N*M)':>9}")
    for r in tab.itertuples():
        print(f"{r.N:>7} {r.M:>7} {r.D:>4} {r.mode:<11} {r.wall_s:>8.1f} {r.peak_MB:>8.0f} "
              f"{1e9 * r.wall_s / (r.N * r.M):>9.2f}")
    ip = tab[tab["mode"] == "in-process"]
    X = np.column_stack([np.ones(len(ip)), ip.N * ip.M, ip.N * ip.M * (ip.D + 1)]).astype(float)
    coef, *_ = np.linalg.lstsq(X, ip.wall_s.to_numpy(), rcond=None)
    t0, a, b = coef
    dec1 = float(np.median(dec))
    print(f"\ncost model (in-process, wall on {os.cpu_count()} cores): wall = {t0:.2f} s + "
          f"{a * 1e9:.3f} ns x N*M + {b * 1e12:.4f} ps x N*M*(D+1)")
    print(f"single-threaded decode (8-bit BGEN, zlib): {dec1 * 1e9:.2f} ns per genotype")
    cores_here = os.cpu_count() or 2
    N, M, D = 500_000, 10_000_000, 256
    dec_cs = max(a * cores_here, 0.0) * N * M
    gemm_cs = max(b * cores_here, 0.0) * N * M * (D + 1)
    alt_dec_cs = dec1 * N * M
    total = dec_cs + gemm_cs
    print(f"\nprojection: N = {N:,}, M = {M:,}, D = {D} (core-seconds = fitted wall x {cores_here} cores)")
    print(f"  decode+impute {dec_cs / 3600:,.0f} core-h (direct single-thread decode: "
          f"{alt_dec_cs / 3600:,.0f} core-h), GEMM/statistics {gemm_cs / 3600:,.0f} core-h, "
          f"total {total / 3600:,.0f} core-h")
    for cores in (100, 1000):
        print(f"  {cores:>5} cores: {total / cores / 3600:6.2f} h "
              f"({total / cores / 60:,.0f} min), perfect scaling of {M // 2000:,} chunk tasks")
    A_bytes = N * (D + 1) * (4 + 8)
    print(f"  not modelled: null fit once on the client; model broadcast {A_bytes / 2**30:.1f} GiB "
          f"per worker (float32 + float64 copies of the N x (D + c) whitened matrix); reading "
          f"~{N * M * float(np.median(bpg)) / 2**40:.1f} TiB of 8-bit BGEN "
          f"({float(np.median(bpg)):.2f} bytes/genotype here) from shared storage")
    if tmp:
        tmp.cleanup()


if __name__ == "__main__":
    main()

"""Benchmark: BGEN dosage reading, gwaskit fast path vs bgen-reader vs plink2.

Generates once (cached under ``benchmarks/_data/``, git-ignored) an 8-bit BGEN v1.2 file
(N=10,000 samples x M=20,000 variants; binomial genotypes with MAF uniform in [0.01, 0.5],
0.1% missing calls), written with ``bed_reader.to_bed`` then ``plink2 --export bgen-1.2 bits=8``.
Then, in one run, times (median of 3):

* gwaskit: a full pass over ``open_genotypes(F).iter_dosages()`` (float32, Fortran order);
* bgen-reader: ``open_bgen(F).read(dtype=float32)`` (probabilities, all in memory);
* plink2: ``plink2 --bgen F ref-last --sample F.sample --freq``.

and prints genotypes/s for each and the ratio gwaskit/plink2.

Usage::

    python benchmarks/bench_bgen.py            # N=10,000 x M=20,000
    python benchmarks/bench_bgen.py --small    # N=2,000 x M=4,000, quick
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
DATA = HERE / "_data"


def make_data(n: int, m: int, plink2: str) -> Path:
    """Write (once) ``_data/bench_N{n}_M{m}.bgen`` (+ .sample) and return its path."""
    import bed_reader

    DATA.mkdir(parents=True, exist_ok=True)
    stem = DATA / f"bench_N{n}_M{m}"
    bgen = stem.with_suffix(".bgen")
    if bgen.exists() and stem.with_suffix(".sample").exists():
        return bgen
    rng = np.random.default_rng(20240601)
    maf = rng.uniform(0.01, 0.5, size=m)
    geno = np.empty((n, m), dtype=np.int8)
    step = 2000
    for j in range(0, m, step):
        p = maf[j : j + step]
        g = rng.binomial(2, p, size=(n, len(p))).astype(np.int8)
        g[rng.random(g.shape) < 0.001] = -127
        geno[:, j : j + step] = g
    with tempfile.TemporaryDirectory(dir=DATA) as tmp:
        bed = Path(tmp) / "g.bed"
        pos = np.arange(1, m + 1, dtype=np.int64) * 100
        bed_reader.to_bed(
            bed,
            geno,
            properties={
                "fid": ["0"] * n,
                "iid": [f"s{i}" for i in range(n)],
                "chromosome": ["1"] * m,
                "sid": [f"rs{j}" for j in range(m)],
                "bp_position": pos,
                "allele_1": ["A"] * m,
                "allele_2": ["G"] * m,
            },
            count_A1=True,
        )
        subprocess.run(
            [plink2, "--bfile", str(bed.with_suffix("")), "--export", "bgen-1.2", "bits=8",
             "--threads", "2", "--out", str(stem)],
            check=True, stdout=subprocess.DEVNULL,
        )
    for extra in (".log",):
        Path(str(stem) + extra).unlink(missing_ok=True)
    return bgen


def time_it(fn, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--small", action="store_true", help="N=2,000 x M=4,000")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--skip-bgen-reader", action="store_true")
    args = ap.parse_args(argv)

    plink2 = shutil.which("plink2")
    if plink2 is None:
        print("plink2 not found on PATH", file=sys.stderr)
        return 1
    n, m = (2000, 4000) if args.small else (10_000, 20_000)
    os.environ.setdefault("BGEN_READER_CACHE_HOME", str(DATA / "cache" / "bgen-reader"))
    os.environ.setdefault("BGEN_CACHE_HOME", str(DATA / "cache" / "cbgen"))
    os.environ.setdefault("GWASKIT_CACHE_DIR", str(DATA / "cache" / "gwaskit"))
    bgen = make_data(n, m, plink2)
    sample = bgen.with_suffix(".sample")
    ng = n * m
    print(f"file: {bgen.name} ({bgen.stat().st_size / 1e6:.1f} MB), N={n:,} x M={m:,} = {ng:,} genotypes")
    print(f"cpus: {os.cpu_count()} (machine shared with other jobs; figures are indicative)")

    from gwaskit.io.genotypes import open_genotypes

    def gwaskit_pass():
        total = 0.0
        with open_genotypes(bgen, sample) as r:
            for _, d in r.iter_dosages(chunk_size=1000):
                total += float(d[0, 0]) if d.size else 0.0
        return total

    gwaskit_pass()  # warm-up: numba compilation / cache load, page cache
    t_fast = time_it(gwaskit_pass, args.repeats)

    t_br = float("nan")
    if not args.skip_bgen_reader:
        from bgen_reader import open_bgen

        meta = DATA / "cache" / f"{bgen.name}.metadata2.mmm"
        meta.parent.mkdir(parents=True, exist_ok=True)

        def br_pass():
            with open_bgen(bgen, verbose=False, metadata_filepath=meta.resolve()) as b:
                b.read(dtype=np.float32)

        br_pass()
        t_br = time_it(br_pass, args.repeats)

    out = DATA / "plink2_freq"

    def plink2_pass():
        subprocess.run(
            [plink2, "--bgen", str(bgen), "ref-last", "--sample", str(sample), "--freq",
             "--out", str(out)],
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )

    plink2_pass()
    t_p2 = time_it(plink2_pass, args.repeats)

    def line(name, t):
        print(f"{name:<34s} {t:8.3f} s  {ng / t / 1e6:9.1f} M genotypes/s")

    print(f"median of {args.repeats}:")
    line("gwaskit iter_dosages (float32)", t_fast)
    if not args.skip_bgen_reader:
        line("bgen-reader open_bgen.read(f32)", t_br)
    line("plink2 --bgen ref-last --freq", t_p2)
    print(f"ratio gwaskit/plink2 throughput: {t_p2 / t_fast:.2f}x")
    if not args.skip_bgen_reader:
        print(f"ratio gwaskit/bgen-reader throughput: {t_br / t_fast:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())

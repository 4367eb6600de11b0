"""Small simulated data sets with realistic LD for the LD / loci tests (msprime)."""
from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pandas as pd


def simulate_genotypes(n=1000, length=3e6, seed=42, maf=0.01, demes=None):
    """Hard-called diploid genotypes (n × m, counting the derived allele) and positions."""
    import msprime

    if demes is None:
        ts = msprime.sim_ancestry(
            samples=n, sequence_length=length, recombination_rate=1e-8,
            population_size=10_000, ploidy=2, random_seed=seed,
        )
    else:
        k, per, mig = demes
        dem = msprime.Demography.island_model([5_000] * k, migration_rate=mig)
        ts = msprime.sim_ancestry(
            samples={f"pop_{i}": per for i in range(k)}, demography=dem,
            sequence_length=length, recombination_rate=1e-8, ploidy=2, random_seed=seed,
        )
    ts = msprime.sim_mutations(ts, rate=1.25e-8, random_seed=seed + 1)
    H = ts.genotype_matrix()  # sites × haplotypes
    pos = ts.tables.sites.position.astype(np.int64) + 1
    keep = (H.max(axis=1) <= 1)
    G = (H[:, 0::2] + H[:, 1::2]).astype(np.float32).T  # n × sites
    af = G.mean(axis=0) / 2
    keep &= (np.minimum(af, 1 - af) >= maf)
    _, first = np.unique(pos, return_index=True)
    uniq = np.zeros_like(keep)
    uniq[first] = True
    keep &= uniq
    pop = None
    if demes is not None:
        pop = np.array([ts.node(ts.individual(i).nodes[0]).population for i in range(ts.num_individuals)])
    return G[:, keep], pos[keep], pop


def write_bed(prefix, G, pos, chrom="1", alleles=None):
    """Write a .bed (count_A1: dosage = copies of the .bim column-5 allele)."""
    from bed_reader import to_bed

    m = G.shape[1]
    n = G.shape[0]
    if alleles is None:
        rng = np.random.default_rng(7)
        bases = np.array(["A", "C", "G", "T"])
        a1 = rng.integers(0, 4, m)
        a2 = (a1 + rng.integers(1, 4, m)) % 4
        alleles = (bases[a1], bases[a2])
    props = {
        "fid": [f"f{i}" for i in range(n)],
        "iid": [f"i{i}" for i in range(n)],
        "sid": [f"rs{j + 1}" for j in range(m)],
        "chromosome": [chrom] * m,
        "bp_position": pos,
        "allele_1": list(alleles[0]),
        "allele_2": list(alleles[1]),
    }
    to_bed(str(prefix) + ".bed", G, properties=props, count_A1=True, num_threads=1)
    return str(prefix)


def simulate_gwas(G, seed=1, n_causal=6, h2=0.2, min_maf=0.05):
    """Quantitative trait with a few causal variants; per-variant OLS p-values."""
    from scipy import stats

    rng = np.random.default_rng(seed)
    n, m = G.shape
    af = G.mean(axis=0) / 2
    ok = np.flatnonzero(np.minimum(af, 1 - af) >= min_maf)
    causal = np.sort(rng.choice(ok, n_causal, replace=False))
    X = G[:, causal] - G[:, causal].mean(axis=0)
    g = X @ rng.normal(size=n_causal)
    g *= np.sqrt(h2 / g.var())
    y = g + rng.normal(scale=np.sqrt(1 - h2), size=n)
    Gc = G - G.mean(axis=0)
    yc = y - y.mean()
    sxx = (Gc ** 2).sum(axis=0)
    beta = Gc.T @ yc / sxx
    resid = (yc ** 2).sum() - beta ** 2 * sxx
    se = np.sqrt(resid / (n - 2) / sxx)
    t = beta / se
    p = 2 * stats.t.sf(np.abs(t), n - 2)
    return beta, se, p, causal, y


@functools.lru_cache(maxsize=None)
def clump_dataset(basedir: str):
    """1,000 diploids over 3 Mb, bed + a GWAS report (SNP CHR BP A1 BETA SE P)."""
    base = Path(basedir)
    base.mkdir(parents=True, exist_ok=True)
    G, pos, _ = simulate_genotypes(n=1000, length=3e6, seed=42)
    prefix = write_bed(base / "sim", G, pos)
    beta, se, p, causal, y = simulate_gwas(G, seed=3, n_causal=8, h2=0.25)
    from bed_reader import open_bed

    with open_bed(prefix + ".bed", count_A1=True, num_threads=1) as bed:
        a1 = bed.allele_1
    ss = pd.DataFrame({
        "SNP": [f"rs{j + 1}" for j in range(G.shape[1])], "CHR": 1, "BP": pos,
        "A1": a1, "BETA": beta, "SE": se, "P": p,
    })
    ss.to_csv(base / "ss.txt", sep=" ", index=False, float_format="%.6g")
    return prefix, str(base / "ss.txt"), G, pos, causal, y

"""Small genotype fixtures for the tests of gwaskit.io (made at test time in tmp dirs)."""
from __future__ import annotations

import os
import struct
import subprocess
import zlib
from pathlib import Path

import numpy as np
import pandas as pd


def random_genotypes(n: int, m: int, seed: int, missing_rate: float = 0.02) -> np.ndarray:
    """(n, m) float64 hard calls 0/1/2 with NaN missing; varied allele frequencies."""
    rng = np.random.default_rng(seed)
    maf = rng.uniform(0.02, 0.5, size=m)
    g = rng.binomial(2, maf, size=(n, m)).astype(np.float64)
    g[rng.random((n, m)) < missing_rate] = np.nan
    return g


def variant_table(m: int, chrom: str = "1", start: int = 1000, step: int = 37) -> pd.DataFrame:
    rng = np.random.default_rng(m)
    bases = np.array(list("ACGT"))
    a1 = bases[rng.integers(0, 4, m)]
    a2 = bases[(np.searchsorted(bases, a1) + rng.integers(1, 4, m)) % 4]
    return pd.DataFrame(
        {
            "chromosome": [chrom] * m,
            "base_pair_location": start + step * np.arange(m, dtype=np.int64),
            "variant_id": [f"rs{chrom}_{i}" for i in range(m)],
            "effect_allele": a1,
            "other_allele": a2,
        }
    )


def write_bed(prefix: Path, geno: np.ndarray, variants: pd.DataFrame, iids=None) -> Path:
    """PLINK 1 fileset counting ``effect_allele`` (written as .bim column 5)."""
    import bed_reader

    n, m = geno.shape
    iids = iids if iids is not None else [f"s{i}" for i in range(n)]
    g = np.where(np.isnan(geno), -127, geno).astype(np.int8)
    bed = Path(str(prefix) + ".bed")
    bed_reader.to_bed(
        bed,
        g,
        properties={
            "fid": ["0"] * n,
            "iid": list(iids),
            "chromosome": list(variants["chromosome"]),
            "sid": list(variants["variant_id"]),
            "bp_position": variants["base_pair_location"].to_numpy(),
            "allele_1": list(variants["effect_allele"]),
            "allele_2": list(variants["other_allele"]),
        },
        count_A1=True,
    )
    return bed


def run(cmd: list[str]) -> None:
    r = subprocess.run([str(c) for c in cmd], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd))} failed:\n{r.stdout}\n{r.stderr}")


def plink2_raw(plink2: str, bgen: Path, sample: Path, out: Path, effect: pd.Series) -> np.ndarray:
    """``plink2 --bgen F ref-last --sample S --export A`` -> (n, m) dosages of ``effect`` alleles
    (columns whose counted allele is not the effect allele are flipped), NaN = missing."""
    run([plink2, "--bgen", bgen, "ref-last", "--sample", sample, "--export", "A",
         "--threads", "1", "--out", out])
    raw = pd.read_csv(str(out) + ".raw", sep="\t", na_values=["NA"])
    cols = raw.columns[6:]
    vals = raw[cols].to_numpy(dtype=np.float64)
    counted = [c.rsplit("_", 1)[1] for c in cols]
    flip = np.array([c != e for c, e in zip(counted, effect)])
    vals[:, flip] = 2.0 - vals[:, flip]
    return vals


def bgen_reader_dosage(path: Path, cache: Path) -> np.ndarray:
    """(n, m) dosage of allele 1 from bgen-reader ``read()`` probabilities (formats 2.3)."""
    from bgen_reader import open_bgen

    cache.mkdir(parents=True, exist_ok=True)
    meta = (cache / (Path(path).name + ".metadata2.mmm")).resolve()
    with open_bgen(path, verbose=False, metadata_filepath=meta) as b:
        phased = np.array(b.phased)
        nalleles = np.array(b.nalleles)
        d = np.full((b.nsamples, b.nvariants), np.nan)
        # read phased and unphased variants separately: bgen-reader 4.0.9 sizes its output by
        # the first variant's number of probabilities and fails on files that mix the two
        for ph in (False, True):
            idx = np.flatnonzero(phased == ph)
            if len(idx) == 0:
                continue
            p = np.array(b.read(np.s_[:, idx], dtype=np.float64))
            d[:, idx] = p[..., 0] + p[..., 2] if ph else 2 * p[..., 0] + p[..., 1]
    return d[:, nalleles == 2]
    return d


def cbgen_dosage(path: Path, cache: Path) -> np.ndarray:
    """(n, m) dosage of allele 1 from cbgen, variant by variant (each block's own phased flag).

    Used where bgen-reader 4.0.9 is wrong: it takes the phased flag of the first variant for
    all variants, and plink2 writes variants without heterozygous calls unphased in a phased
    export.
    """
    from cbgen import bgen_file, bgen_metafile

    cache.mkdir(parents=True, exist_ok=True)
    mfp = (cache / (Path(path).name + ".cbgen.mf")).resolve()
    cols = []
    with bgen_file(path) as b:
        b.create_metafile(mfp, verbose=False)
        with bgen_metafile(mfp) as mf:
            for k in range(mf.npartitions):
                part = mf.read_partition(k)
                for off, na in zip(part.variants.offset, part.variants.nalleles):
                    if na != 2:
                        continue
                    g = b.read_genotype(off)
                    p = np.asarray(g.probability, dtype=np.float64)
                    d = p[:, 0] + p[:, 2] if g.phased else 2 * p[:, 0] + p[:, 1]
                    haploid = np.asarray(g.ploidy) == 1
                    d[haploid] = p[haploid, 0]  # expected copies of allele 1 (0..1)
                    d[np.asarray(g.missing)] = np.nan
                    cols.append(d)
    mfp.unlink()
    return np.column_stack(cols)


def phased_vcf(path: Path, n_ind: int, seed: int, contig: str = "3") -> Path:
    """A phased VCF from msprime (biallelic and a few multi-allelic sites)."""
    import msprime

    ts = msprime.sim_ancestry(samples=n_ind, sequence_length=2e5, recombination_rate=1e-8,
                              population_size=10_000, random_seed=seed)
    ts = msprime.sim_mutations(ts, rate=2e-8, random_seed=seed + 1)
    with open(path, "w") as fh:
        ts.write_vcf(fh, contig_id=contig,
                     position_transform=lambda x: 1 + np.floor(np.asarray(x)).astype(int),
                     individual_names=[f"i{k}" for k in range(n_ind)])
    return path


def vcf_alt_counts(path: Path) -> tuple[list[str], np.ndarray]:
    """(IDs 'rs<chrom>_<pos>_<ref>', (n, m) ALT counts) of the biallelic VCF records."""
    ids, rows = [], []
    with open(path) as fh:
        for line in fh:
            if line.startswith("#"):
                continue
            f = line.rstrip("\n").split("\t")
            if "," in f[4]:
                continue
            ids.append((f[0], int(f[1]), f[3], f[4]))
            rows.append([int(gt[0]) + int(gt[2]) for gt in f[9:]])
    return ids, np.array(rows, dtype=np.float64).T


def bgen_bytes_v11(n: int) -> bytes:
    """A tiny hand-made BGEN v1.1 (layout 1) file with one variant."""
    flags = 1 | (1 << 2)  # zlib, layout 1
    lh = 20
    head = struct.pack("<III", lh, 1, n) + b"bgen" + struct.pack("<I", flags)
    offset = lh
    variant = struct.pack("<I", n) + struct.pack("<H", 2) + b"v1" + struct.pack("<H", 3) + b"rs1"
    variant += struct.pack("<H", 1) + b"1" + struct.pack("<I", 100)
    variant += struct.pack("<I", 1) + b"A" + struct.pack("<I", 1) + b"G"
    probs = zlib.compress(struct.pack("<" + "HHH" * n, *([32768, 0, 0] * n)))
    variant += struct.pack("<I", len(probs)) + probs
    return struct.pack("<I", offset) + head + variant


def multiallelic_block(n: int, chrom: str = "1", pos: int = 5, vid: str = "rsmulti") -> bytes:
    """A layout-2 uncompressed variant with three alleles (for files with compression flag 0)."""
    head = struct.pack("<H", 0) + struct.pack("<H", len(vid)) + vid.encode()
    head += struct.pack("<H", len(chrom)) + chrom.encode() + struct.pack("<IH", pos, 3)
    for a in ("A", "C", "G"):
        head += struct.pack("<I", 1) + a.encode()
    # N, K=3, pmin=pmax=2, ploidy bytes, unphased, 8 bits, 5 values per sample (C(4,2)-1)
    data = struct.pack("<IHBB", n, 3, 2, 2) + bytes([2] * n) + bytes([0, 8]) + bytes(5 * n)
    return head + struct.pack("<I", len(data)) + data


def read_only_tree(path: Path) -> None:
    for root, dirs, files in os.walk(path):
        for f in files:
            os.chmod(os.path.join(root, f), 0o444)
        os.chmod(root, 0o555)


def writable_tree(path: Path) -> None:
    for root, dirs, files in os.walk(path):
        os.chmod(root, 0o755)
        for f in files:
            os.chmod(os.path.join(root, f), 0o644)

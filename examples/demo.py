"""The main job end to end on simulated data (``make demo``).

Steps (every gwaskit / gemcont step runs the command line, with the same Python, and prints
the command so that the demo doubles as documentation):

0. BGEN round trip: write a BGEN with the project's writer, decode it with the fast path.
1. ``gwaskit simulate``: msprime cohort (LD), latent trait z, external GWAS of z.
2. ``gwaskit panel``: external GWAS -> p < 1e-5 -> aligned to the cohort -> LD-clumped panel.
3. Phenotype images: an MNIST digit per individual rotated by ``alpha_max * tanh(c z)``
   (PNG files + an ``IID, path, split`` table); split train / val / held-out (test).
4. ``gemcont train`` (CPU, a few epochs) and ``gemcont embed``.
5. ``gemcont evaluate``: held-out ridge R² of z from the embeddings.
6. ``gwaskit scan`` of the held-out individuals' embeddings (10 PCs, rank-INT, exact D-df test),
   and, for reference, of the true z in the same individuals.
7. ``gwaskit clump`` of the scan, ``gwaskit overlap`` against the causal variants.
8. ``gwaskit plot manhattan|qq`` and ``report.md``.

All outputs go under ``--out`` (default ``runs/demo``); every command passes ``--overwrite``,
so re-running replaces earlier outputs.
"""
from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

PY = sys.executable
GWASKIT = [PY, "-m", "gwaskit.cli.main"]
GEMCONT = [PY, "-m", "learners.gemcont.cli"]


@dataclass
class DemoSize:
    """Sizes of one demo run (``full``: make demo; ``quick``: tests)."""

    n: int = 4000
    n_external: int = 4000
    chromosomes: int = 3
    length_mb: float = 3.0
    h2: float = 0.8
    n_causal: int = 10
    alpha_max: float = 45.0
    heldout_fraction: float = 0.5
    val_fraction: float = 0.05
    epochs: int = 15
    batch_size: int = 128
    embed_dim: int = 32
    cnn_widths: tuple = (8, 16, 32)
    scan_pca: int = 10
    bgen_samples: int = 5000
    bgen_variants: int = 10000
    seed: int = 1


SIZES = {
    "full": DemoSize(),
    "quick": DemoSize(n=300, n_external=600, chromosomes=1, length_mb=1.0, h2=0.9, n_causal=3,
                      epochs=1, batch_size=32, embed_dim=8, cnn_widths=(4, 8), scan_pca=3,
                      bgen_samples=200, bgen_variants=500, val_fraction=0.1),
}


def sh(args: list[str], log: list[str] | None = None) -> subprocess.CompletedProcess:
    """Print and run one command; stop the demo if it fails."""
    shown = " ".join(shlex.quote(a) for a in _display(args))
    print(f"\n$ {shown}", flush=True)
    if log is not None:
        log.append(shown)
    res = subprocess.run(args, text=True, stdout=subprocess.PIPE)
    if res.stdout:
        print(res.stdout.rstrip(), flush=True)
    if res.returncode != 0:
        raise SystemExit(f"demo: command failed with exit code {res.returncode}: {shown}")
    return res


def _display(args: list[str]) -> list[str]:
    """``python -m gwaskit.cli.main`` is shown as ``gwaskit`` (the installed command)."""
    if args[:3] == GWASKIT:
        return ["gwaskit"] + args[3:]
    if args[:3] == GEMCONT:
        return ["gemcont"] + args[3:]
    return args


def step_bgen_roundtrip(out: Path, n_samples: int = 5000, n_variants: int = 10000,
                        seed: int = 1) -> Path:
    """Write an 8-bit BGEN of binomial genotypes, then decode it with the fast path."""
    from gwaskit.io.bgen_writer import write_bgen
    from gwaskit.io.genotypes import open_genotypes

    rng = np.random.default_rng(seed)
    maf = rng.uniform(0.01, 0.5, n_variants)
    samples = [f"ind{i}" for i in range(n_samples)]
    variants = pd.DataFrame({
        "chromosome": "1",
        "base_pair_location": np.arange(1, n_variants + 1) * 100,
        "variant_id": [f"rs{i}" for i in range(n_variants)],
        "effect_allele": "A",
        "other_allele": "G",
    })
    dosages = rng.binomial(2, maf, size=(n_samples, n_variants)).astype(np.float32)
    path = out / "demo.bgen"
    if path.exists():
        path.unlink()
    t0 = time.perf_counter()
    write_bgen(path, samples, variants, dosages=dosages, bits=8)
    t_write = time.perf_counter() - t0

    t0 = time.perf_counter()
    with open_genotypes(path) as reader:
        checksum = 0.0
        for _, block in reader.iter_dosages(chunk_size=2000):
            checksum += float(np.nansum(block, dtype=np.float64))
    t_read = time.perf_counter() - t0
    if checksum != float(dosages.sum(dtype=np.float64)):
        raise SystemExit("demo: dosages read back differ from those written")
    n = n_samples * n_variants
    print(f"[bgen] wrote {path} ({n_samples} samples x {n_variants} variants, "
          f"{path.stat().st_size / 1e6:.1f} MB) in {t_write:.2f} s")
    print(f"[bgen] fast path decoded {n / 1e6:.1f} M genotypes in {t_read:.2f} s "
          f"({n / t_read / 1e6:.0f} M genotypes/s); sums match")
    return path


def write_images(out: Path, phenotypes: pd.DataFrame, size: DemoSize) -> tuple[Path, pd.DataFrame]:
    """Rotated digits as PNG files and the ``IID, path, split`` table for ``gemcont train``."""
    from PIL import Image

    from learners.gemcont.datasets import rotated_digits

    rd = rotated_digits(phenotypes["z"].to_numpy(), alpha_max=size.alpha_max, seed=size.seed)
    img_dir = out / "images"
    img_dir.mkdir(parents=True, exist_ok=True)
    n = len(phenotypes)
    rng = np.random.default_rng(size.seed)
    perm = rng.permutation(n)
    n_test = int(round(size.heldout_fraction * n))
    n_val = int(round(size.val_fraction * n))
    split = np.full(n, "train", dtype=object)
    split[perm[:n_test]] = "test"
    split[perm[n_test:n_test + n_val]] = "val"
    paths = []
    for iid, img in zip(phenotypes["IID"].astype(str), rd.images):
        rel = f"images/{iid}.png"
        Image.fromarray(img).save(out / rel)
        paths.append(rel)
    table = pd.DataFrame({"IID": phenotypes["IID"].astype(str), "path": paths, "split": split,
                          "angle": np.round(rd.angles, 3), "digit": rd.labels})
    path = out / "images.csv"
    table.to_csv(path, index=False)
    # a contact sheet for the report: 8 individuals from low to high z
    order = np.argsort(phenotypes["z"].to_numpy())
    pick = order[np.linspace(0, n - 1, 8).round().astype(int)]
    sheet = np.concatenate([rd.images[i] for i in pick], axis=1)
    Image.fromarray(sheet).resize((sheet.shape[1] * 3, sheet.shape[0] * 3),
                                  Image.Resampling.NEAREST).save(out / "digits.png")
    print(f"[images] {n} rotated digits in {img_dir} (alpha = {size.alpha_max:g} tanh(0.5 z)); "
          f"split: {int((split == 'train').sum())} train, {n_val} val, {n_test} held-out")
    return path, table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/demo"))
    parser.add_argument("--size", choices=sorted(SIZES), default="full",
                        help="full: make demo (a few minutes); quick: seconds (tests)")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    size = SIZES[args.size]
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    timings: dict[str, float] = {}
    cmds: list[str] = []

    def lap(name: str, t0: float) -> None:
        timings[name] = round(time.perf_counter() - t0, 1)

    t0 = time.perf_counter()
    print("== step 0: BGEN round trip (project writer, fast reader)")
    step_bgen_roundtrip(out, size.bgen_samples, size.bgen_variants)
    lap("bgen round trip", t0)

    cohort = out / "cohort"
    bgen = str(cohort / "chr*.bgen")
    t0 = time.perf_counter()
    print("\n== step 1: simulate a cohort with LD, a latent trait z and an external GWAS")
    sh(GWASKIT + ["simulate", "--out", str(cohort), "--n", str(size.n), "--n-external",
                  str(size.n_external), "--chromosomes", str(size.chromosomes), "--length-mb",
                  str(size.length_mb), "--h2", str(size.h2), "--n-causal", str(size.n_causal),
                  "--seed", str(size.seed), "--overwrite", "--quiet"], cmds)
    lap("simulate", t0)
    manifest = json.loads((cohort / "manifest.json").read_text())

    t0 = time.perf_counter()
    print("\n== step 2: variant panel from the external GWAS (p < 1e-5, LD-clumped)")
    panel = out / "panel.tsv"
    sh(GWASKIT + ["panel", "--sumstats", str(cohort / "external_gwas.tsv"), "--bgen", bgen,
                  "--out", str(panel), "--overwrite", "--quiet"], cmds)
    panel_meta = json.loads(Path(str(panel) + ".meta.json").read_text())
    panel_size = int(panel_meta["counts"]["panel"])
    print(f"[panel] {panel_size} variants ({panel_meta['counts']['significant']} with p < 1e-5 "
          f"in the external GWAS)")
    lap("panel", t0)

    t0 = time.perf_counter()
    print("\n== step 3: phenotype images (rotated MNIST digits driven by z)")
    pheno = pd.read_parquet(cohort / "phenotypes.parquet")
    images, table = write_images(out, pheno, size)
    lap("images", t0)

    t0 = time.perf_counter()
    print("\n== step 4: train GEMCONT on the training split (CPU), export embeddings")
    train_dir = out / "gemcont"
    cfg = {
        "method": "gemcont", "out_dir": str(train_dir), "device": "cpu", "seed": size.seed,
        "images": str(images), "genotypes": sorted(str(p) for p in cohort.glob("chr*.bgen")),
        "panel": str(panel), "epochs": size.epochs, "batch_size": size.batch_size,
        "warmup_epochs": 1, "lr": 0.002, "embed_dim": size.embed_dim,
        "cnn_widths": list(size.cnn_widths), "progress": False,
    }
    import yaml

    cfg_path = out / "gemcont.yaml"
    cfg_path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    print(f"[train] config {cfg_path}:\n" + "\n".join("    " + line for line in
                                                       cfg_path.read_text().splitlines()))
    import os

    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    sh(GEMCONT + ["--quiet", "train", "--config", str(cfg_path)], cmds)
    lap("train", t0)
    t0 = time.perf_counter()
    emb = out / "embeddings.parquet"
    sh(GEMCONT + ["--quiet", "embed", "--checkpoint", str(train_dir / "last.pt"), "--out",
                  str(emb), "--device", "cpu", "--overwrite"], cmds)
    from learners.gemcont.train import load_checkpoint

    history = load_checkpoint(train_dir / "last.pt")["history"]
    losses = [float(h["train_loss"]) for h in history]
    edf = pd.read_parquet(emb)
    held = edf[edf["split"] == "test"].reset_index(drop=True)
    held_path = out / "embeddings_heldout.parquet"
    held.to_parquet(held_path, index=False)
    print(f"[embed] {len(edf)} embeddings, {len(held)} held-out -> {held_path}")
    lap("embed", t0)

    t0 = time.perf_counter()
    print("\n== step 5: held-out ridge R² of z from the embeddings (5 random 50/50 splits)")
    res = sh(GEMCONT + ["--quiet", "evaluate", "--embeddings", str(emb), "--targets",
                        str(cohort / "phenotypes.parquet"), "--column", "z", "--split", "test",
                        "--json"], cmds)
    r2 = json.loads(res.stdout)
    lap("evaluate", t0)

    t0 = time.perf_counter()
    print("\n== step 6: multi-trait scan of the held-out embeddings (and of the true z)")
    scan = out / "scan.parquet"
    pca = min(size.scan_pca, size.embed_dim)
    sh(GWASKIT + ["scan", "--bgen", bgen, "--pheno", str(held_path), "--pheno-cols", "emb_*",
                  "--pca", str(pca), "--out", str(scan), "--overwrite", "--quiet"], cmds)
    z_held = pheno[pheno["IID"].astype(str).isin(held["IID"])][["IID", "z"]]
    z_path = out / "z_heldout.parquet"
    z_held.to_parquet(z_path, index=False)
    scan_z = out / "scan_true_z.parquet"
    sh(GWASKIT + ["scan", "--bgen", bgen, "--pheno", str(z_path), "--pheno-cols", "z",
                  "--no-pca", "--out", str(scan_z), "--overwrite", "--quiet"], cmds)
    lap("scan", t0)

    t0 = time.perf_counter()
    print("\n== step 7: clump the scan; overlap with the causal variants")
    clumps = out / "clumps.tsv"
    sh(GWASKIT + ["clump", "--sumstats", str(scan), "--bgen", bgen, "--preset", "seed",
                  "--out", str(clumps), "--overwrite", "--quiet"], cmds)
    overlap = out / "overlap.tsv"
    sh(GWASKIT + ["overlap", "--reference", str(cohort / "causal.tsv"), "--scan", str(scan),
                  "--window-kb", "250", "--out", str(overlap), "--overwrite"], cmds)
    ov = json.loads(Path(str(overlap) + ".summary.json").read_text())
    overlap_z = out / "overlap_true_z.tsv"
    sh(GWASKIT + ["overlap", "--reference", str(cohort / "causal.tsv"), "--scan", str(scan_z),
                  "--window-kb", "250", "--out", str(overlap_z), "--overwrite", "--quiet"], cmds)
    ov_z = json.loads(Path(str(overlap_z) + ".summary.json").read_text())
    lap("clump + overlap", t0)

    t0 = time.perf_counter()
    print("\n== step 8: figures and report")
    sh(GWASKIT + ["plot", "manhattan", str(scan), "--out", str(out / "manhattan.png"),
                  "--clumps", str(clumps), "--title", "GEMCONT embedding, held-out individuals",
                  "--overwrite", "--quiet"], cmds)
    sh(GWASKIT + ["plot", "qq", str(scan), "--out", str(out / "qq.png"), "--overwrite",
                  "--quiet"], cmds)
    lap("plots", t0)

    sres = pd.read_parquet(scan)
    zres = pd.read_parquet(scan_z)
    cl = (pd.read_csv(clumps, sep="\t") if clumps.exists() and clumps.stat().st_size
          else pd.DataFrame())
    scan_meta = json.loads(Path(str(scan) + ".meta.json").read_text())
    numbers = {
        "n_individuals": size.n, "n_external": size.n_external,
        "n_variants": int(manifest["n_variants"]), "h2_target": size.h2,
        "h2_realised": round(float(manifest["realised_h_g"]), 4), "n_causal": size.n_causal,
        "panel_size": panel_size, "epochs": size.epochs,
        "train_loss_first": round(losses[0], 4), "train_loss_last": round(losses[-1], 4),
        "n_train": int((table["split"] == "train").sum()), "n_heldout": int(len(held)),
        "r2_z_mean": round(r2["mean"], 4), "r2_z_std": round(r2["std"], 4),
        "scan_d": int(scan_meta.get("d", pca)),
        "lambda_gc": round(float(scan_meta["lambda_gc"]), 4),
        "genome_wide_variants": int((sres["p_value"] < 5e-8).sum()),
        "genome_wide_loci": int(len(cl)),
        "causal_recovered": int(ov["n_recovered"]), "recovered_fraction": round(ov["fraction"], 4),
        "recovered_ci95": [round(ov["ci95_low"], 3), round(ov["ci95_high"], 3)],
        "true_z_genome_wide_variants": int((zres["p_value"] < 5e-8).sum()),
        "true_z_causal_recovered": int(ov_z["n_recovered"]),
        "true_z_recovered_fraction": round(ov_z["fraction"], 4),
        "timings_s": timings,
    }
    numbers["wall_seconds"] = round(time.perf_counter() - t_start, 1)
    (out / "numbers.json").write_text(json.dumps(numbers, indent=2) + "\n")
    report = write_report(out, numbers, cmds, losses, size)
    print(f"\n[demo] report {report}")
    print(f"[demo] {numbers['genome_wide_loci']} genome-wide loci; {ov['n_recovered']}/"
          f"{ov['n_loci']} causal loci recovered; held-out R² of z {r2['mean']:.3f}; "
          f"wall time {numbers['wall_seconds']:.0f} s")
    print(f"[demo] results are in {out.resolve()}")
    return 0


def write_report(out: Path, x: dict, cmds: list[str], losses: list[float], size: DemoSize) -> Path:
    """``report.md``: numbers, figures and the commands that made them."""
    strong = x["recovered_fraction"] > 0 and x["genome_wide_loci"] > 0
    verdict = (
        f"The held-out scan of the GEMCONT embedding finds {x['genome_wide_loci']} genome-wide "
        f"locus/loci and recovers {x['causal_recovered']} of {x['n_causal']} causal loci "
        f"(the true z, scanned in the same individuals, recovers {x['true_z_causal_recovered']})."
        if strong else
        "At this scale the GEMCONT embedding is too weak: its held-out scan has no genome-wide "
        f"hit at a causal locus (the true z, scanned in the same individuals, recovers "
        f"{x['true_z_causal_recovered']} of {x['n_causal']}). Train longer or on more "
        "individuals.")
    lines = [
        "# GEMCONT demo report", "",
        f"Simulated cohort: {x['n_individuals']} individuals, {x['n_variants']} variants on "
        f"{size.chromosomes} chromosomes (msprime, LD), h² = {x['h2_target']} "
        f"(realised {x['h2_realised']}), {x['n_causal']} causal variants; external GWAS in "
        f"{x['n_external']} other individuals. Phenotype: an MNIST digit rotated by "
        f"{size.alpha_max:g}·tanh(0.5 z).", "",
        "![digits from low to high z](digits.png)", "",
        "| quantity | value |", "|---|---|",
        f"| panel size (external GWAS p < 1e-5, clumped) | {x['panel_size']} |",
        f"| training individuals / held-out | {x['n_train']} / {x['n_heldout']} |",
        f"| GEMCONT training loss, epoch 1 → {x['epochs']} | {x['train_loss_first']:.3f} → "
        f"{x['train_loss_last']:.3f} |",
        f"| held-out ridge R² of z (5 random 50/50 splits) | {x['r2_z_mean']:.3f} ± "
        f"{x['r2_z_std']:.3f} |",
        f"| scan: D (PCs of the embedding), λ_GC (D-df) | {x['scan_d']}, {x['lambda_gc']:.3f} |",
        f"| genome-wide variants (p < 5e-8) / clumped loci | {x['genome_wide_variants']} / "
        f"{x['genome_wide_loci']} |",
        f"| causal loci recovered (±250 kb, p < 5e-8) | {x['causal_recovered']}/{x['n_causal']} "
        f"= {x['recovered_fraction']:.2f} (95% CI {x['recovered_ci95'][0]:.2f}–"
        f"{x['recovered_ci95'][1]:.2f}) |",
        f"| reference: scan of the true z (same individuals) | "
        f"{x['true_z_genome_wide_variants']} genome-wide variants, "
        f"{x['true_z_causal_recovered']}/{x['n_causal']} causal loci |",
        f"| wall time | {x['wall_seconds']:.0f} s |", "",
        verdict, "",
        "![Manhattan plot](manhattan.png)", "", "![QQ plot](qq.png)", "",
        "Training loss per epoch: " + ", ".join(f"{v:.3f}" for v in losses), "",
        "## Commands", "", "```bash", *cmds, "```", "",
        "Step times (s): " + ", ".join(f"{k} {v}" for k, v in x["timings_s"].items()), "",
    ]
    path = out / "report.md"
    path.write_text("\n".join(lines))
    return path


if __name__ == "__main__":
    sys.exit(main())

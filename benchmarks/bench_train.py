"""GEMCONT training throughput (samples/s) on simulated 28x28 glyphs with S = 500 variants.

Times full optimiser steps (data from memory, augmentation, SCARF, forward, CLIP loss,
backward, AdamW, clamp) of the default model (ResNet-style CNN, D = 256), after warm-up steps,
and the export pass (embedding, no gradient). CPU by default; on a GPU run
``--device cuda`` (batch 1024, bf16 autocast). Prints the figures; no peer tool exists, so the
ratio printed is training vs. embedding throughput.

    python benchmarks/bench_train.py                      # CPU, batch 256
    python benchmarks/bench_train.py --device cuda        # GPU, batch 1024
"""
from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import torch  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batch-size", type=int, default=0, help="default: 1024 cuda, 256 cpu")
    ap.add_argument("--variants", type=int, default=500)
    ap.add_argument("--steps", type=int, default=0, help="timed steps (default 50 cuda, 8 cpu)")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--loss", default="clip")
    args = ap.parse_args()

    from learners.gemcont.config import GemcontConfig
    from learners.gemcont.data import make_loader
    from learners.gemcont.simulate import glyph_cohort_arrays, simulate_glyph_cohort
    from learners.gemcont.train import Trainer

    torch.set_num_threads(args.threads)
    cuda = args.device.startswith("cuda")
    bs = args.batch_size or (1024 if cuda else 256)
    steps = args.steps or (50 if cuda else 8)
    n = bs * 2
    t0 = time.perf_counter()
    sim = simulate_glyph_cohort(n=n, n_variants=args.variants, image_size=28, seed=0)
    cohort = glyph_cohort_arrays(sim, val_fraction=0.0, test_fraction=0.0)
    t_sim = time.perf_counter() - t0
    cfg = GemcontConfig(device=args.device, batch_size=bs, epochs=100, out_dir="",
                        progress=False, loss=args.loss,
                        augment={"translate": {"max_frac": 0.05}, "noise": {"std": 0.05}})
    tr = Trainer(cfg, cohort, out_dir="")
    n_params = sum(p.numel() for p in tr.model.parameters())
    batches = []
    for batch in make_loader(tr.train_ds, tr.sampler):
        batches.append(tr._to_device(batch))
    tr.model.train()

    def sync() -> None:
        if cuda:
            torch.cuda.synchronize()

    for i in range(args.warmup):
        tr.train_step(batches[i % len(batches)])
    sync()
    t0 = time.perf_counter()
    for i in range(steps):
        loss, _ = tr.train_step(batches[i % len(batches)])
    sync()
    dt = time.perf_counter() - t0
    train_rate = steps * bs / dt
    t0 = time.perf_counter()
    emb = tr.embed(batch_size=bs)
    sync()
    dt_e = time.perf_counter() - t0
    embed_rate = len(emb) / dt_e
    dev = torch.cuda.get_device_name() if cuda else f"cpu ({torch.get_num_threads()} threads, " \
                                                      f"{os.cpu_count()} cores visible)"
    print(f"device: {dev}; torch {torch.__version__}; precision {tr.precision}")
    print(f"model: cnn D={cfg.embed_dim} widths={cfg.cnn_widths}, S={args.variants}, "
          f"{n_params / 1e6:.2f} M parameters; simulation of {n} individuals {t_sim:.1f} s")
    print(f"train: batch {bs}, {steps} steps in {dt:.2f} s -> {train_rate:,.0f} samples/s "
          f"({dt / steps * 1000:.0f} ms/step), last loss {loss:.3f}")
    print(f"embed: {len(emb)} individuals in {dt_e:.2f} s -> {embed_rate:,.0f} samples/s")
    print(f"ratio embed/train throughput: {embed_rate / train_rate:.1f}x")
    print(f"epoch estimate for 100,000 individuals: {100_000 / train_rate / 60:.1f} min")


if __name__ == "__main__":
    main()

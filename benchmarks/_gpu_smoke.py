"""GPU smoke test of the GEMCONT trainer at reduced paper sizes (run by ``gpu_smoke.sh``).

One epoch of ``examples/configs/rotation_paper.yaml``'s GEMCONT training settings (paper
augmentation, its schedule and budget, bf16 on CUDA) on ``--n-train`` rotated digits of
``--image-size`` px with random hard-call genotypes (no msprime simulation: the smoke test is
about the device), then a resume from ``last.pt`` for one more epoch. Prints samples/s, peak
GPU memory (``torch.cuda.max_memory_allocated``) and the loss of each epoch; exits 3 with a
message when CUDA is unavailable. ``GPU_SMOKE_DEVICE=cpu`` runs it on the CPU (checks only).
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import numpy as np  # noqa: E402
import torch  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-train", type=int, default=2000)
    ap.add_argument("--image-size", type=int, default=256)
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--variants", type=int, default=500)
    ap.add_argument("--config", default="examples/configs/rotation_paper.yaml")
    args = ap.parse_args()
    device = os.environ.get("GPU_SMOKE_DEVICE", "cuda")
    if device.startswith("cuda") and not torch.cuda.is_available():
        print("gpu_smoke: CUDA is not available (torch.cuda.is_available() is False); "
              "set GPU_SMOKE_DEVICE=cpu to check the script on the CPU", file=sys.stderr)
        return 3

    from learners.gemcont.data import ArraySource, Cohort, prepare_genetics, standardised_betas
    from learners.gemcont.datasets import rotated_digits
    from learners.gemcont.study import load_study_config, train_config
    from learners.gemcont.train import Trainer

    t0 = time.perf_counter()
    n = args.n_train + args.n_train // 10          # + a validation split for early stopping
    rng = np.random.default_rng(0)
    dos = rng.binomial(2, rng.uniform(0.05, 0.5, args.variants), size=(n, args.variants))
    betas = rng.normal(size=args.variants)
    z = (dos - dos.mean(0)) @ betas
    z = (z - z.mean()) / z.std()
    images = rotated_digits(z, alpha_max=45.0, c=0.5, size=args.image_size, seed=0).images
    split = np.array(["train"] * args.n_train + ["val"] * (n - args.n_train), dtype=object)
    g, state = prepare_genetics(dos.astype(np.float64), split == "train")
    cohort = Cohort([f"ID{i}" for i in range(n)], ArraySource(images[:, None]), split, g=g,
                    betas=standardised_betas(betas, state))
    print(f"data: {n} individuals, {args.image_size}^2 uint8 images, {args.variants} variants "
          f"({time.perf_counter() - t0:.1f} s)")

    study = load_study_config(args.config)
    tcfg = train_config(study, "gemcont", 0)
    tcfg.device, tcfg.batch_size, tcfg.log_every = device, args.batch_size, 10
    if device == "cpu":
        tcfg.precision = "fp32"
    with tempfile.TemporaryDirectory(prefix="gpu_smoke_") as out:
        losses = []
        for attempt in ("epoch 1", "resumed epoch 2"):
            tr = Trainer(tcfg, cohort, out_dir=out)
            if attempt.startswith("resumed"):
                tr.resume(os.path.join(out, "last.pt"))
            if tr.device.type == "cuda":
                torch.cuda.reset_peak_memory_stats()
            tr.fit(stop_after=1)
            rec = tr.history[-1]
            peak = (f"{torch.cuda.max_memory_allocated() / 2**30:.2f} GiB"
                    if tr.device.type == "cuda" else "n/a (cpu)")
            losses.append(rec["train_loss"])
            print(f"{attempt}: device {tr.device} ({tr.precision}), epoch {tr.epoch}, step "
                  f"{rec['step']}, {rec['samples_per_s']:.0f} samples/s, train loss "
                  f"{rec['train_loss']:.4f}, val loss {rec['val_loss']:.4f}, peak GPU memory "
                  f"{peak}, host syncs {tr.host_syncs}")
        if tr.epoch != 2 or not all(np.isfinite(losses)):
            print("gpu_smoke: FAILED (resume did not reach epoch 2 or a loss is not finite)",
                  file=sys.stderr)
            return 1
    if device.startswith("cuda"):
        print(f"gpu: {torch.cuda.get_device_name()}, torch {torch.__version__}")
    print(f"gpu_smoke: OK in {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

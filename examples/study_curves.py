"""Summarise a study's training curves: where each method's validation loss bottoms out.

Usage::

    python examples/study_curves.py results/rotation_cpu [SETTING]

For every method of the setting (default: ``default``), over its splits: the mean training and
validation loss at the first epoch, at the best validation epoch and at the last epoch run, and
the median optimiser step of the best and of the last epoch. A validation loss that rises
after an early minimum while the training loss keeps falling is overfitting; a best epoch near
the end of the budget means the method was still improving.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np


def summarise(folder: Path, setting: str = "default") -> list[str]:
    curves = sorted((folder / "curves").glob(f"{setting}__split*__*.jsonl"))
    if not curves:
        raise SystemExit(f"{folder}/curves: no curves for setting {setting!r}")
    by_method: dict[str, list[list[dict]]] = {}
    for path in curves:
        method = path.stem.split("__")[-1]
        rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        if rows:
            by_method.setdefault(method, []).append(rows)
    lines = [f"{folder} setting {setting}: mean loss over splits (train | validation) at the "
             "first, best-validation and last epoch; median step of the best and last epoch"]
    for method, runs in by_method.items():
        stats = []
        for rows in runs:
            val = np.array([r["val_loss"] for r in rows], dtype=float)
            b = int(np.nanargmin(val))
            stats.append([rows[0]["train_loss"], rows[b]["train_loss"], rows[-1]["train_loss"],
                          val[0], val[b], val[-1], rows[b]["step"], rows[-1]["step"]])
        s = np.array(stats)
        m = s[:, :6].mean(axis=0)
        steps = np.median(s[:, 6:], axis=0)
        lines.append(f"  {method:<18} train {m[0]:.3f} {m[1]:.3f} {m[2]:.3f} | validation "
                     f"{m[3]:.3f} {m[4]:.3f} {m[5]:.3f} | best step {steps[0]:.0f}, last "
                     f"{steps[1]:.0f} ({len(runs)} splits)")
    return lines


if __name__ == "__main__":
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    print("\n".join(summarise(Path(sys.argv[1]), sys.argv[2] if len(sys.argv) > 2 else "default")))

"""Embedding export: one parquet row per individual, ready for ``gwaskit scan --pheno``.

Schema: ``FID, IID`` (strings; FID = IID unless the image table gives FIDs), ``split``
(``train``/``val``/``test``), ``emb_0 … emb_{D−1}`` (float32). Several phenotype instances of
one individual are embedded separately and **averaged**. From a checkpoint, the individuals of
the training run are exported (all splits), with the splits recorded at training time. The
parquet schema metadata holds the config hash, git sha, method and epoch (key ``gemcont``).
Written atomically (temporary file, then rename) through
:func:`gwaskit.io.output.atomic_path`.

Embeddings are computed in fp32 with autocast off on every device, whatever ``precision`` the
model was trained with, so a GPU export matches a CPU export of the same checkpoint up to
fp32 rounding instead of carrying bf16 rounding into the GWAS.
"""
from __future__ import annotations

import contextlib
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import torch

from gwaskit.io.output import atomic_path

from .data import Cohort, all_instances_batches, to_float_images


def fp32_context(device: torch.device | str) -> contextlib.AbstractContextManager:
    """Context in which ``device`` runs in fp32: autocast explicitly disabled.

    Disabling (rather than not enabling) also switches off an autocast region the caller may
    be in, e.g. an export run from inside a bf16 training step.
    """
    device = torch.device(device)
    try:
        return torch.autocast(device.type, enabled=False)
    except RuntimeError:        # a device type without autocast (e.g. meta): nothing to undo
        return contextlib.nullcontext()


@torch.no_grad()
def embed_cohort(model: torch.nn.Module, cohort: Cohort, cfg: Any, device: torch.device | str,
                 batch_size: int = 256, split: str | None = None) -> np.ndarray:
    """Embed every instance of every individual and average per individual.

    Runs in fp32 under :func:`fp32_context` on every device (``cfg.precision`` applies to
    training only), with inputs cast to float32.

    Returns
    -------
    ``(N, D)`` float32 in cohort order (or only the rows of ``split``).
    """
    device = torch.device(device)
    ds = cohort.dataset(split)
    model.eval()
    sums: torch.Tensor | None = None
    for items in all_instances_batches(ds.counts, batch_size):
        batch = ds.__getitems__(items)
        x = to_float_images(batch["x"].to(device))      # uint8 travels as uint8
        if x.dim() == 4 and (cfg.pixel_mean != 0.0 or cfg.pixel_std != 1.0):
            x = (x - cfg.pixel_mean) / cfg.pixel_std
        with fp32_context(device):
            e = model.embed(x).float()
        if sums is None:
            sums = torch.zeros(len(ds), e.shape[1], dtype=torch.float64, device=device)
        sums.index_add_(0, batch["idx"].to(device), e.double())
    counts = torch.as_tensor(ds.counts, dtype=torch.float64, device=device).view(-1, 1)
    return (sums / counts).float().cpu().numpy()


def embedding_frame(emb: np.ndarray, iids: list[str], split: np.ndarray | list[str],
                    fids: list[str] | None = None) -> pd.DataFrame:
    """``FID, IID, split, emb_0..`` frame (float32 embeddings, string IDs)."""
    emb = np.asarray(emb, dtype=np.float32)
    cols = {"FID": [str(f) for f in (fids or iids)], "IID": [str(i) for i in iids],
            "split": [str(s) for s in split]}
    df = pd.DataFrame(cols)
    edf = pd.DataFrame(emb, columns=[f"emb_{j}" for j in range(emb.shape[1])])
    return pd.concat([df, edf], axis=1)


def git_sha() -> str:
    """Current git commit of the source tree ('' when unknown)."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                             cwd=os.path.dirname(os.path.abspath(__file__)), timeout=5)
        return out.stdout.strip() if out.returncode == 0 else ""
    except (OSError, subprocess.SubprocessError):
        return ""


def write_embeddings(df: pd.DataFrame, path: str | os.PathLike, metadata: dict[str, Any] | None
                     = None, overwrite: bool = False) -> Path:
    """Write the embedding frame as parquet atomically, with ``gemcont`` schema metadata."""
    table = pa.Table.from_pandas(df, preserve_index=False)
    if metadata:
        meta = dict(table.schema.metadata or {})
        meta[b"gemcont"] = json.dumps(metadata, default=str).encode()
        table = table.replace_schema_metadata(meta)
    with atomic_path(path, overwrite) as tmp:
        pq.write_table(table, tmp)
    return Path(path)


def export_checkpoint(checkpoint: str, out: str, cohort: Cohort | None = None,
                      device: str = "auto", batch_size: int = 0, overwrite: bool = False,
                      config_overrides: list[str] | None = None, trust_code: bool | str = False,
                      split: str | None = None) -> Path:
    """Load a checkpoint, embed its cohort and write the parquet export.

    Parameters
    ----------
    checkpoint : str
        ``last.pt``/``best.pt`` of a training run.
    out : str
        Output parquet.
    cohort : Cohort, optional
        Default: re-read from the files of the stored configuration.
    device : str
        ``auto``, ``cpu``, ``cuda``...; the export is fp32 on every device.
    batch_size : int
        0: the training batch size.
    overwrite : bool
        Replace an existing output.
    config_overrides : list of str, optional
        ``key=value`` changes to the stored configuration (e.g. another image table).
    trust_code : bool or str
        Allow a ``module:callable`` ``backbone_factory``: the checkpoint's configuration is
        data and cannot grant this by itself.
    split : str, optional
        Write only the individuals of this split (``"test"``: held out from training, the
        ones a GWAS of the embedding should use). Default: every split, labelled in the
        ``split`` column (``gwaskit scan`` then needs ``--split-value`` or ``--all-splits``).
    """
    from gwaskit.errors import InputError
    from gwaskit.io.output import check_writable

    from .config import GemcontConfig, apply_overrides
    from .data import load_cohort
    from .models import build_model
    from .train import load_checkpoint, resolve_device

    split_filter = split
    check_writable(out, overwrite)
    ckpt = load_checkpoint(checkpoint)
    values = ckpt["config"]
    if config_overrides:
        values = apply_overrides(values, config_overrides)
    # the stored configuration is data: it cannot grant trust_code to itself
    cfg = GemcontConfig.from_dict(values, checkpoint).validate(trust_code)
    if cfg.backbone_factory:
        from .encoders import resolve_backbone_factory

        resolve_backbone_factory(cfg.backbone_factory, trust_code)
    if cohort is None:
        cohort = load_cohort(cfg, genetics=False, only_iids=ckpt["iids"], trust_code=trust_code)
    meta = ckpt["meta"]
    if list(cohort.source.shape) != list(meta["input_shape"]):
        raise InputError(f"{checkpoint}: trained on inputs {meta['input_shape']}, "
                         f"data has {list(cohort.source.shape)}")
    # splits recorded at training time win (same individuals, same labels)
    recorded = dict(zip(ckpt["iids"], ckpt["split"]))
    split = np.array([recorded.get(i, "test") for i in cohort.iids], dtype=object)
    dev = resolve_device(device)
    cfg.device = str(dev)
    # restore=True: the weights come from the checkpoint, so the beta-based projector
    # initialisation (and its "no panel betas" message) has no business running here
    model = build_model(cfg, tuple(meta["input_shape"]), meta["n_genetic"], None,
                        meta["n_targets"], trust_code=trust_code, restore=True)
    model.load_state_dict(ckpt["model"])
    model.to(dev)
    emb = embed_cohort(model, cohort, cfg, dev, batch_size or cfg.batch_size)
    df = embedding_frame(emb, cohort.iids, split, cohort.fids)
    if split_filter is not None:
        rows = (df["split"] == split_filter).to_numpy()
        if not rows.any():
            raise InputError(f"{checkpoint}: no individual in split {split_filter!r} "
                             f"(splits: {', '.join(sorted(set(df['split'])))})")
        df = df[rows].reset_index(drop=True)
    md = {"config_hash": cfg.hash(), "git_sha": git_sha(), "method": cfg.method,
          "epoch": int(ckpt["epoch"]), "representation": cfg.export_representation,
          "checkpoint": str(checkpoint), "split": split_filter or "all"}
    return write_embeddings(df, out, md, overwrite)

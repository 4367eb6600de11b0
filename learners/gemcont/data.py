"""Cohort data: phenotypes (arrays, image files or cached tokens), genetic input, splits.

Array level (used by tests, benchmarks and simulations) and file level (:func:`load_cohort`,
wired to gwaskit's genotype readers, panels and PCA residualisation) meet in
:class:`Cohort`: one row per individual, each with one or more phenotype instances.

Genetic input (:func:`prepare_genetics`): panel dosages, missing values imputed with the
training mean, the top PCs regressed out by least squares fitted on training individuals
(``gwaskit.ld.pca.regress_out``), then standardised with training-set statistics only. The
panel betas are put on the same scale (:func:`standardised_betas`) for the projector init.

Sampling: :class:`InstanceBatchSampler` draws a permutation of the individuals and, for each,
one of its instances at random, from its own :class:`torch.Generator` (checkpointed), so runs
are reproducible whatever the number of loader workers; the dataset itself is deterministic.
"""
from __future__ import annotations

import math
import os
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader, Sampler

from gwaskit._log import logger
from gwaskit.errors import InputError

SPLITS = ("train", "val", "test")


# ============================================================================ phenotype sources
class PhenotypeSource:
    """Phenotype instances of N individuals. Subclasses implement :meth:`load`."""

    shape: tuple[int, ...]
    counts: np.ndarray   # (N,) number of instances per individual

    def __len__(self) -> int:
        return len(self.counts)

    def load(self, rows: Sequence[int], instances: Sequence[int]) -> torch.Tensor:
        raise NotImplementedError


class ArraySource(PhenotypeSource):
    """In-memory phenotypes: ``x`` of shape ``(N, *shape)`` or ``(N, I, *shape)`` with counts.

    Parameters
    ----------
    x : array or tensor
        One instance per individual (``counts=None``) or ``I`` slots per individual.
    counts : array (N,), optional
        Number of valid instances of each individual (slots ``0..counts-1``); requires the
        ``(N, I, *shape)`` layout.
    """

    def __init__(self, x: np.ndarray | torch.Tensor, counts: np.ndarray | None = None):
        x = torch.as_tensor(np.asarray(x) if not torch.is_tensor(x) else x)
        # uint8 images stay uint8 (4x less host memory, 4x less host-to-device traffic);
        # batches are scaled to [0, 1] on the device by :func:`to_float_images`
        if not torch.is_floating_point(x) and x.dtype != torch.uint8:
            x = x.float()
        if counts is None:
            x = x.unsqueeze(1)
            counts = np.ones(x.shape[0], dtype=np.int64)
        self.x = (x if x.dtype == torch.uint8 else x.float()).contiguous()
        self.counts = np.asarray(counts, dtype=np.int64)
        if len(self.counts) != self.x.shape[0] or (self.counts < 1).any() \
                or (self.counts > self.x.shape[1]).any():
            raise InputError("phenotype array: counts must be 1..I for each of the N rows")
        self.shape = tuple(self.x.shape[2:])

    def load(self, rows: Sequence[int], instances: Sequence[int]) -> torch.Tensor:
        return self.x[torch.as_tensor(rows), torch.as_tensor(instances)]


def to_float_images(x: torch.Tensor) -> torch.Tensor:
    """uint8 images scaled to float32 in [0, 1]; float inputs cast to float32 unchanged.

    Called on the training device, per batch, so images travel as uint8.
    """
    if x.dtype == torch.uint8:
        # standard strides: a uint8 batch whose size-1 channel axis has stride 1 also reads as
        # channels_last, and the convolution would then run another kernel than on float32
        return x.to(torch.float32, memory_format=torch.contiguous_format).div_(255.0)
    return x.float() if x.dtype != torch.float32 else x


#: Pillow modes holding 16-bit (or wider integer) grey levels: read at full depth
_WIDE_GREY_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I")


def read_image_file(path: str, channels: int = 1, size: int = 0) -> np.ndarray:
    """Read one PNG/JPEG (Pillow) or ``.npy`` file as float32 ``(C, H, W)`` (or ``(F,)``).

    8-bit images are scaled by 1/255, 16-bit grey images (Pillow modes ``I;16``/``I``) by
    1/65535 at full depth (converting them to ``L`` would clip them to 256 levels);
    ``size`` > 0 resizes images to ``size x size`` (bilinear).
    """
    if not os.path.exists(path):
        raise InputError(f"{path}: image file not found")
    if path.lower().endswith(".npy"):
        arr = np.load(path, allow_pickle=False)
        if arr.dtype == np.uint8:
            arr = arr.astype(np.float32) / 255.0
        arr = arr.astype(np.float32)
        if arr.ndim == 2:
            arr = arr[None]
        if size and arr.ndim == 3 and arr.shape[1:] != (size, size):
            t = torch.nn.functional.interpolate(torch.from_numpy(arr)[None], size=(size, size),
                                                mode="bilinear", align_corners=False)
            arr = t[0].numpy()
        return arr
    from PIL import Image

    try:
        with Image.open(path) as img:
            if img.mode in _WIDE_GREY_MODES:
                arr = np.asarray(img).astype(np.float64) / 65535.0
                if arr.min() < 0 or arr.max() > 1:
                    raise InputError(f"{path}: {img.mode} pixel values outside 0..65535")
                arr = arr.astype(np.float32)
                if channels != 1:
                    arr = np.repeat(arr[None], channels, axis=0).transpose(1, 2, 0)
                if size and arr.shape[:2] != (size, size):
                    t = torch.from_numpy(np.ascontiguousarray(
                        arr[None, None] if arr.ndim == 2 else arr.transpose(2, 0, 1)[None]))
                    t = torch.nn.functional.interpolate(t, size=(size, size), mode="bilinear",
                                                        align_corners=False)[0]
                    arr = t[0].numpy() if arr.ndim == 2 else t.numpy().transpose(1, 2, 0)
            else:
                img = img.convert("L" if channels == 1 else "RGB")
                if size and img.size != (size, size):
                    img = img.resize((size, size), Image.BILINEAR)
                arr = np.asarray(img, dtype=np.float32) / 255.0
    except OSError as exc:
        raise InputError(f"{path}: cannot read image ({exc})") from None
    return arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)


class FileSource(PhenotypeSource):
    """Image files (PNG/JPEG/``.npy``), ``paths[i]`` = list of the individual's instances."""

    def __init__(self, paths: list[list[str]], channels: int = 1, size: int = 0):
        self.paths = paths
        self.channels, self.size = channels, size
        self.counts = np.array([len(p) for p in paths], dtype=np.int64)
        self.shape = tuple(read_image_file(paths[0][0], channels, size).shape)

    def load(self, rows: Sequence[int], instances: Sequence[int]) -> torch.Tensor:
        arrs = []
        for r, k in zip(rows, instances):
            a = read_image_file(self.paths[int(r)][int(k)], self.channels, self.size)
            if a.shape != self.shape:
                raise InputError(f"{self.paths[int(r)][int(k)]}: shape {a.shape}, "
                                 f"expected {self.shape} (set image_size)")
            arrs.append(a)
        return torch.from_numpy(np.stack(arrs))


class TokenSource(PhenotypeSource):
    """Precomputed fp16 patch tokens (:func:`precompute_tokens`), keyed by IID."""

    def __init__(self, cache_dir: str, iids: Sequence[str]):
        index = pd.read_parquet(Path(cache_dir) / "index.parquet")
        self.tokens = np.load(Path(cache_dir) / "tokens.npy", mmap_mode="r")
        groups = index.sort_values(["IID", "instance"]).groupby("IID", sort=False)["row"]
        by_iid = {k: v.to_numpy() for k, v in groups}
        missing = [i for i in iids if i not in by_iid]
        if missing:
            raise InputError(f"{cache_dir}: token cache lacks IID {missing[0]} "
                             f"({len(missing)} missing); delete it to rebuild")
        self.rows = [by_iid[i] for i in iids]
        self.counts = np.array([len(r) for r in self.rows], dtype=np.int64)
        self.shape = tuple(self.tokens.shape[1:])

    def load(self, rows: Sequence[int], instances: Sequence[int]) -> torch.Tensor:
        idx = [int(self.rows[int(r)][int(k)]) for r, k in zip(rows, instances)]
        return torch.from_numpy(np.asarray(self.tokens[idx], dtype=np.float32))


#: file in a token cache holding the key it was built for (see :func:`token_cache_key`)
TOKEN_KEY_FILE = "key.json"


def token_cache_key(backbone_fp: str, iids: Sequence[str], paths: Sequence[Sequence[str]],
                    channels: int, size: int) -> str:
    """SHA-256 naming what a token cache was computed from.

    Covers the backbone (``backbone_fp`` from :func:`.encoders.backbone_fingerprint`: weights
    and configuration), the reading options (channels, resize) and the image list: for each
    individual and instance the IID, the path, the file size and the modification time (ns),
    so a replaced, added or removed image gives another key without hashing every pixel.
    """
    import hashlib
    import json

    h = hashlib.sha256()
    h.update(json.dumps({"backbone": backbone_fp, "channels": int(channels),
                         "size": int(size)}, sort_keys=True).encode())
    for iid, ps in zip(iids, paths):
        for k, p in enumerate(ps):
            try:
                st = os.stat(p)
                stamp = f"{st.st_size}|{st.st_mtime_ns}"
            except OSError:
                stamp = "missing"
            h.update(f"{iid}|{k}|{os.path.abspath(p)}|{stamp}\n".encode())
    return h.hexdigest()


def read_token_cache_key(cache_dir: str | os.PathLike) -> str | None:
    """The key a complete token cache was built for; ``None`` if absent or incomplete."""
    import json

    d = Path(cache_dir)
    if not all((d / f).exists() for f in ("tokens.npy", "index.parquet", TOKEN_KEY_FILE)):
        return None
    try:
        return str(json.loads((d / TOKEN_KEY_FILE).read_text())["key"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


@torch.no_grad()
def precompute_tokens(backbone: torch.nn.Module, source: PhenotypeSource, iids: Sequence[str],
                      cache_dir: str, batch_size: int = 64, device: str = "cpu",
                      key: str = "") -> Path:
    """Run a frozen backbone once over every instance and cache its patch tokens (fp16).

    Writes ``cache_dir/tokens.npy`` (``(M, K, d)`` float16, memory-mappable) and
    ``cache_dir/index.parquet`` (``IID, instance, row``); both atomically (temp + rename).
    ``key`` (:func:`token_cache_key`) is written last to ``cache_dir/key.json``, so a cache
    interrupted half-way is never taken for a complete one.
    """
    import json

    from .encoders import backbone_tokens

    out = Path(cache_dir)
    out.mkdir(parents=True, exist_ok=True)
    pairs = [(r, k) for r in range(len(source)) for k in range(int(source.counts[r]))]
    backbone = backbone.eval().to(device)
    first = backbone_tokens(backbone, to_float_images(source.load([0], [0]).to(device)))
    tmp = out / ".tokens.npy.tmp"
    mm = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float16,
                                   shape=(len(pairs),) + tuple(first.shape[1:]))
    for start in range(0, len(pairs), batch_size):
        chunk = pairs[start:start + batch_size]
        x = to_float_images(source.load([p[0] for p in chunk], [p[1] for p in chunk]).to(device))
        mm[start:start + len(chunk)] = backbone_tokens(backbone, x).float().cpu().numpy()
    mm.flush()
    del mm
    os.replace(tmp, out / "tokens.npy")
    index = pd.DataFrame({"IID": [str(iids[r]) for r, _ in pairs],
                          "instance": [k for _, k in pairs], "row": np.arange(len(pairs))})
    index.to_parquet(out / ".index.parquet.tmp", index=False)
    os.replace(out / ".index.parquet.tmp", out / "index.parquet")
    if key:
        (out / ".key.json.tmp").write_text(json.dumps({"key": key}))
        os.replace(out / ".key.json.tmp", out / TOKEN_KEY_FILE)
    logger.info("cached %d token sets of shape %s in %s", len(pairs), tuple(first.shape[1:]), out)
    return out


# ============================================================================ genetics
@dataclass
class GeneticState:
    """Training-set statistics of the genetic input (stored in checkpoints)."""

    impute_mean: np.ndarray
    mean: np.ndarray
    std: np.ndarray


def prepare_genetics(dosages: np.ndarray, train_rows: np.ndarray,
                     covariates: np.ndarray | None = None) -> tuple[np.ndarray, GeneticState]:
    """Impute, residualise on covariates (PCs) and standardise, fitted on training rows only.

    Parameters
    ----------
    dosages : (N, S) array
        Panel dosages (NaN = missing).
    train_rows : (N,) bool or int array
        Individuals whose statistics are used (imputation means, regression, scaling).
    covariates : (N, k) array, optional
        Genotype PCs; regressed out with ``gwaskit.ld.pca.regress_out`` (least squares on
        ``[1, covariates]`` fitted on ``train_rows``).

    Returns
    -------
    X : (N, S) float32, mean 0 / variance 1 on the training rows; state : GeneticState.
    """
    x = np.asarray(dosages, dtype=np.float64).copy()
    rows = _as_index(train_rows, len(x))
    imp = np.nanmean(x[rows], axis=0)
    imp = np.where(np.isfinite(imp), imp, 0.0)
    n_missing = int(np.isnan(x).sum())
    if n_missing:
        logger.info("genetic input: imputed %d missing dosages with training means", n_missing)
        x = np.where(np.isnan(x), imp, x)
    if covariates is not None and np.asarray(covariates).size:
        from gwaskit.ld.pca import regress_out

        x = np.asarray(regress_out(x, np.asarray(covariates, dtype=np.float64), fit_rows=rows),
                       dtype=np.float64)
    mean = x[rows].mean(axis=0)
    std = x[rows].std(axis=0)
    const = std < 1e-8
    if const.any():
        logger.info("genetic input: %d variant(s) constant in the training rows (kept as 0)",
                    int(const.sum()))
    std = np.where(const, 1.0, std)
    return ((x - mean) / std).astype(np.float32), GeneticState(imp, mean, std)


def standardised_betas(betas: np.ndarray, state: GeneticState) -> np.ndarray:
    """Betas per standardised input: ``β_j · sd_j`` (sd after residualisation)."""
    return (np.asarray(betas, dtype=np.float64) * state.std).astype(np.float32)


def prs_input(dosages: np.ndarray, betas: np.ndarray,
              train_rows: np.ndarray | None = None) -> np.ndarray:
    """Polygenic score ``Σ_j β_j·dosage_j`` as one column, missing dosages mean-imputed.

    Parameters
    ----------
    dosages : (N, S) array
        NaN = missing. A missing dosage is replaced by the variant's mean over ``train_rows``
        (all rows when not given), as :func:`prepare_genetics` does; counting it as 0 would
        pull the score of an individual with missing calls towards "no effect alleles".
    betas : (S,) array
    train_rows : (N,) bool or int array, optional
        Rows whose non-missing dosages give the imputation means.

    Returns
    -------
    (N, 1) float64.
    """
    x = np.asarray(dosages, dtype=np.float64)
    miss = np.isnan(x)
    if miss.any():
        rows = np.arange(len(x)) if train_rows is None else _as_index(train_rows, len(x))
        obs = ~miss[rows]
        n_obs = obs.sum(axis=0)
        # a variant never observed in the training rows has no mean: it contributes 0
        mean = np.where(n_obs > 0, np.where(obs, x[rows], 0.0).sum(axis=0) / np.maximum(n_obs, 1),
                        0.0)
        x = np.where(miss, mean, x)
    return (x @ np.asarray(betas, dtype=np.float64)).reshape(-1, 1)


def _as_index(rows: np.ndarray, n: int) -> np.ndarray:
    rows = np.asarray(rows)
    if rows.dtype == bool:
        rows = np.flatnonzero(rows)
    if rows.size == 0:
        raise InputError("no training individuals")
    return rows


def make_splits(n: int, val_fraction: float, test_fraction: float, seed: int) -> np.ndarray:
    """Random ``train``/``val``/``test`` labels (deterministic in ``seed``)."""
    perm = np.random.default_rng(seed).permutation(n)
    n_test = int(round(test_fraction * n))
    n_val = int(round(val_fraction * n))
    split = np.full(n, "train", dtype=object)
    split[perm[:n_test]] = "test"
    split[perm[n_test:n_test + n_val]] = "val"
    return split


# ============================================================================ cohort
@dataclass
class Cohort:
    """Everything the trainer and the exporter need, one row per individual.

    Attributes
    ----------
    iids : list of str
    source : PhenotypeSource
    split : (N,) array of ``train``/``val``/``test``
    g : (N, S) float32, optional
        Prepared genetic input (see :func:`prepare_genetics`).
    betas : (S,) float32, optional
        Panel betas on the scale of ``g`` (projector initialisation).
    y : (N, T) float32, optional
        Targets of the supervised baseline.
    fids : list of str, optional
        Family IDs (default: IID).
    meta : dict
        Provenance (numbers dropped, files), saved with the checkpoint.
    """

    iids: list[str]
    source: PhenotypeSource
    split: np.ndarray
    g: np.ndarray | None = None
    betas: np.ndarray | None = None
    y: np.ndarray | None = None
    fids: list[str] | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.iids)
        self.split = np.asarray(self.split, dtype=object)
        if len(self.source) != n or len(self.split) != n:
            raise InputError("cohort: phenotypes, IIDs and split have different lengths")
        if self.g is not None and len(self.g) != n:
            raise InputError("cohort: genetic input and IIDs have different lengths")
        if self.y is not None:
            self.y = np.asarray(self.y, dtype=np.float32).reshape(n, -1)
        bad = set(np.unique(self.split)) - set(SPLITS)
        if bad:
            raise InputError(f"split column: unknown value(s) {sorted(bad)}; use train/val/test")

    def rows(self, split: str) -> np.ndarray:
        return np.flatnonzero(self.split == split)

    def dataset(self, split: str | None = None, g_dtype: torch.dtype = torch.float32
                ) -> "CohortDataset":
        rows = np.arange(len(self.iids)) if split is None else self.rows(split)
        return CohortDataset(self, rows, g_dtype=g_dtype)


class CohortDataset(torch.utils.data.Dataset):
    """Rows of a cohort; items are ``(position, instance)`` pairs, batches are dicts.

    A batch has ``x`` (phenotypes), ``idx`` (positions within this dataset, used for the SCARF
    donor pool), ``row`` (cohort rows), and, when present, ``g`` (genetic input) and ``y``.
    """

    def __init__(self, cohort: Cohort, rows: np.ndarray, g_dtype: torch.dtype = torch.float32):
        self.cohort, self.rows = cohort, np.asarray(rows, dtype=np.int64)
        self.counts = cohort.source.counts[self.rows]
        # the genetic input is standardised (residualised) dosages, no longer hard calls, so
        # the compact form is float16 (g_dtype); the trainer widens batches on the device
        np_dtype = np.float16 if g_dtype == torch.float16 else np.float32
        self.g = None if cohort.g is None else torch.from_numpy(
            np.ascontiguousarray(cohort.g[self.rows], dtype=np_dtype))
        self.y = None if cohort.y is None else torch.from_numpy(cohort.y[self.rows])

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, item: tuple[int, int]) -> dict[str, torch.Tensor]:
        return self.__getitems__([item])

    def __getitems__(self, items: list[tuple[int, int]]) -> dict[str, torch.Tensor]:
        pos = torch.as_tensor([int(i) for i, _ in items], dtype=torch.long)
        inst = [int(k) for _, k in items]
        batch = {"idx": pos, "row": torch.from_numpy(self.rows[pos.numpy()]),
                 "x": self.cohort.source.load(self.rows[pos.numpy()], inst)}
        if self.g is not None:
            batch["g"] = self.g[pos]
        if self.y is not None:
            batch["y"] = self.y[pos]
        return batch


class InstanceBatchSampler(Sampler):
    """Shuffled batches of ``(position, random instance)``, drawn from its own generator.

    ``drop_last`` drops a final partial batch (contrastive losses want full batches); with
    fewer individuals than ``batch_size`` one batch of all of them is formed.
    """

    def __init__(self, counts: np.ndarray, batch_size: int, generator: torch.Generator,
                 shuffle: bool = True, drop_last: bool = True):
        self.counts = torch.as_tensor(np.asarray(counts), dtype=torch.long)
        self.n = len(self.counts)
        self.batch_size = min(batch_size, self.n)
        self.generator, self.shuffle, self.drop_last = generator, shuffle, drop_last

    def __len__(self) -> int:
        if self.drop_last:
            return self.n // self.batch_size
        return math.ceil(self.n / self.batch_size)

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        order = torch.randperm(self.n, generator=self.generator) if self.shuffle \
            else torch.arange(self.n)
        u = torch.rand(self.n, generator=self.generator)
        inst = torch.minimum((u * self.counts.double()).long(), self.counts - 1)
        order, inst = order.tolist(), inst.tolist()
        for b in range(len(self)):
            sel = order[b * self.batch_size:(b + 1) * self.batch_size]
            yield [(i, inst[i]) for i in sel]


def all_instances_batches(counts: np.ndarray, batch_size: int) -> list[list[tuple[int, int]]]:
    """Every ``(position, instance)`` pair in order, chunked (export)."""
    pairs = [(i, k) for i in range(len(counts)) for k in range(int(counts[i]))]
    return [pairs[s:s + batch_size] for s in range(0, len(pairs), batch_size)]


def _collate(batch: Any) -> Any:
    return batch


def _seed_worker(worker_id: int) -> None:
    """Seed numpy/python in a loader worker from torch's per-worker seed."""
    seed = torch.initial_seed() % 2 ** 32
    np.random.seed(seed)
    random.seed(seed)


def make_loader(dataset: CohortDataset, batch_sampler: Any, num_workers: int = 0,
                seed: int = 0, pin_memory: bool = False, persistent: bool = False
                ) -> DataLoader:
    """DataLoader over explicit batches; workers seeded from a seeded generator.

    ``persistent`` keeps the worker processes alive between epochs (needs
    ``num_workers`` > 0), so they are not re-forked, with a copy of the dataset, every epoch.
    """
    g = torch.Generator()
    g.manual_seed(seed)
    return DataLoader(dataset, batch_sampler=batch_sampler, collate_fn=_collate,
                      num_workers=num_workers, worker_init_fn=_seed_worker, generator=g,
                      pin_memory=pin_memory, persistent_workers=persistent and num_workers > 0)


# ============================================================================ files (gwaskit)
def read_table(path: str, what: str) -> pd.DataFrame:
    """Read a parquet/CSV/TSV table with string IIDs."""
    if not path or not os.path.exists(path):
        raise InputError(f"{what} {path!r}: file not found")
    low = path.lower()
    try:
        if low.endswith((".parquet", ".pq")):
            df = pd.read_parquet(path)
        elif low.endswith((".csv", ".csv.gz")):
            df = pd.read_csv(path, dtype={"IID": str, "FID": str})
        else:
            df = pd.read_csv(path, sep=r"\s+", dtype={"IID": str, "FID": str})
    except (ValueError, OSError) as exc:
        raise InputError(f"{path}: cannot read {what} ({str(exc).splitlines()[0]})") from None
    if "IID" not in df.columns:
        raise InputError(f"{path}: {what} has no IID column")
    df["IID"] = df["IID"].astype(str)
    return df


def read_image_table(path: str, root: str = "") -> tuple[list[str], list[list[str]], pd.DataFrame]:
    """Read ``IID, path[, instance][, split]``; returns IIDs, per-IID paths, per-IID table."""
    df = read_table(path, "image table")
    if "path" not in df.columns:
        raise InputError(f"{path}: image table has no path column")
    base = root or os.path.dirname(os.path.abspath(path))
    df["path"] = [p if os.path.isabs(p) else os.path.join(base, p) for p in df["path"].astype(str)]
    if "instance" not in df.columns:
        df["instance"] = df.groupby("IID", sort=False).cumcount()
    df = df.sort_values(["IID", "instance"], kind="stable")
    order = list(dict.fromkeys(df["IID"]))
    paths = df.groupby("IID", sort=False)["path"].apply(list)
    per_iid = df.drop_duplicates("IID").set_index("IID").loc[order]
    return order, [paths[i] for i in order], per_iid


def load_cohort(cfg: Any, genetics: bool = True, only_iids: Sequence[str] | None = None,
                trust_code: bool | str = False) -> Cohort:
    """Build a :class:`Cohort` from the configured files, through gwaskit's readers.

    Images: ``cfg.images`` (``IID, path[, instance][, split][, FID]``). Genotypes
    (``gemcont``/``prs`` only): ``gwaskit.io.genotypes.open_genotypes(cfg.genotypes,
    cfg.sample_file)``, panel ``gwaskit.loci.panel.read_panel(cfg.panel)`` and
    ``panel_dosages``; PCs: ``cfg.pcs`` (``IID, PC1..``), first ``cfg.n_pcs`` used.
    Individuals missing from any required input are dropped (logged with counts). With
    ``encoder: frozen-backbone`` and ``token_cache`` set, patch tokens are read from the cache
    (built on first use by running the backbone once over every image).
    ``genetics=False`` (export) reads only the images (and splits); ``only_iids`` restricts
    the cohort to these individuals (export: those of the checkpoint).
    """
    iids, paths, per_iid = read_image_table(cfg.images, cfg.image_root)
    meta: dict[str, Any] = {"n_images_table": len(iids)}
    keep = pd.Index(iids)
    if only_iids is not None:
        keep = _intersect(keep, pd.Index([str(i) for i in only_iids]), "checkpoint", meta)
    pcs_df = targets = None
    use_g = genetics and cfg.method in ("gemcont", "prs")
    if cfg.pcs and use_g:
        pcs_df = read_table(cfg.pcs, "PC table")
        pc_cols = [c for c in pcs_df.columns if c.upper().startswith("PC")][: cfg.n_pcs]
        if not pc_cols:
            raise InputError(f"{cfg.pcs}: no PC columns (PC1, PC2, ...)")
        pcs_df = pcs_df.drop_duplicates("IID").set_index("IID")[pc_cols]
        keep = _intersect(keep, pcs_df.index, "PC table", meta)
    if cfg.method == "supervised" and genetics:
        if not cfg.supervised_target:
            raise InputError("method supervised: set supervised_target (a column of targets)")
        targets = read_table(cfg.targets or cfg.images, "target table")
        if cfg.supervised_target not in targets.columns:
            raise InputError(f"{cfg.targets or cfg.images}: no column {cfg.supervised_target}")
        targets = targets.drop_duplicates("IID").set_index("IID")[[cfg.supervised_target]]
        keep = _intersect(keep, targets.index, "target table", meta)
    dosages = betas = None
    if use_g:
        if not cfg.genotypes or not cfg.panel:
            raise InputError(f"method {cfg.method}: set genotypes and panel")
        from gwaskit.io.genotypes import open_genotypes
        from gwaskit.loci.panel import panel_dosages, read_panel

        genos = cfg.genotypes if isinstance(cfg.genotypes, list) else [cfg.genotypes]
        reader = open_genotypes(genos if len(genos) > 1 else genos[0],
                                sample_file=cfg.sample_file or None)
        geno_iids = pd.Index([str(s) for s in reader.samples])
        keep = _intersect(keep, geno_iids, "genotypes", meta)
        panel = read_panel(cfg.panel)
        aligned, dosages = panel_dosages(reader, panel, samples=geno_iids.get_indexer(keep))
        dosages = np.asarray(dosages, dtype=np.float64)
        beta_col = next((c for c in ("beta", "BETA", "effect") if c in aligned.columns), None)
        betas = None if beta_col is None else aligned[beta_col].to_numpy(dtype=np.float64)
        meta["n_panel_variants"] = int(dosages.shape[1])
    pos = {iid: i for i, iid in enumerate(iids)}
    rows = np.array([pos[i] for i in keep], dtype=np.int64)
    keep_iids = [iids[r] for r in rows]
    source: PhenotypeSource = FileSource([paths[r] for r in rows], cfg.channels, cfg.image_size)
    if cfg.encoder == "frozen-backbone" and cfg.token_cache:
        from .encoders import backbone_fingerprint, load_backbone

        cache = Path(cfg.token_cache)
        backbone = load_backbone(cfg.backbone_checkpoint, cfg.backbone_factory,
                                 cfg.backbone_kwargs, trust_code=trust_code)
        key = token_cache_key(
            backbone_fingerprint(backbone, cfg.backbone_factory, cfg.backbone_kwargs),
            keep_iids, [paths[r] for r in rows], cfg.channels, cfg.image_size)
        found = read_token_cache_key(cache)
        if found != key:
            # another backbone, other weights or another image set: never reuse its tokens
            logger.info("token cache %s: %s; rebuilding", cache,
                        "absent or incomplete" if found is None
                        else "stale (built for another backbone or image set)")
            precompute_tokens(backbone, source, keep_iids, str(cache),
                              device="cuda" if torch.cuda.is_available() else "cpu", key=key)
        else:
            logger.info("token cache %s: key matches, reusing", cache)
        source = TokenSource(str(cache), keep_iids)
    per = per_iid.loc[keep_iids]
    if "split" in per.columns:
        split = per["split"].astype(str).to_numpy(dtype=object)
    else:
        split = make_splits(len(rows), cfg.val_fraction, cfg.test_fraction, cfg.seed)
    fids = per["FID"].astype(str).tolist() if "FID" in per.columns else None
    g = gbetas = None
    if dosages is not None:
        covs = None if pcs_df is None else pcs_df.loc[keep_iids].to_numpy(dtype=np.float64)
        train = split == "train"
        if cfg.method == "prs":
            if betas is None:
                raise InputError(f"{cfg.panel}: panel has no beta column (needed for prs)")
            dosages = prs_input(dosages, betas, train)
            betas = np.ones(1)
        g, state = prepare_genetics(dosages, train, covs)
        gbetas = None if betas is None else standardised_betas(betas, state)
    y = None if targets is None else targets.loc[keep_iids].to_numpy(dtype=np.float32)
    meta["n_individuals"] = len(rows)
    logger.info("cohort: %d individuals (%s)", len(rows),
                ", ".join(f"{s} {int((split == s).sum())}" for s in SPLITS))
    return Cohort(keep_iids, source, split, g=g, betas=gbetas, y=y, fids=fids, meta=meta)


def _intersect(keep: pd.Index, other: pd.Index, what: str, meta: dict[str, Any]) -> pd.Index:
    new = keep[keep.isin(other)]
    dropped = len(keep) - len(new)
    if dropped:
        logger.info("dropped %d individual(s) absent from the %s", dropped, what)
        meta[f"dropped_no_{what.replace(' ', '_')}"] = dropped
    if len(new) == 0:
        raise InputError(f"no individual is in both the image table and the {what}")
    return new

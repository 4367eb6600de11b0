"""What a task needs on the process that runs it: single-threaded BLAS, a per-process cache of
opened inputs, and log records carried back to the client.

Generic: nothing here knows what a task computes or which files it opens.
"""
from __future__ import annotations

import logging
import os
import threading
from typing import Callable, Hashable, Sequence

from .._log import logger

__all__ = ["pin_blas_single_thread", "cached_per_process", "file_signature", "capture_logs",
           "replay_logs"]

_BLAS_PINNED = False
_CACHE: dict = {}
_CACHE_LOCK = threading.Lock()


def pin_blas_single_thread() -> None:
    """BLAS single-threaded for good in this (worker) process; never restored, so concurrent
    tasks cannot see another task's restore. In-process runs use a scoped limit instead
    (:func:`gwaskit.engine.execute.run_tasks`)."""
    global _BLAS_PINNED
    if not _BLAS_PINNED:
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=1, user_api="blas")
        _BLAS_PINNED = True


def file_signature(paths: Sequence[str | os.PathLike]) -> tuple:
    """``(size, mtime_ns)`` per path (None for a missing file): detects a replaced input."""
    sig = []
    for p in paths:
        try:
            st = os.stat(p)
            sig.append((st.st_size, st.st_mtime_ns))
        except OSError:
            sig.append(None)
    return tuple(sig)


def cached_per_process(key: Hashable, signature: Hashable, opener: Callable[[], object]):
    """The object ``opener()`` made for ``key`` in this process, reopened when ``signature``
    (e.g. :func:`file_signature` of its files) changed. An object with a ``close`` method is
    closed when it is replaced."""
    with _CACHE_LOCK:
        hit = _CACHE.get(key)
        if hit is not None and hit[0] == signature:
            return hit[1]
        if hit is not None:
            close = getattr(hit[1], "close", None)
            if callable(close):
                close()
            del _CACHE[key]
        obj = opener()
        _CACHE[key] = (signature, obj)
        return obj


class _DivertCaptured(logging.Filter):
    """On gwaskit's logger: records logged by a thread inside :class:`capture_logs` go to that
    thread's list instead of the handlers; other threads' records pass."""

    def filter(self, record: logging.LogRecord) -> bool:
        records = getattr(_CAPTURE, "records", None)
        if records is None:
            return True
        records.append(record)
        return False


_CAPTURE = threading.local()
_CAPTURE_LOCK = threading.Lock()
_CAPTURE_STATE = {"depth": 0, "level": logging.NOTSET}
_DIVERT = _DivertCaptured()
logger.addFilter(_DIVERT)


class capture_logs:
    """Collect the records gwaskit logs in this thread inside the block, instead of emitting
    them: ``with capture_logs() as records: ...``. A task's records are thus carried back to
    the client (from a Dask worker, or from one of several in-process threads) and replayed
    there with :func:`replay_logs` in task order, so the log is the same in every mode.
    Records are reduced to picklable form (message formatted). Thread-safe."""

    def __enter__(self) -> list:
        with _CAPTURE_LOCK:
            if _CAPTURE_STATE["depth"] == 0:
                _CAPTURE_STATE["level"] = logger.level
                if not logger.isEnabledFor(logging.INFO):  # the client filters again on replay
                    logger.setLevel(logging.INFO)
            _CAPTURE_STATE["depth"] += 1
        self.records: list = []
        self._outer = getattr(_CAPTURE, "records", None)
        _CAPTURE.records = self.records
        return self.records

    def __exit__(self, *exc) -> None:
        _CAPTURE.records = self._outer
        with _CAPTURE_LOCK:
            _CAPTURE_STATE["depth"] -= 1
            if _CAPTURE_STATE["depth"] == 0:
                logger.setLevel(_CAPTURE_STATE["level"])
        for r in self.records:
            r.msg, r.args, r.exc_info, r.exc_text, r.stack_info = r.getMessage(), None, None, None, None


def replay_logs(records) -> None:
    """Emit records captured by :class:`capture_logs` through the client's logger."""
    for r in records:
        if logger.isEnabledFor(r.levelno):
            logger.handle(r)

"""The default number of worker threads, shared by the readers and the engine."""
from __future__ import annotations

import os

from .errors import InputError


def default_threads() -> int:
    """``$GWASKIT_THREADS`` if set, else the number of usable CPUs (at most 16)."""
    env = os.environ.get("GWASKIT_THREADS")
    if env:
        try:
            return max(1, int(env))
        except ValueError:
            raise InputError(f"GWASKIT_THREADS: expected an integer, got {env!r}") from None
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        n = os.cpu_count() or 1
    return max(1, min(n, 16))

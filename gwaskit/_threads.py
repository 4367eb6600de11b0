"""The default number of worker threads, shared by the readers and the engine."""
from __future__ import annotations

import os

from .errors import InputError


def default_threads() -> int:
    """``$GWASKIT_THREADS`` if set, else the number of usable CPUs (at most 16).

    Raises
    ------
    InputError
        When ``$GWASKIT_THREADS`` is set but is not a positive integer (one line naming it).
    """
    env = os.environ.get("GWASKIT_THREADS")
    if env and env.strip():
        try:
            n = int(env)
        except ValueError:
            n = 0
        if n < 1:  # a typo must not silently become 1 thread (or all of them)
            raise InputError(f"GWASKIT_THREADS: expected a positive integer, got {env!r}")
        return n
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        n = os.cpu_count() or 1
    return max(1, min(n, 16))

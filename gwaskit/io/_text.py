"""Vectorised whitespace tokenising of small ASCII tables (no pandas): token boundaries with
numpy, then only the wanted columns become Python strings."""
from __future__ import annotations

import numpy as np


def token_bounds(b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """For ASCII bytes ``b`` (tokens separated by blanks/tabs, lines by ``\\n``): token starts,
    token stops (exclusive) and the number of tokens on each line (a final line without
    ``\\n`` counts). None when ``b`` holds control characters other than tab/newline."""
    if np.any((b < 32) & (b != 9) & (b != 10)):
        return None
    ends = np.flatnonzero(b == 10)
    if len(b) and b[-1] != 10:
        ends = np.append(ends, len(b))
    isws = b <= 32
    start = ~isws
    start[1:] &= isws[:-1]
    stop = ~isws
    stop[:-1] &= isws[1:]
    tstart = np.flatnonzero(start)
    ntok = np.diff(np.searchsorted(tstart, ends), prepend=0)
    return tstart, np.flatnonzero(stop) + 1, ntok


def slices(b: np.ndarray, start: np.ndarray, stop: np.ndarray) -> list[str]:
    """``[bytes(b[i:j]).decode() for i, j in zip(start, stop)]`` for non-empty ASCII tokens
    without NUL bytes, vectorised."""
    if len(start) == 0:
        return []
    step = (stop - start) + 1  # each token and a newline
    out_end = np.cumsum(step)
    src = np.arange(int(out_end[-1])) - np.repeat(out_end - step - start, step)
    out = b[np.minimum(src, len(b) - 1)]
    out[out_end - 1] = 10
    return out.tobytes().decode().split("\n")[:-1]

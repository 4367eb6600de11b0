"""Chunk plan: which variants each task decodes and tests.

The plan is a pure function of the per-file variant counts and the chunk size, so every
execution mode (in-process, LocalCluster, remote scheduler) and every resumed run cuts the
genotype files at the same places. Chunks never straddle two files.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from ..errors import InputError

__all__ = ["Chunk", "plan_chunks"]


@dataclass(frozen=True)
class Chunk:
    """Variants ``start .. stop - 1`` (global indices of the reader's variant table), all
    stored in file number ``file`` of the reader's (sorted) file list."""

    index: int
    file: int
    start: int
    stop: int

    @property
    def size(self) -> int:
        return self.stop - self.start

    def as_list(self) -> list[int]:
        return [self.file, self.start, self.stop]


def plan_chunks(file_sizes: Sequence[int], chunk_size: int) -> list[Chunk]:
    """Split each file's variants into consecutive chunks of at most ``chunk_size``.

    Parameters
    ----------
    file_sizes : number of variants per file, in the reader's file order
    chunk_size : variants per chunk (>= 1)
    """
    if chunk_size < 1:
        raise InputError(f"chunk_size: must be >= 1, got {chunk_size}")
    chunks: list[Chunk] = []
    base = 0
    for f, n in enumerate(file_sizes):
        for s in range(0, int(n), chunk_size):
            chunks.append(Chunk(len(chunks), f, base + s, base + min(s + chunk_size, int(n))))
        base += int(n)
    return chunks

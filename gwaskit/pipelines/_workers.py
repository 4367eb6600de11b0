"""Genotype readers for tasks that run on Dask workers (clump, prs): the files are reopened
under the client's paths (a shared filesystem) and cached per worker process."""
from __future__ import annotations

import os

from ..engine.workers import cached_per_process, file_signature
from ..errors import GenotypeFormatError, InputError


def worker_reader(paths, sample_file: str | None, n_variants: int, n_samples: int, *,
                  vcf_dosage: str = "auto", selected=None):
    """The genotype reader of a task on a worker, reopened when a file's size or mtime
    changes; with ``selected`` (the client's :class:`~gwaskit.io.selection.SelectionResult`)
    the same :class:`~gwaskit.io.selection.SelectedGenotypes` view as on the client. A worker
    that sees other variant or sample counts than the client raises
    :class:`GenotypeFormatError`."""
    from ..io.genotypes import open_genotypes
    from ..io.selection import SelectedGenotypes

    paths = [str(p) for p in paths]
    if selected is not None:  # the counts to check are the files', before the selection
        n_variants = selected.counts["n_variants_in"]
        n_samples = selected.counts["n_samples_in"]

    def opener():
        r = open_genotypes(paths if len(paths) > 1 else paths[0], sample_file=sample_file,
                           vcf_dosage=vcf_dosage)
        if len(r.variants) != n_variants or len(r.samples) != n_samples:
            r.close()
            raise GenotypeFormatError(
                f"{paths[0]}: this worker sees {len(r.variants)} variants and {len(r.samples)} "
                f"samples, the client {n_variants} and {n_samples} (genotype files must be the "
                f"same on every worker)")
        return r

    reader = cached_per_process(("reference", tuple(paths), sample_file, vcf_dosage),
                                file_signature(paths), opener)
    return reader if selected is None else SelectedGenotypes(reader, selected)


def reader_files(reader, what: str) -> list[str]:
    """Absolute paths of a reader's genotype files (for tasks that reopen them on workers)."""
    paths = getattr(reader, "paths", None)
    if not paths:
        raise InputError(f"{what}: Dask execution needs genotype files (this reader has none "
                         f"to reopen on the workers)")
    return [os.path.abspath(str(p)) for p in paths]

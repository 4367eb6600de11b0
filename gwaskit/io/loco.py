"""Leave-one-chromosome-out (LOCO) trait predictions on disk: ``<out>.loco.parquet``.

Written by ``gwaskit loco`` (:func:`gwaskit.pipelines.loco.run_loco`) and read by ``gwaskit scan
--loco``; REGENIE's step-1 output is read into the same :class:`LocoPredictions` by
:func:`gwaskit.io.regenie.read_regenie_pred` when that module is present.

Layout: one row per (chromosome, sample), columns ``chromosome`` (string, plink2 codes via
:func:`~gwaskit.io.selection.normalize_chromosome`; ``*`` holds the whole-genome prediction),
``IID``, then one float64 column per trait dimension (the names the scan reports, e.g.
``PC1``). The Parquet schema metadata key ``gwaskit_loco`` holds JSON provenance: the trait
transformation's options and the SHA-256 of the transformed traits, the sample IDs' SHA-256, the
step-1 settings and the package versions. A scan refuses a file whose provenance differs from
its own run (:meth:`LocoPredictions.check_matches`), with one line naming the difference.

The prediction of a chromosome that had no step-1 block is the whole-genome prediction: the sum
over every block not on that chromosome is the sum over all blocks.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

from ..errors import InputError
from .selection import normalize_chromosome

__all__ = ["GENOME_KEY", "LocoPredictions", "read_loco", "write_loco", "traits_digest",
           "ids_digest"]

#: ``chromosome`` value of the whole-genome prediction rows.
GENOME_KEY = "*"
_META_KEY = b"gwaskit_loco"


def traits_digest(y: np.ndarray) -> str:
    """SHA-256 of a float64 trait matrix's bytes (C order): equal only for the same traits."""
    a = np.ascontiguousarray(np.asarray(y, dtype=np.float64))
    h = hashlib.sha256(str(a.shape).encode())
    h.update(a.tobytes())
    return h.hexdigest()


def ids_digest(ids: Sequence[str]) -> str:
    """SHA-256 of sample IDs in order."""
    return hashlib.sha256("\n".join(map(str, ids)).encode()).hexdigest()


@dataclass
class LocoPredictions:
    """Per-chromosome LOCO predictions of D traits for N samples.

    Attributes
    ----------
    sample_ids : list of str
        IIDs, in the row order of every prediction.
    dim_names : list of str
        The trait dimensions, in column order.
    predictions : dict
        Chromosome code -> (N, D) float64: the prediction from every step-1 block not on it.
    genome : ndarray or None
        (N, D) whole-genome prediction, used for chromosomes without a step-1 block.
    provenance : dict
        How the predictions were made (see the module docstring).
    source : str
        The file read (for messages).
    aliases : dict
        Chromosome code -> the code whose prediction it uses when it has none of its own
        (REGENIE's step 1 writes one row, 23, for X, XY, Y and the PARs).
    """

    sample_ids: list[str]
    dim_names: list[str]
    predictions: dict[str, np.ndarray]
    genome: np.ndarray | None = None
    provenance: dict = field(default_factory=dict)
    source: str = "LOCO predictions"
    aliases: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n, d = len(self.sample_ids), len(self.dim_names)
        self.predictions = {normalize_chromosome(k): np.asarray(v, dtype=np.float64)
                            for k, v in self.predictions.items()}
        if self.genome is not None:
            self.genome = np.asarray(self.genome, dtype=np.float64)
        for k, v in [*self.predictions.items(), ("genome", self.genome)]:
            if v is not None and v.shape != (n, d):
                raise InputError(f"{self.source}: chromosome {k} predictions have shape "
                                 f"{v.shape}, expected ({n}, {d})")

    def for_chromosome(self, chromosome: str) -> tuple[np.ndarray, str]:
        """``(prediction, key used)``: the chromosome's own, else that of its alias, else the
        whole-genome one.

        Raises
        ------
        InputError
            None exists.
        """
        key = normalize_chromosome(chromosome)
        if key in self.predictions:
            return self.predictions[key], key
        alias = self.aliases.get(key)
        if alias in self.predictions:
            return self.predictions[alias], alias
        if self.genome is not None:
            return self.genome, GENOME_KEY
        raise InputError(f"{self.source}: no LOCO prediction for chromosome {chromosome} (it "
                         f"has {', '.join(self.predictions)}) and no whole-genome prediction")

    def aligned(self, sample_ids: Sequence[str]) -> "LocoPredictions":
        """The predictions for ``sample_ids``, in that order.

        Raises
        ------
        InputError
            A sample without a prediction (named, with the count).
        """
        ids = [str(s) for s in sample_ids]
        if ids == self.sample_ids:
            return self
        pos = {s: i for i, s in enumerate(self.sample_ids)}
        missing = [s for s in ids if s not in pos]
        if missing:
            raise InputError(f"{self.source}: {len(missing)} of the {len(ids)} analysed samples "
                             f"have no LOCO prediction (e.g. {', '.join(missing[:3])}); run "
                             f"step 1 on the same samples")
        idx = np.array([pos[s] for s in ids], dtype=np.int64)
        return LocoPredictions(ids, list(self.dim_names),
                               {k: v[idx] for k, v in self.predictions.items()},
                               None if self.genome is None else self.genome[idx],
                               dict(self.provenance), self.source, dict(self.aliases))

    def check_matches(self, expected: Mapping[str, Any]) -> None:
        """Refuse predictions made for another run: ``expected`` holds the scan's own
        ``transform`` options, ``traits_sha256``, ``samples_sha256`` and ``dim_names``.

        Only keys present on both sides are compared (REGENIE's files carry no provenance:
        for them only the sample set and the dimension names can be checked).

        Raises
        ------
        InputError
            One line naming the first difference.
        """
        prov = self.provenance
        exp_t, got_t = expected.get("transform"), prov.get("transform")
        if exp_t is not None and got_t is not None:
            for key in sorted(set(exp_t) | set(got_t)):
                if exp_t.get(key) != got_t.get(key):
                    raise InputError(f"{self.source}: made with another configuration: {key} = "
                                     f"{got_t.get(key)!r} there, {exp_t.get(key)!r} here")
        if "dim_names" in expected and list(expected["dim_names"]) != list(self.dim_names):
            raise InputError(f"{self.source}: made for traits {', '.join(self.dim_names[:6])}, "
                             f"this scan tests {', '.join(list(expected['dim_names'])[:6])}")
        if ("samples_sha256" in expected and "samples_sha256" in prov
                and expected["samples_sha256"] != prov["samples_sha256"]):
            raise InputError(f"{self.source}: made for another sample set ({prov.get('n')} "
                             f"samples there, {expected.get('n')} here, or another order)")
        if ("traits_sha256" in expected and "traits_sha256" in prov
                and expected["traits_sha256"] != prov["traits_sha256"]):
            raise InputError(f"{self.source}: made for other trait values (same options and "
                             f"samples, but the transformed traits differ: another phenotype "
                             f"or covariate file?)")


def write_loco(path: str | os.PathLike, loco: LocoPredictions, *, overwrite: bool = False) -> str:
    """Write ``loco`` to ``path`` (``.loco.parquet``) atomically.

    Returns
    -------
    str
        ``path``.
    """
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    from .output import atomic_path

    blocks = list(loco.predictions.items())
    if loco.genome is not None:
        blocks.append((GENOME_KEY, loco.genome))
    n = len(loco.sample_ids)
    frame = pd.DataFrame({
        "chromosome": np.repeat([k for k, _ in blocks], n),
        "IID": np.tile(np.asarray(loco.sample_ids, dtype=object), len(blocks)),
        **{name: np.concatenate([v[:, j] for _, v in blocks]) if blocks else np.zeros(0)
           for j, name in enumerate(loco.dim_names)},
    })
    table = pa.Table.from_pandas(frame, preserve_index=False)
    meta = dict(table.schema.metadata or {})
    meta[_META_KEY] = json.dumps({"dim_names": list(loco.dim_names), **loco.provenance},
                                 sort_keys=True, default=str).encode()
    table = table.replace_schema_metadata(meta)
    with atomic_path(path, overwrite) as tmp:
        pq.write_table(table, tmp)
    return str(path)


def read_loco(path: str | os.PathLike) -> LocoPredictions:
    """Read a ``gwaskit loco`` file.

    Raises
    ------
    InputError
        Not a gwaskit LOCO file, a missing column, or samples that differ between chromosomes.
    """
    import pyarrow.parquet as pq

    src = str(path)
    try:
        table = pq.read_table(src)
    except (OSError, ValueError) as e:
        raise InputError(f"{src}: cannot read as a LOCO predictions file ({e})") from None
    raw = (table.schema.metadata or {}).get(_META_KEY)
    if raw is None:
        raise InputError(f"{src}: not a gwaskit LOCO file (no gwaskit_loco metadata); REGENIE "
                         f"step-1 output is read with --loco-regenie PRED_LIST")
    try:
        prov = json.loads(raw)
    except ValueError:
        raise InputError(f"{src}: unreadable gwaskit_loco metadata") from None
    dims = [str(d) for d in prov.pop("dim_names", [])]
    df = table.to_pandas()
    missing = [c for c in ["chromosome", "IID", *dims] if c not in df.columns]
    if missing:
        raise InputError(f"{src}: missing column(s) {', '.join(missing)}")
    preds: dict[str, np.ndarray] = {}
    genome = None
    ids: list[str] | None = None
    for chrom, part in df.groupby("chromosome", sort=False):
        part_ids = part["IID"].astype(str).tolist()
        if ids is None:
            ids = part_ids
        elif part_ids != ids:
            raise InputError(f"{src}: chromosome {chrom} lists other samples than the first")
        values = part[dims].to_numpy(dtype=np.float64)
        if not np.all(np.isfinite(values)):
            raise InputError(f"{src}: chromosome {chrom}: non-finite predictions")
        if chrom == GENOME_KEY:
            genome = values
        else:
            preds[str(chrom)] = values
    return LocoPredictions(ids or [], dims, preds, genome, prov, src)

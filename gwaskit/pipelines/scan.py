"""The file-level multi-trait scan: genotype files x phenotype table -> one row per variant.

Data flow: :class:`ScanInputs` -> :func:`~gwaskit.io.genotypes.open_genotypes` and
:func:`~gwaskit.io.tables.load_analysis_data` -> :class:`~gwaskit.stats.multitrait.MultiTraitScan`
fitted once (the null model) -> a chunk plan (:func:`~gwaskit.engine.plan.plan_chunks`) -> one
task per chunk on the executor (:func:`~gwaskit.engine.execute.run_tasks`: decode the chunk and
test it) -> parts (checkpoint) -> :class:`ScanResult`.

**Bit-identity.** A chunk's statistics depend only on the chunk, its blocks (:data:`BLOCK_BYTES`)
and the null model. Tasks run single-threaded BLAS and serial kernels in every mode, so the same
inputs and configuration give the same bits with 1 or many threads, on a LocalCluster, on a
remote scheduler and after a resume, on one machine with the package versions recorded in the
checkpoint manifest.
"""
from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from .._log import logger
from ..engine.execute import Execution, run_tasks
from ..engine.plan import Chunk, plan_chunks
from ..engine.workers import cached_per_process, file_signature, pin_blas_single_thread
from ..errors import GenotypeFormatError, InputError
from ..io.selection import Selection, SelectedGenotypes, SelectionResult, apply_selection
from ..stats.multitrait import ERR_OK, OUTPUT_COLUMNS, PVALUE_LAWS, TESTS, MultiTraitScan
from ..stats.pvalues import lambda_gc

__all__ = ["ScanInputs", "ScanConfig", "ScanResult", "ScanPlan", "Checkpoint", "run_scan",
           "plan_scan", "scan", "loco_provenance", "TRANSFORM_FIELDS",
           "ERR_BAD", "BLOCK_BYTES"]

ERR_BAD = "BAD_GENOTYPES"
#: A chunk is decoded and tested in blocks of about this many bytes of dosages, so each worker
#: thread reuses one small buffer (first-touch page faults of a fresh 80 MB buffer cost more
#: than testing it). The block size depends only on N, the dtype and the chunk, so every
#: execution mode computes the same bits.
BLOCK_BYTES = 16 << 20
_MIN_BLOCK = 64


def _tuple(x) -> tuple[str, ...] | None:
    if x is None:
        return None
    return (x,) if isinstance(x, str) else tuple(str(v) for v in x)


@dataclass(frozen=True)
class ScanInputs:
    """The files of a scan.

    Parameters
    ----------
    genotypes : BGEN path(s) or glob, PLINK ``.bed`` or PLINK 2 ``.pgen`` prefix(es), VCF/BCF
        file(s) (see :func:`~gwaskit.io.genotypes.open_genotypes`)
    pheno : phenotype (embedding) table: ``.parquet``, ``.tsv[.gz]`` or ``.csv`` with IID
    sample_file : ``.sample`` for BGEN files without embedded sample IDs
    covar : covariate table
    vcf_dosage : VCF FORMAT field read as dosage (``auto``: DS, else GP, else GT)
    loco : a ``gwaskit loco`` file (``.loco.parquet``): variants of chromosome c are tested
        against the traits minus their chromosome-c LOCO prediction
    loco_regenie : instead, REGENIE step 1's ``<prefix>_pred.list`` (for traits written by
        ``gwaskit transform``)
    """

    genotypes: str | tuple[str, ...]
    pheno: str
    sample_file: str | None = None
    covar: str | None = None
    vcf_dosage: str = "auto"
    loco: str | None = None
    loco_regenie: str | None = None

    def __post_init__(self) -> None:
        if not self.genotypes:
            raise InputError("genotypes: give a BGEN path or glob, or a PLINK prefix")
        if not self.pheno:
            raise InputError("pheno: a phenotype table is required")
        g = self.genotypes
        object.__setattr__(self, "genotypes", g if isinstance(g, str) else tuple(map(str, g)))
        if self.loco and self.loco_regenie:
            raise InputError("loco and loco_regenie: give at most one LOCO prediction source")


@dataclass(frozen=True)
class ScanConfig:
    """Every option that changes a scan's result (see :class:`MultiTraitScan` for the
    statistics). ``chunk_size`` is included: chunk (and block) boundaries fix the GEMM shapes,
    hence the last bits.

    Parameters
    ----------
    pheno_cols, covar_cols : column names or globs (default: all numeric / all)
    categorical : categorical covariates (one-hot, first level dropped)
    pca, rank_normalize, test, pvalue, per_dim, maf, mac, dtype, missing : as
        :class:`MultiTraitScan` (``missing``: ``"mean"`` imputation or plink2-style ``"drop"``);
        ``dtype="float32"`` (default) differs from MANOVA by ~1e-5 relative in the statistic,
        ``"float64"`` by < 1e-8 (tests/pipelines/test_scan_pipeline.py)
    chunk_size : variants per task; chunks never straddle two files
    skip_bad_variants : an undecodable variant gets errcode ``BAD_GENOTYPES`` instead of
        stopping the scan
    split_values, all_splits, split_col : the held-out guard of
        :func:`~gwaskit.io.tables.load_analysis_data`: a phenotype table whose ``split_col``
        holds several values is refused unless ``split_values`` (e.g. ``("test",)``) picks the
        rows, samples are kept explicitly, or ``all_splits`` uses every row
    allow_id_mismatch : accept a sample-ID overlap that looks wrong (under 50% matched, or
        IDs equal but for leading zeros); it is then only logged
    selection : plink2-style sample and variant filters (:class:`~gwaskit.io.selection.Selection`),
        applied before anything else, in plink2's order; unlike ``maf``/``mac`` (which mark
        variants ``LOW_MAF`` over the analysed samples and keep their rows), its dosage filters
        remove variants, computed over every selected genotype sample as plink2 does. A
        ``--keep`` file also answers the held-out guard (it says which rows to use).
    """

    pheno_cols: tuple[str, ...] | None = None
    covar_cols: tuple[str, ...] | None = None
    categorical: tuple[str, ...] = ()
    pca: int | str | None = "all"
    rank_normalize: bool = True
    test: str = "scaled-lrt"
    pvalue: str = "exact"
    per_dim: bool = False
    maf: float = 0.0
    mac: float = 0.0
    dtype: str = "float32"
    missing: str = "mean"
    chunk_size: int = 2000
    skip_bad_variants: bool = False
    split_values: tuple[str, ...] | None = None
    all_splits: bool = False
    split_col: str = "split"
    allow_id_mismatch: bool = False
    selection: Selection = Selection()

    def __post_init__(self) -> None:
        sel = self.selection
        if isinstance(sel, dict):  # a configuration read back from a run's metadata
            sel = Selection(**{k: v for k, v in sel.items() if not k.startswith("_")})
            object.__setattr__(self, "selection", sel)
        if not isinstance(sel, Selection):
            raise InputError("selection: expected a gwaskit.io.selection.Selection or a dict")
        object.__setattr__(self, "split_values", _tuple(self.split_values))
        for name in ("pheno_cols", "covar_cols"):
            object.__setattr__(self, name, _tuple(getattr(self, name)))
        object.__setattr__(self, "categorical", _tuple(self.categorical) or ())
        if self.test not in TESTS:
            raise InputError(f"test: unknown test {self.test!r}; choose one of {', '.join(TESTS)}")
        if self.pvalue not in PVALUE_LAWS:
            raise InputError(f"pvalue: unknown law {self.pvalue!r}; choose one of "
                             f"{', '.join(PVALUE_LAWS)}")
        if not (isinstance(self.chunk_size, (int, np.integer)) and self.chunk_size >= 1):
            raise InputError(f"chunk_size: must be a positive integer, got {self.chunk_size!r}")
        self.model()  # validates the statistical options (names the parameter)

    def model(self) -> MultiTraitScan:
        """An unfitted :class:`MultiTraitScan` with these options."""
        return MultiTraitScan(test=self.test, pvalue=self.pvalue, per_dim=self.per_dim,
                              pca=self.pca, rank_normalize=self.rank_normalize, maf=self.maf,
                              mac=self.mac, dtype=self.dtype, missing=self.missing)

    def result_options(self) -> dict:
        """The options that determine the bits of tested variants: all but
        ``skip_bad_variants`` (a policy for unreadable variants: a run stopped by one may be
        resumed with it)."""
        opts = asdict(self)
        opts.pop("skip_bad_variants")
        opts.pop("allow_id_mismatch")  # a gate: it lets a run start, never changes its bits
        opts["selection"] = self.selection.fingerprint()  # filter files enter by content
        return opts

    def fingerprint(self) -> str:
        """SHA-256 of :meth:`result_options` (canonical JSON)."""
        blob = json.dumps({"kind": "scan", **self.result_options()}, sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()


@dataclass(frozen=True)
class Checkpoint:
    """A work directory (``<out>.parts``) holding one part per finished chunk; ``resume``
    reuses the parts of an interrupted run with the same inputs and configuration."""

    path: str
    resume: bool = False


@dataclass
class ScanResult:
    """The result table (columns :data:`~gwaskit.stats.multitrait.OUTPUT_COLUMNS`, then
    ``beta_<k>, standard_error_<k>, p_value_<k>`` with ``per_dim``) and the run's metadata
    (N, D, c, covariates kept and dropped, p-value law, λ_GC, chunks, skipped variants, time)."""

    table: "object"
    metadata: dict = field(default_factory=dict)


#: The :class:`ScanConfig` fields that decide the traits a scan tests (and so a LOCO file's
#: validity); the variant options (maf, selection of variants, test, dtype ...) do not.
TRANSFORM_FIELDS = ("pheno_cols", "covar_cols", "categorical", "pca", "rank_normalize",
                    "split_col", "split_values", "all_splits")


# -- the per-chunk task -------------------------------------------------------------------------

@dataclass
class ScanJob:
    """Everything a task needs besides its chunk: scattered once to every Dask worker."""

    paths: list[str]
    sample_file: str | None
    sample_index: np.ndarray  # positions among the selected samples (all when no selection)
    model: MultiTraitScan  # fitted
    dtype: str
    per_dim: bool
    skip_bad_variants: bool
    n_variants: int  # in the files, before any selection
    vcf_dosage: str = "auto"
    selected: SelectionResult | None = None  # the Selection's samples and variants
    # LOCO: normalised chromosome -> the null model of the traits minus that chromosome's
    # prediction (None: one model for every variant)
    loco_models: dict | None = None


@dataclass
class ChunkResult:
    chunk: Chunk
    frame: "object"
    skipped: list  # dicts: index, variant_id, file, error
    seconds: float = 0.0


def _reader_for(job: ScanJob):
    from ..io.genotypes import open_genotypes

    def opener():
        r = open_genotypes(list(job.paths), sample_file=job.sample_file, n_threads=1,
                           vcf_dosage=job.vcf_dosage)
        if r.n_variants != job.n_variants:
            r.close()
            raise GenotypeFormatError(
                f"{job.paths[0]}: this worker sees {r.n_variants} variants, the client "
                f"planned {job.n_variants} (genotype files must be the same on every worker)")
        return r

    reader = cached_per_process(("scan", tuple(job.paths), job.sample_file, job.vcf_dosage),
                                file_signature(job.paths), opener)
    return reader if job.selected is None else SelectedGenotypes(reader, job.selected)


_BUFFERS = threading.local()


def _chunk_buffer(shape: tuple, dtype) -> np.ndarray:
    """A Fortran-ordered array for one decoded block, recycled per thread (see
    :func:`gwaskit.io.genotypes._recycled`: reused only once nobody else references it)."""
    from ..io.genotypes import _recycled

    spare = getattr(_BUFFERS, "spare", None)
    if spare is None:
        spare = _BUFFERS.spare = []
    return _recycled(spare, shape, np.dtype(dtype))


def _decode(job: ScanJob, chunk: Chunk, reader):
    """``(variant_table, N x m dosages, skipped, column_stats or None)`` of one block.

    A corrupt variant raises :class:`GenotypeFormatError` (naming file and variant) unless
    ``job.skip_bad_variants``: then the block is re-decoded variant by variant and each
    unreadable variant becomes a NaN column, listed in ``skipped``."""
    idx = np.arange(chunk.start, chunk.stop, dtype=np.int64)
    out = _chunk_buffer((len(job.sample_index), chunk.size),
                        np.float32 if job.dtype == "float32" else np.float64)
    stats = np.full((chunk.size, 4), -1.0)  # n observed = -1: not filled by the decoder
    try:
        vt, dos = reader.read_dosages(samples=job.sample_index, variants=idx, out=out,
                                      stats=stats)
        return vt, dos, [], stats if np.all(stats[:, 0] >= 0) else None
    except GenotypeFormatError:
        if not job.skip_bad_variants:
            raise
    vt = reader.variants.iloc[idx]
    skipped = []
    for k, i in enumerate(idx.tolist()):
        try:
            reader.read_dosages(samples=job.sample_index, variants=[i], out=out[:, k:k + 1])
        except GenotypeFormatError as e:
            out[:, k] = np.nan
            skipped.append({"index": i, "variant_id": str(vt["variant_id"].iat[k]),
                            "file": str(reader.paths[chunk.file]), "error": str(e)})
            logger.warning("skipped unreadable variant %s (index %d): %s",
                           vt["variant_id"].iat[k], i, e)
    return vt, out, skipped, None


def _test_loco(job: ScanJob, vt, dos: np.ndarray, column_stats) -> dict:
    """Test each run of consecutive variants of one chromosome with that chromosome's model."""
    from ..io.selection import normalize_chromosome

    raw = vt["chromosome"].astype(str).to_numpy()
    codes = {c: normalize_chromosome(c) for c in set(raw.tolist())}
    chrom = np.array([codes[c] for c in raw], dtype=object)
    cuts = [0, *(np.flatnonzero(chrom[1:] != chrom[:-1]) + 1).tolist(), len(chrom)]
    parts = []
    for a, b in zip(cuts[:-1], cuts[1:]):
        stats = None if column_stats is None else column_stats[a:b]
        parts.append(job.loco_models[chrom[a]].test(dos[:, a:b], column_stats=stats))
    if len(parts) == 1:
        return parts[0]
    return {k: np.concatenate([np.asarray(p[k]) for p in parts]) for k in parts[0]}


def _test(job: ScanJob, vt, dos: np.ndarray, column_stats):
    import pandas as pd

    if job.loco_models is None:
        res = job.model.test(dos, column_stats=column_stats)
    else:
        res = _test_loco(job, vt, dos, column_stats)
    vt = vt.reset_index(drop=True)
    block = {c: vt[c].to_numpy() for c in OUTPUT_COLUMNS[:5]}
    block.update({c: res[c] for c in OUTPUT_COLUMNS[5:]})
    if job.per_dim:
        for k in job.model.dim_names_:
            for pre in ("beta_", "standard_error_", "p_value_"):
                block[pre + k] = res[pre + k]
    return pd.DataFrame(block)


def _blocks(job: ScanJob, chunk: Chunk) -> list[Chunk]:
    per_variant = max(len(job.sample_index), 1) * (4 if job.dtype == "float32" else 8)
    size = max(_MIN_BLOCK, BLOCK_BYTES // per_variant)
    return [Chunk(chunk.index, chunk.file, a, min(a + size, chunk.stop))
            for a in range(chunk.start, chunk.stop, size)] or [chunk]


def run_chunk(job: ScanJob, chunk: Chunk, reader=None) -> ChunkResult:
    """Decode and test one chunk, block by block: the task of every execution mode."""
    import pandas as pd

    t0 = time.time()
    if reader is None:  # a Dask worker: open (once per process) the files under the client's paths
        pin_blas_single_thread()
        reader = _reader_for(job)
    delay = float(os.environ.get("_GWASKIT_TEST_CHUNK_DELAY", "0") or 0)  # fault tests only
    if delay > 0:
        time.sleep(delay)
    frames, skipped = [], []
    for block in _blocks(job, chunk):
        vt, dos, bad, stats = _decode(job, block, reader)
        frames.append(_test(job, vt, dos, stats))
        skipped += bad
        del dos  # its buffer is recycled for the next block
    df = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
    if skipped:
        rows = np.array([s["index"] - chunk.start for s in skipped], dtype=np.int64)
        df.loc[rows, "errcode"] = ERR_BAD
    return ChunkResult(chunk, df, skipped, time.time() - t0)


class _InProcessTask:
    """``run_chunk`` bound to the client's open reader (in-process threads share it)."""

    def __init__(self, reader):
        self.reader = reader

    def __call__(self, job: ScanJob, chunk: Chunk) -> ChunkResult:
        return run_chunk(job, chunk, self.reader)


# -- inputs and metadata ------------------------------------------------------------------------

#: BGEN header and sample block, or the .bed magic, are hashed; size and mtime cover the rest.
_GENOTYPE_HASH_BYTES = 64 << 20


def _genotype_fingerprints(paths: Sequence[str]) -> list[dict]:
    """Fingerprints of genotype files: a BGEN's header and sample block (bytes ``0 .. 4 +
    offset``); a PLINK fileset's .bim and .fam (.pvar and .psam) in full and its .bed's
    (.pgen's) first bytes; a VCF/BCF's first :data:`_GENOTYPE_HASH_BYTES` and any index.
    Size and mtime cover every file's remainder."""
    from ..engine.checkpoint import fingerprint_file

    filesets = {".bed": ((".bed", 3), (".bim", None), (".fam", None)),
                ".pgen": ((".pgen", 64), (".pvar", None), (".psam", None))}
    out = []
    for path in paths:
        p = Path(path)
        name = p.name.lower()
        if p.suffix == ".bgen":
            with open(p, "rb") as fh:
                offset = int.from_bytes(fh.read(4), "little")
            out.append(fingerprint_file(p, hash_bytes=min(4 + offset, _GENOTYPE_HASH_BYTES)))
        elif p.is_dir():  # a VCF-Zarr store: its metadata in full, every chunk by size/mtime
            out.append(_store_fingerprint(p))
        elif name.endswith((".vcf", ".vcf.gz", ".bcf", ".vcf.bgz")):
            out.append(fingerprint_file(p, hash_bytes=_GENOTYPE_HASH_BYTES))
            for ext in (".tbi", ".csi"):
                if Path(str(p) + ext).exists():
                    out.append(fingerprint_file(str(p) + ext))
        else:
            stem = p.with_suffix("") if p.suffix in filesets else p
            kind = p.suffix if p.suffix in filesets else (
                ".pgen" if Path(str(stem) + ".pgen").exists() else ".bed")
            for ext, head in filesets[kind]:
                q = Path(str(stem) + ext)
                if q.exists():
                    out.append(fingerprint_file(q, hash_bytes=head))
    return out


def _store_fingerprint(path: Path) -> dict:
    """A directory store (VCF-Zarr): SHA-256 over its metadata files' bytes and every file's
    relative path, size and mtime."""
    h = hashlib.sha256()
    for f in sorted(q for q in path.rglob("*") if q.is_file()):
        st = f.stat()
        rel = f.relative_to(path).as_posix()
        h.update(f"{rel}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
        if f.name in (".zarray", ".zattrs", ".zgroup", ".zmetadata", "zarr.json"):
            h.update(f.read_bytes())
    return {"path": str(path), "kind": "directory store", "sha256": h.hexdigest()}


def _empty_result(names: Sequence[str], per_dim: bool):
    import pandas as pd

    cols = list(OUTPUT_COLUMNS)
    if per_dim:
        for k in names:
            cols += [f"beta_{k}", f"standard_error_{k}", f"p_value_{k}"]
    return pd.DataFrame({c: [] for c in cols})


def _open_selected(inputs: ScanInputs, config: ScanConfig):
    """``(reader, variants in the files, SelectionResult or None)``: the genotype files, seen
    through the configuration's selection."""
    from ..io.genotypes import open_genotypes

    # chunks run on the executor's threads, each decoding its own chunk: one reader thread
    reader = open_genotypes(inputs.genotypes if isinstance(inputs.genotypes, str)
                            else list(inputs.genotypes), sample_file=inputs.sample_file,
                            n_threads=1, vcf_dosage=inputs.vcf_dosage)
    n_file_variants = reader.n_variants
    if config.selection.is_empty:
        return reader, n_file_variants, None
    try:
        selected = apply_selection(reader, config.selection)
    except BaseException:
        reader.close()
        raise
    return SelectedGenotypes(reader, selected), n_file_variants, selected


def _fit_null(inputs: ScanInputs, config: ScanConfig, reader):
    """``(AnalysisData, fitted MultiTraitScan)`` for the reader's samples."""
    from ..io.tables import load_analysis_data

    data = load_analysis_data(list(reader.samples), inputs.pheno,
                              pheno_cols=list(config.pheno_cols) if config.pheno_cols else None,
                              covar=inputs.covar,
                              covar_cols=list(config.covar_cols) if config.covar_cols else None,
                              categorical=list(config.categorical),
                              allow_id_mismatch=config.allow_id_mismatch,
                              samples_chosen=bool(config.selection.keep),
                              split_col=config.split_col, all_splits=config.all_splits,
                              split_values=(list(config.split_values)
                                            if config.split_values else None))
    covs = data.covariates if data.covariates is not None and np.size(data.covariates) else None
    model = config.model().fit(data.Y, covs,
                               covariate_names=data.covariate_names if covs is not None else None,
                               pheno_names=data.pheno_names)
    return data, model


def loco_provenance(config: ScanConfig, data, model) -> dict:
    """What a LOCO file must have been made with to serve this scan: the transformation
    options, the analysed samples and the transformed traits (hashes), the dimension names."""
    from ..io.loco import ids_digest, traits_digest

    options = asdict(config)
    transform = {k: options[k] for k in TRANSFORM_FIELDS}
    transform["covariates_kept"] = list(model.covariates_kept_)
    return {"transform": json.loads(json.dumps(transform, default=str)),
            "samples_sha256": ids_digest([str(s) for s in data.iids]),
            "traits_sha256": traits_digest(model.traits_), "n": int(model.n_),
            "dim_names": list(model.dim_names_)}


def _loco_models(inputs: ScanInputs, config: ScanConfig, reader, data, model) -> tuple[dict, dict]:
    """``(normalised chromosome -> null model of the traits minus its LOCO prediction, metadata)``
    for every chromosome among the reader's variants; predictions made for another
    configuration, sample set or trait transformation are refused."""
    from ..io.loco import GENOME_KEY, read_loco
    from ..io.selection import normalize_chromosome

    expected = loco_provenance(config, data, model)
    iids = [str(s) for s in data.iids]
    if inputs.loco:
        preds = read_loco(inputs.loco)
        preds.check_matches(expected)
        preds = preds.aligned(iids)
        source = inputs.loco
    else:
        from ..io.regenie import read_regenie_pred, regenie_sample_ids

        preds = read_regenie_pred(inputs.loco_regenie, dim_names=model.dim_names_)
        table = reader.sample_table
        fids = (table["FID"].astype(str).to_numpy()[np.asarray(data.sample_index)]
                if "FID" in table.columns else np.asarray(iids))
        preds = preds.aligned(regenie_sample_ids(fids, iids))
        preds.check_matches({"dim_names": expected["dim_names"]})
        source = inputs.loco_regenie
    chroms = sorted({normalize_chromosome(c)
                     for c in reader.variants["chromosome"].astype(str).unique()})
    by_key: dict = {}
    models, used = {}, {}
    for c in chroms:
        offset, key = preds.for_chromosome(c)
        if key not in by_key:
            by_key[key] = model.with_offset(offset)
        models[c], used[c] = by_key[key], key
    borrowed = [f"{c} (whole-genome prediction)" if k == GENOME_KEY else f"{c} (chromosome "
                f"{k}'s prediction)" for c, k in used.items() if k != c]
    logger.info("LOCO: %s; %d chromosome(s) tested, %d null model(s) refitted%s", source,
                len(chroms), len(by_key), "; " + ", ".join(borrowed) if borrowed else "")
    return models, {"file": source, "format": "gwaskit" if inputs.loco else "regenie",
                    "prediction_used": used,
                    "provenance": {k: v for k, v in preds.provenance.items()
                                   if k not in ("transform",)}}


def run_scan(inputs: ScanInputs, config: ScanConfig | None = None, *,
             execution: Execution | None = None, checkpoint: Checkpoint | None = None,
             progress: Callable[[int], None] | None = None,
             before_genotypes: Callable[[int], None] | None = None) -> ScanResult:
    """Multi-trait scan of genotype files against a phenotype table.

    Parameters
    ----------
    inputs : the files
    config : the options that change results (default :class:`ScanConfig()`)
    execution : threads, a Dask scheduler or a LocalCluster (default: in-process, all CPUs);
        does not change results. In-process memory is about ``(threads + 1) x N x
        min(chunk_size, block) x itemsize`` beyond the null model.
    checkpoint : keep one part per finished chunk in a work directory (and resume from it)
    progress : called with the number of variants finished after each chunk
    before_genotypes : called after the null fit, before any genotype is read, with the number
        of variants the scan will report (the CLI checks here that its outputs are still
        writable and sizes its progress bar)

    Returns
    -------
    ScanResult
    """
    import pandas as pd

    config = config or ScanConfig()
    execution = execution or Execution()
    t0 = time.time()
    reader, n_file_variants, selected = _open_selected(inputs, config)
    wd = None
    meta: dict = {}
    if selected is not None:
        meta["selection"] = {"counts": selected.counts, "log": selected.log}
    try:
        sizes = reader.variants_per_file
        chunks = plan_chunks(sizes, config.chunk_size)
        paths = [os.path.abspath(str(p)) for p in reader.paths]
        variant_ids = reader.variants["variant_id"].to_numpy()
        done: set = set()
        if checkpoint is not None:
            from ..engine.checkpoint import WorkDir, fingerprint_file

            wd = WorkDir(checkpoint.path, fingerprint=config.fingerprint(),
                         config=config.result_options(), inputs={
                "genotypes": _genotype_fingerprints(paths),
                "sample": fingerprint_file(inputs.sample_file),
                "pheno": fingerprint_file(inputs.pheno), "covar": fingerprint_file(inputs.covar),
                **({"loco": fingerprint_file(inputs.loco or inputs.loco_regenie)}
                   if inputs.loco or inputs.loco_regenie else {})},
                chunks=chunks, chunk_ids=lambda c: variant_ids[c.start:c.stop])
            done = wd.check(checkpoint.resume)
        data, model = _fit_null(inputs, config, reader)
        logger.info("Null model: N = %d, D = %d, c = %d (covariates incl. intercept); test %s, "
                    "p-values %s", model.n_, model.d_, model.c_, config.test, config.pvalue)
        loco_models = None
        if inputs.loco or inputs.loco_regenie:
            loco_models, meta["loco"] = _loco_models(inputs, config, reader, data, model)
        if before_genotypes is not None:
            before_genotypes(int(sum(c.size for c in chunks)))
        if wd is not None:
            wd.open()
        todo = [c for c in chunks if c.index not in done]
        logger.info("Chunk plan: %d chunk(s) of <= %d variants over %d file(s)%s; computing %d, %s",
                    len(chunks), config.chunk_size, len(sizes),
                    f"; {len(done)} already done (resumed from {wd.path})" if done else "",
                    len(todo), execution.describe())
        meta.update({"chunks_total": len(chunks), "chunks_resumed": len(done),
                     "chunks_computed": 0, "execution": execution.describe(),
                     "work_dir": None if wd is None else str(wd.path)})
        if progress is not None and done:
            progress(int(sum(chunks[i].size for i in done)))
        frames: dict = {}
        skipped_mem: list = []

        def on_result(_k: int, res: ChunkResult) -> None:
            if wd is not None:
                wd.write_part(res.chunk, res.frame, res.skipped)
            else:
                frames[res.chunk.index] = res.frame
                skipped_mem.extend(res.skipped)
            meta["chunks_computed"] += 1
            if progress is not None:
                progress(res.chunk.size)

        job = ScanJob(paths=paths, sample_file=(os.path.abspath(inputs.sample_file)
                                                if inputs.sample_file else None),
                      sample_index=np.asarray(data.sample_index, dtype=np.int64), model=model,
                      dtype=config.dtype, per_dim=config.per_dim,
                      skip_bad_variants=config.skip_bad_variants, n_variants=n_file_variants,
                      vcf_dosage=inputs.vcf_dosage, selected=selected, loco_models=loco_models)
        if execution.distributed:
            reader.close()  # the workers open the files themselves
            task = run_chunk
        else:
            task = _InProcessTask(reader)
        run_tasks(task, job, todo, on_result, execution, label="chunk")
        if wd is not None:
            out = wd.assemble()
            skipped = [r for k in sorted(wd.skipped, key=int) for r in wd.skipped[k]]
        else:
            out = pd.concat([frames[c.index] for c in chunks], ignore_index=True) if chunks else None
            skipped = skipped_mem
    finally:
        if wd is not None:
            wd.close()
        reader.close()
    if out is None:
        out = _empty_result(model.dim_names_, config.per_dim)
    n_var = len(out)
    if skipped:
        logger.warning("Skipped %d variant(s) with unreadable genotypes (errcode %s)",
                       len(skipped), ERR_BAD)
    tested = out["errcode"] == ERR_OK
    lam = lambda_gc(out.loc[tested, "chisq"].to_numpy(), model.d_) if tested.any() else float("nan")
    counts = out["errcode"].value_counts().to_dict()
    logger.info("Tested %d of %d variants in %.1f s; lambda_GC (%d-df %s) = %.4f%s",
                int(tested.sum()), n_var, time.time() - t0, model.d_, config.test, lam,
                "" if len(counts) <= 1 else "; " + ", ".join(
                    f"{k}: {v}" for k, v in counts.items() if k != ERR_OK))
    meta.update({
        "config": asdict(config), "config_fingerprint": config.fingerprint(),
        "n_variants_in_files": n_file_variants,
        "n": model.n_, "d": model.d_, "c": model.c_, "df2_exact": model.df2_,
        "dimensions": model.dim_names_, "phenotypes": list(data.pheno_names),
        "covariates_kept": model.covariates_kept_, "covariates_dropped": model.covariates_dropped_,
        "pca": None if model.pca_ is None else {
            "n_components": int(model.d_),
            "explained_variance_ratio": model.pca_.explained_variance_ratio.tolist()},
        "statistic": ("-N D log(1 - Q/D)" if config.test == "scaled-lrt" else "-N log(1 - Q)"),
        "pvalue_law": (f"Q ~ Beta({model.d_}/2, {model.df2_}/2), i.e. F({model.d_}, {model.df2_})"
                       if config.pvalue == "exact" else f"chisq ~ chi2({model.d_})"),
        "lambda_gc": lam, "lambda_gc_df": model.d_,
        "n_variants": n_var, "n_tested": int(tested.sum()),
        "errcodes": {str(k): int(v) for k, v in counts.items()},
        "skipped": skipped, "n_skipped": len(skipped),
        "seconds": round(time.time() - t0, 3),
    })
    return ScanResult(out, meta)


# -- the plan of a run (--dry-run) -----------------------------------------------------------

#: Bytes per result row: numeric columns (8 each) and the five string columns as Python
#: objects (~60 bytes each, pandas object dtype), for the in-memory result table.
_ROW_NUMERIC = 9
_ROW_OBJECT_BYTES = 5 * 60
#: Characters per row of a TSV result: the 13 main columns, and each per-dimension field.
_TSV_ROW_CHARS = 130
_TSV_PER_DIM_CHARS = 3 * 13


@dataclass
class ScanPlan:
    """What a scan would do, and its estimated peak memory and disk (``gwaskit scan --dry-run``).

    ``memory`` and ``disk`` are dicts of named terms in bytes (their sums are
    :attr:`memory_bytes` / :attr:`disk_bytes`). Memory: ``measured_after_null_fit`` (this
    process's resident memory once the genotype files are open, the selection applied, the null
    model fitted and the kernels loaded: what a real run holds at that point), ``genotype_blocks`` (per worker
    thread one decoded block and one centred copy of ``N x block`` values), and ``result_table``
    (the assembled table twice: the parts and their concatenation, three times for parquet
    output, which pyarrow converts). Disk: the output file and the checkpoint parts, which both
    exist while the output is written. Valid for in-process execution; on Dask each worker
    holds its own reader, model and blocks.
    """

    n: int
    d: int
    c: int
    n_variants_in_files: int
    n_variants: int
    n_chunks: int
    chunk_size: int
    block_variants: int
    threads: int
    memory: dict
    disk: dict
    selection_log: list

    @property
    def memory_bytes(self) -> int:
        return int(sum(self.memory.values()))

    @property
    def disk_bytes(self) -> int:
        return int(sum(self.disk.values()))

    def describe(self) -> list[str]:
        """The plan as lines of text."""
        mib = 2.0 ** 20
        lines = list(self.selection_log)
        lines += [
            f"N = {self.n}, D = {self.d}, c = {self.c} (covariates incl. intercept)",
            f"variants: {self.n_variants:,} to test ({self.n_variants_in_files:,} in the files)",
            f"chunks: {self.n_chunks} of <= {self.chunk_size} variants, decoded in blocks of "
            f"{self.block_variants}; {self.threads} thread(s)",
            f"estimated peak memory: {self.memory_bytes / mib:,.0f} MiB ("
            + ", ".join(f"{k} {v / mib:,.0f}" for k, v in self.memory.items()) + ")",
            f"estimated peak disk: {self.disk_bytes / mib:,.1f} MiB ("
            + ", ".join(f"{k} {v / mib:,.1f}" for k, v in self.disk.items()) + ")",
        ]
        return lines


def _rss_bytes() -> int:
    """This process's resident memory now (Linux ``VmRSS``; elsewhere the peak so far)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    import resource
    import sys

    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(rss if sys.platform == "darwin" else rss * 1024)  # Linux reports KiB


def _warm_up(reader, model, dtype: str) -> None:
    """Decode one variant and test two columns, so that the kernels a run loads (numba's
    compiled code and its runtime, ~100 MiB) are resident when the plan measures memory."""
    if reader.n_variants:
        reader.read_dosages(samples=None, variants=[0], dtype=np.float32)
    rng = np.random.default_rng(0)
    G = rng.integers(0, 3, size=(model.n_, 2)).astype(dtype)
    G[0, 1] = np.nan
    model.test(np.asfortranarray(G))


def plan_scan(inputs: ScanInputs, config: ScanConfig | None = None, *,
              execution: Execution | None = None, out: str | None = None) -> ScanPlan:
    """Open the inputs, apply the selection and fit the null model, then stop: the
    :class:`ScanPlan` of :func:`run_scan` with the same arguments (no genotype is tested).

    Parameters
    ----------
    inputs, config, execution : as :func:`run_scan`
    out : the output path, whose extension sets the table format of the disk estimate
        (default ``.tsv``)
    """
    config = config or ScanConfig()
    execution = execution or Execution()
    reader, n_file_variants, selected = _open_selected(inputs, config)
    try:
        data, model = _fit_null(inputs, config, reader)
        chunks = plan_chunks(reader.variants_per_file, config.chunk_size)
        n_var = reader.n_variants
        _warm_up(reader, model, config.dtype)
        base = _rss_bytes()
    finally:
        reader.close()
    n, d = model.n_, model.d_
    itemsize = 4 if config.dtype == "float32" else 8
    block = max(_MIN_BLOCK, BLOCK_BYTES // (max(n, 1) * itemsize))
    block = min(block, config.chunk_size)
    threads = 1 if execution.distributed else execution.n_threads()
    per_dim_cols = 3 * d if config.per_dim else 0
    row_bytes = (_ROW_NUMERIC + per_dim_cols) * 8 + _ROW_OBJECT_BYTES
    name = (out or "out.tsv").lower()
    parquet = name.endswith((".parquet", ".pq"))
    table = n_var * row_bytes
    memory = {"measured_after_null_fit": base,
              "genotype_blocks": threads * 2 * n * block * itemsize,
              "result_table": (3 if parquet else 2) * table}
    tsv = n_var * (_TSV_ROW_CHARS + _TSV_PER_DIM_CHARS * (d if config.per_dim else 0))
    parquet_bytes = n_var * ((_ROW_NUMERIC + per_dim_cols) * 8 + 30)
    out_bytes = parquet_bytes if parquet else (tsv // 3 if name.endswith(".gz") else tsv)
    disk = {"output": int(out_bytes), "checkpoint_parts": int(parquet_bytes)}
    return ScanPlan(n=n, d=d, c=model.c_, n_variants_in_files=n_file_variants,
                    n_variants=n_var, n_chunks=len(chunks), chunk_size=config.chunk_size,
                    block_variants=int(block), threads=threads, memory=memory, disk=disk,
                    selection_log=list(selected.log) if selected is not None else [])


def scan(bgen=None, bed=None, pheno: str | None = None, *, sample_file: str | None = None,
         covar: str | None = None, threads: int | None = None, **options):
    """Convenience wrapper: ``run_scan(ScanInputs(...), ScanConfig(**options)).table``.

    Exactly one of ``bgen`` (path or glob) and ``bed`` (PLINK prefix); ``options`` are the
    fields of :class:`ScanConfig`.
    """
    if (bgen is None) == (bed is None):
        raise InputError("give exactly one of bgen or bed")
    inputs = ScanInputs(genotypes=bgen if bgen is not None else bed, pheno=pheno,
                        sample_file=sample_file, covar=covar)
    return run_scan(inputs, ScanConfig(**options), execution=Execution(threads=threads)).table

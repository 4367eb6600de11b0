"""Checkpoint and resume: the ``<out>.parts/`` work directory.

Layout::

    <out>.parts/
        manifest.json        the configuration's fingerprint, input fingerprints (paths, sizes,
                             mtimes, content hashes), the package versions that determine the
                             bits, the chunk plan, done chunks, skipped variants
        part-000000.parquet  one file per finished chunk (written atomically), carrying the
                             chunk's variant IDs
        lock                 flock'ed by the running process

A finished chunk is written to a temporary file and renamed, then recorded in the manifest
(also rewritten atomically). A part that exists but is missing from the manifest (the process
died between the two renames) is accepted after its row count and variant IDs are checked; a
part whose IDs are not its chunk's (a file swapped or copied from elsewhere) is refused and
recomputed. A resumed run must see the same configuration, inputs, versions and plan as the
first one, otherwise :class:`InputError`: parts from different runs are never mixed.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from pathlib import Path
from typing import Callable, Iterable, Sequence

import pandas as pd

from .._log import logger
from ..errors import InputError
from .plan import Chunk

__all__ = ["WorkDir", "work_dir_for", "fingerprint_file", "package_versions", "FORMAT"]

FORMAT = "gwaskit-parts/2"
#: Packages whose versions can change the bits of a result (numerical code and its compiler).
BIT_PACKAGES = ("numpy", "numba", "llvmlite", "scipy", "pandas", "pyarrow", "threadpoolctl")


def work_dir_for(out: str | os.PathLike) -> Path:
    """The work directory of an output file: ``<out>.parts``."""
    return Path(str(out) + ".parts")


def _sha256(path: Path, start: int, stop: int | None) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        fh.seek(start)
        left = None if stop is None else max(stop - start, 0)
        while left is None or left:
            b = fh.read(1 << 20 if left is None else min(left, 1 << 20))
            if not b:
                break
            h.update(b)
            if left is not None:
                left -= len(b)
    return h.hexdigest()


def fingerprint_file(path: str | os.PathLike | None, hash_bytes: int | None = None) -> dict | None:
    """Path, size, mtime and a SHA-256 of the content: the whole file by default, or its first
    ``hash_bytes`` bytes (large genotype files, whose header is hashed and whose size and mtime
    stand for the rest)."""
    if path is None:
        return None
    p = Path(path)
    try:
        st = p.stat()
    except OSError as e:
        raise InputError(f"{p}: cannot read ({e.strerror})") from None
    stop = None if hash_bytes is None else min(st.st_size, int(hash_bytes))
    return {"path": str(p.resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns,
            "sha256": _sha256(p, 0, stop), "hashed_bytes": st.st_size if stop is None else stop}


def package_versions() -> dict:
    """Python, gwaskit, the packages of :data:`BIT_PACKAGES` and the BLAS library in use."""
    import platform
    from importlib import metadata

    import gwaskit

    out = {"python": platform.python_version(), "gwaskit": gwaskit.__version__}
    for name in BIT_PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    try:
        from threadpoolctl import threadpool_info

        blas = [f"{i.get('internal_api')} {i.get('version')}" for i in threadpool_info()
                if i.get("user_api") == "blas"]
        out["blas"] = sorted(set(blas))
    except Exception:  # noqa: BLE001 - informative only
        out["blas"] = None
    return out


def _validate_manifest(man, path: Path) -> None:
    """The manifest's schema, checked before any field is used: a hand-edited or foreign file
    is one line naming the field, never a TypeError deep in the resume logic."""
    if not isinstance(man, dict):
        raise InputError(f"{path}: not a gwaskit manifest (a JSON object is expected)")
    if man.get("format") != FORMAT:
        raise InputError(f"{path}: unknown format {man.get('format')!r}")
    done = man.get("done", [])
    if not isinstance(done, list):
        raise InputError(f"{path}: field 'done' must be a list of chunk indices")
    for k, i in enumerate(done):
        if isinstance(i, bool) or not isinstance(i, int) or i < 0:
            raise InputError(f"{path}: field 'done' entry {k + 1} is {i!r}, not a chunk index "
                             f"(a non-negative integer); remove the directory to start afresh")
    for key in ("n_chunks", "n_done"):
        v = man.get(key, 0)
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise InputError(f"{path}: field {key!r} is {v!r}, not a non-negative integer")
    skipped = man.get("skipped", {})
    if not isinstance(skipped, dict) or not all(isinstance(v, list) for v in skipped.values()):
        raise InputError(f"{path}: field 'skipped' must map chunk indices to lists")
    for key in ("config", "inputs", "versions", "plan"):
        if key in man and not isinstance(man[key], dict):
            raise InputError(f"{path}: field {key!r} must be a JSON object")


def _first_difference(old, new, where: str = "") -> str | None:
    if isinstance(old, dict) and isinstance(new, dict):
        for k in sorted(set(old) | set(new)):
            d = _first_difference(old.get(k), new.get(k), f"{where}.{k}" if where else str(k))
            if d:
                return d
        return None
    if isinstance(old, list) and isinstance(new, list):
        if len(old) != len(new):
            return f"{where}: {len(old)} entries before, {len(new)} now"
        for i, (a, b) in enumerate(zip(old, new)):
            d = _first_difference(a, b, f"{where}[{i}]")
            if d:
                return d
        return None
    if old != new:
        a, b = (json.dumps(x, default=str) for x in (old, new))
        return f"{where}: {a[:80]} before, {b[:80]} now"
    return None


class WorkDir:
    """One run's work directory (see the module docstring).

    Parameters
    ----------
    path : the directory (``<out>.parts``)
    fingerprint : the configuration's fingerprint (e.g. :meth:`gwaskit.pipelines.scan.ScanConfig.fingerprint`)
    config : the configuration itself (JSON-able), recorded so that a refused resume can name
        the option that differs
    inputs : JSON-able input fingerprints (:func:`fingerprint_file`)
    chunks : the chunk plan
    chunk_ids : the variant IDs each chunk's part must carry, in order (called per chunk);
        None skips the check
    versions : package versions (default :func:`package_versions`); a resumed run must match
    id_column : the part column holding the IDs
    part_rows : the row count of a chunk's part (default its number of variants; e.g. the
        number of samples for parts holding per-sample predictions)
    """

    def __init__(self, path: str | os.PathLike, fingerprint: str, inputs: dict,
                 chunks: Sequence[Chunk], chunk_ids: Callable[[Chunk], Sequence[str]] | None = None,
                 versions: dict | None = None, id_column: str = "variant_id",
                 config: dict | None = None,
                 part_rows: Callable[[Chunk], int] | None = None):
        self.path = Path(path)
        self.fingerprint = str(fingerprint)
        self.config = json.loads(json.dumps(config or {}, default=str))
        self.inputs = json.loads(json.dumps(inputs, default=str))
        self.versions = json.loads(json.dumps(versions if versions is not None
                                              else package_versions(), default=str))
        self.chunks = list(chunks)
        self.chunk_ids = chunk_ids
        self.id_column = id_column
        self.part_rows = part_rows or (lambda c: c.size)
        self.plan = {"n_variants": int(sum(c.size for c in self.chunks)),
                     "chunks": [c.as_list() for c in self.chunks]}
        self.done: set[int] = set()
        self.skipped: dict[str, list] = {}
        self._lock_fh = None
        self._created = None

    # -- paths ----------------------------------------------------------------------------
    @property
    def manifest_path(self) -> Path:
        return self.path / "manifest.json"

    def part_path(self, i: int) -> Path:
        return self.path / f"part-{i:06d}.parquet"

    # -- opening --------------------------------------------------------------------------
    def check(self, resume: bool) -> set[int]:
        """Validate an existing directory (before any work); returns the finished chunks.

        Without ``resume`` an existing directory is an error; with it, the manifest must match
        this run's configuration, inputs, versions and plan.
        """
        if not self.path.exists():
            if not self.path.parent.exists():
                raise InputError(f"{self.path}: directory {self.path.parent} does not exist")
            return set()
        if not resume:
            raise InputError(f"{self.path}: a work directory from an earlier run exists; pass "
                             f"resume=True to finish that run, or remove the directory")
        if not self.manifest_path.exists():
            raise InputError(f"{self.path}: no manifest.json; not a gwaskit work directory "
                             f"(remove it to start afresh)")
        try:
            man = json.loads(self.manifest_path.read_text())
        except (OSError, ValueError) as e:
            raise InputError(f"{self.manifest_path}: unreadable manifest ({e})") from None
        _validate_manifest(man, self.manifest_path)
        for key, mine in (("config", self.config), ("fingerprint", self.fingerprint),
                          ("inputs", self.inputs),
                          ("versions", self.versions), ("plan", self.plan)):
            diff = _first_difference(man.get(key), mine, key)
            if diff:
                raise InputError(
                    f"{self.path}: cannot resume, the checkpoint was made with different "
                    f"{key} ({diff}); rerun with the original inputs and options, or remove the "
                    f"directory to start afresh")
        self._created = man.get("created")
        self.skipped = {str(k): v for k, v in man.get("skipped", {}).items()}
        done = set(man.get("done", []))
        # parts renamed into place but not yet recorded (killed between the two renames)
        for c in self.chunks:
            if c.index not in done and self.part_path(c.index).exists():
                done.add(c.index)
        good = set()
        for i in sorted(done):
            if self._part_ok(i):
                good.add(i)
            else:
                logger.warning("%s: part %d is missing or incomplete; recomputing it", self.path, i)
                self.skipped.pop(str(i), None)
        self.done = good
        return set(good)

    def _part_ok(self, i: int) -> bool:
        """The part exists, has its chunk's row count and carries its chunk's IDs."""
        import pyarrow.parquet as pq

        if i >= len(self.chunks):
            return False
        try:
            f = pq.ParquetFile(self.part_path(i))
            if f.metadata.num_rows != self.part_rows(self.chunks[i]):
                return False
            if self.chunk_ids is None:
                return True
            ids = f.read(columns=[self.id_column]).column(0).to_pylist()
        except Exception:  # unreadable, truncated or without the ID column
            return False
        if ids != [str(x) for x in self.chunk_ids(self.chunks[i])]:
            logger.warning("%s: part %d carries the variants of another chunk or run; "
                           "refused", self.path, i)
            return False
        return True

    def open(self) -> None:
        """Create (or take over) the directory: lock it, clear stray temporary files, write
        the manifest."""
        self.path.mkdir(exist_ok=True)
        import fcntl

        fh = open(self.path / "lock", "a+")
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.close()
            raise InputError(f"{self.path}: in use by another running gwaskit process") from None
        self._lock_fh = fh
        for stray in self.path.glob(".*.tmp"):
            stray.unlink(missing_ok=True)
        self._created = self._created or time.strftime("%Y-%m-%dT%H:%M:%S")
        self._write_manifest()

    def close(self) -> None:
        if self._lock_fh is not None:
            self._lock_fh.close()
            self._lock_fh = None

    def __enter__(self) -> "WorkDir":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- recording ------------------------------------------------------------------------
    def _write_manifest(self) -> None:
        man = {"format": FORMAT, "created": self._created,
               "updated": time.strftime("%Y-%m-%dT%H:%M:%S"),
               "fingerprint": self.fingerprint, "config": self.config, "inputs": self.inputs,
               "versions": self.versions, "plan": self.plan,
               "n_chunks": len(self.chunks), "n_done": len(self.done),
               "done": sorted(self.done), "skipped": self.skipped}
        tmp = self.path / f".manifest.json.{os.getpid()}.tmp"
        tmp.write_text(json.dumps(man, indent=1, default=str) + "\n")
        os.replace(tmp, self.manifest_path)

    def write_part(self, chunk: Chunk, frame: pd.DataFrame, skipped: Iterable[dict] = ()) -> None:
        """Store one finished chunk (atomic rename), then record it in the manifest."""
        target = self.part_path(chunk.index)
        tmp = self.path / f".{target.name}.{os.getpid()}.tmp"
        try:
            frame.to_parquet(tmp, index=False)
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
        skipped = list(skipped)
        if skipped:
            self.skipped[str(chunk.index)] = skipped
        self.done.add(chunk.index)
        self._write_manifest()

    # -- assembly -------------------------------------------------------------------------
    def missing(self) -> list[Chunk]:
        return [c for c in self.chunks if c.index not in self.done]

    def assemble(self) -> pd.DataFrame:
        """All parts, in plan order (every variant exactly once)."""
        todo = self.missing()
        if todo:
            raise RuntimeError(f"{self.path}: {len(todo)} chunk(s) not finished")
        frames = []
        for c in self.chunks:
            frame = pd.read_parquet(self.part_path(c.index))
            if self.chunk_ids is not None and (
                    len(frame) != c.size or frame[self.id_column].astype(str).tolist()
                    != [str(x) for x in self.chunk_ids(c)]):
                raise InputError(f"{self.part_path(c.index)}: does not hold the variants of "
                                 f"chunk {c.index} (changed during the run?); remove "
                                 f"{self.path} and rerun")
            frames.append(frame)
        out = pd.concat(frames, ignore_index=True) if frames else None
        if out is not None and len(out) != self.plan["n_variants"]:
            raise RuntimeError(f"{self.path}: assembled {len(out)} rows, planned "
                               f"{self.plan['n_variants']}")
        return out

    def skipped_table(self) -> pd.DataFrame:
        rows = [r for k in sorted(self.skipped, key=int) for r in self.skipped[k]]
        return pd.DataFrame(rows, columns=["index", "variant_id", "file", "error"])

    def remove(self) -> None:
        self.close()
        shutil.rmtree(self.path, ignore_errors=True)

"""Optional native (C) kernels: compile once with the system C compiler, load with ctypes.

Why: a command-line run of ``gwaskit scan`` or ``gwaskit clump`` on a typical file spends more
time starting numba (importing it and initialising its compiler, even to load cached kernels:
0.8-1 s on the benchmark machine) than computing. The hot kernels therefore also exist as C
sources next to their numba versions (``gwaskit/<topic>/_*_native.c``). :func:`load_library`
compiles a source once into the gwaskit cache directory (``$GWASKIT_CACHE_DIR`` or
``~/.cache/gwaskit``, keyed by a hash of the source, compiler, flags and platform; the file is
written to a temporary name and renamed, so concurrent builders are safe) and loads it with
ctypes (milliseconds). ctypes releases the GIL during every call, so the kernels run in
parallel from a thread pool.

Nothing is required: with no compiler, a failed build or load, or ``GWASKIT_NATIVE=0``,
:func:`load_library` returns None and callers use their numba kernels. Each native module's
tests check it against the numba version.
"""
from __future__ import annotations

import ctypes
import hashlib
import os
import sys
import threading
from pathlib import Path
from typing import Callable, Sequence

__all__ = ["load_library", "native_enabled", "read_source", "cpu_signature", "BASE_FLAGS",
           "VECTOR_FLAGS"]

#: IEEE semantics kept: no fast-math, no FMA contraction (results reproducible across builds).
BASE_FLAGS = ("-O2", "-fPIC", "-shared", "-fno-fast-math", "-ffp-contract=off")
#: For streaming kernels (decoding, column sums): vectorised for this CPU. Still no fast-math
#: and no contraction, and the sums use explicit lanes, so the bits do not depend on the vector
#: width. The build is keyed by the CPU's model and flags (a shared cache directory serves
#: different machines); if the compiler rejects ``-march=native`` the kernel is built without it.
VECTOR_FLAGS = ("-O3", "-march=native", *BASE_FLAGS[1:])

_LOADED: dict = {}
_LOCK = threading.Lock()


def native_enabled() -> bool:
    """False when ``GWASKIT_NATIVE=0`` or on a platform the C sources do not target."""
    return not (os.environ.get("GWASKIT_NATIVE", "1") == "0" or sys.platform == "win32"
                or sys.byteorder != "little")


def _cache_dir() -> Path:
    d = os.environ.get("GWASKIT_CACHE_DIR") or Path.home() / ".cache" / "gwaskit"
    return Path(d).expanduser()


def cpu_signature() -> str:
    """Model name and feature flags of this CPU (Linux), for keying ``-march=native`` builds."""
    try:
        with open("/proc/cpuinfo") as fh:
            keep = [ln.strip() for ln in fh if ln.startswith(("model name", "flags"))]
        return "\n".join(keep[:2])
    except OSError:
        import platform

        return platform.processor()


def _build(target: Path, source: str, cc: str, flags: Sequence[str], libs: Sequence[str]) -> bool:
    import subprocess
    import tempfile

    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        src = Path(tmp) / (target.stem + ".c")
        src.write_text(source)
        so = Path(tmp) / target.name
        try:
            r = subprocess.run([cc, *flags, "-o", str(so), str(src), *libs], capture_output=True,
                               timeout=180)
        except (OSError, subprocess.SubprocessError):
            return False
        if r.returncode != 0 or not so.exists():
            return False
        os.replace(so, target)  # atomic: concurrent builders write identical files
    return True


def load_library(name: str, source: str, declare: Callable[[ctypes.CDLL], None],
                 flags: Sequence[str] = BASE_FLAGS, libs: Sequence[str] = ("-lm",)):
    """Compile (once) and load the C ``source`` as ``<cache>/<name>-<hash>.so``.

    Parameters
    ----------
    name : file stem of the shared library (one per source)
    source : the C code
    declare : sets ``argtypes``/``restype`` of the exported functions and runs any
        initialisation; an exception here means "unusable" (None is returned)
    flags, libs : compiler flags and libraries; ``$CC`` (default ``cc``) is the compiler

    Returns
    -------
    The loaded :class:`ctypes.CDLL`, or None. The result (None included) is remembered per
    ``name`` for the life of the process.
    """
    with _LOCK:
        if name in _LOADED:
            return _LOADED[name]
        lib = None
        if native_enabled():
            try:
                import platform

                cc = os.environ.get("CC", "cc")
                tries = [list(flags)]
                if "-march=native" in flags:
                    tries.append([f for f in flags if f != "-march=native"])
                for fl in tries:
                    parts = [source, cc, *fl, *libs, platform.machine(), sys.platform]
                    if "-march=native" in fl:
                        parts.append(cpu_signature())
                    key = hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]
                    target = _cache_dir() / f"{name}-{key}.so"
                    if target.exists() or _build(target, source, cc, fl, libs):
                        lib = ctypes.CDLL(str(target))
                        declare(lib)
                        break
            except Exception:  # any failure means: use the numba kernels
                lib = None
        _LOADED[name] = lib
        return lib


def read_source(module_file: str, c_name: str) -> str:
    """The text of the C file ``c_name`` stored beside ``module_file`` (package data)."""
    return (Path(module_file).resolve().parent / c_name).read_text()

"""Shared fixtures: oracle programs and temporary caches.

Oracle tests run real programs (plink2, plink1.9). Where one is missing the test is skipped,
unless GWASKIT_REQUIRE_ORACLES=1 (set by CI), in which case it fails.
"""
from __future__ import annotations

import os
import shutil

import pytest

# Keep third-party readers from creating cache folders under ~/.cache during tests.
os.environ.setdefault("BGEN_READER_CACHE_HOME", os.path.join(os.getcwd(), ".cache", "bgen-reader"))
os.environ.setdefault("BGEN_CACHE_HOME", os.path.join(os.getcwd(), ".cache", "cbgen"))
os.environ.setdefault("GWASKIT_CACHE_DIR", os.path.join(os.getcwd(), ".cache", "gwaskit"))

REQUIRE_ORACLES = os.environ.get("GWASKIT_REQUIRE_ORACLES", "") not in ("", "0")


def _oracle(*names: str) -> str:
    for name in names:
        path = shutil.which(name)
        if path:
            return path
    msg = f"oracle program {names[0]} not found on PATH"
    if REQUIRE_ORACLES:
        pytest.fail(msg + " (GWASKIT_REQUIRE_ORACLES=1)")
    pytest.skip(msg)


@pytest.fixture(scope="session")
def plink2() -> str:
    """Path to plink2 (Debian package ``plink2``)."""
    return _oracle("plink2")


@pytest.fixture(scope="session")
def gwas_ssf() -> str:
    """Path to the GWAS Catalog's validator ``gwas-ssf`` (``gwas-sumstats-tools`` 1.0.25, in
    ``.venv-ssf``, made by ``make oracles``)."""
    venv = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), ".venv-ssf",
                        "bin", "gwas-ssf")
    if os.access(venv, os.X_OK):
        return venv
    return _oracle("gwas-ssf")


@pytest.fixture(scope="session")
def plink1_9() -> str:
    """Path to PLINK 1.9 (Debian package ``plink1.9``)."""
    return _oracle("plink1.9", "plink")

"""Package-level guarantees: layering, one implementation (no native code), declared
dependencies, and a CLI that reports bad input and missing extras cleanly."""
import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _tool(name: str) -> str:
    path = BIN / name
    if not path.exists():
        from .conftest import REQUIRE_ORACLES

        if REQUIRE_ORACLES:
            pytest.fail(f"{name} not installed (pip install -e '.[dev]')")
        pytest.skip(f"{name} not installed")
    return str(path)


def test_import_gwaskit_does_not_import_torch_or_dask():
    code = ("import sys, gwaskit, gwaskit.io.tables, gwaskit.io.output, gwaskit.cli.main; "
            "bad = [m for m in ('torch', 'dask', 'distributed', 'matplotlib') if m in sys.modules]; "
            "print(bad); sys.exit(1 if bad else 0)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_cli_unknown_command_exit_2():
    out = subprocess.run([sys.executable, "-m", "gwaskit.cli.main", "no-such-command"],
                         capture_output=True, text=True)
    assert out.returncode == 2
    assert "Traceback" not in out.stderr


def test_import_contracts_hold():
    """Layers (cli -> pipelines -> engine; domain modules never import the engine), no cycles
    between subpackages, and gwaskit never imports the learner or torch (pyproject.toml)."""
    out = subprocess.run([_tool("lint-imports")], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]


def test_ruff_is_clean():
    out = subprocess.run([_tool("ruff"), "check", "gwaskit", "learners", "tests", "benchmarks",
                          "examples"], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]


def test_no_native_code_is_shipped_or_built():
    """One implementation per kernel (numba): no C sources in the repository, and nothing in
    gwaskit loads a shared library with ctypes or starts a compiler, so there is no library
    left to plant in a cache directory."""
    files = subprocess.run(["git", "ls-files"], capture_output=True, text=True, cwd=ROOT,
                           check=True).stdout.split()
    assert not [f for f in files if f.endswith((".c", ".h", ".cc", ".cpp", ".so", ".pyx"))]
    offenders = []
    for path in (ROOT / "gwaskit").rglob("*.py"):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr in ("CDLL", "LoadLibrary", "PyDLL"):
                offenders.append(f"{path}:{node.lineno} {node.attr}")
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and \
                    node.value in ("cc", "gcc", "clang", "-shared", "-fPIC"):
                offenders.append(f"{path}:{node.lineno} {node.value!r}")
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [a.name for a in node.names] + [getattr(node, "module", None) or ""]
                if any(n in ("subprocess", "distutils", "cffi", "setuptools") for n in names):
                    offenders.append(f"{path}:{node.lineno} imports {names}")
    assert not offenders, offenders


def test_every_runtime_import_is_declared():
    """Third-party modules imported by gwaskit are core dependencies, an optional extra
    (behind a lazy import that gives the pip hint), or optional with a fallback."""
    import tomllib

    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    dist = {d.split(">")[0].split("<")[0].split("=")[0].split("[")[0].strip().lower()
            for d in meta["dependencies"]}
    extras = {d.split(">")[0].split("<")[0].split("=")[0].split("[")[0].strip().lower()
              for ds in meta["optional-dependencies"].values() for d in ds}
    module_to_dist = {"bed_reader": "bed-reader", "sklearn": "scikit-learn", "PIL": "pillow",
                      "yaml": "pyyaml", "distributed": "dask"}
    stdlib = set(sys.stdlib_module_names)
    seen = set()
    for path in (ROOT / "gwaskit").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                seen |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                seen.add(node.module.split(".")[0])
    third = {m for m in seen if m not in stdlib and m not in ("gwaskit", "__future__")}
    undeclared = [m for m in third if module_to_dist.get(m, m).lower().replace("_", "-")
                  not in dist | extras]
    assert not undeclared, undeclared
    from gwaskit.cli.main import EXTRAS

    for m in third:
        d = module_to_dist.get(m, m).lower().replace("_", "-")
        if d not in dist:
            assert m in EXTRAS, f"{m}: from an extra but no pip hint in gwaskit.cli.main.EXTRAS"


_BLOCKER = """
import sys
class _Block:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] == {module!r}:
            raise ModuleNotFoundError('No module named ' + repr(name), name=name)
sys.meta_path.insert(0, _Block())
"""


@pytest.mark.parametrize("module, extra, args", [
    ("matplotlib", "plot", ["plot", "manhattan", "{results}", "--out", "{tmp}/m.png"]),
    ("msprime", "sim", ["simulate", "--out", "{tmp}/sim", "--n", "20", "--n-external", "0",
                        "--chromosomes", "1", "--length-mb", "0.01", "--n-causal", "1"]),
    ("distributed", "dist", ["prs", "--panel", "{results}", "--bgen", "{tmp}/g.bgen",
                             "--workers", "1", "--out", "{tmp}/p.tsv"]),
])
def test_missing_extra_gives_one_line_hint(module, extra, args, tmp_path):
    """Running a command whose optional extra is not installed gives one line naming the
    pip command, exit 2, no traceback (an import blocker stands in for the missing package)."""
    import os

    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(_BLOCKER.format(module=module))
    results = tmp_path / "r.tsv"
    results.write_text("variant_id\tchromosome\tbase_pair_location\tp_value\teffect_allele\t"
                       "other_allele\tbeta\nrs1\t1\t100\t0.5\tA\tG\t0.1\n")
    if "--bgen" in args:
        import numpy as np
        import pandas as pd

        from gwaskit.io.bgen_writer import write_bgen

        v = pd.DataFrame({"chromosome": ["1"], "base_pair_location": [100], "variant_id": ["rs1"],
                          "effect_allele": ["A"], "other_allele": ["G"]})
        write_bgen(tmp_path / "g.bgen", [f"s{i}" for i in range(8)], v,
                   dosages=np.array([[0, 1, 2, 1, 0, 1, 2, 0]], dtype=float).T, threads=1)
    argv = [a.format(results=results, tmp=tmp_path) for a in args]
    env = dict(os.environ, PYTHONPATH=f"{site}{os.pathsep}{ROOT}")
    out = subprocess.run([sys.executable, "-m", "gwaskit.cli.main", *argv], capture_output=True,
                         text=True, env=env, cwd=tmp_path)
    assert out.returncode == 2, out.stdout + out.stderr
    assert "Traceback" not in out.stderr
    assert out.stderr.strip().splitlines()[-1] == (
        f"Error: this command needs the optional package {module!r}: "
        f"pip install 'gwaskit[{extra}]'")


#: Everything outside the core dependencies that is installed in the test environment.
NON_CORE = ("dask", "distributed", "cryptography", "matplotlib", "msprime", "tskit", "mlxtend",
            "torch", "sklearn", "PIL", "yaml", "statsmodels", "bgen_reader", "cbgen", "mpmath",
            "hypothesis", "pytest", "learners")


def test_core_only_runs_scan_and_clump(tmp_path):
    """The check .ci/run makes in a real core-only venv, here with every non-core package
    made unimportable: `gwaskit scan` and `gwaskit clump` run on small files."""
    import os

    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(
        "import sys\n"
        f"_BLOCKED = {NON_CORE!r}\n"
        "class _Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in _BLOCKED:\n"
        "            raise ModuleNotFoundError('No module named ' + repr(name), name=name)\n"
        "sys.meta_path.insert(0, _Block())\n")
    env = dict(os.environ, PYTHONPATH=f"{site}{os.pathsep}{ROOT}")
    out = subprocess.run([sys.executable, str(ROOT / ".ci" / "core_smoke.py")],
                         capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "core-only install: scan of 300 variants and clump OK" in out.stdout

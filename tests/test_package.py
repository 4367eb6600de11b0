"""Package-level guarantees: the core imports without torch, the CLI reports bad input cleanly."""
import subprocess
import sys


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

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "ld"))
import _simdata  # noqa: E402

from gwaskit.cli.main import main  # noqa: E402


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return _simdata.clump_dataset(str(tmp_path_factory.getbasetemp() / "clump_sim"))


def test_clump_cli_plink_format_identical(plink1_9, data, tmp_path):
    prefix, report, *_ = data
    out = tmp_path / "g.clumped"
    main(["clump", "--bed", prefix, "--sumstats", report, "--format", "plink", "--quiet", "--out", str(out)])
    subprocess.run([plink1_9, "--bfile", prefix, "--clump", report, "--out", str(tmp_path / "p")],
                   check=True, capture_output=True)
    assert out.read_text() == (tmp_path / "p.clumped").read_text()


def test_clump_cli_table_preset_seed_and_overrides(data, tmp_path):
    prefix, report, *_ = data
    out = tmp_path / "c.tsv"
    main(["clump", "--bed", prefix, "--sumstats", report, "--preset", "seed", "--kb", "250",
          "--members", str(tmp_path / "m.tsv"), "--quiet", "--out", str(out)])
    t = pd.read_csv(out, sep="\t")
    assert {"variant_id", "chromosome", "base_pair_location", "p_value", "total", "sp2"} <= set(t.columns)
    assert (t["p_value"] <= 5e-8).all()
    m = pd.read_csv(tmp_path / "m.tsv", sep="\t")
    assert (m["r2"].abs() > 0.05).all()
    with pytest.raises(SystemExit) as e:  # no silent overwrite
        main(["clump", "--bed", prefix, "--sumstats", report, "--quiet", "--out", str(out)])
    assert e.value.code == 2


def test_clump_cli_bad_field_is_input_error(data, tmp_path, capsys):
    prefix, report, *_ = data
    with pytest.raises(SystemExit) as e:
        main(["clump", "--bed", prefix, "--sumstats", report, "--p-field", "PVAL_X", "--out", str(tmp_path / "x.tsv")])
    assert e.value.code == 2
    assert "PVAL_X" in capsys.readouterr().err

"""gwaskit.cli._options: the shared selection flags map onto Selection; oracle plink2."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import click
import pandas as pd
import pytest
from click.testing import CliRunner

from gwaskit.cli._options import (
    genotype_options,
    pop_genotype_inputs,
    pop_selection,
    selection_options,
)
from gwaskit.errors import InputError
from gwaskit.io.genotypes import open_genotypes
from gwaskit.io.selection import Selection, apply_selection

sys.path.insert(0, str(Path(__file__).parents[1] / "io"))
from _geno_fixtures import random_genotypes, variant_table, write_bed  # noqa: E402


def _command(store: dict):
    @click.command()
    @genotype_options
    @selection_options
    def cmd(**kw):
        store["geno"] = pop_genotype_inputs(kw)
        store["sel"] = pop_selection(kw)
        assert not kw  # every option was consumed
    return cmd


def test_flags_map_to_selection(tmp_path):
    f = tmp_path / "f"
    f.write_text("x\n")
    store: dict = {}
    r = CliRunner().invoke(_command(store), [
        "--bed", "g", "--keep", str(f), "--keep", str(f), "--extract", str(f),
        "--extract", f"bed0:{f}", "--chr", "chr1", "--from-bp", "5", "--to-bp", "9",
        "--maf", "0.01", "--geno", "0.1", "--info-min", "0.3"])
    assert r.exit_code == 0, r.output
    s = store["sel"]
    assert s == Selection(keep=[str(f)] * 2, extract=[str(f)], extract_range=[str(f)],
                          range_kind="bed0", chromosomes="1", from_bp=5, to_bp=9, maf=0.01,
                          geno=0.1, info_min=0.3)
    assert store["geno"] == {"genotypes": "g", "sample_file": None, "vcf_dosage": "auto"}
    with pytest.raises(InputError, match="exactly one"):
        pop_genotype_inputs({"bed": "a", "bgen": "b"})
    with pytest.raises(InputError, match="--from-bp"):
        pop_selection({"from_bp": 3})


def test_cli_flags_select_what_plink2_selects(plink2, tmp_path):
    variants = pd.concat([variant_table(50, chrom="1"), variant_table(40, chrom="2")],
                         ignore_index=True)
    prefix = tmp_path / "g"
    write_bed(prefix, random_genotypes(80, len(variants), seed=11, missing_rate=0.04), variants)
    (tmp_path / "k").write_text("#FID IID\n" + "".join(f"0 s{i}\n" for i in range(0, 80, 2)))
    pos = variants.base_pair_location.to_numpy()
    (tmp_path / "r").write_text(f"1 {pos[3]} {pos[40]}\n2 {pos[55]} {pos[80]}\n")
    args = ["--keep", tmp_path / "k", "--maf", "0.0917", "--geno", "0.0413"]
    store: dict = {}
    r = CliRunner().invoke(_command(store), ["--bed", str(prefix)]
                           + [str(a) for a in args] + ["--extract", f"range:{tmp_path / 'r'}"])
    assert r.exit_code == 0, r.output
    with open_genotypes(str(prefix) + ".bed") as g:
        res = apply_selection(g, store["sel"])
        got_s = g.samples[res.sample_index].tolist()
        got_v = g.variants.variant_id.to_numpy()[res.variant_index].tolist()
    p = subprocess.run([plink2, "--bfile", str(prefix), "--write-samples", "--write-snplist",
                        "--out", str(tmp_path / "o"), *map(str, args),
                        "--extract", "range", str(tmp_path / "r")],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stdout + p.stderr
    assert got_s == pd.read_csv(tmp_path / "o.id", sep=r"\s+", dtype=str)["IID"].tolist()
    assert got_v == (tmp_path / "o.snplist").read_text().split()
    assert len(got_v) < len(variants)

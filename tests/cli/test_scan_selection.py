"""`gwaskit scan` with plink2's selection flags: the samples and variants scanned are the ones
plink2 selects with the same flags, and the statistics equal a scan of the files plink2 subsets
(`--make-bed` with those flags); the held-out split guard is answered by --keep."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gwaskit.cli.main import main

sys.path.insert(0, str(Path(__file__).parents[1] / "io"))
from _geno_fixtures import random_genotypes, variant_table, write_bed  # noqa: E402

N = 150


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    d = tmp_path_factory.mktemp("scan_sel")
    variants = pd.concat([variant_table(40, chrom="1"), variant_table(35, chrom="2", start=5000)],
                         ignore_index=True)
    geno = random_genotypes(N, len(variants), seed=11, missing_rate=0.03)
    write_bed(d / "g", geno, variants)
    rng = np.random.default_rng(5)
    iids = [f"s{i}" for i in range(N)]
    emb = pd.DataFrame({"IID": iids, **{f"emb_{k}": rng.normal(size=N) for k in range(3)}})
    emb.to_csv(d / "emb.tsv", sep="\t", index=False)
    emb.assign(split=np.where(np.arange(N) % 3 == 0, "test", "train")).to_csv(
        d / "emb_split.tsv", sep="\t", index=False)
    keep = rng.choice(N, 90, replace=False)
    (d / "keep.txt").write_text("#FID IID\n" + "".join(f"0 s{i}\n" for i in sorted(keep)))
    (d / "remove.txt").write_text("".join(f"s{i}\n" for i in sorted(keep)[:10]))
    vids = variants["variant_id"].to_numpy()
    (d / "exclude.txt").write_text("\n".join(vids[rng.choice(len(vids), 12, replace=False)]) + "\n")
    return d, variants


def _scan(args, out: Path):
    main(["scan", *map(str, args), "--quiet", "--chunk-size", "16", "--out", str(out)])
    return pd.read_csv(out, sep="\t"), json.loads(Path(str(out) + ".meta.json").read_text())


def _run(args) -> int:
    with pytest.raises(SystemExit) as exc:
        main(list(map(str, args)))
    return exc.value.code


FLAGS = ["--keep", "keep.txt", "--remove", "remove.txt", "--exclude", "exclude.txt",
         "--chr", "1-2", "--maf", "0.08", "--geno", "0.05"]


def test_scan_selects_what_plink2_selects(plink2, cohort, tmp_path):
    d, variants = cohort
    flags = [f if not f.endswith(".txt") else d / f for f in FLAGS]
    r = subprocess.run([plink2, "--bfile", d / "g", *map(str, flags), "--write-samples",
                        "--write-snplist", "--make-bed", "--threads", "1", "--out",
                        tmp_path / "p"], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    want_v = (tmp_path / "p.snplist").read_text().split()
    want_s = pd.read_csv(tmp_path / "p.id", sep=r"\s+", dtype=str)["IID"].tolist()
    assert 0 < len(want_v) < len(variants) and 0 < len(want_s) < N  # the filters bite

    got, meta = _scan(["--bed", d / "g", "--pheno", d / "emb.tsv", *flags], tmp_path / "ours.tsv")
    assert got["variant_id"].tolist() == want_v
    assert meta["n"] == len(want_s)
    counts = meta["selection"]["counts"]
    assert counts["n_samples"] == len(want_s) and counts["n_variants"] == len(want_v)
    assert [line.split(":")[0] for line in meta["selection"]["log"]] == [
        "--keep", "--remove", "--exclude", "--chr", "--geno", "--maf"]
    assert meta["config"]["selection"]["maf"] == 0.08

    # the same statistics as a scan of the fileset plink2 wrote with those flags
    ref, ref_meta = _scan(["--bed", tmp_path / "p", "--pheno", d / "emb.tsv"], tmp_path / "ref.tsv")
    assert ref_meta["n"] == meta["n"]
    assert ref["variant_id"].tolist() == want_v
    for col in ("effect_allele_frequency", "chisq", "p_value"):
        np.testing.assert_allclose(got[col], ref[col], rtol=1e-6, err_msg=col)


def test_selection_enters_the_checkpoint_fingerprint(cohort, tmp_path):
    """Editing a --keep file between a run and its --resume is refused (files by content)."""
    d, _ = cohort
    keep = tmp_path / "keep.txt"
    keep.write_text((d / "keep.txt").read_text())
    args = ["scan", "--bed", d / "g", "--pheno", d / "emb.tsv", "--keep", keep, "--quiet",
            "--chunk-size", "16", "--keep-parts", "--out", tmp_path / "o.tsv"]
    main(list(map(str, args)))
    keep.write_text("\n".join(keep.read_text().splitlines()[:-5]) + "\n")
    (tmp_path / "o.tsv").unlink()
    (tmp_path / "o.tsv.meta.json").unlink()
    assert _run(args + ["--resume"]) == 2


def test_split_guard_answered_by_keep(cohort, tmp_path, capsys):
    d, _ = cohort
    base = ["scan", "--bed", d / "g", "--pheno", d / "emb_split.tsv", "--quiet"]
    assert _run(base + ["--out", tmp_path / "a.tsv"]) == 2
    assert "split holds 2 values" in capsys.readouterr().err
    _, meta = _scan(base[1:] + ["--keep", d / "keep.txt"], tmp_path / "b.tsv")
    assert meta["n"] == 90
    _, meta = _scan(base[1:] + ["--split-value", "test"], tmp_path / "c.tsv")
    assert meta["n"] == N // 3


def test_bad_selection_is_a_one_line_error(cohort, tmp_path, capsys):
    d, _ = cohort
    base = ["scan", "--bed", d / "g", "--pheno", d / "emb.tsv", "--quiet", "--out", tmp_path / "x.tsv"]
    assert _run(base + ["--from-bp", "10"]) == 2
    assert "--from-bp/--to-bp need --chr" in capsys.readouterr().err
    assert _run(base + ["--chr", "7"]) == 2
    err = capsys.readouterr().err
    assert "--chr: no variants remain" in err and "Traceback" not in err
    assert _run(base + ["--keep", tmp_path / "missing.txt"]) == 2
    assert not (tmp_path / "x.tsv").exists()

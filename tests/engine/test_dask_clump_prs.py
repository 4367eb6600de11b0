"""``clump`` and ``prs`` on Dask (LocalCluster and a hand-started scheduler + worker on
loopback): outputs identical to in-process runs, byte for byte. Every process started here is
killed in teardown (``hand_cluster``; the CLI runs are subprocesses that close their own
LocalCluster)."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from .conftest import ROOT, assert_identical, env

sys.path.insert(0, str(ROOT / "tests" / "ld"))
import _simdata  # noqa: E402

pytest.importorskip("distributed")

CHROMS = ("1", "2", "3")


def _gwaskit(*args, timeout: float = 120, **envx) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gwaskit.cli.main", *map(str, args)],
                          capture_output=True, text=True, timeout=timeout, env=env(**envx), cwd=ROOT)


@pytest.fixture(scope="module")
def ld_data(tmp_path_factory):
    """Three chromosomes with real LD (msprime), as one .bed and as one BGEN per chromosome,
    a GWAS report with signals on every chromosome and a PRS panel."""
    from bed_reader import to_bed

    from gwaskit.io.bgen_writer import write_bgen

    d = tmp_path_factory.mktemp("dask_ld")
    Gs, poss, chrom = [], [], []
    for k, c in enumerate(CHROMS):
        G, pos, _ = _simdata.simulate_genotypes(n=240, length=6e5, seed=42 + k)
        Gs.append(G)
        poss.append(pos)
        chrom += [c] * G.shape[1]
    G = np.concatenate(Gs, axis=1)
    pos = np.concatenate(poss)
    n, m = G.shape
    rng = np.random.default_rng(7)
    bases = np.array(list("ACGT"))
    a1 = rng.integers(0, 4, m)
    a2 = (a1 + rng.integers(1, 4, m)) % 4
    vid = [f"rs{j + 1}" for j in range(m)]
    iids = [f"i{i}" for i in range(n)]
    to_bed(str(d / "ref.bed"), G, count_A1=True, num_threads=1, properties={
        "fid": [f"f{i}" for i in range(n)], "iid": iids, "sid": vid, "chromosome": chrom,
        "bp_position": pos, "allele_1": list(bases[a1]), "allele_2": list(bases[a2])})
    variants = pd.DataFrame({"chromosome": chrom, "base_pair_location": pos, "variant_id": vid,
                             "effect_allele": bases[a1], "other_allele": bases[a2]})
    chrom = np.array(chrom)
    for c in CHROMS:
        sel = chrom == c
        write_bgen(d / f"chr{c}.bgen", iids, variants[sel].reset_index(drop=True),
                   dosages=G[:, sel].astype(np.float64), threads=1)
    # signals on every chromosome, so that clumps of different chromosomes interleave in p
    p = np.concatenate([_simdata.simulate_gwas(Gc, seed=3 + k, n_causal=3, h2=0.4)[2]
                        for k, Gc in enumerate(Gs)])
    pd.DataFrame({"SNP": vid, "P": p}).to_csv(d / "ss.txt", sep=" ", index=False,
                                              float_format="%.6g")
    # PRS panel: every 3rd variant, some with swapped alleles, a block absent from the data
    sel = variants.iloc[::3].reset_index(drop=True)
    panel = pd.DataFrame({"variant_id": sel["variant_id"], "chromosome": sel["chromosome"],
                          "base_pair_location": sel["base_pair_location"],
                          "effect_allele": sel["effect_allele"],
                          "other_allele": sel["other_allele"],
                          "beta": rng.normal(size=len(sel))})
    sw = rng.random(len(panel)) < 0.3
    panel.loc[sw, ["effect_allele", "other_allele"]] = \
        panel.loc[sw, ["other_allele", "effect_allele"]].to_numpy()
    panel.loc[sw, "beta"] *= -1
    panel.loc[100:160, "chromosome"] = "22"  # one whole chunk (and more) not in the data
    panel.loc[100:160, "variant_id"] = [f"absent{i}" for i in range(61)]
    panel.to_csv(d / "panel.tsv", sep="\t", index=False)
    return {"dir": d, "bed": str(d / "ref"), "bgen": str(d / "chr*.bgen"),
            "ss": str(d / "ss.txt"), "panel": str(d / "panel.tsv"), "m": m}


def _ok(r: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert r.returncode == 0, r.stderr[-3000:]
    return r


def _log(r: subprocess.CompletedProcess) -> list[str]:
    """gwaskit's log lines, without the Dask one."""
    return [ln for ln in r.stderr.splitlines() if not ln.startswith("Dask: ")]


def test_clump_plink_identical_across_modes(ld_data, tmp_path, hand_cluster):
    """1 and 2 in-process threads, a LocalCluster and a hand-started scheduler + worker write
    the same .clumped, byte for byte."""
    args = ["clump", "--sumstats", ld_data["ss"], "--bed", ld_data["bed"], "--format", "plink",
            "--p1", "1e-3", "--r2", "0.2"]
    ref = tmp_path / "in.clumped"
    r_in = _ok(_gwaskit(*args, "--threads", "1", "--out", ref))
    text = ref.read_bytes()
    t2 = tmp_path / "t2.clumped"
    r_t2 = _ok(_gwaskit(*args, "--threads", "2", "--out", t2))
    assert t2.read_bytes() == text and _log(r_t2) == _log(r_in)
    chroms = [ln.split()[0] for ln in text.decode().splitlines()[1:] if ln.strip()]
    assert set(chroms) == set(CHROMS)  # one task per chromosome
    assert chroms != sorted(chroms, key=int)  # clumps of different chromosomes interleave
    lc = tmp_path / "lc.clumped"
    r_lc = _ok(_gwaskit(*args, "--workers", "2", "--out", lc))
    assert "Dask: tls://127.0.0.1:" in r_lc.stderr and "3 chromosome task(s)" in r_lc.stderr
    assert lc.read_bytes() == text
    assert _log(r_lc) == _log(r_in)
    cl = hand_cluster(1)
    hs = tmp_path / "hs.clumped"
    _ok(_gwaskit(*args, "--scheduler", cl.address, "--quiet", "--out", hs))
    assert hs.read_bytes() == text


@pytest.mark.parametrize("ref", ["bed", "bgen"])
def test_clump_table_and_members_identical(ld_data, tmp_path, ref):
    """Table output and members (dosage r2 on a .bed; haplotype r2 from BGEN dosages over
    three files): in-process and LocalCluster files are byte-identical."""
    args = ["clump", "--sumstats", ld_data["ss"], f"--{ref}", ld_data[ref], "--p1", "1e-2",
            "--r2", "0.1", "--quiet", "--allow-overlap" if ref == "bgen" else "--missing-as-singletons"]
    if ref == "bed":
        args += ["--r2-method", "dosage"]
    outs = {}
    for mode, extra in (("in", ["--threads", "1"]), ("t2", ["--threads", "2"]),
                        ("lc", ["--workers", "2"])):
        out, mem = tmp_path / f"{mode}.tsv", tmp_path / f"{mode}.members.tsv"
        _ok(_gwaskit(*args, *extra, "--members", mem, "--out", out))
        outs[mode] = (out.read_bytes(), mem.read_bytes())
    assert outs["lc"] == outs["in"] and outs["t2"] == outs["in"]
    clumps = pd.read_csv(tmp_path / "in.tsv", sep="\t", dtype={"chromosome": str})
    assert set(clumps["chromosome"]) == set(CHROMS) and len(clumps) > 10


def test_prs_identical_across_modes(ld_data, tmp_path, hand_cluster):
    """Scores from 37 panel chunks (one of them entirely absent from the genotypes): 1 and 2
    in-process threads, the LocalCluster and a hand-started scheduler + 2 workers give the
    same bits, and the same log lines (replayed from the tasks in chunk order)."""
    args = ["prs", "--panel", ld_data["panel"], "--bed", ld_data["bed"], "--chunk-size", "40"]
    ref = tmp_path / "in.parquet"
    r_in = _ok(_gwaskit(*args, "--threads", "1", "--out", ref))
    a = pd.read_parquet(ref)
    assert "panel: 40 of 40 variants dropped (40 absent)" in r_in.stderr
    t2 = tmp_path / "t2.parquet"
    r_t2 = _ok(_gwaskit(*args, "--threads", "2", "--out", t2))
    assert t2.read_bytes() == ref.read_bytes()
    assert _log(r_t2) == _log(r_in)
    lc = tmp_path / "lc.parquet"
    r_lc = _ok(_gwaskit(*args, "--workers", "2", "--out", lc))
    assert "panel-chunk task(s)" in r_lc.stderr
    assert_identical(a, pd.read_parquet(lc))
    assert _log(r_lc) == _log(r_in)
    cl = hand_cluster(2)
    hs = tmp_path / "hs.tsv"
    _ok(_gwaskit(*args, "--scheduler", cl.address, "--quiet", "--out", hs))
    ti = tmp_path / "in.tsv"
    _ok(_gwaskit(*args, "--quiet", "--out", ti))
    assert hs.read_bytes() == ti.read_bytes()
    assert np.isfinite(a["score"]).all() and (a["n_variants"] == 1380).all()


@pytest.mark.parametrize("cmd", ["clump", "prs"])
@pytest.mark.parametrize("address", ["tcp://127.0.0.1:1", "not-an-address"])
def test_bad_scheduler_is_one_line_exit_2(ld_data, tmp_path, cmd, address):
    if cmd == "clump":
        args = ["clump", "--sumstats", ld_data["ss"], "--bed", ld_data["bed"], "--format", "plink"]
    else:
        args = ["prs", "--panel", ld_data["panel"], "--bed", ld_data["bed"]]
    out = tmp_path / ("x.clumped" if cmd == "clump" else "x.tsv")
    r = _gwaskit(*args, "--scheduler", address, "--quiet", "--out", out,
                 GWASKIT_SCHEDULER_TIMEOUT=2, timeout=60)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"Error: scheduler {address}: cannot connect")
    assert not out.exists()


def test_scheduler_and_workers_exclusive(ld_data, tmp_path):
    r = _gwaskit("prs", "--panel", ld_data["panel"], "--bed", ld_data["bed"], "--workers", "2",
                 "--scheduler", "tcp://127.0.0.1:1", "--out", tmp_path / "x.tsv")
    assert r.returncode == 2 and "mutually exclusive" in r.stderr


def test_imports_do_not_load_dask():
    code = ("import sys, gwaskit, gwaskit.ld.clump, gwaskit.loci.prs, gwaskit.cli.clump, "
            "gwaskit.cli.prs, gwaskit.engine.execute, gwaskit.pipelines.prs, gwaskit.pipelines.scan; "
            "assert not any(m == 'dask' or m.startswith(('dask.', 'distributed')) "
            "for m in sys.modules), [m for m in sys.modules if 'dask' in m]")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, timeout=60, env=env())


def test_clump_parts_merge_like_in_process():
    """Library level, no Dask: the per-chromosome parts of the greedy pass, merged by (p,
    reference index), are exactly the whole pass (rows and members), ties in p included."""
    from gwaskit.ld.clump import _clump_pass, _clump_prepare, _merge_parts, _Shifted

    rng = np.random.default_rng(3)
    m_per, n = 60, 80
    chrom = np.repeat(np.array(["1", "2", "3"], dtype=object), m_per)
    pos = np.tile(np.arange(m_per, dtype=np.int64) * 1000 + 1, 3)
    vid = np.array([f"v{j}" for j in range(3 * m_per)], dtype=object)
    base = rng.integers(0, 3, size=(n, 6))
    G = np.repeat(base, 30, axis=1).astype(np.float64)
    flip = rng.random(G.shape) < 0.15
    G[flip] = rng.integers(0, 3, size=int(flip.sum()))
    p = rng.choice([1e-6, 1e-5, 1e-4], 3 * m_per)  # ties in p, across chromosomes too
    p[rng.random(3 * m_per) < 0.5] = 0.5

    class Cache:
        def get(self, idx):
            return G[:, idx]

    kw = dict(p2=0.01, r2=0.1, allow_overlap=False, method="dosage")
    prep = _clump_prepare([(vid, p)], vid, chrom, pos, p1=1e-3, p2=0.01, r2=0.1, kb=20, method="dosage")
    whole = _clump_pass(prep, None, Cache(), **kw)
    results = []
    for a, b in prep.blocks():
        part = prep.part(a, b)
        r, mr = _clump_pass(part, None, _Shifted(Cache(), part.offset), **kw)
        results.append(([(*x[:-1], x[-1] + a) for x in r],
                        [(int(x[0]) + a, int(x[1]) + a, *x[2:]) for x in mr]))
    rows, mem_rows = _merge_parts(results[::-1])  # completion order does not matter
    assert rows == whole[0]
    assert mem_rows == [(int(x[0]), int(x[1]), *x[2:]) for x in whole[1]]
    assert len(set(p[[r[-1] for r in rows]])) < len(rows)  # ties in p among index variants
    assert len({r[1] for r in rows}) == 3 and len(rows) > 5


def test_selection_identical_on_a_local_cluster(ld_data, tmp_path):
    """--keep/--chr/--maf on a LocalCluster: the workers reopen the files and apply the
    client's selection (not the whole files), so clump, prs and scan equal an in-process run."""
    (tmp_path / "keep.txt").write_text("".join(f"f{i} i{i}\n" for i in range(0, 240, 2)))
    sel = ["--keep", tmp_path / "keep.txt", "--chr", "1,3", "--maf", "0.05"]
    rng = np.random.default_rng(0)
    pd.DataFrame({"IID": [f"i{i}" for i in range(240)],
                  **{f"emb_{k}": rng.normal(size=240) for k in range(2)}}).to_csv(
        tmp_path / "emb.tsv", sep="\t", index=False)
    jobs = {
        "clump": (["clump", "--sumstats", ld_data["ss"], "--bgen", ld_data["bgen"], "--format",
                   "plink", "--p1", "1e-3", "--r2", "0.2"], "clumped"),
        "prs": (["prs", "--panel", ld_data["panel"], "--bed", ld_data["bed"], "--chunk-size",
                 "40"], "tsv"),
        "scan": (["scan", "--bed", ld_data["bed"], "--pheno", tmp_path / "emb.tsv",
                  "--chunk-size", "100"], "tsv"),
    }
    for name, (args, ext) in jobs.items():
        a, b = tmp_path / f"{name}_in.{ext}", tmp_path / f"{name}_lc.{ext}"
        _ok(_gwaskit(*args, *sel, "--threads", "1", "--quiet", "--out", a))
        _ok(_gwaskit(*args, *sel, "--workers", "2", "--quiet", "--out", b))
        assert a.read_bytes() == b.read_bytes(), name
        whole = tmp_path / f"{name}_all.{ext}"
        _ok(_gwaskit(*args, "--threads", "1", "--quiet", "--out", whole))
        assert whole.read_bytes() != a.read_bytes(), name  # the selection changed the result
    scan = pd.read_csv(tmp_path / "scan_in.tsv", sep="\t", dtype={"chromosome": str})
    assert set(scan["chromosome"]) == {"1", "3"}

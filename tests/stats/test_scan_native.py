"""The C column kernels (gwaskit.stats._scan_kernels) agree with the numba kernels."""
import os
import subprocess
import sys

import numpy as np
import pytest

from gwaskit.stats import _scan_kernels as kernels
from gwaskit.stats import _scan_numba_fns as numba_fns


@pytest.fixture(scope="module")
def native():
    if kernels.backend() != "native":
        if os.environ.get("GWASKIT_REQUIRE_NATIVE") == "1":
            pytest.fail("the C scan kernels could not be built (GWASKIT_REQUIRE_NATIVE=1)")
        pytest.skip("no C compiler: the numba kernels are used")
    return True


def _blocks():
    rng = np.random.default_rng(5)
    n, m = 1003, 37  # n not a multiple of the 8 lanes
    G = rng.binomial(2, rng.uniform(0.001, 0.5, m), size=(n, m)).astype(np.float64)
    G += rng.uniform(-0.05, 0.05, size=G.shape)
    G[rng.random(G.shape) < 0.02] = np.nan
    G[:, 3] = np.nan          # all missing
    G[:, 4] = 1.0             # monomorphic
    G[:, 5] = 2.0 - 1e-3 * (np.arange(n) == 7)  # rare, large mean / SD
    return G


@pytest.mark.parametrize("tin", [np.float32, np.float64])
def test_column_stats_and_centring_match_numba(native, tin):
    G = np.asfortranarray(_blocks().astype(tin))
    n, m = G.shape
    res = {}
    for name, mod in (("c", kernels), ("numba", numba_fns)):
        mean, ss, dsum = np.empty(m), np.empty(m), np.empty(m)
        nobs = np.empty(m, dtype=np.int64)
        mod.column_stats(G, mean, ss, nobs, dsum)
        res[name] = (mean, ss, nobs, dsum)
    for a, b in zip(res["c"], res["numba"]):
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-12, equal_nan=True)
    assert np.isnan(res["c"][0][3]) and res["c"][1][3] == 0 and res["c"][2][3] == 0
    mean = res["c"][0]
    cols = np.array([10, 0, 3, 5, 5], dtype=np.int64)
    for tout in (np.float32, np.float64):
        outs = []
        for mod in (kernels, numba_fns):
            out = np.full((n, len(cols) + 2), 7.0, dtype=tout, order="F")
            ss = np.empty(len(cols))
            mod.centre_columns(G, cols, mean, out, ss)
            outs.append((out, ss))
        # centred values: identical bits (one subtraction, one rounding); sums to rounding
        np.testing.assert_array_equal(outs[0][0], outs[1][0])
        np.testing.assert_allclose(outs[0][1], outs[1][1], rtol=1e-13)
        outs = []
        for mod in (kernels, numba_fns):
            out = np.empty((n, m), dtype=tout, order="F")
            v = [np.empty(m), np.empty(m), np.empty(m, dtype=np.int64), np.empty(m)]
            mod.impute_centre(G, out, v[0], v[1], v[2], v[3])
            outs.append((out, v))
        # the means differ in the last bit (summation order), so do the centred values
        np.testing.assert_allclose(outs[0][0], outs[1][0], rtol=0,
                                   atol=1e-14 if tout == np.float64 else 3e-7)
        for a, b in zip(outs[0][1], outs[1][1]):
            np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-12, equal_nan=True)


def test_scan_path_imports_neither_numba_nor_scipy(native, tmp_path):
    """A null fit plus a block test (what `gwaskit scan` runs) loads no numba and no scipy."""
    code = (
        "import sys, numpy as np\n"
        "from gwaskit.stats.multitrait import MultiTraitScan\n"
        "rng = np.random.default_rng(0)\n"
        "m = MultiTraitScan(pca='all').fit(rng.normal(size=(300, 4)), rng.normal(size=(300, 2)))\n"
        "G = np.asfortranarray(rng.binomial(2, 0.3, size=(300, 50)).astype(np.float32))\n"
        "r = m.test(G)\n"
        "assert np.isfinite(r['p_value']).all()\n"
        "print(sorted(k for k in ('numba', 'scipy') if k in sys.modules))\n")
    env = dict(os.environ, GWASKIT_CACHE_DIR=os.environ.get("GWASKIT_CACHE_DIR", str(tmp_path)))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         check=True).stdout
    assert out.strip() == "[]"


def test_decoder_column_stats_equal_the_scan_kernel(native, tmp_path):
    """The BGEN decoder's per-column statistics (computed while each column is in cache) are
    the bits of the scan's own column pass, so a scan gives the same result either way."""
    import pandas as pd

    from gwaskit.io.bgen_writer import write_bgen
    from gwaskit.io.genotypes import open_genotypes
    from gwaskit.stats.multitrait import MultiTraitScan

    rng = np.random.default_rng(2)
    n, m = 301, 40
    G = rng.binomial(2, rng.uniform(0.01, 0.5, m), size=(n, m)).astype(float)
    G[rng.random(G.shape) < 0.03] = np.nan
    G[:, 5] = np.nan
    v = pd.DataFrame({"chromosome": "1", "base_pair_location": np.arange(1, m + 1),
                      "variant_id": [f"v{j}" for j in range(m)], "effect_allele": "A",
                      "other_allele": "G"})
    write_bgen(tmp_path / "g.bgen", [f"s{i}" for i in range(n)], v, dosages=G, threads=1)
    sub = rng.permutation(n)[:250]
    with open_genotypes(tmp_path / "g.bgen", n_threads=2) as r:
        for samples in (None, sub):
            stats = np.full((m, 4), -1.0)
            _, dos = r.read_dosages(samples=samples, out=None, stats=stats)
            assert (stats[:, 0] >= 0).all(), "the C decoder did not fill the statistics"
            mean, ss, dsum = np.empty(m), np.empty(m), np.empty(m)
            nobs = np.empty(m, dtype=np.int64)
            kernels.column_stats(dos, mean, ss, nobs, dsum)
            np.testing.assert_array_equal(stats, np.column_stack([nobs, dsum, mean, ss]))
            model = MultiTraitScan().fit(rng.normal(size=(len(dos), 3)))
            a, b = model.test(dos), model.test(dos, column_stats=stats)
            for key in ("q", "chisq", "p_value", "effect_allele_frequency"):
                np.testing.assert_array_equal(a[key], b[key])

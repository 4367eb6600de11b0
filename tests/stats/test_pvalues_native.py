"""The C p-value kernels (gwaskit/stats/_pvalues_native.c) agree with the numba kernels, and the
native path of gwaskit.stats.pvalues imports neither numba nor scipy."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from gwaskit.stats import pvalues as pv

# 1e-14 relative is the contract; in practice the results are identical bit for bit (same
# operations, same order, same libm, no FMA), which test_*_bitwise_share reports.
RTOL = 1e-14


@pytest.fixture(scope="module")
def kernels():
    lib = pv._load_native()
    if lib is None:
        if os.environ.get("GWASKIT_REQUIRE_NATIVE") == "1":
            pytest.fail("the C p-value kernels could not be built (GWASKIT_REQUIRE_NATIVE=1)")
        pytest.skip("no C compiler (or GWASKIT_NATIVE=0): the numba kernels are used")
    from gwaskit.stats import _pvalues_numba_fns as nb

    c_beta, c_gamma = pv._native_kernels(lib)
    return {"c": (c_beta, c_gamma), "numba": (nb.log_betainc_upper, nb.log_gammaincc)}


def _params(rng, n):
    """Shape parameters log-uniform on [0.5, 1e5], plus the half-integers a scan uses."""
    p = np.exp(rng.uniform(np.log(0.5), np.log(1e5), n))
    p[: n // 4] = rng.integers(1, 2 * 20000, n // 4) / 2.0
    return p


def _unit_values(rng, n):
    """y in [0, 1]: uniform, crowded at 0 (deep tails) and at 1, with exact edges and NaN."""
    k = n // 5
    y = np.concatenate([
        rng.uniform(0, 1, k),
        rng.uniform(0, 1, k) ** 8,
        10.0 ** rng.uniform(-300, 0, k),
        1.0 - 10.0 ** rng.uniform(-16, 0, k),
        rng.uniform(0, 0.05, n - 4 * k),
    ])
    edges = [0.0, 1.0, np.nan, 5e-324, 1e-300, 1e-17, np.nextafter(1.0, 0.0), -0.0]
    y[: len(edges) * 10] = np.repeat(edges, 10)
    rng.shuffle(y)
    return y


def _assert_close(c, ref):
    assert c.shape == ref.shape
    np.testing.assert_array_equal(np.isnan(c), np.isnan(ref))
    np.testing.assert_array_equal(np.isinf(c), np.isinf(ref))
    fin = np.isfinite(ref)
    np.testing.assert_array_equal(c[~fin & ~np.isnan(ref)], ref[~fin & ~np.isnan(ref)])
    np.testing.assert_allclose(c[fin], ref[fin], rtol=RTOL, atol=0)


def _bitwise_share(c, ref) -> float:
    same = (c.view(np.int64) == ref.view(np.int64)) | (np.isnan(c) & np.isnan(ref))
    return float(np.mean(same))


def _beta_grid(n=60_000, seed=0):
    rng = np.random.default_rng(seed)
    a, b, y = _params(rng, n), _params(rng, n), _unit_values(rng, n)
    a[:30], b[30:60] = np.nan, np.nan  # NaN parameters give NaN
    return a, b, y, pv.log_beta(a, b)


def _gamma_grid(n=60_000, seed=1):
    rng = np.random.default_rng(seed)
    s = _params(rng, n)
    # x around s (both branches: series for x < s + 1, continued fraction above), far tails
    x = s * np.exp(rng.normal(0, 0.5, n))
    x[: n // 4] = 10.0 ** rng.uniform(-300, 6, n // 4)
    edges = [0.0, np.inf, np.nan, 5e-324, -1.0]
    x[-len(edges) * 10:] = np.repeat(edges, 10)
    s[:20] = np.nan
    return s, x, pv._lgamma(s)


def test_log_betainc_upper_matches_numba(kernels):
    args = _beta_grid()
    c = kernels["c"][0](*args)
    ref = kernels["numba"][0](*args)
    _assert_close(c, ref)
    assert np.isfinite(ref).mean() > 0.95  # the grid exercises real values, not edges only


def test_log_gammaincc_matches_numba(kernels):
    args = _gamma_grid()
    c = kernels["c"][1](*args)
    ref = kernels["numba"][1](*args)
    _assert_close(c, ref)
    assert np.isfinite(ref).mean() > 0.95


def test_bitwise_share(kernels, record_property):
    """Reported, and expected to be 1 with a C compiler honouring -ffp-contract=off."""
    beta_args, gamma_args = _beta_grid(seed=2), _gamma_grid(seed=3)
    bb = _bitwise_share(kernels["c"][0](*beta_args), kernels["numba"][0](*beta_args))
    gg = _bitwise_share(kernels["c"][1](*gamma_args), kernels["numba"][1](*gamma_args))
    record_property("bitwise_share_beta", bb)
    record_property("bitwise_share_gamma", gg)
    print(f"bit-identical share: log_betainc_upper {bb:.6f}, log_gammaincc {gg:.6f}")
    assert bb > 0.99 and gg > 0.99


def test_empty_and_unequal_arrays(kernels):
    beta, gamma = kernels["c"]
    e = np.empty(0)
    assert beta(e, e, e, e).shape == (0,)
    assert gamma(e, e, e).shape == (0,)
    with pytest.raises(ValueError):
        beta(np.ones(3), np.ones(3), np.ones(2), np.ones(3))
    with pytest.raises(ValueError):
        gamma(np.ones(3), np.ones(2), np.ones(3))


def test_threads_share_the_library(kernels):
    """ctypes releases the GIL: chunks from a thread pool give the serial result."""
    from concurrent.futures import ThreadPoolExecutor

    a, b, y, lb = _beta_grid(n=20_000, seed=4)
    beta = kernels["c"][0]
    whole = beta(a, b, y, lb)
    chunks = [slice(i, i + 2000) for i in range(0, len(y), 2000)]
    with ThreadPoolExecutor(4) as ex:
        parts = list(ex.map(lambda s: beta(a[s], b[s], y[s], lb[s]), chunks))
    np.testing.assert_array_equal(np.concatenate(parts), whole)


# --- the public functions in a fresh process: native path vs numba fallback -------------------

_CODE = r"""
import json, sys
import numpy as np
import gwaskit.stats.pvalues as p
rng = np.random.default_rng(7)
q = np.concatenate([rng.uniform(0, 0.05, 2000), [0.0, 0.5, 0.91, 1.0, np.nan]])
x = np.concatenate([rng.chisquare(10, 2000), [0.0, 1e4, np.inf, np.nan]])
res = {
    "exact": p.exact_multitrait_logp(q, 20000, 20, 256).tolist(),
    "exact_small": p.exact_multitrait_logp(q, 500, 3, 8).tolist(),
    "chi2": p.chi2_logsf(x, 10).tolist(),
    "t": p.t_logsf_two_sided(rng.normal(0, 5, 500), 50).tolist(),
    "f": p.f_logsf(rng.uniform(0, 20, 500), 4, 300).tolist(),
    "lambda": p.lambda_gc(x, 10),
    "lambda_p": p.lambda_gc_from_p(np.exp(p.chi2_logsf(1.1 * x, 10)), 10),
    "native": p._load_native() is not None,
    "modules": sorted(k for k in ("numba", "scipy") if k in sys.modules),
}
print(json.dumps(res))
"""


def _run(tmp_path, **env_extra) -> dict:
    env = dict(os.environ, GWASKIT_CACHE_DIR=os.environ.get("GWASKIT_CACHE_DIR", str(tmp_path)))
    env.update(env_extra)
    out = subprocess.run([sys.executable, "-c", _CODE], capture_output=True, text=True, env=env,
                         check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def fresh_runs(kernels, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("pvalues-native")
    return _run(tmp), _run(tmp, GWASKIT_NATIVE="0")


def test_native_path_imports_neither_numba_nor_scipy(fresh_runs):
    native, _ = fresh_runs
    assert native["native"]
    assert native["modules"] == []


def test_numba_fallback_gives_the_same_numbers(fresh_runs):
    native, fallback = fresh_runs
    assert not fallback["native"]
    assert "numba" in fallback["modules"]  # the fallback really ran the numba kernels
    for key in ("exact", "exact_small", "chi2", "t", "f"):
        c, ref = np.array(native[key], dtype=np.float64), np.array(fallback[key], dtype=np.float64)
        _assert_close(c, ref)
    for key in ("lambda", "lambda_p"):
        assert native[key] == pytest.approx(fallback[key], rel=RTOL)


def test_backend_reports_native(kernels):
    assert pv.backend() == "native"

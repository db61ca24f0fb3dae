"""max_a: tree of comparisons and multiplexers, exact against numpy, exact traffic."""
import numpy as np
import pytest

from protocols.max import max_a, max_cost, max_ideal
from protocols.ring import Ring

from _twoparty import run_mpc


def _run(f, in0, in1, kind="insecure-dealer"):
    """f(mpc, in_i) on party i over the shared two-party test helper."""
    return run_mpc(f, (in0,), (in1,), kind)


@pytest.mark.parametrize("ell,L", [(64, 128), (32, 7), (32, 1), (16, 2), (64, 13)])
def test_max_rows(rng, ell, L):
    R = Ring(ell)
    rows = 40
    q = 1 << (ell - 2)
    v = rng.integers(-q, q, (rows, L))
    v[0] = -q  # all equal, most negative
    v[1] = 0
    if L > 1:
        v[2, -1] = q - 1  # maximum in the odd tail element
        v[3, :] = -1
        v[3, L // 2] = 0  # 0 vs -1 by 1 ulp
        v[4, :] = np.arange(L) - L  # all negative, increasing
    x = R.from_signed(v)
    x0, x1 = R.share(x)
    z0, z1, c0, c1 = _run(lambda mpc, s: max_a(mpc, s, ell=ell), x0, x1)
    assert z0.shape == (rows,)
    np.testing.assert_array_equal(R.add(z0, z1), max_ideal(x, -1, ell))
    cost = max_cost(rows, L, ell)
    assert c0.bytes_sent == cost["bytes_0to1"] and c1.bytes_sent == cost["bytes_1to0"]
    assert c1.rounds == cost["rounds"]


def test_max_axis(rng):
    R = Ring(32)
    v = rng.integers(-1000, 1000, (5, 9, 4))
    x = R.from_signed(v)
    x0, x1 = R.share(x)
    z0, z1, _, _ = _run(lambda mpc, s: max_a(mpc, s, axis=1, ell=32), x0, x1)
    assert z0.shape == (5, 4)
    np.testing.assert_array_equal(R.to_signed(R.add(z0, z1)), v.max(axis=1))


def test_max_iknp(rng):
    R = Ring(64)
    v = rng.integers(-(2**40), 2**40, (8, 16))
    x0, x1 = R.share(R.from_signed(v))
    z0, z1, _, _ = _run(lambda mpc, s: max_a(mpc, s, ell=64), x0, x1, kind="iknp")
    np.testing.assert_array_equal(R.to_signed(R.add(z0, z1)), v.max(axis=1))

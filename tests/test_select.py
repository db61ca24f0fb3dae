import numpy as np
import pytest

from protocols.ring import Ring
from protocols.select import mul_ba, mul_ba_cost, select, select_cost, select_ideal

from _twoparty import bool_shares, edge_values, run_mpc, shares


@pytest.mark.parametrize("ell", [64, 32, 5])
def test_select(ell, rng):
    R = Ring(ell)
    e = edge_values(R)
    n = 200
    x = np.concatenate([R.reduce(rng.integers(0, 2**64, size=n, dtype=np.uint64)), e, e])
    y = np.concatenate([R.reduce(rng.integers(0, 2**64, size=n, dtype=np.uint64)), e[::-1], e])
    b = rng.integers(0, 2, size=x.size).astype(np.uint8)
    b0, b1 = bool_shares(b, rng)
    x0, x1 = shares(R, x, rng)
    y0, y1 = shares(R, y, rng)
    z0, z1, c0, c1 = run_mpc(lambda m, bb, a, c: select(m, bb, a, c, ell=ell), (b0, x0, y0), (b1, x1, y1))
    assert np.array_equal(R.add(z0, z1), select_ideal(b, x, y))
    cost = select_cost(x.size, ell)
    for c in (c0, c1):
        assert c.bytes_sent == c.bytes_recv == cost["bytes_sent"] and c.rounds == 1
    # 2 COTs, 2(ell+1) bits per element in total
    assert abs((c0.bytes_sent + c1.bytes_sent) * 8 - x.size * 2 * (ell + 1)) < 4 * 8


def test_mul_ba_several_values_per_bit(rng):
    R = Ring(32)
    n, k = 40, 5
    b = rng.integers(0, 2, size=(4, 10)).astype(np.uint8)
    x = R.reduce(rng.integers(0, 2**64, size=(4, 10, k), dtype=np.uint64))
    b0, b1 = bool_shares(b, rng)
    x0, x1 = shares(R, x, rng)
    z0, z1, c0, _ = run_mpc(lambda m, bb, a: mul_ba(m, bb, a, ell=32), (b0, x0), (b1, x1))
    assert z0.shape == (4, 10, k)
    assert np.array_equal(R.add(z0, z1), x * b[..., None])
    assert c0.bytes_sent == mul_ba_cost(n, 32, k)["bytes_sent"] == (n + 7) // 8 + n * k * 4


def test_select_shape_errors():
    with pytest.raises(ValueError):
        run_mpc(lambda m: select(m, np.zeros(3, np.uint8), np.zeros(3), np.zeros(4), ell=8), (), ())
    with pytest.raises(ValueError):
        run_mpc(lambda m: mul_ba(m, np.zeros(3, np.uint8), np.zeros((4, 2)), ell=8), (), ())


def test_mul_ba_batches_by_values(rng):
    R = Ring(16)
    b = rng.integers(0, 2, size=9).astype(np.uint8)
    x = R.reduce(rng.integers(0, 2**64, size=(9, 4), dtype=np.uint64))
    b0, b1 = bool_shares(b, rng)
    x0, x1 = shares(R, x, rng)
    z0, z1, c0, _ = run_mpc(lambda m, bb, a: mul_ba(m, bb, a, ell=16, batch=8), (b0, x0), (b1, x1))
    assert np.array_equal(R.add(z0, z1), x * b[:, None])
    cost = mul_ba_cost(9, 16, 4, batch=8)
    assert c0.rounds == cost["rounds"] == 5 and c0.bytes_sent == cost["bytes_sent"]

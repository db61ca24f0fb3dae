import numpy as np
import pytest

from protocols.convert import (
    b2a, b2a_cost, b2a_ideal, bit_and_a, bit_and_cost, ring_down, ring_up, ring_up_cost, ring_up_ideal,
)
from protocols.ring import Ring

from _twoparty import exact_costs, bool_shares, run_mpc, shares


@pytest.mark.parametrize("ell", [64, 32, 2])
def test_b2a(ell, rng):
    R = Ring(ell)
    n = 301
    b = rng.integers(0, 2, size=n).astype(np.uint8)
    b[:4] = [0, 1, 0, 1]
    b0, b1 = bool_shares(b, rng)
    b0[:4] = [0, 0, 1, 1]
    b1[:4] = b[:4] ^ b0[:4]
    z0, z1, c0, c1 = run_mpc(lambda m, a: b2a(m, a, ell=ell), (b0,), (b1,))
    assert np.array_equal(R.add(z0, z1), b2a_ideal(b0, b1, ell))
    for p, c in ((0, c0), (1, c1)):
        assert c.bytes_sent == b2a_cost(n, ell, p)["bytes_sent"] and c.rounds == 1
    # one COT and ell bits per element in total (1 derandomisation + ell-1 correction bits)
    assert abs((c0.bytes_sent + c1.bytes_sent) * 8 - n * ell) < 4 * 8


def test_bit_and_batches(rng):
    n = 50
    a0 = rng.integers(0, 2, size=n).astype(np.uint8)
    a1 = rng.integers(0, 2, size=n).astype(np.uint8)
    s0, s1, c0, c1 = run_mpc(lambda m, a: bit_and_a(m, a, 5, batch=16), (a0,), (a1,))
    assert np.array_equal((s0 + s1) & np.uint64(31), (a0 & a1).astype(np.uint64))
    assert c0.rounds == 4 and c0.bytes_sent == bit_and_cost(n, 5, 0, batch=16)["bytes_sent"]


@pytest.mark.parametrize("ell_from,ell_to", [(32, 64), (20, 21), (13, 40), (64, 64)])
def test_ring_up_known_sign(ell_from, ell_to, rng):
    Rf, Rt = Ring(ell_from), Ring(ell_to)
    lim = 1 << (ell_from - 2)
    v = np.concatenate([rng.integers(-lim + 1, lim, size=300), [0, 1, -1, lim - 1, -lim + 1]])
    x = Rf.from_signed(v)
    x0, x1 = shares(Rf, x, rng)
    z0, z1, c0, c1 = run_mpc(lambda m, a: ring_up(m, a, ell_from, ell_to), (x0,), (x1,))
    assert np.array_equal(Rt.add(z0, z1), ring_up_ideal(x, ell_from, ell_to))
    assert np.array_equal(Rt.to_signed(Rt.add(z0, z1)), v)
    n = v.size
    for p, c in ((0, c0), (1, c1)):
        assert c.bytes_sent == ring_up_cost(n, ell_from, ell_to, p)["bytes_sent"]
    if ell_to > ell_from:
        assert abs((c0.bytes_sent + c1.bytes_sent) * 8 - n * (1 + ell_to - ell_from)) < 4 * 8


@pytest.mark.parametrize("ell_from,ell_to", [(15, 32), (32, 64), (3, 9)])
def test_ring_up_nonneg(ell_from, ell_to, rng):
    """``nonneg``: 0 ≤ x < 2^(ell_from−1), one bit more than the biased trick, same cost."""
    Rf, Rt = Ring(ell_from), Ring(ell_to)
    h = 1 << (ell_from - 1)
    v = np.concatenate([rng.integers(0, h, size=300), [0, 1, h - 1, h - 2]])
    x0, x1 = shares(Rf, Rf.from_signed(v), rng)
    z0, z1, c0, c1 = run_mpc(lambda m, a: ring_up(m, a, ell_from, ell_to, nonneg=True), (x0,), (x1,))
    assert np.array_equal(Rt.to_signed(Rt.add(z0, z1)), v)
    for p, c in ((0, c0), (1, c1)):
        assert c.bytes_sent == ring_up_cost(v.size, ell_from, ell_to, p)["bytes_sent"]


def test_ring_down_local(rng):
    R, r = Ring(64), Ring(24)
    v = rng.integers(-(1 << 22), 1 << 22, size=100)
    x0, x1 = shares(R, R.from_signed(v), rng)
    assert np.array_equal(r.to_signed(r.add(ring_down(x0, 24), ring_down(x1, 24))), v)


def test_ring_up_refusals():
    with pytest.raises(ValueError):
        run_mpc(lambda m, a: ring_up(m, a, 32, 16), (np.zeros(2),), (np.zeros(2),))


@pytest.mark.parametrize("ell_from,ell_to", [(32, 64), (13, 14), (8, 40)])
def test_ring_up_unbounded(ell_from, ell_to, rng):
    Rf, Rt = Ring(ell_from), Ring(ell_to)
    h = 1 << (ell_from - 1)
    v = np.concatenate([rng.integers(-h, h, size=300), [0, 1, -1, h - 1, -h, -h + 1]])
    x = Rf.from_signed(v)
    x0, x1 = shares(Rf, x, rng)
    z0, z1, c0, c1 = run_mpc(lambda m, a: ring_up(m, a, ell_from, ell_to, bounded=False), (x0,), (x1,))
    assert np.array_equal(Rt.to_signed(Rt.add(z0, z1)), v)
    for p, c in ((0, c0), (1, c1)):
        cost = ring_up_cost(v.size, ell_from, ell_to, p, bounded=False)
        if exact_costs():  # compare's own COT draws are not scoped out on a real engine
            assert c.bytes_sent == cost["bytes_sent"] and c.rounds == cost["rounds"]

"""Boolean shares: AND from COT bit triples (plain, correlated, batched), XOR/NOT, exact traffic."""
import numpy as np
import pytest

from protocols.bits import (
    and_bb,
    and_bb_batch,
    and_bb_corr,
    and_bb_cost,
    and_ideal,
    bit_triples,
    corr_bit_triples,
    not_b,
    or_bb,
    share_bits,
    xor_bb,
    xor_bp,
)
from protocols.channel import run_two_party
from protocols.context import MPC


def _run(f, inputs0, inputs1, kind="insecure-dealer"):
    def w(inp):
        def g(ch):
            mpc = MPC.setup(ch, kind)
            with ch.scope("op") as rec:
                r = f(mpc, *inp)
            return r, rec.cost

        return g

    (r0, c0), (r1, c1), _, _ = run_two_party(w(inputs0), w(inputs1))
    return r0, r1, c0, c1


def test_triples():
    n = 4000
    (a0, b0, c0), (a1, b1, c1), k0, _ = _run(lambda m: bit_triples(m, n), (), ())
    a, b, c = a0 ^ a1, b0 ^ b1, c0 ^ c1
    np.testing.assert_array_equal(c, a & b)
    assert 0.45 < a.mean() < 0.55 and 0.45 < b.mean() < 0.55
    assert k0.bytes_sent == 0  # triples from random COT need no traffic


def test_corr_triples():
    n, k = 3000, 3
    (a0, b0, c0), (a1, b1, c1), _, _ = _run(lambda m: corr_bit_triples(m, n, k), (), ())
    a, b, c = a0 ^ a1, b0 ^ b1, c0 ^ c1
    assert b.shape == (n, k)
    np.testing.assert_array_equal(c, a[:, None] & b)
    assert 0.45 < b[:, 2].mean() < 0.55


@pytest.mark.parametrize("kind", ["insecure-dealer", "iknp"])
def test_and_bb(rng, kind):
    n = 1003
    x = rng.integers(0, 2, n).astype(np.uint8)
    y = rng.integers(0, 2, n).astype(np.uint8)
    x[:4] = [0, 0, 1, 1]
    y[:4] = [0, 1, 0, 1]
    x0, x1 = share_bits(x)
    y0, y1 = share_bits(y)
    z0, z1, c0, c1 = _run(and_bb, (x0, y0), (x1, y1), kind)
    np.testing.assert_array_equal(z0 ^ z1, and_ideal(x, y))
    cost = and_bb_cost(n, 1)
    if kind != "insecure-dealer":  # real OT engines refill COTs inside the call (extra traffic)
        return
    assert c0.bytes_sent == c0.bytes_recv == c1.bytes_sent == cost["bytes_each_way"]
    assert c1.rounds == cost["rounds"]


def test_and_bb_corr_and_batch(rng):
    n, k = 777, 2
    x = rng.integers(0, 2, n).astype(np.uint8)
    Y = rng.integers(0, 2, (n, k)).astype(np.uint8)
    u = rng.integers(0, 2, 50).astype(np.uint8)
    v = rng.integers(0, 2, (50, 1)).astype(np.uint8)
    (x0, x1), (Y0, Y1), (u0, u1), (v0, v1) = share_bits(x), share_bits(Y), share_bits(u), share_bits(v)

    def f(m, x, Y, u, v):
        c = and_bb_corr(m, x, Y)
        with m.ch.scope("batch") as rec:
            bb = and_bb_batch(m, [(x, Y), (u, v)])
        return c, bb, rec.cost

    (c0, b0, k0), (c1, b1, k1), _, _ = _run(f, (x0, Y0, u0, v0), (x1, Y1, u1, v1))
    np.testing.assert_array_equal(c0 ^ c1, x[:, None] & Y)
    np.testing.assert_array_equal(b0[0] ^ b1[0], x[:, None] & Y)
    np.testing.assert_array_equal(b0[1] ^ b1[1], u[:, None] & v)
    assert k0.bytes_sent == (n * 3 + 50 * 2 + 7) // 8 and k0.rounds <= 1 and k1.rounds == 1


def test_local_ops(rng):
    x = rng.integers(0, 2, 64).astype(np.uint8)
    y = rng.integers(0, 2, 64).astype(np.uint8)
    c = rng.integers(0, 2, 64).astype(np.uint8)
    (x0, x1), (y0, y1) = share_bits(x), share_bits(y)

    def f(m, xs, ys):
        return xor_bb(xs, ys), not_b(m, xs), xor_bp(m, xs, c), or_bb(m, xs, ys)

    r0, r1, _, _ = _run(f, (x0, y0), (x1, y1))
    np.testing.assert_array_equal(r0[0] ^ r1[0], x ^ y)
    np.testing.assert_array_equal(r0[1] ^ r1[1], 1 - x)
    np.testing.assert_array_equal(r0[2] ^ r1[2], x ^ c)
    np.testing.assert_array_equal(r0[3] ^ r1[3], x | y)

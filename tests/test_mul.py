import numpy as np
import pytest

from protocols.config import override
from protocols.mul import (
    bounded_k, mul_aa, mul_aa_cost, mul_aa_ideal, mul_ap, square_a, square_a_cost, square_a_ideal, square_bounded_k,
)
from protocols.ring import Ring

from _twoparty import edge_values, run_job_in_processes, run_mpc, shares


def _inputs(R, rng, n=300):
    e = edge_values(R)
    x = np.concatenate([R.reduce(rng.integers(0, 2**64, size=n, dtype=np.uint64)), e, e])
    y = np.concatenate([R.reduce(rng.integers(0, 2**64, size=n, dtype=np.uint64)), e, e[::-1]])
    return x, y


@pytest.mark.parametrize("ell", [64, 32, 13])
def test_mul_aa_exact_and_cost(ell, rng):
    R = Ring(ell)
    x, y = _inputs(R, rng)
    x0, x1 = shares(R, x, rng)
    y0, y1 = shares(R, y, rng)
    z0, z1, c0, c1 = run_mpc(lambda m, a, b: mul_aa(m, a, b, ell=ell), (x0, y0), (x1, y1))
    assert np.array_equal(R.add(z0, z1), mul_aa_ideal(x, y, ell))
    assert np.all(z0 <= R.mask) and np.all(z1 <= R.mask)
    n = x.size
    cost = mul_aa_cost(n, ell)
    # ell derandomisation bits + ell(ell+1)/2 correction bits per element and party
    assert cost["bytes_sent"] == (ell * n + 7) // 8 + (n * ell * (ell + 1) // 2 + 7) // 8
    for c in (c0, c1):
        assert c.bytes_sent == c.bytes_recv == cost["bytes_sent"]
        assert c.rounds == cost["rounds"] == 1


@pytest.mark.parametrize("ell,bound", [(64, 31), (64, 20), (40, 18), (33, 15)])
def test_mul_aa_bounded_inputs(ell, bound, rng):
    """|x|, |y| < 2^bound: k-bit choice operands, exact product, less traffic, one exchange."""
    R = Ring(ell)
    lim = 1 << bound
    e = np.array([0, 1, -1, 2, lim - 1, -lim + 1, lim // 2, -(lim // 2)], dtype=np.int64)
    v = np.concatenate([rng.integers(-lim + 1, lim, size=300), e, e])
    w = np.concatenate([rng.integers(-lim + 1, lim, size=300), e, e[::-1]])
    x, y = R.from_signed(v), R.from_signed(w)
    x0, x1 = shares(R, x, rng)
    y0, y1 = shares(R, y, rng)
    z0, z1, c0, c1 = run_mpc(lambda m, a, b: mul_aa(m, a, b, ell=ell, bound=bound), (x0, y0), (x1, y1))
    assert np.array_equal(R.add(z0, z1), R.mul(x, y))
    cost = mul_aa_cost(v.size, ell, bound=bound)
    for c in (c0, c1):
        assert c.bytes_sent == c.bytes_recv == cost["bytes_sent"] and c.rounds == 1
    k = bounded_k(ell, bound)
    per_party_bits = k + sum(ell - i for i in range(k)) + 2 + 2 * (ell - k)
    assert abs(c0.bytes_sent * 8 - v.size * per_party_bits) < 4 * 8
    assert cost["bytes_sent"] < mul_aa_cost(v.size, ell)["bytes_sent"]


def test_mul_aa_batches_shapes_and_default_ring(rng):
    R = Ring(32)
    x = R.reduce(rng.integers(0, 2**64, size=(7, 11), dtype=np.uint64))
    y = R.reduce(rng.integers(0, 2**64, size=(7, 11), dtype=np.uint64))
    x0, x1 = shares(R, x, rng)
    y0, y1 = shares(R, y, rng)
    with override(ell=32, frac=12):
        z0, z1, c0, _ = run_mpc(lambda m, a, b: mul_aa(m, a, b, batch=32 * 10), (x0, y0), (x1, y1))
    assert z0.shape == (7, 11)
    assert np.array_equal(R.add(z0, z1), R.mul(x, y))
    cost = mul_aa_cost(77, 32, batch=320)
    assert cost["rounds"] == 8 == c0.rounds and cost["bytes_sent"] == c0.bytes_sent


@pytest.mark.parametrize("ell", [64, 31, 2])
def test_square_a(ell, rng):
    R = Ring(ell)
    x, _ = _inputs(R, rng, 201)
    x0, x1 = shares(R, x, rng)
    z0, z1, c0, c1 = run_mpc(lambda m, a: square_a(m, a, ell=ell), (x0,), (x1,))
    assert np.array_equal(R.add(z0, z1), square_a_ideal(x, ell))
    n = x.size
    for p, c in ((0, c0), (1, c1)):
        assert c.bytes_sent == square_a_cost(n, ell, p)["bytes_sent"]
        assert c.rounds == 1
    # both directions together: (ell-1) choice bits + (ell-1)ell/2 correction bits per element
    total = c0.bytes_sent + c1.bytes_sent
    assert abs(total * 8 - n * ((ell - 1) + (ell - 1) * ell // 2)) < 4 * 8


@pytest.mark.parametrize("ell,bound", [(64, 31), (40, 19), (33, 15), (31, 12)])
def test_square_a_bounded_inputs(ell, bound, rng):
    R = Ring(ell)
    lim = 1 << bound
    v = np.concatenate([rng.integers(-lim + 1, lim, size=301), [0, 1, -1, lim - 1, -lim + 1, lim // 2]])
    x = R.from_signed(v)
    x0, x1 = shares(R, x, rng)
    z0, z1, c0, c1 = run_mpc(lambda m, a: square_a(m, a, ell=ell, bound=bound), (x0,), (x1,))
    assert np.array_equal(R.add(z0, z1), R.mul(x, x))
    for p, c in ((0, c0), (1, c1)):
        assert c.bytes_sent == square_a_cost(v.size, ell, p, bound=bound)["bytes_sent"] and c.rounds == 1
    k = square_bounded_k(ell, bound)
    bits = k + sum(ell - 1 - i for i in range(k)) + 2 * (ell - k)
    assert abs((c0.bytes_sent + c1.bytes_sent) * 8 - v.size * bits) < 6 * 8
    assert c0.bytes_sent < square_a_cost(v.size, ell, 0)["bytes_sent"]


def test_mul_ap_local(rng):
    R = Ring(40)
    x = R.from_signed(rng.integers(-1000, 1000, size=50))
    x0, x1 = shares(R, x, rng)
    p = rng.integers(-50, 50, size=50)
    z = R.add(mul_ap(x0, p, ell=40), mul_ap(x1, p, ell=40))
    assert np.array_equal(R.to_signed(z), R.to_signed(x) * p)


def test_mul_aa_broadcasts(rng):
    R = Ring(24)
    x = R.reduce(rng.integers(0, 2**64, size=(5, 1), dtype=np.uint64))
    y = R.reduce(rng.integers(0, 2**64, size=(5, 6), dtype=np.uint64))
    x0, x1 = shares(R, x, rng)
    y0, y1 = shares(R, y, rng)
    z0, z1, c0, _ = run_mpc(lambda m, a, b: mul_aa(m, a, b, ell=24), (x0, y0), (x1, y1))
    assert z0.shape == (5, 6) and np.array_equal(R.add(z0, z1), R.mul(x, y))
    assert c0.bytes_sent == mul_aa_cost(30, 24)["bytes_sent"]


def test_mul_shape_mismatch_is_rejected(rng):
    with pytest.raises(ValueError, match="shapes differ"):
        run_mpc(lambda m, a, b: mul_aa(m, a, b, ell=16), (np.zeros(3), np.zeros(4)), (np.zeros(3), np.zeros(4)))


@pytest.mark.parametrize("kind", ["iknp", "ferret"])
def test_mul_aa_with_real_ot_engine(kind, rng):
    """The same kernel on a real COT engine, when it is available: exact product, and the
    kernel's own payload (the engine's traffic is scoped out) equals the analytic cost."""
    import importlib.util

    if not importlib.util.find_spec(f"protocols.ot.{kind}"):
        pytest.skip(f"COT engine {kind} not available yet")
    R = Ring(32)
    x, y = _inputs(R, rng, 100)
    x0, x1 = shares(R, x, rng)
    y0, y1 = shares(R, y, rng)
    z0, z1, c0, _ = run_mpc(lambda m, a, b: mul_aa(m, a, b, ell=32), (x0, y0), (x1, y1), kind=kind)
    assert np.array_equal(R.add(z0, z1), R.mul(x, y))
    assert c0.bytes_sent == mul_aa_cost(x.size, 32)["bytes_sent"]




@pytest.mark.parametrize("engine,n", [("ot", 500), ("he", 9000)])
def test_kernels_two_processes_over_grpc(engine, n):
    """mul_aa (COT or batched-BFV engine) + faithful trunc, b2a and select: server and client are
    separate OS processes talking over the gRPC transport."""
    import importlib.util
    import os
    import sys

    here = os.path.dirname(os.path.abspath(__file__))
    sys.path.insert(0, here)
    import _arith_job
    from protocols.convert import b2a_cost
    from protocols.he.simd_mul import mul_aa_he_cost
    from protocols.select import select_cost
    from protocols.trunc import trunc_cost, trunc_ideal

    kind = "iknp" if importlib.util.find_spec("protocols.ot.iknp") else "insecure-dealer"
    params = {"seed": 7, "ell": 64, "n": n, "frac": 18, "ot": kind, "engine": engine}
    q = run_job_in_processes("_arith_job", "test-arith-kernels", params)
    (z, a, s), cost = q.result
    R, xv, yv, bits, _, _ = _arith_job._data(params)
    err = R.to_signed(R.sub(z, trunc_ideal(R.mul(xv, yv), 18, 64)))
    assert set(np.unique(err)) <= {0, 1}
    assert np.array_equal(a, bits.astype(np.uint64))
    assert np.array_equal(s, np.where(bits.astype(bool), xv, yv))
    if engine == "he":  # the client is party 1, key owner of the first half
        mul = {"bytes_sent": mul_aa_he_cost(n, 64)["bytes_1to0"], "rounds": mul_aa_he_cost(n, 64)["rounds"]}
    else:
        mul = mul_aa_cost(n, 64)
    want = (mul["bytes_sent"] + trunc_cost(n, 64, 18, party=1)["bytes_sent"]
            + b2a_cost(n, 64, 1)["bytes_sent"] + select_cost(n, 64)["bytes_sent"])
    assert cost["bytes_sent"] == want and cost["rounds"] == mul["rounds"] + 3

import numpy as np
import pytest

from protocols.channel import run_two_party
from protocols.context import MPC
from protocols.mul_private import mul_av, mul_av_cost, mul_av_ideal, mul_rows, mul_rows_cost, mul_rows_ideal
from protocols.ring import Ring


def _edges(R, x):
    x.reshape(-1)[:4] = R.reduce(np.array([0, 1, R.mask, R.half], dtype=np.uint64))
    return x


@pytest.mark.parametrize("ell", [32, 40, 64])
@pytest.mark.parametrize("owner", [0, 1])
def test_mul_av_exact_and_cost(ell, owner, rng):
    R = Ring(ell)
    rows, H = 5, 24
    x = _edges(R, R.reduce(rng.integers(0, 2**63, size=(rows, H), dtype=np.uint64)))
    w = rng.integers(-(2**20), 2**20, size=(H,))
    w[:3] = [0, -1, 2**20 - 1]
    x0, x1 = R.share(x)

    def party(i, xs):
        def f(ch):
            mpc = MPC.setup(ch, ot_kind="insecure-dealer")
            with ch.scope("mul_av") as rec:
                z = mul_av(mpc, xs, w if i == owner else None, owner=owner, ell=ell)
            return z, rec.cost
        return f

    (z0, c0), (z1, c1), _, _ = run_two_party(party(0, x0), party(1, x1))
    assert np.array_equal(R.reconstruct(z0, z1), mul_av_ideal(x, w, ell))
    assert c0.bytes_sent == mul_av_cost(rows, H, ell, 0, owner)["bytes_sent"]
    assert c1.bytes_sent == mul_av_cost(rows, H, ell, 1, owner)["bytes_sent"]
    assert c0.rounds == 1 and c1.rounds == 1


@pytest.mark.parametrize("ell", [32, 40, 64])
def test_mul_rows_exact_and_cost(ell, rng):
    R = Ring(ell)
    d = _edges(R, R.reduce(rng.integers(0, 2**63, size=(2, 3, 17), dtype=np.uint64)))
    r = _edges(R, R.reduce(rng.integers(0, 2**63, size=(2, 3), dtype=np.uint64)))
    d0, d1 = R.share(d)
    r0, r1 = R.share(r)

    def party(ds, rs):
        def f(ch):
            mpc = MPC.setup(ch, ot_kind="insecure-dealer")
            with ch.scope("mul_rows") as rec:
                z = mul_rows(mpc, ds, rs, ell=ell)
            return z, rec.cost
        return f

    (z0, c0), (z1, c1), _, _ = run_two_party(party(d0, r0), party(d1, r1))
    assert np.array_equal(R.reconstruct(z0, z1), mul_rows_ideal(d, r, ell))
    want = mul_rows_cost(6, 17, ell)["bytes_sent"]
    assert c0.bytes_sent == want and c1.bytes_sent == want
    assert c0.rounds == 1


def test_mul_av_rejects_bad_use():
    def f(ch):
        mpc = MPC.setup(ch, ot_kind="insecure-dealer")
        return mul_av(mpc, np.zeros((2, 3), np.uint64), None, owner=0, ell=32)

    with pytest.raises(ValueError, match="owner"):
        run_two_party(f, f, timeout=10)


@pytest.mark.parametrize("ell", [32, 40, 64])
def test_mmul_aa_ot_exact_and_cost(ell, rng):
    from protocols.mul_private import mmul_aa_ot, mmul_aa_ot_cost

    R = Ring(ell)
    h, T, d, M = 2, 5, 7, 4
    a = _edges(R, R.reduce(rng.integers(0, 2**63, size=(h, T, d), dtype=np.uint64)))
    b = _edges(R, R.reduce(rng.integers(0, 2**63, size=(h, d, M), dtype=np.uint64)))
    a0, a1 = R.share(a)
    b0, b1 = R.share(b)

    def party(x, y):
        def f(ch):
            mpc = MPC.setup(ch, ot_kind="insecure-dealer")
            with ch.scope("mm") as rec:
                z = mmul_aa_ot(mpc, x, y, ell=ell)
            return z, rec.cost
        return f

    (z0, c0), (z1, c1), _, _ = run_two_party(party(a0, b0), party(a1, b1))
    want = np.array(np.matmul(a.astype(object), b.astype(object)) % (1 << ell), dtype=np.uint64)
    assert np.array_equal(R.reconstruct(z0, z1), want)
    assert c0.bytes_sent == c1.bytes_sent == mmul_aa_ot_cost(h, T, d, M, ell)["bytes_sent"]
    assert c0.rounds == 1


@pytest.mark.parametrize("ell,bound", [(26, 14), (40, 19), (64, 30), (20, 3)])
def test_mul_rows_bounded_exact_and_cost(ell, bound, rng):
    """|r| < 2^bound: k = bound + 2 choice bits per row, exact, cheaper, one round."""
    R = Ring(ell)
    d = _edges(R, R.reduce(rng.integers(0, 2**63, size=(3, 4, 19), dtype=np.uint64)))
    rv = rng.integers(-(2**bound) + 1, 2**bound, size=(3, 4))
    rv.flat[:4] = [0, -1, 2**bound - 1, -(2**bound) + 1]
    r = R.from_signed(rv)
    d0, d1 = R.share(d)
    r0, r1 = R.share(r)

    def party(ds, rs):
        def f(ch):
            mpc = MPC.setup(ch, ot_kind="insecure-dealer")
            with ch.scope("mul_rows") as rec:
                z = mul_rows(mpc, ds, rs, ell=ell, bound=bound)
            return z, rec.cost
        return f

    (z0, c0), (z1, c1), _, _ = run_two_party(party(d0, r0), party(d1, r1))
    assert np.array_equal(R.reconstruct(z0, z1), mul_rows_ideal(d, r, ell))
    want = mul_rows_cost(12, 19, ell, bound=bound)["bytes_sent"]
    assert c0.bytes_sent == want and c1.bytes_sent == want and c0.rounds == 1
    assert want < mul_rows_cost(12, 19, ell)["bytes_sent"]

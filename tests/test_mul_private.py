import numpy as np
import pytest

from protocols.channel import run_two_party
from protocols.context import MPC
from protocols.mul_private import mul_av, mul_av_cost, mul_av_ideal, mul_rows, mul_rows_cost, mul_rows_ideal
from protocols.ring import Ring

from _twoparty import run_mpc


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

    z0, z1, c0, c1 = run_mpc(lambda m, xs, ws: mul_av(m, xs, ws, owner=owner, ell=ell),
                             (x0, w if owner == 0 else None), (x1, w if owner == 1 else None), "insecure-dealer")
    assert np.array_equal(R.reconstruct(z0, z1), mul_av_ideal(x, w, ell))
    assert c0.bytes_sent == mul_av_cost(rows, H, ell, 0, owner)["bytes_sent"]
    assert c1.bytes_sent == mul_av_cost(rows, H, ell, 1, owner)["bytes_sent"]
    assert c0.rounds == 1 and c1.rounds == 1




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

    z0, z1, c0, c1 = run_mpc(lambda m, x, y: mmul_aa_ot(m, x, y, ell=ell), (a0, b0), (a1, b1), "insecure-dealer")
    want = np.array(np.matmul(a.astype(object), b.astype(object)) % (1 << ell), dtype=np.uint64)
    assert np.array_equal(R.reconstruct(z0, z1), want)
    assert c0.bytes_sent == c1.bytes_sent == mmul_aa_ot_cost(h, T, d, M, ell)["bytes_sent"]
    assert c0.rounds == 1


@pytest.mark.parametrize("ell,bound", [(32, None), (40, None), (64, None), (26, 14), (40, 19), (64, 30), (20, 3)])
def test_mul_rows_exact_and_cost(ell, bound, rng):
    """Any r, or |r| < 2^bound (k = bound + 2 choice bits per row, cheaper): exact, one round."""
    R = Ring(ell)
    d = _edges(R, R.reduce(rng.integers(0, 2**63, size=(3, 4, 19), dtype=np.uint64)))
    if bound is None:
        r = _edges(R, R.reduce(rng.integers(0, 2**63, size=(3, 4), dtype=np.uint64)))
    else:
        rv = rng.integers(-(2**bound) + 1, 2**bound, size=(3, 4))
        rv.flat[:4] = [0, -1, 2**bound - 1, -(2**bound) + 1]
        r = R.from_signed(rv)
    d0, d1 = R.share(d)
    r0, r1 = R.share(r)

    z0, z1, c0, c1 = run_mpc(lambda m, ds, rs: mul_rows(m, ds, rs, ell=ell, bound=bound), (d0, r0), (d1, r1),
                             "insecure-dealer")
    assert np.array_equal(R.reconstruct(z0, z1), mul_rows_ideal(d, r, ell))
    want = mul_rows_cost(12, 19, ell, bound=bound)["bytes_sent"]
    assert c0.bytes_sent == want and c1.bytes_sent == want and c0.rounds == 1
    if bound is not None:
        assert want < mul_rows_cost(12, 19, ell)["bytes_sent"]


@pytest.mark.parametrize("ell,bound,drop", [(26, 15, 6), (32, None, 5), (40, 19, 9), (26, 15, 17)])
def test_mul_rows_drop_error_and_cost(ell, bound, drop, rng):
    """``drop=t``: the product is off by e with bias − 2t·2^t < e ≤ bias (bias =
    rows_drop_bias(t)), about zero on average, for t(t+1)/2 fewer bits per element and party."""
    from protocols.mul_private import rows_drop_bias

    R = Ring(ell)
    shape = (40, 64)
    d = _edges(R, R.reduce(rng.integers(0, 2**63, size=shape, dtype=np.uint64)))
    top = (ell - 1) if bound is None else bound
    rv = rng.integers(-(2**top) + 1, 2**top, size=shape[:1])
    rv[:4] = [0, -1, 2**top - 1, -(2**top) + 1]
    r = R.from_signed(rv)
    d0, d1 = R.share(d)
    r0, r1 = R.share(r)
    z0, z1, c0, c1 = run_mpc(lambda m, ds, rs: mul_rows(m, ds, rs, ell=ell, bound=bound, drop=drop), (d0, r0),
                             (d1, r1), "insecure-dealer")
    e = R.to_signed(R.sub(R.reconstruct(z0, z1), mul_rows_ideal(d, r, ell)))
    bias = rows_drop_bias(drop)
    assert e.max() <= bias and e.min() > bias - 2 * drop * (1 << drop)
    assert abs(e.mean()) < 0.1 * (drop << drop)
    want = mul_rows_cost(*shape, ell, bound=bound, drop=drop)["bytes_sent"]
    assert c0.bytes_sent == c1.bytes_sent == want and c0.rounds == 1
    base = mul_rows_cost(*shape, ell, bound=bound)["bytes_sent"]
    saved = min(drop, bound + 2 if bound else ell)
    assert base - want == pytest.approx(shape[0] * shape[1] * (saved * (saved + 1) // 2) / 8, abs=2)

import numpy as np
import pytest

from protocols.config import override
from protocols.ring import Ring
from protocols.trunc import trunc_a, trunc_cost, trunc_ideal

from _twoparty import exact_costs, run_mpc, shares


def _bounded_inputs(R, rng, n=400):
    lim = 1 << (R.ell - 2)
    v = rng.integers(-lim + 1, lim, size=n, dtype=np.int64)
    edges = np.array([0, 1, -1, 2, -2, lim - 1, -lim + 1, (1 << 20) - 1, -(1 << 20)], dtype=np.int64)
    edges = edges[np.abs(edges) < lim]
    return R.from_signed(np.concatenate([v, edges]))


@pytest.mark.parametrize("ell,f", [(64, 18), (32, 13), (20, 1), (16, 14)])
def test_faithful_known_sign(ell, f, rng):
    R = Ring(ell)
    x = _bounded_inputs(R, rng)
    x0, x1 = shares(R, x, rng)
    z0, z1, c0, c1 = run_mpc(lambda m, a: trunc_a(m, a, f, ell=ell, mode="faithful"), (x0,), (x1,))
    err = R.to_signed(R.sub(R.add(z0, z1), trunc_ideal(x, f, ell)))
    assert set(np.unique(err)) <= {0, 1}
    n = x.size
    for p, c in ((0, c0), (1, c1)):
        assert c.bytes_sent == trunc_cost(n, ell, f, party=p)["bytes_sent"]
        assert c.rounds == 1
    # 1 + f bits per element, both directions together
    assert abs((c0.bytes_sent + c1.bytes_sent) * 8 - n * (1 + f)) < 4 * 8


def test_faithful_is_unbiased_stochastic_rounding(rng):
    # x = k·2^f + 2^f/4: the result is k+1 with probability ~1/4, so the mean error against the
    # real quotient x/2^f is ~0 (a floor would be biased by -1/4, floor-minus-carry by -1/2)
    R = Ring(40)
    f = 12
    n = 20000
    k = rng.integers(-1000, 1000, size=n)
    v = k * (1 << f) + (1 << (f - 2))
    x = R.from_signed(v)
    x0, x1 = shares(R, x, rng)
    z0, z1, _, _ = run_mpc(lambda m, a: trunc_a(m, a, f, ell=40), (x0,), (x1,))
    out = R.to_signed(R.add(z0, z1))
    assert set(np.unique(out - k)) <= {0, 1}
    assert abs(np.mean(out - v / 2.0**f)) < 0.02


def test_faithful_exact_on_exact_multiples(rng):
    # multiples of 2^f: party 1's share has nonzero low bits unless party 0's has none; the
    # result is exact when shares are multiples of 2^f
    R = Ring(32)
    x = R.from_signed(np.array([0, 1 << 13, -(1 << 13), 5 << 13], dtype=np.int64))
    x0 = np.zeros(4, np.uint64)
    z0, z1, _, _ = run_mpc(lambda m, a: trunc_a(m, a, 13, ell=32), (x0,), (x,))
    assert np.array_equal(R.to_signed(R.add(z0, z1)), [0, 1, -1, 5])


def test_probabilistic_local_and_its_error(rng):
    R = Ring(64)
    x = _bounded_inputs(R, rng)
    x = R.from_signed(R.to_signed(x) >> np.int64(20))  # |x| < 2^42: failure prob ≤ 2^-21
    x0, x1 = shares(R, x, rng)
    with override(trunc_mode="probabilistic"):
        z0, z1, c0, c1 = run_mpc(lambda m, a: trunc_a(m, a, 18, ell=64), (x0,), (x1,))
    err = R.to_signed(R.sub(R.add(z0, z1), trunc_ideal(x, 18, 64)))
    assert set(np.unique(err)) <= {0, 1}
    assert c0.bytes_sent == c1.bytes_sent == 0 and c0.msgs_sent == 0


def test_probabilistic_failure_rate_matches_bound(rng):
    # ring 16, |x| < 2^11: failure probability ≤ 2^(11+1-16) = 1/16; measured on 20000 values
    R = Ring(16)
    n = 20000
    x = R.from_signed(rng.integers(-(1 << 11) + 1, 1 << 11, size=n))
    x0, x1 = shares(R, x, rng)
    z0, z1, _, _ = run_mpc(lambda m, a: trunc_a(m, a, 4, ell=16, mode="probabilistic"), (x0,), (x1,))
    err = R.to_signed(R.sub(R.add(z0, z1), trunc_ideal(x, 4, 16)))
    bad = ~np.isin(err, [0, 1])
    assert 0 < bad.mean() <= 1 / 16
    assert np.all(np.abs(np.abs(err[bad]) - (1 << 12)) <= 1)  # off by 2^(ell-f) ± 1


def test_bad_mode_is_refused(rng):
    with pytest.raises(ValueError, match="mode"):
        run_mpc(lambda m, a: trunc_a(m, a, 3, ell=16, mode="nearest"), (np.zeros(2),), (np.zeros(2),))


@pytest.mark.parametrize("ell,f", [(64, 18), (32, 13), (12, 1)])
@pytest.mark.parametrize("mode,bounded", [("faithful", False), ("exact", True), ("exact", False)])
def test_unbounded_and_exact(ell, f, mode, bounded, rng):
    R = Ring(ell)
    if bounded:
        x = _bounded_inputs(R, rng, 200)
    else:
        h = 1 << (ell - 1)
        v = np.concatenate([rng.integers(-h, h, size=200, dtype=np.int64), [0, 1, -1, h - 1, -h, -h + 1, h - 2]])
        x = R.from_signed(v)
    x0, x1 = shares(R, x, rng)
    z0, z1, c0, c1 = run_mpc(lambda m, a: trunc_a(m, a, f, ell=ell, mode=mode, bounded=bounded), (x0,), (x1,))
    err = R.to_signed(R.sub(R.add(z0, z1), trunc_ideal(x, f, ell)))
    assert set(np.unique(err)) <= ({0} if mode == "exact" else {0, 1})
    for p, c in ((0, c0), (1, c1)):
        cost = trunc_cost(x.size, ell, f, mode=mode, party=p, bounded=bounded)
        if exact_costs():  # compare's own COT draws are not scoped out on a real engine
            assert c.bytes_sent == cost["bytes_sent"] and c.rounds == cost["rounds"]


def test_trunc_reduce_exact_to_one_ulp_everywhere(rng):
    """trunc_reduce_a: ⌊x/2^f⌋ + {0, 1} in ring ell − f for every x, the ring's extremes included
    (where the probabilistic truncation alone would wrap), no traffic."""
    from protocols.trunc import trunc_reduce_a

    ell, f = 26, 7
    R, Rs = Ring(ell), Ring(ell - f)
    v = np.concatenate([rng.integers(-(2**25), 2**25, 500), [0, 1, -1, 2**25 - 1, -(2**25), 127, -128]])
    x = R.from_signed(v)
    x0, x1 = R.share(x)
    z0, z1, c0, c1 = run_mpc(lambda m, a: trunc_reduce_a(m, a, f, ell=ell), (x0,), (x1,))
    d = Rs.to_signed(Rs.sub(Rs.add(z0, z1), Rs.from_signed(v >> f)))
    assert set(np.unique(d)) <= {0, 1}
    assert c0.bytes_sent == c1.bytes_sent == 0 and c0.rounds == 0

import numpy as np
import pytest

from protocols.config import override
from protocols.newton import (
    affine_guess, internal_frac, iterations_for_error, iterations_needed, reciprocal_a, reciprocal_cost, reciprocal_ideal,
    rsqrt_a, rsqrt_cost, rsqrt_ideal,
)
from protocols.ring import Ring

from _twoparty import exact_costs, run_mpc, shares


def _inputs(R, lo, hi, f, rng, n=60):
    u = 2.0**-f
    v = np.concatenate([np.geomspace(lo, hi, n), rng.uniform(lo, hi, n), [lo, hi, lo + u, hi - u, 1.0]])
    v = v[(v >= lo) & (v <= hi)]
    x = R.encode(v, f)
    return x, R.decode(x, f)  # compare against the function of the encoded input


CASES = [
    ("recip", 32, 13, 1.0, 128.0),
    ("recip", 64, 18, 1.0, 1024.0),
    ("rsqrt", 64, 18, 0.01, 100.0),
    ("rsqrt", 32, 12, 0.25, 16.0),
]


@pytest.mark.parametrize("kind,ell,f,lo,hi", CASES)
@pytest.mark.parametrize("normalize", [False, True])
def test_newton_accuracy_and_cost(kind, ell, f, lo, hi, normalize, rng):
    R = Ring(ell)
    x, v = _inputs(R, lo, hi, f, rng)
    x0, x1 = shares(R, x, rng)
    fn = reciprocal_a if kind == "recip" else rsqrt_a
    z0, z1, c0, c1 = run_mpc(lambda m, a: fn(m, a, lo=lo, hi=hi, ell=ell, frac=f, normalize=normalize), (x0,), (x1,))
    got = R.decode(R.add(z0, z1), f)
    want = reciprocal_ideal(v) if kind == "recip" else rsqrt_ideal(v)
    err = np.abs(got - want)
    # a few ulps of rounding plus the iteration's relative error bound 2^-(f+1)
    assert np.all(err <= 4 * 2.0**-f + 2.0 ** -(f + 1) * want), err.max() * 2**f
    cost_fn = reciprocal_cost if kind == "recip" else rsqrt_cost
    for p, c in ((0, c0), (1, c1)):
        cost = cost_fn(x.size, ell, f, None, lo, hi, party=p, normalize=normalize)
        if exact_costs() or not normalize:
            assert c.bytes_sent == cost["bytes_sent"] and c.rounds == cost["rounds"]
    if not normalize:
        iters = max(3, iterations_needed(kind, lo, hi, f))
        cost = cost_fn(x.size, ell, f, iters, lo, hi, party=0, normalize=False)
        assert c0.bytes_sent == cost["bytes_sent"]


def test_normalisation_is_cheaper_on_wide_ranges():
    for kind, lo, hi in (("recip", 1.0, 1024.0), ("rsqrt", 2.0**-10, 2.0**12)):
        plain = (reciprocal_cost if kind == "recip" else rsqrt_cost)(1000, 64, 18, None, lo, hi, normalize=False)
        norm = (reciprocal_cost if kind == "recip" else rsqrt_cost)(1000, 64, 18, None, lo, hi, normalize=True)
        assert norm["bytes_sent"] < plain["bytes_sent"] / 2 and norm["rounds"] < 0.6 * plain["rounds"]


def test_config_range_and_iters_defaults(rng):
    R = Ring(32)
    with override(ell=32, frac=13, recip_range=(1.0, 16.0), recip_iters=5):
        x, v = _inputs(R, 1.0, 16.0, 13, rng, 10)
        x0, x1 = shares(R, x, rng)
        z0, z1, c0, _ = run_mpc(lambda m, a: reciprocal_a(m, a, normalize=False), (x0,), (x1,))
        cost = reciprocal_cost(x.size, 32, 13, None, 1.0, 16.0, normalize=False)
        assert c0.rounds == cost["rounds"] in (1 + 4 * 5, 2 + 4 * 5)
    assert np.all(np.abs(R.decode(R.add(z0, z1), 13) - 1 / v) <= 4 * 2.0**-13 + 2.0**-14 / v)


def test_affine_guess_is_minimax():
    for kind, lo, hi in (("recip", 1, 128), ("rsqrt", 1, 4), ("rsqrt", 0.01, 100)):
        a, b, E = affine_guess(kind, lo, hi)
        x = np.geomspace(lo, hi, 5000)
        phi = x if kind == "recip" else np.sqrt(x)
        r = 1 - phi * (a + b * x)
        assert abs(np.max(np.abs(r)) - E) < 1e-3 and E < 1
        assert np.all(phi * (a + b * x) > 0)
        if kind == "rsqrt":
            assert np.all(x * (a + b * x) ** 2 < 3)  # Newton for 1/sqrt converges
    # a narrow range needs few iterations, a wide one more
    assert iterations_needed("rsqrt", 1, 4, 13) <= 3 < iterations_needed("recip", 1, 1024, 13)


def test_ring_too_small_is_refused():
    with pytest.raises(ValueError, match="overflows"):
        run_mpc(lambda m, a: rsqrt_a(m, a, lo=2**-10, hi=2**12, ell=32, frac=13), (np.zeros(2),), (np.zeros(2),))
    assert internal_frac("recip", 1, 128, 64, 18) > 18


@pytest.mark.parametrize("kind", ["recip", "rsqrt"])
def test_callers_initial_guess(kind, rng):
    # a guess with up to 30 % relative error (like a piecewise table from approx/): few iterations
    ell, f = 64, 18
    lo, hi = (0.5, 130.0) if kind == "recip" else (0.003, 130.0)  # MiniLM's LayerNorm variances
    R = Ring(ell)
    x, v = _inputs(R, lo, hi, f, rng, 40)
    want = reciprocal_ideal(v) if kind == "recip" else rsqrt_ideal(v)
    g = want * (1 + rng.uniform(-0.3, 0.3, size=v.size))
    x0, x1 = shares(R, x, rng)
    g0, g1 = shares(R, R.encode(g, f), rng)
    fn = reciprocal_a if kind == "recip" else rsqrt_a
    z0, z1, c0, _ = run_mpc(lambda m, a, y: fn(m, a, lo=lo, hi=hi, ell=ell, frac=f, y0=y, y0_err=0.3), (x0, g0), (x1, g1))
    got = R.decode(R.add(z0, z1), f)
    assert np.all(np.abs(got - want) <= 4 * 2.0**-f + 2.0 ** -(f + 1) * want)
    it = iterations_for_error(kind, 0.3, f)
    assert it <= 5
    cost_fn = reciprocal_cost if kind == "recip" else rsqrt_cost
    assert c0.bytes_sent == cost_fn(x.size, ell, f, it, lo, hi, party=0, guess=False)["bytes_sent"]
    with pytest.raises(ValueError, match="y0_err"):
        run_mpc(lambda m, a, y: fn(m, a, lo=lo, hi=hi, ell=ell, frac=f, y0=y), (x0, g0), (x1, g1))


@pytest.mark.parametrize("kind,ell,f,lo,hi", [("rsqrt", 40, 13, 2.0**-4, 2.0**9), ("rsqrt", 40, 13, 0.25, 0.9),
                                              ("recip", 32, 13, 0.9, 129.0)])
def test_clamp_joins_the_normalisation(kind, ell, f, lo, hi, rng):
    """clamp=True: any 0 ≤ x < 2^span (and the −1 ulp a truncation leaves below 0) gives the
    function of min(max(x, lo), hi); the clamp's comparisons share the normalisation's batch, so
    the normalised path keeps its rounds."""
    R = Ring(ell)
    span = int(np.ceil(np.log2(hi))) + f  # as LayerNorm's: the variance bound that sizes its ring
    u = 2.0**-f
    v = np.concatenate([[0.0, u, lo / 2, lo - u, lo, hi, hi + u, 2.0 ** (span - f) - u],
                        rng.uniform(0, 2.0 ** (span - f), 40), np.geomspace(lo, hi, 20)])
    x = np.concatenate([R.encode(v, f), R.from_signed(np.array([-1]))])
    vc = np.clip(np.concatenate([R.decode(x[:-1], f), [0.0]]), lo, hi)
    x0, x1 = shares(R, x, rng)
    fn = reciprocal_a if kind == "recip" else rsqrt_a
    cost_fn = reciprocal_cost if kind == "recip" else rsqrt_cost
    z0, z1, c0, c1 = run_mpc(lambda m, a: fn(m, a, lo=lo, hi=hi, ell=ell, frac=f, clamp=True, span=span), (x0,), (x1,))
    got = R.decode(R.add(z0, z1), f)
    want = reciprocal_ideal(vc) if kind == "recip" else rsqrt_ideal(vc)
    assert np.all(np.abs(got - want) <= 4 * u + 2.0 ** -(f + 1) * want), np.abs(got - want).max() / u
    for p, c in ((0, c0), (1, c1)):
        cost = cost_fn(x.size, ell, f, None, lo, hi, party=p, clamp=True, span=span)
        if exact_costs():
            assert c.bytes_sent == cost["bytes_sent"] and c.rounds == cost["rounds"]
        plain = cost_fn(x.size, ell, f, None, lo, hi, party=p)
        if hi / lo > 4:  # normalised: the clamp costs no round
            assert cost["rounds"] <= plain["rounds"]
        else:  # affine guess: one comparison pass and one multiplexer more
            assert cost["rounds"] > plain["rounds"]
    with pytest.raises(ValueError, match="clamp"):
        run_mpc(lambda m, a: fn(m, a, lo=lo, hi=hi, ell=ell, frac=f, clamp=True, y0=a, y0_err=0.1), (x0,), (x1,))


def test_quadratic_guess_is_minimax_and_saves_a_step():
    from protocols.newton import quadratic_guess

    for kind, lo, hi in (("rsqrt", 1.0, 2.0), ("recip", 1.0, 2.0), ("rsqrt", 0.5, 8.0)):
        a, b, c, E = quadratic_guess(kind, lo, hi)
        x = np.linspace(lo, hi, 7919)
        phi = x if kind == "recip" else np.sqrt(x)
        r = 1 - phi * (a + b * x + c * x * x)
        assert abs(np.max(np.abs(r)) - E) < 1e-4
        # equioscillation: four alternating extremes of size E (the Remez optimum)
        assert np.max(r) > 0.99 * E and np.min(r) < -0.99 * E
        assert E < affine_guess(kind, lo, hi)[2] / (5 if hi / lo == 2 else 1.5)
    # 1/√x on [1, 2] at 13 fraction bits: one Newton step after the quadratic instead of two
    # after the affine guess — 2 more rounds for x², 6 fewer for the step
    _, _, _, E = quadratic_guess("rsqrt", 1.0, 2.0)
    assert iterations_for_error("rsqrt", E, 13) == 1 < iterations_needed("rsqrt", 1.0, 2.0, 13)
    quad = rsqrt_cost(100, 40, 13, None, 2.0**-4, 2.0**9, normalize=True)
    affine = rsqrt_cost(100, 40, 13, 2, 2.0**-4, 2.0**9, normalize=True)  # iters given: affine guess
    assert quad["rounds"] == affine["rounds"] - 4

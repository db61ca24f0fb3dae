import numpy as np
import pytest

from protocols.goldschmidt import (GoldschmidtUnfit, gs_plan, reciprocal_gs_a, reciprocal_gs_cost, reciprocal_gs_ideal,
                                  rsqrt_gs_a, rsqrt_gs_cost, rsqrt_gs_ideal, rsqrt_gs_plan)
from protocols.newton import newton_cost, reciprocal_cost
from protocols.ring import Ring

from _twoparty import exact_costs, run_mpc, shares

# softmax's row sums at the default ring (lo = 0.95·e^(−1/8), hi = 128·e^(1/8) + 1) and a wide one
CASES = [(64, 13, 0.8384, 146.0), (64, 11, 1.0, 256.0), (56, 11, 0.5, 20.0)]


def _inputs(R, lo, hi, f, plan, rng):
    u = 2.0**-f
    thr = np.array(plan["thresholds"], dtype=np.float64) * u
    v = np.concatenate([np.geomspace(lo, hi, 80), rng.uniform(lo, hi, 80), [lo, hi, lo + u, hi - u, 1.0],
                        thr, thr - u, thr + u])  # every threshold and its neighbours
    x = R.encode(v[(v >= lo) & (v <= hi)], f)
    return x, R.decode(x, f)


@pytest.mark.parametrize("ell,f,lo,hi", CASES)
def test_reciprocal_gs_accuracy_and_cost(ell, f, lo, hi, rng):
    plan = gs_plan(lo, hi, ell, f, 1.2)
    R = Ring(ell)
    x, v = _inputs(R, lo, hi, f, plan, rng)
    x0, x1 = shares(R, x, rng)
    z0, z1, c0, c1 = run_mpc(lambda m, a: reciprocal_gs_a(m, a, lo=lo, hi=hi, ell=ell, frac=f), (x0,), (x1,))
    got = R.decode(R.add(z0, z1), f)
    want = reciprocal_gs_ideal(v)
    # ε⁴ of the two Goldschmidt steps plus a few ulps of the truncate-and-reduce steps
    assert np.all(np.abs(got - want) <= 3 * 2.0**-f + plan["eps"] ** 4 * want), np.abs(got - want).max() * 2**f
    for p, c in ((0, c0), (1, c1)):
        cost = reciprocal_gs_cost(x.size, ell, f, lo, hi, party=p)
        if exact_costs():  # a real COT engine adds its own bootstrap traffic and rounds
            assert c.bytes_sent == cost["bytes_sent"] and c.rounds == cost["rounds"]


def test_reciprocal_gs_saves_rounds_over_newton():
    """The softmax denominators' case: far fewer rounds than the normalised Newton iteration."""
    gs = reciprocal_gs_cost(1536, 64, 13, 0.8384, 146.0)
    newton = reciprocal_cost(1536, 32, 13, None, 0.8384, 146.0)
    assert gs["rounds"] <= newton["rounds"] - 8, (gs, newton)


def test_gs_plan_checks_its_ring_and_ratio():
    p = gs_plan(0.8384, 146.0, 64, 13, 1.2)
    assert p["fi"] > 13 and p["rings"][2] >= 13 + 2 and len(p["guesses"]) == len(p["thresholds"]) + 1 <= 33
    assert p["eps"] ** 4 < 2.0**-13
    with pytest.raises(GoldschmidtUnfit, match="too small"):
        gs_plan(0.8384, 146.0, 32, 13, 1.2)
    with pytest.raises(GoldschmidtUnfit, match="thresholds"):
        gs_plan(0.8384, 146.0, 64, 13, 1.1)
    with pytest.raises(ValueError, match="ratio") as bad:  # a wrong knob is an error, not a fallback
        gs_plan(0.8384, 146.0, 64, 13, 1.5)
    assert not isinstance(bad.value, GoldschmidtUnfit)
    with pytest.raises(ValueError):
        gs_plan(2.0, 1.0, 64, 13, 1.15)


# LayerNorm's variance ranges (nn.model.LN_BOUNDS: embedding, attention, FFN), clamp span var_bits + frac
RSQRT_CASES = [(40, 13, 2.0**-10, 2.0**-3, 16), (40, 13, 2.0**-5, 2.0**2, 15), (40, 13, 2.0**-4, 2.0**9, 22),
               (48, 12, 2.0**-4, 2.0**4, 18)]


@pytest.mark.parametrize("ell,f,lo,hi,span", RSQRT_CASES)
def test_rsqrt_gs_accuracy_clamp_and_cost(ell, f, lo, hi, span, rng):
    """1/√clamp(x, lo, hi) over the range, every threshold ±1 ulp, below lo (0 included: a
    zero-variance row) and above hi up to the span: the factors' relative error plus a few ulps."""
    plan = rsqrt_gs_plan(lo, hi, ell, f)
    R = Ring(ell)
    u = 2.0**-f
    thr = np.array(plan["thresholds"], dtype=np.float64) * u
    top = 2.0 ** (span - f) - u
    v = np.concatenate([np.geomspace(lo, hi, 200), rng.uniform(lo, hi, 100), thr, thr - u, thr + u,
                        [0.0, u, lo / 2, hi * 1.5, top, rng.uniform(hi, max(hi, top))]])
    v = v[(v >= 0) & (v <= top)]
    x = R.encode(v, f)
    x0, x1 = shares(R, x, rng)
    z0, z1, c0, c1 = run_mpc(lambda m, a: rsqrt_gs_a(m, a, lo=lo, hi=hi, ell=ell, frac=f, span=span), (x0,), (x1,))
    got = R.decode(R.add(z0, z1), f)
    want = rsqrt_gs_ideal(R.decode(x, f), lo, hi)
    # the guesses' and e's fixed point (2^-(f+1) and 2^-fe relative, times y ≤ 1/√lo) and the
    # truncations' units, plus the factors' (35/128)·e⁴
    tol = 4 * u + 2.0 ** -plan["fe"] * want + plan["err"] * want
    assert np.all(np.abs(got - want) <= tol), (np.abs(got - want) / tol).max()
    for p, c in ((0, c0), (1, c1)):
        cost = rsqrt_gs_cost(x.size, ell, f, lo, hi, span, party=p)
        if exact_costs():
            assert c.bytes_sent == cost["bytes_sent"] and c.rounds == cost["rounds"]


def test_rsqrt_gs_saves_rounds_over_newton():
    """LayerNorm's FFN range: 11 rounds instead of Newton's 18 (normalisation, clamp, one step)."""
    lo, hi, span = 2.0**-4, 2.0**9, 22
    gs = rsqrt_gs_cost(128, 40, 13, lo, hi, span, party=1)["rounds"]
    nt = newton_cost("rsqrt", 128, 40, 13, lo, hi, party=1, clamp=True, span=span)["rounds"]
    assert gs <= 11 and nt - gs >= 7


def test_rsqrt_gs_plan_refuses_what_it_cannot_do():
    with pytest.raises(GoldschmidtUnfit, match="finer grid"):
        rsqrt_gs_plan(2.0**-12, 2.0**12, 40, 13)  # 24 octaves: 30 thresholds leave e⁴ too large
    with pytest.raises(ValueError):
        rsqrt_gs_plan(1.0, 0.5, 40, 13)
    a = rsqrt_gs_plan(2.0**-4, 2.0**9, 40, 13)
    assert len(a["thresholds"]) == 32 and a["K"] == 40 and a["err"] < 2.0**-12

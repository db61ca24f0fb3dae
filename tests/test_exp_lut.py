"""exp_lut_a: exp by lookup on shares, against its plaintext twin (exact up to the truncation's
{0, +1} ulp), against e^z, over random and edge inputs, with the traffic and rounds of
exp_lut_cost; and lut_ge_aa, the arithmetic lookup it rides on."""
import numpy as np
import pytest

from protocols.compare import balanced_halves
from protocols.exp_lut import chooser_bits, exp_lut_a, exp_lut_cost, exp_lut_ideal, exp_lut_rings
from protocols.lut import lut_ge_aa, lut_ge_cost
from protocols.ring import Ring

from _twoparty import exact_costs, run_mpc

K_IN, FRAC = 26, 10
P = dict(k=K_IN, frac=FRAC, grid_frac=0, m=3, lo=-7, kc=10, value_frac=12, corr_frac=11)


def _share(v, k, rng):
    R = Ring(k)
    x0 = R.reduce(rng.integers(0, 2**63, np.shape(v)).astype(np.uint64))
    return x0, R.sub(R.reduce(v), x0)


def _run(x, params, rng):
    z = Ring(params["k"]).from_signed(np.round(np.asarray(x) * 2.0 ** params["frac"]).astype(np.int64))
    z0, z1 = _share(z, params["k"], rng)
    y0, y1, c0, c1 = run_mpc(lambda mpc, s: exp_lut_a(mpc, s, **params), (z0,), (z1,))
    _, ko = exp_lut_rings(params["frac"], params["value_frac"], params["corr_frac"])
    a, _ = balanced_halves(z.size)
    prod, _, keep = exp_lut_ideal(z0.reshape(-1), z1.reshape(-1), owner0=np.arange(z.size) < a,
                               **{k: v for k, v in params.items() if k != "kc"})
    got = Ring(ko).to_signed(Ring(ko).add(y0, y1)).reshape(-1)
    return got, prod, keep, c0, c1


EDGES = [0.0, 2.0**-10, 0.125, 0.375, 0.999, -2.0**-10, -1.0, -6.0, -6.0 - 2.0**-10, -7.0, -7.5, -8.0,
         -8.0 + 2.0**-10, -20.0, -255.0, -255.999]


@pytest.mark.parametrize("params", [P, {**P, "grid_frac": 1, "m": 4, "lo": -15, "kc": 11, "value_frac": 11}])
def test_exp_lut_matches_twin_and_exp(params, rng):
    step = 2.0 ** -params["grid_frac"]
    top = (params["lo"] + (1 << params["m"])) * step  # the promise: z below the window's end
    x = np.r_[rng.uniform(-30, 0.4, 3000), rng.normal(-3, 2, 1000).clip(-250, 0.4), EDGES]
    x = x[x < top - 2.0 ** -params["frac"]]
    got, prod, keep, c0, c1 = _run(x, params, rng)
    # the twin's product, plus the local truncation's {0, +1}; zero where the window cuts
    d = got - np.where(keep, prod, 0)
    assert set(np.unique(d[keep])) <= {0, 1} and np.all(d[~keep] == 0)
    # e^z: kept from the window's second grid step on, cut below its first; within 2.5 units of 2^-f
    lo = params["lo"] * step
    y = got / 2.0 ** params["frac"]
    above = x >= lo + step
    assert np.all(keep[above]) and not np.any(keep[x < lo])
    assert np.abs(y[above] - np.exp(x[above])).max() < 2.5 * 2.0 ** -params["frac"]
    assert np.all((y[~above] == 0) | (np.abs(y[~above] - np.exp(x[~above])) < 2.5 * 2.0 ** -params["frac"]))
    cost = exp_lut_cost(x.size, **{k: v for k, v in params.items() if k != "lo"})
    if exact_costs():
        assert (c0.bytes_sent, c1.bytes_sent) == (cost["bytes_0to1"], cost["bytes_1to0"])
        assert c0.rounds == c1.rounds == cost["rounds"]


def test_exp_lut_cost_beats_the_fitted_polynomial():
    """Per element both ways: ~71 B in 6 rounds (P), against the fitted exp's ~105 B in 11."""
    c = exp_lut_cost(1 << 16, **{k: v for k, v in P.items() if k != "lo"})
    per = (c["bytes_0to1"] + c["bytes_1to0"]) / (1 << 16)
    assert 65 < per < 75 and c["rounds"] == 5
    assert chooser_bits(10, 0, 11) == 12  # Φ < 2^11·(e − 1)


def test_exp_lut_single_and_odd_counts(rng):
    for n in (1, 2, 7):
        got, prod, keep, _, _ = _run(rng.uniform(-8, 0.2, n), P, rng)
        assert got.shape == (n,) and set(np.unique(got - np.where(keep, prod, 0))) <= {0, 1}


def test_exp_lut_rejects_bad_parameters(rng):
    z0 = np.zeros(4, np.uint64)
    for bad in ({"kc": 3}, {"kc": 17}, {"grid_frac": 11}, {"value_frac": 40, "corr_frac": 30}):
        with pytest.raises(ValueError):
            run_mpc(lambda mpc, s: exp_lut_a(mpc, s, **{**P, **bad}), (z0,), (z0,))


def test_lut_ge_aa_owner_values_and_extra(rng):
    """The owner's per-element values reach the chooser at the true index, arithmetic shares mod
    2^w; the comparison is exact; the extras cross in the choices' flight (no round of their own)."""
    m, k, w, n = 4, 9, 20, 501
    v = rng.integers(-200, 200, n)
    v[:4] = [3 - 255, 3 + 255, 3, 2]  # |x − c| at the promise's limit, and at c
    x0, x1 = _share(Ring(k).from_signed(v), k, rng)
    base = rng.integers(0, 2**w, (n, 1 << m)).astype(np.uint64)  # value of element e at index t

    def job(mpc, s):
        ge, val, got = lut_ge_aa(mpc, s, lambda sl: base[sl], 3, m=m, k=k, w=w,
                                 extra=([np.full(5, mpc.party, np.uint8)], [(np.uint8, (5,))]))
        return ge, val, got[0]

    (g0, a0, e0), (g1, a1, e1), c0, c1 = run_mpc(job, (x0,), (x1,))
    np.testing.assert_array_equal(g0 ^ g1, (v >= 3).astype(np.uint8))
    t = (Ring(k).from_signed(v) & np.uint64((1 << m) - 1)).astype(np.int64)
    np.testing.assert_array_equal(Ring(w).add(a0, a1), base[np.arange(n), t])
    assert np.all(e0 == 1) and np.all(e1 == 0)
    if exact_costs():
        cost = lut_ge_cost(n, m, k, w)  # choices, tables, one upper digit; extras add bytes only
        assert c0.rounds == c1.rounds == cost["rounds"] == 3
        assert c0.bytes_sent == cost["bytes_0to1"] + 5 and c1.bytes_sent == cost["bytes_1to0"] + 5

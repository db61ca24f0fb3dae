"""approx.fixed: the fixed-point twin, bit for bit against an independent Python-int reference."""
import math

import numpy as np
import pytest

from approx import fixed as fx
from approx.tables import PiecewisePoly
from protocols.config import override

RINGS = [(32, 13), (64, 18), (40, 16)]


# --- an independent, per-element implementation of the documented order (Python ints) ---------------
def _sgn(v, ell):
    v %= 1 << ell
    return v - (1 << ell) if v >= 1 << (ell - 1) else v


def ref_eval(table, X, ell, f, rule="sequential"):
    F = table.fixed(f)
    D = max(len(p) - 1 for p in table.pieces)
    X = _sgn(X, ell)
    P = [1 << f, X]
    for k in range(2, max(D, 1) + 1):
        a, b = (k - 1, 1) if rule == "sequential" else ((k + 1) // 2, k // 2)
        P.append(_sgn(_sgn(P[a] * P[b], ell) >> f, ell))
    T = []
    for i, p in enumerate(table.pieces):
        if F.integer_pieces[i]:
            c = F.int_pieces[i]
            t = sum(c[k] * P[k] for k in range(1, len(c))) + c[0] * (1 << f)
        else:
            c = F.pieces[i]
            t = (_sgn(sum(c[k] * P[k] for k in range(1, len(c))), ell) >> f) + c[0]
        T.append(_sgn(t, ell))
    res, prev = 0, 0
    for i, b in enumerate(F.breakpoints):
        if b is None or _sgn(X - b, ell) >= 0:
            res += T[i] - prev
        prev = T[i]
    return res % (1 << ell)


def gelu_like():
    return PiecewisePoly("gelu", [-2.75, -0.90625, 0.84375, 2.390625],  # dyadic, like fitted tables
                         [[-0.3245, -0.19, -0.0262], [0.0026, 0.5004, 0.3603], [-0.2535, 1.0901, 0.0067], [0.0, 1.0]])


def random_table(rng, m=3, deg=3, lo=-4.0, hi=4.0, first_inf=False):
    bps = np.sort(rng.uniform(lo, hi, m))
    bps = list(np.round(bps, 3))
    if first_inf:
        bps[0] = -math.inf
    pieces = [list(rng.normal(0, 0.5, rng.integers(1, deg + 2))) for _ in range(m)]
    pieces[-1] = [0.0, 1.0] if rng.random() < 0.5 else pieces[-1]
    return PiecewisePoly("test", bps, pieces)


def edge_inputs(table, ell, f):
    F = table.fixed(f)
    e = [0, 1, -1, 2, -2, 1 << f, -(1 << f)]
    for b in F.breakpoints:
        if b is not None:
            e += [b, b - 1, b + 1]
    return np.array(e, dtype=np.int64)


# --- truncation ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("ell,f", RINGS)
def test_trunc_floor_is_arithmetic_shift(rng, ell, f):
    v = rng.integers(-(1 << (ell - 1)), (1 << (ell - 1)) - 1, size=5000, dtype=np.int64)
    v = np.r_[v, [0, 1, -1, (1 << f) - 1, -(1 << f), -(1 << f) - 1, -(1 << (ell - 1)), (1 << (ell - 1)) - 1]]
    out = fx.to_signed(fx.trunc_ring(fx.reduce(v, ell), f, ell, "floor"), ell)
    exp = np.array([int(a) // (1 << f) for a in v.tolist()], dtype=np.int64)
    assert np.array_equal(out, exp)


@pytest.mark.parametrize("ell,f", [(32, 13), (64, 18)])
def test_trunc_prob_is_unbiased_one_ulp(rng, ell, f):
    v = rng.integers(-(1 << (ell - 2)), 1 << (ell - 2), size=20000, dtype=np.int64)
    fl = v >> f
    out = fx.to_signed(fx.trunc_ring(fx.reduce(v, ell), f, ell, "prob", np.random.default_rng(3)), ell)
    d = out - fl
    assert set(np.unique(d).tolist()) <= {0, 1}
    # P(+1) = (v mod 2^f)/2^f: the mean of out equals v/2^f up to sampling noise
    assert abs(np.mean(out - v / 2.0 ** f)) < 4 * 0.5 / math.sqrt(v.size)
    exact = fx.reduce(np.array([0, 5 << f, -(7 << f)], np.int64), ell)
    got = fx.to_signed(fx.trunc_ring(exact, f, ell, "prob", np.random.default_rng(0)), ell)
    assert got.tolist() == [0, 5, -7]


def test_trunc_bad_mode():
    with pytest.raises(ValueError):
        fx.trunc_ring(np.zeros(2, np.uint64), 3, 32, "round")
    with pytest.raises(ValueError):
        fx.trunc_ring(np.zeros(2, np.uint64), 3, 32, "prob", None)


def test_encode_decode_and_overflow():
    x = np.array([0.0, 1.5, -2.25, 1e-4])
    assert np.allclose(fx.decode(fx.encode(x, 32, 13), 32, 13), np.rint(x * 8192) / 8192)
    with pytest.raises(OverflowError):
        fx.encode([2.0 ** 18], 32, 13)


def test_power_plan():
    assert fx.power_plan(3) == [(2, 1, 1), (3, 2, 1)]
    assert fx.power_plan(3, "square") == [(2, 1, 1), (3, 2, 1)]
    assert fx.power_plan(6, "square")[-1] == (6, 3, 3)
    assert fx.max_safe_abs(32, 13, 2) == pytest.approx(2 ** 2.5)


# --- the evaluator -----------------------------------------------------------------------------------
@pytest.mark.parametrize("ell,f", RINGS)
def test_evaluate_fixed_bit_exact_vs_reference(rng, ell, f):
    for trial in range(6):
        t = random_table(rng, m=int(rng.integers(1, 5)), first_inf=trial % 3 == 0)
        lim = fx.max_safe_abs(ell, f, t.degree) * 0.9
        x = np.r_[rng.uniform(-lim, lim, 300), rng.uniform(-4, 4, 100)]
        X = np.r_[np.rint(x * (1 << f)).astype(np.int64), edge_inputs(t, ell, f)]
        got = t.evaluate_fixed(fx.reduce(X, ell), ell, f, "floor")
        exp = np.array([ref_eval(t, int(v), ell, f) for v in X.tolist()], dtype=np.uint64)
        assert np.array_equal(got, exp)


@pytest.mark.parametrize("ell,f", [(32, 13), (64, 18)])
def test_evaluate_fixed_square_rule_bit_exact(rng, ell, f):
    t = PiecewisePoly("t", [-1.5, 1.0], [[0.1, 0.2, 0.3, 0.01, -0.02], [0.0, 1.0]])
    X = np.rint(rng.uniform(-1.6, 1.6, 300) * (1 << f)).astype(np.int64)
    got = t.evaluate_fixed(fx.reduce(X, ell), ell, f, "floor", power_rule="square")
    exp = np.array([ref_eval(t, int(v), ell, f, "square") for v in X.tolist()], dtype=np.uint64)
    assert np.array_equal(got, exp)


@pytest.mark.parametrize("ell,f", [(32, 13), (64, 18)])
def test_fixed_close_to_float(rng, ell, f):
    t = gelu_like()
    x = rng.uniform(-5, 5, 20000)
    y = fx.evaluate_fixed_real(t, x, ell, f, "floor")
    yf = t.evaluate_float(fx.decode(fx.encode(x, ell, f), ell, f))
    # error sources: coefficient rounding (sum |x|^k/2 ulp), one truncation of x^2 (|c2| ulp), one final floor
    ulp = 2.0 ** -f
    bound = ulp * (0.5 * (1 + 5 + 25) + 1 + 1 + 1)
    assert np.max(np.abs(y - yf)) <= bound
    for mode in ("prob",):
        yp = fx.evaluate_fixed_real(t, x, ell, f, mode, seed=5)
        assert np.max(np.abs(yp - yf)) <= bound + 2 * ulp


@pytest.mark.parametrize("ell,f", [(32, 13), (64, 18)])
def test_overflowed_powers_cancel_outside_pieces(ell, f):
    """Huge |x|: the quadratic pieces' powers wrap around, yet the result is exactly x (or 0)."""
    t = gelu_like()
    big = 2.0 ** (ell - 2 - f)
    x = np.array([3.0, 10.0, 40.0, 1000.0, big * 0.99, -10.0, -1000.0, -big * 0.99])
    X = fx.encode(x, ell, f)
    y = t.evaluate_fixed(X, ell, f, "floor")
    pos = x > 0
    assert np.array_equal(y[pos], X[pos])
    assert np.all(y[~pos] == 0)
    # and the same with probabilistic truncation (differences taken after truncation)
    y2 = t.evaluate_fixed(X, ell, f, "prob", seed=9)
    assert np.array_equal(y2[pos], X[pos]) and np.all(y2[~pos] == 0)


def test_breakpoint_selection_edges():
    t = PiecewisePoly("t", [-1.0, 1.0], [[0.25], [0.5]])
    ell, f = 32, 13
    B = [-(1 << f), 1 << f]
    X = np.array([B[0] - 1, B[0], B[0] + 1, B[1] - 1, B[1], B[1] + 1], np.int64)
    y = fx.to_signed(t.evaluate_fixed(fx.reduce(X, ell), ell, f, "floor"), ell)
    assert y.tolist() == [0, 2048, 2048, 2048, 4096, 4096]


def test_horner_close_to_float(rng):
    t = gelu_like()
    x = rng.uniform(-5, 5, 5000)
    for ell, f in [(32, 13), (64, 18)]:
        y = fx.evaluate_fixed_real(t, x, ell, f, "floor", method="horner")
        assert np.max(np.abs(y - t.evaluate_float(x))) < 10 * 2.0 ** -f


def test_trunc_mode_from_config(rng):
    """Config 'faithful' (default) and 'probabilistic' both truncate to floor + {0,1} in protocols/
    (stochastic rounding) -> the 'prob' rule; the names 'exact'/'faithful' are accepted aliases."""
    t = gelu_like()
    X = fx.encode(rng.uniform(-3, 3, 2000), 32, 13)
    floor = t.evaluate_fixed(X, 32, 13, "floor")
    assert np.array_equal(floor, t.evaluate_fixed(X, 32, 13, "exact"))
    dflt = t.evaluate_fixed(X, 32, 13, seed=2)
    assert np.array_equal(dflt, t.evaluate_fixed(X, 32, 13, "prob", seed=2))
    assert np.array_equal(dflt, t.evaluate_fixed(X, 32, 13, "faithful", seed=2))
    with override(trunc_mode="probabilistic"):
        prob = t.evaluate_fixed(X, 32, 13, seed=2)
    assert np.array_equal(prob, dflt)
    d = fx.to_signed(fx.reduce(prob - floor, 32), 32)
    assert np.any(d != 0) and np.max(np.abs(d)) <= 2
    with pytest.raises(ValueError):
        t.evaluate_fixed(X, 32, 13, "round")


def test_shapes_preserved_and_chunking(rng):
    t = gelu_like()
    x = rng.uniform(-4, 4, (3, fx.CHUNK // 2 + 7))
    y = fx.evaluate_fixed_real(t, x, 64, 18)
    assert y.shape == x.shape
    assert np.max(np.abs(y - t.evaluate_float(x))) < 1e-3

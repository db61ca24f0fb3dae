"""The graph's non-linear functions in the fixed-point simulator vs their specifications."""
import numpy as np
import pytest

from approx import evaluate_fixed, load_table
from nn.backend import SimBackend
from nn.functional import div_public, layer_norm, piecewise, softmax, softmax_grid
from protocols.ring import Ring


@pytest.mark.parametrize("fn", ["gelu", "exp"])
def test_piecewise_matches_approx_spec_bit_for_bit(fn, rng):
    table = load_table("minilm-l6", fn)
    ell, frac = 32, 13
    R = Ring(ell)
    x = rng.normal(-1 if fn == "gelu" else -4, 4, size=5000)
    if fn == "exp":
        x = -np.abs(x)
    x = np.concatenate([x, [0.0, -(2.0**-frac), 2.0**-frac, -60.0, 60.0 if fn == "gelu" else -100.0]])
    xr = R.encode(x, frac)
    be = SimBackend({}, ell, frac)
    got = piecewise(be, table, xr, ell, frac, power_shift=0)
    want = evaluate_fixed(table, xr, ell, frac, trunc="floor")
    assert np.array_equal(got, want)
    # the default (products kept below 2^(ell-2) for the secure truncation) is within 2 ulps
    got1 = piecewise(be, table, xr, ell, frac)
    assert np.abs(R.to_signed(R.sub(got1, want))).max() <= 2


@pytest.mark.parametrize("kind", ["lookup", "table"])
def test_softmax_sim_close_to_float(kind, rng):
    table = _exp(kind)
    ell, frac = 32, 13
    R = Ring(ell)
    s = rng.normal(0, 3, size=(4, 16, 16))
    s[0, 0] = 0.0  # an all-equal row
    be = SimBackend({}, ell, frac)
    p = R.decode(softmax(be, R.encode(s, frac), table, ell, frac), frac)
    e = np.exp(s - s.max(-1, keepdims=True))
    ref = e / e.sum(-1, keepdims=True)
    assert np.abs(p - ref).max() < 0.02
    np.testing.assert_allclose(p[0, 0], 1 / 16, atol=2e-3)


@pytest.mark.parametrize("ell", [40, 48])
def test_layer_norm_sim_close_to_float(ell, rng):
    frac, H = 13, 64
    R = Ring(ell)
    x = rng.normal(0, 3, size=(6, H))
    x[1] = 2.5  # zero-variance row: output is β
    x[2, 0] = 200.0  # an FFN-sized outlier
    g = rng.normal(1, 0.1, H)
    b = rng.normal(0, 0.1, H)
    w = {"ln.g": np.rint(g * 2**frac).astype(np.int64), "ln.b": np.rint(b * 2**frac).astype(np.int64)}
    be = SimBackend(w, ell, frac)
    y = R.decode(layer_norm(be, R.encode(x, frac), "ln", 1e-12, ell, frac, x_bits=9, var_bits=10, var_range=(2.0**-10, 2.0**10)), frac)
    mu = x.mean(-1, keepdims=True)
    var = x.var(-1, keepdims=True)
    ref = (x - mu) / np.sqrt(var + 2.0**-frac) * g + b
    assert np.abs(y - ref).max() < 0.02
    np.testing.assert_allclose(y[1], b, atol=2e-3)


def test_div_public(rng):
    ell, frac = 40, 13
    R = Ring(ell)
    s = rng.integers(-(2**30), 2**30, size=1000)
    be = SimBackend({}, ell, frac)
    got = R.to_signed(div_public(be, R.from_signed(s), 384, 31, 0, ell))
    assert np.all(np.abs(got - s / 384) <= 3 + np.abs(s / 384) * 2.0**-12)
    with pytest.raises(ValueError, match="too small"):
        div_public(be, R.from_signed(s), 384, 45, 0, ell)


def test_exp_squaring_matches_baseline_spec(rng):
    from approx import ExpSquaring
    from nn.functional import exp_squaring

    ell, frac = 64, 18
    R = Ring(ell)
    base = ExpSquaring(n=8)
    x = np.concatenate([-np.abs(rng.normal(0, 5, 2000)), [0.0, -14.0, -14.01, -40.0]])
    xr = R.encode(x, frac)
    got = exp_squaring(SimBackend({}, ell, frac), xr, base.n, base.cutoff, ell, frac)
    assert np.array_equal(got, base.evaluate_fixed(xr, ell, frac, trunc="floor"))


# --- secure twins of the reduced-ring steps (two threads, in-memory channel) ------------------------
def _secure(fn, x, ell):
    """fn(be, share) on both parties with shares of the ring elements x; returns the revealed output
    and party 1's bytes sent + received."""
    from nn.secure import SecureBackend
    from protocols.channel import run_two_party
    from protocols.context import MPC

    R = Ring(ell)
    r = R.reduce(np.random.default_rng(5).integers(0, 2**63, size=x.shape, dtype=np.uint64) * np.uint64(3))
    shares = (r, R.sub(x, r))

    def party(p):
        def g(ch):
            mpc = MPC.setup(ch, ot_kind="insecure-dealer")
            be = SecureBackend(mpc, None, {} if p == 0 else None)
            start = ch.snapshot()
            y = fn(be, shares[p])
            c = ch.cost_since(start)
            (other,) = ch.exchange(y)
            return y, other, c.bytes_sent + c.bytes_recv

        return g

    (y0, o0, b0), (y1, o1, b1), _, _ = run_two_party(party(0), party(1))
    return y0, o0, b1


def test_trunc_reduce_secure_vs_sim(rng):
    ell, s = 32, 7
    R = Ring(ell)
    v = np.concatenate([rng.integers(-(2**31), 2**31, 2000), [0, 1, -1, 2**31 - 1, -(2**31), 127, -128]])
    x = R.from_signed(v)
    y0, y1, nbytes = _secure(lambda be, xs: be.trunc_reduce(xs, s, ell), x, ell)
    Rs = Ring(ell - s)
    got = Rs.add(y0, y1)
    err = Rs.sub(got, Rs.from_signed(v >> s))
    assert nbytes == 0  # local
    assert np.all((err == 0) | (err == 1)), "⌊x/2^s⌋ or one more (mod 2^(ell−s)), also at the ring's extremes"
    sim = SimBackend({}, ell, 13).trunc_reduce(x, s, ell)
    d = Rs.to_signed(Rs.sub(sim, got))
    assert np.all(np.abs(d) <= 1)


@pytest.mark.parametrize("drop", [0, 8])
def test_max_small_ring_secure_vs_sim(drop, rng):
    """max along rows with a promised span: exact at drop 0, one 2^drop step off at most otherwise;
    rows of equal values, rows at the span limit, values far from zero."""
    ell, span = 32, 20
    R = Ring(ell)
    v = rng.integers(-(2**18), 2**18, size=(6, 37))
    v[0] = 5                              # all equal
    v[1] = rng.integers(0, 2**19, 37) + 2**29  # far from 0
    v[2, 3] = v[2].min() + 2**span - 1         # a span at the promise's limit
    v[3] = -(2**30) + rng.integers(0, 2**19, 37)
    assert np.all(v.max(1) - v.min(1) < 2**span)
    x = R.from_signed(v)
    y0, y1, _ = _secure(lambda be, xs: be.max(xs, axis=-1, ell=ell, drop=drop, span=span), x, ell)
    got = R.to_signed(R.add(y0, y1))
    want = R.to_signed(SimBackend({}, ell, 13).max(x, axis=-1, ell=ell, drop=drop, span=span))
    if drop == 0:
        np.testing.assert_array_equal(got, v.max(1))
    assert np.all(np.abs(got - want) <= 2 << drop)
    assert np.all(np.abs(got - v.max(1)) < 2 << drop)


def _exp(kind: str):
    from approx import ExpLookup, ExpSquaring

    return {"lookup": ExpLookup, "table": lambda: load_table("minilm-l6", "exp"), "squaring": ExpSquaring}[kind]()


@pytest.mark.parametrize("kind", ["lookup", "table", "squaring"])
def test_softmax_secure_vs_sim_and_float(kind, rng):
    """Secure softmax against its simulator and float64 on random rows and edge rows: all equal,
    one dominant score, very negative scores, large positive scores, a span near the promise."""
    table = _exp(kind)
    ell, frac = 32, 13
    R = Ring(ell)
    s = rng.normal(0, 3, size=(8, 24))
    s[0] = 1.5                                  # all equal
    s[1] = -8.0; s[1, 4] = 9.0                  # one dominant
    s[2] = rng.normal(-200, 1, 24)              # very negative
    s[3] = rng.normal(150, 2, 24)               # very positive
    s[4] = np.linspace(-120, 120, 24)           # span 240 < 2^8
    x = R.encode(s, frac)
    y0, y1, nbytes = _secure(lambda be, xs: softmax(be, xs, table, ell, frac), x, ell)
    got = R.decode(R.add(y0, y1), frac)
    sim = R.decode(softmax(SimBackend({}, ell, frac), x, table, ell, frac), frac)
    e = np.exp(s - s.max(-1, keepdims=True))
    ref = e / e.sum(-1, keepdims=True)
    assert np.abs(got - ref).max() < 0.03
    # the secure truncation may differ from the simulator's floor by one ulp (2^-13); the
    # baseline raises u = 1 + z/2^8 to the 2^8-th power, which scales a one-ulp difference in u
    # by up to 2^8·u^255 (≈ 0.03 relative), the table's pieces by < 2 ulps, the lookup's entries
    # and factor by a few units at 2^-10
    assert np.abs(got - sim).max() < (0.03 if kind == "squaring" else 0.01)
    np.testing.assert_allclose(got[0], 1 / 24, atol=2e-3)
    assert abs(got[1, 4] - 1) < 0.01


@pytest.mark.parametrize("kind", ["lookup", "table"])
def test_softmax_long_equal_rows_reach_the_sum_bound(kind):
    """Rows of 128 equal scores just below a step of the coarse maximum: every z is close to 2^-3,
    so Σe approaches 128·e^(1/8), the top of the reciprocal's promised range (softmax_den_hi);
    one dominant score takes the sum to its bottom."""
    from nn.functional import softmax_den_hi, softmax_den_lo

    table = _exp(kind)
    ell, frac = 32, 13
    R = Ring(ell)
    s = np.zeros((3, 128))
    s[0] = 2.0 - 2.0**-frac
    s[1] = 0.875 - 2.0**-frac
    s[2] = -50.0
    s[2, 7] = 3.0
    x = R.encode(s, frac)
    y0, y1, _ = _secure(lambda be, xs: softmax(be, xs, table, ell, frac), x, ell)
    got = R.decode(R.add(y0, y1), frac)
    np.testing.assert_allclose(got[:2], 1 / 128, atol=2.0**-frac * 2)
    assert abs(got[2, 7] - 1) < 2e-3 and np.abs(np.delete(got[2], 7)).max() <= 2.0**-frac
    assert 128 * np.exp(2.0**-3) < softmax_den_hi(128) and softmax_den_lo() < np.exp(-(2.0**-3))


def test_softmax_reciprocal_falls_back_to_newton_in_a_narrow_ring(rng):
    """With softmax_recip_ring = 32 the Goldschmidt chain does not fit: the row sums take Newton's
    normalised iteration instead.  Both paths stay as close to the simulator as the secure softmax
    always does (the lookup's grid rounding differs between runs, so not bit for bit)."""
    from nn.functional import softmax_den_hi, softmax_den_lo
    from protocols.config import override
    from protocols.goldschmidt import GoldschmidtUnfit, gs_plan, gs_ratio

    table = load_table("minilm-l6", "exp")
    ell, frac = 32, 13
    R = Ring(ell)
    x = R.encode(rng.normal(0, 3, size=(4, 40)), frac)
    sim = R.decode(softmax(SimBackend({}, ell, frac), x, table, ell, frac), frac)
    y0, y1, b64 = _secure(lambda be, xs: softmax(be, xs, table, ell, frac), x, ell)
    with override(softmax_recip_ring=32):
        with pytest.raises(GoldschmidtUnfit):
            gs_plan(softmax_den_lo(), softmax_den_hi(40), 32, frac, gs_ratio())
        z0, z1, b32 = _secure(lambda be, xs: softmax(be, xs, table, ell, frac), x, ell)
    for got in (R.decode(R.add(y0, y1), frac), R.decode(R.add(z0, z1), frac)):
        assert np.abs(got - sim).max() < 0.01
    assert b32 != b64  # a different protocol ran


def test_exp_table_promises_of_softmax():
    """softmax keeps the exp pieces in ring fe + 3 and squares with |z| < 8: every piece, and every
    difference of adjacent pieces, right of its breakpoint (z ≤ 2^-5) is below 2 (= 2^(fe+1) ring
    units), and the pieces of degree ≥ 2 start right of −8."""
    from nn.functional import _quadratics_right_of
    from nn.model import load_tables

    t = load_tables()["exp_fitted"]
    assert _quadratics_right_of(t, -8.0)
    # the lookup selection (softmax_grid) may take a piece one grid step (1/8) left of its breakpoint
    band = 2.0**-3 if softmax_grid(t, 10) else 0.0
    z = np.linspace(-64.0, 2.0**-3, 400001)  # z ≤ the coarse maximum's step (softmax_max_frac)
    vals = [np.where(z >= b - band, np.polyval(np.asarray(p)[::-1], z), 0.0) for b, p in zip(t.breakpoints, t.pieces)]
    prev = np.zeros_like(z)
    for v, b in zip(vals, t.breakpoints):
        right = z >= b - band
        assert np.abs(v[right]).max() < 2 and np.abs(v - prev)[right].max() < 2
        prev = np.where(right, v, prev)


def test_softmax_uses_the_lookup_grid():
    """The shipped exp table sits on softmax's lookup grid, and the grid's window holds every
    breakpoint; a table off the grid falls back to one comparison per breakpoint."""
    from approx import PiecewisePoly
    from nn.model import load_tables

    t = load_tables()["exp_fitted"]
    assert softmax_grid(t, 10) == (6, 3, -61)
    assert all(-7.625 <= b < 0.375 and (b * 8) == int(b * 8) for b in t.breakpoints)
    off = PiecewisePoly("exp", [b + 2.0**-6 for b in t.breakpoints], t.pieces)
    assert softmax_grid(off, 10) is None
    low = PiecewisePoly("exp", [-8.0] + t.breakpoints[1:], t.pieces)
    assert softmax_grid(low, 10) is None  # below the window [-7.625, 0.375)

"""The graph's non-linear functions in the fixed-point simulator vs their specifications."""
import numpy as np
import pytest

from approx import evaluate_fixed, load_table
from nn.backend import SimBackend
from nn.functional import div_public, layer_norm, piecewise, softmax
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


def test_softmax_sim_close_to_float(rng):
    table = load_table("minilm-l6", "exp")
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

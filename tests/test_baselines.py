"""approx.baselines: BumbleBee-shaped GELU (fitted here) and exp by repeated squaring."""
import numpy as np
import pytest

from approx import fixed as fx
from approx.baselines import BUMBLEBEE_GELU_BREAKS, ExpSquaring, bumblebee_gelu
from approx.functions import exp, gelu
from protocols.config import override


def _sgn(v, ell):
    v %= 1 << ell
    return v - (1 << ell) if v >= 1 << (ell - 1) else v


def ref_exp_fixed(X, ell, f, n, cutoff):
    """Independent per-element reference of ExpSquaring.evaluate_fixed's documented order."""
    X = _sgn(X, ell)
    u = _sgn((X >> n) + (1 << f), ell)
    for _ in range(n):
        u = _sgn(_sgn(u * u, ell) >> f, ell)
    return (u if _sgn(X - round(cutoff * (1 << f)), ell) >= 0 else 0) % (1 << ell)


def test_bumblebee_gelu_shape_and_fit():
    t = bumblebee_gelu()
    assert t.breakpoints == list(BUMBLEBEE_GELU_BREAKS)
    assert [len(p) - 1 for p in t.pieces] == [3, 6, 1] and t.pieces[2] == [0.0, 1.0]
    mid = t.pieces[1]
    assert mid[1] == 0.5 and mid[3] == 0.0 and mid[5] == 0.0  # even polynomial + x/2
    # least-squares optimality: the residual is orthogonal to every fitted column (uniform weight)
    for (lo, hi), pc, powers in [((-5.0, -1.97), t.pieces[0], (0, 1, 2, 3)), ((-1.97, 3.0), mid, (0, 2, 4, 6))]:
        x = np.linspace(lo, hi, 20001)
        r = np.polynomial.polynomial.polyval(x, pc) - gelu(x)
        for p in powers:
            assert abs(np.mean(r * (x / max(abs(lo), abs(hi))) ** p)) < 2e-6  # vs |r| ~ 3e-3
    x = np.linspace(-8, 8, 100001)
    assert np.max(np.abs(t.evaluate_float(x) - gelu(x))) < 0.03


def test_bumblebee_gelu_fixed_64_and_overflow_at_32(rng):
    t = bumblebee_gelu()
    x = rng.uniform(-6, 6, 20000)
    y64 = fx.evaluate_fixed_real(t, x, 64, 18, "floor")
    assert np.max(np.abs(y64 - t.evaluate_float(x))) < 1e-3
    # at ell=32, f=13 the degree-6 powers overflow for |x| > 2^(5/6) ~ 1.78: documented limitation
    y32 = fx.evaluate_fixed_real(t, np.array([2.5]), 32, 13, "floor")
    assert abs(y32[0] - gelu(2.5)) > 0.1


def test_exp_squaring_float():
    e = ExpSquaring(5)
    x = np.array([-20.0, -14.0, -13.99, -3.0, -0.5, 0.0])
    y = e.evaluate_float(x)
    ref = np.where(x >= -14, np.power(1 + x / 32.0, 32), 0.0)
    assert np.allclose(y, ref, rtol=1e-14, atol=0)
    assert y[0] == 0.0 and y[-1] == 1.0


def test_exp_squaring_default_n_from_config():
    assert ExpSquaring().n == 8
    with override(exp_squarings=5):
        assert ExpSquaring().n == 5


@pytest.mark.parametrize("ell,f", [(32, 13), (64, 18), (40, 16)])
@pytest.mark.parametrize("n", [5, 8])
def test_exp_squaring_fixed_bit_exact(rng, ell, f, n):
    e = ExpSquaring(n)
    x = np.r_[rng.uniform(-16, 0, 400), [0.0, -14.0, -14.0 - 2.0 ** -f, -14.0 + 2.0 ** -f, -2.0 ** -f, -30.0]]
    X = np.rint(x * (1 << f)).astype(np.int64)
    got = e.evaluate_fixed(fx.reduce(X, ell), ell, f, "floor")
    exp_ = np.array([ref_exp_fixed(int(v), ell, f, n, -14.0) for v in X.tolist()], dtype=np.uint64)
    assert np.array_equal(got, exp_)


def test_exp_squaring_fixed_accuracy(rng):
    e = ExpSquaring(8)
    x = rng.uniform(-14, 0, 20000)
    y = fx.decode(e.evaluate_fixed(fx.encode(x, 64, 18), 64, 18, "floor"), 64, 18)
    assert np.max(np.abs(y - e.evaluate_float(x))) < 2e-3
    assert np.max(np.abs(e.evaluate_float(x) - exp(x))) < 1.1e-3
    c = e.secure_cost(32)
    assert (c["comparisons"], c["mul_aa"], c["trunc"]) == (1, 8, 9)

"""approx.fit: weighted least squares, segment costs, breakpoint search, worst-case bound, trade-off."""
import math

import numpy as np
import pytest

from approx.fit import (IDENTITY, Piece, bin_samples, error_stats, fit_shape, lstsq_poly, piece_fits_ring,
                        poly, ring_limit, search_breakpoints, secure_cost, segment_costs, tradeoff, worst_case)
from approx.fixed import evaluate_fixed_real
from approx.functions import exp, gelu
from approx.tables import PiecewisePoly

FAST = dict(bins=512, max_candidates=64, lams=(0.0, 0.1))


def gelu_samples(rng, n=60000):
    return np.r_[rng.normal(-0.8, 1.0, n), rng.normal(0.5, 2.0, n // 10)]


def test_lstsq_recovers_polynomial(rng):
    x = rng.uniform(-3, 4, 500)
    c = np.array([0.3, -1.2, 0.25, 0.07])
    y = np.polynomial.polynomial.polyval(x, c)
    got = lstsq_poly(x, y, rng.uniform(0.1, 1, x.size), poly(3))
    assert np.allclose(got, c, atol=1e-9)
    # fixed terms are held, only the listed powers are fitted
    pc = Piece(powers=(0, 2), fixed=((1, 0.5),))
    got = lstsq_poly(x, 1.0 + 0.5 * x - 0.2 * x * x, np.ones(x.size), pc)
    assert np.allclose(got, [1.0, 0.5, -0.2], atol=1e-10)
    assert np.array_equal(lstsq_poly(x, x, np.ones(x.size), IDENTITY), [0.0, 1.0])


def test_weighted_lstsq_follows_weights(rng):
    """Weight concentrated on [0, 1]: the fit is better there than an unweighted one."""
    x = np.linspace(-4, 4, 2001)
    w = np.where((x > 0) & (x < 1), 1.0, 1e-4)
    y = gelu(x)
    cw = lstsq_poly(x, y, w, poly(2))
    cu = lstsq_poly(x, y, np.ones_like(x), poly(2))
    m = (x > 0) & (x < 1)
    ew = np.abs(np.polynomial.polynomial.polyval(x[m], cw) - y[m]).mean()
    eu = np.abs(np.polynomial.polynomial.polyval(x[m], cu) - y[m]).mean()
    assert ew < eu / 5


def test_segment_costs_match_direct_fit(rng):
    data = bin_samples(gelu_samples(rng), gelu, bins=256, lam=0.05)
    cand = np.array([0, 40, 100, 180, 256])
    for pc in (poly(2), poly(3), IDENTITY, Piece(powers=(0, 2), fixed=((1, 0.5),))):
        C = segment_costs(data, pc, cand)
        for i in range(cand.size):
            for j in range(cand.size):
                if j <= i:
                    assert C[i, j] == np.inf
                    continue
                a, b = cand[i], cand[j]
                c = lstsq_poly(data.x[a:b], data.y[a:b], data.w[a:b], pc)
                direct = np.sum(data.w[a:b] * (np.polynomial.polynomial.polyval(data.x[a:b], c) - data.y[a:b]) ** 2)
                # normal equations lose ~1e-11 absolute to cancellation (Y2 - T.c); the DP only ranks segments
                assert C[i, j] == pytest.approx(direct, rel=1e-4, abs=1e-10)


def test_search_finds_true_breakpoints(rng):
    """A function that IS 0 | quadratic | linear with breakpoints on the grid: the DP finds them."""
    def f(x):
        x = np.asarray(x, float)
        return np.where(x < -1.5, 0.0, np.where(x < 1.25, 0.2 + 0.1 * x + 0.3 * x * x, 2.0 * x - 1.0))
    s = rng.uniform(-4, 4, 20000)
    data = bin_samples(s, f, lo=-4, hi=4, bins=320, lam=0.1)
    starts = search_breakpoints(data, [poly(2), poly(1)], max_candidates=80)
    assert data.edges[starts].tolist() == pytest.approx([-1.5, 1.25])


def test_fit_shape_gelu(rng):
    s = gelu_samples(rng)
    r2 = fit_shape("gelu", s, [poly(2), IDENTITY], **FAST)
    r4 = fit_shape("gelu", s, [poly(2), poly(2), poly(2), IDENTITY], **FAST)
    assert r4.stats["mean_abs"] < r2.stats["mean_abs"] / 3
    t = r4.table
    assert t.fit["shape"] == "0|p2|p2|p2|x" and t.pieces[-1] == [0.0, 1.0]
    # breakpoints are dyadic (exact in fixed point) and the worst-case bound covers every sample
    assert all((b * 64).is_integer() for b in t.breakpoints)
    assert r4.worst["bound"] >= r4.stats["max_abs"]
    # the bound holds on a finer grid than the one it was computed on
    x = np.linspace(-32, 32, 1_000_003)
    assert np.max(np.abs(t.evaluate_float(x) - gelu(x))) <= r4.worst["bound"] + 1e-12
    # every piece fits the 32-bit ring on its interval, so the fixed-point twin tracks the float table
    for k in range(len(t.pieces) - 1):
        assert piece_fits_ring(t.breakpoints[k], t.breakpoints[k + 1], Piece(powers=(0, 1, 2)), t.pieces[k], [(32, 13)])
    y = evaluate_fixed_real(t, s[:20000], 32, 13, "floor")
    assert np.mean(np.abs(y - gelu(s[:20000]))) < r4.stats["mean_abs"] + 3e-4


def test_density_weighting_beats_uniform_on_the_data(rng):
    s = rng.normal(-0.5, 0.5, 50000)
    dens = fit_shape("gelu", s, [poly(2), IDENTITY], lo=-8, hi=8, **{**FAST, "lams": (0.0,)})
    unif = fit_shape("gelu", s, [poly(2), IDENTITY], lo=-8, hi=8, **{**FAST, "lams": (1.0,)})
    assert dens.stats["mean_abs"] < 0.7 * unif.stats["mean_abs"]
    assert unif.worst["bound"] < dens.worst["bound"]  # ... and uniform weight bounds the worst case better


def test_max_err_selects_lambda(rng):
    s = rng.normal(-0.5, 0.5, 50000)
    free = fit_shape("gelu", s, [poly(2), IDENTITY], lo=-8, hi=8, **{**FAST, "lams": (0.0, 1.0)})
    cap = fit_shape("gelu", s, [poly(2), IDENTITY], lo=-8, hi=8, max_err=0.9 * max(r["worst"] for r in free.tried),
                    **{**FAST, "lams": (0.0, 1.0)})
    assert free.lam == 0.0 and cap.lam == 1.0
    assert cap.worst["bound"] <= 0.9 * max(r["worst"] for r in free.tried)


def test_ring_constraint_exp(rng):
    s = -rng.exponential(3.0, 50000)
    r = fit_shape("exp", s, [poly(3)], domain_hi=0.0, rings=[(32, 13)], **FAST)
    lim = ring_limit(poly(3), [(32, 13)])
    assert lim == pytest.approx(0.95 * 2 ** (5 / 3))
    assert abs(r.table.breakpoints[0]) < lim
    free = fit_shape("exp", s, [poly(3)], domain_hi=0.0, rings=[], **FAST)
    assert free.table.breakpoints[0] < -lim  # without the ring the cubic reaches further left
    # unbounded last fitted piece: inadmissible under a ring constraint
    rows = tradeoff("gelu", gelu_samples(rng, 5000), [[poly(2)]], rings=[(32, 13)], **FAST)
    assert "error" in rows[0]


def test_worst_case_bound_is_conservative():
    t = PiecewisePoly("exp", [-4.0], [[1.0, 1.0, 0.5]])
    wc = worst_case(t.evaluate_float, exp, -64, 0, n=20001)
    x = np.linspace(-64, 0, 2_000_001)
    assert np.max(np.abs(t.evaluate_float(x) - exp(x))) <= wc["bound"]


def test_error_stats_and_cost():
    t = PiecewisePoly("gelu", [-2.0, -1.0, 2.0], [[0.0, 0.1], [0.1, 0.5, 0.2], [0.0, 1.0]])
    c = secure_cost(t)
    assert (c["comparisons"], c["mul_aa"], c["trunc"], c["mux"]) == (3, 1, 3, 3)
    st = error_stats(t.evaluate_float, gelu, np.array([5.0, -5.0]))
    assert st["n"] == 2 and st["max_abs"] < 1e-5


def test_newton_guess_open_left_relative_log(rng):
    """recip initial guess: first piece open to -inf (no zero region), relative error, log bins."""
    from approx.functions import recip

    s = np.exp(rng.uniform(0, np.log(40), 40000))
    r = fit_shape("recip", s, [poly(1), poly(1), poly(1)], open_left=True, relative=True, spacing="log",
                  domain_hi=float(s.max()), max_err=0.5, **{**FAST, "lams": (0.0, 0.3, 1.0)})
    t = r.table
    assert t.breakpoints[0] == -math.inf and t.n_comparisons == 2
    rel = np.abs(t.evaluate_float(s) - recip(s)) * s
    assert r.stats["max_abs"] == pytest.approx(rel.max()) and rel.max() < 0.5  # Newton converges from here
    assert r.worst["relative"] and r.worst["bound"] >= rel.max()
    y = evaluate_fixed_real(t, s, 32, 13, "floor")
    assert np.max(np.abs(y * s - 1)) < 0.5 + 40 * 3 * 2.0 ** -13


def test_log_bins_need_positive_inputs():
    with pytest.raises(ValueError):
        bin_samples(np.array([-1.0, 2.0]), exp, spacing="log")

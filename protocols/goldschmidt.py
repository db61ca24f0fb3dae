"""Reciprocal of fixed-point shares in few rounds: a threshold guess and two Goldschmidt steps.
(LayerNorm's clamped 1/√x the same way: :func:`rsqrt_gs_a`, at the end of this module.)

Functionality (:func:`reciprocal_gs_ideal`): shares of 1/x (``frac`` fraction bits) for shares of
x ∈ [lo, hi] (``frac`` bits, promised by the caller), in a ring ℓ with room for the chain below
(:func:`gs_plan`; ℓ = 64 at frac = 13).  Softmax's row sums take it: one value per row, few
enough that a wide ring costs little, on which Newton's normalised iteration
(``protocols/newton.py``) spends ~19 rounds.

Protocol:

1. **Guess by thresholds.**  J comparisons z_j = [x ≥ c_j], c_j = lo·ρ^j (ρ: config knob
   ``recip_guess_ratio``), in one balanced multi-threshold comparison
   (:func:`protocols.compare.ge_multi_ap`) in the small ring that [lo, hi] needs.  On each interval
   [c_j, c_j+1) the guess g_j = 2/(c_j + c_j+1) is within ε = (ρ − 1)/(ρ + 1) of 1/x.
2. **One multiplexer exchange** (:func:`protocols.select.mul_ba`) gates the pair (Δg_j, Δg_j·x)
   by z_j (Δg_j = g_j − g_j−1, public; Δg_j·x is a public multiple of x's shares): it gives
   y0 = g_0 + Σ z_j·Δg_j (``fi`` bits) and x·y0 (frac + fi bits) at once.
3. e = 1 − x·y0 by a local truncate-and-reduce of x·y0 into ring ℓ − frac (|e| ≤ ε; no traffic).
4. **Goldschmidt**: one product exchange for [e², y0·(1 + e)], truncate-and-reduce by fi; one for
   y1·(1 + e²), truncate-and-reduce by 2·fi − frac into ring ℓ − 3·fi.  Then
   y = y0·(1 + e)(1 + e²) = (1 − e⁴)/x: relative error e⁴ ≤ ε⁴ (ε = 9.1 % at ρ = 1.2: 6.8e-5),
   plus a few ulps of the truncations.  Each truncate-and-reduce is exact to one ulp for every
   input (its wrap error is a multiple of the dropped ring), so the shrinking ring replaces
   faithful truncations and their rounds.
5. ``ring_up`` of the (positive) result back to ℓ.

Rounds: the comparison's (2 + its AND levels) + 4.  Traffic (:func:`reciprocal_gs_cost`): the J
comparisons on few bits, 2·J multiplexed values of ℓ bits, three products in rings below ℓ.
"""
from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from .compare import ge_multi_ap, ge_multi_cost
from .config import get_config
from .convert import ring_down, ring_up, ring_up_cost
from .mul import mul_aa, mul_aa_cost
from .newton import compare_ring, cost_sum
from .ring import Ring
from .select import mul_ba, mul_ba_cost
from .trunc import trunc_reduce_a


class GoldschmidtUnfit(ValueError):
    """The ring has no room for the chain, or [lo, hi] needs more than one comparison batch of
    thresholds: the caller should use Newton's iteration (``protocols/newton.py``) instead."""


@lru_cache(maxsize=32)
def gs_plan(lo: float, hi: float, ell: int, frac: int, ratio: float) -> dict:
    """Thresholds (ring units), encoded guesses (fi bits) and rings of :func:`reciprocal_gs_a`.

    fi is the largest count of fraction bits the chain allows: the products at 2·fi bits must fit
    ring ℓ − frac and ring ℓ − frac − fi (known sign, one bit of margin), and the result ring
    ℓ − 3·fi must hold 1/lo at ``frac`` bits as a nonnegative value.  Raises ValueError when no
    fi ≥ frac + 1 fits or when [lo, hi] needs more than 32 thresholds (one comparison batch:
    :func:`protocols.compare.ge_multi_ap`) — both :class:`GoldschmidtUnfit` — and when the ratio is
    too coarse (ε⁴ ≥ 2^−frac: the result's relative error must stay below one ulp of 1)."""
    if not 0 < lo < hi:
        raise ValueError(f"reciprocal_gs: need 0 < lo < hi, got [{lo}, {hi}]")
    if not ratio > 1:
        raise ValueError(f"reciprocal_gs: guess ratio must exceed 1, got {ratio}")
    eps = (ratio - 1) / (ratio + 1)
    if eps**4 >= 2.0**-frac:
        raise ValueError(f"reciprocal_gs: ratio {ratio} leaves ε⁴ = {eps ** 4:.2g} above 2^-{frac}")
    top = math.log2(1.0 / lo) + 0.5  # |y| ≤ (1 + ε)/lo < 2^top (real units)
    fi = None
    for f in range(2 * frac + 8, frac, -1):
        if 2 * f + top + 2 <= ell - frac - f and frac + top + 2 <= ell - 3 * f:
            fi = f
            break
    if fi is None:
        raise GoldschmidtUnfit(f"reciprocal_gs: ring {ell} is too small for 1/x on [{lo}, {hi}] at {frac} bits")
    J = max(0, math.ceil(math.log(hi / lo) / math.log(ratio)) - 1)
    if J > 32:
        raise GoldschmidtUnfit(f"reciprocal_gs: [{lo}, {hi}] at ratio {ratio} needs {J} thresholds (at most 32)")
    cuts = [lo * ratio**j for j in range(1, J + 1)]
    edges = [lo] + cuts + [hi]
    g = [2.0 / (a + b) for a, b in zip(edges[:-1], edges[1:])]
    return {"fi": fi, "thresholds": [int(round(c * 2.0**frac)) for c in cuts],
            "guesses": [int(round(v * 2.0**fi)) for v in g], "eps": eps,
            "rings": (ell - frac, ell - frac - fi, ell - 3 * fi)}


def gs_ratio(ratio: float | None = None) -> float:
    """The guess grid's ratio ρ: ``ratio``, else config knob ``recip_guess_ratio`` (1.2)."""
    return float(get_config().get("recip_guess_ratio", 1.2) if ratio is None else ratio)


def reciprocal_gs_a(mpc, x: np.ndarray, *, lo: float, hi: float, ell: int, frac: int,
                    ratio: float | None = None) -> np.ndarray:
    """Shares of 1/x (frac bits, ring ``ell``) for shares x ∈ [lo, hi] (frac bits, ring ``ell``).

    Rounds: the threshold comparison's + 4; traffic :func:`reciprocal_gs_cost`.  Accuracy:
    relative error ≤ ε⁴ + a few ulps of 2^−frac (see the module docstring)."""
    plan = gs_plan(float(lo), float(hi), int(ell), int(frac), gs_ratio(ratio))
    fi, (r1, r2, r3) = plan["fi"], plan["rings"]
    R = Ring(ell)
    shape = np.shape(x)
    xf = R.reduce(np.asarray(x, dtype=np.uint64)).reshape(-1)
    n = xf.size
    me = mpc.party
    g = np.array(plan["guesses"], dtype=np.int64)
    dg = R.from_signed(np.diff(g))  # (J,)
    g0 = R.from_signed(np.int64(g[0]))
    thr = plan["thresholds"]
    y0 = np.full(n, g0 if me == 0 else 0, dtype=np.uint64)
    xy = R.mul_public(xf, int(g[0]))
    if thr:
        z = ge_multi_ap(mpc, xf, thr, ell=ell, k=compare_ring(lo, hi, frac, ell))  # (J, n)
        const = np.broadcast_to(dg[:, None] if me == 0 else np.uint64(0), z.shape)
        pair = np.stack([const, R.mul(xf[None, :], dg[:, None])], axis=-1)  # (J, n, 2)
        prod = mul_ba(mpc, z, pair, ell=ell)
        y0 = R.add(y0, np.sum(prod[..., 0], axis=0, dtype=np.uint64))
        xy = R.add(xy, np.sum(prod[..., 1], axis=0, dtype=np.uint64))
    R1, R2 = Ring(r1), Ring(r2)
    one = np.uint64(1 << fi if me == 0 else 0)
    e = R1.sub(np.full(n, one, dtype=np.uint64), trunc_reduce_a(mpc, xy, frac, ell=ell))  # 1 − x·y0, fi bits
    y0 = ring_down(y0, r1)
    p = mul_aa(mpc, np.concatenate([e, y0]), np.concatenate([e, R1.add(e, np.full(n, one, dtype=np.uint64))]),
               ell=r1)
    p = trunc_reduce_a(mpc, p, fi, ell=r1)  # [e², y1 = y0(1 + e)] at fi bits, ring r2
    e2, y1 = p[:n], p[n:]
    one2 = np.uint64(1 << fi if me == 0 else 0)
    y = mul_aa(mpc, y1, R2.add(e2, np.full(n, one2, dtype=np.uint64)), ell=r2)
    y = trunc_reduce_a(mpc, y, 2 * fi - frac, ell=r2)  # y1(1 + e²) at frac bits, ring r3
    return ring_up(mpc, y, r3, ell, nonneg=True).reshape(shape)


def reciprocal_gs_ideal(x: np.ndarray) -> np.ndarray:
    """Plaintext twin (real values): 1/x."""
    return 1.0 / np.asarray(x, dtype=np.float64)


def reciprocal_gs_cost(n: int, ell: int, frac: int, lo: float, hi: float, party: int = 0,
                       ratio: float | None = None) -> dict:
    """Per-party payload bytes and channel rounds of :func:`reciprocal_gs_a` on n values."""
    plan = gs_plan(float(lo), float(hi), int(ell), int(frac), gs_ratio(ratio))
    r1, r2, r3 = plan["rings"]
    J = len(plan["thresholds"])
    parts = [mul_aa_cost(2 * n, r1), mul_aa_cost(n, r2), ring_up_cost(n, r3, ell, party)]
    if J:
        parts += [ge_multi_cost(n, J, compare_ring(lo, hi, frac, ell), party), mul_ba_cost(J * n, ell, k=2)]
    return cost_sum(*parts)


# ----------------------------------------------------------------------------------------------
# 1/√x with a clamp: LayerNorm's variance
# ----------------------------------------------------------------------------------------------
#: (1 + a·e)(1 + b·e + c·e²) matches (1 − e)^(−1/2) = 1 + e/2 + 3e²/8 + 5e³/16 + … up to e³:
#: a + b = 1/2, ab + c = 3/8, ac = 5/16 (16a³ − 8a² + 6a − 5 = 0); what is left is ≈ (35/128)·e⁴
def _rsqrt_factors() -> tuple[float, float, float]:
    a = float(np.real([r for r in np.roots([16.0, -8.0, 6.0, -5.0]) if abs(r.imag) < 1e-12][0]))
    return a, 0.5 - a, 5.0 / (16.0 * a)


RSQRT_WORK_RING = 64


@lru_cache(maxsize=32)
def rsqrt_gs_plan(lo: float, hi: float, ell: int, frac: int) -> dict:
    """Thresholds, guesses and fixed point of :func:`rsqrt_gs_a` for x clamped to [lo, hi].

    30 thresholds at most between lo and hi on a geometric grid, plus lo and hi themselves (one
    comparison batch of 32), rounded to ring units; on each interval [a, b] the guess
    2/(√a + √b) is within ε = (√b − √a)/(√b + √a) of 1/√x, so e = 1 − x·y0² lies within ±(2ε + ε²)
    and the two factors leave a relative error ≈ (35/128)·e⁴ (``err``, for the largest ε).  Raises :class:`GoldschmidtUnfit` when that exceeds 2^−(frac−1) or
    the rings do not fit (the caller then uses Newton's iteration)."""
    if not 0 < lo < hi:
        raise ValueError(f"rsqrt_gs: need 0 < lo < hi, got [{lo}, {hi}]")
    W = RSQRT_WORK_RING
    fi = frac + 1
    u = 2.0**-frac
    ratio = (hi / lo) ** (1.0 / 31)
    # thresholds in ring units (lo, up to 30 cuts, hi): a comparison sees integers, so the
    # intervals — and their guesses 2/(√a + √b), a and b the least and largest value in them —
    # are those of the rounded thresholds
    thr = sorted({int(round(lo * ratio**j / u)) for j in range(32)} | {int(round(hi / u))})
    ends = [(t1 - 1) * u for t1 in thr[1:-1]] + [thr[-1] * u]
    starts = [t * u for t in thr[:-1]]
    if starts[0] <= 0:
        raise GoldschmidtUnfit(f"rsqrt_gs: lo = {lo} is below one unit at {frac} fraction bits")
    eps = max((math.sqrt(b) - math.sqrt(a)) / (math.sqrt(b) + math.sqrt(a)) for a, b in zip(starts, ends))
    e_max = 2 * eps + eps * eps
    err = 35.0 / 128.0 * e_max**4 / (1 - e_max)
    if err > 2.0 ** -(frac - 1):
        raise GoldschmidtUnfit(f"rsqrt_gs: [{lo}, {hi}] needs a finer grid than 30 thresholds (error {err:.2g})")
    ytop = 0.5 * math.log2(1.0 / lo) + 0.2  # |y| < 2^ytop (real units) all along the chain
    u_bits = frac + 2 * fi
    # e's fraction bits: the ring after e's truncate-and-reduce, K = W − u_bits + fe, is the
    # caller's ring when it can be (then the result needs no ring change)
    fe = min(22, max(frac + 2, ell - (W - u_bits)))
    K = W - u_bits + fe
    if u_bits + 2 > W - 1 or ytop + fi + fe + 0.5 > K - 2 or 2 * fe > K - 2:
        raise GoldschmidtUnfit(f"rsqrt_gs: ring {W} has no room for 1/√x on [{lo}, {hi}] at {frac} bits")
    g = [2.0 / (math.sqrt(a) + math.sqrt(b)) for a, b in zip(starts, ends)]
    a, b, c = _rsqrt_factors()
    return {"fi": fi, "fe": fe, "K": K, "eps": eps, "err": err, "thresholds": thr,
            "guesses": [int(round(v * 2.0**fi)) for v in g], "guesses_real": g,
            "factors": [int(round(v * 2.0**fe)) for v in (a, b, c)]}


def rsqrt_gs_a(mpc, x: np.ndarray, *, lo: float, hi: float, ell: int, frac: int, span: int) -> np.ndarray:
    """Shares of 1/√min(max(x, lo), hi) (frac bits, ring ``ell``) for shares of 0 ≤ x < 2^span
    (ring units, ring ``ell``, frac bits) — LayerNorm's variance; few values, so the work ring is
    64 bits.

    1. [x ≥ c_t] for c = (lo, 30 geometric cuts, hi) in one :func:`ge_multi_ap` (ring ``ell``).
    2. x to the work ring (``ring_up``), then one multiplexer exchange gates, per threshold,
       (Δg_t, m·Δ(g²)_t·x for m ∈ (1, a, b, c)) — and at lo and hi the clamp's corrections
       m·g_0²·(lo − x), m·g_J²·(hi − x) — giving y0 (fi bits) and m·u, u = clamp(x)·y0²
       (frac + 2·fi bits), at once.
    3. m·e = m − m·u by local truncate-and-reduces into ring K (fe bits).
    4. One product exchange for [e·(c·e), y0·(1 + a·e)], a faithful truncation by fe, one for
       y1·(1 + b·e + c·e²), a faithful truncation to frac bits (ring K, then down or up to ``ell``).

    Rounds: the comparison's + 1 (ring_up) + 1 (gates) + 4 (+1 when K < ell).  Relative error:
    :func:`rsqrt_gs_plan`'s ``err`` plus a few ulps.  Traffic: :func:`rsqrt_gs_cost`."""
    from .trunc import trunc_a

    plan = rsqrt_gs_plan(float(lo), float(hi), int(ell), int(frac))
    fi, fe, K, W = plan["fi"], plan["fe"], plan["K"], RSQRT_WORK_RING
    me = mpc.party
    shape = np.shape(x)
    xf = Ring(ell).reduce(np.asarray(x, dtype=np.uint64)).reshape(-1)
    n = xf.size
    thr = plan["thresholds"]
    z = ge_multi_ap(mpc, xf, thr, ell=ell, k=compare_ring(lo, hi, frac, ell, span))  # (J + 2, n)
    xw = ring_up(mpc, xf, ell, W)
    RW = Ring(W)
    g = [int(v) for v in plan["guesses"]]
    J = len(g) - 1
    own = np.uint64(1) if me == 0 else np.uint64(0)
    clo, chi = RW.from_signed(np.int64(thr[0])) * own, RW.from_signed(np.int64(thr[-1])) * own
    lo_gap, hi_gap = RW.sub(clo, xw), RW.sub(chi, xw)  # lo − x, hi − x
    # u = clamp(x)·y0² and its multiples by the factors' coefficients m ∈ (1, a, b, c) — public
    # multiples of x per threshold, so they ride in the same exchange and e, a·e, b·e, c·e need
    # no product of their own
    mult = [1.0, *_rsqrt_factors()]
    coef = lambda v: [int(round(m * v)) for m in mult]  # noqa: E731
    dg2 = [coef(g[t] * g[t] - g[t - 1] * g[t - 1]) for t in range(1, J + 1)]
    zero = np.zeros(n, np.uint64)
    rows = [[zero] + [RW.mul_public(lo_gap, -c) for c in coef(g[0] * g[0])]]  # −[x ≥ lo]·g_0²·(lo − x)
    rows += [[np.full(n, RW.from_signed(np.int64(g[t] - g[t - 1])) * own, dtype=np.uint64)]
             + [RW.mul_public(xw, c) for c in dg2[t - 1]] for t in range(1, J + 1)]
    rows += [[zero] + [RW.mul_public(hi_gap, c) for c in coef(g[J] * g[J])]]  # [x ≥ hi]·g_J²·(hi − x)
    gated = np.sum(mul_ba(mpc, z, np.stack([np.stack(r, axis=-1) for r in rows]), ell=W), axis=0, dtype=np.uint64)
    y0 = RW.add(np.full(n, RW.from_signed(np.int64(g[0])) * own, dtype=np.uint64), gated[:, 0])
    RK = Ring(K)
    # e·m = m − m·u at fe bits (local truncate-and-reduce into ring K): below lo, x·g_0² + g_0²·(lo − x)
    # is the public g_0²·lo
    mu = np.stack([RW.add(RW.mul_public(clo, c), gated[:, 1 + i]) for i, c in enumerate(coef(g[0] * g[0]))])
    mconst = np.array([int(round(m * 2.0**fe)) % (1 << K) for m in mult], dtype=np.uint64)[:, None] * own
    e, ea, eb, ec = RK.sub(np.broadcast_to(mconst, mu.shape), trunc_reduce_a(mpc, mu, frac + 2 * fi - fe, ell=W))
    one = np.full(n, np.uint64(1 << fe) * own, dtype=np.uint64)
    y0k = ring_down(y0, K)
    p = mul_aa(mpc, np.concatenate([e, y0k]), np.concatenate([ec, RK.add(one, ea)]), ell=K)
    p = trunc_a(mpc, p, fe, ell=K, mode="faithful")  # [c·e², y1 = y0·(1 + a·e)]
    ce2, y1 = p[:n], p[n:]
    y = trunc_a(mpc, mul_aa(mpc, y1, RK.add(RK.add(one, eb), ce2), ell=K), fi + fe - frac, ell=K, mode="faithful")
    y = ring_down(y, ell) if K >= ell else ring_up(mpc, y, K, ell)
    return y.reshape(shape)


def rsqrt_gs_ideal(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Plaintext twin (real values): 1/√clamp(x, lo, hi)."""
    return 1.0 / np.sqrt(np.clip(np.asarray(x, dtype=np.float64), lo, hi))


def rsqrt_gs_cost(n: int, ell: int, frac: int, lo: float, hi: float, span: int, party: int = 0) -> dict:
    """Per-party payload bytes and channel rounds of :func:`rsqrt_gs_a` on n values."""
    from .trunc import trunc_cost

    plan = rsqrt_gs_plan(float(lo), float(hi), int(ell), int(frac))
    K, T = plan["K"], len(plan["thresholds"])
    parts = [ge_multi_cost(n, T, compare_ring(lo, hi, frac, ell, span), party), ring_up_cost(n, ell, RSQRT_WORK_RING, party),
             mul_ba_cost(T * n, RSQRT_WORK_RING, k=5), mul_aa_cost(2 * n, K), trunc_cost(2 * n, K, plan["fe"], party=party),
             mul_aa_cost(n, K), trunc_cost(n, K, plan["fi"] + plan["fe"] - frac, party=party)]
    if K < ell:
        parts.append(ring_up_cost(n, K, ell, party))
    return cost_sum(*parts)

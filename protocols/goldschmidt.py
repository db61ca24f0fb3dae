"""Reciprocal of fixed-point shares in few rounds: a threshold guess and two Goldschmidt steps.

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
from .newton import compare_ring
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
    return {k: sum(p[k] for p in parts) for k in ("bytes_sent", "rounds")}

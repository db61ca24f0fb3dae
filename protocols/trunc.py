"""Truncation of fixed-point shares: ``trunc_a(x, f)`` ≈ x / 2^f (arithmetic shift).

Three modes (``mode=`` or config ``trunc_mode``):

``faithful`` (default; Cheetah's truncation, DESIGN §4).
  Party 0 biases the value to a non-negative x', each party shifts its share, and the wrap bit w
  of the shares is removed:  out = (x0' >> f) + ⌈x1 / 2^f⌉ − w·2^(ell−f) − bias/2^f.  Shares of w
  are needed only mod 2^f.
  * ``bounded=True`` (known-sign trick): the caller promises |x| < 2^(ell−2); bias 2^(ell−2) puts
    x' in [0, 2^(ell−1)), so w = msb(x0') ∨ msb(x1) = m0 + m1 − m0·m1 is one arithmetic COT:
    **1 + f bits per element, 1 round**.
  * ``bounded=False``: any x; bias 2^(ell−1), w = ``compare.wrap_a`` (millionaires' on ell bits)
    and its B2A mod 2^f (f bits, one more exchange).
  Result: ⌊x / 2^f⌋ + [x1 mod 2^f ≠ 0] − c with c the carry of the low f bits of the shares: the
  error against the exact floor is in {0, +1} ulp, always (no failure probability), and since
  party 0's share is uniform it is *stochastic rounding* of x/2^f (round up with probability
  ≈ the fractional part): unbiased, so errors do not drift over long chains (Newton).

``exact``: as faithful, plus the carry c = [x0_lo + x1_lo ≥ 2^f] by a millionaires' comparison on
  f bits (``compare.cmp``); its B2A (ell bits) rides in the same exchange as w.  Result ⌊x/2^f⌋.

``probabilistic`` (SecureML local truncation, no communication).
  Party 0 outputs x0 >> f, party 1 outputs −((−x1) >> f).  If |x| < 2^k the result is
  ⌊x/2^f⌋ or ⌊x/2^f⌋ + 1 except with probability ≤ 2^(k+1−ell) (then it is off by 2^(ell−f) ± 1).
  Rounds 0, traffic 0.  The test measures the failure rate in a small ring against this bound.

Exact per-party bytes and channel rounds: :func:`trunc_cost` (asserted by the tests).
"""
from __future__ import annotations

import numpy as np

from .config import get_config
from .convert import bit_and_a, bit_and_cost
from .fixed import ring_defaults
from .ring import Ring

MODES = ("faithful", "exact", "probabilistic")


def trunc_a(mpc, x, f: int | None = None, *, ell: int | None = None, mode: str | None = None,
            bounded: bool = True, batch: int | None = None) -> np.ndarray:
    """Arithmetic right shift of shares by ``f`` bits.

    Inputs: shares ``x`` mod 2^ell of a signed value; ``f`` (default: the ring's config frac);
    ``bounded``: the caller promises |x| < 2^(ell−2) (known-sign trick).
    Output: shares of
      faithful       ⌊x/2^f⌋ + {0,1} (stochastic rounding, never fails),
      exact          ⌊x/2^f⌋ exactly (the low-bit carry by a millionaires' comparison on f bits),
      probabilistic  ⌊x/2^f⌋ + {0,1} except w.p. ≤ 2^(k+1−ell) for |x| < 2^k (local).
    Rounds / traffic (:func:`trunc_cost`):
      faithful, bounded    1 exchange;  1 + f bits per element in total
      faithful, unbounded  wrap comparison on ell bits (``compare.wrap_a``) + 1 exchange (f bits)
      exact                + a comparison on f bits; the carry's B2A rides in the same exchange
      probabilistic        0 / 0
    """
    ell, f = ring_defaults(ell, f)
    mode = get_config().trunc_mode if mode is None else mode
    if mode not in MODES:
        raise ValueError(f"trunc_a: mode must be one of {MODES}, not {mode!r}")
    R = Ring(ell)
    x = R.reduce(np.asarray(x, dtype=np.uint64))
    if f == 0:
        return x.copy()
    sf = np.uint64(f)
    if mode == "probabilistic":
        if mpc.party == 0:
            return x >> sf
        return R.neg(R.neg(x) >> sf)
    shape = x.shape
    me = mpc.party
    # bias the value into [0, 2^(ell-1)) (bounded) or [0, 2^ell) (unbounded), as unsigned
    bias = np.uint64(1 << (ell - 2)) if bounded else np.uint64(1 << (ell - 1))
    xb = (R.add(x, bias) if me == 0 else x).reshape(-1)
    lo_mask = np.uint64((1 << f) - 1)
    rows, widths = [], []
    if bounded:
        # w = msb(x0') ∨ msb(x1) = m0 + m1 − m0·m1 (mod 2^f)
        rows.append(((xb >> np.uint64(ell - 1)) & np.uint64(1)).astype(np.uint8))
        widths.append(f)
    else:
        from .compare import wrap_a

        # w = b2a(wrap) = w0 + w1 − 2·w0·w1 (mod 2^f): the product only needs f − 1 bits
        rows.append(wrap_a(mpc, xb, ell=ell))
        widths.append(f - 1)
    if mode == "exact":
        from .compare import cmp

        # carry of the low f bits: [x0_lo + x1_lo ≥ 2^f] = [x0_lo > 2^f − 1 − x1_lo]
        low = xb & lo_mask
        rows.append(cmp(mpc, low if me == 0 else lo_mask - low, nbits=f))
        widths.append(ell - 1)
    prods = bit_and_a(mpc, np.stack(rows), widths, batch=batch)
    mine = rows[0].astype(np.uint64)
    if bounded:
        w = (mine - prods[0]) & lo_mask
    else:
        w = (mine - (prods[0] << np.uint64(1))) & lo_mask
    hi = xb >> sf
    if mode == "exact":
        hi = hi + rows[1].astype(np.uint64) - (prods[1] << np.uint64(1))
    elif me == 1:
        # faithful: party 1 rounds its share up, ⌈x1/2^f⌉ = (x1 >> f) + [x1 mod 2^f ≠ 0].  The sum
        # is then ⌊x/2^f⌋ + [x1_lo ≠ 0] − carry, which for a uniform x0 is stochastic rounding of
        # x/2^f (error in {0, +1} ulp, mean ≈ 0) instead of a −1..0 ulp floor bias.
        hi = hi + ((xb & lo_mask) != 0).astype(np.uint64)
    out = R.sub(hi, w << np.uint64(ell - f))
    if me == 0:
        out = R.sub(out, bias >> sf)
    return out.reshape(shape)


def trunc_reduce_a(mpc, x, f: int, *, ell: int) -> np.ndarray:
    """Local truncate-and-reduce: shares of ⌊x/2^f⌋ (+ {0, 1}) in ring ell − f, for *every* signed
    x in ring ell — the probabilistic truncation's rare wrap error is a multiple of 2^(ell−f),
    which the smaller ring removes.  No traffic, no round."""
    R = Ring(ell)
    if f == 0:
        return R.reduce(np.asarray(x, dtype=np.uint64))
    return Ring(ell - f).reduce(trunc_a(mpc, x, f, ell=ell, mode="probabilistic"))


def trunc_cost(n: int, ell: int, f: int, *, mode: str = "faithful", party: int = 0, bounded: bool = True,
               batch: int | None = None) -> dict:
    """Per-party payload bytes sent and rounds of :func:`trunc_a`."""
    if mode == "probabilistic" or f == 0 or n == 0:
        return {"bytes_sent": 0, "rounds": 0}
    out = {"bytes_sent": 0, "rounds": 0}
    widths = [f if bounded else f - 1]

    def add_cmp(nbits):
        from .compare import cmp_cost

        c = cmp_cost(n, nbits)
        out["bytes_sent"] += c["bytes_0to1"] if party == 0 else c["bytes_1to0"]
        # party 0 (the comparison's OT sender) starts by receiving, so its channel counts one
        # round less than the comparison's latency in rounds
        out["rounds"] += c["rounds"] - (1 if party == 0 else 0)

    if not bounded:
        add_cmp(ell)
    if mode == "exact":
        add_cmp(f)
        widths.append(ell - 1)
    b = bit_and_cost(n, widths, party, batch)
    return {"bytes_sent": out["bytes_sent"] + b["bytes_sent"], "rounds": out["rounds"] + b["rounds"]}


def trunc_ideal(x, f: int, ell: int) -> np.ndarray:
    """Plaintext twin: exact arithmetic shift ⌊x / 2^f⌋ of the signed value."""
    R = Ring(ell)
    return R.from_signed(R.to_signed(x) >> np.int64(f))

"""Truncation of fixed-point shares: ``trunc_a(x, f)`` ≈ x / 2^f (arithmetic shift).

Two modes (``mode=`` or config ``trunc_mode``):

``faithful`` (default; Cheetah's truncation with the known-sign trick, DESIGN §4).
  The caller promises |x| < 2^(ell−2) (``bounded=True``).  Party 0 adds 2^(ell−2) so the value
  x' lies in [0, 2^(ell−1)), each party shifts its share, and the wrap bit w of the shares is
  removed:  out = (x0' >> f) + ⌈x1 / 2^f⌉ − w·2^(ell−f) − 2^(ell−2−f).  w = msb(x0') ∨ msb(x1) is
  one arithmetic COT, needed only mod 2^f: **1 + f bits per element, 1 round**.
  Result: ⌊x / 2^f⌋ + [x1 mod 2^f ≠ 0] − c with c the carry of the low f bits of the shares: the
  error against the exact floor is in {0, +1} ulp, always (no failure probability), and since
  party 0's share is uniform it is *stochastic rounding* of x/2^f (round up with probability
  ≈ the fractional part): unbiased, so errors do not drift over long chains (Newton).

``probabilistic`` (SecureML local truncation, no communication).
  Party 0 outputs x0 >> f, party 1 outputs −((−x1) >> f).  If |x| < 2^k the result is
  ⌊x/2^f⌋ or ⌊x/2^f⌋ + 1 except with probability ≤ 2^(k+1−ell) (then it is off by 2^(ell−f) ± 1).
  Rounds 0, traffic 0.  The test measures the failure rate in a small ring against this bound.

``bounded=False`` (unknown sign, needs a full comparison) is not implemented here: it requires
the MSB protocol of ``protocols/compare.py``.
"""
from __future__ import annotations

import numpy as np

from .config import get_config
from .convert import bit_and_cost, wrap_known_sign
from .fixed import ring_defaults
from .ring import Ring

MODES = ("faithful", "probabilistic")


def trunc_a(mpc, x, f: int | None = None, *, ell: int | None = None, mode: str | None = None,
            bounded: bool = True, batch: int | None = None) -> np.ndarray:
    """Arithmetic right shift of shares by ``f`` bits.

    Inputs: shares ``x`` mod 2^ell of a signed value; ``f`` (default: the ring's config frac).
    Output: shares of ⌊x/2^f⌋ + {0,1} (faithful, stochastic rounding) or ⌊x/2^f⌋ + {0,1} with failure
    probability ≤ 2^(k+1−ell) for |x| < 2^k (probabilistic).
    Rounds: faithful 1 exchange per ``ot_batch`` elements, probabilistic 0.
    Traffic: faithful 1 + f bits per element in total (:func:`trunc_cost`), probabilistic 0.
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
    if not bounded:
        raise NotImplementedError(
            "faithful truncation of values not promised to satisfy |x| < 2^(ell-2) needs the MSB "
            "comparison of protocols.compare; pass bounded=True or mode='probabilistic'"
        )
    shape = x.shape
    bias = np.uint64(1 << (ell - 2))
    xb = R.add(x, bias) if mpc.party == 0 else x
    w = wrap_known_sign(mpc, xb, ell, f, batch=batch).reshape(shape)
    if mpc.party == 0:
        hi = xb >> sf
    else:
        # party 1 rounds its share up: ⌈x1/2^f⌉ = (x1 >> f) + [x1 mod 2^f ≠ 0].  The sum is then
        # ⌊x/2^f⌋ + [x1_lo ≠ 0] − carry, which for a uniform x0 is stochastic rounding of x/2^f
        # (error in {0, +1} ulp, mean ≈ 0) instead of a −1..0 ulp floor bias.
        hi = (xb >> sf) + ((xb & np.uint64((1 << f) - 1)) != 0).astype(np.uint64)
    out = R.sub(hi, w << np.uint64(ell - f))
    if mpc.party == 0:
        out = R.sub(out, bias >> sf)
    return out


def trunc_cost(n: int, ell: int, f: int, *, mode: str = "faithful", party: int = 0,
               batch: int | None = None) -> dict:
    """Per-party payload bytes sent and rounds of :func:`trunc_a`."""
    if mode == "probabilistic" or f == 0:
        return {"bytes_sent": 0, "rounds": 0}
    return bit_and_cost(n, f, party, batch)


def trunc_ideal(x, f: int, ell: int) -> np.ndarray:
    """Plaintext twin: exact arithmetic shift ⌊x / 2^f⌋ of the signed value."""
    R = Ring(ell)
    return R.from_signed(R.to_signed(x) >> np.int64(f))

"""Share conversions: boolean → arithmetic (``b2a``), ring down / up conversion, and the
known-sign wrap bit they (and :mod:`protocols.trunc`) share.

``b2a``: b = b0 ⊕ b1 = b0 + b1 − 2·b0·b1.  The product b0·b1 is one arithmetic COT (choice b1,
correlation b0) and only ``2·b0·b1`` is needed, so the correction has ``ell − 1`` bits:
**1 COT, ell bits per element** (1 derandomisation bit + ell − 1 correction bits), 1 round.
Half of the elements use party 0 as COT sender, half party 1 (balanced directions).

Known-sign wrap (Cheetah): for shares x = x0 + x1 mod 2^ell of a value known to lie in
[0, 2^(ell−1)) (MSB 0), the wrap bit w = [x0 + x1 ≥ 2^ell] (as integers) equals
``msb(x0) OR msb(x1)`` = m0 + m1 − m0·m1: one arithmetic COT on 1-bit inputs.  Signed values with
|x| < 2^(ell−2) are first biased by +2^(ell−2) (party 0 adds it), which puts them in
[0, 2^(ell−1)).  Shares of w are needed only modulo 2^width, where width is
what the caller multiplies by (2^(ell−f)·w mod 2^ell needs w mod 2^f), so one wrap costs
**1 + width bits**.

``ring_down(x, ell_to)`` is local (reduce both shares).  ``ring_up(x, ell_from, ell_to)`` needs
the wrap bit: x = x0 + x1 − w·2^ell_from, so with |x| < 2^(ell_from−2) it costs one COT,
``1 + (ell_to − ell_from)`` bits per element, 1 round; without that promise the wrap bit comes
from the millionaires' comparison of ``protocols/compare.py`` (``wrap_a``) plus a B2A.
"""
from __future__ import annotations

import numpy as np

from .channel import iter_chunks
from .config import get_config
from .ot.extensions import ACOT, acot, packed_nbytes
from .ring import Ring


def _batch(batch: int | None) -> int:
    return max(1, get_config().ot_batch if batch is None else batch)


def bit_and_a(mpc, mine: np.ndarray, width, *, batch: int | None = None) -> np.ndarray:
    """Arithmetic shares mod 2^width of a0·a1 where party i privately holds the bit vector ``a_i``.

    ``mine``: this party's private {0,1} bits, 1-D (n,) with an int ``width``, or (F, n) with one
    width per row (all rows in the same exchange).  Output: shares s0 + s1 = a0·a1 mod 2^width,
    shaped like ``mine``.  Cost: 1 COT per bit, 1 + width bits (the first ceil(n/2) columns have
    party 0 as COT sender).  Rounds: one exchange per ``ot_batch // F`` columns.
    """
    a = np.asarray(mine, dtype=np.uint8)
    flat = a.ndim == 1
    a2 = a.reshape(1, -1) if flat else a
    widths = (int(width),) if flat else tuple(int(w) for w in width)
    F, n = a2.shape
    if len(widths) != F:
        raise ValueError("bit_and_a: one width per row")
    out = np.zeros((F, n), dtype=np.uint64)
    if n == 0 or not any(widths):
        return out.reshape(a.shape)
    me = mpc.party
    for sl in iter_chunks(n, max(1, _batch(batch) // F)):
        s = a2[:, sl]
        m = s.shape[1]
        h = (m + 1) // 2
        send_part = (s[:, :h] if me == 0 else s[:, h:]).astype(np.uint64)
        recv_part = s[:, h:] if me == 0 else s[:, :h]
        jobs = [
            ACOT(0, widths, h, x=send_part if me == 0 else None, c=recv_part if me == 1 else None),
            ACOT(1, widths, m - h, x=send_part if me == 1 else None, c=recv_part if me == 0 else None),
        ]
        o0, o1 = acot(mpc, jobs)
        out[:, sl] = np.concatenate([o0, o1], axis=1)
    return out.reshape(a.shape)


def bit_and_cost(n: int, width, party: int, batch: int | None = None) -> dict:
    """Per-party cost of :func:`bit_and_a` (``width``: int, or one width per row)."""
    widths = [int(width)] if np.ndim(width) == 0 else [int(w) for w in width]
    F = len(widths)
    if n == 0 or not any(widths):
        return {"bytes_sent": 0, "rounds": 0}
    sent = rounds = 0
    for sl in iter_chunks(n, max(1, _batch(batch) // F)):
        m = sl.stop - sl.start
        h = (m + 1) // 2
        mine, theirs = (h, m - h) if party == 0 else (m - h, h)
        sent += packed_nbytes(mine, widths) + (F * theirs + 7) // 8
        rounds += 1
    return {"bytes_sent": sent, "rounds": rounds}


def wrap_known_sign(mpc, x: np.ndarray, ell: int, width: int, *, batch: int | None = None) -> np.ndarray:
    """Shares mod 2^width of the wrap bit of x (shares mod 2^ell, value's MSB known to be 0).

    w = [x0 + x1 ≥ 2^ell] = msb(x0) ∨ msb(x1) = m0 + m1 − m0·m1.  Cost: :func:`bit_and_cost`
    (1 + width bits per element), 1 round.
    """
    x = np.asarray(x, dtype=np.uint64).reshape(-1)
    m = ((x >> np.uint64(ell - 1)) & np.uint64(1)).astype(np.uint8)
    s = bit_and_a(mpc, m, width, batch=batch)
    mask = np.uint64((1 << width) - 1) if width < 64 else np.uint64(0xFFFFFFFFFFFFFFFF)
    return (m.astype(np.uint64) - s) & mask


def b2a(mpc, b, *, ell: int | None = None, batch: int | None = None) -> np.ndarray:
    """Boolean share of bits (uint8 {0,1}, x = b0 ⊕ b1) → arithmetic share in Z_{2^ell}.

    Rounds: 1 exchange (per ``ot_batch`` elements).  Traffic: ell bits per element in total
    (:func:`b2a_cost`).
    """
    ell = get_config().ell if ell is None else ell
    R = Ring(ell)
    b = np.asarray(b, dtype=np.uint8)
    shape = b.shape
    bf = b.reshape(-1) & np.uint8(1)
    s = bit_and_a(mpc, bf, ell - 1, batch=batch)
    return R.reduce(bf.astype(np.uint64) - (s << np.uint64(1))).reshape(shape)


def b2a_cost(n: int, ell: int, party: int, batch: int | None = None) -> dict:
    return bit_and_cost(n, ell - 1, party, batch)


def ring_down(x, ell_to: int) -> np.ndarray:
    """Shares mod 2^ell → shares mod 2^ell_to (ell_to ≤ ell): local, exact for values that fit."""
    return Ring(ell_to).reduce(np.asarray(x, dtype=np.uint64))


def ring_up(mpc, x, ell_from: int, ell_to: int, *, bounded: bool = True, nonneg: bool = False,
            batch: int | None = None) -> np.ndarray:
    """Shares of a signed value mod 2^ell_from → shares of the same signed value mod 2^ell_to.

    ``bounded=True`` (the known-sign trick) requires |x| < 2^(ell_from−2): w = msb(x0') ∨ msb(x1),
    1 COT, ``1 + ell_to − ell_from`` bits per element, 1 round.  ``nonneg=True`` (with bounded):
    the caller promises 0 ≤ x < 2^(ell_from−1) instead — the trick needs no bias then, so a
    nonnegative value may use one bit more of the ring at the same cost.
    ``bounded=False``: any x; w = ``compare.wrap_a`` of the 2^(ell_from−1)-biased shares
    (millionaires' on ell_from bits) and its B2A mod 2^(ell_to − ell_from) (1 more exchange).
    Exact per-party cost: :func:`ring_up_cost`.
    """
    if ell_to < ell_from:
        raise ValueError("ring_up: ell_to must be ≥ ell_from (use ring_down)")
    if bounded and ell_from < 3:
        raise ValueError("ring_up: ell_from must be at least 3 for the known-sign trick")
    Rf, Rt = Ring(ell_from), Ring(ell_to)
    x = Rf.reduce(np.asarray(x, dtype=np.uint64))
    shape = x.shape
    if ell_to == ell_from:
        return x.copy()
    d = ell_to - ell_from
    bias = np.uint64(0 if bounded and nonneg else 1 << (ell_from - (2 if bounded else 1)))
    xb = Rf.add(x, bias) if mpc.party == 0 else x
    if bounded:
        w = wrap_known_sign(mpc, xb, ell_from, d, batch=batch).reshape(shape)
    else:
        from .compare import wrap_a

        w = b2a(mpc, wrap_a(mpc, xb, ell=ell_from), ell=d, batch=batch).reshape(shape)
    out = Rt.sub(xb, w << np.uint64(ell_from))
    if mpc.party == 0:
        out = Rt.sub(out, bias)
    return out


def ring_up_cost(n: int, ell_from: int, ell_to: int, party: int, bounded: bool = True,
                 batch: int | None = None) -> dict:
    """Per-party payload bytes and channel rounds of :func:`ring_up`."""
    d = ell_to - ell_from
    if d == 0 or n == 0:
        return {"bytes_sent": 0, "rounds": 0}
    if bounded:
        return bit_and_cost(n, d, party, batch)
    from .compare import cmp_cost

    c = cmp_cost(n, ell_from)
    b = bit_and_cost(n, d - 1, party, batch)
    # party 0 (the comparison's OT sender) starts by receiving: one channel round less
    return {"bytes_sent": (c["bytes_0to1"] if party == 0 else c["bytes_1to0"]) + b["bytes_sent"],
            "rounds": c["rounds"] - (1 if party == 0 else 0) + b["rounds"]}


# ----------------------------------------------------------------------------------------------
# plaintext twins
# ----------------------------------------------------------------------------------------------
def b2a_ideal(b0, b1, ell: int) -> np.ndarray:
    return (np.asarray(b0, np.uint64) ^ np.asarray(b1, np.uint64)) & np.uint64(1)


def ring_up_ideal(x, ell_from: int, ell_to: int) -> np.ndarray:
    return Ring(ell_to).from_signed(Ring(ell_from).to_signed(x))

"""Multiplexer: ``select(b, x, y) = b ? x : y`` with b a boolean-shared bit, x, y arithmetic shares.

select = y + b·(x − y).  With z = x − y and b = b0 ⊕ b1:
  b·z = (b0 ⊕ b1)·z0 + (b0 ⊕ b1)·z1,  (b0 ⊕ b1)·z0 = b0·z0 + b1·(1 − 2·b0)·z0.
The second summand is an arithmetic COT with party 1's choice b1 and party 0's correlation
(1 − 2b0)·z0; symmetrically for z1.  **2 COTs, 2(ell + 1) bits per element** (ell + 1 each way),
one exchange (1 round).  Several values per bit (x of shape b.shape + (k,)) ride on the same COT:
2(1 + k·ell) bits.  :func:`mul_ba` is the same protocol for b·x.
"""
from __future__ import annotations

import numpy as np

from .channel import iter_chunks
from .config import get_config
from .ot.extensions import ACOT, acot, packed_nbytes
from .ring import Ring


def _batch(batch: int | None) -> int:
    return max(1, get_config().ot_batch if batch is None else batch)


def mul_ba(mpc, b, x, *, ell: int | None = None, batch: int | None = None) -> np.ndarray:
    """Shares of b·x for a boolean-shared bit b (uint8 {0,1}) and an arithmetic share x.

    ``x.shape`` is ``b.shape`` or ``b.shape + (k,)`` (k values gated by the same bit).
    Rounds: 1 exchange per ``ot_batch // k`` bits.  Traffic per party: ceil(n/8) + ceil(n·k·ell/8)
    bytes (:func:`mul_ba_cost`).
    """
    ell = get_config().ell if ell is None else ell
    R = Ring(ell)
    b = np.asarray(b, dtype=np.uint8) & np.uint8(1)
    x = R.reduce(np.asarray(x, dtype=np.uint64))
    if x.shape == b.shape:
        k = 1
    elif x.ndim == b.ndim + 1 and x.shape[:-1] == b.shape:
        k = x.shape[-1]
    else:
        raise ValueError(f"mul_ba: x shape {x.shape} must be b shape {b.shape} (+ one trailing axis)")
    shape = x.shape
    bf = b.reshape(-1)
    xf = x.reshape(bf.size, k)
    me = mpc.party
    out = np.zeros_like(xf)
    for sl in iter_chunks(bf.size, max(1, _batch(batch) // k)):
        bs, xs = bf[sl], xf[sl]
        m = bs.size
        corr = R.mul(xs, (1 - 2 * bs.astype(np.int64)).view(np.uint64)[:, None])  # (1 − 2b_me)·x_me
        jobs = [
            ACOT(0, (ell,), m, k, x=corr[None] if me == 0 else None, c=bs[None] if me == 1 else None),
            ACOT(1, (ell,), m, k, x=corr[None] if me == 1 else None, c=bs[None] if me == 0 else None),
        ]
        o0, o1 = acot(mpc, jobs)
        o0 = o0.reshape(m, k)
        o1 = o1.reshape(m, k)
        out[sl] = xs * bs[:, None].astype(np.uint64) + o0 + o1
    return R.reduce(out).reshape(shape)


def select(mpc, b, x, y, *, ell: int | None = None, batch: int | None = None) -> np.ndarray:
    """Multiplexer: shares of ``x if b else y`` (b boolean-shared bit, x/y arithmetic shares).

    Rounds: 1 exchange (per ``ot_batch`` bits).  Traffic: 2(ell + 1) bits per element in total,
    :func:`select_cost` per party.
    """
    ell = get_config().ell if ell is None else ell
    R = Ring(ell)
    x = np.asarray(x, dtype=np.uint64)
    y = np.asarray(y, dtype=np.uint64)
    if x.shape != y.shape:
        raise ValueError(f"select: x and y shapes differ: {x.shape} vs {y.shape}")
    return R.add(y, mul_ba(mpc, b, R.sub(x, y), ell=ell, batch=batch))


def mul_ba_cost(n: int, ell: int, k: int = 1, batch: int | None = None) -> dict:
    """Per-party cost (both parties send the same)."""
    sent = rounds = 0
    for sl in iter_chunks(n, max(1, _batch(batch) // k)):
        m = sl.stop - sl.start
        sent += (m + 7) // 8 + packed_nbytes(m, [ell] * k)
        rounds += 1
    return {"bytes_sent": sent, "rounds": rounds}


select_cost = mul_ba_cost


def select_ideal(b, x, y) -> np.ndarray:
    b = np.asarray(b, dtype=bool)
    x = np.asarray(x, dtype=np.uint64)
    if x.ndim == b.ndim + 1:
        b = b[..., None]
    return np.where(b, x, np.asarray(y, dtype=np.uint64))

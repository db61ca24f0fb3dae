"""Share × a value private to one party (``mul_av``; SPU's "v" = private visibility).

LayerNorm's γ belongs to the server: y = γ ⊙ x with x = x0 + x1 shared.  The owner multiplies its
own share locally (γ·x_own); the cross term γ·x_other is one Gilboa product: the other party's
share bits are the choice bits of ``ell`` arithmetic COTs whose correlation is γ, position i
carrying only its low ``ell − i`` bits (same construction as one half of
:func:`protocols.mul.mul_aa`).

Inputs: this party's share ``x`` (uint64 mod 2^ell); ``w`` (owner only: integers broadcastable to
``x.shape``; the other party passes None).  Output: shares of ``w·x mod 2^ell`` (the caller
truncates fixed-point products).  Rounds: 1 exchange per ``ot_batch // ell`` elements.
Traffic: owner sends ``ell(ell+1)/2`` bits per element, the other party ``ell`` bits
(:func:`mul_av_cost`) — half of ``mul_aa``.
"""
from __future__ import annotations

import numpy as np

from .channel import iter_chunks
from .config import get_config
from .mul import _batch, _bits, _gilboa_sum
from .ot.extensions import ACOT, acot, packed_nbytes
from .ring import Ring


def mul_av(mpc, x, w=None, *, owner: int = 0, ell: int | None = None, batch: int | None = None) -> np.ndarray:
    ell = get_config().ell if ell is None else int(ell)
    R = Ring(ell)
    x = R.reduce(np.asarray(x, dtype=np.uint64))
    shape = x.shape
    me = mpc.party
    if me == owner:
        if w is None:
            raise ValueError("mul_av: the owner of w must pass it")
        wf = np.broadcast_to(R.from_signed(np.asarray(w, dtype=np.int64)), shape).reshape(-1)
        z = R.mul(x.reshape(-1), wf)
    else:
        if w is not None:
            raise ValueError("mul_av: only the owner passes w")
        z = np.zeros(x.size, dtype=np.uint64)
    xf = x.reshape(-1)
    widths = tuple(range(ell, 0, -1))
    for sl in iter_chunks(xf.size, _batch(ell, batch, ell)):
        m = sl.stop - sl.start
        if me == owner:
            job = ACOT(owner, widths, m, x=np.broadcast_to(wf[sl], (ell, m)))
        else:
            job = ACOT(owner, widths, m, c=_bits(xf[sl], ell))
        (o,) = acot(mpc, [job])
        z[sl] += _gilboa_sum(o, ell)
    return R.reduce(z).reshape(shape)


def mul_av_ideal(x, w, ell: int) -> np.ndarray:
    R = Ring(ell)
    return R.mul(R.reduce(x), R.from_signed(np.asarray(w, dtype=np.int64)))


def mul_av_cost(n: int, ell: int, party: int, owner: int = 0, batch: int | None = None) -> dict:
    """Payload bytes ``party`` sends and rounds for :func:`mul_av` on n elements."""
    widths = list(range(ell, 0, -1))
    sent = rounds = 0
    for sl in iter_chunks(n, _batch(ell, batch, ell)):
        m = sl.stop - sl.start
        sent += packed_nbytes(m, widths) if party == owner else (ell * m + 7) // 8
        rounds += 1
    return {"bytes_sent": sent, "rounds": rounds}

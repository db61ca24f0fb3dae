"""Maximum along an axis of arithmetic shares, by a tree of comparisons and multiplexers.

Each level halves the axis: the first half a and the second half b are compared
(bit = [a < b] = msb(a - b), :func:`protocols.compare.lt_aa`) and the larger kept with the
multiplexer ``select(bit, b, a)`` (``protocols/select.py``); with an odd length the last element
passes to the next level unchanged.  No argmax is computed.

Ring-range caveat (from lt_aa): exact when every pairwise difference fits, |x_i - x_j| < 2^(ℓ-1)
in the signed view — always true for values in [-2^(ℓ-2), 2^(ℓ-2)).

Cost for rows of length L: ceil(log2 L) levels; level i compares and selects n_i = rows·⌊L_i/2⌋
pairs: msb on ℓ-1 bits (:func:`protocols.compare.msb_cost`) then one select (2 COTs, ℓ + 1 bits
each way, 1 round).  Rounds per level: msb rounds + 1.  :func:`max_cost` gives the exact total.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .compare import lt_aa, msb_cost
from .config import get_config
from .ring import Ring
from .select import select, select_cost

if TYPE_CHECKING:  # pragma: no cover
    from .context import MPC


def max_a(mpc: "MPC", x: np.ndarray, axis: int = -1, *, ell: int | None = None) -> np.ndarray:
    """Shares of max(x) along ``axis`` (signed view); the axis is removed from the shape.

    Inputs: arithmetic shares uint64 (< 2^ℓ), the same shape on both sides.
    Rounds: Σ over ceil(log2 L) levels of (msb rounds + 1).  Traffic: :func:`max_cost`.
    """
    ell = ell or get_config().ell
    x = np.moveaxis(np.asarray(x, dtype=np.uint64), axis, -1)
    L = x.shape[-1]
    if L == 0:
        raise ValueError("max_a: empty axis")
    while L > 1:
        h = L // 2
        a = np.ascontiguousarray(x[..., :h])
        b = np.ascontiguousarray(x[..., h : 2 * h])
        bit = lt_aa(mpc, a, b, ell=ell)
        m = select(mpc, bit, b, a, ell=ell)
        x = np.concatenate([m, x[..., 2 * h :]], axis=-1) if L % 2 else m
        L = x.shape[-1]
    return x[..., 0].copy()


def max_ideal(x: np.ndarray, axis: int = -1, ell: int = 64) -> np.ndarray:
    """Plaintext twin on ring elements (signed view); returns ring elements."""
    r = Ring(ell)
    return r.from_signed(r.to_signed(np.asarray(x, np.uint64)).max(axis=axis))


def max_cost(rows: int, L: int, ell: int | None = None) -> dict:
    """Analytic cost of :func:`max_a` on ``rows`` rows of length L: payload bytes each direction,
    rounds (party 1's count) and COTs per direction."""
    ell = ell or get_config().ell
    out = {"bytes_0to1": 0, "bytes_1to0": 0, "rounds": 0, "cots_0to1": 0, "cots_1to0": 0}
    while L > 1:
        h = L // 2
        c = msb_cost(rows * h, ell)
        s = select_cost(rows * h, ell)
        out["bytes_0to1"] += c["bytes_0to1"] + s["bytes_sent"]
        out["bytes_1to0"] += c["bytes_1to0"] + s["bytes_sent"]
        out["rounds"] += c["rounds"] + s["rounds"]
        out["cots_0to1"] += c["cots_0to1"] + rows * h  # select: one COT each way per element
        out["cots_1to0"] += c["cots_1to0"] + rows * h
        L = L - h
    return out

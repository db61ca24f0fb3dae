"""Public lookup tables on small arithmetic shares, with boolean outputs (``lut_ab``).

Functionality (:func:`lut_ideal`): x = x0 + x1 mod 2^m is shared (m ≤ 8, e.g. a coarse copy of a
value after a local truncate-and-reduce), ``table`` is a public array of 2^m entries of ``nbits``
bits; the output is XOR shares of table[x].  Used to select the pieces of a fitted approximation:
entry j holds the bits [j ≥ b_i] of every breakpoint b_i at once, so one lookup replaces a batch of
comparisons and its AND trees (``nn.functional.piecewise`` with a lookup grid).

Protocol — one chosen 1-of-2^m OT per element (``ot/ot_n.py``), balanced like the comparisons:
party 0 owns the tables of the first ⌈n/2⌉ elements, party 1 those of the rest.  For an element,
the owner o (share x_o) draws a fresh nbits-bit mask r and offers, for every possible share j of
the chooser, table[(x_o + j) mod 2^m] ⊕ r; the chooser selects j = x_c.  The owner's output share
is r, the chooser's the entry it read.

Security: the chooser reads one entry, masked by a fresh uniform r; the owner sees the OT's
derandomisation c ⊕ b, uniform since b is the random choice of the underlying COTs.

Rounds: 1 (the choices cross, then the tables cross: two one-way trips, as in the comparison's
first step).  Traffic per element: m choice bits one way, 2^m·nbits table bits the other
(:func:`lut_cost`); m COTs in the owner → chooser direction.  No AND triples.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .compare import balanced_halves
from .ot.ot_n import NOTReceiver, NOTSender, pack_values, unpack_values

if TYPE_CHECKING:  # pragma: no cover
    from .context import MPC


def _check_table(table, m: int, nbits: int) -> np.ndarray:
    if not 1 <= m <= 8:
        raise ValueError(f"lut: index bits m={m} must be in 1..8")
    if not 1 <= nbits <= 64:
        raise ValueError(f"lut: entry bits nbits={nbits} must be in 1..64")
    tab = np.asarray(table)
    if tab.shape != (1 << m,):
        raise ValueError(f"lut: a table for {m}-bit indices has {1 << m} entries, got shape {tab.shape}")
    tab = tab.astype(np.uint64)
    if nbits < 64 and np.any(tab >> np.uint64(nbits)):
        raise ValueError(f"lut: table entries must be < 2^{nbits}")
    return tab


def lut_ab(mpc: "MPC", x: np.ndarray, table, *, m: int, nbits: int) -> np.ndarray:
    """XOR shares of table[x] (uint64, ``nbits`` bits) for arithmetic shares x in ring 2^m.

    Inputs: ``x`` this party's shares (any shape; reduced mod 2^m), ``table`` public (2^m,)
    entries < 2^nbits, the same on both sides.  Output: the shape of x.  Cost: :func:`lut_cost`.
    """
    tab = _check_table(table, m, nbits)
    N = 1 << m
    x = np.asarray(x, dtype=np.uint64)
    flat = (x.reshape(-1) & np.uint64(N - 1)).astype(np.int64)
    n = flat.size
    a, b = balanced_halves(n)
    me = mpc.party
    parts = [slice(0, a), slice(a, n)]
    own, oth = parts[me], parts[1 - me]
    n_own, n_oth = (a, b) if me == 0 else (b, a)
    # the COTs and hash tweaks of part 0 first, then part 1, on both sides
    ots = [(NOTSender if me == h else NOTReceiver)(mpc, size, m) for h, size in enumerate((a, b))]
    sender, receiver = ots[me], ots[1 - me]
    # 1. choices cross
    mpc.ch.send(pack_values(receiver.derandomise(flat[oth]).astype(np.uint64), m))
    d = unpack_values(mpc.ch.recv_array(np.uint8, ((n_own * m + 7) // 8,)), n_own, m).astype(np.int64)
    # 2. tables cross: entry j = table[(x_own + j) mod N] ⊕ r
    xo = flat[own]
    r = mpc.prg.uint64((n_own,), nbits)

    def entries(lo: int, hi: int, idx: np.ndarray) -> np.ndarray:
        return tab[(xo[lo:hi, None] + idx) & (N - 1)] ^ r[lo:hi, None]

    mpc.ch.send(sender.mask_table(entries, d, nbits))
    got = receiver.unmask(mpc.ch.recv_array(np.uint8, ((n_oth * N * nbits + 7) // 8,)), nbits)
    out = np.empty(n, dtype=np.uint64)
    out[own] = r
    out[oth] = got
    return out.reshape(x.shape)


def lut_bits(mpc: "MPC", x: np.ndarray, bits, *, m: int) -> np.ndarray:
    """XOR shares of T bit-tables at once: ``bits`` is a public (T, 2^m) 0/1 array; returns
    (T,) + x.shape uint8 shares of bits[t, x].  One :func:`lut_ab` with T-bit entries (T ≤ 64)."""
    bits = np.asarray(bits, dtype=np.uint64)
    if bits.ndim != 2 or np.any(bits > 1):
        raise ValueError(f"lut_bits: bits must be a (T, 2^m) 0/1 array, got shape {bits.shape}")
    T = bits.shape[0]
    packed = (bits << np.arange(T, dtype=np.uint64)[:, None]).sum(axis=0, dtype=np.uint64)
    y = lut_ab(mpc, x, packed, m=m, nbits=T)
    return ((y[None] >> np.arange(T, dtype=np.uint64).reshape((T,) + (1,) * y.ndim)) & np.uint64(1)).astype(np.uint8)


def lut_ideal(x: np.ndarray, table, m: int) -> np.ndarray:
    """Plaintext twin: table[x mod 2^m]."""
    return np.asarray(table, dtype=np.uint64)[(np.asarray(x, dtype=np.uint64) & np.uint64((1 << m) - 1)).astype(np.int64)]


def lut_cost(n: int, m: int, nbits: int) -> dict:
    """Payload bytes each direction, rounds and COTs per direction of :func:`lut_ab` on n elements."""
    a, b = balanced_halves(n)

    def sent(own: int, oth: int) -> int:
        return (oth * m + 7) // 8 + (own * (1 << m) * nbits + 7) // 8

    return {"bytes_0to1": sent(a, b), "bytes_1to0": sent(b, a), "rounds": 2,
            "cots_0to1": a * m, "cots_1to0": b * m}

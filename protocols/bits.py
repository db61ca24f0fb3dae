"""Boolean (XOR) shares of bits: x = x0 ⊕ x1, each share a uint8 array with values in {0, 1}.

Local: :func:`xor_bb`, :func:`xor_bp`, :func:`not_b`, :func:`and_bp`.
Interactive: :func:`and_bb` (Beaver AND), :func:`and_bb_corr` (one input shared by k ANDs, as in
Cheetah's comparison tree), and :func:`and_bb_batch` that opens any mix of them in one round.

Bit triples come from random COTs with no further communication (DESIGN.md §4):
a random OT (sender: m0 = H(q), m1 = H(q ⊕ Δ); receiver: choice c, m_c = H(t)) is an OLE of bits,
m_c ⊕ m0 = c·(m0 ⊕ m1).  With the sender's bit u := m0 ⊕ m1 and the receiver's bit c the cross
term u·c is XOR-shared as (m0, m_c).  One ROT each way gives the two cross terms of a Beaver
triple (a0 ⊕ a1)(b0 ⊕ b1).  A *correlated* triple (a; b_1..b_k; c_j = a·b_j) uses the same two
ROTs with k-bit messages, so it costs the same 2 COTs as a plain triple.

Cost (per element): plain AND 2 COTs, 2 bits each way, 1 round; correlated k-AND 2 COTs,
1 + k bits each way, 1 round.  Bits are packed with ``np.packbits`` over the whole batch:
payload per party and direction = ceil(total_bits / 8) bytes.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import numpy as np

from .ot.extensions import random_ot

if TYPE_CHECKING:  # pragma: no cover
    from .context import MPC


# ----------------------------------------------------------------------------------------------
# local operations
# ----------------------------------------------------------------------------------------------
def xor_bb(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.bitwise_xor(x, y).astype(np.uint8, copy=False)


def xor_bp(mpc: "MPC", x: np.ndarray, c) -> np.ndarray:
    """x ⊕ c for a public bit array c (party 0 applies it)."""
    c = np.asarray(c, dtype=np.uint8)
    return (x ^ c).astype(np.uint8) if mpc.party == 0 else np.broadcast_to(x, np.broadcast(x, c).shape).astype(np.uint8)


def not_b(mpc: "MPC", x: np.ndarray) -> np.ndarray:
    """¬x: party 0 flips its share."""
    return (x ^ np.uint8(1)).astype(np.uint8) if mpc.party == 0 else np.asarray(x, np.uint8).copy()


def and_bp(x: np.ndarray, c) -> np.ndarray:
    """x ∧ c for a public bit array c (both parties, local)."""
    return (np.asarray(x, np.uint8) & np.asarray(c, np.uint8)).astype(np.uint8)


def share_bits(x: np.ndarray, prg=None) -> tuple[np.ndarray, np.ndarray]:
    """Split bits into two XOR shares (for tests and inputs)."""
    from .prg import PRG

    x0 = (prg or PRG()).bits(np.shape(x))
    return x0, (np.asarray(x, np.uint8) ^ x0).astype(np.uint8)


# ----------------------------------------------------------------------------------------------
# random OT with k-bit messages, and triples
# ----------------------------------------------------------------------------------------------
def _rot_bits(mpc: "MPC", n: int, k: int, sender: int):
    """n random OTs with k-bit messages (k ≤ 64), party ``sender`` → the other, no communication
    (``extensions.random_ot``: m0 = H(q), m1 = H(q ⊕ Δ), receiver m_c = H(t)).

    Sender returns (m0, m1) as (n, k) uint8 bits; receiver returns (c (n,) uint8, m_c (n, k)).
    """
    shifts = np.arange(k, dtype=np.uint64)
    one = np.uint64(1)
    if mpc.party == sender:
        h0, h1 = random_ot(mpc, sender, n)
        m0 = ((h0[:, 0, None] >> shifts) & one).astype(np.uint8)
        m1 = ((h1[:, 0, None] >> shifts) & one).astype(np.uint8)
        return m0, m1
    c, h = random_ot(mpc, sender, n)
    return np.asarray(c, np.uint8), ((h[:, 0, None] >> shifts) & one).astype(np.uint8)


def corr_bit_triples(mpc: "MPC", n: int, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """n correlated bit triples: shares of a (n,), b (n, k), c = a·b (n, k).  2·n COTs, no traffic."""
    # ROT 1: party 0 sends; party 1's choice is a1 and party 0's b0 := m0 ⊕ m1.
    r1 = _rot_bits(mpc, n, k, sender=0)
    # ROT 2: party 1 sends; party 0's choice is a0 and party 1's b1 := m0 ⊕ m1.
    r2 = _rot_bits(mpc, n, k, sender=1)
    if mpc.party == 0:
        u0, u1 = r1
        a0, w0 = r2  # w0 = v0 ⊕ a0·b1
        b0 = u0 ^ u1
        c0 = (a0[:, None] & b0) ^ u0 ^ w0
        return a0, b0, c0
    a1, w1 = r1  # w1 = u0 ⊕ a1·b0
    v0, v1 = r2
    b1 = v0 ^ v1
    c1 = (a1[:, None] & b1) ^ w1 ^ v0
    return a1, b1, c1


def bit_triples(mpc: "MPC", n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """n Beaver bit triples (a, b, c = a·b), each (n,) uint8 shares.  2·n COTs, no traffic."""
    a, b, c = corr_bit_triples(mpc, n, 1)
    return a, b[:, 0].copy(), c[:, 0].copy()


# ----------------------------------------------------------------------------------------------
# opening and AND
# ----------------------------------------------------------------------------------------------
def open_bits(mpc: "MPC", arrays: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Reconstruct several bit arrays in one exchange (packed): returns the public bits."""
    flat = [np.asarray(a, np.uint8).reshape(-1) for a in arrays]
    allb = np.concatenate(flat) if flat else np.zeros(0, np.uint8)
    total = allb.size
    if total == 0:
        return [np.zeros(np.shape(a), np.uint8) for a in arrays]
    mine = np.packbits(allb, bitorder="little")
    (theirs,) = mpc.ch.exchange(mine)
    opened = allb ^ np.unpackbits(theirs, count=total, bitorder="little")
    out, pos = [], 0
    for a, f in zip(arrays, flat):
        out.append(opened[pos : pos + f.size].reshape(np.shape(a)))
        pos += f.size
    return out


def and_bb_batch(mpc: "MPC", items: Sequence[tuple[np.ndarray, np.ndarray]], triples=None) -> list[np.ndarray]:
    """Several correlated ANDs in one round.

    ``items``: list of (x, Y) with x of shape (n_i,) and Y of shape (n_i, k_i); returns
    [x·Y] as (n_i, k_i) uint8 shares.  A plain AND is k_i = 1.  ``triples`` (optional) is a list
    of pre-generated (a, b, c) from :func:`corr_bit_triples` matching the items; otherwise they are
    generated here (2·Σn_i COTs).
    Rounds: 1.  Traffic per party each way: ceil(Σ n_i·(1 + k_i) / 8) bytes.
    """
    xs, Ys = [], []
    for x, Y in items:
        x = np.asarray(x, np.uint8).reshape(-1)
        Y = np.asarray(Y, np.uint8)
        if Y.ndim != 2 or Y.shape[0] != x.size:
            raise ValueError(f"and_bb_batch: Y must be (n, k) with n = len(x) = {x.size}, got {Y.shape}")
        xs.append(x)
        Ys.append(Y)
    if triples is None:
        triples = [corr_bit_triples(mpc, x.size, Y.shape[1]) for x, Y in zip(xs, Ys)]
    masked = []
    for (a, b, _), x, Y in zip(triples, xs, Ys):
        if a.shape != x.shape or b.shape != Y.shape:
            raise ValueError("and_bb_batch: triple shapes do not match the inputs")
        masked += [x ^ a, Y ^ b]
    opened = open_bits(mpc, masked)
    out = []
    for i, (a, b, c) in enumerate(triples):
        d, e = opened[2 * i], opened[2 * i + 1]
        # x·Y = (d ⊕ a)(e ⊕ b) = c ⊕ d·b ⊕ e·a ⊕ d·e (the public d·e added by party 0)
        z = c ^ (d[:, None] & b) ^ (e & a[:, None])
        if mpc.party == 0:
            z ^= d[:, None] & e
        out.append(z.astype(np.uint8))
    return out


def and_bb(mpc: "MPC", x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """x ∧ y on boolean shares (any equal shapes).  1 round, 2 bits each way per element, 2 COTs."""
    x = np.asarray(x, np.uint8)
    y = np.asarray(y, np.uint8)
    if x.shape != y.shape:
        raise ValueError(f"and_bb: shapes {x.shape} and {y.shape} differ")
    (z,) = and_bb_batch(mpc, [(x.reshape(-1), y.reshape(-1, 1))])
    return z.reshape(x.shape)


def and_bb_corr(mpc: "MPC", x: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """x ∧ Y[..., j] for all j (x shared by k ANDs): x (...), Y (..., k).  1 round, 1 + k bits
    each way per element, 2 COTs."""
    x = np.asarray(x, np.uint8)
    Y = np.asarray(Y, np.uint8)
    if Y.shape[:-1] != x.shape:
        raise ValueError(f"and_bb_corr: Y {Y.shape} must be x {x.shape} plus one axis")
    (z,) = and_bb_batch(mpc, [(x.reshape(-1), Y.reshape(-1, Y.shape[-1]))])
    return z.reshape(Y.shape)


def or_bb(mpc: "MPC", x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """x ∨ y = x ⊕ y ⊕ x·y.  Same cost as :func:`and_bb`."""
    return (x ^ y ^ and_bb(mpc, x, y)).astype(np.uint8)


# plaintext twins
def and_ideal(x, y) -> np.ndarray:
    return (np.asarray(x, np.uint8) & np.asarray(y, np.uint8)).astype(np.uint8)


def and_bb_cost(n: int, k: int = 1) -> dict:
    """Analytic cost of n correlated k-ANDs: payload bytes each way, rounds, COTs."""
    return {"bytes_each_way": (n * (1 + k) + 7) // 8, "rounds": 1, "cots": 2 * n}

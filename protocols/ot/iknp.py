"""IKNP correlated-OT extension (semi-honest) with a global Δ: the bootstrap and baseline COT.

Roles.  The COT *sender* S holds Δ ∈ {0,1}^128 with LSB(Δ) = 1; the COT *receiver* R gets random
choice bits.  Setup runs κ = 128 base OTs with reversed roles: R is the base-OT sender with random
seeds (k0_j, k1_j); S is the base-OT receiver with choice bits s = Δ (S sets s_0 = 1 itself, so
LSB(Δ) = 1 costs nothing) and learns k_{s_j, j}.

Extension of m COTs (m a multiple of 64, produced in chunks of 2^16):
  R: random r ∈ {0,1}^m; column j: t^j = G(k0_j), u^j = t^j ⊕ G(k1_j) ⊕ r;  sends u (128 × m bits).
  S: q^j = G(k_{s_j, j}) ⊕ s_j·u^j = t^j ⊕ s_j·r.
Transposing the 128 × m bit matrices gives rows q_i, t_i with t_i = q_i ⊕ r_i·Δ.  G is AES-128-CTR
keyed by the seed, one stream per column that continues across calls (never reused).

Interface: :class:`IKNPSender` / :class:`IKNPReceiver` implement :class:`~protocols.ot.cot.COTSender`
/ :class:`~protocols.ot.cot.COTReceiver`; outputs are the raw correlations (consumers hash them
with :func:`~protocols.ot.cot.crhash` where a random OT is needed).

Cost (payload bytes, exact; only R → S traffic):
  setup (per direction, :func:`iknp_setup_cost`): 128 base OTs with R as base-OT sender:
                         R → S 32 bytes, S → R 33·128 = 4,224 bytes; 2 messages.
  get(n): 16 · ceil(n / 64) · 64 bytes R → S, one message per chunk of up to 2^16 COTs;
          S waits once (1 round), R never waits.
Surplus COTs of a chunk (n not a multiple of 64) are dropped; both sides drop the same ones.

Bit transpose: 128 × m bits → m × 128 bits by regrouping into 8 × 8-bit blocks (numpy reshapes),
transposing each block inside a uint64 with three delta-swaps (Hacker's Delight §7-3), and
regrouping back: no unpackbits.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from ..channel import ProtocolError
from ..prg import PRG
from .baseot import baseot_cost, baseot_recv_random, baseot_send_random
from .cot import COTReceiver, COTSender, OTPair

if TYPE_CHECKING:  # pragma: no cover
    from ..channel import Channel

KAPPA = 128
CHUNK = 1 << 16  # COTs per chunk: 128 × 2^16 bits = 1 MiB per matrix


# ----------------------------------------------------------------------------------------------
# bit transpose
# ----------------------------------------------------------------------------------------------
_M1 = np.uint64(0x00AA00AA00AA00AA)
_M2 = np.uint64(0x0000CCCC0000CCCC)
_M3 = np.uint64(0x00000000F0F0F0F0)
_S7, _S14, _S28 = np.uint64(7), np.uint64(14), np.uint64(28)


def _transpose8x8_inplace(x: np.ndarray) -> None:
    """Transpose the 8 × 8 bit matrix held in each uint64 (byte r = row r, bit c = column c)."""
    t = x >> _S7
    t ^= x
    t &= _M1
    x ^= t
    x ^= t << _S7
    t = x >> _S14
    t ^= x
    t &= _M2
    x ^= t
    x ^= t << _S14
    t = x >> _S28
    t ^= x
    t &= _M3
    x ^= t
    x ^= t << _S28


def transpose_bits(mat: np.ndarray) -> np.ndarray:
    """(128, m/8) uint8 bit matrix (bit i of column j is bit i%8 of byte mat[j, i//8]) →
    (m, 2) uint64 blocks whose bit j (little-endian over the 16 bytes) is that bit."""
    rows, nb = mat.shape
    if rows != KAPPA:
        raise ValueError("transpose_bits expects 128 rows")
    # (jb, jr, ib) -> (jb, ib, jr): each (jb, ib) becomes 8 bytes = one 8x8 block in a uint64
    blocks = np.ascontiguousarray(mat.reshape(16, 8, nb).transpose(0, 2, 1)).view(np.uint64)
    blocks = blocks.reshape(16, nb)
    _transpose8x8_inplace(blocks)
    # byte ir of block (jb, ib) is row i = 8·ib + ir, byte jb of the output row
    out = np.ascontiguousarray(blocks.view(np.uint8).reshape(16, nb, 8).transpose(1, 2, 0))
    return out.reshape(nb * 8, 16).view(np.uint64)


# ----------------------------------------------------------------------------------------------
# column PRGs
# ----------------------------------------------------------------------------------------------
class _ColumnPRG:
    """128 AES-CTR streams, one per column seed; writes the next bytes of each into a matrix."""

    def __init__(self, seeds: np.ndarray):
        seeds = np.ascontiguousarray(seeds, dtype=np.uint64)
        self._enc = [
            Cipher(algorithms.AES(seeds[j].tobytes()), modes.CTR(b"\x00" * 16)).encryptor()
            for j in range(seeds.shape[0])
        ]
        self._zeros = bytes(CHUNK // 8)
        self._tmp = bytearray(CHUNK // 8 + 15)

    def fill(self, out: np.ndarray) -> np.ndarray:
        """out: (128, nb) uint8, nb <= CHUNK/8."""
        nb = out.shape[1]
        zeros = memoryview(self._zeros)[:nb]
        tmp = np.frombuffer(self._tmp, dtype=np.uint8)
        for j, enc in enumerate(self._enc):
            enc.update_into(zeros, self._tmp)
            out[j] = tmp[:nb]
        return out


def _pad64(n: int) -> int:
    return (n + 63) // 64 * 64


def _chunks(m: int):
    for s in range(0, m, CHUNK):
        yield s, min(m, s + CHUNK)


class IKNPSender(COTSender):
    """COT sender: ``get(n) -> q`` with the receiver's t = q ⊕ b·Δ."""

    def __init__(self, ch: "Channel", delta: np.ndarray, seeds: np.ndarray):
        self.ch = ch
        self.delta = np.asarray(delta, dtype=np.uint64).copy()
        self._s = _delta_bits(self.delta)
        self._prg = _ColumnPRG(seeds)

    def get(self, n: int) -> np.ndarray:
        m = _pad64(n)
        out = np.empty((m, 2), dtype=np.uint64)
        for a, b in _chunks(m):
            nb = (b - a) // 8
            u = self.ch.recv_array(np.uint8, (KAPPA, nb))
            q = self._prg.fill(np.empty((KAPPA, nb), dtype=np.uint8))
            q[self._s] ^= u[self._s]
            out[a:b] = transpose_bits(q)
        return out[:n]


class IKNPReceiver(COTReceiver):
    """COT receiver: ``get(n) -> (b, t)``."""

    def __init__(self, ch: "Channel", seeds0: np.ndarray, seeds1: np.ndarray):
        self.ch = ch
        self._g0 = _ColumnPRG(seeds0)
        self._g1 = _ColumnPRG(seeds1)
        self._prg = PRG()

    def get(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        m = _pad64(n)
        out = np.empty((m, 2), dtype=np.uint64)
        bits = np.empty(m, dtype=np.uint8)
        for a, b in _chunks(m):
            nb = (b - a) // 8
            r = self._prg.bits(b - a)
            bits[a:b] = r
            rp = np.packbits(r, bitorder="little")
            t = self._g0.fill(np.empty((KAPPA, nb), dtype=np.uint8))
            u = self._g1.fill(np.empty((KAPPA, nb), dtype=np.uint8))
            u ^= t
            u ^= rp[None, :]
            self.ch.send(u)
            out[a:b] = transpose_bits(t)
        return bits[:n], out[:n]


def _delta_bits(delta: np.ndarray) -> np.ndarray:
    """Δ as 128 bool (bit j of the little-endian 16 bytes)."""
    return np.unpackbits(np.asarray(delta, dtype=np.uint64).view(np.uint8), bitorder="little").astype(bool)


def iknp_sender_setup(ch: "Channel", delta: np.ndarray | None = None) -> IKNPSender:
    """S side of one direction: base OTs as the receiver with choice bits Δ (LSB forced to 1)."""
    if delta is None:
        delta = PRG().blocks(1)[0]
    delta = np.asarray(delta, dtype=np.uint64).copy()
    delta[0] |= np.uint64(1)
    seeds = baseot_recv_random(ch, _delta_bits(delta).astype(np.uint8))
    return IKNPSender(ch, delta, seeds)


def iknp_receiver_setup(ch: "Channel") -> IKNPReceiver:
    """R side of one direction: base OTs as the sender with random seeds."""
    k0, k1 = baseot_send_random(ch, KAPPA)
    return IKNPReceiver(ch, k0, k1)


def make_iknp_pair(ch: "Channel") -> OTPair:
    """Both directions: first party 0 is the COT sender, then party 1.

    Cost per party: two base-OT batches (one in each role): sends 32 + 4224 bytes, receives the same.
    """
    if ch.party == 0:
        s = iknp_sender_setup(ch)
        r = iknp_receiver_setup(ch)
    else:
        r = iknp_receiver_setup(ch)
        s = iknp_sender_setup(ch)
    return OTPair(s, r)


def iknp_setup_cost() -> dict[str, int]:
    """Payload bytes of one direction's setup: ``sender_sent`` (COT sender S → R) and
    ``receiver_sent`` (R → S)."""
    c = baseot_cost(KAPPA)
    return {"sender_sent": c["receiver_sent"], "receiver_sent": c["sender_sent"]}


def iknp_get_cost(n: int) -> dict[str, int]:
    """Payload bytes and messages of ``get(n)`` (only R → S)."""
    m = _pad64(n)
    return {"sender_sent": 0, "receiver_sent": 16 * m, "msgs": (m + CHUNK - 1) // CHUNK}


def ideal_cot(n: int, delta: np.ndarray, prg: PRG | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Plaintext twin: random (q, b, t = q ⊕ b·Δ)."""
    prg = prg or PRG()
    q = prg.blocks(n)
    b = prg.bits(n)
    t = q ^ (np.asarray(delta, dtype=np.uint64)[None, :] * b[:, None].astype(np.uint64))
    return q, b, t


__all__ = [
    "IKNPSender", "IKNPReceiver", "make_iknp_pair", "iknp_sender_setup", "iknp_receiver_setup",
    "iknp_setup_cost", "iknp_get_cost", "transpose_bits", "ideal_cot", "ProtocolError",
]

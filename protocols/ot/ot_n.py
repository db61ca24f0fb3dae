"""1-of-N oblivious transfer for small N = 2^m, built from m random COTs (DESIGN.md §4).

Construction (Naor–Pinkas style "1-of-N from log N 1-of-2", keys from random COT):

* Each instance consumes m random COTs of the direction sender → receiver.  From COT i the sender
  holds q_i and Δ, the receiver holds a random bit b_i and t_i = q_i ⊕ b_i·Δ.
  Per-bit keys: A_i = H(q_i), B_i = H(q_i ⊕ Δ); the receiver knows H(t_i), i.e. A_i if b_i = 0
  and B_i if b_i = 1, and nothing about the other one (correlation robustness of H).
* Random 1-of-N OT: for k in [N] let Y_k = ⊕_i (k_i ? B_i : A_i) (128 bits) and
  pad_k = H'(Y_k, tweak(instance, k)).  The receiver's random choice is b = Σ b_i 2^i and it
  computes pad_b from its H(t_i).  For k ≠ b, Y_k = Y_b ⊕ (XOR of at least one unknown
  A_i ⊕ B_i), so every other pad is an independent-looking hash (this is why the pads are a hash
  of the combined 128-bit keys and not a XOR of per-bit pads: XORed pads would satisfy
  pad_00 ⊕ pad_01 ⊕ pad_10 ⊕ pad_11 = 0 and leak XORs of table entries).
  Security argument: the offsets A_i ⊕ B_i are unknown, independent 128-bit hash outputs, so
  every Y_k with k ≠ b is the known Y_b plus a uniformly random unknown offset; with H modelled
  as a random permutation-based (tweakable) hash its outputs at these points are independent.
* Chosen choice c: the receiver sends d = c ⊕ b (m bits).  The sender sends, for every relative
  index k, table[k ⊕ d] ⊕ pad_k; the receiver reads position b = c ⊕ d and removes pad_b.

Cost per instance: m COTs; receiver → sender m bits; sender → receiver N·nbits bits; 1 round
trip (receiver's message first).  Both messages are bit-packed over the whole batch, so a batch of
M instances costs exactly ceil(M·m/8) + ceil(M·N·nbits/8) payload bytes.

H is the fixed-key-AES tweakable correlation-robust hash of ``protocols/ot/cot.py``.  Tweaks are
unique within a session: each party keeps a counter on its :class:`~protocols.context.MPC` that
advances identically on both sides (protocols are lock-step).

All work is vectorised over the batch and the N entries, in chunks of ~2 MiB.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..channel import ProtocolError
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from .. import native
from .cot import _FIXED_KEY

if TYPE_CHECKING:  # pragma: no cover
    from ..context import MPC

_CHUNK_BYTES = 1 << 21  # working set of the (instances, N, 2) uint64 key arrays per chunk
_PAD_DOMAIN = np.uint64(1 << 63)
_ECB = Cipher(algorithms.AES(_FIXED_KEY), modes.ECB())  # same permutation as cot.crhash  # pad hashes use tweaks with the top bit set, key hashes without


def next_tweak(mpc: "MPC", count: int) -> int:
    """Reserve ``count`` hash tweaks on this party's session counter (same on both sides)."""
    base = mpc.__dict__.get("_hash_tweak", 0)
    mpc.__dict__["_hash_tweak"] = base + int(count)
    return base


def hash_rows(x: np.ndarray, tweak) -> np.ndarray:
    """``crhash`` with an explicit per-row tweak: (M, 2) uint64 blocks, (M,) uint64 tweaks (or an
    int: the tweaks are then tweak, tweak+1, ...).  ``hash_rows(x, t)`` equals ``hash_rows(x, t)``.
    H(x) = π(σ(x)) ⊕ σ(x) with σ(xL, xR) = (xL ⊕ xR, xL ⊕ tweak), π fixed-key AES."""
    x = np.ascontiguousarray(x, dtype=np.uint64)
    h = native.tccr(x, _FIXED_KEY, tweak=tweak if isinstance(tweak, np.ndarray) else int(tweak))
    if h is not None:
        return h
    M = x.shape[0]
    if isinstance(tweak, (int, np.integer)):
        tweak = np.arange(int(tweak), int(tweak) + M, dtype=np.uint64)
    s = np.empty((M, 2), dtype=np.uint64)
    np.bitwise_xor(x[:, 0], x[:, 1], out=s[:, 0])
    np.bitwise_xor(x[:, 0], tweak.astype(np.uint64, copy=False), out=s[:, 1])
    out = np.empty((M * 16 + 16,), dtype=np.uint8)
    _ECB.encryptor().update_into(memoryview(s).cast("B"), out)
    h = out[: M * 16].view(np.uint64).reshape(M, 2)
    h ^= s
    return h


def _mask(nbits: int) -> np.uint64:
    return np.uint64((1 << nbits) - 1) if nbits < 64 else np.uint64(0xFFFFFFFFFFFFFFFF)


def _chunk(count: int, N: int) -> int:
    c = max(8, _CHUNK_BYTES // (16 * N))
    return c - c % 8  # keep every chunk's packed bit stream byte-aligned


def pack_values(v: np.ndarray, nbits: int) -> np.ndarray:
    """Pack non-negative integers (< 2^nbits) into a little-endian bit stream (uint8)."""
    v = np.ascontiguousarray(v).reshape(-1)
    if v.dtype != np.uint8 or nbits > 8:
        v = v.astype(np.uint64, copy=False)
    if nbits == 1:
        return np.packbits(v.astype(np.uint8), bitorder="little")
    if nbits == 8:
        return v.astype(np.uint8)
    if 8 % nbits == 0:  # 2 or 4 bits: fold k values into a byte without a bit expansion
        per = 8 // nbits
        pad = (-v.size) % per
        w = np.concatenate([v, np.zeros(pad, v.dtype)]) if pad else v
        w = w.astype(np.uint8).reshape(-1, per)
        out = w[:, 0].copy()
        for i in range(1, per):
            out |= w[:, i] << np.uint8(i * nbits)
        return out
    if v.dtype == np.uint8 and native.kernels is not None:  # 3, 5, 6, 7 bits in one pass
        out = np.empty((v.size * nbits + 7) // 8, dtype=np.uint8)
        native.kernels.pack_bytes(out, v, nbits)
        return out
    if v.dtype == np.uint8:  # 3, 5, 6, 7 bits: numpy's bit expansion of bytes, no 64-bit shifts
        bits = np.unpackbits(v[:, None], axis=1, count=nbits, bitorder="little")
        return np.packbits(bits.reshape(-1), bitorder="little")
    from .extensions import pack_fields  # wider entries: the field packer's stream is the same

    return pack_fields(v.astype(np.uint64, copy=False)[None, :], [nbits])


def unpack_values(b: np.ndarray, count: int, nbits: int) -> np.ndarray:
    """Inverse of :func:`pack_values`: ``count`` values as uint64."""
    need = (count * nbits + 7) // 8
    b = np.asarray(b, dtype=np.uint8).reshape(-1)
    if b.size != need:
        raise ProtocolError(f"packed stream has {b.size} bytes, {need} expected for {count}×{nbits} bits")
    if nbits == 1:
        return np.unpackbits(b, count=count, bitorder="little").astype(np.uint64)
    if nbits == 8:
        return b.astype(np.uint64)
    if 8 % nbits == 0:
        per = 8 // nbits
        m = np.uint8((1 << nbits) - 1)
        w = np.empty((b.size, per), dtype=np.uint8)
        for i in range(per):
            w[:, i] = (b >> np.uint8(i * nbits)) & m
        return w.reshape(-1)[:count].astype(np.uint64)
    from .extensions import unpack_fields

    return unpack_fields(b, count, [nbits])[0]


@dataclass
class RotatedTable:
    """The tables of a lookup on shares (``protocols/lut.py``), for :meth:`NOTSender.mask_table`:
    instance i at index j holds ``(table[(shift_i + j) mod N] | g_ij·2^gt_bit) ⊕ mask_i`` with
    ``g_ij = [gt_i > N − 1 − j]`` when ``gt`` is given (a comparison's lowest digit riding in
    the same OT) — a public table of byte entries rotated by the owner's share.  Calling it gives
    the numpy entries; with the compiled kernels and entries of at most 8 bits, ``mask_table``
    XORs them into the pads in one pass instead."""

    table: np.ndarray
    shift: np.ndarray
    mask: np.ndarray
    gt: np.ndarray | None = None
    gt_bit: int = 0

    def __call__(self, lo: int, hi: int, idx: np.ndarray) -> np.ndarray:
        N = self.table.size
        v = self.table[(self.shift[lo:hi, None] + idx.astype(np.int64)) & (N - 1)].astype(np.uint64)
        if self.gt is not None:
            g = self.gt[lo:hi, None] > (N - 1) - idx.astype(np.int64)
            v |= g.astype(np.uint64) << np.uint64(self.gt_bit)
        return v ^ self.mask[lo:hi, None].astype(np.uint64)

    def __post_init__(self) -> None:
        # the compiled kernel takes byte entries (and a gt bit inside the byte): decided once
        fits = self.table.max(initial=0) <= 255 and (self.gt is None or self.gt_bit <= 7)
        self._bytes = np.ascontiguousarray(self.table, dtype=np.uint8) if fits else None

    def xor_into(self, pads: np.ndarray, lo: int, hi: int, d: np.ndarray) -> bool:
        """pads[i, k] ^= entry (lo + i, k ⊕ d_i) on the compiled kernel; False when it cannot."""
        if native.kernels is None or pads.dtype != np.uint8 or self._bytes is None:
            return False
        ks = (np.ascontiguousarray(self.shift[lo:hi], dtype=np.int64), np.ascontiguousarray(d, dtype=np.int64),
              np.ascontiguousarray(self.mask[lo:hi], dtype=np.uint8))
        gt = np.ascontiguousarray(self.gt[lo:hi], dtype=np.int64) if self.gt is not None else np.zeros(0, np.int64)
        native.kernels.rot_table(pads, self._bytes, *ks, gt, int(self.gt_bit))
        return True


class NOTSender:
    """Sender side of ``count`` 1-of-2^m OTs.  Takes its COTs at construction (lock-step point)."""

    def __init__(self, mpc: "MPC", count: int, m: int):
        if not 1 <= m <= 8:
            raise ValueError(f"1-of-N OT: m={m} must be in 1..8")
        self.count, self.m, self.N = int(count), m, 1 << m
        self.delta = mpc.ot.sender.delta
        self.q = mpc.ot.sender.get(self.count * m).reshape(self.count, m, 2) if self.count else np.zeros((0, m, 2), np.uint64)
        base = next_tweak(mpc, self.count * (m + self.N))
        self.key_tweak = base
        self.pad_tweak = base + self.count * m

    def _pads(self, lo: int, hi: int, nbits: int) -> np.ndarray:
        """Pads of instances lo..hi by *relative* index k: (hi-lo, N), uint8 if nbits ≤ 8 else uint64."""
        c, m, N = hi - lo, self.m, self.N
        q = self.q[lo:hi].reshape(-1, 2)
        tw = self.key_tweak + lo * m
        A = hash_rows(q, tw).reshape(c, m, 2)
        B = hash_rows(q ^ self.delta[None, :], tw).reshape(c, m, 2)
        fused = native.ot_pads(A, B, _FIXED_KEY, self.pad_tweak + lo * N, nbits)
        if fused is not None:
            return fused
        # numpy: key hashes laid out (m, c, 2) so that every row used below is contiguous
        A = A.transpose(1, 0, 2).copy()
        B = B.transpose(1, 0, 2).copy()
        # Y[k] = XOR_i (k_i ? B_i : A_i) for k = Σ k_i 2^i, built in place by doubling: (N, c, 2)
        Y = np.empty((N, c, 2), dtype=np.uint64)
        Y[0] = A[0]
        Y[1] = B[0]
        for i in range(1, m):
            h = 1 << i
            np.bitwise_xor(Y[:h], B[i][None], out=Y[h : 2 * h])
            Y[:h] ^= A[i][None]
        # tweak of (instance j, index k) = pad_tweak + j·N + k, in the pad domain
        tw = np.arange(lo, hi, dtype=np.uint64)[None, :] * np.uint64(N) + (
            np.arange(N, dtype=np.uint64)[:, None] + np.uint64(self.pad_tweak))
        tw |= _PAD_DOMAIN
        h = hash_rows(Y.reshape(-1, 2), tw.reshape(-1))
        p = h[:, 0] & _mask(nbits)
        return (p.astype(np.uint8) if nbits <= 8 else p).reshape(N, c).T


    def random_pads(self, nbits: int) -> np.ndarray:
        """Random 1-of-N OT (no communication): all N pads per instance, (count, N) (uint8 if
        nbits ≤ 8, else uint64)."""
        out = np.empty((self.count, self.N), dtype=np.uint8 if nbits <= 8 else np.uint64)
        step = _chunk(self.count, self.N)
        for lo in range(0, self.count, step):
            hi = min(self.count, lo + step)
            out[lo:hi] = self._pads(lo, hi, nbits)
        return out

    def mask_table(self, table, d: np.ndarray, nbits: int) -> np.ndarray:
        """Chosen-choice step.  ``d`` (count,) is the receiver's derandomisation c ⊕ b.
        ``table`` is either a (count, N) array of values < 2^nbits, or a function
        ``table(lo, hi, idx)`` returning the entries of instances lo..hi at indices ``idx``
        ((hi-lo, N) int array) — so large tables can be built chunk by chunk, already permuted —
        such as a :class:`RotatedTable`, which the compiled kernel builds into the pads directly.
        Returns the packed masked table to send (uint8)."""
        if d.shape != (self.count,):
            raise ProtocolError(f"1-of-N OT: derandomisation shape {d.shape}, expected {(self.count,)}")
        if not callable(table):
            arr = np.asarray(table)
            if arr.shape != (self.count, self.N):
                raise ProtocolError(f"1-of-N OT: table shape {arr.shape}, expected {(self.count, self.N)}")
            arr = arr.astype(np.uint8 if nbits <= 8 else np.uint64, copy=False)

            def table(lo, hi, idx):
                return np.take_along_axis(arr[lo:hi], idx, axis=1)

        ks = np.arange(self.N, dtype=np.uint8 if self.N <= 256 else np.int64)
        d = np.asarray(d).astype(ks.dtype)
        step = _chunk(self.count, self.N)
        parts = []
        for lo in range(0, self.count, step):
            hi = min(self.count, lo + step)
            pads = self._pads(lo, hi, nbits)
            fast = isinstance(table, RotatedTable) and nbits <= 8 and table.xor_into(pads, lo, hi, d[lo:hi])
            if not fast:
                idx = ks[None, :] ^ d[lo:hi, None]  # position k carries table[k ⊕ d]
                pads ^= table(lo, hi, idx).astype(pads.dtype, copy=False)
            parts.append(pack_values(pads, nbits))
        return np.concatenate(parts) if parts else np.zeros(0, np.uint8)


class NOTReceiver:
    """Receiver side of ``count`` 1-of-2^m OTs.  Takes its COTs at construction."""

    def __init__(self, mpc: "MPC", count: int, m: int):
        if not 1 <= m <= 8:
            raise ValueError(f"1-of-N OT: m={m} must be in 1..8")
        self.count, self.m, self.N = int(count), m, 1 << m
        if self.count:
            b, t = mpc.ot.receiver.get(self.count * m)
        else:
            b, t = np.zeros(0, np.uint8), np.zeros((0, 2), np.uint64)
        self.b_bits = b.reshape(self.count, m)
        self.t = t.reshape(self.count, m, 2)
        base = next_tweak(mpc, self.count * (m + self.N))
        self.key_tweak = base
        self.pad_tweak = base + self.count * m
        w = (np.uint64(1) << np.arange(m, dtype=np.uint64))
        self.b = (self.b_bits.astype(np.uint64) * w).sum(axis=1, dtype=np.uint64).astype(np.int64)

    def derandomise(self, choice: np.ndarray) -> np.ndarray:
        """d = choice ⊕ b, (count,) int64; send it with :func:`pack_values` (m bits each)."""
        choice = np.asarray(choice).astype(np.int64).reshape(-1)
        if choice.shape != (self.count,):
            raise ValueError(f"1-of-N OT: {choice.size} choices for {self.count} instances")
        if np.any((choice < 0) | (choice >= self.N)):
            raise ValueError(f"1-of-N OT: choices must be in [0, {self.N})")
        self.choice = choice
        return choice ^ self.b

    def my_pads(self, nbits: int) -> np.ndarray:
        """The pad of the receiver's random index b, (count,) uint64 (random-OT output)."""
        out = np.empty(self.count, dtype=np.uint64)
        step = max(8, _CHUNK_BYTES // (16 * self.m))
        m, N = self.m, self.N
        for lo in range(0, self.count, step):
            hi = min(self.count, lo + step)
            t = self.t[lo:hi].reshape(-1, 2)
            K = hash_rows(t, self.key_tweak + lo * m).reshape(hi - lo, m, 2)
            Y = K[:, 0].copy()  # XOR over the m keys: m slice passes beat a reduce along axis 1
            for i in range(1, m):
                Y ^= K[:, i]
            tw = _PAD_DOMAIN | (np.uint64(self.pad_tweak) + np.arange(lo, hi, dtype=np.uint64) * np.uint64(N) + self.b[lo:hi].astype(np.uint64))
            out[lo:hi] = hash_rows(Y, tw)[:, 0] & _mask(nbits)
        return out

    def unmask(self, packed: np.ndarray, nbits: int) -> np.ndarray:
        """Chosen-choice output: table[choice] for each instance, (count,) uint64.
        Reads only the receiver's own entry (position b) of every packed row."""
        need = (self.count * self.N * nbits + 7) // 8
        packed = np.asarray(packed, dtype=np.uint8).reshape(-1)
        if packed.size != need:
            raise ProtocolError(f"1-of-N OT: masked table has {packed.size} bytes, {need} expected")
        got = extract_values(packed, np.arange(self.count, dtype=np.int64) * self.N + self.b, nbits)
        return got ^ self.my_pads(nbits)


def extract_values(packed: np.ndarray, index: np.ndarray, nbits: int) -> np.ndarray:
    """Values number ``index`` (int64 array) of a :func:`pack_values` stream, as uint64."""
    index = np.asarray(index, dtype=np.int64)
    if 8 % nbits == 0:
        pos = index * nbits
        v = packed[pos >> 3] >> (pos & 7).astype(np.uint8)
        return (v & np.uint8((1 << nbits) - 1)).astype(np.uint64)
    out = np.zeros(index.shape, dtype=np.uint64)
    for i in range(nbits):
        pos = index * nbits + i
        bit = (packed[pos >> 3] >> (pos & 7).astype(np.uint8)) & np.uint8(1)
        out |= bit.astype(np.uint64) << np.uint64(i)
    return out


# ----------------------------------------------------------------------------------------------
# one-call protocols
# ----------------------------------------------------------------------------------------------
def ot_n_send(mpc: "MPC", table: np.ndarray, nbits: int) -> None:
    """Chosen-message chosen-choice 1-of-N OT, sender side.

    Inputs: ``table`` (M, N) uint64, N = 2^m ≤ 256, entries < 2^nbits (nbits ≤ 64).
    Output: none.  The peer calls :func:`ot_n_recv` with the same M, m, nbits.
    Rounds: 1 (waits for the receiver's m·M bits, then sends).  Traffic: receives
    ceil(M·m/8) B, sends ceil(M·N·nbits/8) B; consumes M·m COTs (this party → peer).
    """
    table = np.asarray(table)
    if table.ndim != 2 or table.shape[1] & (table.shape[1] - 1) or table.shape[1] < 2:
        raise ValueError(f"ot_n_send: table must be (M, N) with N a power of two ≥ 2, got {table.shape}")
    M, N = table.shape
    m = N.bit_length() - 1
    if not 1 <= nbits <= 64:
        raise ValueError(f"ot_n_send: nbits={nbits} outside 1..64")
    if nbits < 64 and np.any(np.asarray(table, np.uint64) >> np.uint64(nbits)):
        raise ValueError(f"ot_n_send: table entries must be < 2^{nbits}")
    s = NOTSender(mpc, M, m)
    packed = mpc.ch.recv_array(np.uint8, ((M * m + 7) // 8,))
    d = unpack_values(packed, M, m).astype(np.int64)
    mpc.ch.send(s.mask_table(table, d, nbits))


def ot_n_recv(mpc: "MPC", choice: np.ndarray, N: int, nbits: int) -> np.ndarray:
    """Chosen-choice 1-of-N OT, receiver side: returns table[i, choice[i]] as (M,) uint64.

    Rounds: 1.  Traffic: sends ceil(M·m/8) B, receives ceil(M·N·nbits/8) B.
    """
    if N < 2 or N & (N - 1):
        raise ValueError(f"ot_n_recv: N={N} must be a power of two ≥ 2")
    m = N.bit_length() - 1
    choice = np.asarray(choice).reshape(-1)
    r = NOTReceiver(mpc, choice.size, m)
    d = r.derandomise(choice)
    mpc.ch.send(pack_values(d.astype(np.uint64), m))
    packed = mpc.ch.recv_array(np.uint8, ((choice.size * N * nbits + 7) // 8,))
    return r.unmask(packed, nbits)


def rot_n_send(mpc: "MPC", count: int, N: int, nbits: int) -> np.ndarray:
    """Random 1-of-N OT, sender: (count, N) uint64 pads of nbits.  No communication, count·m COTs."""
    m = N.bit_length() - 1
    if N < 2 or N != 1 << m:
        raise ValueError(f"rot_n_send: N={N} must be a power of two ≥ 2")
    return NOTSender(mpc, count, m).random_pads(nbits).astype(np.uint64)


def rot_n_recv(mpc: "MPC", count: int, N: int, nbits: int) -> tuple[np.ndarray, np.ndarray]:
    """Random 1-of-N OT, receiver: (choice (count,) int64 uniform in [N), pad (count,) uint64)."""
    m = N.bit_length() - 1
    if N < 2 or N != 1 << m:
        raise ValueError(f"rot_n_recv: N={N} must be a power of two ≥ 2")
    r = NOTReceiver(mpc, count, m)
    return r.b.copy(), r.my_pads(nbits)


def ot_n_ideal(table: np.ndarray, choice: np.ndarray) -> np.ndarray:
    """Plaintext twin: table[i, choice[i]]."""
    return np.take_along_axis(np.asarray(table, np.uint64), np.asarray(choice, np.int64).reshape(-1, 1), axis=1)[:, 0]


def ot_n_cost(M: int, N: int, nbits: int) -> dict:
    """Analytic payload bytes (receiver → sender, sender → receiver), rounds and COTs."""
    m = N.bit_length() - 1
    return {"recv_to_send": (M * m + 7) // 8, "send_to_recv": (M * N * nbits + 7) // 8, "rounds": 1, "cots": M * m}

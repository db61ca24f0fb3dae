"""OTs derived from random COT: chosen-choice COT, random OT messages, arithmetic correlated OT.

Everything here consumes the random COTs of :mod:`protocols.ot.cot` (``q`` / ``Δ`` at the sender,
``b`` / ``t = q ⊕ b·Δ`` at the receiver) and adds at most one message per party.

* :func:`chosen_cot` — the receiver fixes its choice bits ``c``: it sends ``d = c ⊕ b`` (1 bit per
  COT, ``np.packbits``), the sender flips ``q ← q ⊕ d·Δ``.  Then ``t = q ⊕ c·Δ``.
* :func:`random_ot` — random OT messages ``m0 = H(q)``, ``m1 = H(q ⊕ Δ)``, receiver ``m_b = H(t)``
  (``H`` = this module's fixed-key-AES correlation-robust hash, 128-bit outputs).  No
  communication (random choice), or 1 bit per OT for chosen choice bits (:func:`chosen_random_ot`).
* :func:`acot` — *arithmetic* correlated OT in Z_{2^w}: the sender inputs correlations ``x``, the
  receiver choice bits ``c``; they obtain additive shares ``s_send + s_recv = c·x mod 2^w``.  The
  bit width ``w`` may differ per *field* (a row of OTs), so a Gilboa product sends only the low
  ``ℓ − i`` bits at bit position ``i``, and the corrections are packed bit-exactly
  (:func:`pack_fields`).  Several ``w``-bit values per OT (``k > 1``) share one COT.

The choice bits of an ACOT are *derandomised after the fact* so that one ACOT batch costs a
single simultaneous exchange (1 round) instead of receiver-then-sender (2 messages in sequence):
with random COT choice ``b`` the sender sends ``u = H(q) − H(q⊕Δ) + x`` while the receiver sends
``d = c ⊕ b`` *at the same time*.  The receiver's ``r1 = H(t) + b·u = H(q) + b·x``, the sender's
``r0 = H(q)``; since ``c·x = d·x + (1 − 2d)·b·x``::

    s_send = d·x − (1 − 2d)·r0          s_recv = (1 − 2d)·r1          (mod 2^w)

Traffic of one ACOT of ``n`` OTs with field widths ``w_f`` (``k`` values each):
receiver → sender ``ceil(F·n/8)`` bytes; sender → receiver ``packed_nbytes(n, k·widths)``
= ``ceil(n·k·Σw_f / 8)`` bytes (bit-exact, :func:`pack_fields`).

Ordering rule (so that silent-OT refills inside ``get`` line up on both ends): in every batch,
all COTs of the direction party 0 → party 1 are drawn first (party 0's ``sender.get``, party 1's
``receiver.get``), then those of direction 1 → 0.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from math import gcd
from typing import Sequence

import numpy as np
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from .. import native
from ..channel import ProtocolError


def _mask(w: int) -> np.uint64:
    return np.uint64(0xFFFFFFFFFFFFFFFF) if w >= 64 else np.uint64((1 << w) - 1)


# ----------------------------------------------------------------------------------------------
# bit packing
# ----------------------------------------------------------------------------------------------
def pack_bits(bits: np.ndarray) -> np.ndarray:
    """{0,1} uint8 array -> ceil(n/8) bytes (little bit order)."""
    return np.packbits(np.asarray(bits, dtype=np.uint8).reshape(-1), bitorder="little")


def unpack_bits(buf: np.ndarray, n: int) -> np.ndarray:
    buf = np.asarray(buf, dtype=np.uint8).reshape(-1)
    if buf.size != (n + 7) // 8:
        raise ProtocolError(f"expected {(n + 7) // 8} bytes of packed bits for {n} bits, got {buf.size}")
    return np.unpackbits(buf, count=n, bitorder="little")


def _group(L: int) -> int:
    """Records per group so that a group is a whole number of bytes."""
    return 8 // gcd(L, 8) if L else 1


def packed_nbytes(n: int, widths: Sequence[int]) -> int:
    """Bytes of :func:`pack_fields` for ``n`` records of fields with the given bit widths."""
    L = int(sum(widths))
    return (n * L + 7) // 8


def pack_fields(fields: np.ndarray, widths: Sequence[int], k: int = 1) -> np.ndarray:
    """Pack F rows of n uint64 values, row f keeping its low ``widths[f]`` bits, bit-exactly.

    Layout: record j (one per column) is the concatenation of ``fields[0, j] … fields[F-1, j]``
    (``Σ widths`` = L bits); records follow each other in one little-endian bit stream, so the
    result is exactly ``ceil(n·L/8)`` bytes.  Internally g = 8/gcd(L, 8) records form a group of
    whole bytes; the hot loop runs over the g·F field slots (never over elements).
    ``k`` > 1: ``fields`` is (F/k, n, k), field f = g·k + i of record j being ``fields[g, j, i]``
    (a row-broadcast COT's k values side by side): the same stream without a transposed copy.
    """
    fields = np.asarray(fields, dtype=np.uint64)
    widths = [int(w) for w in widths]
    F = len(widths)
    if k > 1:
        if fields.ndim != 3 or fields.shape[0] * k != F or fields.shape[2] != k:
            raise ValueError(f"pack_fields: k={k} needs ({F // k}, n, {k}) values for {F} widths, got {fields.shape}")
        n = fields.shape[1]
    else:
        if fields.ndim != 2 or fields.shape[0] != F:
            raise ValueError(f"pack_fields: one width per field row is needed ({F} widths, values {fields.shape})")
        n = fields.shape[1]
    if any(not 0 <= w <= 64 for w in widths):
        raise ValueError("pack_fields: widths must be in 0..64")
    L = sum(widths)
    if n == 0 or L == 0:
        return np.zeros(0, dtype=np.uint8)
    if native.kernels is not None:  # the same stream in one pass (fast for many fields)
        words = np.empty(-(-n * L // 64), dtype=np.uint64)
        native.kernels.pack_fields(words, np.ascontiguousarray(fields), np.asarray(widths, dtype=np.uint8), n, k)
        return words.view(np.uint8)[: (n * L + 7) // 8]
    if k > 1:
        fields = fields.transpose(0, 2, 1).reshape(F, n)
    g = _group(L)
    ng = -(-n // g)
    gbits = g * L
    W = -(-gbits // 64)
    out = np.zeros((ng, W), dtype=np.uint64)
    if ng * g != n:
        pad = np.zeros((F, ng * g), dtype=np.uint64)
        pad[:, :n] = fields
        fields = pad
    grid = fields.reshape(F, ng, g)
    off = 0
    for s in range(g):
        for f in range(F):
            w = widths[f]
            if w == 0:
                continue
            v = grid[f, :, s] & _mask(w)
            word, sh = divmod(off, 64)
            if sh == 0:
                out[:, word] |= v
            else:
                out[:, word] |= v << np.uint64(sh)
                if sh + w > 64:
                    out[:, word + 1] |= v >> np.uint64(64 - sh)
            off += w
    gbytes = gbits // 8
    raw = out.view(np.uint8).reshape(ng, W * 8)
    raw = raw.reshape(-1) if gbytes == W * 8 else raw[:, :gbytes].reshape(-1)  # (one copy at most)
    return raw[: (n * L + 7) // 8]


def unpack_fields(buf: np.ndarray, n: int, widths: Sequence[int], k: int = 1) -> np.ndarray:
    """Inverse of :func:`pack_fields`: bytes -> (F, n) uint64, or (F/k, n, k) with ``k`` > 1.
    Checks the byte count."""
    widths = [int(w) for w in widths]
    F = len(widths)
    if k < 1 or F % k:
        raise ValueError(f"unpack_fields: k={k} must divide the {F} fields")
    if k == 1:
        return _unpack_fields_flat(buf, n, widths, 1)
    if native.kernels is not None:  # the kernel writes the (F/k, n, k) layout directly
        return _unpack_fields_flat(buf, n, widths, k).reshape(F // k, n, k)
    return _unpack_fields_flat(buf, n, widths, 1).reshape(F // k, k, n).transpose(0, 2, 1)


def _unpack_fields_flat(buf: np.ndarray, n: int, widths: list[int], k: int) -> np.ndarray:
    """The stream into the kernel's layout for ``k`` (flat (F, n) order when k == 1)."""
    F = len(widths)
    L = sum(widths)
    buf = np.asarray(buf, dtype=np.uint8).reshape(-1)
    need = (n * L + 7) // 8
    if buf.size != need:
        raise ProtocolError(f"expected {need} bytes of packed fields ({n} records of {L} bits), got {buf.size}")
    if n == 0 or L == 0:
        return np.zeros((F, n), dtype=np.uint64)
    if native.kernels is not None:
        words = np.zeros(-(-n * L // 64), dtype=np.uint64)
        words.view(np.uint8)[:need] = buf
        res = np.empty((F, n), dtype=np.uint64)
        native.kernels.unpack_fields(res, words, np.asarray(widths, dtype=np.uint8), n, k)
        return res
    g = _group(L)
    ng = -(-n // g)
    gbytes = g * L // 8
    W = -(-g * L // 64)
    raw = np.zeros((ng, W * 8), dtype=np.uint8)
    if ng * gbytes == need:
        raw[:, :gbytes] = buf.reshape(ng, gbytes)
    else:
        flat = np.zeros(ng * gbytes, dtype=np.uint8)
        flat[:need] = buf
        raw[:, :gbytes] = flat.reshape(ng, gbytes)
    words = raw.view(np.uint64)
    res = np.empty((F, ng * g), dtype=np.uint64)
    grid = res.reshape(F, ng, g)
    off = 0
    for s in range(g):
        for f in range(F):
            w = widths[f]
            dst = grid[f, :, s]
            if w == 0:
                dst[...] = 0
                continue
            word, sh = divmod(off, 64)
            if sh:
                np.right_shift(words[:, word], np.uint64(sh), out=dst)
                if sh + w > 64:
                    dst |= words[:, word + 1] << np.uint64(64 - sh)
            else:
                dst[...] = words[:, word]
            dst &= _mask(w)
            off += w
    return res if ng * g == n else res[:, :n]


COT_SCOPE = "cot"
"""Cost-scope name around every COT draw, so callers can tell the OT engine's traffic (IKNP
extension, Ferret refills) from the kernels' own payload (``ch.records`` entries ending in it)."""


def _cot_send(mpc, n: int) -> np.ndarray:
    with mpc.ch.scope(COT_SCOPE):
        return mpc.ot.sender.get(n)


def _cot_recv(mpc, n: int):
    with mpc.ch.scope(COT_SCOPE):
        return mpc.ot.receiver.get(n)


def _tweak(mpc, direction: int, n: int) -> int:
    """Running hash-tweak counter per direction (both ends advance it identically)."""
    ctr = mpc.__dict__.setdefault("_ext_tweak", [0, 0])
    t = ctr[direction]
    ctr[direction] = t + n
    return t


# Fixed-key AES for the correlation-robust hash of this module (domain-separated from
# ``cot.crhash`` by its own key).  H(x) = π(σ(x)) ⊕ σ(x) with σ(xL, xR) = (xL ⊕ xR, xL ⊕ tweak_i)
# (Guo et al. 2020), computed in 1 MiB chunks with ``update_into`` into reused buffers: ~20× faster
# than building whole-array byte strings.
_HKEY = bytes(range(16, 32))
_hcipher = Cipher(algorithms.AES(_HKEY), modes.ECB())
_HCHUNK = 1 << 16  # blocks per AES call (1 MiB)


def _hash_words(blocks: np.ndarray, k: int, tweak: int, delta: np.ndarray | None = None) -> np.ndarray:
    """k 64-bit hash words per block: H(blocks ⊕ delta) as (n, k) uint64.

    Word pair j comes from the tweak ``tweak + i + j·2^56`` for block i, so expansions of one block
    and hashes of different blocks never share a tweak.  All pairs of a chunk of blocks go through
    one AES call (a row-broadcast COT expands one block into hundreds of words).
    """
    blocks = np.asarray(blocks, dtype=np.uint64)
    n = blocks.shape[0]
    if n and k:
        h = native.tccr(blocks, _HKEY, k=k, tweak=tweak, delta=delta)
        if h is not None:
            return h
    out = np.empty((n, k), dtype=np.uint64)
    if n == 0 or k == 0:
        return out
    P = (k + 1) // 2
    enc = _hcipher.encryptor()
    rows = max(1, _HCHUNK // P)
    m0 = min(rows, n)
    jt = np.arange(P, dtype=np.uint64) << np.uint64(56)
    ar = np.arange(m0, dtype=np.uint64)[:, None]
    s = np.empty((m0, P, 2), dtype=np.uint64)
    a = np.empty(m0 * P * 16 + 15, dtype=np.uint8)
    xs_buf = np.empty((m0, 2), dtype=np.uint64) if delta is not None else None
    for st in range(0, n, rows):
        m = min(rows, n - st)
        xs = blocks[st : st + m]
        if delta is not None:
            xs = np.bitwise_xor(xs, delta[None, :], out=xs_buf[:m])
        sm = s[:m]
        np.bitwise_xor(xs[:, 0], xs[:, 1], out=sm[:, 0, 0])
        if P > 1:
            sm[:, 1:, 0] = sm[:, :1, 0]
        np.add(ar[:m], jt + np.uint64((tweak + st) & 0xFFFFFFFFFFFFFFFF), out=sm[:, :, 1])
        sm[:, :, 1] ^= xs[:, :1]
        enc.update_into(memoryview(sm).cast("B"), a[: m * P * 16 + 15])
        e = a[: m * P * 16].view(np.uint64).reshape(m, P, 2)
        if k == 2 * P:
            np.bitwise_xor(e, sm, out=out[st : st + m].reshape(m, P, 2))
        else:
            np.bitwise_xor(e, sm, out=sm)
            out[st : st + m] = sm.reshape(m, 2 * P)[:, :k]
    return out


def chosen_cot(mpc, sender: int, c: np.ndarray | None = None, n: int | None = None):
    """Chosen-choice COT: the receiver (party ``1 - sender``) fixes its choice bits.

    Sender: ``chosen_cot(mpc, sender, n=n) -> (q (n,2) uint64, delta (2,))``;
    receiver: ``chosen_cot(mpc, sender, c=c) -> t (n,2)`` with ``t = q ⊕ c·Δ``.
    Rounds: 1 message receiver → sender.  Traffic: ``ceil(n/8)`` bytes.
    """
    if mpc.party == sender:
        if n is None:
            raise ValueError("chosen_cot: the sender passes n")
        q = _cot_send(mpc, n) if n else np.zeros((0, 2), np.uint64)
        d = unpack_bits(mpc.ch.recv_array(np.uint8, ((n + 7) // 8,)), n)
        q = q ^ (mpc.ot.sender.delta[None, :] * d[:, None].astype(np.uint64))
        return q, mpc.ot.sender.delta
    c = np.asarray(c, dtype=np.uint8).reshape(-1)
    n = c.size
    b, t = _cot_recv(mpc, n) if n else (np.zeros(0, np.uint8), np.zeros((0, 2), np.uint64))
    mpc.ch.send(pack_bits(c ^ b))
    return t


def random_ot(mpc, sender: int, n: int):
    """Random OT messages (128-bit) from COT via the correlation-robust hash, no communication.

    Sender gets ``(m0, m1)`` (each (n,2) uint64) with ``m0 = H(q)``, ``m1 = H(q ⊕ Δ)``; the receiver
    gets ``(b, m_b)`` with its random COT choice bits ``b``.  Rounds 0, traffic 0.
    For chosen choice bits use :func:`chosen_random_ot` (1 bit per OT).
    """
    tw = _tweak(mpc, sender, n)
    if mpc.party == sender:
        q = _cot_send(mpc, n) if n else np.zeros((0, 2), np.uint64)
        return _hash_words(q, 2, tw), _hash_words(q, 2, tw, mpc.ot.sender.delta)
    b, t = _cot_recv(mpc, n) if n else (np.zeros(0, np.uint8), np.zeros((0, 2), np.uint64))
    return b, _hash_words(t, 2, tw)


def chosen_random_ot(mpc, sender: int, c: np.ndarray | None = None, n: int | None = None):
    """Random OT messages with the receiver's chosen choice bits (1 bit per OT, 1 message).

    Sender: ``(m0, m1)``; receiver: ``m_c``.
    """
    if mpc.party == sender:
        q, delta = chosen_cot(mpc, sender, n=n)
        tw = _tweak(mpc, sender, q.shape[0])
        return _hash_words(q, 2, tw), _hash_words(q, 2, tw, delta)
    t = chosen_cot(mpc, sender, c=c)
    tw = _tweak(mpc, sender, t.shape[0])
    return _hash_words(t, 2, tw)


# ----------------------------------------------------------------------------------------------
# arithmetic correlated OT
# ----------------------------------------------------------------------------------------------
@dataclass
class ACOT:
    """One arithmetic-COT job inside a batch.

    ``sender``: the party that inputs correlations.  ``widths``: bit width per field (row);
    ``n``: OTs per field; ``k``: values per OT.  This party's input: ``x`` (sender; (F, n) or
    (F, n, k) uint64) or ``c`` (receiver; (F, n) {0,1} uint8).  After :func:`acot` runs, ``out``
    holds this party's share, shaped like ``x`` ((F, n) or (F, n, k)), row f mod 2^widths[f],
    with ``out_send + out_recv = c·x``.
    """

    sender: int
    widths: tuple[int, ...]
    n: int
    k: int = 1
    x: np.ndarray | None = None
    c: np.ndarray | None = None
    out: np.ndarray | None = field(default=None, repr=False)

    @property
    def count(self) -> int:
        return len(self.widths) * self.n

    def corr_widths(self) -> list[int]:
        return [w for w in self.widths for _ in range(self.k)]

    def recv_bytes(self) -> int:
        """Bytes the receiver sends (its derandomisation bits)."""
        return (self.count + 7) // 8

    def send_bytes(self) -> int:
        """Bytes the sender sends (its packed corrections)."""
        return packed_nbytes(self.n, self.corr_widths())


def acot_cost(jobs: Sequence[ACOT], party: int) -> int:
    """Payload bytes ``party`` sends in :func:`acot` for these jobs (same on the wire as measured)."""
    return sum(j.send_bytes() if j.sender == party else j.recv_bytes() for j in jobs)


def acot(mpc, jobs: Sequence[ACOT]) -> list[np.ndarray]:
    """Run a batch of arithmetic COT jobs in both directions with ONE exchange (1 round).

    Inputs/outputs: see :class:`ACOT`.  Traffic per party: ``acot_cost(jobs, party)`` bytes in
    one message (both parties send, then both receive).  Returns the ``out`` arrays.
    """
    jobs = list(jobs)
    msg, state = acot_begin(mpc, jobs)
    mpc.ch.send(msg)
    return acot_end(mpc, jobs, state, mpc.ch.recv_array(np.uint8, None))


def acot_begin(mpc, jobs: Sequence[ACOT]) -> tuple[np.ndarray, list[dict]]:
    """First half of :func:`acot`: draw the COTs and build this party's message (uint8), so a
    caller may send it inside another protocol's flight; :func:`acot_end` finishes with the
    peer's message."""
    me = mpc.party
    # --- draw COTs: direction 0->1 first, then 1->0 ----------------------------------------
    state: list[dict] = [dict() for _ in jobs]
    for direction in (0, 1):
        idx = [i for i, j in enumerate(jobs) if j.sender == direction and j.count]
        total = sum(jobs[i].count for i in idx)
        if not total:
            continue
        if me == direction:
            q_all = _cot_send(mpc, total)
        else:
            b_all, t_all = _cot_recv(mpc, total)
        pos = 0
        for i in idx:
            m = jobs[i].count
            tw = _tweak(mpc, direction, m * ((jobs[i].k + 1) // 2))
            if me == direction:
                state[i]["q"] = q_all[pos : pos + m]
            else:
                state[i]["b"] = b_all[pos : pos + m]
                state[i]["t"] = t_all[pos : pos + m]
            state[i]["tw"] = tw
            pos += m
    # --- build this party's message -----------------------------------------------------------
    parts = []
    for i, j in enumerate(jobs):
        F, n, k = len(j.widths), j.n, j.k
        if not j.count:
            continue
        st = state[i]
        if j.sender == me:
            if j.x is None:
                raise ValueError("acot: the sender of a job passes x")
            x = np.asarray(j.x, dtype=np.uint64).reshape(F, n, k)
            if native.kernels is not None:  # the kernel's two passes read it: one copy of a broadcast x
                x = np.ascontiguousarray(x)
            masks = np.array([_mask(w) for w in j.widths], dtype=np.uint64)
            q = st["q"]
            delta = mpc.ot.sender.delta
            h0 = _hash_words(q, k, st["tw"]).reshape(F, n, k)
            u = _hash_words(q, k, st["tw"], delta).reshape(F, n, k)
            if not native.acot_fields(0, u, h0, x, None, None, masks):  # u = (h0 − h1 + x) & m
                np.subtract(h0, u, out=u)
                u += x
                u &= masks[:, None, None]
            st["r"] = h0
            st["x"] = x
            parts.append(pack_fields(u if k > 1 else u.reshape(F, n), j.corr_widths(), k=k))
        else:
            if j.c is None:
                raise ValueError("acot: the receiver of a job passes c")
            c = np.asarray(j.c, dtype=np.uint8).reshape(F, n)
            b = st["b"].reshape(F, n)
            st["h"] = _hash_words(st["t"], k, st["tw"]).reshape(F, n, k)
            parts.append(pack_bits(c ^ b))
    return (np.concatenate(parts) if parts else np.zeros(0, np.uint8)), state


def acot_end(mpc, jobs: Sequence[ACOT], state: list[dict], peer: np.ndarray) -> list[np.ndarray]:
    """Second half of :func:`acot`: check the peer's message and compute the outputs."""
    me = mpc.party
    expect = acot_cost(jobs, 1 - me)
    if peer.size != expect:
        raise ProtocolError(f"acot: peer sent {peer.size} bytes, expected {expect}")
    # --- finish ------------------------------------------------------------------------------
    pos = 0
    outs = []
    for i, j in enumerate(jobs):
        F, n, k = len(j.widths), j.n, j.k
        shape = (F, n, k) if k > 1 else (F, n)
        if not j.count:
            j.out = np.zeros(shape, dtype=np.uint64)
            outs.append(j.out)
            continue
        st = state[i]
        masks = np.array([_mask(w) for w in j.widths], dtype=np.uint64)
        if j.sender == me:
            nb = j.recv_bytes()
            d = unpack_bits(peer[pos : pos + nb], j.count).reshape(F, n, 1)
            pos += nb
            out = st["r"]
            if not native.acot_fields(1, out, None, st["x"], d, None, masks):
                # s_send = d·x − (1 − 2d)·r0 without branches: with dm = −d (all-ones or 0),
                # d·x = x & dm and (1 − 2d)·r0 = (r0 ⊕ dm) − dm (two's complement negation)
                dm = np.negative(d, dtype=np.uint64)
                np.bitwise_xor(out, dm, out=out)
                np.subtract(dm, out, out=out)
                out += st["x"] & dm
                out &= masks[:, None, None]
        else:
            nb = j.send_bytes()
            u = unpack_fields(peer[pos : pos + nb], n, j.corr_widths(), k=k).reshape(F, n, k)
            pos += nb
            b = st["b"].reshape(F, n, 1)
            d = np.asarray(j.c, dtype=np.uint8).reshape(F, n, 1) ^ b
            out = st["h"]
            if not native.acot_fields(2, out, None, u, d, b, masks):
                # r1 = H(t) + b·u;  s_recv = (1 − 2d)·r1 = (r1 ⊕ dm) − dm
                dm = np.negative(d, dtype=np.uint64)
                out += u & np.negative(b, dtype=np.uint64)
                out ^= dm
                out -= dm
                out &= masks[:, None, None]
        j.out = out.reshape(shape)
        outs.append(j.out)
    return outs


def acot_ideal(x: np.ndarray, c: np.ndarray, widths: Sequence[int]) -> np.ndarray:
    """Plaintext twin of one ACOT job: c·x mod 2^w per field."""
    x = np.asarray(x, dtype=np.uint64)
    c = np.asarray(c, dtype=np.uint64)
    masks = np.array([_mask(w) for w in widths], dtype=np.uint64)
    if x.ndim == 3:
        return (x * c[:, :, None]) & masks[:, None, None]
    return (x * c) & masks[:, None]

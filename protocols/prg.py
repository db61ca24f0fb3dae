"""Pseudo-random generation for shares, masks and keys: AES-128-CTR from ``cryptography``.

Never numpy's generators for anything secret.  A :class:`PRG` keeps its cipher object alive and
writes keystream with ``update_into`` straight into the output array (~8 GB/s here).

``common_prg(ch)`` gives both parties the same PRG without sending masks: each party draws a
16-byte seed from ``secrets`` and they exchange them; the common seed is the XOR of the two,
uniform as long as one party is honest (semi-honest model).  Cost: 1 message each way, 1 round,
16 bytes each way.
"""
from __future__ import annotations

import secrets
from typing import TYPE_CHECKING

import numpy as np
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

if TYPE_CHECKING:  # pragma: no cover
    from .channel import Channel

SEED_BYTES = 16
_CHUNK = 1 << 20  # keystream is produced in 1 MiB pieces to stay inside the cache


def random_seed() -> bytes:
    """A fresh 128-bit seed from the OS CSPRNG."""
    return secrets.token_bytes(SEED_BYTES)


class PRG:
    """AES-128-CTR keystream as numpy arrays.  Deterministic for a given seed."""

    def __init__(self, seed: bytes | None = None):
        if seed is None:
            seed = random_seed()
        if len(seed) != SEED_BYTES:
            raise ValueError(f"PRG seed must be {SEED_BYTES} bytes, got {len(seed)}")
        self._enc = Cipher(algorithms.AES(seed), modes.CTR(b"\x00" * 16)).encryptor()
        self._zeros = bytearray(_CHUNK)

    def bytes_into(self, out: np.ndarray) -> np.ndarray:
        """Fill ``out`` (any C-contiguous array) with keystream bytes; returns ``out``."""
        buf = out.reshape(-1).view(np.uint8)
        n = buf.size
        mv = memoryview(buf)
        pos = 0
        while pos < n:
            m = min(_CHUNK, n - pos)
            # update_into needs an output buffer of len(input) + block_size - 1 bytes (CTR writes
            # exactly len(input)): straight into ``out`` while 15 bytes of room follow, else via a
            # small bounce buffer for the tail
            if pos + m + 15 <= n:
                self._enc.update_into(memoryview(self._zeros)[:m], mv[pos : pos + m + 15])
            else:
                tail = min(m, 16)
                head = m - tail
                if head:
                    self._enc.update_into(memoryview(self._zeros)[:head], mv[pos : pos + head + 15])
                tmp = bytearray(tail + 15)
                self._enc.update_into(memoryview(self._zeros)[:tail], tmp)
                buf[pos + head : pos + m] = np.frombuffer(tmp, dtype=np.uint8, count=tail)
            pos += m
        return out

    def random_bytes(self, n: int) -> bytes:
        return self._enc.update(bytes(n))

    def uint64(self, shape, ell: int = 64) -> np.ndarray:
        """Uniform elements of Z_{2^ell} as uint64."""
        out = np.empty(shape, dtype=np.uint64)
        self.bytes_into(out)
        if ell < 64:
            out &= np.uint64((1 << ell) - 1)
        return out

    def bits(self, shape) -> np.ndarray:
        """Uniform bits as uint8 in {0, 1}."""
        out = np.empty(shape, dtype=np.uint8)
        self.bytes_into(out)
        out &= 1
        return out

    def blocks(self, n: int) -> np.ndarray:
        """n uniform 128-bit blocks as an (n, 2) uint64 array."""
        out = np.empty((n, 2), dtype=np.uint64)
        return self.bytes_into(out)

    def integers(self, high: int, shape) -> np.ndarray:
        """Uniform integers in [0, high) (high <= 2^32) by 64-bit multiply-shift; bias < 2^-32."""
        if not 0 < high <= (1 << 32):
            raise ValueError("high must be in 1..2^32")
        r = np.empty(shape, dtype=np.uint64)
        return words_below(self.bytes_into(r), high)


def words_below(words: np.ndarray, high: int) -> np.ndarray:
    """Keystream words → integers in [0, high) (high ≤ 2^32): the 64-bit multiply-shift of
    :meth:`PRG.integers` (bias < 2^-32), for callers that hold the words themselves."""
    return ((np.asarray(words, dtype=np.uint64) >> np.uint64(32)) * np.uint64(high)) >> np.uint64(32)


def keystream_blocks(seed: bytes, index: np.ndarray) -> np.ndarray:
    """Blocks ``index`` (uint64 array) of the keystream of ``PRG(seed)``, as (len, 2) uint64 words
    in stream order: CTR's block j is AES_seed(j) for the counter starting at 0, so any part of
    the stream is one ECB call over the big-endian counters (random access, e.g. a few rows of a
    long expansion)."""
    if len(seed) != SEED_BYTES:
        raise ValueError(f"PRG seed must be {SEED_BYTES} bytes, got {len(seed)}")
    idx = np.asarray(index, dtype=np.uint64).reshape(-1)
    ctr = np.zeros((idx.size, 2), dtype=">u8")
    ctr[:, 1] = idx
    enc = Cipher(algorithms.AES(seed), modes.ECB()).encryptor()
    out = np.empty((idx.size, 2), dtype=np.uint64)
    if idx.size:
        tmp = bytearray(idx.size * 16 + 15)
        enc.update_into(ctr.tobytes(), tmp)
        out.view(np.uint8).reshape(-1)[:] = np.frombuffer(tmp, dtype=np.uint8, count=idx.size * 16)
    return out


def common_prg(ch: "Channel") -> PRG:
    """Both parties obtain the same PRG (1 round, 16 bytes each way)."""
    mine = random_seed()
    theirs = ch.exchange_bytes(mine)
    if len(theirs) != SEED_BYTES:
        from .channel import ProtocolError

        raise ProtocolError(f"common_prg: peer sent a {len(theirs)}-byte seed, expected {SEED_BYTES}")
    seed = bytes(a ^ b for a, b in zip(mine, theirs))
    return PRG(seed)

"""Random correlated OT (COT) with a global Δ: the interface every OT consumer is written against.

A COT pair holds, for i in 0..n-1,
  sender:   q_i            (128-bit block, as a (n, 2) uint64 array)   and the global Δ (LSB 1)
  receiver: b_i, t_i       (choice bit uint8 in {0,1}, block)          with t_i = q_i ⊕ b_i·Δ
The receiver's choice bits are random; a chosen-choice COT costs one extra bit (see
``protocols/ot/extensions.py``).

Implementations (``make_cot``): ``ferret`` (primal-LPN silent OT, default), ``silent`` (dual-LPN
silent OT with an expand-accumulate code, ``protocols/ot/silent.py``: < 1 bit/COT including
bootstrap from 10^6 COTs), ``iknp`` (bootstrap/baseline),
and ``insecure-dealer`` (both sides expand one common seed: *no security at all*, for tests only).

Pairing: on a channel, :class:`OTPair` gives each party one sender and one receiver instance.
Party 0's sender talks to party 1's receiver and vice versa.  ``get(n)`` must be called in the
same order with the same ``n`` on both ends (protocols are lock-step); refills happen inside
``get`` and communicate over the channel at the same moment on both sides.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING

import numpy as np
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from .. import native
from ..prg import PRG, common_prg

if TYPE_CHECKING:  # pragma: no cover
    from ..channel import Channel

BLOCK = np.dtype((np.uint64, 2))


class COTSender(ABC):
    delta: np.ndarray  # (2,) uint64, LSB of delta[0] is 1

    @abstractmethod
    def get(self, n: int) -> np.ndarray:
        """Next n COTs: q as an (n, 2) uint64 array."""


class COTReceiver(ABC):
    @abstractmethod
    def get(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Next n COTs: (b as (n,) uint8 in {0,1}, t as (n, 2) uint64) with t = q ⊕ b·Δ."""


# ----------------------------------------------------------------------------------------------
# correlation-robust hash on blocks (fixed-key AES, Guo et al. 2020: H(x) = π(σ(x)) ⊕ σ(x))
# ----------------------------------------------------------------------------------------------
_FIXED_KEY = bytes(range(16))
_ecb = Cipher(algorithms.AES(_FIXED_KEY), modes.ECB())


def _aes_fixed(x: np.ndarray) -> np.ndarray:
    enc = _ecb.encryptor()
    buf = np.ascontiguousarray(x, dtype=np.uint64)
    out = np.empty_like(buf)
    raw = enc.update(buf.tobytes())
    out.reshape(-1)[:] = np.frombuffer(raw, dtype=np.uint64)
    return out


def crhash(x: np.ndarray, tweak: int = 0) -> np.ndarray:
    """Tweakable correlation-robust hash of (n, 2) uint64 blocks -> (n, 2) uint64 blocks.

    The tweak (e.g. a running OT index offset) is XORed into the high word of every block together
    with the row index, so equal inputs at different positions hash differently.
    """
    x = np.ascontiguousarray(x, dtype=np.uint64)
    h = native.tccr(x, _FIXED_KEY, tweak=tweak)
    if h is not None:
        return h
    n = x.shape[0]
    s = np.empty_like(x)
    # σ(xL, xR) = (xL ⊕ xR, xL): an orthomorphism
    np.bitwise_xor(x[:, 0], x[:, 1], out=s[:, 0])
    s[:, 1] = x[:, 0]
    s[:, 1] ^= np.arange(tweak, tweak + n, dtype=np.uint64)
    return _aes_fixed(s) ^ s


# ----------------------------------------------------------------------------------------------
# insecure dealer (tests only)
# ----------------------------------------------------------------------------------------------
class _DealerSender(COTSender):
    def __init__(self, prg: PRG):
        self._prg = prg
        self.delta = prg.blocks(1)[0].copy()
        self.delta[0] |= np.uint64(1)

    def get(self, n: int) -> np.ndarray:
        q = self._prg.blocks(n)
        self._prg.bits(n)  # keep both ends' streams aligned
        return q


class _DealerReceiver(COTReceiver):
    def __init__(self, prg: PRG):
        self._prg = prg
        self._delta = prg.blocks(1)[0].copy()
        self._delta[0] |= np.uint64(1)

    def get(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        q = self._prg.blocks(n)
        b = self._prg.bits(n)
        t = q ^ (self._delta[None, :] * b[:, None].astype(np.uint64))
        return b, t


class OTPair:
    """This party's COT sender (towards the peer) and COT receiver (from the peer)."""

    def __init__(self, sender: COTSender, receiver: COTReceiver):
        self.sender = sender
        self.receiver = receiver


def make_cot(ch: "Channel", kind: str = "ferret") -> OTPair:
    """Set up COT in both directions on ``ch``.  Both parties call this with the same ``kind``."""
    if kind == "insecure-dealer":
        # Both parties know everything: NOT SECURE.  Only for unit tests of higher protocols.
        seeds = [common_prg(ch), common_prg(ch)]
        s_prg, r_prg = (seeds[0], seeds[1]) if ch.party == 0 else (seeds[1], seeds[0])
        return OTPair(_DealerSender(s_prg), _DealerReceiver(r_prg))
    if kind == "iknp":
        from .iknp import make_iknp_pair

        return make_iknp_pair(ch)
    if kind == "ferret":
        from .ferret import make_ferret_pair

        return make_ferret_pair(ch)
    if kind == "silent":
        from .silent import make_silent_pair

        return make_silent_pair(ch)
    raise ValueError(f"unknown COT kind {kind!r}: choose silent, ferret, iknp or insecure-dealer")


class BufferedCOT:
    """Serves COTs from a produced buffer ``_buf[_pos:_end]``, calling ``_refill()`` (which sets
    ``_buf``, ``_pos``, ``_end``) when it runs dry: the engines produce a whole extension at a
    time, callers take any number."""

    def _take(self, n: int) -> np.ndarray:
        if n < 0:
            raise ValueError("n must be >= 0")
        out = np.empty((n, 2), dtype=np.uint64)
        got = 0
        while got < n:
            if self._pos == self._end:
                self._refill()
                continue
            m = min(n - got, self._end - self._pos)
            out[got : got + m] = self._buf[self._pos : self._pos + m]
            self._pos += m
            got += m
        return out

"""Silent correlated OT from *dual* regular-noise LPN with an expand-accumulate code (semi-honest).

Boyle–Couteau–Gilboa–Ishai–Kohl–Rindal–Scholl "silent OT" (CCS 2019) with the expand-accumulate
(EA) code of Boyle–Couteau–Gilboa–Ishai–Kohl–Resch–Scholl (CRYPTO 2022), and the half-tree
single-point COT of Guo–Yang–Wang–Zhang–Lin (Eurocrypt 2023).  Output: COTs with one global Δ
(LSB 1), the interface of :mod:`protocols.ot.cot`.

One *iteration* turns M = t·b base COTs (the sender's blocks normalised to LSB 0, so the
receiver's choice bit is the LSB of its block) into n_out = N/2 fresh COTs, N = t·2^b:

1. **t half-tree GGM trees (regular noise, one noise position per bin of 2^b).**  Tree τ uses base
   COTs (q_{l,τ}, t_{l,τ} = q ⊕ b_{l,τ}·Δ), l = 0..b−1.  Level 1 of the sender's tree is
   (q_{0,τ}, q_{0,τ} ⊕ Δ); a node x has children (H(x), x ⊕ H(x)) with the circular-correlation-
   robust hash H(x) = π(σ(x)) ⊕ σ(x) (π fixed-key AES-128, σ(xL, xR) = (xL ⊕ xR, xL)), so every
   level of every tree XORs to Δ.  For levels l = 2..b the sender sends c_{l,τ} = K0_{l,τ} ⊕ q_{l−1,τ}
   (K0 = XOR of all left children of that level); the receiver gets K_{b} = c ⊕ t = K0 ⊕ b·Δ,
   i.e. the XOR of the children on side b, which gives it the off-path child; the path goes to
   side 1 − b.  At level 1 the receiver simply holds t_{0,τ} = node b.  Leaves: the receiver
   knows all but the path leaf α_τ and sets v_α = XOR of its other leaves = w_α ⊕ Δ.  Result over
   all trees (tree-major, bins contiguous): sender w, receiver v, v ⊕ w = e·Δ with e regular of
   weight t.  One message, 16·t·(b−1) bytes (one block per level, none for level 1 or the leaves).
2. **Dual EA compression (local, public).**  acc = prefix-XOR of the length-N vector; output row i
   (i < n_out) = XOR of acc at ``w`` indices uniform in [0, N) drawn by AES-CTR from a fresh public
   seed per iteration (derived from a seed both parties fixed at setup).  Sender z = EA(w),
   receiver y = EA(v) = z ⊕ EA(e)·Δ; the choice bits EA(e) are pseudorandom by dual LPN.
3. **Normalisation** (free): the sender maps z → z ⊕ LSB(z)·Δ, so the receiver's choice bit is
   LSB(y) (Δ has LSB 1); as in :mod:`protocols.ot.ferret`.
4. **Re-bootstrap**: the first M outputs of every iteration are the next iteration's base (never
   served); the remaining n_out − M are served by ``get``.

Bootstrap: Chou–Orlandi base OT (128) + IKNP of pre.M COTs → one iteration of a small *bootstrap
level* ``pre`` whose first main.M outputs are the main base (the rest is served) → main
iterations, each re-bootstrapped from the previous one's first main.M outputs.

Parameters (``Config.extra['silent_params']``, default ``"ea11"``):

======  ====  ===  ==  ==  =========  =========  =====  ========================================
name    lvl   t    b   w   N=t·2^b    n_out=N/2  M=t·b  security (semi-honest)
======  ====  ===  ==  ==  =========  =========  =====  ========================================
ea11    main  400  13  11  3,276,800  1,638,400  5,200  128-bit (libOTe ExAcc11 estimate)
 ..     pre   176  7   40  22,528     11,264     1,232  128-bit (libOTe ExAcc40 estimate)
ea40    main  176  13  40  1,441,792  720,896    2,288  128-bit (libOTe ExAcc40 estimate)
toy     main  16   7   8   2,048      1,024      112    NONE (tests only)
 ..     pre   8    5   8   256        128        40     NONE
toy1    main  16   6   7   1,024      512        96     NONE (no pre level)
======  ====  ===  ==  ==  =========  =========  =====  ========================================

Why two codes: w = 40 makes every output row 40 random reads of a 23–52 MB vector (~8 ns each
here), so ``ea40`` alone reaches only ~2 M COT/s per party; ``ea11`` is 3× cheaper per row but
needs t = 400 trees, whose IKNP bootstrap (5,200 COTs, 83 KB) would exceed 1 bit/COT at 10^6;
bootstrapping ea11's base from a small ea40 instance (1,232 IKNP COTs) keeps both.

Security claim and its source.  libOTe (SilentOtExt, ``EAConfigure`` / ``getRegNoiseWeight``)
picks the noise weight from the linear-test bound for regular noise: a linear test along a dual
codeword of relative weight ≥ δ has bias ≤ (1 − 2δ)^t, so t = ⌈−λ / log2(1 − 2δ)⌉ rounded up to a
multiple of 8 (and ≥ 128) with code rate 1/2 (N = 2·n_out) and an *estimated* minimum-distance
ratio δ of the EA code: ExAcc7 δ = 0.05, ExAcc11 δ = 0.1, ExAcc21 δ = 0.1, ExAcc40 δ = 0.2.  For
λ = 128: ExAcc40 → t = 176, ExAcc11 → t = 400.  We use bins of 2^b (power of two, N ≥ libOTe's
N for the same n_out) and uniformly random expander positions from a public AES-CTR seed.
The pre level (N = 22,528) follows the same rule (the bound does not depend on N; libOTe
applies it to small instances too, with a floor of t ≥ 64 below N = 512).  This is the *linear-test* bound
only (it covers Gaussian elimination / ISD-style linear attacks heuristically, per BCGIKRS22);
newer libOTe versions replaced it by a more conservative model (EA codes at rate 1/5,
ExAcc40 with w = 41, pseudo-distance floors, a regular-noise factor) and later algebraic attacks on regular noise (Briaud–Øygarden, Eurocrypt
2023) lowered some published PCG estimates: re-check with a current estimator before relying on
exactly 128 bits.  ``ea11`` is the more conservative code with more noise.  The half-tree SPCOT
is secure for a circular-correlation-robust H (Guo et al. 2023, with the σ-based fixed-key AES
hash of Guo–Katz–Wang–Yu, S&P 2020) in the random-permutation model; semi-honest only.

Cost (payload, exact; :func:`traffic_for` walks the schedule):
  setup per direction: base OT (R → S 32 B, S → R 4,224 B) + 16 B each way per pair (public seed);
  first ``get``: IKNP of pre.M COTs (16·⌈pre.M/64⌉·64 B, R → S) and the pre iteration;
  every iteration of level L: one message S → R of 16·L.t·(L.b−1) bytes.
  ea11, one direction, 10^6 COTs from a fresh pair: 4,256 (base OT) + 20,480 (IKNP) + 16,896
  (pre) + 76,800 (main) = 118,432 B → 0.947 bit/COT including bootstrap; steady state 76,800 B
  per 1,633,200 served = 0.376 bit/COT.  ea40: 108,704 B → 0.870 bit/COT at 10^6; steady
  0.376 bit/COT.  Rounds: one one-way message per iteration (the receiver waits once).

Measured (2-core shared machine, n = 10^6 per direction from a fresh pair, both directions, medians
of 3; ``python -m bench.workloads.ot_bench --kind silent``): 0.948 bit/COT with bootstrap, 3.4 M
COT per CPU-second per party with bootstrap (4.3 M steady), wall 1.6–2.9 M COT/s (in-process /
two processes); Ferret b13 in the same runs: 8.19 bit/COT, 4.9 M/CPU-s (11 M steady).  The cost
is the EA gathers (w random 16-byte reads of a 52 MB vector per row, ~100 ns per row) and the
GGM expansion (2 leaves per output); Ferret's LPN reads a 7 MB base.

The plaintext twin is :func:`protocols.ot.iknp.ideal_cot`; ``tests/test_silent_ot.py`` checks the
half-tree and EA steps against straight-from-the-definition versions.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from .. import native
from ..config import get_config
from ..prg import PRG, common_prg
from .cot import BufferedCOT, COTReceiver, COTSender, OTPair
from .iknp import IKNPReceiver, IKNPSender, iknp_get_cost, iknp_receiver_setup, iknp_sender_setup, iknp_setup_cost

if TYPE_CHECKING:  # pragma: no cover
    from ..channel import Channel

_CHUNK = 1 << 15  # blocks per AES call in the tree expansion (512 KiB)
_EA_CHUNK = 1 << 12  # output rows per EA gather step
_SEGMENT_ROWS = 1 << 18  # output rows compressed per refill (4 MiB of blocks)
_KEY = b"party-halftree-H"  # fixed public key of π


@dataclass(frozen=True)
class Level:
    """One dual-LPN instance: t trees of depth b (N = t·2^b), EA expander weight w, n_out = N/2."""
    t: int  # noise weight = number of trees
    b: int  # tree depth; bins of 2^b
    w: int  # expander weight of the EA code

    @property
    def N(self) -> int:
        return self.t << self.b

    @property
    def n_out(self) -> int:
        return self.N // 2

    @property
    def m(self) -> int:
        """Base COTs consumed per iteration."""
        return self.t * self.b


@dataclass(frozen=True)
class SilentParams:
    name: str
    main: Level
    pre: Level | None  # bootstrap level (from IKNP) that yields main's first base, or None
    secure: bool

    def validate(self) -> None:
        for lv in (self.main, self.pre):
            if lv is not None and (lv.t < 1 or lv.b < 2 or lv.w < 1):
                raise ValueError(f"silent OT level {lv} is malformed")
        if self.main.n_out <= self.main.m:
            raise ValueError(f"silent OT parameters {self} do not expand")
        if self.pre is not None and self.pre.n_out < self.main.m:
            raise ValueError("bootstrap level must yield at least the main base")

    @property
    def served(self) -> int:
        """COTs served per main iteration."""
        return self.main.n_out - self.main.m


PARAMS: dict[str, SilentParams] = {
    "ea11": SilentParams("ea11", Level(400, 13, 11), Level(176, 7, 40), True),
    "ea40": SilentParams("ea40", Level(176, 13, 40), None, True),
    # tiny and NOT secure: tests of the machinery only
    "toy": SilentParams("toy", Level(16, 7, 8), Level(8, 5, 8), False),
    "toy1": SilentParams("toy1", Level(16, 6, 7), None, False),
}


def get_params(name: str | SilentParams | None = None) -> SilentParams:
    if isinstance(name, SilentParams):
        return name
    name = name or get_config().get("silent_params", "ea11")
    try:
        p = PARAMS[name]
    except KeyError:
        raise ValueError(f"unknown silent-OT parameter set {name!r}; choose one of {', '.join(PARAMS)}") from None
    p.validate()
    return p


def iteration_cost(p: Level) -> int:
    """Payload bytes of one iteration (sender → receiver)."""
    return 16 * p.t * (p.b - 1)


# ----------------------------------------------------------------------------------------------
# circular-correlation-robust hash and the half-tree expansion
# ----------------------------------------------------------------------------------------------
class _Workspace:
    """Per-party scratch (the sender and the receiver of one party run in one thread)."""

    def __init__(self):
        self.enc = Cipher(algorithms.AES(_KEY), modes.ECB()).encryptor()
        self.sig = np.empty((_CHUNK, 2), dtype=np.uint64)
        self.hbuf = bytearray(_CHUNK * 16 + 16)
        self.h = np.frombuffer(self.hbuf, dtype=np.uint64)
        self.bufs: dict[int, np.ndarray] = {}

    def buf(self, which: int, blocks: int) -> np.ndarray:
        a = self.bufs.get(which)
        if a is None or a.shape[0] < blocks:
            a = np.empty((blocks, 2), dtype=np.uint64)
            self.bufs[which] = a
        return a[:blocks]

    def hash_into(self, x: np.ndarray, out: np.ndarray) -> None:
        """out = H(x) = π(σ(x)) ⊕ σ(x) for (m, 2) blocks, m ≤ _CHUNK."""
        m = x.shape[0]
        s = self.sig[:m]
        np.bitwise_xor(x[:, 0], x[:, 1], out=s[:, 0])
        s[:, 1] = x[:, 0]
        self.enc.update_into(memoryview(s).cast("B"), self.hbuf)
        np.bitwise_xor(self.h[: 2 * m].reshape(m, 2), s, out=out)


_H0 = None  # H(0): children of an all-zero node are (H(0), H(0))


def _h_zero() -> np.ndarray:
    global _H0
    if _H0 is None:
        ws = _Workspace()
        o = np.empty((1, 2), dtype=np.uint64)
        ws.hash_into(np.zeros((1, 2), dtype=np.uint64), o)
        _H0 = o[0].copy()
    return _H0


def _expand(ws: _Workspace, src: np.ndarray, dst: np.ndarray, t: int) -> np.ndarray:
    """src (t·r, 2) tree-major level with r nodes per tree; dst (t·2r, 2): children of node j of
    tree τ at τ·2r + j (left, H(x)) and τ·2r + r + j (right, x ⊕ H(x)).  Returns K0 (t, 2): the
    per-tree XOR of the left children."""
    r = src.shape[0] // t
    s3 = src.reshape(t, r, 2)
    d4 = dst.reshape(t, 2, r, 2)
    k0 = np.empty((t, 2), dtype=np.uint64)
    g = max(1, _CHUNK // r)  # trees per chunk
    for a in range(0, t, g):
        e = min(t, a + g)
        if r <= _CHUNK:
            x = s3[a:e].reshape(-1, 2)
            left = d4[a:e, 0]
            tmp = ws.buf(9, x.shape[0])
            ws.hash_into(x, tmp)
            left[...] = tmp.reshape(e - a, r, 2)
            np.bitwise_xor(s3[a:e], left, out=d4[a:e, 1])
            k0[a:e] = np.bitwise_xor.reduce(left, axis=1)
        else:  # one tree at a time, in chunks of nodes
            for tau in range(a, e):
                acc = np.zeros(2, dtype=np.uint64)
                for c0 in range(0, r, _CHUNK):
                    c1 = min(r, c0 + _CHUNK)
                    left = d4[tau, 0, c0:c1]
                    ws.hash_into(s3[tau, c0:c1], left)
                    np.bitwise_xor(s3[tau, c0:c1], left, out=d4[tau, 1, c0:c1])
                    acc ^= np.bitwise_xor.reduce(left, axis=0)
                k0[tau] = acc
    return k0


def halftree_sender(ws: _Workspace, q: np.ndarray, delta: np.ndarray, out: np.ndarray) -> np.ndarray:
    """q (b, t, 2) base blocks; out (t·2^b, 2) gets the leaves (tree-major).  Returns the
    corrections (b−1, t, 2): c_l = K0_l ⊕ q_{l−1} for levels l = 2..b."""
    b, t = q.shape[0], q.shape[1]
    lvl = ws.buf(0, 2 * t).reshape(t, 2, 2)
    lvl[:, 0] = q[0]
    lvl[:, 1] = q[0] ^ delta
    level = lvl.reshape(-1, 2)
    corr = np.empty((b - 1, t, 2), dtype=np.uint64)
    for l in range(2, b + 1):
        dst = out if l == b else ws.buf(1 + (l % 2), t << l)
        corr[l - 2] = _expand(ws, level, dst, t) ^ q[l - 1]
        level = dst
    return corr


def halftree_receiver(ws: _Workspace, tb: np.ndarray, corr: np.ndarray, out: np.ndarray) -> np.ndarray:
    """tb (b, t, 2) base blocks (choice = LSB); corr from the sender.  out (t·2^b, 2) gets the
    leaves with leaf α_τ = XOR of the tree's other leaves.  Returns α (t,) (index in the bin)."""
    b, t = tb.shape[0], tb.shape[1]
    h0 = _h_zero()
    ar = np.arange(t)
    choice = (tb[:, :, 0] & np.uint64(1)).astype(np.int64)
    lvl = ws.buf(0, 2 * t).reshape(t, 2, 2)
    c = choice[0]
    lvl[ar, c] = tb[0]
    lvl[ar, 1 - c] = 0
    path = 1 - c  # index within the tree of the path node
    level = lvl.reshape(-1, 2)
    for l in range(2, b + 1):
        r = 1 << (l - 1)
        dst = out if l == b else ws.buf(1 + (l % 2), t << l)
        s0 = _expand(ws, level, dst, t)  # includes H(0) at the path's left child
        c = choice[l - 1]
        kb = corr[l - 2] ^ tb[l - 1]  # K_{b} = XOR of the children on side b
        # XOR of the computed side-c children, with the path's child (garbage H(0)) removed
        s1 = np.bitwise_xor.reduce(dst.reshape(t, 2, r, 2)[:, 1], axis=1)
        sc = np.where(c[:, None] == 1, s1, s0) ^ h0
        off = kb ^ sc  # the path node's child on side c
        pos_known = ar * (2 * r) + c * r + path
        new_path = (1 - c) * r + path
        dst[pos_known] = off
        dst[ar * (2 * r) + new_path] = 0
        path = new_path
        level = dst
    leaves = out.reshape(t, 1 << b, 2)
    out[ar * (1 << b) + path] = np.bitwise_xor.reduce(leaves, axis=1)
    return path


# ----------------------------------------------------------------------------------------------
# dual expand-accumulate code
# ----------------------------------------------------------------------------------------------
def ea_words(seed: bytes, n: int, w: int, row0: int = 0) -> np.ndarray:
    """The 32-bit AES-CTR words of rows row0 .. row0+n, (n·w,) uint32, row-major (row i's w words
    are consecutive).  Requires row0·w to be a multiple of 4 (a 16-byte boundary)."""
    if (row0 * w) % 4:
        raise ValueError("EA stream must start on a 16-byte boundary")
    enc = Cipher(algorithms.AES(seed), modes.CTR((row0 * w // 4).to_bytes(16, "big"))).encryptor()
    return np.frombuffer(enc.update(bytes(4 * n * w)), dtype="<u4")


def ea_indices(seed: bytes, n: int, N: int, w: int, row0: int = 0, out: np.ndarray | None = None) -> np.ndarray:
    """Expander positions of rows row0 .. row0+n: (w, n) int64 uniform in [0, N) (64-bit
    multiply-shift ⌊u·N / 2^32⌋ of 32-bit little-endian AES-CTR words u; row i's w words are
    consecutive in the stream; bias < N/2^32).  Requires row0·w to be a multiple of 4."""
    words = ea_words(seed, n, w, row0).reshape(n, w).T
    idx = np.empty((w, n), dtype=np.uint64) if out is None else out.reshape(-1)[: w * n].reshape(w, n)
    np.multiply(words, np.uint64(N), out=idx)  # widen and multiply in one pass
    idx >>= np.uint64(32)
    return idx.view(np.int64)


def ea_rows(acc: np.ndarray, row0: int, w: int, seed: bytes, out: np.ndarray,
            normalize_delta: np.ndarray | None = None) -> None:
    """Rows row0 .. row0+len(out) of the dual EA code applied to the *accumulated* vector acc
    (N, 2): row i = XOR of acc at its w expander positions.  With ``normalize_delta`` (sender)
    rows become z ⊕ LSB(z)·Δ.  Rows are independent, so an iteration is compressed lazily.
    Per chunk of rows: the compiled kernel (:mod:`protocols.native`, ``xor_rows`` with
    d = w: indices, prefetch, gathers, XOR and normalisation in one pass) when it is built, else
    one numpy gather of all w·m blocks (column-major) and one XOR-reduction; same output."""
    if native.xor_rows(out, acc, lambda a, m: ea_words(seed, m, w, row0 + a), d=w, chunk=_EA_CHUNK, assign=True,
                       normalize_delta=normalize_delta):
        return
    N = acc.shape[0]
    n = out.shape[0]
    bv = acc.view("V16").reshape(N)
    gat = np.empty(w * _EA_CHUNK, dtype="V16")
    gu = gat.view(np.uint64)
    ibuf = np.empty(w * _EA_CHUNK, dtype=np.uint64)
    for a in range(0, n, _EA_CHUNK):
        e = min(n, a + _EA_CHUNK)
        m = e - a
        idx = ea_indices(seed, m, N, w, row0=row0 + a, out=ibuf)
        np.take(bv, idx.reshape(-1), out=gat[: w * m], mode="clip")
        o = out[a:e]
        np.bitwise_xor.reduce(gu[: 2 * w * m].reshape(w, m, 2), axis=0, out=o)
        if normalize_delta is not None:
            mk = np.negative(o[:, 0] & np.uint64(1))
            o ^= mk[:, None] & normalize_delta[None, :]


def ea_compress(vec: np.ndarray, n_out: int, w: int, seed: bytes, out: np.ndarray,
                normalize_delta: np.ndarray | None = None) -> None:
    """out (n_out, 2) = dual EA of vec (N, 2): prefix-XOR of vec (in place, the transpose of the
    accumulator), then :func:`ea_rows`."""
    np.bitwise_xor.accumulate(vec, axis=0, out=vec)
    ea_rows(vec, 0, w, seed, out[:n_out], normalize_delta)


def _normalize_sender(q: np.ndarray, delta: np.ndarray) -> np.ndarray:
    mask = np.negative(q[:, 0] & np.uint64(1))
    return q ^ (mask[:, None] & delta[None, :])


# ----------------------------------------------------------------------------------------------
# the COT objects
# ----------------------------------------------------------------------------------------------
class _SilentBase(BufferedCOT):
    """Iteration state machine shared by both roles.  An iteration expands the trees and
    accumulates at once (``_acc``, N blocks); its output rows are then compressed lazily, one
    segment of ``_SEGMENT_ROWS`` per refill.  Rows [0, M) are the next iteration's base."""

    def _init_state(self, ch: "Channel", ws: _Workspace, params: SilentParams, seed: bytes) -> None:
        self.ch = ch
        self.ws = ws
        self.params = params
        self._seeds = PRG(seed)  # public, common to both ends of this direction
        self._base: np.ndarray | None = None  # IKNP bootstrap on the first refill
        self._level: Level | None = None  # level of the current iteration
        big = max(lv.N for lv in (params.main, params.pre) if lv is not None)
        self._acc = np.empty((big, 2), dtype=np.uint64)
        self._row = self._nrows = 0  # next EA row / rows of the current iteration
        self._buf = np.empty((0, 2), dtype=np.uint64)
        self._pos = self._end = 0
        self.iterations = 0

    def _refill(self) -> None:
        p = self.params
        keep = 0
        if self._row >= self._nrows:  # new iteration
            if self._base is None:
                self._level = p.pre or p.main
                self._base = self._bootstrap_base(self._level.m)
            else:
                self._level = p.main
            lv = self._level
            self._ea_seed = self._seeds.random_bytes(16)
            acc = self._acc[: lv.N]
            self._iteration(lv, self._base, acc)
            np.bitwise_xor.accumulate(acc, axis=0, out=acc)
            self.iterations += 1
            self._row, self._nrows = 0, lv.n_out
            keep = p.main.m
            seg = min(lv.n_out, max(_SEGMENT_ROWS, keep))
            seg += (-seg) % _EA_CHUNK  # segments start on EA chunk boundaries
            if self._buf.shape[0] != seg:
                self._buf = np.empty((seg, 2), dtype=np.uint64)
        lv = self._level
        r0 = self._row
        rows = min(self._buf.shape[0], self._nrows - r0)
        self._rows(lv, r0, self._buf[:rows])
        self._row += rows
        if keep:
            self._base = self._buf[:keep].copy()  # next iteration's base (never served)
        self._pos, self._end = keep, rows


class SilentSender(COTSender, _SilentBase):
    """Sender: ``get(n) -> q`` ((n, 2) uint64, LSB 0), ``delta`` (LSB 1)."""

    def __init__(self, ch: "Channel", ws: _Workspace, boot: IKNPSender, params: SilentParams, seed: bytes):
        self.delta = boot.delta.copy()
        self._boot = boot
        self._init_state(ch, ws, params, seed)

    def _bootstrap_base(self, m: int) -> np.ndarray:
        return _normalize_sender(self._boot.get(m), self.delta)

    def _iteration(self, p: Level, base: np.ndarray, leaves: np.ndarray) -> None:
        corr = halftree_sender(self.ws, base.reshape(p.b, p.t, 2), self.delta, leaves)
        self.ch.send(corr)

    def _rows(self, p: Level, r0: int, out: np.ndarray) -> None:
        ea_rows(self._acc[: p.N], r0, p.w, self._ea_seed, out, normalize_delta=self.delta)

    def get(self, n: int) -> np.ndarray:
        return self._take(n)


class SilentReceiver(COTReceiver, _SilentBase):
    """Receiver: ``get(n) -> (b, t)`` with b = LSB(t)."""

    def __init__(self, ch: "Channel", ws: _Workspace, boot: IKNPReceiver, params: SilentParams, seed: bytes):
        self._boot = boot
        self._init_state(ch, ws, params, seed)

    def _bootstrap_base(self, m: int) -> np.ndarray:
        _, base = self._boot.get(m)
        return base

    def _iteration(self, p: Level, base: np.ndarray, leaves: np.ndarray) -> None:
        (corr,) = self.ch.recv((np.uint64, (p.b - 1, p.t, 2)))
        halftree_receiver(self.ws, base.reshape(p.b, p.t, 2), corr, leaves)

    def _rows(self, p: Level, r0: int, out: np.ndarray) -> None:
        ea_rows(self._acc[: p.N], r0, p.w, self._ea_seed, out)

    def get(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        t = self._take(n)
        return (t[:, 0] & np.uint64(1)).astype(np.uint8), t


def make_silent_pair(ch: "Channel", params: str | SilentParams | None = None) -> OTPair:
    """Silent COT in both directions (party 0 as sender first).  Setup here: the public seed and
    the 128 base OTs of each direction's IKNP; the IKNP bootstrap of M COTs and the iterations
    run inside ``get``."""
    params = get_params(params)
    params.validate()
    common = common_prg(ch)
    seeds = [common.random_bytes(16), common.random_bytes(16)]
    ws = _Workspace()
    if ch.party == 0:
        s_boot = iknp_sender_setup(ch)
        r_boot = iknp_receiver_setup(ch)
        sender = SilentSender(ch, ws, s_boot, params, seeds[0])
        receiver = SilentReceiver(ch, ws, r_boot, params, seeds[1])
    else:
        r_boot = iknp_receiver_setup(ch)
        s_boot = iknp_sender_setup(ch)
        receiver = SilentReceiver(ch, ws, r_boot, params, seeds[0])
        sender = SilentSender(ch, ws, s_boot, params, seeds[1])
    return OTPair(sender, receiver)


def traffic_for(params: SilentParams, n_served: int) -> dict[str, int]:
    """Exact payload bytes and messages of one direction for setup + serving ``n_served`` COTs
    from a fresh pair (without the 16 B each way of the pair's common seed): ``sender_sent``,
    ``receiver_sent``, ``iterations``, ``msgs`` (one-way messages after setup).  Walks the
    same schedule as the objects."""
    setup = iknp_setup_cost()
    s_sent, r_sent, it, msgs = setup["sender_sent"], setup["receiver_sent"], 0, 0
    avail = 0
    lv = None
    while avail < n_served:
        if lv is None:
            lv = params.pre or params.main
            ik = iknp_get_cost(lv.m)
            r_sent += ik["receiver_sent"]
            msgs += ik["msgs"]
        else:
            lv = params.main
        avail += lv.n_out - params.main.m
        s_sent += iteration_cost(lv)
        msgs += 1
        it += 1
    return {"sender_sent": s_sent, "receiver_sent": r_sent, "iterations": it, "msgs": msgs}


__all__ = ["Level", "SilentParams", "PARAMS", "get_params", "SilentSender", "SilentReceiver", "make_silent_pair",
           "iteration_cost", "traffic_for", "halftree_sender", "halftree_receiver", "ea_compress",
           "ea_indices"]

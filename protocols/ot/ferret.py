"""Ferret-style silent correlated OT (semi-honest, primal regular-noise LPN), global Δ.

One *iteration* turns M = k + t·b base COTs into n = t·2^b fresh COTs with the same Δ:

1. **MPCOT from t GGM trees (regular noise).**  Base slice ``base[k : k + t·b]`` (disjoint from
   the LPN slice ``base[:k]``) holds one COT per (level, tree).  The sender expands t random roots
   with G(x) = (AES_0(x) ⊕ x, AES_1(x) ⊕ x) (two fixed-key AES-128 permutations) level by level,
   *all trees at once* in a level-major array (2^l, t) whose node j has children j and j + 2^l.
   Per level l and tree τ it computes K0 / K1 = XOR of all left / right children and sends
   c_s = K_s ⊕ H(q ⊕ s·Δ) (s = 0, 1; H = :func:`crhash` with a per-iteration tweak), then one
   leaf-correction block c = Δ ⊕ XOR of all leaves.  The receiver's choice bit b_{l,τ} of that base
   COT (= LSB of its block, see "normalisation") selects K_{b}: it learns the XOR of the children
   on side b and hence every node except those on the path α_τ with α-bit 1 − b.  It recomputes all
   leaves but leaf α_τ, and sets leaf α_τ = c ⊕ XOR(other leaves) = w_α ⊕ Δ.  Result: sender w,
   receiver v with v ⊕ w = e·Δ, e the regular weight-t noise vector (one 1 in each tree's bin).
2. **LPN expansion** (primal, local linear code): for every output row i, 10 indices into the
   k-block LPN base drawn by AES-CTR from a fresh public seed (one per iteration, derived from a
   seed both parties fixed at setup); sender z_i = w_i ⊕ ⊕_j q_{idx_ij}, receiver
   y_i = v_i ⊕ ⊕_j t_{idx_ij}, so y ⊕ z = (e + A·u)·Δ with u the base choice bits.
3. **Normalisation** (local, free): the sender replaces z by z ⊕ LSB(z)·Δ, so every sender block
   has LSB 0 and the receiver's choice bit is simply LSB(y) (Δ has LSB 1).  The new choice bit
   e_i ⊕ ⟨A_i, u⟩ ⊕ LSB(z_i) is uniform and hidden from the sender because of the LPN noise.
4. **Re-bootstrapping**: the first M outputs become the next iteration's base; the other n − M
   are served by ``get``.

Bootstrap: IKNP (base OT + ``pre.k + pre.t·pre.b`` IKNP COTs) → one iteration with the ``pre``
parameters → its first ``main.M`` outputs are the main base (the surplus is served too).

Parameter sets (``Config.extra['ferret_params']``, default ``"b13"``):

======  =========  =======  =====  ==  ==========  ==========  =================================
name    n          k        t      b   M=k+t·b     out = n−M   claimed security
======  =========  =======  =====  ==  ==========  ==========  =================================
b13     10,485,760 452,000  1,280  13  468,640     10,017,120  128-bit (emp-ot ``ferret_b13``)
 pre    470,016    32,768   918    9   41,030      470,016*    128-bit (emp-ot bootstrap set)
b11     10,180,608 124,000  4,971  11  178,681     10,001,927  128-bit (emp-ot ``ferret_b11``)
 pre    178,944    17,384   699    8   22,976      178,944*    128-bit (emp-ot bootstrap set)
toy     16,384     1,500    32     9   1,788       14,596      NONE (tests only)
 pre    4,096      600      16     8   728         4,096*      NONE
======  =========  =======  =====  ==  ==========  ==========  =================================

(* the whole pre output is used: main.M as the main base, the rest served.)

Security claim and its source: the b13 / b11 triples (n, k, t) and their bootstrap triples are
emp-ot's defaults (the Ferret authors' implementation), stated there as 128-bit computational
security for semi-honest Ferret, based on the Ferret paper's analysis of primal *regular*-noise LPN
with a local code of 10 nonzeros per column (Yang, Weng, Lan, Zhang, Wang, CCS 2020, §6: Gaussian
elimination, information-set decoding and low-weight-parity-check attacks).  We use the same code
family (10 uniform indices per row, public seed per iteration) and the same regular noise, so the
claim transfers; we did not run an estimator of our own.  Later algebraic attacks on regular noise
(e.g. Briaud–Øygarden, Eurocrypt 2023) lowered estimates for some published PCG parameters: re-check
with a current estimator before relying on exactly 128 bits.

Lazy segments.  An iteration is produced in *segments* of G = 2^19 / 2^b trees (b13: 64 trees =
524,288 rows, 8 MiB) as ``get`` needs them: a segment's rows are an independent slice of the same
LPN instance (its GGM trees and its rows of the code matrix; the index stream is seekable by row),
so revealing only some rows reveals a sub-instance.  Within a segment all G trees are expanded at
once, level by level.  The first M rows of every iteration are the next base (never served).
Serving 10^6 COTs from a fresh pair therefore costs the bootstrap plus ~3 segments instead of a
whole 10.5 M-row iteration.

Cost (payload, exact; per segment of G trees one message sender → receiver):
    16 · G · (2b + 1) bytes;  a whole iteration 16 · t · (2b + 1)
    (b13: 552,960 B → 0.4416 bit per served COT; b11: 1,829,328 B → 1.463 bit; toy: 9,728 B).
Setup per direction (in ``make_ferret_pair``): base OT of 128 (R → S 32 B, S → R 4,224 B) and
16 B each way once per pair for the LPN seed; the first ``get`` of a direction then runs IKNP of
pre.M COTs (16·⌈pre.M/64⌉·64 B, R → S) and the bootstrap iteration's segments
(16·pre.t·(2·pre.b+1) B, S → R).
:func:`traffic_for` walks the schedule and gives the exact bytes for any number of served COTs.
Example (b13, per direction, 10^6 COTs served from a fresh pair): 1,023,680 B = 8.2 bit/COT, of
which IKNP 657 KB and the bootstrap iteration 279 KB; steady state 0.44 bit/COT.
Rounds: a refill is one one-way message (the receiver waits once); the receiver computes its LPN
part *before* waiting so both parties work in parallel.

The plaintext twin is :func:`protocols.ot.iknp.ideal_cot` (random (q, b, t = q ⊕ b·Δ)); the
GGM/LPN steps have their own ideal checks in ``tests/test_ferret.py``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from ..channel import ProtocolError
from ..config import get_config
from ..prg import PRG, common_prg
from .cot import BufferedCOT, COTReceiver, COTSender, OTPair, crhash
from .iknp import IKNPReceiver, IKNPSender, iknp_get_cost, iknp_receiver_setup, iknp_sender_setup, iknp_setup_cost

from .. import native

if TYPE_CHECKING:  # pragma: no cover
    from ..channel import Channel

LPN_D = 10  # indices per output row
_GGM_CHUNK = 1 << 15  # blocks per AES call in the tree expansion (512 KiB)
_LPN_CHUNK = 1 << 12  # output rows per LPN gather step (see lpn_apply)
_SEGMENT_ROWS = 1 << 19  # outputs per lazily produced segment of an iteration (8 MiB of blocks)


@dataclass(frozen=True)
class LpnParams:
    n: int
    k: int
    t: int
    b: int

    @property
    def m(self) -> int:
        """Base COTs consumed per iteration."""
        return self.k + self.t * self.b

    def validate(self) -> None:
        if self.n != self.t << self.b:
            raise ValueError(f"LPN parameters: n={self.n} must equal t·2^b = {self.t << self.b}")
        if self.m >= self.n or self.b < 1 or self.k < 1:
            raise ValueError(f"LPN parameters {self} do not expand")


@dataclass(frozen=True)
class FerretParams:
    name: str
    pre: LpnParams
    main: LpnParams
    secure: bool

    def validate(self) -> None:
        self.pre.validate()
        self.main.validate()
        if self.pre.n < self.main.m:
            raise ValueError("bootstrap iteration must yield at least the main base")


PARAMS: dict[str, FerretParams] = {
    "b13": FerretParams("b13", LpnParams(470_016, 32_768, 918, 9), LpnParams(10_485_760, 452_000, 1_280, 13), True),
    "b11": FerretParams("b11", LpnParams(178_944, 17_384, 699, 8), LpnParams(10_180_608, 124_000, 4_971, 11), True),
    # tiny and NOT secure: unit tests of the machinery only
    "toy": FerretParams("toy", LpnParams(4_096, 600, 16, 8), LpnParams(16_384, 1_500, 32, 9), False),
}


def get_params(name: str | None = None) -> FerretParams:
    name = name or get_config().get("ferret_params", "b13")
    try:
        p = PARAMS[name]
    except KeyError:
        raise ValueError(f"unknown Ferret parameter set {name!r}; choose one of {', '.join(PARAMS)}") from None
    p.validate()
    return p


def ferret_iteration_cost(p: LpnParams) -> int:
    """Payload bytes of one iteration (sender → receiver)."""
    return 16 * p.t * (2 * p.b + 1)


def ferret_setup_cost(params: FerretParams) -> dict[str, int]:
    """Payload bytes of one direction's bootstrap (setup in ``make_ferret_pair`` plus the bootstrap
    iteration, which the first ``get`` sends): ``sender_sent`` (COT sender → receiver),
    ``receiver_sent``, and ``seed`` = 16 bytes each way per pair (common LPN seed)."""
    s = iknp_setup_cost()
    ik = iknp_get_cost(params.pre.m)
    return {
        "sender_sent": s["sender_sent"] + ferret_iteration_cost(params.pre),
        "receiver_sent": s["receiver_sent"] + ik["receiver_sent"],
        "seed": 16,
    }


# ----------------------------------------------------------------------------------------------
# fixed-key AES and workspace
# ----------------------------------------------------------------------------------------------
_KEY0 = b"party-ggm-left-0"  # fixed public keys of the two AES permutations of G
_KEY1 = b"party-ggm-right1"


def _aes_ecb(key: bytes):
    return Cipher(algorithms.AES(key), modes.ECB()).encryptor()


def _garbage(key: bytes) -> np.ndarray:
    """G_s(0) = AES_s(0) ⊕ 0: the children of an all-zero node."""
    return np.frombuffer(_aes_ecb(key).update(bytes(16)), dtype=np.uint64).copy()


_G0 = _garbage(_KEY0)
_G1 = _garbage(_KEY1)


class _Workspace:
    """Per-party scratch buffers (the sender and receiver of one party run in one thread)."""

    def __init__(self):
        self.enc = (_aes_ecb(_KEY0), _aes_ecb(_KEY1))
        self.tmp = bytearray(_GGM_CHUNK * 16 + 16)
        self.tmp_np = np.frombuffer(self.tmp, dtype=np.uint64)
        self.levels: dict[int, np.ndarray] = {}

    def level_buf(self, which: int, blocks: int) -> np.ndarray:
        a = self.levels.get(which)
        if a is None or a.shape[0] < blocks:
            a = np.empty((blocks, 2), dtype=np.uint64)
            self.levels[which] = a
        return a[:blocks]


# ----------------------------------------------------------------------------------------------
# GGM expansion, all trees at once
# ----------------------------------------------------------------------------------------------
def _expand_level(ws: _Workspace, src: np.ndarray, dst: np.ndarray, t: int, xor_into: bool) -> tuple[np.ndarray, np.ndarray]:
    """src: (rows·t, 2) level l (level-major); dst: (2·rows·t, 2) level l+1 with children of node
    j at rows j and j + rows.  If ``xor_into`` the children are XORed into dst instead of written.
    Returns (S0, S1): per-tree XOR of all left / right children, each (t, 2)."""
    nsrc = src.shape[0]
    rows = nsrc // t
    cr = max(1, _GGM_CHUNK // t)  # source rows per chunk
    sums = [np.zeros((t, 2), dtype=np.uint64), np.zeros((t, 2), dtype=np.uint64)]
    tmp_all = ws.tmp_np
    for r0 in range(0, rows, cr):
        r1 = min(rows, r0 + cr)
        a, b = r0 * t, r1 * t
        s = src[a:b]
        sv = memoryview(s).cast("B")
        tmp = tmp_all[: 2 * (b - a)].reshape(b - a, 2)
        for side in (0, 1):
            off = side * nsrc
            d = dst[off + a : off + b]
            ws.enc[side].update_into(sv, ws.tmp)
            np.bitwise_xor(tmp, s, out=tmp)
            if xor_into:
                d ^= tmp
            else:
                d[...] = tmp
            sums[side] ^= np.bitwise_xor.reduce(tmp.reshape(r1 - r0, t, 2), axis=0)
    return sums[0], sums[1]


def ggm_sender(ws: _Workspace, roots: np.ndarray, b: int, out: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Expand t roots to depth b; leaves written to out ((2^b·t, 2), level-major).
    Returns K0, K1: (b, t, 2) per-level XOR sums of left / right children."""
    t = roots.shape[0]
    k0 = np.empty((b, t, 2), dtype=np.uint64)
    k1 = np.empty((b, t, 2), dtype=np.uint64)
    level = roots
    for lv in range(b):
        nxt = 2 * level.shape[0]
        dst = out if lv == b - 1 else ws.level_buf((b - 2 - lv) % 2, nxt)
        k0[lv], k1[lv] = _expand_level(ws, level, dst, t, xor_into=False)
        level = dst
    return k0, k1


def ggm_receiver(ws: _Workspace, ksel: np.ndarray, choice: np.ndarray, leafcorr: np.ndarray, b: int, out: np.ndarray) -> np.ndarray:
    """Receiver's expansion.  ksel (b, t, 2): K_{choice} per level and tree; choice (b, t) bits
    (the side whose sum is known; the path goes the other way).  XORs all leaves into out, with
    leaf α_τ = leafcorr ⊕ XOR(other leaves).  Returns the leaf position (flat index) per tree."""
    t = ksel.shape[1]
    ar = np.arange(t)
    level = np.zeros((t, 2), dtype=np.uint64)
    path = np.zeros(t, dtype=np.int64)  # row of the path node at the current level
    for lv in range(b):
        rows = level.shape[0] // t
        last = lv == b - 1
        dst = out if last else ws.level_buf((b - 2 - lv) % 2, 2 * rows * t)
        s0, s1 = _expand_level(ws, level, dst, t, xor_into=last)
        # remove the children of the (all-zero) path node from the sums
        s0 ^= _G0
        s1 ^= _G1
        c = choice[lv].astype(np.int64)
        known = np.where(c[:, None] == 1, s1, s0)
        off = ksel[lv] ^ known  # the off-path child of the path node
        pos_known = (c * rows + path) * t + ar
        new_path = (1 - c) * rows + path
        pos_path = new_path * t + ar
        if last:
            # out holds (LPN part) ⊕ garbage at both children: remove garbage, add real values
            g_known = np.where(c[:, None] == 1, _G1, _G0)
            g_path = np.where(c[:, None] == 1, _G0, _G1)
            leaf = leafcorr ^ s0 ^ s1 ^ off
            out[pos_known] ^= g_known ^ off
            out[pos_path] ^= g_path ^ leaf
        else:
            dst[pos_known] = off
            dst[pos_path] = 0
        path = new_path
        level = dst
    return path * t + ar


# ----------------------------------------------------------------------------------------------
# LPN
# ----------------------------------------------------------------------------------------------
class _LpnStream:
    """AES-CTR keystream of the LPN indices, seekable by output row (40 bytes per row)."""

    def __init__(self, seed: bytes, row0: int):
        if (row0 * LPN_D * 4) % 16:
            raise ValueError("LPN stream must start at an even row")
        ctr = (row0 * LPN_D * 4 // 16).to_bytes(16, "big")
        self._enc = Cipher(algorithms.AES(seed), modes.CTR(ctr)).encryptor()
        self._zeros = bytes(_LPN_CHUNK * LPN_D * 4)
        self._buf = bytearray(_LPN_CHUNK * LPN_D * 4 + 16)
        self._np = np.frombuffer(self._buf, dtype=np.uint32)

    def next_words(self, m: int) -> np.ndarray:
        """The next m rows' 32-bit words, (m·10,) uint32 (row i's 10 words are consecutive);
        valid until the next call."""
        nb = m * LPN_D * 4
        self._enc.update_into(memoryview(self._zeros)[:nb], self._buf)
        return self._np[: m * LPN_D]

    def next_indices(self, m: int, k: int, out64: np.ndarray) -> np.ndarray:
        """Indices of the next m rows as (10, m) int64."""
        r = self.next_words(m).reshape(m, LPN_D).T
        idx = out64[:, :m]
        np.multiply(r, np.uint64(k), out=idx)  # one pass: widen and multiply
        idx >>= np.uint64(32)
        return idx.view(np.int64)


def lpn_apply(out: np.ndarray, base: np.ndarray, seed: bytes, row0: int = 0, assign: bool = False,
              normalize_delta: np.ndarray | None = None) -> None:
    """Rows row0 .. row0+len(out) of the LPN code: out[i] (^)= XOR_{j<10} base[idx[i, j]] with idx
    uniform in [0, k) (64-bit multiply-shift of 32-bit AES-CTR words; bias < k/2^32) from the
    public ``seed``.  With ``normalize_delta`` (sender) each row is then mapped z → z ⊕ LSB(z)·Δ.

    Measured: ~35 ns per row (thread CPU time), chunks of 4096 rows keep the gathered 64 KiB and
    the indices in L1/L2; ``np.take`` on a 16-byte void view gathers whole blocks.  The indices are
    < k by construction, so ``mode="clip"`` (which skips numpy's per-element bounds check and its
    error path) changes nothing but the speed: ~25 % less time per gather.

    With the compiled kernel (``protocols.native``: built at install when a C compiler is there;
    ``native.kernel_path()`` says which path runs) one pass per chunk does the indices, prefetches, gathers,
    XORs and the normalisation, with identical output."""
    k = base.shape[0]
    base = np.ascontiguousarray(base)
    st = _LpnStream(seed, row0)
    n = out.shape[0]
    # the stream is sequential: chunks are asked for in order
    if native.xor_rows(out, base, lambda a, m: st.next_words(m), d=LPN_D, chunk=_LPN_CHUNK, assign=assign,
                       normalize_delta=normalize_delta):
        return
    bv = base.view("V16").reshape(k)
    idx64 = np.empty((LPN_D, _LPN_CHUNK), dtype=np.uint64)
    gat = np.empty(_LPN_CHUNK, dtype="V16")
    gat_u = gat.view(np.uint64).reshape(_LPN_CHUNK, 2)
    if normalize_delta is not None:
        dl = np.asarray(normalize_delta, dtype=np.uint64)
        mask = np.empty(_LPN_CHUNK, dtype=np.uint64)
    for a in range(0, n, _LPN_CHUNK):
        b = min(n, a + _LPN_CHUNK)
        m = b - a
        idx = st.next_indices(m, k, idx64)
        o = out[a:b]
        g, gu = gat[:m], gat_u[:m]
        for j in range(LPN_D):
            if j == 0 and assign:
                np.take(bv, idx[0], out=o.view("V16").reshape(m), mode="clip")
            else:
                np.take(bv, idx[j], out=g, mode="clip")
                o ^= gu
        if normalize_delta is not None:
            mk = mask[:m]
            np.bitwise_and(o[:, 0], np.uint64(1), out=mk)
            np.negative(mk, out=mk)
            o ^= mk[:, None] & dl[None, :]


def lpn_indices(seed: bytes, n: int, k: int) -> np.ndarray:
    """Plaintext twin of the index generation: (n, 10) int64, straight from the definition
    (32-bit little-endian AES-CTR words, row-major, idx = (w·k) >> 32)."""
    enc = Cipher(algorithms.AES(seed), modes.CTR(bytes(16))).encryptor()
    w = np.frombuffer(enc.update(bytes(n * LPN_D * 4)), dtype="<u4").astype(np.uint64)
    return ((w * np.uint64(k)) >> np.uint64(32)).astype(np.int64).reshape(n, LPN_D)


def _normalize_sender(q: np.ndarray, delta: np.ndarray) -> np.ndarray:
    mask = np.negative(q[:, 0] & np.uint64(1))
    return q ^ (mask[:, None] & delta[None, :])


# ----------------------------------------------------------------------------------------------
# one segment (a group of trees) of an iteration
# ----------------------------------------------------------------------------------------------
def segment_trees(p: LpnParams) -> int:
    """Trees per segment: about 2^19 outputs (8 MiB of blocks) per segment."""
    return max(1, min(p.t, _SEGMENT_ROWS >> p.b))


def sender_segment(ch: "Channel", ws: _Workspace, p: LpnParams, base: np.ndarray, delta: np.ndarray,
                   trees: slice, roots: np.ndarray, seed: bytes, tweak: int, out: np.ndarray) -> None:
    """Sender: trees ``trees`` of one iteration over ``base`` ((M, 2), normalised: LSB 0).
    Fills out ((G·2^b, 2), output rows τ0·2^b ...) with normalised COTs.
    Sends one message: (2, b, G, 2) level sums ⊕ pads and (G, 2) leaf corrections: 16·G·(2b+1) B."""
    g = trees.stop - trees.start
    if base.shape != (p.m, 2) or out.shape != (g << p.b, 2) or roots.shape != (g, 2):
        raise ValueError("sender_segment: wrong shapes")
    qg = base[p.k : p.m].reshape(p.b, p.t, 2)[:, trees]
    k0, k1 = ggm_sender(ws, roots, p.b, out)
    tw = tweak + trees.start * p.b
    h0 = crhash(qg.reshape(-1, 2), tw).reshape(p.b, g, 2)
    h1 = crhash((qg ^ delta).reshape(-1, 2), tw).reshape(p.b, g, 2)
    leafcorr = k0[-1] ^ k1[-1] ^ delta[None, :]
    ch.send(np.stack([k0 ^ h0, k1 ^ h1]), leafcorr)
    lpn_apply(out, base[: p.k], seed, row0=trees.start << p.b, normalize_delta=delta)


def receiver_segment(ch: "Channel", ws: _Workspace, p: LpnParams, base: np.ndarray, trees: slice,
                     seed: bytes, tweak: int, out: np.ndarray) -> None:
    """Receiver: same segment; out gets t-blocks whose LSB is the choice bit."""
    g = trees.stop - trees.start
    if base.shape != (p.m, 2) or out.shape != (g << p.b, 2):
        raise ValueError("receiver_segment: wrong shapes")
    # the LPN part does not depend on the sender's message: compute it while the sender works
    lpn_apply(out, base[: p.k], seed, row0=trees.start << p.b, assign=True)
    tg = base[p.k : p.m].reshape(p.b, p.t, 2)[:, trees]
    choice = (tg[:, :, 0] & np.uint64(1)).astype(np.uint8)
    cs, leafcorr = ch.recv((np.uint64, (2, p.b, g, 2)), (np.uint64, (g, 2)))
    h = crhash(tg.reshape(-1, 2), tweak + trees.start * p.b).reshape(p.b, g, 2)
    ksel = np.where(choice[:, :, None] == 1, cs[1], cs[0]) ^ h
    ggm_receiver(ws, ksel, choice, leafcorr, p.b, out)


# ----------------------------------------------------------------------------------------------
# the COT objects
# ----------------------------------------------------------------------------------------------
class _FerretBase(BufferedCOT):
    """Iteration state machine shared by both roles.

    An iteration over ``_cur_base`` (params ``_cur_p``) is produced lazily, one segment of trees
    per refill.  Its first ``main.m`` output rows are stored as ``_next_base`` (never served); the
    rest are served.  When all trees are done the next base becomes current (parameters ``main``).
    """

    def _init_state(self, ch: "Channel", ws: _Workspace, params: FerretParams, seed: bytes) -> None:
        self.ch = ch
        self.ws = ws
        self.params = params
        self._seeds = PRG(seed)  # public, common to both ends of this direction
        self._iter = 0
        self._cur_p = params.pre
        self._cur_base: np.ndarray | None = None  # IKNP bootstrap on the first refill
        self._next_base = np.empty((params.main.m, 2), dtype=np.uint64)
        self._start_iteration()
        self._buf = np.empty((0, 2), dtype=np.uint64)
        self._pos = self._end = 0
        self.produced = 0  # COT rows computed (served + kept as base)
        self.iterations = 0

    def _start_iteration(self) -> None:
        self._iter += 1
        self._seed = self._seeds.random_bytes(16)
        self._tweak = self._iter << 32
        self._next_tree = 0

    def _refill(self) -> None:
        p = self._cur_p
        if self._cur_base is None:
            self._cur_base = self._bootstrap_base()
        if self._next_tree == p.t:
            self.iterations += 1
            self._cur_p = p = self.params.main
            self._cur_base, self._next_base = self._next_base, (
                self._cur_base if self._cur_base.shape == (p.m, 2) else np.empty((p.m, 2), dtype=np.uint64)
            )
            self._start_iteration()
        g = min(segment_trees(p), p.t - self._next_tree)
        trees = slice(self._next_tree, self._next_tree + g)
        rows = g << p.b
        if self._buf.shape[0] != rows:
            self._buf = np.empty((rows, 2), dtype=np.uint64)
        self._segment(p, trees, self._buf)
        self._next_tree += g
        self.produced += rows
        r0 = trees.start << p.b
        keep = max(0, min(rows, self.params.main.m - r0))
        if keep:
            self._next_base[r0 : r0 + keep] = self._buf[:keep]
        self._pos, self._end = keep, rows


class FerretSender(COTSender, _FerretBase):
    """Ferret COT sender: ``get(n) -> q`` ((n, 2) uint64, LSB 0), ``delta`` (LSB 1)."""

    def __init__(self, ch: "Channel", ws: _Workspace, boot: IKNPSender, params: FerretParams, seed: bytes):
        self.delta = boot.delta.copy()
        self._rng = PRG()  # secret: GGM roots
        self._boot = boot
        self._init_state(ch, ws, params, seed)

    def _bootstrap_base(self) -> np.ndarray:
        return _normalize_sender(self._boot.get(self.params.pre.m), self.delta)

    def _segment(self, p: LpnParams, trees: slice, out: np.ndarray) -> None:
        roots = self._rng.blocks(trees.stop - trees.start)
        sender_segment(self.ch, self.ws, p, self._cur_base, self.delta, trees, roots, self._seed, self._tweak, out)

    def get(self, n: int) -> np.ndarray:
        return self._take(n)


class FerretReceiver(COTReceiver, _FerretBase):
    """Ferret COT receiver: ``get(n) -> (b, t)`` with b = LSB(t)."""

    def __init__(self, ch: "Channel", ws: _Workspace, boot: IKNPReceiver, params: FerretParams, seed: bytes):
        self._boot = boot
        self._init_state(ch, ws, params, seed)

    def _bootstrap_base(self) -> np.ndarray:
        _, base = self._boot.get(self.params.pre.m)  # choice bit of the normalised base = LSB(t)
        return base

    def _segment(self, p: LpnParams, trees: slice, out: np.ndarray) -> None:
        receiver_segment(self.ch, self.ws, p, self._cur_base, trees, self._seed, self._tweak, out)

    def get(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        t = self._take(n)
        return (t[:, 0] & np.uint64(1)).astype(np.uint8), t


def make_ferret_pair(ch: "Channel", params: str | FerretParams | None = None) -> OTPair:
    """Ferret COT in both directions (party 0 as sender first, then party 1).  Here: the common
    LPN seed and the 128 base OTs of each direction's IKNP; the IKNP extension of the bootstrap
    base and all Ferret iterations run lazily inside the first ``get`` of each direction, so a
    direction that is never used costs only its base OTs."""
    if not isinstance(params, FerretParams):
        params = get_params(params)
    params.validate()
    common = common_prg(ch)  # public LPN seeds for both directions
    seeds = [common.random_bytes(16), common.random_bytes(16)]
    ws = _Workspace()
    if ch.party == 0:
        s_boot = iknp_sender_setup(ch)
        r_boot = iknp_receiver_setup(ch)
        sender = FerretSender(ch, ws, s_boot, params, seeds[0])
        receiver = FerretReceiver(ch, ws, r_boot, params, seeds[1])
    else:
        r_boot = iknp_receiver_setup(ch)
        s_boot = iknp_sender_setup(ch)
        receiver = FerretReceiver(ch, ws, r_boot, params, seeds[0])
        sender = FerretSender(ch, ws, s_boot, params, seeds[1])
    return OTPair(sender, receiver)


def traffic_for(params: FerretParams, n_served: int) -> dict[str, int]:
    """Exact payload bytes of one direction for setup + serving ``n_served`` COTs from a fresh
    pair: ``sender_sent``, ``receiver_sent`` (the LPN-seed exchange of make_ferret_pair, 16 B
    each way per pair, is not included).  Walks the same segment schedule as the objects."""
    setup = iknp_setup_cost()
    s_sent = setup["sender_sent"]
    r_sent = setup["receiver_sent"]
    if n_served > 0:  # the first get bootstraps: IKNP extension of pre.M COTs
        r_sent += iknp_get_cost(params.pre.m)["receiver_sent"]
    p, nxt, avail = params.pre, 0, 0
    while avail < n_served:
        if nxt == p.t:
            p, nxt = params.main, 0
        g = min(segment_trees(p), p.t - nxt)
        r0 = nxt << p.b
        rows = g << p.b
        avail += rows - max(0, min(rows, params.main.m - r0))
        s_sent += 16 * g * (2 * p.b + 1)
        nxt += g
    return {"sender_sent": s_sent, "receiver_sent": r_sent}


__all__ = [
    "LpnParams", "FerretParams", "PARAMS", "get_params", "FerretSender", "FerretReceiver",
    "make_ferret_pair", "ferret_iteration_cost", "ferret_setup_cost", "traffic_for", "ggm_sender",
    "ggm_receiver", "lpn_apply", "lpn_indices", "sender_segment", "receiver_segment",
    "segment_trees", "ProtocolError",
]

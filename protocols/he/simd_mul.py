"""Elementwise product of arithmetic shares by batched BFV: ``mul_aa_he`` (Cheetah/SPU's route
for ``mul_aa`` in a large ring, with our own wire format).

Ideal functionality (:func:`mul_aa_he_ideal`): shares of x, y in Z_{2^ell} -> shares of x·y.

Protocol, for one ciphertext's worth of elements (key owner "K" holds x1, y1; evaluator "E" holds
x0, y0; each party plays both roles on half of a batch, see Roles below):

  x·y = x0·y0 + x1·y1 + (x0·y1 + x1·y0) mod 2^ell; the cross term c < 2^(2·ell+1) is computed
  over the integers modulo T = t_1···t_k, k plaintext primes t_i ≡ 1 mod 2N (57 bits), with
  T ≥ 2^(2·ell+1+stat): N = 8192 SIMD slots per prime (slot j of a plaintext is its value at the
  j-th odd power of a 2N-th root of unity mod t_i, so encoding is an inverse NTT mod t_i).

  1. K encrypts x1 and y1 (mod t_i, batched) with its secret key s: c0 = round(Q·m/t) + e − a·s,
     sent in the NTT domain; the uniform a of every ciphertext is expanded from one 16-byte
     AES-CTR seed per message, so only c0 travels: log2(q) bits per slot.
  2. E computes ct = Enc(x1)·y0 + Enc(y1)·x0 − round(Q·r/t) (plaintext products in the NTT domain,
     no rotation, no relinearisation) with r uniform in [0, T) drawn in mixed radix (its residues
     mod t_i and its value mod 2^ell follow exactly); adds an encryption of zero under K's public
     key in the same domain (c1 becomes fresh and tells K nothing about y0, x0); switches the
     modulus down to the first ``keep`` primes (the switches scale the noise of the two products,
     the only noise that depends on E's inputs, to below ~1); floods c0 with uniform noise of
     2^(stat+union) times that bound; and drops the low D0 / D1 bits of c0 / c1 (after flooding
     and re-randomisation they are a function of public values, so dropping them leaks nothing;
     it only costs noise budget).
  3. K restores the midpoint of the dropped bits, decrypts and decodes z_i = (c − r) mod t_i,
     and reconstructs z = (c − r) mod T (Garner) modulo 2^ell.
  Output: E holds x0·y0 + r − T, K holds x1·y1 + z.  Since z ≡ c − r (mod T) is uniform for
  uniform r, K learns nothing (perfect masking); the sum is exact unless r ≤ c, which happens with
  probability ≤ 2^(2·ell+1)/T ≤ 2^−stat per element (then it is off by T mod 2^ell).

Backends (``Config.he_mul_backend``): ``native`` (:class:`SimdMul`, default) runs BFV itself in
RNS form on the compiled negacyclic NTT (:mod:`.ntt`): ternary secret key, centred binomial errors
(η = 21), exact BFV scaling round(Q·m/t), modulus switching with rounding, decryption by
:func:`decrypt_scale`; ``seal`` (:class:`.simd_mul_seal.SealSimdMul`) runs the same protocol on SEAL's
BFV through tenseal (real SEAL ciphertexts, ~2-3x the CPU: per-call sampling, serialisation).

Parameters (:class:`SimdParams`, asserted at construction): N = 8192, q = 60+60+38+38 bits
(SEAL's primes; 196 bits ≤ SEAL's 128-bit maximum of 218 for N = 8192; the SEAL backend adds its
22-bit special prime at the key level), t_i 57 bits, q' = 60+60 bits.  Noise (all worst case):
see :class:`Budget`.

Roles: party 1 is K for the first half of the ciphertexts and party 0 for the rest, so both
parties encrypt, evaluate and decrypt at once.  Each sends all its encryptions, receives the
peer's, answers them and receives its answers: two send-then-receive turns (one for a single
ciphertext).  Traffic per element (ell = 64, k = 3 contexts), summed over both directions:
  encryptions: 2·k·196 bits (c0) + a 16-byte seed per message   ≈ 147 B
  answers:     k·((120 − D0) + (120 − D1)) bits (D0 = 60, D1 = 48)  ≈ 49 B
  ≈ 196 B per product (Gilboa/COT: 536 B); exact bytes :func:`mul_aa_he_cost`.
Set-up (once per session, :meth:`SimdMul.setup`): each party's public key (b = −a·s + e with a
from a seed: 196 bits per coefficient, ~200 KB each way, one exchange).
Per-element work is in whole-batch calls: per ciphertext K does 1 inverse NTT mod t and 4 NTTs,
E ~23 NTTs (products, re-randomisation and one inverse transform per component), K's decryption 5.
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from .. import native
from ..channel import ProtocolError, iter_chunks
from ..config import get_config
from ..ring import Ring
from ..prg import PRG, SEED_BYTES
from . import ntt
from .params import ETA, seal_max_bits
from .rlwe import _packw, _unpackw, derive_seed, sample_cbd, sample_ternary

U64 = np.uint64
SCHEME = "bfv-ntt-1"  # wire format and key layout version (part of the parameter fingerprint)


# ------------------------------------------------------------------------------------------
# modular arithmetic on uint64 arrays with moduli < 2^62 (no 128-bit integers in numpy)
# ------------------------------------------------------------------------------------------
def mulhi(a: np.ndarray, w: int) -> np.ndarray:
    """High 64 bits of a·w for uint64 a and a constant w < 2^64 (:func:`.ntt.mulhi`)."""
    return ntt.mulhi(np.asarray(a, dtype=U64), U64(w))


def mulmod(a: np.ndarray, c: int, q: int) -> np.ndarray:
    """a·c mod q for uint64 a < 2^64 and a constant c < q < 2^62: the compiled kernel
    (:mod:`protocols.native`, a 128-bit product) when built, else Shoup's method in numpy (with
    w = ⌊c·2^64/q⌋ the quotient ⌊a·w/2^64⌋ is short by at most 2, and the remainder is exact in
    wrap-around uint64).  Same output."""
    c = int(c) % q
    a = np.asarray(a, dtype=U64)
    kern = native.kernels
    if kern is not None:
        a = np.ascontiguousarray(a)
        out = np.empty_like(a)
        kern.mulmod_const(out, a, c, q)
        return out
    quo = mulhi(a, (c << 64) // q)
    r = a * U64(c) - quo * U64(q)
    qq = U64(q)
    r = np.where(r >= qq, r - qq, r)
    return np.where(r >= qq, r - qq, r)


def addmod(a, b, q: int) -> np.ndarray:
    """(a + b) mod q for a, b in [0, q) (the compiled kernel for two arrays of one shape)."""
    return _add_sub(a, b, q, False)


def submod(a, b, q: int) -> np.ndarray:
    """(a − b) mod q for a, b in [0, q)."""
    return _add_sub(a, b, q, True)


def _add_sub(a, b, q: int, sub: bool) -> np.ndarray:
    a = np.asarray(a, dtype=U64)
    b = np.asarray(b, dtype=U64)
    kern = native.kernels
    if kern is not None and a.shape == b.shape and a.ndim and q & 1 and q < (1 << 62):
        a, b = np.ascontiguousarray(a), np.ascontiguousarray(b)
        out = np.empty_like(a)
        kern.modvec(out, a, b, q, 0, 0, 3 if sub else 2)
        return out
    if sub:
        return np.where(a >= b, a - b, a + (U64(q) - b))
    s = a + b  # < 2^63: no wrap
    return np.where(s >= U64(q), s - U64(q), s)


def mul128(a: np.ndarray, b) -> tuple[np.ndarray, np.ndarray]:
    """Full product of uint64 arrays as (hi, lo) words (a constant b: the compiled kernel when
    built; same output)."""
    a = np.asarray(a, dtype=U64)
    b = np.asarray(b, dtype=U64)
    kern = native.kernels
    if kern is not None and b.ndim == 0:
        a = np.ascontiguousarray(a)
        hi, lo = np.empty_like(a), np.empty_like(a)
        kern.mul128_const(hi, lo, a, int(b))
        return hi, lo
    m32 = U64(0xFFFFFFFF)
    a0, a1, b0, b1 = a & m32, a >> U64(32), b & m32, b >> U64(32)
    p00, p01, p10, p11 = a0 * b0, a0 * b1, a1 * b0, a1 * b1
    mid = (p00 >> U64(32)) + (p01 & m32) + (p10 & m32)
    lo = (p00 & m32) | (mid << U64(32))
    hi = p11 + (p01 >> U64(32)) + (p10 >> U64(32)) + (mid >> U64(32))
    return hi, lo


def uniform_mod(prg, q: int, n: int, out: np.ndarray | None = None) -> np.ndarray:
    """n uniform integers in [0, q) (q < 2^63) by rejection from bit_length(q)-bit draws: the
    draws that miss are redrawn in place, in order (deterministic for a seeded ``prg``; the primes
    used here lie just below a power of two, so few miss)."""
    sh = U64(64 - q.bit_length())
    out = prg.uint64(n) if out is None else prg.bytes_into(out.reshape(-1))
    out >>= sh
    bad = np.flatnonzero(out >= U64(q))
    while bad.size:
        out[bad] = prg.uint64(bad.size) >> sh
        bad = bad[out[bad] >= U64(q)]
    return out


def garner_mod2k(res: list[np.ndarray], mods: list[int]) -> np.ndarray:
    """The integer with residues ``res[i]`` mod ``mods[i]`` (coprime), reduced mod 2^64 (Garner:
    mixed-radix digits h_j, value = Σ h_j·Π_{m<j} mods[m])."""
    digits = []
    for j, (r, q) in enumerate(zip(res, mods)):
        h = np.asarray(r, dtype=U64)
        for m, hm in enumerate(digits):
            h = mulmod(submod(h, hm % U64(q), q), pow(mods[m], -1, q), q)
        digits.append(h)
    return radix_value(digits, mods)


def radix_value(digits: list[np.ndarray], mods: list[int]) -> np.ndarray:
    """Σ_j digits[j]·Π_{m<j} mods[m] mod 2^64 (wrap-around arithmetic)."""
    out = np.zeros_like(np.asarray(digits[0], dtype=U64))
    w = 1
    for d, q in zip(digits, mods):
        out = out + np.asarray(d, dtype=U64) * U64(w % (1 << 64))
        w *= q
    return out


def muldivmod(a: np.ndarray, c: int, d: int) -> tuple[np.ndarray, np.ndarray]:
    """(floor(a·c/d), a·c mod d) for uint64 a and constants c < d < 2^63 (the quotient fits a
    word).  With c' = floor(c·2^64/d), floor(a·c'/2^64) is short of the quotient by at most 1, so
    the remainder, computed in wrap-around arithmetic, is < 2d and one correction makes it exact."""
    if not 0 <= c < d < (1 << 63):
        raise ValueError("muldivmod needs 0 <= c < d < 2^63")
    a = np.asarray(a, dtype=U64)
    quo = mulhi(a, (c << 64) // d)
    rem = a * U64(c) - quo * U64(d)
    over = rem >= U64(d)
    return quo + over.astype(U64), np.where(over, rem - U64(d), rem)


def decrypt_scale(x1: np.ndarray, x2: np.ndarray, q1: int, q2: int, t: int) -> np.ndarray:
    """BFV's decryption scaling round(t·x/(q1·q2)) mod t for x given by its residues x1, x2 mod two
    primes q1, q2 > t, without 128-bit integers: x = x1 + q1·v (Garner) gives
    t·x/(q1·q2) = t·v/q2 + t·x1/(q1·q2), and the second term is below t/q2 < 1, so only its integer
    part ⌊t·x1/q1⌋ (in units of 1/q2) matters for the rounding (the ciphertexts this decrypts are
    far from a rounding boundary: the noise budget keeps them within 1/4 of a multiple)."""
    v = mulmod(submod(x2, x1 % U64(q2), q2), pow(q1, -1, q2), q2)
    f, rem = muldivmod(v, t, q2)
    g, _ = muldivmod(x1, t, q1)
    carry = ((rem + g) * U64(2) + U64(q2)) // U64(2 * q2)
    r = f + carry
    return np.where(r >= U64(t), r - U64(t), r)


# ------------------------------------------------------------------------------------------
# parameters
# ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SimdParams:
    n: int = 8192
    plain_bits: int = 57
    coeff_bits: tuple[int, ...] = (60, 60, 38, 38)  # data level = key level (no key switching)
    keep: int = 2  # primes of the returned ciphertexts
    max_contexts: int = 3
    stat_bits: int = 40
    union_bits: int = 20

    @classmethod
    def from_config(cls) -> "SimdParams":
        cfg = get_config()
        return cls(stat_bits=cfg.he_stat_bits, union_bits=cfg.he_union_bits)


class Budget:
    """Worst-case noise budget of :class:`SimdParams` with the actual primes: errors |e| ≤ e_max
    (ETA for our centred binomial, 6σ = 19.2 for SEAL's clipped normal), plaintexts lifted centred
    (|p| ≤ t/2), re-randomisation when the ciphertext has ``rerand_primes`` primes (all of them
    for :class:`SimdMul`, keep + 1 for SEAL's backend).

    Input-dependent noise: the two plaintext products, |(e + ε)·p| ≤ N·(e_max + 1/2)·t/2 each
    (B_mul; ε ≤ 1/2 is the scaling's rounding), scaled by q'/q after the switches to q' (``keep``
    primes); the c0 roundings (≤ 1/2 per switch); and the c1 roundings of the switches *before*
    the re-randomisation, (1 + N)/2 each, scaled by q'/q_rr.  After the re-randomisation (an
    encryption of zero under K's public key, noise B_pk = e_max·(2N + 1)) c1 is pseudorandom to K,
    so the c1 roundings of the later switches are simulatable.  Flooding adds F ≥ 2^(stat+union)
    times the input-dependent sum S_in.  Correctness in invariant form:
    t/q'·(F + S_in + after·(1 + N)/2 + B_pk·q'/q_rr) + t·2^(D0−1)/q' + t·N·2^(D1−1)/q' < 1/2.
    """

    def __init__(self, p: SimdParams, q_primes: list[int], t_max: int, e_max: float = ETA,
                 rerand_primes: int | None = None):
        n, t = p.n, t_max
        self.q = math.prod(q_primes)
        self.q_keep = math.prod(q_primes[: p.keep])
        rr = len(q_primes) if rerand_primes is None else rerand_primes
        q_rr = math.prod(q_primes[:rr])
        before, after = len(q_primes) - rr, rr - p.keep
        self.b_mul = 2 * n * (e_max + 0.5) * (t / 2)
        self.b_pk = e_max * (2 * n + 1)
        if (self.b_mul + self.b_pk) * t / self.q >= 0.25:
            raise ValueError("SIMD-mul: the data-level modulus is too small for the products")
        self.s_in = self.b_mul * self.q_keep / self.q + (before + after) / 2 + before * (1 + n) / 2 * self.q_keep / q_rr
        self.flood_bits = math.ceil(math.log2(self.s_in)) + p.stat_bits + p.union_bits
        if self.flood_bits > 62:
            raise ValueError(f"SIMD-mul: flooding needs {self.flood_bits} bits (> 62); raise the data-level modulus")
        noise = 2.0 ** self.flood_bits + self.s_in + after * (1 + n) / 2 + self.b_pk * self.q_keep / q_rr
        left = 0.5 - noise * t / self.q_keep
        if left <= 0:
            raise ValueError(f"SIMD-mul parameters leave no noise budget (used {0.5 - left:.3f} of 1/2)")
        # dropped bits: t·2^(D0−1)/q' <= left/4 and t·N·2^(D1−1)/q' <= left/2 (a quarter spare)
        self.d0 = int(math.floor(math.log2(left / 4 * self.q_keep / t))) + 1
        self.d1 = int(math.floor(math.log2(left / 2 * self.q_keep / (t * n)))) + 1
        self.width = (self.q_keep - 1).bit_length()
        self.used = 0.5 - left + t * (2.0 ** (self.d0 - 1) + n * 2.0 ** (self.d1 - 1)) / self.q_keep
        if not (0 < self.d1 <= self.d0 < 64) or self.used >= 0.5:
            raise ValueError(f"SIMD-mul bit dropping out of range (D0={self.d0}, D1={self.d1})")


def contexts_needed(ell: int, t_primes: list[int], stat_bits: int) -> int:
    """Fewest plaintext primes with Π t_i ≥ 2^(2·ell + 1 + stat) (the masking bound)."""
    prod, need = 1, 1 << (2 * ell + 1 + stat_bits)
    for k, t in enumerate(t_primes, 1):
        prod *= t
        if prod >= need:
            return k
    raise ValueError(f"ell={ell} needs more than {len(t_primes)} plaintext primes")


# ------------------------------------------------------------------------------------------
# the engine
# ------------------------------------------------------------------------------------------
class SimdEngine:
    """The protocol skeleton shared by the backends (module docstring): block pipelining, roles,
    the mask, flooding, bit dropping and the wire sizes.  A backend implements ``setup``,
    ``_send_inputs``, ``_recv_inputs``, ``_answer`` and ``_decrypt``.  One engine per party and
    session: ``SimdEngine.of(mpc)`` builds the backend named by ``Config.he_mul_backend``."""

    scheme = ""
    rerand_top = True  # re-randomise at the top level (else at keep + 1 primes)
    e_max: float = ETA

    def __init__(self, mpc, params: SimdParams | None = None):
        from tenseal import sealapi

        self.mpc = mpc
        self.p = params or SimdParams.from_config()
        p = self.p
        bits = sum(p.coeff_bits) + self.extra_bits()
        if bits > seal_max_bits(p.n):
            raise ValueError(f"SIMD-mul modulus of {bits} bits exceeds SEAL's 128-bit bound "
                             f"{seal_max_bits(p.n)} for N={p.n}")
        # NTT-friendly primes from SEAL's generators (the largest of each size that is 1 mod 2N)
        self.q = [m.value() for m in sealapi.CoeffModulus.Create(p.n, list(p.coeff_bits))]
        self.t = [m.value() for m in sealapi.PlainModulus.Batching(p.n, [p.plain_bits] * p.max_contexts)]
        self.budget = Budget(p, self.q, max(self.t), self.e_max,
                             None if self.rerand_top else p.keep + 1)

    def extra_bits(self) -> int:
        """Bits of key-level primes beyond the data level (SEAL's special prime)."""
        return 0

    @classmethod
    def of(cls, mpc) -> "SimdEngine":
        """The session's engine, set up on first use."""
        eng = getattr(mpc, "_simd_mul", None)
        if eng is None:
            backend = get_config().he_mul_backend
            eng = backend_class(backend)(mpc)
            eng.setup()
            mpc._simd_mul = eng
        return eng

    @cached_property
    def fingerprint(self) -> bytes:
        h = hashlib.sha256(repr((self.scheme, self.p, self.t, self.q, self.budget.flood_bits, self.budget.d0,
                                 self.budget.d1)).encode())
        return h.digest()

    def _recv_keys(self) -> list[np.ndarray]:
        """The peer's set-up message, after checking its parameter fingerprint (the first array):
        the arrays after it, for the backend to validate."""
        got = self.mpc.ch.recv()
        if got[0].dtype != np.uint8 or bytes(got[0]) != self.fingerprint:
            raise ProtocolError("SIMD-mul parameters differ between the parties (version skew?)")
        return got[1:]

    # --- sizes -------------------------------------------------------------------------------
    def up_words(self, cts: int) -> list[int]:
        """uint64 words of one upload block: per data-level limb, cts·N residues packed."""
        return [-(-cts * self.p.n * q.bit_length() // 64) for q in self.q]

    def seed_bytes(self, cts: int) -> int:
        """Bytes of seeds in one upload block of ``cts`` ciphertexts."""
        return SEED_BYTES

    def down_widths(self) -> tuple[int, int]:
        b = self.budget
        return b.width - b.d0, b.width - b.d1

    def down_words(self, cts: int) -> int:
        return sum(_split_words(cts * self.p.n, w) for w in self.down_widths())

    # --- wire and slot helpers ---------------------------------------------------------------
    def _pack_limbs(self, v: np.ndarray) -> np.ndarray:
        """(L, cts, N) residues -> one upload block's words (per limb, at its prime's width)."""
        return np.concatenate([_packw(v[j].reshape(-1), q.bit_length()) for j, q in enumerate(self.q)])

    def _unpack_limbs(self, words: np.ndarray, cts: int) -> np.ndarray:
        """The inverse of :meth:`_pack_limbs`: (L, cts, N), residues checked against their primes."""
        n, out, pos = self.p.n, np.empty((len(self.q), cts, self.p.n), dtype=U64), 0
        for j, (q, nw) in enumerate(zip(self.q, self.up_words(cts))):
            v = _unpackw(words[pos:pos + nw], q.bit_length(), cts * n)
            if v.size and v.max() >= U64(q):
                raise ProtocolError("SIMD-mul: ciphertext residue out of range")
            out[j] = v.reshape(cts, n)
            pos += nw
        return out

    def _slots(self, vs, i: int, cts: int) -> np.ndarray:
        """Vectors (each ≤ cts·N values) reduced mod t_i, zero-padded, as (len(vs), cts, N) slots."""
        t = U64(self.t[i])
        out = np.zeros((len(vs), cts * self.p.n), dtype=U64)
        for r, v in enumerate(vs):
            out[r, : v.size] = v % t
        return out.reshape(len(vs), cts, self.p.n)

    # --- the product -------------------------------------------------------------------------
    def mul(self, x: np.ndarray, y: np.ndarray, ell: int) -> np.ndarray:
        """Both parties.  Party 1 is K for the first half of the ciphertexts, party 0 for the
        rest, so both encrypt, evaluate and decrypt at the same time.  Each party sends all its
        encryptions, receives all of the peer's, answers them, then receives its answers: two
        send-then-receive turns, no deadlock (sends never wait for the peer)."""
        R = Ring(ell)
        k = contexts_needed(ell, self.t, self.p.stat_bits)
        T = math.prod(self.t[:k])
        xf, yf = x.reshape(-1), y.reshape(-1)
        out = R.mul(xf, yf)
        first, second = role_halves(xf.size, self.p.n)
        mine, peer = (first, second) if self.mpc.party == 1 else (second, first)
        mine, peer = list(self._blocks(mine)), list(self._blocks(peer))
        for sl in mine:
            self._send_inputs(xf[sl], yf[sl], k)
        received = [self._recv_inputs(sl.stop - sl.start, k) for sl in peer]
        for sl, got in zip(peer, received):
            r_mod2 = self._answer(xf[sl], yf[sl], k, got)
            out[sl] = R.add(out[sl], R.reduce(r_mod2 - U64(T % (1 << 64))))
        for sl in mine:
            out[sl] = R.add(out[sl], R.reduce(self._recv_result(sl.stop - sl.start, k)))
        return out.reshape(x.shape)

    def _blocks(self, part: slice):
        block = max(1, int(get_config().he_mul_block)) * self.p.n
        for sl in iter_chunks(part.stop - part.start, block):
            yield slice(part.start + sl.start, part.start + sl.stop)

    def _mask(self, k: int, count: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """E's mask r uniform in [0, T = t_1···t_k), drawn in mixed radix: (digits, r mod t_i)."""
        prg = self.mpc.prg
        digits = [uniform_mod(prg, t, count) for t in self.t[:k]]
        res = []
        for i in range(k):
            t = self.t[i]
            # r mod t_i = Σ_j d_j·Π_{m<j} t_m, and the terms with j > i vanish mod t_i
            r_i = digits[0] % U64(t)
            w = 1
            for j in range(1, i + 1):
                w *= self.t[j - 1]
                r_i = addmod(r_i, mulmod(digits[j] % U64(t), w % t, t), t)
            res.append(r_i)
        return digits, res

    def _finish(self, data: np.ndarray) -> np.ndarray:
        """Flood c0 (already switched to the ``keep`` primes), drop low bits, pack."""
        b, q = self.budget, self.q[: self.p.keep]
        c0 = data[:, 0]
        F = self.mpc.prg.uint64(c0.shape[0] * c0.shape[2]) >> U64(64 - b.flood_bits - 1)
        F = (F.view(np.int64) - np.int64(1 << b.flood_bits)).reshape(c0.shape[0], -1)
        for j, qj in enumerate(q):
            c0[:, j] = addmod(c0[:, j], (F % np.int64(qj)).view(U64), qj)
        hi, lo = crt2_128(data[:, :, 0], data[:, :, 1], q[0], q[1])
        parts = []
        for poly, d in ((0, b.d0), (1, b.d1)):
            h, l = shr128(hi[:, poly], lo[:, poly], d)
            parts.append(_pack_split(h.reshape(-1), l.reshape(-1), b.width - d))
        return np.concatenate(parts)

    def _recv_result(self, m: int, k: int) -> np.ndarray:
        """K: the answers to its block of m elements, dropped bits restored at their midpoint,
        decrypted and decoded per context, CRT-combined mod 2^64."""
        n, b, keep = self.p.n, self.budget, self.p.keep
        cts = -(-m // n)
        cnt = k * cts * n
        (words,) = self.mpc.ch.recv((np.uint64, (self.down_words(k * cts),)))
        w0, w1 = self.down_widths()
        n0 = _split_words(cnt, w0)
        polys = []
        for d, w, ws in ((b.d0, w0, words[:n0]), (b.d1, w1, words[n0:])):
            h, l = _unpack_split(ws, w, cnt)
            h, l = shl128(h, l, d)
            l2 = l + U64(1 << (d - 1))  # midpoint of the dropped bits
            h = h + (l2 < l).astype(U64)
            polys.append(np.stack([mod128(h, l2, qj).reshape(k, cts, n) for qj in self.q[:keep]]))
        z = self._decrypt(polys[0], polys[1], k, cts)  # (k, cts·N) slots mod t_i
        return garner_mod2k([v[:m] for v in z], self.t[:k])


class SimdMul(SimdEngine):
    """The default backend: our own batched BFV on the compiled NTT (:mod:`.ntt`), with SEAL's
    primes and security bound, this party's secret key and the peer's public key."""

    scheme = SCHEME

    def __init__(self, mpc, params: SimdParams | None = None):
        super().__init__(mpc, params)
        self.tq = [ntt.table(q, self.p.n) for q in self.q]
        self.tt = [ntt.table(t, self.p.n) for t in self.t]
        Q = math.prod(self.q)
        # round(Q·m/t) = floor(Q/t)·m + round((Q mod t)·m/t): per context, floor(Q/t) mod q_j and Q mod t
        self.delta = [[(Q // t) % q for q in self.q] for t in self.t]
        self.q_mod_t = [Q % t for t in self.t]

    # --- set-up: keys ------------------------------------------------------------------------
    def setup(self) -> None:
        """Both parties: a ternary secret key s, a public key (b, a) = (−a·s + e, a) with a expanded
        from a seed, and one exchange of (parameter fingerprint, seed, b).  Each party is the key
        owner K for half of every batch and uses the peer's public key to re-randomise."""
        ch, prg, n = self.mpc.ch, self.mpc.prg, self.p.n
        with ch.scope("he_mul_setup"):
            s = sample_ternary(prg, (1, n))
            self.s_ntt = self._ntt_small(s)[:, 0]  # (L, N)
            seed = prg.random_bytes(SEED_BYTES)
            a = self._expand(seed, 1)[:, 0]
            b = self._ntt_small(sample_cbd(prg, (1, n)))[:, 0]
            for j, tab in enumerate(self.tq):
                ntt.mulmod(a[j], self.s_ntt[j], tab, out=b[j], accumulate=-1)
            ch.send(np.frombuffer(self.fingerprint, dtype=np.uint8), np.frombuffer(seed, dtype=np.uint8),
                    self._pack_limbs(b[:, None]))
            got = self._recv_keys()
            want = [(np.uint8, (SEED_BYTES,)), (np.uint64, (sum(self.up_words(1)),))]
            if len(got) != 2 or any(a.dtype != d or a.shape != sh for a, (d, sh) in zip(got, want)):
                raise ProtocolError(f"SIMD-mul: malformed public key message ({[a.shape for a in got]})")
            peer_seed, words = got
            self.pk_b = self._unpack_limbs(words, 1)[:, 0]
            self.pk_a = self._expand(bytes(peer_seed), 1)[:, 0]

    # --- RNS helpers ---------------------------------------------------------------------------
    def _expand(self, seed: bytes, cts: int) -> np.ndarray:
        """The uniform a of ``cts`` ciphertexts from a public seed, in the NTT domain: (L, cts, N)
        (a uniform polynomial has a uniform transform, so it is drawn there)."""
        out = np.empty((len(self.q), cts, self.p.n), dtype=U64)
        for j, q in enumerate(self.q):
            uniform_mod(PRG(derive_seed(seed, "a", j)), q, out[j].size, out=out[j])
        return out

    def _ntt_small(self, e: np.ndarray) -> np.ndarray:
        """Transforms of small signed polynomials (int64, (..., N)) mod every prime: (L, ..., N)."""
        out = np.stack([np.mod(e, q).astype(U64) for q in self.q])
        for j in range(out.shape[0]):
            ntt.ntt(out[j], self.tq[j])
        return out

    def _lift_centred(self, p: np.ndarray, t: int) -> np.ndarray:
        """Plaintext coefficients in [0, t) lifted to the centred representative mod every prime:
        (L, ...); the products' noise then grows with t/2, not t."""
        neg = p > U64(t // 2)
        d = np.where(neg, U64(t) - p, p)
        out = np.empty((len(self.q),) + p.shape, dtype=U64)
        for j, q in enumerate(self.q):
            r = d % U64(q) if q <= t else d
            out[j] = np.where(neg & (r != 0), U64(q) - r, r)
        return out

    def _scaled(self, m: np.ndarray, i: int) -> np.ndarray:
        """round(Q·m/t_i) mod every prime, (L, ...), for plaintext coefficients m in [0, t_i):
        BFV's exact scaling (rounding error ≤ 1/2 instead of (Q mod t)·m/t)."""
        t = self.t[i]
        quo, rem = muldivmod(m, self.q_mod_t[i], t)
        corr = quo + (rem >= U64((t + 1) // 2)).astype(U64)  # ≤ t
        out = np.empty((len(self.q),) + m.shape, dtype=U64)
        for j, q in enumerate(self.q):
            out[j] = addmod(mulmod(m, self.delta[i][j], q), corr % U64(q), q)
        return out

    # K: encrypt and send ------------------------------------------------------------------------
    def _send_inputs(self, x1: np.ndarray, y1: np.ndarray, k: int) -> None:
        """Seeded symmetric encryptions of x1 and y1 in each context, sent in the NTT domain:
        c0 = NTT(round(Q·m/t) + e) − a·s, with m = INTT_t(slots) and a expanded from one seed."""
        n, cts = self.p.n, -(-x1.size // self.p.n)
        prg = self.mpc.prg
        seed = prg.random_bytes(SEED_BYTES)
        c0 = np.empty((len(self.q), k, 2, cts, n), dtype=U64)
        for i in range(k):
            m = ntt.intt(self._slots((x1, y1), i, cts), self.tt[i])
            c0[:, i] = self._scaled(m, i)
        c0 = c0.reshape(len(self.q), k * 2 * cts, n)
        e = sample_cbd(prg, (k * 2 * cts, n))
        a = self._expand(seed, k * 2 * cts)
        for j, tab in enumerate(self.tq):
            c0[j] = addmod(c0[j], np.mod(e, tab.q).astype(U64), tab.q)
            ntt.ntt(c0[j], tab)
            ntt.mulmod(a[j], self.s_ntt[j], tab, out=c0[j], accumulate=-1)
        self.mpc.ch.send(self._pack_limbs(c0), np.frombuffer(seed, dtype=np.uint8))

    # E: evaluate and answer ------------------------------------------------------------------------
    def _recv_inputs(self, m: int, k: int) -> tuple[np.ndarray, np.ndarray]:
        nct = k * 2 * -(-m // self.p.n)
        return self.mpc.ch.recv((np.uint64, (sum(self.up_words(nct)),)), (np.uint8, (SEED_BYTES,)))

    def _answer(self, x0: np.ndarray, y0: np.ndarray, k: int, received) -> np.ndarray:
        """E's side: Enc(x1)·y0 + Enc(y1)·x0 in the NTT domain, re-randomised there with the
        peer's public key (pk_b·u + e0, pk_a·u + e1), one inverse transform per component, minus
        round(Q·r/t), switched down to ``keep`` primes, flooded, low bits dropped."""
        n, L, keep = self.p.n, len(self.q), self.p.keep
        cts = -(-x0.size // n)
        words, seed = received
        c0 = self._unpack_limbs(words, k * 2 * cts).reshape(L, k, 2, cts, n)
        a = self._expand(bytes(seed), k * 2 * cts).reshape(L, k, 2, cts, n)
        prg = self.mpc.prg
        digits, r = self._mask(k, cts * n)
        out = np.empty((k, cts, 2, keep, n), dtype=U64)
        for i in range(k):
            t = self.t[i]
            polys = ntt.intt(self._slots((y0, x0, r[i]), i, cts), self.tt[i])
            pl = self._lift_centred(polys[:2], t)  # (L, 2, cts, N): y0, x0
            u = self._ntt_small(sample_ternary(prg, (cts, n)))
            acc = np.empty((2, L, cts, n), dtype=U64)
            for j, tab in enumerate(self.tq):
                ntt.ntt(pl[j], tab)
                for comp, (src, pk) in enumerate(((c0[j, i], self.pk_b[j]), (a[j, i], self.pk_a[j]))):
                    dst = acc[comp, j]
                    ntt.mulmod(src[0], pl[j, 0], tab, out=dst)
                    ntt.mulmod(src[1], pl[j, 1], tab, out=dst, accumulate=1)
                    ntt.mulmod(u[j], pk, tab, out=dst, accumulate=1)
                    ntt.intt(dst, tab)
            e = sample_cbd(prg, (2, cts, n))
            mask = self._scaled(polys[2], i)
            for j, q in enumerate(self.q):
                acc[:, j] = addmod(acc[:, j], np.mod(e, q).astype(U64), q)
                acc[0, j] = submod(acc[0, j], mask[j], q)
            for _ in range(L - keep):
                acc = self._switch_down(acc)
            out[i] = acc.transpose(2, 0, 1, 3)
        self.mpc.ch.send(self._finish(out.reshape(k * cts, 2, keep, n)))
        return radix_value(digits, self.t[:k])[: x0.size]

    def _switch_down(self, c: np.ndarray) -> np.ndarray:
        """Modulus switch in the coefficient domain: drop the last prime q_l of (..., l, cts, N)
        residues, c' = round(c/q_l) = (c + ⌊q_l/2⌋ − ((c + ⌊q_l/2⌋) mod q_l))/q_l mod the others."""
        l = c.shape[-3] - 1
        ql = self.q[l]
        h = ql // 2
        last = c[..., l, :, :] + U64(h)
        last = np.where(last >= U64(ql), last - U64(ql), last)
        out = np.empty(c.shape[:-3] + (l,) + c.shape[-2:], dtype=U64)
        for j in range(l):
            q = self.q[j]
            v = submod(addmod(c[..., j, :, :], U64(h % q), q), last % U64(q), q)
            out[..., j, :, :] = mulmod(v, pow(ql, -1, q), q)
        return out

    # K: receive and decrypt ------------------------------------------------------------------------
    def _decrypt(self, c0: np.ndarray, c1: np.ndarray, k: int, cts: int) -> list[np.ndarray]:
        """x = c0 + c1·s mod q' = q1·q2, then round(t·x/q') mod t (decrypt_scale), then decode."""
        x = []
        for j in range(self.p.keep):
            tab = self.tq[j]
            p1 = ntt.ntt(np.ascontiguousarray(c1[j]), tab)
            ntt.mulmod(p1, self.s_ntt[j], tab, out=p1)
            x.append(addmod(c0[j], ntt.intt(p1, tab), tab.q))
        return [ntt.ntt(decrypt_scale(x[0][i], x[1][i], self.q[0], self.q[1], self.t[i]), self.tt[i]).reshape(-1)
                for i in range(k)]


# ------------------------------------------------------------------------------------------
# numpy helpers on RNS ciphertexts
# ------------------------------------------------------------------------------------------
def crt2_128(r1: np.ndarray, r2: np.ndarray, q1: int, q2: int) -> tuple[np.ndarray, np.ndarray]:
    """The value in [0, q1·q2) with residues r1, r2, as (hi, lo) 64-bit words."""
    h = mulmod(submod(r2, r1 % U64(q2), q2), pow(q1, -1, q2), q2)
    hi, lo = mul128(h, U64(q1))
    lo2 = lo + r1
    return hi + (lo2 < lo).astype(U64), lo2


def shr128(hi, lo, d: int):
    return hi >> U64(d), (lo >> U64(d)) | (hi << U64(64 - d))


def shl128(hi, lo, d: int):
    return (hi << U64(d)) | (lo >> U64(64 - d)), lo << U64(d)


def mod128(hi, lo, q: int) -> np.ndarray:
    return addmod(mulmod(hi, pow(2, 64, q), q), lo % U64(q), q)


def _split_words(count: int, w: int) -> int:
    lo_w = min(w, 64)
    return -(-count * lo_w // 64) + (-(-count * (w - 64) // 64) if w > 64 else 0)


def _pack_split(hi, lo, w: int) -> np.ndarray:
    """Pack values < 2^w given as (hi, lo) words: low min(w, 64) bits, then the rest."""
    parts = [_packw(lo, min(w, 64))]
    if w > 64:
        parts.append(_packw(hi, w - 64))
    return np.concatenate(parts)


def _unpack_split(words, w: int, count: int):
    n_lo = -(-count * min(w, 64) // 64)
    lo = _unpackw(words[:n_lo], min(w, 64), count)
    hi = _unpackw(words[n_lo:], w - 64, count) if w > 64 else np.zeros(count, dtype=U64)
    return hi, lo


# ------------------------------------------------------------------------------------------
# public API
# ------------------------------------------------------------------------------------------
def mul_aa_he(mpc, x, y, *, ell: int | None = None) -> np.ndarray:
    """Product of arithmetic shares by batched BFV (see the module docstring).

    Inputs: this party's shares ``x``, ``y`` mod 2^ell (same shape, any size).
    Output: shares of x·y mod 2^ell (exact except w.p. ≤ 2^−stat per element).
    Rounds: 1 (pipelined in blocks); traffic :func:`mul_aa_he_cost`.  The first call in a session
    runs :meth:`SimdMul.setup` (one exchange, ~0.7 MB each way)."""
    ell = get_config().ell if ell is None else int(ell)
    R = Ring(ell)
    x = R.reduce(np.asarray(x, dtype=U64))
    y = R.reduce(np.asarray(y, dtype=U64))
    if x.shape != y.shape:
        raise ValueError(f"mul_aa_he: share shapes differ: {x.shape} vs {y.shape}")
    if x.size == 0:
        return x.copy()
    return SimdMul.of(mpc).mul(x, y, ell)


def role_halves(n: int, N: int) -> tuple[slice, slice]:
    """Elements whose key owner is party 1 (the first ⌈C/2⌉ of C ciphertexts) and party 0."""
    split = min(n, -(-(-(-n // N)) // 2) * N)
    return slice(0, split), slice(split, n)


def mul_aa_he_cost(n: int, ell: int, engine: SimdMul | None = None) -> dict:
    """Exact payload bytes of :func:`mul_aa_he` on n elements: {'bytes_0to1', 'bytes_1to0',
    'msgs' (per party), 'rounds'}; each direction carries its key owner's encryptions and the
    other half's answers."""
    eng = engine or _cost_engine()
    N = eng.p.n
    k = contexts_needed(ell, eng.t, eng.p.stat_bits)
    block = max(1, int(get_config().he_mul_block)) * N

    def up_down(part: slice) -> tuple[int, int, int]:
        up = down = msgs = 0
        for sl in iter_chunks(part.stop - part.start, block):
            cts = -(-(sl.stop - sl.start) // N)
            up += 8 * sum(eng.up_words(2 * k * cts)) + eng.seed_bytes(2 * k * cts)
            down += 8 * eng.down_words(k * cts)
            msgs += 1
        return up, down, msgs

    (u1, d1, m1), (u0, d0, m0) = (up_down(part) for part in role_halves(n, N))
    return {"bytes_1to0": u1 + d0, "bytes_0to1": u0 + d1, "msgs": m0 + m1, "rounds": 2 if m0 else 1}


_COST_ENGINE: dict = {}


def backend_class(name: str) -> type:
    """The engine class of ``Config.he_mul_backend``."""
    if name == "seal":
        from .simd_mul_seal import SealSimdMul

        return SealSimdMul
    if name == "native":
        return SimdMul
    raise ValueError(f"unknown he_mul_backend {name!r}: 'native' or 'seal'")


def _cost_engine() -> SimdEngine:
    key = (SimdParams.from_config(), get_config().he_mul_backend)
    if key not in _COST_ENGINE:
        _COST_ENGINE[key] = backend_class(key[1])(None, key[0])
    return _COST_ENGINE[key]


def mul_aa_he_ideal(x, y, ell: int) -> np.ndarray:
    R = Ring(ell)
    return R.mul(R.reduce(np.asarray(x, dtype=U64)), R.reduce(np.asarray(y, dtype=U64)))

"""Elementwise product of arithmetic shares by batched BFV in SEAL: ``mul_aa_he`` (Cheetah/SPU's
route for ``mul_aa`` in a large ring, with our own wire format).

Ideal functionality (:func:`mul_aa_he_ideal`): shares of x, y in Z_{2^ell} -> shares of x·y.

Protocol, for one ciphertext's worth of elements (key owner "K" holds x1, y1; evaluator "E" holds
x0, y0; each party plays both roles on half of a batch, see Roles below):

  x·y = x0·y0 + x1·y1 + (x0·y1 + x1·y0) mod 2^ell; the cross term c < 2^(2·ell+1) is computed
  over the integers modulo T = t_1···t_k, k plaintext primes t_i ≡ 1 mod 2N (57 bits), with
  T ≥ 2^(2·ell+1+stat): one SEAL context per t_i, N = 8192 SIMD slots each.

  1. K encrypts x1 and y1 (mod t_i, batched) with its secret key; the ciphertexts are *seeded*
     (c1 is re-expanded from a 64-byte seed), so only c0 travels: log2(q) bits per slot.
  2. E computes ct = Enc(x1)·y0 + Enc(y1)·x0 − r (plaintext products, no rotation, no
     relinearisation) with r uniform in [0, T) drawn in mixed radix (its residues mod t_i and its
     value mod 2^ell follow exactly); lets SEAL switch the modulus down to the first ``keep``
     primes, adding an encryption of zero under K's public key one level above (c1 becomes fresh
     and tells K nothing about y0, x0); the switches scale the noise of the two products (the
     only noise that depends on E's inputs) to below ~1; floods c0 with uniform noise of 2^(stat+union) times that bound; and
     drops the low D0 / D1 bits of c0 / c1 (after flooding and re-randomisation they are a
     function of public values, so dropping them leaks nothing; it only costs noise budget).
  3. K restores the midpoint of the dropped bits, decrypts and decodes z_i = (c − r) mod t_i,
     and reconstructs z = (c − r) mod T (Garner) modulo 2^ell.
  Output: E holds x0·y0 + r − T, K holds x1·y1 + z.  Since z ≡ c − r (mod T) is uniform for
  uniform r, K learns nothing (perfect masking); the sum is exact unless r ≤ c, which happens with
  probability ≤ 2^(2·ell+1)/T ≤ 2^−stat per element (then it is off by T mod 2^ell).

Parameters (:class:`SimdParams`, asserted at construction): N = 8192, q = 60+60+38+38 bits (data
level; a 22-bit special prime completes SEAL's key level, 218 bits total = SEAL's 128-bit maximum
for N = 8192), t_i 57 bits, q' = 60+60 bits.  Noise (all worst case; SEAL's errors are clipped at
6σ ≈ 19.2, encoding rounds by ≤ 1/2): see :class:`Budget`.

Roles: party 1 is K for the first half of the ciphertexts and party 0 for the rest, so both
parties encrypt, evaluate and decrypt at once.  Each sends all its encryptions, receives the
peer's, answers them and receives its answers: two send-then-receive turns (one for a single
ciphertext).  Traffic per element (ell = 64, k = 3 contexts), summed over both directions:
  encryptions: 2·k·196 bits (seeded c0) + an 81-byte seed per ciphertext  ≈ 147 B
  answers:     k·((120 − D0) + (120 − D1)) bits (D0 = 60, D1 = 48)          ≈ 49 B
  ≈ 196 B per product (Gilboa/COT: 536 B); exact bytes :func:`mul_aa_he_cost`.
Set-up (once per session, :meth:`SimdMul.setup`): each party's k public keys (SEAL format,
~0.7 MB each way, one exchange).
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
from .params import seal_max_bits
from .rlwe import _packw, _unpackw
from .seal_io import SEED_INFO_BYTES, CtData, load_ct, load_into, parse_ct, save_body, save_raw

U64 = np.uint64
SEAL_NOISE_MAX = 19.2  # SEAL's clipped normal: sigma 3.2, max deviation 6 sigma


# ------------------------------------------------------------------------------------------
# modular arithmetic on uint64 arrays with moduli < 2^62 (no 128-bit integers in numpy)
# ------------------------------------------------------------------------------------------
def mulhi(a: np.ndarray, w: int) -> np.ndarray:
    """High 64 bits of a·w for uint64 a and a constant w < 2^64 (32-bit limbs, exact)."""
    m32 = U64(0xFFFFFFFF)
    a0, a1 = a & m32, a >> U64(32)
    w0, w1 = U64(w & 0xFFFFFFFF), U64(w >> 32)
    x, y = a1 * w0, a0 * w1
    mid = ((a0 * w0) >> U64(32)) + (x & m32) + (y & m32)
    return a1 * w1 + (x >> U64(32)) + (y >> U64(32)) + (mid >> U64(32))


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
    s = np.asarray(a, dtype=U64) + np.asarray(b, dtype=U64)  # < 2^63: no wrap
    return np.where(s >= U64(q), s - U64(q), s)


def submod(a, b, q: int) -> np.ndarray:
    a = np.asarray(a, dtype=U64)
    b = np.asarray(b, dtype=U64)
    return np.where(a >= b, a - b, a + (U64(q) - b))


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


def uniform_mod(prg, q: int, n: int) -> np.ndarray:
    """n uniform integers in [0, q) (q < 2^63) by rejection from bit_length(q)-bit draws."""
    w = q.bit_length()
    out = np.empty(0, dtype=U64)
    while out.size < n:
        need = n - out.size
        u = prg.uint64(need + need // 2 + 64) >> U64(64 - w)
        out = np.concatenate([out, u[u < U64(q)]])
    return out[:n]


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


# ------------------------------------------------------------------------------------------
# parameters
# ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SimdParams:
    n: int = 8192
    plain_bits: int = 57
    coeff_bits: tuple[int, ...] = (60, 60, 38, 38, 22)  # last = SEAL's special prime (key level only)
    keep: int = 2  # primes of the returned ciphertexts
    max_contexts: int = 3
    stat_bits: int = 40
    union_bits: int = 20

    @classmethod
    def from_config(cls) -> "SimdParams":
        cfg = get_config()
        return cls(stat_bits=cfg.he_stat_bits, union_bits=cfg.he_union_bits)


class Budget:
    """Worst-case noise budget of :class:`SimdParams` with SEAL's actual primes.

    Input-dependent noise: the two plaintext products, |e·p| ≤ N·(19.2 + 1/2)·t/2 each (B_mul).
    After the switches to q' (``keep`` primes) it is B_mul·q'/q, plus the rounding of c0 (≤ 1/2 per
    switch, a function of c0), plus the rounding of c1 in the switches *before* the re-randomisation
    (done at keep + 1 primes), (1 + N)/2 each, scaled by q'/q_mid; flooding adds F ≥ 2^(stat+union)
    times that sum (S_in).  Everything else K sees is input-independent: the re-randomising
    encryption of zero and the rounding of the fresh c1 in the last switch (K could compute it).  Correctness in invariant
    form: t/q'·(F + S_in + switches·(1 + N)/2 + B_pk·q'/q) + t·2^(D0−1)/q' + t·N·2^(D1−1)/q' < 1/2.
    """

    def __init__(self, p: SimdParams, q_primes: list[int], t_max: int):
        n, t = p.n, t_max
        self.q = math.prod(q_primes)
        self.q_keep = math.prod(q_primes[: p.keep])
        switches = len(q_primes) - p.keep
        self.b_mul = 2 * n * (SEAL_NOISE_MAX + 0.5) * (t / 2)
        self.b_pk = SEAL_NOISE_MAX * (2 * n + 1)
        if (self.b_mul + self.b_pk) * t / self.q >= 0.25:
            raise ValueError("SIMD-mul: the data-level modulus is too small for the products")
        # re-randomisation happens one level above q'; the c1 rounding of the switches before it
        # is input-dependent and scaled by q'/q_mid
        q_mid = math.prod(q_primes[: p.keep + 1])
        self.s_in = self.b_mul * self.q_keep / self.q + switches / 2 + (switches - 1) * (1 + n) / 2 * self.q_keep / q_mid
        self.flood_bits = math.ceil(math.log2(self.s_in)) + p.stat_bits + p.union_bits
        if self.flood_bits > 62:
            raise ValueError(f"SIMD-mul: flooding needs {self.flood_bits} bits (> 62); raise the data-level modulus")
        noise = 2.0 ** self.flood_bits + self.s_in + (1 + n) / 2 + self.b_pk * self.q_keep / q_mid
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
class SimdMul:
    """One per party and session (``SimdMul.of(mpc)``): SEAL contexts, this party's keys and the
    peer's public keys."""

    def __init__(self, mpc, params: SimdParams | None = None):
        from tenseal import sealapi

        self.mpc = mpc
        self.s = sealapi
        self.p = params or SimdParams.from_config()
        p = self.p
        if sum(p.coeff_bits) > seal_max_bits(p.n):
            raise ValueError(f"SIMD-mul modulus of {sum(p.coeff_bits)} bits exceeds SEAL's 128-bit bound "
                             f"{seal_max_bits(p.n)} for N={p.n}")
        cm = sealapi.CoeffModulus.Create(p.n, list(p.coeff_bits))
        self.t = [m.value() for m in sealapi.PlainModulus.Batching(p.n, [p.plain_bits] * p.max_contexts)]
        self.ctx = []
        for t in self.t:
            parms = sealapi.EncryptionParameters(sealapi.SCHEME_TYPE.BFV)
            parms.set_poly_modulus_degree(p.n)
            parms.set_coeff_modulus(cm)
            parms.set_plain_modulus(t)
            ctx = sealapi.SEALContext(parms, True, sealapi.SEC_LEVEL_TYPE.TC128)
            if not ctx.parameters_set():
                raise ValueError(f"SEAL rejected the SIMD-mul parameters: {ctx.parameters_error_message()}")
            self.ctx.append(ctx)
        first = self.ctx[0].first_context_data()
        self.q = [m.value() for m in first.parms().coeff_modulus()]  # data level
        self.first_pid = [c.first_parms_id() for c in self.ctx]
        self.keep_pid, self.mid_pid = [], []
        for c in self.ctx:
            d = c.first_context_data()
            for _ in range(len(self.q) - p.keep - 1):
                d = d.next_context_data()
            self.mid_pid.append(list(d.parms_id()))
            self.keep_pid.append(tuple(d.next_context_data().parms_id()))
        self.budget = Budget(p, self.q, max(self.t))
        self.enc = [sealapi.BatchEncoder(c) for c in self.ctx]
        self.ev = [sealapi.Evaluator(c) for c in self.ctx]

    @classmethod
    def of(cls, mpc) -> "SimdMul":
        """The session's engine, set up on first use."""
        eng = getattr(mpc, "_simd_mul", None)
        if eng is None:
            eng = cls(mpc)
            eng.setup()
            mpc._simd_mul = eng
        return eng

    @cached_property
    def fingerprint(self) -> bytes:
        h = hashlib.sha256(repr((self.p, self.t, self.q, self.budget.flood_bits, self.budget.d0,
                                 self.budget.d1)).encode())
        return h.digest()

    # --- set-up: K's public keys --------------------------------------------------------------
    def setup(self) -> None:
        """Both parties: generate keys, exchange the parameter fingerprint and the public keys
        (one exchange).  Each party is the key owner K for half of every batch."""
        s, ch = self.s, self.mpc.ch
        with ch.scope("he_mul_setup"):
            self.encryptor, self.decryptor, pks = [], [], []
            for c in self.ctx:
                kg = s.KeyGenerator(c)
                sk = kg.secret_key()
                self.encryptor.append(s.Encryptor(c, sk))
                self.decryptor.append(s.Decryptor(c, sk))
                pk = s.PublicKey()
                kg.create_public_key(pk)
                pks.append(np.frombuffer(save_raw(pk), dtype=np.uint8))
            ch.send(np.frombuffer(self.fingerprint, dtype=np.uint8), *pks)
            got = ch.recv((np.uint8, (32,)), *[(np.uint8, (-1,))] * len(self.ctx))
            if bytes(got[0]) != self.fingerprint:
                raise ProtocolError("SIMD-mul parameters differ between the parties (version skew?)")
            self.pk_encryptor = []
            for c, raw in zip(self.ctx, got[1:]):
                pk = load_into(s.PublicKey(), c, raw.tobytes())
                self.pk_encryptor.append(s.Encryptor(c, pk))

    # --- sizes -------------------------------------------------------------------------------
    def up_words(self, cts: int) -> list[int]:
        """uint64 words of one upload block: per data-level limb, cts·N residues packed."""
        return [-(-cts * self.p.n * q.bit_length() // 64) for q in self.q]

    def down_widths(self) -> tuple[int, int]:
        b = self.budget
        return b.width - b.d0, b.width - b.d1

    def down_words(self, cts: int) -> int:
        return sum(_split_words(cts * self.p.n, w) for w in self.down_widths())

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

    # K: encrypt and send ------------------------------------------------------------------------
    def _encode(self, i: int, v: np.ndarray):
        """Batch-encode ``v`` (already reduced mod t_i) into context i."""
        pt = self.s.Plaintext()
        self.enc[i].encode(v.tolist(), pt)
        return pt

    def _send_inputs(self, x1: np.ndarray, y1: np.ndarray, k: int) -> None:
        N = self.p.n
        cts = -(-x1.size // N)
        limbs: list[list[np.ndarray]] = [[] for _ in self.q]  # per RNS limb, one (N,) row per ciphertext
        seeds = []
        for i in range(k):
            for v in (x1, y1):
                vp = np.zeros(cts * N, dtype=U64)
                vp[: v.size] = v % U64(self.t[i])
                for c in range(cts):
                    ser = self.encryptor[i].encrypt_symmetric(self._encode(i, vp[c * N:(c + 1) * N]))
                    ct = parse_ct(save_body(ser))
                    for j, row in enumerate(ct.data[0]):
                        limbs[j].append(row)
                    seeds.append(np.frombuffer(ct.seed, dtype=np.uint8))
        words = [_packw(np.concatenate(rows), q.bit_length()) for rows, q in zip(limbs, self.q)]
        self.mpc.ch.send(np.concatenate(words), np.stack(seeds))

    # E: evaluate and answer ------------------------------------------------------------------------
    def _recv_inputs(self, m: int, k: int) -> tuple[np.ndarray, np.ndarray]:
        nct = k * 2 * -(-m // self.p.n)
        return self.mpc.ch.recv((np.uint64, (sum(self.up_words(nct)),)), (np.uint8, (nct, SEED_INFO_BYTES)))

    def _answer(self, x0: np.ndarray, y0: np.ndarray, k: int, received) -> np.ndarray:
        N, L = self.p.n, len(self.q)
        cts = -(-x0.size // N)
        nct = k * 2 * cts
        words, seeds = received
        lim = np.empty((nct, L, N), dtype=U64)
        pos = 0
        for j, (q, nw) in enumerate(zip(self.q, self.up_words(nct))):
            v = _unpackw(words[pos:pos + nw], q.bit_length(), nct * N)
            if v.size and v.max() >= U64(q):
                raise ProtocolError("SIMD-mul: ciphertext residue out of range")
            lim[:, j] = v.reshape(nct, N)
            pos += nw
        # the mask r in mixed radix: uniform in [0, T)
        prg = self.mpc.prg
        digits = [uniform_mod(prg, t, cts * N) for t in self.t[:k]]
        out = []
        x0p, y0p = (np.concatenate([v, np.zeros(cts * N - v.size, dtype=U64)]) for v in (x0, y0))
        for i in range(k):
            t = self.t[i]
            # r mod t_i = Σ_j d_j·Π_{m<j} t_m, and the terms with j > i vanish mod t_i
            r_i = digits[0] % U64(t)
            w = 1
            for j in range(1, i + 1):
                w *= self.t[j - 1]
                r_i = addmod(r_i, mulmod(digits[j] % U64(t), w % t, t), t)
            s, ev, ctx = self.s, self.ev[i], self.ctx[i]
            pid = tuple(self.first_pid[i])
            x0t, y0t = x0p % U64(t), y0p % U64(t)
            for c in range(cts):
                sl = slice(c * N, (c + 1) * N)
                base = (i * 2) * cts + c
                acc = None
                for b, v in ((base, y0t[sl]), (base + cts, x0t[sl])):
                    # SEAL refuses products with an all-zero plaintext (a "transparent" result)
                    if v.any():
                        ct = load_ct(s, ctx, CtData(pid, False, 2, N, L, 1.0, 1, lim[b][None], seeds[b].tobytes()))
                        # both products and their sum in the NTT domain: one inverse transform
                        # of the sum instead of one per product (~10 % of the evaluation)
                        ev.transform_to_ntt_inplace(ct)
                        pt = self._encode(i, v)
                        ev.transform_to_ntt_inplace(pt, self.first_pid[i])
                        ev.multiply_plain_inplace(ct, pt)
                        if acc is None:
                            acc = ct
                        else:
                            ev.add_inplace(acc, ct)
                if acc is not None:
                    ev.transform_from_ntt_inplace(acc)
                if acc is None:
                    acc = s.Ciphertext()
                    self.pk_encryptor[i].encrypt_zero(acc)
                if r_i[sl].any():
                    ev.sub_plain_inplace(acc, self._encode(i, r_i[sl]))
                # down to keep + 1 primes, re-randomise c1 there (cheaper than at the top level;
                # the c1 rounding of these switches is scaled by 1/q_(keep+1) below), then down
                for _ in range(L - self.p.keep - 1):
                    ev.mod_switch_to_next_inplace(acc)
                z = s.Ciphertext()
                self.pk_encryptor[i].encrypt_zero(self.mid_pid[i], z)
                ev.add_inplace(acc, z)
                ev.mod_switch_to_next_inplace(acc)
                out.append(parse_ct(save_body(acc)).data)
        data = np.stack(out)  # (k·cts, 2, L, N)
        self.mpc.ch.send(self._finish(data))
        return radix_value(digits, self.t[:k])[: x0.size]

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

    # K: receive and decrypt ------------------------------------------------------------------------
    def _recv_result(self, m: int, k: int) -> np.ndarray:
        N, b = self.p.n, self.budget
        cts = -(-m // N)
        cnt = k * cts * N
        (words,) = self.mpc.ch.recv((np.uint64, (self.down_words(k * cts),)))
        w0, w1 = self.down_widths()
        n0 = _split_words(cnt, w0)
        polys = []
        for d, w, ws in ((b.d0, w0, words[:n0]), (b.d1, w1, words[n0:])):
            h, l = _unpack_split(ws, w, cnt)
            h, l = shl128(h, l, d)
            l2 = l + U64(1 << (d - 1))  # midpoint of the dropped bits
            h = h + (l2 < l).astype(U64)
            polys.append([mod128(h, l2, qj) for qj in self.q[: self.p.keep]])
        z = []
        for i in range(k):
            vals = []
            for c in range(cts):
                sl = slice((i * cts + c) * N, (i * cts + c + 1) * N)
                data = np.stack([np.stack([polys[pl][j][sl] for j in range(self.p.keep)]) for pl in (0, 1)])
                ct = load_ct(self.s, self.ctx[i], CtData(self.keep_pid[i], False, 2, N, self.p.keep, 1.0, 1, data))
                pt = self.s.Plaintext()
                self.decryptor[i].decrypt(ct, pt)
                vals.append(np.array(self.enc[i].decode_uint64(pt), dtype=U64))
            z.append(np.concatenate(vals)[:m])
        return garner_mod2k(z, self.t[:k])


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
            up += 8 * sum(eng.up_words(2 * k * cts)) + 2 * k * cts * SEED_INFO_BYTES
            down += 8 * eng.down_words(k * cts)
            msgs += 1
        return up, down, msgs

    (u1, d1, m1), (u0, d0, m0) = (up_down(part) for part in role_halves(n, N))
    return {"bytes_1to0": u1 + d0, "bytes_0to1": u0 + d1, "msgs": m0 + m1, "rounds": 2 if m0 else 1}


_COST_ENGINE: dict = {}


def _cost_engine() -> SimdMul:
    key = SimdParams.from_config()
    if key not in _COST_ENGINE:
        _COST_ENGINE[key] = SimdMul(None, key)
    return _COST_ENGINE[key]


def mul_aa_he_ideal(x, y, ell: int) -> np.ndarray:
    R = Ring(ell)
    return R.mul(R.reduce(np.asarray(x, dtype=U64)), R.reduce(np.asarray(y, dtype=U64)))

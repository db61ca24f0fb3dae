"""The SIMD-mul protocol of :mod:`.simd_mul` on SEAL's own BFV through ``tenseal.sealapi``
(``Config.he_mul_backend = "seal"``): the reference backend with real SEAL ciphertexts.

Same protocol, roles, mask, flooding, bit dropping and wire layout as the default backend; what
differs is who computes: SEAL encrypts (secret key, seeded ciphertexts: SEAL re-expands c1 from its
own 64-byte PRNG seed, sent per ciphertext), multiplies by plaintexts, re-randomises with an
encryption of zero under the key owner's public key (at keep + 1 primes, where it is cheaper in
SEAL), switches modulus and decrypts.  One SEAL context per plaintext prime t_i with its own keys;
the key level adds SEAL's 22-bit special prime (218 bits, SEAL's 128-bit maximum for N = 8192).
Noise: SEAL's clipped normal, |e| ≤ 6σ = 19.2.  :mod:`.seal_io` converts SEAL's serialised
ciphertexts to numpy residues and back (tenseal exposes no coefficient memory), which with SEAL's
per-call sampling and zstd compression makes this backend ~2-3x the CPU of the default one.
"""
from __future__ import annotations

import numpy as np

from ..channel import ProtocolError
from .seal_io import SEED_INFO_BYTES, CtData, load_ct, load_into, parse_ct, save_body, save_raw
from .simd_mul import U64, SimdEngine, SimdParams, radix_value

SPECIAL_BITS = 22  # SEAL's key-level prime (key switching only; never in a ciphertext here)
SEAL_NOISE_MAX = 19.2  # SEAL's clipped normal: sigma 3.2, max deviation 6 sigma


class SealSimdMul(SimdEngine):
    """SEAL contexts, this party's keys and the peer's public keys."""

    scheme = "seal-bfv-1"
    rerand_top = False
    e_max = SEAL_NOISE_MAX

    def __init__(self, mpc, params: SimdParams | None = None):
        from tenseal import sealapi

        super().__init__(mpc, params)
        self.s = sealapi
        p = self.p
        cm = sealapi.CoeffModulus.Create(p.n, list(p.coeff_bits) + [SPECIAL_BITS])
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
        first = [m.value() for m in self.ctx[0].first_context_data().parms().coeff_modulus()]
        if first != self.q:
            raise ValueError("SEAL's data-level primes differ from the engine's")
        self.first_pid = [c.first_parms_id() for c in self.ctx]
        self.keep_pid, self.mid_pid = [], []
        for c in self.ctx:
            d = c.first_context_data()
            for _ in range(len(self.q) - p.keep - 1):
                d = d.next_context_data()
            self.mid_pid.append(list(d.parms_id()))
            self.keep_pid.append(tuple(d.next_context_data().parms_id()))
        self.enc = [sealapi.BatchEncoder(c) for c in self.ctx]
        self.ev = [sealapi.Evaluator(c) for c in self.ctx]

    def extra_bits(self) -> int:
        return SPECIAL_BITS

    def seed_bytes(self, cts: int) -> int:
        return cts * SEED_INFO_BYTES

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
            got = self._recv_keys()
            if len(got) != len(self.ctx) or any(a.dtype != np.uint8 or a.ndim != 1 for a in got):
                raise ProtocolError(f"SIMD-mul: malformed public key message ({[a.shape for a in got]})")
            self.pk_encryptor = []
            for c, raw in zip(self.ctx, got):
                pk = load_into(s.PublicKey(), c, raw.tobytes())
                self.pk_encryptor.append(s.Encryptor(c, pk))

    # K: encrypt and send ------------------------------------------------------------------------
    def _encode(self, i: int, v: np.ndarray):
        """Batch-encode ``v`` (already reduced mod t_i) into context i."""
        pt = self.s.Plaintext()
        self.enc[i].encode(v.tolist(), pt)
        return pt

    def _send_inputs(self, x1: np.ndarray, y1: np.ndarray, k: int) -> None:
        N, cts = self.p.n, -(-x1.size // self.p.n)
        c0 = np.empty((len(self.q), k, 2, cts, N), dtype=U64)
        seeds = []
        for i in range(k):
            slots = self._slots((x1, y1), i, cts)
            for w in range(2):
                for c in range(cts):  # one SEAL call per ciphertext (8192 slots)
                    ser = self.encryptor[i].encrypt_symmetric(self._encode(i, slots[w, c]))
                    ct = parse_ct(save_body(ser))
                    c0[:, i, w, c] = ct.data[0]
                    seeds.append(np.frombuffer(ct.seed, dtype=np.uint8))
        self.mpc.ch.send(self._pack_limbs(c0.reshape(len(self.q), -1, N)), np.stack(seeds))

    # E: evaluate and answer ------------------------------------------------------------------------
    def _recv_inputs(self, m: int, k: int) -> tuple[np.ndarray, np.ndarray]:
        nct = k * 2 * -(-m // self.p.n)
        return self.mpc.ch.recv((np.uint64, (sum(self.up_words(nct)),)), (np.uint8, (nct, SEED_INFO_BYTES)))

    def _answer(self, x0: np.ndarray, y0: np.ndarray, k: int, received) -> np.ndarray:
        N, L = self.p.n, len(self.q)
        cts = -(-x0.size // N)
        nct = k * 2 * cts
        words, seeds = received
        lim = self._unpack_limbs(words, nct)  # (L, nct, N)
        digits, r = self._mask(k, cts * N)
        out = []
        for i in range(k):
            s, ev, ctx = self.s, self.ev[i], self.ctx[i]
            pid = tuple(self.first_pid[i])
            y0t, x0t = self._slots((y0, x0), i, cts)
            for c in range(cts):  # SEAL calls per ciphertext (8192 slots)
                sl = slice(c * N, (c + 1) * N)
                base = (i * 2) * cts + c
                acc = None
                for b, v in ((base, y0t[c]), (base + cts, x0t[c])):
                    # SEAL refuses products with an all-zero plaintext (a "transparent" result)
                    if v.any():
                        ct = load_ct(s, ctx, CtData(pid, False, 2, N, L, 1.0, 1, lim[:, b][None], seeds[b].tobytes()))
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
                if r[i][sl].any():
                    ev.sub_plain_inplace(acc, self._encode(i, r[i][sl]))
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

    # K: decrypt ---------------------------------------------------------------------------------
    def _decrypt(self, c0: np.ndarray, c1: np.ndarray, k: int, cts: int) -> list[np.ndarray]:
        N, keep = self.p.n, self.p.keep
        z = []
        for i in range(k):
            vals = []
            for c in range(cts):
                data = np.stack([c0[:, i, c], c1[:, i, c]])  # (2, keep, N)
                ct = load_ct(self.s, self.ctx[i], CtData(self.keep_pid[i], False, 2, N, keep, 1.0, 1, data))
                pt = self.s.Plaintext()
                self.decryptor[i].decrypt(ct, pt)
                vals.append(np.array(self.enc[i].decode_uint64(pt), dtype=U64))
            z.append(np.concatenate(vals))
        return z

"""Building blocks shared by COP, the baseline, mmul_aa and the embedding lookup.

* :class:`HEKey` (key owner): secret key, public key for re-randomisation, a secret seed from
  which the per-matrix ``a`` seeds are derived (so that a resumed setup continues the same
  ciphertexts' ``a`` parts).
* :class:`PublicKey` (the other party): what it needs to re-randomise and to size messages.
* :func:`finish_product` (holder of ciphertexts): packed MAC result -> re-randomise, mask, switch,
  flood -> wire bytes; returns the holder's output share (the mask).
* :func:`open_product` (key owner): wire bytes -> decrypted, unpacked (T, M) values.
* :func:`matmul_mod`: exact plaintext matrix product mod 2^ell with float64 BLAS (balanced digits).
"""
from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from ..channel import ProtocolError
from ..prg import PRG, random_seed
from . import rlwe
from .params import HEParams, MAX_INNER_T

U64 = np.uint64


@dataclass
class PublicKey:
    params: HEParams
    key_id: str
    pk_seed: bytes
    pk0: tuple[np.ndarray, np.ndarray]  # t (N,), r (L, N)

    def to_bytes(self) -> bytes:
        head = json.dumps({"key_id": self.key_id, "params": self.params.fingerprint(), "seed": self.pk_seed.hex()}).encode()
        body = rlwe.pack_limbs(self.params, self.pk0[0], self.pk0[1]).tobytes()
        return len(head).to_bytes(4, "little") + head + body

    @classmethod
    def from_bytes(cls, params: HEParams, data: bytes) -> "PublicKey":
        if len(data) < 4:
            raise ProtocolError("public key message too short")
        hl = int.from_bytes(data[:4], "little")
        try:
            head = json.loads(data[4 : 4 + hl])
        except ValueError:
            raise ProtocolError("public key header is not JSON") from None
        if head.get("params") != params.fingerprint():
            raise ProtocolError(f"peer HE parameters {head.get('params')} differ from ours {params.fingerprint()}")
        body = np.frombuffer(data[4 + hl :], dtype=np.uint8)
        t, r = rlwe.unpack_limbs(params, body, (params.n,), len(params.primes))
        return cls(params, str(head["key_id"]), bytes.fromhex(head["seed"]), (t, r))


@dataclass
class HEKey:
    params: HEParams
    sk: rlwe.SecretKey
    pub: PublicKey
    seed_secret: bytes

    @classmethod
    def generate(cls, params: HEParams, prg: PRG | None = None) -> "HEKey":
        prg = prg or PRG()
        sk = rlwe.SecretKey.generate(params, prg)
        pk_seed = random_seed()
        pk0 = rlwe.make_public_key(sk, pk_seed, prg)
        return cls(params, sk, PublicKey(params, sk.key_id, pk_seed, pk0), random_seed())

    @property
    def key_id(self) -> str:
        return self.sk.key_id

    def matrix_seed(self, *labels) -> bytes:
        return rlwe.derive_seed(self.seed_secret, "matrix", *labels)

    def save(self, path: str) -> None:
        """Persist the key (the server reuses one key across sessions so clients' caches stay valid)."""
        np.savez(
            path,
            s=self.sk.s.astype(np.int8),
            key_id=np.frombuffer(self.key_id.encode(), np.uint8),
            seed_secret=np.frombuffer(self.seed_secret, np.uint8),
            pub=np.frombuffer(self.pub.to_bytes(), np.uint8),
        )

    @classmethod
    def load(cls, params: HEParams, path: str) -> "HEKey":
        z = np.load(path, allow_pickle=False)
        sk = rlwe.SecretKey(params, z["s"].astype(np.int64), bytes(z["key_id"]).decode())
        if sk.s.shape != (params.n,):
            raise ValueError("stored key has a different ring dimension")
        return cls(params, sk, PublicKey.from_bytes(params, bytes(z["pub"])), bytes(z["seed_secret"]))


def matmul_mod(x: np.ndarray, w: np.ndarray, ell: int, w_digits: list[np.ndarray] | None = None) -> np.ndarray:
    """x (T, n) @ w (n, M) mod 2^ell, exact, as float64 products of balanced 22-bit digits."""
    k = -(-ell // 22)
    xd = rlwe.digits(np.asarray(x, dtype=U64), k)
    wd = w_digits if w_digits is not None else rlwe.digits(np.asarray(w, dtype=U64), k)
    acc = None
    for a in range(k):
        for b in range(k):
            if 22 * (a + b) >= ell:
                continue
            z = rlwe._matmul_exact(xd[a], wd[b], MAX_INNER_T).view(U64) << U64(22 * (a + b))
            acc = z if acc is None else acc + z
    mask = U64((1 << ell) - 1) if ell < 64 else U64(0xFFFFFFFFFFFFFFFF)
    return acc & mask


def product_sizes(params: HEParams, tokens: int, m_out: int, slots: int) -> tuple[int, int, int]:
    """(G ciphertexts, U used b-coefficients, wire bytes) of a returned packed product."""
    g = -(-tokens // slots)
    u = min(slots, tokens) * m_out
    k = params.n_keep
    nb = rlwe.packed_nbytes(params, g * u, k) + rlwe.packed_nbytes(params, g * params.n, k)
    return g, u, nb


def finish_product(
    params: HEParams, pub: PublicKey, ct: tuple[np.ndarray, np.ndarray], tokens: int, m_out: int, slots: int, prg: PRG
) -> tuple[np.ndarray, np.ndarray]:
    """Packed MAC result (at Q) -> (wire bytes uint8, holder's share r (tokens, M) mod 2^ell).

    Order matters: re-randomise (hides sum_j x_j a_j), subtract the mask P*r, switch to
    2^ell * P'', flood the b part (statistically hides the x-dependent noise); the b part is sent
    only on the U = slots * M coefficients that are decrypted."""
    g = ct[0].shape[0]
    u = min(slots, tokens) * m_out
    (bt, br), (at, ar) = rlwe.rerandomize_parts(params, ct, pub.pk0, pub.pk_seed, prg, u)
    share = prg.uint64((tokens, m_out), params.ell)
    mpoly = np.zeros((g * slots, m_out), dtype=U64)
    mpoly[:tokens] = share
    bt = (bt - mpoly.reshape(g, slots * m_out)[:, :u] * U64(params.P % (1 << 64))) & rlwe._mask(params.ell)
    bt, br = rlwe.mod_switch(params, bt, br)
    at, ar = rlwe.mod_switch(params, at, ar)
    bt, br = rlwe.flood(params, bt, br, prg)
    wire = np.concatenate([rlwe.pack_limbs(params, bt, br), rlwe.pack_limbs(params, at, ar)])
    return wire, share


def open_product(key: HEKey, wire: np.ndarray, tokens: int, m_out: int, slots: int) -> np.ndarray:
    """Key owner: wire bytes -> (tokens, M) plaintext values mod 2^ell (= product - holder's mask)."""
    params = key.params
    g, u, nb = product_sizes(params, tokens, m_out, slots)
    wire = np.asarray(wire)
    if wire.dtype != np.uint8 or wire.size != nb:
        raise ProtocolError(f"product message has {wire.size} bytes, expected {nb}")
    nb_b = rlwe.packed_nbytes(params, g * u, params.n_keep)
    b = rlwe.unpack_limbs(params, wire[:nb_b], (g, u), params.n_keep)
    a = rlwe.unpack_limbs(params, wire[nb_b:], (g, params.n), params.n_keep)
    m = rlwe.decrypt_switched(key.sk, b, a)  # (G, U)
    if u < slots * m_out:  # fewer tokens than slots: one ciphertext
        return m.reshape(-1, m_out)[:tokens]
    return m.reshape(g * slots, m_out)[:tokens]

"""Baseline: server-side inner product (Iron/BumbleBee direction), on the same RLWE engine as COP.

Per query the client encrypts its share under its own key and the server multiplies with its
plaintext weights.  Encoding is the mirror image of COP: ciphertext j holds column j of x_c
(x_c[:, j], T coefficients), so y^T = W^T x_c^T is the server's multiply-accumulate
``sum_j W[j, o] ct_j`` (:func:`rlwe.mac_packed` with W^T as the scalars), packed N/T outputs per
ciphertext, re-randomised with the client's public key, masked, switched and flooded; the client
decrypts x_c W - r.

Shares: client gets x_c W - r; server gets r + x_s W (+ bias).
Cost: 2 rounds; client -> server n_in * N * log2(Q) / 8 bytes (+16-byte seed; seeded ciphertexts,
full b part because the packed output mixes coefficients); server -> client
``core.product_sizes(params, M, T, slots)`` bytes.  The server's work scales with M * n_in * N
(COP's client work with T * n_in * N).  This is the coefficient-encoded form of the server-side
protocol, not BumbleBee's polynomial (NTT) packing -- see the report.
"""
from __future__ import annotations

import numpy as np

from ..channel import ProtocolError
from ..context import MPC
from ..prg import random_seed
from . import rlwe
from .core import HEKey, PublicKey, finish_product, matmul_mod, open_product, product_sizes

U64 = np.uint64


class BaselineServer:
    def __init__(self, mpc: MPC, weights: dict[str, np.ndarray], biases: dict | None, ell: int, client_pub: PublicKey):
        self.mpc = mpc
        self.ell = ell
        self.params = client_pub.params
        self.pub = client_pub
        self.weights = {k: np.ascontiguousarray(v, dtype=U64) & rlwe._mask(ell) for k, v in weights.items()}
        self.wt = {k: np.ascontiguousarray(w.T) for k, w in self.weights.items()}
        self.biases = {k: np.asarray(v, dtype=U64) for k, v in (biases or {}).items()}
        self.timing: dict[str, float] = {}

    def mmul_ap(self, name: str, x_share: np.ndarray) -> np.ndarray:
        import time

        ch = self.mpc.ch
        w = self.weights[name]
        x = np.asarray(x_share, dtype=U64)
        if x.ndim != 2 or x.shape[1] != w.shape[0]:
            raise ProtocolError(f"baseline {name}: share of shape {x.shape}, matrix needs (T, {w.shape[0]})")
        tok, n = x.shape
        m_out = w.shape[1]
        params = self.params
        t0 = time.perf_counter()
        y = matmul_mod(x, w, self.ell)
        t_plain = time.perf_counter() - t0
        seed, data = ch.recv((np.uint8, (16,)), (np.uint8, (rlwe.packed_nbytes(params, n * params.n, len(params.primes)),)))
        t0 = time.perf_counter()
        b = rlwe.unpack_limbs(params, data, (n, params.n), len(params.primes))
        pm = rlwe.PreparedMatrix.build(params, b, seed.tobytes(), tok)
        ct = rlwe.mac_packed(pm, self.wt[name])
        wire, r = finish_product(params, self.pub, ct, m_out, tok, pm.slots, self.mpc.prg)
        ch.send(wire)
        y = (y + r.T) & rlwe._mask(self.ell)
        if name in self.biases:
            y = (y + self.biases[name][None, :]) & rlwe._mask(self.ell)
        self.timing = {"server_compute_s": time.perf_counter() - t0 + t_plain}
        return y


class BaselineClient:
    def __init__(self, mpc: MPC, key: HEKey, ell: int, shapes: dict[str, tuple[int, int]]):
        self.mpc = mpc
        self.key = key
        self.ell = ell
        self.shapes = shapes
        self.timing: dict[str, float] = {}

    def mmul_ap(self, name: str, x_share: np.ndarray) -> np.ndarray:
        import time

        ch = self.mpc.ch
        params = self.key.params
        n, m_out = self.shapes[name]
        x = np.asarray(x_share, dtype=U64) & rlwe._mask(self.ell)
        tok = x.shape[0]
        t0 = time.perf_counter()
        seed = random_seed()
        bt, br = rlwe.encrypt_rows(self.key.sk, np.ascontiguousarray(x.T), seed, self.mpc.prg)
        ch.send(np.frombuffer(seed, np.uint8), rlwe.pack_limbs(params, bt, br))
        t_enc = time.perf_counter() - t0
        slots = rlwe.slots_for(params, n, tok)
        _, _, nb = product_sizes(params, m_out, tok, slots)
        wire = ch.recv_array(np.uint8, (nb,))
        t0 = time.perf_counter()
        y = open_product(self.key, wire, m_out, tok, slots).T
        self.timing = {"client_compute_s": t_enc + time.perf_counter() - t0}
        return np.ascontiguousarray(y)

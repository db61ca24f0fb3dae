"""Shared x shared matrix product by HE cross terms (for Q.K^T and P.V, batched over heads).

(A_0 + A_1)(B_0 + B_1): the local terms A_i B_i are plaintext products; each cross term A_j B_i is
a one-sided HE product: party i encrypts B_i under its own key (seeded, one ciphertext per row of
B_i, the row in the first M coefficients), party j multiplies-accumulates with A_j exactly as the
COP client does (:func:`rlwe.mac_packed`), masks, re-randomises, switches, floods and returns it;
party i decrypts A_j B_i - r_j.  Both directions run at once.

Inputs: a (..., T, n), b (..., n, M) uint64 shares mod 2^ell, same batch shape (heads) on both
sides.  Output: shares of a @ b (..., T, M), not truncated.
Cost: 2 rounds; each way: batch * n * N * log2(Q) / 8 bytes of encrypted rows, then
batch * product_sizes(T, M) bytes.  (The coefficient encoding needs a whole ciphertext per row of
B, so this is heavy for small heads; see the report.)
"""
from __future__ import annotations

import numpy as np

from ..channel import ProtocolError
from ..context import MPC
from ..prg import random_seed
from . import rlwe
from .core import HEKey, PublicKey, finish_product, matmul_mod, open_product, product_sizes

U64 = np.uint64


def _bytes(params, heads: int, tok: int, n: int, m_out: int) -> tuple[int, int]:
    """Bytes one party sends in :func:`mmul_aa`: (full rows + packed products, compact rows +
    one-token products)."""
    k = len(params.primes)
    full = rlwe.packed_nbytes(params, heads * n * params.n, k) + heads * product_sizes(
        params, tok, m_out, rlwe.slots_for(params, n, m_out))[2]
    small = rlwe.packed_nbytes(params, heads * n * m_out, k) + heads * product_sizes(params, tok, m_out, 1)[2]
    return full, small


def compact_pays(params, heads: int, tok: int, n: int, m_out: int) -> bool:
    """Whether compact B rows (b on M coefficients, unpacked products) move fewer bytes than
    full rows with products packed N/M tokens per ciphertext."""
    full, small = _bytes(params, heads, tok, n, m_out)
    return small < full and m_out < params.n


def mmul_aa_bytes(params, heads: int, tok: int, n: int, m_out: int) -> int:
    """Payload bytes each party sends in :func:`mmul_aa` for (heads, tok, n) @ (heads, n, m_out)."""
    full, small = _bytes(params, heads, tok, n, m_out)
    return small if compact_pays(params, heads, tok, n, m_out) else full


def mmul_aa(mpc: MPC, a: np.ndarray, b: np.ndarray, key: HEKey, peer: PublicKey, ell: int) -> np.ndarray:
    ch = mpc.ch
    params = key.params
    a = np.asarray(a, dtype=U64)
    b = np.asarray(b, dtype=U64)
    if a.ndim < 2 or b.ndim != a.ndim or a.shape[:-2] != b.shape[:-2] or a.shape[-1] != b.shape[-2]:
        raise ProtocolError(f"mmul_aa: shapes {a.shape} and {b.shape} do not multiply")
    batch = a.shape[:-2]
    tok, n = a.shape[-2:]
    m_out = b.shape[-1]
    if m_out > params.n:
        raise ProtocolError(f"mmul_aa: {m_out} output columns exceed N={params.n}")
    a2 = a.reshape(-1, tok, n)
    b2 = b.reshape(-1, n, m_out)
    h = a2.shape[0]
    # 1) encrypt my B share: rows of all heads, one seed per message.  Compact rows (b on the M
    #    used coefficients, products returned one token per ciphertext) when that moves fewer
    #    bytes — both parties decide from the public shapes.
    width = params.n if not compact_pays(params, h, tok, n, m_out) else m_out
    seed = random_seed()
    bt, br = rlwe.encrypt_rows(key.sk, b2.reshape(h * n, m_out), seed, mpc.prg, keep=width)
    ch.send(np.frombuffer(seed, np.uint8), rlwe.pack_limbs(params, bt, br))
    sd, data = ch.recv((np.uint8, (16,)), (np.uint8, (rlwe.packed_nbytes(params, h * n * width, len(params.primes)),)))
    pt, pr = rlwe.unpack_limbs(params, data, (h * n, width), len(params.primes))
    pa_t, pa_r = rlwe.expand_a(params, sd.tobytes(), h * n)
    # 2) multiply-accumulate my A with the peer's encrypted B, per head (a handful)
    slots = 1 if width < params.n else rlwe.slots_for(params, n, m_out)
    wires, masks = [], []
    for i in range(h):
        sl = slice(i * n, (i + 1) * n)
        ops = [np.concatenate([rlwe.centred(pr[j][sl], p), rlwe.centred(pa_r[j][sl], p)], axis=1) for j, p in enumerate(params.primes)]
        dig = rlwe.digits(np.concatenate([pt[sl], pa_t[sl]], axis=1), params.digits)
        pm = rlwe.PreparedMatrix(params, n, m_out, ops, dig, width)
        ct = rlwe.mac_packed(pm, a2[i])
        w, r = finish_product(params, peer, ct, tok, m_out, slots, mpc.prg)
        wires.append(w)
        masks.append(r)
    ch.send(np.concatenate(wires))
    _, _, nb = product_sizes(params, tok, m_out, slots)
    got = ch.recv_array(np.uint8, (h * nb,))
    out = np.empty((h, tok, m_out), dtype=U64)
    mask = rlwe._mask(ell)
    for i in range(h):
        mine = open_product(key, got[i * nb : (i + 1) * nb], tok, m_out, slots)
        out[i] = (matmul_mod(a2[i], b2[i], ell) + mine + masks[i]) & mask
    return out.reshape(*batch, tok, m_out)

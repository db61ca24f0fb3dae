"""Shared x shared matrix product by HE cross terms (for Q.K^T and P.V, batched over heads).

(A_0 + A_1)(B_0 + B_1): the local terms A_i B_i are plaintext products; each cross term A_j B_i is
a one-sided HE product: party i encrypts B_i under its own key (seeded, one ciphertext per row of
B_i, the row in the first M coefficients), party j multiplies-accumulates with A_j exactly as the
COP client does (:func:`rlwe.mac_packed`, on operands from :func:`rlwe.prepare_residues`: int21 for
the compiled kernel at any size, as both parties compute at once), masks, re-randomises, switches,
floods and returns it; party i decrypts A_j B_i - r_j.  Both directions run at once.

Inputs: a (..., T, n), b (..., n, M) uint64 shares mod 2^ell, same batch shape (heads) on both
sides.  Output: shares of a @ b (..., T, M), not truncated.
Layouts, chosen by bytes from the public shapes (both parties agree without a message):
- rows: one ciphertext per row of B (full, products packed N/M tokens per ciphertext, or compact
  b on M coefficients, one token per returned ciphertext);
- blocks (:func:`mmul_aa_blocks`, usually the cheapest): k_w rows of B interleaved in one
  ciphertext, whose k_w negacyclic rotations serve as the rows; N/(k_w M) tokens per returned
  ciphertext, b returned only on the useful coefficients.  At 128 tokens, 12 heads, ell = 40 each
  party sends 43.7 MB for Q.K^T at d = 64 (rows: 137 MB) and 42.2 MB for P.V (rows: 199 MB).
Cost: 2 rounds; bytes each way: :func:`mmul_aa_bytes`.
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
    """Payload bytes each party sends in :func:`mmul_aa` for (heads, tok, n) @ (heads, n, m_out)
    (the cheapest of the row layouts and the block-interleaved one)."""
    full, small = _bytes(params, heads, tok, n, m_out)
    rows = small if compact_pays(params, heads, tok, n, m_out) else full
    lay = block_layout(params, heads, tok, n, m_out)
    return min(rows, lay["bytes"] + 16) if lay else rows


def _operands(a, b):
    """(batch, T, n, M, a (h, T, n), b (h, n, M)) of a batched product, or a clear error."""
    a = np.asarray(a, dtype=U64)
    b = np.asarray(b, dtype=U64)
    if a.ndim < 2 or b.ndim != a.ndim or a.shape[:-2] != b.shape[:-2] or a.shape[-1] != b.shape[-2]:
        raise ProtocolError(f"mmul_aa: shapes {a.shape} and {b.shape} do not multiply")
    tok, n = a.shape[-2:]
    m_out = b.shape[-1]
    return a.shape[:-2], tok, n, m_out, a.reshape(-1, tok, n), b.reshape(-1, n, m_out)


def mmul_aa(mpc: MPC, a: np.ndarray, b: np.ndarray, key: HEKey, peer: PublicKey, ell: int) -> np.ndarray:
    ch = mpc.ch
    params = key.params
    batch, tok, n, m_out, a2, b2 = _operands(a, b)
    if m_out > params.n:
        raise ProtocolError(f"mmul_aa: {m_out} output columns exceed N={params.n}")
    h = a2.shape[0]
    lay = block_layout(params, h, tok, n, m_out)
    if lay is not None and lay["bytes"] + 16 < _bytes(params, h, tok, n, m_out)[
            1 if compact_pays(params, h, tok, n, m_out) else 0]:
        return mmul_aa_blocks(mpc, a, b, key, peer, ell, lay)
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
        pm = rlwe.prepare_residues(params, np.concatenate([pt[sl], pa_t[sl]], axis=1),
                                   np.concatenate([pr[:, sl], pa_r[:, sl]], axis=2), m_out, width, tok,
                                   rlwe.MMUL_NATIVE_TOKENS)
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


# ----------------------------------------------------------------------------------------------
# Block-interleaved (token-packed) cross terms: k_w rows of B share one ciphertext
# ----------------------------------------------------------------------------------------------
# Row j of a block sits on coefficients l*k_w + j (l < M).  X^-j times the block ciphertext puts
# row j on the multiples of k_w (the other rows land off them, or wrap negated to the top, also off
# them), so the k_w rotations are k_w "virtual rows" and the COP multiply-accumulate applies
# unchanged with a span of k_w*M coefficients per token and N/(k_w*M) tokens per returned
# ciphertext.  Encrypted input shrinks k_w-fold; the returned b part is sent only on the useful
# coefficients (stride k_w), so outputs cost what they cost with k_w = 1.  k_w is chosen by bytes.
def block_layout(params, heads: int, tok: int, n: int, m_out: int) -> dict | None:
    """The cheapest block width: {"kw", "nblk", "span", "slots", "nslot", "g", "in", "out", "bytes"}
    (bytes one party sends), or None when no block layout fits N and the noise bound."""
    best = None
    L = len(params.primes)
    kw = 1
    while kw * m_out <= params.n:
        nblk = -(-n // kw)
        n_pad = nblk * kw
        span = kw * m_out
        slots = min(params.n // span, params.max_terms // max(n_pad, 1))
        if slots >= 1:
            nslot = min(slots, tok)
            g = -(-tok // slots)
            inp = rlwe.packed_nbytes(params, heads * nblk * params.n, L)
            out = heads * (rlwe.packed_nbytes(params, g * nslot * m_out, params.n_keep)
                           + rlwe.packed_nbytes(params, g * params.n, params.n_keep))
            cand = {"kw": kw, "nblk": nblk, "n_pad": n_pad, "span": span, "slots": slots, "nslot": nslot,
                    "g": g, "in": inp, "out": out, "bytes": inp + out}
            if best is None or cand["bytes"] < best["bytes"]:
                best = cand
        if kw >= n:
            break
        kw *= 2
    return best


def _negarot(x: np.ndarray, j: int, modulus: int | None, ell: int, out: np.ndarray | None = None) -> np.ndarray:
    """X^-j * x for polynomials along the last axis (negacyclic: the wrapped part is negated),
    written into ``out`` when given."""
    if out is None:
        if j == 0:
            return x
        out = np.empty_like(x)
    n = x.shape[-1]
    out[..., : n - j] = x[..., j:]
    tail = x[..., :j]
    if modulus is None:
        out[..., n - j :] = (U64(0) - tail) & rlwe._mask(ell)
    else:
        out[..., n - j :] = np.mod(-tail.astype(np.int64), modulus)
    return out


def _useful(lay: dict, m_out: int) -> np.ndarray:
    s = np.arange(lay["nslot"])[:, None] * lay["span"]
    return (s + np.arange(m_out)[None, :] * lay["kw"]).reshape(-1)


def mmul_aa_blocks(mpc: MPC, a: np.ndarray, b: np.ndarray, key: HEKey, peer: PublicKey, ell: int,
                   lay: dict | None = None) -> np.ndarray:
    """Shares of a @ b with block-interleaved encrypted B (see :func:`block_layout`).

    Inputs/outputs as :func:`mmul_aa`.  Rounds: 2 (encrypted blocks both ways, then products both
    ways).  Traffic each way: ``block_layout(...)["bytes"]``.  Security as :func:`mmul_aa`: each
    returned ciphertext is re-randomised with the peer's public key, masked, switched and flooded
    before it leaves, so its noise carries nothing about this party's A."""
    ch = mpc.ch
    params = key.params
    batch, tok, n, m_out, a2, b2 = _operands(a, b)
    h = a2.shape[0]
    lay = lay or block_layout(params, h, tok, n, m_out)
    if lay is None:
        raise ProtocolError(f"mmul_aa: a {n}x{m_out} block product does not fit N={params.n}")
    kw, nblk, n_pad, span = lay["kw"], lay["nblk"], lay["n_pad"], lay["span"]
    L = len(params.primes)
    N = params.n
    # 1) my B, interleaved: block rows (h*nblk, M*kw) with B[blk*kw + j, l] at l*kw + j
    bp = np.zeros((h, n_pad, m_out), dtype=U64)
    bp[:, :n] = b2
    blocks = bp.reshape(h, nblk, kw, m_out).transpose(0, 1, 3, 2).reshape(h * nblk, span)
    seed = random_seed()
    bt, br = rlwe.encrypt_rows(key.sk, blocks, seed, mpc.prg)
    ch.send(np.frombuffer(seed, np.uint8), rlwe.pack_limbs(params, bt, br))
    sd, data = ch.recv((np.uint8, (16,)), (np.uint8, (rlwe.packed_nbytes(params, h * nblk * N, L),)))
    pt, pr = rlwe.unpack_limbs(params, data, (h * nblk, N), L)
    pa_t, pa_r = rlwe.expand_a(params, sd.tobytes(), h * nblk)
    ct_t = np.concatenate([pt, pa_t], axis=1).reshape(h, nblk, 2, N)
    ct_r = np.concatenate([pr, pa_r], axis=2).reshape(L, h, nblk, 2, N)
    ap = np.zeros((h, tok, n_pad), dtype=U64)
    ap[:, :, :n] = a2
    idx = _useful(lay, m_out)
    g, nslot = lay["g"], lay["nslot"]
    used = nslot * span
    wires, masks = [], []
    # Virtual rows X^-j * block blk (rotations over kw, never coefficients), stored rotation-major
    # (row j*nblk + blk, A's columns permuted to match) so that each rotation is written once,
    # contiguously, into buffers reused across heads.  b matters only on the multiples of kw: the
    # products of the interleaved block land on l*kw, and the negacyclic shifts by multiples of
    # span (itself a multiple of kw, as N is) that pack tokens only ever add b coefficients at
    # multiples of kw to them.  X^-j moves coefficient c + j to c without wrapping (c <= N - kw,
    # j < kw), so b enters the multiply-accumulate as the gather of columns j, j + kw, ... (N/kw of
    # them) and a as the full rotation: 1 + 1/kw polynomials per row instead of 2.
    wb = N // kw
    vt = np.empty((kw, nblk, wb + N), dtype=U64)
    vr = np.empty((L, kw, nblk, wb + N), dtype=np.int64)
    ap = ap.reshape(h, tok, nblk, kw).transpose(0, 1, 3, 2).reshape(h, tok, n_pad)
    for i in range(h):  # heads: a handful
        for j in range(kw):
            vt[j, :, :wb] = ct_t[i, :, 0, j::kw]
            _negarot(ct_t[i, :, 1], j, None, params.ell, out=vt[j, :, wb:])
            for q, p in enumerate(params.primes):
                vr[q, j, :, :wb] = ct_r[q, i, :, 0, j::kw]
                _negarot(ct_r[q, i, :, 1], j, p, params.ell, out=vr[q, j, :, wb:])
        pm = rlwe.prepare_residues(params, vt.reshape(n_pad, wb + N), vr.reshape(L, n_pad, wb + N), span,
                                   wb, tok, rlwe.MMUL_NATIVE_TOKENS, kw if kw > 1 else 0)
        assert pm.slots == lay["slots"]
        ct = rlwe.mac_packed(pm, np.ascontiguousarray(ap[i]))
        (ot, orr), (at_, ar_) = rlwe.rerandomize_parts(params, ct, peer.pk0, peer.pk_seed, mpc.prg, used)
        ot, orr = ot[:, idx], orr[:, :, idx]
        share = mpc.prg.uint64((tok, m_out), params.ell)
        mpoly = np.zeros((g * nslot, m_out), dtype=U64)
        mpoly[:tok] = share
        ot = (ot - mpoly.reshape(g, nslot * m_out) * U64(params.P % (1 << 64))) & rlwe._mask(params.ell)
        ot, orr = rlwe.mod_switch(params, ot, orr)
        at_, ar_ = rlwe.mod_switch(params, at_, ar_)
        ot, orr = rlwe.flood(params, ot, orr, mpc.prg)
        wires.append(np.concatenate([rlwe.pack_limbs(params, ot, orr), rlwe.pack_limbs(params, at_, ar_)]))
        masks.append(share)
    ch.send(np.concatenate(wires))
    k = params.n_keep
    nb_b = rlwe.packed_nbytes(params, g * nslot * m_out, k)
    nb = nb_b + rlwe.packed_nbytes(params, g * N, k)
    got = ch.recv_array(np.uint8, (h * nb,))
    out = np.empty((h, tok, m_out), dtype=U64)
    mask = rlwe._mask(ell)
    for i in range(h):
        w = got[i * nb : (i + 1) * nb]
        b_t, b_r = rlwe.unpack_limbs(params, w[:nb_b], (g, nslot * m_out), k)
        full_t = np.zeros((g, N), dtype=U64)
        full_r = np.zeros((b_r.shape[0], g, N), dtype=b_r.dtype)
        full_t[:, idx] = b_t
        full_r[:, :, idx] = b_r
        a_part = rlwe.unpack_limbs(params, w[nb_b:], (g, N), k)
        m = rlwe.decrypt_switched(key.sk, (full_t, full_r), a_part)[:, idx]
        mine = m.reshape(g * nslot, m_out)[:tok]
        out[i] = (matmul_mod(a2[i], b2[i], ell) + mine + masks[i]) & mask
    return out.reshape(*batch, tok, m_out)

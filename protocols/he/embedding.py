"""Embedding lookup by ciphertext selection (COP): the client knows its token ids, so the share of
``table[ids]`` is the selection of the ids' ciphertexts -- no one-hot product over the vocabulary.

The selected ciphertexts are packed N/M per ciphertext by negacyclic shifts and then leave through
the same re-randomise / mask / switch / flood path as :meth:`COPClient.mmul_ap`
(:func:`protocols.he.core.finish_product`); noise: one fresh ciphertext per slot.  Only the cache
chunks holding the ids are read and only the ids' rows of ``a`` are expanded (random access into
the keystream, :func:`rlwe.expand_a_rows`).
Cost: 1 message client -> server of ``core.product_sizes(params, T, M, N // M)`` bytes, 1 round.
"""
from __future__ import annotations

import numpy as np

from . import rlwe


def select_packed(client, name: str, ids: np.ndarray, slots: int) -> tuple[np.ndarray, np.ndarray]:
    params = client.params
    meta = client.meta[name]
    seed = bytes.fromhex(meta["seed"])
    rows_per = rlwe.A_CHUNK_ROWS
    chunks = np.unique(ids // rows_per)
    b_t, b_r = client._load_rows(name, [int(c) for c in chunks])
    a_t, a_r = rlwe.expand_a_rows(params, seed, ids)  # only the ids' rows of a
    offset = np.zeros(int(chunks.max()) + 1, dtype=np.int64)
    offset[chunks] = np.arange(chunks.size) * rows_per
    pos = offset[ids // rows_per] + ids % rows_per
    m_out = meta["m_out"]
    width = b_t.shape[1]  # N, or M when the client holds b compactly (then slots == 1)

    def pair(b, a):
        y = np.zeros((pos.size, 2, params.n), dtype=a.dtype)
        y[:, 0, :width] = b[pos]
        y[:, 1] = a
        return y

    t = rlwe.negashift_pack(pair(b_t, a_t), m_out, slots, params.n, None) & rlwe._mask(params.ell)
    rs = []
    for i, p in enumerate(params.primes):
        rs.append(rlwe.negashift_pack(pair(b_r[i], a_r[i]), m_out, slots, params.n, p))
    return t, np.stack(rs)

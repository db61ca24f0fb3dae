"""Products with one operand broadcast: share × a value private to one party (``mul_av``; SPU's
"v" = private visibility), and share × a shared per-row scalar (``mul_rows``).

LayerNorm's γ belongs to the server and the same γ_j multiplies every row; softmax's 1/Σe and
LayerNorm's 1/σ are one shared scalar per row.  In both cases one operand's bits can serve as the
choice bits of the Gilboa product for a whole column or row: an arithmetic COT carries k values
(``protocols.ot.extensions.ACOT``), so the COT count — which sets the running time with silent OT
— drops by the broadcast factor while the traffic per element stays ``ell(ell+1)/2`` bits per
cross term (position i of the bit decomposition carries only ``ell − i`` bits).
"""
from __future__ import annotations

import numpy as np

from .config import get_config
from .mul import _bits
from .ot.extensions import ACOT, acot, packed_nbytes
from .ring import Ring


def mul_av(mpc, x, w=None, *, owner: int = 0, ell: int | None = None, batch: int | None = None) -> np.ndarray:
    """Shares of w ⊙ x for x (..., H) shared and w (H,) known only to ``owner``.

    The owner multiplies its own share locally; the cross term w·x_other runs with the *owner as
    COT receiver* whose choice bits are the bits of w_j — the same for every row — so one set of
    ``ell`` COTs per column serves all rows (k = rows values per OT): COTs ``ell·H``, not
    ``ell·H·rows``.  Traffic: the other party sends ``ell(ell+1)/2`` bits per element, the owner
    ``ell·H`` choice bits.  1 round.  (w must broadcast along the last axis only.)
    """
    ell = get_config().ell if ell is None else int(ell)
    R = Ring(ell)
    x = R.reduce(np.asarray(x, dtype=np.uint64))
    shape = x.shape
    H = shape[-1] if x.ndim else 1
    x2 = x.reshape(-1, H)  # (rows, H)
    rows = x2.shape[0]
    me = mpc.party
    widths = tuple(range(ell, 0, -1))
    if me == owner:
        if w is None:
            raise ValueError("mul_av: the owner of w must pass it")
        wv = np.asarray(w, dtype=np.int64)
        if wv.shape not in ((H,), (1,), ()):
            raise ValueError(f"mul_av: w of shape {wv.shape} must be ({H},) (one value per column)")
        wr = np.broadcast_to(R.from_signed(wv), (H,))
        z = R.mul(x2, wr[None, :])
        job = ACOT(1 - owner, widths, H, rows, c=_bits(wr, ell))
    else:
        if w is not None:
            raise ValueError("mul_av: only the owner passes w")
        z = np.zeros_like(x2)
        job = ACOT(1 - owner, widths, H, rows, x=np.broadcast_to(x2.T, (ell, H, rows)))
    (o,) = acot(mpc, [job])  # (ell, H, rows): row i of the field is bit i of w_j times x
    o = o.reshape(ell, H, rows)
    cross = np.sum(o << np.arange(ell, dtype=np.uint64)[:, None, None], axis=0, dtype=np.uint64)
    return R.reduce(z + cross.T).reshape(shape)


def mul_rows(mpc, d, r, *, ell: int | None = None, bound: int | None = None, drop: int = 0) -> np.ndarray:
    """Shares of d ⊙ r[..., None] for shared d (..., H) and a shared per-row scalar r (...).

    d·r = d0·r0 + d1·r1 + d0·r1 + d1·r0; each cross term d_a·r_b takes r_b's bits as the choice
    bits of ``ell`` COTs per *row* whose correlation is the whole row d_a (k = H values per OT), so
    COTs are ``2·ell·rows`` instead of ``2·ell·rows·H`` (softmax's e·(1/Σe), LayerNorm's d·rsqrt).
    Traffic per party: ``ell(ell+1)/2`` bits per element + ``ell`` bits per row.  1 round.

    ``bound=b`` (the caller promises |r| < 2^b): r's shares shrink to k = b + 2 bits (party 0 adds
    B = 2^(k−2), so R = r + B ∈ [0, 2^(k−1)) and R0 + R1 = R + w·2^k with w = m0 ∨ m1, m_i the top
    bit of R_i): d·r = d·(R0 + R1) − 2^k·w·d − B·d, and w·d = m0·d0 + m1·d1 + m0·d1(1−m1) +
    m1·d0(1−m0).  Each direction's job gets k Gilboa fields (widths ell … ell−k+1) plus one wrap
    field of ell − k bits: Σ_{i<k}(ell − i) + (ell − k) bits per element and k + 1 choice bits
    per row, per party (LayerNorm at ell = 40, b = 19: 610 instead of 820 bits).  Still 1 round.

    ``drop=t`` (the caller discards the product's low t bits anyway): Gilboa field i < t carries
    ⌊d_a / 2^(t−i)⌋ instead of d_a, in ell − t bits instead of ell − i, and lands at bit t.  Each
    such field then misses c_i·(d_a mod 2^(t−i))·2^i < 2^t, so the two cross terms fall short by
    E ∈ [0, 2·Σ_{i<t}(2^t − 2^i)); party 0 adds E's mean over uniform shares,
    ⌊(t·2^t − 2^t + 1)/2⌋ (:func:`rows_drop_bias`), so the result is d·r + e with
    bias − 2t·2^t < e ≤ bias and E[e] ≈ 0.  Saves t(t+1)/2 bits per element per party.
    :func:`mul_rows_ideal` is the exact product; tests bound the difference.
    """
    ell = get_config().ell if ell is None else int(ell)
    R = Ring(ell)
    d = R.reduce(np.asarray(d, dtype=np.uint64))
    r = R.reduce(np.asarray(r, dtype=np.uint64))
    if d.shape[:-1] != r.shape:
        raise ValueError(f"mul_rows: d {d.shape} needs r of shape {d.shape[:-1]}, got {r.shape}")
    shape = d.shape
    H = shape[-1]
    d2 = d.reshape(-1, H)
    r1 = r.reshape(-1)
    rows = r1.size
    me = mpc.party
    k = rows_bounded_k(ell, bound)
    nf = ell if k is None else k
    t = int(drop)
    if not 0 <= t <= nf:
        raise ValueError(f"mul_rows: drop={t} must lie in [0, {nf}]")
    shifts = [max(i, t) for i in range(nf)]  # where field i lands
    # field i's correlation: d_a, or ⌊d_a / 2^(t−i)⌋ below the dropped bits
    fields = [(d2 >> np.uint64(t - i))[None] for i in range(min(t, nf))]
    if t < nf:
        fields.append(np.broadcast_to(d2, (nf - t, rows, H)))
    if k is None:
        widths = tuple(ell - s for s in shifts)
        mine_c = _bits(r1, ell)
        z = R.mul(d2, r1[:, None])
    else:
        B = np.uint64(1 << (k - 2))
        Rk = ((r1 + B) if me == 0 else r1) & np.uint64((1 << k) - 1)
        m = ((Rk >> np.uint64(k - 1)) & np.uint64(1))
        widths = tuple(ell - s for s in shifts) + (ell - k,)
        fields.append((d2 * (np.uint64(1) - m)[:, None])[None])
        mine_c = np.concatenate([_bits(Rk, k), m.astype(np.uint8)[None]])
        # local: d_me·R_me − 2^k·m_me·d_me − B·d_me
        z = d2 * Rk[:, None] - ((d2 * m[:, None]) << np.uint64(k)) - d2 * B
    if t and me == 0:
        z = z + np.uint64(rows_drop_bias(t))
    mine_x = np.concatenate(fields) if len(fields) > 1 else fields[0]
    jobs = [ACOT(0, widths, rows, H, x=mine_x if me == 0 else None, c=mine_c if me == 1 else None),
            ACOT(1, widths, rows, H, x=mine_x if me == 1 else None, c=mine_c if me == 0 else None)]
    o0, o1 = acot(mpc, jobs)
    o = o0.reshape(len(widths), rows, H) + o1.reshape(len(widths), rows, H)
    sh = np.array(shifts, dtype=np.uint64)[:, None, None]
    cross = np.sum(o[:nf] << sh, axis=0, dtype=np.uint64)
    if k is not None:
        cross = cross - (o[nf] << np.uint64(k))
    return R.reduce(z + cross).reshape(shape)


def rows_drop_bias(t: int) -> int:
    """Mean shortfall of :func:`mul_rows` with ``drop=t`` over uniform shares (party 0 adds it)."""
    return (t * (1 << t) - (1 << t) + 1) // 2 if t else 0


def rows_bounded_k(ell: int, bound: int | None) -> int | None:
    """Choice width k = bound + 2 of the bounded :func:`mul_rows`, or None when it saves nothing."""
    if bound is None:
        return None
    k = int(bound) + 2
    return k if k < ell - 1 else None


def mul_rows_ideal(d, r, ell: int) -> np.ndarray:
    return Ring(ell).mul(d, np.asarray(r, dtype=np.uint64)[..., None])


def mul_av_ideal(x, w, ell: int) -> np.ndarray:
    R = Ring(ell)
    return R.mul(R.reduce(x), R.from_signed(np.asarray(w, dtype=np.int64)))


def mul_av_cost(rows: int, H: int, ell: int, party: int, owner: int = 0) -> dict:
    """Payload bytes ``party`` sends and rounds for :func:`mul_av` on a (rows, H) input."""
    if party == owner:
        return {"bytes_sent": (ell * H + 7) // 8, "rounds": 1}
    return {"bytes_sent": packed_nbytes(H, [w for w in range(ell, 0, -1) for _ in range(rows)]), "rounds": 1}


def mul_rows_cost(rows: int, H: int, ell: int, bound: int | None = None, drop: int = 0) -> dict:
    """Per-party payload bytes and rounds of :func:`mul_rows` (both parties send the same)."""
    k = rows_bounded_k(ell, bound)
    nf = ell if k is None else k
    widths = [ell - max(i, drop) for i in range(nf)] + ([] if k is None else [ell - k])
    return {"bytes_sent": (len(widths) * rows + 7) // 8 + packed_nbytes(rows, [w for w in widths for _ in range(H)]),
            "rounds": 1}


def mmul_aa_ot(mpc, a, b, *, ell: int | None = None) -> np.ndarray:
    """Shares of a @ b for shared a (h, T, d) and b (h, d, M) by Gilboa products on COT.

    The local terms a_i·b_i are plaintext matrix products; each cross term a_s·b_r takes the bits of
    every entry b_r[h, j, m] as the choice bits of ``ell`` arithmetic COTs whose correlation is the
    whole column a_s[h, :, j] (k = T values per OT), then sums over j locally.  Both cross terms run
    in one exchange: 1 round.  Traffic per party: ``ell`` choice bits per entry of b plus
    ``ell(ell+1)/2`` bits per (entry of b) × T.  Cheaper than the HE cross terms when T and M are
    small (short sentences' Q·Kᵀ and P·V): the HE route pays a whole ciphertext per output token.
    """
    ell = get_config().ell if ell is None else int(ell)
    R = Ring(ell)
    a = R.reduce(np.asarray(a, dtype=np.uint64))
    b = R.reduce(np.asarray(b, dtype=np.uint64))
    if a.ndim != 3 or b.ndim != 3 or a.shape[0] != b.shape[0] or a.shape[2] != b.shape[1]:
        raise ValueError(f"mmul_aa_ot: shapes {a.shape} and {b.shape} do not multiply as (h,T,d)@(h,d,M)")
    from .he.core import matmul_mod

    h, T, d = a.shape
    M = b.shape[2]
    n = h * d * M
    me = mpc.party
    widths = tuple(range(ell, 0, -1))
    # correlation of OT (h, j, m): the column a[h, :, j] — laid out (ell, h, d, M, T)
    corr = np.broadcast_to(a.transpose(0, 2, 1)[None, :, :, None, :], (ell, h, d, M, T)).reshape(ell, n, T)
    bits = _bits(b.reshape(-1), ell)  # (ell, n)
    jobs = [ACOT(0, widths, n, T, x=corr if me == 0 else None, c=bits if me == 1 else None),
            ACOT(1, widths, n, T, x=corr if me == 1 else None, c=bits if me == 0 else None)]
    o0, o1 = acot(mpc, jobs)
    sh = np.arange(ell, dtype=np.uint64)[:, None, None]
    cross = np.sum((o0.reshape(ell, n, T) << sh) + (o1.reshape(ell, n, T) << sh), axis=0, dtype=np.uint64)
    # (h, d, M, T): sum over the inner index d, then (h, T, M)
    cross = np.sum(cross.reshape(h, d, M, T), axis=1, dtype=np.uint64).transpose(0, 2, 1)
    local = np.stack([matmul_mod(a[i], b[i], ell) for i in range(h)])
    return R.reduce(local + cross)


def mmul_aa_ot_cost(h: int, T: int, d: int, M: int, ell: int) -> dict:
    """Per-party payload bytes and rounds of :func:`mmul_aa_ot` (both parties send the same)."""
    n = h * d * M
    return {"bytes_sent": (ell * n + 7) // 8 + packed_nbytes(n, [w for w in range(ell, 0, -1) for _ in range(T)]),
            "rounds": 1}

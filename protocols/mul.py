"""Multiplication of arithmetic shares in Z_{2^ell} from arithmetic COT (Gilboa).

``mul_aa``: x·y = x0·y0 + x1·y1 + x0·y1 + x1·y0.  Each cross term ``x_a·y_b`` is computed with
the bits of ``y_b`` as the choice bits of ``ell`` arithmetic COTs whose correlation is ``x_a``:
x_a·y_b = Σ_i y_b[i]·x_a·2^i, and since the term at position i is multiplied by 2^i only its low
``ell − i`` bits matter, so the correction of OT i carries exactly ``ell − i`` bits
(:func:`protocols.ot.extensions.acot`, bit-exact packing).  Both cross terms run at once, one in
each direction, in a single exchange.

Cost of one ``mul_aa`` element (per party, both parties the same):
  choice derandomisation ``ell`` bits + corrections ``ell(ell+1)/2`` bits
  = 2144 bits = 268 B at ell = 64 (536 B both directions), 560 bits = 70 B at ell = 32 (140 B).
Rounds: one exchange per batch of ``ot_batch // ell`` elements (config ``ot_batch``).
Exact per-party bytes: :func:`mul_aa_cost`.

``square_a``: x² = x0² + x1² + 2·x0·x1: one cross term, only ``ell − 1`` positions with widths
``ell−1 … 1`` (the factor 2 drops the top bit); half of the elements use party 0 as the COT sender,
half party 1, so both directions carry the same load.  Per element (both directions together):
``(ell − 1) + (ell − 1)·ell/2`` bits.

``mul_ap``: share × public, local, free.
"""
from __future__ import annotations

import numpy as np

from .channel import iter_chunks
from .config import get_config
from .ot.extensions import ACOT, acot, packed_nbytes
from .ring import Ring


def _ell(ell: int | None) -> int:
    return get_config().ell if ell is None else int(ell)


def _batch(ell: int, batch: int | None, per_elem: int) -> int:
    b = get_config().ot_batch if batch is None else batch
    return max(1, b // max(1, per_elem))


def _bits(v: np.ndarray, nbits: int) -> np.ndarray:
    """(nbits, n) uint8 bit matrix of a 1-D uint64 array (row i = bit i)."""
    sh = np.arange(nbits, dtype=np.uint64)[:, None]
    return ((v[None, :] >> sh) & np.uint64(1)).astype(np.uint8)


def _check_pair(x, y, R: Ring) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(x, dtype=np.uint64)
    y = np.asarray(y, dtype=np.uint64)
    try:
        x, y = np.broadcast_arrays(x, y)
    except ValueError:
        raise ValueError(f"mul_aa: share shapes differ and do not broadcast: {x.shape} vs {y.shape}") from None
    return R.reduce(np.ascontiguousarray(x)), R.reduce(np.ascontiguousarray(y))


def _gilboa_sum(out: np.ndarray, ell: int, shift0: int = 0) -> np.ndarray:
    """Σ_i out[i] · 2^(i+shift0) mod 2^64 for an (F, n) share matrix (row i ≙ bit i)."""
    sh = np.arange(out.shape[0], dtype=np.uint64)[:, None] + np.uint64(shift0)
    return np.sum(out << sh, axis=0, dtype=np.uint64)


def bounded_k(ell: int, bound: int | None) -> int | None:
    """Share width k of the bounded product (see :func:`mul_aa`), or None when it saves nothing."""
    if bound is None:
        return None
    k = max(ell // 2 + 1 + (ell % 2), int(bound) + 2)
    return k if k < ell else None


def mul_engine(ell: int, n: int, engine: str | None = None) -> str:
    """'ot' or 'he' for an unbounded product of n elements (config ``mul_engine``; 'auto': he for
    ell >= 48 and n >= 8192, where its ~196 B per product at ell = 64 beats Gilboa's 536 B)."""
    e = engine or get_config().mul_engine
    if e == "auto":
        return "he" if ell >= 48 and n >= 8192 else "ot"
    if e not in ("ot", "he"):
        raise ValueError(f"mul_engine must be 'ot', 'he' or 'auto', not {e!r}")
    return e


def mul_aa(mpc, x, y, *, ell: int | None = None, batch: int | None = None, bound: int | None = None,
           engine: str | None = None) -> np.ndarray:
    """Product of two arithmetic shares (elementwise, any shape).

    Inputs: this party's shares ``x``, ``y`` in Z_{2^ell} (uint64, same or broadcastable shapes;
    n = elements of the broadcast shape).
    Output: shares of ``x·y mod 2^ell``.
    ``engine``: 'ot' | 'he' | 'auto' (default: config ``mul_engine``); 'he' runs
    :func:`protocols.he.simd_mul.mul_aa_he` (batched BFV; cost :func:`~protocols.he.simd_mul.mul_aa_he_cost`).
    Rounds: ``ceil(n / (ot_batch // ell))`` exchanges (1 for n ≤ 16384 at ell = 64).
    Traffic per party: ``ell + ell(ell+1)/2`` bits per element, see :func:`mul_aa_cost`.

    ``bound=b``: the caller promises |x|, |y| < 2^b (signed).  Then both shares are reduced
    locally to k = max(⌈ell/2⌉ + 1, b + 2) bits (known-sign bias 2^(k−2)), the Gilboa choice
    operands have k bits instead of ell, and the wrap bits of the k-bit shares enter through 4
    one-bit COTs of ell − k bits (terms 2^k·w·(…)); with 2k − 2 ≥ ell every other wrap term
    vanishes mod 2^ell.  Per party: k + Σ_{i<k}(ell − i) + 2 + 2(ell − k) bits; at ell = 64,
    b ≤ 31: 1681 bits (420 B per product both ways instead of 536 B).  Still one exchange.
    """
    ell = _ell(ell)
    R = Ring(ell)
    x, y = _check_pair(x, y, R)
    shape = x.shape
    x, y = x.reshape(-1), y.reshape(-1)
    k = bounded_k(ell, bound)
    if k is not None:
        return _mul_bounded(mpc, x, y, ell, k, batch).reshape(shape)
    if mul_engine(ell, x.size, engine) == "he":
        from .he.simd_mul import mul_aa_he

        return mul_aa_he(mpc, x, y, ell=ell).reshape(shape)
    me = mpc.party
    widths = tuple(range(ell, 0, -1))  # bit position i needs ell - i bits
    z = R.mul(x, y)
    for sl in iter_chunks(x.size, _batch(ell, batch, ell)):
        xs, ys = x[sl], y[sl]
        m = xs.size
        xf = np.broadcast_to(xs, (ell, m))
        cb = _bits(ys, ell)
        jobs = [
            ACOT(0, widths, m, x=xf if me == 0 else None, c=cb if me == 1 else None),
            ACOT(1, widths, m, x=xf if me == 1 else None, c=cb if me == 0 else None),
        ]
        o0, o1 = acot(mpc, jobs)
        z[sl] += _gilboa_sum(o0, ell) + _gilboa_sum(o1, ell)
    return R.reduce(z).reshape(shape)


def _mul_bounded(mpc, x: np.ndarray, y: np.ndarray, ell: int, k: int, batch: int | None) -> np.ndarray:
    """x·y mod 2^ell for |x|, |y| < 2^(k−2) with k-bit choice operands (see :func:`mul_aa`).

    With X = x + B (B = 2^(k−2), party 0 adds it) ∈ [0, 2^(k−1)), k-bit shares X0 + X1 = X + w·2^k
    and w = m0 ∨ m1 (m_i = bit k−1 of X_i), likewise Y, n_i, and 2k − 2 ≥ ell:
      x·y ≡ (X0+X1)(Y0+Y1) − 2^k·[w_X·(Y0+Y1) + w_Y·(X0+X1)] − B·(X0+X1+Y0+Y1) + B²,
      w_X·(Y0+Y1) = m0·Y0 + m1·Y1 + m0·Y1(1−m1) + m1·Y0(1−m0)       (and the same for w_Y).
    Cross terms: 2 Gilboa products with k choice bits, and per direction one ACOT job with two
    (ell − k)-bit fields: sender s inputs [Y_s(1−m_s), X_s(1−n_s)], the receiver chooses [m_r, n_r].
    """
    R = Ring(ell)
    me = mpc.party
    B = np.uint64(1 << (k - 2))
    mk = np.uint64((1 << k) - 1)
    X = ((x + B) & mk) if me == 0 else (x & mk)
    Y = ((y + B) & mk) if me == 0 else (y & mk)
    mX = ((X >> np.uint64(k - 1)) & np.uint64(1)).astype(np.uint8)
    mY = ((Y >> np.uint64(k - 1)) & np.uint64(1)).astype(np.uint8)
    sk = np.uint64(k)
    # local parts
    wloc = mX.astype(np.uint64) * Y + mY.astype(np.uint64) * X
    z = X * Y - B * (X + Y) - (wloc << sk)
    if me == 0:
        z += B * B
    widths = tuple(range(ell, ell - k, -1))  # bit position i < k needs ell − i bits
    wd = ell - k
    for sl in iter_chunks(x.size, _batch(ell, batch, k + 2)):
        Xs, Ys, ms, ns = X[sl], Y[sl], mX[sl], mY[sl]
        m = Xs.size
        xf = np.broadcast_to(Xs, (k, m))
        cb = _bits(Ys, k)
        wcorr = np.stack([Ys * (1 - ms.astype(np.uint64)), Xs * (1 - ns.astype(np.uint64))])
        wch = np.stack([ms, ns])
        jobs = [
            ACOT(0, widths, m, x=xf if me == 0 else None, c=cb if me == 1 else None),
            ACOT(1, widths, m, x=xf if me == 1 else None, c=cb if me == 0 else None),
            ACOT(0, (wd, wd), m, x=wcorr if me == 0 else None, c=wch if me == 1 else None),
            ACOT(1, (wd, wd), m, x=wcorr if me == 1 else None, c=wch if me == 0 else None),
        ]
        g0, g1, w0, w1 = acot(mpc, jobs)
        wsum = w0[0] + w0[1] + w1[0] + w1[1]
        z[sl] += _gilboa_sum(g0, ell) + _gilboa_sum(g1, ell) - (wsum << sk)
    return R.reduce(z)


def square_bounded_k(ell: int, bound: int | None) -> int | None:
    """Share width k of the bounded square (2k − 1 ≥ ell), or None when it saves nothing."""
    if bound is None:
        return None
    k = max((ell + 2) // 2, int(bound) + 2)
    return k if k < ell - 1 else None


def square_a(mpc, x, *, ell: int | None = None, batch: int | None = None, bound: int | None = None) -> np.ndarray:
    """Square of an arithmetic share (elementwise).

    Output: shares of ``x² mod 2^ell``.  Rounds: one exchange per batch of
    ``ot_batch // (ell-1)`` elements.  Traffic: :func:`square_a_cost` (per element, both
    directions: ``(ell−1)(ell+2)/2`` bits).

    ``bound=b`` (|x| < 2^b): as in :func:`mul_aa`, k = max(⌈(ell+1)/2⌉, b + 2)-bit shares;
    x² ≡ (X0+X1)² − 2^(k+1)·w·(X0+X1) − 2B·(X0+X1) + B² with w·(X0+X1) = m0X0 + m1X1 +
    m0·X1(1−m1) + m1·X0(1−m0) (two one-bit COTs of ell − k − 1 bits).  Per element, both
    directions: k + Σ_{i<k}(ell−1−i) + 2(1 + ell − k − 1) bits (1646 at ell = 64, b ≤ 31,
    instead of 2079).
    """
    ell = _ell(ell)
    R = Ring(ell)
    x = R.reduce(np.asarray(x, dtype=np.uint64))
    shape = x.shape
    x = x.reshape(-1)
    me = mpc.party
    kb = square_bounded_k(ell, bound)
    if kb is not None:
        B = np.uint64(1 << (kb - 2))
        X = ((x + B) & np.uint64((1 << kb) - 1)) if me == 0 else (x & np.uint64((1 << kb) - 1))
        mX = ((X >> np.uint64(kb - 1)) & np.uint64(1)).astype(np.uint8)
        # local: X_i² − 2B·X_i − 2^(k+1)·m_i·X_i (+ B² at party 0)
        z = X * X - (B << np.uint64(1)) * X - ((mX.astype(np.uint64) * X) << np.uint64(kb + 1))
        if me == 0:
            z += B * B
        src, nb = X, kb
    else:
        z = R.mul(x, x)
        src, nb = x, ell - 1
    if ell == 1:
        return z.reshape(shape)
    widths = tuple(range(ell - 1, ell - 1 - nb, -1))  # position i: ell − 1 − i bits (×2 later)
    wd = ell - (kb or 0) - 1
    for sl in iter_chunks(x.size, _batch(ell, batch, nb + (2 if kb else 0))):
        xs = src[sl]
        m = xs.size
        h = (m + 1) // 2  # first h elements: party 0 sends corrections; the rest: party 1
        part = xs[:h] if me == 0 else xs[h:]
        other = xs[h:] if me == 0 else xs[:h]
        mine_send = np.broadcast_to(part, (nb, part.size))
        mine_recv = _bits(other, nb)
        jobs = [
            ACOT(0, widths, h, x=mine_send if me == 0 else None, c=mine_recv if me == 1 else None),
            ACOT(1, widths, m - h, x=mine_send if me == 1 else None, c=mine_recv if me == 0 else None),
        ]
        if kb is not None:
            ms = mX[sl]
            corr = (xs * (1 - ms.astype(np.uint64)))[None]
            jobs += [ACOT(0, (wd,), m, x=corr if me == 0 else None, c=ms[None] if me == 1 else None),
                     ACOT(1, (wd,), m, x=corr if me == 1 else None, c=ms[None] if me == 0 else None)]
        outs = acot(mpc, jobs)
        cross = np.concatenate([_gilboa_sum(outs[0], ell, 1), _gilboa_sum(outs[1], ell, 1)])
        z[sl] += cross
        if kb is not None:
            z[sl] -= (outs[2][0] + outs[3][0]) << np.uint64(kb + 1)
    return R.reduce(z).reshape(shape)


def mul_ap(x, p, *, ell: int | None = None) -> np.ndarray:
    """Share × public integer (local; p may be negative, broadcasts).  No communication."""
    return Ring(_ell(ell)).mul_public(np.asarray(x, dtype=np.uint64), p)


# ----------------------------------------------------------------------------------------------
# plaintext twins
# ----------------------------------------------------------------------------------------------
def mul_aa_ideal(x, y, ell: int) -> np.ndarray:
    return Ring(ell).mul(x, y)


def square_a_ideal(x, ell: int) -> np.ndarray:
    return Ring(ell).mul(x, x)


# ----------------------------------------------------------------------------------------------
# analytic cost (payload bytes this party sends; rounds)
# ----------------------------------------------------------------------------------------------
def mul_aa_cost(n: int, ell: int, batch: int | None = None, bound: int | None = None) -> dict:
    """Per-party cost of :func:`mul_aa` on n elements: ``{'bytes_sent', 'rounds'}`` (the peer
    sends the same; ``bytes_recv`` equals ``bytes_sent``)."""
    k = bounded_k(ell, bound)
    if k is not None:
        widths = list(range(ell, ell - k, -1))
        sent = rounds = 0
        for sl in iter_chunks(n, _batch(ell, batch, k + 2)):
            m = sl.stop - sl.start
            sent += (k * m + 7) // 8 + packed_nbytes(m, widths) + (2 * m + 7) // 8 + packed_nbytes(m, [ell - k] * 2)
            rounds += 1
        return {"bytes_sent": sent, "rounds": rounds}
    widths = list(range(ell, 0, -1))
    sent = rounds = 0
    for sl in iter_chunks(n, _batch(ell, batch, ell)):
        m = sl.stop - sl.start
        sent += (ell * m + 7) // 8 + packed_nbytes(m, widths)
        rounds += 1
    return {"bytes_sent": sent, "rounds": rounds}


def square_a_cost(n: int, ell: int, party: int, batch: int | None = None, bound: int | None = None) -> dict:
    """Per-party cost of :func:`square_a` (party 0 sends corrections for the first half)."""
    if ell == 1:
        return {"bytes_sent": 0, "rounds": 0}
    kb = square_bounded_k(ell, bound)
    nb = kb if kb is not None else ell - 1
    widths = list(range(ell - 1, ell - 1 - nb, -1))
    sent = rounds = 0
    for sl in iter_chunks(n, _batch(ell, batch, nb + (2 if kb else 0))):
        m = sl.stop - sl.start
        h = (m + 1) // 2
        mine, theirs = (h, m - h) if party == 0 else (m - h, h)
        sent += packed_nbytes(mine, widths) + (nb * theirs + 7) // 8
        if kb is not None:
            sent += packed_nbytes(m, [ell - kb - 1]) + (m + 7) // 8
        rounds += 1
    return {"bytes_sent": sent, "rounds": rounds}

"""Comparison on secret shares: millionaires' core, MSB / DReLU, wrap bit, x < c, x < y.

Cheetah's comparison (DESIGN.md §4, SPU ``nonlinear/compare_prot``):

* **Millionaires' core** :func:`cmp`: party 0 holds v0, party 1 holds v1 (both < 2^nbits, private);
  output XOR shares of [v0 > v1].  Split both values into digits of m bits (:func:`digit_size`:
  ``cmp_digit_bits``, or ``cmp_digit_bits_narrow`` for comparisons of at most ``cmp_narrow_bits``
  bits; the top digit takes the remainder).  For every digit party 0 is the sender of a 1-of-2^m OT
  whose table holds, for every possible digit j of party 1, the two bits ([x_i > j] ⊕ r_gt,
  [x_i = j] ⊕ r_eq) masked with party 0's random output shares; party 1 selects with its digit.
  The lowest digit needs only the "greater" bit (its "equal" bit is never used).
  An AND tree combines adjacent digits, low digit ``lo``, high digit ``hi``:
      gt = gt_hi ⊕ eq_hi·gt_lo,   eq = eq_hi·eq_lo,
  both with one *correlated* bit triple (eq_hi is the shared input).  Nodes on the low spine of
  the tree (those containing digit 0) never need their eq, so they use a plain AND.
  All 1-of-N OTs share one round trip; every tree level is one round.

* :func:`msb_a` (arithmetic shares x = x0 + x1 mod 2^ℓ): with x_p' = x_p mod 2^(ℓ-1),
  msb(x) = msb(x0) ⊕ msb(x1) ⊕ [x0' + x1' ≥ 2^(ℓ-1)] and the carry is the millionaires'
  [x0' > 2^(ℓ-1) - 1 - x1'] on ℓ-1 bits.  :func:`drelu_a` = 1 ⊕ msb.

* **Balanced calls.**  The table owner (OT sender) hashes 2^m pads per OT, the chooser one, so a
  one-sided comparison leaves the chooser idle about half the time.  The carry is symmetric
  ([x0' > 2^(ℓ-1) - 1 - x1'] = [x1' > 2^(ℓ-1) - 1 - x0']), so :func:`msb_a` lets party 0 own the
  tables of the first half of the elements and party 1 those of the rest (``_cmp_pass`` takes
  *parts* with an owner each); both halves share the exchanges — choices cross, then tables
  cross, then the AND levels — so the latency is the same two one-way trips plus the levels (the
  channel's round counter, which counts a crossing as a round, shows one more per pass).
  :func:`msb_multi_split` does the same for several thresholds (``SecureBackend.ge_multi``).

* :func:`wrap_a`: [x0 + x1 ≥ 2^ℓ] (unsigned shares) = [x0 > 2^ℓ - 1 - x1], ℓ-bit millionaires'.

* :func:`lt_ap` (x < public c) and :func:`lt_aa` (x < y) are msb(x - c) / msb(x - y): exact when
  the difference does not overflow, i.e. |x - c| < 2^(ℓ-1) in the signed view (always true when
  both lie in [-2^(ℓ-2), 2^(ℓ-2))).  ``lt_ap(..., exact=True)`` is exact over the whole ring at
  twice the comparison traffic plus one AND round: for c ≥ 0, x < c ⟺ msb(x) ∨ msb(x - c);
  for c < 0, x < c ⟺ msb(x) ∧ msb(x - c).

Cost (see :func:`cmp_cost` for the exact byte formula that the tests assert):
rounds = 1 + ceil(log2 D) with D = ceil(nbits / m); COTs = nbits (OTs) + 2·(D - 1) (triples);
bits per comparison ≈ nbits (choices) + 2^m·(2D - 1) (tables) + 2·(3(D - 1) - #spine) (ANDs).
At ℓ = 64, m = 4 (msb: 63 bits, D = 16): 63 + 480 + 82 = 625 bits + 93 COTs.

Analytic cost table of :func:`msb_a` / :func:`lt_aa` per element (``msb_cost``; "+COT" adds
Ferret's ~0.44 bit per COT; SPU Cheetah measured 691 bits at ℓ = 64 and 348 at ℓ = 32):

    ℓ   m   payload bits   COTs   rounds   bits +COT   bytes +COT
    64  4        625         93      5        666         83.2     (default)
    64  3        501        103      6        546         68.3
    64  2        487        125      6        542         67.8
    32  4        291         45      4        311         38.9     (default)
    32  3        239         51      5        261         32.7

m = 3 trades one more round and ~10 % more COTs for ~18 % less traffic at ℓ = 64.
Measured with Ferret (n = 10^6, in-memory channel, both parties' bytes incl. COT refills):
83.9 B per 64-bit and 39.5 B per 32-bit comparison (``bench/workloads/prims_cmp.py``).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .bits import and_bb, and_bb_batch, corr_bit_triples, not_b
from .channel import iter_chunks
from .config import get_config
from .ot.ot_n import NOTReceiver, NOTSender, pack_values, unpack_values
from .ring import Ring

if TYPE_CHECKING:  # pragma: no cover
    from .context import MPC


# ----------------------------------------------------------------------------------------------
# layout and analytic cost
# ----------------------------------------------------------------------------------------------
def digit_size(nbits: int, count: int | None = None) -> int:
    """Digit size of a comparison on ``nbits`` bits: ``cmp_digit_bits_narrow`` up to
    ``cmp_narrow_bits`` bits, else ``cmp_digit_bits`` (config); a call of ``count`` ≤
    ``cmp_small_count`` comparisons takes at least ``cmp_digit_bits_small`` (fewer digits, fewer
    AND levels: small calls are latency-bound)."""
    cfg = get_config()
    m = cfg.cmp_digit_bits_narrow if cfg.cmp_digit_bits_narrow and nbits <= cfg.cmp_narrow_bits else cfg.cmp_digit_bits
    if count is not None and cfg.cmp_digit_bits_small and count <= cfg.cmp_small_count:
        m = max(m, min(8, cfg.cmp_digit_bits_small))
    return m


def _digits(nbits: int, m: int) -> list[int]:
    """Digit widths from the least significant digit up."""
    D = -(-nbits // m)
    return [m] * (D - 1) + [nbits - m * (D - 1)]


def _groups(nbits: int, m: int) -> list[tuple[int, int, int, int]]:
    """OT groups (first digit, number of digits, width, entry bits): digit 0 (1-bit entries),
    middle digits and the top digit (2-bit entries)."""
    w = _digits(nbits, m)
    D = len(w)
    g = [(0, 1, w[0], 1)]
    if D >= 3:
        g.append((1, D - 2, m, 2))
    if D >= 2:
        g.append((D - 1, 1, w[-1], 2))
    return g


def _levels(D: int) -> list[int]:
    """Number of pairs p at each level of the AND tree (k nodes -> k//2 pairs, odd node passes)."""
    out = []
    k = D
    while k > 1:
        out.append(k // 2)
        k = k - k // 2
    return out


def pass_size(nbits: int, T: int = 1, batch: int | None = None) -> int:
    """Elements per pass: ``cmp_batch`` counts 64-bit comparisons (the working set, ~1.5 KB of COT
    blocks each); narrower comparisons and fewer thresholds fit proportionally more elements, so
    the span-ring comparisons of the non-linear layers take few passes (rounds)."""
    b = batch or get_config().cmp_batch
    return max(1, b * 64 // (max(1, nbits) * T))


def cmp_cost(n: int, nbits: int, m: int | None = None, batch: int | None = None) -> dict:
    """Analytic cost of :func:`cmp` on n elements: payload bytes party 0 → 1 and 1 → 0, rounds
    (party 1; party 0 counts one fewer when its previous step ended with a receive), and COTs
    consumed (0→1 direction, 1→0 direction).  Passes of :func:`pass_size` elements add up."""
    return cmp_multi_cost(n, nbits, 1, m, batch)


def msb_cost(n: int, ell: int | None = None, m: int | None = None, batch: int | None = None) -> dict:
    """Analytic cost of :func:`msb_a`: a balanced comparison on ell − 1 bits
    (:func:`cmp_parts_cost` of :func:`balanced_halves`); both parties count the same rounds."""
    ell = ell or get_config().ell
    a, b = balanced_halves(n)
    return cmp_parts_cost([(a, 0), (b, 1)], ell - 1, 1, m, batch)


def balanced_halves(n: int) -> tuple[int, int]:
    """Elements of a balanced comparison whose tables party 0 builds (the first ⌈n/2⌋) and
    party 1 builds (the rest)."""
    return (n + 1) // 2, n // 2


# ----------------------------------------------------------------------------------------------
# millionaires' core
# ----------------------------------------------------------------------------------------------
def cmp(mpc: "MPC", v: np.ndarray, *, nbits: int, digit_bits: int | None = None) -> np.ndarray:
    """Millionaires' comparison: boolean shares of [v_party0 > v_party1].

    Inputs: ``v`` this party's private uint64 values (any shape, < 2^nbits, 1 ≤ nbits ≤ 64),
    same shape on both sides.  Output: uint8 XOR shares, same shape.
    Rounds: 1 + ceil(log2 D), D = ceil(nbits/m), per pass of :func:`pass_size` elements.
    Traffic: :func:`cmp_cost`.
    """
    v = np.asarray(v, dtype=np.uint64)
    if nbits == 0:
        return np.zeros(v.shape, np.uint8)
    return cmp_multi(mpc, v[None] if mpc.party == 0 else v, 1, nbits=nbits, digit_bits=digit_bits)[0]


def _digit_planes(v: np.ndarray, widths: list[int]) -> np.ndarray:
    """(rows, n) uint64 values → (D, rows, n) uint8 digits, least significant first."""
    dig = np.empty((len(widths),) + v.shape, dtype=np.uint8)
    s = 0
    for i, w in enumerate(widths):
        dig[i] = (v >> np.uint64(s)) & np.uint64((1 << w) - 1)
        s += w
    return dig


def _cmp_pass(mpc: "MPC", parts: list, nbits: int, m: int, T: int = 1) -> np.ndarray:
    """One pass of the millionaires' comparison over ``parts`` = [(v, owner), ...]: in each part
    the ``owner`` holds (T, n_h) values and builds the OT tables (the 1-of-2^m OT sender), the
    other party holds (n_h,) values and chooses with their digits; the result is [v_owner[t] >
    v_other] as (T, Σ n_h) XOR shares, columns in part order.  All OTs of all parts share one
    exchange of choices and one of tables, and one AND tree runs over every part: with one part
    per owner both parties build tables at the same time instead of one waiting for the other.
    """
    widths = _digits(nbits, m)
    D = len(widths)
    groups = _groups(nbits, m)
    levels = _levels(D)
    me = mpc.party
    sizes = [int(np.shape(v)[-1]) for v, _ in parts]
    offs = np.cumsum([0] + sizes)
    n = int(offs[-1])
    nT = n * T

    # take every COT of this call first, in the same order on both sides
    ots = [[(NOTSender if me == owner else NOTReceiver)(mpc, nh * nd, w) for _, nd, w, _ in groups]
           for (_, owner), nh in zip(parts, sizes)]
    np_ = nT * len(levels)
    nc = nT * sum(p - 1 for p in levels)
    plain = corr_bit_triples(mpc, np_, 1)
    corr = corr_bit_triples(mpc, nc, 2)

    gt = np.empty((D, T, n), dtype=np.uint8)
    eq = np.zeros((D, T, n), dtype=np.uint8)  # digit 0's row is never used
    tables = [h for h, (_, o) in enumerate(parts) if o == me and sizes[h]]
    choices = [h for h, (_, o) in enumerate(parts) if o != me and sizes[h]]
    if choices:  # 1. the choosers send their derandomised digits
        msg = []
        for h in choices:
            dig = _digit_planes(np.asarray(parts[h][0], np.uint64).reshape(1, -1), widths)
            for ot, (d0, nd, w, _) in zip(ots[h], groups):
                msg.append(pack_values(ot.derandomise(dig[d0 : d0 + nd, 0].reshape(-1)).astype(np.uint64), w))
        mpc.ch.send(*msg)
    if tables:  # 2. the owners answer with their masked tables
        got = iter(mpc.ch.recv(*[(np.uint8, ((sizes[h] * nd * w + 7) // 8,)) for h in tables for _, nd, w, _ in groups]))
        out = []
        for h in tables:
            nh, col = sizes[h], slice(offs[h], offs[h + 1])
            dig = _digit_planes(np.asarray(parts[h][0], np.uint64).reshape(T, nh), widths)
            for ot, (d0, nd, w, e) in zip(ots[h], groups):
                d = unpack_values(next(got), nh * nd, w).astype(np.uint8)
                # (T, nd·nh): instance index = digit-in-group · nh + element, as the chooser's
                x = dig[d0 : d0 + nd].transpose(1, 0, 2).reshape(T, nd * nh)
                r_gt = mpc.prg.bits((T, nd * nh))
                r_eq = mpc.prg.bits((T, nd * nh)) if e == 2 else None
                gt[d0 : d0 + nd, :, col] = r_gt.reshape(T, nd, nh).transpose(1, 0, 2)
                if e == 2:
                    eq[d0 : d0 + nd, :, col] = r_eq.reshape(T, nd, nh).transpose(1, 0, 2)
                dt = np.uint8 if e * T <= 8 else np.uint64

                def table(lo, hi, j, x=x, r_gt=r_gt, r_eq=r_eq, e=e, dt=dt):
                    acc = np.zeros((hi - lo, j.shape[1]), dtype=dt)
                    for t in range(T):
                        xs = x[t, lo:hi, None]
                        b = (np.greater(xs, j).view(np.uint8) ^ r_gt[t, lo:hi, None]).astype(dt)
                        if e == 2:
                            b |= (np.equal(xs, j).view(np.uint8) ^ r_eq[t, lo:hi, None]).astype(dt) << dt(1)
                        acc |= b << dt(e * t) if t else b
                    return acc

                out.append(ot.mask_table(table, d, e * T))
        mpc.ch.send(*out)
    if choices:  # 3. the choosers read their entries
        got = iter(mpc.ch.recv(*[(np.uint8, ((sizes[h] * nd * (1 << w) * e * T + 7) // 8,))
                                 for h in choices for _, nd, w, e in groups]))
        for h in choices:
            nh, col = sizes[h], slice(offs[h], offs[h + 1])
            for ot, (d0, nd, w, e) in zip(ots[h], groups):
                g = ot.unmask(next(got), e * T).reshape(nd, nh)
                for t in range(T):
                    gt[d0 : d0 + nd, t, col] = (g >> np.uint64(e * t)) & np.uint64(1)
                    if e == 2:
                        eq[d0 : d0 + nd, t, col] = (g >> np.uint64(e * t + 1)) & np.uint64(1)
    gt, eq = gt.reshape(D, nT), eq.reshape(D, nT)
    n = nT

    # AND tree, one round per level
    pp = pc = 0
    k = D
    for p in levels:
        tp = tuple(t[pp : pp + n] for t in plain)
        tc = tuple(t[pc : pc + n * (p - 1)] for t in corr)
        pp += n
        pc += n * (p - 1)
        items = [(eq[1], gt[0][:, None])]
        trip = [tp]
        if p > 1:
            hi = slice(3, 2 * p, 2)
            lo = slice(2, 2 * p, 2)
            Y = np.stack([gt[lo].reshape(-1), eq[lo].reshape(-1)], axis=1)
            items.append((eq[hi].reshape(-1), Y))
            trip.append(tc)
        z = and_bb_batch(mpc, items, trip)
        k2 = k - p
        ngt = np.empty((k2, n), np.uint8)
        neq = np.zeros((k2, n), np.uint8)
        ngt[0] = gt[1] ^ z[0][:, 0]
        if p > 1:
            zc = z[1].reshape(p - 1, n, 2)
            ngt[1:p] = gt[3 : 2 * p : 2] ^ zc[:, :, 0]
            neq[1:p] = zc[:, :, 1]
        if k % 2:
            ngt[p] = gt[k - 1]
            neq[p] = eq[k - 1]
        gt, eq, k = ngt, neq, k2
    return gt[0].reshape(T, -1)


def _pass_slices(sizes: list[int], nbits: int, T: int, batch: int | None = None) -> list[list[slice]]:
    """Per pass, one slice per part: each pass takes the same share of every non-empty part, so a
    balanced call stays balanced in every pass."""
    live = max(1, sum(1 for s in sizes if s))
    step = max(1, pass_size(nbits, T, batch) // live)
    npass = max([-(-s // step) for s in sizes] + [0])
    return [[slice(min(s, i * step), min(s, (i + 1) * step)) for s in sizes] for i in range(npass)]


def _cmp_parts(mpc: "MPC", parts: list, T: int, nbits: int, digit_bits: int | None = None) -> np.ndarray:
    """:func:`_cmp_pass` over passes of :func:`pass_size` elements; parts' values flat:
    (T, n_h) on the owner, (n_h,) on the other.  Returns (T, Σ n_h)."""
    sizes = [int(np.shape(v)[-1]) for v, _ in parts]
    m = digit_bits or digit_size(nbits, T * sum(sizes))
    if not 1 <= nbits <= 64:
        raise ValueError(f"cmp: nbits={nbits} outside 1..64")
    if T < 1 or T * 2 > 64:
        raise ValueError(f"cmp_multi: T={T} must be in 1..32")
    for (v, owner), nh in zip(parts, sizes):
        want = (T, nh) if mpc.party == owner else (nh,)
        if np.shape(v) != want:
            raise ValueError(f"cmp: the party {'owning' if mpc.party == owner else 'choosing'} a part passes "
                             f"{want} values, got {np.shape(v)} (T={T})")
        if nbits < 64 and np.any(np.asarray(v, np.uint64) >> np.uint64(nbits)):
            raise ValueError(f"cmp: inputs must be < 2^{nbits}")
    offs = np.cumsum([0] + sizes)
    out = np.empty((T, int(offs[-1])), np.uint8)
    for sls in _pass_slices(sizes, nbits, T):
        res = _cmp_pass(mpc, [(v[..., sl], o) for (v, o), sl in zip(parts, sls)], nbits, m, T)
        pos = 0
        for h, sl in enumerate(sls):
            k = sl.stop - sl.start
            out[:, offs[h] + sl.start : offs[h] + sl.stop] = res[:, pos : pos + k]
            pos += k
    return out


def cmp_multi(mpc: "MPC", v: np.ndarray, T: int, *, nbits: int, digit_bits: int | None = None) -> np.ndarray:
    """T millionaires' comparisons against one value: boolean shares of [v0[t] > v1], t < T.

    Inputs: party 0 ``v`` of shape (T, *S), party 1 ``v`` of shape S (< 2^nbits, private).
    Output: uint8 XOR shares of shape (T, *S).  Party 1's digits choose once: the 1-of-2^m OTs
    (and their COTs and choice bits) are shared by the T comparisons, each table entry carrying
    the T (gt, eq) bit pairs; the AND trees run on T·n elements.  Used for piecewise selection
    and clamping, where one shared value meets several public thresholds.
    Rounds: those of :func:`cmp`; traffic :func:`cmp_multi_cost`."""
    v = np.asarray(v, dtype=np.uint64)
    shape = v.shape[1:] if mpc.party == 0 else v.shape
    if mpc.party == 0 and (v.ndim == 0 or v.shape[0] != T):
        raise ValueError(f"cmp_multi: party 0 needs (T, ...) values, got {v.shape} for T={T}")
    n = int(np.prod(shape, dtype=np.int64))
    flat = v.reshape(T, n) if mpc.party == 0 else v.reshape(n)
    return _cmp_parts(mpc, [(flat, 0)], T, nbits, digit_bits).reshape((T,) + tuple(shape))


def cmp_multi_cost(n: int, nbits: int, T: int, m: int | None = None, batch: int | None = None) -> dict:
    """Analytic cost of :func:`cmp_multi` (same keys as :func:`cmp_cost`)."""
    return cmp_parts_cost([(n, 0)], nbits, T, m, batch)


def cmp_parts_cost(parts: list[tuple[int, int]], nbits: int, T: int, m: int | None = None,
                   batch: int | None = None) -> dict:
    """Analytic cost of :func:`_cmp_parts` on parts [(n_h, owner), ...]: bytes each way, rounds
    (the choosing party's count: 1 + levels per pass with one owner, 2 + levels for both parties
    when both own a part — the choices cross, then the tables: still two one-way trips) and COTs
    per direction."""
    m = m or digit_size(nbits, T * sum(s for s, _ in parts))
    out = {"bytes_0to1": 0, "bytes_1to0": 0, "rounds": 0, "cots_0to1": 0, "cots_1to0": 0}
    if nbits == 0:
        return out
    groups = _groups(nbits, m)
    levels = _levels(len(_digits(nbits, m)))
    sizes = [s for s, _ in parts]
    for sls in _pass_slices(sizes, nbits, T, batch) or [[slice(0, 0)] * len(parts)]:
        ks = [sl.stop - sl.start for sl in sls]
        k = sum(ks)
        ands = sum((k * T * (2 + 3 * (p - 1)) + 7) // 8 for p in levels)
        ntrip = k * T * sum(levels)
        owners = {o for (_, o), kh in zip(parts, ks) if kh} or {parts[0][1]}
        for (_, o), kh in zip(parts, ks):
            choice = sum((kh * nd * w + 7) // 8 for _, nd, w, _ in groups)
            tables = sum((kh * nd * (1 << w) * e * T + 7) // 8 for _, nd, w, e in groups)
            out["bytes_0to1" if o == 0 else "bytes_1to0"] += tables
            out["bytes_1to0" if o == 0 else "bytes_0to1"] += choice
            out["cots_0to1" if o == 0 else "cots_1to0"] += kh * nbits
        out["bytes_0to1"] += ands
        out["bytes_1to0"] += ands
        out["rounds"] += len(owners) + len(levels)
        out["cots_0to1"] += ntrip
        out["cots_1to0"] += ntrip
    return out


def _msb_parts(mpc: "MPC", parts: list, T: int, ell: int) -> np.ndarray:
    """msb of arithmetic shares, by parts [(x, owner)]: the owner passes (T, n_h) shares (x − c_t
    for public c_t), the other party its single (n_h,) share.  carry = [low_owner > 2^(ℓ−1) − 1 −
    low_other] (symmetric in the two shares, so either party may own a part); msb = top bits ⊕
    carry.  Returns (T, Σ n_h) XOR shares."""
    low_mask = np.uint64((1 << (ell - 1)) - 1)
    vs, tops = [], []
    for x, owner in parts:
        x = np.asarray(x, dtype=np.uint64)
        low = x & low_mask
        vs.append((low if mpc.party == owner else low_mask - low, owner))
        top = ((x >> np.uint64(ell - 1)) & np.uint64(1)).astype(np.uint8)
        tops.append(np.broadcast_to(top, (T, x.shape[-1])))
    carry = _cmp_parts(mpc, vs, T, nbits=ell - 1)
    return (carry ^ np.concatenate(tops, axis=1)).astype(np.uint8)


def msb_multi(mpc: "MPC", x: np.ndarray, T: int, *, ell: int | None = None) -> np.ndarray:
    """msb of T arithmetic-shared values whose party-1 shares are equal (x − c_t with public c_t,
    the constant on party 0's side): party 0 passes (T, *S) shares, party 1 its single (*S)
    share.  Output (T, *S) XOR shares.  Cost :func:`cmp_multi_cost` on ell − 1 bits.
    :func:`msb_multi_split` is the balanced form (half of the elements' constants on party 1)."""
    ell = ell or get_config().ell
    x = np.asarray(x, dtype=np.uint64)
    shape = x.shape[1:] if mpc.party == 0 else x.shape
    n = int(np.prod(shape, dtype=np.int64))
    flat = x.reshape(T, n) if mpc.party == 0 else x.reshape(n)
    return _msb_parts(mpc, [(flat, 0)], T, ell).reshape((T,) + tuple(shape))


def msb_multi_split(mpc: "MPC", xa: np.ndarray, xb: np.ndarray, T: int, *, ell: int | None = None) -> np.ndarray:
    """Balanced :func:`msb_multi` on two flat parts: in ``xa`` party 0 holds the T shares
    (x − c_t) and party 1 one share, in ``xb`` the other way round, so both parties build OT
    tables at once.  Returns (T, len_a + len_b).  Cost :func:`cmp_parts_cost`."""
    ell = ell or get_config().ell
    return _msb_parts(mpc, [(xa, 0), (xb, 1)], T, ell)


def ge_multi_ap(mpc: "MPC", x: np.ndarray, cs, *, ell: int | None = None, k: int | None = None,
                coarse=None) -> np.ndarray:
    """Boolean shares of [x ≥ c_t] (signed view) for shared x and T public ring constants c_t:
    shape (T,) + x.shape.

    One balanced :func:`msb_multi_split`: the T comparisons of an element share one party's share
    of x (hence its OTs and choice bits) and the other party subtracts the c_t — party 0 for the
    first half of the elements, party 1 for the rest.  The caller promises |x − c_t| < 2^(k−1)
    (default k = ell), so the comparisons run in ring k on the shares reduced mod 2^k (local).
    ``coarse``: a local map from ring-ell shares to ring-k shares used instead of that reduction
    (``SecureBackend.ge_multi`` passes its truncation by the dropped low bits).
    Rounds and traffic: :func:`ge_multi_cost`.
    """
    ell = ell or get_config().ell
    k = ell if k is None else int(k)
    x = Ring(ell).reduce(np.asarray(x, dtype=np.uint64))
    bits = _msb_balanced(mpc, x.reshape(-1), cs, ell, k, coarse or Ring(k).reduce)
    return not_b(mpc, bits).reshape((len(cs),) + x.shape)


def _msb_balanced(mpc: "MPC", flat: np.ndarray, cs, ell: int, k: int, coarse) -> np.ndarray:
    """msb(x − c_t) in ring k for flat shares x (ring ell), (T, n) XOR shares: party 0 owns the
    tables of the first half of the elements (:func:`balanced_halves`) and subtracts the c_t there,
    party 1 those of the rest (:func:`msb_multi_split`); ``coarse`` maps ring-ell shares to ring k."""
    R = Ring(ell)
    a, _ = balanced_halves(flat.size)
    own, other = (slice(0, a), slice(a, None)) if mpc.party == 0 else (slice(a, None), slice(0, a))
    mine = np.stack([coarse(R.sub(flat[own], R.reduce(np.uint64(c)))) for c in cs])
    single = coarse(flat[other])
    xa, xb = (mine, single) if mpc.party == 0 else (single, mine)
    return msb_multi_split(mpc, xa, xb, len(cs), ell=k)


def ge_multi_cost(n: int, T: int, k: int, party: int, m: int | None = None, batch: int | None = None) -> dict:
    """Per-party payload bytes and rounds of :func:`ge_multi_ap` on n elements, T thresholds,
    ring k.  A balanced comparison starts with both parties sending; with a single element only
    party 1 chooses and party 0 (the table owner) starts by receiving: one round less for it."""
    a, b = balanced_halves(n)
    c = cmp_parts_cost([(a, 0), (b, 1)], k - 1, T, m, batch)
    single = party == 0 and b == 0 and a > 0
    return {"bytes_sent": c["bytes_0to1"] if party == 0 else c["bytes_1to0"], "rounds": c["rounds"] - single}


def cmp_ideal(v0: np.ndarray, v1: np.ndarray) -> np.ndarray:
    """Plaintext twin of :func:`cmp`."""
    return (np.asarray(v0, np.uint64) > np.asarray(v1, np.uint64)).astype(np.uint8)


# ----------------------------------------------------------------------------------------------
# MSB, DReLU, wrap, less-than
# ----------------------------------------------------------------------------------------------
def msb_a(mpc: "MPC", x: np.ndarray, *, ell: int | None = None) -> np.ndarray:
    """Boolean shares of the most significant bit of x = x0 + x1 mod 2^ℓ (1 = negative).

    Inputs: arithmetic shares (uint64 < 2^ℓ).  Output: uint8 XOR shares, same shape.
    Balanced: party 0 builds the OT tables of the first half of the elements, party 1 those of
    the rest (:func:`balanced_halves`), in the same exchanges.
    Rounds and traffic: :func:`msb_cost` (a comparison on ℓ − 1 bits).
    """
    ell = ell or get_config().ell
    x = np.asarray(x, dtype=np.uint64)
    return _msb_balanced(mpc, x.reshape(-1), [0], ell, ell, Ring(ell).reduce)[0].reshape(x.shape)


def drelu_a(mpc: "MPC", x: np.ndarray, *, ell: int | None = None) -> np.ndarray:
    """Boolean shares of [x ≥ 0] (signed view) = 1 ⊕ msb(x).  Cost of :func:`msb_a`."""
    return not_b(mpc, msb_a(mpc, x, ell=ell))


def wrap_a(mpc: "MPC", x: np.ndarray, *, ell: int | None = None) -> np.ndarray:
    """Boolean shares of the wrap bit [x0 + x1 ≥ 2^ℓ] of unsigned shares (for truncation).

    Cost: :func:`cmp` on ℓ bits."""
    ell = ell or get_config().ell
    x = np.asarray(x, dtype=np.uint64)
    mask = Ring(ell).mask
    v = x if mpc.party == 0 else mask - x
    return cmp(mpc, v, nbits=ell)


def _sub_public(mpc: "MPC", x: np.ndarray, c, ell: int) -> np.ndarray:
    r = Ring(ell)
    if mpc.party == 0:
        return r.sub(x, r.from_signed(np.asarray(c, dtype=np.int64)))
    return np.broadcast_to(np.asarray(x, np.uint64), np.broadcast(np.asarray(x), np.asarray(c)).shape).copy()


def lt_ap(mpc: "MPC", x: np.ndarray, c, *, ell: int | None = None, exact: bool = False) -> np.ndarray:
    """Boolean shares of [x < c] for shared x and public c (signed view, int or int array).

    Default: msb(x - c), exact when |x - c| < 2^(ℓ-1) (cost of :func:`msb_a`).
    ``exact=True``: exact for all x, c in the ring: one batched msb of (x, x - c) (same rounds,
    twice the traffic) plus one AND round.
    """
    ell = ell or get_config().ell
    x = np.asarray(x, dtype=np.uint64)
    if not exact:
        return msb_a(mpc, _sub_public(mpc, x, c, ell), ell=ell)
    d = _sub_public(mpc, x, c, ell)
    xb = np.broadcast_to(x, d.shape)
    both = msb_a(mpc, np.stack([xb, d]), ell=ell)
    m1, m2 = both[0], both[1]
    a = and_bb(mpc, m1, m2)
    cpos = np.broadcast_to(np.asarray(c, dtype=np.int64) >= 0, d.shape)
    # c >= 0: m1 ∨ m2 = m1 ⊕ m2 ⊕ m1·m2 ;  c < 0: m1 ∧ m2
    return np.where(cpos, m1 ^ m2 ^ a, a).astype(np.uint8)


def lt_aa(mpc: "MPC", x: np.ndarray, y: np.ndarray, *, ell: int | None = None) -> np.ndarray:
    """Boolean shares of [x < y] for shared x, y: msb(x - y).

    Ring-range caveat: exact only when |x - y| < 2^(ℓ-1) in the signed view (e.g. both in
    [-2^(ℓ-2), 2^(ℓ-2))); otherwise the difference wraps.  Cost of :func:`msb_a`."""
    ell = ell or get_config().ell
    return msb_a(mpc, Ring(ell).sub(x, y), ell=ell)


# plaintext twins
def msb_ideal(x: np.ndarray, ell: int) -> np.ndarray:
    return ((np.asarray(x, np.uint64) >> np.uint64(ell - 1)) & np.uint64(1)).astype(np.uint8)


def wrap_ideal(x0: np.ndarray, x1: np.ndarray, ell: int) -> np.ndarray:
    s = np.asarray(x0, np.uint64).astype(object) + np.asarray(x1, np.uint64).astype(object)
    return (s >= (1 << ell)).astype(np.uint8)


def lt_ideal(x: np.ndarray, c, ell: int) -> np.ndarray:
    r = Ring(ell)
    return (r.to_signed(x) < np.asarray(c, dtype=np.int64)).astype(np.uint8)

"""Public lookup tables on small arithmetic shares, with boolean outputs (``lut_ab``).

Functionality (:func:`lut_ideal`): x = x0 + x1 mod 2^m is shared (m ≤ 8, e.g. a coarse copy of a
value after a local truncate-and-reduce), ``table`` is a public array of 2^m entries of ``nbits``
bits; the output is XOR shares of table[x].  Used to select the pieces of a fitted approximation:
entry j holds the bits [j ≥ b_i] of every breakpoint b_i at once, so one lookup replaces a batch of
comparisons and its AND trees (``nn.functional.piecewise`` with a lookup grid).

Protocol — one chosen 1-of-2^m OT per element (``ot/ot_n.py``), balanced like the comparisons:
party 0 owns the tables of the first ⌈n/2⌉ elements, party 1 those of the rest.  For an element,
the owner o (share x_o) draws a fresh nbits-bit mask r and offers, for every possible share j of
the chooser, table[(x_o + j) mod 2^m] ⊕ r; the chooser selects j = x_c.  The owner's output share
is r, the chooser's the entry it read.

Security: the chooser reads one entry, masked by a fresh uniform r; the owner sees the OT's
derandomisation c ⊕ b, uniform since b is the random choice of the underlying COTs.

Rounds: 1 (the choices cross, then the tables cross: two one-way trips, as in the comparison's
first step).  Traffic per element: m choice bits one way, 2^m·nbits table bits the other
(:func:`lut_cost`); m COTs in the owner → chooser direction.  No AND triples.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .compare import balanced_halves
from .ot.ot_n import NOTReceiver, NOTSender, RotatedTable, pack_values, unpack_values

if TYPE_CHECKING:  # pragma: no cover
    from .context import MPC


def _split(n: int, me: int) -> tuple[int, int, slice, slice, int, int]:
    """The balanced parts: (a, b) elements owned by party 0 / 1, this party's owned and chosen
    slices, and their sizes."""
    a, b = balanced_halves(n)
    parts = [slice(0, a), slice(a, n)]
    return a, b, parts[me], parts[1 - me], (a, b)[me], (a, b)[1 - me]


def _pack_rows(bits: np.ndarray) -> np.ndarray:
    """(T, N) 0/1 rows → (N,) entries with bit t = row t."""
    return (bits << np.arange(bits.shape[0], dtype=np.uint64)[:, None]).sum(axis=0, dtype=np.uint64)


def _check_table(table, m: int, nbits: int) -> np.ndarray:
    if not 1 <= m <= 8:
        raise ValueError(f"lut: index bits m={m} must be in 1..8")
    if not 1 <= nbits <= 64:
        raise ValueError(f"lut: entry bits nbits={nbits} must be in 1..64")
    tab = np.asarray(table)
    if tab.shape != (1 << m,):
        raise ValueError(f"lut: a table for {m}-bit indices has {1 << m} entries, got shape {tab.shape}")
    tab = tab.astype(np.uint64)
    if nbits < 64 and np.any(tab >> np.uint64(nbits)):
        raise ValueError(f"lut: table entries must be < 2^{nbits}")
    return tab


def lut_ab(mpc: "MPC", x: np.ndarray, table, *, m: int, nbits: int) -> np.ndarray:
    """XOR shares of table[x] (uint64, ``nbits`` bits) for arithmetic shares x in ring 2^m.

    Inputs: ``x`` this party's shares (any shape; reduced mod 2^m), ``table`` public (2^m,)
    entries < 2^nbits, the same on both sides.  Output: the shape of x.  Cost: :func:`lut_cost`.
    """
    tab = _check_table(table, m, nbits)
    N = 1 << m
    x = np.asarray(x, dtype=np.uint64)
    flat = (x.reshape(-1) & np.uint64(N - 1)).astype(np.int64)
    n = flat.size
    a, b, own, oth, n_own, n_oth = _split(n, mpc.party)
    me = mpc.party
    # the COTs and hash tweaks of part 0 first, then part 1, on both sides
    ots = [(NOTSender if me == h else NOTReceiver)(mpc, size, m) for h, size in enumerate((a, b))]
    sender, receiver = ots[me], ots[1 - me]
    # 1. choices cross
    mpc.ch.send(pack_values(receiver.derandomise(flat[oth]).astype(np.uint64), m))
    d = unpack_values(mpc.ch.recv_array(np.uint8, ((n_own * m + 7) // 8,)), n_own, m).astype(np.int64)
    # 2. tables cross: entry j = table[(x_own + j) mod N] ⊕ r
    xo = flat[own]
    r = mpc.prg.uint64((n_own,), nbits)
    mpc.ch.send(sender.mask_table(RotatedTable(tab, xo, r), d, nbits))
    got = receiver.unmask(mpc.ch.recv_array(np.uint8, ((n_oth * N * nbits + 7) // 8,)), nbits)
    out = np.empty(n, dtype=np.uint64)
    out[own] = r
    out[oth] = got
    return out.reshape(x.shape)


def lut_bits(mpc: "MPC", x: np.ndarray, bits, *, m: int) -> np.ndarray:
    """XOR shares of T bit-tables at once: ``bits`` is a public (T, 2^m) 0/1 array; returns
    (T,) + x.shape uint8 shares of bits[t, x].  One :func:`lut_ab` with T-bit entries (T ≤ 64)."""
    bits = np.asarray(bits, dtype=np.uint64)
    if bits.ndim != 2 or np.any(bits > 1):
        raise ValueError(f"lut_bits: bits must be a (T, 2^m) 0/1 array, got shape {bits.shape}")
    T = bits.shape[0]
    y = lut_ab(mpc, x, _pack_rows(bits), m=m, nbits=T)
    return ((y[None] >> np.arange(T, dtype=np.uint64).reshape((T,) + (1,) * y.ndim)) & np.uint64(1)).astype(np.uint8)


def lut_ideal(x: np.ndarray, table, m: int) -> np.ndarray:
    """Plaintext twin: table[x mod 2^m]."""
    return np.asarray(table, dtype=np.uint64)[(np.asarray(x, dtype=np.uint64) & np.uint64((1 << m) - 1)).astype(np.int64)]


def lut_cost(n: int, m: int, nbits: int) -> dict:
    """Payload bytes each direction, rounds and COTs per direction of :func:`lut_ab` on n elements."""
    a, b = balanced_halves(n)

    def sent(own: int, oth: int) -> int:
        return (oth * m + 7) // 8 + (own * (1 << m) * nbits + 7) // 8

    return {"bytes_0to1": sent(a, b), "bytes_1to0": sent(b, a), "rounds": 2,
            "cots_0to1": a * m, "cots_1to0": b * m}


def lut_ge_ab(mpc: "MPC", x: np.ndarray, bits, c: int, *, m: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """One comparison and one lookup on the same shared value, sharing their lowest digit's OT.

    Inputs: arithmetic shares x in ring 2^k, a public (T, 2^m) 0/1 table ``bits`` indexed by
    x mod 2^m, a public signed threshold c; the caller promises |x − c| < 2^(k−1).
    Outputs: XOR shares of [x ≥ c] (shape of x) and of bits[:, x mod 2^m] ((T,) + shape; T may
    be 0: a plain comparison).

    [x ≥ c] = ¬msb(v), v = x − c (the owner subtracts c), and msb(v) = top(v_o) ⊕ top(x_c) ⊕
    [A > B] with A = v_o mod 2^(k−1), B = 2^(k−1) − 1 − (x_c mod 2^(k−1)) (the millionaires'
    carry of ``protocols/compare.py``).  B's lowest m bits are 2^m − 1 − (x_c mod 2^m): the chooser's
    lookup index fixes them, so the lookup's 1-of-2^m OT also carries the lowest digit's bit
    [A mod 2^m > 2^m − 1 − j] in each entry j (T + 1 bits).  The remaining k − 1 − m bits go in
    digits of :func:`protocols.compare.digit_size` (1-of-2^w OTs with (gt, eq) entries) and a chain
    of ANDs from the low digit up: gt ← gt_i ⊕ eq_i·gt.  Balanced like :func:`lut_ab`.
    Rounds: 2 (choices, tables) + one per upper digit.  Cost: :func:`lut_ge_cost`.
    """
    bits = np.asarray(bits, dtype=np.uint64)
    T = bits.shape[0] if bits.ndim == 2 else 0
    if bits.ndim != 2 or bits.shape[1] != (1 << m) or np.any(bits > 1) or not 0 <= T <= 63:
        raise ValueError(f"lut_ge_ab: bits must be a (T ≤ 63, 2^{m}) 0/1 array, got shape {bits.shape}")
    packed = _pack_rows(bits)

    def low(own: slice, xo: np.ndarray, A0: np.ndarray):
        mask = mpc.prg.uint64((xo.size,), T + 1)
        return RotatedTable(packed, xo, mask, gt=A0, gt_bit=T), mask

    ge, words, _ = _lut_ge(mpc, x, c, m, k, T + 1, low)
    lut = ((words[None] >> np.arange(T, dtype=np.uint64)[:, None]) & np.uint64(1)).astype(np.uint8)
    return ge, lut.reshape((T,) + tuple(np.shape(x)))


def lut_ge_aa(mpc: "MPC", x: np.ndarray, values, c: int, *, m: int, k: int, w: int,
              mask: np.ndarray | None = None, extra: tuple[list, list] | None = None
              ) -> tuple[np.ndarray, np.ndarray, list]:
    """:func:`lut_ge_ab` with an *arithmetic* lookup whose values the owner may choose per element.

    ``values(own)`` returns, for the elements ``own`` (a slice of the flattened x) this party
    owns, a (n_own, 2^m) array: entry t is the value to deliver when x mod 2^m = t, < 2^w — it
    may depend on the owner's own secrets (``protocols/exp_lut.py`` folds the owner's share in).
    The owner draws r ∈ Z_2^w and a bit β and offers, for the chooser's index j,
    ((values[(x_o + j) mod 2^m] − r) mod 2^w) | (([A mod 2^m > 2^m − 1 − j] ⊕ β) << w); its output
    shares are r and β.  Outputs: XOR shares of [x ≥ c], arithmetic shares mod 2^w of the value,
    and the peer's ``extra`` arrays.

    ``mask``: the owner's r for its elements ((n_own,) < 2^w; default fresh), when the caller
    needs its share before the lookup (``protocols/exp_lut.py`` multiplies it in the same flight).
    ``extra`` = (arrays to send, their (dtype, shape) specs from the peer): a caller's independent
    message rides on the choices' flight (no round of its own).  Rounds, COTs: as
    :func:`lut_ge_ab` with T = w; bytes: :func:`lut_ge_cost` with T = w (plus ``extra``).
    """
    if not 1 <= w <= 63:
        raise ValueError(f"lut_ge_aa: value bits w={w} must be in 1..63")
    N, W = 1 << m, np.uint64((1 << w) - 1)

    def low(own: slice, xo: np.ndarray, A0: np.ndarray):
        vals = np.asarray(values(own), dtype=np.uint64)
        if vals.shape != (xo.size, N):
            raise ValueError(f"lut_ge_aa: values gave shape {vals.shape}, expected {(xo.size, N)}")
        r = mpc.prg.uint64((xo.size,), w) if mask is None else np.asarray(mask, dtype=np.uint64)
        if r.shape != (xo.size,):
            raise ValueError(f"lut_ge_aa: mask shape {r.shape}, expected {(xo.size,)}")
        beta = mpc.prg.uint64((xo.size,), 1)

        def table(lo: int, hi: int, idx: np.ndarray) -> np.ndarray:
            # rotation by the owner's share and the OT's permutation in one gather
            j = idx.astype(np.int64)
            v = np.take_along_axis(vals[lo:hi], (xo[lo:hi, None] + j) & (N - 1), axis=1)
            g = (A0[lo:hi, None] > (N - 1) - j).astype(np.uint64)
            return ((v - r[lo:hi, None]) & W) | ((g ^ beta[lo:hi, None]) << np.uint64(w))

        return table, r | (beta << np.uint64(w))

    ge, words, got = _lut_ge(mpc, x, c, m, k, w + 1, low, extra)
    return ge, (words & W).reshape(np.shape(x)), got


def _lut_ge(mpc: "MPC", x: np.ndarray, c: int, m: int, k: int, e0: int, low, extra=None):
    """The comparison-plus-lookup of :func:`lut_ge_ab` / :func:`lut_ge_aa`.  ``low(own, x_o mod
    2^m, A mod 2^m)`` gives the owner's lowest-digit tables (e0-bit entries, the comparison's
    digit bit at bit e0 − 1) and its own output words.  Returns XOR shares of [x ≥ c] (x's
    shape), the flat low words (the owner's own, the chooser's read) and the peer's extras."""
    from .bits import and_bb, not_b
    from .compare import _digits, digit_size
    from .ring import Ring

    if not 1 <= m <= 8 or not m < k <= 64:
        raise ValueError(f"lut_ge: need 1 ≤ m ≤ 8 and m < k ≤ 64 (m={m}, k={k})")
    R, N = Ring(k), 1 << m
    shape = np.shape(x)
    xs = R.reduce(np.asarray(x, dtype=np.uint64)).reshape(-1)
    n = xs.size
    a, b, own, oth, n_own, n_oth = _split(n, mpc.party)
    me = mpc.party
    half = np.uint64((1 << (k - 1)) - 1)
    v = xs.copy()
    v[own] = R.sub(xs[own], R.from_signed(np.int64(c)))  # the owner's share of x − c
    A = v[own] & half
    B = half - (xs[oth] & half)
    ups = _digits(k - 1 - m, digit_size(k - 1)) if k - 1 > m else []
    offs = np.cumsum([m] + ups[:-1]).tolist() if ups else []
    groups = [(m, e0)] + [(w, 2) for w in ups]
    ots = [[(NOTSender if me == h else NOTReceiver)(mpc, size, w) for w, _ in groups] for h, size in enumerate((a, b))]
    senders, receivers = ots[me], ots[1 - me]
    sent_extra, want_extra = extra if extra is not None else ([], [])
    # 1. choices cross: the lookup index x_c mod 2^m, then B's upper digits (and a caller's extras)
    picks = [xs[oth] & np.uint64(N - 1)] + [(B >> np.uint64(o)) & np.uint64((1 << w) - 1) for o, w in zip(offs, ups)]
    mpc.ch.send(*[pack_values(r.derandomise(p.astype(np.int64)).astype(np.uint64), w)
                  for r, p, (w, _) in zip(receivers, picks, groups)], *sent_extra)
    got = mpc.ch.recv(*[(np.uint8, ((n_own * w + 7) // 8,)) for w, _ in groups], *want_extra)
    got, got_extra = got[: len(groups)], got[len(groups):]
    ds = [unpack_values(g, n_own, w).astype(np.int64) for g, (w, _) in zip(got, groups)]
    # 2. tables cross
    xo, A0 = xs[own].astype(np.int64) & (N - 1), (A & np.uint64(N - 1)).astype(np.int64)
    low_table, low_word = low(own, xo, A0)
    masks = [low_word] + [mpc.prg.uint64((n_own,), 2) for _ in ups]

    def upper(i: int):
        Ai = ((A >> np.uint64(offs[i])) & np.uint64((1 << ups[i]) - 1)).astype(np.int64)

        def f(lo: int, hi: int, idx: np.ndarray) -> np.ndarray:
            j = idx.astype(np.int64)
            e = (Ai[lo:hi, None] > j).astype(np.uint64) | ((Ai[lo:hi, None] == j).astype(np.uint64) << np.uint64(1))
            return e ^ masks[i + 1][lo:hi, None]
        return f

    fns = [low_table] + [upper(i) for i in range(len(ups))]
    mpc.ch.send(*[s.mask_table(f, d, e) for s, f, d, (_, e) in zip(senders, fns, ds, groups)])
    got = mpc.ch.recv(*[(np.uint8, ((n_oth * (1 << w) * e + 7) // 8,)) for w, e in groups])
    vals = []
    for g, r, msk, (w, e) in zip(got, receivers, masks, groups):
        full = np.empty(n, dtype=np.uint64)
        full[own] = msk
        full[oth] = r.unmask(g, e)
        vals.append(full)
    gt = ((vals[0] >> np.uint64(e0 - 1)) & np.uint64(1)).astype(np.uint8)
    for vi in vals[1:]:  # low digit up: gt ← gt_i ⊕ eq_i·gt
        gt = ((vi & np.uint64(1)).astype(np.uint8) ^ and_bb(mpc, ((vi >> np.uint64(1)) & np.uint64(1)).astype(np.uint8), gt))
    msb = gt ^ ((v >> np.uint64(k - 1)) & np.uint64(1)).astype(np.uint8)
    return not_b(mpc, msb).reshape(shape), vals[0], list(got_extra)


def lut_ge_cost(n: int, m: int, k: int, T: int) -> dict:
    """Payload bytes each direction and rounds of :func:`lut_ge_ab` on n elements."""
    from .compare import _digits, digit_size

    ups = _digits(k - 1 - m, digit_size(k - 1)) if k - 1 > m else []
    groups = [(m, T + 1)] + [(w, 2) for w in ups]
    a, b = balanced_halves(n)

    def sent(own: int, oth: int) -> int:
        return (sum((oth * w + 7) // 8 for w, _ in groups) + sum((own * (1 << w) * e + 7) // 8 for w, e in groups)
                + len(ups) * ((2 * n + 7) // 8))

    return {"bytes_0to1": sent(a, b), "bytes_1to0": sent(b, a), "rounds": 2 + len(ups)}

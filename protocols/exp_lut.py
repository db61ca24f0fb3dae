"""exp by lookup: e^z = e^(H·Δ) · e^(L_o/2^f) · e^(L_c/2^f), exact up to fixed-point rounding.

Functionality (:func:`exp_lut_ideal`): z shared in ring 2^k with f fraction bits, a grid step
Δ = 2^-g (s = f − g low bits) and a window of 2^m grid values [lo, lo + 2^m).  Split each share
z_i = H_i·2^s + L_i (0 ≤ L_i < 2^s).  Without the carry of the low parts,
H = (H_0 + H_1) mod 2^(k−s) is ⌊z/2^s⌋ or one less, and z = H·2^s + L_0 + L_1 *exactly* — so
e^z = e^(HΔ) · e^(L_0/2^f) · e^(L_1/2^f): the coarse factor needs H only, and each low factor is
known to one party.  Output: shares of [H ≥ lo]·e^z at f fraction bits in ring f + 3 (the caller
promises H < lo + 2^m, i.e. z < (lo + 2^m)·Δ, and e^z < 4 there; below the window the output is 0,
so the cutoff lies between (lo − 1)·Δ and lo·Δ, depending on the shares).

Protocol (per element an *owner* o and a *chooser* c, balanced as in ``protocols/lut.py``):

1. One :func:`protocols.lut.lut_ge_aa` on x = H − lo in the comparison ring ``kc``: [x ≥ 0] and an
   arithmetic lookup at index x mod 2^m whose entry t the owner sets to
   T_t = round(2^ft · e^((t + lo)·Δ + L_o/2^f)) — its own low factor folded in.  Shares of T mod 2^K:
   the owner's mask r and the chooser's read T − r.
2. In the same flight, the chooser's factor: Φ = round(2^q·(e^(L_c/2^f) − 1)) < 2^nq (its bits are
   the choices of nq arithmetic COTs whose correlation is the owner's r: Gilboa's r·Φ, fields of
   K − i bits).  Then T·(2^q + Φ) = r·2^q + r·Φ + (T − r)·(2^q + Φ) — the last term local to the
   chooser — is ≈ 2^(ft+q)·e^z, in ring K = ft + q + 3.
3. A local truncate-and-reduce by ft + q − f (``protocols/trunc.py``) to ring f + 3, and the
   cutoff's multiplexer there (``protocols/select.py``).

Error: T's rounding 2^-(ft+1) relative to e^(HΔ+L_o) (times e^(L_c/2^f) < e^Δ), Φ's 2^-(q+1), and the
truncation's {0, +1} ulp at 2^-f.  Security: the owner sees the chooser's OT derandomisations
(uniform), the chooser reads one entry masked by a fresh uniform r; both low parts stay private.

Rounds: 2 (choices with the COT job, tables) + the comparison's upper digits (one AND each) + 1
(multiplexer).  Traffic: :func:`exp_lut_cost`.  With the defaults (g = 0, m = 3, ft = 12, q = 11, 10
fraction bits, softmax's 10-bit comparison ring) 70 B per element both ways in 5 rounds: table
8 × 27 bits, the factor's 12 COTs of 26…15 bits, the comparison's upper digits and ANDs, the
multiplexer — the fitted polynomial it replaces in softmax needed 105 B (64-entry lookup, x², five
multiplexers) in 11 rounds.
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from .compare import balanced_halves
from .lut import _split, lut_ge_aa, lut_ge_cost
from .ot.extensions import ACOT, acot_begin, acot_end, packed_nbytes
from .ring import Ring
from .select import mul_ba, mul_ba_cost
from .trunc import trunc_reduce_a

if TYPE_CHECKING:  # pragma: no cover
    from .context import MPC


def exp_lut_rings(frac: int, value_frac: int, corr_frac: int) -> tuple[int, int]:
    """(K, output ring) of :func:`exp_lut_a`: the product T·(2^q + Φ) < 4·2^(ft+q) needs
    K = ft + q + 3 bits; after dropping ft + q − f bits the output keeps f + 3."""
    return value_frac + corr_frac + 3, frac + 3


def comparison_ring(k: int, frac: int, grid_frac: int, m: int, span: int) -> int:
    """Ring of :func:`exp_lut_a`'s comparison for |z| < 2^span (ring units): it holds H − lo,
    |H| ≤ 2^(span − s) + 1 and |lo| < 2^m (s = frac − grid_frac), and never exceeds the coarse ring."""
    s = frac - grid_frac
    return min(k - s, ((1 << max(0, span - s)) + (1 << m)).bit_length() + 1)


def chooser_bits(frac: int, grid_frac: int, corr_frac: int) -> int:
    """Bits of the chooser's Φ = round(2^q·(e^(L/2^f) − 1)) over L < 2^(f − g)."""
    s = frac - grid_frac
    top = round(2.0 ** corr_frac * math.expm1(((1 << s) - 1) / 2.0 ** frac))
    return max(1, int(top).bit_length())


def _check(k: int, frac: int, grid_frac: int, m: int, kc: int, value_frac: int, corr_frac: int) -> None:
    if not 0 <= grid_frac <= frac or frac - grid_frac >= k:
        raise ValueError(f"exp_lut: grid 2^-{grid_frac} needs 0 ≤ g ≤ frac={frac} and frac − g < k={k}")
    if not m < kc <= k - (frac - grid_frac):
        raise ValueError(f"exp_lut: comparison ring kc={kc} must exceed m={m} and fit the coarse ring {k - frac + grid_frac}")
    K, _ = exp_lut_rings(frac, value_frac, corr_frac)
    if K > 63 or value_frac + corr_frac < frac:
        raise ValueError(f"exp_lut: value bits {value_frac} + correction bits {corr_frac} must lie in [frac, 60]")


def exp_lut_a(mpc: "MPC", z: np.ndarray, *, k: int, frac: int, grid_frac: int, m: int, lo: int, kc: int,
              value_frac: int, corr_frac: int) -> np.ndarray:
    """Shares of [H ≥ lo]·e^z (f = ``frac`` bits, ring frac + 3) for shares z in ring k; see the
    module docstring.  The caller promises H < lo + 2^m and |H − lo| < 2^(kc−1)."""
    _check(k, frac, grid_frac, m, kc, value_frac, corr_frac)
    me = mpc.party
    s, N = frac - grid_frac, 1 << m
    ft, q = value_frac, corr_frac
    K, ko = exp_lut_rings(frac, value_frac, corr_frac)
    shape = np.shape(z)
    zs = Ring(k).reduce(np.asarray(z, dtype=np.uint64)).reshape(-1)
    n = zs.size
    low = (zs & np.uint64((1 << s) - 1)).astype(np.float64) / 2.0 ** frac
    Rc = Ring(kc)
    x = Rc.reduce(zs >> np.uint64(s))  # H_i, down to the comparison ring (the caller's promise)
    if me == 0:
        x = Rc.sub(x, Rc.from_signed(np.int64(lo)))
    a, b, own, oth, n_own, _ = _split(n, me)
    r = mpc.prg.uint64((n_own,), K)
    # the chooser's factor: e^(L_c/2^f) = 1 + Φ/2^q, Φ's bits choose
    nq = chooser_bits(frac, grid_frac, q)
    phi = np.rint(np.expm1(low[oth]) * 2.0 ** q).astype(np.uint64)
    widths = tuple(K - i for i in range(nq))
    bits = ((phi[None, :] >> np.arange(nq, dtype=np.uint64)[:, None]) & np.uint64(1)).astype(np.uint8)
    jobs = []
    for h, size in enumerate((a, b)):  # part h: owned by party h, which inputs r
        jobs.append(ACOT(h, widths, size, x=np.broadcast_to(r, (nq, size)) if me == h else None,
                         c=bits if me != h else None))
    msg, state = acot_begin(mpc, jobs)
    grid = (np.arange(N) + lo) * 2.0 ** -grid_frac

    def values(sl: slice) -> np.ndarray:  # the owner's T_t with its own low factor
        return np.rint(np.exp(grid[None, :] + low[sl][:, None]) * 2.0 ** ft).astype(np.uint64)

    cut, t, got = lut_ge_aa(mpc, x, values, 0, m=m, k=kc, w=K, mask=r, extra=([msg], [(np.uint8, None)]))
    outs = acot_end(mpc, jobs, state, got[0])
    R = Ring(K)
    gsum = np.sum(outs[me] << np.arange(nq, dtype=np.uint64)[:, None], axis=0, dtype=np.uint64)  # as sender
    hsum = np.sum(outs[1 - me] << np.arange(nq, dtype=np.uint64)[:, None], axis=0, dtype=np.uint64)
    p = t << np.uint64(q)
    p[own] += gsum
    p[oth] += t[oth] * phi + hsum
    e = trunc_reduce_a(mpc, R.reduce(p), ft + q - frac, ell=K)
    return mul_ba(mpc, cut, e, ell=ko).reshape(shape)


def exp_lut_ideal(z0: np.ndarray, z1: np.ndarray, *, k: int, frac: int, grid_frac: int, m: int, lo: int,
                  value_frac: int, corr_frac: int, owner0: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Plaintext twin on the two shares (the result depends on how z is split): returns
    ⌊T·(2^q + Φ) / 2^(ft + q − f)⌋ (the secure output is this or one more, before the cutoff), the
    dropped fraction (the local truncation adds the one with about that probability) and the
    cutoff bit.  ``owner0``: True where party 0 owns the element."""
    s = frac - grid_frac
    R = Ring(k)
    z0, z1 = R.reduce(np.asarray(z0, np.uint64)), R.reduce(np.asarray(z1, np.uint64))
    mask = np.uint64((1 << s) - 1)
    H = Ring(k - s).to_signed(Ring(k - s).add(z0 >> np.uint64(s), z1 >> np.uint64(s)))
    lo0, lo1 = (z0 & mask) / 2.0 ** frac, (z1 & mask) / 2.0 ** frac
    lo_o, lo_c = np.where(owner0, lo0, lo1), np.where(owner0, lo1, lo0)
    T = np.rint(np.exp(H * 2.0 ** -grid_frac + lo_o) * 2.0 ** value_frac).astype(np.int64)
    phi = np.rint(np.expm1(lo_c) * 2.0 ** corr_frac).astype(np.int64)
    full, t = T * ((1 << corr_frac) + phi), value_frac + corr_frac - frac
    return full >> t, (full & ((1 << t) - 1)) / 2.0 ** t, H >= lo


def exp_lut_cost(n: int, *, k: int, frac: int, grid_frac: int, m: int, kc: int, value_frac: int,
                 corr_frac: int) -> dict:
    """Payload bytes each direction and rounds (party 1's count) of :func:`exp_lut_a` on n elements."""
    K, ko = exp_lut_rings(frac, value_frac, corr_frac)
    nq = chooser_bits(frac, grid_frac, corr_frac)
    lut = lut_ge_cost(n, m, kc, K)
    a, b = balanced_halves(n)
    widths = [K - i for i in range(nq)]

    def ole(own: int, oth: int) -> int:  # corrections for the owned part, choices for the other
        return packed_nbytes(own, widths) + (nq * oth + 7) // 8

    mux = mul_ba_cost(n, ko)
    return {"bytes_0to1": lut["bytes_0to1"] + ole(a, b) + mux["bytes_sent"],
            "bytes_1to0": lut["bytes_1to0"] + ole(b, a) + mux["bytes_sent"],
            "rounds": lut["rounds"] + mux["rounds"]}

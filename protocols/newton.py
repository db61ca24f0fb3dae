"""Reciprocal and inverse square root of fixed-point shares by Newton iteration.

Callers promise an input range [lo, hi] (keyword arguments, defaulting to the config's
``recip_range`` / ``rsqrt_range``): softmax denominators lie in [1, T], LayerNorm variances
(+ eps) in a calibrated interval.

Initial guess: the *minimax affine* guess y0 = a + b·x on [lo, hi] for the relative error
(``1 − x·y0`` for 1/x, ``1 − √x·y0`` for 1/√x), computed in plaintext by a 3-point Remez
exchange (:func:`affine_guess`).  It costs one public multiplication and one truncation.

Iterations (fixed point, every product is ``mul_aa`` + faithful known-sign ``trunc_a``):
  1/x:   y ← y·(2 − x·y)            (error e = 1 − x·y squares: e' = e²)
  1/√x:  y ← y·(3 − x·y²)/2         (e = 1 − x·y²:  e' = 3e²/4 + e³/4)
The number of iterations is ``max(config recip_iters | rsqrt_iters, needed)`` where *needed* is
found by running the same recurrence in floating point on a dense grid of [lo, hi] until the
relative error is below 2^−(frac+1) (:func:`iterations_needed`): a wide range costs more
iterations (the guess is poor near the ends) but never a wrong result.  A comparison-based range
normalisation (``protocols/compare.py``) would cut this to ~3 iterations for any range.
Callers that have a better guess — e.g. the piecewise-affine Newton guesses of ``approx/`` (2–4
comparisons, ≤ 35 % relative error on MiniLM's calibration inputs) — pass it as ``y0`` with its
worst relative error ``y0_err``; the iteration count then follows from the error recurrence
(:func:`iterations_for_error`: 30 % at frac = 18 → 4 iterations for 1/x, 5 for 1/√x).

The iteration runs with extra fraction bits (:func:`internal_frac`, as many as the ring allows)
and the result is truncated back to ``frac`` at the end.

Cost: reciprocal = 2 trunc + iters × (2 mul_aa + 2 trunc) → 2 + 4·iters rounds
(1 + … when the ring leaves no extra fraction bits);
rsqrt = 2 trunc + iters × (1 square_a + 2 mul_aa + 3 trunc) → 2 + 6·iters rounds (or 1 + …).  Traffic per
element: the sum of those kernels' costs (:func:`reciprocal_cost`, :func:`rsqrt_cost`).

Ring requirement (known-sign truncation needs |v| < 2^(ell−2) for every product v): checked up
front from lo, hi, frac — e.g. ell = 32, frac = 13 supports 1/x on [1, 1024]; 1/√x on
[2^−10, 2^12] needs ell = 64.
"""
from __future__ import annotations

import math

import numpy as np

from .config import get_config
from .fixed import mul_fx, ring_defaults, square_fx
from .mul import mul_aa, mul_aa_cost, square_a_cost
from .ring import Ring
from .trunc import trunc_a, trunc_cost

_MAX_ITERS = 40


def _phi(kind: str, x: np.ndarray) -> np.ndarray:
    return x if kind == "recip" else np.sqrt(x)


def affine_guess(kind: str, lo: float, hi: float, rounds: int = 8) -> tuple[float, float, float]:
    """Minimax affine guess y0 = a + b·x for 1/x (kind 'recip') or 1/√x ('rsqrt') on [lo, hi].

    Minimises max |1 − φ(x)·(a + b·x)| with φ(x) = x or √x by a 3-point Remez exchange.
    Returns (a, b, max relative error).
    """
    if not 0 < lo < hi:
        raise ValueError(f"need 0 < lo < hi, got [{lo}, {hi}]")
    grid = np.geomspace(lo, hi, 20001)
    pts = np.array([lo, math.sqrt(lo * hi), hi])
    a = b = 0.0
    for _ in range(rounds):
        p = _phi(kind, pts)
        # 1 − p(a + b x) = s·E with signs +, −, +
        s = np.array([1.0, -1.0, 1.0])
        A = np.stack([p, p * pts, s], axis=1)
        a, b, E = np.linalg.solve(A, np.ones(3))
        r = 1 - _phi(kind, grid) * (a + b * grid)
        pts[1] = grid[np.argmin(r)]
    # Newton for 1/√x diverges once x·y0² ≥ 3: damp the guess so that √x·y0 ≤ 1.5 on the range
    top = float(np.max(_phi(kind, grid) * (a + b * grid)))
    if kind == "rsqrt" and top > 1.5:
        a, b = a * 1.5 / top, b * 1.5 / top
    r = 1 - _phi(kind, grid) * (a + b * grid)
    return float(a), float(b), float(np.max(np.abs(r)))


def iterations_needed(kind: str, lo: float, hi: float, frac: int) -> int:
    """Newton iterations after the affine guess until the relative error < 2^−(frac+1)."""
    a, b, _ = affine_guess(kind, lo, hi)
    x = np.geomspace(lo, hi, 4001)
    y = a + b * x
    target = 2.0 ** -(frac + 1)
    for k in range(_MAX_ITERS + 1):
        rel = np.max(np.abs(y * _phi(kind, x) - 1))
        if rel < target:
            return k
        y = y * (2 - x * y) if kind == "recip" else y * (3 - x * y * y) / 2
    raise ValueError(f"{kind} on [{lo}, {hi}] does not converge within {_MAX_ITERS} iterations")


def iterations_for_error(kind: str, rel_err: float, frac: int) -> int:
    """Newton iterations from a guess with relative error ≤ rel_err until < 2^−(frac+1)."""
    target = 2.0 ** -(frac + 1)
    d = float(rel_err)
    if kind == "recip":
        if not 0 <= d < 1:
            raise ValueError("reciprocal: the initial guess needs relative error < 1")
        e = [d, -d]
        step = lambda t: t * t  # noqa: E731
        rel = lambda t: abs(t)  # noqa: E731
    else:
        if not 0 <= d < math.sqrt(3) - 1:
            raise ValueError("rsqrt: the initial guess needs relative error < sqrt(3) - 1 (x·y0² < 3)")
        e = [1 - (1 - d) ** 2, 1 - (1 + d) ** 2]
        step = lambda t: 0.75 * t * t + 0.25 * t**3  # noqa: E731
        rel = lambda t: abs(1 - math.sqrt(1 - t))  # noqa: E731
    for k in range(_MAX_ITERS + 1):
        if max(rel(t) for t in e) < target:
            return k
        e = [step(t) for t in e]
    raise ValueError(f"{kind}: no convergence within {_MAX_ITERS} iterations")


def _check_ring(kind: str, lo: float, hi: float, ell: int, frac: int) -> None:
    # largest product magnitude (in units of 2^-2frac) over the iteration, with margin 2 for the
    # first steps: recip: x·y ≤ 2, y·(2−xy) ≤ 2/lo, b·x step; rsqrt: y² ≤ 1/lo, x·y² ≤ 3,
    # y·(3−xy²) ≤ 3/√lo
    m = _margin(kind, lo)
    if m * 2.0 ** (2 * frac) >= 2.0 ** (ell - 2) or hi * 2.0**frac >= 2.0 ** (ell - 2):
        raise ValueError(
            f"{kind} on [{lo}, {hi}] with frac={frac} overflows the known-sign bound of ring {ell}; "
            "use a larger ring, fewer fraction bits or a narrower range"
        )


def _margin(kind: str, lo: float) -> float:
    if kind == "recip":
        return max(2.0, 2.0 / lo) * 2
    return max(3.0, 1.0 / lo, 3.0 / math.sqrt(lo)) * 2


def internal_frac(kind: str, lo: float, hi: float, ell: int, frac: int) -> int:
    """Fraction bits the iteration runs with: as many as the ring allows (≥ frac, ≤ 2·frac+8).

    Extra bits keep the first iterates, which are tiny near the top of a wide range (the affine
    guess there is ~1/(hi/lo)^(1/2) of the target), many ulps away from zero, so that the floor
    truncation cannot stall the doubling phase of Newton's method.
    """
    m = _margin(kind, lo)
    fi = int(math.floor((ell - 2 - math.log2(m)) / 2 - 1e-9))
    fi = min(fi, int(math.floor(ell - 3 - math.log2(hi))), 2 * frac + 8)
    return max(frac, fi)


def _init_shift(b: float, hi: float, ell: int, frac: int) -> int:
    """Extra precision bits s of the public slope b (|x·b·2^s| stays below 2^(ell−3))."""
    s = int(math.floor(ell - 3 - frac - math.log2(hi * abs(b)))) if b else 0
    return max(0, min(s, 62 - frac))


def _initial(mpc, x: np.ndarray, a: float, b: float, hi: float, ell: int, frac: int) -> np.ndarray:
    """Shares of a + b·x (fixed point, frac bits): b·x with s extra bits of precision on b."""
    R = Ring(ell)
    s = _init_shift(b, hi, ell, frac)
    bx = trunc_a(mpc, R.mul_public(x, int(round(b * 2.0**s))), s, ell=ell, mode="faithful")
    if mpc.party == 0:
        bx = R.add(bx, R.encode(np.float64(a), frac))
    return bx


def _range(kind: str, lo, hi) -> tuple[float, float]:
    cfg = get_config()
    dlo, dhi = cfg.recip_range if kind == "recip" else cfg.rsqrt_range
    return float(dlo if lo is None else lo), float(dhi if hi is None else hi)


def _iters(kind: str, iters, lo, hi, frac, y0_err=None) -> int:
    if iters is not None:
        return int(iters)
    if y0_err is not None:
        return iterations_for_error(kind, y0_err, frac)
    cfg = get_config()
    base = cfg.recip_iters if kind == "recip" else cfg.rsqrt_iters
    return max(base, iterations_needed(kind, lo, hi, frac))


def _guess(mpc, kind, x, y0, y0_err, lo, hi, iters, ell, frac, fi) -> np.ndarray:
    R = Ring(ell)
    if y0 is None:
        a, b, _ = affine_guess(kind, lo, hi)
        return _initial(mpc, x, a, b, hi, ell, fi)
    if y0_err is None and iters is None:
        raise ValueError(f"{kind}: with a caller's guess y0 pass its relative error y0_err (or iters)")
    return R.mul_public(R.reduce(np.asarray(y0, dtype=np.uint64)), 1 << (fi - frac))


def reciprocal_a(mpc, x, *, lo: float | None = None, hi: float | None = None, iters: int | None = None,
                 y0=None, y0_err: float | None = None,
                 ell: int | None = None, frac: int | None = None) -> np.ndarray:
    """Shares of 1/x for fixed-point shares x with lo ≤ x ≤ hi (promised by the caller).

    Inputs: shares of x (frac fraction bits); optionally the caller's initial guess ``y0``
    (shares, frac bits, e.g. a piecewise table from ``approx/`` evaluated with comparisons) and
    its worst relative error ``y0_err`` (sets the iteration count).
    Output: shares of 1/x (frac fraction bits).
    Accuracy: relative error of the iteration < 2^−(frac+1) plus a few ulps of rounding.
    Rounds ≤ 2 + 4·iters; traffic :func:`reciprocal_cost`.
    """
    ell, frac = ring_defaults(ell, frac)
    lo, hi = _range("recip", lo, hi)
    _check_ring("recip", lo, hi, ell, frac)
    k = _iters("recip", iters, lo, hi, frac, y0_err if y0 is not None else None)
    R = Ring(ell)
    fi = internal_frac("recip", lo, hi, ell, frac)
    x = R.mul_public(R.reduce(np.asarray(x, dtype=np.uint64)), 1 << (fi - frac))
    y = _guess(mpc, "recip", x, y0, y0_err, lo, hi, iters, ell, frac, fi)
    two = R.encode(np.float64(2.0), fi)
    for _ in range(k):
        t = mul_fx(mpc, x, y, ell=ell, frac=fi, mode="faithful")
        u = R.sub(two, t) if mpc.party == 0 else R.neg(t)
        y = mul_fx(mpc, y, u, ell=ell, frac=fi, mode="faithful")
    return trunc_a(mpc, y, fi - frac, ell=ell, mode="faithful")


def rsqrt_a(mpc, x, *, lo: float | None = None, hi: float | None = None, iters: int | None = None,
            y0=None, y0_err: float | None = None,
            ell: int | None = None, frac: int | None = None) -> np.ndarray:
    """Shares of 1/√x for fixed-point shares x with lo ≤ x ≤ hi (promised by the caller).

    ``y0`` / ``y0_err``: optional caller's initial guess and its relative error, as for
    :func:`reciprocal_a` (y0_err < √3 − 1 so that x·y0² < 3).
    Rounds ≤ 2 + 6·iters; traffic :func:`rsqrt_cost`.
    """
    ell, frac = ring_defaults(ell, frac)
    lo, hi = _range("rsqrt", lo, hi)
    _check_ring("rsqrt", lo, hi, ell, frac)
    k = _iters("rsqrt", iters, lo, hi, frac, y0_err if y0 is not None else None)
    R = Ring(ell)
    fi = internal_frac("rsqrt", lo, hi, ell, frac)
    x = R.mul_public(R.reduce(np.asarray(x, dtype=np.uint64)), 1 << (fi - frac))
    y = _guess(mpc, "rsqrt", x, y0, y0_err, lo, hi, iters, ell, frac, fi)
    three = R.encode(np.float64(3.0), fi)
    for _ in range(k):
        y2 = square_fx(mpc, y, ell=ell, frac=fi, mode="faithful")
        t = mul_fx(mpc, x, y2, ell=ell, frac=fi, mode="faithful")
        u = R.sub(three, t) if mpc.party == 0 else R.neg(t)
        # y·u / 2: the halving folds into the truncation (fi + 1 bits)
        y = trunc_a(mpc, mul_aa(mpc, y, u, ell=ell), fi + 1, ell=ell, mode="faithful")
    return trunc_a(mpc, y, fi - frac, ell=ell, mode="faithful")


# ----------------------------------------------------------------------------------------------
# plaintext twins and costs
# ----------------------------------------------------------------------------------------------
def reciprocal_ideal(x: np.ndarray) -> np.ndarray:
    return 1.0 / np.asarray(x, dtype=np.float64)


def rsqrt_ideal(x: np.ndarray) -> np.ndarray:
    return 1.0 / np.sqrt(np.asarray(x, dtype=np.float64))


def _sum(*ds: dict) -> dict:
    return {k: sum(d[k] for d in ds) for k in ("bytes_sent", "rounds")}


def _init_cost(kind, lo, hi, n, ell, frac, party, batch, guess=True) -> dict:
    """Initial guess (b·x truncation, unless the caller gives y0) + final truncation."""
    _, b, _ = affine_guess(kind, lo, hi)
    fi = internal_frac(kind, lo, hi, ell, frac)
    g = trunc_cost(n, ell, _init_shift(b, hi, ell, fi) if guess else 0, party=party, batch=batch)
    return _sum(g, trunc_cost(n, ell, fi - frac, party=party, batch=batch))


def reciprocal_cost(n: int, ell: int, frac: int, iters: int, lo: float, hi: float, party: int = 0,
                    batch: int | None = None, guess: bool = True) -> dict:
    """Per-party payload bytes and rounds of :func:`reciprocal_a` with ``iters`` iterations
    (``guess=False``: the caller passed y0)."""
    out = _init_cost("recip", lo, hi, n, ell, frac, party, batch, guess)
    frac = internal_frac("recip", lo, hi, ell, frac)
    step = _sum(mul_aa_cost(n, ell, batch), trunc_cost(n, ell, frac, party=party, batch=batch))
    for _ in range(iters):
        out = _sum(out, step, step)
    return out


def rsqrt_cost(n: int, ell: int, frac: int, iters: int, lo: float, hi: float, party: int = 0,
               batch: int | None = None, guess: bool = True) -> dict:
    """Per-party payload bytes and rounds of :func:`rsqrt_a` with ``iters`` iterations
    (``guess=False``: the caller passed y0)."""
    out = _init_cost("rsqrt", lo, hi, n, ell, frac, party, batch, guess)
    frac = internal_frac("rsqrt", lo, hi, ell, frac)
    sq = _sum(square_a_cost(n, ell, party, batch), trunc_cost(n, ell, frac, party=party, batch=batch))
    mu = _sum(mul_aa_cost(n, ell, batch), trunc_cost(n, ell, frac, party=party, batch=batch))
    mh = _sum(mul_aa_cost(n, ell, batch), trunc_cost(n, ell, frac + 1, party=party, batch=batch))
    for _ in range(iters):
        out = _sum(out, sq, mu, mh)
    return out

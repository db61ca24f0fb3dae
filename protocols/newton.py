"""Reciprocal and inverse square root of fixed-point shares by Newton iteration.

Callers promise an input range [lo, hi] (keyword arguments, defaulting to the config's
``recip_range`` / ``rsqrt_range``): softmax denominators lie in [1, T], LayerNorm variances
(+ eps) in a calibrated interval.

Two ways to start (``normalize=``; default: normalise when hi/lo > 4):

* **Range normalisation** (``protocols/compare.py``): K = ⌊log2 hi⌋ − ⌊log2 lo⌋ comparisons
  z_j = [x ≥ 2^j] in one balanced multi-threshold comparison (``ge_multi_ap``, in the small ring
  :func:`compare_ring` that [lo, hi] needs), their B2A, and public step functions of the exponent
  e = ⌊log2 x⌋ give shares of 2^−e (and 2^(−e/2)); x·2^−e ∈ [1, 2) where the affine guess is
  within 6 % (1/x) and 2 iterations reach frac = 18; the result is scaled back.  For 1/√x at up
  to ~14 fraction bits a quadratic guess (0.32 %, :func:`quadratic_guess`) needs one iteration
  instead of two (:func:`_norm_plan`).  ``clamp=True`` clamps x to [lo, hi] first, its two
  comparisons in the same batch and its multiplexer in the B2A's exchange (LayerNorm's
  variance).  On [1, 1024] at ell = 64 this costs ~4.5 KB and 22 rounds per element instead of ~11.9 KB and 46 rounds
  (the iterates are < 4, so the iteration uses the bounded products of ``mul_aa(bound=…)``).
* **Minimax affine guess** y0 = a + b·x on the whole [lo, hi] for the relative error
  (``1 − x·y0`` for 1/x, ``1 − √x·y0`` for 1/√x), computed in plaintext by a 3-point Remez
  exchange (:func:`affine_guess`); one public multiplication and one truncation.  Best for
  narrow ranges.

Iterations (fixed point, every product is ``mul_aa`` + faithful known-sign ``trunc_a``):
  1/x:   y ← y·(2 − x·y)            (error e = 1 − x·y squares: e' = e²)
  1/√x:  y ← y·(3 − x·y²)/2         (e = 1 − x·y²:  e' = 3e²/4 + e³/4)
Without normalisation the number of iterations is ``max(config recip_iters | rsqrt_iters,
needed)`` where *needed* is found by running the same recurrence in floating point on a dense grid
of [lo, hi] until the relative error is below 2^−(frac+1) (:func:`iterations_needed`): a wide
range costs more iterations (the guess is poor near the ends) but never a wrong result.

Callers that have a better guess — e.g. the piecewise-affine Newton guesses of ``approx/`` (2–4
comparisons, ≤ 35 % relative error on MiniLM's calibration inputs) — pass it as ``y0`` with its
worst relative error ``y0_err``; the iteration count then follows from the error recurrence
(:func:`iterations_for_error`: 30 % at frac = 18 → 4 iterations for 1/x, 5 for 1/√x).

The iteration runs with extra fraction bits (:func:`internal_frac`, as many as the ring allows)
and the result is truncated back to ``frac`` at the end.

Cost without normalisation: reciprocal = 2 trunc + iters × (2 mul_aa + 2 trunc) → 2 + 4·iters
rounds (1 + … when the ring leaves no extra fraction bits); rsqrt = 2 trunc + iters ×
(1 square_a + 2 mul_aa + 3 trunc) → 2 + 6·iters rounds (or 1 + …).  Exact per-party bytes and
channel rounds of either path: :func:`newton_cost` (:func:`reciprocal_cost`, :func:`rsqrt_cost`).

Ring requirement (known-sign truncation needs |v| < 2^(ell−2) for every product v): checked up
front from lo, hi, frac — e.g. ell = 32, frac = 13 supports 1/x on [1, 1024]; 1/√x on
[2^−10, 2^12] needs ell = 64.
"""
from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from .config import get_config
from .fixed import mul_fx, ring_defaults, square_fx
from .mul import mul_aa, mul_aa_cost, square_a, square_a_cost
from .ring import Ring
from .trunc import trunc_a, trunc_cost

_MAX_ITERS = 40


def _phi(kind: str, x: np.ndarray) -> np.ndarray:
    return x if kind == "recip" else np.sqrt(x)


@lru_cache(maxsize=64)
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


@lru_cache(maxsize=64)
def quadratic_guess(kind: str, lo: float, hi: float, rounds: int = 12) -> tuple[float, float, float, float]:
    """Minimax quadratic guess y0 = a + b·x + c·x² for 1/x or 1/√x on [lo, hi] (relative error,
    as :func:`affine_guess`) by a 4-point Remez exchange.  Returns (a, b, c, max relative error).
    On [1, 2]: 0.32 % for 1/√x (one Newton step reaches 2^-14, the affine guess's 2.2 % needs
    two) and 1.0 % for 1/x (two steps either way)."""
    if not 0 < lo < hi:
        raise ValueError(f"need 0 < lo < hi, got [{lo}, {hi}]")
    grid = np.linspace(lo, hi, 20001)
    # Chebyshev extrema as the first reference
    pts = (lo + hi) / 2 - (hi - lo) / 2 * np.cos(np.pi * np.arange(4) / 3)
    s = np.array([1.0, -1.0, 1.0, -1.0])
    coef = np.zeros(3)
    for _ in range(rounds):
        p = _phi(kind, pts)
        A = np.stack([p, p * pts, p * pts * pts, s], axis=1)
        *coef, _E = np.linalg.solve(A, np.ones(4))
        r = 1 - _phi(kind, grid) * (coef[0] + coef[1] * grid + coef[2] * grid * grid)
        # new reference: the extreme of r on each run of one sign (endpoints included)
        runs = np.split(np.arange(grid.size), np.flatnonzero(np.diff(np.sign(r)) != 0) + 1)
        ext = [int(rr[np.argmax(np.abs(r[rr]))]) for rr in runs if rr.size]
        if len(ext) != 4:
            break
        pts = grid[ext]
        s = np.sign(r[ext])
    r = 1 - _phi(kind, grid) * (coef[0] + coef[1] * grid + coef[2] * grid * grid)
    return float(coef[0]), float(coef[1]), float(coef[2]), float(np.max(np.abs(r)))


@lru_cache(maxsize=64)
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


def _check_ring(kind: str, lo: float, hi: float, ell: int, frac: int, normalized: bool = False) -> None:
    # largest product magnitude (in units of 2^-2frac) over the iteration, with margin 2 for the
    # first steps: recip: x·y ≤ 2, y·(2−xy) ≤ 2/lo, b·x step; rsqrt: y² ≤ 1/lo, x·y² ≤ 3,
    # y·(3−xy²) ≤ 3/√lo.  Normalised: the iteration runs on [1, 2]; the scale-back product is the
    # result itself (≤ 1/lo or 1/√lo)
    m = _margin(kind, lo, normalized)
    if m * 2.0 ** (2 * frac) >= 2.0 ** (ell - 2) or hi * 2.0**frac >= 2.0 ** (ell - 2):
        raise ValueError(
            f"{kind} on [{lo}, {hi}] with frac={frac} overflows the known-sign bound of ring {ell}; "
            "use a larger ring, fewer fraction bits or a narrower range"
        )


def _margin(kind: str, lo: float, normalized: bool = False) -> float:
    if normalized:
        return max(_margin(kind, 1.0), 1.25 * (1.0 / lo if kind == "recip" else 1.0 / math.sqrt(lo)))
    if kind == "recip":
        return max(2.0, 2.0 / lo) * 2
    return max(3.0, 1.0 / lo, 3.0 / math.sqrt(lo)) * 2


def internal_frac(kind: str, lo: float, hi: float, ell: int, frac: int, normalized: bool = False) -> int:
    """Fraction bits the iteration runs with: as many as the ring allows (≥ frac, ≤ 2·frac+8).

    Extra bits keep the first iterates, which are tiny near the top of a wide range (the affine
    guess there is ~1/(hi/lo)^(1/2) of the target), many ulps away from zero, so that the floor
    truncation cannot stall the doubling phase of Newton's method.
    """
    m = _margin(kind, lo, normalized)
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


def _initial_quad(mpc, x: np.ndarray, coef: tuple[float, float, float], hi: float, ell: int,
                  frac: int) -> np.ndarray:
    """Shares of a + b·x + c·x² (frac bits) for 0 < x < hi ≤ 2: x² by the bounded squaring and a
    truncation, then b·x + c·x² with s extra bits of precision on b and c and one truncation
    (3 rounds: the affine guess's 1 plus the square's 2)."""
    R = Ring(ell)
    a, b, c = coef
    x2 = trunc_a(mpc, square_a(mpc, x, ell=ell, bound=frac + 2), frac, ell=ell, mode="faithful")
    s = _init_shift(abs(b) + abs(c) * hi, hi, ell, frac)
    t = R.add(R.mul_public(x, int(round(b * 2.0**s))), R.mul_public(x2, int(round(c * 2.0**s))))
    y = trunc_a(mpc, t, s, ell=ell, mode="faithful")
    if mpc.party == 0:
        y = R.add(y, R.encode(np.float64(a), frac))
    return y


def _norm_plan(kind: str, frac: int, iters) -> tuple[tuple[float, ...], int]:
    """The normalised path's guess on [1, 2] — (a, b) affine or (a, b, c) quadratic — and its
    Newton iterations: the quadratic when it saves an iteration (1/√x at up to ~14 fraction
    bits), which costs 2 rounds and saves one step (6 rounds for 1/√x)."""
    a, b, _ = affine_guess(kind, 1.0, 2.0)
    k = iterations_needed(kind, 1.0, 2.0, frac)
    if iters is not None:
        return (a, b), int(iters)
    qa, qb, qc, qerr = quadratic_guess(kind, 1.0, 2.0)
    kq = iterations_for_error(kind, qerr, frac)
    return ((qa, qb, qc), kq) if kq < k else ((a, b), k)


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


def _iterate(mpc, kind: str, x: np.ndarray, y: np.ndarray, k: int, ell: int, fi: int,
             bound: int | None = None) -> np.ndarray:
    """k Newton steps on fixed-point shares with fi fraction bits.  ``bound``: every operand is
    below 2^bound in magnitude (true after normalisation: all values < 4), which enables the
    cheaper bounded products of :func:`protocols.mul.mul_aa`."""
    R = Ring(ell)
    if kind == "recip":
        two = R.encode(np.float64(2.0), fi)
        for _ in range(k):
            t = mul_fx(mpc, x, y, ell=ell, frac=fi, mode="faithful", bound=bound)
            u = R.sub(two, t) if mpc.party == 0 else R.neg(t)
            y = mul_fx(mpc, y, u, ell=ell, frac=fi, mode="faithful", bound=bound)
        return y
    three = R.encode(np.float64(3.0), fi)
    for _ in range(k):
        y2 = square_fx(mpc, y, ell=ell, frac=fi, mode="faithful", bound=bound)
        t = mul_fx(mpc, x, y2, ell=ell, frac=fi, mode="faithful", bound=bound)
        u = R.sub(three, t) if mpc.party == 0 else R.neg(t)
        # y·u / 2: the halving folds into the truncation (fi + 1 bits)
        y = trunc_a(mpc, mul_aa(mpc, y, u, ell=ell, bound=bound), fi + 1, ell=ell, mode="faithful")
    return y


def _exponents(lo: float, hi: float) -> np.ndarray:
    """Thresholds j (x ≥ 2^j) of the normalisation: floor(log2 lo) < j ≤ floor(log2 hi)."""
    return np.arange(math.floor(math.log2(lo)) + 1, math.floor(math.log2(hi)) + 1)


def _use_normalize(normalize, y0, lo: float, hi: float) -> bool:
    if y0 is not None:
        return False
    if normalize is None:
        return hi / lo > 4.0
    return bool(normalize)


def compare_ring(lo: float, hi: float, frac: int, ell: int, span: int | None = None) -> int:
    """Ring of the threshold comparisons of :func:`_normalized` / :func:`_clamp`: the input and
    every threshold lie in [0, 2^s) ring units — s from hi, or the caller's ``span`` when it asks
    for a clamp — so their differences fit s + 1 signed bits (one more for the −1 ulp a faithful
    truncation may leave below 0)."""
    s = span if span is not None else math.ceil(math.log2(hi * 2.0**frac + 1))
    return min(ell, int(s) + 2)


def _clamp_consts(lo: float, hi: float, frac: int) -> list[int]:
    return [int(round(lo * 2.0**frac)), int(round(hi * 2.0**frac))]


def _clamp(mpc, x: np.ndarray, lo: float, hi: float, ell: int, frac: int, span: int | None) -> np.ndarray:
    """min(max(x, lo), hi): one two-threshold :func:`ge_multi_ap` and one batched ``mul_ba``,
    lo + [x ≥ lo]·(x − lo) + [x ≥ hi]·(hi − x)."""
    from .compare import ge_multi_ap

    clo, chi = _clamp_consts(lo, hi, frac)
    z = ge_multi_ap(mpc, x, [clo, chi], ell=ell, k=compare_ring(lo, hi, frac, ell, span))
    return _clamp_select(mpc, x, z, clo, chi, ell)


def _clamp_select(mpc, x, z, clo: int, chi: int, ell: int, extra=None):
    """lo + z_lo·(x − lo) + z_hi·(hi − x) by one ``mul_ba``; ``extra`` bits ride along in the
    same exchange, multiplied by 1 (their B2A), and are returned too."""
    from .select import mul_ba

    R = Ring(ell)
    one = np.uint64(1 if mpc.party == 0 else 0)
    lo_s = R.reduce(np.full(x.shape, clo if mpc.party == 0 else 0, dtype=np.uint64))
    hi_s = R.reduce(np.full(x.shape, chi if mpc.party == 0 else 0, dtype=np.uint64))
    bits, vals = [z[0], z[1]], [R.sub(x, lo_s), R.sub(hi_s, x)]
    if extra is not None:
        bits.append(extra)
        vals.append(np.full(extra.shape, one, dtype=np.uint64))
    prod = mul_ba(mpc, np.concatenate([b.reshape(-1) for b in bits]),
                  np.concatenate([v.reshape(-1) for v in vals]), ell=ell)
    n = x.size
    xc = R.add(lo_s, R.add(prod[:n].reshape(x.shape), prod[n:2 * n].reshape(x.shape)))
    return xc if extra is None else (xc, prod[2 * n:].reshape(extra.shape))


def _normalized(mpc, kind: str, x: np.ndarray, lo: float, hi: float, iters, ell: int, frac: int,
                clamp: bool = False, span: int | None = None) -> np.ndarray:
    """1/x or 1/√x with range normalisation by comparisons (``protocols/compare.py``).

    With e = ⌊log2 x⌋ ∈ [j_lo, j_hi]: K = j_hi − j_lo comparisons z_j = [x ≥ 2^j] (one batched
    :func:`~protocols.compare.ge_multi_ap` in the ring :func:`compare_ring`), their B2A, and the
    public step functions g(e) = Σ_j z_j·(g(j) − g(j−1)) + g(j_lo)
    (differences of *encoded* values, so the sum is exactly enc(g(e))): s1 = 2^−e scales x into
    [1, 2), Newton runs there from the affine guess on [1, 2] (2–3 iterations), and the result is
    scaled back by s1 (1/x) or s2 = 2^(−e/2) (1/√x).

    ``clamp``: x (any value in [0, 2^span)) is clamped to [lo, hi] first.  Its two comparisons
    join the K in the same batch — z_j on the unclamped x is already the clamped value's bit,
    since every 2^j lies in (lo, hi] — and its multiplexer rides in the exchange that converts
    the z_j (B2A as z·1 by ``mul_ba``): no round beyond the unclamped path.
    """
    from .compare import ge_multi_ap
    from .convert import b2a

    R = Ring(ell)
    fi = internal_frac(kind, lo, hi, ell, frac, normalized=True)
    js = _exponents(lo, hi)
    jl = int(js[0]) - 1
    if jl + 1 + frac < 0:
        raise ValueError(f"{kind}: range [{lo}, {hi}] needs thresholds below 2^-{frac}")
    shape = x.shape
    xf = R.reduce(np.asarray(x, dtype=np.uint64)).reshape(-1)
    K = js.size
    thr = [1 << int(j + frac) for j in js]
    cl = _clamp_consts(lo, hi, frac) if clamp else []
    z = ge_multi_ap(mpc, xf, thr + cl, ell=ell, k=compare_ring(lo, hi, frac, ell, span if clamp else None))
    if clamp:
        xf, za = _clamp_select(mpc, xf, z[K:], cl[0], cl[1], ell, extra=z[:K])
    else:
        za = b2a(mpc, z, ell=ell)

    def step(g) -> np.ndarray:
        enc = [int(round(g(int(j)) * 2.0**fi)) for j in range(jl, int(js[-1]) + 1)]
        coef = np.array([enc[i + 1] - enc[i] for i in range(K)], dtype=np.int64)
        out = np.sum(R.mul_public(za, coef[:, None]), axis=0, dtype=np.uint64)
        if mpc.party == 0:
            out = out + np.uint64(enc[0])
        return R.reduce(out)

    s1 = step(lambda e: 2.0**-e)
    xi = R.mul_public(xf, 1 << (fi - frac))
    xn = trunc_a(mpc, mul_aa(mpc, xi, s1, ell=ell), fi, ell=ell, mode="faithful")  # in [1, 2)
    coef, k = _norm_plan(kind, frac, iters)
    y = _initial(mpc, xn, *coef, 2.0, ell, fi) if len(coef) == 2 else _initial_quad(mpc, xn, coef, 2.0, ell, fi)
    y = _iterate(mpc, kind, xn, y, k, ell, fi, bound=fi + 2)  # all iterates are < 4
    s2 = s1 if kind == "recip" else step(lambda e: 2.0 ** (-e / 2))
    out = trunc_a(mpc, mul_aa(mpc, y, s2, ell=ell), 2 * fi - frac, ell=ell, mode="faithful")
    return out.reshape(shape)


def _newton(mpc, kind: str, x, lo, hi, iters, y0, y0_err, normalize, ell, frac, clamp: bool,
            span: int | None) -> np.ndarray:
    ell, frac = ring_defaults(ell, frac)
    lo, hi = _range(kind, lo, hi)
    norm = _use_normalize(normalize, y0, lo, hi)
    _check_ring(kind, lo, hi, ell, frac, norm)
    if clamp and y0 is not None:
        raise ValueError(f"{kind}: clamp=True needs the built-in guess (a caller's y0 is for the unclamped x)")
    if norm:
        return _normalized(mpc, kind, x, lo, hi, iters, ell, frac, clamp=clamp, span=span)
    if clamp:
        x = _clamp(mpc, x, lo, hi, ell, frac, span)
    k = _iters(kind, iters, lo, hi, frac, y0_err if y0 is not None else None)
    R = Ring(ell)
    fi = internal_frac(kind, lo, hi, ell, frac)
    x = R.mul_public(R.reduce(np.asarray(x, dtype=np.uint64)), 1 << (fi - frac))
    y = _guess(mpc, kind, x, y0, y0_err, lo, hi, iters, ell, frac, fi)
    y = _iterate(mpc, kind, x, y, k, ell, fi)
    return trunc_a(mpc, y, fi - frac, ell=ell, mode="faithful")


def reciprocal_a(mpc, x, *, lo: float | None = None, hi: float | None = None, iters: int | None = None,
                 y0=None, y0_err: float | None = None, normalize: bool | None = None,
                 ell: int | None = None, frac: int | None = None, clamp: bool = False,
                 span: int | None = None) -> np.ndarray:
    """Shares of 1/x for fixed-point shares x with lo ≤ x ≤ hi (promised by the caller).

    Inputs: shares of x (frac fraction bits); optionally the caller's initial guess ``y0``
    (shares, frac bits, e.g. a piecewise table from ``approx/`` evaluated with comparisons) and
    its worst relative error ``y0_err`` (sets the iteration count).
    ``normalize`` (default: when hi/lo > 4 and no y0): scale x into [1, 2) with
    ⌊log2(hi)⌋ − ⌊log2(lo)⌋ comparisons first (:func:`_normalized`), then 2–3 iterations.
    ``clamp=True``: the caller promises only 0 ≤ x < 2^span (ring units, default ell − 2) and gets
    1/min(max(x, lo), hi); the clamp's two comparisons share the normalisation's batch.
    Output: shares of 1/x (frac fraction bits).
    Accuracy: relative error of the iteration < 2^−(frac+1) plus a few ulps of rounding.
    Rounds: ≤ 2 + 4·iters (affine guess on [lo, hi]); normalised: comparison + 1 (B2A) +
    2 (scale) + 1 + 4·iters + 2.  Traffic: :func:`reciprocal_cost`.
    """
    return _newton(mpc, "recip", x, lo, hi, iters, y0, y0_err, normalize, ell, frac, clamp, span)


def rsqrt_a(mpc, x, *, lo: float | None = None, hi: float | None = None, iters: int | None = None,
            y0=None, y0_err: float | None = None, normalize: bool | None = None,
            ell: int | None = None, frac: int | None = None, clamp: bool = False,
            span: int | None = None) -> np.ndarray:
    """Shares of 1/√x for fixed-point shares x with lo ≤ x ≤ hi (promised by the caller).

    ``y0`` / ``y0_err``: optional caller's initial guess and its relative error, as for
    :func:`reciprocal_a` (y0_err < √3 − 1 so that x·y0² < 3).  ``normalize``, ``clamp``, ``span``:
    as for :func:`reciprocal_a` (the result is scaled back by 2^(−e/2), e = ⌊log2 x⌋).
    Rounds ≤ 2 + 6·iters (affine guess); traffic :func:`rsqrt_cost`.
    """
    return _newton(mpc, "rsqrt", x, lo, hi, iters, y0, y0_err, normalize, ell, frac, clamp, span)


# ----------------------------------------------------------------------------------------------
# plaintext twins and costs
# ----------------------------------------------------------------------------------------------
def reciprocal_ideal(x: np.ndarray) -> np.ndarray:
    return 1.0 / np.asarray(x, dtype=np.float64)


def rsqrt_ideal(x: np.ndarray) -> np.ndarray:
    return 1.0 / np.sqrt(np.asarray(x, dtype=np.float64))


def cost_sum(*ds: dict) -> dict:
    """Add per-party cost dicts (payload bytes sent, rounds)."""
    return {k: sum(d[k] for d in ds) for k in ("bytes_sent", "rounds")}


def _iter_cost(kind, n, ell, fi, iters, party, batch, bound=None) -> dict:
    tr = lambda f: trunc_cost(n, ell, f, party=party, batch=batch)  # noqa: E731
    mul = mul_aa_cost(n, ell, batch, bound=bound)
    if kind == "recip":
        step = cost_sum(mul, tr(fi))
        parts = [step, step]
    else:
        parts = [cost_sum(square_a_cost(n, ell, party, batch, bound=bound), tr(fi)), cost_sum(mul, tr(fi)),
                 cost_sum(mul, tr(fi + 1))]
    out = {"bytes_sent": 0, "rounds": 0}
    for _ in range(iters):
        out = cost_sum(out, *parts)
    return out


def newton_cost(kind: str, n: int, ell: int, frac: int, lo: float, hi: float, *, iters: int | None = None,
                party: int = 0, batch: int | None = None, guess: bool = True,
                normalize: bool | None = None, clamp: bool = False, span: int | None = None) -> dict:
    """Per-party payload bytes and channel rounds of :func:`reciprocal_a` (kind 'recip') or
    :func:`rsqrt_a` ('rsqrt') with the same arguments (``guess=False``: the caller passed y0,
    then ``iters`` is required)."""
    from .compare import ge_multi_cost
    from .convert import b2a_cost
    from .select import mul_ba_cost

    tr = lambda f: trunc_cost(n, ell, f, party=party, batch=batch)  # noqa: E731
    norm = _use_normalize(normalize, None if guess else "y0", lo, hi)
    fi = internal_frac(kind, lo, hi, ell, frac, norm)
    kc = compare_ring(lo, hi, frac, ell, span if clamp else None)

    def compare(T: int) -> dict:
        return ge_multi_cost(n, T, kc, party)

    if norm:
        K = _exponents(lo, hi).size
        if clamp:
            head = cost_sum(compare(K + 2), mul_ba_cost((K + 2) * n, ell, batch=batch))
        else:
            head = cost_sum(compare(K), b2a_cost(K * n, ell, party, batch))
        coef, k = _norm_plan(kind, frac, iters)
        if len(coef) == 2:
            init = tr(_init_shift(coef[1], 2.0, ell, fi))
        else:
            init = cost_sum(square_a_cost(n, ell, party, batch, bound=fi + 2), tr(fi),
                        tr(_init_shift(abs(coef[1]) + 2.0 * abs(coef[2]), 2.0, ell, fi)))
        return cost_sum(head, mul_aa_cost(n, ell, batch), tr(fi), init,
                    _iter_cost(kind, n, ell, fi, k, party, batch, fi + 2),
                    mul_aa_cost(n, ell, batch), tr(2 * fi - frac))
    head = cost_sum(compare(2), mul_ba_cost(2 * n, ell, batch=batch)) if clamp else {"bytes_sent": 0, "rounds": 0}
    if guess:
        _, b, _ = affine_guess(kind, lo, hi)
        init = tr(_init_shift(b, hi, ell, fi))
        k = iters if iters is not None else _iters(kind, None, lo, hi, frac)
    else:
        init = {"bytes_sent": 0, "rounds": 0}
        k = iters
    return cost_sum(head, init, _iter_cost(kind, n, ell, fi, k, party, batch), tr(fi - frac))


def reciprocal_cost(n: int, ell: int, frac: int, iters: int | None, lo: float, hi: float, party: int = 0,
                    batch: int | None = None, guess: bool = True, normalize: bool | None = None,
                    clamp: bool = False, span: int | None = None) -> dict:
    """Per-party cost of :func:`reciprocal_a` (see :func:`newton_cost`)."""
    return newton_cost("recip", n, ell, frac, lo, hi, iters=iters, party=party, batch=batch, guess=guess,
                       normalize=normalize, clamp=clamp, span=span)


def rsqrt_cost(n: int, ell: int, frac: int, iters: int | None, lo: float, hi: float, party: int = 0,
               batch: int | None = None, guess: bool = True, normalize: bool | None = None,
               clamp: bool = False, span: int | None = None) -> dict:
    """Per-party cost of :func:`rsqrt_a` (see :func:`newton_cost`)."""
    return newton_cost("rsqrt", n, ell, frac, lo, hi, iters=iters, party=party, batch=batch, guess=guess,
                       normalize=normalize, clamp=clamp, span=span)

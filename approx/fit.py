"""Distribution-aware fitting of piecewise polynomials (Nimbus' idea, DESIGN.md section 4).

Pipeline (all numpy, vectorised over bins and candidate segments):

1. :func:`bin_samples` turns calibration inputs into a fine histogram on [lo, hi]; each bin centre
   carries weight (1 - lam) * empirical density + lam * uniform.  ``lam`` > 0 keeps every part of
   the range in the objective, which is what bounds the worst-case error where data is sparse.
2. A *shape* is the ordered list of pieces to the right of the implicit zero region, e.g. GELU
   ``[poly(2), IDENTITY]`` = "0 | quadratic | x", exp ``[poly(3)]`` = "0 | cubic".
   :func:`segment_costs` gives the weighted least-squares error of every piece on every candidate
   segment [g_i, g_j) at once from prefix sums of the weighted moments (normal equations solved
   as one batched pseudo-inverse); :func:`search_breakpoints` picks the breakpoints by dynamic
   programming over the candidates (optimal on the grid, not greedy).
3. Each piece is refitted on its segment with :func:`lstsq_poly` (SVD, scaled variable), and the
   table's errors are measured: mean/max abs on the samples and a worst-case bound over the whole
   range (:func:`worst_case`, dense grid + a Lipschitz term).  :func:`fit_shape` repeats this for
   several ``lam`` and keeps the most accurate fit whose worst case meets ``max_err``.
4. Fixed-point awareness: with ``rings=[(ell, frac), ...]`` a non-integer piece of degree d is only
   admissible on a segment where its powers cannot overflow before truncation
   (|x|^d 2^(2 frac) < 2^(ell-1), :func:`piece_fits_ring`), so the chosen table runs in that ring.
5. :func:`tradeoff` fits a list of shapes and prints errors against the secure cost (comparisons,
   multiplications, truncations and an estimate of the bits on the wire) — the degree/segment
   trade-off.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Iterable, Sequence

import numpy as np

from .fixed import max_safe_abs
from .functions import FULL_RANGE, reference
from .tables import PiecewisePoly


# --- shapes ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Piece:
    """One piece: fitted powers plus fixed terms (power, coefficient).  No fitted powers = a fixed
    polynomial (e.g. :data:`IDENTITY`)."""

    powers: tuple[int, ...] = ()
    fixed: tuple[tuple[int, float], ...] = ()

    @property
    def degree(self) -> int:
        return max(list(self.powers) + [p for p, _ in self.fixed] + [0])

    @property
    def fitted(self) -> bool:
        return bool(self.powers)

    @property
    def integer(self) -> bool:
        return not self.powers and all(float(c).is_integer() for _, c in self.fixed)

    def fixed_coeffs(self) -> np.ndarray:
        c = np.zeros(self.degree + 1)
        for p, v in self.fixed:
            c[p] += v
        return c

    @property
    def label(self) -> str:
        if self.integer:
            return "x" if self.fixed == ((1, 1.0),) else "int" + str(self.degree)
        if self.fixed or tuple(self.powers) != tuple(range(self.degree + 1)):
            return f"p{self.degree}{{{','.join(map(str, self.powers))}}}"
        return f"p{self.degree}"


def poly(d: int) -> Piece:
    """A full polynomial of degree d, all coefficients fitted."""
    return Piece(powers=tuple(range(d + 1)))


IDENTITY = Piece(fixed=((1, 1.0),))


def shape_label(shape: Sequence[Piece]) -> str:
    return "0|" + "|".join(p.label for p in shape)


# --- data ------------------------------------------------------------------------------------------
@dataclass
class Binned:
    edges: np.ndarray   # (B+1,)
    x: np.ndarray       # (B,) bin centres
    w: np.ndarray       # (B,) weights, sum 1
    y: np.ndarray       # (B,) f(x)
    density: np.ndarray  # (B,) empirical density part (sum 1) before mixing
    relative: bool = False  # weights divided by f(x)^2: least squares on the relative error

    def with_lambda(self, lam: float) -> "Binned":
        w = (1.0 - lam) * self.density + lam / self.x.size
        if self.relative:
            w = w / np.maximum(self.y * self.y, 1e-300)
        return Binned(self.edges, self.x, w / w.sum(), self.y, self.density, self.relative)


def bin_samples(samples, func: Callable, lo: float | None = None, hi: float | None = None,
                bins: int = 4096, lam: float = 0.0, spacing: str = "linear", relative: bool = False) -> Binned:
    """Histogram of ``samples`` on [lo, hi] (default: their min/max) with weights mixed with uniform.

    ``spacing="log"`` uses geometric bins (positive inputs spanning decades, e.g. LayerNorm
    variances; "uniform" weight is then uniform in log x); ``relative`` fits the relative error."""
    s = np.asarray(samples, dtype=np.float64).reshape(-1)
    s = s[np.isfinite(s)]
    if s.size == 0:
        raise ValueError("no finite calibration samples")
    lo = float(s.min()) if lo is None else float(lo)
    hi = float(s.max()) if hi is None else float(hi)
    if not hi > lo:
        hi = lo + 1e-6
    if spacing == "log":
        if lo <= 0:
            raise ValueError("log spacing needs positive inputs")
        edges = np.geomspace(lo, hi, bins + 1)
    else:
        edges = np.linspace(lo, hi, bins + 1)
    counts, _ = np.histogram(np.clip(s, lo, hi), bins=edges)
    x = 0.5 * (edges[:-1] + edges[1:])
    dens = counts / counts.sum()
    b = Binned(edges, x, dens, func(x), dens, relative)
    return b.with_lambda(lam)


# --- least squares -----------------------------------------------------------------------------------
def lstsq_poly(x, y, w, piece: Piece) -> np.ndarray:
    """Weighted least squares for one piece: minimise sum w (y - p(x))^2 over the fitted powers,
    fixed terms held.  Returns coefficients in increasing degree (length degree+1)."""
    x = np.asarray(x, np.float64)
    coef = piece.fixed_coeffs()
    if not piece.fitted:
        return coef
    r = np.asarray(y, np.float64) - np.polynomial.polynomial.polyval(x, coef)
    s = max(float(np.max(np.abs(x))), 1e-12)  # scaled variable t = x/s keeps the columns O(1)
    t = x / s
    sw = np.sqrt(np.asarray(w, np.float64))
    A = np.stack([t ** p for p in piece.powers], axis=1) * sw[:, None]
    a, *_ = np.linalg.lstsq(A, r * sw, rcond=None)
    for p, v in zip(piece.powers, a):
        coef[p] += v / s ** p
    return coef


def ring_limit(piece: Piece, rings: Iterable[tuple[int, int]]) -> float:
    """Largest |x| (exclusive, 5 % margin) on which ``piece`` can be evaluated in all ``rings``
    without overflow of its powers (coefficients not considered; see :func:`piece_fits_ring`)."""
    lim = math.inf
    for ell, frac in rings:
        if piece.integer:
            lim = min(lim, 0.95 * 2.0 ** (ell - 1 - frac))
        elif piece.degree >= 2:
            lim = min(lim, 0.95 * max_safe_abs(ell, frac, piece.degree))
        else:  # degree <= 1: no power to compute; c * x at 2f is checked with the fitted coefficients
            lim = min(lim, 0.95 * 2.0 ** (ell - 1 - frac))
    if piece.integer and lim < math.inf:
        return math.inf  # exact pieces: inputs beyond the ring's range cannot be represented at all
    return lim


def piece_fits_ring(lo: float, hi: float, piece: Piece, coef: Sequence[float] | None,
                    rings: Iterable[tuple[int, int]]) -> bool:
    """Can this piece be evaluated on [lo, hi] in every ring (ell, frac) without overflow?

    Powers: |x|^k 2^(2f) < 2^(ell-1) for k = 2..degree (product before its truncation); terms:
    |c_k x^k| 2^(2f) < 2^(ell-1) summed over k (the weighted sum before the piece's truncation).
    Integer pieces are exact and only need |x| < 2^(ell-1-f).  A 5 % margin is kept.
    """
    m = max(abs(lo), abs(hi))
    for ell, frac in rings:
        if not math.isfinite(m):
            if piece.integer:
                continue
            return False
        if piece.integer:
            if m * 2.0 ** frac >= 0.95 * 2.0 ** (ell - 1):
                return False
            continue
        if piece.degree >= 2 and m >= 0.95 * max_safe_abs(ell, frac, piece.degree):
            return False
        if coef is not None:
            tot = sum(abs(c) * m ** k for k, c in enumerate(coef) if k >= 1)
            if tot * 2.0 ** (2 * frac) >= 0.95 * 2.0 ** (ell - 1):
                return False
    return True


# --- segment costs and breakpoint search -------------------------------------------------------------
def _prefix(a: np.ndarray) -> np.ndarray:
    out = np.zeros(a.shape[:-1] + (a.shape[-1] + 1,))
    np.cumsum(a, axis=-1, out=out[..., 1:])
    return out


def segment_costs(data: Binned, piece: Piece, cand: np.ndarray) -> np.ndarray:
    """Weighted SSE of ``piece`` fitted on every candidate segment: cost[i, j] for bins
    cand[i] .. cand[j]-1 (inf where i >= j).  Normal equations from prefix sums, one batched pinv."""
    G = cand.size
    cost = np.full((G, G), np.inf)
    iu, ju = np.triu_indices(G, k=1)
    fixed = piece.fixed_coeffs()
    r = data.y - np.polynomial.polynomial.polyval(data.x, fixed)
    R = _prefix(data.w * r * r)[cand]
    base = R[ju] - R[iu]
    if not piece.fitted:
        cost[iu, ju] = np.maximum(base, 0.0)
        return cost
    s = max(float(np.max(np.abs(data.x))), 1e-12)
    t = data.x / s
    P = np.array(piece.powers)
    n = P.size
    E = np.arange(2 * P.max() + 1)
    Mw = _prefix(data.w[None, :] * t[None, :] ** E[:, None])[:, cand]      # (2d+1, G)
    Vw = _prefix(data.w[None, :] * t[None, :] ** P[:, None] * r[None, :])[:, cand]  # (n, G)
    A = (Mw[:, ju] - Mw[:, iu])[P[:, None] + P[None, :]]                   # (n, n, pairs)
    V = (Vw[:, ju] - Vw[:, iu])                                             # (n, pairs)
    A = np.moveaxis(A, -1, 0)
    V = V.T
    c = np.einsum("pij,pj->pi", np.linalg.pinv(A, rcond=1e-13), V)
    cost[iu, ju] = np.maximum(base - np.einsum("pi,pi->p", c, V), 0.0)
    return cost


def _dp(data: Binned, shape: Sequence[Piece], cand: np.ndarray, rings, domain_hi, min_bp, max_bp,
        open_left: bool = False):
    """Dynamic programme over candidate bin edges ``cand`` (sorted, containing 0 and B)."""
    ge = data.edges[cand]
    G = cand.size
    zero = _prefix(data.w * data.y * data.y)[cand]          # cost of the zero region below each edge
    allowed = np.ones(G, bool)
    if min_bp is not None:
        allowed &= ge >= min_bp
    if max_bp is not None:
        allowed &= ge <= max_bp
    allowed[-1] = False                                      # a piece must not start at the top edge
    m = len(shape)
    costs = []
    for k, pc in enumerate(shape):
        C = segment_costs(data, pc, cand)
        if rings:
            top = ge.copy()
            if k == m - 1:
                top[-1] = math.inf if domain_hi is None else max(domain_hi, ge[-1])
            mx = np.maximum(np.abs(ge)[:, None], np.abs(top)[None, :])
            lim = ring_limit(pc, rings)
            C = np.where((mx < lim) | (lim == math.inf), C, np.inf)
        costs.append(C)
    # D[j]: best cost with the zero region and pieces 0..k-1 placed, piece k starting at cand j.
    first = allowed.copy()
    if open_left:  # the first piece extends to -inf: it starts at the bottom edge, no zero region
        first[:] = False
        first[0] = True
    D = np.where(first, zero, np.inf)
    back = []
    for k in range(1, m):
        tot = D[:, None] + costs[k - 1]
        arg = np.argmin(tot, axis=0)
        D = np.where(allowed, tot[arg, np.arange(G)], np.inf)
        back.append(arg)
    final = D + costs[m - 1][:, G - 1]
    j = int(np.argmin(final))
    if not np.isfinite(final[j]):
        raise ValueError(f"no admissible breakpoints for shape {shape_label(shape)} (ring constraints?)")
    starts = [j]
    for arg in reversed(back):
        j = int(arg[j])
        starts.append(j)
    starts.reverse()
    return [int(cand[s]) for s in starts], float(final.min())


def search_breakpoints(data: Binned, shape: Sequence[Piece], max_candidates: int = 240,
                       rings: Sequence[tuple[int, int]] = (), domain_hi: float | None = None,
                       min_bp: float | None = None, max_bp: float | None = None, open_left: bool = False) -> list[int]:
    """Optimal breakpoints by dynamic programming, coarse then fine.

    Returns the bin-edge indices [e_0, ..., e_{m-1}] where piece k starts (piece k covers edges
    e_k .. e_{k+1}, the last one up to the top edge), minimising the weighted SSE of zero region +
    all pieces.  Stage 1 runs the DP on every ``step``-th edge (<= ``max_candidates``); stage 2
    reruns it on every bin edge within two coarse steps of the stage-1 breakpoints.  ``rings``
    excludes segments where a piece would overflow; ``domain_hi`` (None = unbounded) is the top of
    the last piece for that check; ``min_bp``/``max_bp`` restrict where breakpoints may go.
    """
    B = data.x.size
    step = max(1, int(math.ceil(B / max_candidates)))
    cand = np.unique(np.r_[np.arange(0, B, step), B])
    starts, _ = _dp(data, shape, cand, rings, domain_hi, min_bp, max_bp, open_left)
    if step > 1:
        near = [np.arange(max(0, s - 2 * step), min(B, s + 2 * step + 1)) for s in starts]
        fine = np.unique(np.concatenate([[0, B]] + near))
        starts, _ = _dp(data, shape, fine, rings, domain_hi, min_bp, max_bp, open_left)
    return starts


# --- errors ----------------------------------------------------------------------------------------
def error_stats(approx_fn: Callable, func: Callable, samples, relative: bool = False) -> dict[str, float]:
    """mean / max / rms absolute (or relative) error of ``approx_fn`` against ``func`` on ``samples``."""
    s = np.asarray(samples, np.float64).reshape(-1)
    f = func(s)
    e = np.abs(approx_fn(s) - f)
    if relative:
        e = e / np.abs(f)
    return {"mean_abs": float(e.mean()), "max_abs": float(e.max()), "rms": float(np.sqrt((e * e).mean())),
            "n": int(s.size)}


def worst_case(approx_fn: Callable, func: Callable, lo: float, hi: float, n: int = 400_001,
               relative: bool = False, spacing: str = "linear") -> dict[str, float]:
    """Bound on max |approx - func| over [lo, hi]: the maximum on a grid of spacing h plus half the
    largest change of the error between neighbours (a Lipschitz term that is exact wherever the
    error is monotone between grid points; jumps at breakpoints are seen on both sides)."""
    x = np.geomspace(lo, hi, n) if spacing == "log" else np.linspace(lo, hi, n)
    f = func(x)
    e = approx_fn(x) - f
    if relative:
        e = e / np.abs(f)
    i = int(np.argmax(np.abs(e)))
    lip = float(np.max(np.abs(np.diff(e)))) / 2 if n > 1 else 0.0
    return {"grid_max": float(np.abs(e[i])), "bound": float(np.abs(e[i]) + lip), "argmax": float(x[i]),
            "lo": float(lo), "hi": float(hi), "grid": int(n), "relative": relative}


# --- fitting a shape ---------------------------------------------------------------------------------
@dataclass
class FitResult:
    table: PiecewisePoly
    shape: list[Piece]
    lam: float
    sse: float
    stats: dict[str, float]
    worst: dict[str, float]
    tried: list[dict] = field(default_factory=list)


def build_table(function: str, data: Binned, shape: Sequence[Piece], starts: Sequence[int],
                band: float = 0.0) -> PiecewisePoly:
    """Refit each piece on its segment (SVD least squares) and assemble the table.

    ``band`` b > 0: the secure selection may pick piece k for inputs up to b *below* its breakpoint
    (a lookup on x rounded up or down to a grid of step b picks the upper piece there with a
    probability that grows linearly towards the breakpoint), so every piece above the first is also
    fitted on [breakpoint − b, breakpoint) with those weights ramped from 0 to 1."""
    B = data.x.size
    bounds = list(starts) + [B]
    pieces = []
    for k, pc in enumerate(shape):
        a, b = bounds[k], bounds[k + 1]
        x, y, w = data.x[a:b], data.y[a:b], data.w[a:b]
        if band > 0 and k > 0:
            edge = data.edges[a]
            ext = (data.x >= edge - band) & (data.x < edge)
            ramp = 1.0 - (edge - data.x[ext]) / band
            x, y, w = np.r_[data.x[ext], x], np.r_[data.y[ext], y], np.r_[data.w[ext] * ramp, w]
        pieces.append(lstsq_poly(x, y, w, pc).tolist())
    bps = [float(data.edges[s]) for s in starts]
    return PiecewisePoly(function=function, breakpoints=bps, pieces=pieces)


def fit_shape(function: str, samples, shape: Sequence[Piece], *, func: Callable | None = None,
              lams: Sequence[float] = (0.0, 0.01, 0.05, 0.2), max_err: float | None = None,
              rings: Sequence[tuple[int, int]] = ((32, 13),), bins: int = 4096, max_candidates: int = 240,
              lo: float | None = None, hi: float | None = None, domain_hi: float | None = None,
              full_range: tuple[float, float] | None = None, round_bp: int | None = 6,
              min_bp: float | None = None, max_bp: float | None = None, open_left: bool = False,
              relative: bool = False, spacing: str = "linear", band: float = 0.0) -> FitResult:
    """Fit ``shape`` to ``function`` where ``samples`` lie; see the module docstring.

    Chooses, among ``lams``, the fit with the smallest weighted (empirical) SSE whose worst-case
    bound over ``full_range`` is <= ``max_err`` (if none qualifies: the smallest worst case).
    Breakpoints are rounded to multiples of 2^-``round_bp`` (exact in fixed point; the pieces are
    fitted on the rounded segments).  ``band``: see :func:`build_table`.  ``rings``: fixed-point settings the table must run in without overflow.
    """
    func = func or reference(function)
    s = np.asarray(samples, np.float64).reshape(-1)
    base = bin_samples(s, func, lo, hi, bins, spacing=spacing, relative=relative)
    full = full_range or FULL_RANGE.get(function, (float(base.edges[0]), float(base.edges[-1])))
    tried = []
    best = None
    for lam in lams:
        data = base.with_lambda(lam)
        starts = search_breakpoints(data, shape, max_candidates, rings, domain_hi, min_bp, max_bp, open_left)
        if round_bp is not None:
            # dyadic breakpoints (multiples of 2^-r) are exact in fixed point for frac >= r, so the
            # float table and its fixed-point twin select the same piece for the same input; r grows
            # from round_bp up to the smallest ring frac if coarse rounding would merge breakpoints
            fracs = [fr for _, fr in rings] or [max(round_bp, 13)]
            raw = data.edges[starts]
            for r in range(round_bp, max(round_bp, min(fracs)) + 1):
                q = 2.0 ** r
                bp = np.round(raw * q) / q
                if np.all(np.diff(bp) > 0):
                    break
            else:
                raise ValueError("breakpoints collide after rounding to the ring's precision")
            starts = [int(np.clip(np.searchsorted(data.edges, v), 0, data.x.size - 1)) for v in bp]
            for k in range(1, len(starts)):  # keep strictly increasing after rounding
                starts[k] = max(starts[k], starts[k - 1] + 1)
            table = build_table(function, data, shape, starts, band)
            table.breakpoints = [float(v) for v in bp]
        else:
            table = build_table(function, data, shape, starts, band)
        if open_left:
            table.breakpoints[0] = -math.inf
        dens = base  # objective reported on the empirical density (lam = 0)
        res = table.evaluate_float(dens.x) - dens.y
        if relative:
            res = res / dens.y
        emp_sse = float(np.sum(dens.density * res ** 2))
        wc = worst_case(table.evaluate_float, func, *full, relative=relative, spacing=spacing)
        bot = [float(base.edges[0]) if (k == 0 and open_left) else table.breakpoints[k] for k in range(len(shape))]
        ok_ring = all(piece_fits_ring(bot[k],
                                      table.breakpoints[k + 1] if k + 1 < len(shape) else
                                      (math.inf if domain_hi is None else domain_hi), pc, table.pieces[k], rings)
                      for k, pc in enumerate(shape))
        rec = {"lam": lam, "emp_sse": emp_sse, "worst": wc["bound"], "ring_ok": ok_ring,
               "breakpoints": table.breakpoints}
        tried.append(rec)
        meets = (max_err is None or wc["bound"] <= max_err) and ok_ring
        key = (0 if meets else 1, emp_sse if meets else wc["bound"])
        if best is None or key < best[0]:
            best = (key, table, lam, emp_sse, wc)
    _, table, lam, sse, wc = best
    stats = error_stats(table.evaluate_float, func, s, relative)
    table.errors = {"calibration": stats, "worst_case": wc}
    table.fit = {"shape": shape_label(shape), "lambda": lam, "lambdas": list(lams), "max_err": max_err,
                 "bins": bins, "candidates": max_candidates, "rings": [list(r) for r in rings],
                 "error": "relative" if relative else "absolute", "spacing": spacing,
                 "weighting": "(1-lambda) * empirical density + lambda * uniform on the calibrated range",
                 "method": "weighted least squares, breakpoints by dynamic programming on a grid"}
    table.domain = (None, domain_hi)
    return FitResult(table, list(shape), lam, sse, stats, wc, tried)


# --- cost model and trade-off -----------------------------------------------------------------------
# Bits on the wire per element (both directions) of this framework's kernels, as the secure layers
# run them (nn/functional.py): comparisons in the span ring of ``nl_span_bits`` (8 bits at 13
# fraction bits, 3-bit digits), all breakpoints of one table in one ``ge_multi`` (the OTs and
# choice bits are paid once; measured 116 bits for one threshold, +93 per further threshold, COT
# refills included); x² by ``square_a``, x^k (k ≥ 3) by ``mul_aa`` (Gilboa: ell-bit choices,
# ell − i bits per correction); faithful known-sign truncation ~ f + 1 bits (~ell/2); multiplexer
# 2(ell + 1).
CMP_FIRST_BITS = 116
CMP_EXTRA_BITS = 93


def cmp_bits(n_thresholds: int) -> float:
    return 0.0 if n_thresholds <= 0 else CMP_FIRST_BITS + (n_thresholds - 1) * CMP_EXTRA_BITS


def square_bits(ell: int) -> float:
    return (ell - 1) + (ell - 1) * ell / 2


def mul_bits(ell: int) -> float:
    return 2 * (ell + ell * (ell + 1) / 2)


def trunc_bits(ell: int) -> float:
    return ell / 2


def mux_bits(ell: int) -> float:
    return 2 * (ell + 1)


def secure_cost(table: PiecewisePoly, ell: int = 32) -> dict[str, float]:
    """Operation counts of the secure evaluation (:func:`approx.fixed.evaluate_fixed` order) and a
    traffic estimate in bits per element from the cost model above."""
    nonint = [i for i in range(len(table.pieces)) if not table.integer_piece(i)]
    D = max([len(table.pieces[i]) - 1 for i in nonint], default=1)
    n_mul = max(D - 1, 0)                       # x^2 (square) .. x^D (products)
    n_trunc = n_mul + len(nonint)               # one per power, one per non-integer piece
    n_cmp = table.n_comparisons
    n_mux = n_cmp                               # one multiplexer per finite breakpoint
    bits = (cmp_bits(n_cmp) + (square_bits(ell) if n_mul else 0) + max(n_mul - 1, 0) * mul_bits(ell)
            + n_trunc * trunc_bits(ell) + n_mux * mux_bits(ell))
    return {"comparisons": n_cmp, "mul_aa": n_mul, "trunc": n_trunc, "mux": n_mux, "est_bits": float(bits)}


def tradeoff(function: str, samples, shapes: Sequence[Sequence[Piece]], **kw) -> list[dict]:
    """Fit every shape and tabulate accuracy against secure cost (the degree/segment trade-off)."""
    rows = []
    for shape in shapes:
        try:
            r = fit_shape(function, samples, shape, **kw)
        except ValueError as e:
            rows.append({"shape": shape_label(shape), "error": str(e)})
            continue
        rows.append({"shape": shape_label(shape), "breakpoints": r.table.breakpoints,
                     "mean_abs": r.stats["mean_abs"], "max_abs": r.stats["max_abs"],
                     "worst_case": r.worst["bound"], "lambda": r.lam, **secure_cost(r.table), "result": r})
    return rows


def format_tradeoff(rows: Sequence[dict]) -> str:
    out = [f"{'shape':<22}{'cmp':>4}{'mul':>4}{'trn':>4}{'~bits':>7}{'mean abs':>11}{'max abs':>10}"
           f"{'worst':>10}  breakpoints"]
    for r in rows:
        if "error" in r:
            out.append(f"{r['shape']:<22}  inadmissible: {r['error']}")
            continue
        out.append(f"{r['shape']:<22}{r['comparisons']:>4}{r['mul_aa']:>4}{r['trunc']:>4}{r['est_bits']:>7.0f}"
                   f"{r['mean_abs']:>11.2e}{r['max_abs']:>10.2e}{r['worst_case']:>10.2e}  "
                   + ", ".join(f"{b:+.2f}" for b in r["breakpoints"]))
    return "\n".join(out)

"""Non-linear functions written once against a :class:`nn.backend.Backend`.

The same code runs in the fixed-point simulator and in the secure two-party run, so the two agree
step by step (up to the secure truncation's −1..0 ulp and the Newton iterations' last ulp).

* :func:`piecewise` — a distribution-fitted piecewise polynomial from ``approx`` (GELU, exp),
  evaluated exactly in the order :func:`approx.fixed.evaluate_fixed` specifies: shared powers
  X_k = trunc_f(X_{k−1}·X); per non-integer piece one public-coefficient combination and one
  truncation; selection Σ_i [X ≥ B_i]·(T_i − T_{i−1}).  All comparisons of one call run as one
  batched comparison, all truncations of the pieces as one batched truncation, all multiplexers as
  one batched ``mul_bit``.
* :func:`softmax` — max (tree, coarse small ring), x − max, exp in a small ring (by default by
  lookup, exact up to rounding: ``protocols/exp_lut.py``; or a fitted table, its pieces selected
  by one cutoff comparison and one oblivious lookup), sum (local), reciprocal (a threshold guess
  and two Goldschmidt steps, ``protocols/goldschmidt.py``), product in the small ring.
* :func:`layer_norm` — mean by a public multiplier, centred values scaled down before squaring so
  the variance fits the ring, rsqrt (thresholds and two refining factors, Newton as the
  fallback), product, γ (server-private) and β.
"""
from __future__ import annotations

import math

import numpy as np

from protocols.ring import Ring

from .backend import Backend, add_public


def _recip_const(n: int, bits: int) -> int:
    """round(2^bits / n): a public multiplier for division by n."""
    return int(round((1 << bits) / n))


def cmp_drop(frac: int) -> int:
    """Low bits a comparison may ignore: breakpoints and clamps need only ``cmp_frac_bits`` (config
    knob, default 5: 1/32) of fraction, and a comparison on fewer bits costs fewer COTs."""
    from protocols.config import get_config

    keep = int(get_config().get("cmp_frac_bits", 5))
    return max(0, frac - keep)


def lut_grid(table, frac: int, index_bits: int, grid_frac: int, lo: int):
    """The lookup grid of :func:`piecewise` for ``table`` at ``frac`` fraction bits, or None when
    the table does not fit it: every breakpoint finite, a multiple of 2^-grid_frac, and inside the
    window [lo, lo + 2^index_bits) of grid units.  Returns (index_bits, grid_frac, lo)."""
    if index_bits <= 0 or grid_frac > frac:
        return None
    bps = table.fixed(frac).breakpoints
    s = frac - grid_frac
    if not bps or any(b is None or b % (1 << s) for b in bps):
        return None
    if not all(lo <= (b >> s) < lo + (1 << index_bits) for b in bps):
        return None
    return index_bits, grid_frac, lo


def _grid_bits(be: Backend, x: np.ndarray, conds: list[int], ell: int, frac: int, grid, span: int | None) -> np.ndarray:
    """Selection bits of :func:`piecewise` by one lookup: the cutoff [x ≥ b_0] and, meaningful only
    above it, [x ≥ b_i] for the other breakpoints.  x goes to the grid (2^-g) by a local
    truncate-and-reduce, so xc = x/2^(frac−g) rounded down or up; xc − lo reduced mod 2^m indexes
    a public table of the bits [j + lo ≥ b_i] (one 1-of-2^m OT for all of them) and the cutoff
    compares xc itself, its lowest digit riding in the same OT (:func:`protocols.lut.lut_ge_ab`).
    Where the cutoff holds, lo ≤ b_0 ≤ xc < lo + 2^m (the caller's window), so the lookup reads
    the right entry; a breakpoint may be taken for inputs up to one grid step below it (the fit
    allows for that: ``band``)."""
    m, g, lo = grid
    s = frac - g
    kc = ell - s
    Rc = Ring(kc)
    xc = be.trunc_reduce(x, s, ell)
    cs = [c >> s for c in conds]
    # v = xc − lo: the lookup reads v mod 2^m, the cutoff is v ≥ b_0 − lo, and |v − (b_0 − lo)| =
    # |xc − b_0| < 2^(span − s + 1): both on v in the comparison's ring, sharing one OT (lut_ge)
    k = kc if span is None else max(m + 1, min(kc, span - s + 2))
    v = be.ring_down(add_public(be, xc, Rc.from_signed(np.int64(-lo)), kc), kc, k)
    table = (np.arange(1 << m)[None, :] + lo >= np.array(cs[1:])[:, None]).astype(np.uint8)
    cut, inner = be.lut_ge(v, table, cs[0] - lo, k, m)
    return np.concatenate([cut[None], inner])


def piecewise(be: Backend, table, x: np.ndarray, ell: int, frac: int, power_shift: int | None = None,
              *, coef_frac: int | None = None, span: int | None = None, select_ring: int | None = None,
              power_bound: int | None = None, grid=None) -> np.ndarray:
    """Evaluate ``table`` on x (ring ``ell``, ``frac`` bits); see the module docstring.

    ``power_shift`` h (default: config knob ``power_shift``, 1): X_2 = trunc_{f−2h}(trunc_h(X)²)
    (the squaring protocol costs half a product) and X_k = trunc_{f−h}(trunc_h(X_{k−1})·X) for
    k ≥ 3, so each product before truncation is 2^h (2^2h) smaller.  The
    secure known-sign truncation needs |product| < 2^(ell−2), one bit less than the ring itself
    (which is what the tables are checked against); h = 1 restores that bit (exp's piece on
    [−4.9, −3) has x² up to 24, i.e. 2^30.6 at 2·13 bits).  h = 0 is bit-exact with
    :func:`approx.fixed.evaluate_fixed` (floor truncation).

    ``power_bound`` b: the caller promises |x| < 2^b (ring units) wherever a piece of degree ≥ 2
    can be selected; x² then uses the bounded squaring (its value elsewhere is arbitrary, and
    multiplied by a zero selection bit).

    ``select_ring`` k: the caller promises that the selected value minus the unconditional
    pieces, and every difference of adjacent pieces at an x right of their breakpoint, stays below
    2^(k−2) in magnitude (true for exp's pieces on z ≤ 0); the multiplexers then run in ring k
    (each costs 2(k+1) bits instead of 2(ell+1)) and one ``ring_up`` brings their sum back.
    When k ≤ ell − coef_frac the promise covers every piece value itself, and the truncation of
    the pieces' combinations becomes the local truncate-and-reduce (no traffic).

    ``grid`` (from :func:`lut_grid`): the selection bits come from one comparison (the first
    breakpoint, below which the table is zero) and one lookup (:func:`_grid_bits`) instead of one
    comparison per breakpoint; the caller promises x < (lo + 2^m − 1)·2^-g.  The multiplexers then
    run in two steps: the pieces above the cutoff first, the cutoff's bit times their sum last.
    """
    from protocols.config import get_config

    h = get_config().get("power_shift", 1) if power_shift is None else power_shift
    R = Ring(ell)
    F = table.fixed(frac)
    cf = frac if coef_frac is None else int(coef_frac)
    Fc = table.fixed(cf)
    nonint = [i for i, ok in enumerate(F.integer_pieces) if not ok]
    D = max([len(F.pieces[i]) - 1 for i in nonint], default=1)
    D = max(D, max(len(p) - 1 for p in table.pieces), 1)
    # powers X_1..X_D (sequential rule)
    pw = [None, R.reduce(x)]
    for k in range(2, D + 1):
        if k == 2:
            # x² by the cheaper squaring protocol (one cross term): both factors lose h bits
            a = be.trunc(pw[1], h, ell) if h else pw[1]
            sq_bound = None if power_bound is None else power_bound - h
            pw.append(be.trunc(be.square(a, ell, bound=sq_bound), frac - 2 * h, ell))
        else:
            a = be.trunc(pw[-1], h, ell) if h else pw[-1]
            pw.append(be.trunc(be.mul(a, pw[1], ell), frac - h, ell))

    def combine(coeffs) -> np.ndarray:
        acc = np.zeros(x.shape, dtype=np.uint64)
        for k in range(1, len(coeffs)):
            if coeffs[k]:
                acc = R.add(acc, R.mul_public(pw[k], int(coeffs[k])))
        return acc

    # with a small selection ring the pieces' values need only that many bits: the truncation of
    # their combinations is then the local truncate-and-reduce (no traffic) into ring ell − cf
    k = select_ring if select_ring is not None and select_ring < ell else ell
    local = k < ell and bool(nonint) and k <= ell - cf
    W = Ring(ell - cf) if local else R
    T: list[np.ndarray | None] = [None] * len(table.pieces)
    if nonint:
        stacked = np.stack([combine(Fc.pieces[i]) for i in nonint])
        tr = be.trunc_reduce(stacked, cf, ell) if local else be.trunc(stacked, cf, ell)
        for j, i in enumerate(nonint):
            T[i] = add_public(be, tr[j], W.from_signed(np.int64(F.pieces[i][0])), W.ell)
    for i, ok in enumerate(F.integer_pieces):
        if ok:
            ci = F.int_pieces[i]
            v = add_public(be, combine(ci), R.from_signed(np.int64(ci[0] << frac)), ell)
            T[i] = be.ring_down(v, ell, W.ell) if local else v
    # selection
    diffs, conds, res = [], [], np.zeros(x.shape, dtype=np.uint64)
    prev = np.zeros(x.shape, dtype=np.uint64)
    for i, b in enumerate(F.breakpoints):
        d = W.sub(T[i], prev)
        if b is None:
            res = W.add(res, d)
        else:
            diffs.append(d)
            conds.append(int(b))
        prev = T[i]
    picked = np.zeros(x.shape, dtype=np.uint64)
    if conds and grid is not None:
        if len(conds) != len(F.breakpoints):
            raise ValueError("piecewise: a lookup grid needs a zero region below the first breakpoint")
        bits = _grid_bits(be, R.reduce(x), conds, ell, frac, grid, span)
        dk = be.ring_down(np.stack(diffs), W.ell, k) if k < W.ell else np.stack(diffs)
        Rk = Ring(k)
        above = Rk.add(dk[0], np.sum(be.mul_bit(bits[1:], dk[1:], k), axis=0, dtype=np.uint64)) if len(dk) > 1 else dk[0]
        picked = be.mul_bit(bits[0], Rk.reduce(above), k)
    elif conds:
        bits = be.ge_multi(R.reduce(x), R.from_signed(np.array(conds, dtype=np.int64)), ell, drop=cmp_drop(frac),
                           span=span)
        dk = be.ring_down(np.stack(diffs), W.ell, k) if k < W.ell else np.stack(diffs)
        picked = Ring(k).reduce(np.sum(be.mul_bit(bits, dk, k), axis=0, dtype=np.uint64))
    if k < ell:
        if local:
            picked = Ring(k).add(picked, be.ring_down(res, W.ell, k))
            return be.ring_up(picked, k, ell)
        return R.add(res, be.ring_up(picked, k, ell)) if conds else R.reduce(res)
    return R.add(res, picked)


def exp_squaring(be: Backend, x: np.ndarray, n: int, cutoff: float, ell: int, frac: int,
                 span: int | None = None) -> np.ndarray:
    """The BumbleBee/SPU-style baseline exp(x) ≈ (1 + x/2^n)^(2^n) for x ≥ cutoff, 0 below, in the
    order :meth:`approx.baselines.ExpSquaring.evaluate_fixed` specifies: U = trunc_n(X) + 2^f;
    n × U = trunc_f(U·U); result [X ≥ B]·U.  One comparison, n squarings, n + 1 truncations."""
    R = Ring(ell)
    u = add_public(be, be.trunc(x, n, ell), np.uint64(1 << frac), ell)
    for _ in range(n):
        u = be.trunc(be.square(u, ell), frac, ell)
    b = be.ge(x, np.full(x.shape, R.encode(np.float64(cutoff), frac)[()]), ell, drop=cmp_drop(frac), span=span)
    return be.mul_bit(b, u, ell)


def nl_span(frac: int) -> int:
    """The comparison span (ring units) of activations in the non-linear ring: config knob
    ``nl_span_bits`` (default 8) promises |x| < 2^nl_span_bits for GELU inputs and row spans
    max − min < 2^nl_span_bits for softmax scores (calibrated MiniLM-L6: |GELU in| < 11, spans
    < 67); breakpoints lie inside that range, so |x − b| < 2^(nl_span_bits + 1)."""
    from protocols.config import get_config

    return int(get_config().get("nl_span_bits", 8)) + 1 + frac


def evaluate(be: Backend, fn, x: np.ndarray, ell: int, frac: int, span: int | None = None) -> np.ndarray:
    """A table (:class:`approx.PiecewisePoly`) or the exp-by-squaring baseline on x."""
    if hasattr(fn, "pieces"):
        return piecewise(be, fn, x, ell, frac, span=span)
    return exp_squaring(be, x, fn.n, fn.cutoff, ell, frac, span=span)


def softmax_max_frac() -> int:
    """Fraction bits of softmax's maximum (config knob ``softmax_max_frac``, 3: steps of 1/8).
    Softmax is shift-invariant, so the maximum only needs to be within a step of the true one:
    z = s − max then lies below 2^-3, and the maximum's own term keeps Σe ≥ e^(−1/8)."""
    from protocols.config import get_config

    return int(get_config().get("softmax_max_frac", 3))


def softmax_den_lo() -> float:
    """Promised lower bound of Σe in softmax: the maximum's own term e^(−2^-max_frac), less 5 %."""
    return 0.95 * math.exp(-(2.0 ** -softmax_max_frac()))


def softmax_den_hi(n: int) -> float:
    """Promised upper bound of Σe over a row of n: every z ≤ 2^-max_frac, each e^z ≤ e^(2^-max_frac)
    (the fitted pieces stay below 1.14 there), with 1 % and one unit to spare."""
    return 1.01 * n * math.exp(2.0 ** -softmax_max_frac()) + 1.0


def softmax_recip_ring() -> int:
    """Ring of softmax's reciprocal 1/Σe (config knob ``softmax_recip_ring``, 64): the row sums are
    few (one per row), so a wide ring costs little, and 64 bits hold the Goldschmidt chain of
    ``protocols/goldschmidt.py`` (~comparison + 4 rounds instead of Newton's ~comparison + 14)."""
    from protocols.config import get_config

    return int(get_config().get("softmax_recip_ring", 64))


def softmax_rings(frac: int) -> tuple[int, int]:
    """(ring, fraction bits) of the exp values and of the normalising product inside
    :func:`softmax`: config knobs ``softmax_exp_ring`` (26) and ``softmax_exp_frac`` (10).  The
    fitted exp's quadratic pieces start right of −8 and square z/2 (power shift 1): at 10
    fraction bits (z/2)² < 2^22.6 and each piece's combination stays below 2^24, the known-sign
    truncation's limit in ring 26; the product e·(1/Σe) at 10 + ``frac`` bits is ≤ 2^23.1, and
    after dropping 10 bits it sits in ring 16 below 2^14 (ring_up's known-sign limit).  Every
    product in this ring costs (26/32)² of one in ring 32."""
    from protocols.config import get_config

    cfg = get_config()
    return int(cfg.get("softmax_exp_ring", 26)), min(frac, int(cfg.get("softmax_exp_frac", 10)))


def softmax_grid(table, fe: int):
    """The lookup grid of the fitted exp (:func:`lut_grid`): config knobs ``exp_lut_bits`` (6; 0
    turns the lookup off) and ``exp_lut_frac`` (3: steps of 1/8).  The window's top is where the
    grid may put z: z = s − max is at most the coarse maximum's step 2^-max_frac (so ⌊z·2^g⌋ ≤
    ⌊2^(g − max_frac)⌋) and the grid rounds up by at most one step; at the defaults the window is
    [−7.625, 0.375).  None (one comparison per breakpoint) when the table's breakpoints are not on
    that grid or not inside the window."""
    from protocols.config import get_config

    cfg = get_config()
    m, g = int(cfg.get("exp_lut_bits", 6)), int(cfg.get("exp_lut_frac", 3))
    top = (1 << g >> softmax_max_frac()) + 2  # one past the largest grid value z can take
    return lut_grid(table, fe, m, g, top - (1 << m)) if m > 0 else None


def lookup_top(spec) -> int:
    """Last grid value of the lookup exp's window in softmax: z = s − max ≤ 2^-max_frac (plus the
    coarse maximum's unit), and the coarse part H ≤ ⌊z·2^g⌋."""
    g, mf = spec.grid_frac, softmax_max_frac()
    return (1 << g >> mf) + (1 if g >= mf else 0)


def _quadratics_right_of(table, lo: float) -> bool:
    """Whether every piece of degree ≥ 2 of ``table`` starts at a breakpoint ≥ lo."""
    bps = list(table.breakpoints)
    first = len(table.pieces) - len(bps)  # pieces before the first breakpoint (open to the left)
    return all(len(p) <= 2 or (i >= first and bps[i - first] >= lo) for i, p in enumerate(table.pieces))


def softmax(be: Backend, s: np.ndarray, exp_table, ell: int, frac: int, out_ell: int | None = None) -> np.ndarray:
    """Softmax along the last axis of s (ring ``ell``, ``frac`` bits) → ring ``out_ell`` (default
    ``ell``), ``frac`` bits;
    ``exp_table`` is an :class:`approx.exp_lookup.ExpLookup`, a fitted table or an
    :class:`approx.ExpSquaring` baseline.

    1. max: a comparison tree on ⌊s/2^drop⌋ in a ring of ~``nl_span_bits`` + 7 bits (row spans
       are promised below 2^nl_span_bits) at 1/8 resolution (:func:`softmax_max_frac`), lifted
       back relative to the row's first score; softmax is shift-invariant, so a maximum off by
       1/8 only lets z exceed 0 by that much.
    2. z = s − max, then exp in the small ring of :func:`softmax_rings` (z reaches it by a local
       truncate-and-reduce: no traffic).  The lookup exp (:class:`approx.exp_lookup.ExpLookup`,
       the default: exact up to rounding, ``protocols/exp_lut.py``) returns e in ring fe + 3,
       brought back by one ring_up.  A fitted table's pieces are selected by one
       comparison and one lookup on z at 1/8 resolution (:func:`softmax_grid`; tables off that
       grid use one comparison per breakpoint in the span ring); the squaring baseline runs at
       ``frac`` bits in ring ``ell`` (its 2^n-th power needs them) and its result is reduced to
       the small ring the same way.
    3. den = Σ e (local), 1/den in ring :func:`softmax_recip_ring` (one per row: a threshold guess
       and two Goldschmidt steps where that ring allows, else Newton), e·(1/den) in the small
       ring (``mul_rows``), a local truncate-and-reduce to ``frac`` bits and one ring_up back.
    """
    R = Ring(ell)
    n = s.shape[-1]
    span = nl_span(frac)
    ke, fe = softmax_rings(frac)
    m = be.max(s, axis=-1, ell=ell, drop=max(0, frac - softmax_max_frac()), span=span - 1)
    z = R.sub(s, m[..., None])
    # z ∈ (−2^(span−1), 2^drop] (row spans < 2^(span−1)) and every exp breakpoint or cutoff b lies
    # in (−2^(span−2), 0], so |z − b| < 2^(span−1): the comparisons need one bit less than GELU's
    zspan = span - 1
    lookup, fitted = hasattr(exp_table, "index_bits"), hasattr(exp_table, "pieces")
    if lookup or fitted:  # z at fe bits in the exp ring: a local truncate-and-reduce, no traffic
        zk = be.ring_down(be.trunc_reduce(z, frac - fe, ell), ell - (frac - fe), ke)
    if lookup:
        # exact exp by lookup (approx/exp_lookup.py, protocols/exp_lut.py), in ring fe + 3
        # (e ≤ e^(1/8) + a few units), then back to the exp ring
        e = be.exp_lut(zk, exp_table, ke, fe, top=lookup_top(exp_table), span=zspan - (frac - fe))
        e = be.ring_up(e, fe + 3, ke)
    elif fitted:
        # every piece value and adjacent difference on z ≤ 2^-3 is below 1.14 < 2 (checked by
        # tests/test_nn_functional.py): the pieces are truncated locally into ring ke − frac and
        # multiplexed there (fe + 3 bits)
        # and the quadratic pieces start right of −8: |z| < 2^(fe+3) wherever x² is used
        e = piecewise(be, exp_table, zk, ke, fe, coef_frac=frac, span=zspan - (frac - fe), select_ring=ke - frac,
                      power_bound=fe + 3 if _quadratics_right_of(exp_table, -8.0) else None,
                      grid=softmax_grid(exp_table, fe))
    else:
        e = exp_squaring(be, z, exp_table.n, exp_table.cutoff, ell, frac, span=zspan)
        e = be.ring_down(be.trunc_reduce(e, frac - fe, ell), ell - (frac - fe), ke)
    Rk = Ring(ke)
    den = Rk.reduce(np.sum(e, axis=-1, dtype=np.uint64))
    # den ≥ e^-(2^-max_frac) (the maximum's own term) and ≤ n·e^(2^-max_frac)
    rr = softmax_recip_ring()
    den = Ring(rr).mul_public(be.ring_up(den, ke, rr), 1 << (frac - fe))
    # r ≤ 1/0.83 (1 + a few ulps) < 2^(frac+1)
    r = be.reciprocal(den, softmax_den_lo(), softmax_den_hi(n), rr, frac)
    # fe + frac bits, ≤ 2^(fe+frac); the product's low fe bits are dropped next, so its Gilboa
    # fields may skip the lowest fe − 4 of them (error < 2(fe−4)·2^(fe−4) < 2^fe, zero mean)
    p = be.mul_rows(e, be.ring_down(r, rr, ke), ke, bound=frac + 1, drop=max(0, fe - 4))
    p = be.trunc_reduce(p, fe, ke)  # frac bits in ring ke − fe
    return be.ring_up(p, ke - fe, out_ell or ell)


def div_public(be: Backend, s: np.ndarray, n: int, s_bits: int, out_shift: int, ell: int) -> np.ndarray:
    """≈ s / (n · 2^out_shift) for values |s| < 2^s_bits, with a public integer n.

    s first loses ``a`` low bits, then is multiplied by c = round(2^m / n) ∈ [2^12, 2^13) and
    shifted by m − a + out_shift.  ``a`` is the least that keeps the product inside the ring's
    known-sign bound — 0 when the ring has room (the embedding's LayerNorm), which saves the first
    truncation and its round.  Error: the multiplier's relative 2^-13 plus 2^(a − out_shift)/n
    output units; raises if that exceeds 4 units.  One truncation, or two when a > 0.
    """
    R = Ring(ell)
    lg = n.bit_length()
    m = lg + 12
    c = _recip_const(n, m)
    a = max(0, s_bits + 15 - ell)
    if m - a + out_shift < 0 or (1 << max(0, a - out_shift)) > 4 * n:
        raise ValueError(f"div_public: ring {ell} too small for |s| < 2^{s_bits} / {n} (shift {out_shift})")
    t = be.trunc(R.reduce(s), a, ell) if a else R.reduce(s)
    return be.trunc(R.mul_public(t, c), m - a + out_shift, ell)


def layer_norm(be: Backend, x: np.ndarray, name: str, eps: float, ell: int, frac: int, *,
               x_bits: int = 9, var_bits: int = 8, var_range: tuple[float, float] | None = None) -> np.ndarray:
    """LayerNorm over the last axis with the server's γ (``name + '.g'``) and β (``name + '.b'``).

    Bounds (public, from calibration): |x| < 2^x_bits and the row variance < 2^var_bits; the
    variance is clamped to ``var_range`` (default [2^-10, 2^var_bits]) before rsqrt.  Ring
    ``ell`` must hold H·2^(x_bits+frac) (the row sum).  The centred values lose ``v`` fraction bits
    before squaring, v the least that keeps (2^(x_bits+1+frac−v))² below 2^(ell−2), so Σ d² fits.
    """
    R = Ring(ell)
    H = x.shape[-1]
    hb = (H - 1).bit_length()
    s = R.reduce(np.sum(x, axis=-1, dtype=np.uint64))
    mu = div_public(be, s, H, hb + x_bits + frac, 0, ell)
    d = R.sub(x, mu[..., None])
    v = max(0, -((ell - 2 - 2 * (x_bits + 1 + frac)) // 2))
    if 2 * v > frac:
        raise ValueError(f"layer_norm: ring {ell} too small for |x| < 2^{x_bits} at {frac} fraction bits")
    ds = be.trunc(d, v, ell) if v else d
    # |d| < 2^(x_bits + 1): the bounded squaring takes ~21-bit shares instead of ell-bit ones
    sq = be.square(ds, ell, bound=x_bits + 1 + frac - v)  # 2(frac - v) fraction bits
    ssum = R.reduce(np.sum(sq, axis=-1, dtype=np.uint64))
    var = div_public(be, ssum, H, hb + var_bits + 2 * (frac - v), frac - 2 * v, ell)
    lo, hi = var_range if var_range is not None else (2.0**-10, 2.0**var_bits)
    # rsqrt clamps the variance to the promised range of its Newton iteration (a zero-variance
    # row gets lo; eps is below every calibrated variance and below the fixed-point resolution);
    # the clamp's comparisons join those of rsqrt's range normalisation
    r = be.rsqrt(var, lo, hi, ell, frac, clamp_span=var_bits + frac)  # ≤ 1/√lo (+ Newton's overshoot)
    r_bound = frac + 2 + max(0, math.ceil(-0.5 * math.log2(lo)))
    # the product's low frac bits are truncated next: its Gilboa fields skip the lowest frac − 5
    # (error < 2(frac−5)·2^(frac−5) ≤ 2^(frac−1), zero mean)
    n = be.trunc(be.mul_rows(d, r, ell, bound=r_bound, drop=max(0, frac - 5)), frac, ell)
    y = be.trunc(be.mul_server(name + ".g", n, ell), frac, ell)
    return R.add(y, be.server_const(name + ".b", ell))

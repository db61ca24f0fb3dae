"""Fixed-point simulator: the secure evaluation of a piecewise polynomial, in plaintext, bit for bit.

Values live in the ring Z_{2^ell} (numpy ``uint64``, bits above ell cleared) as two's-complement
fixed point with ``frac`` fractional bits, exactly as the shares reconstruct in ``protocols/``.
Every multiplication is a ring multiplication (mod 2^ell, so overflow wraps exactly as it would on
shares) and every truncation follows one rule, :func:`trunc`:

* ``"floor"``: floor(v / 2^s) of the *signed* value v, i.e. an arithmetic right shift — the
  bit-exact reference (``trunc_a(mode="exact")`` in ``protocols/trunc.py``, and the rule of the
  plaintext simulator ``nn.backend.SimBackend``).
* ``"prob"``: floor(v / 2^s) + e with e in {0, 1} and P(e = 1) = (v mod 2^s) / 2^s — the ±1-ulp,
  unbiased (stochastic-rounding) result of truncating random additive shares: SecureML's local
  shift floor(a/2^s) - floor(b/2^s) with a - b = v and a uniform, and Cheetah's faithful truncation
  (``protocols/trunc.py``: both ``trunc_mode="faithful"`` and ``"probabilistic"`` return
  floor + {0, 1}, rounding up with probability ~ the fractional part).  The simulator draws e from
  a seeded numpy generator (``seed=``): same distribution as the secure run, not the same bits.

``trunc=None`` takes the rule from ``get_config().trunc_mode``: "faithful"/"probabilistic" ->
"prob", "exact" -> "floor".  Pass ``trunc="floor"`` for a bit-exact comparison with the simulator.

This module is plain numpy (no protocol imports) so ``approx`` stays below ``protocols``/``nn``.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

CHUNK = 1 << 15  # elements per working chunk (a few (degree+1) x CHUNK uint64 arrays ~ 1 MiB)


# --- ring helpers (same semantics as protocols.ring.Ring) -------------------------------------------
def _mask(ell: int) -> np.uint64:
    return np.uint64((1 << ell) - 1) if ell < 64 else np.uint64(0xFFFFFFFFFFFFFFFF)


def reduce(x, ell: int) -> np.ndarray:
    """Anything integer (int64 two's complement or uint64) -> ring element in uint64."""
    x = np.asarray(x)
    if x.dtype != np.uint64:
        x = x.astype(np.int64).view(np.uint64)
    return x & _mask(ell) if ell < 64 else x


def to_signed(x, ell: int) -> np.ndarray:
    x = np.asarray(x, dtype=np.uint64)
    if ell == 64:
        return x.view(np.int64)
    sh = np.uint64(64 - ell)
    return (x << sh).view(np.int64) >> np.int64(64 - ell)


def encode(v, ell: int, frac: int) -> np.ndarray:
    """Real -> ring: round(v * 2^frac) mod 2^ell (round half to even, like ``Ring.encode``)."""
    s = np.rint(np.asarray(v, dtype=np.float64) * float(1 << frac))
    bound = 2.0 ** (ell - 1)
    if np.any((s >= bound) | (s < -bound)):
        raise OverflowError(f"fixed-point encode: value outside the signed {ell}-bit range at frac={frac}")
    return reduce(s.astype(np.int64), ell)


def decode(x, ell: int, frac: int) -> np.ndarray:
    return to_signed(x, ell).astype(np.float64) / float(1 << frac)


def ring_const(c: int, ell: int) -> np.uint64:
    """A signed Python int as a ring element."""
    return np.uint64(c % (1 << ell)) if ell < 64 else np.uint64(c % (1 << 64))


def trunc_ring(x, s: int, ell: int, mode: str = "floor", rng: np.random.Generator | None = None) -> np.ndarray:
    """Truncate ring elements by ``s`` bits with the secure ``trunc_a`` rule (see module docstring)."""
    if s == 0:
        return reduce(x, ell)
    v = to_signed(x, ell)
    out = v >> np.int64(s)
    if mode == "prob":
        if rng is None:
            raise ValueError("probabilistic truncation needs an rng")
        low = (v & np.int64((1 << s) - 1)).astype(np.int64)
        u = rng.integers(0, 1 << s, size=v.shape, dtype=np.int64)
        out = out + (u < low).astype(np.int64)
    elif mode != "floor":
        raise ValueError(f"unknown truncation mode {mode!r} (floor|prob)")
    return reduce(out, ell)


def trunc_mode_from_config() -> str:
    try:  # lazy: approx must not import protocols at module level
        from protocols.config import get_config
    except ImportError:  # pragma: no cover
        return "floor"
    return "floor" if get_config().trunc_mode == "exact" else "prob"


def _resolve(trunc_mode: str | None, seed) -> tuple[str, np.random.Generator | None]:
    mode = trunc_mode_from_config() if trunc_mode is None else trunc_mode
    aliases = {"exact": "floor", "faithful": "prob", "probabilistic": "prob"}
    mode = aliases.get(mode, mode)
    if mode not in ("floor", "prob"):
        raise ValueError(f"unknown truncation mode {trunc_mode!r}")
    return mode, (np.random.default_rng(seed) if mode == "prob" else None)


# --- powers ----------------------------------------------------------------------------------------
def power_plan(degree: int, rule: str = "sequential") -> list[tuple[int, int, int]]:
    """Which products make x^2 .. x^degree: a list of (k, a, b) with x^k = trunc(x^a * x^b).

    ``"sequential"`` (default): x^k = trunc(x^(k-1) * x) — depth degree-1.
    ``"square"``: x^k = trunc(x^ceil(k/2) * x^floor(k/2)) — depth ceil(log2 degree).
    Both coincide up to degree 3.
    """
    plan = []
    for k in range(2, degree + 1):
        if rule == "sequential":
            plan.append((k, k - 1, 1))
        elif rule == "square":
            plan.append((k, (k + 1) // 2, k // 2))
        else:
            raise ValueError(f"unknown power rule {rule!r}")
    return plan


def powers_fixed(x, degree: int, ell: int, frac: int, mode: str = "floor", rng=None,
                 rule: str = "sequential") -> list[np.ndarray]:
    """[x^0 (=2^frac), x, x^2, ..., x^degree] in the ring, each at frac bits, by :func:`power_plan`."""
    x = reduce(x, ell)
    pw: list[np.ndarray] = [np.full(x.shape, ring_const(1 << frac, ell), dtype=np.uint64), x]
    pw += [None] * (degree - 1)  # type: ignore[list-item]
    for k, a, b in power_plan(degree, rule):
        prod = reduce(np.multiply(pw[a], pw[b], dtype=np.uint64), ell)
        pw[k] = trunc_ring(prod, frac, ell, mode, rng)
    return pw[: degree + 1]


def _combine(pw: Sequence[np.ndarray], coeffs: Sequence[int], ell: int) -> np.ndarray:
    """sum_{k>=1} coeffs[k] * x^k in the ring (the k = 0 term is added by the caller)."""
    acc = np.zeros(pw[1].shape, dtype=np.uint64)
    for k in range(1, len(coeffs)):
        if coeffs[k]:
            acc = acc + np.multiply(pw[k], ring_const(coeffs[k], ell), dtype=np.uint64)
    return reduce(acc, ell)


# --- the evaluator ---------------------------------------------------------------------------------
def evaluate_fixed(table, x_ring, ell: int, frac: int, trunc: str | None = None, *, seed=0,
                   method: str = "power", power_rule: str = "sequential") -> np.ndarray:
    """Evaluate a :class:`~approx.tables.PiecewisePoly` on ring inputs exactly as the secure layer does.

    Inputs: ``x_ring`` — ring elements (uint64, or signed int64 integers) encoding x with ``frac``
    fractional bits in Z_{2^ell}.  Output: ring elements (uint64) encoding the result with ``frac``
    bits.  ``trunc``: ``"floor"`` | ``"prob"`` (None: from ``get_config().trunc_mode``, see the
    module docstring; the secure protocol's default truncation corresponds to ``"prob"``).

    Exact order of operations (``method="power"``, the default; the secure layer matches this):

    1. Encodings: ``F = table.fixed(frac)``; B_i = round(b_i 2^f), C_ik = round(c_ik 2^f) (half to
       even, as ``numpy.rint``); all arithmetic mod 2^ell.
    2. Powers, shared by all pieces, for k = 2..D (D = highest degree of any piece):
       X_k = trunc_f(X_a * X_b) with (a, b) from :func:`power_plan` (``power_rule``; default
       X_k = trunc_f(X_{k-1} * X)).  X_1 = X, X_0 = 2^f.
    3. Each piece i:
       * non-integer coefficients: T_i = trunc_f( sum_{k>=1} C_ik * X_k ) + C_i0
         (mul by a public integer, sum, ONE truncation; adding C_i0 after the truncation equals
         adding C_i0 * 2^f before it, for both truncation rules);
       * integer coefficients (e.g. the identity piece x, or 0): T_i = sum_{k>=1} c_ik * X_k + c_i0 2^f,
         exact, no truncation.
    4. Selection: beta_i = [X >= B_i] = [signed(X - B_i mod 2^ell) >= 0] (one comparison / DReLU
       per finite breakpoint; beta_0 = 1 when b_0 = -inf), and
       result = sum_i beta_i * (T_i - T_{i-1}),  T_{-1} = 0   (multiplexers, exact).

    Why the differences are taken *after* truncation: for x in piece j the sum telescopes to T_j
    exactly in the ring, so powers that overflowed for an |x| far outside a piece (e.g. X_3 for
    x = 40 at ell=32, f=13) only garble the T_i that cancel.  The caller must make sure that, for x
    inside each piece, |x^k| 2^(2f) < 2^(ell-1) for the powers that piece uses (see
    :func:`approx.fit.piece_fits_ring`), and that |X - B_i| < 2^(ell-1).

    ``method="horner"`` evaluates each non-integer piece as acc = C_d; acc = trunc_f(acc * X) + C_k
    for k = d-1..0 (one truncation per multiplication), then selects the same way.
    """
    mode, rng = _resolve(trunc, seed)
    F = table.fixed(frac)
    x = reduce(np.asarray(x_ring), ell)
    shape = x.shape
    x = x.reshape(-1)
    out = np.empty_like(x)
    nonint = [i for i, ok in enumerate(F.integer_pieces) if not ok]
    D = max([len(F.pieces[i]) - 1 for i in nonint], default=1)
    D = max(D, max(len(p) - 1 for p in table.pieces))  # integer pieces may use higher powers too
    one_f = 1 << frac
    for s in range(0, x.size, CHUNK):
        xc = x[s: s + CHUNK]
        pw = powers_fixed(xc, max(D, 1), ell, frac, mode, rng, power_rule) if method == "power" else None
        T: list[np.ndarray] = []
        for i in range(len(table.pieces)):
            if F.integer_pieces[i]:
                ci = F.int_pieces[i]
                if pw is None:  # horner mode: integer pieces still use exact powers (x, x^2 ...)
                    pw = powers_fixed(xc, max(D, 1), ell, frac, mode, rng, power_rule)
                t = reduce(_combine(pw, ci, ell) + ring_const(ci[0] * one_f, ell), ell)
            elif method == "power":
                ci = F.pieces[i]
                t = reduce(trunc_ring(_combine(pw, ci, ell), frac, ell, mode, rng) + ring_const(ci[0], ell), ell)
            elif method == "horner":
                ci = F.pieces[i]
                acc = np.full(xc.shape, ring_const(ci[-1], ell), dtype=np.uint64)
                for k in range(len(ci) - 2, -1, -1):
                    prod = reduce(np.multiply(acc, xc, dtype=np.uint64), ell)
                    acc = reduce(trunc_ring(prod, frac, ell, mode, rng) + ring_const(ci[k], ell), ell)
                t = acc
            else:
                raise ValueError(f"unknown method {method!r} (power|horner)")
            T.append(t)
        res = np.zeros_like(xc)
        prev = np.zeros_like(xc)
        for i, b in enumerate(F.breakpoints):
            diff = reduce(T[i] - prev, ell)
            if b is None:
                res = res + diff
            else:
                beta = to_signed(reduce(xc - ring_const(b, ell), ell), ell) >= 0
                res = res + diff * beta.astype(np.uint64)
            prev = T[i]
        out[s: s + CHUNK] = reduce(res, ell)
    return out.reshape(shape)


def evaluate_fixed_real(table, x, ell: int, frac: int, trunc: str | None = None, **kw) -> np.ndarray:
    """Convenience: encode real x, run :func:`evaluate_fixed`, decode."""
    return decode(evaluate_fixed(table, encode(x, ell, frac), ell, frac, trunc, **kw), ell, frac)


def max_safe_abs(ell: int, frac: int, degree: int) -> float:
    """Largest |x| whose powers up to ``degree`` never overflow before truncation:
    |x|^k 2^(2 frac) < 2^(ell-1) for every k <= degree."""
    if degree <= 1:
        return 2.0 ** (ell - 1 - frac)  # x itself (and c * x at 2f is the caller's concern)
    return 2.0 ** ((ell - 1 - 2 * frac) / degree) if ell - 1 - 2 * frac >= 0 else 0.0


trunc = trunc_ring  # public alias (inside evaluate_fixed the name ``trunc`` is the mode argument)

__all__ = ["reduce", "to_signed", "encode", "decode", "trunc", "trunc_ring", "power_plan", "powers_fixed",
           "evaluate_fixed", "evaluate_fixed_real", "max_safe_abs"]

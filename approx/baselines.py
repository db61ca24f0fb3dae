"""Baselines to compare against, evaluated by the same code paths as our tables.

* :func:`bumblebee_gelu` — BumbleBee's GELU *shape* (ePrint version; DESIGN.md section 4):
  0 for x < -5; a cubic on [-5, -1.97); an even degree-6 polynomial (plus the odd term x/2 that
  GELU(x) = x/2 + x/2 erf(x/sqrt 2) carries exactly) on [-1.97, 3); x from 3 on.  The coefficients
  are fitted *here* by uniform-weight least squares on those intervals (published coefficient
  tables are not copied).  It is a :class:`~approx.tables.PiecewisePoly`, so float and fixed-point
  evaluation are the same functions as for our fits.
* :class:`ExpSquaring` — exp(x) ~ (1 + x/2^n)^(2^n) for x >= -14, 0 below (SPU / BumbleBee), with
  n from ``get_config().exp_squarings`` by default.  Its fixed-point twin uses the same ring, the
  same truncation rule and the same comparison as :func:`approx.fixed.evaluate_fixed`.
"""
from __future__ import annotations

import numpy as np

from . import fixed as fx
from .fit import IDENTITY, Piece, lstsq_poly, poly
from .functions import gelu
from .tables import PiecewisePoly

BUMBLEBEE_GELU_BREAKS = (-5.0, -1.97, 3.0)


def bumblebee_gelu(points_per_unit: int = 20000) -> PiecewisePoly:
    """BumbleBee-shaped GELU, coefficients by uniform least squares on each interval."""
    a, b, c = BUMBLEBEE_GELU_BREAKS
    shapes = [poly(3), Piece(powers=(0, 2, 4, 6), fixed=((1, 0.5),)), IDENTITY]
    intervals = [(a, b), (b, c), (c, None)]
    pieces = []
    for pc, (lo, hi) in zip(shapes, intervals):
        if hi is None:
            pieces.append(pc.fixed_coeffs().tolist())
            continue
        n = int((hi - lo) * points_per_unit)
        x = lo + (np.arange(n) + 0.5) * (hi - lo) / n  # midpoints: uniform weight on [lo, hi)
        pieces.append(lstsq_poly(x, gelu(x), np.ones(n), pc).tolist())
    return PiecewisePoly(function="gelu", breakpoints=list(BUMBLEBEE_GELU_BREAKS), pieces=pieces,
                         model="bumblebee-baseline",
                         fit={"shape": "0|p3|p6{0,2,4,6}+x/2|x", "method": "uniform least squares per interval",
                              "source": "BumbleBee (ePrint) piece layout; coefficients fitted here"})


def _default_n() -> int:
    try:
        from protocols.config import get_config  # lazy: approx stays below protocols
    except ImportError:  # pragma: no cover
        return 8
    return get_config().exp_squarings


class ExpSquaring:
    """exp(x) ~ (1 + x/2^n)^(2^n) for x >= cutoff, 0 below; meant for x <= 0 (after max subtraction).

    Secure cost: one comparison ([x >= cutoff]) and one multiplexer, one truncation by n (x/2^n),
    n squarings each a mul_aa + truncation.
    """

    function = "exp"

    def __init__(self, n: int | None = None, cutoff: float = -14.0):
        self.n = _default_n() if n is None else int(n)
        self.cutoff = float(cutoff)
        self.breakpoints = [self.cutoff]

    def describe(self) -> str:
        return f"exp-by-squaring n={self.n}, 0 below {self.cutoff}"

    def evaluate_float(self, x) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        y = 1.0 + x / 2.0 ** self.n
        for _ in range(self.n):
            y = y * y
        return np.where(x >= self.cutoff, y, 0.0)

    def evaluate_fixed(self, x_ring, ell: int, frac: int, trunc: str | None = None, *, seed=0, **_) -> np.ndarray:
        """Order: U = trunc_n(X) + 2^f;  n times U = trunc_f(U * U);  result = [X >= B] * U with
        B = round(cutoff 2^f).  Same ring arithmetic and truncation rule as :mod:`approx.fixed`."""
        mode, rng = fx._resolve(trunc, seed)
        x = fx.reduce(np.asarray(x_ring), ell)
        u = fx.reduce(fx.trunc_ring(x, self.n, ell, mode, rng) + fx.ring_const(1 << frac, ell), ell)
        for _ in range(self.n):
            u = fx.trunc_ring(fx.reduce(np.multiply(u, u, dtype=np.uint64), ell), frac, ell, mode, rng)
        b = fx.ring_const(int(np.rint(self.cutoff * (1 << frac))), ell)
        beta = fx.to_signed(fx.reduce(x - b, ell), ell) >= 0
        return fx.reduce(u * beta.astype(np.uint64), ell)

    def secure_cost(self, ell: int = 32) -> dict[str, float]:
        from .fit import cmp_bits, mux_bits, square_bits, trunc_bits

        n_mul, n_trunc, n_cmp = self.n, self.n + 1, 1
        bits = cmp_bits(n_cmp) + n_mul * square_bits(ell) + n_trunc * trunc_bits(ell) + mux_bits(ell)
        return {"comparisons": n_cmp, "mul_aa": n_mul, "trunc": n_trunc, "mux": 1, "est_bits": float(bits)}

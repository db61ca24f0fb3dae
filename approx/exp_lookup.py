"""exp by lookup (softmax's exp in the secure run): exact up to fixed-point rounding, no polynomial.

e^x = e^(H·Δ) · e^(L_0/2^f) · e^(L_1/2^f) on the two shares of x (``protocols/exp_lut.py``): one
lookup on the coarse part H (2^m entries on a grid of step Δ = 2^-g, the owner's low factor folded
into its entries) and one multiplication by the chooser's low factor.  The window of the lookup,
[lo·Δ, (top + 1)·Δ) with lo = top − 2^m + 1, is where the calibrated inputs are (after max
subtraction softmax's inputs are ≤ 2^-3, and e^x below the window is at most e^(lo·Δ)): below it
the result is 0.  Which of the two grid values the coarse part takes depends on the shares, so
inputs in [lo·Δ, (lo + 1)·Δ) are cut or kept at random; the float and fixed-point twins here take
the expected rule (kept from (lo + ½)·Δ on).

:func:`ExpLookup.cutoff_error` gives the error the window costs on recorded inputs, and
:func:`choose_index_bits` the smallest window meeting a target — the distribution-aware part.
"""
from __future__ import annotations

import numpy as np

from . import fixed as fx


def _knob(name: str, default: int) -> int:
    try:
        from protocols.config import get_config  # lazy: approx stays below protocols
    except ImportError:  # pragma: no cover
        return default
    return int(get_config().get(name, default))


class ExpLookup:
    """Parameters of the lookup exp: grid 2^-``grid_frac``, 2^``index_bits`` entries, entries with
    ``value_frac`` fraction bits, the chooser's factor with ``corr_frac`` (config knobs
    ``exp_lut_grid_frac`` 0, ``exp_lut_index_bits`` 3, ``exp_lut_value_frac`` 12,
    ``exp_lut_corr_frac`` 11 by default)."""

    function = "exp"

    def __init__(self, grid_frac: int | None = None, index_bits: int | None = None, value_frac: int | None = None,
                 corr_frac: int | None = None):
        self.grid_frac = _knob("exp_lut_grid_frac", 0) if grid_frac is None else int(grid_frac)
        self.index_bits = _knob("exp_lut_index_bits", 3) if index_bits is None else int(index_bits)
        self.value_frac = _knob("exp_lut_value_frac", 12) if value_frac is None else int(value_frac)
        self.corr_frac = _knob("exp_lut_corr_frac", 11) if corr_frac is None else int(corr_frac)
        if not 1 <= self.index_bits <= 8:
            raise ValueError(f"exp lookup: index_bits={self.index_bits} must be in 1..8")

    def lo(self, top: int = 0) -> int:
        """First grid value of the window whose last is ``top``."""
        return top - (1 << self.index_bits) + 1

    def cutoff(self, top: int = 0) -> float:
        """Expected cutoff (lo + ½)·Δ; the secure run cuts somewhere in [lo·Δ, (lo + 1)·Δ)."""
        return (self.lo(top) + 0.5) * 2.0 ** -self.grid_frac

    def describe(self) -> str:
        return (f"exp by lookup: {1 << self.index_bits} entries on a 2^-{self.grid_frac} grid, "
                f"0 below {self.cutoff():g} (±{2.0 ** -self.grid_frac / 2:g})")

    def evaluate_float(self, x, top: int = 0) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        return np.where(x >= self.cutoff(top), np.exp(np.minimum(x, 60.0)), 0.0)

    def evaluate_fixed(self, x_ring, ell: int, frac: int, *, top: int = 0, **_) -> np.ndarray:
        """The nearest fixed-point value of :meth:`evaluate_float` in ring ``ell`` (the secure
        run is within a few units of it: the entries', the factor's and the truncation's rounding)."""
        x = fx.to_signed(fx.reduce(np.asarray(x_ring), ell), ell) / 2.0 ** frac
        y = np.rint(self.evaluate_float(x, top) * 2.0 ** frac).astype(np.int64)
        return fx.reduce(y.astype(np.uint64), ell)

    def cutoff_error(self, samples, top: int = 0) -> dict[str, float]:
        """Mean and max of e^x over the recorded inputs the window cuts (worst case: every input
        below (lo + 1)·Δ cut)."""
        x = np.asarray(samples, dtype=np.float64).reshape(-1)
        lost = np.where(x < (self.lo(top) + 1) * 2.0 ** -self.grid_frac, np.exp(np.minimum(x, 0.0)), 0.0)
        return {"mean": float(lost.mean()) if x.size else 0.0, "max": float(lost.max(initial=0.0))}


def choose_index_bits(samples, target_mean: float, grid_frac: int = 0, top: int = 0, max_bits: int = 8) -> int:
    """The smallest window (index bits) whose worst-case cutoff error on ``samples`` has mean ≤
    ``target_mean`` — each extra bit doubles the lookup's entries."""
    for m in range(1, max_bits + 1):
        if ExpLookup(grid_frac=grid_frac, index_bits=m).cutoff_error(samples, top)["mean"] <= target_mean:
            return m
    return max_bits

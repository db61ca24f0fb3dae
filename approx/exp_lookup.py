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

    def evaluate_fixed(self, x_ring, ell: int, frac: int, trunc: str | None = None, *, top: int = 0, seed=0,
                       **_) -> np.ndarray:
        """Fixed point in ring ``ell`` at ``frac`` bits.  ``trunc`` "floor"/None: the nearest
        value of :meth:`evaluate_float` (the simulator's rule); "prob": the secure arithmetic on a
        random split of x into two shares (``protocols.exp_lut.exp_lut_ideal``: the entries' and
        the factor's rounding, the cutoff the split decides, the truncation's {0, +1})."""
        x = fx.reduce(np.asarray(x_ring), ell)
        if trunc != "prob":
            y = np.rint(self.evaluate_float(fx.to_signed(x, ell) / 2.0 ** frac, top) * 2.0 ** frac).astype(np.int64)
            return fx.reduce(y.astype(np.uint64), ell)
        from protocols.exp_lut import exp_lut_ideal  # lazy: approx stays below protocols

        rng = np.random.default_rng(seed)  # simulation of the shares, not protocol randomness
        z0 = fx.reduce(rng.integers(0, 2**63, x.shape, dtype=np.uint64), ell)
        z1 = fx.reduce(x - z0, ell)
        prod, rem, keep = exp_lut_ideal(z0, z1, k=ell, frac=frac, grid_frac=self.grid_frac, m=self.index_bits,
                                   lo=self.lo(top), value_frac=self.value_frac, corr_frac=self.corr_frac,
                                   owner0=rng.random(x.shape) < 0.5)
        y = np.where(keep, prod + (rng.random(x.shape) < rem), 0)
        return fx.reduce(y.astype(np.uint64), ell)

    def secure_cost(self, ell: int = 32) -> dict[str, float]:
        """Per element in softmax's exp ring (10 fraction bits, span 2^8): one comparison (with
        the lookup), no product, no truncation round, one multiplexer; bits from
        ``protocols.exp_lut.exp_lut_cost``."""
        from protocols.exp_lut import exp_lut_cost

        f, n = 10, 1 << 12
        s = f - self.grid_frac
        kc = ((1 << max(0, 8 + 1 - self.grid_frac)) + (1 << self.index_bits)).bit_length() + 1
        c = exp_lut_cost(n, k=26, frac=f, grid_frac=self.grid_frac, m=self.index_bits, kc=min(26 - s, kc),
                         value_frac=self.value_frac, corr_frac=self.corr_frac)
        return {"comparisons": 1, "mul_aa": 0, "trunc": 0, "mux": 1,
                "est_bits": 8.0 * (c["bytes_0to1"] + c["bytes_1to0"]) / n}

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

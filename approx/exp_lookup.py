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

import json
from pathlib import Path

import numpy as np

from . import fixed as fx

FORMAT = "party-exp-lookup"
FILE_STEM = "exp-lookup"  # approx/tables/<model>/exp-lookup.v<N>.json
PARAMS = ("grid_frac", "index_bits", "value_frac", "corr_frac")
DEFAULTS = {"grid_frac": 0, "index_bits": 3, "value_frac": 12, "corr_frac": 11}


def _knob(name: str, default):
    try:
        from protocols.config import get_config  # lazy: approx stays below protocols
    except ImportError:  # pragma: no cover
        return default
    v = get_config().get(name, default)
    return default if v is None else int(v)


class ExpLookup:
    """Parameters of the lookup exp: grid 2^-``grid_frac``, 2^``index_bits`` entries, entries with
    ``value_frac`` fraction bits, the chooser's factor with ``corr_frac`` (config knobs
    ``exp_lut_grid_frac`` 0, ``exp_lut_index_bits`` 3, ``exp_lut_value_frac`` 12,
    ``exp_lut_corr_frac`` 11 by default)."""

    function = "exp"

    def __init__(self, grid_frac: int | None = None, index_bits: int | None = None, value_frac: int | None = None,
                 corr_frac: int | None = None):
        given = {"grid_frac": grid_frac, "index_bits": index_bits, "value_frac": value_frac, "corr_frac": corr_frac}
        for name in PARAMS:
            v = given[name]
            setattr(self, name, _knob(f"exp_lut_{name}", DEFAULTS[name]) if v is None else int(v))
        if not 1 <= self.index_bits <= 8:
            raise ValueError(f"exp lookup: index_bits={self.index_bits} must be in 1..8")
        self.model, self.version, self.info = "", None, {}

    # --- versioned files next to the model's tables ------------------------------------------
    def to_json(self) -> dict:
        return {"format": FORMAT, "format_version": 1, "function": "exp", "model": self.model,
                "version": self.version, **{k: getattr(self, k) for k in PARAMS}, **self.info}

    def save(self, path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_json(), indent=1, allow_nan=False) + "\n")
        return path

    @classmethod
    def load(cls, path) -> "ExpLookup":
        """A saved window; config knobs ``exp_lut_*``, when set, still override its parameters."""
        d = json.loads(Path(path).read_text())
        if d.get("format") != FORMAT or d.get("format_version") != 1:
            raise ValueError(f"{path}: not a {FORMAT} v1 file")
        kw = {}
        for k in PARAMS:
            v = _knob(f"exp_lut_{k}", None)
            kw[k] = int(d[k]) if v is None else v
        t = cls(**kw)
        t.model, t.version = d.get("model", ""), d.get("version")
        t.info = {k: v for k, v in d.items() if k not in (*PARAMS, "format", "format_version", "function", "model",
                                                           "version")}
        return t

    def digest(self) -> str:
        """Hash of what the protocol depends on (its four parameters)."""
        import hashlib

        blob = json.dumps({"f": "exp-lookup", **{k: getattr(self, k) for k in PARAMS}}, sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]

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
        from protocols.exp_lut import comparison_ring, exp_lut_cost

        k, f, n = 26, 10, 1 << 12
        kc = comparison_ring(k, f, self.grid_frac, self.index_bits, 8 + f)
        c = exp_lut_cost(n, k=k, frac=f, grid_frac=self.grid_frac, m=self.index_bits, kc=kc,
                         value_frac=self.value_frac, corr_frac=self.corr_frac)
        return {"comparisons": 1, "mul_aa": 0, "trunc": 0, "mux": 1,
                "est_bits": 8.0 * (c["bytes_0to1"] + c["bytes_1to0"]) / n}

    def cutoff_error(self, samples, top: int = 0) -> dict[str, float]:
        """Mean and max of e^x over the recorded inputs the window cuts (worst case: every input
        below (lo + 1)·Δ cut)."""
        x = np.asarray(samples, dtype=np.float64).reshape(-1)
        lost = np.where(x < (self.lo(top) + 1) * 2.0 ** -self.grid_frac, np.exp(np.minimum(x, 0.0)), 0.0)
        return {"mean": float(lost.mean()) if x.size else 0.0, "max": float(lost.max(initial=0.0))}


def for_model(model: str, root=None) -> ExpLookup:
    """The newest saved window of ``model`` (``party calibrate``), else the defaults."""
    from .tables import TABLES_DIR, table_path

    try:
        return ExpLookup.load(table_path(model, FILE_STEM, None, root if root is not None else TABLES_DIR))
    except FileNotFoundError:
        return ExpLookup()


def calibrate_lookup(samples, baseline_mean: float, *, target_ratio: float = 0.5, held_out=None) -> ExpLookup:
    """Choose the window on recorded inputs: the fewest index bits whose worst-case cutoff error
    (mean over ``samples``) stays below ``target_ratio`` × the baseline's mean error, so the window
    adds less than the rounding it competes with."""
    target = target_ratio * baseline_mean
    t = ExpLookup(index_bits=choose_index_bits(samples, target))
    t.info = {"selection": {"rule": "fewest index bits with worst-case cutoff mean <= target",
                            "target": target, "target_ratio": target_ratio, "baseline_mean_abs": baseline_mean},
              "errors": {"cutoff_calibration": t.cutoff_error(samples)}}
    if held_out is not None:
        t.info["errors"]["cutoff_held_out"] = t.cutoff_error(held_out)
    return t


def choose_index_bits(samples, target_mean: float, grid_frac: int = 0, top: int = 0, max_bits: int = 8) -> int:
    """The smallest window (index bits) whose worst-case cutoff error on ``samples`` has mean ≤
    ``target_mean`` — each extra bit doubles the lookup's entries."""
    for m in range(1, max_bits + 1):
        if ExpLookup(grid_frac=grid_frac, index_bits=m).cutoff_error(samples, top)["mean"] <= target_mean:
            return m
    return max_bits

"""Reference (float64) functions that the tables approximate, and their default ranges.

``FULL_RANGE`` is the interval over which the worst-case error of a table is bounded: wide enough
to contain every input the model can produce in the non-linear ring at the configured precision
that matters (beyond it the zero / identity pieces are exact up to a vanishing tail).
"""
from __future__ import annotations

import math

import numpy as np

_erf = np.frompyfunc(math.erf, 1, 1)


def erf(x) -> np.ndarray:
    """Error function, float64 (libm's ``erf`` element-wise; scipy is not a dependency)."""
    x = np.asarray(x, dtype=np.float64)
    return np.asarray(_erf(x), dtype=np.float64)


def gelu(x) -> np.ndarray:
    """Exact GELU (BERT's ``gelu``): x * Phi(x) = x/2 * (1 + erf(x/sqrt 2))."""
    x = np.asarray(x, dtype=np.float64)
    return 0.5 * x * (1.0 + erf(x / math.sqrt(2.0)))


def exp(x) -> np.ndarray:
    return np.exp(np.asarray(x, dtype=np.float64))


def recip(x) -> np.ndarray:
    return 1.0 / np.asarray(x, dtype=np.float64)


def rsqrt(x) -> np.ndarray:
    return 1.0 / np.sqrt(np.asarray(x, dtype=np.float64))


FUNCTIONS = {"gelu": gelu, "exp": exp, "recip": recip, "rsqrt": rsqrt}

# Declared input domains (None = unbounded): exp is only ever applied after max subtraction.
DOMAINS: dict[str, tuple[float | None, float | None]] = {
    "gelu": (None, None),
    "exp": (None, 0.0),
    "recip": (0.0, None),
    "rsqrt": (0.0, None),
}

# Interval for the worst-case bound of a table over "the whole range".
FULL_RANGE = {"gelu": (-32.0, 32.0), "exp": (-64.0, 0.0)}


def reference(name: str):
    try:
        return FUNCTIONS[name]
    except KeyError:
        raise KeyError(f"unknown function {name!r}; known: {sorted(FUNCTIONS)}") from None

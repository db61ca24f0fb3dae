"""Fixed-point helpers on arithmetic shares: defaults from the config, mul + trunc.

``mul_fx(mpc, x, y)`` = ``trunc_a(mul_aa(x, y), frac)`` — product of two fixed-point shares with
``frac`` fraction bits, result again with ``frac`` fraction bits.  Costs: :func:`mul_fx_cost`.
"""
from __future__ import annotations

import numpy as np

from .config import get_config


def ring_defaults(ell: int | None = None, frac: int | None = None) -> tuple[int, int]:
    """(ell, frac) with config defaults: the linear ring (ell, frac) unless ``ell`` is the
    configured non-linear ring, in which case ``frac_nl``."""
    cfg = get_config()
    if ell is None:
        ell = cfg.ell
    if frac is None:
        frac = cfg.frac_nl if (ell == cfg.ell_nl and ell != cfg.ell) else cfg.frac
    if not 1 <= ell <= 64:
        raise ValueError(f"ring size ell={ell} is outside 1..64")
    if not 0 <= frac <= max(ell - 2, 0):
        raise ValueError(f"frac={frac} must be in 0..ell-2 (ell={ell})")
    return ell, frac


def mul_fx(mpc, x, y, *, ell: int | None = None, frac: int | None = None, mode: str | None = None,
           bounded: bool = True, bound: int | None = None) -> np.ndarray:
    """Fixed-point product of shares: ``trunc_a(mul_aa(x, y), frac)``.

    Inputs: shares ``x, y`` (same shape) of fixed-point values with ``frac`` fraction bits.
    Output: shares of ``floor(x·y / 2^frac)`` up to the truncation error of ``mode`` (faithful:
    0..+1 ulp, stochastic rounding).  ``bounded`` promises |x·y| < 2^(ell−2) (known-sign truncation);
    ``bound=b`` promises |x|, |y| < 2^b (ring units) for the cheaper bounded product of
    :func:`protocols.mul.mul_aa`.
    Rounds/traffic: :func:`protocols.mul.mul_aa_cost` + :func:`protocols.trunc.trunc_cost`.
    """
    from .mul import mul_aa
    from .trunc import trunc_a

    ell, frac = ring_defaults(ell, frac)
    return trunc_a(mpc, mul_aa(mpc, x, y, ell=ell, bound=bound), frac, ell=ell, mode=mode, bounded=bounded)


def square_fx(mpc, x, *, ell: int | None = None, frac: int | None = None, mode: str | None = None,
              bounded: bool = True, bound: int | None = None) -> np.ndarray:
    """Fixed-point square of shares: ``trunc_a(square_a(x), frac)``."""
    from .mul import square_a
    from .trunc import trunc_a

    ell, frac = ring_defaults(ell, frac)
    return trunc_a(mpc, square_a(mpc, x, ell=ell, bound=bound), frac, ell=ell, mode=mode, bounded=bounded)


def mul_fx_cost(n: int, ell: int, frac: int, mode: str = "faithful", batch: int | None = None,
                bound: int | None = None, party: int = 0) -> dict:
    """Per-party payload bytes sent and rounds of :func:`mul_fx`."""
    from .mul import mul_aa_cost
    from .trunc import trunc_cost

    a = mul_aa_cost(n, ell, batch, bound=bound)
    b = trunc_cost(n, ell, frac, mode=mode, party=party, batch=batch)
    return {k: a[k] + b[k] for k in a}

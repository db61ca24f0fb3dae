"""The ring Z_{2^ell} on numpy ``uint64`` arrays and its fixed-point encoding.

Elements are held as ``uint64`` with the bits above ``ell`` cleared (for ``ell == 64`` numpy's
wrap-around is the reduction).  Signed values use two's complement inside the ring: x >= 2^(ell-1)
stands for x - 2^ell.  Fixed point with ``frac`` fractional bits encodes a real v as
round(v * 2^frac) mod 2^ell.

Additive sharing: x = x0 + x1 mod 2^ell.  Local operations (no communication): add/sub of shares,
multiplication by a public integer, adding a public constant (one party only).  Everything here is
vectorised; nothing loops over elements.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from .config import get_config
from .prg import PRG


@dataclass(frozen=True)
class Ring:
    ell: int

    def __post_init__(self) -> None:
        if not 1 <= self.ell <= 64:
            raise ValueError(f"ring size ell={self.ell} is outside 1..64")

    # --- constants -----------------------------------------------------------------------------
    @property
    def mask(self) -> np.uint64:
        return np.uint64((1 << self.ell) - 1) if self.ell < 64 else np.uint64(0xFFFFFFFFFFFFFFFF)

    @property
    def half(self) -> np.uint64:
        """2^(ell-1): the first negative value."""
        return np.uint64(1 << (self.ell - 1))

    @property
    def nbytes(self) -> int:
        """Bytes per element on the wire when packed tightly (see :meth:`pack`)."""
        return (self.ell + 7) // 8

    # --- reduction and signed views ------------------------------------------------------------
    def reduce(self, x) -> np.ndarray:
        x = np.asarray(x)
        if x.dtype != np.uint64:
            x = x.astype(np.int64).view(np.uint64) if x.dtype.kind == "i" else x.astype(np.uint64)
        if self.ell < 64:
            return x & self.mask
        return x

    def from_signed(self, x) -> np.ndarray:
        """int64 (two's complement) -> ring element."""
        return self.reduce(np.asarray(x, dtype=np.int64).view(np.uint64))

    def to_signed(self, x: np.ndarray) -> np.ndarray:
        """Ring element -> int64 in [-2^(ell-1), 2^(ell-1))."""
        x = np.asarray(x, dtype=np.uint64)
        if self.ell == 64:
            return x.view(np.int64)
        # sign-extend from bit ell-1
        shift = np.uint64(64 - self.ell)
        return ((x << shift).view(np.int64)) >> np.int64(64 - self.ell)

    # --- arithmetic (local, on shares or plaintexts) -------------------------------------------
    def add(self, a, b) -> np.ndarray:
        return self.reduce(np.add(a, b, dtype=np.uint64))

    def sub(self, a, b) -> np.ndarray:
        return self.reduce(np.subtract(a, b, dtype=np.uint64))

    def neg(self, a) -> np.ndarray:
        return self.reduce(np.negative(np.asarray(a, dtype=np.uint64)))

    def mul(self, a, b) -> np.ndarray:
        """Product mod 2^ell (uint64 multiplication wraps mod 2^64, then mask)."""
        return self.reduce(np.multiply(np.asarray(a, np.uint64), np.asarray(b, np.uint64), dtype=np.uint64))

    def mul_public(self, a, c) -> np.ndarray:
        """Multiply a share by a public integer (possibly negative)."""
        c = self.from_signed(np.asarray(c, dtype=np.int64))
        return self.mul(a, c)

    # --- fixed point ---------------------------------------------------------------------------
    def encode(self, v, frac: int) -> np.ndarray:
        """Real -> fixed point in the ring.  Values outside the representable range wrap; callers
        that care check with :meth:`fits`."""
        v = np.asarray(v, dtype=np.float64)
        scaled = np.rint(v * float(1 << frac))
        lim = float(2**63)
        if np.any((scaled >= lim) | (scaled < -lim)):
            raise OverflowError("fixed-point encode: value exceeds the int64 range")
        return self.from_signed(scaled.astype(np.int64))

    def decode(self, x, frac: int) -> np.ndarray:
        return self.to_signed(x).astype(np.float64) / float(1 << frac)

    def fits(self, v, frac: int) -> bool:
        bound = 2.0 ** (self.ell - 1 - frac)
        return bool(np.all(np.abs(np.asarray(v, dtype=np.float64)) < bound))

    # --- sharing -------------------------------------------------------------------------------
    def random(self, shape, prg: PRG | None = None) -> np.ndarray:
        return (prg or PRG()).uint64(shape, self.ell)

    def share(self, x, prg: PRG | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Split ring elements into two additive shares (x0 uniform)."""
        x = self.reduce(x)
        x0 = self.random(x.shape, prg)
        return x0, self.sub(x, x0)

    def reconstruct(self, x0, x1) -> np.ndarray:
        return self.add(x0, x1)

    # --- wire packing --------------------------------------------------------------------------
    def pack(self, x: np.ndarray) -> np.ndarray:
        """Tight little-endian packing: ceil(ell/8) bytes per element (uint8 array)."""
        x = np.ascontiguousarray(x, dtype=np.uint64)
        nb = self.nbytes
        if nb == 8:
            return x.reshape(-1).view(np.uint8)
        return x.reshape(-1).view(np.uint8).reshape(-1, 8)[:, :nb].reshape(-1).copy()

    def unpack(self, b: np.ndarray, shape) -> np.ndarray:
        nb = self.nbytes
        n = int(np.prod(shape)) if len(shape) else 1
        b = np.asarray(b, dtype=np.uint8)
        if b.size != n * nb:
            raise ValueError(f"unpack: {b.size} bytes for {n} elements of {nb} bytes")
        if nb == 8:
            return b.view(np.uint64).reshape(shape).copy()
        out = np.zeros((n, 8), dtype=np.uint8)
        out[:, :nb] = b.reshape(n, nb)
        return out.view(np.uint64).reshape(shape)


@lru_cache(maxsize=None)
def ring(ell: int | None = None) -> Ring:
    """The ring of the given size, or the configured linear ring."""
    return Ring(get_config().ell if ell is None else ell)


def encode(v, frac: int | None = None, ell: int | None = None) -> np.ndarray:
    cfg = get_config()
    return ring(ell or cfg.ell).encode(v, cfg.frac if frac is None else frac)


def decode(x, frac: int | None = None, ell: int | None = None) -> np.ndarray:
    cfg = get_config()
    return ring(ell or cfg.ell).decode(x, cfg.frac if frac is None else frac)

"""The negacyclic number-theoretic transform mod a prime q < 2^62 (q ≡ 1 mod 2N) and elementwise
products mod q, on batches of polynomials: the arithmetic of our batched BFV (:mod:`.simd_mul`).

``NttTable(q, n)`` holds psi^brv(k) (psi a primitive 2N-th root of unity mod q, brv the bit
reversal of log2 N bits) and the inverse powers, each with its Shoup quotient floor(w·2^64/q).

* :func:`ntt` — Cooley–Tukey, natural order in, bit-reversed order out: row i of the output is the
  evaluation of the polynomial at psi^(2·brv(i)+1).  A product of polynomials mod (X^N + 1, q) is the
  elementwise product of their transforms.
* :func:`intt` — its inverse (Gentleman–Sande, scaled by 1/N).
* :func:`mulmod` — a·b mod q elementwise (optionally accumulated into ``out``).

Each runs on the compiled kernels (:mod:`protocols.native`: lazy Harvey butterflies, Montgomery
products) when built, else on the numpy twins below (fully reduced butterflies, Shoup products
with 32-bit limbs): the outputs are identical.  Inputs and outputs are fully reduced, in [0, q).
Both transforms work in place on a C-contiguous uint64 array whose last axis has length N.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from .. import native
from .params import is_prime

U64 = np.uint64
_M32 = U64(0xFFFFFFFF)


def _bitrev(n: int) -> np.ndarray:
    """brv(k) for k < n (a power of two), as an index array (one pass per bit)."""
    bits = n.bit_length() - 1
    k = np.arange(n, dtype=np.int64)
    r = np.zeros(n, dtype=np.int64)
    for b in range(bits):
        r |= ((k >> b) & 1) << (bits - 1 - b)
    return r


def _powers(g: int, n: int, q: int) -> np.ndarray:
    """g^k mod q for k < n, by doubling (log2 n vectorised steps)."""
    out = np.ones(1, dtype=U64)
    while out.size < n:
        c = pow(g, out.size, q)
        out = np.concatenate([out, _mul_shoup(out, U64(c), U64((c << 64) // q), q)])
    return out[:n]


class NttTable:
    """Twiddle tables of the negacyclic NTT of length ``n`` mod the prime ``q``."""

    def __init__(self, q: int, n: int):
        if n < 2 or n & (n - 1):
            raise ValueError(f"NTT length {n} is not a power of two")
        if not (q < (1 << 62) and q % (2 * n) == 1 and is_prime(q)):
            raise ValueError(f"{q} is not a prime < 2^62 that is 1 mod 2N = {2 * n}")
        self.q, self.n = q, n
        psi = _root(q, n)
        brv = _bitrev(n)
        self.w = _powers(psi, n, q)[brv]
        self.wp = _quotient64(self.w, q)
        self.iw = _powers(pow(psi, -1, q), n, q)[brv]
        self.iwp = _quotient64(self.iw, q)
        self.ninv = pow(n, -1, q)
        self.ninvp = (self.ninv << 64) // q
        self.qneg_inv = (-pow(q, -1, 1 << 64)) % (1 << 64)
        self.r2 = pow(2, 128, q)


def _root(q: int, n: int) -> int:
    """The smallest primitive 2n-th root of unity mod q of the form g^((q−1)/2n)."""
    for g in range(2, 1 << 16):
        psi = pow(g, (q - 1) // (2 * n), q)
        if pow(psi, n, q) == q - 1:
            return psi
    raise ValueError(f"no primitive {2 * n}-th root of unity mod {q}")


@lru_cache(maxsize=None)
def table(q: int, n: int) -> NttTable:
    return NttTable(q, n)


# ------------------------------------------------------------------------------------------
# numpy twins
# ------------------------------------------------------------------------------------------
def mulhi(a: np.ndarray, b) -> np.ndarray:
    """High 64 bits of a·b elementwise for uint64 arrays or scalars (32-bit limbs, exact)."""
    a0, a1, b0, b1 = a & _M32, a >> U64(32), b & _M32, b >> U64(32)
    x, y = a1 * b0, a0 * b1
    mid = ((a0 * b0) >> U64(32)) + (x & _M32) + (y & _M32)
    return a1 * b1 + (x >> U64(32)) + (y >> U64(32)) + (mid >> U64(32))


def _mul_shoup(x: np.ndarray, w: np.ndarray, wp: np.ndarray, q: int) -> np.ndarray:
    """x·w mod q in [0, q) for x < 2^64 (Shoup: the quotient estimate is short by at most 1)."""
    r = x * w - mulhi(x, wp) * U64(q)
    return np.where(r >= U64(q), r - U64(q), r)


def _ntt_numpy(a: np.ndarray, t: NttTable) -> None:
    n, q = t.n, U64(t.q)
    rows = a.reshape(-1, n)
    m, h = 1, n // 2
    while m < n:
        v = rows.reshape(-1, m, 2, h)
        w, wp = t.w[m:2 * m, None], t.wp[m:2 * m, None]
        u, y = v[:, :, 0, :].copy(), _mul_shoup(v[:, :, 1, :], w, wp, t.q)
        s = u + y
        v[:, :, 0, :] = np.where(s >= q, s - q, s)
        v[:, :, 1, :] = np.where(u >= y, u - y, u + (q - y))
        m, h = 2 * m, h // 2


def _intt_numpy(a: np.ndarray, t: NttTable) -> None:
    n, q = t.n, U64(t.q)
    rows = a.reshape(-1, n)
    m, h = n // 2, 1
    while m >= 1:
        v = rows.reshape(-1, m, 2, h)
        w, wp = t.iw[m:2 * m, None], t.iwp[m:2 * m, None]
        u, y = v[:, :, 0, :].copy(), v[:, :, 1, :].copy()
        s = u + y
        v[:, :, 0, :] = np.where(s >= q, s - q, s)
        v[:, :, 1, :] = _mul_shoup(np.where(u >= y, u - y, u + (q - y)), w, wp, t.q)
        m, h = m // 2, 2 * h
    rows[:] = _mul_shoup(rows, U64(t.ninv), U64(t.ninvp), t.q)


def _check(a: np.ndarray, t: NttTable) -> None:
    if a.dtype != U64 or not a.flags.c_contiguous or a.shape[-1] != t.n:
        raise ValueError(f"NTT operand must be a C-contiguous uint64 array with last axis {t.n}")


def ntt(a: np.ndarray, t: NttTable) -> np.ndarray:
    """In place: the forward transform of every length-N row of ``a``; returns ``a``."""
    _check(a, t)
    if a.size:
        if native.kernels is not None:
            native.kernels.ntt_fwd(a, t.q, t.w, t.wp)
        else:
            _ntt_numpy(a, t)
    return a


def intt(a: np.ndarray, t: NttTable) -> np.ndarray:
    """In place: the inverse transform of every row of ``a``; returns ``a``."""
    _check(a, t)
    if a.size:
        if native.kernels is not None:
            native.kernels.ntt_inv(a, t.q, t.iw, t.iwp, t.ninv, t.ninvp)
        else:
            _intt_numpy(a, t)
    return a


def mulmod(a: np.ndarray, b: np.ndarray, t: NttTable, out: np.ndarray | None = None,
           accumulate: int = 0) -> np.ndarray:
    """a·b mod q elementwise for a, b in [0, q) (b broadcast to a's shape); ``accumulate`` = 1 adds
    it to ``out``, −1 subtracts it from ``out`` (mod q).  Returns ``out`` (new when None)."""
    a = np.ascontiguousarray(a, dtype=U64)
    b = np.asarray(b, dtype=U64)
    if out is None:
        out = np.zeros(a.shape, dtype=U64) if accumulate else np.empty(a.shape, dtype=U64)
    if native.kernels is not None and out.flags.c_contiguous:
        # a b of a's trailing shape (one polynomial for a batch) is read repeatedly by the kernel
        tail = b.shape == a.shape[a.ndim - b.ndim:] if b.ndim <= a.ndim else False
        bk = np.ascontiguousarray(b) if tail else np.ascontiguousarray(np.broadcast_to(b, a.shape))
        native.kernels.modvec(out, a, bk, t.q, t.qneg_inv, t.r2, int(accumulate))
        return out
    # numpy: Shoup with the quotient of b computed per element (of b itself, then broadcast)
    p = _mul_shoup(a, b, _quotient64(b, t.q), t.q)
    q = U64(t.q)
    if accumulate > 0:
        s = out + p
        p = np.where(s >= q, s - q, s)
    elif accumulate < 0:
        p = np.where(out >= p, out - p, out + (q - p))
    out[...] = p
    return out


def _quotient64(b: np.ndarray, q: int) -> np.ndarray:
    """Shoup quotients floor(b·2^64 / q) for b < q < 2^62 (Python integers in a numpy object
    array: the tables, once per modulus, and the products without the compiled kernels)."""
    return ((b.astype(object) << 64) // q).astype(U64)

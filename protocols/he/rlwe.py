"""RLWE (BFV-style, exact scale Delta = P) in numpy: keys, seeded encryption, exact products with
ternary polynomials, the client's multiply-accumulate as BLAS matrix products, packing, modulus
switching, flooding, decryption and a compact wire format.

Representation: a batch of polynomials mod Q = 2^ell * P is a pair ``(t, r)``:
``t`` uint64 ``(..., N)`` holds the residue mod 2^ell, ``r`` int64 ``(L, ..., N)`` the residues
mod each prime in [0, p).  See :mod:`protocols.he.params` for why Q is a multiple of t.

Secret key s: uniform ternary (as SEAL).  Errors: centred binomial with eta = 21 (sigma 3.24,
|e| <= 21).  The uniform ``a`` of every ciphertext is expanded from a 16-byte seed with AES-CTR
(:class:`protocols.prg.PRG`), so only ``b`` travels and is stored ("seeded ciphertexts").

Polynomial products here are always (arbitrary residues) x (small polynomial: ternary s or u, or
an error): the residues are split into balanced digits (<= 2^21), multiplied by a float64 FFT of
length N after the negacyclic twist psi^i, rounded (|coefficient| <= N * 2^21 = 2^34, far inside
float64 precision; the rounding distance is checked) and recombined mod each limb.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from .. import native
from ..channel import ProtocolError
from ..prg import PRG
from .params import DIGIT_BITS, ETA, MAX_INNER, MAX_INNER_T, HEParams

U64 = np.uint64
_DMASK = (1 << DIGIT_BITS) - 1
_DHALF = 1 << (DIGIT_BITS - 1)
A_CHUNK_ROWS = 64  # rows of ``a`` expanded from one derived seed (unit of streaming/resume)


def _mask(ell: int) -> np.uint64:
    return U64((1 << ell) - 1) if ell < 64 else U64(0xFFFFFFFFFFFFFFFF)


def lift_signed(x: np.ndarray, ell: int) -> np.ndarray:
    """Centred lift of x mod 2^ell to int64 in [-2^(ell-1), 2^(ell-1))."""
    x = np.asarray(x, dtype=U64)
    if ell == 64:
        return x.view(np.int64)
    x = x & _mask(ell)
    neg = (x >> U64(ell - 1)) & U64(1)
    return (x - (neg << U64(ell))).view(np.int64)


def centred(r: np.ndarray, p: int) -> np.ndarray:
    """Residues in [0, p) -> (-p/2, p/2] as float64 (exact: |value| < 2^20)."""
    return (r - p * (r > p // 2)).astype(np.float64)


def digits(x: np.ndarray, k: int) -> list[np.ndarray]:
    """Balanced base-2^22 digits (float64, |d| <= 2^21) with sum d_i 2^(22 i) = x mod 2^(22 k)."""
    u = np.array(x, dtype=U64, copy=True)
    out = []
    for _ in range(k):
        d = ((u + U64(_DHALF)) & U64(_DMASK)).view(np.int64) - _DHALF
        out.append(d.astype(np.float64))
        u = (u - d.view(U64)) >> U64(DIGIT_BITS)
    return out


# ----------------------------------------------------------------------------------------------
# sampling
# ----------------------------------------------------------------------------------------------
def sample_cbd(prg: PRG, shape) -> np.ndarray:
    """Centred binomial errors, eta = 21: popcount(21 bits) - popcount(21 bits), int64."""
    u = prg.uint64(shape)
    m = U64((1 << ETA) - 1)
    return np.bitwise_count(u & m).astype(np.int64) - np.bitwise_count((u >> U64(ETA)) & m).astype(np.int64)


def sample_ternary(prg: PRG, shape) -> np.ndarray:
    return prg.integers(3, shape).astype(np.int64) - 1


def sample_uniform(params: HEParams, prg: PRG, shape) -> tuple[np.ndarray, np.ndarray]:
    """Uniform element mod Q in RNS form (independent uniform residues = uniform mod Q by CRT)."""
    t = prg.uint64(shape, params.ell)
    r = np.stack([prg.integers(p, shape).astype(np.int64) for p in params.primes])
    return t, r


def small_to_limbs(params: HEParams, e: np.ndarray, primes=None) -> tuple[np.ndarray, np.ndarray]:
    primes = params.primes if primes is None else primes
    e = np.asarray(e, dtype=np.int64)
    return e.view(U64) & _mask(params.ell), np.stack([np.mod(e, p) for p in primes])


def derive_seed(seed: bytes, *labels) -> bytes:
    h = hashlib.sha256(seed)
    for lab in labels:
        h.update(str(lab).encode() + b"\x00")
    return h.digest()[:16]


def expand_a(params: HEParams, seed: bytes, rows: int, first_chunk: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The uniform ``a`` parts of ``rows`` seeded ciphertexts, chunk by chunk of 64 rows."""
    ts, rs = [], []
    c = first_chunk
    left = rows
    while left > 0:
        m = min(A_CHUNK_ROWS, left)
        t, r = sample_uniform(params, PRG(derive_seed(seed, "a", c)), (A_CHUNK_ROWS, params.n))
        ts.append(t[:m])
        rs.append(r[:, :m])
        left -= m
        c += 1
    return np.concatenate(ts), np.concatenate(rs, axis=1)


def expand_a_rows(params: HEParams, seed: bytes, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows ``rows`` (global indices) of :func:`expand_a`'s output without expanding their whole
    chunks: :func:`sample_uniform` draws fixed-width words section by section (the t-limb, then
    each prime), so a row's words sit at known keystream positions of its chunk's PRG
    (:func:`protocols.prg.keystream_blocks`).  The embedding reads one row per token instead of 64."""
    from ..prg import keystream_blocks, words_below

    rows = np.asarray(rows, dtype=np.int64).reshape(-1)
    n, L = params.n, len(params.primes)
    t = np.empty((rows.size, n), dtype=U64)
    r = np.empty((L, rows.size, n), dtype=np.int64)
    row_blocks = n * 8 // 16  # keystream blocks per row of one section
    section = A_CHUNK_ROWS * row_blocks
    chunks = rows // A_CHUNK_ROWS
    # one ECB call per distinct chunk key (at most one per token: each expands (L+1)·N words)
    for c in np.unique(chunks):
        sel = np.flatnonzero(chunks == c)
        within = (rows[sel] % A_CHUNK_ROWS)[None, :, None] * row_blocks
        idx = np.arange(L + 1)[:, None, None] * section + within + np.arange(row_blocks)[None, None, :]
        words = keystream_blocks(derive_seed(seed, "a", int(c)), idx.astype(np.uint64)).reshape(L + 1, sel.size, n)
        t[sel] = words[0] & _mask(params.ell)
        for i, p in enumerate(params.primes):
            r[i, sel] = words_below(words[1 + i], p)
    return t, r


# ----------------------------------------------------------------------------------------------
# exact products with small polynomials
# ----------------------------------------------------------------------------------------------
@lru_cache(maxsize=8)
def _psi(n: int) -> np.ndarray:
    return np.exp(1j * np.pi * np.arange(n) / n)


def small_fft(s: np.ndarray) -> np.ndarray:
    """FFT of the twisted small polynomial(s) s (..., N) (ternary, errors)."""
    s = np.asarray(s, dtype=np.float64)
    return np.fft.fft(s * _psi(s.shape[-1]), axis=-1)


def _conv_exact(xs: np.ndarray, sf: np.ndarray) -> np.ndarray:
    """Exact negacyclic products of float integer rows xs (..., N) with the small poly(s) sf."""
    n = xs.shape[-1]
    psi = _psi(n)
    y = np.fft.ifft(np.fft.fft(xs * psi, axis=-1) * sf, axis=-1)
    y = (y * psi.conj()).real
    z = np.rint(y)
    err = np.max(np.abs(y - z)) if y.size else 0.0
    if err > 0.2:  # pragma: no cover - would mean the float bound in the docstring is wrong
        raise ArithmeticError(f"FFT product lost exactness (rounding distance {err})")
    return z.astype(np.int64)


def _conv_exact_many(xs: list[np.ndarray], sf: np.ndarray, cols: int | None = None) -> list[np.ndarray]:
    """:func:`_conv_exact` of several equally shaped float integer arrays with the same small
    poly(s): two real inputs share one complex FFT (the negacyclic product is C-linear, so the
    real and imaginary parts of the result are the two products), halving the FFTs."""
    if not xs:
        return []
    n = xs[0].shape[-1]
    psi = _psi(n)
    out: list[np.ndarray] = []
    for i in range(0, len(xs), 2):
        two = i + 1 < len(xs)
        z = xs[i] * psi
        if two:
            z += xs[i + 1] * (1j * psi)
        y = np.fft.ifft(np.fft.fft(z, axis=-1) * sf, axis=-1)
        y *= psi.conj()
        for part in ((y.real, y.imag) if two else (y.real,)):
            if cols is not None:  # only the first ``cols`` coefficients are wanted
                part = part[..., :cols]
            r = np.rint(part)
            if r.size and np.max(np.abs(part - r)) > 0.2:  # pragma: no cover - float bound broken
                raise ArithmeticError("FFT product lost exactness")
            out.append(r.astype(np.int64))
    return out


def polymul_small(
    params: HEParams, t: np.ndarray | None, r: np.ndarray, sf: np.ndarray, primes=None
) -> tuple[np.ndarray | None, np.ndarray]:
    """(t, r) * small (FFT given) in every limb; shapes broadcast like ``t * sf``.

    ``primes`` selects the prime limbs present in ``r`` (default: all).  ``t`` may be None.
    Limbs are convolved two per complex FFT (:func:`_conv_exact_many`)."""
    primes = params.primes if primes is None else primes
    ins = [centred(r[i], p) for i, p in enumerate(primes)]
    if t is not None:
        ins += digits(t, params.digits)
    res = _conv_exact_many(ins, sf)
    outs_r = [np.mod(res[i], p) for i, p in enumerate(primes)]
    out_t = None
    if t is not None:
        acc = None
        for k, z in enumerate(res[len(primes):]):
            z = z.view(U64) << U64(DIGIT_BITS * k)
            acc = z if acc is None else acc + z
        out_t = acc & _mask(params.ell)
    return out_t, np.stack(outs_r)


# ----------------------------------------------------------------------------------------------
# keys and encryption (the key owner's side)
# ----------------------------------------------------------------------------------------------
@dataclass
class SecretKey:
    params: HEParams
    s: np.ndarray  # int64 ternary (N,)
    key_id: str

    @classmethod
    def generate(cls, params: HEParams, prg: PRG | None = None) -> "SecretKey":
        prg = prg or PRG()
        s = sample_ternary(prg, (params.n,))
        kid = hashlib.sha256(s.astype(np.int8).tobytes() + prg.random_bytes(16)).hexdigest()[:16]
        return cls(params, s, kid)

    @property
    def fft(self) -> np.ndarray:
        if not hasattr(self, "_fft"):
            self._fft = small_fft(self.s)
        return self._fft


def encrypt_rows(
    sk: SecretKey, m: np.ndarray, seed: bytes, prg: PRG, first_chunk: int = 0, keep: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Seeded secret-key encryptions of the rows of m (rows, <= N) mod 2^ell (row j -> coefficients
    0..M-1 of ciphertext j).  Returns only ``b = -a s + e + P m`` (t-limb and prime limbs); ``a`` is
    ``expand_a(seed, rows, first_chunk)``.  ``keep``: return b only on coefficients 0..keep-1
    (compact storage: enough for products that are returned unpacked, one token per ciphertext).
    Chunked internally to bound memory."""
    params = sk.params
    m = np.asarray(m, dtype=U64)
    rows, width = m.shape
    if width > params.n:
        raise ValueError(f"rows of {width} coefficients do not fit N={params.n}")
    ts, rs = [], []
    step = A_CHUNK_ROWS
    for c0 in range(0, rows, step):
        nrows = min(step, rows - c0)
        a_t, a_r = expand_a(params, seed, nrows, first_chunk + c0 // step)
        as_t, as_r = polymul_small(params, a_t, a_r, sk.fft)
        e = sample_cbd(prg, (nrows, params.n))
        e_t, e_r = small_to_limbs(params, e)
        pm = np.zeros((nrows, params.n), dtype=U64)
        pm[:, :width] = m[c0 : c0 + nrows] * U64(params.P % (1 << 64))
        w = params.n if keep is None else keep
        ts.append(((e_t - as_t + pm) & _mask(params.ell))[:, :w])
        rs.append(np.stack([np.mod(e_r[i] - as_r[i], p)[:, :w] for i, p in enumerate(params.primes)]))
    return np.concatenate(ts), np.concatenate(rs, axis=1)


def make_public_key(sk: SecretKey, seed: bytes, prg: PRG) -> tuple[np.ndarray, np.ndarray]:
    """pk0 = -a s + e for a = expand_a(seed, 1); pk1 = a.  Returns pk0 limbs (t (N,), r (L, N))."""
    t, r = encrypt_rows(sk, np.zeros((1, 1), dtype=U64), seed, prg)
    return t[0], r[:, 0]


# ----------------------------------------------------------------------------------------------
# the multiply-accumulate side (holder of the ciphertexts, not of the key)
# ----------------------------------------------------------------------------------------------
class Int21Op:
    """An operand of centred residues |v| < 2^20 held in 3 bytes per entry (uint16 low part,
    uint8 high part of v + 2^20) and converted to float64 row chunk by row chunk in the
    products: 3/8 of the float64 size, 3/4 of float32."""

    dtype = "int21"
    OFFSET = 1 << 20

    def __init__(self, v: np.ndarray | None = None, shape: tuple | None = None):
        if v is None:
            self.lo, self.hi = np.empty(shape, np.uint16), np.empty(shape, np.uint8)
        else:
            self.lo, self.hi = np.empty(v.shape, np.uint16), np.empty(v.shape, np.uint8)
            self.set_rows(0, v)
        self.shape = self.lo.shape

    def set_rows(self, s: int, v: np.ndarray, c0: int = 0) -> None:
        """Store centred residues v (rows s.., columns c0..)."""
        u = (np.asarray(v) + self.OFFSET).astype(np.uint32)
        e, c1 = s + u.shape[0], c0 + u.shape[1]
        self.lo[s:e, c0:c1] = u & 0xFFFF
        self.hi[s:e, c0:c1] = u >> 16

    @property
    def nbytes(self) -> int:
        return self.lo.nbytes + self.hi.nbytes

    def rows(self, s: int, e: int, bufs: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
        """Rows s..e-1 as float64; ``bufs``: two reusable (>= rows, K) float64 buffers (no fresh
        pages per chunk)."""
        lo, hi = self.lo[s:e], self.hi[s:e]
        if bufs is None:
            bufs = (np.empty(lo.shape), np.empty(lo.shape))
        out, tmp = bufs[0][: lo.shape[0]], bufs[1][: lo.shape[0]]
        np.copyto(out, lo)
        np.multiply(hi, 65536.0, out=tmp)
        out += tmp
        out -= float(self.OFFSET)
        return out


class RawTLimb:
    """The t-limb of an operand as raw uint64 (8 bytes per entry instead of 3 digit arrays);
    its balanced digits are formed per row chunk in the products."""

    dtype = "u64"

    def __init__(self, t: np.ndarray):
        self.t = np.ascontiguousarray(t, dtype=U64)
        self.shape = self.t.shape

    @property
    def nbytes(self) -> int:
        return self.t.nbytes


OP_CHUNK_ROWS = 256  # rows converted to float64 at a time for compressed operands
# up to this many tokens the compiled kernels read int21 / raw t-limb operands (the COP client, whose
# server idles meanwhile so BLAS may use every core: equal at 128 tokens on 2 cores, 1.4-6x
# faster below); the HE cross terms of mmul_aa, computed by both parties at once, use them at any
# size (MMUL_NATIVE_TOKENS: 1.4-1.8x faster than BLAS at 128-512 tokens on 2 cores)
NATIVE_MAC_TOKENS = 128
MMUL_NATIVE_TOKENS = 1 << 30
# directly (the BLAS route converts every operand row to float64 for a memory-bound skinny product)


@dataclass
class PreparedMatrix:
    """Ciphertexts of one matrix, in the form the BLAS products want: per prime, the centred
    residues of [b | a] as float64 (n, 2N); for the t-limb its balanced digits."""

    params: HEParams
    n_in: int
    m_out: int
    prime_ops: list[np.ndarray]
    digit_ops: list[np.ndarray]
    width: int = 0  # coefficients of b held (N, or M when compact); 0 means N
    # b held only on every b_stride-th coefficient (width = N/b_stride), when only those are
    # needed of a packed product (mmul_aa's interleaved blocks); 0: columns 0..width-1 (compact)
    # or all
    b_stride: int = 0
    # the compiled multiply-accumulate runs up to this many tokens (operand form chosen to match)
    native_tokens: int = NATIVE_MAC_TOKENS

    @classmethod
    def build(cls, params: HEParams, b: tuple[np.ndarray, np.ndarray], seed: bytes, m_out: int,
              f32_above: int = 1 << 31, storage: str | None = None) -> "PreparedMatrix":
        """Operands as float64, or as float32 (exact: |values| <= 2^21 < 2^24; converted chunk by
        chunk in the products) when float64 operands would exceed ``f32_above`` bytes.
        ``storage`` forces one of "f64" (80 bytes per coefficient with 7 primes), "f32" (40) or
        "int21" (29: residues in 3 bytes, the t-limb raw; see :func:`storage_bytes`)."""
        b_t, b_r = b
        n_in, width = b_t.shape
        shape = (n_in, width + params.n)
        k = len(params.primes) + params.digits
        if storage is None:
            storage = "f32" if k * n_in * 2 * params.n * 8 > f32_above else "f64"
        if storage == "int21":
            ops = [Int21Op(shape=shape) for _ in params.primes]
            dig = [RawTLimb(np.empty(shape, dtype=U64))]
        else:
            dt = {"f64": np.float64, "f32": np.float32}[storage]
            ops = [np.empty(shape, dtype=dt) for _ in params.primes]
            dig = [np.empty(shape, dtype=dt) for _ in range(params.digits)]
        if storage == "int21" and native.kernels is not None:
            _build_int21_native(params, b, seed, ops, dig[0], width)
            return cls(params, n_in, m_out, ops, dig, width)
        # row chunks of 64 (one expansion of a each): the temporaries stay in cache
        for c0 in range(0, n_in, A_CHUNK_ROWS):
            c1 = min(n_in, c0 + A_CHUNK_ROWS)
            a_t, a_r = expand_a(params, seed, c1 - c0, c0 // A_CHUNK_ROWS)
            for i, p in enumerate(params.primes):
                if storage == "int21":
                    ops[i].set_rows(c0, centred(b_r[i, c0:c1], p))
                    ops[i].set_rows(c0, centred(a_r[i], p), width)
                else:
                    ops[i][c0:c1, :width] = centred(b_r[i, c0:c1], p)
                    ops[i][c0:c1, width:] = centred(a_r[i], p)
            if storage == "int21":
                dig[0].t[c0:c1, :width] = b_t[c0:c1]
                dig[0].t[c0:c1, width:] = a_t
            else:
                for d_op, d in zip(dig, digits(np.concatenate([b_t[c0:c1], a_t], axis=1), params.digits)):
                    d_op[c0:c1] = d
        return cls(params, n_in, m_out, ops, dig, width)

    @property
    def compact(self) -> bool:
        return 0 < self.width < self.params.n and not self.b_stride

    @property
    def slots(self) -> int:
        return 1 if self.compact else slots_for(self.params, self.n_in, self.m_out)


def prepare_residues(params: HEParams, t: np.ndarray, r: np.ndarray, m_out: int, width: int,
                     tokens: int, native_tokens: int = NATIVE_MAC_TOKENS, b_stride: int = 0) -> PreparedMatrix:
    """Operands of a freshly received ciphertext matrix (the peer's encrypted B of
    ``protocols.he.mmul_aa``): t (n, K) uint64 t-limb, r (L, n, K) residues in [0, p).  int21 and
    the raw t-limb when the compiled multiply-accumulate will run (``tokens`` ≤
    ``native_tokens``): one fused pass per prime instead of float64 conversions and
    digits for a BLAS product; else the float64 operands the BLAS route wants.  ``b_stride``: b is
    held on every b_stride-th coefficient (:attr:`PreparedMatrix.b_stride`)."""
    n, K = t.shape
    if native.kernels is not None and tokens <= native_tokens:
        ops = []
        for i, p in enumerate(params.primes):
            op = Int21Op(shape=(n, K))
            native.kernels.int21_store(op.lo, op.hi, np.ascontiguousarray(r[i], dtype=np.int64), n, K, K, 0, p, False)
            ops.append(op)
        return PreparedMatrix(params, n, m_out, ops, [RawTLimb(t)], width, b_stride, native_tokens)
    ops = [centred(r[i], p) for i, p in enumerate(params.primes)]
    return PreparedMatrix(params, n, m_out, ops, digits(t, params.digits), width, b_stride, native_tokens)


def _build_int21_native(params: HEParams, b: tuple[np.ndarray, np.ndarray], seed: bytes, ops: list,
                        tlimb: "RawTLimb", width: int) -> None:
    """The int21 operands on the compiled kernel (``int21_store``): per 64-row chunk one keystream
    draw for a — the same words :func:`expand_a` samples from, in the same order (t-limb section,
    then one section per prime) — and one fused pass per prime for b and for a."""
    b_t, b_r = b
    n_in, n, L = b_t.shape[0], params.n, len(params.primes)
    K = width + n
    words = np.empty((L + 1, A_CHUNK_ROWS, n), dtype=U64)
    for c0 in range(0, n_in, A_CHUNK_ROWS):
        c1 = min(n_in, c0 + A_CHUNK_ROWS)
        m = c1 - c0
        PRG(derive_seed(seed, "a", c0 // A_CHUNK_ROWS)).bytes_into(words)
        tlimb.t[c0:c1, :width] = b_t[c0:c1]
        tlimb.t[c0:c1, width:] = words[0, :m] & _mask(params.ell)
        for i, p in enumerate(params.primes):
            lo, hi = ops[i].lo[c0:c1], ops[i].hi[c0:c1]
            native.kernels.int21_store(lo, hi, np.ascontiguousarray(b_r[i, c0:c1]), m, width, K, 0, p, False)
            native.kernels.int21_store(lo, hi, words[1 + i, :m], m, n, K, width, p, True)


def storage_bytes(params: HEParams, n_in: int, width: int, storage: str) -> int:
    """Bytes of a matrix's prepared operands (n_in rows of width + N coefficients)."""
    per = {"f64": 8 * (len(params.primes) + params.digits), "f32": 4 * (len(params.primes) + params.digits),
           "int21": 3 * len(params.primes) + 8}[storage]
    return per * n_in * (width + params.n)


def slots_for(params: HEParams, n_in: int, m_out: int) -> int:
    """Tokens packed per returned ciphertext: N // M, capped so that slots * n_in <= max_terms
    (the noise bound the parameters were sized for)."""
    s = min(params.n // m_out, params.max_terms // max(n_in, 1))
    if s < 1 or m_out > params.n:
        raise ValueError(f"a {n_in}x{m_out} product does not fit N={params.n}, max_terms={params.max_terms}")
    return s


def _matmul_exact(x: np.ndarray, c: np.ndarray, chunk: int = MAX_INNER,
                  native_tokens: int = NATIVE_MAC_TOKENS) -> np.ndarray:
    """x (T, n) @ c (n, K), float64 integers whose products times ``chunk`` stay <= 2^53: exact
    int64, chunked along n."""
    n = x.shape[1]
    if isinstance(c, Int21Op):
        if native.kernels is not None and x.shape[0] <= native_tokens:
            acc = np.zeros((x.shape[0], c.shape[1]), dtype=np.int64)
            native.kernels.mac_int21(acc, np.ascontiguousarray(x, dtype=np.int32), c.lo, c.hi, x.shape[0], n,
                                     c.shape[1], c.OFFSET)
            return acc
        acc = None
        k = c.shape[1]
        bufs = (np.empty((min(n, OP_CHUNK_ROWS), k)), np.empty((min(n, OP_CHUNK_ROWS), k)))
        for s in range(0, n, OP_CHUNK_ROWS):
            z = (x[:, s : s + OP_CHUNK_ROWS] @ c.rows(s, s + OP_CHUNK_ROWS, bufs)).astype(np.int64)
            if acc is None:
                acc = z
            else:
                acc += z
        return acc
    if c.dtype != np.float64:  # float32 storage: convert slices of ~256 rows (bounded memory)
        chunk = min(chunk, 256)
    if n <= chunk and c.dtype == np.float64:
        return (x @ c).astype(np.int64)
    acc = None
    for s in range(0, n, chunk):
        z = (x[:, s : s + chunk] @ c[s : s + chunk].astype(np.float64)).astype(np.int64)
        acc = z if acc is None else acc + z  # < 2^63 for n < 2^11 * 4096
    return acc


def negashift_pack(y: np.ndarray, m_out: int, slots: int, n: int, modulus: int | None) -> np.ndarray:
    """(T, 2, N) per-token ciphertexts -> (G, 2, N): sum_i X^(i M) ct_(g*slots+i).

    Multiplication by X^s is a coefficient rotation with a sign flip on the wrapped part (free,
    no keys).  ``modulus`` None means uint64 wrap-around (the t-limb, masked by the caller)."""
    tok = y.shape[0]
    if slots == 1:
        return y if modulus is None else np.mod(y, modulus)
    g = -(-tok // slots)
    if g == 1:  # fewer tokens than slots: no zero padding, no shifts of empty slots
        y = y[None]
    else:
        if g * slots != tok:
            pad = np.zeros((g * slots - tok,) + y.shape[1:], dtype=y.dtype)
            y = np.concatenate([y, pad])
        y = y.reshape(g, slots, *y.shape[1:])
    out = y[:, 0].copy()
    for i in range(1, y.shape[1]):  # the slots in use (≤ N / M): whole polynomials per step
        s = i * m_out
        out[..., s:] += y[:, i, ..., : n - s]
        out[..., :s] -= y[:, i, ..., n - s :]
    if modulus is not None:
        out = np.mod(out, modulus)
    return out


def _split_bn(y: np.ndarray, pm: PreparedMatrix, tok: int) -> np.ndarray:
    """(tok, width + N) products -> (tok, 2, N) [b | a]; a compact b (width M < N) is zero-padded:
    its ciphertexts go out one token each, decrypted on coefficients 0..M-1 only."""
    n = pm.params.n
    if not pm.compact:
        return y.reshape(tok, 2, n)
    out = np.empty((tok, 2, n), dtype=y.dtype)
    out[:, 0, : pm.width] = y[:, : pm.width]
    out[:, 0, pm.width :] = 0
    out[:, 1] = y[:, pm.width :]
    return out


def _pack_products(y: np.ndarray, pm: PreparedMatrix, tok: int, modulus: int | None) -> np.ndarray:
    """(tok, width + N) products -> (G, 2, N) packed ciphertexts (:func:`negashift_pack`).  A b
    held on every kw-th coefficient (``pm.b_stride`` = kw) is packed in that sub-lattice — a shift by
    s·span is one by s·span/kw there, wrapping with the same sign — and scattered once per
    ciphertext (its other coefficients are never used and stay zero)."""
    n = pm.params.n
    if not pm.b_stride:
        return negashift_pack(_split_bn(y, pm, tok), pm.m_out, pm.slots, n, modulus)
    kw = pm.b_stride
    pb = negashift_pack(y[:, : pm.width], pm.m_out // kw, pm.slots, pm.width, modulus)
    pa = negashift_pack(y[:, pm.width :], pm.m_out, pm.slots, n, modulus)
    out = np.zeros((pa.shape[0], 2, n), dtype=pa.dtype)
    out[:, 0, ::kw] = pb
    out[:, 1] = pa
    return out


def mac_packed(pm: PreparedMatrix, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """sum_j x[k, j] * ct_j for every token k, packed N/M tokens per ciphertext; the compiled
    kernels run up to ``pm.native_tokens`` tokens on int21 / raw t-limb operands.

    x: (T, n) uint64 mod 2^ell.  Returns (t (G, 2, N) uint64, r (L, G, 2, N) int64).
    Cost: L + |digit pairs| float64 products (T x n) @ (n x 2N)."""
    params = pm.params
    n = params.n
    xs = lift_signed(x, params.ell)
    tok = x.shape[0]
    rs = []
    for i, p in enumerate(params.primes):
        xp = centred(np.mod(xs, p), p)
        # reduce after packing: |y| <= n 2^40 and slots * n <= max_terms (<= 2^22), so the packed
        # int64 sums stay below 2^62
        rs.append(_pack_products(_matmul_exact(xp, pm.prime_ops[i], native_tokens=pm.native_tokens), pm, tok, p))
    xd = digits(xs.view(U64), params.digits)
    acc = None
    native_t = (native.kernels is not None and tok <= pm.native_tokens and params.digits == 2
                and list(params.digit_pairs()) == [(0, 0), (0, 1), (1, 0)])
    if isinstance(pm.digit_ops[0], RawTLimb) and native_t:  # digits formed row by row in C
        raw = pm.digit_ops[0].t
        acc = np.zeros((tok, raw.shape[1]), dtype=U64)
        native.kernels.mac_tlimb(acc, xd[0].astype(np.int32), xd[1].astype(np.int32), raw, tok, raw.shape[0],
                                 raw.shape[1], DIGIT_BITS)
    elif isinstance(pm.digit_ops[0], RawTLimb):  # digits of the stored t-limb, chunk by chunk
        raw = pm.digit_ops[0].t
        for s in range(0, raw.shape[0], OP_CHUNK_ROWS):
            cd = digits(raw[s : s + OP_CHUNK_ROWS], params.digits)
            for a, b in params.digit_pairs():
                z = (xd[a][:, s : s + OP_CHUNK_ROWS] @ cd[b]).astype(np.int64).view(U64)
                z <<= U64(DIGIT_BITS * (a + b))
                if acc is None:
                    acc = z
                else:
                    acc += z
    else:
        for a, b in params.digit_pairs():
            z = _matmul_exact(xd[a], pm.digit_ops[b], MAX_INNER_T).view(U64) << U64(DIGIT_BITS * (a + b))
            acc = z if acc is None else acc + z
    t = _pack_products(acc, pm, tok, None) & _mask(params.ell)
    return t, np.stack(rs)


def rerandomize(
    params: HEParams, ct: tuple[np.ndarray, np.ndarray], pk0: tuple[np.ndarray, np.ndarray], pk_seed: bytes, prg: PRG
) -> tuple[np.ndarray, np.ndarray]:
    """ct + Enc_pk(0) = ct + (u pk0 + e1, u a_pk + e2), u ternary, fresh per ciphertext.

    Makes the ``a`` part pseudorandom (decisional RLWE with secret u) so that it no longer is the
    public linear combination sum_j x_j a_j; adds noise <= 2 N eta + eta (counted in the bound).
    Full (G, 2, N) form; :func:`rerandomize_parts` computes b only on the coefficients used."""
    (bt, br), (at, ar) = rerandomize_parts(params, ct, pk0, pk_seed, prg, params.n)
    return np.stack([bt, at], axis=1), np.stack([br, ar], axis=2)


_PK_SPECTRA: dict = {}
RERAND_CHUNK = 16  # ciphertexts per FFT batch (bounds the complex temporaries to a few MB)


def _pk_spectra(params: HEParams, pk0: tuple[np.ndarray, np.ndarray], pk_seed: bytes) -> np.ndarray:
    """FFTs of the twisted public-key polynomials (pk0, a_pk), limbs paired as complex inputs:
    (ceil((L + digits) / 2), 2, N) complex.  Cached per key (the same for every query)."""
    key = (params.fingerprint(), pk_seed, hashlib.sha256(np.ascontiguousarray(pk0[0]).tobytes()).digest())
    if key not in _PK_SPECTRA:
        a_t, a_r = expand_a(params, pk_seed, 1)
        big_t = np.stack([pk0[0], a_t[0]])  # (2, N)
        big_r = np.stack([pk0[1], a_r[:, 0]], axis=1)  # (L, 2, N)
        ins = [centred(big_r[i], p) for i, p in enumerate(params.primes)] + digits(big_t, params.digits)
        psi = _psi(params.n)
        spec = []
        for i in range(0, len(ins), 2):
            z = ins[i] * psi
            if i + 1 < len(ins):
                z += ins[i + 1] * (1j * psi)
            spec.append(np.fft.fft(z, axis=-1))
        if len(_PK_SPECTRA) > 8:
            _PK_SPECTRA.clear()
        _PK_SPECTRA[key] = np.stack(spec)
    return _PK_SPECTRA[key]


def rerandomize_parts(
    params: HEParams, ct: tuple[np.ndarray, np.ndarray], pk0: tuple[np.ndarray, np.ndarray], pk_seed: bytes, prg: PRG,
    used: int,
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """:func:`rerandomize` returning ((b_t (G, used), b_r (L, G, used)), (a_t (G, N), a_r (L, G, N))):
    b only on its first ``used`` coefficients (the only ones sent).  One FFT of u per ciphertext
    and one inverse FFT per pair of limbs (the public key's spectra are cached)."""
    t, r = ct
    g, n = t.shape[0], params.n
    L = len(params.primes)
    mask = _mask(params.ell)
    spec = _pk_spectra(params, pk0, pk_seed)
    psi = _psi(n)
    u = sample_ternary(prg, (g, 1, n))
    e = sample_cbd(prg, (g, n + used))
    out_bt = np.empty((g, used), dtype=U64)
    out_at = np.empty((g, n), dtype=U64)
    out_br = np.empty((L, g, used), dtype=np.int64)
    out_ar = np.empty((L, g, n), dtype=np.int64)
    for c0 in range(0, g, RERAND_CHUNK):
        sl = slice(c0, min(g, c0 + RERAND_CHUNK))
        uf = np.fft.fft(u[sl] * psi, axis=-1)  # (g0, 1, N)
        eb, ea = e[sl, :used], e[sl, used:]
        acc_b = (t[sl, 0, :used] + eb.view(U64))
        acc_a = (t[sl, 1] + ea.view(U64))
        limb = 0
        for k in range(spec.shape[0]):
            y = np.fft.ifft(spec[k] * uf, axis=-1)  # (g0, 2, N)
            y *= psi.conj()
            for part in (y.real, y.imag):
                if limb >= L + params.digits:
                    break
                z = np.rint(part)
                if np.max(np.abs(part - z)) > 0.2:  # pragma: no cover - float bound broken
                    raise ArithmeticError("FFT product lost exactness")
                z = z.astype(np.int64)
                if limb < L:
                    p = params.primes[limb]
                    out_br[limb, sl] = np.mod(r[limb, sl, 0, :used] + z[:, 0, :used] + eb, p)
                    out_ar[limb, sl] = np.mod(r[limb, sl, 1] + z[:, 1] + ea, p)
                else:
                    sh = U64(DIGIT_BITS * (limb - L))
                    acc_b += z[:, 0, :used].view(U64) << sh
                    acc_a += z[:, 1].view(U64) << sh
                limb += 1
        out_bt[sl] = acc_b & mask
        out_at[sl] = acc_a & mask
    return (out_bt, out_br), (out_at, out_ar)


def add_plain_mask(params: HEParams, t: np.ndarray, mask_poly: np.ndarray) -> np.ndarray:
    """b -= P * mask (mod 2^ell): the plaintext becomes m - mask.  P = 0 mod every prime."""
    t = t.copy()
    t[:, 0] = (t[:, 0] - mask_poly * U64(params.P % (1 << 64))) & _mask(params.ell)
    return t


def _garner(r: np.ndarray, primes) -> list[np.ndarray]:
    """Mixed-radix digits z_i (int64) of the integer in [0, prod primes) with residues r (k, ...).

    Partial sums stay below k * 2^42 (no intermediate reductions): two reductions per prime."""
    z = []
    for i, p in enumerate(primes):
        if i == 0:
            z.append(np.mod(r[0], p))
            continue
        s = None
        w = 1
        for m in range(i):
            term = z[m] * (w % p)
            s = term if s is None else s + term
            w *= primes[m]
        inv = pow(w % p, -1, p)
        z.append(np.mod(np.mod(r[i] - s, p) * inv, p))
    return z


def mod_switch(params: HEParams, t: np.ndarray, r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Drop the primes of D: c' = (c - [c]_D) / D in every kept limb (t-limb and P'').

    Noise: e' = e/D - tau0 - tau1 s with tau in [0, 1): |e'| <= |e|/D + 1 + N."""
    keep = params.primes[: params.n_keep]
    drop = params.primes[params.n_keep :]
    z = _garner(r[params.n_keep :], drop)
    D = params.D
    out_r = []
    for i, p in enumerate(keep):
        chat = None  # sum_m z_m (W_m mod p) < len(drop) * 2^42: exact in int64
        w = 1
        for m, q in enumerate(drop):
            term = z[m] * (w % p)
            chat = term if chat is None else chat + term
            w *= q
        out_r.append(np.mod(np.mod(r[i] - chat, p) * pow(D % p, -1, p), p))
    chat_t = np.zeros(t.shape, dtype=U64)
    w = 1
    for m, q in enumerate(drop):
        chat_t += z[m].view(U64) * U64(w % (1 << 64))
        w *= q
    t2 = ((t - chat_t) * U64(pow(D, -1, 1 << 64))) & _mask(params.ell)
    return t2, np.stack(out_r)


def flood(params: HEParams, t: np.ndarray, r: np.ndarray, prg: PRG) -> tuple[np.ndarray, np.ndarray]:
    """Add uniform noise in [-2^f, 2^f) (f = flood_bits, up to 100 bits) to t (..., N), r (k, ..., N).

    The noise is hi * 2^40 + lo with hi uniform in [-2^(f-40), 2^(f-40)), lo uniform in [0, 2^40)."""
    f = params.flood_bits
    hi = (prg.uint64(t.shape, f - 40 + 1).view(np.int64) - (1 << (f - 40)))
    lo = prg.uint64(t.shape, 40).view(np.int64)
    t = (t + (hi.view(U64) << U64(40)) + lo.view(U64)) & _mask(params.ell)
    out = []
    for i, p in enumerate(params.primes[: r.shape[0]]):
        out.append(np.mod(r[i] + np.mod(hi, p) * ((1 << 40) % p) + lo, p))
    return t, np.stack(out)


def decrypt_switched(
    sk: SecretKey, b: tuple[np.ndarray, np.ndarray], a: tuple[np.ndarray, np.ndarray]
) -> np.ndarray:
    """Decrypt ciphertexts at modulus 2^ell * P'' (after :func:`mod_switch`).

    b: (t (G, U), r (k, G, U)) with U <= N used coefficients; a: (t (G, N), r (k, G, N)).
    Returns the plaintext coefficients (G, U) mod 2^ell: m = (v - [v]_{P''}) / P''."""
    params = sk.params
    keep = params.primes[: params.n_keep]
    u = b[0].shape[-1]
    ins = [centred(a[1][i], p) for i, p in enumerate(keep)] + digits(a[0], params.digits)
    res = _conv_exact_many(ins, sk.fft, cols=u)  # a*s on the u decrypted coefficients only
    as_t = None
    for k, z in enumerate(res[len(keep):]):
        z = z.view(U64) << U64(DIGIT_BITS * k)
        as_t = z if as_t is None else as_t + z
    v_t = (b[0] + as_t) & _mask(params.ell)
    v_r = np.stack([np.mod(b[1][i] + res[i], p) for i, p in enumerate(keep)])
    z = _garner(v_r, keep)
    pk = params.P_keep
    frac = np.zeros(v_t.shape)
    e = np.zeros(v_t.shape, dtype=U64)
    w = 1
    for m, q in enumerate(keep):
        frac += z[m] * (w / pk)
        e += z[m].view(U64) * U64(w % (1 << 64))
        w *= q
    neg = frac > 0.5  # |noise| < P''/4, so this float test is never near its threshold
    e[neg] -= U64(pk % (1 << 64))
    return ((v_t - e) * U64(pow(pk, -1, 1 << 64))) & _mask(params.ell)


# ----------------------------------------------------------------------------------------------
# wire format: bit-packed residues
# ----------------------------------------------------------------------------------------------
def coeff_bits(params: HEParams, n_primes: int) -> list[int]:
    return [params.ell] + [int(p).bit_length() for p in params.primes[:n_primes]]


def _packw(v: np.ndarray, w: int) -> np.ndarray:
    """Pack uint64 values < 2^w densely into uint64 words (little-endian bit order).

    With the compiled kernels (:mod:`protocols.native`) one pass; else values are processed in
    blocks of 64 (64 values x w bits = w words exactly), the Python loop running over the 64
    positions of a block, each step vectorised over all blocks.  Same output."""
    kern = native.kernels
    if kern is not None:
        vals = np.ascontiguousarray(v, dtype=U64).reshape(-1)
        out = np.empty(-(-vals.size * w // 64), dtype=U64)
        kern.pack_fields(out, vals, np.array([w], dtype=np.uint8), vals.size)  # one field per record
        return out
    cnt = v.size
    nblk = -(-cnt // 64)
    vv = np.zeros(nblk * 64, dtype=U64)
    vv[:cnt] = v.reshape(-1)
    vv = vv.reshape(nblk, 64)
    vv = np.ascontiguousarray(vv.T)  # (64, nblk): rows contiguous
    out = np.zeros((w, nblk), dtype=U64)
    for j in range(64):
        word, off = divmod(j * w, 64)
        out[word] |= vv[j] << U64(off)
        if off + w > 64:
            out[word + 1] |= vv[j] >> U64(64 - off)
    return out.T.reshape(-1)[: -(-cnt * w // 64)]


def _unpackw(words: np.ndarray, w: int, cnt: int) -> np.ndarray:
    """The inverse of :func:`_packw`: ``cnt`` values of w bits from the word stream."""
    kern = native.kernels
    if kern is not None and np.asarray(words).size * 64 >= cnt * w:
        out = np.empty(cnt, dtype=U64)
        kern.unpack_fields(out, np.ascontiguousarray(words, dtype=U64), np.array([w], dtype=np.uint8), cnt)
        return out
    nblk = -(-cnt // 64)
    ww = np.zeros(nblk * w + 1, dtype=U64)
    ww[: words.size] = words
    blk = np.ascontiguousarray(ww[: nblk * w].reshape(nblk, w).T)  # (w, nblk): rows contiguous
    m = U64((1 << w) - 1) if w < 64 else U64(0xFFFFFFFFFFFFFFFF)
    out = np.empty((64, nblk), dtype=U64)
    for j in range(64):
        word, off = divmod(j * w, 64)
        x = blk[word] >> U64(off)
        if off + w > 64:
            x |= blk[word + 1] << U64(64 - off)
        np.bitwise_and(x, m, out=out[j])
    return out.T.reshape(-1)[:cnt]


def packed_nbytes(params: HEParams, count: int, n_primes: int) -> int:
    """Wire bytes of ``count`` coefficients with the t-limb and ``n_primes`` prime residues."""
    return 8 * sum(-(-count * w // 64) for w in coeff_bits(params, n_primes))


def pack_limbs(params: HEParams, t: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Bit-pack coefficients (t-limb: ell bits, each prime: its bit length) as uint8 bytes:
    ~log2(2^ell * prod primes) bits per coefficient (plus < 8 bytes of padding per limb)."""
    widths = coeff_bits(params, r.shape[0])
    parts = [_packw(t.reshape(-1), widths[0])]
    parts += [_packw(r[i].reshape(-1).astype(U64), w) for i, w in enumerate(widths[1:])]
    return np.concatenate(parts).view(np.uint8)


def unpack_limbs(params: HEParams, data: np.ndarray, shape: tuple, n_primes: int) -> tuple[np.ndarray, np.ndarray]:
    count = int(np.prod(shape))
    need = packed_nbytes(params, count, n_primes)
    if data.dtype != np.uint8 or data.size != need:
        raise ProtocolError(f"packed ciphertext has {data.size} bytes, expected {need}")
    words = np.frombuffer(np.ascontiguousarray(data).tobytes(), dtype="<u8").astype(U64)
    widths = coeff_bits(params, n_primes)
    out = []
    pos = 0
    for w in widths:
        nw = -(-count * w // 64)
        out.append(_unpackw(words[pos : pos + nw], w, count).reshape(shape))
        pos += nw
    t = out[0]
    r = np.stack([o.astype(np.int64) for o in out[1:]]) if n_primes else np.zeros((0,) + tuple(shape), np.int64)
    for i, p in enumerate(params.primes[:n_primes]):
        if r[i].size and r[i].max() >= p:
            raise ProtocolError("ciphertext residue out of range")
    return t, r

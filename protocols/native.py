"""The optional compiled kernels of ``protocols/_native.c`` (built by ``setup.py`` when a C
compiler is available).

``kernels`` is the module or None; every caller keeps a numpy path with identical output, so the
framework works without a compiler, only slower:

* ``xor_rows`` — Ferret's LPN rows (:func:`protocols.ot.ferret.lpn_apply`) and the dual EA code's
  rows (:func:`protocols.ot.silent.ea_rows`): ~3× faster than ten numpy gathers per row;
* ``pack_fields`` / ``unpack_fields`` — bit streams of records of fields with per-field widths:
  the arithmetic COTs' wire format (``protocols.ot.extensions.pack_fields``; numpy loops over the
  field slots, thousands when a LayerNorm's row-broadcast product carries a whole row per OT) and,
  one field per record, the dense RLWE coefficients (``protocols.he.rlwe._packw`` / ``_unpackw``);
* ``mac_int21`` / ``mac_tlimb`` — the COP client's multiply-accumulate for a few tokens straight
  from the compressed operands (``protocols.he.rlwe.mac_packed``, up to ``NATIVE_MAC_TOKENS``, 128, for the COP client; at any size for the cross terms of ``mmul_aa``):
  1.4–6× faster than converting each operand row to float64 for a skinny BLAS product;
* ``mulmod_const`` / ``mul128_const`` — the HE multiplication's modular arithmetic
  (``protocols.he.simd_mul.mulmod`` / ``mul128``);
* ``ntt_fwd`` / ``ntt_inv`` / ``modvec`` — the negacyclic NTT mod 62-bit primes and elementwise
  products, sums and differences mod q of the batched BFV (``protocols.he.ntt``,
  ``protocols.he.simd_mul.addmod``): ~25x the numpy twins;
* ``tccr`` — the OT layer's tweakable correlation-robust hash (``ot.cot.crhash``,
  ``ot.ot_n.hash_rows``, ``ot.extensions._hash_words``) fused into one pass on AES-NI (:func:`tccr`);
* ``ot_pads`` — the 1-of-N OT sender's pads (combined keys and their hashes) in one pass
  (:func:`ot_pads`);
* ``pack_bytes`` — 3-, 5-, 6- and 7-bit values held in bytes (the 1-of-N OTs' masked tables) into
  one bit stream (``ot.ot_n.pack_values``), ~8× numpy's expansion to bits and back;
* ``rot_table`` — the masked tables of a lookup on shares (``ot.ot_n.RotatedTable``) XORed into
  the 1-of-N pads in one pass, ~4× numpy's gather and temporaries;
* ``acot_fields`` — the arithmetic COTs' elementwise passes (message, both shares) in one pass
  each (:func:`acot_fields`): a row-broadcast product's (F, n, k) words run to tens of MB.

Tests switch to the numpy paths by setting ``protocols.native.kernels = None``.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

try:
    from . import _native as kernels
except ImportError:  # pragma: no cover - depends on the build
    kernels = None


def kernel_path() -> str:
    """``"c"`` when the compiled kernels are loaded, else ``"numpy"``."""
    return "numpy" if kernels is None else "c"


def xor_rows(out: np.ndarray, base: np.ndarray, words: Callable[[int, int], np.ndarray], *, d: int, chunk: int,
             assign: bool = False, normalize_delta: np.ndarray | None = None) -> bool:
    """Rows of a local linear code on the compiled kernel: out[i] (^)= XOR of d blocks of ``base``
    ((k, 2) uint64) at indices (w·k) >> 32 of the row's d stream words, then z → z ⊕ LSB(z)·Δ with
    ``normalize_delta``.  ``words(a, m)`` returns the (m·d,) uint32 words of rows a .. a+m; rows go
    in chunks of ``chunk``.  Returns False (nothing done) when the kernels are not built or the
    arrays are not contiguous uint64: the caller then runs its numpy path."""
    if kernels is None or out.dtype != np.uint64 or not (out.flags.c_contiguous and base.flags.c_contiguous):
        return False
    dl = None if normalize_delta is None else np.ascontiguousarray(normalize_delta, dtype=np.uint64).tobytes()
    n = out.shape[0]
    for a in range(0, n, chunk):
        b = min(n, a + chunk)
        kernels.xor_rows(out[a:b], base, words(a, b - a), base.shape[0], assign, dl, d)
    return True


_MASK64 = (1 << 64) - 1


def tccr(x: np.ndarray, key: bytes, *, k: int = 2, tweak=0, delta: np.ndarray | None = None) -> np.ndarray | None:
    """H(x ⊕ Δ) = π(σ) ⊕ σ, σ = (xL ⊕ xR, xL ⊕ t_i + j·2^56), for (n, 2) uint64 blocks x and the
    AES-128 permutation π under ``key``: (n, k) uint64 words, expansion j of block i giving words
    2j, 2j + 1; t_i = tweak + i (int) or tweak[i] (uint64 array).  None when the compiled kernel or
    AES-NI is missing: the caller then runs its numpy path, which computes the same words."""
    if not aesni():
        return None
    x = np.ascontiguousarray(x, dtype=np.uint64).reshape(-1, 2)
    out = np.empty((x.shape[0], k), dtype=np.uint64)
    if isinstance(tweak, np.ndarray):
        tw, base = np.ascontiguousarray(tweak, dtype=np.uint64), 0
    else:
        tw, base = b"", int(tweak) & _MASK64
    dl = b"" if delta is None else np.ascontiguousarray(delta, dtype=np.uint64)
    kernels.tccr(out, x, key, tw, base, dl, (k + 1) // 2, k)
    return out


def ot_pads(A: np.ndarray, B: np.ndarray, key: bytes, base: int, nbits: int) -> np.ndarray | None:
    """Pads of 1-of-2^m OTs from their key hashes A, B ((c, m, 2) uint64): pad[j, k] = low nbits
    of H(Y_k) with Y_k = XOR_i (bit i of k ? B[j, i] : A[j, i]) and tweak (base + j·2^m + k) | 2^63;
    (c, 2^m) uint8 when nbits ≤ 8, else uint64.  None without the kernel or AES-NI."""
    if not aesni():
        return None
    c, m = A.shape[0], A.shape[1]
    N = 1 << m
    out = np.empty((c, N), dtype=np.uint8 if nbits <= 8 else np.uint64)
    mask = (1 << nbits) - 1 if nbits < 64 else _MASK64
    kernels.ot_pads(out, np.ascontiguousarray(A, dtype=np.uint64), np.ascontiguousarray(B, dtype=np.uint64), key,
                    m, N, int(base) & _MASK64, mask, int(nbits > 8))
    return out


def aesni() -> bool:
    """Whether the AES-NI kernels run here: the compiled module is in use (tests switch to the
    numpy paths by setting ``kernels = None``) and the CPU has AES-NI (asked once at import)."""
    return kernels is not None and _AESNI


_AESNI = kernels is not None and bool(kernels.tccr_available())


_EMPTY64 = np.zeros(0, dtype=np.uint64)
_EMPTY8 = np.zeros(0, dtype=np.uint8)


def acot_fields(mode: int, out: np.ndarray, a, v: np.ndarray, d, b, masks: np.ndarray) -> bool:
    """One pass of ``protocols.ot.extensions.acot`` in place on ``out`` ((F, n, k) uint64; see
    section 9 of ``_native.c`` for the three modes); ``a`` (mode 0), ``d`` (modes 1, 2) and ``b``
    (mode 2) as there, None where unused; ``v`` may be a broadcast view (a product's operand
    repeated over its fields), copied here for the kernel.  False (nothing done) without the
    kernels or with a non-contiguous ``out`` / ``a``: the caller then runs its numpy passes."""
    if kernels is None or any(x is not None and (x.dtype != np.uint64 or not x.flags.c_contiguous) for x in (out, a)):
        return False
    v = np.ascontiguousarray(v, dtype=np.uint64)
    F, n, k = out.shape
    bits = [np.ascontiguousarray(x, dtype=np.uint8).reshape(-1) if x is not None else _EMPTY8 for x in (d, b)]
    kernels.acot_fields(mode, out, _EMPTY64 if a is None else a, v, bits[0], bits[1],
                        np.ascontiguousarray(masks, dtype=np.uint64), F, n, k)
    return True

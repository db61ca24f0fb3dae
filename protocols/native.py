"""The optional compiled kernels of ``protocols/_native.c`` (built by ``setup.py`` when a C
compiler is available).

``kernels`` is the module or None; every caller keeps a numpy path with identical output, so the
framework works without a compiler, only slower:

* ``xor_rows`` — Ferret's LPN rows (:func:`protocols.ot.ferret.lpn_apply`) and the dual EA code's
  rows (:func:`protocols.ot.silent.ea_rows`): ~3× faster than ten numpy gathers per row;
* ``pack_words`` / ``unpack_words`` — dense bit packing of RLWE coefficients
  (``protocols.he.rlwe._packw`` / ``_unpackw``);
* ``mulmod_const`` / ``mul128_const`` — 128-bit products for the HE multiplication's modular
  arithmetic (``protocols.he.simd_mul.mulmod`` / ``mul128``).

Tests switch to the numpy paths by setting ``protocols.native.kernels = None``.
"""
from __future__ import annotations

try:
    from . import _native as kernels
except ImportError:  # pragma: no cover - depends on the build
    kernels = None


def kernel_path() -> str:
    """``"c"`` when the compiled kernels are loaded, else ``"numpy"``."""
    return "numpy" if kernels is None else "c"

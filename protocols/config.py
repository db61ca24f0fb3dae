"""One configuration object for every numeric knob of the protocols.

Ring size, fixed-point fraction bits, approximation degrees and iteration counts live here, never
as constants inside a protocol.  The active configuration is held in a ``ContextVar`` so that a
scoped override (``with override(frac=12): ...``) affects only the code that runs inside it
(including the two party threads that :func:`protocols.channel.run_two_party` starts, which copy
the caller's context).

Both parties must run with the same configuration; the handshake (``party/``) compares
:meth:`Config.fingerprint` of the two sides and rejects a mismatch.
"""
from __future__ import annotations

import contextvars
import dataclasses
import hashlib
import json
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Iterator


@dataclass(frozen=True)
class Config:
    # --- ring and fixed point ---------------------------------------------------------------
    ell: int = 64
    """Bits of the arithmetic ring Z_{2^ell} that linear layers use (1 <= ell <= 64)."""
    frac: int = 18
    """Fractional bits of the fixed-point encoding in the linear ring."""
    ell_nl: int = 32
    """Ring bits for non-linear layers (a smaller ring makes every OT-based step cheaper)."""
    frac_nl: int = 13
    """Fractional bits in the non-linear ring."""

    # --- OT-based protocols -----------------------------------------------------------------
    cmp_digit_bits: int = 3
    """Digit size of the millionaires' comparison (1-of-2^m OT per digit).  At 64 bits, 3-bit
    digits send 70 B per comparison against 85 B with 4-bit digits, for ~9 % more time (bench
    primitives cmp64, lan: 21.0 vs 19.2 s at n = 10^6)."""
    cmp_digit_bits_narrow: int = 4
    """Digit size of comparisons on at most ``cmp_narrow_bits`` bits (the span rings of GELU,
    softmax and the clamps): 4-bit digits take one AND level and one bit triple per comparison less
    at 10–16 bits (12 bits: 3 digits instead of 4) for 2^4 instead of 2^3 table entries; 0 = use
    ``cmp_digit_bits`` everywhere."""
    cmp_narrow_bits: int = 16
    """Widest comparison (bits) that uses ``cmp_digit_bits_narrow``."""
    cmp_digit_bits_small: int = 6
    """Digit size of a comparison call of at most ``cmp_small_count`` comparisons (elements ×
    thresholds): such calls are latency-bound, and 6-bit digits take one AND level (one round)
    less than 4-bit ones at 12–24 bits (the last levels of softmax's maximum, the reciprocal's
    thresholds) for tables that stay small at that count; 0 = off."""
    cmp_small_count: int = 1 << 15
    """Largest comparison call (elements × thresholds) that uses ``cmp_digit_bits_small``."""
    trunc_mode: str = "faithful"
    """'faithful' (wrap bit exact, 1 COT: ⌊x/2^f⌋ + {0,1}, never fails) or 'probabilistic' (local,
    no traffic: ⌊x/2^f⌋ + {0,1} except with probability ≤ 2^(k+1−ell) for |x| < 2^k); see
    protocols/trunc.py."""

    ot_batch: int = 1 << 20
    """COTs drawn per exchange inside arithmetic kernels (mul_aa uses ell per element): bounds the
    working set (~16 B per COT and hash) at the price of one round per batch."""
    cmp_batch: int = 1 << 16
    """64-bit comparisons per pass of the millionaires' comparison (protocols/compare.py): bounds
    the working set (~1.5 KB of COT blocks per 64-bit comparison) at the price of its ~5 rounds per
    pass; narrower comparisons fit 64/nbits times more elements (``compare.pass_size``)."""

    # --- iterative approximations -------------------------------------------------------------
    recip_iters: int = 3
    """Newton iterations for 1/x."""
    rsqrt_iters: int = 3
    """Newton iterations for 1/sqrt(x)."""
    recip_range: tuple[float, float] = (1.0, 1024.0)
    """Input range promised by callers of reciprocal_a (softmax denominators lie in [1, T])."""
    rsqrt_range: tuple[float, float] = (2.0**-10, 2.0**12)
    """Input range promised by callers of rsqrt_a (LayerNorm variance + eps)."""
    exp_squarings: int = 8
    """n in exp(x) ~ (1 + x/2^n)^(2^n) (BumbleBee/SPU-style baseline)."""

    # --- homomorphic linear layers (protocols/he) -----------------------------------------------
    he_n: int = 8192
    """RLWE ring dimension N of the COP / baseline ciphertexts (power of two)."""
    he_stat_bits: int = 40
    """Statistical security of noise flooding (bits), on top of the union bound below."""
    he_union_bits: int = 20
    """log2 of the largest number of ciphertext coefficients one query may return (union bound)."""
    mul_engine: str = "ot"
    """Engine of ``mul_aa`` on unbounded shares: 'ot' (Gilboa products on COT, ~ell²/2 bits per
    cross term), 'he' (batched BFV, protocols/he/simd_mul.py: ~196 B per product at
    ell = 64 against 536 B, more CPU) or 'auto' (he for ell >= 48 and at least one full
    ciphertext of 8192 elements, else ot)."""
    he_mul_block: int = 8
    """SIMD-mul pipelining: ciphertexts per context in one message (8 x 8192 elements)."""
    he_mul_backend: str = "native"
    """Backend of the 'he' mul engine: 'native' (our batched BFV on the compiled NTT, SEAL's primes
    and 128-bit bound; ~2-3x less CPU) or 'seal' (the same protocol on SEAL's own BFV through
    tenseal.sealapi).  Both parties must use the same one (checked at set-up)."""
    he_prepared_mb: int = 4096
    """Memory budget (MiB) for the COP client's in-memory BLAS operands (least recently used
    matrices are dropped and rebuilt from the disk cache when needed again)."""
    he_compact: bool = True
    """COP: the client holds each weight ciphertext's b only on its M output coefficients (setup
    traffic and storage / (N/M)); products then return one token per ciphertext instead of N/M."""
    he_max_terms: int = 32768
    """Largest number of scalar x ciphertext terms summed into one returned coefficient
    (tokens per packed ciphertext x inner dimension); sizes the modulus for the noise bound."""

    # --- free-form approximation knobs (table names, degrees) ---------------------------------
    extra: tuple[tuple[str, Any], ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if not 1 <= self.ell <= 64:
            raise ValueError(f"ring size ell={self.ell} is outside 1..64")
        if not 1 <= self.ell_nl <= 64:
            raise ValueError(f"non-linear ring size ell_nl={self.ell_nl} is outside 1..64")
        if not 0 <= self.frac < self.ell - 1:
            raise ValueError(f"frac={self.frac} must be below ell-1={self.ell - 1}")
        if not 0 <= self.frac_nl < self.ell_nl - 1:
            raise ValueError(f"frac_nl={self.frac_nl} must be below ell_nl-1={self.ell_nl - 1}")
        if self.trunc_mode not in ("faithful", "probabilistic"):
            raise ValueError(f"trunc_mode must be 'faithful' or 'probabilistic', not {self.trunc_mode!r}")
        if self.mul_engine not in ("ot", "he", "auto"):
            raise ValueError(f"mul_engine must be 'ot', 'he' or 'auto', not {self.mul_engine!r}")
        if self.he_mul_backend not in ("native", "seal"):
            raise ValueError(f"he_mul_backend must be 'native' or 'seal', not {self.he_mul_backend!r}")
        if self.cmp_digit_bits not in (1, 2, 3, 4, 5, 6, 7, 8):
            raise ValueError("cmp_digit_bits must be in 1..8")
        if self.cmp_digit_bits_narrow not in (0, 1, 2, 3, 4, 5, 6, 7, 8):
            raise ValueError("cmp_digit_bits_narrow must be in 0..8 (0: cmp_digit_bits everywhere)")

    def get(self, key: str, default: Any = None) -> Any:
        """Look up a free-form knob from ``extra``."""
        for k, v in self.extra:
            if k == key:
                return v
        return default

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["extra"] = {k: v for k, v in self.extra}
        return d

    def fingerprint(self) -> str:
        """Stable hash of every knob; both parties must agree on it."""
        blob = json.dumps(self.to_dict(), sort_keys=True, default=str).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


_current: contextvars.ContextVar[Config] = contextvars.ContextVar("party_config", default=Config())


def get_config() -> Config:
    """The configuration in force in this context."""
    return _current.get()


def set_config(cfg: Config) -> None:
    """Replace the configuration for the rest of this context (CLI start-up, sessions)."""
    _current.set(cfg)


@contextmanager
def override(**changes: Any) -> Iterator[Config]:
    """Scoped override: ``with override(ell=32, frac=12): ...``.

    Keys not in :class:`Config` go into ``extra`` (free-form approximation knobs).
    """
    base = _current.get()
    known = {f.name for f in dataclasses.fields(Config)}
    extra = dict(base.extra)
    direct = {}
    for k, v in changes.items():
        if k in known:
            direct[k] = v
        else:
            extra[k] = v
    cfg = dataclasses.replace(base, extra=tuple(sorted(extra.items())), **direct)
    token = _current.set(cfg)
    try:
        yield cfg
    finally:
        _current.reset(token)

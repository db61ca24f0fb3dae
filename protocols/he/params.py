"""RLWE parameter sets for the HE linear layers, chosen from the noise bound and checked against
SEAL's 128-bit security table.

Modulus structure (why ``Q = 2^ell * P``)
-----------------------------------------
Plaintexts live in Z_t with t = 2^ell, the ring of the secret shares.  The ciphertext modulus is
``Q = t * P`` with ``P`` a product of odd primes, so the BFV scale is exactly ``Delta = Q / t = P``.
With an exact scale, ``sum_j x_j * Enc(m_j)`` decrypts to ``sum_j x_j m_j mod t`` with no rounding
term (plain BFV with ``Delta = floor(Q/t)`` adds ``(Q mod t) * floor(sum x_j m_j / t)`` of error,
~n t^2, which needs Q > n t^3 and is out of reach for ell = 64).  Any ell in 1..64 works, in
particular ell = 64, so the COP output is exact in the caller's ring.

Ciphertexts are held in RNS: one "t-limb" (residue mod 2^ell, uint64) and one residue per prime.
Primes are below 2^21, so a centred residue is below 2^20 in magnitude and a product of two is
below 2^40: sums of up to 4096 such products are exact in float64 (< 2^52).  This is what lets the
client's multiply-accumulate run as float64 BLAS matrix products (one product per prime limb, a few
for the t-limb split in balanced 22-bit digits).  No NTT is needed anywhere: the only polynomial
products are with ternary polynomials (secret key, encryption-of-zero randomness), done exactly
with a float FFT.

Noise budget (all bounds worst case, |e| <= eta = 21 for the centred-binomial error, sigma ~ 3.24):

* after the client's multiply-accumulate and packing (<= ``max_terms`` terms with |x| <= 2^(ell-1))
  plus the re-randomising encryption of zero (u ternary):
  ``B_pre = max_terms * 2^(ell-1) * eta + 2 N eta + eta``;
* the client drops the primes of ``D`` (rescale by 1/D):  ``B' = B_pre / D + 1 + N``;
* flooding adds uniform noise in [-F, F), F = 2^flood_bits >= 2^(stat + union) * B': statistical
  distance <= (#coefficients) * B' / F <= 2^-stat for every pair of client inputs;
* correctness after the switch: ``B' + F < P'' / 4`` where ``P''`` = kept primes (the factor 4
  leaves room for the float-assisted centring in decryption).

:func:`choose_params` picks the fewest primes meeting these inequalities and
:meth:`HEParams.check_security` compares ``log2 Q`` with ``CoeffModulus.MaxBitCount(N, tc128)``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

from ..config import get_config

ETA = 21  # centred binomial parameter: e = popcount(21 bits) - popcount(21 bits), sigma = sqrt(10.5)
PRIME_BITS = 21  # primes < 2^21 (centred residues < 2^20)
DIGIT_BITS = 22  # balanced digits of the t-limb: |digit| <= 2^21
MAX_INNER = 4096  # inner chunk for prime limbs: 4096 * (2^20)^2 = 2^52, exact in float64
MAX_INNER_T = 2048  # inner chunk for t-limb digits: 2048 * (2^21)^2 = 2^53, exact in float64


def is_prime(n: int) -> bool:
    """Miller-Rabin with the first twelve primes as witnesses: deterministic below 3.3·10^24."""
    if n < 2:
        return False
    for p in (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37):
        if n % p == 0:
            return n == p
    d, s = n - 1, 0
    while d % 2 == 0:
        d //= 2
        s += 1
    for a in (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37):
        x = pow(a, d, n)
        if x in (1, n - 1):
            continue
        for _ in range(s - 1):
            x = x * x % n
            if x == n - 1:
                break
        else:
            return False
    return True


@lru_cache(maxsize=None)
def primes_below(bound: int, count: int) -> tuple[int, ...]:
    """The ``count`` largest primes below ``bound`` (deterministic, public)."""
    out = []
    n = bound - 1
    while len(out) < count:
        if is_prime(n):
            out.append(n)
        n -= 2 if n % 2 else 1
    return tuple(out)


def seal_max_bits(n: int) -> int:
    """SEAL's largest total coefficient-modulus size for 128-bit classical security at degree n."""
    from tenseal import sealapi

    return int(sealapi.CoeffModulus.MaxBitCount(n, sealapi.SEC_LEVEL_TYPE.TC128))


@dataclass(frozen=True)
class HEParams:
    n: int  # ring dimension N
    ell: int  # plaintext modulus t = 2^ell
    primes: tuple[int, ...]  # all primes of P; the first ``n_keep`` form P'' (kept after the switch)
    n_keep: int
    flood_bits: int
    max_terms: int

    # --- derived -----------------------------------------------------------------------------
    @property
    def t(self) -> int:
        return 1 << self.ell

    @property
    def P(self) -> int:
        return math.prod(self.primes)

    @property
    def P_keep(self) -> int:
        return math.prod(self.primes[: self.n_keep])

    @property
    def D(self) -> int:
        return math.prod(self.primes[self.n_keep :])

    @property
    def log2_q(self) -> float:
        return self.ell + math.log2(self.P)

    @property
    def log2_q_keep(self) -> float:
        return self.ell + math.log2(self.P_keep)

    @property
    def digits(self) -> int:
        """Balanced 22-bit digits that represent a t-limb value mod 2^ell."""
        return -(-self.ell // DIGIT_BITS)

    def digit_pairs(self) -> list[tuple[int, int]]:
        """(a, b) digit pairs whose product 2^(22(a+b)) still matters mod 2^ell."""
        k = self.digits
        return [(a, b) for a in range(k) for b in range(k) if DIGIT_BITS * (a + b) < self.ell]

    def check_security(self) -> None:
        """Raise if log2 Q exceeds SEAL's 128-bit bound for this N (secret ternary, sigma 3.2)."""
        limit = seal_max_bits(self.n)
        if self.log2_q > limit:
            raise ValueError(
                f"HE parameters are below 128-bit security: log2 Q = {self.log2_q:.1f} > {limit} "
                f"(SEAL CoeffModulus.MaxBitCount({self.n}, tc128))"
            )

    def noise_bounds(self) -> dict[str, float]:
        """log2 of the worst-case noise at each stage (see the module docstring)."""
        b_pre = self.max_terms * 2.0 ** (self.ell - 1) * ETA + 2 * self.n * ETA + ETA
        b_sw = b_pre / self.D + 1 + self.n
        return {
            "pre_switch": math.log2(b_pre),
            "after_switch": math.log2(b_sw),
            "flood": float(self.flood_bits),
            "budget": math.log2(self.P_keep / 4),
        }

    def fingerprint(self) -> str:
        return f"N{self.n}-l{self.ell}-p{len(self.primes)}k{self.n_keep}-f{self.flood_bits}-m{self.max_terms}"


def choose_params(
    ell: int,
    n: int | None = None,
    stat_bits: int | None = None,
    union_bits: int | None = None,
    max_terms: int | None = None,
) -> HEParams:
    """Smallest parameter set for plaintext ring 2^ell meeting the noise and flooding bounds.

    Defaults come from :func:`protocols.config.get_config` (``he_n``, ``he_stat_bits``,
    ``he_union_bits``, ``he_max_terms``).  Raises ``ValueError`` if no 128-bit-secure set exists.
    """
    cfg = get_config()
    n = cfg.he_n if n is None else n
    stat_bits = cfg.he_stat_bits if stat_bits is None else stat_bits
    union_bits = cfg.he_union_bits if union_bits is None else union_bits
    max_terms = cfg.he_max_terms if max_terms is None else max_terms
    if not 1 <= max_terms <= (1 << 22):
        raise ValueError("he_max_terms must be in 1..2^22 (int64 packing bound)")
    if not 1 <= ell <= 64:
        raise ValueError(f"ell={ell} outside 1..64")
    if n & (n - 1) or n < 1024:
        raise ValueError(f"ring dimension {n} must be a power of two >= 1024")
    pool = primes_below(1 << PRIME_BITS, 40)
    log_p = [math.log2(p) for p in pool]
    b_pre = max_terms * 2.0 ** (ell - 1) * ETA + 2 * n * ETA + ETA
    best = None
    for total in range(2, 30):
        for n_keep in range(1, total):  # prefer the smallest returned ciphertexts
            keep_bits = sum(log_p[:n_keep])
            drop_bits = sum(log_p[n_keep:total])
            b_sw = b_pre / 2.0**drop_bits + 1 + n
            flood_bits = math.ceil(math.log2(b_sw)) + stat_bits + union_bits
            if flood_bits + 1 + 2 < keep_bits and flood_bits <= 100:  # B' + F <= 2^(flood+1) < P''/4
                best = (total, n_keep, flood_bits)
                break
        if best:
            break
    if best is None:
        raise ValueError(f"no parameter set for ell={ell}, N={n}")
    total, n_keep, flood_bits = best
    params = HEParams(n=n, ell=ell, primes=pool[:total], n_keep=n_keep, flood_bits=flood_bits, max_terms=max_terms)
    params.check_security()
    return params

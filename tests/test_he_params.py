"""HE parameter sets: 128-bit security against SEAL's table, noise bound consistency."""
import math

import pytest

from protocols.config import override
from protocols.he.params import ETA, HEParams, choose_params, primes_below, seal_max_bits


@pytest.mark.parametrize("ell", [8, 16, 24, 32, 37, 41, 48, 64])
def test_chosen_params_are_128_bit_secure(ell):
    p = choose_params(ell)
    assert p.log2_q <= seal_max_bits(p.n)  # SEAL CoeffModulus.MaxBitCount(N, tc128)
    assert seal_max_bits(8192) == 218 and seal_max_bits(4096) == 109
    p.check_security()


def test_insecure_params_are_refused():
    """Fails if a parameter set above SEAL's 128-bit modulus bound slips through."""
    big = HEParams(n=4096, ell=64, primes=primes_below(1 << 21, 4), n_keep=2, flood_bits=60, max_terms=1024)
    assert big.log2_q > seal_max_bits(4096)
    with pytest.raises(ValueError, match="128-bit"):
        big.check_security()
    with override(he_n=4096), pytest.raises(ValueError):
        choose_params(64)  # no 128-bit set for ell = 64 at N = 4096


@pytest.mark.parametrize("ell", [16, 40, 64])
def test_noise_budget_inequalities(ell):
    p = choose_params(ell)
    nb = p.noise_bounds()
    b_pre = p.max_terms * 2.0 ** (ell - 1) * ETA + 2 * p.n * ETA + ETA
    b_sw = b_pre / p.D + 1 + p.n
    assert math.isclose(nb["after_switch"], math.log2(b_sw))
    # flooding covers the switched noise with stat + union bits, and stays below P''/4
    assert p.flood_bits >= math.log2(b_sw) + 40 + 20
    assert p.flood_bits + 1 < math.log2(p.P_keep) - 2
    assert all(q < (1 << 21) and q % 2 for q in p.primes) and len(set(p.primes)) == len(p.primes)


def test_config_knobs_change_params():
    base = choose_params(32)
    with override(he_stat_bits=50):
        assert choose_params(32).flood_bits >= base.flood_bits + 10

"""protocols/he/simd_mul.py: batched-BFV products of shares against numpy, exact traffic, the
noise budget and 128-bit parameters, malformed messages.  The two-process run over gRPC is
tests/test_mul.py::test_kernels_two_processes_over_grpc[he-9000] (mul_aa dispatches to this engine)."""
import math

import numpy as np
import pytest

from protocols.channel import ProtocolError, run_two_party
from protocols.config import override
from protocols.context import MPC
from protocols.he.simd_mul import (
    Budget, SimdMul, SimdParams, addmod, contexts_needed, garner_mod2k, mul128, mul_aa_he, mul_aa_he_cost,
    mul_aa_he_ideal, mulmod, submod,
)
from protocols.he.simd_mul_seal import SealSimdMul
from protocols.mul import mul_aa, mul_engine
from protocols.ring import Ring

from _twoparty import edge_values, run_mpc, shares


def _inputs(R, rng, n):
    e = edge_values(R)
    x = np.concatenate([e, e, R.reduce(rng.integers(0, 2**64, size=n, dtype=np.uint64))])
    y = np.concatenate([e, e[::-1], R.reduce(rng.integers(0, 2**64, size=n, dtype=np.uint64))])
    return x, y


def _run(x0, y0, x1, y1, ell, backend="native", **cfg):
    def f(m, a, b):
        with override(he_mul_backend=backend):
            SimdMul.of(m)  # key set-up outside the measured part
            start = m.ch.snapshot()
            with override(**cfg):
                z = mul_aa_he(m, a, b, ell=ell)
            return z, m.ch.cost_since(start)

    (z0, c0), (z1, c1), _, _ = run_mpc(f, (x0, y0), (x1, y1))
    return z0, z1, c0, c1


@pytest.mark.parametrize("ell,n,block,backend", [(64, 300, 8, "native"), (32, 300, 8, "native"),
                                                 (64, 2 * 8192 + 5, 1, "native"), (47, 50, 8, "native"),
                                                 (64, 300, 8, "seal"), (64, 8192 + 5, 1, "seal")])
def test_mul_aa_he_exact_and_cost(ell, n, block, backend, rng):
    """Both backends: our BFV on the compiled NTT (default) and SEAL's own (real SEAL ciphertexts)."""
    R = Ring(ell)
    x, y = _inputs(R, rng, n)
    x0, x1 = shares(R, x, rng)
    y0, y1 = shares(R, y, rng)
    z0, z1, c0, c1 = _run(x0, y0, x1, y1, ell, backend, he_mul_block=block)
    assert np.array_equal(R.add(z0, z1), mul_aa_he_ideal(x, y, ell))
    assert np.all(z0 <= R.mask) and np.all(z1 <= R.mask)
    with override(he_mul_block=block, he_mul_backend=backend):
        cost = mul_aa_he_cost(x.size, ell)
    assert c1.bytes_sent == cost["bytes_1to0"] and c0.bytes_sent == cost["bytes_0to1"]
    assert c0.bytes_recv == c1.bytes_sent
    assert max(c0.rounds, c1.rounds) == cost["rounds"] == (2 if x.size > 8192 else 1)
    assert c0.msgs_sent == c1.msgs_sent == cost["msgs"]


def test_numpy_path_gives_the_same_product(rng, native_path):
    """The engine on the numpy twins of the NTT kernels (no compiled module) is exact too."""
    R = Ring(64)
    x, y = _inputs(R, rng, 40)
    x0, x1 = shares(R, x, rng)
    y0, y1 = shares(R, y, rng)
    z0, z1, _, _ = _run(x0, y0, x1, y1, 64)
    assert np.array_equal(R.add(z0, z1), R.mul(x, y))


def test_cost_per_element_and_shapes(rng):
    """~196 B per product at ell = 64 for full ciphertexts (vs 536 B for Gilboa/COT); any shape."""
    n = 3 * 8192
    c = mul_aa_he_cost(n, 64)
    per = (c["bytes_0to1"] + c["bytes_1to0"]) / n
    assert 190 < per < 200
    R = Ring(64)
    x = R.reduce(rng.integers(0, 2**64, size=(3, 5, 7), dtype=np.uint64))
    y = R.reduce(rng.integers(0, 2**64, size=(3, 5, 7), dtype=np.uint64))
    x0, x1 = shares(R, x, rng)
    y0, y1 = shares(R, y, rng)
    z0, z1, _, _ = _run(x0, y0, x1, y1, 64)
    assert z0.shape == (3, 5, 7) and np.array_equal(R.add(z0, z1), R.mul(x, y))


def test_mul_aa_engine_dispatch(rng):
    assert mul_engine(64, 8192, "auto") == "he" and mul_engine(64, 100, "auto") == "ot"
    assert mul_engine(32, 10**6, "auto") == "ot"
    with pytest.raises(ValueError):
        mul_engine(64, 10, "gpu")
    R = Ring(64)
    x, y = _inputs(R, rng, 100)
    x0, x1 = shares(R, x, rng)
    y0, y1 = shares(R, y, rng)
    z0, z1, c0, c1 = run_mpc(lambda m, a, b: mul_aa(m, a, b, ell=64, engine="he"), (x0, y0), (x1, y1))
    assert np.array_equal(R.add(z0, z1), R.mul(x, y))


def test_modular_helpers_against_python_ints(rng, native_path):
    """The modular kernels (compiled and numpy) against their plaintext twins: Python integers."""
    for q in (1152921504606830593, 274877202433, 144115188075593729, 3):
        a = rng.integers(0, 2**64, size=2000, dtype=np.uint64)
        a[:3] = [0, 1, 2**64 - 1]
        for c in (0, 1, q - 1, int(rng.integers(0, q))):
            assert [int(v) for v in mulmod(a, c, q)] == [int(v) * c % q for v in a]
        u, v = a % np.uint64(q), a[::-1] % np.uint64(q)
        assert [int(x) for x in addmod(u, v, q)] == [(int(x) + int(y)) % q for x, y in zip(u, v)]
        assert [int(x) for x in submod(u, v, q)] == [(int(x) - int(y)) % q for x, y in zip(u, v)]
    a = rng.integers(0, 2**64, size=500, dtype=np.uint64)
    b = rng.integers(0, 2**64, size=500, dtype=np.uint64)
    hi, lo = mul128(a, b)
    assert [(int(h) << 64) | int(l) for h, l in zip(hi, lo)] == [int(u) * int(v) for u, v in zip(a, b)]
    for c in (0, 1, 2**64 - 1, int(b[0])):
        hi, lo = mul128(a, np.uint64(c))
        assert [(int(h) << 64) | int(l) for h, l in zip(hi, lo)] == [int(u) * c for u in a]
    mods = [144115188074889217, 144115188075134977, 144115188075593729]
    T = math.prod(mods)
    vals = [0, 1, T - 1, 2**64, 2**129 + 12345] + [int(v) for v in rng.integers(0, 2**62, size=50)] * 1
    res = [np.array([v % m for v in vals], dtype=np.uint64) for m in mods]
    assert [int(v) for v in garner_mod2k(res, mods)] == [v % 2**64 for v in vals]


@pytest.mark.parametrize("kind", [SimdMul, SealSimdMul])
def test_parameters_are_128_bit_and_budget_holds(kind):
    eng = kind(None)
    b = eng.budget
    assert sum(eng.p.coeff_bits) + eng.extra_bits() <= 218  # SEAL's MaxBitCount(8192, tc128)
    assert b.used < 0.5 and b.flood_bits <= 62 and 0 < b.d1 <= b.d0
    # the flood hides the input-dependent noise by stat + union bits
    assert 2.0 ** b.flood_bits >= 2.0 ** (eng.p.stat_bits + eng.p.union_bits) * b.s_in
    assert (b.d0, b.d1) == (60, 48)
    # the mask: T >= 2^(2 ell + 1 + stat) with 3 primes at ell = 64, 2 at ell = 32
    assert contexts_needed(64, eng.t, 40) == 3 and contexts_needed(32, eng.t, 40) == 2
    with pytest.raises(ValueError, match="128-bit"):
        SimdMul(None, SimdParams(coeff_bits=(60, 60, 60, 40, 20)))
    with pytest.raises(ValueError):
        Budget(SimdParams(), eng.q[:3], max(eng.t))  # data level too small for the products



def test_malformed_ciphertexts_are_rejected(rng):
    """The evaluator refuses residues out of range and a wrong parameter fingerprint."""
    R = Ring(64)
    x = R.reduce(rng.integers(0, 2**64, size=10, dtype=np.uint64))

    def evaluator(ch):
        mpc = MPC(ch=ch, ot=None)
        return mul_aa_he(mpc, x, x, ell=64)

    def bad_key_owner(ch):
        mpc = MPC(ch=ch, ot=None)
        eng = SimdMul.of(mpc)
        words = sum(eng.up_words(2 * 3))
        ch.send(np.full(words, 2**64 - 1, dtype=np.uint64), np.zeros(16, dtype=np.uint8))
        ch.recv()

    with pytest.raises(ProtocolError, match="out of range"):
        run_two_party(evaluator, bad_key_owner, timeout=30)

    def wrong_params(ch):
        ch.send(np.zeros(32, dtype=np.uint8), np.zeros(10, dtype=np.uint8), np.zeros(10, dtype=np.uint8),
                np.zeros(10, dtype=np.uint8))
        ch.recv()

    with pytest.raises(ProtocolError, match="parameters differ"):
        run_two_party(evaluator, wrong_params, timeout=30)


def test_public_key_is_an_rlwe_sample_and_backends_must_match():
    """Each party's public key (b, a) under the peer's secret s: b + a·s is the small error;
    peers on different backends stop at set-up with a clear error."""
    from protocols.he import ntt
    from protocols.he.params import ETA

    def keys(m, _a, _b):
        eng = SimdMul.of(m)
        return eng.s_ntt, eng.pk_b, eng.pk_a

    (s0, b0, a0), (s1, b1, a1), _, _ = run_mpc(keys, (None, None), (None, None))
    eng = SimdMul(None)
    for s_own, b_peer, a_peer in ((s0, b1, a1), (s1, b0, a0)):
        for j, tab in enumerate(eng.tq):
            e = ntt.intt(ntt.mulmod(a_peer[j][None], s_own[j], tab, out=b_peer[j][None].copy(), accumulate=1), tab)[0]
            centred = np.where(e > tab.q // 2, e.astype(object) - tab.q, e.astype(object))
            assert max(abs(int(v)) for v in centred) <= ETA

    def native(ch):
        return SimdMul.of(MPC(ch=ch, ot=None))

    def seal(ch):
        with override(he_mul_backend="seal"):
            return SimdMul.of(MPC(ch=ch, ot=None))

    with pytest.raises(ProtocolError, match="parameters differ"):
        run_two_party(native, seal, timeout=60)

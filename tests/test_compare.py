"""Millionaires' comparison, MSB/DReLU, wrap bit, less-than: exact against numpy, exact traffic."""
import numpy as np
import pytest

from protocols.compare import (
    cmp,
    cmp_cost,
    cmp_ideal,
    drelu_a,
    lt_aa,
    lt_ap,
    lt_ideal,
    msb_a,
    msb_cost,
    msb_ideal,
    pass_size,
    wrap_a,
    wrap_ideal,
)
from protocols.config import override
from protocols.ring import Ring

from _twoparty import run_job_in_processes, run_mpc


def _run(f, in0, in1, kind="insecure-dealer"):
    """f(mpc, in_i) on party i over the shared two-party test helper."""
    return run_mpc(f, (in0,), (in1,), kind)


def _ring_values(rng, R: Ring, n: int) -> np.ndarray:
    """Random ring elements plus the edge values 0, ±1, ±2, extremes and the sign boundary."""
    x = rng.integers(0, 2**64 - 1, n, dtype=np.uint64, endpoint=True)
    x = R.reduce(x)
    edges = R.from_signed(np.array([0, 1, -1, 2, -2], dtype=np.int64))
    edges = np.concatenate([edges, R.reduce(np.array([R.half, R.half - np.uint64(1), R.half + np.uint64(1), R.mask], dtype=np.uint64))])
    x[: edges.size] = edges
    return x


@pytest.mark.parametrize("nbits,m", [(64, 4), (63, 4), (31, 4), (32, 3), (17, 2), (8, 8), (5, 1), (1, 4)])
def test_cmp(rng, nbits, m):
    n = 1500
    top = np.uint64((1 << nbits) - 1) if nbits < 64 else np.uint64(2**64 - 1)
    v0 = rng.integers(0, 2**64 - 1, n, dtype=np.uint64, endpoint=True) & top
    v1 = rng.integers(0, 2**64 - 1, n, dtype=np.uint64, endpoint=True) & top
    # edges: equal values, ±1, all digits equal but the lowest, extremes
    v1[:200] = v0[:200]
    v1[200:300] = v0[200:300] ^ np.uint64(1)
    v0[300:304] = [0, 0, top, top]
    v1[300:304] = [0, top, 0, top]
    with override(cmp_digit_bits=m, cmp_digit_bits_narrow=m):
        z0, z1, c0, c1 = _run(lambda mpc, v: cmp(mpc, v, nbits=nbits), v0, v1)
        cost = cmp_cost(n, nbits)
    np.testing.assert_array_equal(z0 ^ z1, cmp_ideal(v0, v1))
    assert c0.bytes_sent == c1.bytes_recv == cost["bytes_0to1"]
    assert c1.bytes_sent == c0.bytes_recv == cost["bytes_1to0"]
    assert c1.rounds == cost["rounds"] and c0.rounds <= cost["rounds"]


@pytest.mark.parametrize("ell", [64, 32, 37, 8])
def test_msb_drelu(rng, ell):
    R = Ring(ell)
    n = 2000
    x = _ring_values(rng, R, n)
    x0, x1 = R.share(x)

    def f(mpc, xs):
        with mpc.ch.scope("msb") as rec:
            m = msb_a(mpc, xs, ell=ell)
        return m, drelu_a(mpc, xs, ell=ell), rec.cost

    (m0, d0, k0), (m1, d1, k1), _, _ = _run(f, x0, x1)
    np.testing.assert_array_equal(m0 ^ m1, msb_ideal(x, ell))
    np.testing.assert_array_equal(d0 ^ d1, 1 - msb_ideal(x, ell))
    cost = msb_cost(n, ell)
    assert k0.bytes_sent == cost["bytes_0to1"] and k1.bytes_sent == cost["bytes_1to0"]
    assert k1.rounds == cost["rounds"]


def test_small_calls_take_wider_digits(rng):
    """A call of at most cmp_small_count comparisons uses cmp_digit_bits_small-bit digits: exact,
    the measured bytes and rounds are the analytic ones, and one AND level fewer than the 4-bit
    digits of a large call on the same 12 bits."""
    from protocols.compare import digit_size

    ell, n = 13, 3000
    assert digit_size(12, n) == 6 and digit_size(12, 1 << 16) == 4 and digit_size(12) == 4
    with override(cmp_digit_bits_small=0):
        assert digit_size(12, n) == 4
    R = Ring(ell)
    x = _ring_values(rng, R, n)
    x0, x1 = R.share(x)

    def f(mpc, xs):
        with mpc.ch.scope("msb") as rec:
            m = msb_a(mpc, xs, ell=ell)
        return m, rec.cost

    (m0, k0), (m1, k1), _, _ = _run(f, x0, x1)
    np.testing.assert_array_equal(m0 ^ m1, msb_ideal(x, ell))
    cost = msb_cost(n, ell)
    assert k0.bytes_sent == cost["bytes_0to1"] and k1.bytes_sent == cost["bytes_1to0"] and k1.rounds == cost["rounds"]
    with override(cmp_digit_bits_small=0):
        assert msb_cost(n, ell)["rounds"] == cost["rounds"] + 1


def test_msb_64bit_cost_budget():
    """The analytic 64-bit comparison cost is below the 120 B target even before COT traffic."""
    c = msb_cost(10**6, 64, 4)
    per = (c["bytes_0to1"] + c["bytes_1to0"]) / 10**6
    cots = (c["cots_0to1"] + c["cots_1to0"]) / 10**6
    assert per + cots * 0.44 / 8 <= 120
    # balanced: per pass of 2^16 elements (2^15 per owner) the choices and the tables cross (2
    # rounds on the channel counter, two one-way trips as before) and 4 AND levels
    assert c["rounds"] == 6 * ((10**6 + (1 << 16) - 1) >> 16)


@pytest.mark.parametrize("ell", [64, 20])
def test_wrap(rng, ell):
    R = Ring(ell)
    n = 1200
    x0 = _ring_values(rng, R, n)
    x1 = R.reduce(rng.integers(0, 2**64 - 1, n, dtype=np.uint64, endpoint=True))
    x1[:9] = R.sub(0, x0[:9])  # x0 + x1 = 0 mod 2^ell: wraps unless x0 = 0
    x1[9:18] = R.sub(R.mask, x0[9:18])  # x0 + x1 = 2^ell - 1: never wraps
    z0, z1, _, _ = _run(lambda mpc, v: wrap_a(mpc, v, ell=ell), x0, x1)
    np.testing.assert_array_equal(z0 ^ z1, wrap_ideal(x0, x1, ell))


@pytest.mark.parametrize("ell", [64, 32])
def test_lt_ap(rng, ell):
    R = Ring(ell)
    n = 1000
    q = 1 << (ell - 3)
    xs = rng.integers(-q, q, n)
    xs[:5] = [0, 1, -1, q - 1, -q]
    cs = np.array([0, 1, -1, 5, -q // 2])
    x = R.from_signed(xs)
    x0, x1 = R.share(x)
    for c in cs:
        z0, z1, _, _ = _run(lambda mpc, v: lt_ap(mpc, v, int(c), ell=ell), x0, x1)
        np.testing.assert_array_equal(z0 ^ z1, lt_ideal(x, c, ell), err_msg=f"c={c}")
    # a public array of thresholds: x vs x, x ± 1 ulp
    carr = np.stack([xs, xs + 1, xs - 1])
    z0, z1, _, _ = _run(lambda mpc, v: lt_ap(mpc, np.broadcast_to(v, carr.shape), carr, ell=ell), x0, x1)
    np.testing.assert_array_equal(z0 ^ z1, lt_ideal(np.broadcast_to(x, carr.shape), carr, ell))


@pytest.mark.parametrize("ell", [64, 16])
def test_lt_ap_exact_full_ring(rng, ell):
    R = Ring(ell)
    n = 600
    x = _ring_values(rng, R, n)
    lo, hi = -(1 << (ell - 1)), (1 << (ell - 1)) - 1
    x0, x1 = R.share(x)
    for c in [0, hi, lo, -1, 1, hi // 3, lo // 3]:
        z0, z1, _, _ = _run(lambda mpc, v: lt_ap(mpc, v, c, ell=ell, exact=True), x0, x1)
        np.testing.assert_array_equal(z0 ^ z1, lt_ideal(x, c, ell), err_msg=f"c={c}")


@pytest.mark.parametrize("ell", [64, 32])
def test_lt_aa(rng, ell):
    R = Ring(ell)
    n = 1000
    q = 1 << (ell - 2)
    a = rng.integers(-q, q, n)
    b = rng.integers(-q, q, n)
    b[:100] = a[:100]
    b[100:200] = a[100:200] + 1
    b[200:300] = a[200:300] - 1
    a[300:302] = [-q, q - 1]
    b[300:302] = [q - 1, -q]
    x, y = R.from_signed(a), R.from_signed(b)
    (x0, x1), (y0, y1) = R.share(x), R.share(y)
    z0, z1, _, _ = _run(lambda mpc, v: lt_aa(mpc, v[0], v[1], ell=ell), (x0, y0), (x1, y1))
    np.testing.assert_array_equal(z0 ^ z1, (a < b).astype(np.uint8))


def test_multi_pass_and_shapes(rng):
    """Inputs larger than cmp_batch run in several passes; any input shape is kept."""
    R = Ring(32)
    x = _ring_values(rng, R, 1000).reshape(10, 4, 25)
    x0, x1 = R.share(x)
    with override(cmp_batch=300):  # 300 64-bit comparisons = 619 31-bit ones per pass
        z0, z1, c0, c1 = _run(lambda mpc, v: msb_a(mpc, v, ell=32), x0, x1)
        cost = msb_cost(1000, 32)
        one_pass = msb_cost(300, 32)["rounds"]
    assert pass_size(31, batch=300) == 619
    assert z0.shape == (10, 4, 25)
    np.testing.assert_array_equal(z0 ^ z1, msb_ideal(x, 32))
    assert c1.rounds == cost["rounds"] == 2 * one_pass
    assert c0.bytes_sent == cost["bytes_0to1"]


def test_msb_iknp(rng):
    R = Ring(64)
    x = _ring_values(rng, R, 500)
    x0, x1 = R.share(x)
    z0, z1, _, _ = _run(lambda mpc, v: msb_a(mpc, v, ell=64), x0, x1, kind="iknp")
    np.testing.assert_array_equal(z0 ^ z1, msb_ideal(x, 64))


def test_cmp_rejects_oversized_inputs():
    with pytest.raises(ValueError):
        _run(lambda mpc, v: cmp(mpc, v, nbits=4), np.array([16], np.uint64), np.array([1], np.uint64))




@pytest.mark.parametrize("ot", ["insecure-dealer", "iknp"])
def test_two_processes_over_grpc(ot):
    """Server and client are separate OS processes talking over the gRPC transport."""
    import os
    import sys

    here = os.path.dirname(os.path.abspath(__file__))
    sys.path.insert(0, here)
    import _cmp_job

    params = {"seed": 11, "ell": 64, "n": 700, "cols": 33, "ot": ot}
    q = run_job_in_processes("_cmp_job", "test-cmp-kernels", params)
    (m, lt, mx), cost = q.result
    R, x, rows, _ = _cmp_job._data(params)
    np.testing.assert_array_equal(m, msb_ideal(x, 64))
    np.testing.assert_array_equal(lt, lt_ideal(x, -5, 64))
    np.testing.assert_array_equal(R.to_signed(mx), R.to_signed(rows).max(axis=1))
    if ot == "insecure-dealer":
        c = msb_cost(700, 64)
        assert cost["bytes_sent"] == c["bytes_1to0"] and cost["bytes_recv"] == c["bytes_0to1"]
        assert cost["rounds"] == c["rounds"]


@pytest.mark.parametrize("nbits,T,m", [(9, 4, 3), (31, 3, 4), (63, 2, 3), (5, 16, 2), (12, 1, 3)])
def test_cmp_multi_exact_and_cost(nbits, T, m, rng):
    """T comparisons of party 0's values against one value of party 1 share their OTs."""
    from protocols.compare import cmp_multi, cmp_multi_cost

    n = 500
    hi = 1 << nbits
    v0 = rng.integers(0, hi, size=(T, n), dtype=np.uint64)
    v1 = rng.integers(0, hi, size=n, dtype=np.uint64)
    v0[:, :3] = [0, hi - 1, 5 % hi]  # edges: extremes and ties
    v1[:3] = [0, hi - 1, 5 % hi]
    with override(cmp_digit_bits=m, cmp_digit_bits_narrow=m):
        z0, z1, c0, c1 = _run(lambda mpc, v: cmp_multi(mpc, v, T, nbits=nbits), v0, v1)
        cost = cmp_multi_cost(n, nbits, T)
        single = cmp_cost(n, nbits)
    np.testing.assert_array_equal(z0 ^ z1, (v0 > v1[None]).astype(np.uint8))
    assert c0.bytes_sent == cost["bytes_0to1"] and c1.bytes_sent == cost["bytes_1to0"]
    assert c1.rounds == cost["rounds"]
    # the choices and the OTs' COTs are paid once, not T times
    assert cost["cots_0to1"] - cost["cots_1to0"] == single["cots_0to1"] - single["cots_1to0"]
    if T > 1:
        assert cost["bytes_1to0"] < T * single["bytes_1to0"]


def test_msb_multi_thresholds(rng):
    from protocols.compare import msb_multi

    R = Ring(16)
    x = R.from_signed(rng.integers(-2**13, 2**13, size=(7, 9)))
    cs = np.array([-300, 0, 1, 4000], dtype=np.int64)
    x0, x1 = R.share(x)
    x0t = np.stack([R.sub(x0, R.from_signed(c)) for c in cs])
    z0, z1, _, _ = _run(lambda mpc, v: msb_multi(mpc, v, len(cs), ell=16), x0t, x1)
    want = (R.to_signed(x)[None] < cs[:, None, None]).astype(np.uint8)
    np.testing.assert_array_equal(z0 ^ z1, want)


@pytest.mark.parametrize("n", [1, 2, 57])
def test_ge_multi_ap_small_ring_exact_and_cost(n, rng):
    """[x ≥ c_t] for T thresholds in ring k < ell (the promise |x − c_t| < 2^(k−1)), balanced
    between the parties: exact against numpy on random values, the thresholds themselves, ±1
    around them and the ends of the promised range; bytes and rounds equal ge_multi_cost."""
    from protocols.compare import ge_multi_ap, ge_multi_cost

    ell, k = 40, 18
    R = Ring(ell)
    cs = np.array([-1000, 0, 1, 5000, 60000], dtype=np.int64)
    v = rng.integers(-(2**16), 2**16, size=n)
    edges = np.concatenate([cs, cs - 1, cs + 1, [-(2**16) + 1, 2**16 - 1]])
    v[: min(n, edges.size)] = edges[: min(n, edges.size)]
    x = R.from_signed(v)
    x0, x1 = R.share(x)
    consts = [R.from_signed(np.int64(c))[()] for c in cs]
    z0, z1, c0, c1 = _run(lambda mpc, s: ge_multi_ap(mpc, s, consts, ell=ell, k=k), x0, x1)
    np.testing.assert_array_equal(z0 ^ z1, (v[None] >= cs[:, None]).astype(np.uint8))
    for p, c in ((0, c0), (1, c1)):
        want = ge_multi_cost(n, len(cs), k, p)
        assert c.bytes_sent == want["bytes_sent"] and c.rounds == want["rounds"]

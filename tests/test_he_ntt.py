"""protocols/he/ntt.py: the negacyclic NTT and the elementwise products mod q, compiled and numpy,
against their plaintext twins (schoolbook negacyclic convolution and Python integers); and the
128-bit-free scaling helpers of the batched BFV (protocols/he/simd_mul.py)."""
import numpy as np
import pytest

from protocols.he import ntt
from protocols.he.simd_mul import decrypt_scale, muldivmod

# a 60-bit and a 38-bit coefficient prime and a 57-bit plaintext prime, all 1 mod 2·8192
PRIMES = [1152921504606748673, 274877562881, 144115188075593729]


def _negacyclic(a, b, q):
    n = len(a)
    c = [0] * n
    for i, x in enumerate(int(v) for v in a):
        for j, y in enumerate(int(v) for v in b):
            k = i + j
            c[k % n] += x * y if k < n else -x * y
    return [v % q for v in c]


def _edges(q, shape, rng):
    a = rng.integers(0, q, size=shape, dtype=np.uint64)
    flat = a.reshape(-1)
    flat[:4] = [0, 1, q - 1, q // 2]
    return a


@pytest.mark.parametrize("q", PRIMES)
def test_transform_is_a_ring_isomorphism(q, rng, native_path):
    n = 32
    t = ntt.table(q, n)
    a, b = _edges(q, (2, n), rng), _edges(q, (2, n), rng)
    b[1] = 0
    fa, fb = ntt.ntt(a.copy(), t), ntt.ntt(b.copy(), t)
    assert np.array_equal(ntt.intt(fa.copy(), t), a) and np.all(fa < q)
    prod = ntt.intt(ntt.mulmod(fa, fb, t), t)
    for r in range(2):
        assert [int(v) for v in prod[r]] == _negacyclic(a[r], b[r], q)
    # the transform evaluates at the odd powers of psi (bit-reversed order): constant polynomial
    c = np.zeros((1, n), dtype=np.uint64)
    c[0, 0] = 7
    assert np.all(ntt.ntt(c, t) == 7)


@pytest.mark.parametrize("q", PRIMES)
def test_compiled_and_numpy_paths_agree(q, rng, compiled_kernels):
    from protocols import native
    t = ntt.table(q, 8192)
    a = _edges(q, (3, 8192), rng)
    b = _edges(q, (3, 8192), rng)
    out_c = [ntt.ntt(a.copy(), t), ntt.intt(a.copy(), t), ntt.mulmod(a, b, t)]
    acc_c = [ntt.mulmod(a, b, t, out=b.copy(), accumulate=s) for s in (1, -1)]
    saved, native.kernels = native.kernels, None
    try:
        out_n = [ntt.ntt(a.copy(), t), ntt.intt(a.copy(), t), ntt.mulmod(a, b, t)]
        acc_n = [ntt.mulmod(a, b, t, out=b.copy(), accumulate=s) for s in (1, -1)]
    finally:
        native.kernels = saved
    for x, y in zip(out_c + acc_c, out_n + acc_n):
        assert np.array_equal(x, y)
    ab = (a.astype(object) * b.astype(object)) % q
    assert np.array_equal(out_c[2].astype(object), ab)
    # a length that is not a multiple of the vector width (the compiled kernel's scalar tail)
    a7, b7 = np.ascontiguousarray(a.reshape(-1)[:8195]), np.ascontiguousarray(b.reshape(-1)[:8195])
    for s in (0, 1, -1):
        got = ntt.mulmod(a7, b7, t, out=b7.copy(), accumulate=s)
        want = ((b7.astype(object) if s else 0) + s * (a7.astype(object) * b7.astype(object)) if s
                else a7.astype(object) * b7.astype(object)) % q
        assert np.array_equal(got.astype(object), want)
    assert np.array_equal(acc_c[0].astype(object), (b.astype(object) + ab) % q)
    assert np.array_equal(acc_c[1].astype(object), (b.astype(object) - ab) % q)
    # one polynomial times every row (the kernel repeats it instead of a broadcast copy)
    assert np.array_equal(ntt.mulmod(a, b[1], t).astype(object), (a.astype(object) * b[1].astype(object)) % q)


def test_tables_refuse_bad_moduli():
    with pytest.raises(ValueError, match="prime"):
        ntt.table(2**61 - 1, 8192)  # prime, but not 1 mod 2N
    with pytest.raises(ValueError, match="power of two"):
        ntt.table(PRIMES[0], 100)
    with pytest.raises(ValueError, match="uint64"):
        ntt.ntt(np.zeros((2, 16), dtype=np.int64), ntt.table(PRIMES[0], 16))


def test_muldivmod_and_decrypt_scale_against_python_ints(rng, native_path):
    q1, q2, t = PRIMES[0], 1152921504606830593, PRIMES[2]
    a = rng.integers(0, 2**64, size=3000, dtype=np.uint64)
    a[:3] = [0, 1, 2**64 - 1]
    for c, d in ((t - 1, t), (0, 5), (12345, q1), (q1 - 1, q1)):
        quo, rem = muldivmod(a, c, d)
        assert [int(v) for v in quo] == [int(v) * c // d for v in a]
        assert [int(v) for v in rem] == [int(v) * c % d for v in a]
    # x uniform mod q1·q2, plus values next to every rounding boundary of t·x/q'
    Q = q1 * q2
    xs = [int(v) for v in rng.integers(0, 2**62, size=500)] + [Q - 1, 0, Q // 2]
    xs += [(Q * k) // t + off for k in (1, 7, t - 1) for off in (-2**50, 2**50)]
    xs += [(Q * (2 * k + 1)) // (2 * t) + off for k in (0, 7, t - 1) for off in (-2**50, 2**50)]
    xs = [x * 2**58 % Q if i < 500 else x for i, x in enumerate(xs)]
    x1 = np.array([x % q1 for x in xs], dtype=np.uint64)
    x2 = np.array([x % q2 for x in xs], dtype=np.uint64)
    got = decrypt_scale(x1, x2, q1, q2, t)
    assert [int(v) for v in got] == [((2 * t * x + Q) // (2 * Q)) % t for x in xs]

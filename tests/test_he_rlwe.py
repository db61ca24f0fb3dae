"""RLWE engine: exactness of every step against plain integer arithmetic.

Small-N parameter sets here are for checking the arithmetic only (not secure; security is
tested in test_he_params.py); one test runs the real N = 8192, ell = 64 set."""
import numpy as np
import pytest

from protocols.he import rlwe
from protocols.he.params import HEParams, choose_params, primes_below
from protocols.prg import PRG


def toy(ell, n=1024, max_terms=4096):
    # same structure as choose_params, at a small N (arithmetic tests only)
    pr = primes_below(1 << 21, 7)
    return HEParams(n=n, ell=ell, primes=pr, n_keep=4, flood_bits=72, max_terms=max_terms)


def negacyclic(a, s):
    """Plain negacyclic product of python-int polynomials."""
    n = len(a)
    out = [0] * n
    for i, ai in enumerate(a):
        for j, sj in enumerate(s):
            if sj:
                k = i + j
                if k < n:
                    out[k] += ai * sj
                else:
                    out[k - n] -= ai * sj
    return out


@pytest.mark.parametrize("ell", [13, 64])
def test_polymul_small_exact(ell, rng):
    p = toy(ell, n=1024)
    prg = PRG()
    s = rlwe.sample_ternary(prg, (p.n,))
    t, r = rlwe.sample_uniform(p, prg, (2, p.n))
    t[0, :3] = np.uint64((1 << ell) - 1)  # extremes
    out_t, out_r = rlwe.polymul_small(p, t, r, rlwe.small_fft(s))
    sl = [int(v) for v in s]
    for row in range(2):
        want = negacyclic([int(v) for v in t[row]], sl)
        assert [w % (1 << ell) for w in want] == [int(v) for v in out_t[row]]
        for i, q in enumerate(p.primes[:2]):
            want = negacyclic([int(v) for v in r[i, row]], sl)
            assert [w % q for w in want] == [int(v) for v in out_r[i, row]]


def test_digits_lift_and_centred(rng):
    x = rng.integers(0, 2**64, 1000, dtype=np.uint64)
    x[:4] = [0, 1, 2**63, 2**64 - 1]
    for k in (1, 2, 3):
        d = rlwe.digits(x, k)
        assert all(np.abs(v).max() <= 2**21 for v in d)
        rec = np.zeros_like(x)
        for i, v in enumerate(d):
            rec += v.astype(np.int64).view(np.uint64) << np.uint64(22 * i)
        m = (1 << (22 * k)) - 1 if 22 * k < 64 else 2**64 - 1
        assert np.array_equal(rec & np.uint64(m), x & np.uint64(m))
    s = rlwe.lift_signed(x, 20)
    assert s.min() >= -(2**19) and s.max() < 2**19
    assert np.array_equal(s.view(np.uint64) & np.uint64(2**20 - 1), x & np.uint64(2**20 - 1))


def test_cbd_and_ternary_ranges():
    prg = PRG()
    e = rlwe.sample_cbd(prg, 100000)
    assert np.abs(e).max() <= 21 and abs(e.std() - 3.24) < 0.1
    u = rlwe.sample_ternary(prg, 100000)
    assert set(np.unique(u)) == {-1, 0, 1}


@pytest.mark.parametrize("ell", [20, 64])
def test_pack_unpack_roundtrip(ell):
    p = toy(ell)
    prg = PRG()
    t, r = rlwe.sample_uniform(p, prg, (3, 50))
    data = rlwe.pack_limbs(p, t, r[:4])
    assert data.size == rlwe.packed_nbytes(p, 150, 4)
    assert data.size <= -(-150 * (ell + sum(q.bit_length() for q in p.primes[:4])) // 8) + 5 * 8
    t2, r2 = rlwe.unpack_limbs(p, data, (3, 50), 4)
    assert np.array_equal(t, t2) and np.array_equal(r[:4], r2)


def _pipeline(p, x, w, prg):
    sk = rlwe.SecretKey.generate(p, prg)
    seed, pk_seed = b"s" * 16, b"k" * 16
    b = rlwe.encrypt_rows(sk, w, seed, prg)
    pk = rlwe.make_public_key(sk, pk_seed, prg)
    pm = rlwe.PreparedMatrix.build(p, b, seed, w.shape[1])
    t, r = rlwe.rerandomize(p, rlwe.mac_packed(pm, x), pk, pk_seed, prg)
    t, r = rlwe.mod_switch(p, t, r)
    bt, br = rlwe.flood(p, t[:, 0], r[:, :, 0], prg)
    m = rlwe.decrypt_switched(sk, (bt, br), (t[:, 1], r[:, :, 1]))
    g, s = m.shape[0], pm.slots
    return m[:, : s * w.shape[1]].reshape(g * s, w.shape[1])[: x.shape[0]]


def ref_mod(x, w, ell):
    return np.array(np.array(x, dtype=object).dot(np.array(w, dtype=object)) % (1 << ell), dtype=np.uint64)


@pytest.mark.parametrize("ell", [1, 17, 43, 64])
def test_mac_pipeline_exact_worst_case(ell, rng):
    """Largest magnitudes (-2^(ell-1) everywhere) and random values, at the toy N."""
    p = toy(ell, max_terms=4096)
    mask = np.uint64((1 << ell) - 1) if ell < 64 else np.uint64(2**64 - 1)
    n, m = 40, 100
    x = rng.integers(0, 2**64, (23, n), dtype=np.uint64) & mask
    w = rng.integers(0, 2**64, (n, m), dtype=np.uint64) & mask
    x[0] = np.uint64(1 << (ell - 1))
    w[:, 0] = np.uint64(1 << (ell - 1))
    x[1] = 0
    x[2] = mask  # -1
    assert np.array_equal(_pipeline(p, x, w, PRG()), ref_mod(x, w, ell))


def test_mac_real_params(rng):
    """The real N = 8192, ell = 64 parameter set."""
    p = choose_params(64)
    x = rng.integers(0, 2**64, (12, 64), dtype=np.uint64)
    w = rng.integers(0, 2**64, (64, 700), dtype=np.uint64)
    assert np.array_equal(_pipeline(p, x, w, PRG()), ref_mod(x, w, 64))


def test_matmul_exact_chunking(rng):
    """Inner dimension beyond the exactness chunk: chunks are summed in int64, still exact."""
    x = rng.integers(-(2**21), 2**21, (3, 250)).astype(np.float64)
    c = rng.integers(-(2**21), 2**21, (250, 5)).astype(np.float64)
    want = np.array(x.astype(np.int64).astype(object).dot(c.astype(np.int64).astype(object)), dtype=np.int64)
    assert np.array_equal(rlwe._matmul_exact(x, c, chunk=64), want)


def test_mod_switch_is_exact_division():
    p = toy(40)
    prg = PRG()
    # an integer c mod Q that is a multiple of D plus a small remainder: (c - [c]_D)/D exact
    import math

    big = [int.from_bytes(prg.random_bytes(30), "little") % (p.t * p.P) for _ in range(20)]
    t = np.array([v % p.t for v in big], dtype=np.uint64)
    r = np.array([[v % q for v in big] for q in p.primes], dtype=np.int64)
    t2, r2 = rlwe.mod_switch(p, t, r)
    for i, v in enumerate(big):
        want = (v - v % p.D) // p.D
        assert int(t2[i]) == want % p.t
        assert all(int(r2[j, i]) == want % q for j, q in enumerate(p.primes[: p.n_keep]))
    assert math.prod(p.primes[: p.n_keep]) == p.P_keep


@pytest.mark.parametrize("w", [1, 13, 21, 37, 38, 60, 63, 64])
def test_dense_bit_packer(w, rng, monkeypatch):
    """The compiled packer and the numpy one write the same stream and read it back."""
    from protocols import native

    for cnt in (1, 63, 64, 65, 1000):
        v = rng.integers(0, 2**63, cnt, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
        if w < 64:
            v &= np.uint64((1 << w) - 1)
        words = rlwe._packw(v, w)
        assert words.size == -(-cnt * w // 64)
        assert np.array_equal(rlwe._unpackw(words, w, cnt), v)
        with monkeypatch.context() as m:
            m.setattr(native, "kernels", None)
            assert np.array_equal(rlwe._packw(v, w), words)
            assert np.array_equal(rlwe._unpackw(words, w, cnt), v)
        # the stream's definition: value i at bits [i·w, (i+1)·w), little-endian
        stream = int.from_bytes(words.astype("<u8").tobytes(), "little")
        assert all((stream >> (i * w)) & ((1 << w) - 1) == int(v[i]) for i in range(0, cnt, 97))


def test_float32_operands_are_exact(rng):
    """Large matrices keep their BLAS operands in float32 (exact below 2^24): same results."""
    p = toy(64)
    prg = PRG()
    sk = rlwe.SecretKey.generate(p, prg)
    w = rng.integers(0, 2**64, (300, 20), dtype=np.uint64)
    x = rng.integers(0, 2**64, (3, 300), dtype=np.uint64)
    b = rlwe.encrypt_rows(sk, w, b"q" * 16, prg)
    pm64 = rlwe.PreparedMatrix.build(p, b, b"q" * 16, 20)
    pm32 = rlwe.PreparedMatrix.build(p, b, b"q" * 16, 20, f32_above=0)
    assert pm32.prime_ops[0].dtype == np.float32 and pm64.prime_ops[0].dtype == np.float64
    for u, v in zip(rlwe.mac_packed(pm64, x), rlwe.mac_packed(pm32, x)):
        assert np.array_equal(u, v)


@pytest.mark.parametrize("width", [None, 20])
@pytest.mark.parametrize("ell", [64, 40])
def test_int21_operands_are_exact(rng, width, ell, native_path):
    """3-byte residues + raw t-limb (the densest prepared form): same products, 29/80 the bytes;
    extreme residues (+-(p-1)/2) and t-limb values (0, 2^64-1) included, full and compact b.
    A few tokens run on the compiled kernels (mac_int21; mac_tlimb where the t-limb has two
    digits, ell = 40), more on the BLAS route: both must match the float64 operands exactly."""
    p = toy(ell)
    prg = PRG()
    sk = rlwe.SecretKey.generate(p, prg)
    w = rng.integers(0, 2**64, (300, 20), dtype=np.uint64)
    x = rng.integers(0, 2**64, (5, 300), dtype=np.uint64)
    x[0] = np.uint64(2**63)
    x[1] = rlwe._mask(ell)
    b = rlwe.encrypt_rows(sk, w, b"q" * 16, prg, keep=width)
    for i, q in enumerate(p.primes):
        b[1][i, 1, :2] = [(q - 1) // 2, (q + 1) // 2]
    b[0][2, :2] = [0, 2**64 - 1]
    pm64 = rlwe.PreparedMatrix.build(p, b, b"q" * 16, 20, storage="f64")
    pm21 = rlwe.PreparedMatrix.build(p, b, b"q" * 16, 20, storage="int21")
    assert isinstance(pm21.prime_ops[0], rlwe.Int21Op) and isinstance(pm21.digit_ops[0], rlwe.RawTLimb)
    nb = sum(o.nbytes for o in pm21.prime_ops) + sum(o.nbytes for o in pm21.digit_ops)
    assert nb == rlwe.storage_bytes(p, 300, width or p.n, "int21") == 29 * 300 * ((width or p.n) + p.n)
    for xs in (x, np.concatenate([x] * 30)):  # 5 tokens (compiled when built) and 150 (BLAS)
        for u, v in zip(rlwe.mac_packed(pm64, xs), rlwe.mac_packed(pm21, xs)):
            assert np.array_equal(u, v)


def test_conv_exact_many_pairs_and_odd_count():
    """Two real inputs per complex FFT give the same products as one at a time (odd count too)."""
    p = toy(64, n=1024)
    prg = PRG()
    s = rlwe.sample_ternary(prg, (p.n,))
    sf = rlwe.small_fft(s)
    t, r = rlwe.sample_uniform(p, prg, (3, p.n))
    xs = [rlwe.centred(r[i], q) for i, q in enumerate(p.primes[:3])]
    got = rlwe._conv_exact_many(xs, sf)
    assert len(got) == 3
    for x, g in zip(xs, got):
        assert np.array_equal(rlwe._conv_exact(x, sf), g)
    cut = rlwe._conv_exact_many(xs, sf, cols=10)
    assert all(np.array_equal(c, g[..., :10]) for c, g in zip(cut, got))


def test_rerandomize_parts_matches_full_and_decrypts():
    """b re-randomised only on the used coefficients, and the full form, both decrypt to the
    product after the switch (no flooding here: exactness of the arithmetic only)."""
    p = toy(64, n=1024)
    prg = PRG()
    sk = rlwe.SecretKey.generate(p, prg)
    pk_seed = b"k" * 16
    pk = rlwe.make_public_key(sk, pk_seed, prg)
    w = prg.uint64((30, 50))
    x = prg.uint64((7, 30))
    b = rlwe.encrypt_rows(sk, w, b"s" * 16, prg)
    pm = rlwe.PreparedMatrix.build(p, b, b"s" * 16, 50)
    ct = rlwe.mac_packed(pm, x)
    used = pm.slots * 50
    seed = b"r" * 16
    (bt, br), (at, ar) = rlwe.rerandomize_parts(p, ct, pk, pk_seed, PRG(seed), used)
    ft, fr = rlwe.rerandomize(p, ct, pk, pk_seed, PRG(seed))
    assert bt.shape == (ct[0].shape[0], used) and br.shape == (len(p.primes), ct[0].shape[0], used)
    ft, fr = rlwe.mod_switch(p, ft, fr)
    full = rlwe.decrypt_switched(sk, (ft[:, 0], fr[:, :, 0]), (ft[:, 1], fr[:, :, 1]))
    assert np.array_equal(full[:, :used].reshape(-1, 50)[: x.shape[0]], ref_mod(x, w, 64))
    bt, br = rlwe.mod_switch(p, bt, br)
    at, ar = rlwe.mod_switch(p, at, ar)
    m = rlwe.decrypt_switched(sk, (bt, br), (at, ar))
    g, sl = m.shape[0], pm.slots
    got = m.reshape(g * sl, 50)[: x.shape[0]]
    assert np.array_equal(got, ref_mod(x, w, 64))


def test_expand_a_rows_is_random_access_into_expand_a():
    """The embedding's row-wise expansion equals the rows of the chunkwise one (any rows, repeats,
    unsorted, across chunks, the last row of a chunk)."""
    p = toy(40)
    rows = np.array([3, 70, 64, 5, 191, 3, 127, 128])
    t, r = rlwe.expand_a(p, b"e" * 16, 192)
    t2, r2 = rlwe.expand_a_rows(p, b"e" * 16, rows)
    assert np.array_equal(t[rows], t2) and np.array_equal(r[:, rows], r2)

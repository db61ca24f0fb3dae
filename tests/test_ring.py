import numpy as np
import pytest

from protocols.config import Config, get_config, override
from protocols.prg import PRG
from protocols.ring import Ring, decode, encode


@pytest.mark.parametrize("ell", [16, 32, 37, 64])
def test_share_reconstruct_exact(ell, rng):
    R = Ring(ell)
    x = R.reduce(rng.integers(0, 2**63, size=1000, dtype=np.uint64) * np.uint64(3))
    edges = R.reduce(np.array([0, 1, R.mask, R.half, R.half - np.uint64(1)], dtype=np.uint64))
    x = np.concatenate([x, edges])
    x0, x1 = R.share(x)
    assert x0.dtype == np.uint64 and np.all(x0 <= R.mask) and np.all(x1 <= R.mask)
    assert np.array_equal(R.reconstruct(x0, x1), x)


@pytest.mark.parametrize("ell", [32, 64])
def test_signed_views_and_arith(ell, rng):
    R = Ring(ell)
    lo, hi = -(2 ** (ell - 1)), 2 ** (ell - 1) - 1
    v = np.concatenate([rng.integers(lo // 4, hi // 4, size=500), [0, 1, -1, lo, hi]]).astype(np.int64)
    x = R.from_signed(v)
    assert np.array_equal(R.to_signed(x), v)
    w = rng.integers(-1000, 1000, size=v.size).astype(np.int64)
    y = R.from_signed(w)
    mod = 2**ell

    def ref(a):
        a = [int(t) % mod for t in a]
        return np.array([t - mod if t >= mod // 2 else t for t in a], dtype=object)

    assert np.array_equal(R.to_signed(R.add(x, y)).astype(object), ref([int(a) + int(b) for a, b in zip(v, w)]))
    assert np.array_equal(R.to_signed(R.sub(x, y)).astype(object), ref([int(a) - int(b) for a, b in zip(v, w)]))
    assert np.array_equal(R.to_signed(R.mul(x, y)).astype(object), ref([int(a) * int(b) for a, b in zip(v, w)]))
    assert np.array_equal(R.to_signed(R.mul_public(x, -3)).astype(object), ref([int(a) * -3 for a in v]))
    assert np.array_equal(R.to_signed(R.neg(x)).astype(object), ref([-int(a) for a in v]))


@pytest.mark.parametrize("ell,frac", [(32, 13), (64, 18)])
def test_fixed_point_roundtrip(ell, frac, rng):
    R = Ring(ell)
    bound = 2.0 ** (ell - 1 - frac)
    v = np.concatenate([rng.uniform(-bound / 2, bound / 2, 1000), [0.0, 2.0**-frac, -(2.0**-frac), -bound, float(2 ** (ell - 1) - 2 ** max(0, ell - 1 - 53)) / 2**frac]])
    assert R.fits(v[:-2], frac)
    got = R.decode(R.encode(v, frac), frac)
    np.testing.assert_allclose(got, v, atol=2.0 ** -(frac + 1), rtol=0)
    assert not R.fits([bound], frac)


@pytest.mark.parametrize("ell", [8, 20, 32, 40, 64])
def test_pack_unpack(ell, rng):
    R = Ring(ell)
    x = R.random((7, 5))
    b = R.pack(x)
    assert b.size == 35 * R.nbytes
    assert np.array_equal(R.unpack(b, (7, 5)), x)
    with pytest.raises(ValueError):
        R.unpack(b[:-1], (7, 5))


def test_config_override_is_scoped():
    base = get_config()
    with override(ell=32, frac=12, gelu_table="v1") as cfg:
        assert get_config() is cfg
        assert cfg.ell == 32 and cfg.frac == 12 and cfg.get("gelu_table") == "v1"
        assert cfg.fingerprint() != base.fingerprint()
        R32 = Ring(get_config().ell)
        assert decode(encode(1.5)) == 1.5
    assert get_config() == base
    assert R32.ell == 32


def test_config_rejects_bad_values():
    with pytest.raises(ValueError, match="ell"):
        Config(ell=65)
    with pytest.raises(ValueError, match="frac"):
        Config(ell=32, frac=31)
    with pytest.raises(ValueError, match="trunc_mode"):
        Config(trunc_mode="round")


def test_prg_deterministic_and_uniform():
    seed = bytes(range(16))
    a, b = PRG(seed), PRG(seed)
    assert np.array_equal(a.uint64(1000), b.uint64(1000))
    bits = PRG().bits(200_000)
    assert abs(bits.mean() - 0.5) < 0.01
    ints = PRG().integers(10, 100_000)
    assert ints.min() == 0 and ints.max() == 9
    counts = np.bincount(ints.astype(np.int64), minlength=10)
    assert np.all(np.abs(counts - 10_000) < 600)
    x = PRG().uint64(100_000, ell=20)
    assert x.max() < 2**20 and x.max() > 2**19
    with pytest.raises(ValueError):
        PRG(b"short")
    # crosses the 1 MiB chunk boundary
    big = PRG(seed).uint64((1 << 17) + 3)
    assert np.array_equal(big[:1000], PRG(seed).uint64(1000))

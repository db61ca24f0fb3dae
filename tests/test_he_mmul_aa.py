"""Shared x shared products by HE cross terms (batched over heads): exact against numpy."""
import numpy as np
import pytest

from protocols.channel import ProtocolError, run_two_party
from protocols.context import MPC
from protocols.he.core import HEKey
from protocols.he.mmul_aa import mmul_aa
from protocols.he.params import choose_params
from protocols.ring import Ring

from _twoparty import run_job_in_processes


@pytest.mark.parametrize("ell,batch,dims,compact", [(64, (2,), (6, 16, 9), True), (18, (), (6, 16, 9), True),
                                                    (18, (), (300, 16, 40), False)])
def test_mmul_aa_exact(ell, batch, dims, compact, rng):
    from protocols.he.mmul_aa import compact_pays

    R = Ring(ell)
    T, n, M = dims
    assert compact_pays(choose_params(ell), max(1, int(np.prod(batch))), T, n, M) == compact
    a = R.reduce(rng.integers(0, 2**64, batch + (T, n), dtype=np.uint64))
    b = R.reduce(rng.integers(0, 2**64, batch + (n, M), dtype=np.uint64))
    a.reshape(-1)[:3] = [0, R.mask, R.half]
    b.reshape(-1)[:3] = [R.half, 1, R.mask]
    a0, a1 = R.share(a)
    b0, b1 = R.share(b)
    params = choose_params(ell)
    k0, k1 = HEKey.generate(params), HEKey.generate(params)

    def f(key, peer, x, y):
        def g(ch):
            st = ch.snapshot()
            z = mmul_aa(MPC(ch=ch, ot=None), x, y, key, peer, ell)
            return z, ch.cost_since(st)

        return g

    (z0, c0), (z1, c1), _, _ = run_two_party(f(k0, k1.pub, a0, b0), f(k1, k0.pub, a1, b1))
    z = R.add(z0, z1)
    want = np.array(np.matmul(a.astype(object), b.astype(object)) % (1 << ell), dtype=np.uint64)
    assert z.shape == batch + (T, M)
    assert np.array_equal(z, want)
    assert c0.rounds == 2 and c1.rounds == 2 and c0.bytes_sent == c1.bytes_sent


def test_mmul_aa_shape_mismatch():
    params = choose_params(16)
    k = HEKey.generate(params)
    with pytest.raises(ProtocolError):
        mmul_aa(MPC(ch=None, ot=None), np.zeros((2, 3), np.uint64), np.zeros((4, 2), np.uint64), k, k.pub, 16)


@pytest.mark.parametrize("ell,h,dims", [(40, 2, (37, 32, 37)), (40, 1, (128, 64, 128)), (40, 1, (128, 128, 64)),
                                        (64, 1, (5, 3, 7)), (18, 3, (9, 20, 1))])
def test_mmul_aa_blocks_exact(ell, h, dims, rng, native_path):
    """Block-interleaved layout: exact mod 2^ell (edge values included), bytes = block_layout."""
    from protocols.he.mmul_aa import block_layout, mmul_aa_blocks, mmul_aa_bytes

    R = Ring(ell)
    T, n, M = dims
    a = R.reduce(rng.integers(0, 2**64, (h, T, n), dtype=np.uint64))
    b = R.reduce(rng.integers(0, 2**64, (h, n, M), dtype=np.uint64))
    a.reshape(-1)[:3] = [0, R.mask, R.half]
    b.reshape(-1)[:3] = [R.half, 1, R.mask]
    a0, a1 = R.share(a)
    b0, b1 = R.share(b)
    params = choose_params(ell)
    k0, k1 = HEKey.generate(params), HEKey.generate(params)
    lay = block_layout(params, h, T, n, M)

    def f(key, peer, x, y):
        def g(ch):
            st = ch.snapshot()
            z = mmul_aa_blocks(MPC(ch=ch, ot=None), x, y, key, peer, ell)
            return z, ch.cost_since(st)

        return g

    (z0, c0), (z1, c1), _, _ = run_two_party(f(k0, k1.pub, a0, b0), f(k1, k0.pub, a1, b1))
    want = np.array(np.matmul(a.astype(object), b.astype(object)) % (1 << ell), dtype=np.uint64)
    assert np.array_equal(R.add(z0, z1), want)
    assert c0.rounds == 2 and c0.bytes_sent == c1.bytes_sent == lay["bytes"] + 16
    assert mmul_aa_bytes(params, h, T, n, M) <= lay["bytes"] + 16


def test_mmul_aa_blocks_cut_attention_traffic():
    """At 128 tokens the block layout moves >= 2x fewer bytes than one ciphertext per row of B (3x at d = 64)."""
    from protocols.he.mmul_aa import _bytes, block_layout

    params = choose_params(40)
    for n, M in ((64, 128), (128, 64), (32, 128), (128, 32)):
        rows = min(_bytes(params, 12, 128, n, M))
        assert block_layout(params, 12, 128, n, M)["bytes"] * (3 if 64 in (n, M) else 2) < rows




def test_mmul_aa_blocks_two_processes_over_grpc():
    """The block-layout product between two OS processes over the gRPC transport."""
    import os
    import sys

    here = os.path.dirname(os.path.abspath(__file__))
    sys.path.insert(0, here)
    import _mmul_job
    from protocols.he.mmul_aa import block_layout

    params = {"seed": 3, "ell": 40, "shape": [2, 45, 32, 45]}
    q = run_job_in_processes("_mmul_job", "test-mmul-aa", params)
    z, cost = q.result
    R, a, b, _, _ = _mmul_job.data(params)
    want = np.array(np.matmul(a.astype(object), b.astype(object)) % (1 << 40), dtype=np.uint64)
    assert np.array_equal(z, want)
    assert cost["bytes_sent"] == block_layout(choose_params(40), 2, 45, 32, 45)["bytes"] + 16

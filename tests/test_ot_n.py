"""1-of-N OT from random COTs: correctness, privacy-relevant structure, exact traffic."""
import numpy as np
import pytest

from protocols.channel import ProtocolError, run_two_party
from protocols.context import MPC
from protocols.ot.cot import crhash
from protocols.ot.ot_n import (
    extract_values,
    hash_rows,
    ot_n_cost,
    ot_n_ideal,
    ot_n_recv,
    ot_n_send,
    pack_values,
    rot_n_recv,
    rot_n_send,
    unpack_values,
)


def _run(f0, f1, kind="insecure-dealer"):
    def w(f):
        def g(ch):
            mpc = MPC.setup(ch, kind)
            with ch.scope("op") as rec:
                r = f(mpc)
            return r, rec.cost

        return g

    (r0, c0), (r1, c1), _, _ = run_two_party(w(f0), w(f1))
    return r0, r1, c0, c1


@pytest.mark.parametrize("N,nbits", [(2, 1), (4, 3), (16, 2), (16, 64), (8, 7), (256, 1)])
def test_ot_n_chosen(rng, N, nbits):
    M = 517
    hi = (1 << nbits) if nbits < 64 else None
    table = (rng.integers(0, hi, (M, N), dtype=np.uint64) if hi else rng.integers(0, 2**63, (M, N), dtype=np.uint64) * np.uint64(2) + np.uint64(1))
    choice = rng.integers(0, N, M)
    choice[:3] = [0, N - 1, 0]
    _, got, c0, c1 = _run(lambda m: ot_n_send(m, table, nbits), lambda m: ot_n_recv(m, choice, N, nbits))
    np.testing.assert_array_equal(got, ot_n_ideal(table, choice))
    cost = ot_n_cost(M, N, nbits)
    assert c0.bytes_sent == c1.bytes_recv == cost["send_to_recv"]
    assert c1.bytes_sent == c0.bytes_recv == cost["recv_to_send"]
    assert c1.rounds == cost["rounds"]


def test_ot_n_iknp(rng):
    M, N = 300, 16
    table = rng.integers(0, 4, (M, N), dtype=np.uint64)
    choice = rng.integers(0, N, M)
    _, got, _, _ = _run(lambda m: ot_n_send(m, table, 2), lambda m: ot_n_recv(m, choice, N, 2), kind="iknp")
    np.testing.assert_array_equal(got, ot_n_ideal(table, choice))


def test_rot_n(rng):
    M, N = 2000, 16
    pads, (c, p), c0, c1 = _run(lambda m: rot_n_send(m, M, N, 8), lambda m: rot_n_recv(m, M, N, 8))
    assert pads.shape == (M, N) and c.shape == (M,)
    np.testing.assert_array_equal(pads[np.arange(M), c], p)
    # the other pads are unrelated to the receiver's (agree only by chance, 1/256)
    other = pads[np.arange(M), (c + 1) % N]
    assert np.mean(other == p) < 0.02
    # random choices are spread over [N); pads of one row are not XOR-linear (hash of combined keys)
    assert len(np.unique(c)) == N
    lin = pads[:, 0] ^ pads[:, 1] ^ pads[:, 2] ^ pads[:, 3]
    assert np.mean(lin == 0) < 0.02
    assert c0.bytes_sent == c0.bytes_recv == 0


def test_hash_rows_matches_crhash(rng):
    x = rng.integers(0, 2**63, (100, 2), dtype=np.uint64)
    np.testing.assert_array_equal(hash_rows(x, 77), crhash(x, 77))
    np.testing.assert_array_equal(hash_rows(x, np.arange(5, 105, dtype=np.uint64)), crhash(x, 5))


@pytest.mark.parametrize("nbits", [1, 2, 3, 4, 5, 8, 13, 64])
def test_pack_roundtrip(rng, nbits):
    n = 1001
    v = rng.integers(0, 2**63, n, dtype=np.uint64) & np.uint64((1 << nbits) - 1 if nbits < 64 else 2**63 - 1)
    b = pack_values(v, nbits)
    assert b.size == (n * nbits + 7) // 8
    np.testing.assert_array_equal(unpack_values(b, n, nbits), v)
    idx = rng.integers(0, n, 50)
    np.testing.assert_array_equal(extract_values(b, idx, nbits), v[idx])


@pytest.mark.parametrize("nbits", [3, 5, 6, 7])
@pytest.mark.parametrize("n", [0, 1, 9, 1001])
def test_pack_bytes_paths_agree(rng, nbits, n, native_path):
    """Byte-held values (the masked tables): the compiled packer writes numpy's stream, which the
    uint64 path and unpack_values agree with."""
    v = rng.integers(0, 1 << nbits, n).astype(np.uint8)
    b = pack_values(v, nbits)
    assert b.size == (n * nbits + 7) // 8
    np.testing.assert_array_equal(b, pack_values(v.astype(np.uint64), nbits))
    np.testing.assert_array_equal(unpack_values(b, n, nbits), v)


def test_wrong_table_shape():
    table = np.zeros((10, 16), np.uint64)

    def f0(m):
        ot_n_send(m, table, 2)

    def f1(m):
        return ot_n_recv(m, np.zeros(11, np.int64), 16, 2)

    with pytest.raises(ProtocolError):
        _run(f0, f1)


@pytest.mark.parametrize("m,nbits", [(1, 1), (3, 5), (6, 8), (6, 12), (8, 64)])
def test_pads_compiled_equal_numpy(m, nbits, rng, monkeypatch, aesni_kernels):
    """The fused pad kernel (native.ot_pads) writes the numpy path's pads: same combined keys,
    tweaks (including the chunk offset lo) and masks."""
    from protocols import native
    from protocols.ot.ot_n import NOTSender

    s = NOTSender.__new__(NOTSender)
    s.count, s.m, s.N = 21, m, 1 << m
    s.q = rng.integers(0, 2**64, size=(s.count, m, 2), dtype=np.uint64)
    s.delta = rng.integers(0, 2**64, size=2, dtype=np.uint64)
    s.key_tweak, s.pad_tweak = 1000, 2**63 - 7
    fast = s._pads(3, 17, nbits)
    monkeypatch.setattr(native, "kernels", None)
    slow = s._pads(3, 17, nbits)
    assert fast.dtype == slow.dtype and np.array_equal(fast, slow)

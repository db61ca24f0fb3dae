import numpy as np
import pytest

from protocols.channel import ProtocolError, run_two_party
from protocols.context import MPC
from protocols.ot.extensions import (
    ACOT, acot, acot_cost, acot_ideal, chosen_cot, chosen_random_ot, pack_bits, pack_fields,
    packed_nbytes, random_ot, unpack_bits, unpack_fields,
)

from _twoparty import run_mpc


def _mask(w):
    return np.uint64((1 << w) - 1) if w < 64 else np.uint64(2**64 - 1)


@pytest.mark.parametrize("widths", [(64,), (18,), (1,), (64, 63, 5, 1, 0, 33), tuple(range(64, 0, -1)), (7, 7, 7)])
@pytest.mark.parametrize("n", [0, 1, 7, 13, 100])
def test_pack_fields_roundtrip_exact_size(widths, n, rng, native_path):
    vals = rng.integers(0, 2**64, size=(len(widths), n), dtype=np.uint64)
    buf = pack_fields(vals, widths)
    assert buf.dtype == np.uint8 and buf.size == packed_nbytes(n, widths) == (n * sum(widths) + 7) // 8
    back = unpack_fields(buf, n, widths)
    m = np.array([_mask(w) for w in widths], dtype=np.uint64)[:, None]
    assert np.array_equal(back, vals & m)


def test_pack_fields_is_a_bitstream(rng, native_path):
    # three 3-bit fields then the next record: bits must follow each other without gaps
    vals = np.array([[1, 7], [2, 0], [5, 3]], dtype=np.uint64)
    buf = pack_fields(vals, (3, 3, 3))
    bits = np.unpackbits(buf, bitorder="little")
    want = []
    for j in range(2):
        for f in range(3):
            want += [(int(vals[f, j]) >> b) & 1 for b in range(3)]
    assert buf.size == 3 and list(bits[:18]) == want and not bits[18:].any()


def test_pack_fields_paths_agree(rng, monkeypatch, native_path):
    """The compiled packer and the numpy one write the same stream (the peer may run either):
    many fields over few records, as a LayerNorm's row-broadcast COTs send."""
    from protocols import native

    widths = tuple(int(w) for w in rng.integers(0, 65, size=3000))
    vals = rng.integers(0, 2**64, size=(len(widths), 9), dtype=np.uint64)
    fast = pack_fields(vals, widths)
    back_fast = unpack_fields(fast, 9, widths)
    monkeypatch.setattr(native, "kernels", None)
    assert np.array_equal(pack_fields(vals, widths), fast)
    assert np.array_equal(unpack_fields(fast, 9, widths), back_fast)


@pytest.mark.parametrize("k", [2, 5])
def test_pack_fields_row_layout(k, rng, native_path):
    """With k > 1 the (F/k, n, k) values give the stream of their (F, n) transpose: a row-broadcast
    COT's k values stay side by side in memory, the wire format does not change."""
    widths = tuple(int(w) for w in rng.integers(0, 65, size=3 * k))
    vals = rng.integers(0, 2**64, size=(3, 11, k), dtype=np.uint64)
    flat = vals.transpose(0, 2, 1).reshape(3 * k, 11)
    buf = pack_fields(vals, widths, k=k)
    assert np.array_equal(buf, pack_fields(flat, widths))
    back = unpack_fields(buf, 11, widths, k=k)
    m = np.array([_mask(w) for w in widths], dtype=np.uint64).reshape(3, 1, k)
    assert back.shape == (3, 11, k) and np.array_equal(back, vals & m)
    with pytest.raises(ValueError):
        pack_fields(flat, widths, k=k)


def test_unpack_rejects_wrong_sizes():
    with pytest.raises(ProtocolError):
        unpack_fields(np.zeros(5, np.uint8), 4, (11,))
    with pytest.raises(ProtocolError):
        unpack_bits(np.zeros(3, np.uint8), 9)
    assert np.array_equal(unpack_bits(pack_bits(np.array([1, 0, 1], np.uint8)), 3), [1, 0, 1])


@pytest.mark.parametrize("k", [1, 3])
def test_acot_both_directions(k, rng, native_path):
    widths = (64, 40, 1, 17)
    n = 37
    shape = (len(widths), n, k) if k > 1 else (len(widths), n)
    xa = rng.integers(0, 2**64, size=shape, dtype=np.uint64)
    xb = rng.integers(0, 2**64, size=shape, dtype=np.uint64)
    ca = rng.integers(0, 2, size=(len(widths), n)).astype(np.uint8)
    cb = rng.integers(0, 2, size=(len(widths), n)).astype(np.uint8)
    ca[:, 0] = 0
    ca[:, 1] = 1

    def f(mpc, me):
        if me == 0:
            jobs = [ACOT(0, widths, n, k, x=xa), ACOT(1, widths, n, k, c=cb), ACOT(0, (5,), 0, k, x=np.zeros((1, 0, k)))]
        else:
            jobs = [ACOT(0, widths, n, k, c=ca), ACOT(1, widths, n, k, x=xb), ACOT(0, (5,), 0, k, c=np.zeros((1, 0)))]
        return acot(mpc, jobs), acot_cost(jobs, me)

    (o0, cost0), (o1, cost1), c0, c1 = run_mpc(f, (0,), (1,))
    m = np.array([_mask(w) for w in widths], dtype=np.uint64)
    m = m[:, None, None] if k > 1 else m[:, None]
    assert np.array_equal((o0[0] + o1[0]) & m, acot_ideal(xa, ca, widths))
    assert np.array_equal((o0[1] + o1[1]) & m, acot_ideal(xb, cb, widths))
    # outputs are reduced mod 2^w
    assert np.all(o0[0] <= m) and np.all(o1[1] <= m)
    # one exchange; bytes exactly the analytic figure
    assert c0.rounds == c1.rounds == 1 and c0.msgs_sent == 1
    assert c0.bytes_sent == cost0 == (n * len(widths) + 7) // 8 + packed_nbytes(n, [w for w in widths for _ in range(k)])
    assert c1.bytes_sent == cost1 == c0.bytes_recv


def test_chosen_cot_and_random_ots(rng):
    n = 100
    c = rng.integers(0, 2, size=n).astype(np.uint8)

    def f(mpc, me):
        a = chosen_cot(mpc, 0, n=n) if me == 0 else chosen_cot(mpc, 0, c=c)
        r = random_ot(mpc, 1, n)
        s = chosen_random_ot(mpc, 1, n=n) if me == 1 else chosen_random_ot(mpc, 1, c=c)
        return a, r, s

    (a0, r0, s0), (a1, r1, s1), c0, c1 = run_mpc(f, (0,), (1,))
    q, delta = a0
    t = a1
    assert np.array_equal(t, q ^ (delta[None, :] * c[:, None].astype(np.uint64)))
    # random OT: party 1 is sender (m0, m1), party 0 receiver (b, m_b)
    m0, m1 = r1
    b, mb = r0
    assert np.array_equal(mb, np.where(b[:, None].astype(bool), m1, m0))
    assert not np.array_equal(m0, m1) and len(np.unique(m0[:, 0])) == n
    sm0, sm1 = s1
    assert np.array_equal(s0, np.where(c[:, None].astype(bool), sm1, sm0))
    # chosen COT and chosen random OT: ceil(n/8) bytes each from the receiver; random OT: nothing
    assert c1.bytes_sent == (n + 7) // 8 and c0.bytes_sent == (n + 7) // 8
    assert c0.bytes_recv == (n + 7) // 8


def test_acot_rejects_short_message(rng):
    n = 8

    def f0(ch):
        mpc = MPC.setup(ch, ot_kind="insecure-dealer")
        return acot(mpc, [ACOT(0, (64,), n, x=np.ones((1, n), np.uint64))])

    def f1(ch):
        mpc = MPC.setup(ch, ot_kind="insecure-dealer")
        mpc.ot.receiver.get(n)
        ch.send(np.zeros(0, np.uint8))  # wrong size: 0 instead of 1 byte
        ch.recv_array(np.uint8, None)

    with pytest.raises(ProtocolError, match="expected 1"):
        run_two_party(f0, f1)


@pytest.mark.parametrize("k", [1, 2, 3, 8, 129])
def test_hashes_compiled_equal_numpy(k, rng, monkeypatch, aesni_kernels):
    """The fused AES-NI hash (native.tccr) gives the numpy paths' words for all three hashes of the
    OT layer — crhash, hash_rows (int and per-row tweaks) and _hash_words (k words, with and
    without Δ) — near the 2^64 tweak wrap and across the kernel's 8-block groups."""
    from protocols import native
    from protocols.ot.cot import crhash
    from protocols.ot.extensions import _hash_words
    from protocols.ot.ot_n import hash_rows

    n = 37
    x = rng.integers(0, 2**64, size=(n, 2), dtype=np.uint64)
    delta = rng.integers(0, 2**64, size=2, dtype=np.uint64)
    tw = rng.integers(0, 2**64, size=n, dtype=np.uint64)
    big = 2**64 - 5  # tweaks wrap inside the batch
    fast = [crhash(x, 12345), crhash(x, big), hash_rows(x, 777), hash_rows(x, tw),
            _hash_words(x, k, 99), _hash_words(x, k, big, delta)]
    monkeypatch.setattr(native, "kernels", None)
    slow = [crhash(x, 12345), crhash(x, big), hash_rows(x, 777), hash_rows(x, tw),
            _hash_words(x, k, 99), _hash_words(x, k, big, delta)]
    for f, s in zip(fast, slow):
        assert f.shape == s.shape and np.array_equal(f, s)

"""lut_ab / lut_bits: public lookup tables on small arithmetic shares, exact against the plaintext
twin, with the traffic, rounds and COTs of lut_cost."""
import numpy as np
import pytest

from protocols.lut import lut_ab, lut_bits, lut_cost, lut_ideal
from protocols.ring import Ring

from _twoparty import exact_costs, run_mpc


def _share(x, m, rng):
    R = Ring(m)
    x0 = R.reduce(rng.integers(0, 2**63, x.shape).astype(np.uint64))
    return x0, R.sub(R.reduce(x), x0)


@pytest.mark.parametrize("m,nbits,n", [(6, 5, 1001), (3, 1, 16), (8, 12, 257), (1, 64, 3), (5, 7, 1)])
def test_lut_exact_and_cost(rng, m, nbits, n, native_path):
    N = 1 << m
    hi = 2**nbits if nbits < 64 else 2**63
    table = rng.integers(0, hi, N, dtype=np.uint64)
    table[0], table[-1] = 0, hi - 1  # extremes of the entry range
    x = rng.integers(0, N, n).astype(np.uint64)
    x[: min(n, 2)] = [0, N - 1][: min(n, 2)]  # both ends of the index range
    x0, x1 = _share(x, m, rng)
    y0, y1, c0, c1 = run_mpc(lambda mpc, s: lut_ab(mpc, s, table, m=m, nbits=nbits), (x0,), (x1,))
    np.testing.assert_array_equal(y0 ^ y1, lut_ideal(x, table, m))
    cost = lut_cost(n, m, nbits)
    if exact_costs():  # a real COT engine (PARTY_TEST_OT) adds its bootstrap traffic and rounds
        assert c0.bytes_sent == cost["bytes_0to1"] and c1.bytes_sent == cost["bytes_1to0"]
        assert c0.rounds == c1.rounds == cost["rounds"]


def test_lut_shares_look_random(rng):
    """The owner's output share is its fresh mask: a constant table gives uniform-looking shares."""
    m, n = 4, 4000
    table = np.full(1 << m, 5, dtype=np.uint64)
    x0, x1 = _share(rng.integers(0, 16, n).astype(np.uint64), m, rng)
    y0, y1, _, _ = run_mpc(lambda mpc, s: lut_ab(mpc, s, table, m=m, nbits=3), (x0,), (x1,))
    assert np.all((y0 ^ y1) == 5)
    assert 0.4 < np.mean(y0 & np.uint64(1)) < 0.6


def test_lut_bits_thresholds(rng):
    """Several threshold bits [x ≥ t] in one lookup, on a signed window (the softmax use)."""
    m = 6
    lo = -40  # the window of signed values [lo, lo + 2^m)
    ts = np.array([-33, -20, -3, 0, 5])
    v = np.r_[np.arange(lo, lo + (1 << m)), rng.integers(lo, lo + (1 << m), 500)]
    bits = (np.arange(1 << m)[None, :] + lo >= ts[:, None]).astype(np.uint8)
    w = (v - lo).astype(np.uint64)  # what the caller feeds: shifted into [0, 2^m)
    x0, x1 = _share(w, m, rng)
    b0, b1, _, _ = run_mpc(lambda mpc, s: lut_bits(mpc, s, bits, m=m), (x0,), (x1,))
    assert b0.shape == (len(ts), v.size)
    np.testing.assert_array_equal(b0 ^ b1, (v[None, :] >= ts[:, None]).astype(np.uint8))


def test_lut_bad_tables():
    with pytest.raises(ValueError, match="entries"):
        run_mpc(lambda mpc, s: lut_ab(mpc, s, np.arange(4), m=3, nbits=4), (np.zeros(2, np.uint64),),
                (np.zeros(2, np.uint64),))
    with pytest.raises(ValueError, match="< 2\\^2"):
        run_mpc(lambda mpc, s: lut_ab(mpc, s, np.arange(8), m=3, nbits=2), (np.zeros(2, np.uint64),),
                (np.zeros(2, np.uint64),))
    with pytest.raises(ValueError, match="m=9"):
        run_mpc(lambda mpc, s: lut_ab(mpc, s, np.zeros(512), m=9, nbits=2), (np.zeros(2, np.uint64),),
                (np.zeros(2, np.uint64),))


def test_lut_peer_sending_a_short_table_is_a_protocol_error():
    """A peer that answers the choices with a truncated table gets a clear ProtocolError (the
    honest side never reads past the message), not a crash or a hang."""
    from protocols.channel import ProtocolError, run_two_party
    from protocols.context import MPC
    from protocols.ot.ot_n import NOTReceiver, NOTSender, pack_values

    table = np.arange(16, dtype=np.uint64) % 4
    x = np.arange(10, dtype=np.uint64)

    def honest(ch):
        return lut_ab(MPC.setup(ch, ot_kind="insecure-dealer"), x, table, m=4, nbits=2)

    def cheat(ch):
        mpc = MPC.setup(ch, ot_kind="insecure-dealer")
        NOTReceiver(mpc, 5, 4)  # the same COTs and tweaks as an honest party 1
        r = NOTSender(mpc, 5, 4)
        ch.send(pack_values(np.zeros(5, np.uint64), 4))
        ch.recv_array(np.uint8, None)
        ch.send(np.zeros(3, np.uint8))  # 3 bytes instead of 5·16·2/8 = 20
        return r

    with pytest.raises(ProtocolError):
        run_two_party(honest, cheat)


@pytest.mark.parametrize("m,k,T,n", [(6, 13, 5, 700), (6, 12, 1, 33), (4, 16, 3, 257), (6, 7, 2, 64), (3, 32, 4, 5),
                                     (6, 13, 0, 40)])
def test_lut_ge_exact_and_cost(rng, m, k, T, n, native_path):
    """The fused comparison + lookup equals [x ≥ c] and bits[:, x mod 2^m] on random values and
    the edges (x = c, c ± 1, the ends of the promised range), with lut_ge_cost's traffic."""
    from protocols.lut import lut_ge_ab, lut_ge_cost

    R = Ring(k)
    half = 1 << (k - 1)
    c = int(rng.integers(-half // 4, half // 4))
    v = rng.integers(c - half + 1, c + half, n)
    edges = [c, c - 1, c + 1, c - half + 1, c + half - 1]
    v[: min(n, len(edges))] = edges[: min(n, len(edges))]
    bits = rng.integers(0, 2, (T, 1 << m)).astype(np.uint8)
    x = R.from_signed(v)
    x0 = R.reduce(rng.integers(0, 2**63, n).astype(np.uint64))
    x1 = R.sub(x, x0)
    (g0, l0), (g1, l1), c0, c1 = run_mpc(lambda mpc, s: lut_ge_ab(mpc, s, bits, c, m=m, k=k), (x0,), (x1,))
    np.testing.assert_array_equal(g0 ^ g1, (v >= c).astype(np.uint8))
    np.testing.assert_array_equal(l0 ^ l1, bits[:, (x & np.uint64((1 << m) - 1)).astype(np.int64)])
    cost = lut_ge_cost(n, m, k, T)
    if exact_costs():
        assert c0.bytes_sent == cost["bytes_0to1"] and c1.bytes_sent == cost["bytes_1to0"]
        assert c1.rounds == cost["rounds"]

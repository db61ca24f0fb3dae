"""IKNP COT: the bit transpose against unpackbits, t = q ⊕ b·Δ in both directions of
make_cot(ch, "iknp"), exact traffic per the analytic cost, malformed messages."""
import numpy as np
import pytest

from protocols.channel import ProtocolError, run_two_party
from protocols.ot.cot import make_cot
from protocols.ot.iknp import (CHUNK, iknp_get_cost, iknp_receiver_setup, iknp_sender_setup,
                               iknp_setup_cost, transpose_bits)


def _ref_transpose(mat):
    bits = np.unpackbits(mat, axis=1, bitorder="little")  # (128, m)
    return np.packbits(np.ascontiguousarray(bits.T), axis=1, bitorder="little").view(np.uint64)


@pytest.mark.parametrize("fill", ["random", "zeros", "ones", "diag"])
def test_transpose(rng, fill):
    nb = 24
    if fill == "random":
        m = rng.integers(0, 256, (128, nb), dtype=np.uint8)
    elif fill == "zeros":
        m = np.zeros((128, nb), np.uint8)
    elif fill == "ones":
        m = np.full((128, nb), 255, np.uint8)
    else:  # bit i of column j set iff i == j
        bits = np.zeros((128, nb * 8), np.uint8)
        bits[np.arange(128), np.arange(128) % (nb * 8)] = 1
        m = np.packbits(bits, axis=1, bitorder="little")
    assert np.array_equal(transpose_bits(m), _ref_transpose(m))


def _check(delta, q, b, t):
    assert delta[0] & np.uint64(1) == 1
    assert np.array_equal(t, q ^ (delta[None, :] * b[:, None].astype(np.uint64)))


def test_make_cot_iknp_both_directions():
    sizes = [1000, 64, 3 * CHUNK // 2]

    def f(ch):
        p = make_cot(ch, "iknp")
        out = []
        for n in sizes:
            if ch.party == 0:  # lock-step: party 0's sender meets party 1's receiver first
                q = p.sender.get(n)
                r = p.receiver.get(n)
            else:
                r = p.receiver.get(n)
                q = p.sender.get(n)
            out.append((q, r))
        return p.sender.delta, out

    (d0, o0), (d1, o1), ch0, ch1 = run_two_party(f, f)
    assert not np.array_equal(d0, d1)
    allb = []
    for (q0, (b0, t0)), (q1, (b1, t1)), n in zip(o0, o1, sizes):
        assert q0.shape == (n, 2) and t1.shape == (n, 2) and b1.dtype == np.uint8
        _check(d0, q0, b1, t1)  # party 0 sends, party 1 receives
        _check(d1, q1, b0, t0)
        allb.append(b1)
    b = np.concatenate(allb)
    assert abs(b.mean() - 0.5) < 0.01  # random choice bits
    # exact traffic: two setups + per get 16 B per COT (rounded up to 64) from the receiver
    setup = iknp_setup_cost()
    per = sum(iknp_get_cost(n)["receiver_sent"] for n in sizes)
    want = setup["sender_sent"] + setup["receiver_sent"] + per
    assert ch0.total.bytes_sent == want == ch1.total.bytes_sent
    assert iknp_get_cost(1000)["receiver_sent"] == 16 * 1024
    msgs = sum(iknp_get_cost(n)["msgs"] for n in sizes)
    assert ch0.total.msgs_sent == 2 + msgs  # base OT: one message per role


def test_outputs_not_trivial():
    def s(ch):
        return iknp_sender_setup(ch).get(4096)

    def r(ch):
        return iknp_receiver_setup(ch).get(4096)

    q, (b, t), _, _ = run_two_party(s, r)
    assert len({bytes(x) for x in q}) == 4096  # no repeated blocks
    assert 0.45 < b.mean() < 0.55


def test_wrong_message_shape():
    def bad_receiver(ch):
        iknp_receiver_setup(ch)
        ch.send(np.zeros((128, 3), np.uint8))

    with pytest.raises(ProtocolError, match="shape"):
        run_two_party(lambda ch: iknp_sender_setup(ch).get(128), bad_receiver)

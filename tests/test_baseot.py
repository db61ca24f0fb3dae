"""Base OT (Chou–Orlandi over X25519): correctness against the plaintext twin, the receiver
cannot decrypt the other message, exact traffic, malformed peer input."""
import numpy as np
import pytest

from protocols.channel import ProtocolError, run_two_party
from protocols.ot import baseot
from protocols.ot.baseot import (baseot_cost, baseot_recv, baseot_recv_random, baseot_send,
                                 baseot_send_random, ideal_ot)


def test_random_ot(rng):
    n = 128
    c = rng.integers(0, 2, n).astype(np.uint8)
    (k0, k1), kc, ch0, ch1 = run_two_party(lambda ch: baseot_send_random(ch, n), lambda ch: baseot_recv_random(ch, c))
    assert np.array_equal(kc, ideal_ot(k0, k1, c))
    other = ideal_ot(k0, k1, 1 - c)
    assert np.all(np.any(kc != other, axis=1))  # the other key is different for every OT
    assert np.all(np.any(k0 != k1, axis=1))
    assert len({bytes(r) for r in k0}) == n  # keys are distinct across OTs
    cost = baseot_cost(n)
    assert ch0.total.bytes_sent == cost["sender_sent"] == 32
    assert ch1.total.bytes_sent == cost["receiver_sent"] == 33 * n
    assert ch0.total.msgs_sent == 1 and ch1.total.msgs_sent == 1
    assert ch0.total.rounds == 1 and ch1.total.rounds == 1


@pytest.mark.parametrize("choice", ["random", "zeros", "ones"])
def test_chosen_ot(rng, choice):
    n = 16
    m0 = rng.integers(0, 2**63, (n, 2), dtype=np.uint64)
    m1 = rng.integers(0, 2**63, (n, 2), dtype=np.uint64)
    c = {"random": rng.integers(0, 2, n), "zeros": np.zeros(n), "ones": np.ones(n)}[choice].astype(np.uint8)
    _, got, ch0, ch1 = run_two_party(lambda ch: baseot_send(ch, m0, m1), lambda ch: baseot_recv(ch, c))
    assert np.array_equal(got, ideal_ot(m0, m1, c))
    assert np.all(np.any(got != ideal_ot(m0, m1, 1 - c), axis=1))
    cost = baseot_cost(n, chosen=True)
    assert ch0.total.bytes_sent == cost["sender_sent"] == 32 + 32 * n
    assert ch1.total.bytes_sent == cost["receiver_sent"]


def test_sender_rejects_twist_point():
    # find an x-coordinate on the quadratic twist (not a curve point)
    x = next(x for x in range(2, 100) if baseot._sqrt(x**3 + baseot._A * x * x + x) is None)

    def bad_receiver(ch):
        ch.recv_bytes()
        msg = np.zeros((4, 33), dtype=np.uint8)
        msg[:, :32] = np.frombuffer(x.to_bytes(32, "little"), dtype=np.uint8)
        ch.send(msg)

    with pytest.raises(ProtocolError, match="not on Curve25519"):
        run_two_party(lambda ch: baseot_send_random(ch, 4), bad_receiver)


def test_receiver_rejects_bad_choice():
    with pytest.raises(ValueError):
        run_two_party(lambda ch: baseot_send_random(ch, 2), lambda ch: baseot_recv_random(ch, np.array([0, 2])))

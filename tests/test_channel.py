"""Channel cost counters (exact), dtype/shape checks, shaping — in-memory channel.

The same exchanges run over gRPC in tests/test_grpc_channel.py.
"""
import time

import numpy as np
import pytest

from protocols.channel import PROFILES, ProtocolError, run_two_party, summarize

HDR_PRE = 13  # <dBI>
HDR_ARR = lambda ndim: 2 + 8 * ndim  # noqa: E731


def test_send_recv_counts():
    a = np.arange(10, dtype=np.uint64)
    b = np.zeros((3, 4), dtype=np.uint8)

    def f0(ch):
        ch.send(a, b)
        return ch.recv_bytes()

    def f1(ch):
        x, y = ch.recv((np.uint64, (10,)), (np.uint8, (3, 4)))
        assert np.array_equal(x, a) and np.array_equal(y, b)
        ch.send_bytes(b"hello")
        return True

    r0, r1, c0, c1 = run_two_party(f0, f1)
    assert r0 == b"hello"
    t0, t1 = c0.total, c1.total
    assert (t0.bytes_sent, t0.bytes_recv, t0.msgs_sent, t0.msgs_recv, t0.rounds) == (92, 5, 1, 1, 1)
    assert (t1.bytes_sent, t1.bytes_recv, t1.msgs_sent, t1.msgs_recv, t1.rounds) == (5, 92, 1, 1, 1)
    assert t0.header_bytes_sent == HDR_PRE + HDR_ARR(1) + HDR_ARR(2) == t1.header_bytes_recv
    assert t1.header_bytes_sent == HDR_PRE == t0.header_bytes_recv


def test_exchange_is_one_round():
    def f(ch):
        out = ch.exchange(np.full(100, ch.party, dtype=np.uint32))
        return int(out[0][0])

    r0, r1, c0, c1 = run_two_party(f, f)
    assert (r0, r1) == (1, 0)
    for c in (c0, c1):
        assert (c.total.bytes_sent, c.total.bytes_recv, c.total.rounds, c.total.msgs_sent) == (400, 400, 1, 1)


@pytest.mark.parametrize("n", [1, 7, 50])
def test_pingpong_rounds(n):
    def f0(ch):
        for _ in range(n):
            ch.send(ch.recv_array(np.uint64, (1,)) + np.uint64(1))

    def f1(ch):
        v = np.zeros(1, dtype=np.uint64)
        for _ in range(n):
            ch.send(v)
            v = ch.recv_array(np.uint64, (1,))
        return int(v[0])

    _, r1, c0, c1 = run_two_party(f0, f1)
    assert r1 == n
    for c in (c0, c1):
        assert (c.total.bytes_sent, c.total.bytes_recv, c.total.msgs_sent, c.total.msgs_recv, c.total.rounds) == (8 * n, 8 * n, n, n, n)


def test_scopes_nest_and_add_up():
    def f0(ch):
        with ch.scope("Layer") as outer:
            with ch.scope("a"):
                ch.send(np.zeros(4, dtype=np.uint64))
            with ch.scope("b"):
                ch.recv_array(np.uint64, (2,))
                ch.send(np.zeros(1, dtype=np.uint8))
        return outer

    def f1(ch):
        ch.recv_array(np.uint64, (4,))
        ch.send(np.zeros(2, dtype=np.uint64))
        ch.recv_array(np.uint8, (1,))

    outer, _, c0, _ = run_two_party(f0, f1)
    names = [r.name for r in c0.records]
    assert names == ["Layer/a", "Layer/b", "Layer"]
    rec = {r.name: r.cost for r in c0.records}
    assert (rec["Layer/a"].bytes_sent, rec["Layer/a"].rounds) == (32, 0)
    assert (rec["Layer/b"].bytes_sent, rec["Layer/b"].bytes_recv, rec["Layer/b"].rounds) == (1, 16, 1)
    assert outer.cost.bytes_sent == 33 and outer.cost.bytes_recv == 16 and outer.cost.rounds == 1
    assert summarize(c0.records, depth=2).keys() == {"Layer/a", "Layer/b"}


@pytest.mark.parametrize(
    "expect,msg",
    [((np.uint32, (3,)), "dtype"), ((np.uint64, (4,)), "shape"), ((np.uint64, (3, 1)), "shape")],
)
def test_dtype_and_shape_checks(expect, msg):
    def f0(ch):
        ch.send(np.zeros(3, dtype=np.uint64))

    def f1(ch):
        ch.recv(expect)

    with pytest.raises(ProtocolError, match=msg):
        run_two_party(f0, f1)


def test_wrong_kind_and_count():
    def f0(ch):
        ch.send_bytes(b"x")
        ch.send(np.zeros(1, np.uint8), np.zeros(1, np.uint8))

    def f1(ch):
        with pytest.raises(ProtocolError, match="expected an array message"):
            ch.recv()
        with pytest.raises(ProtocolError, match="expected 1 arrays"):
            ch.recv((np.uint8, (1,)))
        return True

    assert run_two_party(f0, f1)[1]


def _timed(profile, f0, f1):
    t = time.perf_counter()
    run_two_party(f0, f1, profile=profile)
    return time.perf_counter() - t


def test_shaping_bandwidth_wan_5mb():
    n = 5_000_000
    p = PROFILES["wan"]
    bound = n * 8 / p.bandwidth_bps + p.rtt_s  # transfer + ack round trip

    def f0(ch):
        ch.recv_array(np.uint8, (n,))
        ch.send(np.zeros(1, np.uint8))

    def f1(ch):
        ch.send(np.zeros(n, np.uint8))
        ch.recv_array(np.uint8, (1,))

    t = min(_timed("wan", f0, f1) for _ in range(2))
    # shaping never makes a transfer faster than the link allows; the upper margin absorbs thread
    # wake-ups on a loaded 2-core CI machine (the 10 % figures come from `python -m bench channel`)
    assert bound * 0.99 <= t <= bound * 1.5, (t, bound)


def test_shaping_latency_lan_100_pingpongs():
    n = 100
    bound = n * PROFILES["lan"].rtt_s

    def f0(ch):
        for _ in range(n):
            ch.send(ch.recv_array(np.uint64, (1,)))

    def f1(ch):
        v = np.zeros(1, np.uint64)
        for _ in range(n):
            ch.send(v)
            v = ch.recv_array(np.uint64, (1,))

    t = min(_timed("lan", f0, f1) for _ in range(5))  # best of 5: the machine is shared
    # shaping never makes a transfer faster than the link allows; the upper margin absorbs thread
    # wake-ups on a loaded 2-core CI machine (the 10 % figures come from `python -m bench channel`)
    assert bound * 0.99 <= t <= bound * 1.5, (t, bound)

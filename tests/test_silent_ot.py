"""Dual-LPN silent COT (protocols/ot/silent.py): exact COT relation, half-tree and EA steps against
their definitions, exact traffic against the analytic cost function."""
from __future__ import annotations

import numpy as np
import pytest

from protocols.channel import run_two_party
from protocols.config import override
from protocols.context import MPC
from protocols.ot.cot import make_cot
from protocols.ot.iknp import iknp_get_cost, iknp_setup_cost
from protocols.ot.silent import (PARAMS, Level, _Workspace, ea_compress, ea_indices, get_params, halftree_receiver,
                                 halftree_sender, iteration_cost, traffic_for)
from protocols.prg import PRG


def _check(delta, q, b, t):
    assert q.shape == t.shape and b.shape == (q.shape[0],)
    assert np.array_equal(t, q ^ (delta[None, :] * b[:, None].astype(np.uint64)))


def _run(sizes, params="toy"):
    def f(ch):
        with override(silent_params=params):
            p = make_cot(ch, "silent")
        outs = []
        for n in sizes:
            if ch.party == 0:
                outs.append((p.sender.get(n), p.receiver.get(n)))
            else:
                r = p.receiver.get(n)
                outs.append((p.sender.get(n), r))
        return p, outs

    return run_two_party(f, f)


@pytest.mark.parametrize("name", ["toy", "toy1"])
def test_silent_both_directions_many_iterations(name):
    P = PARAMS[name]
    sizes = [1, 7, 333, 1001, 4097, 2]  # odd sizes, crossing the pre/main levels and iterations
    (p0, o0), (p1, o1), ch0, ch1 = _run(sizes, name)
    d0, d1 = p0.sender.delta, p1.sender.delta
    assert d0[0] & 1 and d1[0] & 1 and not np.array_equal(d0, d1)
    qs, bs = [], []
    for (q0, (b0, t0)), (q1, (b1, t1)), n in zip(o0, o1, sizes):
        assert q0.shape == (n, 2)
        _check(d0, q0, b1, t1)
        _check(d1, q1, b0, t0)
        qs.append(q0)
        bs.append(b1)
    q = np.concatenate(qs)
    assert len({bytes(x) for x in q}) == q.shape[0]  # no repeated outputs
    assert not np.any(q[:, 0] & np.uint64(1))  # normalised sender blocks
    assert abs(np.concatenate(bs).mean() - 0.5) < 0.03
    tr = traffic_for(P, sum(sizes))
    assert p0.sender.iterations == p1.receiver.iterations == tr["iterations"] >= 4
    for ch in (ch0, ch1):  # both directions, plus the 16-byte common seed
        assert ch.total.bytes_sent == tr["sender_sent"] + tr["receiver_sent"] + 16
        assert ch.total.bytes_recv == ch.total.bytes_sent


def test_traffic_formula_and_message_counts():
    P = PARAMS["toy"]
    first = P.pre.n_out - P.main.m  # what the pre iteration serves
    n1, n2 = first + 5, 3 * P.served

    def f(ch):
        s0 = ch.snapshot()
        with override(silent_params="toy"):
            p = make_cot(ch, "silent")
        p.sender.get(n1) if ch.party == 0 else p.receiver.get(n1)
        ca = ch.cost_since(s0)
        s1 = ch.snapshot()
        p.sender.get(n2) if ch.party == 0 else p.receiver.get(n2)
        return ca, ch.cost_since(s1)

    (c0a, c0b), (c1a, c1b), _, _ = run_two_party(f, f)
    # steady part: the rest of iteration 2 plus whole main iterations, one message each, S → R only
    tr1, tr2 = traffic_for(P, n1), traffic_for(P, n1 + n2)
    k = tr2["iterations"] - tr1["iterations"]
    assert k == 3
    assert c0b.bytes_sent == k * iteration_cost(P.main) and c0b.msgs_sent == k and c0b.bytes_recv == 0
    assert c1b.msgs_recv == k and c1b.msgs_sent == 0 and c0b.rounds == 0
    # setup of both directions + first get (IKNP of pre.M, the pre and the first main iteration)
    tr0 = traffic_for(P, 0)
    assert tr1["iterations"] == 2 and tr1["msgs"] == iknp_get_cost(P.pre.m)["msgs"] + 2
    assert tr1["sender_sent"] - tr0["sender_sent"] == iteration_cost(P.pre) + iteration_cost(P.main)
    assert tr1["receiver_sent"] - tr0["receiver_sent"] == iknp_get_cost(P.pre.m)["receiver_sent"]
    for c in (c0a, c1a):
        assert c.bytes_sent + c.bytes_recv == (tr1["sender_sent"] + tr1["receiver_sent"] + tr0["sender_sent"]
                                               + tr0["receiver_sent"] + 32)


def test_traffic_at_real_parameters_is_below_one_bit():
    s = iknp_setup_cost()
    for name, bound in (("ea11", 1.0), ("ea40", 1.0)):
        P = get_params(name)
        tr = traffic_for(P, 10**6)
        total = tr["sender_sent"] + tr["receiver_sent"] + 16  # + seed (16 B each way per pair: half here)
        assert total * 8 / 10**6 < bound, name
    ea11 = traffic_for(PARAMS["ea11"], 10**6)
    assert ea11["receiver_sent"] == s["receiver_sent"] + 16 * 1_280  # IKNP of 1,232 → 1,280 COTs
    assert ea11["sender_sent"] == s["sender_sent"] + 16 * 176 * 6 + 16 * 400 * 12
    assert ea11["sender_sent"] + ea11["receiver_sent"] == 118_432
    assert traffic_for(PARAMS["ea40"], 10**6)["sender_sent"] + traffic_for(PARAMS["ea40"], 10**6)["receiver_sent"] == 108_704
    # steady state ≤ 0.4 bit per COT
    P = PARAMS["ea11"]
    assert iteration_cost(P.main) * 8 / P.served < 0.4


@pytest.mark.parametrize("chunk", [None, 8])
def test_halftree_against_definition(chunk, monkeypatch):
    if chunk:  # exercise the one-tree-at-a-time path of deep levels
        import protocols.ot.silent as S

        monkeypatch.setattr(S, "_CHUNK", chunk)
    prg = PRG()
    t, b = 5, 6
    delta = prg.blocks(1)[0].copy()
    delta[0] |= np.uint64(1)
    q = prg.blocks(b * t).reshape(b, t, 2)
    q[:, :, 0] &= ~np.uint64(1)
    choice = prg.bits(b * t).reshape(b, t)
    tb = q ^ (delta[None, None, :] * choice[:, :, None].astype(np.uint64))
    ws = _Workspace()
    w = np.empty((t << b, 2), dtype=np.uint64)
    corr = halftree_sender(ws, q, delta, w)
    assert corr.shape == (b - 1, t, 2)
    v = np.empty_like(w)
    alpha = halftree_receiver(_Workspace(), tb, corr, v)
    # path bits: α's level-l bit (MSB first) is 1 − choice
    expect = np.zeros(t, dtype=np.int64)
    for lvl in range(b):
        expect = expect + ((1 - choice[lvl].astype(np.int64)) << lvl)
    assert np.array_equal(alpha, expect)
    diff = (v ^ w).reshape(t, 1 << b, 2)
    for tau in range(t):
        nz = np.flatnonzero(np.any(diff[tau] != 0, axis=1))
        assert list(nz) == [alpha[tau]]
        assert np.array_equal(diff[tau, alpha[tau]], delta)
    # every tree's leaves XOR to Δ (half-tree invariant); leaves are distinct
    assert np.all(np.bitwise_xor.reduce(w.reshape(t, 1 << b, 2), axis=1) == delta[None, :])
    assert len({bytes(x) for x in w}) == w.shape[0]


@pytest.mark.parametrize("w", [7, 11, 40])
def test_ea_against_definition(w, native_path):
    """The dual EA rows on the compiled kernel and on the numpy path, against the definition."""
    prg = PRG()
    N, n = 1000, 500
    seed = prg.random_bytes(16)
    vec = prg.blocks(N)
    ref_acc = vec.copy()
    for i in range(1, N):
        ref_acc[i] ^= ref_acc[i - 1]
    idx = ea_indices(seed, n, N, w)
    assert idx.shape == (w, n) and idx.min() >= 0 and idx.max() < N
    ref = np.zeros((n, 2), dtype=np.uint64)
    for j in range(w):
        ref ^= ref_acc[idx[j]]
    out = np.empty((n, 2), dtype=np.uint64)
    ea_compress(vec.copy(), n, w, seed, out)
    assert np.array_equal(out, ref)
    # the index stream is seekable by row (row0·w a multiple of 4)
    assert np.array_equal(ea_indices(seed, 100, N, w, row0=400), idx[:, 400:500])
    # the sender's normalisation z -> z ⊕ LSB(z)·Δ
    from protocols.ot.silent import ea_rows

    delta = prg.blocks(1)[0] | np.array([1, 0], dtype=np.uint64)
    out2 = np.empty((n, 2), dtype=np.uint64)
    ea_rows(ref_acc, 0, w, seed, out2, normalize_delta=delta)
    lsb = (ref[:, 0] & np.uint64(1)).astype(bool)
    ref[lsb] ^= delta
    assert np.array_equal(out2, ref)


def test_params_validate():
    with pytest.raises(ValueError):
        get_params("nope")
    from protocols.ot.silent import SilentParams

    with pytest.raises(ValueError):
        SilentParams("bad", Level(16, 6, 7), Level(2, 2, 3), False).validate()  # pre too small
    for name in ("ea11", "ea40"):
        get_params(name).validate()


def test_mpc_with_silent_ot():
    def f(ch):
        with override(silent_params="toy"):
            m = MPC.setup(ch, ot_kind="silent")
        return m.ot_kind, type(m.ot.sender).__name__

    r0, r1, _, _ = run_two_party(f, f)
    assert r0 == r1 == ("silent", "SilentSender")


def test_real_parameters_ea11():
    n = 40_000  # pre iteration + one main iteration (3.3 M leaves) at the real parameters

    def f(ch):
        p = make_cot(ch, "silent")
        if ch.party == 0:
            return p.sender.delta, p.sender.get(n), p.sender.iterations
        return None, p.receiver.get(n), None

    (d, q, it), (_, (b, t), _), ch0, _ = run_two_party(f, f)
    _check(d, q, b, t)
    assert it == 2
    tr = traffic_for(PARAMS["ea11"], n)
    assert ch0.total.bytes_sent + ch0.total.bytes_recv == tr["sender_sent"] + tr["receiver_sent"] + 32 + 4_256

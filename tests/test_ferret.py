"""Ferret silent COT: GGM MPCOT and LPN steps against plaintext twins, t = q ⊕ b·Δ across
several re-bootstrapped iterations in both directions, exact per-segment traffic, make_cot over
two threads, and a run between two OS processes over the gRPC transport.

Unit tests use the insecure ``toy`` parameter set (small trees) so they stay fast; the b13 set is
checked for consistency and, under ``-m slow``, run once."""
import os
import sys

import numpy as np
import pytest

from party.jobs import Job, register_job
from protocols.channel import run_two_party
from protocols.config import override
from protocols.ot.cot import crhash, make_cot
from protocols.ot.ferret import (PARAMS, LpnParams, _Workspace, ferret_iteration_cost, ferret_setup_cost, get_params,
                                 ggm_receiver, ggm_sender, lpn_apply, lpn_indices, make_ferret_pair,
                                 segment_trees, traffic_for)
from protocols.prg import PRG

from _twoparty import run_job_in_processes

HERE = os.path.dirname(os.path.abspath(__file__))


def _check(delta, q, b, t):
    assert delta[0] & np.uint64(1) == 1
    assert np.array_equal(t, q ^ (delta[None, :] * b[:, None].astype(np.uint64)))
    assert np.all(q[:, 0] & np.uint64(1) == 0)  # normalised sender blocks
    assert np.array_equal(b, (t[:, 0] & np.uint64(1)).astype(np.uint8))


# ---------------------------------------------------------------------------- parameter sets
def test_parameter_sets():
    b13 = PARAMS["b13"]
    assert (b13.main.n, b13.main.k, b13.main.t, b13.main.b) == (10_485_760, 452_000, 1_280, 13)
    assert (b13.pre.n, b13.pre.k, b13.pre.t, b13.pre.b) == (470_016, 32_768, 918, 9)
    for p in PARAMS.values():
        p.validate()
    assert b13.main.m == 468_640
    # 16·t·(2b+1) bytes per iteration: 0.44 bit per served COT in steady state
    assert ferret_iteration_cost(b13.main) == 552_960
    assert ferret_iteration_cost(b13.main) * 8 / (b13.main.n - b13.main.m) < 0.45
    assert get_params().name == "b13"  # the default is the secure set
    with override(ferret_params="toy"):
        assert get_params().name == "toy"
    with pytest.raises(ValueError):
        get_params("nope")
    with pytest.raises(ValueError):
        LpnParams(100, 10, 3, 5).validate()


# ---------------------------------------------------------------------------- GGM (MPCOT)
@pytest.mark.parametrize("t,b", [(1, 1), (5, 3), (7, 6)])
def test_ggm_mpcot(rng, t, b):
    """Receiver learns every leaf but α_τ; leaf α_τ comes out as w ⊕ Δ; α from the choice bits."""
    prg = PRG()
    delta = prg.blocks(1)[0]
    delta[0] |= np.uint64(1)
    roots = prg.blocks(t)
    ws = _Workspace()
    w = np.empty((t << b, 2), np.uint64)
    k0, k1 = ggm_sender(ws, roots, b, w)
    # plaintext twin of the tree: level-major, children of node j at j and j + 2^l
    lv = roots
    for _ in range(b):
        from protocols.ot.ferret import _KEY0, _KEY1, _aes_ecb

        l0 = np.frombuffer(_aes_ecb(_KEY0).update(lv.tobytes()), np.uint64).reshape(-1, 2) ^ lv
        l1 = np.frombuffer(_aes_ecb(_KEY1).update(lv.tobytes()), np.uint64).reshape(-1, 2) ^ lv
        lv = np.concatenate([l0, l1])
    assert np.array_equal(w, lv)
    choice = rng.integers(0, 2, (b, t)).astype(np.uint8)
    ksel = np.where(choice[:, :, None] == 1, k1, k0)
    leafcorr = k0[-1] ^ k1[-1] ^ delta[None, :]
    lpn = rng.integers(0, 2**63, (t << b, 2), dtype=np.uint64)  # receiver XORs into existing data
    v = lpn.copy()
    pos = ggm_receiver(ws, ksel, choice, leafcorr, b, v)
    v ^= lpn
    # α bits: the path goes opposite to the choice bit at every level
    alpha = np.zeros(t, np.int64)
    for lvl in range(b):
        alpha += (1 - choice[lvl].astype(np.int64)) << lvl
    assert np.array_equal(pos, alpha * t + np.arange(t))
    e = np.zeros(t << b, bool)
    e[pos] = True
    assert np.array_equal(v[~e], w[~e])
    assert np.array_equal(v[e], w[e] ^ delta[None, :])
    assert np.bincount(pos % t, minlength=t).tolist() == [1] * t  # regular: one per tree


# ---------------------------------------------------------------------------- LPN
@pytest.mark.parametrize("row0,k", [(0, 301), (2, 301), (4096, 301), (6, 452_000)])
def test_lpn_against_twin(rng, row0, k, native_path):
    n = 5000
    base = rng.integers(0, 2**64, (k, 2), dtype=np.uint64)
    seed = bytes(range(16))
    start = rng.integers(0, 2**64, (n, 2), dtype=np.uint64)
    out = start.copy()
    lpn_apply(out, base, seed, row0=row0)
    idx = lpn_indices(seed, row0 + n, k)[row0:]
    assert idx.min() >= 0 and idx.max() < k
    want = start.copy()
    for j in range(10):
        want ^= base[idx[:, j]]
    assert np.array_equal(out, want)
    out2 = np.empty_like(out)
    lpn_apply(out2, base, seed, row0=row0, assign=True)
    assert np.array_equal(out2 ^ start, want)
    # the sender's normalisation: z -> z ^ LSB(z)·Δ
    delta = np.array([rng.integers(0, 2**64, dtype=np.uint64) | np.uint64(1), rng.integers(0, 2**64, dtype=np.uint64)],
                     dtype=np.uint64)
    out3 = start.copy()
    lpn_apply(out3, base, seed, row0=row0, normalize_delta=delta)
    lsb = (want[:, 0] & np.uint64(1)).astype(bool)
    want[lsb] ^= delta
    assert np.array_equal(out3, want)
    assert not np.any(out3[:, 0] & np.uint64(1))
    # indices look uniform over [0, k)
    cnt = np.bincount(lpn_indices(seed, 30_000, 301).ravel(), minlength=301)
    assert cnt.min() > 0.7 * cnt.mean() and cnt.max() < 1.3 * cnt.mean()


# ---------------------------------------------------------------------------- end to end
def _run_pair(sizes, params="toy"):
    def f(ch):
        p = make_ferret_pair(ch, params)
        out = []
        for n in sizes:
            if ch.party == 0:
                q = p.sender.get(n)
                r = p.receiver.get(n)
            else:
                r = p.receiver.get(n)
                q = p.sender.get(n)
            out.append((q, r))
        return p, out

    return run_two_party(f, f)


def test_ferret_both_directions_many_iterations():
    P = PARAMS["toy"]
    sizes = [1, 999, 2500, 14_596, 40_000, 7]  # crosses pre/main and several main iterations
    (p0, o0), (p1, o1), ch0, ch1 = _run_pair(sizes)
    d0, d1 = p0.sender.delta, p1.sender.delta
    assert not np.array_equal(d0, d1)
    qs, bs = [], []
    for (q0, (b0, t0)), (q1, (b1, t1)), n in zip(o0, o1, sizes):
        assert q0.shape == (n, 2) and t0.shape == (n, 2)
        _check(d0, q0, b1, t1)
        _check(d1, q1, b0, t0)
        qs.append(q0)
        bs.append(b1)
    q = np.concatenate(qs)
    assert len({bytes(x) for x in q}) == q.shape[0]  # no repeated outputs
    b = np.concatenate(bs)
    assert abs(b.mean() - 0.5) < 0.01
    assert p0.sender.iterations >= 4 and p0.sender.iterations == p1.receiver.iterations
    # exact traffic: per direction setup + every segment's 16·G·(2b+1), plus the 16-byte seed
    tr = traffic_for(P, sum(sizes))
    for ch in (ch0, ch1):
        assert ch.total.bytes_sent == tr["sender_sent"] + tr["receiver_sent"] + 16
        assert ch.total.bytes_recv == ch.total.bytes_sent


def test_segment_schedule_and_traffic_formula():
    P = PARAMS["toy"]
    # steady state: a full main iteration costs exactly t·(2b+1) blocks
    n_iter = P.main.n - P.main.m
    a = traffic_for(P, P.pre.n - P.main.m)["sender_sent"]
    b = traffic_for(P, P.pre.n - P.main.m + n_iter)["sender_sent"]
    assert b - a == ferret_iteration_cost(P.main) == 16 * 32 * 19
    assert segment_trees(PARAMS["b13"].main) == 64
    for name in ("b13", "toy"):
        Q = PARAMS[name]
        sc = ferret_setup_cost(Q)
        tr = traffic_for(Q, Q.pre.n - Q.main.m)  # exactly the bootstrap iteration's surplus
        assert (sc["sender_sent"], sc["receiver_sent"]) == (tr["sender_sent"], tr["receiver_sent"])
    b13 = traffic_for(PARAMS["b13"], 10**6)
    # base OT 4,256 + IKNP 41,030→41,088 COTs + bootstrap iteration + 180 trees of 13 levels
    assert b13["receiver_sent"] == 32 + 16 * 41_088
    assert b13["sender_sent"] == 4_224 + 16 * 918 * 19 + 16 * 27 * 192


def test_make_cot_ferret_threads_mid_size():
    n = 200_000

    def f(ch):
        with override(ferret_params="toy"):
            p = make_cot(ch, "ferret")
        if ch.party == 0:
            return p.sender.delta, p.sender.get(n), p.receiver.get(n)
        r = p.receiver.get(n)
        return p.sender.delta, p.sender.get(n), r

    (d0, q0, (b0, t0)), (d1, q1, (b1, t1)), _, _ = run_two_party(f, f)
    _check(d0, q0, b1, t1)
    _check(d1, q1, b0, t0)


def test_crhash_breaks_correlation():
    # the GGM pads H(q), H(q ⊕ Δ) are unrelated (sanity for the hash used in the MPCOT)
    prg = PRG()
    q = prg.blocks(64)
    d = prg.blocks(1)[0]
    h0, h1 = crhash(q, 5), crhash(q ^ d, 5)
    assert len({bytes(x) for x in (h0 ^ h1)}) == 64


@pytest.mark.slow
def test_ferret_b13_one_iteration():
    """The real parameter set: bootstrap + the first main segments (slow: ~170 MB per side)."""
    (p0, o0), (p1, o1), ch0, _ = _run_pair([600_000], params="b13")
    (q0, (b0, t0)), (q1, (b1, t1)) = o0[0], o1[0]
    _check(p0.sender.delta, q0, b1, t1)
    _check(p1.sender.delta, q1, b0, t0)
    tr = traffic_for(PARAMS["b13"], 600_000)
    assert ch0.total.bytes_sent == tr["sender_sent"] + tr["receiver_sent"] + 16


# ---------------------------------------------------------------------------- two OS processes
@register_job("test-ferret-cot")
class _FerretJob(Job):
    """Test only: n Ferret COTs party 0 → party 1 (toy parameters); party 0 then reveals q and Δ
    so the client can check the correlation."""

    def server(self, ch, model, params):
        p = make_ferret_pair(ch, params["params"])
        q = p.sender.get(int(params["n"]))
        ch.send(q, p.sender.delta)

    def client(self, ch, params, inputs):
        p = make_ferret_pair(ch, params["params"])
        b, t = p.receiver.get(int(params["n"]))
        cost = ch.total.copy()
        q, delta = ch.recv((np.uint64, (-1, 2)), (np.uint64, (2,)))
        return q.copy(), delta.copy(), b, t, cost




def test_ferret_two_processes_over_grpc():

    n = 30_000
    res = run_job_in_processes("test_ferret", "test-ferret-cot", {"params": "toy", "n": n}, path=HERE)
    q, delta, b, t, cost = res.result
    _check(delta, q, b, t)
    tr = traffic_for(PARAMS["toy"], n)
    # the client is party 1: receiver of this direction, also the IKNP sender/… of the other
    # direction's setup, which both sides run in make_ferret_pair
    trb = traffic_for(PARAMS["toy"], 0)
    assert cost.bytes_recv == tr["sender_sent"] + trb["receiver_sent"] + 16
    assert cost.bytes_sent == tr["receiver_sent"] + trb["sender_sent"] + 16


def test_cot_bench_function_reports_exact_traffic():
    from bench.workloads.ot_bench import run_cot_bench

    n = 20_000
    r0, r1, _, _ = run_two_party(lambda ch: run_cot_bench(ch, n, "ferret", "toy"),
                                 lambda ch: run_cot_bench(ch, n, "ferret", "toy"))
    tr = traffic_for(PARAMS["toy"], n)
    assert r0["case"] == "cot" and r0["n"] == n
    assert r0["bytes_total"] == r1["bytes_total"] == 2 * (tr["sender_sent"] + tr["receiver_sent"]) + 32
    assert r0["bits_per_cot"] == r0["bytes_total"] * 8 / (2 * n)
    assert r0["cots_per_s"] > 0 and r0["cots_per_s_steady"] > 0


def test_mpc_warm_up_ot_bootstraps_both_directions():
    """``MPC.warm_up_ot`` runs each direction's bootstrap up front (exactly ``traffic_for(·, 1)``),
    and the COTs drawn afterwards are still correlated with the same Δ."""
    from protocols.channel import run_two_party
    from protocols.config import override
    from protocols.context import MPC
    from protocols.ot.ferret import PARAMS, traffic_for
    from protocols.ot.iknp import iknp_setup_cost

    def f(ch):
        mpc = MPC.setup(ch, "ferret")
        s0 = ch.snapshot()
        mpc.warm_up_ot()
        warm = ch.cost_since(s0)
        if ch.party == 0:
            q = mpc.ot.sender.get(500)
            return warm, q, mpc.ot.sender.delta
        return warm, mpc.ot.receiver.get(500)

    with override(ferret_params="toy"):
        (w0, q, delta), (w1, (b, t)), _, _ = run_two_party(f, f)
    tr, base = traffic_for(PARAMS["toy"], 1), iknp_setup_cost()  # the base OTs ran in MPC.setup
    each = tr["sender_sent"] - base["sender_sent"] + tr["receiver_sent"] - base["receiver_sent"]
    assert w0.bytes_sent == w1.bytes_sent == each > 0
    assert np.array_equal(t, q ^ (b[:, None].astype(np.uint64) * delta[None, :]))

"""Test-only job ``test-arith-kernels``: mul_aa + trunc_a, b2a and select between two parties
over the real gRPC transport.  Inputs are numpy-random test data derived from a public seed in
``params`` (both processes derive the same plaintexts and shares); at the end both parties
exchange their output shares so the client can check them (a test-only reveal)."""
from __future__ import annotations

import time

import numpy as np

from party.jobs import Job, register_job
from protocols.config import override
from protocols.context import MPC
from protocols.convert import b2a
from protocols.fixed import mul_fx
from protocols.ot.extensions import COT_SCOPE
from protocols.ring import Ring
from protocols.select import select


def _data(params):
    rng = np.random.default_rng(int(params["seed"]))
    ell, n = int(params["ell"]), int(params["n"])
    R = Ring(ell)
    lim = 1 << ((ell - 3) // 2)
    xv = R.from_signed(rng.integers(-lim, lim, size=n))
    yv = R.from_signed(rng.integers(-lim, lim, size=n))
    bits = rng.integers(0, 2, size=n).astype(np.uint8)
    sh = [R.reduce(rng.integers(0, 2**64, size=n, dtype=np.uint64)) for _ in range(2)]
    bm = rng.integers(0, 2, size=n).astype(np.uint8)
    return R, xv, yv, bits, sh, bm


def _run(ch, params):
    R, xv, yv, bits, (rx, ry), bm = _data(params)
    mpc = MPC.setup(ch, ot_kind=params.get("ot", "insecure-dealer"))
    me = ch.party
    x = rx if me == 0 else R.sub(xv, rx)
    y = ry if me == 0 else R.sub(yv, ry)
    b = bm if me == 0 else bits ^ bm
    engine = params.get("engine", "ot")
    if engine == "he":  # the one-time key set-up is not part of the kernels' cost
        from protocols.he.simd_mul import SimdMul

        SimdMul.of(mpc)
    start = ch.snapshot()
    first = len(ch.records)
    t0 = time.perf_counter()
    with override(mul_engine=engine):
        z = mul_fx(mpc, x, y, ell=R.ell, frac=int(params["frac"]))
    t_mul = time.perf_counter() - t0
    if params.get("only") == "mul_trunc":
        cost = ch.cost_since(start).to_dict()
        cost["time_mul_trunc_s"] = t_mul
        return None, cost
    a = b2a(mpc, b, ell=R.ell)
    s = select(mpc, b, x, y, ell=R.ell)
    cost = ch.cost_since(start).to_dict()
    # the kernels' own payload, without the COT engine's traffic (scoped by extensions)
    for r in ch.records[first:]:
        if r.name.split("/")[-1] == COT_SCOPE:
            for k in ("bytes_sent", "bytes_recv", "rounds"):
                cost[k] -= getattr(r.cost, k)
    cost["time_mul_trunc_s"] = t_mul
    peer = ch.exchange(z, a, s)
    return [R.add(u, v) for u, v in zip((z, a, s), peer)], cost


@register_job("test-arith-kernels")
class ArithKernels(Job):
    description = "test only: arithmetic kernels over gRPC"

    def server(self, ch, model, params):
        _run(ch, params)

    def client(self, ch, params, inputs):
        return _run(ch, params)

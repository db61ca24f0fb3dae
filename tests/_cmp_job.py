"""Test-only job ``test-cmp-kernels``: msb_a, lt_ap (exact) and max_a between two parties over the
real gRPC transport.  Inputs are numpy-random test data derived from a public seed in ``params``
(both processes derive the same plaintexts and shares); at the end both parties exchange their
output shares so the client can check them (a test-only reveal)."""
from __future__ import annotations

import numpy as np

from party.jobs import Job, register_job
from protocols.compare import lt_ap, msb_a
from protocols.context import MPC
from protocols.max import max_a
from protocols.ring import Ring


def _data(params):
    rng = np.random.default_rng(int(params["seed"]))
    ell, n, cols = int(params["ell"]), int(params["n"]), int(params["cols"])
    R = Ring(ell)
    x = R.reduce(rng.integers(0, 2**64, size=n, dtype=np.uint64))
    x[:6] = R.reduce(np.array([0, 1, R.mask, R.half, R.half - np.uint64(1), R.half + np.uint64(1)], dtype=np.uint64))
    q = 1 << (ell - 2)
    rows = R.from_signed(rng.integers(-q, q, size=(4, cols)))
    sh = [R.reduce(rng.integers(0, 2**64, size=s, dtype=np.uint64)) for s in (x.shape, rows.shape)]
    return R, x, rows, sh


def _run(ch, params):
    R, x, rows, (rx, rr) = _data(params)
    mpc = MPC.setup(ch, ot_kind=params.get("ot", "insecure-dealer"))
    me = ch.party
    xs = rx if me == 0 else R.sub(x, rx)
    rs = rr if me == 0 else R.sub(rows, rr)
    start = ch.snapshot()
    m = msb_a(mpc, xs, ell=R.ell)
    cost = ch.cost_since(start).to_dict()
    lt = lt_ap(mpc, xs, -5, ell=R.ell, exact=True)
    mx = max_a(mpc, rs, ell=R.ell)
    pm, pl, px = ch.exchange(m, lt, mx)
    return (m ^ pm, lt ^ pl, R.add(mx, px)), cost


@register_job("test-cmp-kernels")
class CmpKernels(Job):
    description = "test only: comparison kernels over gRPC"

    def server(self, ch, model, params):
        _run(ch, params)

    def client(self, ch, params, inputs):
        return _run(ch, params)

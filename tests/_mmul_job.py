"""Test-only job ``test-mmul-aa``: the HE shared x shared product (block layout) between two
processes over the real gRPC transport.  Plaintexts and shares derive from a public seed in
``params``; each party makes its own HE key and they swap public keys; at the end both exchange
their output shares so the client can check them (a test-only reveal)."""
from __future__ import annotations

import numpy as np

from party.jobs import Job, register_job
from protocols.context import MPC
from protocols.he.core import HEKey, PublicKey
from protocols.he.mmul_aa import mmul_aa_blocks
from protocols.he.params import choose_params
from protocols.ring import Ring


def data(params):
    rng = np.random.default_rng(int(params["seed"]))
    ell = int(params["ell"])
    h, T, n, M = params["shape"]
    R = Ring(ell)
    a = R.reduce(rng.integers(0, 2**64, (h, T, n), dtype=np.uint64))
    b = R.reduce(rng.integers(0, 2**64, (h, n, M), dtype=np.uint64))
    ra = R.reduce(rng.integers(0, 2**64, a.shape, dtype=np.uint64))
    rb = R.reduce(rng.integers(0, 2**64, b.shape, dtype=np.uint64))
    return R, a, b, ra, rb


def _run(ch, params):
    R, a, b, ra, rb = data(params)
    mpc = MPC.setup(ch, ot_kind="insecure-dealer")  # no OT in this kernel
    me = ch.party
    x = ra if me == 0 else R.sub(a, ra)
    y = rb if me == 0 else R.sub(b, rb)
    key = HEKey.generate(choose_params(R.ell), mpc.prg)
    peer_bytes = ch.exchange(np.frombuffer(key.pub.to_bytes(), np.uint8))[0]
    peer = PublicKey.from_bytes(key.params, peer_bytes.tobytes())
    start = ch.snapshot()
    z = mmul_aa_blocks(mpc, x, y, key, peer, R.ell)
    cost = ch.cost_since(start).to_dict()
    return R.add(z, ch.exchange(z)[0]), cost


@register_job("test-mmul-aa")
class MmulAA(Job):
    description = "test only: HE shared x shared product over gRPC"

    def server(self, ch, model, params):
        _run(ch, params)

    def client(self, ch, params, inputs):
        return _run(ch, params)

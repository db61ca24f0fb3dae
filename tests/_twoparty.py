"""Test helper for 2PC kernels: run one kernel on both parties (two threads, in-memory channel)
with insecure-dealer COTs (or another engine) and return outputs and each party's cost of the
kernel alone (setup excluded)."""
from __future__ import annotations

import numpy as np

from protocols.channel import run_two_party
from protocols.context import MPC
from protocols.ot.extensions import COT_SCOPE


def ot_kind() -> str:
    """The COT engine for kernel tests: iknp when it exists, else the insecure dealer."""
    try:
        import protocols.ot.iknp  # noqa: F401

        return "iknp"
    except ImportError:
        return "insecure-dealer"


def engine() -> str:
    """The COT engine kernel tests run on (``PARTY_TEST_OT``, default the insecure dealer)."""
    import os

    return os.environ.get("PARTY_TEST_OT") or "insecure-dealer"


def exact_costs() -> bool:
    """Whether measured kernel bytes can be compared with the analytic costs: with a real engine,
    OT-extension traffic drawn outside ``extensions`` (e.g. inside compare) is not separable."""
    return engine() == "insecure-dealer"


def run_mpc(fn, args0, args1, kind: str | None = None):
    """fn(mpc, *args_i) on party i.  Returns (out0, out1, cost0, cost1).

    The COT engine: ``kind``, else the environment's ``PARTY_TEST_OT`` (e.g. ``iknp`` to run the
    whole kernel suite on a real engine), else the insecure dealer (fast unit tests)."""
    kind = kind or engine()

    def make(args):
        def g(ch):
            mpc = MPC.setup(ch, ot_kind=kind)
            start = ch.snapshot()
            first = len(ch.records)
            out = fn(mpc, *args)
            cost = ch.cost_since(start)
            # the kernel's own cost: without the COT engine's traffic (scoped by extensions)
            for r in ch.records[first:]:
                if r.name.split("/")[-1] == COT_SCOPE:
                    for k in ("bytes_sent", "bytes_recv", "msgs_sent", "msgs_recv", "rounds"):
                        setattr(cost, k, getattr(cost, k) - getattr(r.cost, k))
            return out, cost

        return g

    (o0, c0), (o1, c1), _, _ = run_two_party(make(args0), make(args1))
    return o0, o1, c0, c1


def shares(R, x, rng):
    """Additive shares of ring elements x with a numpy-random first share (tests only)."""
    x = R.reduce(np.asarray(x, dtype=np.uint64))
    x0 = R.reduce(rng.integers(0, 2**64, size=x.shape, dtype=np.uint64))
    return x0, R.sub(x, x0)


def bool_shares(b, rng):
    b = np.asarray(b, dtype=np.uint8)
    b0 = rng.integers(0, 2, size=b.shape).astype(np.uint8)
    return b0, b ^ b0


def edge_values(R):
    """0, ±1 ulp, extremes of the ring (signed), as ring elements."""
    h = 1 << (R.ell - 1)
    v = [0, 1, -1, 2, -2, h - 1, -h, -h + 1, h // 2, -(h // 2)]
    return R.from_signed(np.array(v, dtype=np.int64))

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


_JOB_SERVER = r"""
import importlib, sys
sys.path[:0] = sys.argv[1:2]
importlib.import_module(sys.argv[2])  # registers the jobs the test runs
from party.server import make_server, ServerOptions
srv, svc, port = make_server({}, port=0, options=ServerOptions(recv_timeout_s=float(sys.argv[3])))
print(port, flush=True)
sys.stdin.read()  # run until the test closes our stdin
srv.stop(0)
"""


def run_job_in_processes(module: str, job: str, params: dict, *, path: str | None = None,
                         recv_timeout_s: float = 60, timeout: float = 120):
    """Run ``job`` between a `party` server in a separate OS process (which imports ``module`` to
    register it; ``path`` is put first on its sys.path, default this folder) and a client in this
    process, over the gRPC transport (plaintext loopback).  Returns the client's query result."""
    import os
    import subprocess
    import sys

    from party.client import PartyClient

    here = path or os.path.dirname(os.path.abspath(__file__))
    proc = subprocess.Popen([sys.executable, "-c", _JOB_SERVER, here, module, str(recv_timeout_s)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        port = int(proc.stdout.readline())
        with PartyClient(f"127.0.0.1:{port}", insecure_plaintext=True) as client:
            return client.run(job, params=params, timeout=timeout)
    finally:
        proc.stdin.close()
        proc.wait(30)

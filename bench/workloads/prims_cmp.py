"""Comparison-family benchmarks called by the ``primitives`` workload (one function per case).

Each ``bench_*(mpc, n, ell, ...)`` runs on *both* parties (same arguments), draws benchmark inputs
from the shared PRG (public-coin test data: party 0's share is a common random value r, party 1's
is v − r), times one kernel invocation on n elements and returns this party's figures::

    {"time_s", "cpu_s", "bytes_sent", "bytes_recv", "rounds", "msgs", "n", "ell", "bytes_per_elem",
     "analytic_bytes_per_elem", "cots_per_elem"}

(``cpu_s``: this party's thread CPU time — robust on a loaded machine; payload bytes, both
directions; with a real OT engine they include the COT refills consumed by
the call).  ``analytic_bytes_per_elem`` is the protocol's own traffic from its cost table (without
COT generation); ``cots_per_elem`` lets a reader add the engine's per-COT cost (Ferret ~0.44 bit).
``check`` reveals the output afterwards (outside the timed part) and compares with numpy.

Cases: ``cmp`` — [x < y] of two ℓ-bit shared values (msb of the difference: the 64-bit
comparison of the issue), ``millionaire`` — the core on ℓ-bit private inputs, ``max`` — max_a
over rows of length ``cols``.

In-process run (two threads, in-memory channel)::

    python -m bench.workloads.prims_cmp --case cmp --n 1000000 --ell 64 [--ot insecure-dealer]
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np

from protocols.compare import cmp, cmp_cost, lt_aa, msb_cost
from protocols.max import max_a, max_cost, max_ideal
from protocols.ring import Ring

from .prims_arith import _shares  # public-coin test data, shared the same way

DESCRIPTION = "(library of comparison benchmarks for the 'primitives' workload; not a workload)"


def cases(args):  # pragma: no cover - guard for `python -m bench prims_cmp`
    raise SystemExit("prims_cmp is a library used by `python -m bench primitives`; "
                     "for an in-process run use `python -m bench.workloads.prims_cmp`")


def _reveal_bits(mpc, z: np.ndarray) -> np.ndarray:
    (other,) = mpc.ch.exchange(np.ascontiguousarray(z, dtype=np.uint8))
    return z ^ other


def _timed(mpc, fn, n: int, ell: int, cost: dict) -> tuple[dict, object]:
    start = mpc.ch.snapshot()
    t0, c0 = time.perf_counter(), time.thread_time()
    out = fn()
    t, cpu = time.perf_counter() - t0, time.thread_time() - c0
    c = mpc.ch.cost_since(start)
    return {
        "time_s": t, "cpu_s": cpu, "bytes_sent": c.bytes_sent, "bytes_recv": c.bytes_recv, "rounds": c.rounds,
        "msgs": c.msgs_sent + c.msgs_recv, "n": n, "ell": ell,
        "bytes_per_elem": (c.bytes_sent + c.bytes_recv) / max(n, 1),
        "analytic_bytes_per_elem": (cost["bytes_0to1"] + cost["bytes_1to0"]) / max(n, 1),
        "cots_per_elem": (cost.get("cots_0to1", 0) + cost.get("cots_1to0", 0)) / max(n, 1),
        "analytic_rounds": cost["rounds"],
    }, out


def bench_cmp(mpc, n: int, ell: int = 64, check: bool = False) -> dict:
    """[x < y] for ℓ-bit shared x, y (|x − y| < 2^(ℓ−1)): one msb on ℓ−1 bits per element."""
    R = Ring(ell)
    q = np.uint64(ell - 2)
    xv = R.reduce(mpc.shared_prg.uint64(n) >> (np.uint64(64) - q))  # |x|, |y| < 2^(ℓ-2)
    yv = R.reduce(mpc.shared_prg.uint64(n) >> (np.uint64(64) - q))
    xv = R.sub(xv, np.uint64(1) << (q - np.uint64(1)))
    x, y = _shares(mpc, xv, R), _shares(mpc, yv, R)
    res, z = _timed(mpc, lambda: lt_aa(mpc, x, y, ell=ell), n, ell, msb_cost(n, ell))
    if check:
        res["ok"] = bool(np.array_equal(_reveal_bits(mpc, z), (R.to_signed(xv) < R.to_signed(yv)).astype(np.uint8)))
    return res


def bench_millionaire(mpc, n: int, ell: int = 64, check: bool = False) -> dict:
    """The millionaires' core on ℓ-bit private inputs (each party's own random value)."""
    R = Ring(ell)
    a = R.reduce(mpc.shared_prg.uint64(n))
    b = R.reduce(mpc.shared_prg.uint64(n))
    v = a if mpc.party == 0 else b  # public-coin test data: both know both, the protocol does not care
    res, z = _timed(mpc, lambda: cmp(mpc, v, nbits=ell), n, ell, cmp_cost(n, ell))
    if check:
        res["ok"] = bool(np.array_equal(_reveal_bits(mpc, z), (a > b).astype(np.uint8)))
    return res


def bench_max(mpc, n: int, ell: int = 64, cols: int = 128, check: bool = False) -> dict:
    """max_a over n rows of ``cols`` values (|v| < 2^(ℓ−2)); per-element figures are per row."""
    R = Ring(ell)
    q = np.uint64(ell - 2)
    v = R.sub(R.reduce(mpc.shared_prg.uint64((n, cols)) >> (np.uint64(64) - q)), np.uint64(1) << (q - np.uint64(1)))
    x = _shares(mpc, v, R)
    res, z = _timed(mpc, lambda: max_a(mpc, x, ell=ell), n, ell, max_cost(n, cols, ell))
    res["cols"] = cols
    if check:
        (other,) = mpc.ch.exchange(z)
        res["ok"] = bool(np.array_equal(R.add(z, other), max_ideal(v, -1, ell)))
    return res


BENCHES = {"cmp": bench_cmp, "millionaire": bench_millionaire, "max": bench_max}


def main(argv=None) -> int:  # pragma: no cover - manual measurement tool
    from protocols.channel import run_two_party
    from protocols.context import MPC

    ap = argparse.ArgumentParser(prog="python -m bench.workloads.prims_cmp")
    ap.add_argument("--case", default="cmp", choices=sorted(BENCHES))
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--ell", type=int, default=64)
    ap.add_argument("--cols", type=int, default=128, help="row length for --case max")
    ap.add_argument("--ot", default="insecure-dealer")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--digit-bits", type=int, default=None, help="override cmp_digit_bits")
    a = ap.parse_args(argv)
    kw = {"cols": a.cols} if a.case == "max" else {}

    def f(ch):
        mpc = MPC.setup(ch, ot_kind=a.ot)
        return [BENCHES[a.case](mpc, a.n, a.ell, check=a.check, **kw) for _ in range(a.repeat)]

    from protocols.config import override

    with override(**({"cmp_digit_bits": a.digit_bits} if a.digit_bits else {})):
        r0, r1, _, _ = run_two_party(f, f)
    times = sorted(max(x["time_s"], y["time_s"]) for x, y in zip(r0, r1))
    row = dict(r0[-1])
    row.update(case=a.case, ot=a.ot, time_s_median=times[len(times) // 2],
               elems_per_s=a.n / times[len(times) // 2], rounds_party1=r1[-1]["rounds"])
    print(json.dumps(row))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())

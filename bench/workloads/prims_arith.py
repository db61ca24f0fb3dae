"""Arithmetic-kernel benchmarks called by the ``primitives`` workload (one function per case).

Each ``bench_*(mpc, n, ell, ...)`` runs on *both* parties (same arguments), draws benchmark
inputs from the shared PRG (public-coin test data: party 0's share is a common random value r,
party 1's is v − r), times one kernel invocation on n elements, and returns this party's figures::

    {"time_s", "cpu_s", "bytes_sent", "bytes_recv", "rounds", "msgs", "n", "ell", "bytes_per_elem",
     "cot_bytes_per_elem", "analytic_bytes_per_elem", "cots_per_elem"}

(payload bytes; ``bytes_per_elem`` = (sent + recv) / n, i.e. both directions, including the COT
engine's own traffic, which ``cot_bytes_per_elem`` reports separately; ``analytic_bytes_per_elem``
is the kernel's own traffic from its cost table, both directions; ``cpu_s`` this party's thread
CPU time, robust on a loaded machine).  The ``check``
flag reveals the output to both parties afterwards (outside the timed part) and compares with
the plaintext twin.

This module is a library, not a harness workload (``python -m bench primitives`` uses it).  For a
quick in-process measurement (two threads, in-memory channel)::

    python -m bench.workloads.prims_arith --case mul_trunc --n 1000000 --ell 64 [--ot insecure-dealer]
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np

from protocols.convert import b2a, b2a_cost
from protocols.config import override
from protocols.fixed import mul_fx, ring_defaults
from protocols.mul import bounded_k, mul_aa, mul_aa_cost, mul_engine
from protocols.newton import newton_cost, reciprocal_a, rsqrt_a
from protocols.ot.extensions import COT_SCOPE
from protocols.ring import Ring
from protocols.select import select, select_cost
from protocols.trunc import trunc_a, trunc_cost, trunc_ideal

DESCRIPTION = "(library of arithmetic-kernel benchmarks for the 'primitives' workload; not a workload)"


def cases(args):  # pragma: no cover - guard for `python -m bench prims_arith`
    raise SystemExit("prims_arith is a library used by `python -m bench primitives`; "
                     "for an in-process run use `python -m bench.workloads.prims_arith`")


def _shares(mpc, v: np.ndarray, R: Ring) -> np.ndarray:
    r = R.reduce(mpc.shared_prg.uint64(v.shape, R.ell))
    return r if mpc.party == 0 else R.sub(R.reduce(v), r)


def _small(mpc, n: int, R: Ring, bits: int) -> np.ndarray:
    """Common random signed values with |v| < 2^bits (public benchmark data)."""
    u = mpc.shared_prg.uint64(n) >> np.uint64(64 - bits - 1)
    return R.from_signed(u.astype(np.int64) - (1 << bits))


def _reveal(mpc, z: np.ndarray, R: Ring) -> np.ndarray:
    (other,) = mpc.ch.exchange(z)
    return R.add(z, other)


def _timed(mpc, fn, n: int, ell: int, analytic: dict | None = None, cots: int | None = None) -> tuple[dict, object]:
    """Run ``fn`` and measure it.  ``analytic``: {party: bytes_sent} from the cost tables (both
    parties' figures are summed into ``analytic_bytes_per_elem``); ``cots``: COTs per element
    (both directions) the kernel consumes."""
    start = mpc.ch.snapshot()
    first = len(mpc.ch.records)
    t0, c0 = time.perf_counter(), time.thread_time()
    out = fn()
    t, cpu = time.perf_counter() - t0, time.thread_time() - c0
    c = mpc.ch.cost_since(start)
    # traffic of the COT engine itself (IKNP extension / Ferret refills), scoped by extensions
    cot = sum(r.cost.bytes_sent + r.cost.bytes_recv for r in mpc.ch.records[first:]
              if r.name.split("/")[-1] == COT_SCOPE)
    return {
        "time_s": t, "cpu_s": cpu, "bytes_sent": c.bytes_sent, "bytes_recv": c.bytes_recv, "rounds": c.rounds,
        "msgs": c.msgs_sent + c.msgs_recv, "n": n, "ell": ell,
        "bytes_per_elem": (c.bytes_sent + c.bytes_recv) / max(n, 1),
        "cot_bytes_per_elem": cot / max(n, 1),
        "analytic_bytes_per_elem": (sum(analytic.values()) / max(n, 1)) if analytic else None,
        "cots_per_elem": cots,
    }, out


def bench_mul_trunc(mpc, n: int, ell: int = 64, frac: int | None = None, check: bool = False,
                    bound: int | None = None, engine: str = "auto") -> dict:
    """``mul_aa`` + faithful ``trunc_a`` (fixed-point product) on n elements.

    Inputs |x|, |y| < 2^((ell−3)//2) (so that the product fits the known-sign truncation);
    ``bound``: pass the promise on to ``mul_aa`` (bounded product, k-bit choice operands);
    ``engine``: 'ot', 'he' or 'auto' (:func:`protocols.mul.mul_engine`).  The HE engine's one-time
    set-up (public keys) runs before the timed part and is reported as ``setup_s`` /
    ``setup_bytes``."""
    ell, frac = ring_defaults(ell, frac)
    R = Ring(ell)
    bits = (ell - 3) // 2
    if bound is not None and bound < bits:
        raise ValueError(f"bench_mul_trunc: inputs use {bits} bits, bound={bound} is too small")
    xv, yv = _small(mpc, n, R, bits), _small(mpc, n, R, bits)
    x, y = _shares(mpc, xv, R), _shares(mpc, yv, R)
    eng = "ot" if bound is not None else mul_engine(ell, n, engine)
    setup = {}
    if eng == "he":
        from protocols.he.simd_mul import SimdMul, mul_aa_he_cost

        s0, t0 = mpc.ch.snapshot(), time.perf_counter()
        SimdMul.of(mpc)
        c = mpc.ch.cost_since(s0)
        setup = {"setup_s": time.perf_counter() - t0, "setup_bytes": c.bytes_sent + c.bytes_recv}
        hc = mul_aa_he_cost(n, ell)
        mc = {0: hc["bytes_0to1"], 1: hc["bytes_1to0"]}
        cots = 1
    else:
        mc = {p: mul_aa_cost(n, ell, bound=bound)["bytes_sent"] for p in (0, 1)}
        k = bounded_k(ell, bound) or ell
        cots = 2 * k + (4 if k < ell else 0) + 1
    an = {p: mc[p] + trunc_cost(n, ell, frac, party=p)["bytes_sent"] for p in (0, 1)}
    with override(mul_engine=eng):
        res, z = _timed(mpc, lambda: mul_fx(mpc, x, y, ell=ell, frac=frac, mode="faithful", bound=bound), n, ell,
                        an, cots)
    res.update(setup, engine=eng)
    if check:
        err = R.to_signed(R.sub(_reveal(mpc, z, R), trunc_ideal(R.mul(xv, yv), frac, ell)))
        res["ok"] = bool(np.all((err == 0) | (err == 1)))
    return res


def bench_mul_trunc_bounded(mpc, n: int, ell: int = 64, frac: int | None = None, check: bool = False) -> dict:
    """``bench_mul_trunc`` with the inputs' bound promised to ``mul_aa`` (cheaper product)."""
    return bench_mul_trunc(mpc, n, ell, frac, check, bound=(ell - 3) // 2)


def bench_mul(mpc, n: int, ell: int = 64, check: bool = False) -> dict:
    R = Ring(ell)
    xv = R.reduce(mpc.shared_prg.uint64(n))
    yv = R.reduce(mpc.shared_prg.uint64(n))
    x, y = _shares(mpc, xv, R), _shares(mpc, yv, R)
    an = {p: mul_aa_cost(n, ell)["bytes_sent"] for p in (0, 1)}
    res, z = _timed(mpc, lambda: mul_aa(mpc, x, y, ell=ell), n, ell, an, 2 * ell)
    if check:
        res["ok"] = bool(np.array_equal(_reveal(mpc, z, R), R.mul(xv, yv)))
    return res


def bench_trunc(mpc, n: int, ell: int = 64, frac: int | None = None, check: bool = False) -> dict:
    ell, frac = ring_defaults(ell, frac)
    R = Ring(ell)
    xv = _small(mpc, n, R, ell - 3)
    x = _shares(mpc, xv, R)
    an = {p: trunc_cost(n, ell, frac, party=p)["bytes_sent"] for p in (0, 1)}
    res, z = _timed(mpc, lambda: trunc_a(mpc, x, frac, ell=ell, mode="faithful"), n, ell, an, 1)
    if check:
        err = R.to_signed(R.sub(_reveal(mpc, z, R), trunc_ideal(xv, frac, ell)))
        res["ok"] = bool(np.all((err == 0) | (err == 1)))
    return res


def bench_b2a(mpc, n: int, ell: int = 64, check: bool = False) -> dict:
    R = Ring(ell)
    bits = mpc.shared_prg.bits(n)
    mask = mpc.shared_prg.bits(n)
    b = mask if mpc.party == 0 else bits ^ mask
    an = {p: b2a_cost(n, ell, p)["bytes_sent"] for p in (0, 1)}
    res, z = _timed(mpc, lambda: b2a(mpc, b, ell=ell), n, ell, an, 1)
    if check:
        res["ok"] = bool(np.array_equal(_reveal(mpc, z, R), bits.astype(np.uint64)))
    return res


def bench_select(mpc, n: int, ell: int = 64, check: bool = False) -> dict:
    R = Ring(ell)
    bits = mpc.shared_prg.bits(n)
    mask = mpc.shared_prg.bits(n)
    b = mask if mpc.party == 0 else bits ^ mask
    xv, yv = R.reduce(mpc.shared_prg.uint64(n)), R.reduce(mpc.shared_prg.uint64(n))
    x, y = _shares(mpc, xv, R), _shares(mpc, yv, R)
    an = {p: select_cost(n, ell)["bytes_sent"] for p in (0, 1)}
    res, z = _timed(mpc, lambda: select(mpc, b, x, y, ell=ell), n, ell, an, 2)
    if check:
        res["ok"] = bool(np.array_equal(_reveal(mpc, z, R), np.where(bits.astype(bool), xv, yv)))
    return res


def _newton(mpc, kind: str, n: int, ell: int, frac: int | None, lo: float, hi: float, check: bool) -> dict:
    ell, frac = ring_defaults(ell, frac)
    R = Ring(ell)
    u = mpc.shared_prg.uint64(n).astype(np.float64) / 2.0**64
    v = lo * (hi / lo) ** u
    xv = R.encode(v, frac)
    x = _shares(mpc, xv, R)
    fn = reciprocal_a if kind == "recip" else rsqrt_a
    an = {p: newton_cost(kind, n, ell, frac, lo, hi, party=p)["bytes_sent"] for p in (0, 1)}
    res, z = _timed(mpc, lambda: fn(mpc, x, lo=lo, hi=hi, ell=ell, frac=frac), n, ell, an)
    if check:
        got = R.decode(_reveal(mpc, z, R), frac)
        vd = R.decode(xv, frac)
        want = 1 / vd if kind == "recip" else 1 / np.sqrt(vd)
        res["max_abs_err"] = float(np.max(np.abs(got - want)))
        res["max_rel_err"] = float(np.max(np.abs(got - want) / want))
    return res


def bench_reciprocal(mpc, n: int, ell: int = 64, frac: int | None = None, lo: float = 1.0, hi: float = 128.0,
                     check: bool = False) -> dict:
    return _newton(mpc, "recip", n, ell, frac, lo, hi, check)


def bench_rsqrt(mpc, n: int, ell: int = 64, frac: int | None = None, lo: float = 0.01, hi: float = 100.0,
                check: bool = False) -> dict:
    return _newton(mpc, "rsqrt", n, ell, frac, lo, hi, check)


BENCHES = {
    "mul_trunc": bench_mul_trunc, "mul_trunc_bounded": bench_mul_trunc_bounded, "mul": bench_mul, "trunc": bench_trunc, "b2a": bench_b2a,
    "select": bench_select, "reciprocal": bench_reciprocal, "rsqrt": bench_rsqrt,
}


def main(argv=None) -> int:  # pragma: no cover - manual measurement tool
    from protocols.channel import run_two_party
    from protocols.context import MPC

    ap = argparse.ArgumentParser(prog="python -m bench.workloads.prims_arith")
    ap.add_argument("--case", default="mul_trunc", choices=sorted(BENCHES))
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--ell", type=int, default=64)
    ap.add_argument("--ot", default="insecure-dealer")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--check", action="store_true")
    a = ap.parse_args(argv)

    def f(ch):
        mpc = MPC.setup(ch, ot_kind=a.ot)
        return [BENCHES[a.case](mpc, a.n, a.ell, check=a.check) for _ in range(a.repeat)]

    r0, r1, _, _ = run_two_party(f, f)
    times = sorted(max(x["time_s"], y["time_s"]) for x, y in zip(r0, r1))
    row = dict(r0[-1])
    row.update(case=a.case, ot=a.ot, time_s_median=times[len(times) // 2],
               elems_per_s=a.n / times[len(times) // 2])
    print(json.dumps(row))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())

"""COT-engine benchmark (library for the ``primitives`` workload; not a harness workload itself).

``run_cot_bench(ch, n, kind="silent")`` runs on *both* parties (same arguments) and returns this
party's figures::

    {"case": "cot", "kind", "params", "n",
     "time_setup_s"       make_cot: base OT + IKNP bootstrap (both directions),
     "time_dir0_s"        party 0 → party 1: get(n) on a fresh pair (bootstrap iteration included),
     "time_dir1_s"        party 1 → party 0: get(n) (its bootstrap iteration included),
     "time_steady_s"      party 0 → party 1: another get(n) (steady state, no bootstrap),
     "time_s"             setup + dir0 + dir1 (2n COTs, bootstrap included),
     "cots_per_s"         2n / time_s: COTs per second with bootstrap included (each party works
                          on its own core; per party = per direction),
     "cots_per_s_steady"  n / time_steady_s,
     "bytes_total"        payload bytes both ways during setup + dir0 + dir1,
     "bits_per_cot"       bytes_total·8 / (2n)  (amortised, bootstrap included),
     "bits_per_cot_steady" payload bytes both ways of the steady phase ·8 / n,
     "cpu_boot_s"         this party's thread CPU time for setup + dir0 + dir1,
     "cots_per_cpu_s"     2n / cpu_boot_s: the rate one core sustains for this party (the machine
                          is shared, so wall time overstates the cost; both parties run on
                          their own cores in a real deployment),
     "cpu_steady_s", "cots_per_cpu_s_steady"  the same for the steady phase,
     "cpu_s"              this party's thread CPU time over all phases,
     "bytes_sent", "bytes_recv", "rounds", "msgs"}

Run in-process (two threads over the in-memory channel)::

    python -m bench.workloads.ot_bench --n 1000000 [--kind silent|ferret|iknp] [--params ea11|ea40|b13|b11|toy]

The machine's other load makes timings noisy: the __main__ repeats and prints medians.
"""
from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np

from protocols.config import override
from protocols.ot.cot import make_cot

DESCRIPTION = "(library: COT-engine benchmark for the 'primitives' workload; not a workload)"


def cases(args):  # pragma: no cover - guard for `python -m bench ot_bench`
    raise SystemExit("ot_bench is a library used by `python -m bench primitives`; "
                     "for an in-process run use `python -m bench.workloads.ot_bench`")


def _get(pair, party: int, sender_party: int, n: int):
    return pair.sender.get(n) if party == sender_party else pair.receiver.get(n)


_DEFAULT_PARAMS = {"ferret": "b13", "silent": "ea11"}


def run_cot_bench(ch, n: int, kind: str = "silent", params: str | None = None, steady: bool = True) -> dict:
    """Measure COT throughput and traffic on ``ch`` (call on both parties with equal arguments).
    ``params`` names the parameter set of ``ferret`` (Config extra ``ferret_params``) or ``silent``
    (``silent_params``)."""
    kw = {f"{kind}_params": params} if params and kind in _DEFAULT_PARAMS else {}
    me = ch.party
    start = ch.snapshot()
    cpu0 = time.thread_time()
    t0 = time.perf_counter()
    with override(**kw):
        pair = make_cot(ch, kind)
    t1 = time.perf_counter()
    _get(pair, me, 0, n)
    t2 = time.perf_counter()
    _get(pair, me, 1, n)
    t3 = time.perf_counter()
    cpu3 = time.thread_time()
    total = ch.cost_since(start)
    out = {
        "case": "cot", "kind": kind, "params": params or _DEFAULT_PARAMS.get(kind), "n": n,
        "time_setup_s": t1 - t0, "time_dir0_s": t2 - t1, "time_dir1_s": t3 - t2, "time_s": t3 - t0,
        "cots_per_s": 2 * n / (t3 - t0),
        "bytes_total": total.bytes_sent + total.bytes_recv,
        "bits_per_cot": (total.bytes_sent + total.bytes_recv) * 8 / (2 * n),
        "cpu_boot_s": cpu3 - cpu0,
        "cots_per_cpu_s": 2 * n / max(cpu3 - cpu0, 1e-9),
    }
    if steady:
        s = ch.snapshot()
        t4 = time.perf_counter()
        c4 = time.thread_time()
        _get(pair, me, 0, n)
        t5 = time.perf_counter()
        out["cpu_steady_s"] = time.thread_time() - c4
        out["cots_per_cpu_s_steady"] = n / max(out["cpu_steady_s"], 1e-9)
        c = ch.cost_since(s)
        out.update({"time_steady_s": t5 - t4, "cots_per_s_steady": n / (t5 - t4),
                    "bits_per_cot_steady": (c.bytes_sent + c.bytes_recv) * 8 / n})
    out["cpu_s"] = time.thread_time() - cpu0
    tot = ch.cost_since(start)
    out.update({"bytes_sent": tot.bytes_sent, "bytes_recv": tot.bytes_recv, "rounds": tot.rounds,
                "msgs": tot.msgs_sent + tot.msgs_recv})
    if kind == "ferret":
        p = pair.sender.params.main
        out["lpn"] = {"n": p.n, "k": p.k, "t": p.t, "b": p.b}
    elif kind == "silent":
        sp = pair.sender.params
        out["lpn"] = {"code": "dual EA", "N": sp.main.N, "n": sp.main.n_out, "t": sp.main.t, "b": sp.main.b,
                      "w": sp.main.w, "pre": None if sp.pre is None else
                      {"N": sp.pre.N, "t": sp.pre.t, "b": sp.pre.b, "w": sp.pre.w}}
    return out


def run_baseot_bench(ch, n: int = 128) -> dict:
    """Time of one batch of n random base OTs (party 0 sender)."""
    from protocols.ot.baseot import baseot_recv_random, baseot_send_random
    from protocols.prg import PRG

    start = ch.snapshot()
    t0 = time.perf_counter()
    if ch.party == 0:
        baseot_send_random(ch, n)
    else:
        baseot_recv_random(ch, PRG().bits(n))
    c = ch.cost_since(start)
    return {"case": "baseot", "n": n, "time_s": time.perf_counter() - t0,
            "bytes_total": c.bytes_sent + c.bytes_recv}


def main(argv=None) -> None:
    from protocols.channel import run_two_party

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--kind", default="silent", choices=["silent", "ferret", "iknp", "insecure-dealer"])
    ap.add_argument("--params", default=None, help="parameter set: silent ea11 (default), ea40, toy; "
                                                   "ferret b13 (default), b11, toy")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)
    rows = []
    for _ in range(a.repeat):
        r0, r1, _, _ = run_two_party(lambda ch: run_cot_bench(ch, a.n, a.kind, a.params),
                                     lambda ch: run_cot_bench(ch, a.n, a.kind, a.params))
        rows.append((r0, r1))
    b0, b1, _, _ = run_two_party(run_baseot_bench, run_baseot_bench)
    keys = ["time_setup_s", "time_dir0_s", "time_dir1_s", "time_s", "cots_per_s", "cots_per_s_steady",
            "bits_per_cot", "bits_per_cot_steady", "cpu_boot_s", "cots_per_cpu_s", "cpu_steady_s",
            "cots_per_cpu_s_steady", "cpu_s"]
    summary = {"kind": a.kind, "params": rows[0][0]["params"], "n": a.n, "repeat": a.repeat,
               "bytes_total": rows[-1][0]["bytes_total"], "lpn": rows[0][0].get("lpn")}
    for k in keys:
        summary[k + "_median"] = statistics.median(max(r0[k], r1[k]) if k.startswith("time") else
                                                   (min(r0[k], r1[k]) if k.startswith("cots") else max(r0[k], r1[k]))
                                                   for r0, r1 in rows)
    summary["baseot_128_time_s"] = max(b0["time_s"], b1["time_s"])
    summary["baseot_128_bytes"] = b0["bytes_total"]
    if a.json:
        print(json.dumps({"summary": summary, "runs": rows}, default=float))
    else:
        for k, v in summary.items():
            print(f"{k:28s} {v:,.4g}" if isinstance(v, float) else f"{k:28s} {v}")


if __name__ == "__main__":
    main()

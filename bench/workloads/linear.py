"""Linear layers: COP (``party``) vs the server-side inner-product baseline (``party-baseline``).

Cases are ``TxNxM`` (tokens x in x out), e.g. ``128x768x768``.  :func:`run_linear` runs on both
parties over a real :class:`Channel`: setup (COP: encrypted weights streamed into a fresh disk
cache; baseline: the client's public key), then ``repeat`` online products on fresh random
shares, reporting medians of: wall time, client and server compute, bytes each way, rounds, plus
setup bytes / time / client storage; the last product is revealed (outside the timings) and
checked exactly against numpy.

Harness plug-in: ``cases(args)`` names the job ``he-linear`` registered below; the job module
must be imported by the server process (``party.jobs.JOB_MODULES`` gets ``bench.workloads.linear``).
In-process run (two threads, in-memory channel, shaped):

    python -m bench.workloads.linear --case 128x768x768 --impl party,party-baseline --profile lan,wan
"""
from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time

import numpy as np

from protocols.channel import run_two_party
from protocols.context import MPC
from protocols.prg import PRG
from protocols.ring import Ring

from ._peers import add_peer_args, peer_rows_for

DESCRIPTION = "HE linear layers: COP (party) vs server-side baseline (party-baseline), TxNxM cases"
DEFAULT_CASES = ["128x768x768", "128x768x2304", "128x768x3072", "128x3072x768"]
# COP variants: ``party`` picks per matrix the mode with the lower estimated online time
# (cop.resolve_compact "auto"); ``party-compact`` / ``party-packed`` force one mode.
COP_MODES = {"party": "auto", "party-compact": True, "party-packed": False}


def parse_case(case: str) -> tuple[int, int, int]:
    try:
        t, n, m = (int(v) for v in case.lower().split("x"))
    except ValueError:
        raise ValueError(f"case {case!r} must look like 128x768x768") from None
    return t, n, m


def _data(case: str, ell: int, seed: int):
    """Public benchmark data from a common seed: W (n, M), bias (M,), x (T, n), full-range values."""
    t, n, m = parse_case(case)
    R = Ring(ell)
    prg = PRG(seed.to_bytes(16, "little"))
    return R, R.reduce(prg.uint64((n, m))), R.reduce(prg.uint64((m,))), R.reduce(prg.uint64((t, n)))


def run_linear(ch, role: int, case: str, impl: str = "party", repeat: int = 3, ell: int | None = None,
               cache_dir: str | None = None, seed: int = 7, check: bool = True) -> dict:
    """Both parties call this with the same arguments; returns this party's figures."""
    from protocols.config import get_config
    from protocols.he.baseline import BaselineClient, BaselineServer
    from protocols.he.cop import COPClient, COPServer

    ell = get_config().ell if ell is None else ell
    R, W, bias, x = _data(case, ell, seed)
    mpc = MPC(ch=ch, ot=None)  # HE products need no OT
    out: dict = {"case": case, "impl": impl, "ell": ell, "party": role}
    # ---- setup ----------------------------------------------------------------------------
    s0 = ch.snapshot()
    t0 = time.perf_counter()
    is_cop = impl in COP_MODES
    if role == 0:
        cop = COPServer(mpc, {"w": W} if is_cop else {}, {"w": bias}, ell=ell, compact=COP_MODES.get(impl))
        st = cop.setup()
        out["encrypt_time_s"] = st["encrypt_time_s"]
        if is_cop:
            out["slots"] = cop._slots("w", int(W.shape[0]))
    else:
        cop = COPClient(mpc, ell=ell, cache_dir=cache_dir or tempfile.mkdtemp(prefix="he-cache-"))
        st = cop.setup()
        out["storage_bytes"] = st["storage_bytes"]
        if is_cop:
            tp = time.perf_counter()
            cop.prepared("w")  # load + verify the cache, expand a, build BLAS operands
            out["prepare_time_s"] = time.perf_counter() - tp
    c = ch.cost_since(s0)
    out.update(setup_time_s=time.perf_counter() - t0, setup_bytes_sent=c.bytes_sent, setup_bytes_recv=c.bytes_recv,
               he_params=cop.params.fingerprint(), log2_q=round(cop.params.log2_q, 1))
    if impl == "party-baseline":
        eng = BaselineServer(mpc, {"w": W}, {"w": bias}, ell, cop.client_pub) if role == 0 else \
            BaselineClient(mpc, cop.key, ell, {"w": W.shape})
    else:
        eng = cop
    # ---- online ---------------------------------------------------------------------------
    runs = []
    y = None
    for i in range(repeat):
        share_prg = PRG((seed + 1000 + i).to_bytes(16, "little"))  # public test data
        r = R.reduce(share_prg.uint64(x.shape))
        xi = r if role == 0 else R.sub(x, r)
        ch.exchange(np.zeros(1, np.uint8))  # align the two parties before timing (not counted)
        s0 = ch.snapshot()
        t0 = time.perf_counter()
        c0 = time.process_time()
        y = eng.mmul_ap("w", xi)
        wall = time.perf_counter() - t0
        cpu = time.process_time() - c0
        c = ch.cost_since(s0)
        runs.append({"time_s": wall, "bytes_sent": c.bytes_sent, "bytes_recv": c.bytes_recv, "rounds": c.rounds,
                     "msgs": c.msgs_sent + c.msgs_recv, "cpu_s": cpu, **getattr(eng, "timing", {})})
    for k in runs[0]:
        out[k] = statistics.median(float(r[k]) for r in runs)
    out["times_s"] = [r["time_s"] for r in runs]
    # ---- check (outside the timings) ----------------------------------------------------------
    if check:
        (other,) = ch.exchange(y)
        got = R.add(y, other)
        ref = (np.array(x, dtype=object).dot(np.array(W, dtype=object)) + np.array(bias, dtype=object)) % (1 << ell)
        out["exact"] = bool(np.array_equal(got.astype(object), ref))
    # ---- merge the peer's figures (client side), for harness rows ---------------------------
    mine = {k: v for k, v in out.items() if isinstance(v, (int, float, str, list, bool))}
    peer = json.loads(ch.exchange_bytes(json.dumps(mine).encode()))
    if role == 1:
        srv = peer
        out["server_compute_s"] = srv.get("server_compute_s")
        out["server_cpu_s"] = srv.get("cpu_s")
        out["client_cpu_s"] = out.get("cpu_s")
        out["slots"] = srv.get("slots")
        out["encrypt_time_s"] = srv.get("encrypt_time_s")
        both = [max(a, b) for a, b in zip(out["times_s"], srv["times_s"])]
        out["time_s"] = statistics.median(both)  # until both parties hold their shares
        out["times_s"] = both
        out["client_wall_s"] = statistics.median(r["time_s"] for r in runs)
        last = runs[-1]
        out["cost"] = {"bytes_sent": last["bytes_sent"], "bytes_recv": last["bytes_recv"],
                       "rounds": max(last["rounds"], int(srv.get("rounds", 0))), "msgs_sent": 0, "msgs_recv": last["msgs"]}
    return out


def run_in_process(case: str, impl: str, profile: str | None, repeat: int, ell: int | None = None) -> dict:
    """Both parties in two threads over the in-memory channel; merged figures (client's view)."""
    with tempfile.TemporaryDirectory(prefix="he-cache-") as d:
        def f(role):
            def g(ch):
                return run_linear(ch, role, case, impl, repeat, ell, cache_dir=d if role else None)
            return g

        r0, r1, _, _ = run_two_party(f(0), f(1), profile=profile)
    row = {
        "impl": impl, "case": case, "profile": profile or "none", "ell": r1["ell"], "he_params": r1["he_params"],
        "log2_q": r1["log2_q"],
        # online time: from the aligned start until both parties hold their shares
        "time_s_median": statistics.median(max(a, b) for a, b in zip(r0["times_s"], r1["times_s"])),
        "times_s": [max(a, b) for a, b in zip(r0["times_s"], r1["times_s"])],
        "client_compute_s": r1.get("client_compute_s"), "server_compute_s": r0.get("server_compute_s"),
        "bytes_c2s": int(r1["bytes_sent"]), "bytes_s2c": int(r1["bytes_recv"]), "rounds": int(max(r0["rounds"], r1["rounds"])),
        "setup_bytes_s2c": r1["setup_bytes_recv"], "setup_bytes_c2s": r1["setup_bytes_sent"],
        "setup_time_s": max(r0["setup_time_s"], r1["setup_time_s"]), "encrypt_time_s": r0.get("encrypt_time_s"),
        "prepare_time_s": r1.get("prepare_time_s"), "storage_bytes": r1.get("storage_bytes"),
        "exact": r1.get("exact"),
    }
    return row


# ---- harness plug-in ---------------------------------------------------------------------------
def add_args(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--impl", default="party,party-compact,party-baseline")
    ap.add_argument("--cases", default=",".join(DEFAULT_CASES))
    add_peer_args(ap)


def peer_rows(args, profile: str) -> list[dict]:
    """SPU CHEETAH on the same cases, run live in the same invocation (``--peers none`` skips)."""
    return peer_rows_for("linear", args.cases.split(","), args, profile)


_EXTRA = ("client_compute_s", "server_compute_s", "client_cpu_s", "server_cpu_s", "slots", "setup_bytes_recv", "setup_bytes_sent", "setup_time_s",
          "encrypt_time_s", "prepare_time_s", "storage_bytes", "he_params", "exact")


def _extra(results: list, row: dict) -> dict:
    out = {}
    for k in _EXTRA:
        vals = [r[k] for r in results if isinstance(r, dict) and r.get(k) is not None]
        if vals:
            out[k] = statistics.median(vals) if isinstance(vals[0], (int, float)) and not isinstance(vals[0], bool) else vals[-1]
    return out


def cases(args) -> list[dict]:
    out = []
    for impl in args.impl.split(","):
        if impl == "spu-cheetah":
            continue  # measured by the SPU peer driver (bench/peers), not by this job
        for c in args.cases.split(","):
            out.append({"case": c, "impl": impl, "job": "he-linear", "params": {"case": c, "impl": impl, "repeat": 1 if impl == "party-baseline" else 3},
                        "extra": _extra})
    return out


try:  # register the job when party/ is importable (server process)
    from party.jobs import Job, register_job

    @register_job("he-linear")
    class HELinearJob(Job):
        description = "one HE linear layer (COP or baseline), setup + online"

        def server(self, ch, model, params):
            run_linear(ch, 0, params["case"], params.get("impl", "party"), int(params.get("repeat", 1)))

        def client(self, ch, params, inputs):
            r = run_linear(ch, 1, params["case"], params.get("impl", "party"), int(params.get("repeat", 1)))
            return r
except ImportError:  # pragma: no cover
    pass


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--case", default="128x768x768")
    ap.add_argument("--impl", default="party,party-baseline")
    ap.add_argument("--profile", default="none")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--ell", type=int, default=None)
    ap.add_argument("--json", default=None)
    ap.add_argument("--prepared-mb", type=int, default=None, help="Config.he_prepared_mb for the client")
    a = ap.parse_args(argv)
    if a.prepared_mb:
        from protocols.config import override

        with override(he_prepared_mb=a.prepared_mb):
            return _main(a)
    return _main(a)


def _main(a) -> int:
    rows = []
    for case in a.case.split(","):
        for impl in a.impl.split(","):
            for prof in a.profile.split(","):
                row = run_in_process(case, impl, None if prof == "none" else prof, a.repeat, a.ell)
                rows.append(row)
                print(json.dumps(row), flush=True)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(rows, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

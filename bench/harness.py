"""Benchmark harness: a named workload between two real processes, under a network profile.

    python -m bench WORKLOAD [--profile none|lan|wan|wan400[,...]] [--repeat N] [--json FILE] [--list]

The harness starts ``party serve`` as a separate process on 127.0.0.1 (plaintext by default,
``--tls`` for TLS), then for every case and profile runs the case's job ``N`` times from this
process (one session per repetition, shaping applied on both channel ends) and prints a markdown
table.  ``--json FILE`` writes the rows (a JSON list); scripts outside read it, so the row format
is stable:

    workload, impl, case, profile, repeat, time_s_median, time_s_min, time_s_max,
    bytes_c2s, bytes_s2c, msgs, rounds, bound_s, time_over_bound, ...extra fields

``time_s_*`` are the client's session times (handshake excluded; if the job returns a ``time_s``
of its own, that one), bytes/msgs/rounds are the client's channel counters of the last repetition
(payload bytes; equal in every repetition for deterministic jobs), ``bound_s`` is the analytic
link time ``(bytes_c2s + bytes_s2c) * 8 / bandwidth + rounds * RTT`` of the profile (null for
``none``).  Our implementation's rows have ``impl = "party"``.

Workload plug-in interface — a module ``bench/workloads/<name>.py`` with:

* ``DESCRIPTION: str`` — one line for ``--list``.
* ``cases(args) -> list[dict]`` — each case dict has ``case`` (name), ``job`` (a job registered in
  ``party/jobs.py``; its server side runs in the server process, its client side here),
  ``params`` (public job parameters, JSON-able) and optionally ``model`` (served model name;
  the harness serves every model named by a case), ``impl`` (default ``"party"``) and
  ``extra(results: list, row: dict) -> dict`` (extra row fields from the job results of all
  repetitions, e.g. MB/s).
* optional ``add_args(parser)`` — workload-specific options (they appear in ``args``).
* optional ``peer_rows(args, profile) -> list[dict]`` — rows of other implementations (impl names
  such as ``spu-cheetah``), measured by the workload itself (e.g. by running a peer's script)
  and returned in the same row format; they are printed and saved next to ours.
"""
from __future__ import annotations

import argparse
import importlib
import json
import logging
import pkgutil
import statistics
import sys
from pathlib import Path
from typing import Any

from protocols.channel import PROFILES, get_profile

log = logging.getLogger("bench")

ROW_FIELDS = [
    "workload", "impl", "case", "profile", "repeat", "time_s_median", "time_s_min", "time_s_max",
    "bytes_c2s", "bytes_s2c", "msgs", "rounds", "bound_s", "time_over_bound",
]


def list_workloads() -> dict[str, str]:
    import bench.workloads as pkg

    out = {}
    for m in pkgutil.iter_modules(pkg.__path__):
        if m.name.startswith("_"):
            continue
        try:
            mod = importlib.import_module(f"bench.workloads.{m.name}")
            out[m.name] = getattr(mod, "DESCRIPTION", "")
        except Exception as e:  # noqa: BLE001 - show broken workloads instead of failing --list
            out[m.name] = f"(cannot import: {type(e).__name__}: {e})"
    return out


def load_workload(name: str):
    try:
        return importlib.import_module(f"bench.workloads.{name}")
    except ModuleNotFoundError as e:
        if e.name == f"bench.workloads.{name}":
            raise SystemExit(f"bench: unknown workload {name!r}; available: {', '.join(list_workloads())}") from None
        raise


def analytic_bound(profile: str, bytes_total: int, rounds: int) -> float | None:
    p = get_profile(profile)
    if p.bandwidth_bps is None and p.rtt_s == 0:
        return None
    bw = (bytes_total * 8 / p.bandwidth_bps) if p.bandwidth_bps else 0.0
    return bw + rounds * p.rtt_s


def run_cases(client, workload: str, cases: list[dict], profile: str, repeat: int) -> list[dict[str, Any]]:
    """Run the cases ``repeat`` times each on fresh sessions, interleaved (every case once, then
    again): a machine that slows down or speeds up during the run shifts every case alike, so the
    ratios between rows stay fair.  Returns one row per case."""
    runs: list[list] = [[] for _ in cases]
    for _ in range(repeat):
        for i, case in enumerate(cases):
            print(f"[bench] {workload}/{case['case']} ({case.get('impl', 'party')}) profile={profile}",
                  file=sys.stderr, flush=True)
            qr = client.run(case["job"], case.get("inputs"), model=case.get("model", ""), params=case.get("params", {}),
                            profile=profile)
            runs[i].append(qr)
    return [_row(workload, case, profile, qrs) for case, qrs in zip(cases, runs)]


def _row(workload: str, case: dict, profile: str, qrs: list) -> dict[str, Any]:
    """The row of one case from its runs' query results."""
    repeat = len(qrs)
    qr = qrs[-1]
    results = [q.result for q in qrs]
    times = [float(r["time_s"]) if isinstance(r, dict) and "time_s" in r else q.time_s for r, q in zip(results, qrs)]
    res = results[-1]
    cost = res["cost"] if isinstance(res, dict) and "cost" in res else qr.channel.total.to_dict()
    c2s, s2c = int(cost["bytes_sent"]), int(cost["bytes_recv"])
    med = statistics.median(times)
    bound = analytic_bound(profile, c2s + s2c, int(cost["rounds"]))
    row = {
        "workload": workload, "impl": case.get("impl", "party"), "case": case["case"], "profile": profile,
        "repeat": repeat, "time_s_median": med, "time_s_min": min(times), "time_s_max": max(times),
        "bytes_c2s": c2s, "bytes_s2c": s2c, "msgs": int(cost["msgs_sent"]) + int(cost["msgs_recv"]),
        "rounds": int(cost["rounds"]), "bound_s": bound, "time_over_bound": (med / bound) if bound else None,
        "times_s": times,
    }
    if case.get("extra"):
        row.update(case["extra"](results, row))
    return row


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def markdown_table(rows: list[dict]) -> str:
    extra = []
    for r in rows:
        for k in r:
            if k not in ROW_FIELDS and k not in extra and k not in ("times_s", "workload", "repeat"):
                extra.append(k)
    cols = ["impl", "case", "profile", "time_s_median", "time_s_min", "time_s_max", "bytes_c2s", "bytes_s2c", "rounds", "bound_s", "time_over_bound", *extra]
    return _markdown(cols, rows)


def _markdown(cols: list[str], rows: list[dict]) -> str:
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for r in rows:
        lines.append("| " + " | ".join(_fmt(r.get(c)) for c in cols) + " |")
    return "\n".join(lines)


def _total_bytes(r: dict) -> int | None:
    if r.get("bytes_c2s") is None or r.get("bytes_s2c") is None:
        return None
    return int(r["bytes_c2s"]) + int(r["bytes_s2c"])


def ratio_rows(rows: list[dict], base: str = "party") -> list[dict]:
    """Side by side: for every (case, profile) with a ``base`` row, one row per other impl with
    the other's figure divided by ours (> 1: ours is faster / lighter).  Traffic uses the kernel's
    ``bytes_per_elem`` when both rows have it, else the session totals.  When both rows hold the
    same number of interleaved runs (``times_s``), ``time_ratio_paired`` is the median of the
    run-by-run ratios and ``paired_range`` their spread: a machine that drifts moves both runs
    of a pair alike."""
    ours = {(r["case"], r["profile"]): r for r in rows if r.get("impl") == base}
    out = []
    for r in rows:
        key = (r.get("case"), r.get("profile"))
        b = ours.get(key)
        if r.get("impl") == base or b is None:
            continue
        t_b, t_o = b.get("time_s_median"), r.get("time_s_median")
        if r.get("bytes_per_elem") is not None and b.get("bytes_per_elem") is not None:
            by_b, by_o, what = b["bytes_per_elem"], r["bytes_per_elem"], "B/elt"
        else:
            by_b, by_o, what = _total_bytes(b), _total_bytes(r), "session B"
        out.append({
            "case": key[0], "profile": key[1], "vs": r["impl"],
            "time_ours_s": t_b, "time_theirs_s": t_o,
            "time_ratio": (t_o / t_b) if t_b and t_o else None,
            "traffic": what, "traffic_ours": by_b, "traffic_theirs": by_o,
            "traffic_ratio": (by_o / by_b) if by_b and by_o else None,
            **_paired(b.get("times_s"), r.get("times_s")),
        })
    return out


def _paired(ours, theirs) -> dict:
    """Median and range of theirs_i / ours_i over runs that ran side by side (equal counts)."""
    if not ours or not theirs or len(ours) != len(theirs) or min(ours) <= 0:
        return {"time_ratio_paired": None, "paired_range": None}
    q = sorted(t / o for o, t in zip(ours, theirs))
    return {"time_ratio_paired": statistics.median(q), "paired_range": f"{q[0]:.3g}–{q[-1]:.3g}"}


def ratio_table(rows: list[dict], base: str = "party") -> str:
    """Markdown of :func:`ratio_rows` (empty when there is nothing to compare)."""
    rr = ratio_rows(rows, base)
    if not rr:
        return ""
    cols = ["case", "profile", "vs", "time_ours_s", "time_theirs_s", "time_ratio", "time_ratio_paired", "paired_range",
            "traffic", "traffic_ours", "traffic_theirs", "traffic_ratio"]
    return f"ratios: theirs / {base} (> 1: {base} is faster or sends less)\n\n" + _markdown(cols, rr)


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="Workloads: see --list. The row format and plug-in interface are in bench/harness.py.")
    ap.add_argument("workload", nargs="?", help="workload name (module in bench/workloads/)")
    ap.add_argument("--profile", default="none", help=f"network profile(s), comma-separated: {', '.join(PROFILES)}")
    ap.add_argument("--repeat", type=int, default=3, help="repetitions per case (median/min/max reported)")
    ap.add_argument("--json", metavar="FILE", help="write the rows as a JSON list")
    ap.add_argument("--list", action="store_true", help="list the workloads and exit")
    ap.add_argument("--case", action="append", help="run only these cases (repeatable)")
    ap.add_argument("--tls", action="store_true", help="run the sessions over TLS (default: plaintext loopback)")
    ap.add_argument("--log-level", default="WARNING")
    return ap


def main(argv: list[str] | None = None) -> int:
    from party.tuning import configure_numpy

    configure_numpy()
    ap = build_parser()
    args, rest = ap.parse_known_args(argv)
    logging.basicConfig(level=getattr(logging, args.log_level.upper()), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.list or not args.workload:
        for name, desc in list_workloads().items():
            print(f"{name:16s} {desc}")
        return 0
    mod = load_workload(args.workload)
    if hasattr(mod, "add_args"):
        wap = argparse.ArgumentParser(prog=f"python -m bench {args.workload}")
        mod.add_args(wap)
        wargs = wap.parse_args(rest)
        for k, v in vars(wargs).items():
            setattr(args, k, v)
    elif rest:
        ap.error(f"unrecognized arguments: {' '.join(rest)}")
    profiles = [p.strip() for p in args.profile.split(",") if p.strip()]
    for p in profiles:
        if p not in PROFILES:
            ap.error(f"unknown profile {p!r}; choose from {', '.join(PROFILES)}")
    cases = mod.cases(args)
    if args.case:
        cases = [c for c in cases if c["case"] in args.case]
        if not cases:
            ap.error(f"no such case; cases: {', '.join(c['case'] for c in mod.cases(args))}")
    rows = run_workload(args.workload, cases, profiles, args.repeat, tls=args.tls, peer=getattr(mod, "peer_rows", None), args=args)
    print(markdown_table(rows))
    ratios = ratio_table(rows)
    if ratios:
        print("\n" + ratios)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1) + "\n")
        print(f"\nrows written to {args.json}", file=sys.stderr)
    return 0


def run_workload(workload: str, cases: list[dict], profiles: list[str], repeat: int, tls: bool = False, peer=None, args=None) -> list[dict]:
    """Start a server process, run every case under every profile, stop the server; return rows."""
    import tempfile

    from party.client import PartyClient
    from party.commands.demo import start_server, stop_server

    models = sorted({c["model"] for c in cases if c.get("model")})
    with tempfile.TemporaryDirectory(prefix="party-bench-") as d:
        srv_args = []
        for m in models:
            srv_args += ["--model", m]
        if not models:
            srv_args += ["--model", "demo"]
        ca = None
        if tls:
            from party.tls import make_self_signed

            cert, key = make_self_signed(d)
            srv_args += ["--tls-cert", str(cert), "--tls-key", str(key)]
            ca = cert.read_bytes()
        else:
            srv_args += ["--insecure-plaintext"]
        import os

        env = dict(os.environ, PARTY_JOB_MODULES=f"bench.workloads.{workload}")
        proc, port = start_server(srv_args, env=env)
        rows: list[dict] = []
        try:
            with PartyClient(f"127.0.0.1:{port}", tls_ca=ca, insecure_plaintext=not tls) as client:
                client.health()
                for profile in profiles:
                    print(f"[bench] {workload}: {len(cases)} case(s), profile={profile}, x{repeat} interleaved",
                          file=sys.stderr, flush=True)
                    rows.extend(run_cases(client, workload, cases, profile, repeat))
                    if peer is not None:
                        rows.extend(peer(args, profile))
        finally:
            stop_server(proc)
    return rows

"""SecretFlow SPU (protocol CHEETAH) as a side-by-side peer in our benchmarks: rows with impl "spu-cheetah".

Runs in the project's own venv.  SPU itself lives in its own venv (``bench/.venv-spu``, made by
``bash bench/peers/setup_spu.sh``) because spu 0.9.5 pins numpy<2 and jax<=0.4.34; this module only
starts two processes of that venv's python on ``spu_worker.py`` (rank 0 = server, rank 1 = client),
optionally through :mod:`bench.netrelay` for the lan / wan / wan400 profiles, then turns the two
parties' JSON results into harness rows.

Public API::

    spu_rows(workload, cases, profile="lan", repeat=1) -> list[dict]

Row fields: ``workload``, ``impl`` ("spu-cheetah"), ``case``, ``profile``, ``time_s_median``,
``time_s_min``, ``time_s_max``, ``times_s`` (per timed run: the slower party's wall time of ``Runtime.run``),
``bytes_c2s`` / ``bytes_s2c`` (median over runs, from SPU's per-run "Link details"; these are brpc
payload bytes as SPU counts them), ``msgs`` (brpc send actions, both ways), ``rounds`` (None: SPU does not report rounds; hence
``bound_s`` / ``time_over_bound`` are None and ``bound_bw_s`` = bytes / bandwidth is given instead), ``n`` (primitives
only), ``warmup_s`` (first run, includes the one-time OT/HE set-up), ``note``; plus a few extras
(``warmup_bytes_c2s``, ``warmup_bytes_s2c``, ``msgs_c2s``, ``msgs_s2c``, ``peak_rss_server_bytes``,
``peak_rss_client_bytes``, ``check_max_abs_err`` (client-revealed output vs plaintext, outside the
timing), ``relay_bytes_c2s``, ``relay_bytes_s2c`` (every TCP byte the shaping relay carried during the
whole session: input sharing, warm-up, all runs, the check, brpc framing and acks — a cross-check of
the link counters, not a per-run figure)).

CLI (what produced ``bench/results/spu-cheetah-<workload>.json``)::

    python -m bench.peers.spu linear --profile lan --repeat 1 [--cases 128x768x768,...]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

IMPL = "spu-cheetah"
HERE = Path(__file__).resolve().parent
BENCH = HERE.parent
WORKER = HERE / "spu_worker.py"
SETUP = HERE / "setup_spu.sh"
RESULTS = BENCH / "results"

DEFAULT_CASES: dict[str, list[str]] = {
    "primitives": ["cmp64", "mul_trunc64"],
    "linear": ["128x768x768", "128x768x3072", "128x3072x768", "128x768x2304"],
    "nonlinear": ["gelu-128x3072", "softmax-12x128x128", "layernorm-128x768"],
    "bert": ["bert-base-128", "minilm-l6-128"],
}
PRIMITIVES_N = 10**6


_BERT_CASES = ("bert-base-128", "minilm-l6-128")
_NONLINEAR_KINDS = ("gelu", "softmax", "layernorm")


def supported(workload: str, case: str) -> bool:
    """Whether ``spu_worker.py`` can run this case: primitives cmp64/mul_trunc64, linear ``MxKxN``,
    nonlinear ``gelu|softmax|layernorm-<dims>``, bert ``bert-base-128`` / ``minilm-l6-128``."""

    def dims(s: str, k: int | None = None) -> bool:
        parts = s.split("x")
        return all(p.isdigit() and int(p) > 0 for p in parts) and (k is None or len(parts) == k)

    if workload == "primitives":
        return case in ("cmp64", "mul_trunc64")
    if workload == "linear":
        return dims(case, 3)
    if workload == "nonlinear":
        kind, _, shp = case.partition("-")
        return kind in _NONLINEAR_KINDS and bool(shp) and dims(shp)
    if workload == "bert":
        return case in _BERT_CASES
    return False


class SpuNotInstalled(RuntimeError):
    """The SPU virtual environment is missing."""


def spu_venv() -> Path:
    return Path(os.environ.get("SPU_VENV", BENCH / ".venv-spu"))


def spu_python() -> Path:
    """The SPU venv's python, or a clear error telling the user how to create it."""
    py = spu_venv() / "bin" / "python"
    if not py.exists():
        raise SpuNotInstalled(
            f"the SPU peer needs its own virtual environment at {spu_venv()} (spu==0.9.5 pins numpy<2 and "
            f"jax<=0.4.34); create it with:  bash {os.path.relpath(SETUP)}"
        )
    return py


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ----------------------------------------------------------------------------------------------
# pure row building (unit-tested without SPU)
# ----------------------------------------------------------------------------------------------
def _link(run: dict) -> dict:
    link = run.get("link")
    if not link:
        raise ValueError("SPU worker result has no 'Link details' byte counts for a run")
    return link


def rows_from_results(workload: str, case: str, profile: str, server: dict, client: dict,
                      relay_bytes: tuple[int, int] | None = None) -> dict:
    """One harness row from the two parties' worker results (``server`` = rank 0, ``client`` = rank 1).

    Per timed run the time is the slower party's; bytes are what each party *sent* (server send =
    s2c, client send = c2s), cross-checked against the other party's receive count."""
    if server.get("rank") != 0 or client.get("rank") != 1:
        raise ValueError("expected the server's (rank 0) and the client's (rank 1) results")
    rs, rc = server["runs"], client["runs"]
    if not rs or len(rs) != len(rc):
        raise ValueError(f"parties report different numbers of timed runs ({len(rs)} vs {len(rc)})")
    times = [max(a["time_s"], b["time_s"]) for a, b in zip(rs, rc)]
    s2c = [_link(a)["send_bytes"] for a in rs]
    c2s = [_link(b)["send_bytes"] for b in rc]
    for a, b in zip(rs, rc):
        if _link(a)["send_bytes"] != _link(b)["recv_bytes"] or _link(b)["send_bytes"] != _link(a)["recv_bytes"]:
            raise ValueError("SPU link counters disagree between the parties (sent != received)")
    ws, wc = server["warmup"], client["warmup"]
    warm_s = max(ws["time_s"], wc["time_s"])
    w_s2c, w_c2s = _link(ws)["send_bytes"], _link(wc)["send_bytes"]
    err = client.get("check_max_abs_err")
    mib = 1 << 20
    note = (
        f"SPU {server.get('spu_version', '?')} {server.get('protocol', 'CHEETAH')} "
        f"{server.get('field', 'FM64')} f={server.get('fxp_fraction_bits', 18)}; weights server-private "
        f"(colocated make_shares); two processes over brpc"
        + (f" via user-space relay ({profile})" if profile != "none" else " on loopback, unshaped")
        + f"; warm-up run (this computation plus the one-time OT/HE set-up) {warm_s:.1f} s, {(w_s2c + w_c2s) / mib:.1f} MiB, not in time_s/bytes"
        + (f"; max |err| {err:.2g} vs plaintext" if err is not None else "")
        + "; shared 2-core machine, timings noisy"
    )
    from protocols.channel import get_profile

    bw = get_profile(profile).bandwidth_bps
    c2s_med, s2c_med = int(statistics.median(c2s)), int(statistics.median(s2c))
    row = {
        "workload": workload,
        "impl": IMPL,
        "case": case,
        "profile": profile,
        "time_s_median": statistics.median(times),
        "time_s_min": min(times),
        "time_s_max": max(times),
        "bytes_c2s": c2s_med,
        "bytes_s2c": s2c_med,
        "msgs": int(statistics.median(_link(b)["send_actions"] + _link(a)["send_actions"] for a, b in zip(rs, rc))),
        "rounds": None,
        # harness fields: without a round count there is no full analytic bound; bound_bw_s is the
        # bandwidth term alone (bytes / bandwidth), a lower bound on the link time
        "bound_s": None,
        "time_over_bound": None,
        "bound_bw_s": (c2s_med + s2c_med) * 8 / bw if bw else None,
        "n": server.get("n") if workload == "primitives" else None,
        "warmup_s": warm_s,
        "note": note,
        "repeat": len(times),
        "times_s": times,
        "warmup_bytes_c2s": w_c2s,
        "warmup_bytes_s2c": w_s2c,
        "msgs_c2s": int(statistics.median(_link(b)["send_actions"] for b in rc)),
        "msgs_s2c": int(statistics.median(_link(a)["send_actions"] for a in rs)),
        "peak_rss_server_bytes": server.get("peak_rss_bytes"),
        "peak_rss_client_bytes": client.get("peak_rss_bytes"),
        "check_max_abs_err": err,
    }
    if server.get("loadavg_1m"):
        # 1-minute load average at the start and end of the runs (2 cores shared with other jobs)
        row["loadavg_1m"] = [round(v, 2) for v in server["loadavg_1m"]]
    if client.get("check_mismatches") is not None:
        row["check_mismatches"] = client["check_mismatches"]
    if relay_bytes is not None:
        row["relay_bytes_c2s"], row["relay_bytes_s2c"] = relay_bytes
    return row


# ----------------------------------------------------------------------------------------------
# running the two SPU parties
# ----------------------------------------------------------------------------------------------
def run_case(workload: str, case: str, profile: str = "lan", repeat: int = 1, *, n: int | None = None,
             check: bool = True, timeout_s: float = 3 * 3600, workdir: str | None = None,
             verbose: bool = True) -> dict:
    """Run one case with two SPU party processes; return its harness row."""
    py = spu_python()
    if workload not in DEFAULT_CASES:
        raise ValueError(f"unknown workload {workload!r}; choose from {', '.join(DEFAULT_CASES)}")
    from bench.netrelay import Relay
    from protocols.channel import get_profile

    get_profile(profile)  # validate the name early
    workdir = workdir or tempfile.mkdtemp(prefix=f"spu-{workload}-")
    p0, p1 = _free_port(), _free_port()
    relay = None
    if profile != "none":
        # party 0 connects to route 1 to reach party 1, party 1 to route 0 to reach party 0
        relay = Relay.pair(profile, ("127.0.0.1", p0), ("127.0.0.1", p1)).start()
        addrs = [f"127.0.0.1:{p0},127.0.0.1:{relay.ports[1]}", f"127.0.0.1:{relay.ports[0]},127.0.0.1:{p1}"]
    else:
        addrs = [f"127.0.0.1:{p0},127.0.0.1:{p1}"] * 2
    procs, outs, logs = [], [], []
    try:
        for rank in (0, 1):
            out = os.path.join(workdir, f"{workload}-{case}-{profile}-rank{rank}.json")
            log = os.path.join(workdir, f"{workload}-{case}-{profile}-rank{rank}.log")
            cmd = [str(py), str(WORKER), "--rank", str(rank), "--addrs", addrs[rank], "--workload", workload,
                   "--case", case, "--repeat", str(repeat), "--json", out, "--log", log]
            if n is not None:
                cmd += ["--n", str(n)]
            if check:
                cmd.append("--check")
            if os.path.exists(out):
                os.remove(out)
            err = open(os.path.join(workdir, f"{workload}-{case}-{profile}-rank{rank}.stderr"), "w")
            procs.append(subprocess.Popen(cmd, stdout=err, stderr=subprocess.STDOUT,
                                          env={**os.environ, "PYTHONUNBUFFERED": "1"}))
            outs.append(out)
            logs.append(err.name)
        deadline = time.monotonic() + timeout_s
        while any(p.poll() is None for p in procs):
            if any(p.poll() not in (None, 0) for p in procs) or time.monotonic() > deadline:
                break
            time.sleep(0.2)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        if relay is not None:
            relay.stop()
    bad = [(r, p.returncode) for r, p in enumerate(procs) if p.returncode != 0]
    if bad:
        tails = []
        for r, _ in bad:
            for lp in (logs[r], logs[r].replace(".stderr", ".log")):
                if os.path.exists(lp):
                    with open(lp, errors="replace") as f:
                        tails.append(f"--- rank {r} ({lp}):\n" + "".join(f.readlines()[-15:]))
        raise RuntimeError(f"SPU {workload}/{case} ({profile}) failed: exit codes {bad}\n" + "\n".join(tails))
    res = []
    for o in outs:
        with open(o) as f:
            res.append(json.load(f))
    rb = (relay.b2a.bytes, relay.a2b.bytes) if relay is not None else None  # (c2s, s2c)
    row = rows_from_results(workload, case, profile, res[0], res[1], rb)
    if verbose:
        print(f"[spu] {workload}/{case} {profile}: {row['time_s_median']:.2f} s, "
              f"c2s {row['bytes_c2s'] / 1e6:.1f} MB, s2c {row['bytes_s2c'] / 1e6:.1f} MB, "
              f"warm-up {row['warmup_s']:.1f} s", file=sys.stderr, flush=True)
    return row


def spu_rows(workload: str, cases: list[str] | None = None, profile: str = "lan", repeat: int = 1,
             rename: dict[str, str] | None = None) -> list[dict]:
    """Harness entry point: SPU CHEETAH rows for ``cases`` of ``workload`` under network ``profile``.

    ``cases`` None/empty = this workload's standard cases.  Primitives run at n = 10^6.  Raises
    :class:`SpuNotInstalled` (telling the user to run ``bash bench/peers/setup_spu.sh``) if the SPU
    venv is missing.  Cases SPU has no version of (see :func:`supported`) are skipped with a message.
    ``rename`` maps the caller's case names to SPU's (e.g. ``{"cmp-64": "cmp64"}``); rows keep the
    caller's name.  Cases run one after the other (a BERT-base layer peaks at ~10.7 GB)."""
    spu_python()
    if workload not in DEFAULT_CASES:
        raise ValueError(f"SPU peer: unknown workload {workload!r}; choose from {', '.join(DEFAULT_CASES)}")
    cases = list(cases) if cases else DEFAULT_CASES[workload]
    rename = rename or {}
    skip = [c for c in cases if not supported(workload, rename.get(c, c))]
    if skip:
        print(f"[spu] no SPU version of {workload} case(s) {', '.join(skip)}: skipped", file=sys.stderr, flush=True)
    n = PRIMITIVES_N if workload == "primitives" else None
    rows = []
    for c in cases:
        if c in skip:
            continue
        row = run_case(workload, rename.get(c, c), profile, repeat, n=n)
        row["case"] = c
        rows.append(row)
    return rows


# ----------------------------------------------------------------------------------------------
# results file
# ----------------------------------------------------------------------------------------------
def merge_rows(old: list[dict], new: list[dict]) -> list[dict]:
    """Rows of ``old`` not superseded by ``new`` (same workload, case, profile), then ``new``."""
    key = lambda r: (r["workload"], r["case"], r["profile"])  # noqa: E731
    fresh = {key(r) for r in new}
    return [r for r in old if key(r) not in fresh] + list(new)


def load_rows(path: Path) -> list[dict]:
    """Rows of a results file: a JSON list of rows (the harness's ``--json`` format); an older
    ``{"rows": [...]}`` document is accepted too."""
    with open(path) as f:
        doc = json.load(f)
    return doc.get("rows", []) if isinstance(doc, dict) else list(doc)


def save_rows(workload: str, rows: list[dict], path: Path | None = None) -> Path:
    """Merge ``rows`` into ``bench/results/spu-cheetah-<workload>.json`` (a JSON list of harness rows,
    newer rows replacing older ones of the same case and profile)."""
    path = Path(path or RESULTS / f"{IMPL}-{workload}.json")
    path.parent.mkdir(parents=True, exist_ok=True)
    old = load_rows(path) if path.exists() else []
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    for r in rows:
        r.setdefault("measured_at", stamp)
        r.setdefault("host", f"{platform.node()} ({os.cpu_count()} cpus, shared)")
    tmp = path.with_suffix(".json.tmp")
    with open(tmp, "w") as f:
        json.dump(merge_rows(old, rows), f, indent=1)
        f.write("\n")
    os.replace(tmp, path)
    return path


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="measure SPU CHEETAH rows and save bench/results/spu-cheetah-<workload>.json")
    ap.add_argument("workload", choices=list(DEFAULT_CASES))
    ap.add_argument("--cases", default="", help="comma-separated (default: the workload's standard cases)")
    ap.add_argument("--profile", default="lan", help="none, lan, wan, wan400")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    cases = [c for c in args.cases.split(",") if c] or DEFAULT_CASES[args.workload]
    for c in cases:  # save after each case: a later failure keeps the earlier rows
        rows = spu_rows(args.workload, [c], args.profile, args.repeat)
        p = save_rows(args.workload, rows, args.out)
    print(f"saved {p}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

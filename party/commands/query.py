"""``party query``: run the client side of a job against a server and print the result + costs."""
from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
from typing import Any

from ._common import add_client_tls_args, add_config_arg, apply_config, die, make_client, parse_kv

log = logging.getLogger("party.cli")


def add_job_args(p: argparse.ArgumentParser, default_job: str = "demo") -> None:
    p.add_argument("--job", default=default_job, help="what to compute (a registered job; `party health` lists them)")
    p.add_argument("--model", help="model to use on the server (default: the server's only model, if the job needs one)")
    p.add_argument("--model-hash", default="", help="refuse the session unless the server's model has this hash")
    g = p.add_argument_group("input (job-dependent)")
    g.add_argument("--input", help="the private input, e.g. '1,2,3' for the demo job")
    g.add_argument("--text", help="private text input (text models)")
    g.add_argument("--file", help="read the private input from this file (text models: one sentence per line, one session)")
    g.add_argument("--embed", action="store_true",
                   help="text models: return the sentence embedding (job bert-embed) instead of the label")
    p.add_argument("--param", metavar="KEY=VALUE", action="append", help="public job parameter (JSON value); repeatable")
    p.add_argument("--profile", default="none", choices=["none", "lan", "wan", "wan400"],
                   help="network shaping applied on both ends: lan 3 Gbps/0.8 ms RTT, wan 200 Mbps/40 ms, wan400 400 Mbps/10 ms")
    p.add_argument("--json", action="store_true", help="print one JSON object (result + cost report) instead of text")
    p.add_argument("--report", metavar="FILE.json", help="write the cost report (total and per scope) to this file")
    p.add_argument("--timeout", type=float, default=600.0, help="seconds to wait for any single protocol message")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    add_config_arg(p)


def add_parser(sub) -> None:
    p = sub.add_parser(
        "query",
        help="run a private query against a server (the input-holding party)",
        description="Handshake with a party server, run the job's client side on a secure session, print the "
        "result and a cost report (time, bytes each way, messages, rounds; per scope with --report). A mismatch "
        "of protocol version, model, configuration or HE parameters is refused with the reason.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add_client_tls_args(p)
    add_job_args(p)
    p.set_defaults(func=run)


def execute(client, args) -> tuple[Any, dict, Any]:
    """Run the query described by ``args`` with ``client``; returns (job, report dict, QueryResult)."""
    from .. import progress
    from ..jobs import get_job
    from ..report import cost_report

    if getattr(args, "embed", False):
        if args.job not in ("bert-classify", "bert-embed"):
            raise ValueError("--embed goes with the text-model jobs (--job bert-classify)")
        args.job = "bert-embed"
    job = get_job(args.job)
    inputs = job.parse_inputs(args)
    params = parse_kv(args.param, "--param")
    model = args.model or ""
    if job.needs_model and not model:
        models = client.health()["models"]
        if len(models) != 1:
            raise ValueError(f"the server serves {len(models)} models ({', '.join(models)}); choose one with --model")
        model = models[0]
    with progress.bar(f"{args.job}", enabled=False if args.no_progress else None) as bar:
        qr = client.run(args.job, inputs, model=model, params=params, profile=args.profile, timeout=args.timeout,
                        on_bytes=bar.on_bytes, model_hash=args.model_hash)
    rep = cost_report(qr.channel, time_s=qr.time_s, extra={
        "job": args.job, "model": qr.info.model_id, "model_hash": qr.info.model_hash, "server": client.address,
        "handshake_s": round(qr.handshake_s, 6),
    })
    return job, rep, qr


def print_outcome(job, rep: dict, qr, args) -> None:
    from ..report import format_table, write_json

    if args.report:
        write_json(rep, args.report)
    if args.json:
        print(json.dumps({"result": job.result_json(qr.result), "cost": rep}, default=str))
    else:
        print(job.format_result(qr.result))
        t = rep["total"]
        print(f"\ncost: {t['time_s']:.3f} s, {t['bytes_c2s']} B client->server, {t['bytes_s2c']} B server->client, "
              f"{t['rounds']} rounds, {t['msgs']} messages (profile {rep['profile']})\n")
        print(format_table(rep))
        if args.report:
            print(f"\ncost report written to {args.report}")


def run(args) -> int:
    from protocols.channel import ProtocolError

    from ..client import HandshakeError, ServerUnavailable

    apply_config(args)
    signal.signal(signal.SIGTERM, lambda *a: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        with make_client(args) as c:
            job, rep, qr = execute(c, args)
    except (HandshakeError, ServerUnavailable, ProtocolError) as e:
        return die(str(e))
    except (ValueError, KeyError) as e:
        return die(str(e.args[0] if isinstance(e, KeyError) else e), 2)
    except KeyboardInterrupt:
        print("party: interrupted; the session was cancelled", file=sys.stderr)
        return 130
    print_outcome(job, rep, qr, args)
    return 0

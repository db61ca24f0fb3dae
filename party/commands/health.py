"""``party health``: is a server up, and what does it offer."""
from __future__ import annotations

import json

from ._common import add_client_tls_args, die, make_client


def add_parser(sub) -> None:
    p = sub.add_parser("health", help="check a server", description="Ask a party server for its status, models and jobs. Exit 0 if it is SERVING.")
    add_client_tls_args(p)
    p.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for the server")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..client import ServerUnavailable

    try:
        with make_client(args) as c:
            h = c.health(timeout=args.timeout)
    except ServerUnavailable as e:
        return die(str(e))
    if args.json:
        print(json.dumps(h))
    else:
        print(f"{args.server}: {h['status']} (protocol v{h['protocol_version']}, party {h['server_version']})")
        print(f"  models: {', '.join(h['models']) or '-'}")
        print(f"  jobs:   {', '.join(h['jobs']) or '-'}")
        print(f"  sessions: {h['active_sessions']} active, {h['sessions_served']} served, {h['sessions_failed']} failed")
    return 0 if h["status"] == "SERVING" else 1

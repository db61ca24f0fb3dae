"""``party keys``: a self-signed TLS certificate and key for the server."""
from __future__ import annotations

import argparse


def add_parser(sub) -> None:
    p = sub.add_parser(
        "keys",
        help="make a self-signed TLS certificate + key",
        description="Write DIR/cert.pem and DIR/key.pem: an EC P-256 self-signed certificate valid for the given "
        "host names/IPs. Give cert.pem+key.pem to `party serve --tls-cert/--tls-key` and cert.pem to the "
        "client's `--tls-ca`.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--out", required=True, metavar="DIR", help="directory to write cert.pem and key.pem into")
    p.add_argument("--host", action="append", metavar="NAME_OR_IP",
                   help="extra subjectAltName (repeatable); localhost, 127.0.0.1 and ::1 are always included")
    p.add_argument("--days", type=int, default=365, help="validity")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..tls import DEFAULT_HOSTS, make_self_signed

    hosts = list(dict.fromkeys([*DEFAULT_HOSTS, *(args.host or [])]))
    cert, key = make_self_signed(args.out, hosts, days=args.days)
    print(f"wrote {cert} and {key} (valid for {', '.join(hosts)})")
    return 0

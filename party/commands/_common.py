"""Options and helpers shared by the subcommands."""
from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys

from protocols.config import Config, get_config, set_config

log = logging.getLogger("party.cli")


def parse_value(v: str):
    try:
        return json.loads(v)
    except ValueError:
        return v


def parse_kv(items: list[str] | None, what: str) -> dict:
    out = {}
    for it in items or []:
        if "=" not in it:
            raise SystemExit(f"party: {what} must look like KEY=VALUE, got {it!r}")
        k, v = it.split("=", 1)
        out[k.strip()] = parse_value(v)
    return out


def add_config_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--config", metavar="KEY=VALUE", action="append",
        help="override a protocol setting of protocols.config.Config (e.g. ell=32, frac=12); "
        "both parties must use the same settings or the handshake is refused. Repeatable.",
    )


def apply_config(args) -> Config:
    kv = parse_kv(getattr(args, "config", None), "--config")
    base = get_config()
    known = {f.name for f in dataclasses.fields(Config)}
    extra = dict(base.extra)
    direct = {}
    for k, v in kv.items():
        (direct if k in known else extra).__setitem__(k, v)
    try:
        cfg = dataclasses.replace(base, extra=tuple(sorted(extra.items())), **direct)
    except (TypeError, ValueError) as e:
        raise SystemExit(f"party: bad --config: {e}") from None
    set_config(cfg)
    return cfg


def add_client_tls_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--server", required=True, metavar="HOST:PORT", help="address of the party server")
    p.add_argument("--tls-ca", metavar="PEM", help="CA/self-signed certificate to trust (from `party keys`); default: system roots")
    p.add_argument("--server-name", metavar="NAME", help="expected TLS server name if it differs from HOST")
    p.add_argument("--insecure-plaintext", action="store_true", help="connect without TLS (only for a trusted local network)")


def make_client(args):
    from ..client import PartyClient

    ca = None
    if args.tls_ca:
        with open(args.tls_ca, "rb") as f:
            ca = f.read()
    return PartyClient(args.server, tls_ca=ca, insecure_plaintext=args.insecure_plaintext, server_name=args.server_name)


def die(msg: str, code: int = 1) -> int:
    print(f"party: error: {msg}", file=sys.stderr)
    return code

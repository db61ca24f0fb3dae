"""``party serve``: hold a model's weights and run the server side of jobs for clients."""
from __future__ import annotations

import argparse
import logging

from ._common import add_config_arg, apply_config, die

log = logging.getLogger("party.cli")


def add_parser(sub) -> None:
    p = sub.add_parser(
        "serve",
        help="serve a model to clients (the weight-holding party)",
        description="Load model(s) and serve jobs over gRPC until SIGINT/SIGTERM. On a signal the server "
        "stops accepting sessions, lets running ones finish for --grace seconds, cancels the rest and exits 0. "
        "Every session is checked in a handshake (protocol version, model id/hash, protocol configuration, HE "
        "parameters); a session that fails (bad frame, oversized message, client gone) ends alone.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--model", action="append", metavar="NAME_OR_PATH",
                   help="model to serve: a registered name (e.g. demo) or a model file; repeatable (default: demo)")
    p.add_argument("--host", default="127.0.0.1", help="interface to listen on (0.0.0.0 for all)")
    p.add_argument("--port", type=int, default=50051, help="TCP port (0 = pick a free one; the chosen port is printed)")
    p.add_argument("--tls-cert", metavar="PEM", help="server certificate (make one with `party keys`)")
    p.add_argument("--tls-key", metavar="PEM", help="private key of --tls-cert")
    p.add_argument("--insecure-plaintext", action="store_true", help="serve without TLS (explicit opt-out)")
    p.add_argument("--max-message-mb", type=float, default=2048.0, help="largest protocol message a client may send, MiB")
    p.add_argument("--max-sessions", type=int, default=8, help="concurrent sessions; more get RESOURCE_EXHAUSTED")
    p.add_argument("--recv-timeout", type=float, default=600.0, help="end a session whose client is silent this long, s")
    p.add_argument("--grace", type=float, default=10.0, help="on SIGINT/SIGTERM, seconds running sessions may finish")
    add_config_arg(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from ..models import UnknownModel, load_model
    from ..server import ServerOptions, serve

    apply_config(args)
    if args.tls_cert or args.tls_key:
        if not (args.tls_cert and args.tls_key):
            return die("TLS needs both --tls-cert and --tls-key", 2)
        if args.insecure_plaintext:
            return die("--insecure-plaintext contradicts --tls-cert/--tls-key", 2)
        cert, key = open(args.tls_cert, "rb").read(), open(args.tls_key, "rb").read()
    elif args.insecure_plaintext:
        cert = key = None
        log.warning("serving WITHOUT TLS (--insecure-plaintext): traffic and peer identity are unprotected")
    else:
        return die("give --tls-cert and --tls-key (make them with `party keys --out DIR`) or --insecure-plaintext", 2)
    models = {}
    for spec in args.model or ["demo"]:
        try:
            m = load_model(spec)
        except UnknownModel as e:
            return die(str(e), 2)
        models[m.name] = m
        log.info("model %s loaded (hash %s)", m.name, m.hash)
    opts = ServerOptions(max_message_mb=args.max_message_mb, max_sessions=args.max_sessions, recv_timeout_s=args.recv_timeout)
    try:
        return serve(models, args.host, args.port, cert, key, opts, grace_s=args.grace)
    except OSError as e:
        return die(str(e))

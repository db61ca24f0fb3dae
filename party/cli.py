"""``party`` command line: serve a model, query it, make TLS keys, check health, run a local demo.

Subcommands live in ``party/commands/<name>.py``; each module exposes ``add_parser(subparsers)``
which adds its parser and sets ``func`` (called with the parsed args, returns the exit code).
To add a command, write such a module and list it in :data:`COMMAND_MODULES`; a listed module that
is missing is skipped (so commands owned by other modules can land independently).
"""
from __future__ import annotations

import argparse
import importlib
import logging
import sys

from . import __version__

COMMAND_MODULES = ["serve", "query", "demo", "keys", "health", "calibrate"]

EPILOG = """\
examples:
  party keys --out certs/                                   # self-signed TLS pair for localhost
  party serve --model demo --tls-cert certs/cert.pem --tls-key certs/key.pem --port 50051
  party query --server 127.0.0.1:50051 --tls-ca certs/cert.pem --job demo --input 1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16 --report cost.json
  party demo                                                # both sides on this machine, over TLS

Two parties: the server holds the model weights, the client holds the input; they compute on
secret shares over one gRPC session and the client gets the result (see DESIGN.md §1).
"""


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="party",
        description="Private Transformer inference between two parties (server: weights, client: input).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("--version", action="version", version=f"party {__version__}")
    ap.add_argument(
        "--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="logging verbosity on stderr (default INFO)",
    )
    sub = ap.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            mod = importlib.import_module(f"party.commands.{name}")
        except ModuleNotFoundError as e:
            if e.name != f"party.commands.{name}":
                raise
            continue
        mod.add_parser(sub)
    return ap


def main(argv: list[str] | None = None) -> int:
    from .tuning import configure_numpy

    configure_numpy()
    ap = build_parser()
    args = ap.parse_args(argv)
    logging.basicConfig(
        level=getattr(logging, args.log_level),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if not getattr(args, "func", None):
        ap.print_help()
        return 2
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())

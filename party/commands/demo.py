"""``party demo``: a real two-process query on this machine (server subprocess, TLS, temp keys)."""
from __future__ import annotations

import argparse
import logging
import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading

from ._common import apply_config, die
from .query import add_job_args, execute, print_outcome

log = logging.getLogger("party.cli")


def add_parser(sub) -> None:
    p = sub.add_parser(
        "demo",
        help="start a local server process and query it over TLS (the main job)",
        description="Make temporary TLS keys, start `party serve` as a separate process on a free port of "
        "127.0.0.1, run `party query` against it (handshake, secure computation, reveal), print the result and "
        "its cost report, and stop the server. Job, model and inputs are parameters.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add_job_args(p, default_job="demo")
    p.add_argument("--server-log-level", default="WARNING", help="log level of the server process")
    p.set_defaults(func=run, model_default="demo")


def start_server(args_list: list[str], log_level: str = "WARNING", timeout: float = 60.0, env: dict | None = None, stderr=None) -> tuple[subprocess.Popen, int]:
    """Start ``python -m party.cli serve ARGS --port 0`` and return (process, port).

    ``stderr``: where the server's log goes (a file object; default: inherited)."""
    cmd = [sys.executable, "-m", "party.cli", "--log-level", log_level, "serve", "--port", "0", *args_list]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=stderr, text=True, env=env)
    lines: queue.Queue = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    while True:
        try:
            line = lines.get(timeout=timeout)
        except queue.Empty:
            proc.kill()
            raise RuntimeError(f"the server did not start within {timeout} s") from None
        if line is None:
            raise RuntimeError(f"the server exited with code {proc.wait()} before listening")
        if line.startswith("party serve: listening on "):
            return proc, int(line.rsplit(":", 1)[1])


def stop_server(proc: subprocess.Popen, timeout: float = 30.0) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait()


def run(args) -> int:
    from protocols.channel import ProtocolError

    from ..client import HandshakeError, PartyClient, ServerUnavailable
    from ..tls import make_self_signed

    apply_config(args)
    model = args.model or args.model_default
    args.model = model
    with tempfile.TemporaryDirectory(prefix="party-demo-") as d:
        cert, key = make_self_signed(d)
        srv_args = ["--model", model, "--tls-cert", str(cert), "--tls-key", str(key)]
        for kv in args.config or []:
            srv_args += ["--config", kv]
        try:
            proc, port = start_server(srv_args, args.server_log_level)
        except RuntimeError as e:
            return die(str(e))
        print(f"[demo] server process {proc.pid} listening on 127.0.0.1:{port} (TLS, temporary self-signed cert)", file=sys.stderr)
        try:
            with PartyClient(f"127.0.0.1:{port}", tls_ca=cert.read_bytes()) as c:
                job, rep, qr = execute(c, args)
        except (HandshakeError, ServerUnavailable, ProtocolError) as e:
            return die(str(e))
        except (ValueError, KeyError) as e:
            return die(str(e.args[0] if isinstance(e, KeyError) else e), 2)
        except KeyboardInterrupt:
            return 130
        finally:
            rc = stop_server(proc)
            print(f"[demo] server process exited with code {rc}", file=sys.stderr)
    print_outcome(job, rep, qr, args)
    return 0

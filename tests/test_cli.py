"""`party` CLI: help texts, keys, demo end to end, query output formats, error exits."""
import json
import subprocess
import sys

import pytest

from party.cli import build_parser, main
from party.report import cost_report, format_table, write_json
from protocols.channel import run_two_party

PY = sys.executable


def run_cli(*args, timeout=120):
    return subprocess.run([PY, "-m", "party.cli", *args], capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("cmd", ["serve", "query", "demo", "keys", "health"])
def test_help_explains_each_command(cmd, capsys):
    with pytest.raises(SystemExit) as ei:
        main([cmd, "--help"])
    assert ei.value.code == 0
    out = capsys.readouterr().out
    assert f"usage: party {cmd}" in out and len(out) > 300


def test_top_level_help_lists_commands(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for cmd in ("serve", "query", "demo", "keys", "health", "examples:"):
        assert cmd in out


def test_commands_are_pluggable():
    sub = [a for a in build_parser()._actions if a.dest == "command"][0]
    assert {"serve", "query", "demo", "keys", "health"} <= set(sub.choices)


def test_keys_writes_a_usable_pair(tmp_path):
    from cryptography import x509

    assert main(["keys", "--out", str(tmp_path), "--host", "party.example"]) == 0
    cert = x509.load_pem_x509_certificate((tmp_path / "cert.pem").read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in san.get_values_for_type(x509.DNSName) and "party.example" in san.get_values_for_type(x509.DNSName)
    assert "127.0.0.1" in [str(ip) for ip in san.get_values_for_type(x509.IPAddress)]
    assert (tmp_path / "key.pem").stat().st_mode & 0o777 == 0o600


def test_serve_requires_tls_or_explicit_plaintext():
    out = run_cli("serve", "--port", "0")
    assert out.returncode == 2 and "--insecure-plaintext" in out.stderr and "party keys" in out.stderr


def test_demo_end_to_end_json(tmp_path):
    from party.models import load_model
    import numpy as np

    rep = tmp_path / "r.json"
    out = run_cli("demo", "--input", "3 1 4 1 5 9 2 6 5 3 5 8 9 7 9 3", "--json", "--report", str(rep))
    assert out.returncode == 0, out.stderr
    res = json.loads(out.stdout)
    m = load_model("demo")
    x = np.array([3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8, 9, 7, 9, 3])
    assert res["result"]["y"] == (m.weights["W"] @ x + m.weights["b"]).tolist()
    assert json.loads(rep.read_text())["total"] == res["cost"]["total"]
    assert "server process exited with code 0" in out.stderr


def test_demo_text_output_and_bad_input():
    out = run_cli("demo")
    assert out.returncode == 0, out.stderr
    assert "y = W x + b =" in out.stdout and "| **TOTAL** |" in out.stdout and "rounds" in out.stdout
    bad = run_cli("demo", "--input", "1,2,3")
    assert bad.returncode == 2 and "takes 16 integers" in bad.stderr


def test_query_unreachable_server_is_a_clear_error():
    out = run_cli("health", "--server", "127.0.0.1:1", "--insecure-plaintext", "--timeout", "1")
    assert out.returncode == 1 and "health check of 127.0.0.1:1 failed" in out.stderr


def test_cost_report_table_and_json(tmp_path):
    import numpy as np

    def f0(ch):
        with ch.scope("Embedding"):
            ch.send(np.zeros(10, np.uint64))
        with ch.scope("Linear_qkv"):
            ch.recv_array(np.uint64, (3,))

    def f1(ch):
        with ch.scope("Embedding"):
            ch.recv_array(np.uint64, (10,))
        with ch.scope("Linear_qkv"):
            ch.send(np.zeros(3, np.uint64))

    _, _, c0, c1 = run_two_party(f0, f1)
    rep = cost_report(c1, time_s=1.5)
    assert [r["scope"] for r in rep["scopes"]] == ["Embedding", "Linear_qkv"]
    assert rep["scopes"][0]["bytes_s2c"] == 80 and rep["scopes"][1]["bytes_c2s"] == 24
    assert rep["total"]["time_s"] == 1.5 and rep["total"]["rounds"] == 1
    srv = cost_report(c0)
    assert srv["total"]["bytes_s2c"] == 80 and srv["total"]["bytes_c2s"] == 24  # same directions from the server
    table = format_table(rep, raw=True)
    assert "| Embedding | " in table and "| 0 | 80 |" in table
    write_json(rep, tmp_path / "c.json")
    assert json.loads((tmp_path / "c.json").read_text()) == json.loads(json.dumps(rep))


def test_serve_busy_port_fails_and_sigint_exits_zero(tmp_path):
    import signal

    from party.commands.demo import start_server

    log = open(tmp_path / "log", "w")
    proc, port = start_server(["--insecure-plaintext"], log_level="INFO", stderr=log)
    try:
        out = run_cli("serve", "--insecure-plaintext", "--port", str(port))
        assert out.returncode == 1 and "could not bind" in out.stderr
        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        log.close()
    assert "received SIGINT: draining" in (tmp_path / "log").read_text()

"""Two real processes: a `party serve` subprocess (TLS) and clients in this process or in
subprocesses.  Bad clients (malformed/truncated/oversized frames, a killed client, version /
config / HE / model mismatches) each fail alone with a clear reason on both sides, and the server
keeps serving the next client (health + a correct demo query afterwards)."""
import json
import os
import signal
import subprocess
import sys
import time

import grpc
import numpy as np
import pytest

from party.client import HandshakeError, PartyClient
from party.commands.demo import start_server, stop_server
from party.grpc_channel import MAX_GRPC_MESSAGE, encode_chunk, grpc_options
from party.models import load_model
from party.server import SESSION_METADATA
from party.tls import make_self_signed
from proto import party_pb2 as pb
from proto import party_pb2_grpc as pb_grpc
from protocols.channel import _PRE

PY = sys.executable
MAX_MB = 8


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    d = tmp_path_factory.mktemp("srv")
    cert, key = make_self_signed(d)
    log_path = d / "server.log"
    logf = open(log_path, "w")
    proc, port = start_server(
        ["--model", "demo", "--tls-cert", str(cert), "--tls-key", str(key), "--max-message-mb", str(MAX_MB), "--recv-timeout", "20"],
        log_level="INFO", stderr=logf,
    )
    info = {"proc": proc, "port": port, "addr": f"127.0.0.1:{port}", "ca": cert.read_bytes(), "ca_path": str(cert), "log": log_path}
    yield info
    rc = stop_server(proc)
    logf.close()
    assert rc == 0, log_path.read_text()[-3000:]


def client(server):
    return PartyClient(server["addr"], tls_ca=server["ca"])


def server_log(server):
    time.sleep(0.2)
    return server["log"].read_text()


def assert_still_serving(server):
    """Health is SERVING, nothing left active, and a demo query gives the right answer."""
    with client(server) as c:
        for _ in range(100):
            h = c.health()
            if h["active_sessions"] == 0:
                break
            time.sleep(0.1)
        assert h["status"] == "SERVING" and h["active_sessions"] == 0
        x = np.arange(-8, 8)
        q = c.run("demo", x, model="demo")
    m = load_model("demo")
    assert q.result["y"] == (m.weights["W"] @ x + m.weights["b"]).tolist()
    return h


def raw_session(server, chunks, job="bench-channel", params=None):
    """Handshake properly, then push raw serialized chunks on the Session stream."""
    with client(server) as c:
        info = c.handshake(job, params=params or {"mode": "pingpong", "rounds": 1, "size": 8})
    ch = grpc.secure_channel(server["addr"], grpc.ssl_channel_credentials(server["ca"]), options=grpc_options())
    try:
        call = ch.stream_stream("/party.v1.Party/Session", request_serializer=lambda b: b, response_deserializer=lambda b: b)
        with pytest.raises(grpc.RpcError) as ei:
            list(call(iter(chunks), metadata=((SESSION_METADATA, info.session_id),), timeout=30))
        return ei.value.code(), ei.value.details()
    finally:
        ch.close()


def arrays_frame(nbytes_claimed: int, nbytes_sent: int) -> bytes:
    import struct

    return _PRE.pack(0.0, 2, 1) + struct.pack("<BBq", 6, 1, nbytes_claimed // 8) + b"\0" * nbytes_sent


def test_demo_query_over_tls_from_another_process(server, tmp_path):
    rep = tmp_path / "cost.json"
    x = list(range(1, 17))
    out = subprocess.run(
        [PY, "-m", "party.cli", "query", "--server", server["addr"], "--tls-ca", server["ca_path"], "--job", "demo",
         "--input", ",".join(map(str, x)), "--json", "--report", str(rep), "--no-progress"],
        capture_output=True, text=True, timeout=120,
    )
    assert out.returncode == 0, out.stderr
    res = json.loads(out.stdout)
    m = load_model("demo")
    assert res["result"]["y"] == (m.weights["W"] @ np.array(x) + m.weights["b"]).tolist()
    cost = json.loads(rep.read_text())
    assert cost["total"]["rounds"] == 1 and cost["total"]["bytes_s2c"] > 0 and cost["total"]["bytes_c2s"] > 0
    assert {s["scope"] for s in cost["scopes"]} == {"demo/send_input", "demo/result_share", "demo/reveal"}
    assert cost["total"]["bytes_c2s"] == sum(s["bytes_c2s"] for s in cost["scopes"])


def test_malformed_chunk(server):
    code, details = raw_session(server, [b"\xff\xff\xff\xff"])
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "malformed chunk" in details
    assert "malformed chunk" in server_log(server)
    assert_still_serving(server)


def test_truncated_frames(server):
    # chunks that end before the announced size
    code, details = raw_session(server, [encode_chunk(0, 0, False, 100, [b"x" * 10]), encode_chunk(0, 1, True, 100, [b"y" * 10])])
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "truncated" in details
    # a chunk index skipped
    code, details = raw_session(server, [encode_chunk(0, 0, False, 100, [b"x" * 10]), encode_chunk(0, 2, True, 100, [b"y" * 90])])
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "chunk 2 arrived, chunk 1 expected" in details
    # the stream stops in the middle of a frame
    code, details = raw_session(server, [encode_chunk(0, 0, False, 100, [b"x" * 10])])
    assert code == grpc.StatusCode.ABORTED and "middle of frame" in details
    # a complete frame whose message body is shorter than its header says
    f = arrays_frame(8, 0)
    code, details = raw_session(server, [encode_chunk(0, 0, True, len(f), [f])])
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "truncated" in details
    assert_still_serving(server)


def test_oversized_messages(server):
    # a frame larger than --max-message-mb is refused from its first chunk, before allocation
    code, details = raw_session(server, [encode_chunk(0, 0, False, (MAX_MB + 1) << 20, [b"x" * 10])])
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "exceeds" in details and "--max-message-mb" in details
    # a single gRPC message above the 4 MiB limit is refused by gRPC itself
    code, details = raw_session(server, [encode_chunk(0, 0, True, MAX_GRPC_MESSAGE + 10, [b"x" * (MAX_GRPC_MESSAGE + 10)])])
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED
    # a well-formed message that is larger than the job allows
    f = arrays_frame(16, 16)
    code, details = raw_session(server, [encode_chunk(0, 0, True, len(f), [f])])
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "expected shape (1,)" in details
    assert "exceeds" in server_log(server)
    assert_still_serving(server)


def test_client_killed_mid_session(server):
    with client(server) as c:
        before = c.health()["sessions_failed"]
    p = subprocess.Popen(
        [PY, "-m", "party.cli", "--log-level", "ERROR", "query", "--server", server["addr"], "--tls-ca", server["ca_path"],
         "--job", "bench-channel", "--param", "mode=pingpong", "--param", "rounds=1000000", "--no-progress"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        with client(server) as c:
            for _ in range(300):
                if c.health()["active_sessions"] >= 1:
                    break
                time.sleep(0.1)
            else:
                pytest.fail("the client never started its session")
            time.sleep(0.3)
            os.kill(p.pid, signal.SIGKILL)
            p.wait(10)
            for _ in range(100):
                h = c.health()
                if h["active_sessions"] == 0:
                    break
                time.sleep(0.1)
        assert h["sessions_failed"] == before + 1
    finally:
        if p.poll() is None:
            p.kill()
    assert_still_serving(server)


def test_version_mismatch(server):
    with client(server) as c:
        with pytest.raises(HandshakeError, match="protocol version mismatch: client speaks v99, server speaks v1") as ei:
            c.handshake("demo", model="demo", protocol_version=99)
    assert ei.value.code == grpc.StatusCode.FAILED_PRECONDITION
    assert "protocol version mismatch" in server_log(server)
    assert_still_serving(server)


def test_config_mismatch_cli_both_sides(server):
    out = subprocess.run(
        [PY, "-m", "party.cli", "query", "--server", server["addr"], "--tls-ca", server["ca_path"], "--job", "demo",
         "--config", "ell=32", "--config", "frac=12", "--no-progress"],
        capture_output=True, text=True, timeout=120,
    )
    assert out.returncode == 1
    assert "protocol configuration mismatch" in out.stderr and "ell: server=64 client=32" in out.stderr
    assert "frac: server=18 client=12" in out.stderr
    assert "ell: server=64 client=32" in server_log(server)
    assert_still_serving(server)


def test_he_params_and_model_hash_mismatch(server):
    ch = grpc.secure_channel(server["addr"], grpc.ssl_channel_credentials(server["ca"]))
    stub = pb_grpc.PartyStub(ch)
    from protocols.config import get_config

    cfg = get_config()
    req = pb.HandshakeRequest(protocol_version=1, job="demo", model_id="demo", config_fingerprint=cfg.fingerprint(),
                              he_params_json=json.dumps({"scheme": "bfv", "poly_modulus_degree": 8192, "plain_modulus": 1032193, "library": "tenseal"}))
    with pytest.raises(grpc.RpcError) as ei:
        stub.Handshake(req, timeout=10)
    assert ei.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "HE parameter mismatch" in ei.value.details() and "poly_modulus_degree: server=4096 client=8192" in ei.value.details()
    ch.close()
    with client(server) as c:
        with pytest.raises(HandshakeError, match="model hash mismatch"):
            c.handshake("demo", model="demo", model_hash="0" * 32)
    assert_still_serving(server)


def test_unknown_model_and_job(server):
    with client(server) as c:
        with pytest.raises(HandshakeError, match="model 'nope' is not served here \\(served: demo\\)") as ei:
            c.handshake("demo", model="nope")
        assert ei.value.code == grpc.StatusCode.NOT_FOUND
    # an unknown job is refused by the server even if the client has it
    req = pb.HandshakeRequest(protocol_version=1, job="no-such-job")
    ch = grpc.secure_channel(server["addr"], grpc.ssl_channel_credentials(server["ca"]))
    with pytest.raises(grpc.RpcError) as ei:
        pb_grpc.PartyStub(ch).Handshake(req, timeout=10)
    ch.close()
    assert ei.value.code() == grpc.StatusCode.NOT_FOUND and "unknown job 'no-such-job'" in ei.value.details()
    assert "not served here" in server_log(server)
    assert_still_serving(server)


def test_unknown_model_at_serve_time():
    out = subprocess.run([PY, "-m", "party.cli", "serve", "--model", "nope", "--insecure-plaintext", "--port", "0"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "unknown model 'nope'" in out.stderr and "demo" in out.stderr


def test_sigterm_lets_running_session_finish(tmp_path):
    logf = open(tmp_path / "s.log", "w")
    proc, port = start_server(["--insecure-plaintext", "--grace", "20"], log_level="INFO", stderr=logf)
    q = subprocess.Popen(
        [PY, "-m", "party.cli", "query", "--server", f"127.0.0.1:{port}", "--insecure-plaintext", "--job", "bench-channel",
         "--param", "mode=pingpong", "--param", "rounds=1500", "--profile", "lan", "--json", "--no-progress"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        with PartyClient(f"127.0.0.1:{port}", insecure_plaintext=True) as c:
            for _ in range(300):
                if c.health()["active_sessions"] >= 1:
                    break
                time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        out, err = q.communicate(timeout=60)
        assert q.returncode == 0, err
        assert json.loads(out)["cost"]["total"]["rounds"] == 1500
        assert proc.wait(30) == 0
    finally:
        for p in (q, proc):
            if p.poll() is None:
                p.kill()
        logf.close()
    log = (tmp_path / "s.log").read_text()
    assert "draining" in log and "1 sessions served" in log


def test_unknown_session_id_and_reuse(server):
    ch = grpc.secure_channel(server["addr"], grpc.ssl_channel_credentials(server["ca"]), options=grpc_options())
    call = ch.stream_stream("/party.v1.Party/Session", request_serializer=lambda b: b, response_deserializer=lambda b: b)
    with pytest.raises(grpc.RpcError) as ei:
        list(call(iter([]), metadata=((SESSION_METADATA, "f" * 32),), timeout=10))
    ch.close()
    assert ei.value.code() == grpc.StatusCode.NOT_FOUND and "handshake first" in ei.value.details()
    assert_still_serving(server)

"""The gRPC client: health, handshake, and running a job's client side on a session.

    from party.client import PartyClient
    with PartyClient("127.0.0.1:50051", tls_ca=open("ca.pem","rb").read()) as c:
        out = c.run("demo", inputs=None, model="demo")
        out.result, out.channel.total, out.channel.records

A rejected handshake raises :class:`HandshakeError` (its message is the server's reason, which
names the mismatch and what to do); a session that fails raises the channel's
:class:`~protocols.channel.ProtocolError`/``PeerDisconnected`` naming the gRPC status.
"""
from __future__ import annotations

import contextvars
import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import grpc

from protocols.channel import PeerDisconnected, ProtocolError
from protocols.config import Config, get_config, set_config

from proto import party_pb2 as pb
from proto import party_pb2_grpc as pb_grpc

from . import __version__
from .grpc_channel import MAX_GRPC_MESSAGE, SESSION_SERIALIZERS, GrpcChannel, _rpc_error, grpc_options
from .jobs import get_job
from .server import PROTOCOL_VERSION, SESSION_METADATA

log = logging.getLogger("party.client")


class HandshakeError(RuntimeError):
    """The server refused the session; ``code`` is the gRPC status, the message its reason."""

    def __init__(self, message: str, code: grpc.StatusCode | None = None):
        super().__init__(message)
        self.code = code


class ServerUnavailable(RuntimeError):
    pass


@dataclass
class HandshakeInfo:
    session_id: str
    job: str
    model_id: str
    model_hash: str
    model_info: dict
    params: dict
    profile: str
    max_frame_bytes: int
    server_version: str


@dataclass
class QueryResult:
    result: Any
    channel: GrpcChannel
    info: HandshakeInfo
    time_s: float  # session time (after the handshake)
    handshake_s: float = 0.0
    extra: dict = field(default_factory=dict)


class PartyClient:
    def __init__(
        self,
        address: str,
        tls_ca: bytes | None = None,
        insecure_plaintext: bool = False,
        server_name: str | None = None,
        config: Config | None = None,
    ):
        self.address = address
        self.config = config or get_config()
        opts = grpc_options(MAX_GRPC_MESSAGE)
        if insecure_plaintext:
            self._channel = grpc.insecure_channel(address, options=opts)
        else:
            if server_name:
                opts.append(("grpc.ssl_target_name_override", server_name))
            creds = grpc.ssl_channel_credentials(root_certificates=tls_ca)
            self._channel = grpc.secure_channel(address, creds, options=opts)
        self.stub = pb_grpc.PartyStub(self._channel)
        # the Session stream with the pre-encoded chunk codec (same wire format as party_pb2.Chunk)
        self._session = self._channel.stream_stream(
            "/party.v1.Party/Session",
            request_serializer=SESSION_SERIALIZERS["serializer"],
            response_deserializer=SESSION_SERIALIZERS["deserializer"],
        )

    def __enter__(self) -> "PartyClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._channel.close()

    def _unavailable(self, e: grpc.RpcError, what: str) -> Exception:
        return ServerUnavailable(f"{what} {self.address} failed: {e.code().name}: {e.details()}")

    def health(self, timeout: float = 5.0) -> dict:
        try:
            r = self.stub.Health(pb.HealthRequest(), timeout=timeout, wait_for_ready=True)
        except grpc.RpcError as e:
            raise self._unavailable(e, "health check of") from None
        return {
            "status": r.status, "protocol_version": r.protocol_version, "models": list(r.models), "jobs": list(r.jobs),
            "active_sessions": r.active_sessions, "sessions_served": r.sessions_served,
            "sessions_failed": r.sessions_failed, "server_version": r.server_version,
        }

    def handshake(
        self,
        job: str,
        model: str = "",
        params: dict | None = None,
        profile: str = "none",
        model_hash: str = "",
        protocol_version: int = PROTOCOL_VERSION,
        timeout: float = 30.0,
    ) -> HandshakeInfo:
        params = dict(params or {})
        j = get_job(job)
        req = pb.HandshakeRequest(
            protocol_version=protocol_version,
            job=job,
            model_id=model,
            model_hash=model_hash,
            config_fingerprint=self.config.fingerprint(),
            config_json=json.dumps(self.config.to_dict(), sort_keys=True, default=str),
            he_params_json=json.dumps(j.he_params(params)),
            profile=profile or "none",
            params_json=json.dumps(params),
            client_version=__version__,
        )
        try:
            r = self.stub.Handshake(req, timeout=timeout, wait_for_ready=True)
        except grpc.RpcError as e:
            code = e.code()
            if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED) and "shutting down" not in (e.details() or ""):
                raise self._unavailable(e, "connecting to") from None
            raise HandshakeError(f"the server at {self.address} rejected the session ({code.name}): {e.details()}", code) from None
        return HandshakeInfo(
            session_id=r.session_id, job=job, model_id=r.model_id, model_hash=r.model_hash,
            model_info=json.loads(r.model_info_json or "{}"), params=params, profile=profile or "none",
            max_frame_bytes=r.max_frame_bytes, server_version=r.server_version,
        )

    def open_session(self, info: HandshakeInfo, timeout: float | None = 600.0) -> tuple[GrpcChannel, Any]:
        """Open the Session stream; returns the channel and the gRPC call (cancel() to kill it)."""
        ch = GrpcChannel(1, profile=info.profile, max_message=max(info.max_frame_bytes, 1 << 20), timeout=timeout, name=info.session_id[:8])
        call = self._session(ch.outgoing(), metadata=((SESSION_METADATA, info.session_id),))
        ch.start_reader(call, describe_error=_rpc_error)
        return ch, call

    def run(
        self,
        job: str,
        inputs: Any = None,
        model: str = "",
        params: dict | None = None,
        profile: str = "none",
        timeout: float | None = 600.0,
        on_bytes: Callable[[str, int], None] | None = None,
        model_hash: str = "",
    ) -> QueryResult:
        """Handshake, run the job's client side on a fresh session, close it; return the result."""
        t0 = time.perf_counter()
        info = self.handshake(job, model=model, params=params, profile=profile, model_hash=model_hash)
        t1 = time.perf_counter()
        ch, call = self.open_session(info, timeout=timeout)
        ch.on_progress = on_bytes
        j = get_job(job)
        cparams = dict(info.params, model_info=info.model_info)
        try:
            result = _run_in_config(self.config, j.client, ch, cparams, inputs)
        except BaseException:
            ch.abort("client failed")
            call.cancel()
            raise
        t2 = time.perf_counter()
        ch.close()
        return QueryResult(result=result, channel=ch, info=info, time_s=t2 - t1, handshake_s=t1 - t0)


def _run_in_config(cfg: Config, f, *args):
    ctx = contextvars.copy_context()

    def go():
        set_config(cfg)
        return f(*args)

    return ctx.run(go)


__all__ = ["PartyClient", "HandshakeError", "ServerUnavailable", "HandshakeInfo", "QueryResult", "ProtocolError", "PeerDisconnected"]

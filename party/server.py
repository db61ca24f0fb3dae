"""The gRPC server: handshake, sessions (one job run per session), health, graceful shutdown.

``make_server(...)`` builds a :class:`grpc.Server` around :class:`PartyService`; ``serve(...)``
runs it until SIGINT/SIGTERM.  Many sessions run concurrently (one gRPC worker thread drives
each session's response stream, one thread runs its job, one reads its requests).  Any error in
a session — malformed frame, oversized message, the client vanishing, a job exception — ends
only that session, with a gRPC status whose details name the problem; the server keeps serving.
"""
from __future__ import annotations

import contextvars
import json
import logging
import secrets
import signal
import threading
import time
from concurrent import futures
from dataclasses import dataclass, field

import grpc

from protocols.channel import PROFILES, PeerDisconnected, ProtocolError
from protocols.config import Config, get_config, set_config

from proto import party_pb2 as pb
from proto import party_pb2_grpc as pb_grpc

from . import __version__
from .grpc_channel import CHUNK_BYTES, MAX_GRPC_MESSAGE, SESSION_SERIALIZERS, GrpcChannel, grpc_options
from .jobs import get_job, list_jobs
from .models import LoadedModel

log = logging.getLogger("party.server")

PROTOCOL_VERSION = 1
SESSION_METADATA = "party-session-id"


@dataclass
class ServerOptions:
    max_message_mb: float = 2048.0
    """Largest frame (one protocol message) a client may send, MiB."""
    max_sessions: int = 8
    """Concurrent sessions; further handshakes get RESOURCE_EXHAUSTED."""
    recv_timeout_s: float = 600.0
    """A session whose client is silent this long is ended."""
    handshake_ttl_s: float = 60.0
    """A session id must be used within this time after the handshake."""

    @property
    def max_message_bytes(self) -> int:
        return int(self.max_message_mb * (1 << 20))


@dataclass
class _Pending:
    job: str
    model: LoadedModel | None
    params: dict
    profile: str
    created: float = field(default_factory=time.monotonic)


def config_diff(mine: dict, theirs: dict) -> str:
    keys = sorted(set(mine) | set(theirs))
    diffs = [f"{k}: server={mine.get(k)!r} client={theirs.get(k)!r}" for k in keys if mine.get(k) != theirs.get(k)]
    return "; ".join(diffs)


class HandshakeRejected(Exception):
    def __init__(self, code: grpc.StatusCode, message: str):
        super().__init__(message)
        self.code = code


class PartyService(pb_grpc.PartyServicer):
    def __init__(self, models: dict[str, LoadedModel], config: Config | None = None, options: ServerOptions | None = None):
        self.models = models
        self.config = config or get_config()
        self.options = options or ServerOptions()
        self._pending: dict[str, _Pending] = {}
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)  # notified when the last session's bookkeeping ends
        self.active = 0
        self.served = 0
        self.failed = 0
        self.draining = False
        self._channels: dict[str, GrpcChannel] = {}

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no session is active (each handler's bookkeeping done), at most ``timeout``
        seconds; whether that happened."""
        with self._idle:
            return self._idle.wait_for(lambda: not self.active, timeout)

    # --- handshake ------------------------------------------------------------------------------
    def _check(self, req: pb.HandshakeRequest) -> _Pending:
        S = grpc.StatusCode
        if self.draining:
            raise HandshakeRejected(S.UNAVAILABLE, "the server is shutting down; try again later or elsewhere")
        if req.protocol_version != PROTOCOL_VERSION:
            raise HandshakeRejected(
                S.FAILED_PRECONDITION,
                f"protocol version mismatch: client speaks v{req.protocol_version}, server speaks v{PROTOCOL_VERSION}; "
                f"install the same party version on both sides",
            )
        try:
            job = get_job(req.job)
        except KeyError as e:
            raise HandshakeRejected(S.NOT_FOUND, str(e.args[0])) from None
        model = None
        if job.needs_model or req.model_id:
            if req.model_id not in self.models:
                served = ", ".join(sorted(self.models)) or "(none)"
                raise HandshakeRejected(
                    S.NOT_FOUND,
                    f"model {req.model_id!r} is not served here (served: {served}); "
                    f"query one of those or start the server with --model {req.model_id or 'NAME'}",
                )
            model = self.models[req.model_id]
            if req.model_hash and req.model_hash != model.hash:
                raise HandshakeRejected(
                    S.FAILED_PRECONDITION,
                    f"model hash mismatch for {model.name!r}: client expects {req.model_hash}, server has {model.hash}; "
                    f"the server's weights differ from the ones the client was built for",
                )
        if req.config_fingerprint != self.config.fingerprint():
            try:
                theirs = json.loads(req.config_json or "{}")
            except ValueError:
                theirs = {}
            diff = config_diff(self.config.to_dict(), theirs) or "(client sent no config details)"
            raise HandshakeRejected(
                S.FAILED_PRECONDITION,
                f"protocol configuration mismatch (fingerprint server={self.config.fingerprint()} "
                f"client={req.config_fingerprint}): {diff}; run both sides with the same settings",
            )
        try:
            params = json.loads(req.params_json or "{}")
            if not isinstance(params, dict):
                raise ValueError("not a JSON object")
        except ValueError as e:
            raise HandshakeRejected(S.INVALID_ARGUMENT, f"job parameters are not a JSON object: {e}") from None
        mine_he = job.he_params(params)
        try:
            theirs_he = json.loads(req.he_params_json or "{}")
        except ValueError:
            theirs_he = None
        if theirs_he != mine_he:
            diff = config_diff(mine_he, theirs_he) if isinstance(theirs_he, dict) else "unparseable"
            raise HandshakeRejected(
                S.FAILED_PRECONDITION,
                f"HE parameter mismatch for job {req.job!r}: {diff}; run both sides with the same party version/settings",
            )
        profile = req.profile or "none"
        if profile not in PROFILES:
            raise HandshakeRejected(S.INVALID_ARGUMENT, f"unknown network profile {profile!r}; choose one of {', '.join(PROFILES)}")
        try:
            job.validate_params(params)
        except ValueError as e:
            raise HandshakeRejected(S.INVALID_ARGUMENT, f"job {req.job!r} rejects its parameters: {e}") from None
        with self._lock:
            if self.active + len(self._pending) >= self.options.max_sessions:
                raise HandshakeRejected(
                    S.RESOURCE_EXHAUSTED, f"the server is busy ({self.options.max_sessions} sessions); retry later"
                )
        return _Pending(job=req.job, model=model, params=params, profile=profile)

    def Handshake(self, request, context):
        peer = context.peer()
        self._expire_pending()
        try:
            pending = self._check(request)
        except HandshakeRejected as e:
            log.warning("handshake from %s rejected (%s): %s", peer, e.code.name, e)
            context.abort(e.code, str(e))
        sid = secrets.token_hex(16)
        with self._lock:
            self._pending[sid] = pending
        m = pending.model
        log.info("handshake from %s: session %s job=%s model=%s profile=%s", peer, sid[:8], pending.job, m.name if m else "-", pending.profile)
        return pb.HandshakeReply(
            session_id=sid,
            protocol_version=PROTOCOL_VERSION,
            model_id=m.name if m else "",
            model_hash=m.hash if m else "",
            model_info_json=json.dumps(m.info if m else {}),
            config_fingerprint=self.config.fingerprint(),
            he_params_json=json.dumps(get_job(pending.job).he_params(pending.params)),
            max_frame_bytes=self.options.max_message_bytes,
            max_chunk_bytes=CHUNK_BYTES,
            server_version=__version__,
        )

    def _expire_pending(self) -> None:
        now = time.monotonic()
        with self._lock:
            for sid in [s for s, p in self._pending.items() if now - p.created > self.options.handshake_ttl_s]:
                del self._pending[sid]

    # --- session -------------------------------------------------------------------------------
    def Session(self, request_iterator, context):
        md = dict(context.invocation_metadata())
        sid = md.get(SESSION_METADATA, "")
        with self._lock:
            pending = self._pending.pop(sid, None)
            if pending is not None:
                self.active += 1
        if pending is None:
            log.warning("session stream from %s with unknown or expired session id %r", context.peer(), sid[:8])
            context.abort(grpc.StatusCode.NOT_FOUND, "unknown or expired session id; do the handshake first (ids expire and are single-use)")
        tag = sid[:8]
        ch = GrpcChannel(0, profile=pending.profile, max_message=self.options.max_message_bytes, timeout=self.options.recv_timeout_s, name=tag)
        context.add_callback(lambda: ch.abort("the client went away (RPC cancelled)"))
        ch.start_reader(request_iterator)
        job = get_job(pending.job)
        outcome: dict = {}
        cfg = self.config

        def run_job() -> None:
            t0 = time.perf_counter()
            try:
                set_config(cfg)
                job.server(ch, pending.model, pending.params)
                outcome["ok"] = True
                ch.close()
            except PeerDisconnected as e:
                outcome["error"] = (grpc.StatusCode.ABORTED, f"session ended: {e}")
                ch.abort(str(e))
            except ProtocolError as e:
                outcome["error"] = (grpc.StatusCode.INVALID_ARGUMENT, f"protocol error: {e}")
                ch.abort(str(e))
            except Exception as e:  # noqa: BLE001 - the job's bug must not take the server down
                log.exception("session %s: job %s failed", tag, pending.job)
                outcome["error"] = (grpc.StatusCode.INTERNAL, f"job {pending.job!r} failed on the server: {type(e).__name__}: {e}")
                ch.abort(str(e))
            outcome["time_s"] = time.perf_counter() - t0

        t = threading.Thread(target=contextvars.Context().run, args=(run_job,), name=f"party-job-{tag}", daemon=True)
        t.start()
        try:
            yield from ch.outgoing()
        finally:
            t.join()
            with self._lock:
                self.active -= 1
                if not self.active:
                    self._idle.notify_all()
                if "error" in outcome:
                    self.failed += 1
                else:
                    self.served += 1
            c = ch.total
            if "error" in outcome:
                code, msg = outcome["error"]
                log.warning("session %s (%s) failed after %.3f s: %s", tag, pending.job, outcome.get("time_s", 0), msg)
                context.set_code(code)
                context.set_details(msg)
            else:
                log.info(
                    "session %s (%s) done in %.3f s: sent %d B, received %d B, %d rounds",
                    tag, pending.job, outcome.get("time_s", 0), c.bytes_sent, c.bytes_recv, c.rounds,
                )

    # --- health --------------------------------------------------------------------------------
    def Health(self, request, context):
        return pb.HealthReply(
            status="DRAINING" if self.draining else "SERVING",
            protocol_version=PROTOCOL_VERSION,
            models=sorted(self.models),
            jobs=list_jobs(),
            active_sessions=self.active,
            sessions_served=self.served,
            sessions_failed=self.failed,
            server_version=__version__,
        )


SERVICE_NAME = "party.v1.Party"


def add_party_service(server: grpc.Server, service: PartyService) -> None:
    """Register the service like ``party_pb2_grpc.add_PartyServicer_to_server`` does, except that
    the Session stream uses the pre-encoded chunk codec of ``party.grpc_channel`` (same wire
    format as ``Chunk``, fewer copies)."""
    handlers = {
        "Handshake": grpc.unary_unary_rpc_method_handler(
            service.Handshake,
            request_deserializer=pb.HandshakeRequest.FromString,
            response_serializer=pb.HandshakeReply.SerializeToString,
        ),
        "Session": grpc.stream_stream_rpc_method_handler(
            service.Session,
            request_deserializer=SESSION_SERIALIZERS["deserializer"],
            response_serializer=SESSION_SERIALIZERS["serializer"],
        ),
        "Health": grpc.unary_unary_rpc_method_handler(
            service.Health,
            request_deserializer=pb.HealthRequest.FromString,
            response_serializer=pb.HealthReply.SerializeToString,
        ),
    }
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE_NAME, handlers),))


def make_server(
    models: dict[str, LoadedModel],
    host: str = "127.0.0.1",
    port: int = 0,
    tls_cert: bytes | None = None,
    tls_key: bytes | None = None,
    options: ServerOptions | None = None,
    config: Config | None = None,
) -> tuple[grpc.Server, PartyService, int]:
    """Build and start a server; returns ``(server, service, bound_port)``."""
    options = options or ServerOptions()
    service = PartyService(models, config=config, options=options)
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=options.max_sessions + 8, thread_name_prefix="party-grpc"),
        # no SO_REUSEPORT: a second server on a busy port must fail, not share the port silently
        options=[*grpc_options(MAX_GRPC_MESSAGE), ("grpc.so_reuseport", 0)],
    )
    add_party_service(server, service)
    addr = f"{host}:{port}"
    try:
        if tls_cert is not None:
            if tls_key is None:
                raise ValueError("TLS needs both a certificate and a key")
            bound = server.add_secure_port(addr, grpc.ssl_server_credentials([(tls_key, tls_cert)]))
        else:
            bound = server.add_insecure_port(addr)
    except RuntimeError as e:  # newer grpcio raises instead of returning 0
        raise OSError(f"could not bind {addr} (port in use?): {e}") from None
    if bound == 0:
        raise OSError(f"could not bind {addr} (port in use?)")
    server.start()
    return server, service, bound


def serve(
    models: dict[str, LoadedModel],
    host: str,
    port: int,
    tls_cert: bytes | None = None,
    tls_key: bytes | None = None,
    options: ServerOptions | None = None,
    grace_s: float = 10.0,
    ready: "callable | None" = None,
) -> int:
    """Run until SIGINT/SIGTERM: then refuse new handshakes, let running sessions finish for up
    to ``grace_s`` seconds, cancel the rest, and return 0."""
    server, service, bound = make_server(models, host, port, tls_cert, tls_key, options)
    stop = threading.Event()

    def on_signal(signum, frame):
        log.info("received %s: draining (grace %.0f s)", signal.Signals(signum).name, grace_s)
        service.draining = True
        stop.set()

    old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    log.info(
        "serving models [%s], jobs [%s] on %s:%d (%s)",
        ", ".join(sorted(models)) or "-", ", ".join(list_jobs()), host, bound, "TLS" if tls_cert else "plaintext",
    )
    # one machine-readable line so scripts can find the port (port 0 = pick a free one)
    print(f"party serve: listening on {host}:{bound}", flush=True)
    if ready is not None:
        ready(bound)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        server.stop(grace_s).wait()
        # gRPC may report a stream finished once the client has read its last message, while
        # the session's handler thread is still doing its bookkeeping: let it finish
        service.wait_idle(5.0)
        for s, h in old.items():
            signal.signal(s, h)
    log.info("stopped: %d sessions served, %d failed", service.served, service.failed)
    return 0

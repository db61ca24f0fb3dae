"""The gRPC implementation of :class:`protocols.channel.Channel`.

One session = one bidirectional ``Session`` stream of :class:`proto.party_pb2.Chunk` messages.
A *frame* (one Channel message: header + payload, see ``protocols/channel.py``) is split into chunks
of at most ``chunk_bytes`` (default just under 4 MiB, so every gRPC message stays <= 4 MiB):

    Chunk(frame_id, index, last, total_size, data)

``frame_id`` counts frames per direction from 0, ``index`` counts chunks inside a frame from 0,
``total_size`` is the full frame size (equal in every chunk of a frame) and ``last`` marks the
final chunk.  The receiver checks all four and the running size, so a malformed, reordered,
truncated or oversized frame raises :class:`ProtocolError` with a message that says what was
wrong, before any memory for an oversized frame is allocated (``max_message`` is the per-frame
limit; the server sets it from ``--max-message-mb``).

Threads (why): gRPC's Python API is iterator based.  Outgoing chunks go through a bounded queue
that gRPC drains from its own thread (the request iterator on the client, the response generator
on the server), so ``send`` returns once its data is copied into chunks and the protocol can
compute while the bytes move.  A reader thread drains the incoming stream, checks and reassembles
frames and queues whole frames; that makes ``recv`` timeouts possible and keeps the peer's sender
from stalling on flow control while this party is still computing (the incoming queue is not
bounded: a simultaneous ``exchange`` of two large frames must not deadlock).

Errors: a peer that goes away (stream ends, RPC cancelled, process killed) makes the next ``recv``
raise :class:`PeerDisconnected`; a ``recv`` that waits longer than ``timeout`` seconds raises
:class:`PeerDisconnected` too.  The error is sticky: every later ``recv``/``send`` raises again.
"""
from __future__ import annotations

import logging
import queue
import threading
from typing import Any, Callable, Iterable, Iterator

import grpc

from protocols.channel import DEFAULT_MAX_MESSAGE, Channel, PeerDisconnected, Profile, ProtocolError

from proto import party_pb2 as pb

log = logging.getLogger("party.channel")

MAX_GRPC_MESSAGE = 4 << 20
"""Largest gRPC message on the Session stream (both directions); also the gRPC channel option."""
CHUNK_BYTES = MAX_GRPC_MESSAGE - 1024
"""Largest chunk payload (leaves room for the chunk's own fields inside one 4 MiB message)."""
OUT_QUEUE_CHUNKS = 32
"""Outgoing chunks buffered before ``send`` blocks (bounds memory at ~128 MiB per session)."""
FRAME_SLACK = 1 << 16
"""A frame may exceed ``max_message`` (the payload limit) by this much header."""

_END = object()  # sentinel on the outgoing queue: end the stream


def grpc_options(max_message: int = MAX_GRPC_MESSAGE) -> list[tuple[str, Any]]:
    """gRPC channel/server options used on both ends: explicit message limits, keepalive."""
    return [
        ("grpc.max_send_message_length", max_message),
        ("grpc.max_receive_message_length", max_message),
        ("grpc.keepalive_time_ms", 30_000),
        ("grpc.keepalive_timeout_ms", 20_000),
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.http2.max_pings_without_data", 0),
    ]


class GrpcChannel(Channel):
    """One end of a session's ``Session`` stream.

    Server side: ``ch = GrpcChannel(0, ...)``, ``ch.start_reader(request_iterator)`` and return
    ``ch.outgoing()`` (or yield from it) as the response stream.  Client side: pass
    ``ch.outgoing()`` as the request iterator of the stub call and ``ch.start_reader(responses)``.
    """

    def __init__(
        self,
        party: int,
        profile: str | Profile | None = None,
        max_message: int = DEFAULT_MAX_MESSAGE,
        timeout: float | None = 600.0,
        chunk_bytes: int = CHUNK_BYTES,
        name: str = "",
    ):
        super().__init__(party, profile=profile, max_message=max_message)
        if not 1 <= chunk_bytes <= CHUNK_BYTES:
            raise ValueError(f"chunk_bytes must be in 1..{CHUNK_BYTES}")
        self.chunk_bytes = chunk_bytes
        self.timeout = timeout
        self.name = name
        self._out: queue.Queue = queue.Queue(maxsize=OUT_QUEUE_CHUNKS)
        self._in: queue.Queue = queue.Queue()
        self._next_frame_id = 0
        self._ended = False  # no more outgoing chunks (close() or abort())
        self._error: BaseException | None = None  # sticky error seen on the incoming side
        self._reader: threading.Thread | None = None
        self.on_progress: Callable[[str, int], None] | None = None
        """Optional callback (direction, nbytes) after each chunk moves (progress bars)."""

    # --- outgoing --------------------------------------------------------------------------------
    def _put_out(self, item: Any) -> None:
        while True:
            if self._error is not None and item is not _END:
                raise self._error
            try:
                self._out.put(item, timeout=0.5)
                return
            except queue.Full:
                continue

    def _send_frame(self, parts: list) -> None:
        if self._ended:
            raise PeerDisconnected("send on a closed channel")
        if self._error is not None:
            raise self._error
        views = [memoryview(p).cast("B") if not isinstance(p, bytes) else p for p in parts]
        total = sum(len(v) for v in views)
        fid = self._next_frame_id
        self._next_frame_id += 1
        cb = self.chunk_bytes
        index = 0
        pending: list = []
        pending_len = 0
        sent = 0

        def emit(last: bool) -> None:
            nonlocal index, pending, pending_len, sent
            data = pending[0] if len(pending) == 1 and isinstance(pending[0], bytes) else b"".join(pending)
            self._put_out(pb.Chunk(frame_id=fid, index=index, last=last, total_size=total, data=data))
            sent += len(data)
            index += 1
            pending, pending_len = [], 0
            if self.on_progress is not None:
                self.on_progress("send", len(data))

        for v in views:
            pos, n = 0, len(v)
            while pos < n:
                take = min(cb - pending_len, n - pos)
                pending.append(v[pos : pos + take])
                pending_len += take
                pos += take
                if pending_len == cb and sent + pending_len < total:
                    emit(False)
        emit(True)

    def outgoing(self) -> Iterator[pb.Chunk]:
        """The chunk stream to hand to gRPC; ends after :meth:`close` or :meth:`abort`."""
        while True:
            item = self._out.get()
            if item is _END:
                return
            yield item

    def close(self) -> None:
        """Send the close frame and end the outgoing stream (idempotent)."""
        if self._ended:
            return
        try:
            if self._error is None:
                self._send_frame([self.close_frame()])
        except BaseException:  # noqa: BLE001 - closing must not raise
            pass
        self._ended = True
        self._put_out(_END)

    def abort(self, reason: str = "session aborted") -> None:
        """End both directions now (the RPC was cancelled or failed): wakes a blocked recv/send."""
        if self._error is None:
            self._error = PeerDisconnected(reason)
        self._in.put(self._error)
        if not self._ended:
            self._ended = True
            # make room so the sentinel always fits, then wake the outgoing generator
            try:
                while True:
                    self._out.get_nowait()
            except queue.Empty:
                pass
            self._out.put(_END)

    # --- incoming --------------------------------------------------------------------------------
    def start_reader(self, chunks: Iterable[pb.Chunk], describe_error: Callable[[BaseException], BaseException] | None = None) -> None:
        """Drain ``chunks`` in a background thread, reassembling frames into the incoming queue."""

        def run() -> None:
            try:
                self._read_loop(iter(chunks))
                err: BaseException = PeerDisconnected("the peer ended the stream")
            except ProtocolError as e:
                err = e
            except grpc.RpcError as e:
                err = describe_error(e) if describe_error else _rpc_error(e)
            except Exception as e:  # noqa: BLE001 - anything else ends the session with a message
                err = PeerDisconnected(f"stream failed: {type(e).__name__}: {e}")
            if self._error is None:
                self._error = err
            self._in.put(err)

        self._reader = threading.Thread(target=run, name=f"party-reader-{self.name}", daemon=True)
        self._reader.start()

    def _read_loop(self, it: Iterator[pb.Chunk]) -> None:
        limit = self.max_message + FRAME_SLACK
        expect_fid = 0
        buf: bytearray | None = None
        filled = 0
        total = 0
        index = 0
        for c in it:
            if c.frame_id != expect_fid:
                raise ProtocolError(f"chunk of frame {c.frame_id} arrived, frame {expect_fid} expected (reordered or lost chunk)")
            if c.index != index:
                raise ProtocolError(f"frame {c.frame_id}: chunk {c.index} arrived, chunk {index} expected (truncated or reordered frame)")
            n = len(c.data)
            if index == 0:
                total = c.total_size
                if total > limit:
                    raise ProtocolError(
                        f"frame {c.frame_id} of {total} bytes exceeds this party's limit of {limit} bytes "
                        f"(server option --max-message-mb)"
                    )
                if c.last:
                    if n != total:
                        raise ProtocolError(f"frame {c.frame_id}: single chunk of {n} bytes but total_size says {total}")
                    self._in.put(c.data)
                    expect_fid += 1
                    if self.on_progress is not None:
                        self.on_progress("recv", n)
                    continue
                buf = bytearray(total)
                filled = 0
            elif c.total_size != total:
                raise ProtocolError(f"frame {c.frame_id}: chunk {index} says total_size {c.total_size}, chunk 0 said {total}")
            if filled + n > total:
                raise ProtocolError(f"frame {c.frame_id}: chunks carry more than the announced {total} bytes")
            assert buf is not None
            buf[filled : filled + n] = c.data
            filled += n
            index += 1
            if self.on_progress is not None:
                self.on_progress("recv", n)
            if c.last:
                if filled != total:
                    raise ProtocolError(f"frame {c.frame_id} is truncated: {filled} of {total} bytes arrived before the last chunk")
                self._in.put(memoryview(buf))
                buf = None
                expect_fid += 1
                index = 0
        if buf is not None:
            raise PeerDisconnected(f"the stream ended in the middle of frame {expect_fid} ({filled} of {total} bytes)")

    def _recv_frame(self) -> bytes | memoryview:
        if self._error is not None and self._in.empty():
            raise self._error
        try:
            item = self._in.get(timeout=self.timeout)
        except queue.Empty:
            err = PeerDisconnected(f"no message from the peer within {self.timeout} s (recv timeout)")
            self._error = self._error or err
            raise err from None
        if isinstance(item, BaseException):
            self._in.put(item)  # sticky: later recv calls raise too
            raise item
        return item


def _rpc_error(e: grpc.RpcError) -> BaseException:
    """Turn a gRPC status from the peer into a channel error that names it."""
    code = e.code() if hasattr(e, "code") else None
    details = e.details() if hasattr(e, "details") else str(e)
    name = code.name if code is not None else "UNKNOWN"
    if code in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.FAILED_PRECONDITION):
        return ProtocolError(f"the peer ended the session with {name}: {details}")
    return PeerDisconnected(f"the peer ended the session with {name}: {details}")

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

import json
import logging
import os
import queue
import sys
import threading
from typing import Any, Callable, Iterable, Iterator

import grpc
import numpy as np

from protocols.channel import DEFAULT_MAX_MESSAGE, Channel, PeerDisconnected, Profile, ProtocolError


log = logging.getLogger("party.channel")

MAX_GRPC_MESSAGE = 4 << 20
"""Largest gRPC message on the Session stream (both directions); also the gRPC channel option."""
CHUNK_BYTES = MAX_GRPC_MESSAGE - 1024
"""Largest chunk payload (leaves room for the chunk's own fields inside one 4 MiB message)."""
OUT_QUEUE_CHUNKS = 4
"""Outgoing chunks buffered before ``send`` blocks (~16 MiB per session; a short queue keeps the
chunk buffers warm in the allocator, which is faster than a long one)."""
FRAME_SLACK = 1 << 16
"""A frame may exceed ``max_message`` (the payload limit) by this much header."""

_END = object()  # sentinel on the outgoing queue: end the stream


def grpc_options(max_message: int = MAX_GRPC_MESSAGE) -> list[tuple[str, Any]]:
    """gRPC channel/server options used on both ends: explicit message limits, keepalive.

    ``PARTY_GRPC_EXTRA`` (a JSON object) adds options for experiments; larger HTTP/2 frames or
    look-ahead windows made no measurable difference to loopback throughput here."""
    return [
        ("grpc.max_send_message_length", max_message),
        ("grpc.max_receive_message_length", max_message),
        ("grpc.keepalive_time_ms", 30_000),
        ("grpc.keepalive_timeout_ms", 20_000),
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.http2.max_pings_without_data", 0),
        # the server must accept the peer's 30 s keepalive pings on an idle connection (its default
        # minimum is 5 min: after two "strikes" it sends GOAWAY too_many_pings)
        ("grpc.http2.min_recv_ping_interval_without_data_ms", 20_000),
        ("grpc.http2.min_ping_interval_without_data_ms", 20_000),
        *json.loads(os.environ.get("PARTY_GRPC_EXTRA", "{}")).items(),
    ]


# ----------------------------------------------------------------------------------------------
# Chunk wire codec.  Byte-compatible with proto.party_pb2.Chunk (tests/test_proto.py checks both
# ways) but without building protobuf objects: on the send side the chunk payload is copied once,
# straight from the caller's array into the message bytes; on the receive side the payload is a
# zero-copy view of the bytes gRPC hands over.  At 100 MB per frame every avoided copy matters
# (on this machine a copy into fresh memory runs at ~0.5-1 GB/s because of page faults).
# ----------------------------------------------------------------------------------------------
def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def encode_chunk(frame_id: int, index: int, last: bool, total_size: int, parts: list) -> bytes:
    """Serialize a Chunk whose ``data`` is the concatenation of ``parts`` (bytes-like)."""
    n = sum(len(p) for p in parts)
    head = bytearray()
    if frame_id:
        head += b"\x08" + _varint(frame_id)
    if index:
        head += b"\x10" + _varint(index)
    if last:
        head += b"\x18\x01"
    if total_size:
        head += b"\x20" + _varint(total_size)
    if n:
        head += b"\x2a" + _varint(n)
    return b"".join([bytes(head), *parts])


class ChunkView:
    """A decoded chunk; ``data`` is a memoryview into the received message."""

    __slots__ = ("frame_id", "index", "last", "total_size", "data", "error")

    def __init__(self) -> None:
        self.frame_id = 0
        self.index = 0
        self.last = False
        self.total_size = 0
        self.data: memoryview | bytes = b""
        self.error: str | None = None


def _read_varint(buf: memoryview, pos: int) -> tuple[int, int]:
    result = 0
    shift = 0
    while True:
        if pos >= len(buf):
            raise ValueError("truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise ValueError("varint longer than 64 bits")


def decode_chunk(raw: bytes) -> ChunkView:
    """Parse a serialized Chunk.  Never raises: a malformed message comes back with ``error`` set,
    so the reader can end the session with a ProtocolError that says what was wrong (an exception
    in a gRPC deserializer would only produce a generic status)."""
    c = ChunkView()
    buf = memoryview(raw)
    pos = 0
    try:
        while pos < len(buf):
            key, pos = _read_varint(buf, pos)
            field, wt = key >> 3, key & 7
            if wt == 0:
                v, pos = _read_varint(buf, pos)
                if field == 1:
                    c.frame_id = v
                elif field == 2:
                    c.index = v
                elif field == 3:
                    c.last = bool(v)
                elif field == 4:
                    c.total_size = v
            elif wt == 2:
                n, pos = _read_varint(buf, pos)
                if pos + n > len(buf):
                    raise ValueError(f"length-delimited field {field} claims {n} bytes, {len(buf) - pos} remain")
                if field == 5:
                    c.data = buf[pos : pos + n]
                pos += n
            elif wt == 1:
                pos += 8
            elif wt == 5:
                pos += 4
            else:
                raise ValueError(f"unsupported wire type {wt} for field {field}")
            if pos > len(buf):
                raise ValueError("truncated field")
    except ValueError as e:
        c.error = f"malformed chunk message ({len(raw)} bytes): {e}"
    return c


class _BufferPool:
    """Reuse of large receive buffers across frames and sessions.

    Reassembling a 100 MB frame into freshly allocated memory costs ~0.1-0.3 s in page faults
    here, more than the transfer itself.  A buffer is reused only when nothing outside the pool
    references it any more (``sys.getrefcount``), i.e. every array the protocol received in it
    has been dropped, so reuse can never overwrite live data.  Bounded: at most ``max_buffers``
    buffers of at most ``max_bytes`` each stay allocated (512 MiB by default, per process);
    larger frames get a fresh buffer that is freed with the arrays.
    """

    MIN_BYTES = 8 << 20

    def __init__(self, max_buffers: int = 2, max_bytes: int = 256 << 20):
        self._bufs: list = []
        self._lock = threading.Lock()
        self.max_buffers = max_buffers
        self.max_bytes = max_bytes

    def take(self, n: int):
        if n < self.MIN_BYTES or n > self.max_bytes:
            return np.empty(n, dtype=np.uint8)
        with self._lock:
            for b in self._bufs:
                # references: the list, the loop variable, getrefcount's argument
                if b.size >= n and sys.getrefcount(b) == 3:
                    return b
            b = np.empty(n, dtype=np.uint8)
            self._bufs.append(b)
            while len(self._bufs) > self.max_buffers:
                self._bufs.pop(0)
            return b


_POOL = _BufferPool()


def _identity(b: bytes) -> bytes:
    return b


SESSION_SERIALIZERS = {"serializer": _identity, "deserializer": decode_chunk}
"""(De)serializers of the Session stream on both ends: chunks travel pre-encoded."""


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
            self._put_out(encode_chunk(fid, index, last, total, pending))
            sent += pending_len
            index += 1
            if self.on_progress is not None:
                self.on_progress("send", pending_len)
            pending, pending_len = [], 0

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

    def outgoing(self) -> Iterator[bytes]:
        """The stream of serialized chunks to hand to gRPC (with an identity serializer, see
        :data:`SESSION_SERIALIZERS`); ends after :meth:`close` or :meth:`abort`."""
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
    def start_reader(self, chunks: Iterable[ChunkView], describe_error: Callable[[BaseException], BaseException] | None = None) -> None:
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

    def _read_loop(self, it: Iterator[ChunkView]) -> None:
        limit = self.max_message + FRAME_SLACK
        expect_fid = 0
        buf: memoryview | None = None
        filled = 0
        total = 0
        index = 0
        for c in it:
            if c.error is not None:
                raise ProtocolError(c.error)
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
                buf = memoryview(_POOL.take(total))[:total]
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
                self._in.put(buf)
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

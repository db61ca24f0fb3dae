"""The two-party ``Channel``: the only way protocols talk to the peer.

A channel carries *messages*.  A message is either raw bytes or a list of numpy arrays (dtype and
shape travel with the data and are checked on receipt).  Subclasses move opaque *frames*:
:class:`InMemoryChannel` (two threads, unit tests) here, the gRPC channel in ``party/``.

Cost accounting (exact, per direction):

* ``bytes_sent`` / ``bytes_recv`` — payload bytes: the raw array data or the raw bytes of a
  message.  This is the figure analytic cost tables are written in.
* ``header_bytes_sent`` / ``header_bytes_recv`` — framing (dtype, shape, timestamps); small and
  constant per message, reported separately.
* ``msgs_sent`` / ``msgs_recv``.
* ``rounds`` — the number of times this party *waits for the peer after having sent* (a change of
  direction on the critical path).  Ping-pong of n exchanges is n rounds on both sides; a
  simultaneous exchange (both send, then both receive) is 1 round.  Time on a link is roughly
  ``rounds * RTT + bytes / bandwidth``.

``with ch.scope("Linear_qkv"):`` records the cost of the enclosed code under that name (scopes
nest; names join with '/'), so callers can read the cost of one operation or one layer; every
closed scope is appended to ``ch.records``.

Shaping (optional, ``ch.set_profile("wan")``): each message is paced at the link's bandwidth and
delayed by half the RTT.  The sender stamps the time the message would arrive at the peer; the
receiver sleeps until then.  Stamps use ``time.time()``, so both ends must share a clock (same host).
"""
from __future__ import annotations

import contextvars
import queue
import struct
import threading
import time
from dataclasses import dataclass, field, fields
from typing import Any, Callable, Iterator, Sequence

import numpy as np


class ProtocolError(RuntimeError):
    """The peer sent something this party did not expect (wrong type, dtype, shape or size)."""


class PeerDisconnected(ProtocolError):
    """The peer went away (closed the channel, crashed or timed out) in the middle of a protocol."""


# ----------------------------------------------------------------------------------------------
# network profiles
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Profile:
    name: str
    bandwidth_bps: float | None  # bits per second, None = unlimited
    rtt_s: float  # round-trip time

    @property
    def one_way_s(self) -> float:
        return self.rtt_s / 2


PROFILES: dict[str, Profile] = {
    "none": Profile("none", None, 0.0),
    "lan": Profile("lan", 3e9, 0.8e-3),
    "wan": Profile("wan", 200e6, 40e-3),
    "wan400": Profile("wan400", 400e6, 10e-3),
}


_SPIN_S = 1.5e-3  # shaping: busy-wait this long before a stamped arrival instead of sleeping


def get_profile(p: str | Profile | None) -> Profile:
    if p is None:
        return PROFILES["none"]
    if isinstance(p, Profile):
        return p
    try:
        return PROFILES[p]
    except KeyError:
        raise ValueError(f"unknown network profile {p!r}; choose one of {', '.join(PROFILES)}") from None


# ----------------------------------------------------------------------------------------------
# cost counters
# ----------------------------------------------------------------------------------------------
@dataclass
class Cost:
    bytes_sent: int = 0
    bytes_recv: int = 0
    header_bytes_sent: int = 0
    header_bytes_recv: int = 0
    msgs_sent: int = 0
    msgs_recv: int = 0
    rounds: int = 0
    time_s: float = 0.0

    def copy(self) -> "Cost":
        return Cost(**{f.name: getattr(self, f.name) for f in fields(self)})

    def __sub__(self, other: "Cost") -> "Cost":
        return Cost(**{f.name: getattr(self, f.name) - getattr(other, f.name) for f in fields(self)})

    def __add__(self, other: "Cost") -> "Cost":
        return Cost(**{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)})

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass
class CostRecord:
    name: str
    cost: Cost = field(default_factory=Cost)


# ----------------------------------------------------------------------------------------------
# message codec
# ----------------------------------------------------------------------------------------------
# frame = header | payload
#   header: <d arrive_at> <B kind> <I count> then per array: <B dtype> <B ndim> <ndim*q shape>
_KIND_BYTES = 1
_KIND_ARRAYS = 2
_KIND_CLOSE = 3
_PRE = struct.Struct("<dBI")

_DTYPES: list[np.dtype] = [
    np.dtype(t)
    for t in ("uint8", "int8", "uint16", "int16", "uint32", "int32", "uint64", "int64", "float32", "float64", "bool")
]
_DTYPE_CODE = {dt: i for i, dt in enumerate(_DTYPES)}

DEFAULT_MAX_MESSAGE = 1 << 31  # 2 GiB: one message larger than this is refused


def _encode_arrays(arrays: Sequence[np.ndarray], arrive_at: float) -> tuple[list[bytes | memoryview], int, int]:
    head = [_PRE.pack(arrive_at, _KIND_ARRAYS, len(arrays))]
    bodies: list[bytes | memoryview] = []
    payload = 0
    for a in arrays:
        a = np.ascontiguousarray(a)
        try:
            code = _DTYPE_CODE[a.dtype]
        except KeyError:
            raise TypeError(f"cannot send arrays of dtype {a.dtype}") from None
        head.append(struct.pack(f"<BB{a.ndim}q", code, a.ndim, *a.shape))
        bodies.append(memoryview(a).cast("B") if a.size else b"")
        payload += a.nbytes
    h = b"".join(head)
    return [h, *bodies], len(h), payload


def _decode_arrays(frame: memoryview, max_bytes: int) -> tuple[list[np.ndarray], int, int]:
    _, _, count = _PRE.unpack_from(frame, 0)
    off = _PRE.size
    if count > 4096:
        raise ProtocolError(f"message claims {count} arrays; at most 4096 are allowed")
    specs = []
    for _ in range(count):
        if off + 2 > len(frame):
            raise ProtocolError("truncated message header")
        code, ndim = struct.unpack_from("<BB", frame, off)
        off += 2
        if code >= len(_DTYPES):
            raise ProtocolError(f"unknown dtype code {code} in message")
        if ndim > 16 or off + 8 * ndim > len(frame):
            raise ProtocolError("truncated or corrupt shape in message header")
        shape = struct.unpack_from(f"<{ndim}q", frame, off)
        off += 8 * ndim
        if any(s < 0 for s in shape):
            raise ProtocolError(f"negative dimension in shape {shape}")
        specs.append((_DTYPES[code], shape))
    header_len = off
    out = []
    for dt, shape in specs:
        n = int(np.prod(shape, dtype=np.int64)) * dt.itemsize if shape else dt.itemsize
        if n > max_bytes or off + n > len(frame):
            raise ProtocolError(
                f"message body is truncated or oversized: array {shape} of {dt} needs {n} bytes, "
                f"{len(frame) - off} remain"
            )
        out.append(np.frombuffer(frame, dtype=dt, count=n // dt.itemsize, offset=off).reshape(shape))
        off += n
    if off != len(frame):
        raise ProtocolError(f"message has {len(frame) - off} trailing bytes")
    return out, header_len, off - header_len


# ----------------------------------------------------------------------------------------------
# the channel
# ----------------------------------------------------------------------------------------------
class Channel:
    """Abstract two-party channel.  ``party`` is 0 (server) or 1 (client).

    Subclasses implement ``_send_frame(parts)`` (a list of bytes-like pieces forming one frame)
    and ``_recv_frame() -> bytes`` (blocking; raise :class:`PeerDisconnected` when the peer is
    gone) and optionally ``close()``.
    """

    SERVER = 0
    CLIENT = 1

    def __init__(self, party: int, profile: str | Profile | None = None, max_message: int = DEFAULT_MAX_MESSAGE):
        if party not in (0, 1):
            raise ValueError("party must be 0 (server) or 1 (client)")
        self.party = party
        self.max_message = max_message
        self.total = Cost()
        self.records: list[CostRecord] = []
        self._scope_stack: list[str] = []
        self._last_op = "recv"  # so the first send-then-recv counts one round
        self._waited_since_send = True
        self._link_free_at = 0.0
        self.profile = get_profile(profile)

    # --- shaping ---------------------------------------------------------------------------
    def set_profile(self, profile: str | Profile | None) -> None:
        self.profile = get_profile(profile)
        self._link_free_at = 0.0

    def _stamp(self, nbytes: int) -> float:
        p = self.profile
        if p.bandwidth_bps is None and p.rtt_s == 0:
            return 0.0
        now = time.time()
        start = max(now, self._link_free_at)
        tx = (nbytes * 8 / p.bandwidth_bps) if p.bandwidth_bps else 0.0
        self._link_free_at = start + tx
        return start + tx + p.one_way_s

    @staticmethod
    def _wait_until(t: float) -> None:
        if t <= 0:
            return
        d = t - time.time()
        if d > _SPIN_S:
            time.sleep(d - _SPIN_S)
        # busy-wait the rest: a sleeping thread wakes 0.1-1 ms late on a loaded machine, which is a
        # 15-40 % error on LAN round trips (0.8 ms)
        while time.time() < t:
            pass

    # --- transport hooks -------------------------------------------------------------------
    def _send_frame(self, parts: list) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _recv_frame(self) -> bytes | memoryview:  # pragma: no cover - abstract
        raise NotImplementedError

    def close(self) -> None:
        """Tell the peer this side is done (idempotent)."""

    # --- accounting ------------------------------------------------------------------------
    def _on_send(self, payload: int, header: int) -> None:
        t = self.total
        t.bytes_sent += payload
        t.header_bytes_sent += header
        t.msgs_sent += 1
        self._waited_since_send = False

    def _on_recv(self, payload: int, header: int) -> None:
        t = self.total
        t.bytes_recv += payload
        t.header_bytes_recv += header
        t.msgs_recv += 1
        if not self._waited_since_send:
            t.rounds += 1
            self._waited_since_send = True
        elif t.msgs_recv == 1 and t.msgs_sent == 0:
            # the very first thing this party does is wait for the peer
            t.rounds += 1

    def snapshot(self) -> Cost:
        c = self.total.copy()
        c.time_s = time.perf_counter()
        return c

    # --- public API: bytes -----------------------------------------------------------------
    def send_bytes(self, data: bytes) -> None:
        data = bytes(data)
        if len(data) > self.max_message:
            raise ProtocolError(f"refusing to send a {len(data)}-byte message (limit {self.max_message})")
        arrive = self._stamp(len(data))
        head = _PRE.pack(arrive, _KIND_BYTES, 0)
        self._send_frame([head, data])
        self._on_send(len(data), len(head))

    def recv_bytes(self, max_size: int | None = None) -> bytes:
        frame = self._recv_checked()
        arrive, kind, _ = _PRE.unpack_from(frame, 0)
        if kind != _KIND_BYTES:
            raise ProtocolError(f"expected a bytes message, got message kind {kind}")
        data = bytes(frame[_PRE.size :])
        limit = self.max_message if max_size is None else max_size
        if len(data) > limit:
            raise ProtocolError(f"peer sent {len(data)} bytes, at most {limit} expected")
        self._wait_until(arrive)
        self._on_recv(len(data), _PRE.size)
        return data

    def exchange_bytes(self, data: bytes) -> bytes:
        """Both parties send, then both receive: one round."""
        self.send_bytes(data)
        return self.recv_bytes()

    # --- public API: arrays ----------------------------------------------------------------
    def send(self, *arrays: np.ndarray) -> None:
        """Send one message holding one or more arrays."""
        if not arrays:
            raise ValueError("send() needs at least one array")
        # The payload size is known before encoding; stamp with it.
        payload = sum(np.asarray(a).nbytes for a in arrays)
        if payload > self.max_message:
            raise ProtocolError(f"refusing to send a {payload}-byte message (limit {self.max_message})")
        arrive = self._stamp(payload)
        parts, hlen, plen = _encode_arrays([np.asarray(a) for a in arrays], arrive)
        self._send_frame(parts)
        self._on_send(plen, hlen)

    def recv(self, *expect: tuple[Any, Any] | None) -> list[np.ndarray]:
        """Receive one message of arrays.

        ``expect`` (optional) gives one ``(dtype, shape)`` per array; ``shape`` may contain -1
        for any length, or be None for any shape.  A mismatch raises :class:`ProtocolError`
        naming what was expected and what arrived.  The arrays returned are read-only views of
        the received frame; copy before modifying in place.
        """
        frame = self._recv_checked()
        arrive, kind, _ = _PRE.unpack_from(frame, 0)
        if kind != _KIND_ARRAYS:
            raise ProtocolError(f"expected an array message, got message kind {kind}")
        arrays, hlen, plen = _decode_arrays(memoryview(frame), self.max_message)
        if expect:
            if len(expect) != len(arrays):
                raise ProtocolError(f"expected {len(expect)} arrays in message, got {len(arrays)}")
            for i, (a, spec) in enumerate(zip(arrays, expect)):
                if spec is None:
                    continue
                dt, shape = spec
                if dt is not None and a.dtype != np.dtype(dt):
                    raise ProtocolError(f"array {i}: expected dtype {np.dtype(dt)}, got {a.dtype}")
                if shape is not None:
                    shape = tuple(shape)
                    if len(shape) != a.ndim or any(s != -1 and s != t for s, t in zip(shape, a.shape)):
                        raise ProtocolError(f"array {i}: expected shape {shape}, got {a.shape}")
        self._wait_until(arrive)
        self._on_recv(plen, hlen)
        return arrays

    def recv_array(self, dtype=None, shape=None) -> np.ndarray:
        """Receive a message holding exactly one array (checked against dtype/shape if given)."""
        (a,) = self.recv((dtype, shape))
        return a

    def exchange(self, *arrays: np.ndarray) -> list[np.ndarray]:
        """Send arrays and receive the peer's arrays of the same dtypes and shapes (1 round)."""
        self.send(*arrays)
        return self.recv(*[(np.asarray(a).dtype, np.asarray(a).shape) for a in arrays])

    def _recv_checked(self) -> bytes | memoryview:
        frame = self._recv_frame()
        if len(frame) < _PRE.size:
            raise ProtocolError(f"truncated frame of {len(frame)} bytes")
        _, kind, _ = _PRE.unpack_from(frame, 0)
        if kind == _KIND_CLOSE:
            raise PeerDisconnected("the peer closed the session")
        if len(frame) > self.max_message + 65536:
            raise ProtocolError(f"frame of {len(frame)} bytes exceeds the limit of {self.max_message}")
        return frame

    @staticmethod
    def close_frame() -> bytes:
        return _PRE.pack(0.0, _KIND_CLOSE, 0)

    # --- cost scopes -------------------------------------------------------------------------
    def scope(self, name: str) -> "_Scope":
        """Context manager recording the cost of the enclosed code as a :class:`CostRecord`."""
        return _Scope(self, name)

    def cost_since(self, start: Cost) -> Cost:
        c = self.total - start
        c.time_s = time.perf_counter() - start.time_s
        return c


class _Scope:
    def __init__(self, ch: Channel, name: str):
        self.ch = ch
        self.name = name
        self.record: CostRecord | None = None

    def __enter__(self) -> CostRecord:
        self.ch._scope_stack.append(self.name)
        self._start = self.ch.snapshot()
        self.record = CostRecord("/".join(self.ch._scope_stack))
        return self.record

    def __exit__(self, *exc) -> None:
        assert self.record is not None
        self.record.cost = self.ch.cost_since(self._start)
        self.ch._scope_stack.pop()
        self.ch.records.append(self.record)


def summarize(records: Sequence[CostRecord], depth: int = 1) -> dict[str, Cost]:
    """Add up records by the first ``depth`` components of their names (per-layer totals)."""
    out: dict[str, Cost] = {}
    for r in records:
        parts = r.name.split("/")
        if len(parts) != depth:
            continue
        out[r.name] = out.get(r.name, Cost()) + r.cost
    return out


# ----------------------------------------------------------------------------------------------
# in-memory implementation
# ----------------------------------------------------------------------------------------------
class InMemoryChannel(Channel):
    """One end of a pair of queues; the other end lives in another thread of the same process."""

    def __init__(self, party: int, inbox: "queue.Queue", outbox: "queue.Queue", timeout: float | None = 600.0, **kw):
        super().__init__(party, **kw)
        self._inbox = inbox
        self._outbox = outbox
        self._timeout = timeout
        self._closed = False

    @classmethod
    def pair(cls, **kw) -> tuple["InMemoryChannel", "InMemoryChannel"]:
        a: queue.Queue = queue.Queue()
        b: queue.Queue = queue.Queue()
        return cls(0, a, b, **kw), cls(1, b, a, **kw)

    def _send_frame(self, parts: list) -> None:
        if self._closed:
            raise PeerDisconnected("send on a closed channel")
        self._outbox.put(b"".join(parts))

    def _recv_frame(self) -> bytes:
        try:
            return self._inbox.get(timeout=self._timeout)
        except queue.Empty:
            raise PeerDisconnected(f"no message from the peer within {self._timeout} s") from None

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._outbox.put(self.close_frame())


def run_two_party(
    f0: Callable[[Channel], Any],
    f1: Callable[[Channel], Any],
    profile: str | Profile | None = None,
    timeout: float | None = 600.0,
) -> tuple[Any, Any, InMemoryChannel, InMemoryChannel]:
    """Run ``f0(ch0)`` and ``f1(ch1)`` in two threads over an in-memory channel pair.

    The caller's ``contextvars`` (the active :class:`~protocols.config.Config`) are copied into
    both threads.  If either side raises, the channel is closed so the other side stops with
    :class:`PeerDisconnected` instead of hanging, and the first error is re-raised here.
    Returns ``(result0, result1, ch0, ch1)``.
    """
    ch0, ch1 = InMemoryChannel.pair(profile=profile, timeout=timeout)
    results: list[Any] = [None, None]
    errors: list[BaseException | None] = [None, None]

    def runner(i: int, f: Callable, ch: InMemoryChannel, ctx: contextvars.Context) -> None:
        try:
            results[i] = ctx.run(f, ch)
        except BaseException as e:  # noqa: BLE001 - re-raised in the caller
            errors[i] = e
            ch.close()

    threads = [
        threading.Thread(target=runner, args=(i, f, ch, contextvars.copy_context()), daemon=True)
        for i, (f, ch) in enumerate(((f0, ch0), (f1, ch1)))
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for e in errors:
        if e is not None and not isinstance(e, PeerDisconnected):
            raise e
    for e in errors:
        if e is not None:
            raise e
    return results[0], results[1], ch0, ch1


def iter_chunks(n: int, chunk: int) -> Iterator[slice]:
    """Slices covering range(n) in pieces of ``chunk`` (for ~1 MiB working sets)."""
    for s in range(0, n, chunk):
        yield slice(s, min(n, s + chunk))

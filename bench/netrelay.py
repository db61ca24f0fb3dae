"""A user-space TCP relay that emulates a network link (bandwidth + latency) on loopback.

The kernel here has no ``netem`` (DESIGN.md §6), so peers that speak their own TCP protocol (SPU's
brpc link, ...) are shaped by putting this relay between them: it listens on a loopback port,
connects to the real target, and forwards bytes in both directions.  Each direction of the emulated
link is a :class:`LinkDirection`: bytes are serialised at the link's bandwidth (a chunk of L bytes
read at time t leaves the "wire" at ``max(t, link_free) + 8L/bandwidth``) and are delivered one-way
latency (RTT/2) after that.  A direction may be shared by several TCP connections (e.g. a request
stream in one connection and the acknowledgements of another connection going the same way), so
they compete for the same bandwidth, as on a real link.

Implementation: two threads per connection direction (a reader that stamps delivery times and a
writer that sleeps until them) — blocking sockets release the GIL and ``time.sleep`` is precise to
~0.1 ms, unlike asyncio timers (millisecond epoll granularity), which matters for the LAN profile's
0.4 ms one-way delay.  Reads are up to 1 MiB; a bounded queue per direction gives TCP back-pressure.

Profiles come from ``protocols.channel.PROFILES`` (lan 3 Gbps / 0.8 ms RTT, wan 200 Mbps / 40 ms,
wan400 400 Mbps / 10 ms, none = plain forwarding).

Only loopback targets are allowed.

CLI::

    python -m bench.netrelay --profile wan --route 127.0.0.1:9000=127.0.0.1:9100
"""
from __future__ import annotations

import argparse
import queue
import socket
import threading
import time
from dataclasses import dataclass

from protocols.channel import Profile, get_profile

CHUNK = 1 << 20  # largest single read
QUEUE_CHUNKS = 64  # per connection direction: at most ~64 MiB in flight inside the relay
_LOOPBACK = ("127.0.0.1", "localhost", "::1")


class LinkDirection:
    """One direction of an emulated link: a serialiser at ``bandwidth_bps`` followed by a fixed
    one-way delay.  Thread-safe; counts the bytes it carried."""

    def __init__(self, profile: Profile | str | None, name: str = ""):
        self.profile = get_profile(profile)
        self.name = name
        self._lock = threading.Lock()
        self._free_at = 0.0
        self.bytes = 0
        self.chunks = 0

    def schedule(self, nbytes: int, now: float) -> float:
        """Delivery time (``time.perf_counter`` clock) of ``nbytes`` that entered the link at ``now``."""
        p = self.profile
        with self._lock:
            self.bytes += nbytes
            self.chunks += 1
            if p.bandwidth_bps:
                start = max(now, self._free_at)
                self._free_at = start + nbytes * 8.0 / p.bandwidth_bps
                done = self._free_at
            else:
                done = now
        return done + p.one_way_s


_EOF = object()


class _Pipe:
    """Forward ``src`` -> ``dst`` through a LinkDirection (reader thread + writer thread)."""

    def __init__(self, src: socket.socket, dst: socket.socket, link: LinkDirection, on_done):
        self.src, self.dst, self.link = src, dst, link
        self.q: queue.Queue = queue.Queue(QUEUE_CHUNKS)
        self.on_done = on_done
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.writer = threading.Thread(target=self._write, daemon=True)

    def start(self):
        self.reader.start()
        self.writer.start()

    def _read(self):
        buf = bytearray(CHUNK)
        view = memoryview(buf)
        try:
            while True:
                n = self.src.recv_into(view, CHUNK)
                if n == 0:
                    break
                t = self.link.schedule(n, time.perf_counter())
                self.q.put((t, bytes(view[:n])))
        except OSError:
            pass
        self.q.put((0.0, _EOF))

    def _write(self):
        try:
            while True:
                t, data = self.q.get()
                if data is _EOF:
                    try:
                        self.dst.shutdown(socket.SHUT_WR)
                    except OSError:
                        pass
                    break
                d = t - time.perf_counter()
                if d > 0:
                    time.sleep(d)
                self.dst.sendall(data)
        except OSError:
            # destination gone: stop reading too
            try:
                self.src.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.on_done()


@dataclass
class Route:
    """Listen on ``listen`` and forward each accepted connection to ``target``.  ``fwd`` carries the
    bytes from the connecting side to the target, ``bwd`` the replies."""

    listen: tuple[str, int]
    target: tuple[str, int]
    fwd: LinkDirection
    bwd: LinkDirection


def _check_loopback(host: str) -> None:
    if host not in _LOOPBACK and not host.startswith("127."):
        raise ValueError(f"netrelay only relays to/from loopback addresses, not {host!r}")


class Relay:
    """A set of routes served by background threads.  ``start()`` binds the listening sockets (port 0
    picks a free port; read the bound ports from ``ports``); ``stop()`` closes everything."""

    def __init__(self, routes: list[Route], connect_timeout_s: float = 30.0):
        for r in routes:
            _check_loopback(r.listen[0])
            _check_loopback(r.target[0])
        self.routes = routes
        self.connect_timeout_s = connect_timeout_s
        self._listeners: list[socket.socket] = []
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self.ports: list[int] = []

    @classmethod
    def pair(cls, profile, target_a: tuple[str, int], target_b: tuple[str, int]) -> "Relay":
        """Relay for two parties A (listening at ``target_a``) and B (at ``target_b``): route 0 is where
        B should connect to reach A, route 1 where A should connect to reach B.  Traffic A->B (A's
        requests to B and B's replies to A's ... acknowledgements) shares one LinkDirection ``a2b``,
        traffic B->A another one ``b2a``."""
        a2b, b2a = LinkDirection(profile, "a2b"), LinkDirection(profile, "b2a")
        r = cls(
            [
                Route(("127.0.0.1", 0), target_a, fwd=b2a, bwd=a2b),
                Route(("127.0.0.1", 0), target_b, fwd=a2b, bwd=b2a),
            ]
        )
        r.a2b, r.b2a = a2b, b2a
        return r

    def start(self) -> "Relay":
        for r in self.routes:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(r.listen)
            s.listen(64)
            self._listeners.append(s)
            self.ports.append(s.getsockname()[1])
            threading.Thread(target=self._accept_loop, args=(s, r), daemon=True).start()
        return self

    def _connect(self, target) -> socket.socket | None:
        deadline = time.monotonic() + self.connect_timeout_s
        while not self._stopped.is_set():
            try:
                return socket.create_connection(target, timeout=5.0)
            except OSError:
                if time.monotonic() > deadline:
                    return None
                time.sleep(0.05)
        return None

    def _accept_loop(self, lsock: socket.socket, route: Route):
        while not self._stopped.is_set():
            try:
                c, _ = lsock.accept()
            except OSError:
                return
            t = self._connect(route.target)
            if t is None:
                c.close()
                continue
            for s in (c, t):
                s.settimeout(None)
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
            with self._lock:
                self._conns += [c, t]
            left = [2]

            def done(c=c, t=t, left=left):
                with self._lock:
                    left[0] -= 1
                    if left[0] == 0:
                        for s in (c, t):
                            try:
                                s.close()
                            except OSError:
                                pass

            _Pipe(c, t, route.fwd, done).start()
            _Pipe(t, c, route.bwd, done).start()

    def stop(self) -> None:
        self._stopped.set()
        with self._lock:
            socks = self._listeners + self._conns
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            try:
                s.close()
            except OSError:
                pass

    def __enter__(self) -> "Relay":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def _addr(s: str) -> tuple[str, int]:
    host, _, port = s.rpartition(":")
    return host or "127.0.0.1", int(port)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="user-space TCP relay with bandwidth/latency shaping")
    ap.add_argument("--profile", default="lan", help="none, lan, wan, wan400 (protocols.channel.PROFILES)")
    ap.add_argument("--route", action="append", required=True, help="LISTEN_HOST:PORT=TARGET_HOST:PORT (repeatable)")
    args = ap.parse_args(argv)
    routes = []
    for spec in args.route:
        lst, _, tgt = spec.partition("=")
        routes.append(Route(_addr(lst), _addr(tgt), LinkDirection(args.profile, "fwd"), LinkDirection(args.profile, "bwd")))
    relay = Relay(routes).start()
    for r, p in zip(routes, relay.ports):
        print(f"relay {r.listen[0]}:{p} -> {r.target[0]}:{r.target[1]} ({args.profile})", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        relay.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The ``bench-channel`` job: raw channel throughput and round-trip latency (``bench/`` uses it).

``params``:
  ``mode="throughput"``, ``nbytes`` — the client sends one uint64 array of ``nbytes`` bytes, the
      server answers with one 8-byte array (so the client's clock covers the whole transfer).
      Cost (client): ``nbytes`` c2s, 8 s2c, 2 messages, 1 round.
  ``mode="pingpong"``, ``rounds``, ``size`` — ``rounds`` times: client sends ``size`` bytes, server
      echoes them.  Cost (client): ``rounds * size`` each way, ``rounds`` rounds.
The client returns ``{"time_s", "cost"}`` measured inside the session (handshake excluded).
"""
from __future__ import annotations

import time

import numpy as np

from protocols.channel import ProtocolError

from .jobs import Job, register_job
from .progress import report

MAX_BENCH_BYTES = 4 << 30


@register_job("bench-channel")
class BenchChannel(Job):
    needs_model = False
    description = "channel throughput (one large array) and ping-pong latency"

    def validate_params(self, params: dict) -> None:
        mode = params.get("mode")
        if mode == "throughput":
            n = int(params.get("nbytes", 0))
            if not 8 <= n <= MAX_BENCH_BYTES or n % 8:
                raise ValueError(f"nbytes must be a multiple of 8 in 8..{MAX_BENCH_BYTES}")
        elif mode == "pingpong":
            if not 1 <= int(params.get("rounds", 0)) <= 1_000_000 or not 8 <= int(params.get("size", 8)) <= 1 << 20:
                raise ValueError("pingpong needs 1 <= rounds <= 1e6 and 8 <= size <= 1 MiB")
        else:
            raise ValueError(f"mode must be 'throughput' or 'pingpong', not {mode!r}")

    def server(self, ch, model, params: dict) -> None:
        self.validate_params(params)
        if params["mode"] == "throughput":
            n = int(params["nbytes"]) // 8
            (a,) = ch.recv((np.uint64, (n,)))
            ch.send(np.array([a.size], dtype=np.uint64))
        else:
            k = int(params.get("size", 8)) // 8
            for _ in range(int(params["rounds"])):
                (a,) = ch.recv((np.uint64, (k,)))
                ch.send(a)

    def client(self, ch, params: dict, inputs) -> dict:
        self.validate_params(params)
        start = ch.snapshot()
        if params["mode"] == "throughput":
            n = int(params["nbytes"]) // 8
            a = np.zeros(n, dtype=np.uint64)
            a[:: max(1, n // 1024)] = np.arange(a[:: max(1, n // 1024)].size, dtype=np.uint64)
            t0 = time.perf_counter()
            with ch.scope("throughput"):
                ch.send(a)
                (ack,) = ch.recv((np.uint64, (1,)))
            t = time.perf_counter() - t0
            if int(ack[0]) != n:
                raise ProtocolError(f"server acknowledged {int(ack[0])} elements, sent {n}")
        else:
            k = int(params.get("size", 8)) // 8
            rounds = int(params["rounds"])
            msg = np.arange(k, dtype=np.uint64)
            t0 = time.perf_counter()
            with ch.scope("pingpong"):
                for i in range(rounds):
                    msg[0] = i
                    ch.send(msg)
                    (back,) = ch.recv((np.uint64, (k,)))
                    if int(back[0]) != i:
                        raise ProtocolError(f"ping-pong: round {i} echoed {int(back[0])}")
                    if i % 100 == 0:
                        report(i, rounds, "pingpong")
            t = time.perf_counter() - t0
        return {"time_s": t, "cost": ch.cost_since(start).to_dict()}

"""Workload ``channel``: raw transport cost of the gRPC channel (job ``bench-channel``).

Cases:
  ``throughput-<N>MB`` — one uint64 array of N MB client -> server, 8-byte ack back (1 round).
      Extra fields: ``MB_per_s`` (payload MB / median time).
  ``pingpong-<R>`` — R round trips of 8 bytes each way.  Extra: ``ms_per_round``.
Compare with ``bound_s`` (bytes / bandwidth + rounds * RTT): shaping should hold it within ~10 %.
"""
from __future__ import annotations

import statistics

DESCRIPTION = "gRPC channel throughput (large uint64 array) and ping-pong round-trip latency"


def add_args(p) -> None:
    p.add_argument("--size-mb", type=float, default=100.0, help="throughput array size, MB (10^6 bytes)")
    p.add_argument("--rounds", type=int, default=1000, help="ping-pong round trips")


def cases(args) -> list[dict]:
    size_mb = getattr(args, "size_mb", 100.0)
    rounds = getattr(args, "rounds", 1000)
    nbytes = int(size_mb * 1e6) // 8 * 8

    def tput_extra(results, row):
        return {"MB_per_s": round(nbytes / 1e6 / statistics.median(r["time_s"] for r in results), 1)}

    def pp_extra(results, row):
        return {"ms_per_round": round(1e3 * statistics.median(r["time_s"] for r in results) / rounds, 4)}

    return [
        {"case": f"throughput-{size_mb:g}MB", "job": "bench-channel", "params": {"mode": "throughput", "nbytes": nbytes}, "extra": tput_extra},
        {"case": f"pingpong-{rounds}", "job": "bench-channel", "params": {"mode": "pingpong", "rounds": rounds, "size": 8}, "extra": pp_extra},
    ]

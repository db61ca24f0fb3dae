"""Peer rows (SPU CHEETAH) for the workloads, shared by primitives / nonlinear / bert / linear.

``--peers spu`` (default) runs SPU live when its virtual environment exists
(``bash bench/peers/setup_spu.sh`` makes it); otherwise the rows recorded earlier on this kind of
machine (``bench/results/spu-cheetah-<workload>.json``) are shown, each marked
``source = "recorded"`` so a table never passes off an old figure as a fresh one.
``--peers none`` skips them.
"""
from __future__ import annotations

import json
import sys

from bench.peers import spu


def add_peer_args(p) -> None:
    p.add_argument("--peers", default="spu", help="peer implementations to show next to ours: spu | none")
    p.add_argument("--peers-live", action="store_true",
                   help="fail instead of falling back to recorded SPU rows when the SPU venv is missing")


def peer_rows_for(workload: str, cases: list[str], args, profile: str) -> list[dict]:
    if getattr(args, "peers", "spu") in ("none", ""):
        return []
    try:
        rows = spu.spu_rows(workload, cases, profile, repeat=1)
        for r in rows:
            r["source"] = "live"
        return rows
    except spu.SpuNotInstalled as e:
        if getattr(args, "peers_live", False):
            raise
        print(f"[bench] {e}\n[bench] showing SPU rows recorded earlier instead", file=sys.stderr)
    path = spu.RESULTS / f"spu-cheetah-{workload}.json"
    if not path.exists():
        return []
    rows = [r for r in json.loads(path.read_text()) if r.get("profile") == profile and r.get("case") in cases]
    for r in rows:
        r["source"] = "recorded"
    return rows

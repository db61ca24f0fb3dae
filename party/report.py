"""Cost reports: a per-scope table (time, bytes each way, messages, rounds) and its JSON form.

``cost_report(ch, ...)`` turns a channel's ``total`` and ``records`` (the ``with ch.scope(name)``
blocks, nested names joined by '/') into a dict; ``format_table(report)`` prints it as a markdown
table (later: one row per layer — Embedding, Linear_qkv, ...); ``write_json(report, path)`` saves it.
Bytes are from this party's point of view converted to directions: on the client, sent = c2s.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

from protocols.channel import Channel, Cost, CostRecord


def _row(name: str, c: Cost, party: int) -> dict[str, Any]:
    c2s, s2c = (c.bytes_sent, c.bytes_recv) if party == 1 else (c.bytes_recv, c.bytes_sent)
    return {
        "scope": name,
        "time_s": round(c.time_s, 6),
        "bytes_c2s": c2s,
        "bytes_s2c": s2c,
        "header_bytes": c.header_bytes_sent + c.header_bytes_recv,
        "msgs": c.msgs_sent + c.msgs_recv,
        "rounds": c.rounds,
    }


def cost_report(ch: Channel, time_s: float | None = None, extra: dict | None = None, records: Sequence[CostRecord] | None = None) -> dict[str, Any]:
    """Total and per-scope costs of a finished session (as seen by ``ch.party``)."""
    total = ch.total.copy()
    if time_s is not None:
        total.time_s = time_s
    recs = list(ch.records if records is None else records)
    # records are appended when a scope closes: inner scopes come before the scope holding them.
    # A scope entered many times (e.g. the COT engine's "cot" refills) is one row: the sums.
    sums: dict[str, Cost] = {}
    for r in recs:
        sums[r.name] = sums[r.name] + r.cost if r.name in sums else r.cost.copy()
    rows = [_row(name, c, ch.party) for name, c in sums.items()]
    return {
        "party": "client" if ch.party == 1 else "server",
        "profile": ch.profile.name,
        "total": _row("TOTAL", total, ch.party),
        "scopes": rows,
        **(extra or {}),
    }


def _fmt_bytes(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.2f} {unit}"
        n /= 1024
    return str(n)


def format_table(report: dict[str, Any], raw: bool = False) -> str:
    """Markdown table of the scopes then the total."""
    head = "| scope | time (s) | bytes c2s | bytes s2c | msgs | rounds |\n|---|---:|---:|---:|---:|---:|"
    lines = [head]
    for r in [*report.get("scopes", []), report["total"]]:
        b1, b2 = (r["bytes_c2s"], r["bytes_s2c"]) if raw else (_fmt_bytes(r["bytes_c2s"]), _fmt_bytes(r["bytes_s2c"]))
        name = f"**{r['scope']}**" if r["scope"] == "TOTAL" else r["scope"]
        lines.append(f"| {name} | {r['time_s']:.4f} | {b1} | {b2} | {r['msgs']} | {r['rounds']} |")
    return "\n".join(lines)


def write_json(report: dict[str, Any], path: str | Path) -> None:
    Path(path).write_text(json.dumps(report, indent=2, sort_keys=False, default=str) + "\n")

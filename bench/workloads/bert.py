"""Secure Transformer inference end to end: ``party serve`` + ``party query`` on a BERT encoder.

    python -m bench bert [--profile lan,wan] [--cases minilm-l6-128,bert-base-128] [--layers N]

Cases ``<model>-<tokens>``: ``minilm-l6-128`` (the packaged MiniLM-L6 + sentiment head) and
``bert-base-128`` (BERT-base shape, seeded random weights), each on one sentence of exactly that
many tokens.  One session per repetition: OT setup, HE weight setup (the client's on-disk cache is
emptied before the first repetition so ``setup_*`` is the full transfer; later repetitions reuse
it), then the secure forward pass with the output revealed to the client.  Extra fields:
``online_s`` / ``online_bytes`` (forward pass only), ``setup_s`` / ``setup_bytes``, and ``layers``
(the per-layer table: Embedding, Linear_qkv, …, with time, bytes each way, rounds).
SPU CHEETAH runs ONE BERT-base encoder layer at 128 tokens (and a MiniLM-shaped layer) — rows
``impl = spu-cheetah`` — so the table also shows our per-layer figure scaled the same way
(``per_layer_s``, ``per_layer_bytes``).
"""
from __future__ import annotations

import os
import shutil
import tempfile

from ._peers import add_peer_args, peer_rows_for

DESCRIPTION = "secure BERT end to end (MiniLM-L6 + head, BERT-base random) at 128 tokens (+ SPU CHEETAH layer)"
MODELS = {"minilm-l6": "minilm-l6", "bert-base": "bert-base-random", "bert-large": "bert-large-random"}


def add_args(p) -> None:
    p.add_argument("--cases", default="minilm-l6-128,bert-base-128")
    p.add_argument("--ot", default="ferret")
    p.add_argument("--layers", type=int, default=None,
                   help="run only the first n encoder layers (per-layer timing; SPU's row is one layer)")
    add_peer_args(p)


def _text(tokens: int) -> str:
    # "good" is one WordPiece token; [CLS] and [SEP] make up the rest
    return " ".join(["good"] * (tokens - 2))


def _extra(results: list, row: dict) -> dict:
    r = results[-1]
    first = results[0]
    layers = r["layers"]
    online_bytes = sum(c["bytes_sent"] + c["bytes_recv"] for c in layers.values())
    online_s = sum(x["time_s"] for x in r["results"])
    nl = int(r.get("num_layers") or 1)
    return {"online_s": online_s, "online_bytes": online_bytes,
            "setup_s": first["setup"].get("setup_time_s"), "setup_bytes": first["setup"].get("setup_bytes_recv", 0)
            + first["setup"].get("setup_bytes_sent", 0), "client_storage_bytes": first["setup"].get("storage_bytes"),
            "per_layer_s": online_s / nl, "per_layer_bytes": online_bytes / nl,
            "layers": {k: {kk: (round(vv, 4) if isinstance(vv, float) else vv) for kk, vv in v.items()}
                       for k, v in layers.items()}}


def cases(args) -> list[dict]:
    out = []
    cache = tempfile.mkdtemp(prefix="party-bench-he-")
    for c in args.cases.split(","):
        name, _, tok = c.rpartition("-")
        if name not in MODELS or not tok.isdigit():
            raise SystemExit(f"bench bert: unknown case {c!r} (use e.g. minilm-l6-128, bert-base-128)")
        mdir = os.path.join(cache, name)
        shutil.rmtree(mdir, ignore_errors=True)
        out.append({"case": c, "job": "bert-classify", "model": MODELS[name], "inputs": [_text(int(tok))],
                    "params": {"ot": args.ot, "he_cache": mdir, **({"layers": args.layers} if args.layers else {})},
                    "extra": _extra})
    return out


def peer_rows(args, profile: str) -> list[dict]:
    return peer_rows_for("bert", args.cases.split(","), args, profile)

"""Secure Transformer inference end to end: ``party serve`` + ``party query`` on a BERT encoder.

    python -m bench bert [--profile lan,wan] [--cases minilm-l6-128,bert-base-128] [--layers N]

Cases ``<model>-<tokens>``: ``minilm-l6-128`` (the packaged MiniLM-L6 + sentiment head) and
``bert-base-128`` (BERT-base shape, seeded random weights), each on one sentence of exactly that
many tokens.  One session per repetition: OT setup, HE weight setup (the client's on-disk cache is
emptied before the first repetition so ``setup_*`` is the full transfer; later repetitions reuse
it), then the secure forward pass with the output revealed to the client.  Extra fields:
``online_s`` / ``online_bytes`` (forward pass only), ``setup_s`` / ``setup_bytes``, and ``layers``
(the per-layer table: Embedding, Linear_qkv, …, with time, bytes each way, rounds).
``per_layer_s`` / ``per_layer_bytes``: one encoder layer (online minus the embedding lookup, its
LayerNorm and the head, divided by the layers run).  ``--he-layout`` picks the server's
encrypted-weight layout per model (protocols.he.cop: compact / auto / packed).
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
    p.add_argument("--he-layout", default="minilm-l6=compact,bert-base=auto",
                   help="server's encrypted-weight layout: compact | auto | packed for every case, or "
                        "model=layout pairs (default: MiniLM compact; BERT-base auto, i.e. packed outputs for "
                        "the 768-input matrices: more setup, less online traffic)")
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
    # encoder layers only: without the embedding lookup, its LayerNorm (the first of 2*nl + 1) and
    # the pooling/head, so the figure compares with SPU's one-layer row
    ln = layers.get("LayerNorm", {})
    ln_calls = max(int(ln.get("calls", 1)), 1)
    skip = [layers.get(k, {}) for k in ("Embedding", "Head")]
    emb_ln = {k: ln.get(k, 0) / ln_calls for k in ("time_s", "bytes_sent", "bytes_recv")}
    enc_s = online_s - sum(c.get("time_s", 0) for c in skip) - emb_ln["time_s"]
    enc_b = online_bytes - sum(c.get("bytes_sent", 0) + c.get("bytes_recv", 0) for c in skip) \
        - emb_ln["bytes_sent"] - emb_ln["bytes_recv"]
    return {"online_s": online_s, "online_bytes": online_bytes,
            "setup_s": first["setup"].get("setup_time_s"), "setup_bytes": first["setup"].get("setup_bytes_recv", 0)
            + first["setup"].get("setup_bytes_sent", 0), "client_storage_bytes": first["setup"].get("storage_bytes"),
            "per_layer_s": enc_s / nl, "per_layer_bytes": enc_b / nl,
            "layers": {k: {kk: (round(vv, 4) if isinstance(vv, float) else vv) for kk, vv in v.items()}
                       for k, v in layers.items()}}


def _layouts(spec: str) -> dict:
    if "=" not in spec:
        return {m: spec for m in MODELS}
    out = {}
    for part in spec.split(","):
        m, _, v = part.partition("=")
        if m not in MODELS or v not in ("compact", "auto", "packed"):
            raise SystemExit(f"bench bert: bad --he-layout entry {part!r} (model=compact|auto|packed)")
        out[m] = v
    return out


def cases(args) -> list[dict]:
    out = []
    layouts = _layouts(args.he_layout)
    cache = tempfile.mkdtemp(prefix="party-bench-he-")
    for c in args.cases.split(","):
        name, _, tok = c.rpartition("-")
        if name not in MODELS or not tok.isdigit():
            raise SystemExit(f"bench bert: unknown case {c!r} (use e.g. minilm-l6-128, bert-base-128)")
        mdir = os.path.join(cache, name)
        shutil.rmtree(mdir, ignore_errors=True)
        out.append({"case": c, "job": "bert-classify", "model": MODELS[name], "inputs": [_text(int(tok))],
                    "params": {"ot": args.ot, "he_cache": mdir, "he_layout": layouts.get(name, "compact"),
                               **({"layers": args.layers} if args.layers else {})},
                    "extra": _extra})
    return out


def peer_rows(args, profile: str) -> list[dict]:
    return peer_rows_for("bert", args.cases.split(","), args, profile)

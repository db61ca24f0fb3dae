"""Fidelity of the secure model's arithmetic: the fixed-point simulator vs plaintext on held-out text.

    python -m bench.fidelity [--n 1000] [--model minilm-l6] [--workers 2] [--json FILE]

Runs the exact fixed-point arithmetic of the secure run (same rings, truncations, tables; see
``nn.backend.SimBackend``) on ``n`` held-out movie-review sentences (the test split, never used for
training the head or calibrating the tables) and compares with the float64 plaintext model:
prediction agreement, accuracy of both against the labels, cosine similarity of the pooled
embeddings, max |Δlogit|.  Acceptance (issue 6): agreement ≥ 99 %, accuracy within 0.5 points,
mean cosine ≥ 0.99.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import sys
import time

import numpy as np

_STATE: dict = {}


def _init(model_name: str, overrides: dict) -> None:
    from nn.hf import load_model
    from nn.model import BertEncoder, fixed_weights, load_tables
    from nn.plain import PlainBert
    from protocols.config import Config, set_config

    cfg = Config(**overrides)
    set_config(cfg)
    m = load_model(model_name)
    _STATE.update(model=m, plain=PlainBert(m.weights), fw=fixed_weights(m.weights, cfg.frac),
                  net=BertEncoder(m.config, load_tables(model_name if model_name == "minilm-l6" else "minilm-l6")),
                  cfg=cfg)


def _one(item):
    from nn.backend import SimBackend
    from protocols.ring import Ring

    text, label = item
    st = _STATE
    m, cfg = st["model"], st["cfg"]
    enc = m.encode(text, truncation=True)
    L = int(enc.lengths[0])
    ids = enc.input_ids[0, :L]
    out = st["plain"](ids[None])
    be = SimBackend(st["fw"], cfg.ell, cfg.frac)
    R = Ring(cfg.ell)
    pooled = R.decode(st["net"](be, ids, L, embed_only=True), cfg.frac)
    logits = R.decode(st["net"].head(be, R.encode(pooled, cfg.frac)[None, :])[0], cfg.frac)
    ref_p, ref_l = out.pooled[0], out.logits[0]
    cos = float(pooled @ ref_p / (np.linalg.norm(pooled) * np.linalg.norm(ref_p)))
    return dict(label=int(label), plain=int(np.argmax(ref_l)), sim=int(np.argmax(logits)), cos=cos,
                dlogit=float(np.abs(logits - ref_l).max()), tokens=L)


def run(n: int = 1000, model: str = "minilm-l6", workers: int = 2, overrides: dict | None = None,
        progress: bool = True) -> dict:
    from nn.data import sentiment_split
    from nn.model import Rings  # noqa: F401  (import check before forking)
    from protocols.config import get_config

    overrides = overrides or {}
    base = get_config().to_dict()
    base.pop("extra", None)
    base.update(overrides)
    test = sentiment_split().test
    items = list(zip(test.texts[:n], test.labels[:n]))
    t0 = time.time()
    ctx = mp.get_context("spawn")
    rows = []
    with ctx.Pool(workers, initializer=_init, initargs=(model, base)) as pool:
        it = pool.imap(_one, items, chunksize=4)
        if progress:
            from tqdm import tqdm

            it = tqdm(it, total=len(items), desc="fidelity", unit="sent", file=sys.stderr)
        rows.extend(it)
    lab = np.array([r["label"] for r in rows])
    pl = np.array([r["plain"] for r in rows])
    sm = np.array([r["sim"] for r in rows])
    cos = np.array([r["cos"] for r in rows])
    return {
        "model": model, "n": len(rows), "config": base,
        "agreement": float(np.mean(pl == sm)),
        "accuracy_plain": float(np.mean(pl == lab)),
        "accuracy_sim": float(np.mean(sm == lab)),
        "cosine_mean": float(cos.mean()), "cosine_min": float(cos.min()),
        "max_abs_dlogit": float(max(r["dlogit"] for r in rows)),
        "mean_tokens": float(np.mean([r["tokens"] for r in rows])),
        "seconds": time.time() - t0,
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.fidelity", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1000, help="held-out sentences (default 1000)")
    ap.add_argument("--model", default="minilm-l6")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--ell", type=int, default=None, help="ring L bits (default: the model's session config)")
    ap.add_argument("--json", help="write the result here")
    a = ap.parse_args(argv)
    from nn.model import model_config

    ov = model_config().to_dict()
    ov.pop("extra", None)
    if a.ell:
        ov["ell"] = a.ell
    res = run(a.n, a.model, a.workers, ov)
    print(f"| n | agreement | acc plain | acc sim | Δacc (points) | cos mean | cos min | max |Δlogit| |")
    print("|---|---|---|---|---|---|---|---|")
    print(f"| {res['n']} | {res['agreement']:.2%} | {res['accuracy_plain']:.2%} | {res['accuracy_sim']:.2%} | "
          f"{100 * (res['accuracy_sim'] - res['accuracy_plain']):+.2f} | {res['cosine_mean']:.5f} | "
          f"{res['cosine_min']:.5f} | {res['max_abs_dlogit']:.4f} |")
    print(f"({res['seconds']:.0f} s, ring ell={res['config']['ell']}, frac={res['config']['frac']})")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""``party calibrate``: record a model's non-linear inputs on calibration text and fit approximation tables.

Glue between ``nn`` (plaintext model + ``Recorder``, calibration sentences) and ``approx`` (fitting,
tables, plots) — it lives here because ``approx`` must not import ``nn``.
"""
from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

from ._common import apply_config, add_config_arg, die

log = logging.getLogger("party.cli")


def add_parser(sub) -> None:
    p = sub.add_parser(
        "calibrate",
        help="fit GELU/exp approximation tables to a model's activations",
        description="Run the plaintext model on training-split movie-review sentences, record the inputs of "
        "GELU, exp (after max subtraction), the softmax reciprocal and LayerNorm's rsqrt per layer, fit "
        "piecewise polynomials weighted by their empirical density (breakpoints by search, worst-case bound, "
        "degree/segment trade-off) and write versioned tables approx/tables/<model>/<fn>.v<N>.json with plots.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--model", default="minilm-l6", help="model name (nn.hf registry) or folder")
    p.add_argument("--texts", type=int, default=400, help="calibration sentences (training split); 1 in 4 is held out")
    p.add_argument("--seed", type=int, default=0, help="seed of the sentence choice and of sub-sampling")
    p.add_argument("--functions", default="gelu,exp,exp-lookup,recip,rsqrt",
                   help="comma-separated functions to fit: gelu, exp, Newton initial guesses recip, rsqrt, and "
                   "exp-lookup (the window of softmax's exact exp by lookup, chosen on the recorded inputs)")
    p.add_argument("--out", default=None, help="tables root (default: approx/tables in the source tree)")
    p.add_argument("--version", type=int, default=None, help="table version to write (default: next free)")
    p.add_argument("--max-samples", type=int, default=200_000, help="recorded values kept per (kind, layer, site)")
    p.add_argument("--save-samples", type=int, default=8000,
                   help="held-out values per key saved to samples-heldout.npz for benchmarks (0: do not save)")
    p.add_argument("--rings", default="32:13", help="ell:frac settings the tables must run in without overflow")
    p.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    p.add_argument("--batch", type=int, default=32, help="sentences per forward batch")
    add_config_arg(p)
    p.set_defaults(func=run)


def record(model_name: str, texts: list[str], *, max_samples: int, seed: int, batch: int = 32):
    """Run the float64 plaintext model with a Recorder; returns (flat dict of inputs, model, recorder)."""
    import numpy as np

    from approx.calibrate import from_recorder
    from nn.hf import load_model
    from nn.plain import PlainBert, Recorder

    model = load_model(model_name, head=False)
    pb = PlainBert(model.weights, dtype=np.float64)
    rec = Recorder(max_samples=max_samples, seed=seed, record_timings=False)
    for i in range(0, len(texts), batch):
        enc = model.encode(texts[i:i + batch])
        pb.encode(enc.input_ids, enc.attention_mask, enc.token_type_ids, recorder=rec)
    return from_recorder(rec), model, rec


def run(args) -> int:
    apply_config(args)
    from approx.calibrate import calibrate, save_samples
    from approx.tables import TABLES_DIR, next_version
    from nn.data import calibration_texts

    try:
        texts = calibration_texts(args.texts, seed=args.seed)
    except Exception as e:  # data missing and offline
        return die(f"calibration data unavailable: {e}")
    held = texts[::4]
    fit_texts = [t for i, t in enumerate(texts) if i % 4]
    t0 = time.time()
    inputs, model, rec = record(args.model, fit_texts, max_samples=args.max_samples, seed=args.seed, batch=args.batch)
    ev, _, rec_ev = record(args.model, held, max_samples=args.max_samples, seed=args.seed + 1, batch=args.batch)
    log.info("recorded %d + %d sentences (%d + %d tokens) in %.1f s", len(fit_texts), len(held), rec.tokens,
             rec_ev.tokens, time.time() - t0)
    rings = tuple(tuple(int(v) for v in r.split(":")) for r in args.rings.split(",") if r)
    source = {"model": model.name, "model_hash": model.hash, "data": "vaderSentiment 3.3.2 movie reviews, train split",
              "texts": len(fit_texts), "held_out_texts": len(held), "held_out_samples": "samples-heldout.npz", "tokens": rec.tokens, "seed": args.seed,
              "recorder": "nn.plain.Recorder (float64), per layer; tables pool all layers",
              "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    root = Path(args.out) if args.out else TABLES_DIR
    functions = [f.strip() for f in args.functions.split(",") if f.strip()]
    version = args.version if args.version is not None else max(next_version(model.name, f, root) for f in functions)
    res = calibrate(inputs, model.name, functions=functions, out_dir=root, version=version, source=source,
                    plots=not args.no_plots, eval_inputs=ev, rings=rings)
    if args.save_samples:
        save_samples(root / model.name / "samples-heldout.npz", ev, args.save_samples, args.seed)
    for fn, c in res.items():
        t = c.table
        print(f"{fn}: {t.describe()}  -> {c.path}")
        if fn == "exp-lookup":
            print(f"   window error {json.dumps(t.info['errors'])};  target {c.target:.3g}")
            continue
        print(f"   calibration {json.dumps({k: round(v, 6) for k, v in t.errors['calibration'].items()})}")
        if "held_out" in t.errors:
            print(f"   held-out    {json.dumps({k: round(v, 6) for k, v in t.errors['held_out'].items()})}")
        print(f"   worst case over {t.errors['worst_case']['lo']}..{t.errors['worst_case']['hi']}: "
              f"{t.errors['worst_case']['bound']:.3g};  baseline {c.baseline_stats}")
    print(f"done in {time.time() - t0:.1f} s")
    return 0

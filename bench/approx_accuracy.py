"""Acceptance table of issue 5 (approx half): our fitted tables vs BumbleBee's approximations.

    python -m bench.approx_accuracy [--model minilm-l6] [--version N] [--samples PATH] [--json out.json]

Per function (GELU; exp after max subtraction — our lookup exp, our fitted table and BumbleBee's
squarings): mean and max absolute error on MiniLM's real
recorded inputs (the held-out calibration sentences saved by ``party calibrate``, all layers
pooled), in float64 and in the fixed-point simulator at ell=32/f=13 and ell=64/f=18, with exact
(floor) truncation and with the stochastic-rounding truncation the secure protocol's default mode
produces, next to the secure cost of each method.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from approx.baselines import ExpSquaring, bumblebee_gelu
from approx.exp_lookup import ExpLookup
from approx.calibrate import load_samples, pooled
from approx.fit import secure_cost
from approx.fixed import decode, encode
from approx.functions import reference
from approx.tables import TABLES_DIR, load_table

# floor = exact truncation (bit-exact twin of the simulator); stoch = floor + {0,1} with P(+1) = the
# fractional part, which is what protocols/trunc.py's default (faithful) truncation returns.
SETTINGS = [("float", None, None, None), ("fx32/13 floor", 32, 13, "floor"), ("fx64/18 floor", 64, 18, "floor"),
            ("fx32/13 stoch", 32, 13, "prob"), ("fx64/18 stoch", 64, 18, "prob")]


def errors(method, fn: str, x: np.ndarray, relative: bool = False) -> dict[str, dict[str, float]]:
    f = reference(fn)(x)
    out = {}
    for name, ell, frac, trunc in SETTINGS:
        if ell is None:
            y = method.evaluate_float(x)
        else:
            y = decode(method.evaluate_fixed(encode(x, ell, frac), ell, frac, trunc, seed=1), ell, frac)
        e = np.abs(y - f) / (np.abs(f) if relative else 1.0)
        out[name] = {"mean_abs": float(e.mean()), "max_abs": float(e.max())}
    return out


def cost(method) -> dict:
    return method.secure_cost(32) if hasattr(method, "secure_cost") else secure_cost(method, 32)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="minilm-l6")
    ap.add_argument("--version", type=int, default=None, help="table version (default: newest)")
    ap.add_argument("--samples", default=None, help="npz of recorded inputs (default: the tables' held-out samples)")
    ap.add_argument("--json", default=None, help="also write the numbers here")
    ap.add_argument("--tradeoff", action="store_true", help="also print the degree/segment trade-off of the fit")
    ap.add_argument("--per-layer", action="store_true", help="also print mean abs error per layer (float, fx32/13)")
    args = ap.parse_args(argv)

    tabs = {fn: load_table(args.model, fn, args.version) for fn in ("gelu", "exp")}
    v = tabs["gelu"].version
    spath = Path(args.samples) if args.samples else TABLES_DIR / args.model / "samples-heldout.npz"
    inputs = load_samples(spath)
    methods = {
        "gelu": [(f"ours v{tabs['gelu'].version} {tabs['gelu'].fit.get('shape', '')}", tabs["gelu"]),
                 ("BumbleBee 0|p3|p6|x", bumblebee_gelu())],
        "exp": [("ours: lookup (softmax default)", ExpLookup()),
                (f"ours v{tabs['exp'].version} {tabs['exp'].fit.get('shape', '')}", tabs["exp"]),
                (f"BumbleBee (1+x/2^n)^2^n n={ExpSquaring().n}", ExpSquaring()),
                ("BumbleBee (1+x/2^n)^2^n n=5", ExpSquaring(5))],
    }
    report = {"model": args.model, "samples": str(spath), "results": {}}
    hdr = f"{'method':<34}{'cmp':>4}{'mul':>4}{'trn':>4}{'~kbit':>7}" + "".join(f"{s[0]:>24}" for s in SETTINGS)
    print(f"# approximation accuracy on {args.model} recorded inputs ({spath.name}); mean / max abs error")
    print("# cost per element at ell=32: comparisons, products, truncations, estimated traffic (DESIGN §4 figures)")
    for fn, ms in methods.items():
        x = pooled(inputs, fn)
        print(f"\n{fn}: {x.size} inputs in [{x.min():.2f}, {x.max():.2f}]")
        print(hdr)
        for name, m in ms:
            t0 = time.perf_counter()
            err = errors(m, fn, x)
            c = cost(m)
            report["results"].setdefault(fn, {})[name] = {"errors": err, "cost_ell32": c,
                                                         "seconds": time.perf_counter() - t0}
            cells = "".join(f"{e['mean_abs']:>11.2e} / {e['max_abs']:<10.2e}" for e in err.values())
            print(f"{name:<34}{c['comparisons']:>4}{c['mul_aa']:>4}{c['trunc']:>4}{c['est_bits'] / 1000:>7.1f}{cells}")
    if args.tradeoff:
        from approx.fit import format_tradeoff

        for fn, t in tabs.items():
            cands = t.fit.get("selection", {}).get("candidates", [])
            print(f"\n{fn} trade-off on the calibration inputs (chosen: {t.fit.get('shape')}; "
                  f"rule: {t.fit.get('selection', {}).get('rule')} = {t.fit.get('selection', {}).get('target'):.3g})")
            print(format_tradeoff(cands))
    if args.per_layer:
        from approx.calibrate import KIND_OF

        print("\nper layer: mean abs error, float | fx32/13")
        for fn, ms in methods.items():
            keys = sorted((k for k in inputs if k.split("/")[0] == KIND_OF[fn]), key=lambda k: int(k.split("/")[1]))
            print(f"{fn:<6}" + "".join(f"{'L' + k.split('/')[1]:>22}" for k in keys))
            for name, m in ms:
                cells = []
                for k in keys:
                    xl = np.asarray(inputs[k], np.float64)
                    e = errors(m, fn, xl)
                    cells.append(f"{e['float']['mean_abs']:>10.2e} | {e['fx32/13 floor']['mean_abs']:<9.2e}")
                print(f"  {name[:30]:<30}\n      " + "".join(f"{c:>22}" for c in cells))
    guesses = []
    for fn in ("recip", "rsqrt"):
        try:
            guesses.append((fn, load_table(args.model, fn, args.version)))
        except FileNotFoundError:
            pass
    if guesses:
        print("\nNewton initial guesses (relative error; tables valid on their calibrated domain)")
        print(hdr)
    for fn, t in guesses:
        x = pooled(inputs, fn)
        lo, hi = t.domain
        inside = x[(x >= lo) & (x <= hi)] if lo is not None and hi is not None else x
        err = errors(t, fn, inside, relative=True)
        c = cost(t)
        name = f"{fn} v{t.version} {t.fit.get('shape', '')}"
        report["results"].setdefault(fn, {})[name] = {"errors_relative": err, "cost_ell32": c,
                                                     "n_inside_domain": int(inside.size), "n": int(x.size)}
        cells = "".join(f"{e['mean_abs']:>11.2e} / {e['max_abs']:<10.2e}" for e in err.values())
        print(f"{name:<34}{c['comparisons']:>4}{c['mul_aa']:>4}{c['trunc']:>4}{c['est_bits'] / 1000:>7.1f}{cells}")
        print(f"   ({inside.size}/{x.size} held-out inputs inside the domain [{lo:.4g}, {hi:.4g}])")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

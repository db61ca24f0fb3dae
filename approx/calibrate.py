"""Calibration: from recorded activations to versioned tables.

The recording itself (running the plaintext model on calibration text with ``nn.plain.Recorder``)
is glue in ``party/commands/calibrate.py`` so that ``approx`` stays below ``nn`` in the import
order; this module only consumes a *recorder-produced dict of arrays*:

    {"gelu_in/0/ffn": array, "gelu_in/1/ffn": array, ..., "exp_in/0/attn": array, ...,
     "recip_in/0/attn": ..., "rsqrt_in/-1/emb": ...}

(keys ``kind/layer/site`` as in ``nn.plain.Recorder.keys()``; :func:`from_recorder` builds it from a
Recorder object without importing ``nn``).

:func:`calibrate` fits every candidate shape for each function (:func:`approx.fit.tradeoff`),
picks the cheapest (estimated secure traffic) whose mean absolute error on the calibration inputs
meets the target — by default a fraction of the BumbleBee baseline's error — and writes
``approx/tables/<model>/<function>.v<N>.json`` (a new version each run unless ``version`` is given),
``tradeoff.<function>.v<N>.txt`` and the plots.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from .baselines import ExpSquaring, bumblebee_gelu
from .fit import IDENTITY, FitResult, Piece, error_stats, format_tradeoff, poly, secure_cost, tradeoff
from .functions import DOMAINS, reference
from .tables import TABLES_DIR, PiecewisePoly, next_version

KIND_OF = {"gelu": "gelu_in", "exp": "exp_in", "recip": "recip_in", "rsqrt": "rsqrt_in"}

# Candidate shapes per function (the zero region below b_0 is implicit).
DEFAULT_SHAPES: dict[str, list[list[Piece]]] = {
    "gelu": [
        [poly(2), IDENTITY],
        [poly(3), IDENTITY],
        [poly(2), poly(2), IDENTITY],
        [poly(1), poly(2), IDENTITY],
        [poly(3), poly(3), IDENTITY],
        [poly(2), poly(2), poly(2), IDENTITY],
        [poly(1), poly(2), poly(2), IDENTITY],
    ],
    "exp": [
        [poly(2)],
        [poly(3)],
        [poly(2), poly(2)],
        [poly(2), poly(3)],
        [poly(1), poly(2), poly(3)],
        [poly(2), poly(2), poly(3)],
        [poly(1), poly(2), poly(2), poly(3)],
        [poly(2), poly(2), poly(3), poly(3)],
        # quadratic pieces only: one squaring, the breakpoints share their OTs (ge_multi)
        [poly(2)] * 4,
        [poly(2)] * 5,
        [poly(1)] + [poly(2)] * 4,
        [poly(2)] * 6,
        [poly(1)] + [poly(2)] * 5,
    ],
    # initial guesses for Newton iterations (first piece open to -inf: no zero region)
    "recip": [[poly(1)] * 2, [poly(1)] * 3, [poly(2), poly(1), poly(1)], [poly(1)] * 4],
    "rsqrt": [[poly(1)] * 3, [poly(1)] * 4, [poly(1)] * 5, [poly(1)] * 6],
}

# Per-function fitting settings.  recip/rsqrt tables are *initial guesses* for Newton's method, valid
# on the calibrated range only (stored as the table's domain): fitted on the relative error with
# log-spaced bins, selected on the worst-case relative error (Newton needs |1 - y0 f^-1| < 1).
FIT_SETTINGS: dict[str, dict[str, Any]] = {
    "gelu": dict(max_err=0.05),
    # breakpoints on the 1/8 grid of the softmax's lookup-table selection (nn.functional.softmax:
    # one 64-entry lookup on z at 2^-3 resolution covers [-7.625, 0.375), the first breakpoint is
    # compared at the same resolution, so it may not lie below that window); that lookup sees z
    # rounded up or down to the grid, so each piece is also fitted one step below its breakpoint
    "exp": dict(max_err=0.01, round_bp=3, min_bp=-7.625, band=0.125),
    "recip": dict(open_left=True, relative=True, spacing="log", lams=(0.0, 0.05, 0.3, 1.0), max_err=0.5),
    "rsqrt": dict(open_left=True, relative=True, spacing="log", lams=(0.0, 0.05, 0.3, 1.0), max_err=0.5),
}
# The fitting range always covers this core interval (besides the calibrated range), so that the
# uniform part of the weights (lambda) keeps the worst case bounded where calibration saw no data.
CORE_RANGE = {"gelu": (-8.0, 8.0), "exp": (-16.0, 0.0)}
# Selection: cheapest shape whose criterion meets the target.
CRITERION = {"gelu": "mean_abs", "exp": "mean_abs", "recip": "worst_case", "rsqrt": "worst_case"}
DEFAULT_TARGET = {"recip": 0.4, "rsqrt": 0.4}

# Target mean absolute error = ratio x the baseline's (float) mean absolute error on the same inputs.
DEFAULT_TARGET_RATIO = {"gelu": 0.6, "exp": 1.0}


def baseline_for(function: str):
    if function == "gelu":
        return bumblebee_gelu()
    if function == "exp":
        return ExpSquaring()
    return None


# --- recorder dicts -------------------------------------------------------------------------------
def from_recorder(rec) -> dict[str, np.ndarray]:
    """``{"kind/layer/site": values}`` from an ``nn.plain.Recorder`` (duck-typed: keys(), values())."""
    return {f"{k}/{l}/{s}": np.asarray(rec.values(k, l, s)) for k, l, s in rec.keys()}


def split_keys(inputs: Mapping[str, np.ndarray]) -> dict[str, dict[str, np.ndarray]]:
    """Group a flat recorder dict by kind: ``{kind: {"layer/site": values}}``."""
    out: dict[str, dict[str, np.ndarray]] = {}
    for key, v in inputs.items():
        kind, _, rest = key.partition("/")
        out.setdefault(kind, {})[rest or "all"] = np.asarray(v).reshape(-1)
    return out


def pooled(inputs: Mapping[str, np.ndarray], function: str) -> np.ndarray:
    """All recorded inputs of ``function`` (every layer), float64."""
    kind = KIND_OF.get(function, function)
    parts = [np.asarray(v, np.float64).reshape(-1) for k, v in sorted(inputs.items()) if k.split("/")[0] == kind]
    if not parts:
        raise KeyError(f"no recorded inputs of kind {kind!r} (have: {sorted({k.split('/')[0] for k in inputs})})")
    return np.concatenate(parts)


def save_samples(path: str | Path, inputs: Mapping[str, np.ndarray], per_key: int | None = 8000,
                 seed: int = 0) -> Path:
    """Save (a uniform subsample of) recorded inputs as float32 ``.npz`` (keys ``kind/layer/site``)."""
    rng = np.random.default_rng(seed)  # calibration data, not protocol randomness
    out = {}
    for k, v in inputs.items():
        v = np.asarray(v, np.float32).reshape(-1)
        if per_key is not None and v.size > per_key:
            v = v[np.sort(rng.choice(v.size, per_key, replace=False))]
        out[k] = v
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **out)
    return path


def load_samples(path: str | Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def summarize(inputs: Mapping[str, np.ndarray], function: str) -> dict[str, Any]:
    """Per-layer count/min/max/mean/std and pooled quantiles (stored in the table's metadata)."""
    kind = KIND_OF.get(function, function)
    per = {}
    for k, v in sorted(inputs.items()):
        if k.split("/")[0] != kind:
            continue
        v = np.asarray(v, np.float64)
        per[k.split("/", 1)[1]] = {"n": int(v.size), "min": float(v.min()), "max": float(v.max()),
                                   "mean": float(v.mean()), "std": float(v.std())}
    x = pooled(inputs, function)
    q = [0.0, 0.001, 0.01, 0.1, 0.5, 0.9, 0.99, 0.999, 1.0]
    return {"kind": kind, "per_layer": per, "n": int(x.size),
            "quantiles": {str(a): float(b) for a, b in zip(q, np.quantile(x, q))}}


# --- calibration ------------------------------------------------------------------------------------
@dataclass
class Calibrated:
    function: str
    table: PiecewisePoly
    rows: list[dict]
    baseline_stats: dict[str, float] | None
    target: float | None
    path: Path | None = None


def choose(rows: Sequence[dict], target: float | None, criterion: str = "mean_abs") -> dict:
    """Cheapest admissible row (estimated bits) whose ``criterion`` ("mean_abs" on the calibration
    inputs, or "worst_case") meets the target; without a target or if none meets it: the best."""
    ok = [r for r in rows if "error" not in r]
    if not ok:
        raise ValueError("no admissible shape")
    if target is not None:
        meet = [r for r in ok if r[criterion] <= target]
        if meet:
            return min(meet, key=lambda r: (r["est_bits"], r[criterion]))
    return min(ok, key=lambda r: r[criterion])


def calibrate_function(function: str, inputs: Mapping[str, np.ndarray], *, shapes=None, target: float | None = None,
                       target_ratio: float | None = None, rings=((32, 13),), source: Mapping[str, Any] | None = None,
                       model: str = "", **fit_kw) -> Calibrated:
    """Fit the candidate shapes of ``function`` on the recorded inputs and choose one."""
    x = pooled(inputs, function)
    shapes = shapes or DEFAULT_SHAPES[function]
    base = baseline_for(function)
    bstats = error_stats(base.evaluate_float, reference(function), x) if base is not None else None
    if target is None and bstats is not None:
        target = (target_ratio if target_ratio is not None else DEFAULT_TARGET_RATIO.get(function, 1.0)) * bstats["mean_abs"]
    if target is None:
        target = DEFAULT_TARGET.get(function)
    settings = {**FIT_SETTINGS.get(function, {}), **fit_kw}
    guess = settings.get("open_left", False)
    if function in CORE_RANGE and "lo" not in settings and "hi" not in settings:
        settings["lo"] = min(float(x.min()), CORE_RANGE[function][0])
        settings["hi"] = max(float(x.max()), CORE_RANGE[function][1])
    domain = (float(x.min()), float(x.max())) if guess else DOMAINS.get(function, (None, None))
    rows = tradeoff(function, x, shapes, rings=rings, domain_hi=domain[1], **settings)
    criterion = CRITERION.get(function, "mean_abs")
    best = choose(rows, target, criterion)
    res: FitResult = best["result"]
    t = res.table
    t.model = model
    t.domain = domain
    t.calibration = {**(dict(source) if source else {}), "inputs": summarize(inputs, function)}
    t.fit["selection"] = {"rule": f"cheapest est_bits with {criterion} <= target", "target": target,
                          "baseline": base.describe() if base is not None else None, "baseline_stats": bstats,
                          "secure_cost_ell32": secure_cost(t, 32),
                          "candidates": [{k: v for k, v in r.items() if k != "result"} for r in rows]}
    return Calibrated(function, t, rows, bstats, target)


def calibrate(inputs: Mapping[str, np.ndarray], model: str, *, functions: Sequence[str] = ("gelu", "exp"),
              out_dir: str | Path | None = None, version: int | None = None, source: Mapping[str, Any] | None = None,
              plots: bool = True, eval_inputs: Mapping[str, np.ndarray] | None = None, **kw) -> dict[str, Calibrated]:
    """Calibrate ``functions`` and write their tables under ``out_dir/<model>/`` (default
    ``approx/tables``).  Returns ``{function: Calibrated}``."""
    root = Path(out_dir) if out_dir is not None else TABLES_DIR
    out: dict[str, Calibrated] = {}
    for fn in functions:
        if fn == "exp-lookup":
            out[fn] = _calibrate_exp_lookup(inputs, model, root, version, source, eval_inputs)
            continue
        c = calibrate_function(fn, inputs, source=source, model=model, **kw)
        v = version if version is not None else next_version(model, fn, root)
        c.table.version = v
        if eval_inputs is not None:
            xe = pooled(eval_inputs, fn)
            rel = bool(c.table.fit.get("error") == "relative")
            c.table.errors["held_out"] = error_stats(c.table.evaluate_float, reference(fn), xe, rel)
        d = root / model
        c.path = c.table.save(d / f"{fn}.v{v}.json")
        (d / f"tradeoff.{fn}.v{v}.txt").write_text(
            f"# {fn}: candidate shapes on {model} calibration inputs ({c.table.fit.get('error')} error;"
            f" target {CRITERION.get(fn, 'mean_abs')} <= {c.target:.3g};"
            f" baseline {json.dumps(c.baseline_stats)})\n" + format_tradeoff(c.rows) + "\n")
        if plots:
            from .plots import plot_fit

            base = baseline_for(fn)
            plot_fit(c.table, pooled(inputs, fn), d / "plots" / f"{fn}.v{v}.png",
                     others={"BumbleBee": base} if base is not None else None)
        out[fn] = c
    return out


def _calibrate_exp_lookup(inputs, model: str, root: Path, version, source, eval_inputs) -> Calibrated:
    """softmax's lookup exp (:mod:`approx.exp_lookup`): its window from the recorded exp inputs,
    saved as ``exp-lookup.v<N>.json``."""
    from .exp_lookup import FILE_STEM, calibrate_lookup

    x = pooled(inputs, "exp")
    baseline = baseline_for("exp")
    base = error_stats(baseline.evaluate_float, reference("exp"), x)
    t = calibrate_lookup(x, base["mean_abs"], held_out=pooled(eval_inputs, "exp") if eval_inputs is not None else None)
    t.model = model
    t.version = version if version is not None else next_version(model, FILE_STEM, root)
    t.info["calibration"] = {**(dict(source) if source else {}), "inputs": summarize(inputs, "exp")}
    t.info["baseline"] = baseline.describe()
    path = t.save(root / model / f"{FILE_STEM}.v{t.version}.json")
    return Calibrated("exp-lookup", t, [], base, t.info["selection"]["target"], path)

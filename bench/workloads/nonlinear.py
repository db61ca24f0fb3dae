"""Secure non-linear layers: GELU, softmax, LayerNorm between two processes.

    python -m bench nonlinear [--profile lan,wan] [--impl party,bumblebee-approx] [--cases ...]

Cases: ``gelu-128x3072``, ``softmax-12x128x128``, ``layernorm-128x768``.  Impl ``party`` is our
default: GELU by its distribution-fitted table (``approx/tables/minilm-l6``: 0|p2|p2|p2|x) and
softmax's exp by lookup (``approx/exp_lookup.py``, ``protocols/exp_lut.py``: exact up to rounding),
in ring 2^32 with 13 fraction bits; ``party-fitted`` (softmax only) is softmax with the fitted exp
table (0|p1|p2|p2|p2|p2, pieces selected by one comparison and one lookup) instead;
``bumblebee-approx`` evaluates BumbleBee's approximations with the *same* protocols (GELU
0|p3|p6|x in ring 2^64 with 18 fraction bits — its degree-6 piece overflows 2^32 — and exp ≈
(1 + x/2^n)^(2^n), n = config ``exp_squarings``, in ring 2^32), so the ratio isolates the
approximations.  LayerNorm has no approximation to swap (both would be the same protocol), so it
runs as ``party`` only.  Inputs are public-coin test data drawn from the shared PRG (MiniLM-like
spreads); the row's ``max_abs_err`` compares the revealed output with float64.
SPU CHEETAH rows come from ``bench/peers`` (see ``bench/workloads/_peers.py``).
"""
from __future__ import annotations

import time

import numpy as np

from ._peers import add_peer_args, peer_rows_for

DESCRIPTION = "secure GELU / softmax / LayerNorm: ours (party, party-fitted) vs BumbleBee's approximations (+ SPU CHEETAH)"
DEFAULT_CASES = "gelu-128x3072,softmax-12x128x128,layernorm-128x768"


def add_args(p) -> None:
    p.add_argument("--cases", default=DEFAULT_CASES)
    p.add_argument("--impl", default="party,bumblebee-approx")
    p.add_argument("--ot", default="ferret")
    add_peer_args(p)


def _extra(results: list, row: dict) -> dict:
    r = results[-1]
    return {k: r[k] for k in ("elements", "bytes_per_elem", "max_abs_err", "mean_abs_err", "ell", "frac", "setup_bytes", "ot_warmup_s") if k in r}


def cases(args) -> list[dict]:
    out = []
    for c in args.cases.split(","):
        for impl in args.impl.split(","):
            if (c.startswith("layernorm") and impl != "party") or (impl == "party-fitted" and not c.startswith("softmax")):
                continue
            out.append({"case": c, "impl": impl, "job": "bench-nonlinear",
                        "params": {"case": c, "impl": impl, "ot": args.ot}, "extra": _extra})
    return out


def peer_rows(args, profile: str) -> list[dict]:
    return peer_rows_for("nonlinear", args.cases.split(","), args, profile)


def _normal(prg, shape, mu: float, sd: float) -> np.ndarray:
    """Public-coin normal samples from the shared PRG (Box-Muller)."""
    n = int(np.prod(shape))
    u = (prg.uint64(2 * n) >> np.uint64(11)).astype(np.float64) / 2.0**53
    z = np.sqrt(-2 * np.log1p(-u[:n])) * np.cos(2 * np.pi * u[n:])
    return (mu + sd * z).reshape(shape)


def run_case(ch, params: dict) -> dict:
    from approx import ExpSquaring, bumblebee_gelu
    from nn.backend import SimBackend  # noqa: F401  (import check)
    from nn.functional import layer_norm, nl_span, piecewise, softmax
    from nn.model import load_tables
    from nn.secure import SecureBackend
    from nn.plain import gelu as gelu_ref
    from protocols.context import MPC
    from protocols.ring import Ring

    case, impl = params["case"], params.get("impl", "party")
    kind, _, dims = case.partition("-")
    shape = tuple(int(d) for d in dims.split("x"))
    if kind not in ("gelu", "softmax", "layernorm") or int(np.prod(shape)) > 4_000_000:
        raise ValueError(f"unknown or oversized nonlinear case {case!r}")
    if impl not in ("party", "party-fitted", "bumblebee-approx"):
        raise ValueError(f"unknown impl {impl!r}")
    mpc = MPC.setup(ch, ot_kind=params.get("ot", "ferret"))
    # the COT engine's one-time bootstrap (IKNP + Ferret's first iteration) before the timed part,
    # as in the primitives bench and SPU's untimed warm-up run: a session pays it once
    warm = mpc.warm_up_ot()
    setup = ch.total.bytes_sent + ch.total.bytes_recv
    tables = load_tables()
    ell, frac = 32, 13
    weights = None
    if kind == "gelu":
        x = _normal(mpc.shared_prg, shape, -0.6, 1.5)
        ref = gelu_ref(x)
        if impl in ("party", "party-fitted"):
            fn = lambda be, xs: piecewise(be, tables["gelu"], xs, ell, frac, span=nl_span(frac))  # noqa: E731
        else:
            ell, frac = 64, 18
            bb = bumblebee_gelu()
            fn = lambda be, xs: piecewise(be, bb, xs, ell, frac, span=nl_span(frac))  # noqa: E731
    elif kind == "softmax":
        x = _normal(mpc.shared_prg, shape, 0.0, 2.0)
        e = np.exp(x - x.max(-1, keepdims=True))
        ref = e / e.sum(-1, keepdims=True)
        table = {"party": tables["exp"], "party-fitted": tables["exp_fitted"]}.get(impl) or ExpSquaring()
        fn = lambda be, xs: softmax(be, xs, table, ell, frac)  # noqa: E731
    else:
        ell = 40
        x = _normal(mpc.shared_prg, shape, 0.0, 1.5)
        ref = (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + 1e-12)
        H = shape[-1]
        weights = {"ln.g": np.full(H, 1 << frac, np.int64), "ln.b": np.zeros(H, np.int64)}
        fn = lambda be, xs: layer_norm(be, xs, "ln", 1e-12, ell, frac, x_bits=5, var_bits=4,  # noqa: E731
                                       var_range=(2.0**-4, 2.0**4))
    R = Ring(ell)
    xr = R.encode(x, frac)
    r = R.reduce(mpc.shared_prg.uint64(xr.shape))
    share = r if mpc.party == 0 else R.sub(xr, r)  # public-coin test data, shared for the protocol

    class _Shapes:  # server_const on the client needs the public shapes
        def public_shape(self, name):
            return (shape[-1],)

    be = SecureBackend(mpc, _Shapes(), (weights or {}) if mpc.party == 0 else None)
    start = ch.snapshot()
    t0 = time.perf_counter()
    y = fn(be, share)
    t = time.perf_counter() - t0
    c = ch.cost_since(start)
    # reveal (outside the timed part) to measure the error
    other = ch.exchange(y)[0]
    got = R.decode(R.add(y, other), frac)
    n = int(np.prod(shape))
    return {"time_s": t, "elements": n, "bytes_per_elem": (c.bytes_sent + c.bytes_recv) / n,
            "max_abs_err": float(np.abs(got - ref).max()), "mean_abs_err": float(np.abs(got - ref).mean()),
            "ell": ell, "frac": frac, "setup_bytes": setup, "ot_warmup_s": warm}


try:  # the server process imports this module (PARTY_JOB_MODULES) to serve the job
    from party.jobs import Job, register_job

    @register_job("bench-nonlinear")
    class NonlinearJob(Job):
        description = "benchmark one secure non-linear layer on public-coin test data"

        def server(self, ch, model, params):
            run_case(ch, params)

        def client(self, ch, params, inputs):
            return run_case(ch, params)
except ImportError:  # pragma: no cover
    pass

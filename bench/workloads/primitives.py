"""2PC primitives between two processes: silent COT, comparison, multiplication + truncation, …

    python -m bench primitives [--profile none,lan] [--n 1000000] [--cases cot,cmp64,mul_trunc64,...]

Cases (``case`` names the primitive, ``n`` the batch): ``cot`` (dual-LPN silent COTs both directions,
bootstrap included; ``cot_ferret`` / ``cot_iknp``: the same for Ferret / IKNP), ``cmp64``/``cmp32`` (``lt_aa`` of ℓ-bit shares), ``mul_trunc64``/``mul_trunc32``
(``mul_aa`` + faithful ``trunc_a``, the product on the engine ``mul_engine='auto'`` picks: batched
BFV at 64 bits, Gilboa/COT at 32; ``mul_trunc64_ot`` / ``mul_trunc64_he`` force one;
``mul_trunc64_seal`` runs the HE engine on SEAL's BFV, ``he_mul_backend="seal"``, the baseline of
our own), ``b2a64``, ``select64``, ``recip32``, ``rsqrt32``.  Row
``time_s_*`` is the kernel's time on the client (OT setup and the COT engine's one-time bootstrap,
``MPC.warm_up_ot``, are excluded for kernels and reported as ``ot_warmup_s``, as SPU's one-time
set-up is excluded from its rows; the ``cot`` case includes the bootstrap), bytes are the whole session's (setup included); the extra fields
``bytes_per_elem`` (both directions, the kernel's own traffic including the COTs it consumed) and
``rate_per_s`` are the per-element figures.  SPU CHEETAH rows (``impl = spu-cheetah``) for
``cmp64`` and ``mul_trunc64`` come from ``bench/peers`` (see ``bench/workloads/_peers.py``).
"""
from __future__ import annotations

import time

from ._peers import add_peer_args, peer_rows_for

DESCRIPTION = "2PC primitives at n = 10^6: silent COT, 64/32-bit comparison, mul+trunc (+ SPU CHEETAH rows)"
DEFAULT = "cot,cot_ferret,cmp64,mul_trunc64,mul_trunc64_ot,cmp32,mul_trunc32"


def add_args(p) -> None:
    p.add_argument("--n", type=int, default=1_000_000, help="batch size (default 10^6)")
    p.add_argument("--cases", default=DEFAULT, help=f"comma-separated (default {DEFAULT})")
    p.add_argument("--ot", default="ferret", help="COT engine of the kernels: ferret (default), silent or iknp")
    add_peer_args(p)


def _extra(results: list, row: dict) -> dict:
    r = results[-1]
    keep = ("n", "ell", "bytes_per_elem", "ot_warmup_s", "analytic_bytes_per_elem", "cot_bytes_per_elem", "cpu_s",
            "bits_per_cot", "cots_per_s", "cots_per_s_steady", "bits_per_cot_steady", "lpn", "engine", "setup_s",
            "setup_bytes")
    out = {k: r[k] for k in keep if k in r}
    ts = sorted(x["time_s"] for x in results)
    out["rate_per_s"] = r["n"] * (2 if str(r.get("case")).startswith("cot") else 1) / ts[len(ts) // 2]
    return out


def cases(args) -> list[dict]:
    return [{"case": c, "job": "bench-primitives", "params": {"case": c, "n": args.n, "ot": args.ot},
             "extra": _extra} for c in args.cases.split(",")]


def peer_rows(args, profile: str) -> list[dict]:
    return peer_rows_for("primitives", [c for c in args.cases.split(",") if c in ("cmp64", "mul_trunc64")], args, profile)


def run_case(ch, params: dict) -> dict:
    """Both parties: set up OT, run one primitive on n elements, return this party's figures."""
    import re

    from protocols.config import override
    from protocols.context import MPC

    from .ot_bench import run_cot_bench
    from .prims_arith import bench_b2a, bench_mul_trunc, bench_reciprocal, bench_rsqrt, bench_select
    from .prims_cmp import bench_cmp

    case, n, ot = params["case"], int(params["n"]), params.get("ot", "ferret")
    if not 1 <= n <= 10_000_000:
        raise ValueError("n must be in 1..10^7")
    if case == "cot" or case.startswith("cot_"):  # cot: dual-LPN silent OT; cot_<kind>: comparison
        r = run_cot_bench(ch, n, kind="silent" if case == "cot" else case[4:], steady=False)
        r["case"] = case
        return r
    m = re.fullmatch(r"(cmp|mul_trunc|b2a|select|recip|rsqrt)(\d+)(?:_(ot|he|seal))?", case)
    if not m or (m.group(3) and m.group(1) != "mul_trunc"):
        raise ValueError(f"unknown primitives case {case!r}")
    kind, ell = m.group(1), int(m.group(2))
    mpc = MPC.setup(ch, ot_kind=ot)
    # the COT engine's one-time bootstrap (IKNP + Ferret's first iteration) before the timed part,
    # as SPU's one-time OT set-up is in its untimed warm-up run
    warm = mpc.warm_up_ot()
    fn = {"cmp": bench_cmp, "mul_trunc": bench_mul_trunc, "b2a": bench_b2a, "select": bench_select,
          "recip": bench_reciprocal, "rsqrt": bench_rsqrt}[kind]
    if kind == "mul_trunc":
        seal = m.group(3) == "seal"
        with override(he_mul_backend="seal" if seal else "native"):
            r = fn(mpc, n, ell, engine="he" if seal else m.group(3) or "auto")
    else:
        r = fn(mpc, n, ell)
    r["case"] = case
    r["ot_warmup_s"] = warm
    return r


try:  # the server process imports this module (PARTY_JOB_MODULES) to serve the job
    from party.jobs import Job, register_job

    @register_job("bench-primitives")
    class PrimitivesJob(Job):
        description = "benchmark one 2PC primitive on n elements (public test data)"

        def validate_params(self, params: dict) -> None:
            if not isinstance(params.get("case"), str) or not isinstance(params.get("n"), int):
                raise ValueError("needs 'case' (str) and 'n' (int)")

        def server(self, ch, model, params):
            run_case(ch, params)

        def client(self, ch, params, inputs):
            return run_case(ch, params)
except ImportError:  # pragma: no cover
    pass

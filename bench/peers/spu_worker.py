"""One party of SecretFlow SPU's two (protocol CHEETAH), for side-by-side benchmarks.

Runs INSIDE the SPU virtual environment (``bench/.venv-spu``, made by ``setup_spu.sh``), never in the
project's own venv (spu 0.9.5 pins numpy<2 and jax<=0.4.34).  ``bench/peers/spu.py`` starts two of these::

    python bench/peers/spu_worker.py --rank 0|1 --addrs HOST:PORT,HOST:PORT \
        --workload linear --case 128x768x768 --repeat 3 --json OUT.json

Rank 0 is the *server* (owns the weights), rank 1 the *client* (owns the input).  ``--addrs`` lists
party 0's and party 1's addresses; a party listens on its own entry and connects to the other one, so
the two processes may be given different lists (the peer's entry pointing at a shaping relay,
``bench/netrelay.py``).

What is measured, per run of the compiled SPU executable (``Runtime.run``), after a barrier:
* wall time of ``run`` on this party;
* bytes sent / received and send / recv actions of the run, parsed from SPU's own per-run
  "Link details: total send bytes ..." log line (printed because ``enable_pphlo_profile`` is on);
* the first run is the *warm-up* (one-time OT / HE key setup happen lazily there) and is reported
  separately.

Inputs are random fixed-point values of the case's shapes (FM64, 18 fractional bits):
* activations are secret-shared: the client makes two additive shares (``VIS_SECRET``) and sends the
  server its share before the timed runs (that traffic is outside the figures);
* weights are private to the server: with ``experimental_enable_colocated_optimization`` both
  parties call ``io.make_shares(w, VIS_SECRET, owner_rank=0)``, the client with zeros of the same shape,
  so the weight never leaves the server in any form and matmuls run as secret x server-private.
Both parties derive the inputs from a common numpy seed ONLY so that ``--check`` can compare the
reconstructed output with a plaintext evaluation; the protocol itself never uses the other party's data.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import resource
import struct
import sys
import tempfile
import time

# This file sits next to bench/peers/spu.py, which would shadow the real ``spu`` package when the
# worker is run as a script (sys.path[0] = this folder): drop that entry before importing spu.
_here = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _here]

import numpy as np  # noqa: E402

FXP_BITS = 18
LINK_RE = re.compile(
    r"Link details: total send bytes (\d+), recv bytes (\d+), send actions (\d+), recv actions (\d+)"
)
EXEC_RE = re.compile(r"execution took ([0-9.eE+-]+)s")

SERVER, CLIENT = 0, 1


# ----------------------------------------------------------------------------------------------
# workloads: each returns (fn, inputs) with inputs = list of (name, array, kind) where kind is
# "secret" (client's, additively shared) or "server" (server-private weight)
# ----------------------------------------------------------------------------------------------
def _gelu(x, jnp):
    # tanh form of GELU (BERT's erf form has no SPU kernel; SPU evaluates tanh via its generic
    # exp/reciprocal approximations).
    return 0.5 * x * (1.0 + jnp.tanh(0.7978845608028654 * (x + 0.044715 * x * x * x)))


def _layernorm(x, g, b, jnp, eps=1e-5):
    mu = jnp.mean(x, axis=-1, keepdims=True)
    xc = x - mu
    var = jnp.mean(xc * xc, axis=-1, keepdims=True)
    return xc * jax_rsqrt(var + eps, jnp) * g + b


def jax_rsqrt(v, jnp):
    return jnp.reciprocal(jnp.sqrt(v))


def _softmax(x, jnp):
    m = jnp.max(x, axis=-1, keepdims=True)
    e = jnp.exp(x - m)
    return e / jnp.sum(e, axis=-1, keepdims=True)


BERT_SHAPES = {
    # name: (tokens, hidden, heads, ffn)
    "bert-base-128": (128, 768, 12, 3072),
    "minilm-l6-128": (128, 384, 12, 1536),
}
LINEAR_CASES = ("128x768x768", "128x768x3072", "128x3072x768", "128x768x2304")
NONLINEAR_CASES = ("gelu-128x3072", "softmax-12x128x128", "layernorm-128x768")
PRIMITIVE_CASES = ("cmp64", "mul_trunc64")


def parse_dims(s: str) -> tuple[int, ...]:
    try:
        return tuple(int(t) for t in s.split("x"))
    except ValueError:
        raise SystemExit(f"bad shape {s!r}: expected e.g. 128x768") from None


def build_workload(workload: str, case: str, n: int, rng: np.random.Generator):
    try:
        import jax.numpy as jnp
    except ImportError:  # outside the SPU venv (unit tests): the same code runs on plain numpy
        jnp = np

    f32 = np.float32

    def act(*shape, scale=1.0):
        # on the 2^-18 grid, so the fixed-point encoding is exact and --check compares like with like
        # (else e.g. x < y can legitimately flip for |x - y| < 2^-18)
        v = rng.standard_normal(shape) * scale
        return (np.round(v * (1 << FXP_BITS)) / (1 << FXP_BITS)).astype(f32)

    if workload == "primitives":
        if case == "cmp64":
            return (lambda x, y: x < y), [("x", act(n), "secret"), ("y", act(n), "secret")]
        if case == "mul_trunc64":
            return (lambda x, y: x * y), [("x", act(n), "secret"), ("y", act(n), "secret")]
        raise SystemExit(f"unknown primitives case {case!r}; choose from {PRIMITIVE_CASES}")
    if workload == "linear":
        dims = parse_dims(case)
        if len(dims) != 3:
            raise SystemExit(f"linear case must be MxKxN, got {case!r}")
        m, k, nn = dims
        return (lambda x, w: x @ w), [("x", act(m, k), "secret"), ("w", act(k, nn, scale=0.05), "server")]
    if workload == "nonlinear":
        kind, _, shp = case.partition("-")
        dims = parse_dims(shp)
        if kind == "gelu":
            return (lambda x: _gelu(x, jnp)), [("x", act(*dims, scale=2.0), "secret")]
        if kind == "softmax":
            return (lambda x: _softmax(x, jnp)), [("x", act(*dims, scale=2.0), "secret")]
        if kind == "layernorm":
            h = dims[-1]
            return (lambda x, g, b: _layernorm(x, g, b, jnp)), [
                ("x", act(*dims, scale=2.0), "secret"),
                ("g", (1.0 + 0.1 * rng.standard_normal(h)).astype(f32), "server"),
                ("b", act(h, scale=0.1), "server"),
            ]
        raise SystemExit(f"unknown nonlinear case {case!r}; choose from {NONLINEAR_CASES}")
    if workload == "bert":
        if case not in BERT_SHAPES:
            raise SystemExit(f"unknown bert case {case!r}; choose from {tuple(BERT_SHAPES)}")
        t, h, nh, ff = BERT_SHAPES[case]
        dh = h // nh
        inv = 1.0 / float(np.sqrt(dh))

        def layer(x, wqkv, bqkv, wo, bo, g1, b1, w1, c1, w2, c2, g2, b2):
            qkv = x @ wqkv + bqkv  # (t, 3h)
            q, k, v = jnp.split(qkv, 3, axis=-1)
            q = q.reshape(t, nh, dh).transpose(1, 0, 2)
            k = k.reshape(t, nh, dh).transpose(1, 0, 2)
            v = v.reshape(t, nh, dh).transpose(1, 0, 2)
            s = jnp.einsum("hqd,hkd->hqk", q, k) * inv
            p = _softmax(s, jnp)
            c = jnp.einsum("hqk,hkd->hqd", p, v).transpose(1, 0, 2).reshape(t, h)
            a = _layernorm(x + c @ wo + bo, g1, b1, jnp)
            f = _gelu(a @ w1 + c1, jnp) @ w2 + c2
            return _layernorm(a + f, g2, b2, jnp)

        sw = 0.5 / float(np.sqrt(h))
        inputs = [
            ("x", act(t, h), "secret"),
            ("wqkv", act(h, 3 * h, scale=sw), "server"),
            ("bqkv", act(3 * h, scale=0.02), "server"),
            ("wo", act(h, h, scale=sw), "server"),
            ("bo", act(h, scale=0.02), "server"),
            ("g1", (1.0 + 0.1 * rng.standard_normal(h)).astype(f32), "server"),
            ("b1", act(h, scale=0.02), "server"),
            ("w1", act(h, ff, scale=sw), "server"),
            ("c1", act(ff, scale=0.02), "server"),
            ("w2", act(ff, h, scale=0.5 / float(np.sqrt(ff))), "server"),
            ("c2", act(h, scale=0.02), "server"),
            ("g2", (1.0 + 0.1 * rng.standard_normal(h)).astype(f32), "server"),
            ("b2", act(h, scale=0.02), "server"),
        ]
        return layer, inputs
    raise SystemExit(f"unknown workload {workload!r}")


# ----------------------------------------------------------------------------------------------
# SPU plumbing
# ----------------------------------------------------------------------------------------------
class LogCapture:
    """Redirect this process's fd 1 and 2 (where libspu's spdlog writes) into a file we can parse.

    Our own messages go to the saved original stderr.  ``new_text()`` returns what was logged since the
    previous call."""

    def __init__(self, path: str | None = None):
        sys.stdout.flush()
        sys.stderr.flush()
        self.path = path or tempfile.mkstemp(prefix="spu-worker-", suffix=".log")[1]
        self.orig_err = os.fdopen(os.dup(2), "w", buffering=1)
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        os.close(fd)
        self._rf = open(self.path, "r", errors="replace")

    def new_text(self) -> str:
        sys.stdout.flush()
        sys.stderr.flush()
        return self._rf.read()

    def say(self, msg: str) -> None:
        print(msg, file=self.orig_err, flush=True)


def parse_link_details(text: str) -> dict | None:
    """The last per-run "Link details" line in ``text`` as a dict (None if there is none)."""
    hits = LINK_RE.findall(text)
    if not hits:
        return None
    s, r, sa, ra = (int(v) for v in hits[-1])
    return {"send_bytes": s, "recv_bytes": r, "send_actions": sa, "recv_actions": ra}


def share_to_bytes(share) -> bytes:
    parts = [share.meta, *share.share_chunks]
    head = struct.pack(f"<I{len(parts)}Q", len(parts), *(len(p) for p in parts))
    return head + b"".join(parts)


def share_from_bytes(data: bytes, libspu):
    (k,) = struct.unpack_from("<I", data, 0)
    lens = struct.unpack_from(f"<{k}Q", data, 4)
    off = 4 + 8 * k
    if k < 1 or off + sum(lens) != len(data):
        raise ValueError("malformed share message from peer")
    parts = []
    for ln in lens:
        parts.append(data[off : off + ln])
        off += ln
    sh = libspu.Share()
    sh.meta = parts[0]
    sh.share_chunks = parts[1:]
    return sh


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rank", type=int, choices=(0, 1), required=True)
    ap.add_argument("--addrs", required=True, help="party0_host:port,party1_host:port")
    ap.add_argument("--workload", required=True, choices=("primitives", "linear", "nonlinear", "bert"))
    ap.add_argument("--case", required=True)
    ap.add_argument("--repeat", type=int, default=1, help="timed runs after the warm-up run")
    ap.add_argument("--n", type=int, default=10**6, help="vector length for primitives")
    ap.add_argument("--json", required=True, help="write this party's results here")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--check", action="store_true", help="reveal the output to the client and compare")
    ap.add_argument("--log", default=None, help="keep libspu's log in this file")
    ap.add_argument("--recv-timeout-s", type=float, default=3600.0)
    args = ap.parse_args(argv)

    cap = LogCapture(args.log)
    import jax  # noqa: F401  (after the redirect: jax/XLA log to fd 2 too)

    jax.config.update("jax_platforms", "cpu")
    import spu
    import spu.libspu as libspu
    import spu.utils.frontend as spu_fe

    rank = args.rank
    addrs = args.addrs.split(",")
    if len(addrs) != 2:
        raise SystemExit("--addrs needs exactly two host:port entries")

    # --- runtime config: CHEETAH, FM64, 18 fractional bits, weights colocated with the server
    cfg = libspu.RuntimeConfig(protocol=libspu.ProtocolKind.CHEETAH, field=libspu.FieldType.FM64)
    cfg.fxp_fraction_bits = FXP_BITS
    cfg.experimental_enable_colocated_optimization = True
    cfg.enable_pphlo_profile = True  # makes libspu print per-run "Link details" (bytes / actions)

    # --- link
    desc = libspu.link.Desc()
    desc.id = f"spu-bench-{args.workload}-{args.case}"
    for r, a in enumerate(addrs):
        desc.add_party(f"party{r}", a)
    desc.recv_timeout_ms = int(args.recv_timeout_s * 1000)
    desc.http_timeout_ms = int(args.recv_timeout_s * 1000)
    desc.connect_retry_times = 600
    desc.connect_retry_interval_ms = 200
    desc.http_max_payload_size = 32 << 20
    t0 = time.time()
    lctx = libspu.link.create_brpc(desc, rank)
    t_connect = time.time() - t0

    # --- program and inputs
    rng = np.random.default_rng(args.seed)
    fn, inputs = build_workload(args.workload, args.case, args.n, rng)
    names = [nm for nm, _, _ in inputs]
    vis = [libspu.Visibility.VIS_SECRET] * len(inputs)
    t0 = time.time()
    exe, _ = spu_fe.compile(
        spu_fe.Kind.JAX, fn, [a for _, a, _ in inputs], {}, names, vis, lambda outs: [f"out{i}" for i in range(len(outs))]
    )
    t_compile = time.time() - t0

    io = spu.Io(2, cfg)
    rt = spu.Runtime(lctx, cfg)
    t0 = time.time()
    for nm, arr, kind in inputs:
        if kind == "server":
            # colocated: the owner's piece carries the weight; the client contributes zeros
            val = arr if rank == SERVER else np.zeros_like(arr)
            rt.set_var(nm, io.make_shares(val, libspu.Visibility.VIS_SECRET, owner_rank=SERVER)[rank])
        elif rank == CLIENT:
            shares = io.make_shares(arr, libspu.Visibility.VIS_SECRET)
            lctx.send(SERVER, share_to_bytes(shares[SERVER]))
            rt.set_var(nm, shares[CLIENT])
        else:
            rt.set_var(nm, share_from_bytes(lctx.recv(CLIENT), libspu))
    lctx.barrier()
    t_infeed = time.time() - t0
    cap.new_text()  # discard what the set-up logged

    load_start = os.getloadavg()[0]  # the machine is shared: record how busy it was
    runs = []
    for i in range(1 + args.repeat):
        lctx.barrier()
        t0 = time.perf_counter()
        rt.run(exe)
        dt = time.perf_counter() - t0
        link = parse_link_details(cap.new_text())
        runs.append({"time_s": dt, "link": link})
        cap.say(f"[spu-worker rank {rank}] {args.workload}/{args.case} run {i}{' (warm-up)' if i == 0 else ''}: "
                f"{dt:.3f} s, link {link}")

    result = {
        "rank": rank,
        "role": "server" if rank == SERVER else "client",
        "workload": args.workload,
        "case": args.case,
        "n": args.n if args.workload == "primitives" else None,
        "spu_version": getattr(spu, "__version__", "?"),
        "protocol": "CHEETAH",
        "field": "FM64",
        "fxp_fraction_bits": FXP_BITS,
        "connect_s": t_connect,
        "compile_s": t_compile,
        "infeed_s": t_infeed,
        "warmup": runs[0],
        "runs": runs[1:],
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "loadavg_1m": [load_start, os.getloadavg()[0]],
        "cpus": os.cpu_count(),
    }

    if args.check:
        # reveal to the client only, outside the timed runs
        outs = [rt.get_var(f"out{i}") for i in range(len(exe.output_names))]
        if rank == SERVER:
            for sh in outs:
                lctx.send(CLIENT, share_to_bytes(sh))
        else:
            import jax.numpy as jnp  # noqa: F401

            errs = []
            ref = fn(*[np.asarray(a, np.float64) for _, a, _ in inputs])
            refs = ref if isinstance(ref, (list, tuple)) else [ref]
            for sh, rv in zip(outs, refs):
                peer = share_from_bytes(lctx.recv(SERVER), libspu)
                got = np.asarray(io.reconstruct([peer, sh]), np.float64)
                is_bool = np.asarray(rv).dtype == np.bool_
                rv = np.asarray(rv, np.float64)
                errs.append(float(np.max(np.abs(got - rv))) if got.size else 0.0)
                if is_bool:
                    result["check_mismatches"] = int(np.count_nonzero(np.abs(got - rv) > 0.5))
            result["check_max_abs_err"] = max(errs)
        lctx.barrier()

    lctx.stop_link()
    with open(args.json, "w") as f:
        json.dump(result, f, indent=1)
    cap.say(f"[spu-worker rank {rank}] wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

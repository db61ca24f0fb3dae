"""Backends: the one set of operations the model graph (``nn.functional``, ``nn.layers``) is written in.

The graph is written once; it runs with

* :class:`SimBackend` — the *fixed-point simulator*: plaintext ring elements, the same rings, the
  same truncation points, the same approximation tables and the same order of operations as the
  secure run, but no cryptography (fast: thousands of sentences), and
* :class:`nn.secure.SecureBackend` — additive shares between two parties over a ``Channel``:
  linear layers by HE (``protocols.he``), everything else by the OT-based kernels.

A value is a ``uint64`` array of ring elements (secure: this party's share; simulator: the value
itself).  Every method states the ring it works in through an explicit ``ell``; fixed-point
values carry ``frac`` fractional bits and the graph truncates explicitly.

Operations (``x``, ``y``: values; ``b``: bits; "server" = the weight owner, party 0):

==========================  ==================================================================
``linear(name, x)``         x·W + b for the server's matrix ``name`` (ring L), truncated by f
``matmul(a, b)``            batched a @ b of two values (ring L), truncated by f
``embed(ids)``              rows of the server's word-embedding table for the client's ids (ring L)
``server_const(name)``      the server's private vector/matrix as a value (zeros on the client)
``mul(x, y, ell)``          elementwise product, *not* truncated
``square(x, ell)``          elementwise square, not truncated
``mul_rows(d, r, ell)``     d ⊙ r[..., None] for a per-row scalar r, not truncated
``mul_server(name, x, ell)`` x ⊙ w for the server's private vector ``name``, not truncated
``trunc(x, s, ell)``        arithmetic shift right by s bits
``trunc_reduce(x, s, ell)`` ⌊x/2^s⌋ (+1) in ring ell − s: local, no traffic (SiRNN's TR)
``ge(x, c, ell, drop, span)`` bits [x ≥ c] for a public ring constant c (at 2^drop resolution;
                            ``span``: the caller promises |x − c| < 2^span, so the comparison
                            runs in a ring of span − drop + 2 bits)
``ge_multi(x, cs, ...)``    the bits of ``ge`` for several public constants at once (shape
                            (len(cs),) + x.shape; the secure backend shares the comparisons' OTs)
``mul_bit(b, x, ell)``      b·x
``lut_ge(x, bits, c, ell, m)`` ([x ≥ c], bits[:, x mod 2^m]) for x in ring ell (|x − c| < 2^(ell−1)):
                            a comparison and a lookup sharing one OT (``protocols.lut.lut_ge_ab``)
``max(x, axis, ell, drop, span)`` maximum along an axis (at 2^drop resolution; ``span``: the
                            caller promises |x_i − x_j| < 2^span along the axis)
``reciprocal / rsqrt``      1/x, 1/√x on a promised range
``ring_down / ring_up``     change of ring (values must fit the smaller ring)
``reveal(x)``               the plaintext value, to the client only (server gets None)
==========================  ==================================================================
Local operations (add, subtract, multiply by a public integer, add a public constant) are the
ring's own and need no backend: use :func:`add_public` for constants (only party 0 adds).
"""
from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from typing import Iterator

import numpy as np

from protocols.ring import Ring


@dataclass
class ScopeCost:
    time_s: float = 0.0
    bytes_sent: int = 0
    bytes_recv: int = 0
    rounds: int = 0
    calls: int = 0


class Backend:
    """Abstract backend; see the module docstring for the contract."""

    #: 0 = server (owns weights), 1 = client (owns input).  The simulator plays both (party 0
    #: for constants) and reveals to itself.
    party: int = 0
    weights: dict[str, np.ndarray] | None = None

    def __init__(self) -> None:
        self.costs: dict[str, ScopeCost] = {}
        self._stack: list[str] = []

    # --- cost scopes -----------------------------------------------------------------------
    @contextlib.contextmanager
    def scope(self, name: str) -> Iterator[None]:
        """Attribute the cost of the enclosed code to category ``name`` (e.g. 'GELU'); nested
        scopes are charged to the innermost category only."""
        self._stack.append(name)
        t0 = time.perf_counter()
        c0 = self._counters()
        try:
            yield
        finally:
            self._stack.pop()
            c1 = self._counters()
            rec = self.costs.setdefault(name, ScopeCost())
            rec.time_s += time.perf_counter() - t0
            rec.bytes_sent += c1[0] - c0[0]
            rec.bytes_recv += c1[1] - c0[1]
            rec.rounds += c1[2] - c0[2]
            rec.calls += 1
            # an outer scope does not count what an inner scope already counted
            if self._stack:
                outer = self.costs.setdefault(self._stack[-1], ScopeCost())
                outer.time_s -= time.perf_counter() - t0
                outer.bytes_sent -= c1[0] - c0[0]
                outer.bytes_recv -= c1[1] - c0[1]
                outer.rounds -= c1[2] - c0[2]

    def _counters(self) -> tuple[int, int, int]:
        return (0, 0, 0)

    def progress(self, done: int, total: int, what: str) -> None:
        """Hook for progress reporting (the secure backend forwards it to the runtime)."""

    def ge_multi(self, x, cs, ell: int, drop: int = 0, span: int | None = None) -> np.ndarray:
        """Bits [x ≥ c] for several public ring constants ``cs``: shape (len(cs),) + x.shape.
        Same results as one :meth:`ge` per constant (the secure backend shares the OTs)."""
        x = np.asarray(x, dtype=np.uint64)
        return np.stack([self.ge(x, np.full(x.shape, c, dtype=np.uint64), ell, drop=drop, span=span) for c in cs])


def add_public(be: Backend, x: np.ndarray, c, ell: int) -> np.ndarray:
    """x + c for a public ring constant (or array) c: only party 0 adds it."""
    R = Ring(ell)
    if be.party == 0:
        return R.add(x, R.reduce(np.asarray(c, dtype=np.uint64)))
    return R.reduce(x)


def const_ring(v: float, ell: int, frac: int) -> np.uint64:
    return Ring(ell).encode(np.float64(v), frac)[()]


# ----------------------------------------------------------------------------------------------
# the fixed-point simulator
# ----------------------------------------------------------------------------------------------
class SimBackend(Backend):
    """Plaintext fixed-point twin of the secure run.

    ``weights``: the server's fixed-point integers by name (see :mod:`nn.model`), as the secure
    server holds them.  Truncation is the floor rule (the secure faithful truncation returns the
    floor or one ulp less); reciprocal and rsqrt are exact on the ring grid (the secure Newton
    iteration is accurate to about one ulp on its promised range).
    """

    party = 0

    def __init__(self, weights: dict[str, np.ndarray], ell: int, frac: int):
        super().__init__()
        self.weights = weights
        self.ell = ell
        self.frac = frac
        self.R = Ring(ell)

    # linear algebra in ring L ----------------------------------------------------------------
    def _matmul_ring(self, a: np.ndarray, b: np.ndarray, ell: int) -> np.ndarray:
        """Exact a @ b mod 2^ell for ring elements.

        Fast path: when the signed values are small enough that every partial sum stays below 2^53,
        one float64 BLAS product of the signed values is exact.  Otherwise 16-bit limbs of the
        ring values (each limb product sum < 2^53 for inner dimension < 2^21)."""
        R = Ring(ell)
        a_s, b_s = R.to_signed(a), R.to_signed(b)
        k = a.shape[-1]
        amax = float(np.max(np.abs(a_s))) if a_s.size else 0.0
        bmax = float(np.max(np.abs(b_s))) if b_s.size else 0.0
        if amax * bmax * k < 2.0**53:
            p = np.matmul(a_s.astype(np.float64), b_s.astype(np.float64))
            return R.from_signed(p.astype(np.int64))
        au, bu = R.reduce(a), R.reduce(b)
        out = np.zeros(a.shape[:-1] + b.shape[-1:], dtype=np.uint64)
        for i in range(0, ell, 16):
            ai = ((au >> np.uint64(i)) & np.uint64(0xFFFF)).astype(np.float64)
            for j in range(0, ell - i, 16):
                bj = ((bu >> np.uint64(j)) & np.uint64(0xFFFF)).astype(np.float64)
                out += np.matmul(ai, bj).astype(np.uint64) << np.uint64(i + j)
        return R.reduce(out)

    def linear(self, name: str, x: np.ndarray, ell: int, frac: int) -> np.ndarray:
        W = self.weights[name]
        y = self._matmul_ring(x, Ring(ell).from_signed(W), ell)
        b = self.weights.get(name + ".b2f")  # bias at 2f, added before the truncation
        if b is not None:
            y = Ring(ell).add(y, Ring(ell).from_signed(b))
        return self.trunc(y, frac, ell)

    def matmul(self, a: np.ndarray, b: np.ndarray, ell: int, frac: int) -> np.ndarray:
        return self.trunc(self._matmul_ring(a, b, ell), frac, ell)

    def embed(self, ids: np.ndarray, name: str, ell: int, tokens: int) -> np.ndarray:
        return Ring(ell).from_signed(self.weights[name][np.asarray(ids)])

    def server_const(self, name: str, ell: int) -> np.ndarray:
        return Ring(ell).from_signed(self.weights[name])

    # elementwise -----------------------------------------------------------------------------
    def mul(self, x, y, ell: int) -> np.ndarray:
        return Ring(ell).mul(x, y)

    def square(self, x, ell: int, bound: int | None = None) -> np.ndarray:
        """x² mod 2^ell.  ``bound=b``: the caller promises |x| < 2^b where the result matters (the
        secure backend then uses the cheaper bounded product; elsewhere its result is arbitrary)."""
        return Ring(ell).mul(x, x)

    def mul_rows(self, d, r, ell: int, bound: int | None = None, drop: int = 0) -> np.ndarray:
        """d ⊙ r[..., None]; ``bound=b``: the caller promises |r| < 2^b (cheaper secure product);
        ``drop=t``: the caller discards the low t bits, and the secure product may be off by
        less than 2t·2^t there (zero on average; ``protocols.mul_private.mul_rows``)."""
        return Ring(ell).mul(d, np.asarray(r, dtype=np.uint64)[..., None])

    def mul_server(self, name: str, x, ell: int) -> np.ndarray:
        R = Ring(ell)
        return R.mul(x, R.from_signed(np.broadcast_to(self.weights[name], x.shape)))

    def trunc(self, x, s: int, ell: int) -> np.ndarray:
        R = Ring(ell)
        if s == 0:
            return R.reduce(x)
        return R.from_signed(R.to_signed(x) >> np.int64(s))

    def trunc_reduce(self, x, s: int, ell: int) -> np.ndarray:
        """x/2^s rounded to nearest, in ring ell − s.  The secure local truncation rounds
        stochastically (⌊x/2^s⌋ + 1 with probability frac(x/2^s)); nearest is its expectation up to
        half an ulp, so sums of many truncated values (softmax's Σe) keep no bias in either run."""
        R = Ring(ell)
        if s == 0:
            return Ring(ell).reduce(x)
        return Ring(ell - s).from_signed((R.to_signed(x) + np.int64(1 << (s - 1))) >> np.int64(s))

    def ge(self, x, c, ell: int, drop: int = 0, span: int | None = None) -> np.ndarray:
        """[x ≥ c]; the secure backend compares at 2^drop resolution (results may differ within
        2^drop ulps of c), the simulator exactly."""
        R = Ring(ell)
        return (R.to_signed(R.sub(x, c)) >= 0).astype(np.uint8)

    def lut_ge(self, x, bits, c: int, ell: int, m: int) -> tuple[np.ndarray, np.ndarray]:
        R = Ring(ell)
        x = R.reduce(x)
        ge = (R.to_signed(x) >= c).astype(np.uint8)
        return ge, np.asarray(bits, dtype=np.uint8)[:, (x & np.uint64((1 << m) - 1)).astype(np.int64)]

    def exp_lut(self, z, spec, ell: int, frac: int, top: int, span: int) -> np.ndarray:
        """[z in the window]·e^z by lookup (:class:`approx.exp_lookup.ExpLookup` ``spec``, window
        ending at grid value ``top``; ``span``: |z| < 2^span) at ``frac`` bits in ring frac + 3.
        The simulator takes the nearest value and the expected cutoff; the secure run
        (``protocols/exp_lut.py``) is within a few units of it and cuts anywhere in the window's
        lowest grid step."""
        R = Ring(ell)
        return Ring(frac + 3).reduce(spec.evaluate_fixed(R.reduce(z), ell, frac, top=top))

    def mul_bit(self, b, x, ell: int) -> np.ndarray:
        b = np.asarray(b, dtype=np.uint64)
        if x.ndim == b.ndim + 1:
            b = b[..., None]
        return Ring(ell).mul(x, b)

    def max(self, x, axis: int, ell: int, drop: int = 0, span: int | None = None) -> np.ndarray:
        """Maximum along ``axis``; with ``drop`` the result is x_0 + (⌊max/2^drop⌋ − ⌊x_0/2^drop⌋)·2^drop
        with x_0 the first element along the axis (the secure backend compares at 2^drop
        resolution and lifts the coarse maximum relative to x_0; its result may be one step off)."""
        R = Ring(ell)
        xs = np.moveaxis(R.to_signed(x), axis, -1)
        if drop == 0:
            return R.from_signed(xs.max(axis=-1))
        d = np.int64(drop)
        x0 = xs[..., 0]
        return R.from_signed(x0 + (((xs.max(axis=-1) >> d) - (x0 >> d)) << d))

    def reciprocal(self, x, lo: float, hi: float, ell: int, frac: int) -> np.ndarray:
        R = Ring(ell)
        return R.encode(1.0 / np.clip(R.decode(x, frac), lo, hi), frac)

    def rsqrt(self, x, lo: float, hi: float, ell: int, frac: int, clamp_span: int | None = None) -> np.ndarray:
        """1/√x of x clamped to [lo, hi] (the secure backend clamps only when ``clamp_span`` — a
        promise 0 ≤ x < 2^clamp_span — is given; otherwise x is promised in [lo, hi])."""
        R = Ring(ell)
        return R.encode(1.0 / np.sqrt(np.clip(R.decode(x, frac), lo, hi)), frac)

    def ring_down(self, x, ell_from: int, ell_to: int) -> np.ndarray:
        return Ring(ell_to).reduce(x)

    def ring_up(self, x, ell_from: int, ell_to: int) -> np.ndarray:
        return Ring(ell_to).from_signed(Ring(ell_from).to_signed(x))

    def reveal(self, x, ell: int) -> np.ndarray:
        return Ring(ell).reduce(x)

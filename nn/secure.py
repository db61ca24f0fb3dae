"""The secure backend: the model graph's operations as two-party protocols.

Party 0 (server) holds the fixed-point weights; party 1 (client) holds the token ids.  Values are
additive shares.  Linear algebra goes to the HE layer (``protocols.he``: Nimbus' client-side outer
product for x·W, HE cross terms for share × share products, ciphertext selection for the
embedding); everything else to the OT-based kernels in ``protocols``.

Per operation (ring ``ell``): ``mul`` → ``mul_aa``; ``square`` → ``square_a``; ``mul_rows`` → ``mul_rows``; ``mul_server`` →
``mul_av`` (γ private to the server); ``trunc`` → ``trunc_a`` (faithful, known sign);
``ge`` → ``drelu_a`` of x − c; ``mul_bit`` → ``mul_ba``; ``max`` → ``max_a``; ``reciprocal`` → Goldschmidt
(``protocols.goldschmidt``) where the ring allows, else Newton; ``rsqrt`` → Newton (``protocols.newton``); ``ring_up`` → one COT per element.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from protocols.context import MPC
from protocols.convert import ring_down, ring_up
from protocols.mul import mul_aa, square_a
from protocols.mul_private import mul_av, mul_rows
from protocols.goldschmidt import GoldschmidtUnfit, gs_plan, gs_ratio, reciprocal_gs_a, rsqrt_gs_a, rsqrt_gs_plan
from protocols.newton import reciprocal_a, rsqrt_a
from protocols.ring import Ring
from protocols.select import mul_ba
from protocols.trunc import trunc_a, trunc_reduce_a

from .backend import Backend


def _fits(plan, *args) -> bool:
    """Whether a Goldschmidt plan (``protocols/goldschmidt.py``) holds for these arguments; any
    other error (a bad ratio, an empty range) still raises."""
    try:
        plan(*args)
    except GoldschmidtUnfit:
        return False
    return True


class SecureBackend(Backend):
    """``mpc``: the session's protocol context; ``linear_engine``: the HE layer's per-party object
    (:class:`HELinear`); ``weights``: the server's fixed-point weights (None on the client)."""

    def __init__(self, mpc: MPC, linear_engine: Any, weights: dict[str, np.ndarray] | None = None,
                 progress: Callable[[int, int, str], None] | None = None):
        super().__init__()
        self.mpc = mpc
        self.party = mpc.party
        self.he = linear_engine
        self.weights = weights
        self._progress = progress
        if self.party == 0 and weights is None:
            raise ValueError("the server's backend needs the weights")
        if self.party == 1 and weights is not None:
            raise ValueError("the client must not hold the weights")

    def _counters(self) -> tuple[int, int, int]:
        t = self.mpc.ch.total
        return (t.bytes_sent, t.bytes_recv, t.rounds)

    def progress(self, done: int, total: int, what: str) -> None:
        if self._progress is not None:
            self._progress(done, total, what)

    # --- linear algebra (HE) -----------------------------------------------------------------
    def _server_add(self, y: np.ndarray, name: str, ell: int) -> np.ndarray:
        if self.party == 0 and name in self.weights:
            R = Ring(ell)
            return R.add(y, R.from_signed(np.broadcast_to(self.weights[name], y.shape)))
        return y

    def linear(self, name: str, x: np.ndarray, ell: int, frac: int) -> np.ndarray:
        y = self.he.mmul_ap(name, x, ell=ell)
        y = self._server_add(y, name + ".b2f", ell)
        return self.trunc(y, frac, ell)

    def matmul(self, a: np.ndarray, b: np.ndarray, ell: int, frac: int) -> np.ndarray:
        return self.trunc(self.he.mmul_aa(a, b, ell=ell), frac, ell)

    def embed(self, ids, name: str, ell: int, tokens: int) -> np.ndarray:
        return self.he.embed(name, ids if self.party == 1 else None, tokens, ell=ell)

    def server_const(self, name: str, ell: int) -> np.ndarray:
        if self.party == 0:
            return Ring(ell).from_signed(self.weights[name])
        shape = self.he.public_shape(name)
        return np.zeros(shape, dtype=np.uint64)

    # --- elementwise (OT) --------------------------------------------------------------------
    def mul(self, x, y, ell: int) -> np.ndarray:
        return mul_aa(self.mpc, x, y, ell=ell)

    def square(self, x, ell: int, bound: int | None = None) -> np.ndarray:
        return square_a(self.mpc, x, ell=ell, bound=bound)

    def mul_rows(self, d, r, ell: int, bound: int | None = None, drop: int = 0) -> np.ndarray:
        return mul_rows(self.mpc, d, r, ell=ell, bound=bound, drop=drop)

    def mul_server(self, name: str, x, ell: int) -> np.ndarray:
        w = self.weights[name] if self.party == 0 else None
        return mul_av(self.mpc, x, w, owner=0, ell=ell)

    def trunc(self, x, s: int, ell: int) -> np.ndarray:
        return trunc_a(self.mpc, x, s, ell=ell, mode="faithful")

    def trunc_reduce(self, x, s: int, ell: int) -> np.ndarray:
        """Local (probabilistic) truncation by ``s`` bits, then down to ring ell − s.  The rare
        wrap error of local truncation is a multiple of 2^(ell−s), which the ring change removes:
        the result is ⌊x / 2^s⌋ (+1) exactly, for every x in the ring.  No traffic."""
        return trunc_reduce_a(self.mpc, x, s, ell=ell)

    @staticmethod
    def _coarse_ring(ell: int, drop: int, span: int | None, extra: int) -> int:
        """Ring of a comparison on values |v| < 2^span dropped by ``drop`` bits: the coarse value
        (±1) and its sign need span − drop + ``extra`` bits; never more than ell − drop."""
        if span is None:
            return ell - drop
        return max(3, min(ell - drop, span - drop + extra))

    def ge(self, x, c, ell: int, drop: int = 0, span: int | None = None) -> np.ndarray:
        from protocols.compare import drelu_a

        R = Ring(ell)
        d = R.sub(x, c) if self.party == 0 else R.reduce(x)
        k = self._coarse_ring(ell, drop, span, 2)
        return drelu_a(self.mpc, ring_down(self.trunc_reduce(d, drop, ell), k), ell=k)

    def ge_multi(self, x, cs, ell: int, drop: int = 0, span: int | None = None) -> np.ndarray:
        """One balanced :func:`protocols.compare.ge_multi_ap` on the coarse values (low ``drop``
        bits truncated locally) in the ring the span promise allows."""
        from protocols.compare import ge_multi_ap

        k = self._coarse_ring(ell, drop, span, 2)
        return ge_multi_ap(self.mpc, x, cs, ell=ell, k=k,
                           coarse=lambda v: ring_down(self.trunc_reduce(v, drop, ell), k))

    def mul_bit(self, b, x, ell: int) -> np.ndarray:
        return mul_ba(self.mpc, b, x, ell=ell)

    def lut_ge(self, x, bits, c: int, ell: int, m: int) -> tuple[np.ndarray, np.ndarray]:
        from protocols.lut import lut_ge_ab

        return lut_ge_ab(self.mpc, x, bits, c, m=m, k=ell)

    def exp_lut(self, z, spec, ell: int, frac: int, top: int, span: int) -> np.ndarray:
        """``protocols/exp_lut.py``."""
        from protocols.exp_lut import comparison_ring, exp_lut_a

        g, m = spec.grid_frac, spec.index_bits
        return exp_lut_a(self.mpc, z, k=ell, frac=frac, grid_frac=g, m=m, lo=spec.lo(top),
                         kc=comparison_ring(ell, frac, g, m, span), value_frac=spec.value_frac,
                         corr_frac=spec.corr_frac)

    def max(self, x, axis: int, ell: int, drop: int = 0, span: int | None = None) -> np.ndarray:
        """The tree runs on the coarse values ⌊x/2^drop⌋ in a ring that holds their differences
        (``span``); the coarse maximum is lifted back as x_0 + 2^drop·(m_c − x_0c), x_0 the first
        element, so only a difference (|·| < 2^(span−drop)) crosses the rings: one ring_up per row."""
        from protocols.max import max_a

        if drop == 0 and span is None:
            return max_a(self.mpc, x, axis=axis, ell=ell)
        R = Ring(ell)
        xs = np.moveaxis(R.reduce(x), axis, -1)
        # coarse differences |xc_i − xc_j| ≤ 2^(span−drop) + 1 < 2^(k−1): the tree's comparisons
        # are exact, and 0 ≤ m − xc_0 < 2^(k−1) crosses the rings by the unbiased known-sign trick
        k = self._coarse_ring(ell, drop, span, 2)
        xc = ring_down(self.trunc_reduce(xs, drop, ell), k)
        m = max_a(self.mpc, xc, axis=-1, ell=k)
        dm = ring_up(self.mpc, Ring(k).sub(m, xc[..., 0]), k, ell, nonneg=True)
        return R.add(xs[..., 0], R.mul_public(dm, 1 << drop))

    def reciprocal(self, x, lo: float, hi: float, ell: int, frac: int) -> np.ndarray:
        """The threshold guess and two Goldschmidt steps (``protocols/goldschmidt.py``, ~comparison
        + 4 rounds) when ring ``ell`` has room for its chain, else Newton's iteration."""
        if _fits(gs_plan, float(lo), float(hi), ell, frac, gs_ratio()):
            return reciprocal_gs_a(self.mpc, x, lo=lo, hi=hi, ell=ell, frac=frac)
        return reciprocal_a(self.mpc, x, lo=lo, hi=hi, ell=ell, frac=frac)

    def rsqrt(self, x, lo: float, hi: float, ell: int, frac: int, clamp_span: int | None = None) -> np.ndarray:
        """With a clamp (LayerNorm's variance): 32 thresholds and two Goldschmidt-style factors in
        a 64-bit work ring (``protocols/goldschmidt.py``, ~10 rounds) when [lo, hi] fits them,
        else Newton's normalised iteration (~18)."""
        if clamp_span is not None and _fits(rsqrt_gs_plan, float(lo), float(hi), ell, frac):
            return rsqrt_gs_a(self.mpc, x, lo=lo, hi=hi, ell=ell, frac=frac, span=clamp_span)
        return rsqrt_a(self.mpc, x, lo=lo, hi=hi, ell=ell, frac=frac, clamp=clamp_span is not None,
                       span=clamp_span)

    def ring_down(self, x, ell_from: int, ell_to: int) -> np.ndarray:
        return ring_down(x, ell_to)

    def ring_up(self, x, ell_from: int, ell_to: int) -> np.ndarray:
        return ring_up(self.mpc, x, ell_from, ell_to)

    # --- output ------------------------------------------------------------------------------
    def reveal(self, x, ell: int) -> np.ndarray | None:
        """The server sends its share; only the client learns the value."""
        R = Ring(ell)
        if self.party == 0:
            self.mpc.ch.send(R.reduce(x))
            return None
        other = self.mpc.ch.recv_array(np.uint64, x.shape)
        return R.add(x, other)


class HELinear:
    """The HE layer (:mod:`protocols.he`) behind the backend's linear operations.

    Server: a :class:`protocols.he.cop.COPServer` over the model's matrices (``L{i}.qkv``,
    ``.o``, ``.h1``, ``.h2``, ``head``) and the word-embedding table ``emb.word``, all as
    (n_in, M) ring elements; biases are added by the backend before truncation.  Client: a
    :class:`protocols.he.cop.COPClient` holding the encrypted matrices (cached on disk by model
    hash and server key id).  ``setup()`` runs the (resumable) transfer of encrypted weights.
    ``compact`` (server): the encrypted-weight layout, see :class:`protocols.he.cop.COPServer`.
    """

    def __init__(self, mpc: MPC, cfg, ell: int, fixed: dict[str, np.ndarray] | None = None,
                 names: list[str] | None = None, key=None, cache_dir=None, compact=None):
        from protocols.he.cop import COPClient, COPServer

        from .model import public_shapes

        self.mpc, self.ell = mpc, ell
        self.shapes = public_shapes(cfg)
        if mpc.party == 0:
            R = Ring(ell)
            mats = {n: R.from_signed(fixed[n]) for n in names}
            self.cop = COPServer(mpc, mats, ell=ell, key=key, compact=compact)
        else:
            self.cop = COPClient(mpc, ell=ell, cache_dir=cache_dir)
        self.stats: dict = {}

    def setup(self) -> dict:
        self.stats = self.cop.setup()
        return self.stats

    def mmul_ap(self, name: str, x: np.ndarray, *, ell: int) -> np.ndarray:
        return self.cop.mmul_ap(name, x)

    def mmul_aa(self, a: np.ndarray, b: np.ndarray, *, ell: int) -> np.ndarray:
        """Shared × shared (Q·Kᵀ, P·V): HE cross terms, or Gilboa products on COT when those move
        fewer bytes (short sentences) and fit in memory — both parties decide from public shapes."""
        from protocols.he.mmul_aa import mmul_aa_bytes
        from protocols.mul_private import mmul_aa_ot, mmul_aa_ot_cost

        h, T, d = a.shape
        M = b.shape[-1]
        ot = mmul_aa_ot_cost(h, T, d, M, ell)["bytes_sent"]
        if ot <= mmul_aa_bytes(self.cop.params, h, T, d, M) and h * d * M * T * ell * 8 <= 1 << 29:
            return mmul_aa_ot(self.mpc, a, b, ell=ell)
        return self.cop.mmul_aa(a, b)

    def embed(self, name: str, ids, tokens: int, *, ell: int) -> np.ndarray:
        if self.mpc.party == 0:
            return self.cop.embed(name, tokens)
        return self.cop.embed(name, ids)

    def public_shape(self, name: str) -> tuple[int, ...]:
        return self.shapes[name]

"""The BERT encoder as a graph of secure modules (mirroring ``torch.nn``) over a :class:`Backend`.

Modules: :class:`Embedding`, :class:`Linear`, :class:`LayerNorm`, :class:`GELU`,
:class:`MultiHeadAttention`, :class:`EncoderLayer`, :class:`MeanPool`, :class:`BertEncoder`.  Each
``forward(be, x)`` runs in lock-step on both parties (secure) or alone (simulator).

Rings (:class:`Rings`): the residual stream, the linear layers (HE) and LayerNorm live in ring L
(``ell``, ``frac``); GELU and softmax run in the smaller ring A (``ell_nl``, ``frac_nl``), reached by
a local ring down-conversion and left by a one-COT up-conversion.  Both use the same fraction bits.

Public: the architecture, the shapes and the sequence length (DESIGN.md §1).  Secret: the token
ids (client) and every activation (shares); the weights stay with the server (HE ciphertexts for
the client).  Padding is never needed: a sentence runs at its own (public) length.

Cost categories (the per-layer report): Embedding, Linear_qkv, Linear_o, Linear_h1, Linear_h2,
QKᵀ&PV, Softmax, GELU, LayerNorm, Head.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from protocols.config import get_config
from protocols.ring import Ring

from .backend import Backend
from .functional import layer_norm, nl_span, piecewise, softmax

CATEGORIES = ("Embedding", "Linear_qkv", "Linear_o", "Linear_h1", "Linear_h2", "QKᵀ&PV", "Softmax", "GELU",
              "LayerNorm", "Head")


@dataclass(frozen=True)
class Rings:
    ell: int  # ring L
    frac: int
    ell_nl: int  # ring A
    frac_nl: int

    @classmethod
    def from_config(cls) -> "Rings":
        """The rings of the configuration in force (see :func:`model_config`)."""
        c = get_config()
        if c.frac != c.frac_nl:
            raise ValueError(f"the model needs frac == frac_nl (got {c.frac} and {c.frac_nl})")
        return cls(c.ell, c.frac, c.ell_nl, c.frac_nl)


#: Ring L (linear layers, residual stream, LayerNorm) and ring A (GELU, softmax) of the secure
#: BERT: 13 fraction bits throughout.  ell = 40 holds MiniLM's residual stream (|x| < 2^9) with
#: room for the x·W products at 2·13 bits; the HE plaintext modulus is 2^40.
MODEL_RINGS = dict(ell=40, frac=13, ell_nl=32, frac_nl=13)


def model_config(base=None):
    """The :class:`~protocols.config.Config` a secure BERT session runs under (both parties)."""
    import dataclasses

    base = base or get_config()
    return dataclasses.replace(base, **MODEL_RINGS)


# ----------------------------------------------------------------------------------------------
# server-side weight preparation (fixed point)
# ----------------------------------------------------------------------------------------------
def fixed_weights(weights, frac: int) -> dict[str, np.ndarray]:
    """The server's fixed-point integers (int64) by name, from an ``nn.hf.BertWeights``.

    Linear ``name`` holds W (in, out) at ``frac`` bits and ``name + '.b2f'`` its bias at 2·frac bits
    (added before the truncation).  Q's weights and bias carry attention's 1/√d.  LayerNorm
    ``name + '.g'`` / ``'.b'`` at ``frac`` bits.  ``emb.word`` (V, H), ``emb.pos`` (P, H) =
    position + token-type-0 embeddings.
    """
    cfg = weights.config
    s = float(1 << frac)
    enc = lambda a, sc=s: np.rint(np.asarray(a, dtype=np.float64) * sc).astype(np.int64)  # noqa: E731
    out: dict[str, np.ndarray] = {
        "emb.word": enc(weights.word_emb),
        "emb.pos": enc(np.asarray(weights.pos_emb, np.float64) + np.asarray(weights.type_emb, np.float64)[0]),
        "emb.ln.g": enc(weights.emb_ln_g),
        "emb.ln.b": enc(weights.emb_ln_b),
    }
    scale = 1.0 / math.sqrt(cfg.head_dim)
    for i, lw in enumerate(weights.layers):
        p = f"L{i}."
        wqkv = np.concatenate([np.asarray(lw.wq, np.float64) * scale, lw.wk, lw.wv], axis=1)
        bqkv = np.concatenate([np.asarray(lw.bq, np.float64) * scale, lw.bk, lw.bv])
        for name, w, b in (("qkv", wqkv, bqkv), ("o", lw.wo, lw.bo), ("h1", lw.w1, lw.b1), ("h2", lw.w2, lw.b2)):
            out[p + name] = enc(w)
            out[p + name + ".b2f"] = enc(b, s * s)
        out[p + "ln1.g"], out[p + "ln1.b"] = enc(lw.ln1_g), enc(lw.ln1_b)
        out[p + "ln2.g"], out[p + "ln2.b"] = enc(lw.ln2_g), enc(lw.ln2_b)
    if weights.head is not None:
        out["head"] = enc(weights.head.weight)
        out["head.b2f"] = enc(weights.head.bias, s * s)
    return out


def public_shapes(cfg, with_head: bool = True) -> dict[str, tuple[int, ...]]:
    """Shapes of every named server weight (public: the architecture is public)."""
    H, I, V, P = cfg.hidden_size, cfg.intermediate_size, cfg.vocab_size, cfg.max_position_embeddings
    out: dict[str, tuple[int, ...]] = {"emb.word": (V, H), "emb.pos": (P, H), "emb.ln.g": (H,), "emb.ln.b": (H,)}
    for i in range(cfg.num_hidden_layers):
        p = f"L{i}."
        for name, (a, b) in (("qkv", (H, 3 * H)), ("o", (H, H)), ("h1", (H, I)), ("h2", (I, H))):
            out[p + name], out[p + name + ".b2f"] = (a, b), (b,)
        for ln in ("ln1", "ln2"):
            out[p + ln + ".g"], out[p + ln + ".b"] = (H,), (H,)
    if with_head:
        out["head"], out["head.b2f"] = (H, 2), (2,)
    return out


def linear_names(weights_or_cfg, with_head: bool = True, layers: int | None = None) -> list[str]:
    """Names of the matrices the HE layer serves (for setup); ``layers``: only the first n layers."""
    cfg = getattr(weights_or_cfg, "config", weights_or_cfg)
    nl = cfg.num_hidden_layers if layers is None else layers
    names = [f"L{i}.{n}" for i in range(nl) for n in ("qkv", "o", "h1", "h2")]
    return names + (["head"] if with_head else [])


# ----------------------------------------------------------------------------------------------
# modules
# ----------------------------------------------------------------------------------------------
class Module:
    category = ""

    def __call__(self, be: Backend, *args, **kw):
        if self.category:
            with be.scope(self.category):
                return self.forward(be, *args, **kw)
        return self.forward(be, *args, **kw)

    def forward(self, be: Backend, *args, **kw):  # pragma: no cover - abstract
        raise NotImplementedError


class Linear(Module):
    """y = x W + b for the server's matrix ``name``; output truncated to ``frac`` bits (ring L)."""

    def __init__(self, name: str, category: str, rings: Rings):
        self.name, self.category, self.r = name, category, rings

    def forward(self, be, x):
        return be.linear(self.name, x, self.r.ell, self.r.frac)


#: Public bounds per LayerNorm site: log2 of max |input|, and the variance range the Newton rsqrt
#: is promised (values are clamped to it).  From MiniLM's calibration on 200 training sentences:
#: max |x| 2.9 / 11 / 224 and variance [0.0033, 0.029] / [0.14, 0.91] / [0.23, 131] after the
#: embedding / attention / FFN, each widened by 2-4x.  Override with a config knob
#: ``ln_bounds_<site>=(x_bits, var_lo, var_hi)``.
LN_BOUNDS = {"emb": (3, 2.0**-10, 2.0**-3), "ln1": (6, 2.0**-5, 2.0**2), "ln2": (9, 2.0**-4, 2.0**9)}


class LayerNorm(Module):
    category = "LayerNorm"

    def __init__(self, name: str, eps: float, rings: Rings, site: str):
        self.name, self.eps, self.r = name, eps, rings
        self.x_bits, lo, hi = get_config().get(f"ln_bounds_{site}", LN_BOUNDS[site])
        self.var_range = (float(lo), float(hi))

    def forward(self, be, x):
        return layer_norm(be, x, self.name, self.eps, self.r.ell, self.r.frac, x_bits=self.x_bits,
                          var_bits=max(0, int(np.ceil(np.log2(self.var_range[1])))), var_range=self.var_range)


class GELU(Module):
    """Piecewise-polynomial GELU in ring A (table from ``approx``)."""

    category = "GELU"

    def __init__(self, table, rings: Rings):
        self.table, self.r = table, rings

    def forward(self, be, x):
        r = self.r
        xa = be.ring_down(x, r.ell, r.ell_nl) if r.ell_nl != r.ell else x
        y = piecewise(be, self.table, xa, r.ell_nl, r.frac_nl, span=nl_span(r.frac_nl))
        return be.ring_up(y, r.ell_nl, r.ell) if r.ell_nl != r.ell else y


class Softmax(Module):
    category = "Softmax"

    def __init__(self, exp_table, rings: Rings):
        self.table, self.r = exp_table, rings

    def forward(self, be, s):
        r = self.r
        sa = be.ring_down(s, r.ell, r.ell_nl) if r.ell_nl != r.ell else s
        return softmax(be, sa, self.table, r.ell_nl, r.frac_nl, out_ell=r.ell)


class Embedding(Module):
    """Word embedding of the client's ids (HE selection) + position/type rows (server, local)."""

    category = "Embedding"

    def __init__(self, rings: Rings):
        self.r = rings

    def forward(self, be, ids, seq_len: int):
        R = Ring(self.r.ell)
        x = be.embed(ids, "emb.word", self.r.ell, seq_len)
        pos = be.server_const("emb.pos", self.r.ell)
        if pos.shape[0] != seq_len:
            pos = pos[:seq_len]
        return R.add(x, pos)


class MultiHeadAttention(Module):
    def __init__(self, i: int, cfg, rings: Rings, exp_table):
        self.i, self.cfg, self.r = i, cfg, rings
        self.qkv = Linear(f"L{i}.qkv", "Linear_qkv", rings)
        self.o = Linear(f"L{i}.o", "Linear_o", rings)
        self.softmax = Softmax(exp_table, rings)

    def forward(self, be, x):
        T, H = x.shape
        nh, hd = self.cfg.num_attention_heads, self.cfg.head_dim
        qkv = self.qkv(be, x).reshape(T, 3, nh, hd)
        q = np.ascontiguousarray(qkv[:, 0].transpose(1, 0, 2))  # (nh, T, hd), already × 1/√d
        kT = np.ascontiguousarray(qkv[:, 1].transpose(1, 2, 0))  # (nh, hd, T)
        v = np.ascontiguousarray(qkv[:, 2].transpose(1, 0, 2))  # (nh, T, hd)
        with be.scope("QKᵀ&PV"):
            s = be.matmul(q, kT, self.r.ell, self.r.frac)  # (nh, T, T)
        p = self.softmax(be, s)
        with be.scope("QKᵀ&PV"):
            ctx = be.matmul(p, v, self.r.ell, self.r.frac)  # (nh, T, hd)
        ctx = np.ascontiguousarray(ctx.transpose(1, 0, 2).reshape(T, H))
        return self.o(be, ctx)


class EncoderLayer(Module):
    def __init__(self, i: int, cfg, rings: Rings, tables: dict):
        self.r = rings
        self.attn = MultiHeadAttention(i, cfg, rings, tables["exp"])
        self.ln1 = LayerNorm(f"L{i}.ln1", cfg.layer_norm_eps, rings, "ln1")
        self.h1 = Linear(f"L{i}.h1", "Linear_h1", rings)
        self.gelu = GELU(tables["gelu"], rings)
        self.h2 = Linear(f"L{i}.h2", "Linear_h2", rings)
        self.ln2 = LayerNorm(f"L{i}.ln2", cfg.layer_norm_eps, rings, "ln2")

    def forward(self, be, x):
        R = Ring(self.r.ell)
        x = self.ln1(be, R.add(x, self.attn(be, x)))
        h = self.h2(be, self.gelu(be, self.h1(be, x)))
        return self.ln2(be, R.add(x, h))


class MeanPool(Module):
    """Mean over tokens: local sum, public multiplier 2^m/T, one truncation."""

    category = "Head"

    def __init__(self, rings: Rings, mbits: int = 12):
        self.r, self.mbits = rings, mbits

    def forward(self, be, x):
        R = Ring(self.r.ell)
        T = x.shape[0]
        s = R.reduce(np.sum(x, axis=0, dtype=np.uint64))
        return be.trunc(R.mul_public(s, int(round((1 << self.mbits) / T))), self.mbits, self.r.ell)


class BertEncoder(Module):
    """Embedding → LayerNorm → N × EncoderLayer → mean pooling (→ classifier head)."""

    def __init__(self, cfg, tables: dict, rings: Rings | None = None, with_head: bool = True):
        self.cfg = cfg
        self.r = rings or Rings.from_config()
        self.emb = Embedding(self.r)
        self.emb_ln = LayerNorm("emb.ln", cfg.layer_norm_eps, self.r, "emb")
        self.layers = [EncoderLayer(i, cfg, self.r, tables) for i in range(cfg.num_hidden_layers)]
        self.pool = MeanPool(self.r)
        self.head = Linear("head", "Head", self.r) if with_head else None

    def forward(self, be, ids, seq_len: int, *, embed_only: bool = False, layers: int | None = None):
        """Returns this party's value of the pooled embedding (embed_only) or the logits."""
        x = self.emb_ln(be, self.emb(be, ids, seq_len))
        todo = self.layers[:layers]
        for k, layer in enumerate(todo):
            x = layer(be, x)
            be.progress(k + 1, len(todo), "layers")
        pooled = self.pool(be, x)
        if embed_only or self.head is None:
            return pooled
        return self.head(be, pooled[None, :])[0]


def load_tables(model_name: str = "minilm-l6") -> dict:
    """The approximations the secure model evaluates: GELU's fitted table
    (``approx/tables/<model>/``) and softmax's exp — by lookup (:class:`approx.exp_lookup.ExpLookup`,
    exact up to rounding, its window from ``exp-lookup.v<N>.json``, chosen on the calibrated inputs)
    unless config knob ``softmax_exp`` is ``"fitted"``.  ``exp_fitted``: the fitted exp table."""
    from approx import load_table
    from approx.exp_lookup import for_model
    from protocols.config import get_config

    fitted = load_table(model_name, "exp")
    choice = get_config().get("softmax_exp", "lookup")
    if choice not in ("lookup", "fitted"):
        raise ValueError(f"softmax_exp must be 'lookup' or 'fitted', not {choice!r}")
    exp = for_model(model_name) if choice == "lookup" else fitted
    return {"gelu": load_table(model_name, "gelu"), "exp": exp, "exp_fitted": fitted}


def tables_digest(tables: dict) -> dict[str, str]:
    """What each approximation's protocol depends on, hashed (name → 16 hex digits): both parties
    must evaluate the same public tables, or their shares add up to nonsense."""
    return {k: v.digest() for k, v in sorted(tables.items()) if hasattr(v, "digest")}

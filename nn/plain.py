"""Plaintext float reference of the BERT encoder + mean pooling + classifier head (numpy).

Matches Hugging Face ``BertModel`` (eval mode) followed by sentence-transformers mean pooling:

- embeddings: word + absolute position + token type, then LayerNorm;
- attention: ``softmax(q kᵀ / sqrt(d_head) + mask)`` with padded *keys* excluded (HF adds
  ``finfo.min``; we use ``-inf``, which gives the same exact zeros after ``exp``);
- GELU in its exact erf form ``x/2 · (1 + erf(x/√2))`` (``hidden_act == "gelu"``);
- LayerNorm with the biased variance and ``eps`` from the config;
- mean pooling over tokens whose attention mask is 1 (``sum / max(count, 1e-9)``);
- classifier head: ``logits = pooled @ W + b`` (no L2 normalisation of the embedding: the
  sentence-transformers ``Normalize`` module is *not* applied; :func:`l2_normalize` does it on
  request).

``float64`` is the fidelity reference (the default); ``float32`` is ~2x faster and used to embed the
training data.

Hooks: a :class:`Recorder` passed to :meth:`PlainBert.encode` records, per layer, the inputs of
every non-linear function the secure protocols approximate — GELU inputs, ``exp`` inputs after max
subtraction, softmax denominators (inputs of the reciprocal), LayerNorm ``var + eps`` (inputs of
rsqrt) — only at valid (unpadded) positions, plus per-layer/per-stage wall-clock timings.
:class:`NonLinear` lets a caller replace those four functions (e.g. with a polynomial
approximation or a fixed-point simulation) while keeping the rest of the graph exact.
"""
from __future__ import annotations

import math
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Iterator, Sequence

import numpy as np

from .hf import BertWeights, ClassifierHead, Encoded, Model, ModelLoadError

__all__ = [
    "erf", "gelu", "layer_norm", "softmax", "mean_pool", "l2_normalize", "NonLinear", "Recorder",
    "PlainBert", "Output", "embed_texts", "classify_texts", "KINDS",
]

KINDS = ("gelu_in", "exp_in", "recip_in", "rsqrt_in")
"""What a :class:`Recorder` records: inputs of GELU, of exp (after max subtraction, so ≤ 0), of the
softmax reciprocal (row sums of exp, ≥ 1) and of LayerNorm's rsqrt (variance + eps)."""


# ------------------------------------------------------------------------------------------------
# erf / GELU without scipy
# ------------------------------------------------------------------------------------------------
_ERF_H = 1.0 / 1024.0  # grid step of the Taylor expansion points (12,289 points, 5 tables of 96 KiB)
_ERF_XMAX = 6.0        # erf(±6) rounds to ±1 in float64 (erfc(6) ≈ 2.2e-17)
_ERF_K = 4             # Taylor order: |d| ≤ h/2 = 2^-11, remainder ≤ d^5/5! · max|erf^(5)| ≈ 3e-18


def _erf_table() -> np.ndarray:
    """Taylor coefficients of erf around each grid point x0: table[k, j] = erf^(k)(x0_j) / k!.

    erf^(n+1)(x) = 2/√π · (-1)^n · H_n(x) · e^{-x²} with physicists' Hermite polynomials H_n.
    Built once from ``math.erf`` on the 12,289 grid points (a few ms).
    """
    n = int(round(_ERF_XMAX / _ERF_H))
    x0 = np.arange(-n, n + 1, dtype=np.float64) * _ERF_H
    tab = np.empty((_ERF_K + 1, x0.size), dtype=np.float64)
    tab[0] = [math.erf(v) for v in x0]  # once, when the table is first needed
    c = 2.0 / math.sqrt(math.pi) * np.exp(-x0 * x0)
    h_prev, h = np.zeros_like(x0), np.ones_like(x0)  # H_{-1}=0, H_0=1
    for m in range(_ERF_K):  # coefficient k = m+1 uses H_m
        tab[m + 1] = c * ((-1) ** m) * h / math.factorial(m + 1)
        h_prev, h = h, 2.0 * x0 * h - 2.0 * m * h_prev
    return tab


_ERF_TAB: dict[np.dtype, np.ndarray] = {}


def erf(x: np.ndarray) -> np.ndarray:
    """Vectorised erf (|error| < 2.3e-16 in float64): Taylor expansion of order 4 around the nearest
    point of a 1/1024 grid on [-6, 6]; outside, ±1 (exact in float64).  Computes in ``x``'s float
    dtype (float32 or float64)."""
    x = np.asarray(x)
    dt = x.dtype if x.dtype in (np.float32, np.float64) else np.dtype(np.float64)
    x = x.astype(dt, copy=False)
    tab = _ERF_TAB.get(dt)
    if tab is None:
        tab = _ERF_TAB.setdefault(dt, _erf_table().astype(dt))
    xc = np.clip(x, -_ERF_XMAX, _ERF_XMAX)
    n = int(round(_ERF_XMAX / _ERF_H))
    idx = np.rint(xc * dt.type(1.0 / _ERF_H)).astype(np.intp)
    d = xc - idx.astype(dt) * dt.type(_ERF_H)
    idx += n
    r = tab[_ERF_K].take(idx)
    for k in range(_ERF_K - 1, -1, -1):  # Horner in d (loop over the 5 coefficients, not elements)
        r *= d
        r += tab[k].take(idx)
    return r


_CHUNK = 1 << 14  # elements per GELU chunk: the ~10 temporaries stay in L2 cache


def _gelu_flat(x: np.ndarray, out: np.ndarray) -> None:
    e = erf(x * x.dtype.type(1.0 / math.sqrt(2.0)))
    e += 1
    e *= x
    e *= x.dtype.type(0.5)
    out[...] = e


def gelu(x: np.ndarray) -> np.ndarray:
    """Exact GELU ``x/2 · (1 + erf(x/√2))`` (HF ``hidden_act="gelu"``), in chunks of 16k elements
    (vectorised within a chunk; chunking keeps the temporaries cache-resident, ~3x faster)."""
    x = np.asarray(x)
    dt = x.dtype if x.dtype in (np.float32, np.float64) else np.dtype(np.float64)
    x = np.ascontiguousarray(x, dtype=dt)
    out = np.empty_like(x)
    xf, of = x.reshape(-1), out.reshape(-1)
    for s in range(0, xf.size, _CHUNK):
        _gelu_flat(xf[s:s + _CHUNK], of[s:s + _CHUNK])
    return out


def _exp(z: np.ndarray) -> np.ndarray:
    return np.exp(z)


def _recip(d: np.ndarray) -> np.ndarray:
    return 1.0 / d


def _rsqrt(v: np.ndarray) -> np.ndarray:
    return 1.0 / np.sqrt(v)


@dataclass(frozen=True)
class NonLinear:
    """The four functions the secure protocols approximate.  Defaults are exact.

    ``gelu(x)``; ``exp(z)`` for ``z ≤ 0`` (softmax after max subtraction; ``-inf`` at padded keys
    must give 0); ``reciprocal(d)`` for the softmax row sums ``d ≥ 1``; ``rsqrt(v)`` for LayerNorm
    ``var + eps``.  Each gets and returns an array of the same shape and dtype.
    """
    gelu: Callable[[np.ndarray], np.ndarray] = gelu
    exp: Callable[[np.ndarray], np.ndarray] = _exp
    reciprocal: Callable[[np.ndarray], np.ndarray] = _recip
    rsqrt: Callable[[np.ndarray], np.ndarray] = _rsqrt


EXACT = NonLinear()


# ------------------------------------------------------------------------------------------------
# recorder
# ------------------------------------------------------------------------------------------------
class _Stream:
    """Exact count/min/max/mean/std of a stream, plus a uniform random sample (without
    replacement) of at most ``cap`` values — a priority reservoir: each value gets a uniform key;
    the ``cap`` largest keys are kept."""

    __slots__ = ("cap", "count", "sum", "sumsq", "min", "max", "vals", "keys", "_parts")

    def __init__(self, cap: int | None):
        self.cap = cap
        self.count = 0
        self.sum = 0.0
        self.sumsq = 0.0
        self.min = math.inf
        self.max = -math.inf
        self.vals = np.empty(0)
        self.keys = np.empty(0)
        self._parts: list[np.ndarray] = []

    def add(self, v: np.ndarray, rng: np.random.Generator) -> None:
        v = np.asarray(v, dtype=np.float64).ravel()
        if v.size == 0:
            return
        self.count += v.size
        self.sum += float(v.sum())
        self.sumsq += float(np.dot(v, v))
        self.min = min(self.min, float(v.min()))
        self.max = max(self.max, float(v.max()))
        if self.cap is None:
            self._parts.append(v.copy())
            return
        k = rng.random(v.size)
        if self.keys.size >= self.cap:  # only values whose key beats the current threshold can enter
            sel = k > self.keys.min()
            v, k = v[sel], k[sel]
        vals = np.concatenate([self.vals, v])
        keys = np.concatenate([self.keys, k])
        if keys.size > self.cap:
            top = np.argpartition(keys, keys.size - self.cap)[keys.size - self.cap:]
            vals, keys = vals[top], keys[top]
        self.vals, self.keys = vals, keys

    def values(self) -> np.ndarray:
        if self.cap is None:
            if len(self._parts) > 1:
                self._parts = [np.concatenate(self._parts)]
            return self._parts[0] if self._parts else np.empty(0)
        return self.vals

    def summary(self) -> dict[str, float]:
        if self.count == 0:
            return {"count": 0}
        mean = self.sum / self.count
        var = max(self.sumsq / self.count - mean * mean, 0.0)
        s = self.values()
        q = np.quantile(s, [0.001, 0.01, 0.5, 0.99, 0.999]) if s.size else [math.nan] * 5
        return {"count": self.count, "min": self.min, "max": self.max, "mean": mean, "std": math.sqrt(var),
                "q001": float(q[0]), "q01": float(q[1]), "median": float(q[2]), "q99": float(q[3]),
                "q999": float(q[4]), "sampled": int(s.size)}


class Recorder:
    """Collects the inputs of the non-linear functions, per layer and site, and stage timings.

    Keys are ``(kind, layer, site)``: ``kind`` in :data:`KINDS`; ``layer`` is the encoder layer
    index (``-1`` for the embedding LayerNorm); ``site`` is ``"emb"`` (embedding LN), ``"attn"``
    (softmax, and the LN after attention) or ``"ffn"`` (GELU, and the LN after the FFN).

    ``max_samples=None`` keeps every value (small runs); an integer keeps a uniform random sample
    of that many values per key (exact min/max/mean/std/count are always kept).  numpy's RNG
    (``seed``) only picks the sample — this is calibration, not protocol code.

    Timings: ``timings[(layer, stage)]`` accumulates seconds over all calls (layer ``-1`` for
    embedding/pooling/head); stages are ``embed, qkv, scores, softmax, context, attn_out, ln1,
    ffn1, gelu, ffn2, ln2, pool, head``.
    """

    def __init__(self, kinds: Sequence[str] = KINDS, *, max_samples: int | None = 200_000, seed: int = 0,
                 record_timings: bool = True):
        bad = [k for k in kinds if k not in KINDS]
        if bad:
            raise ValueError(f"unknown kinds {bad}; known: {KINDS}")
        self.kinds = tuple(kinds)
        self.max_samples = max_samples
        self.record_timings = record_timings
        self._rng = np.random.default_rng(seed)
        self._streams: dict[tuple[str, int, str], _Stream] = {}
        self.timings: dict[tuple[int, str], float] = {}
        self.batches = 0
        self.tokens = 0

    def wants(self, kind: str) -> bool:
        return kind in self.kinds

    def add(self, kind: str, layer: int, site: str, values: np.ndarray) -> None:
        """Record ``values`` (any shape; flattened) under ``(kind, layer, site)``."""
        if kind not in self.kinds:
            return
        key = (kind, int(layer), site)
        st = self._streams.get(key)
        if st is None:
            st = self._streams[key] = _Stream(self.max_samples)
        st.add(values, self._rng)

    @contextmanager
    def time(self, layer: int, stage: str) -> Iterator[None]:
        if not self.record_timings:
            yield
            return
        t0 = time.perf_counter()
        try:
            yield
        finally:
            k = (int(layer), stage)
            self.timings[k] = self.timings.get(k, 0.0) + time.perf_counter() - t0

    # -- queries ----------------------------------------------------------------------------------
    def keys(self, kind: str | None = None) -> list[tuple[str, int, str]]:
        return sorted(k for k in self._streams if kind is None or k[0] == kind)

    def layers(self, kind: str) -> list[int]:
        return sorted({k[1] for k in self._streams if k[0] == kind})

    def values(self, kind: str, layer: int | None = None, site: str | None = None) -> np.ndarray:
        """The recorded (or sampled) values of ``kind``, filtered by layer/site, concatenated."""
        parts = [st.values() for (k, l, s), st in sorted(self._streams.items())
                 if k == kind and (layer is None or l == layer) and (site is None or s == site)]
        return np.concatenate(parts) if parts else np.empty(0)

    def stats(self, kind: str, layer: int, site: str) -> dict[str, float]:
        st = self._streams.get((kind, layer, site))
        return st.summary() if st else {"count": 0}

    def summary(self) -> dict[str, dict[str, dict[str, float]]]:
        """``{kind: {"layer/site": stats}}`` (JSON-friendly)."""
        out: dict[str, dict[str, dict[str, float]]] = {}
        for (k, l, s), st in sorted(self._streams.items()):
            out.setdefault(k, {})[f"{l}/{s}"] = st.summary()
        return out

    def range(self, kind: str, layer: int | None = None) -> tuple[float, float]:
        """Exact (min, max) of ``kind`` over the selected layer(s)."""
        sts = [st for (k, l, _), st in self._streams.items() if k == kind and (layer is None or l == layer)]
        if not sts:
            raise KeyError(f"nothing recorded for {kind!r} layer {layer}")
        return min(s.min for s in sts), max(s.max for s in sts)

    def timing_summary(self) -> dict[str, float]:
        """Seconds per stage summed over layers, plus ``"total"``."""
        out: dict[str, float] = {}
        for (_, stage), t in self.timings.items():
            out[stage] = out.get(stage, 0.0) + t
        out["total"] = sum(self.timings.values())
        return out

    def layer_timings(self) -> dict[int, float]:
        out: dict[int, float] = {}
        for (layer, _), t in self.timings.items():
            out[layer] = out.get(layer, 0.0) + t
        return out


class _NoRecorder:
    """Stand-in when no recorder is given (no timing overhead, records nothing)."""

    def wants(self, kind: str) -> bool:
        return False

    def add(self, *a) -> None:
        pass

    @contextmanager
    def time(self, layer: int, stage: str) -> Iterator[None]:
        yield


_NO_REC = _NoRecorder()


# ------------------------------------------------------------------------------------------------
# building blocks
# ------------------------------------------------------------------------------------------------
def layer_norm(x: np.ndarray, g: np.ndarray, b: np.ndarray, eps: float, *, rsqrt: Callable = _rsqrt,
               rec=None, layer: int = 0, site: str = "", valid: np.ndarray | None = None) -> np.ndarray:
    """LayerNorm over the last axis with the biased variance (as torch); records ``var + eps``."""
    mu = x.mean(axis=-1, keepdims=True)
    xc = x - mu
    v = np.einsum("...i,...i->...", xc, xc)[..., None]
    v /= x.shape[-1]
    v += eps
    if rec is not None and rec.wants("rsqrt_in"):
        rec.add("rsqrt_in", layer, site, v[..., 0] if valid is None else v[..., 0][valid])
    xc *= rsqrt(v)
    xc *= g
    xc += b
    return xc


def softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    m = np.max(x, axis=axis, keepdims=True)
    e = np.exp(x - m)
    return e / e.sum(axis=axis, keepdims=True)


def mean_pool(hidden: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
    """sentence-transformers mean pooling: masked mean over tokens (count clamped at 1e-9)."""
    m = np.asarray(attention_mask).astype(hidden.dtype)[..., None]
    s = (hidden * m).sum(axis=-2)
    return s / np.maximum(m.sum(axis=-2), 1e-9)


def l2_normalize(x: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    """sentence-transformers ``Normalize`` (torch ``F.normalize``: x / max(‖x‖, eps))."""
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), eps)


# ------------------------------------------------------------------------------------------------
# model
# ------------------------------------------------------------------------------------------------
@dataclass
class Output:
    hidden: np.ndarray             # (B, S, H) last hidden state
    pooled: np.ndarray             # (B, H) mean-pooled embedding
    logits: np.ndarray | None      # (B, C) if the model has a head
    probs: np.ndarray | None       # (B, C)
    labels: tuple[str, ...] = ()

    def predictions(self) -> list[str]:
        if self.logits is None:
            raise ModelLoadError("model has no classifier head")
        return [self.labels[i] for i in np.argmax(self.logits, axis=-1)]


class PlainBert:
    """numpy BERT encoder.  Weights are cast once to ``dtype`` (float64 by default)."""

    def __init__(self, weights: BertWeights | Model, dtype=np.float64, nonlinear: NonLinear = EXACT):
        if isinstance(weights, Model):
            weights = weights.weights
        self.w = weights
        self.config = weights.config
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.float32, np.float64):
            raise ValueError(f"dtype must be float32 or float64, not {self.dtype}")
        self.nl = nonlinear
        dt = self.dtype
        c = lambda a: np.ascontiguousarray(a, dtype=dt)  # noqa: E731
        # the word table stays in its stored dtype (float32): rows are gathered first, then cast —
        # exact, and it avoids a 94 MB (MiniLM) / 188 MB (BERT-base) float64 copy per PlainBert
        self.word_emb = weights.word_emb
        self.pos_emb, self.type_emb = c(weights.pos_emb), c(weights.type_emb)
        self.emb_ln = (c(weights.emb_ln_g), c(weights.emb_ln_b))
        self.layers = [lw.astype(dt) for lw in weights.layers]
        # q, k, v in one (H, 3H) matmul: one pass over the activations instead of three
        self._qkv = [(np.ascontiguousarray(np.concatenate([lw.wq, lw.wk, lw.wv], axis=1)),
                      np.concatenate([lw.bq, lw.bk, lw.bv])) for lw in self.layers]
        self.head: ClassifierHead | None = weights.head
        if self.head is not None:
            self.head_w, self.head_b = c(self.head.weight), c(self.head.bias)

    # -- pieces -------------------------------------------------------------------------------------
    def _check(self, input_ids, attention_mask, token_type_ids):
        ids = np.asarray(input_ids)
        if ids.ndim == 1:
            ids = ids[None]
        if ids.ndim != 2 or not np.issubdtype(ids.dtype, np.integer):
            raise ValueError(f"input_ids must be an integer array (B, S), got {ids.dtype} {ids.shape}")
        B, S = ids.shape
        if S > self.config.max_position_embeddings:
            raise ValueError(f"sequence length {S} exceeds max_position_embeddings={self.config.max_position_embeddings}")
        if ids.size and (ids.min() < 0 or ids.max() >= self.config.vocab_size):
            raise ValueError(f"token ids must lie in [0, {self.config.vocab_size})")
        mask = np.ones((B, S), dtype=np.int64) if attention_mask is None else np.asarray(attention_mask).reshape(B, S)
        if B and S and not mask.any(axis=1).all():
            raise ValueError("every sequence needs at least one unmasked token (attention_mask row of zeros)")
        tt = np.zeros((B, S), dtype=np.int64) if token_type_ids is None else np.asarray(token_type_ids).reshape(B, S)
        if tt.size and (tt.min() < 0 or tt.max() >= self.config.type_vocab_size):
            raise ValueError(f"token type ids must lie in [0, {self.config.type_vocab_size})")
        return ids, mask.astype(bool), tt

    def embed(self, input_ids, token_type_ids, valid, rec=_NO_REC) -> np.ndarray:
        S = input_ids.shape[1]
        with rec.time(-1, "embed"):
            x = self.word_emb[input_ids].astype(self.dtype, copy=False)
            x += self.pos_emb[:S]
            x += self.type_emb[token_type_ids]
            x = layer_norm(x, *self.emb_ln, self.config.layer_norm_eps, rsqrt=self.nl.rsqrt, rec=rec,
                           layer=-1, site="emb", valid=valid)
        return x

    def attention(self, x: np.ndarray, lw, valid: np.ndarray, i: int, rec=_NO_REC) -> np.ndarray:
        B, S, H = x.shape
        nh, hd = self.config.num_attention_heads, self.config.head_dim
        with rec.time(i, "qkv"):
            wqkv, bqkv = self._qkv[i]
            qkv = x.reshape(B * S, H) @ wqkv
            qkv += bqkv
            qkv = qkv.reshape(B, S, 3, nh, hd)
            q = qkv[:, :, 0].transpose(0, 2, 1, 3)
            k = qkv[:, :, 1].transpose(0, 2, 3, 1)
            v = qkv[:, :, 2].transpose(0, 2, 1, 3)
        with rec.time(i, "scores"):
            s = np.matmul(q, k)  # (B, nh, S, S)
            s *= self.dtype.type(1.0 / math.sqrt(hd))
        with rec.time(i, "softmax"):
            keymask = valid[:, None, None, :]
            if not valid.all():
                s = np.where(keymask, s, -np.inf)
            s -= s.max(axis=-1, keepdims=True)  # exp inputs (≤ 0; -inf at padded keys)
            if rec.wants("exp_in"):
                rec.add("exp_in", i, "attn", s[np.broadcast_to(valid[:, None, :, None] & keymask, s.shape)])
            e = self.nl.exp(s)
            den = e.sum(axis=-1, keepdims=True)
            if rec.wants("recip_in"):
                rec.add("recip_in", i, "attn", den[..., 0][np.broadcast_to(valid[:, None, :], den.shape[:-1])])
            e *= self.nl.reciprocal(den)
        with rec.time(i, "context"):
            ctx = np.matmul(e, v).transpose(0, 2, 1, 3).reshape(B * S, H)
        with rec.time(i, "attn_out"):
            a = ctx @ lw.wo
            a += lw.bo
            a = a.reshape(B, S, H)
            a += x
        with rec.time(i, "ln1"):
            return layer_norm(a, lw.ln1_g, lw.ln1_b, self.config.layer_norm_eps, rsqrt=self.nl.rsqrt, rec=rec,
                              layer=i, site="attn", valid=valid)

    def ffn(self, x: np.ndarray, lw, valid: np.ndarray, i: int, rec=_NO_REC) -> np.ndarray:
        B, S, H = x.shape
        with rec.time(i, "ffn1"):
            h = x.reshape(B * S, H) @ lw.w1
            h += lw.b1
        if rec.wants("gelu_in"):
            rec.add("gelu_in", i, "ffn", h[valid.reshape(-1)])
        with rec.time(i, "gelu"):
            h = self.nl.gelu(h)
        with rec.time(i, "ffn2"):
            o = h @ lw.w2
            o += lw.b2
            o = o.reshape(B, S, H)
            o += x
        with rec.time(i, "ln2"):
            return layer_norm(o, lw.ln2_g, lw.ln2_b, self.config.layer_norm_eps, rsqrt=self.nl.rsqrt, rec=rec,
                              layer=i, site="ffn", valid=valid)

    # -- whole model --------------------------------------------------------------------------------
    def encode(self, input_ids, attention_mask=None, token_type_ids=None, *, recorder: Recorder | None = None,
               layers: int | None = None) -> np.ndarray:
        """Last hidden state (B, S, H) in ``self.dtype``; ``layers`` runs only the first n layers."""
        rec = recorder if recorder is not None else _NO_REC
        ids, valid, tt = self._check(input_ids, attention_mask, token_type_ids)
        x = self.embed(ids, tt, valid, rec)
        for i, lw in enumerate(self.layers[: layers]):
            x = self.attention(x, lw, valid, i, rec)
            x = self.ffn(x, lw, valid, i, rec)
        if recorder is not None:
            recorder.batches += 1
            recorder.tokens += int(valid.sum())
        return x

    def classify(self, pooled: np.ndarray) -> np.ndarray:
        if self.head is None:
            raise ModelLoadError("model has no classifier head")
        return pooled @ self.head_w + self.head_b

    def __call__(self, enc: Encoded | np.ndarray, attention_mask=None, token_type_ids=None, *,
                 recorder: Recorder | None = None) -> Output:
        if isinstance(enc, Encoded):
            ids, attention_mask, token_type_ids = enc.input_ids, enc.attention_mask, enc.token_type_ids
        else:
            ids = enc
        ids2 = np.asarray(ids)
        if ids2.ndim == 1:
            ids2 = ids2[None]
        mask = np.ones(ids2.shape, dtype=np.int64) if attention_mask is None else np.asarray(attention_mask).reshape(ids2.shape)
        h = self.encode(ids2, mask, token_type_ids, recorder=recorder)
        rec = recorder if recorder is not None else _NO_REC
        with rec.time(-1, "pool"):
            pooled = mean_pool(h, mask)
        logits = probs = None
        labels: tuple[str, ...] = ()
        if self.head is not None:
            with rec.time(-1, "head"):
                logits = self.classify(pooled)
                probs = softmax(logits)
                labels = self.head.labels
        return Output(h, pooled, logits, probs, labels)


def _batches_by_length(lengths: np.ndarray, batch_size: int, max_tokens: int) -> list[np.ndarray]:
    """Index batches of similar length (sorted), at most ``batch_size`` rows and ~``max_tokens``
    padded tokens each, so little work is spent on padding."""
    order = np.argsort(lengths, kind="stable")
    out, start = [], 0
    while start < order.size:
        end = start + 1
        while end < order.size and end - start < batch_size and (end - start + 1) * lengths[order[end]] <= max_tokens:
            end += 1
        out.append(order[start:end])
        start = end
    return out


def embed_texts(model: Model, texts: Sequence[str], *, dtype=np.float32, batch_size: int = 128,
                max_tokens: int = 4096, truncation: bool = True, recorder: Recorder | None = None,
                progress: bool = False, plain: PlainBert | None = None) -> np.ndarray:
    """Mean-pooled embeddings (N, H) of ``texts`` (in input order), batched by length."""
    if model.tokenizer is None:
        raise ModelLoadError(f"model {model.name!r} has no tokenizer")
    texts = list(texts)
    if not texts:
        return np.empty((0, model.config.hidden_size), dtype=dtype)
    enc = model.encode(texts, truncation=truncation)
    net = plain if plain is not None else PlainBert(model.weights, dtype=dtype)
    lengths = enc.lengths
    out = np.empty((len(texts), model.config.hidden_size), dtype=net.dtype)
    batches = _batches_by_length(lengths, batch_size, max_tokens)
    it = batches
    if progress:
        from tqdm import tqdm
        it = tqdm(batches, desc="embed", unit="batch")
    for idx in it:
        S = int(lengths[idx].max())
        h = net.encode(enc.input_ids[idx, :S], enc.attention_mask[idx, :S], enc.token_type_ids[idx, :S],
                       recorder=recorder)
        out[idx] = mean_pool(h, enc.attention_mask[idx, :S])
    return out


def classify_texts(model: Model, texts: Sequence[str], *, dtype=np.float64, truncation: bool = False) -> Output:
    """Tokenise ``texts`` (errors on empty / over-long text unless ``truncation``) and run the
    model with its head; returns an :class:`Output` (``probs``, ``predictions()``)."""
    enc = model.encode(list(texts) if not isinstance(texts, str) else [texts], truncation=truncation)
    return PlainBert(model.weights, dtype=dtype)(enc)

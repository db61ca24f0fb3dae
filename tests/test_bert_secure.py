"""Secure BERT end to end: `party serve` and the client in two processes over gRPC + TLS, with the
real HE linear layers and silent OT, on a tiny Hugging Face folder model (its own small WordPiece
vocabulary keeps the HE weight setup small); the revealed logits agree with the fixed-point
simulator and the plaintext model.  Plus the bad-input paths of the `bert-classify` job."""
import json
import subprocess
import sys

import numpy as np
import pytest

from nn import hf
from nn.backend import SimBackend
from nn.model import BertEncoder, fixed_weights, load_tables, model_config
from nn.plain import PlainBert
from protocols.config import override
from protocols.ring import Ring

WORDS = ["good", "bad", "film", "movie", "plot", "great", "dull", "acting", "a", "the", "is", "was", "not",
         "very", "fun", "boring", "and", "but", "story", "cast"]


def _tokenizer_json(path):
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors

    vocab = {t: i for i, t in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", *WORDS])}
    tok = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)])
    tok.save(str(path))
    return len(vocab)


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory):
    from safetensors.numpy import save_file

    d = tmp_path_factory.mktemp("tiny-bert")
    V = _tokenizer_json(d / "tokenizer.json")
    cfg = hf.BertConfig(vocab_size=V, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=32)
    w = hf.random_bert(config=cfg, seed=7)
    w.word_emb = w.word_emb * 30  # spread the activations so the non-linear layers matter
    c = cfg.to_dict()
    c["architectures"] = ["BertModel"]
    (d / "config.json").write_text(json.dumps(c))
    tensors = {}
    arrays = w.tensors()
    for field, name in w.names.items():
        transpose = field.startswith("layers.") and hf._LAYER_FIELDS[field.split(".")[-1]][1]
        tensors[name] = np.ascontiguousarray(arrays[field].T if transpose else arrays[field])
    save_file(tensors, str(d / "model.safetensors"))
    hf.save_head(d / "head.npz", hf.ClassifierHead(w.head.weight * 20, w.head.bias))
    return d


def _serve(args):
    from party.commands.demo import start_server

    return start_server(args)


def test_two_processes_tls_secure_matches_simulator_and_plaintext(tiny_folder, tmp_path):
    from party.client import PartyClient
    from party.commands.demo import stop_server
    from party.tls import make_self_signed

    cert, key = make_self_signed(tmp_path)
    proc, port = _serve(["--model", str(tiny_folder), "--tls-cert", str(cert), "--tls-key", str(key)])
    texts = ["a good film and a great cast", "the plot was dull and boring", "not very fun"]
    try:
        with PartyClient(f"127.0.0.1:{port}", tls_ca=cert.read_bytes()) as c:
            params = {"tokenizer": str(tiny_folder), "he_cache": str(tmp_path / "he")}
            qr = c.run("bert-classify", texts, model=str(tiny_folder), params=params)
            # a second session reuses the client's cache of encrypted weights
            qr2 = c.run("bert-classify", texts[:1], model=str(tiny_folder), params=params)
            # the server keeps serving after a client with bad input
            with pytest.raises(ValueError, match="empty"):
                c.run("bert-classify", [" "], model=str(tiny_folder), params=params)
            qr3 = c.run("bert-embed", texts[:1], model=str(tiny_folder), params=params)
    finally:
        assert stop_server(proc) == 0
    res = qr.result
    assert qr.result["setup"]["chunks_fetched"] > 0 and qr2.result["setup"]["chunks_fetched"] == 0
    m = hf.load_model(str(tiny_folder), head=tiny_folder / "head.npz", cache=False)
    plain = PlainBert(m.weights)
    mc = model_config()
    with override(ell=mc.ell, frac=mc.frac, ell_nl=mc.ell_nl, frac_nl=mc.frac_nl):
        fw = fixed_weights(m.weights, mc.frac)
        net = BertEncoder(m.config, load_tables())
        R = Ring(mc.ell)
        for t, r in zip(texts, res["results"]):
            enc = m.encode(t)
            ids = enc.input_ids[0, : int(enc.lengths[0])]
            sim = R.decode(net(SimBackend(fw, mc.ell, mc.frac), ids, ids.size), mc.frac)
            ref = plain(ids[None]).logits[0]
            got = np.array(r["logits"])
            assert np.abs(got - sim).max() < 0.05, (got, sim)
            assert np.abs(got - ref).max() < 0.15, (got, ref)
            assert r["label"] == m.head.labels[int(np.argmax(ref))] or abs(ref[0] - ref[1]) < 0.1
            assert abs(sum(r["probabilities"]) - 1) < 1e-9
        emb = np.array(qr3.result["results"][0]["embedding"])
        enc = m.encode(texts[0])
        ref_e = plain(enc.input_ids[:, : int(enc.lengths[0])]).pooled[0]
        assert emb @ ref_e / np.linalg.norm(emb) / np.linalg.norm(ref_e) > 0.99
    # the per-layer cost table is in the result and in the channel records (for --report)
    assert {"Embedding", "Linear_qkv", "Linear_o", "Linear_h1", "Linear_h2", "QKᵀ&PV", "Softmax", "GELU",
            "LayerNorm"} <= set(res["layers"])
    assert any(rec.name == "layer/GELU" for rec in qr.channel.records)


def test_bad_inputs_are_clear_errors(tiny_folder, tmp_path):
    from party.jobs import get_job

    job = get_job("bert-classify")
    info = {"tokenizer": "folder", "max_length": 32}
    with pytest.raises(ValueError, match="over the maximum length"):
        job.tokenize(["good " * 40], info, {"tokenizer": str(tiny_folder)})
    with pytest.raises(ValueError, match="tokenizer"):
        job.tokenize(["good"], info, {})
    # a non-BERT folder and an unknown model name: `party serve` refuses with the reason
    bad = tmp_path / "not-bert"
    bad.mkdir()
    (bad / "config.json").write_text(json.dumps({"model_type": "gpt2"}))
    for spec, why in ((str(bad), "bert"), ("no-such-model", "unknown model")):
        p = subprocess.run([sys.executable, "-m", "party.cli", "serve", "--model", spec, "--insecure-plaintext",
                            "--port", "0"], capture_output=True, text=True, timeout=120)
        assert p.returncode != 0
        assert why in (p.stderr + p.stdout).lower(), p.stderr


def test_mismatched_approximation_tables_are_a_clear_error():
    """A server and a client with different approximation tables stop at the session's start,
    naming the table, instead of computing on shares that no longer add up."""
    from approx import ExpLookup
    from party.job_bert import check_tables
    from protocols.channel import ProtocolError, run_two_party

    tables = load_tables()
    same = run_two_party(lambda ch: check_tables(ch, tables), lambda ch: check_tables(ch, dict(tables)))
    assert same[:2] == (None, None)
    other = {**tables, "exp": ExpLookup(index_bits=4)}
    with pytest.raises(ProtocolError, match="exp: ours"):
        run_two_party(lambda ch: check_tables(ch, tables), lambda ch: check_tables(ch, other))

"""The secure graph's OT-based layers (GELU, softmax, LayerNorm, truncations, ring changes) against
the fixed-point simulator on a tiny random BERT.  The HE linear layer is replaced by the INSECURE
test stand-in of tests/insecure_linear.py so this test isolates the non-linear protocols; the
real HE path is tested in tests/test_bert_secure.py."""
import dataclasses

import numpy as np
import pytest

from nn.backend import SimBackend
from nn.hf import BertConfig, random_bert
from nn.model import BertEncoder, fixed_weights, load_tables, model_config, public_shapes
from nn.secure import SecureBackend
from protocols.channel import run_two_party
from protocols.config import override
from protocols.context import MPC
from protocols.ring import Ring

from insecure_linear import InsecureLinearEngine


@pytest.fixture(scope="module")
def tiny():
    cfg = BertConfig(vocab_size=50, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                     intermediate_size=64, max_position_embeddings=16)
    w = random_bert(config=cfg, seed=3)
    # larger than BERT's init so the non-linear layers see a spread of values
    for lw in w.layers:
        for f in ("wq", "wk", "wv", "wo", "w1", "w2"):
            setattr(lw, f, getattr(lw, f) * 10)
    w.word_emb = w.word_emb * 20
    return cfg, w


def test_secure_graph_matches_simulator(tiny):
    cfg, w = tiny
    ids = np.array([1, 7, 42, 3, 9, 0])
    T = ids.size
    mc = model_config()
    with override(**{k: getattr(mc, k) for k in ("ell", "frac", "ell_nl", "frac_nl")}):
        fw = fixed_weights(w, mc.frac)
        tables = load_tables()
        net = BertEncoder(cfg, tables)
        sim = SimBackend(fw, mc.ell, mc.frac)
        want = Ring(mc.ell).decode(net(sim, ids, T), mc.frac)
        shapes = public_shapes(cfg)

        def server(ch):
            mpc = MPC.setup(ch, ot_kind="insecure-dealer")
            be = SecureBackend(mpc, InsecureLinearEngine(mpc, fw, shapes), fw)
            y = net(be, None, T)
            be.reveal(y, mc.ell)
            return be.costs

        def client(ch):
            mpc = MPC.setup(ch, ot_kind="insecure-dealer")
            be = SecureBackend(mpc, InsecureLinearEngine(mpc, None, shapes), None)
            y = net(be, ids, T)
            return Ring(mc.ell).decode(be.reveal(y, mc.ell), mc.frac), be.costs

        costs0, (got, costs1), _, _ = run_two_party(server, client)
    # stochastic secure truncation vs the simulator's floor: a few ulps through one layer
    print("max |secure - sim|", np.abs(got - want).max())
    np.testing.assert_allclose(got, want, atol=0.02)
    assert {"GELU", "Softmax", "LayerNorm"} <= set(costs1)
    assert costs1["GELU"].bytes_sent > 0 and costs1["Softmax"].rounds > 0

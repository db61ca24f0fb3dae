"""approx.calibrate (+ the `party calibrate` command): recorder dicts -> versioned tables."""
import json
import math

import numpy as np
import pytest

from approx.baselines import bumblebee_gelu
from approx.calibrate import (calibrate, choose, from_recorder, load_samples, pooled, save_samples, split_keys,
                              summarize)
from approx.fit import IDENTITY, fit_shape, piece_fits_ring, poly
from approx.fixed import evaluate_fixed_real
from approx.functions import gelu
from approx.tables import TABLES_DIR, load_table

FAST = dict(bins=512, max_candidates=64, lams=(0.0, 0.1))


class FakeRecorder:
    def __init__(self, d):
        self.d = d

    def keys(self):
        return sorted(self.d)

    def values(self, k, l, s):
        return self.d[(k, l, s)]


def synthetic(rng, n=20000):
    return {
        "gelu_in/0/ffn": rng.normal(-0.8, 1.0, n), "gelu_in/1/ffn": rng.normal(-0.5, 1.5, n),
        "exp_in/0/attn": -rng.exponential(3.0, n), "exp_in/1/attn": -rng.exponential(5.0, n),
        "rsqrt_in/-1/emb": rng.uniform(0.1, 1, 100),
    }


def test_recorder_dicts(rng):
    rec = FakeRecorder({("gelu_in", 0, "ffn"): np.arange(3.0), ("exp_in", 2, "attn"): -np.arange(2.0)})
    d = from_recorder(rec)
    assert sorted(d) == ["exp_in/2/attn", "gelu_in/0/ffn"]
    assert split_keys(d)["gelu_in"]["0/ffn"].tolist() == [0.0, 1.0, 2.0]
    assert pooled(d, "exp").tolist() == [-0.0, -1.0]
    with pytest.raises(KeyError):
        pooled(d, "rsqrt")
    s = summarize(synthetic(rng), "gelu")
    assert set(s["per_layer"]) == {"0/ffn", "1/ffn"} and s["n"] == 40000


def test_samples_roundtrip(tmp_path, rng):
    d = synthetic(rng)
    p = save_samples(tmp_path / "s.npz", d, per_key=500)
    z = load_samples(p)
    assert z["gelu_in/0/ffn"].size == 500 and z["rsqrt_in/-1/emb"].size == 100
    assert np.isin(z["exp_in/1/attn"], d["exp_in/1/attn"].astype(np.float32)).all()


def test_choose_rule():
    rows = [{"shape": "a", "mean_abs": 1e-2, "est_bits": 100}, {"shape": "b", "mean_abs": 1e-3, "est_bits": 300},
            {"shape": "c", "mean_abs": 2e-3, "est_bits": 200}, {"shape": "d", "error": "x"}]
    assert choose(rows, 2.5e-3)["shape"] == "c"
    assert choose(rows, 1e-4)["shape"] == "b"
    assert choose(rows, None)["shape"] == "b"


def test_calibrate_writes_versioned_tables(tmp_path, rng):
    d = synthetic(rng)
    shapes = {"gelu": [[poly(2), IDENTITY], [poly(2), poly(2), IDENTITY]], "exp": [[poly(2)], [poly(2), poly(3)]]}
    for fn in ("gelu", "exp"):
        res = calibrate(d, "toy", functions=[fn], out_dir=tmp_path, shapes=shapes[fn], plots=(fn == "gelu"),
                        eval_inputs=d, source={"data": "synthetic"}, **FAST)
        t = res[fn].table
        assert res[fn].path.name == f"{fn}.v1.json"
        u = load_table("toy", fn, root=tmp_path)
        assert u.pieces == t.pieces and u.calibration["data"] == "synthetic"
        assert u.errors["held_out"]["n"] > 0 and "selection" in u.fit
        assert (tmp_path / "toy" / f"tradeoff.{fn}.v1.txt").read_text().count("\n") >= 3
    assert (tmp_path / "toy" / "plots" / "gelu.v1.png").stat().st_size > 1000
    assert load_table("toy", "exp", root=tmp_path).domain == (None, 0.0)
    # a second run gets the next version
    res = calibrate(d, "toy", functions=["exp"], out_dir=tmp_path, shapes=[[poly(2)]], plots=False, **FAST)
    assert res["exp"].path.name == "exp.v2.json"


def test_committed_minilm_tables_meet_acceptance():
    """The committed MiniLM tables: consistent, ring-safe at ell=32/f=13, better than BumbleBee on
    the held-out recorded GELU inputs in float and fixed point with lower-degree pieces."""
    g = load_table("minilm-l6", "gelu")
    e = load_table("minilm-l6", "exp")
    assert g.model == "minilm-l6" and g.calibration["model_hash"].startswith("53aa5117")
    for t in (g, e):
        fin = t.breakpoints + [math.inf if t.domain[1] is None else t.domain[1]]
        for k, p in enumerate(t.pieces):
            if not t.integer_piece(k):
                assert piece_fits_ring(fin[k], fin[k + 1], poly(len(p) - 1), p, [(32, 13)])
    z = load_samples(TABLES_DIR / "minilm-l6" / "samples-heldout.npz")
    x = pooled(z, "gelu")
    bb = bumblebee_gelu()
    ours = np.abs(g.evaluate_float(x) - gelu(x)).mean()
    theirs = np.abs(bb.evaluate_float(x) - gelu(x)).mean()
    assert ours < 0.7 * theirs and g.degree < bb.degree
    ours_fx = np.abs(evaluate_fixed_real(g, x, 32, 13, "floor") - gelu(x)).mean()
    assert ours_fx < ours + 1e-4


def test_cli_has_calibrate_command():
    from party.cli import build_parser

    args = build_parser().parse_args(["calibrate", "--texts", "8", "--functions", "gelu", "--no-plots"])
    assert args.texts == 8 and args.func.__module__ == "party.commands.calibrate"


@pytest.mark.slow
def test_party_calibrate_end_to_end(tmp_path):
    """Real MiniLM + movie-review sentences (needs the model package and the cached data set)."""
    from party.cli import main

    rc = main(["calibrate", "--texts", "24", "--out", str(tmp_path), "--no-plots", "--save-samples", "100"])
    assert rc == 0
    t = load_table("minilm-l6", "gelu", root=tmp_path)
    assert t.calibration["texts"] == 18 and t.errors["calibration"]["mean_abs"] < 0.01
    assert (tmp_path / "minilm-l6" / "samples-heldout.npz").exists()
    assert json.loads((tmp_path / "minilm-l6" / "exp.v1.json").read_text())["domain"] == [None, 0.0]
    window = json.loads((tmp_path / "minilm-l6" / "exp-lookup.v1.json").read_text())
    assert window["format"] == "party-exp-lookup" and 1 <= window["index_bits"] <= 8

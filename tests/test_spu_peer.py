"""bench/peers: the SPU peer's pure logic (log parsing, share framing, row building).

Runs without the SPU virtual environment: nothing here imports ``spu``."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from bench.peers import spu as spu_peer

_WORKER = Path(spu_peer.__file__).with_name("spu_worker.py")
_spec = importlib.util.spec_from_file_location("spu_worker_under_test", _WORKER)
worker = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(worker)


LOG = """\
[2026-11-22 06:39:50.319] [info] [api.cc:223] - pphlo.dot, executed 1 times, duration 0.08s, send bytes 1 recv bytes 2, send actions 2, recv actions 2
[2026-11-22 06:39:50.319] [info] [api.cc:233] Link details: total send bytes 10369361, recv bytes 10440417, send actions 933, recv actions 931
[2026-11-22 06:39:50.407] [info] [api.cc:233] Link details: total send bytes 185029, recv bytes 255874, send actions 2, recv actions 3
"""


def test_parse_link_details_takes_last_line():
    assert worker.parse_link_details(LOG) == {
        "send_bytes": 185029, "recv_bytes": 255874, "send_actions": 2, "recv_actions": 3}
    assert worker.parse_link_details(LOG.splitlines()[1]) == {
        "send_bytes": 10369361, "recv_bytes": 10440417, "send_actions": 933, "recv_actions": 931}
    assert worker.parse_link_details("nothing here") is None


class FakeShare:
    def __init__(self):
        self.meta = b""
        self.share_chunks = []


class FakeLib:
    Share = FakeShare


def test_share_framing_roundtrip_and_rejects_garbage():
    sh = FakeShare()
    sh.meta, sh.share_chunks = b"meta\x00", [b"a" * 10, b"", b"\xff" * 3]
    back = worker.share_from_bytes(worker.share_to_bytes(sh), FakeLib)
    assert (back.meta, back.share_chunks) == (sh.meta, sh.share_chunks)
    data = worker.share_to_bytes(sh)
    with pytest.raises(ValueError, match="malformed"):
        worker.share_from_bytes(data[:-1], FakeLib)
    with pytest.raises(ValueError, match="malformed"):
        worker.share_from_bytes(data + b"x", FakeLib)


def test_workload_case_validation():
    import numpy as np

    rng = np.random.default_rng(0)
    with pytest.raises(SystemExit):
        worker.build_workload("linear", "128x768", 0, rng)
    with pytest.raises(SystemExit):
        worker.build_workload("bert", "gpt2", 0, rng)
    fn, inputs = worker.build_workload("linear", "4x5x6", 0, rng)
    assert [(nm, a.shape, k) for nm, a, k in inputs] == [("x", (4, 5), "secret"), ("w", (5, 6), "server")]
    _, inputs = worker.build_workload("bert", "minilm-l6-128", 0, rng)
    shapes = {nm: a.shape for nm, a, _ in inputs}
    assert shapes["x"] == (128, 384) and shapes["wqkv"] == (384, 1152) and shapes["w1"] == (384, 1536)
    assert [k for _, _, k in inputs].count("secret") == 1


def _party(rank, times, sends, recvs, warm=(5.0, 1000), n=None):
    return {
        "rank": rank, "spu_version": "0.9.5", "protocol": "CHEETAH", "field": "FM64", "fxp_fraction_bits": 18,
        "n": n, "peak_rss_bytes": 123 + rank,
        "warmup": {"time_s": warm[0], "link": {"send_bytes": warm[1], "recv_bytes": 0, "send_actions": 1, "recv_actions": 1}},
        "runs": [{"time_s": t, "link": {"send_bytes": s, "recv_bytes": r, "send_actions": 4, "recv_actions": 4}}
                 for t, s, r in zip(times, sends, recvs)],
    }


def test_rows_from_results():
    server = _party(0, [2.0, 3.0, 1.0], [300, 310, 300], [100, 100, 120], warm=(9.0, 7000), n=10**6)
    client = _party(1, [2.5, 2.9, 1.1], [100, 100, 120], [300, 310, 300], warm=(9.5, 6000))
    client["check_max_abs_err"] = 1e-4
    row = spu_peer.rows_from_results("primitives", "cmp64", "lan", server, client, relay_bytes=(11, 22))
    assert row["impl"] == "spu-cheetah" and row["case"] == "cmp64" and row["profile"] == "lan"
    assert row["time_s_median"] == 2.5 and row["time_s_min"] == 1.1 and row["time_s_max"] == 3.0
    assert (row["bytes_s2c"], row["bytes_c2s"]) == (300, 100)
    assert row["rounds"] is None and row["n"] == 10**6 and row["warmup_s"] == 9.5
    assert (row["warmup_bytes_s2c"], row["warmup_bytes_c2s"]) == (7000, 6000)
    assert (row["relay_bytes_c2s"], row["relay_bytes_s2c"]) == (11, 22)
    assert row["check_max_abs_err"] == 1e-4 and "relay (lan)" in row["note"]
    assert row["msgs"] == 8 and row["times_s"] == [2.5, 3.0, 1.1] and row["repeat"] == 3
    assert row["bound_s"] is None and row["bound_bw_s"] == pytest.approx(400 * 8 / 3e9)
    assert "loadavg_1m" not in row
    server["loadavg_1m"] = [1.234, 5.0]
    assert spu_peer.rows_from_results("primitives", "cmp64", "lan", server, client)["loadavg_1m"] == [1.23, 5.0]
    for k in ("workload", "impl", "case", "profile", "time_s_median", "time_s_min", "time_s_max",
              "bytes_c2s", "bytes_s2c", "rounds", "n", "warmup_s", "note"):
        assert k in row
    json.dumps(row)
    # n is only for primitives
    assert spu_peer.rows_from_results("linear", "1x2x3", "none", server, client)["n"] is None


def test_rows_reject_inconsistent_results():
    server = _party(0, [1.0], [300], [100])
    client = _party(1, [1.0], [100], [299])  # client says it received less than the server sent
    with pytest.raises(ValueError, match="disagree"):
        spu_peer.rows_from_results("linear", "c", "lan", server, client)
    with pytest.raises(ValueError, match="number"):
        spu_peer.rows_from_results("linear", "c", "lan", server, _party(1, [1, 1], [100, 100], [300, 300]))
    with pytest.raises(ValueError, match="rank"):
        spu_peer.rows_from_results("linear", "c", "lan", client, server)
    broken = _party(1, [1.0], [100], [300])
    broken["runs"][0]["link"] = None
    with pytest.raises(ValueError, match="Link details"):
        spu_peer.rows_from_results("linear", "c", "lan", server, broken)


def test_missing_venv_gives_setup_hint(monkeypatch, tmp_path):
    monkeypatch.setenv("SPU_VENV", str(tmp_path / "nope"))
    with pytest.raises(spu_peer.SpuNotInstalled, match="setup_spu.sh"):
        spu_peer.spu_rows("linear", ["128x768x768"], "lan", 1)


def test_merge_and_save_rows(tmp_path):
    a = {"workload": "linear", "case": "x", "profile": "lan", "time_s_median": 1}
    b = {"workload": "linear", "case": "x", "profile": "wan", "time_s_median": 2}
    a2 = dict(a, time_s_median=3)
    assert spu_peer.merge_rows([a, b], [a2]) == [b, a2]
    p = tmp_path / "r.json"
    spu_peer.save_rows("linear", [a, b], p)
    spu_peer.save_rows("linear", [a2], p)
    doc = json.loads(p.read_text())
    assert isinstance(doc, list) and [r["profile"] for r in doc] == ["wan", "lan"]
    assert doc[1]["time_s_median"] == 3 and "measured_at" in doc[1]
    assert spu_peer.load_rows(p) == doc
    p.write_text(json.dumps({"impl": "spu-cheetah", "rows": [a]}))  # older document form
    assert spu_peer.load_rows(p) == [a]


def test_bert_layer_plaintext_shapes_and_normalisation():
    """The layer SPU compiles, evaluated on numpy: right shape, LayerNorm output ~ (g, b) statistics."""
    import numpy as np

    fn, inputs = worker.build_workload("bert", "minilm-l6-128", 0, np.random.default_rng(1))
    out = fn(*[a.astype(np.float64) for _, a, _ in inputs])
    assert out.shape == (128, 384) and np.all(np.isfinite(out))
    g2, b2 = (dict((nm, a) for nm, a, _ in inputs)[k] for k in ("g2", "b2"))
    z = (out - b2) / g2
    assert np.allclose(z.mean(-1), 0, atol=1e-6) and np.allclose(z.std(-1), 1, atol=1e-3)


def test_supported_cases():
    for wl, cases in spu_peer.DEFAULT_CASES.items():
        assert all(spu_peer.supported(wl, c) for c in cases), wl
    assert spu_peer.supported("linear", "1x2x3") and not spu_peer.supported("linear", "128x768")
    assert not spu_peer.supported("linear", "ax2x3") and not spu_peer.supported("primitives", "relu")
    assert spu_peer.supported("nonlinear", "gelu-16") and not spu_peer.supported("nonlinear", "tanh-16")
    assert not spu_peer.supported("nonlinear", "gelu") and not spu_peer.supported("bert", "gpt2-128")
    assert not spu_peer.supported("decoder", "x")


def test_spu_rows_renames_and_skips(monkeypatch, tmp_path, capsys):
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "python").write_text("")
    monkeypatch.setenv("SPU_VENV", str(tmp_path))
    calls = []

    def fake_run_case(workload, case, profile, repeat, n=None):
        calls.append((workload, case, profile, repeat, n))
        return {"workload": workload, "case": case, "profile": profile}

    monkeypatch.setattr(spu_peer, "run_case", fake_run_case)
    rows = spu_peer.spu_rows("primitives", ["cmp-64", "relu", "mul_trunc64"], "wan", 2, rename={"cmp-64": "cmp64"})
    assert calls == [("primitives", "cmp64", "wan", 2, 10**6), ("primitives", "mul_trunc64", "wan", 2, 10**6)]
    assert [r["case"] for r in rows] == ["cmp-64", "mul_trunc64"]
    assert "relu" in capsys.readouterr().err
    with pytest.raises(ValueError, match="unknown workload"):
        spu_peer.spu_rows("decoder", None, "lan", 1)

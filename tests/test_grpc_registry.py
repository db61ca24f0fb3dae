"""Job and model registries, and the demo job against its plaintext twin (in-memory channel)."""
import numpy as np
import pytest

from party.job_demo import X_BOUND, plaintext_affine
from party.jobs import Job, get_job, list_jobs, register_job
from party.models import UnknownModel, load_model, register_model, _affine_model
from party.server import ServerOptions, make_server
from party.client import PartyClient
from protocols.channel import run_two_party


def run_demo(model, x):
    job = get_job("demo")
    params = {"model_info": model.info}
    _, res, c0, c1 = run_two_party(lambda ch: job.server(ch, model, {}), lambda ch: job.client(ch, params, x))
    return res, c0, c1


@pytest.mark.parametrize("kind", ["random", "zeros", "extremes", "alternating"])
def test_demo_job_matches_plaintext(kind, rng):
    m = load_model("demo")
    x = {
        "random": rng.integers(-X_BOUND, X_BOUND + 1, size=16),
        "zeros": np.zeros(16, dtype=np.int64),
        "extremes": np.full(16, X_BOUND),
        "alternating": np.array([X_BOUND, -X_BOUND] * 8),
    }[kind]
    res, c0, c1 = run_demo(m, x)
    assert res["y"] == plaintext_affine(m.weights["W"], m.weights["b"], x).tolist()
    # 3 messages: context + ciphertext (c->s), masked result (s->c), reveal of 8 uint64 (s->c); 1 round
    assert (c1.total.msgs_sent, c1.total.msgs_recv, c1.total.rounds) == (2, 2, 1)
    assert [r.name for r in c1.records] == ["demo/send_input", "demo/result_share", "demo/reveal"]
    assert {r.name: r.cost.bytes_recv for r in c1.records}["demo/reveal"] == 8 * 8


def test_demo_job_other_model_and_bad_input():
    W = np.array([[1, -2, 3], [0, 5, -8]])
    b = np.array([7, -7])
    m = _affine_model("tiny", W, b)
    res, _, _ = run_demo(m, np.array([-1, 0, 1000]))
    assert res["y"] == (W @ np.array([-1, 0, 1000]) + b).tolist()
    with pytest.raises(ValueError, match="takes 3 integers"):
        run_demo(m, np.array([1, 2]))


def test_model_registry_names_paths_and_errors(tmp_path):
    register_model("test-tiny", lambda spec: _affine_model(spec, np.eye(2, dtype=int), np.zeros(2, dtype=int)))
    assert load_model("test-tiny").info["in_dim"] == 2
    np.savez(tmp_path / "m.npz", W=np.ones((2, 3), dtype=np.int64), b=np.zeros(2, dtype=np.int64))
    m = load_model(str(tmp_path / "m.npz"))
    assert m.info == {"kind": "affine", "out_dim": 2, "in_dim": 3, "w_bound": 1, "b_bound": 0}
    assert m.hash != load_model("demo").hash and load_model("demo").hash == load_model("demo").hash
    with pytest.raises(UnknownModel, match="unknown model 'nope'; registered models: .*demo"):
        load_model("nope")
    (tmp_path / "x.bin").write_bytes(b"")
    with pytest.raises(UnknownModel, match="no model loader accepts"):
        load_model(str(tmp_path / "x.bin"))


def test_registered_job_is_served_without_touching_the_service():
    @register_job("test-echo-sum")
    class EchoSum(Job):
        def server(self, ch, model, params):
            (a,) = ch.recv((np.int64, (-1,)))
            ch.send(np.array([a.sum() * params["k"]]))

        def client(self, ch, params, inputs):
            ch.send(np.asarray(inputs, dtype=np.int64))
            return int(ch.recv_array(np.int64, (1,))[0])

    assert "test-echo-sum" in list_jobs()
    srv, _, port = make_server({}, port=0, options=ServerOptions())
    try:
        with PartyClient(f"127.0.0.1:{port}", insecure_plaintext=True) as c:
            assert "test-echo-sum" in c.health()["jobs"]
            assert c.run("test-echo-sum", [1, 2, 3], params={"k": 10}).result == 60
    finally:
        srv.stop(0)
    with pytest.raises(KeyError, match="unknown job 'nope'"):
        get_job("nope")

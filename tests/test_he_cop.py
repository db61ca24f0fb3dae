"""COP mmul_ap / embedding / setup cache between two parties: exact against numpy mod 2^ell."""
import os
import subprocess
import sys

import numpy as np
import pytest

from protocols.channel import ProtocolError, run_two_party
from protocols.context import MPC
from protocols.he import rlwe
from protocols.he.cache import WeightCache
from protocols.config import override
from protocols.he.core import product_sizes
from protocols.he.cop import online_estimate, product_slots, resolve_compact
from protocols.he.cop import COPClient, COPServer
from protocols.ring import Ring


def ref(x, w, ell, bias=None):
    y = np.array(x, dtype=object).dot(np.array(w, dtype=object))
    if bias is not None:
        y = y + np.array(bias, dtype=object)
    return np.array(y % (1 << ell), dtype=np.uint64)


def edge_matrix(R, rng, shape):
    v = R.reduce(rng.integers(0, 2**64, shape, dtype=np.uint64))
    flat = v.reshape(-1)
    ed = [0, 1, R.mask, R.half, R.half - np.uint64(1), R.half + np.uint64(1)]  # 0, +1, -1, extremes
    flat[: len(ed)] = ed
    return v


def session(fs, fc, cache):
    def s(ch):
        return fs(MPC(ch=ch, ot=None))

    def c(ch):
        return fc(MPC(ch=ch, ot=None))

    return run_two_party(s, c)


@pytest.mark.parametrize("ell,compact", [(64, True), (32, True), (64, False), (64, "auto")])
def test_mmul_ap_exact_bias_edges_and_cost(ell, compact, rng, tmp_path):
    with override(he_compact=compact):
        _mmul_ap_case(ell, compact, rng, tmp_path)


def _mmul_ap_case(ell, compact, rng, tmp_path):
    R = Ring(ell)
    T, n, M = 4, 64, 96
    w = edge_matrix(R, rng, (n, M))
    w2 = edge_matrix(R, rng, (n, 200))
    bias = edge_matrix(R, rng, (M,))
    x = edge_matrix(R, rng, (T, n))
    x[1] = R.half  # a whole token at the most negative value
    x2 = edge_matrix(R, rng, (13, n))  # 13 tokens: 2 packed ciphertexts for M = 200 (slots 40)
    xs, xc = R.share(x)
    xs2, xc2 = R.share(x2)
    costs = {}

    def fs(mpc):
        s = COPServer(mpc, {"w": w, "w2": w2}, {"w": bias}, ell=ell)
        s.setup()
        st = mpc.ch.snapshot()
        y = s.mmul_ap("w", xs)
        costs["s"] = mpc.ch.cost_since(st)
        return y, s.mmul_ap("w2", xs2), s.params

    def fc(mpc):
        c = COPClient(mpc, ell=ell, cache_dir=tmp_path)
        c.setup()
        st = mpc.ch.snapshot()
        y = c.mmul_ap("w", xc)
        costs["c"] = mpc.ch.cost_since(st)
        return y, c.mmul_ap("w2", xc2)

    (y0, z0, params), (y1, z1), _, _ = session(fs, fc, tmp_path)
    assert np.array_equal(R.add(y0, y1), ref(x, w, ell, bias))
    assert np.array_equal(R.add(z0, z1), ref(x2, w2, ell))
    # traffic: one client -> server message of exactly the analytic size, nothing back
    nb = product_sizes(params, T, M, product_slots(params, n, M, compact))[2]
    mode = resolve_compact(params, n, M, compact)
    assert mode is (False if compact == "auto" else compact)  # auto: a small n_in x M -> packed
    assert product_slots(params, n, M, compact) == (1 if mode else rlwe.slots_for(params, n, M))
    assert costs["c"].bytes_sent == nb and costs["c"].bytes_recv == 0 and costs["c"].msgs_sent == 1
    assert costs["s"].bytes_recv == nb and costs["s"].bytes_sent == 0
    # the client's share is uniform-looking (it is its mask), not the product
    assert not np.array_equal(y1, ref(x, w, ell, bias))


@pytest.fixture
def packed():
    """Full-width (packed-output) ciphertexts: the sizes these tests reason about."""
    with override(he_compact=False):
        yield


def test_setup_cache_resume_and_verification(rng, tmp_path, packed):
    R = Ring(24)
    n, M = 150, 40  # 3 chunks of 64 rows
    w = R.reduce(rng.integers(0, 2**64, (n, M), dtype=np.uint64))
    x = R.reduce(rng.integers(0, 2**64, (3, n), dtype=np.uint64))
    xs, xc = R.share(x)
    from protocols.he.core import HEKey
    from protocols.he.params import choose_params

    key = HEKey.generate(choose_params(24))  # the server keeps its key across sessions

    def run(check):
        def fs(mpc):
            s = COPServer(mpc, {"w": w}, ell=24, key=key)
            s.setup()
            return s.mmul_ap("w", xs) if check else None

        def fc(mpc):
            c = COPClient(mpc, ell=24, cache_dir=tmp_path)
            st = c.setup()
            return (c.mmul_ap("w", xc) if check else None), st, c.cache

        return session(fs, fc, tmp_path)

    _, (_, st1, cache), _, _ = run(False)
    assert st1["chunks_fetched"] == 3 and st1["storage_bytes"] > 0
    # second session: everything cached, nothing fetched
    _, (_, st2, _), _, _ = run(False)
    assert st2["chunks_fetched"] == 0 and st2["setup_bytes_recv"] < st1["setup_bytes_recv"] / 10
    # interrupted transfer (last chunk missing) and a corrupted chunk: both re-fetched
    files = sorted((cache.dir / "w").glob("*.bin"))
    files[2].unlink()
    data = bytearray(files[1].read_bytes())
    data[10] ^= 1
    files[1].write_bytes(bytes(data))
    y0, (y1, st3, _), _, _ = run(True)
    assert st3["chunks_fetched"] == 2
    assert np.array_equal(R.add(y0, y1), ref(x, w, 24))


def test_cache_rejects_corrupt_chunk_on_load(tmp_path):
    c = WeightCache(tmp_path, "m" * 64, "k", "p")
    c.put_chunk("w", 0, b"hello")
    f = next((c.dir / "w").glob("*.bin"))
    f.write_bytes(b"hellO")
    with pytest.raises(IOError, match="corrupt"):
        c.get_chunk("w", 0)
    assert c.valid_prefix("w") == 0


def test_embedding_by_selection(rng, tmp_path):
    R = Ring(40)
    table = R.reduce(rng.integers(0, 2**64, (130, 50), dtype=np.uint64))
    table[7] = R.half
    ids = np.array([7, 0, 129, 7, 128, 64, 63, 1] * 3)

    def fs(mpc):
        s = COPServer(mpc, {"emb": table}, ell=40)
        s.setup()
        return s.embed("emb", ids.size)

    def fc(mpc):
        c = COPClient(mpc, ell=40, cache_dir=tmp_path)
        c.setup()
        with pytest.raises(ValueError):
            c.embed("emb", np.array([130]))
        return c.embed("emb", ids)

    y0, y1, _, _ = session(fs, fc, tmp_path)
    assert np.array_equal(R.add(y0, y1), table[ids])


def test_wrong_shapes_are_rejected(rng, tmp_path):
    R = Ring(16)
    w = R.reduce(rng.integers(0, 2**64, (8, 8), dtype=np.uint64))

    def fs(mpc):
        s = COPServer(mpc, {"w": w}, ell=16)
        s.setup()
        with pytest.raises(ProtocolError):
            s.mmul_ap("w", np.zeros((2, 9), np.uint64))
        return True

    def fc(mpc):
        c = COPClient(mpc, ell=16, cache_dir=tmp_path)
        c.setup()
        with pytest.raises(ProtocolError):
            c.mmul_ap("w", np.zeros((2, 7), np.uint64))
        return True

    session(fs, fc, tmp_path)
    with pytest.raises(ValueError):
        COPServer(MPC(ch=None, ot=None), {"w": np.zeros((4, 9000), np.uint64)}, ell=16)


_SERVER = r"""
import sys
sys.path.insert(0, sys.argv[1])
import bench.workloads.linear  # registers the he-linear job
from party.server import make_server, ServerOptions
srv, svc, port = make_server({}, port=0, options=ServerOptions(recv_timeout_s=120))
print(port, flush=True)
sys.stdin.read()
srv.stop(0)
"""


def test_cop_and_baseline_two_processes_over_grpc():
    """Server and client in separate OS processes over the gRPC transport (bench job he-linear)."""
    import bench.workloads.linear  # noqa: F401 - the job's client side
    from party.client import PartyClient

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    proc = subprocess.Popen([sys.executable, "-c", _SERVER, root], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        port = int(proc.stdout.readline())
        client = PartyClient(f"127.0.0.1:{port}", insecure_plaintext=True)
        res = {}
        for impl in ("party", "party-baseline"):
            q = client.run("he-linear", params={"case": "3x40x24", "impl": impl, "repeat": 1}, timeout=180)
            res[impl] = q.result
        client.close()
    finally:
        proc.stdin.close()
        proc.wait(30)
    assert res["party"]["exact"] and res["party-baseline"]["exact"]
    assert res["party"]["bytes_sent"] > 0 and res["party"]["bytes_recv"] == 0
    assert res["party-baseline"]["bytes_recv"] > 0


def test_prepared_operands_respect_memory_budget(rng, tmp_path, packed):
    from protocols.config import override

    R = Ring(16)
    mats = {f"w{i}": R.reduce(rng.integers(0, 2**64, (8, 8), dtype=np.uint64)) for i in range(3)}
    x = R.reduce(rng.integers(0, 2**64, (2, 8), dtype=np.uint64))
    xs, xc = R.share(x)

    def fs(mpc):
        s = COPServer(mpc, mats, ell=16)
        s.setup()
        return [s.mmul_ap(k, xs) for k in ("w0", "w1", "w2", "w0")]

    def fc(mpc):
        c = COPClient(mpc, ell=16, cache_dir=tmp_path)
        c.setup()
        out = [c.mmul_ap(k, xc) for k in ("w0", "w1", "w2", "w0")]
        return out, list(c._prepared)

    with override(he_prepared_mb=5):  # one 8-row matrix at ell=16 takes ~3 MiB (float32 above 2.5 MiB)
        y0, (y1, kept), _, _ = session(fs, fc, tmp_path)
    assert kept == ["w0"]
    for k, a, b in zip(("w0", "w1", "w2", "w0"), y0, y1):
        assert np.array_equal(R.add(a, b), ref(x, mats[k], 16))


def test_auto_mode_choice_on_bert_shapes():
    """compact="auto": packed outputs where they return far fewer bytes for little extra
    multiply-accumulate (768-wide inputs), compact where the packed a-part products dominate
    (3072-wide input); both estimates are positive and the choice is their minimum."""
    from protocols.he.params import choose_params

    p = choose_params(64)
    for (n, m), want in {(768, 768): False, (768, 2304): False, (768, 3072): False, (3072, 768): True}.items():
        est = {c: online_estimate(p, n, m, c) for c in (True, False)}
        assert min(est.values()) > 0
        assert resolve_compact(p, n, m, "auto") is want
        assert resolve_compact(p, n, m, True) is True and resolve_compact(p, n, m, False) is False
    assert resolve_compact(p, 768, 8192, "auto") is False  # M = N: nothing to compact


def test_prepared_operands_fit_budget_as_int21(rng, tmp_path):
    """A budget below the float32 size but above 29 bytes per coefficient: the client keeps the
    whole model prepared as 3-byte residues (nothing rebuilt per call) and the products stay exact."""
    R = Ring(64)
    n, M = 64, 96
    w = R.reduce(rng.integers(0, 2**64, (n, M), dtype=np.uint64))
    x = R.reduce(rng.integers(0, 2**64, (3, n), dtype=np.uint64))
    xs, xc = R.share(x)
    seen = {}

    def fs(mpc):
        s = COPServer(mpc, {"w": w}, ell=64, compact=True)
        s.setup()
        return s.mmul_ap("w", xs), s.mmul_ap("w", xs)

    def fc(mpc):
        c = COPClient(mpc, ell=64, cache_dir=tmp_path)
        c.setup()
        y = c.mmul_ap("w", xc), c.mmul_ap("w", xc)
        seen["storage"], seen["kept"] = c.storage(), list(c._prepared)
        return y

    with override(he_prepared_mb=16):  # f32: 21.2 MB, int21: 15.4 MB
        (y0, y0b), (y1, y1b), _, _ = session(fs, fc, tmp_path)
    assert seen == {"storage": "int21", "kept": ["w"]}
    assert np.array_equal(R.add(y0, y1), ref(x, w, 64, None)) and np.array_equal(R.add(y0b, y1b), ref(x, w, 64, None))

"""Server-side inner-product baseline: exact against numpy, traffic as analysed."""
import numpy as np
import pytest

from protocols.channel import run_two_party
from protocols.context import MPC
from protocols.he import rlwe
from protocols.he.baseline import BaselineClient, BaselineServer
from protocols.he.core import HEKey, product_sizes
from protocols.he.params import choose_params
from protocols.ring import Ring


@pytest.mark.parametrize("ell", [64, 20])
def test_baseline_exact_and_cost(ell, rng):
    R = Ring(ell)
    T, n, M = 5, 48, 70
    w = R.reduce(rng.integers(0, 2**64, (n, M), dtype=np.uint64))
    w[0, 0] = R.half
    bias = R.reduce(rng.integers(0, 2**64, (M,), dtype=np.uint64))
    x = R.reduce(rng.integers(0, 2**64, (T, n), dtype=np.uint64))
    x[0] = R.half
    xs, xc = R.share(x)
    params = choose_params(ell)
    key = HEKey.generate(params)

    def fs(ch):
        mpc = MPC(ch=ch, ot=None)
        s = BaselineServer(mpc, {"w": w}, {"w": bias}, ell, key.pub)
        st = ch.snapshot()
        y = s.mmul_ap("w", xs)
        return y, ch.cost_since(st)

    def fc(ch):
        mpc = MPC(ch=ch, ot=None)
        c = BaselineClient(mpc, key, ell, {"w": (n, M)})
        st = ch.snapshot()
        y = c.mmul_ap("w", xc)
        return y, ch.cost_since(st)

    (y0, c0), (y1, c1), _, _ = run_two_party(fs, fc)
    want = np.array((np.array(x, dtype=object).dot(np.array(w, dtype=object)) + np.array(bias, dtype=object)) % (1 << ell), dtype=np.uint64)
    assert np.array_equal(R.add(y0, y1), want)
    assert c1.bytes_sent == 16 + rlwe.packed_nbytes(params, n * params.n, len(params.primes))
    # ~ log2 Q bits per coefficient
    assert rlwe.packed_nbytes(params, n * params.n, len(params.primes)) <= n * params.n * params.log2_q / 8 + 8 * 8
    assert c1.bytes_recv == product_sizes(params, M, T, rlwe.slots_for(params, n, T))[2]
    assert c1.rounds == 1 and c0.rounds == 1

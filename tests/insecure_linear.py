"""TESTS ONLY — an INSECURE stand-in for the HE linear layer: the client reveals its shares to the
server, which computes the product in the clear and re-shares it.  It lets the tests check the
OT-based parts of the secure graph against the simulator independently of the HE layer.  Never
used outside tests/."""
from __future__ import annotations

import numpy as np

from protocols.prg import PRG
from protocols.ring import Ring


class InsecureLinearEngine:
    def __init__(self, mpc, weights, shapes):
        self.mpc, self.w, self.shapes = mpc, weights, shapes
        self.prg = PRG()

    def _open_to_server(self, *xs):
        ch = self.mpc.ch
        if self.mpc.party == 1:
            ch.send(*xs)
            return None
        return ch.recv(*[(np.uint64, x.shape) for x in xs])

    def _share_from_server(self, y, shape, ell):
        R = Ring(ell)
        ch = self.mpc.ch
        if self.mpc.party == 0:
            r = R.random(shape, self.prg)
            ch.send(r)
            return R.sub(y, r)
        return ch.recv_array(np.uint64, shape)

    def mmul_ap(self, name, x, *, ell):
        R = Ring(ell)
        shape = x.shape[:-1] + (self.shapes[name][1],)
        y = None
        if self.mpc.party == 0:
            (x1,) = self._open_to_server(x)
            xx = R.add(x, x1)
            y = _mm(xx, R.from_signed(self.w[name]), ell)
        else:
            self._open_to_server(x)
        return self._share_from_server(y, shape, ell)

    def mmul_aa(self, a, b, *, ell):
        R = Ring(ell)
        shape = a.shape[:-1] + b.shape[-1:]
        y = None
        if self.mpc.party == 0:
            a1, b1 = self._open_to_server(a, b)
            y = _mm(R.add(a, a1), R.add(b, b1), ell)
        else:
            self._open_to_server(a, b)
        return self._share_from_server(y, shape, ell)

    def embed(self, name, ids, tokens, *, ell):
        R = Ring(ell)
        ch = self.mpc.ch
        H = self.shapes[name][1]
        if self.mpc.party == 1:
            ch.send(np.asarray(ids, dtype=np.int64))
            return self._share_from_server(None, (len(ids), H), ell)
        got = ch.recv_array(np.int64, None)
        return self._share_from_server(R.from_signed(self.w[name][got]), (got.size, H), ell)

    def public_shape(self, name):
        return self.shapes[name]


def _mm(a, b, ell):
    from nn.backend import SimBackend

    return SimBackend({}, ell, 0)._matmul_ring(a, b, ell)

"""The ``demo`` job: a private affine map ``y = W x + b`` (secure two-party computation).

Server (party 0) holds the model's integer ``W`` (out x in) and ``b`` (out); the client (party 1)
holds an integer vector ``x`` (in).  The client learns ``y = W x + b`` and nothing else about
``W, b``; the server learns nothing about ``x`` (only its public length).

Protocol (BFV through TenSEAL, plaintext modulus t, additive shares in Z_t):

1. client: fresh BFV keys; sends its public context (no secret key, no Galois keys) and
   ``Enc(x ⊗ 1_out)`` (slot ``j*out + i`` holds ``x_j``).                     [c->s, 1 message]
2. server: ``Enc(x_j W_ij - r_ji)`` by a plaintext product and subtraction of a mask ``r`` drawn
   from an AES-CTR :class:`protocols.prg.PRG` (uniform in Z_t), plus a fresh encryption of zero
   to re-randomise the ciphertext; its share is ``z0_i = b_i + sum_j r_ji``.   [s->c, 1 message]
3. client: decrypts, ``z1_i = sum_j (x_j W_ij - r_ji)``; now ``z0 + z1 = W x + b`` (mod t) is
   additively secret-shared and neither share alone says anything (each is masked by ``r``).
4. reveal to the client: the server sends ``z0``; the client outputs ``z0 + z1`` as signed ints.
                                                                                 [s->c, 1 message]
Cost: 3 messages, 1 round for the client (send, then two receives); bytes are dominated by the two
ciphertexts (~100-200 kB each for N = 4096) and the public context.

What it reveals: ``y`` to the client — by design; note that a client who queries unit vectors
learns the columns of ``W`` (inherent in the functionality).  Caveat (documented, not hidden):
TenSEAL does not expose noise flooding, so the returned ciphertext's noise is not statistically
independent of ``W`` (only re-randomised with a fresh zero encryption); the secure-model jobs use
the HE layer in ``protocols/he``.  Inputs must keep ``|y| < t/2`` (checked from the public bounds).
"""
from __future__ import annotations

import numpy as np

from protocols.channel import ProtocolError
from protocols.prg import PRG

from .jobs import Job, register_job
from .progress import report

BFV_N = 4096
BFV_T = 1032193  # prime, = 1 mod 2N (batching); 20 bits
X_BOUND = 1000


def he_params() -> dict:
    return {"scheme": "bfv", "poly_modulus_degree": BFV_N, "plain_modulus": BFV_T, "library": "tenseal"}


def plaintext_affine(W: np.ndarray, b: np.ndarray, x: np.ndarray) -> np.ndarray:
    """The ideal functionality: what the client must get."""
    return np.asarray(W, dtype=np.int64) @ np.asarray(x, dtype=np.int64) + np.asarray(b, dtype=np.int64)


@register_job("demo")
class DemoJob(Job):
    needs_model = True
    description = "private affine map y = W x + b of the client's integer vector (BFV + additive shares)"

    def he_params(self, params: dict) -> dict:
        return he_params()

    def parse_inputs(self, args) -> np.ndarray | None:
        raw = getattr(args, "input", None)
        if raw is None and getattr(args, "file", None):
            with open(args.file) as f:
                raw = f.read()
        if raw is None:
            return None  # client() picks a default once it knows the model's input size
        vals = [v for v in raw.replace(",", " ").split()]
        try:
            return np.array([int(v) for v in vals], dtype=np.int64)
        except ValueError:
            raise ValueError(f"demo input must be integers separated by commas or spaces, got {raw!r}") from None

    def server(self, ch, model, params: dict) -> None:
        import tenseal as ts

        W, b = model.weights["W"], model.weights["b"]
        out_dim, in_dim = W.shape
        with ch.scope("demo/recv_input"):
            ctx_bytes = ch.recv_bytes(max_size=8 << 20)
            ct_bytes = ch.recv_bytes(max_size=8 << 20)
        with ch.scope("demo/affine"):
            try:
                ctx = ts.context_from(ctx_bytes)
                if ctx.has_secret_key():
                    raise ProtocolError("the client sent its secret key; refusing (it must send a public context)")
                ct = ts.bfv_vector_from(ctx, ct_bytes)
            except ProtocolError:
                raise
            except Exception as e:  # noqa: BLE001 - malformed peer data
                raise ProtocolError(f"demo: cannot parse the client's BFV context/ciphertext: {e}") from None
            if ct.size() != in_dim * out_dim:
                raise ProtocolError(f"demo: ciphertext holds {ct.size()} slots, expected {in_dim * out_dim}")
            r = PRG().integers(BFV_T, (in_dim, out_dim)).astype(np.int64)  # mask, uniform in Z_t
            w = (W.T % BFV_T).reshape(-1)  # slot j*out + i <- W_ij
            masked = ct.mul(w.tolist()).sub(r.reshape(-1).tolist())
            masked = masked.add(ts.bfv_vector(ctx, [0] * (in_dim * out_dim)))  # re-randomise
            z0 = (b + r.sum(axis=0)) % BFV_T
            report(1, 2, "affine")
        with ch.scope("demo/result_share"):
            ch.send_bytes(masked.serialize())
        with ch.scope("demo/reveal"):
            ch.send(z0.astype(np.uint64))

    def client(self, ch, params: dict, inputs) -> dict:
        import tenseal as ts

        info = params.get("model_info", {})
        in_dim, out_dim = int(info["in_dim"]), int(info["out_dim"])
        x = np.arange(1, in_dim + 1, dtype=np.int64) if inputs is None else np.asarray(inputs, dtype=np.int64)
        if x.shape != (in_dim,):
            raise ValueError(f"the model takes {in_dim} integers, got {x.size}")
        if np.abs(x).max(initial=0) > X_BOUND:
            raise ValueError(f"demo inputs must lie in [-{X_BOUND}, {X_BOUND}]")
        bound = in_dim * X_BOUND * int(info.get("w_bound", 8)) + int(info.get("b_bound", 100))
        if 2 * bound >= BFV_T:
            raise ValueError("model too large for the demo's plaintext modulus")
        with ch.scope("demo/send_input"):
            ctx = ts.context(ts.SCHEME_TYPE.BFV, poly_modulus_degree=BFV_N, plain_modulus=BFV_T)
            ct = ts.bfv_vector(ctx, np.repeat(x % BFV_T, out_dim).tolist())
            ch.send_bytes(ctx.serialize(save_public_key=True, save_secret_key=False, save_galois_keys=False, save_relin_keys=False))
            ch.send_bytes(ct.serialize())
        report(0, 2, "sent input")
        with ch.scope("demo/result_share"):
            d = ts.bfv_vector_from(ctx, ch.recv_bytes(max_size=8 << 20)).decrypt()
            d = np.asarray(d, dtype=np.int64).reshape(in_dim, out_dim) % BFV_T
            z1 = d.sum(axis=0) % BFV_T
        with ch.scope("demo/reveal"):
            (z0,) = ch.recv((np.uint64, (out_dim,)))
            y = (z0.astype(np.int64) + z1) % BFV_T
            y = np.where(y > BFV_T // 2, y - BFV_T, y)
        report(2, 2, "done")
        return {"x": x.tolist(), "y": y.tolist()}

    def format_result(self, result) -> str:
        return "y = W x + b = " + " ".join(str(v) for v in result["y"])

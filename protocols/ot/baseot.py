"""Base OT: Chou–Orlandi "simplest OT" over Curve25519, batched, semi-honest.

Scalar multiplications use X25519 from ``cryptography`` (OpenSSL); the one point addition per OT
that X25519 cannot do is done in affine Montgomery coordinates with Python integers.

Protocol (one batch of n random OTs; S = OT sender, R = OT receiver with choice bits c_i):

1. S: secret scalar a (X25519 key), sends ``A_x = x(a·G)`` (32 bytes).  Both sides lift ``A_x``
   to the point A with the *even* y coordinate (A = ±a·G; the sign never matters below because
   only x-coordinates of multiples are used and x(s·P) = x(−s·P)).
2. R: per OT a fresh scalar b_i, P_i = lift(x(b_i·G)) (= ±b_i·G); B_i = P_i if c_i = 0, else
   A + P_i.  Sends x(B_i) and the parity of y(B_i): 33 bytes per OT.
3. S: k0_i = H(i, A, B_i, x(a·B_i)), k1_i = H(i, A, B_i, x(a·(B_i − A))).
   R: k_{c_i} = H(i, A, B_i, x(b_i·A)).

Outputs: random OT — S gets (k0, k1), R gets k_c, each an (n, 2) uint64 array of 128-bit blocks
(H = SHA-256 truncated to 128 bits, domain-separated by a tag, the index and the transcript).
The chosen-message variant (:func:`baseot_send` / :func:`baseot_recv`) adds one message
S → R with m0 ⊕ k0, m1 ⊕ k1 (32 bytes per OT).

Cost (payload bytes, exact):
  random OT:  S → R 32 bytes;  R → S 33·n bytes;  2 messages, rounds: R waits once (for A),
              S waits once (for B).
  chosen OT:  + S → R 32·n bytes (one more message; R waits once more).

Security (semi-honest, ROM for H, CDH on Curve25519): B_i is a uniform group element whatever
c_i is (P_i uniform), so S learns nothing about c; R knows the discrete log of B_i or of
B_i − A but not both, so k_{1−c_i} is unpredictable to R.  Malicious security would need the
usual Chou–Orlandi fixes (checks on A, B and a proof of knowledge); not claimed here.

The per-OT Python loop is deliberate: base OT runs 128 OTs once per session.
"""
from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

import numpy as np
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from ..channel import ProtocolError

if TYPE_CHECKING:  # pragma: no cover
    from ..channel import Channel

# Curve25519 in Montgomery form: y^2 = x^3 + A x^2 + x over GF(p)
_P = (1 << 255) - 19
_A = 486662
_SQRT_M1 = pow(2, (_P - 1) // 4, _P)
_TAG = b"party/baseot/v1"

POINT_BYTES = 32
B_BYTES = 33  # x(B) and one byte holding the parity of y(B)


def _sqrt(a: int) -> int | None:
    """A square root of a mod p (p = 5 mod 8), or None if a is not a square."""
    a %= _P
    r = pow(a, (_P + 3) // 8, _P)
    if (r * r - a) % _P == 0:
        return r
    r = r * _SQRT_M1 % _P
    if (r * r - a) % _P == 0:
        return r
    return None


def _lift(x: int, parity: int = 0) -> tuple[int, int]:
    """The curve point with x-coordinate x and y of the given parity; ProtocolError if x is on
    the twist (not a curve point)."""
    y = _sqrt((x * x * x + _A * x * x + x) % _P)
    if y is None:
        raise ProtocolError("base OT: received x-coordinate is not on Curve25519")
    if (y & 1) != parity:
        y = (_P - y) % _P
    return x, y


def _add(p1: tuple[int, int], p2: tuple[int, int]) -> tuple[int, int]:
    """Affine addition of two distinct, non-opposite points."""
    x1, y1 = p1
    x2, y2 = p2
    if x1 == x2:
        raise ProtocolError("base OT: degenerate point addition (probability ~2^-250)")
    lam = (y2 - y1) * pow(x2 - x1, _P - 2, _P) % _P
    x3 = (lam * lam - _A - x1 - x2) % _P
    y3 = (lam * (x1 - x3) - y1) % _P
    return x3, y3


def _enc(x: int) -> bytes:
    return x.to_bytes(32, "little")


def _dec(b: bytes) -> int:
    return int.from_bytes(b, "little") & ((1 << 255) - 1)


def _dh(priv: X25519PrivateKey, x: int) -> bytes:
    try:
        return priv.exchange(X25519PublicKey.from_public_bytes(_enc(x)))
    except ValueError as e:  # all-zero shared secret: small-order input
        raise ProtocolError("base OT: peer sent a small-order point") from e


def _kdf(i: int, a_x: bytes, b_x: bytes, shared: bytes) -> bytes:
    h = hashlib.sha256()
    h.update(_TAG)
    h.update(i.to_bytes(8, "little"))
    h.update(a_x)
    h.update(b_x)
    h.update(shared)
    return h.digest()[:16]


def _blocks(keys: list[bytes]) -> np.ndarray:
    return np.frombuffer(b"".join(keys), dtype=np.uint64).reshape(len(keys), 2).copy()


def baseot_send_random(ch: "Channel", n: int) -> tuple[np.ndarray, np.ndarray]:
    """OT sender, n random OTs.  Returns (k0, k1), each (n, 2) uint64."""
    a = X25519PrivateKey.generate()
    a_x = a.public_key().public_bytes_raw()
    ch.send_bytes(a_x)
    pt_a = _lift(_dec(a_x))
    neg_a = (pt_a[0], (_P - pt_a[1]) % _P)
    msg = ch.recv_array(np.uint8, (n, B_BYTES))
    k0, k1 = [], []
    for i in range(n):
        bx_bytes = bytes(msg[i, :32])
        par = int(msg[i, 32])
        if par > 1:
            raise ProtocolError("base OT: bad parity byte")
        pt_b = _lift(_dec(bx_bytes), par)
        b_minus_a = _add(pt_b, neg_a)
        k0.append(_kdf(i, a_x, bx_bytes, _dh(a, pt_b[0])))
        k1.append(_kdf(i, a_x, bx_bytes, _dh(a, b_minus_a[0])))
    return _blocks(k0), _blocks(k1)


def baseot_recv_random(ch: "Channel", choices: np.ndarray) -> np.ndarray:
    """OT receiver with choice bits ``choices`` ((n,) uint8 in {0,1}).  Returns k_c, (n, 2)."""
    c = np.asarray(choices, dtype=np.uint8).reshape(-1)
    if np.any(c > 1):
        raise ValueError("choice bits must be 0 or 1")
    n = c.size
    a_x = ch.recv_bytes(max_size=POINT_BYTES)
    if len(a_x) != POINT_BYTES:
        raise ProtocolError(f"base OT: expected a {POINT_BYTES}-byte point, got {len(a_x)}")
    pt_a = _lift(_dec(a_x))
    out = np.zeros((n, B_BYTES), dtype=np.uint8)
    keys = []
    privs = []
    for i in range(n):
        b = X25519PrivateKey.generate()
        pt_p = _lift(_dec(b.public_key().public_bytes_raw()))
        pt_b = pt_p if c[i] == 0 else _add(pt_a, pt_p)
        bx = _enc(pt_b[0])
        out[i, :32] = np.frombuffer(bx, dtype=np.uint8)
        out[i, 32] = pt_b[1] & 1
        privs.append((b, bx))
    ch.send(out)
    for i, (b, bx) in enumerate(privs):
        keys.append(_kdf(i, a_x, bx, _dh(b, _dec(a_x))))
    return _blocks(keys)


def baseot_send(ch: "Channel", m0: np.ndarray, m1: np.ndarray) -> None:
    """Chosen-message OT sender: m0, m1 are (n, 2) uint64 blocks."""
    m0 = np.asarray(m0, dtype=np.uint64)
    m1 = np.asarray(m1, dtype=np.uint64)
    if m0.shape != m1.shape or m0.ndim != 2 or m0.shape[1] != 2:
        raise ValueError("m0 and m1 must both be (n, 2) uint64")
    k0, k1 = baseot_send_random(ch, m0.shape[0])
    ch.send(m0 ^ k0, m1 ^ k1)


def baseot_recv(ch: "Channel", choices: np.ndarray) -> np.ndarray:
    """Chosen-message OT receiver: returns m_c as (n, 2) uint64."""
    c = np.asarray(choices, dtype=np.uint8).reshape(-1)
    kc = baseot_recv_random(ch, c)
    n = c.size
    e0, e1 = ch.recv((np.uint64, (n, 2)), (np.uint64, (n, 2)))
    sel = c.astype(bool)[:, None]
    return np.where(sel, e1, e0) ^ kc


def ideal_ot(m0: np.ndarray, m1: np.ndarray, choices: np.ndarray) -> np.ndarray:
    """Plaintext twin: the receiver's output m_c."""
    return np.where(np.asarray(choices, dtype=bool)[:, None], m1, m0)


def baseot_cost(n: int, chosen: bool = False) -> dict[str, int]:
    """Analytic payload bytes: ``sender_sent`` (S → R) and ``receiver_sent`` (R → S)."""
    return {
        "sender_sent": POINT_BYTES + (32 * n if chosen else 0),
        "receiver_sent": B_BYTES * n,
    }

"""SEAL ciphertexts <-> numpy residues, for the SEAL-backed protocols (:mod:`.simd_mul`).

``tenseal.sealapi`` exposes SEAL's objects but not their coefficient memory: a ciphertext can only
be saved to / loaded from a *path*, in SEAL's own format (compressed with zstd by default).  The
wire format of our protocols is our own (residues bit-packed at their exact widths, noise-flooded
and with low bits dropped), so this module converts between the two through a file in /dev/shm:

    body = save_body(obj)                     # SEAL's serialisation, decompressed, header stripped
    ct = parse_ct(body)                       # CtData: metadata + (polys, limbs, N) uint64 [+ seed]
    obj = load_ct(context, build_ct(ct))      # back into a sealapi.Ciphertext (uncompressed file)

Layout of a SEAL 4.x ciphertext (after the 16-byte SEALHeader and decompression), all
little-endian: parms_id (4 x u64), is_ntt_form (u8), size (u64), poly_modulus_degree (u64),
coeff_modulus_size (u64), scale (f64), correction_factor (u64), then the coefficient DynArray as
its own SEALHeader + count (u64) + count x u64.  A *seeded* ciphertext (``encrypt_symmetric``'s
Serializable) stores only c0 in the DynArray, followed by the PRNG info (SEALHeader + 1 type byte +
64-byte seed) from which SEAL re-expands c1 on load.  Every field is checked on parse; a malformed
buffer raises :class:`ProtocolError` naming the field.
"""
from __future__ import annotations

import os
import struct
import tempfile
import threading
import uuid
import zlib
from dataclasses import dataclass

import numpy as np

from ..channel import ProtocolError

MAGIC = 0xA15E
HEADER = struct.Struct("<HBBBBHQ")  # magic, header size, major, minor, compr mode, reserved, size
META = struct.Struct("<4Q?QQQdQ")  # parms_id, is_ntt_form, size, N, coeff_modulus_size, scale, corr
COMPR_NONE, COMPR_ZLIB, COMPR_ZSTD = 0, 1, 2
SEED_INFO_BYTES = HEADER.size + 1 + 64  # SEALHeader + prng type + 512-bit seed
_SHM = "/dev/shm" if os.path.isdir("/dev/shm") else tempfile.gettempdir()
_local = threading.local()


def _path() -> str:
    p = getattr(_local, "path", None)
    if p is None:
        p = _local.path = os.path.join(_SHM, f"party-seal-{os.getpid()}-{uuid.uuid4().hex}.bin")
    return p


def _header(body_len: int, major: int = 4, minor: int = 3) -> bytes:
    return HEADER.pack(MAGIC, HEADER.size, major, minor, COMPR_NONE, 0, HEADER.size + body_len)


def _unwrap(raw: bytes, what: str) -> tuple[bytes, int, int]:
    """(decompressed body, major, minor) of a SEAL-serialised object."""
    if len(raw) < HEADER.size:
        raise ProtocolError(f"{what}: {len(raw)} bytes is shorter than a SEAL header")
    magic, hsize, major, minor, mode, _, size = HEADER.unpack_from(raw)
    if magic != MAGIC or hsize != HEADER.size or size != len(raw):
        raise ProtocolError(f"{what}: not a SEAL object (magic {magic:#x}, size field {size} vs {len(raw)})")
    payload = raw[HEADER.size:]
    if mode == COMPR_NONE:
        return payload, major, minor
    if mode == COMPR_ZLIB:
        return zlib.decompress(payload), major, minor
    if mode == COMPR_ZSTD:
        import zstandard

        return zstandard.ZstdDecompressor().decompress(payload, max_output_size=1 << 28), major, minor
    raise ProtocolError(f"{what}: unknown SEAL compression mode {mode}")


def save_raw(obj) -> bytes:
    """SEAL's serialisation of ``obj`` (anything with ``save(path)``), as written."""
    p = _path()
    obj.save(p)
    with open(p, "rb") as f:
        return f.read()


def save_body(obj) -> bytes:
    """SEAL's serialisation of ``obj``, decompressed, without the outer header."""
    return _unwrap(save_raw(obj), type(obj).__name__)[0]


def load_into(obj, context, raw: bytes):
    """``obj.load(context, path)`` from bytes; SEAL's own validity checks apply."""
    p = _path()
    with open(p, "wb") as f:
        f.write(raw)
    try:
        obj.load(context, p)
    except (ValueError, RuntimeError) as e:
        raise ProtocolError(f"SEAL rejected a {type(obj).__name__}: {e}") from None
    return obj


@dataclass
class CtData:
    """A ciphertext as numpy residues: ``data`` (polys, limbs, N) uint64; ``seed``: the PRNG info of
    a seeded ciphertext (then ``data`` holds c0 only and ``size`` is still 2)."""

    parms_id: tuple[int, int, int, int]
    is_ntt_form: bool
    size: int
    n: int
    limbs: int
    scale: float
    correction: int
    data: np.ndarray
    seed: bytes | None = None


def parse_ct(body: bytes, what: str = "ciphertext") -> CtData:
    if len(body) < META.size + HEADER.size + 8:
        raise ProtocolError(f"{what}: {len(body)} bytes is too short for a SEAL ciphertext")
    *pid, ntt, size, n, limbs, scale, corr = META.unpack_from(body)
    off = META.size
    magic, hsize, _, _, mode, _, _ = HEADER.unpack_from(body, off)
    if magic != MAGIC or mode != COMPR_NONE:
        raise ProtocolError(f"{what}: coefficient array header is malformed")
    off += HEADER.size
    (count,) = struct.unpack_from("<Q", body, off)
    off += 8
    if not (n and limbs and size) or count % (n * limbs) or off + 8 * count > len(body):
        raise ProtocolError(f"{what}: {count} coefficients do not fit N={n} x {limbs} limbs x {size} polys")
    polys = count // (n * limbs)
    data = np.frombuffer(body, dtype="<u8", count=count, offset=off).astype(np.uint64).reshape(polys, limbs, n)
    off += 8 * count
    seed = None
    if polys != size:
        if polys != size - 1 or len(body) - off != SEED_INFO_BYTES:
            raise ProtocolError(f"{what}: {polys} stored polynomials of {size} and no seed")
        seed = body[off:]
    elif off != len(body):
        raise ProtocolError(f"{what}: {len(body) - off} trailing bytes")
    return CtData(tuple(pid), bool(ntt), int(size), int(n), int(limbs), float(scale), int(corr), data, seed)


def build_ct(ct: CtData) -> bytes:
    """Uncompressed SEAL file bytes of ``ct`` (seeded if ``ct.seed``)."""
    arr = np.ascontiguousarray(ct.data, dtype="<u8")
    count = arr.size
    body = b"".join([
        META.pack(*ct.parms_id, ct.is_ntt_form, ct.size, ct.n, ct.limbs, ct.scale, ct.correction),
        _header(8 + 8 * count),
        struct.pack("<Q", count),
        arr.tobytes(),
        ct.seed or b"",
    ])
    return _header(len(body)) + body


def load_ct(sealapi, context, ct: CtData):
    return load_into(sealapi.Ciphertext(), context, build_ct(ct))

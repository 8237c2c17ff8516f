"""Losses (TF1 and Keras style) and metrics against NumPy formulas, eagerly, under the tape and in graphs."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import opcore
from opcore import losses, metrics

RNG = np.random.default_rng(1)
LOGITS = RNG.standard_normal((6, 4)).astype(np.float32)
CLASSES = np.array([0, 3, 1, 1, 2, 0])
ONEHOT = np.eye(4, dtype=np.float32)[CLASSES]
PROBS = (np.exp(LOGITS) / np.exp(LOGITS).sum(-1, keepdims=True)).astype(np.float32)
BINARY = (RNG.random((6, 3)) > 0.5).astype(np.float32)
P_BINARY = RNG.uniform(0.05, 0.95, (6, 3)).astype(np.float32)
LOGITS_BINARY = RNG.standard_normal((6, 3)).astype(np.float32)


def _f(x: Any) -> float:
    return float(np.asarray(x.numpy() if hasattr(x, "numpy") else x))


def _log_softmax(z: np.ndarray) -> np.ndarray:
    z = z.astype(np.float64)
    m = z.max(-1, keepdims=True)
    return z - m - np.log(np.exp(z - m).sum(-1, keepdims=True))


def _sigmoid_ce(z: np.ndarray, x: np.ndarray) -> np.ndarray:
    x = x.astype(np.float64)
    return np.maximum(x, 0) - x * z + np.log1p(np.exp(-np.abs(x)))


# --------------------------------------------------------------------------- TF1 losses


def test_regression_losses_match_numpy() -> None:
    y = RNG.standard_normal((5, 3)).astype(np.float32)
    p = RNG.standard_normal((5, 3)).astype(np.float32)
    assert _f(losses.mean_squared_error(y, opcore.constant(p))) == pytest.approx(((y - p) ** 2).mean(), rel=1e-5)
    assert _f(losses.absolute_difference(y, p)) == pytest.approx(np.abs(y - p).mean(), rel=1e-5)
    e = np.abs(y - p)
    huber = np.where(e <= 0.5, 0.5 * e**2, 0.5 * (e - 0.25))
    assert _f(losses.huber_loss(y, p, delta=0.5)) == pytest.approx(huber.mean(), rel=1e-5)
    labels = (y > 0).astype(np.float32)
    assert _f(losses.hinge_loss(labels, p)) == pytest.approx(np.maximum(0, 1 - (2 * labels - 1) * p).mean(), rel=1e-5)


def test_weights_divide_by_the_number_of_nonzero_weights() -> None:
    y = np.array([[1.0, 2.0], [3.0, 4.0]], np.float32)
    p = np.zeros((2, 2), np.float32)
    w = np.array([[1.0], [0.0]], np.float32)  # broadcast over the row
    assert _f(losses.mean_squared_error(y, p, weights=w)) == pytest.approx((1 + 4) / 2)
    assert _f(losses.mean_squared_error(y, p, weights=2.0)) == pytest.approx(2 * 30 / 4)
    assert _f(losses.mean_squared_error(y, p, weights=0.0)) == 0.0
    per_example = -(ONEHOT * _log_softmax(LOGITS)).sum(-1)
    ew = np.array([1, 0, 2, 0, 1, 1], np.float32)
    assert _f(losses.softmax_cross_entropy(ONEHOT, LOGITS, weights=ew)) == pytest.approx(
        (per_example * ew).sum() / 4, rel=1e-5
    )


def test_classification_losses_match_numpy() -> None:
    per_example = -(ONEHOT * _log_softmax(LOGITS)).sum(-1)
    assert _f(losses.softmax_cross_entropy(ONEHOT, LOGITS)) == pytest.approx(per_example.mean(), rel=1e-5)
    assert _f(losses.sparse_softmax_cross_entropy(CLASSES, LOGITS)) == pytest.approx(per_example.mean(), rel=1e-5)
    smooth = ONEHOT * 0.8 + 0.2 / 4
    assert _f(losses.softmax_cross_entropy(ONEHOT, LOGITS, label_smoothing=0.2)) == pytest.approx(
        -(smooth * _log_softmax(LOGITS)).sum(-1).mean(), rel=1e-5
    )
    assert _f(losses.sigmoid_cross_entropy(BINARY, LOGITS_BINARY)) == pytest.approx(
        _sigmoid_ce(BINARY, LOGITS_BINARY).mean(), rel=1e-5
    )
    eps = 1e-7
    want = -(BINARY * np.log(P_BINARY + eps) + (1 - BINARY) * np.log(1 - P_BINARY + eps)).mean()
    assert _f(losses.log_loss(BINARY, P_BINARY)) == pytest.approx(want, rel=1e-5)


def test_softmax_cross_entropy_gradient_is_softmax_minus_labels() -> None:
    logits = opcore.constant(LOGITS)
    with opcore.GradientTape() as tape:
        tape.watch(logits)
        loss = losses.softmax_cross_entropy(ONEHOT, logits)
    grad = tape.gradient(loss, logits).numpy()
    np.testing.assert_allclose(grad, (PROBS - ONEHOT) / 6, rtol=1e-4, atol=1e-6)


def test_loss_gradients_reach_layer_variables() -> None:
    from opcore import layers

    layer = layers.Dense(4)
    x = RNG.standard_normal((6, 5)).astype(np.float32)
    with opcore.GradientTape() as tape:
        loss = losses.get("sparse_categorical_crossentropy")(CLASSES, layer(x), from_logits=True)
    gk, gb = tape.gradient(loss, layer.trainable_variables)
    z = x @ layer.kernel.numpy() + layer.bias.numpy()
    dz = (np.exp(_log_softmax(z)) - ONEHOT) / 6
    np.testing.assert_allclose(gk.numpy(), x.T @ dz, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(gb.numpy(), dz.sum(0), rtol=1e-4, atol=1e-6)


# --------------------------------------------------------------------------- Keras-style losses


def test_keras_losses_by_name_match_numpy() -> None:
    y = RNG.standard_normal((5, 3)).astype(np.float32)
    p = RNG.standard_normal((5, 3)).astype(np.float32)
    for name in ("mse", "mean_squared_error", "MSE"):
        assert _f(losses.get(name)(y, p)) == pytest.approx(((y - p) ** 2).mean(), rel=1e-5)
    assert _f(losses.get("mae")(y, p)) == pytest.approx(np.abs(y - p).mean(), rel=1e-5)
    assert losses.mse(y, p, reduction="none").shape == opcore.Shape([5])
    np.testing.assert_allclose(losses.mse(y, p, reduction="none").numpy(), ((y - p) ** 2).mean(-1), rtol=1e-5)
    want_cce = -(ONEHOT * _log_softmax(LOGITS)).sum(-1).mean()
    cce = losses.get("categorical_crossentropy")
    assert _f(cce(ONEHOT, PROBS)) == pytest.approx(want_cce, rel=1e-4)
    assert _f(cce(ONEHOT, LOGITS, from_logits=True)) == pytest.approx(want_cce, rel=1e-5)
    scce = losses.get("sparse_categorical_crossentropy")
    assert _f(scce(CLASSES, PROBS)) == pytest.approx(want_cce, rel=1e-4)
    assert _f(scce(CLASSES.reshape(-1, 1).astype(np.float32), LOGITS, from_logits=True)) == pytest.approx(
        want_cce, rel=1e-5
    )
    bce = losses.get("binary_crossentropy")
    want_bce = -(BINARY * np.log(P_BINARY) + (1 - BINARY) * np.log(1 - P_BINARY)).mean()
    assert _f(bce(BINARY, P_BINARY)) == pytest.approx(want_bce, rel=1e-5)
    assert _f(bce(BINARY, LOGITS_BINARY, from_logits=True)) == pytest.approx(
        _sigmoid_ce(BINARY, LOGITS_BINARY).mean(), rel=1e-5
    )


def test_keras_probabilities_are_clipped() -> None:
    y = np.array([[1.0, 0.0]], np.float32)
    p = np.array([[0.0, 1.0]], np.float32)  # log(0) without clipping
    assert _f(losses.categorical_crossentropy(y, p)) == pytest.approx(-np.log(1e-7), rel=1e-3)
    assert np.isfinite(_f(losses.binary_crossentropy(y, p)))


def test_loss_objects_and_lookup_errors() -> None:
    assert _f(losses.CategoricalCrossentropy(from_logits=True)(ONEHOT, LOGITS)) == pytest.approx(
        _f(losses.softmax_cross_entropy(ONEHOT, LOGITS)), rel=1e-6
    )
    obj = losses.get({"class_name": "BinaryCrossentropy", "config": {"from_logits": True}})
    assert isinstance(obj, losses.BinaryCrossentropy) and obj.get_config()["from_logits"] is True
    assert isinstance(losses.get("SparseCategoricalCrossentropy"), losses.SparseCategoricalCrossentropy)
    summed = losses.MeanSquaredError(reduction="sum")(np.ones((2, 2), np.float32), np.zeros((2, 2), np.float32))
    assert _f(summed) == 2.0
    with pytest.raises(opcore.OpDefinitionError, match="unknown loss 'msee'"):
        losses.get("msee")
    with pytest.raises(opcore.OpDefinitionError, match="reduction"):
        losses.MeanSquaredError(reduction="avg")


# --------------------------------------------------------------------------- metrics


def test_accuracy_metrics_match_numpy() -> None:
    pred_classes = PROBS.argmax(-1)
    want = (pred_classes == CLASSES).mean()
    assert _f(metrics.categorical_accuracy(ONEHOT, PROBS)) == pytest.approx(want)
    assert _f(metrics.sparse_categorical_accuracy(CLASSES, PROBS)) == pytest.approx(want)
    assert _f(metrics.sparse_categorical_accuracy(CLASSES.reshape(-1, 1), PROBS)) == pytest.approx(want)
    acc = metrics.accuracy(CLASSES, opcore.argmax(opcore.constant(PROBS), 1))
    assert acc.dtype is opcore.float32 and _f(acc) == pytest.approx(want)
    assert _f(metrics.binary_accuracy(BINARY, P_BINARY)) == pytest.approx(((P_BINARY > 0.5) == BINARY).mean())
    assert _f(metrics.accuracy([1, 2, 3, 4], opcore.constant([1, 0, 3, 0]))) == 0.5


def test_metric_lookup_picks_the_accuracy_like_keras() -> None:
    want = (PROBS.argmax(-1) == CLASSES).mean()
    assert metrics.get("accuracy", loss="sparse_categorical_crossentropy") is metrics.sparse_categorical_accuracy
    assert metrics.get("acc", loss=losses.binary_crossentropy) is metrics.binary_accuracy
    assert metrics.get("accuracy", loss=losses.CategoricalCrossentropy()) is metrics.categorical_accuracy
    auto = metrics.get("accuracy")
    assert _f(auto(ONEHOT, PROBS)) == pytest.approx(want)
    assert _f(auto(CLASSES, PROBS)) == pytest.approx(want)
    assert _f(auto(BINARY[:, :1], P_BINARY[:, :1])) == pytest.approx(((P_BINARY[:, :1] > 0.5) == BINARY[:, :1]).mean())
    with pytest.raises(opcore.OpDefinitionError, match="unknown metric"):
        metrics.get("precision@k")


# --------------------------------------------------------------------------- graph mode


def test_losses_and_metrics_in_graph_mode() -> None:
    g = opcore.Graph()
    with g.as_default():
        logits = opcore.placeholder(opcore.float32, [None, 4])
        onehot = opcore.placeholder(opcore.float32, [None, 4])
        labels = opcore.placeholder(opcore.int64, [None])
        fetches = {
            "sce": losses.softmax_cross_entropy(onehot, logits),
            "sparse": losses.sparse_softmax_cross_entropy(labels, logits),
            "keras": losses.get("sparse_categorical_crossentropy")(labels, logits, from_logits=True),
            "mse": losses.mean_squared_error(onehot, logits),
            "acc": metrics.categorical_accuracy(onehot, logits),
            "grad": opcore.gradients(losses.softmax_cross_entropy(onehot, logits), [logits])[0],
        }
    with opcore.Session(g) as sess:
        out = sess.run(fetches, {logits: LOGITS, onehot: ONEHOT, labels: CLASSES})
    want = -(ONEHOT * _log_softmax(LOGITS)).sum(-1).mean()
    for key in ("sce", "sparse", "keras"):
        assert float(out[key]) == pytest.approx(want, rel=1e-5)
    assert float(out["mse"]) == pytest.approx(((LOGITS - ONEHOT) ** 2).mean(), rel=1e-5)
    assert float(out["acc"]) == pytest.approx((LOGITS.argmax(-1) == CLASSES).mean())
    np.testing.assert_allclose(out["grad"], (PROBS - ONEHOT) / 6, rtol=1e-4, atol=1e-6)

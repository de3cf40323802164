"""Scores of a classifier on a labelled dataset: loss, accuracy, confusion matrix."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf


def predict_with_labels(model: keras.Model, ds: tf.data.Dataset) -> tuple[np.ndarray, np.ndarray]:
    """(probabilities, true labels) over a batched ``(inputs, label)`` dataset, in order."""
    probs, labels = [], []
    for inputs, y in ds:
        probs.append(keras.ops.convert_to_numpy(model(inputs, training=False)).astype(np.float32))
        labels.append(np.asarray(y))
    return np.concatenate(probs), np.concatenate(labels).astype(np.int64)


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray, num_classes: int) -> np.ndarray:
    """Rows are true classes, columns predicted ones."""
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (labels, predicted), 1)
    return matrix


def score(model: keras.Model, ds: tf.data.Dataset, class_names: list[str]) -> dict:
    """``{"accuracy", "loss", "examples", "confusion_matrix"}`` of ``model`` on ``ds``."""
    probabilities, labels = predict_with_labels(model, ds)
    predicted = probabilities.argmax(axis=-1)
    picked = probabilities[np.arange(len(labels)), labels]
    return {
        "accuracy": float(np.mean(predicted == labels)) if len(labels) else None,
        "loss": float(-np.mean(np.log(np.clip(picked, 1e-7, 1.0)))) if len(labels) else None,
        "examples": int(len(labels)),
        "confusion_matrix": confusion_matrix(labels, predicted, len(class_names)).tolist(),
    }

"""Scores of a classifier on a labelled dataset: loss, accuracy, balanced accuracy, per-class precision, recall
and F1, the confusion matrix, the most confused pairs and the worst-predicted examples."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from tfxfer.io.progress import Progress


def predict_with_labels(model: keras.Model, ds: tf.data.Dataset, what: str | None = None,
                        total: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(probabilities, true labels) over a batched ``(inputs, label)`` dataset, in order;
    with ``what`` named, progress over its ``total`` examples is shown."""
    probs, labels = [], []
    with Progress(what or "", total, "example", enabled=what is not None) as progress:
        for inputs, y in ds:
            probs.append(keras.ops.convert_to_numpy(model(inputs, training=False)).astype(np.float32))
            labels.append(np.asarray(y))
            progress.advance(len(labels[-1]))
    return np.concatenate(probs), np.concatenate(labels).astype(np.int64)


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray, num_classes: int) -> np.ndarray:
    """Rows are true classes, columns predicted ones."""
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (labels, predicted), 1)
    return matrix


def classification_report(probabilities: np.ndarray, labels: np.ndarray, class_names: list[str]) -> dict:
    """Accuracy, balanced accuracy (the mean of the per-class recalls, over the classes present:
    each class counts the same however rare), macro-F1, per-class scores, confusion matrix and
    most-confused pairs."""
    predicted = probabilities.argmax(axis=-1)
    matrix = confusion_matrix(labels, predicted, len(class_names))
    per_class = {}
    for i, name in enumerate(class_names):
        true_positive = int(matrix[i, i])
        predicted_as, actual = int(matrix[:, i].sum()), int(matrix[i, :].sum())
        precision = true_positive / predicted_as if predicted_as else 0.0
        recall = true_positive / actual if actual else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class[name] = {"precision": precision, "recall": recall, "f1": f1, "support": actual}
    present = [name for name in class_names if per_class[name]["support"]]
    pairs = [(int(matrix[i, j]), class_names[i], class_names[j])
             for i in range(len(class_names)) for j in range(len(class_names)) if i != j and matrix[i, j]]
    picked = probabilities[np.arange(len(labels)), labels]
    return {
        "examples": int(len(labels)),
        "accuracy": float(np.mean(predicted == labels)) if len(labels) else None,
        "balanced_accuracy": float(np.mean([per_class[n]["recall"] for n in present])) if present else None,
        "macro_f1": float(np.mean([per_class[n]["f1"] for n in present])) if present else None,
        "loss": float(-np.mean(np.log(np.clip(picked, 1e-7, 1.0)))) if len(labels) else None,
        "per_class": per_class,
        "confusion_matrix": matrix.tolist(),
        "most_confused": [{"true": t, "predicted": p, "count": c} for c, t, p in sorted(pairs, reverse=True)[:5]],
    }


def worst_predictions(probabilities: np.ndarray, labels: np.ndarray, count: int = 16) -> np.ndarray:
    """Indices of the examples whose true class got the lowest probability, worst first."""
    picked = probabilities[np.arange(len(labels)), labels]
    return np.argsort(picked, kind="stable")[:count]

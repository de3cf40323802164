"""Scores of a classifier on a labelled dataset: loss, accuracy, balanced accuracy, per-class precision, recall
and F1, the confusion matrix, the most confused pairs and the worst-predicted examples; of a
regression (numeric labels): MAE, RMSE, R² and Spearman's rank correlation; of a multi-label
classifier: micro/macro F1, mAP, subset accuracy and per-class precision, recall and average
precision."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from tfxfer.io.progress import Progress


def predict_with_labels(model: keras.Model, ds: tf.data.Dataset, what: str | None = None,
                        total: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(probabilities, true labels) over a batched ``(inputs, label)`` dataset, in order (for a
    regression: (values, float targets)); with ``what`` named, progress over its ``total``
    examples is shown."""
    probs, labels = [], []
    with Progress(what or "", total, "example", enabled=what is not None) as progress:
        for inputs, y in ds:
            probs.append(keras.ops.convert_to_numpy(model(inputs, training=False)).astype(np.float32))
            labels.append(np.asarray(y))
            progress.advance(len(labels[-1]))
    labels = np.concatenate(labels)
    return np.concatenate(probs), labels if labels.dtype.kind == "f" else labels.astype(np.int64)


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


def _ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks, tied values sharing the mean of their ranks (as Spearman's rho needs)."""
    order = np.argsort(values, kind="stable")
    ranks = np.empty(len(values), dtype=np.float64)
    ranks[order] = np.arange(1, len(values) + 1)
    unique, inverse = np.unique(values, return_inverse=True)
    if len(unique) < len(values):
        ranks = (np.bincount(inverse, ranks) / np.bincount(inverse))[inverse]
    return ranks


def _correlation(a: np.ndarray, b: np.ndarray) -> float | None:
    a, b = a - a.mean(), b - b.mean()
    scale = np.sqrt(np.sum(a * a) * np.sum(b * b))
    return float(np.sum(a * b) / scale) if scale > 0 else None


def regression_report(values: np.ndarray, targets: np.ndarray) -> dict:
    """MAE and RMSE (in the target's units), R² (1 - residual / total sum of squares: 0 is
    predicting the mean, 1 is exact) and Spearman's rank correlation (Pearson's on the ranks,
    ties sharing their mean rank) of predicted ``values`` against ``targets``. R² and Spearman
    are None where the targets (or predictions) do not vary."""
    values, targets = np.asarray(values, np.float64).reshape(-1), np.asarray(targets, np.float64).reshape(-1)
    error = values - targets
    total = float(np.sum((targets - targets.mean()) ** 2)) if len(targets) else 0.0
    return {
        "examples": int(len(targets)),
        "mae": float(np.mean(np.abs(error))) if len(targets) else None,
        "rmse": float(np.sqrt(np.mean(error ** 2))) if len(targets) else None,
        "r2": 1.0 - float(np.sum(error ** 2)) / total if total > 0 else None,
        "spearman": _correlation(_ranks(values), _ranks(targets)) if len(targets) > 1 else None,
        "target_mean": float(targets.mean()) if len(targets) else None,
        "target_std": float(targets.std()) if len(targets) else None,
    }


def worst_regressions(values: np.ndarray, targets: np.ndarray, count: int = 16) -> np.ndarray:
    """Indices of the examples with the largest absolute error, worst first."""
    return np.argsort(-np.abs(np.asarray(values) - np.asarray(targets)), kind="stable")[:count]


def average_precision(scores: np.ndarray, truth: np.ndarray) -> float | None:
    """The mean, over the positive rows, of the precision among the rows scored at least as high
    as it (rows ranked by ``scores``, highest first; ties in the order given); None without a
    positive row."""
    truth = np.asarray(truth) > 0
    if not truth.any():
        return None
    order = np.argsort(-np.asarray(scores), kind="stable")
    hits = truth[order]
    precision_at = np.cumsum(hits) / np.arange(1, len(hits) + 1)
    return float(np.mean(precision_at[hits]))


def multilabel_report(probabilities: np.ndarray, targets: np.ndarray, predicted: np.ndarray,
                      class_names: list[str], thresholds: list[float] | None = None) -> dict:
    """Multi-label scores of ``predicted`` (bool [rows, classes], the thresholds applied) and
    ``probabilities`` against multi-hot ``targets``: micro-F1 (from the true and false
    positives of every class together), macro-F1 and mAP (means over the classes with a
    positive row), subset accuracy (rows whose whole set is right), Hamming accuracy (right
    (row, class) pairs), the binary cross-entropy, and each class's precision, recall, F1,
    average precision, support and threshold."""
    probabilities = np.asarray(probabilities, np.float64)
    truth, predicted = np.asarray(targets) > 0, np.asarray(predicted, bool)
    true_positives = (truth & predicted).sum(axis=0)
    predicted_count, support = predicted.sum(axis=0), truth.sum(axis=0)
    per_class = {}
    for i, name in enumerate(class_names):
        tp, p, s = int(true_positives[i]), int(predicted_count[i]), int(support[i])
        precision, recall = (tp / p if p else 0.0), (tp / s if s else 0.0)
        per_class[name] = {"precision": precision, "recall": recall,
                           "f1": 2 * tp / (p + s) if p + s else 0.0,
                           "average_precision": average_precision(probabilities[:, i], truth[:, i]),
                           "support": s, "predicted": p,
                           "threshold": float(thresholds[i]) if thresholds is not None else None}
    present = [name for name in class_names if per_class[name]["support"]]
    tp, p, s = int(true_positives.sum()), int(predicted_count.sum()), int(support.sum())
    clipped = np.clip(probabilities, 1e-7, 1 - 1e-7)
    rows = len(truth)
    return {
        "examples": int(rows),
        "labels": "multi",
        "micro_precision": tp / p if p else 0.0,
        "micro_recall": tp / s if s else 0.0,
        "micro_f1": 2 * tp / (p + s) if p + s else 0.0,
        "macro_f1": float(np.mean([per_class[n]["f1"] for n in present])) if present else None,
        "mean_average_precision": (float(np.mean([per_class[n]["average_precision"] for n in present]))
                                   if present else None),
        "subset_accuracy": float(np.mean(np.all(truth == predicted, axis=1))) if rows else None,
        "hamming_accuracy": float(np.mean(truth == predicted)) if rows else None,
        "loss": (float(-np.mean(np.where(truth, np.log(clipped), np.log(1 - clipped)))) if rows else None),
        "labels_per_example": {"true": float(truth.sum(axis=1).mean()) if rows else None,
                               "predicted": float(predicted.sum(axis=1).mean()) if rows else None},
        "per_class": per_class,
    }


def worst_label_sets(probabilities: np.ndarray, targets: np.ndarray, predicted: np.ndarray,
                     count: int = 16) -> np.ndarray:
    """Indices of the rows with the most wrong (row, class) pairs, worst first; ties by the
    summed distance of the probabilities from the truth."""
    truth = np.asarray(targets) > 0
    wrong = (truth != np.asarray(predicted, bool)).sum(axis=1)
    distance = np.abs(np.asarray(probabilities, np.float64) - truth).sum(axis=1)
    return np.lexsort((-distance, -wrong))[:count]

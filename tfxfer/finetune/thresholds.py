"""Multi-label: the per-class probability thresholds a model predicts with, chosen on the
validation split to maximise each class's F1.

A class's probabilities on val are sorted from highest; predicting the top k of them as
positive gives F1 = 2 TP(k) / (k + positives), so every cut is scored in one pass, and the
threshold is set midway between the last probability in and the first one out (a cut is only
taken between distinct probabilities). A class with fewer than :data:`MIN_POSITIVES` positive
rows on val keeps 0.5: with one or two positives the best cut is wherever the model happened to
rank them, often far down, and on held-out data such a threshold predicts the class for a large
share of all rows (kaomoji benchmark: thresholds of 0.003 for classes with one val positive). The thresholds live in the model (``model.thresholds``) and in its export.

Example:

```python
import numpy as np

from tfxfer.finetune.thresholds import choose_thresholds

probabilities = np.array([[0.9, 0.2], [0.8, 0.1], [0.7, 0.4], [0.6, 0.3], [0.55, 0.3], [0.3, 0.6]])
targets = np.array([[1, 0], [1, 0], [1, 0], [1, 0], [1, 1], [0, 0]])
assert choose_thresholds(probabilities, targets) == [0.425, 0.5]  # class 1: one positive, too few
```
"""

from __future__ import annotations

import numpy as np

DEFAULT_THRESHOLD = 0.5
MIN_POSITIVES = 5  # val rows holding a class, from which its threshold is chosen rather than 0.5
_LOWEST, _HIGHEST = 1e-6, 1.0 - 1e-6  # a threshold stays inside (0, 1)


def _best_cut(scores: np.ndarray, truth: np.ndarray) -> float:
    positives = float(truth.sum())
    if positives < MIN_POSITIVES:
        return DEFAULT_THRESHOLD
    order = np.argsort(-scores, kind="stable")
    scores, truth = scores[order], truth[order]
    true_positives = np.cumsum(truth)
    predicted = np.arange(1, len(scores) + 1)
    f1 = 2 * true_positives / (predicted + positives)
    # a cut after row k-1 only where the next probability is lower (equal ones go in together)
    valid = np.append(scores[:-1] > scores[1:], True)
    f1 = np.where(valid, f1, -1.0)
    best = int(np.argmax(f1))  # the first best: the highest threshold among equals
    below = scores[best + 1] if best + 1 < len(scores) else 0.0
    return float(np.clip((scores[best] + below) / 2, _LOWEST, _HIGHEST))


def choose_thresholds(probabilities: np.ndarray, targets: np.ndarray) -> list[float]:
    """One threshold a class (columns of ``probabilities`` and multi-hot ``targets``), each
    maximising that class's F1 on these rows; 0.5 for a class with fewer than
    :data:`MIN_POSITIVES` positive rows."""
    probabilities = np.asarray(probabilities, np.float64)
    targets = np.asarray(targets) > 0
    return [round(_best_cut(probabilities[:, c], targets[:, c]), 6) for c in range(probabilities.shape[1])]


def model_thresholds(model, classes: int) -> list[float]:
    """The thresholds a multi-label model predicts with: its own (``model.thresholds``), or 0.5
    for every class where none were chosen (trained without a val split)."""
    return list(model.thresholds or [DEFAULT_THRESHOLD] * classes)


def thresholds_on(model, val) -> list[float]:
    """:func:`choose_thresholds` on the model's probabilities over a batched ``(inputs,
    multi-hot labels)`` dataset."""
    from keras import ops

    probabilities, targets = [], []
    for inputs, labels in val:
        probabilities.append(ops.convert_to_numpy(model(inputs, training=False)))
        targets.append(np.asarray(labels))
    return choose_thresholds(np.concatenate(probabilities), np.concatenate(targets))

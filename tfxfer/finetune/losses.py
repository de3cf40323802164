"""What a model trains against: sparse cross-entropy and accuracy for classes; binary
cross-entropy over each class's sigmoid for multi-label (with the share of (row, class) pairs
right at 0.5 as its ``accuracy``); for numeric labels
the mean squared error (or Huber loss) of the standardised target, with the mean absolute error
in the target's units to watch.

A regression model outputs values in the target's units (tfxfer.models.heads.TargetScale);
its loss divides the error by the training targets' standard deviation first, so the loss is
the one of a model predicting the standardised target: the same scale whatever the target's
units, which keeps the recipe's learning rates right for any target.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops


def _head_unit(model: keras.Model) -> keras.layers.Dense:
    """The head's Dense layer (a target scale or a window max may follow it)."""
    return next(layer for layer in reversed(model.head) if isinstance(layer, keras.layers.Dense))


@keras.saving.register_keras_serializable(package="tfxfer")
class StandardisedError(keras.losses.Loss):
    """``mse`` or ``huber`` (delta 1, in standard deviations) of ``(y_true - y_pred) / std``."""

    def __init__(self, std: float = 1.0, kind: str = "mse", name: str | None = None, **kwargs):
        if kind not in ("mse", "huber"):
            raise ValueError(f"kind must be mse or huber, got {kind!r}")
        super().__init__(name=name or f"standardised_{kind}", **kwargs)
        self.std, self.kind = float(std), kind

    def call(self, y_true, y_pred):
        error = (ops.reshape(ops.cast(y_true, "float32"), (-1,)) - ops.reshape(ops.cast(y_pred, "float32"), (-1,)))
        error = error / self.std
        if self.kind == "mse":
            return ops.square(error)
        absolute = ops.abs(error)
        return ops.where(absolute <= 1.0, 0.5 * ops.square(error), absolute - 0.5)

    def get_config(self):
        return {**super().get_config(), "std": self.std, "kind": self.kind}


def loss_and_metrics(model: keras.Model, loss: str | None = None) -> tuple:
    """(loss, metrics) to compile ``model`` with: a classifier's cross-entropy and accuracy, or a
    regressor's standardised ``loss`` (mse by default) and mean absolute error."""
    labels = getattr(model, "labels", "single")
    if labels == "multi":  # "accuracy" by name: the history, plots and phase-2 comparison read that key
        return "binary_crossentropy", [keras.metrics.BinaryAccuracy(name="accuracy")]
    if labels != "numeric":
        return "sparse_categorical_crossentropy", ["accuracy"]
    _, std = model.target_scale
    return StandardisedError(std, loss or "mse"), [keras.metrics.MeanAbsoluteError(name="mae")]


def start_at_the_prior(model: keras.Model, labels: np.ndarray) -> bool:
    """Multi-label: sets a freshly built sigmoid head's biases to the log-odds of each class's
    share of the training rows, so training starts from each class's base rate instead of 0.5
    for every class (Lin et al., 2017, "Focal Loss", section 3.3). With many rare classes a zero
    bias spends the first epochs only learning that most classes are absent. A head whose biases
    are no longer all zero (trained, or loaded) is left as it is; returns whether it was set."""
    classifier = _head_unit(model)
    kernel, bias = classifier.get_weights()
    if np.any(bias != 0):
        return False
    share = np.clip(np.asarray(labels, np.float64).mean(axis=0), 1e-4, 1 - 1e-4)
    classifier.set_weights([kernel, np.log(share / (1 - share)).astype(bias.dtype)])
    return True


def start_at_least_squares(model: keras.Model, cached_train) -> tuple[float, float] | None:
    """A siamese regression head (its unit reads one number, the cosine of the two texts'
    embeddings) set to the least-squares line of the training targets on the cached training
    cosines: the best fit its scale and offset can reach, so phase 1 starts there and
    fine-tuning is kept only if it beats that. From its first start (scale 1, offset 0) a few
    epochs of AdamW left it short of the line (held-out R² 0.46 against 0.55 on WordSim-353),
    and fine-tuning was then judged against a head that had not finished. Returns the line,
    (scale, offset) in the target's units, or None for any other head."""
    pair = getattr(model, "pair_features", None)
    if pair is None or pair.mode != "cosine":
        return None
    cosines, targets = [], []
    for batch in cached_train:
        cosines.append(np.asarray(batch[0], np.float64).reshape(-1))
        targets.append(np.asarray(batch[1], np.float64).reshape(-1))
    x, y = np.concatenate(cosines), np.concatenate(targets)
    if len(x) < 2 or np.ptp(x) == 0:
        return None
    scale, offset = np.polyfit(x, y, 1)
    mean, std = model.target_scale
    unit = _head_unit(model)
    kernel, bias = unit.get_weights()
    unit.set_weights([np.full_like(kernel, scale / std), np.full_like(bias, (offset - mean) / std)])
    return float(scale), float(offset)

"""Pooling, dropout and the head on top of a backbone's features: a softmax classifier, or for
numeric labels a linear unit whose standardised output :class:`TargetScale` turns back into the
target's own units."""

from __future__ import annotations

import keras
from keras import layers, ops

from tfxfer.errors import TfxferError

IMAGE_POOLING = ("avg", "max")
TEXT_POOLING = ("cls", "mean", "pooled")


def pool_image_features(features, pooling: str):
    """(N, H, W, C) feature maps -> (N, C); feature vectors pass through."""
    if pooling not in IMAGE_POOLING:
        raise TfxferError(f"pooling {pooling!r} is not one of {', '.join(IMAGE_POOLING)} for images")
    if len(features.shape) == 2:
        return features
    if len(features.shape) != 4:
        raise TfxferError(f"the backbone returns features of shape {features.shape}; expected (N, H, W, C) or (N, C)")
    pool = layers.GlobalAveragePooling2D if pooling == "avg" else layers.GlobalMaxPooling2D
    return pool(name=f"{pooling}_pool")(features)


@keras.saving.register_keras_serializable(package="tfxfer")
class MaskedMeanPooling(layers.Layer):
    """Mean of the token vectors where ``mask`` is true: padding does not dilute the mean."""

    def call(self, sequence, mask):
        mask = ops.expand_dims(ops.cast(mask, sequence.dtype), -1)
        total = ops.sum(sequence * mask, axis=1)
        return total / ops.maximum(ops.sum(mask, axis=1), ops.cast(1.0, sequence.dtype))


@keras.saving.register_keras_serializable(package="tfxfer")
class FirstToken(layers.Layer):
    """The first token's vector ([CLS]) of (N, T, D) token vectors."""

    def call(self, sequence):
        return sequence[:, 0, :]

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[2])


def pool_text_features(sequence, pooled, mask, pooling: str):
    """(N, T, D) token vectors -> (N, D): first token, masked mean, or the backbone's pooler."""
    if pooling == "cls":
        return FirstToken(name="cls_pool")(sequence)
    if pooling == "mean":
        return MaskedMeanPooling(name="mean_pool")(sequence, mask)
    if pooling == "pooled":
        if pooled is None:
            raise TfxferError("pooling 'pooled' needs a backbone with a pooler; use 'cls' or 'mean'")
        return pooled
    raise TfxferError(f"pooling {pooling!r} is not one of {', '.join(TEXT_POOLING)} for text")


def classification_head(num_classes: int, dropout: float, multi_label: bool = False) -> list[layers.Layer]:
    """Dropout, then a float32 softmax layer (``multi_label``: sigmoid, each class's own
    probability): probabilities stay float32 under mixed precision. The layers, input side
    first, for the builder to call on the pooled features."""
    head = [layers.Dropout(dropout, name="head_dropout")] if dropout else []
    return [*head, layers.Dense(num_classes, activation="sigmoid" if multi_label else "softmax", dtype="float32",
                                name="classifier")]


@keras.saving.register_keras_serializable(package="tfxfer")
class TargetScale(layers.Layer):
    """(N, 1) standardised predictions -> (N,) values in the target's units: ``z * std + mean``.

    ``mean`` and ``std`` are the training targets' (``fine_tune`` sets them from the data with
    :meth:`set_scale`); they live in non-trainable variables, so a traced model sees a change,
    and in ``get_config``, so a ``.keras`` file round-trips them. Float32 under mixed precision.
    """

    def __init__(self, mean: float = 0.0, std: float = 1.0, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self._initial = (float(mean), float(std))

    def build(self, input_shape):
        mean, std = self._initial
        self.mean = self.add_weight(shape=(), initializer=keras.initializers.Constant(mean), trainable=False,
                                    name="target_mean")
        self.std = self.add_weight(shape=(), initializer=keras.initializers.Constant(std), trainable=False,
                                   name="target_std")

    def call(self, standardised):
        return ops.cast(standardised[:, 0], "float32") * self.std + self.mean

    def compute_output_shape(self, input_shape):
        return (input_shape[0],)

    def set_scale(self, mean: float, std: float) -> None:
        if not std > 0:
            raise TfxferError(f"the target's standard deviation must be > 0, got {std}")
        self._initial = (float(mean), float(std))
        if self.built:
            self.mean.assign(float(mean))
            self.std.assign(float(std))

    @property
    def scale(self) -> tuple[float, float]:
        if not self.built:
            return self._initial
        return float(keras.ops.convert_to_numpy(self.mean)), float(keras.ops.convert_to_numpy(self.std))

    def get_config(self):
        mean, std = self.scale
        return {**super().get_config(), "mean": mean, "std": std}


def regression_head(dropout: float) -> list[layers.Layer]:
    """Dropout, a float32 linear unit predicting the standardised target, and :class:`TargetScale`
    back to the target's units: the layers, input side first."""
    head = [layers.Dropout(dropout, name="head_dropout")] if dropout else []
    return [*head, layers.Dense(1, dtype="float32", name="regressor"), TargetScale(name="target_scale")]

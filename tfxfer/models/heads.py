"""Pooling, dropout and the classification head on top of a backbone's features."""

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


def classification_head(num_classes: int, dropout: float) -> list[layers.Layer]:
    """Dropout, then a float32 softmax layer: probabilities stay float32 under mixed precision.
    The layers, input side first, for the builder to call on the pooled features."""
    head = [layers.Dropout(dropout, name="head_dropout")] if dropout else []
    return [*head, layers.Dense(num_classes, activation="softmax", dtype="float32", name="classifier")]

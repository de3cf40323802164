"""Pooling, dropout and the head on top of a backbone's features: a softmax classifier, or for
numeric labels a linear unit whose standardised output :class:`TargetScale` turns back into the
target's own units; for sentence pairs encoded apart, :class:`PairFeatures` joins the two texts'
embeddings into the head's input."""

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


def pool_text_features(sequence, pooled, mask, pooling: str, suffix: str = ""):
    """(N, T, D) token vectors -> (N, D): first token, masked mean, or the backbone's pooler
    (``suffix``: appended to the pooling layer's name, for a pair's second text)."""
    if pooling == "cls":
        return FirstToken(name=f"cls_pool{suffix}")(sequence)
    if pooling == "mean":
        return MaskedMeanPooling(name=f"mean_pool{suffix}")(sequence, mask)
    if pooling == "pooled":
        if pooled is None:
            raise TfxferError("pooling 'pooled' needs a backbone with a pooler; use 'cls' or 'mean'")
        return pooled
    raise TfxferError(f"pooling {pooling!r} is not one of {', '.join(TEXT_POOLING)} for text")


@keras.saving.register_keras_serializable(package="tfxfer")
class PairFeatures(layers.Layer):
    """The head's input for a sentence pair whose texts were embedded apart (``u``, ``v``: (N, D)
    each, the same encoder and pooling): Sentence-BERT's two heads (Reimers and Gurevych, 2019).

    ``cosine``: (N, 1), the cosine similarity of ``u`` and ``v``, for numeric labels (the
    regression objective Sentence-BERT fine-tunes on STS: the model compares two texts the way
    a bi-encoder checkpoint was trained to); ``concat``: (N, 3D), ``[u, v, |u - v|]``, for
    classes (its classification objective, trained on NLI). Float32, no weights, no randomness:
    the feature cache can hold it like any pooled feature.
    """

    MODES = ("cosine", "concat")

    def __init__(self, mode: str = "concat", **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        if mode not in self.MODES:
            raise ValueError(f"mode must be one of {self.MODES}, got {mode!r}")
        self.mode = mode

    def call(self, u, v):
        u, v = ops.cast(u, "float32"), ops.cast(v, "float32")
        if self.mode == "concat":
            return ops.concatenate([u, v, ops.abs(u - v)], axis=-1)
        # max(|u| |v|, eps) keeps an all-zero embedding from dividing by zero (cosine 0)
        norms = ops.maximum(ops.norm(u, axis=-1) * ops.norm(v, axis=-1), 1e-9)
        return ops.expand_dims(ops.sum(u * v, axis=-1) / norms, -1)

    def compute_output_shape(self, u_shape, v_shape):
        return (u_shape[0], 1 if self.mode == "cosine" else 3 * u_shape[-1])

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}


@keras.saving.register_keras_serializable(package="tfxfer")
class WindowMax(layers.Layer):
    """(N, windows, C) per-window probabilities -> (N, C): each class's largest over a text's
    windows (:class:`tfxfer.models.layers.WindowStack` fills the slots). Float32."""

    def __init__(self, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)

    def call(self, probabilities):
        return ops.max(probabilities, axis=1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[2])


def classification_head(num_classes: int, dropout: float, multi_label: bool = False,
                        over_windows: bool = False) -> list[layers.Layer]:
    """Dropout, then a float32 softmax layer (``multi_label``: sigmoid, each class's own
    probability): probabilities stay float32 under mixed precision. ``over_windows``: the
    features are a text's stacked windows, (N, windows, D); the layer runs on each window and
    :class:`WindowMax` keeps each class's largest probability. The layers, input side first,
    for the builder to call on the pooled features."""
    head = [layers.Dropout(dropout, name="head_dropout")] if dropout else []
    head.append(layers.Dense(num_classes, activation="sigmoid" if multi_label else "softmax", dtype="float32",
                             name="classifier"))
    return [*head, WindowMax(name="window_max")] if over_windows else head


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


def regression_head(dropout: float, on_cosine: bool = False) -> list[layers.Layer]:
    """Dropout, a float32 linear unit predicting the standardised target, and :class:`TargetScale`
    back to the target's units: the layers, input side first. ``on_cosine``: the unit reads one
    cosine similarity (:class:`PairFeatures`), and starts at weight 1 (a higher cosine, a
    higher target) rather than a random one of either sign."""
    head = [layers.Dropout(dropout, name="head_dropout")] if dropout else []
    unit = layers.Dense(1, dtype="float32", name="regressor", kernel_initializer="ones" if on_cosine else "glorot_uniform")
    return [*head, unit, TargetScale(name="target_scale")]

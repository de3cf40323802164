"""The model the builders return: a functional ``keras.Model`` that knows its parts.

Like KerasHub's ``Task`` (which holds its ``backbone`` and ``preprocessor``), a
:class:`TransferClassifier` carries what the rest of tfxfer needs to know about it — its task,
its kind of labels, its backbone, its head, its preprocessing and its class names (or, for
numeric labels, its target's mean and standard deviation) — so export, feature caching,
freezing and the runner read attributes instead of guessing from layer names or input dtypes.
It round-trips through ``get_config`` and ``.keras`` files (``safe_mode`` on): saved, loaded
and trained further, it is the same model.
"""

from __future__ import annotations

import keras

from tfxfer.config import LABEL_KINDS
from tfxfer.errors import TfxferError
from tfxfer.models.heads import PairFeatures, TargetScale
from tfxfer.models.keras_workarounds import input_tensor_in
from tfxfer.models.layers import BackboneLayer

TASKS = ("image", "text")


@keras.saving.register_keras_serializable(package="tfxfer")
class TransferClassifier(keras.Model):
    """A pretrained backbone under a new head: a classifier, or a regressor for numeric labels.

    Args (besides a functional model's ``inputs``, ``outputs`` and ``name``):
        task: "image" (float RGB pixels in [0, 255]) or "text" (raw strings).
        labels: "single" (softmax probabilities over ``class_names``) or "numeric" (one float32
            value a row, in the target's units: the head ends in
            :class:`tfxfer.models.heads.TargetScale`, whose mean and standard deviation
            ``target_scale`` reads and sets; no class names), or "multi" (a sigmoid probability
            for each class, and per-class ``thresholds`` above which a class is predicted).
        parts: the names of its layers in each role, recorded by the builder that made them:
            ``{"preprocessor": NAME, "backbone": NAME, "head": [NAME, ...]}`` (the head input
            side first; the last is the classifier, or what follows it: a regression's target
            scale, a multi-label window max).
        class_names: the classes in output order, once known (``fine_tune`` records those of
            the data it trains on; ``export_saved_model`` reads them).
        backbone_uri: the URI the backbone was loaded from, for the record.

    Example:

    ```python
    from tfxfer import build_image_classifier

    model = build_image_classifier("keras:MobileNetV3Small", 3, weights="none", image_size=(64, 64),
                                   class_names=["cat", "dog", "fox"])
    assert model.task == "image" and model.class_names == ["cat", "dog", "fox"]
    assert model.head[-1].units == 3 and model.image_size == (64, 64)
    ```
    """

    def __init__(self, *args, task: str, parts: dict, class_names=None, backbone_uri: str | None = None,
                 labels: str = "single", thresholds=None, **kwargs):
        super().__init__(*args, **kwargs)
        if task not in TASKS:
            raise ValueError(f"task must be one of {TASKS}, got {task!r}")
        if labels not in LABEL_KINDS:
            raise ValueError(f"labels must be one of {LABEL_KINDS}, got {labels!r}")
        self.task = task
        self.labels = labels
        self.parts = {"preprocessor": parts.get("preprocessor"), "backbone": parts["backbone"],
                      "head": list(parts["head"])}
        self.backbone_uri = backbone_uri
        self.class_names = class_names
        self.thresholds = thresholds

    @property
    def thresholds(self) -> list[float] | None:
        """Multi-label: the probability from which each class counts as predicted (chosen on val
        by ``fine_tune`` to maximise each class's F1); None before that, and for other labels."""
        return list(self._thresholds) if self._thresholds is not None else None

    @thresholds.setter
    def thresholds(self, values) -> None:
        if values is not None:
            if self.labels != "multi":
                raise ValueError("only a multi-label model has per-class thresholds")
            values = [float(v) for v in values]
            if len(values) != self.output_shape[-1] or not all(0.0 < v < 1.0 for v in values):
                raise ValueError(f"thresholds must be {self.output_shape[-1]} probabilities in (0, 1), got {values}")
        self._thresholds = tuple(values) if values is not None else None

    @property
    def class_names(self) -> list[str] | None:
        return list(self._class_names) if self._class_names is not None else None

    @class_names.setter
    def class_names(self, names) -> None:
        if names is not None and self.labels == "numeric":
            raise ValueError("a model for numeric labels has no class names")
        if names is not None:
            names = [str(name) for name in names]
            if len(names) != self.output_shape[-1]:
                raise ValueError(f"{len(names)} class names for a model with {self.output_shape[-1]} outputs")
        self._class_names = tuple(names) if names is not None else None

    @property
    def target_scale(self) -> tuple[float, float] | None:
        """Numeric labels: (mean, standard deviation) of the training targets, which the model
        predicts standardised and scales back; None for a classifier."""
        return self._scale_layer().scale if self.labels == "numeric" else None

    @target_scale.setter
    def target_scale(self, scale: tuple[float, float]) -> None:
        if self.labels != "numeric":
            raise ValueError("only a model for numeric labels has a target scale")
        self._scale_layer().set_scale(*scale)

    def _scale_layer(self) -> TargetScale:
        return self.get_layer(self.parts["head"][-1])

    @property
    def backbone(self) -> BackboneLayer:
        """The layer holding the pretrained network (its ``.backbone``) and its run mode."""
        return self.get_layer(self.parts["backbone"])

    @property
    def head(self) -> list[keras.layers.Layer]:
        """The layers tfxfer added on the backbone's pooled features, input side first."""
        return [self.get_layer(name) for name in self.parts["head"]]

    @property
    def preprocessor(self) -> keras.layers.Layer | None:
        """Raw inputs -> the backbone's inputs (pixel scaling, or the tokenizer)."""
        return self.get_layer(self.parts["preprocessor"]) if self.parts["preprocessor"] else None

    @property
    def input_names(self) -> tuple[str, ...]:
        """The names of its raw inputs, as the export's signature names them: ``images``,
        ``text``, or ``text`` and ``text_pair`` for a sentence-pair classifier."""
        return tuple(tensor.name for tensor in self.inputs)

    @property
    def pair_features(self) -> PairFeatures | None:
        """A siamese sentence-pair model's layer joining the two texts' embeddings; None for
        any other model (a packed pair model included)."""
        return next((layer for layer in self.layers if isinstance(layer, PairFeatures)), None)

    def embedder(self) -> keras.Model:
        """A model from one raw input (``images``, or ``text``) to the pooled vector the head
        reads: the backbone's embedding, fine-tuned with the model. For a siamese sentence-pair
        model, one text's embedding, the ``u`` (and ``v``) whose cosine or ``[u, v, |u - v|]``
        the head compares: embed a collection once, then compare a query with every row (semantic
        search). A packed pair model reads its two texts together and has no embedding of one.

        Example:

        ```python
        import numpy as np

        from tfxfer import build_image_classifier

        model = build_image_classifier("keras:MobileNet", 3, weights="none", image_size=(64, 64))
        vectors = model.embedder().predict(np.zeros((2, 64, 64, 3)), verbose=0)
        assert vectors.shape == (2, 1024)  # MobileNet's pooled features
        ```
        """
        if self.pair_features is not None:  # siamese: the first text's tower
            return keras.Model(self.inputs[0], input_tensor_in(self, self.pair_features), name="embedder")
        if len(self.inputs) > 1:
            raise TfxferError("this sentence-pair model packs its two texts into one sequence ([CLS] a [SEP] b [SEP]): "
                              "it has no embedding of one text; train with --pair-encoding siamese for one")
        features = input_tensor_in(self, self.head[0])
        if len(features.shape) != 2:
            raise TfxferError("this multi-label model reads long texts as windows and keeps one vector per window "
                              "(its head takes the largest probability over them): it has no one embedding of a text")
        return keras.Model(self.inputs, features, name="embedder")

    @property
    def image_size(self) -> tuple[int, int] | None:
        """(height, width) an image classifier takes; None for a text model."""
        return tuple(int(s) for s in self.input_shape[1:3]) if self.task == "image" else None

    def get_config(self):
        return {**super().get_config(), "task": self.task, "parts": self.parts, "class_names": self.class_names,
                "backbone_uri": self.backbone_uri, "labels": self.labels, "target_scale": self.target_scale,
                "thresholds": self.thresholds}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        # The scale travels in the TargetScale layer's own config too; the model's copy is for readers.
        config = {k: v for k, v in config.items() if k != "target_scale"}
        return super().from_config(config, custom_objects)


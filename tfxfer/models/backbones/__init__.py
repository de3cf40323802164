"""Backbone URIs -> a feature extractor and the preprocessing that belongs to it.

| URI                      | module          |
|--------------------------|-----------------|
| ``keras:ResNet50``       | keras_apps.py   |
| ``kerashub:NAME_OR_DIR`` | kerashub.py     | (``kerasnlp:`` is an alias, ``hf://`` passes through)
| ``tfhub:HANDLE_OR_DIR``  | tfhub.py        |
"""

from __future__ import annotations

from dataclasses import dataclass

import keras

from tfxfer.errors import TfxferError


@dataclass
class Backbone:
    """A resolved backbone.

    Attributes:
        uri: the URI it was resolved from.
        model: the feature extractor (a Keras layer or model).
        preprocessor: for images, a layer mapping RGB pixels in [0, 255] to what ``model``
            expects; for text, a layer mapping strings to ``model``'s inputs.
        image_size: the input size for image backbones, else None.
        family: a short name of the architecture family, recorded with the model.
        mask_key: for text, the preprocessor's output that is 1 on tokens and 0 on padding.
    """

    uri: str
    model: keras.layers.Layer
    preprocessor: keras.layers.Layer | None
    image_size: tuple[int, int] | None = None
    family: str = ""
    mask_key: str = "padding_mask"


def split_uri(uri: str) -> tuple[str, str]:
    uri = str(uri)
    if uri.startswith("hf://"):
        return "kerashub", uri
    scheme, sep, rest = uri.partition(":")
    if not sep or not rest or scheme not in ("keras", "kerashub", "kerasnlp", "tfhub"):
        raise TfxferError(
            f"unknown backbone {uri!r}: use keras:NAME (e.g. keras:ResNet50), kerashub:PRESET_OR_DIR, "
            f"kerasnlp:PRESET_OR_DIR, tfhub:HANDLE_OR_DIR or hf://ORG/NAME"
        )
    return ("kerashub" if scheme == "kerasnlp" else scheme), rest


def load_image_backbone(uri: str, weights: str = "imagenet", image_size=None) -> Backbone:
    """Resolves an image backbone URI (see the module docstring)."""
    scheme, name = split_uri(uri)
    if scheme == "keras":
        from tfxfer.models.backbones.keras_apps import load_keras_application

        return load_keras_application(uri, name, weights, image_size)
    if scheme == "kerashub":
        from tfxfer.models.backbones.kerashub import load_kerashub_image

        return load_kerashub_image(uri, name, weights, image_size)
    from tfxfer.models.backbones.tfhub import load_tfhub_image

    return load_tfhub_image(uri, name, weights, image_size)


def load_text_backbone(uri: str, weights: str = "pretrained", sequence_length: int = 128,
                       preprocessor: str | None = None) -> Backbone:
    """Resolves a text backbone URI: a KerasHub preset/dir or a TF Hub encoder + preprocessor."""
    scheme, name = split_uri(uri)
    if scheme == "kerashub":
        from tfxfer.models.backbones.kerashub import load_kerashub_text

        return load_kerashub_text(uri, name, weights, sequence_length)
    if scheme == "tfhub":
        from tfxfer.models.backbones.tfhub import load_tfhub_text

        return load_tfhub_text(uri, name, weights, sequence_length, preprocessor)
    raise TfxferError(
        f"backbone {uri!r} is not a text backbone: use kerashub:PRESET_OR_DIR (e.g. "
        f"kerashub:bert_base_en_uncased) or tfhub:ENCODER with --preprocessor tfhub:PREPROCESSOR"
    )

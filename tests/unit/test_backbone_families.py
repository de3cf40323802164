"""Every keras.applications family: its own preprocessing inside the model, and a build."""

from __future__ import annotations

import importlib

import keras
import numpy as np
import pytest

import tfxfer
from tfxfer.models.backbones.keras_apps import application_names, preprocessing_for


@pytest.mark.parametrize("name", application_names())
def test_preprocessing_matches_the_familys_preprocess_input(name):
    pixels = np.random.default_rng(0).uniform(0, 255, (2, 5, 5, 3)).astype("float32")
    family = importlib.import_module(getattr(keras.applications, name).__module__)
    expected = np.asarray(family.preprocess_input(pixels.copy()))
    np.testing.assert_allclose(preprocessing_for(name)(pixels).numpy(), expected, atol=1e-3)


@pytest.mark.parametrize("name, size", [
    ("ResNet50V2", 64), ("ResNet101", 32), ("EfficientNetV2B0", 64), ("MobileNetV2", 64),
    ("ConvNeXtTiny", 64), ("DenseNet121", 64), ("Xception", 71), ("EfficientNetB0", 64),
])
def test_families_build_as_classifiers(name, size):
    model = tfxfer.build_image_classifier(f"keras:{name}", 3, weights="none", image_size=(size, size))
    out = model(np.zeros((1, size, size, 3), np.float32))
    assert tuple(out.shape) == (1, 3) and out.dtype == "float32"

"""A tfxfer model saved as a ``.keras`` file, loaded back in any process to train on."""

from __future__ import annotations

import importlib

import keras

from tfxfer.models.classifier import TransferClassifier

# Every module defining a class a saved tfxfer model may name (register_keras_serializable).
_REGISTERING_MODULES = ("tfxfer.models.layers", "tfxfer.models.heads", "tfxfer.models.backbones.tfhub",
                        "tfxfer.finetune.optimizers")


def load_model(path) -> TransferClassifier:
    """A model saved with ``model.save("m.keras")``, in any process: imports the modules that
    register tfxfer's layers (and its optimizer's schedule) first, then loads with Keras'
    ``safe_mode`` on. In a process that has already built or trained a tfxfer model,
    ``keras.models.load_model`` does the same.

    Example:

    ```python
    import tempfile

    import tfxfer

    model = tfxfer.build_image_classifier("keras:MobileNetV3Small", 2, weights="none", image_size=(32, 32),
                                          class_names=["cat", "dog"])
    path = tempfile.mkdtemp() + "/m.keras"
    model.save(path)
    assert tfxfer.load_model(path).class_names == ["cat", "dog"]
    ```
    """
    for module in _REGISTERING_MODULES:
        importlib.import_module(module)
    return keras.models.load_model(path, safe_mode=True)

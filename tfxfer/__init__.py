"""tfxfer: pretrained backbone -> head -> two-phase fine-tune -> servable SavedModel.

Example:

```python
# not run here: needs a photos/ folder and downloads ResNet50's ImageNet weights
import tfxfer

data = tfxfer.load_image_data("photos/", image_size=(224, 224))
strategy = tfxfer.select_strategy("auto")
with strategy.scope():
    model = tfxfer.build_image_classifier("keras:ResNet50", len(data.class_names))
tfxfer.fine_tune(model, data, epochs=3, fine_tune_epochs=2, unfreeze=30)
tfxfer.export_saved_model(model, "saved_models", "photos")  # the class names fine_tune recorded on the model
```
"""

import os as _os

_os.environ.setdefault("KERAS_BACKEND", "tensorflow")
# The commands turn TensorFlow's C++ logging down further unless the user chose a level.
TF_LOG_LEVEL_CHOSEN = "TF_CPP_MIN_LOG_LEVEL" in _os.environ
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"

# Public names, imported on first use so that `import tfxfer` (and the CLI's argument
# checks) stay fast and never start TensorFlow for nothing.
_LAZY = {
    "build_image_classifier": "tfxfer.models.builders",
    "build_text_classifier": "tfxfer.models.builders",
    "TransferClassifier": "tfxfer.models.classifier",
    "load_model": "tfxfer.finetune.keras_files",
    "set_trainable": "tfxfer.models.freezing",
    "fine_tune": "tfxfer.finetune.phases",
    "set_mixed_precision": "tfxfer.finetune.precision",
    "select_strategy": "tfxfer.finetune.distribution",
    "export_saved_model": "tfxfer.serving.export",
    "evaluate_saved_model": "tfxfer.reports.saved_model",
    "load_image_data": "tfxfer.data.sources",
    "load_text_data": "tfxfer.data.sources",
    "TfxferError": "tfxfer.errors",
}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'tfxfer' has no attribute {name!r}")


def __dir__():  # tab completion (Colab, IPython) lists the lazy public names too
    return sorted({*globals(), *_LAZY})


__all__ = sorted(_LAZY)

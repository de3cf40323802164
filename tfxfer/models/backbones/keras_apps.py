"""``keras:NAME`` -> a ``keras.applications`` model without its top, and its preprocessing."""

from __future__ import annotations

import keras

from tfxfer.errors import TfxferError, first_line
from tfxfer.models.backbones import Backbone
from tfxfer.models.layers import PixelScaling

# The affine map each family's `preprocess_input` applies to RGB pixels in [0, 255]:
# (scale, offset, bgr). Families not listed carry their preprocessing inside the model.
_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)
_MODES = {
    "caffe": ((1.0, 1.0, 1.0), (-103.939, -116.779, -123.68), True),
    "tf": (1 / 127.5, -1.0, False),
    "torch": (
        [1 / (255.0 * s) for s in _IMAGENET_STD],
        [-m / s for m, s in zip(_IMAGENET_MEAN, _IMAGENET_STD)],
        False,
    ),
    "none": (1.0, 0.0, False),
}
_MODULE_MODE = {
    "resnet": "caffe", "vgg16": "caffe", "vgg19": "caffe",
    "resnet_v2": "tf", "mobilenet": "tf", "mobilenet_v2": "tf", "xception": "tf",
    "inception_v3": "tf", "inception_resnet_v2": "tf", "nasnet": "tf",
    "densenet": "torch",
    "efficientnet": "none", "efficientnet_v2": "none", "mobilenet_v3": "none",
    "convnext": "none", "regnet": "none",
}
# Native input sizes that differ from 224.
_DEFAULT_SIZE = {
    "Xception": 299, "InceptionV3": 299, "InceptionResNetV2": 299, "NASNetLarge": 331,
    "EfficientNetB1": 240, "EfficientNetB2": 260, "EfficientNetB3": 300, "EfficientNetB4": 380,
    "EfficientNetB5": 456, "EfficientNetB6": 528, "EfficientNetB7": 600,
    "EfficientNetV2B1": 240, "EfficientNetV2B2": 260, "EfficientNetV2B3": 300,
    "EfficientNetV2S": 384, "EfficientNetV2M": 480, "EfficientNetV2L": 480,
}


def application_names() -> list[str]:
    return sorted(
        name for name in dir(keras.applications)
        if name[:1].isupper() and callable(getattr(keras.applications, name))
    )


def _constructor(name: str, uri: str):
    constructor = getattr(keras.applications, name, None)
    if constructor is None or not name[:1].isupper():
        raise TfxferError(
            f"unknown keras.applications model {name!r} in {uri!r}; accepted: {', '.join(application_names())}"
        )
    return constructor


def preprocessing_for(name: str) -> PixelScaling:
    """The family's ``preprocess_input`` as a layer inside the model."""
    module = _constructor(name, f"keras:{name}").__module__.rsplit(".", 1)[-1]
    scale, offset, bgr = _MODES[_MODULE_MODE.get(module, "none")]
    return PixelScaling(scale, offset, bgr, name="preprocessing")


def load_keras_application(uri: str, name: str, weights: str, image_size) -> Backbone:
    constructor = _constructor(name, uri)
    size = int(image_size[0]) if image_size else _DEFAULT_SIZE.get(name, 224)
    width = int(image_size[1]) if image_size else size
    weights_arg = _weights_argument(weights)
    try:
        model = constructor(include_top=False, weights=weights_arg, input_shape=(size, width, 3))
    except Exception as e:  # noqa: BLE001 - Keras raises ValueError, OSError, URL errors...
        raise TfxferError(_weights_error(uri, weights, e)) from e
    return Backbone(
        uri=uri,
        model=model,
        preprocessor=preprocessing_for(name),
        image_size=(size, width),
        family=name,
    )


def _weights_argument(weights: str):
    from pathlib import Path

    if weights in (None, "none", "None", "random"):
        return None
    if weights == "imagenet":
        return "imagenet"
    path = Path(weights)
    if not path.is_file():
        raise TfxferError(
            f"--weights {weights!r} is neither 'imagenet', 'none' nor an existing weights file (.weights.h5 or .h5)"
        )
    return str(path)


def _weights_error(uri: str, weights: str, error: Exception) -> str:
    first = first_line(error)
    if weights == "imagenet":
        return (
            f"could not load ImageNet weights for {uri} ({first}); without internet pass "
            f"--weights none or --weights PATH.weights.h5"
        )
    if weights in (None, "none", "None", "random"):
        return f"could not build {uri}: {first}"
    return f"weights file {weights} does not fit {uri}: {first}"

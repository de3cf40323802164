"""``kerashub:NAME_OR_DIR`` (alias ``kerasnlp:``, and ``hf://`` passed through) -> a KerasHub backbone.

A name is a KerasHub preset (downloaded on first use), a directory is a local KerasHub preset
or a Hugging Face / timm checkpoint that KerasHub converts (e.g. the MiniLM of
docs/data.md, the EfficientNet-Lite0 in ../shared/assets).
"""

from __future__ import annotations

from pathlib import Path

from tfxfer.errors import TfxferError, first_line
from tfxfer.models.backbones import Backbone
from tfxfer.models.layers import PixelScaling


def _preset(name: str) -> str:
    path = Path(name).expanduser()
    if path.exists():
        if not path.is_dir() or not (path / "config.json").exists():
            raise TfxferError(
                f"{name} is not a KerasHub preset or Hugging Face/timm checkpoint directory "
                f"(it has no config.json)"
            )
        return str(path.resolve())
    if name.startswith(("/", ".", "~")):
        raise TfxferError(f"backbone directory {name} does not exist: pass kerashub:PRESET (a KerasHub preset "
                          f"name, downloaded on first use) or kerashub:DIR (a local preset or Hugging Face checkpoint)")
    return name


def _load_error(name: str, error: Exception) -> TfxferError:
    first = first_line(error, 120)
    if "ImageConverter" in str(error):  # a text checkpoint asked for an image model
        return TfxferError(f"{name} is a text backbone: it cannot read images; for an image folder pass an "
                           f"image backbone (keras:ResNet50, kerashub:DIR of an image model), for texts a "
                           f".csv/.tsv/.jsonl file")
    if Path(name).is_dir():
        return TfxferError(f"could not load the KerasHub preset or checkpoint directory {name} ({first})")
    return TfxferError(
        f"KerasHub preset {name!r} must be downloaded on first use, which needs internet ({first}); "
        f"offline, pass a local preset or Hugging Face checkpoint directory instead: kerashub:/path/to/dir"
    )


def _from_preset(cls, name: str, **kwargs):
    try:
        return cls.from_preset(name, **kwargs)
    except TfxferError:
        raise
    except Exception as e:  # noqa: BLE001 - network, file format and lookup errors alike
        raise _load_error(name, e) from e


def load_kerashub_image(uri: str, name: str, weights: str, image_size) -> Backbone:
    import keras_hub

    preset = _preset(name)
    backbone = _from_preset(keras_hub.models.Backbone, preset, load_weights=weights not in ("none", None))
    converter = _from_preset(keras_hub.layers.ImageConverter, preset)
    scale = 1.0 if converter.scale is None else converter.scale
    offset = 0.0 if converter.offset is None else converter.offset
    if image_size is None:
        image_size = tuple(converter.image_size or (224, 224))
    return Backbone(
        uri=uri,
        model=backbone,
        preprocessor=PixelScaling(scale, offset, name="preprocessing"),
        image_size=(int(image_size[0]), int(image_size[1])),
        family=type(backbone).__name__.removesuffix("Backbone"),
    )


def load_kerashub_text(uri: str, name: str, weights: str, sequence_length: int) -> Backbone:
    import keras_hub

    preset = _preset(name)
    backbone = _from_preset(keras_hub.models.Backbone, preset, load_weights=weights not in ("none", None))
    preprocessor = _from_preset(
        keras_hub.models.TextClassifierPreprocessor, preset, sequence_length=sequence_length
    )
    blocks = list(getattr(backbone, "transformer_layers", []))
    if not blocks:
        raise TfxferError(f"{uri} is not a transformer text backbone (no transformer layers found)")
    return Backbone(
        uri=uri,
        model=backbone,
        preprocessor=preprocessor,
        family=type(backbone).__name__.removesuffix("Backbone"),
    )

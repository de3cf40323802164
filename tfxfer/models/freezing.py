"""Trainable flags: the backbone frozen, its top N blocks unfrozen, or all of it.

Image backbones run in inference mode in every phase (:class:`tfxfer.models.layers.BackboneLayer`),
so their BatchNorm moving statistics never change, whatever is trainable.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tfxfer.config import parse_unfreeze
from tfxfer.errors import TfxferError
from tfxfer.models.keras_workarounds import flatten_layers, set_trainable_flag

if TYPE_CHECKING:  # parse_unfreeze checks CLI flags before TensorFlow starts
    import keras


def backbone_blocks(model: keras.Model) -> list:
    """The units that ``unfreeze=N`` counts from the top, bottom first: transformer blocks for
    text backbones, layers holding weights for image backbones, a SavedModel as one block."""
    backbone = model.backbone.backbone
    blocks = list(getattr(backbone, "transformer_layers", None) or [])
    if blocks:
        return blocks
    if hasattr(backbone, "layers"):
        return [layer for layer in backbone.layers if layer.weights]
    return [backbone]


def set_trainable(model: keras.Model, unfreeze="frozen") -> int:
    """Freezes the backbone of a tfxfer model, or unfreezes its top N blocks, or all of it.

    The head always trains. For text backbones the embeddings stay frozen unless
    ``unfreeze="all"``. Returns the number of trainable parameters.

    Example:

    ```python
    from tfxfer import build_image_classifier, set_trainable

    model = build_image_classifier("keras:MobileNetV3Small", 3, weights="none", image_size=(64, 64))
    set_trainable(model, "frozen")   # phase 1: train the head only
    set_trainable(model, 20)         # phase 2: the top 20 blocks and the head
    ```
    """
    mode = parse_unfreeze(unfreeze)
    backbone = model.backbone
    blocks = backbone_blocks(model)
    if isinstance(mode, int) and mode > len(blocks):
        raise TfxferError(
            f"--unfreeze {mode} is beyond the backbone's depth: it has {len(blocks)} "
            f"unfreezable blocks; use a number up to {len(blocks)} or 'all'"
        )
    set_trainable_flag(backbone, mode != "frozen")
    if isinstance(mode, int):
        _freeze_all_but(backbone.backbone, blocks[len(blocks) - mode:])
    always_frozen = set(backbone.always_frozen)  # e.g. a pooler the head does not read
    for weight in backbone.weights:
        if weight.path in always_frozen:
            weight.trainable = False
    return count_params(model.trainable_weights)


def _freeze_all_but(root, top_blocks) -> None:
    """Freezes every layer under ``root`` that neither is in nor holds one of ``top_blocks``."""
    keep = {id(layer) for block in top_blocks for layer in flatten_layers(block)}
    for layer in flatten_layers(root, include_self=False):
        if id(layer) in keep:
            continue
        if any(id(sub) in keep for sub in flatten_layers(layer, include_self=False)):
            continue  # a container of a top block: its own flag stays on
        set_trainable_flag(layer, False)


def count_params(weights) -> int:
    import keras

    return int(sum(keras.ops.size(w) for w in weights))

"""An exported model from the outside: its newest version, its serving signature loaded with
the ops it needs, and that signature called over many inputs in batches (``predict``,
``evaluate``, the export's own check)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import tensorflow as tf

from tfxfer.errors import TfxferError


def versions(model_dir: Path) -> list[int]:
    """The version numbers under ``NAME/``, ascending (none when it does not exist)."""
    if not model_dir.is_dir():
        return []
    return sorted(int(p.name) for p in model_dir.iterdir() if p.is_dir() and p.name.isdigit())


def latest_version(model_dir: str | Path) -> Path:
    """``NAME/`` -> its highest ``NAME/VERSION/``; a version directory is returned as it is."""
    model_dir = Path(model_dir)
    if (model_dir / "saved_model.pb").exists():
        return model_dir
    numbers = versions(model_dir)
    if not numbers:
        raise TfxferError(f"{model_dir} holds no SavedModel (no saved_model.pb and no numbered version folder)")
    return model_dir / str(numbers[-1])


def load_servable(model_dir: str):
    """(serving function, task) of an exported model: its newest version, or the version
    directory given."""
    path = latest_version(model_dir)
    info_file = path / "assets" / "tfxfer.json"
    task = json.loads(info_file.read_text()).get("task", "image") if info_file.exists() else "image"
    return load_signature(path, task), task


def load_signature(path: Path, task: str):
    """``serving_default`` of the SavedModel at ``path``, with the TF Text ops a text model's
    tokenizer needs registered first (the stock TF Serving binary links them too)."""
    if task == "text":
        import tensorflow_text  # noqa: F401 - registers the tokenizer's ops

    return tf.saved_model.load(str(path)).signatures["serving_default"]


def serve_in_batches(serve, task: str, fed: list, batch_size: int, names: list[str]):
    """Yields (index of the batch's first input, the signature's outputs) over ``fed`` (texts,
    or encoded image bytes); an image that cannot be decoded is a TfxferError naming its batch."""
    key = "text" if task == "text" else "image_bytes"
    for start in range(0, len(fed), batch_size):
        batch = fed[start:start + batch_size]
        try:
            yield start, serve(**{key: tf.constant(batch)})
        except tf.errors.InvalidArgumentError as e:
            if task == "image":
                inputs = ", ".join(names[start:start + len(batch)])
                too_large = re.search(r"image of \d+ x \d+ pixels is over the limit of [\d,]+ pixels", str(e))
                if too_large:  # the signature's check of the header (tfxfer.data.images.check_size)
                    raise TfxferError(f"an image in {inputs} is too large: {too_large[0]} the model was "
                                      f"exported with (--max-image-pixels)") from None
                raise TfxferError(f"an image in {inputs} cannot be decoded (JPEG, PNG, GIF or BMP accepted)") from e
            raise

"""An exported model from the outside: its newest version, its serving signature loaded with
the ops it needs, and that signature called over many inputs in batches (``predict``,
``evaluate``, the export's own check)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tensorflow as tf

from tfxfer.data.images import ACCEPTED_FORMATS, IMAGE_EXTENSIONS, image_format
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


@dataclass(frozen=True)
class Servable:
    """One exported version: its serving signature and what it says of itself in
    ``assets/tfxfer.json`` (task, kind of labels, classes, and the settings it was trained with)."""

    path: Path
    task: str
    class_names: list[str]  # empty for numeric labels
    trained_with: dict  # the training run's resolved config ({} for an export without one)
    signature: Callable
    # "numeric": the signature outputs ``value`` (a regression); "multi": ``probabilities``,
    # ``predicted`` and ``class_names``, each [batch, classes]
    labels: str = "single"
    input_keys: tuple[str, ...] = ()  # the signature's inputs; () for the task's one input
    thresholds: tuple[float, ...] = ()  # multi-label: each class's, as the signature applies them

    @property
    def input_key(self) -> str:
        """The signature's first input (a sentence-pair model's first text)."""
        return self.input_keys[0] if self.input_keys else "text" if self.task == "text" else "image_bytes"

    @property
    def text_pair(self) -> bool:
        """A sentence-pair model: its signature takes ``text`` and ``text_pair``."""
        return len(self.input_keys) == 2


def read_info(path: Path) -> dict:
    """``assets/tfxfer.json`` of a version directory ({} when it has none)."""
    info_file = path / "assets" / "tfxfer.json"
    if not info_file.exists():
        return {}
    try:
        return json.loads(info_file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise TfxferError(f"{info_file} is damaged ({e}): export the model again") from None


def _class_names(path: Path, info: dict) -> list[str]:
    """The classes in output order: tfxfer.json's list, else labels.txt one a line (exports
    older than tfxfer.json's ``classes``). Split on newlines only: ``splitlines()`` would also
    split inside a name at \\u2028 or \\x85."""
    if isinstance(info.get("classes"), list) or info.get("labels") == "numeric":
        return [str(name) for name in info.get("classes") or []]
    labels_file = path / "assets" / "labels.txt"
    if not labels_file.exists():
        raise TfxferError(f"{path} has no assets/tfxfer.json or assets/labels.txt: was it exported by tfxfer?")
    return labels_file.read_text(encoding="utf-8").split("\n")[:-1]


def load_servable(model_dir: str | Path) -> Servable:
    """An exported model: its newest version, or the version directory given."""
    path = latest_version(model_dir)
    info = read_info(path)
    task = info.get("task", "image")
    return Servable(path, task, _class_names(path, info), info.get("config") or {}, load_signature(path, task),
                    info.get("labels", "single"), tuple(info.get("inputs") or ()),
                    tuple(info.get("thresholds") or ()))


def trained_columns(servable: Servable, text_column: str | None, label_column: str | None) -> tuple[str, str]:
    """The text and label columns to read: the ones given, else the ones the model was trained
    with, else ``text`` and ``label``."""
    trained = servable.trained_with
    return (text_column or trained.get("text_column") or "text",
            label_column or trained.get("label_column") or "label")


def load_signature(path: Path, task: str):
    """``serving_default`` of the SavedModel at ``path``, with the TF Text ops a text model's
    tokenizer needs registered first (the stock TF Serving binary links them too)."""
    if task == "text":
        import tensorflow_text  # noqa: F401 - registers the tokenizer's ops

    return tf.saved_model.load(str(path)).signatures["serving_default"]


def serve_in_batches(servable: Servable, fed: list, batch_size: int, names: list[str]):
    """Yields (index of the batch's first input, the signature's outputs) over ``fed`` (texts,
    (text, text_pair) tuples, or encoded image bytes); an image that cannot be decoded is a
    TfxferError naming its batch."""
    for start in range(0, len(fed), batch_size):
        batch = fed[start:start + batch_size]
        if servable.text_pair:
            feed = {key: tf.constant([row[i] for row in batch], tf.string) for i, key in enumerate(servable.input_keys)}
        else:
            feed = {servable.input_key: tf.constant(batch)}
        try:
            yield start, servable.signature(**feed)
        except tf.errors.InvalidArgumentError as e:
            if servable.task == "image":
                inputs = ", ".join(names[start:start + len(batch)])
                too_large = re.search(r"image of \d+ x \d+ pixels is over the limit of [\d,]+ pixels", str(e))
                if too_large:  # the signature's check of the header (tfxfer.data.images.check_size)
                    raise TfxferError(f"an image in {inputs} is too large: {too_large[0]} the model was "
                                      f"exported with (--max-image-pixels)") from None
                raise TfxferError(f"an image in {inputs} cannot be decoded (JPEG, PNG, GIF or BMP accepted)") from e
            raise


def encoded_inputs(servable: Servable, inputs: list[str]) -> list:
    """What the signature takes for each input: the text itself, or an image file's bytes.
    An input of the other kind (an image path for a text model, a file that is not an image
    for an image model) is a TfxferError naming it."""
    if servable.text_pair:
        if not all(isinstance(value, tuple) and len(value) == 2 for value in inputs):
            raise TfxferError(f"{servable.path} is a sentence-pair model: it takes two texts an example "
                              f"(text and text_pair)")
        return list(inputs)
    if servable.task == "text":
        for value in inputs:
            if Path(value).suffix.lower() in IMAGE_EXTENSIONS and Path(value).is_file():
                raise TfxferError(f"{value} is an image file, but {servable.path} is a text model: pass texts, "
                                  f"or --file with one text a line")
        return list(inputs)
    contents = []
    for value in inputs:
        path = Path(value)
        if not path.is_file():
            raise TfxferError(f"image file {value} does not exist ({servable.path} is an image model: pass image file paths)")
        content = path.read_bytes()
        if image_format(content[:16]) is None:
            raise TfxferError(f"{value} is not an image: {ACCEPTED_FORMATS} accepted ({servable.path} is an image model)")
        contents.append(content)
    return contents


def _given(servable: Servable, given) -> dict:
    """How a prediction names its input: ``input``, and ``input_pair`` for a sentence pair."""
    return {"input": given[0], "input_pair": given[1]} if servable.text_pair else {"input": given}


def predictions(servable: Servable, inputs: list, batch_size: int = 64, top_k: int = 3):
    """One dict a input, in order: ``input``, ``class_name``, ``class_id``, ``probability`` (of
    that class), ``top_k`` (the ``top_k`` likeliest classes with their probabilities) and
    ``probabilities`` (every class, in ``servable.class_names`` order); for numeric labels
    ``input`` and ``value`` (in the target's units); for multi-label ``input``, ``labels`` (the
    classes predicted, each over its threshold, most probable first), ``top_k`` and
    ``probabilities``. For a sentence-pair model each input is a
    (text, text_pair) tuple, and ``input`` and ``input_pair`` hold the two."""
    fed = encoded_inputs(servable, inputs)
    k = min(top_k, len(servable.class_names))
    for start, out in serve_in_batches(servable, fed, batch_size, inputs):
        if servable.labels == "numeric":
            for row, value in enumerate(out["value"].numpy()):
                yield {**_given(servable, inputs[start + row]), "value": float(value)}
            continue
        if servable.labels == "multi":
            yield from _label_sets(servable, inputs, start, out, k)
            continue
        for row, probabilities in enumerate(out["probabilities"].numpy()):
            best = np.argsort(-probabilities, kind="stable")[:k]
            class_id = int(out["class_id"][row])
            yield {
                **_given(servable, inputs[start + row]),
                "class_name": out["class_name"][row].numpy().decode("utf-8"),
                "class_id": class_id,
                "probability": round(float(probabilities[class_id]), 6),
                "top_k": {servable.class_names[i]: round(float(probabilities[i]), 6) for i in best},
                "probabilities": [round(float(p), 6) for p in probabilities],
            }


def _label_sets(servable: Servable, inputs: list, start: int, out: dict, k: int):
    """A multi-label model's predictions for one batch of the signature's outputs."""
    predicted = out["predicted"].numpy()
    for row, probabilities in enumerate(out["probabilities"].numpy()):
        order = np.argsort(-probabilities, kind="stable")
        yield {
            **_given(servable, inputs[start + row]),
            "labels": [servable.class_names[i] for i in order if predicted[row, i]],
            "top_k": {servable.class_names[i]: round(float(probabilities[i]), 6) for i in order[:k]},
            "probabilities": [round(float(p), 6) for p in probabilities],
        }

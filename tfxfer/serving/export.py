"""Servable SavedModels: raw-input signatures, versioned, atomic, checked after writing.

Layout (TF Serving): ``EXPORT_DIR/NAME/VERSION/`` with VERSION the next integer. The model is
written to a hidden temporary directory beside the versions, loaded back and compared with
the Keras model, then renamed into place: a crash leaves no version directory, and an
existing version is never overwritten. A graph that runs an op the stock TF Serving binary does
not link is refused before that (:mod:`tfxfer.serving.serving_contract`).
"""

from __future__ import annotations

import errno
import json
import logging
import os
import re
import shutil
import socket
import tempfile
import time
import uuid
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from tfxfer.config import check_model_name
from tfxfer.data.class_names import check_class_names
from tfxfer.data.images import DEFAULT_MAX_PIXELS, decode_batch
from tfxfer.errors import TfxferError
from tfxfer.finetune.checkpoints import without_optimizer
from tfxfer.finetune.thresholds import model_thresholds
from tfxfer.io.atomic import fsync_path, fsync_tree
from tfxfer.models.classifier import TransferClassifier
from tfxfer.models.layers import Windowing, WindowStack
from tfxfer.serving.servable import load_signature, versions
from tfxfer.serving.serving_contract import check_serving_ops

log = logging.getLogger("tfxfer")

_TMP_PREFIX = ".tmp-"
_TMP_NAME = re.compile(r"\.tmp-(?P<host>.+)-(?P<pid>\d+)-[0-9a-f]{8}")
# A temporary directory untouched this long is a crashed export's, whichever host wrote it:
# writing one takes minutes.
_STALE_SECONDS = 24 * 3600
PARITY_TOLERANCE = 1e-4


def ensure_writable_dir(path: str | Path, role: str = "--export-dir") -> Path:
    """Creates ``path`` if needed and proves a file can be written there."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=_TMP_PREFIX):
            pass
    except OSError as e:
        raise TfxferError(f"{role} {path} is not a writable directory ({e.strerror or e})") from e
    return path


def _temporary_name() -> str:
    """``.tmp-HOST-PID-RANDOM``: which machine and process writes it, for the clean-up below."""
    return f"{_TMP_PREFIX}{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


def check_writable_dir(path: str | Path, role: str = "--export-dir") -> None:
    """What :func:`ensure_writable_dir` proves, without creating anything: ``path`` is a
    writable directory, or the nearest folder above it that exists is one."""
    path = Path(path)
    existing = next((p for p in (path, *path.absolute().parents) if p.exists()), Path("/"))
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        what = "is not a directory" if not existing.is_dir() else "cannot be written"
        raise TfxferError(f"{role} {path} is not a writable directory ({existing} {what})")


_INPUTS = {"image": ["image_bytes"], "text": ["text"]}
_OUTPUTS = {"single": ["probabilities", "class_id", "class_name"], "multi": ["probabilities", "predicted", "class_names"],
            "numeric": ["value"]}
PAIR_INPUTS = ["text", "text_pair"]  # a sentence-pair model's two raw strings


def serving_inputs(task: str, text_pair: bool = False) -> list[str]:
    """The names of the serving signature's inputs (and of ``tfxfer.json``'s ``inputs``)."""
    return list(PAIR_INPUTS) if text_pair else list(_INPUTS[task])


def check_export_matches(model_dir: str | Path, task: str, class_names: list[str], by_user: bool = False,
                         labels: str = "single", inputs: list[str] | None = None) -> None:
    """Refuses to add a version to ``model_dir`` whose newest version differs in task, input
    signature, kind of labels (its outputs) or classes: TF Serving serves the newest version
    under the same name, so its clients would suddenly get another kind of model. A name given
    with ``--name`` may take other classes (a retrained model with a class more), never another
    task, input or kind of labels. ``inputs``: the new model's signature inputs (default: the
    task's one input)."""
    inputs = list(inputs or _INPUTS[task])
    model_dir = Path(model_dir)
    numbers = versions(model_dir) if model_dir.is_dir() else []
    if not numbers:
        return
    newest = model_dir / str(numbers[-1])
    try:
        info = json.loads((newest / "assets" / "tfxfer.json").read_text())
    except (OSError, ValueError):
        info = {}
    old_task = info.get("task")
    old_inputs = info.get("inputs") or _INPUTS.get(old_task)
    how = ("pass --name with another name to export beside it" if by_user else
           f"pass --name to export under another name (or --name {model_dir.name} to add a version with other classes)")
    other_kind = "pass --name with another name to export beside it"  # never a new version of another kind
    if old_task and old_task != task:
        raise TfxferError(f"{newest} is a model for {old_task}, this one is for {task}: {other_kind}")
    if old_inputs and old_inputs != inputs:
        raise TfxferError(f"{newest} takes inputs {', '.join(old_inputs)}, this model {', '.join(inputs)}: "
                          f"{other_kind}")
    old_labels = info.get("labels", "single") if info else labels
    if old_labels != labels:
        raise TfxferError(f"{newest} is a model for {old_labels} labels (outputs {', '.join(_OUTPUTS[old_labels])}), "
                          f"this one for {labels} labels (outputs {', '.join(_OUTPUTS[labels])}): {other_kind}")
    old_classes = info.get("classes")
    if old_classes is not None and list(old_classes) != list(class_names) and not by_user:
        added = [c for c in class_names if c not in old_classes]
        removed = [c for c in old_classes if c not in class_names]
        change = "; ".join(part for part in (f"added {', '.join(added)}" if added else "",
                                             f"removed {', '.join(removed)}" if removed else "") if part)
        raise TfxferError(f"{newest} has classes {', '.join(old_classes)}, this model {', '.join(class_names)} "
                          f"({change or 'another order'}): {how}")


def _remove_stale_temporaries(model_dir: Path) -> None:
    """Removes what killed exports left behind. An export directory may be shared by several
    machines (NFS, a Kubernetes volume), and a process id means something only on its own
    host: a temporary directory is removed when this host wrote it and that process is gone,
    or, whoever wrote it, when nothing touched it for ``_STALE_SECONDS`` (a crash elsewhere)."""
    for tmp in model_dir.glob(f"{_TMP_PREFIX}*"):
        writer = _TMP_NAME.fullmatch(tmp.name)
        try:
            age = time.time() - tmp.stat().st_mtime
        except FileNotFoundError:  # its writer renamed or removed it meanwhile
            continue
        ours_and_dead = (writer is not None and writer["host"] == socket.gethostname()
                         and not Path(f"/proc/{writer['pid']}").exists())
        if ours_and_dead or age > _STALE_SECONDS:
            shutil.rmtree(tmp, ignore_errors=True)


class _Servable(tf.Module):
    """Tracks the Keras model (each variable stored once) and the serving function."""

    def __init__(self, model: keras.Model, class_names: list[str], task: str, max_image_pixels: int,
                 thresholds: list[float] | None = None):
        super().__init__()
        self.model = model
        self.numeric = getattr(model, "labels", "single") == "numeric"
        self.class_names = tf.constant(class_names, tf.string)
        # multi-label: a class is predicted from its threshold on (chosen on val, see tfxfer.finetune.thresholds)
        self.thresholds = tf.constant(thresholds, tf.float32) if thresholds is not None else None
        if task == "image":
            size = model.image_size

            @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="image_bytes")])
            def serve(image_bytes):
                return self._outputs(image_bytes, lambda: decode_batch(image_bytes, size, max_image_pixels))
        elif list(model.input_names) == PAIR_INPUTS:

            @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text"),
                                          tf.TensorSpec([None], tf.string, name="text_pair")])
            def serve(text, text_pair):
                tf.debugging.assert_equal(tf.size(text), tf.size(text_pair),
                                          message="text and text_pair must hold as many strings")
                return self._outputs(text, lambda: (text, text_pair))
        else:

            @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
            def serve(text):
                return self._outputs(text, lambda: text)

        self.serve = serve
        if _siamese(model):  # one text's embedding, the vector the head compares two of
            self.embedder = model.embedder()
            width = int(self.embedder.output_shape[-1])

            @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
            def embed(text):
                return {"embedding": tf.cond(tf.size(text) > 0,
                                             lambda: tf.cast(self.embedder(text, training=False), tf.float32),
                                             lambda: tf.zeros([0, width], tf.float32))}

            self.embed = embed

    def signatures(self) -> dict:
        """``serving_default``, and ``embed`` for a siamese sentence-pair model."""
        return {"serving_default": self.serve, **({"embed": self.embed} if hasattr(self, "embed") else {})}

    def _outputs(self, inputs, model_inputs):
        """The outputs for a batch of ``inputs``; an empty batch gets empty outputs without
        running the model (BatchNorm and the text layers fail on zero rows). Numeric labels:
        ``value``, float32 [batch] in the target's units. Multi-label: ``probabilities`` (each
        class's sigmoid), ``predicted`` (bool [batch, classes], each class's threshold applied)
        and ``class_names`` (string [batch, classes]: the names travel with every row, as TF
        Serving's row format needs every output batched)."""
        if self.numeric:
            value = tf.cond(tf.size(inputs) > 0,
                            lambda: tf.reshape(tf.cast(self.model(model_inputs(), training=False), tf.float32), [-1]),
                            lambda: tf.zeros([0], tf.float32))
            return {"value": value}
        probabilities = tf.cond(
            tf.size(inputs) > 0,
            lambda: tf.cast(self.model(model_inputs(), training=False), tf.float32),
            lambda: tf.zeros([0, len(self.class_names)], tf.float32),
        )
        if self.thresholds is not None:
            return {
                "probabilities": probabilities,
                "predicted": probabilities >= self.thresholds,
                "class_names": tf.tile(self.class_names[tf.newaxis], [tf.shape(probabilities)[0], 1]),
            }
        class_id = tf.argmax(probabilities, axis=-1, output_type=tf.int64)
        return {
            "probabilities": probabilities,
            "class_id": class_id,
            "class_name": tf.gather(self.class_names, class_id),
        }


def _check_inputs(task: str, image_size, input_names=()) -> dict[str, tf.Tensor]:
    """Raw inputs, by signature input name, to compare the written SavedModel with the Keras model on."""
    if list(input_names) == PAIR_INPUTS:
        return {"text": tf.constant(["tfxfer export check", "a second, longer sentence to check the export"]),
                "text_pair": tf.constant(["its second text", ""])}
    if task == "text":
        return {"text": tf.constant(["tfxfer export check", "a second, longer sentence to check the export"])}
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (image_size[0] + 7 * i, image_size[1] + 3 * i, 3), dtype=np.uint8) for i in range(2)]
    return {"image_bytes": tf.constant([tf.io.encode_png(image).numpy() for image in images])}


def _reference_probabilities(model: keras.Model, task: str, inputs: dict[str, tf.Tensor]) -> np.ndarray:
    """The Keras model's probabilities, computed in graph mode as ``model.predict`` does:
    under mixed bfloat16, eager and graph execution round differently (up to ~6e-4 for
    MiniLM), and graph mode is what both ``predict`` and the SavedModel run."""
    size = model.image_size

    @tf.function
    def forward(batch):
        if task == "image":
            batch = decode_batch(batch["image_bytes"], size)
        else:
            batch = tuple(batch[name] for name in model.input_names)
            batch = batch[0] if len(batch) == 1 else batch
        return tf.cast(model(batch, training=False), tf.float32)

    return forward(inputs).numpy()


def export_saved_model(
    model: TransferClassifier,
    export_dir: str | Path,
    name: str,
    class_names: list[str] | None = None,
    metadata: dict | None = None,
    max_image_pixels: int = DEFAULT_MAX_PIXELS,
    name_given: bool = True,
) -> Path:
    """Writes ``export_dir/name/VERSION/`` for TF Serving and returns that path.

    The ``serving_default`` signature takes ``image_bytes`` (encoded JPEG/PNG/GIF/BMP of any
    size) for image models, ``text`` for text models, or ``text`` and ``text_pair`` (as many
    strings each) for sentence-pair models, and returns ``probabilities``, ``class_id`` and
    ``class_name`` (a model for numeric labels: ``value``, float32 [batch] in the target's
    units; a multi-label model: ``probabilities``, ``predicted``, bool [batch, classes] with its
    per-class thresholds applied, and ``class_names``, string [batch, classes]); an image whose header declares more than ``max_image_pixels`` pixels fails the
    request before it is decoded. A siamese sentence-pair model also has an ``embed``
    signature: ``text`` -> ``embedding``, float32 [batch, width], one text's vector as the
    head compares two of them (``assets/tfxfer.json``'s ``embedding`` says how). ``assets/labels.txt`` lists the classes (none for numeric
    labels) and ``assets/tfxfer.json`` holds the inputs, the kind of labels (and a regression's
    target mean and standard deviation, or a multi-label model's ``thresholds`` in class order), ``metadata`` and the library versions. A ``name`` whose
    newest version is another task or takes other inputs is refused, and other classes too
    unless ``name_given`` (see :func:`check_export_matches`).
    ``class_names`` defaults to the model's own (recorded by ``fine_tune`` from the data it
    trained on).

    Example:

    ```python
    import tensorflow as tf

    from tfxfer import build_image_classifier, export_saved_model

    model = build_image_classifier("keras:MobileNetV3Small", 3, weights="none", image_size=(64, 64))
    path = export_saved_model(model, "saved_models", "flowers", ["daisy", "roses", "tulips"])
    served = tf.saved_model.load(str(path)).signatures["serving_default"]
    assert str(path).endswith("flowers/1")
    ```
    """
    task = model.task
    labels = getattr(model, "labels", "single")
    if labels == "numeric" and class_names:
        raise TfxferError("a model for numeric labels has no classes: leave class_names out")
    class_names = [] if labels == "numeric" else _class_names(model, class_names)
    thresholds = model_thresholds(model, len(class_names)) if labels == "multi" else None
    check_class_names(class_names, "export_saved_model class_names")
    try:
        check_model_name(name)
    except ValueError as e:
        raise TfxferError(f"model name {e}") from None
    inputs = serving_inputs(task, list(model.input_names) == PAIR_INPUTS)
    check_export_matches(Path(export_dir) / name, task, list(class_names), by_user=name_given, labels=labels,
                         inputs=inputs)
    model_dir = ensure_writable_dir(Path(export_dir) / name)
    _remove_stale_temporaries(model_dir)
    tmp = model_dir / _temporary_name()
    staging = Path(tempfile.mkdtemp(prefix="tfxfer-assets-"))
    try:
        info_file = staging / "tfxfer.json"
        limits = {"max_image_pixels": max_image_pixels} if task == "image" else {}
        if labels == "numeric":
            label_info = {"target": dict(zip(("mean", "std"), model.target_scale, strict=True))}
        else:
            label_info = {"thresholds": thresholds} if labels == "multi" else {}
        text_info = {"long_text": _long_text(model)} if task == "text" else {}
        if _siamese(model):  # the second signature, and how its vectors are compared
            text_info["embedding"] = {"signature": "embed", "inputs": ["text"], "outputs": ["embedding"],
                                      "width": int(model.embedder().output_shape[-1]),
                                      "compare": "cosine" if labels == "numeric" else "[u, v, |u - v|]"}
        info_file.write_text(json.dumps({"task": task, "inputs": inputs, "labels": labels,
                                         "outputs": _OUTPUTS[labels], "classes": list(class_names), **label_info,
                                         **text_info,
                                         **limits, **_versions_info(),
                                         **(metadata or {})}, indent=2, default=str))
        servable = _Servable(model, list(class_names), task, max_image_pixels, thresholds)
        if labels != "numeric":
            labels_file = staging / "labels.txt"
            labels_file.write_text("".join(f"{c}\n" for c in class_names), encoding="utf-8")
            servable.labels_asset = tf.saved_model.Asset(str(labels_file))
        servable.info_asset = tf.saved_model.Asset(str(info_file))
        started = time.perf_counter()
        log.info("exporting %s: writing the SavedModel, then loading it back to check it", model_dir)
        with without_optimizer(model):
            tf.saved_model.save(servable, str(tmp), signatures=servable.signatures())
        op_types = check_serving_ops(tmp)
        diff = _check_written(tmp, model, task)
        path = _rename_into_place(tmp, model_dir)
        log.info("exported %s in %.1f s; its %d op types are all in the stock TF Serving build; loaded back, it "
                 "agrees with the Keras model (max abs difference %.1e)", path, time.perf_counter() - started,
                 op_types, diff)
        return path
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        shutil.rmtree(tmp, ignore_errors=True)


def _siamese(model: keras.Model) -> bool:
    """A sentence-pair model that embeds each text alone (--pair-encoding siamese)."""
    return getattr(model, "pair_features", None) is not None


def _long_text(model: TransferClassifier) -> dict:
    """What the exported model does with a text longer than its sequence length: ``truncate``,
    or ``window`` with the tokens per window (special tokens excluded), the stride and the most
    windows a text is read as (tfxfer.models.layers.Windowing)."""
    windowing = next((layer for layer in model.layers if isinstance(layer, Windowing)), None)
    if windowing is None:
        return {"mode": "truncate"}
    return {"mode": "window", "window_tokens": windowing.window, "stride": windowing.stride,
            "max_windows": windowing.max_windows,
            "aggregation": "max" if any(isinstance(layer, WindowStack) for layer in model.layers) else "mean"}


def _class_names(model: TransferClassifier, given: list[str] | None) -> list[str]:
    """The model's own class names; ``given`` ones must agree with them, or stand in for them
    when the model has none yet."""
    own = model.class_names
    if given is None and own is None:
        raise TfxferError("the model has no class names: train it with fine_tune on the data from "
                          "load_image_data/load_text_data, or pass class_names")
    if given is not None and len(given) != model.output_shape[-1]:
        raise TfxferError(f"{len(given)} class names for a model with {model.output_shape[-1]} outputs")
    if given is not None and own is not None and list(given) != own:
        raise TfxferError(f"class_names {list(given)} differ from the model's own {own}")
    return list(given) if given is not None else own


def _check_written(path: Path, model: TransferClassifier, task: str) -> float:
    """The largest difference between the written SavedModel's and the model's outputs
    (probabilities, or a regression's values relative to the target's standard deviation)."""
    inputs = _check_inputs(task, model.image_size, model.input_names)
    served = load_signature(path, task)
    numeric = getattr(model, "labels", "single") == "numeric"
    got = served(**inputs)["value" if numeric else "probabilities"]
    want = _reference_probabilities(model, task, inputs)
    diff = float(np.max(np.abs(got.numpy().reshape(want.shape) - want)))
    if numeric:
        diff /= model.target_scale[1]
    if _siamese(model):  # the embed signature against the Keras model's embedder, relative to the vectors' size
        texts = inputs["text"]
        want_vectors = tf.function(lambda t: model.embedder()(t, training=False))(texts).numpy()
        got_vectors = tf.saved_model.load(str(path)).signatures["embed"](text=texts)["embedding"].numpy()
        diff = max(diff, float(np.max(np.abs(got_vectors - want_vectors)) / max(np.abs(want_vectors).max(), 1e-6)))
    if diff > PARITY_TOLERANCE:
        raise RuntimeError(f"the written SavedModel disagrees with the Keras model (max abs diff {diff:.2e})")
    return diff


def _rename_into_place(tmp: Path, model_dir: Path) -> Path:
    fsync_tree(tmp)  # on disk before its name is: a power loss never leaves a version of empty files
    for _ in range(100):
        numbers = versions(model_dir)
        target = model_dir / str((numbers[-1] if numbers else 0) + 1)
        if target.exists():
            continue
        try:
            # Atomic; fails when another export took the number meanwhile (the target
            # then exists and is not empty), so an existing version is never overwritten.
            os.rename(tmp, target)
        except OSError as e:
            if e.errno in (errno.EEXIST, errno.ENOTEMPTY):
                continue
            raise
        fsync_path(model_dir)
        return target
    raise TfxferError(f"could not claim a new version number under {model_dir}")


def _versions_info() -> dict:
    import keras_hub

    import tfxfer

    return {"versions": {"tfxfer": tfxfer.__version__, "tensorflow": tf.__version__,
                         "keras": keras.__version__, "keras_hub": keras_hub.__version__}}

"""Cached backbone features for the frozen phase.

While the backbone is frozen, every epoch repeats the same forward pass through it. Here it
runs once: the head's input (the pooled features) is computed for every train and val
example, the head alone trains on those numbers, and since the head model is made of the very
layers of the full model, phase 2 starts from the trained head with nothing to copy.

A cache entry is keyed by everything its numbers depend on: the feature extractor's layers,
configurations and weights (backbone, preprocessing, pooling, input size, vocabulary), the
precision policy, and a fingerprint of the data (the inputs, their order, their labels and,
for image files, each file's size and modification time). Anything else gets a new entry, so
a stale cache is never read. Entries are written to a temporary directory and renamed into
place, so a killed run leaves either a whole entry or none.

Caching is wrong when the backbone does not see the same input every epoch: a random layer
(augmentation, noise, dropout) before the head's input turns it off, and the run says which.
"""

from __future__ import annotations

import errno
import hashlib
import io
import json
import logging
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from tfxfer.data.sources import Datasets
from tfxfer.errors import TfxferError
from tfxfer.io.progress import Progress
from tfxfer.models.classifier import TransferClassifier
from tfxfer.models.keras_workarounds import flatten_layers, input_tensor_in
from tfxfer.models.layers import BackboneLayer

log = logging.getLogger("tfxfer")

_VERSION = 1
# Cached features up to this size are held in memory as one tensor; larger ones are read from
# the on-disk entry batch by batch.
IN_MEMORY_BYTES = 1 << 30


@dataclass
class CachedHead:
    """The head alone and its datasets of cached features, in the original datasets' order."""

    head: keras.Model
    train: tf.data.Dataset
    val: tf.data.Dataset | None
    key: str
    reused: bool
    seconds: float
    directory: Path | None


def head_weights(model: TransferClassifier) -> list:
    """The head's variables in the model (the head model's, in the same order)."""
    return [w for layer in model.head for w in layer.weights]


def _head_split(model: TransferClassifier) -> tuple[keras.Model, keras.Model]:
    """(features model: the model's inputs -> the head's input, head model: that -> outputs)."""
    head_layers = model.head
    features_at = input_tensor_in(model, head_layers[0])
    extractor = keras.Model(model.inputs, features_at, name="features")
    with model.distribute_strategy.scope():
        x = inputs = keras.Input(shape=tuple(features_at.shape[1:]), dtype="float32", name="features")
        for layer in head_layers:
            x = layer(x)
        head = keras.Model(inputs, x, name="head")
    return extractor, head


def _random_layers(layer: keras.layers.Layer) -> list[str]:
    """Layers under ``layer`` that draw random numbers when called in training, except inside a
    frozen backbone (it runs with ``training=False``, see BackboneLayer)."""
    found = []
    for child in getattr(layer, "layers", None) or []:
        if isinstance(child, BackboneLayer):
            continue
        if any(isinstance(v, keras.random.SeedGenerator) for v in vars(child).values()):
            found.append(f"{child.name} ({type(child).__name__})")
        found.extend(_random_layers(child))
    return found


def why_not(model: keras.Model, data) -> str | None:
    """Why cached features cannot stand in for the frozen backbone here, or None if they can."""
    if not isinstance(data, Datasets) or data.splits is None:
        return ("the training data is not a tfxfer Datasets read from files (tfds: and plain tf.data "
                "datasets stream, so their order cannot be replayed)")
    if isinstance(model.distribute_strategy, tf.distribute.TPUStrategy):
        return "features are computed on the host, not on TPUs"
    try:
        extractor, _ = _head_split(model)
    except ValueError as e:
        return str(e)
    random = _random_layers(extractor)
    if random:
        return (f"{', '.join(random)} before the head changes the backbone's input every epoch, "
                "so the features of one pass would be wrong for the next")
    return None


# Keras numbers layer names per process (dense_3), and functional models' configurations
# refer to their layers by name; the layers themselves are hashed one by one.
_NAMED_KEYS = {"name", "layers", "input_layers", "output_layers", "inbound_nodes"}


def _without_names(value):
    """A layer configuration without what depends on naming."""
    if isinstance(value, dict):
        return {k: _without_names(v) for k, v in value.items() if k not in _NAMED_KEYS}
    if isinstance(value, (list, tuple)):
        return [_without_names(v) for v in value]
    return value


def _update_with_layers(digest, model: keras.Model) -> None:
    """Hashes what the features depend on besides the data: every layer's type and
    configuration, vocabularies, and every weight in order (trainable or not: BatchNorm
    statistics)."""
    seen = set()

    def visit(layer):
        if id(layer) in seen:
            return
        seen.add(id(layer))
        digest.update(type(layer).__name__.encode())
        try:
            config = _without_names(layer.get_config())
        except Exception:  # noqa: BLE001 - layers that cannot describe themselves: weights still count
            config = None
        digest.update(json.dumps(config, sort_keys=True, default=str).encode())
        if callable(getattr(layer, "get_vocabulary", None)):
            digest.update(json.dumps(layer.get_vocabulary(), default=str).encode())
        for child in flatten_layers(layer, include_self=False, recursive=False):
            visit(child)

    visit(model)
    for weight in model.weights:
        value = np.asarray(keras.ops.convert_to_numpy(weight))
        digest.update(f"{value.shape}{value.dtype}".encode())
        digest.update(np.ascontiguousarray(value).tobytes())


def _update_with_examples(digest, data: Datasets, role: str, files: bool) -> None:
    examples = data.examples(role)
    digest.update(f"{role}:{len(examples)}".encode())
    labels = np.asarray(examples.labels)  # class indices, or a regression's float targets
    digest.update(labels.astype(np.int64 if labels.dtype.kind in "iub" else np.float32).tobytes())
    for item in examples.inputs:
        digest.update(item.encode("utf-8", "surrogatepass") + b"\0")
        if files:
            stat = os.stat(item)
            digest.update(f"{stat.st_size}:{stat.st_mtime_ns}".encode())
    for item in examples.pairs or ():  # sentence pairs: the second texts
        digest.update(item.encode("utf-8", "surrogatepass") + b"\1")


def data_fingerprint(data: Datasets, files: bool) -> str | None:
    """A hex digest of the train and val examples: the inputs, their order, their labels and,
    for files (``files``: image paths), each file's size and modification time. None for data
    that streams (tfds:, plain tf.data datasets). Run states record it (tfxfer.finetune.checkpoints)."""
    if not isinstance(data, Datasets) or data.splits is None:
        return None
    digest = hashlib.sha256(b"tfxfer-data-v1")
    for role in ("train", "val"):
        _update_with_examples(digest, data, role, files)
    return digest.hexdigest()[:24]


def cache_key(extractor: keras.Model, data: Datasets, task: str) -> str:
    """A hex digest that changes when any input of the cached features changes (for images,
    the files' contents as well as their names)."""
    digest = hashlib.sha256(f"tfxfer-features-v{_VERSION}".encode())
    digest.update(keras.mixed_precision.global_policy().name.encode())
    _update_with_layers(digest, extractor)
    digest.update(data_fingerprint(data, files=task == "image").encode())
    return digest.hexdigest()[:24]


def _extract(extractor: keras.Model, ds: tf.data.Dataset, count: int, path: Path | None,
             progress: Progress) -> np.ndarray:
    """Features of every example of ``ds`` (unshuffled): a new array, or written to the .npy
    file ``path`` and read back memory-mapped. The file is written with plain writes, not
    through a memory map: on a full disk a write into a mapped page kills the process with
    SIGBUS, where a write() raises OSError (ENOSPC) that the caller reports."""
    forward = tf.function(lambda x: extractor(x, training=False), reduce_retracing=True)
    array, file, at = None, None, 0
    try:
        for inputs, _ in ds:
            batch = np.ascontiguousarray(tf.cast(forward(inputs), tf.float32), dtype=np.float32)
            if at == 0:
                shape = (count, *batch.shape[1:])
                if path is None:
                    array = np.empty(shape, np.float32)
                else:
                    file = _open_npy(path, shape)
            if file is None:
                array[at:at + len(batch)] = batch
            else:
                file.write(batch.tobytes())
            at += len(batch)
            progress.advance(len(batch))
        if file is not None:
            file.flush()
            os.fsync(file.fileno())
    finally:
        if file is not None:
            file.close()
    if at != count:
        raise RuntimeError(f"feature extraction saw {at} examples, expected {count}")
    return array if path is None else np.load(path, mmap_mode="r")


def _open_npy(path: Path, shape: tuple) -> io.BufferedWriter:
    """``path`` opened for writing a float32 .npy array of ``shape``, header written and the
    whole size reserved, so that a disk too small fails now rather than after most of the
    forward passes (where the file system cannot reserve, the writes still fail cleanly)."""
    file = open(path, "wb")  # noqa: SIM115 - closed by _extract, or here on failure
    try:
        np.lib.format.write_array_header_1_0(file, {"descr": np.lib.format.dtype_to_descr(np.dtype(np.float32)),
                                                    "fortran_order": False, "shape": shape})
        file.flush()
        if hasattr(os, "posix_fallocate"):  # not on macOS
            try:
                os.posix_fallocate(file.fileno(), 0, file.tell() + 4 * int(np.prod(shape)))
            except OSError as e:
                if e.errno not in (errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS):
                    raise
    except BaseException:
        file.close()
        raise
    return file


def _feature_width(extractor: keras.Model) -> int:
    """Numbers per example in the features."""
    return int(np.prod([d for d in extractor.output_shape[1:] if d is not None]))


def _features_dataset(features: np.ndarray, labels: np.ndarray, data: Datasets, role: str,
                      memory_limit: int) -> tf.data.Dataset:
    """Batches of (features, label) in the order split ``role`` would have come in."""
    if features.nbytes <= memory_limit:
        return data.batch_like(tf.data.Dataset.from_tensor_slices((np.asarray(features), labels)), role)
    # Too large for memory: batches of example indices, gathered from the memory-mapped file.
    width = features.shape[1:]

    def gather(index, label):
        rows = tf.numpy_function(lambda i: np.asarray(features[i], np.float32), [index], tf.float32)
        rows.set_shape([None, *width])
        return rows, label

    indices = tf.data.Dataset.from_tensor_slices((np.arange(len(labels), dtype=np.int64), labels))
    return data.batch_like(indices, role).map(gather).prefetch(tf.data.AUTOTUNE)


def cached_head(model: keras.Model, data: Datasets, directory: str | Path | None = None,
                memory_limit: int = IN_MEMORY_BYTES, verbose: bool = True) -> CachedHead:
    """The model's head and datasets of its input features for ``data``'s train and val splits.

    ``directory``: where entries are kept (one sub-directory per key, reused by a later run
    with the same key); None keeps the features in memory only. ``verbose``: show progress
    while computing them. Check :func:`why_not` first.
    """
    started = time.perf_counter()
    extractor, head = _head_split(model)
    key = cache_key(extractor, data, model.task)
    entry = Path(directory) / key if directory is not None else None
    reused = entry is not None and (entry / "info.json").exists()
    roles = [role for role in ("train", "val") if data.num_examples.get(role)]
    features = {}
    if reused:
        features = {role: np.load(entry / f"{role}.npy", mmap_mode="r") for role in roles}
    else:
        tmp = None
        try:
            if entry is not None:
                tmp = entry.with_name(f".{key}.tmp-{os.getpid()}")
                shutil.rmtree(tmp, ignore_errors=True)
                tmp.mkdir(parents=True)
            for role in roles:
                with Progress(f"backbone features of the {role} split", data.num_examples[role], "example",
                              verbose) as progress:
                    features[role] = _extract(extractor, data.in_order(role), data.num_examples[role],
                                              tmp / f"{role}.npy" if tmp else None, progress)
            if tmp is not None:
                (tmp / "info.json").write_text(json.dumps(
                    {"key": key, "shapes": {r: list(f.shape) for r, f in features.items()},
                     "examples": {r: data.num_examples[r] for r in roles}}, indent=2))
                shutil.rmtree(entry, ignore_errors=True)
                os.replace(tmp, entry)
                features = {role: np.load(entry / f"{role}.npy", mmap_mode="r") for role in roles}
        except BaseException as e:
            features = {}  # let go of the memory maps before removing their files
            if tmp is not None:
                shutil.rmtree(tmp, ignore_errors=True)
            if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT):
                need = sum(data.num_examples[r] for r in roles) * _feature_width(extractor) * 4 / 1e6
                raise TfxferError(
                    f"no space left in {directory} for the cached backbone features (about {need:.1f} MB; "
                    f"{e.strerror}): free some space, or train without the cache: --no-cache-features"
                ) from None
            raise
    datasets = {role: _features_dataset(features[role], data.examples(role).labels, data, role, memory_limit)
                for role in roles}
    return CachedHead(head, datasets["train"], datasets.get("val"), key, reused,
                      time.perf_counter() - started, entry)

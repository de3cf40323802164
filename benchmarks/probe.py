"""tfxfer measured through its Python API, in a process of its own: what the CLI run cannot
show by itself.

- Training-step throughput: the model ``python -m tfxfer.train`` builds, compiled as tfxfer
  compiles it, stepped on one in-memory batch repeated (no input pipeline).
- Its exported SavedModel (from the benchmark's CLI run): size on disk, and batch-1 latency of
  the ``serving_default`` signature on raw strings / image bytes, against calling the
  in-memory Keras model on the same example.
- Images: the training input pipeline of ``tfxfer.load_image_data`` iterated alone.
"""

from __future__ import annotations

import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

import tfxfer
from benchmarks.data import read_text_csv
from benchmarks.measure import PREDICT_CALLS, dir_bytes, latency, param_bytes, pipeline_throughput, step_throughput
from tfxfer.data.images import decode_and_resize
from tfxfer.finetune.optimizers import make_optimizer
from tfxfer.finetune.precision import set_mixed_precision
from tfxfer.recipe import FIXED


def _compile_like_tfxfer(model: keras.Model, task: str, phase: int, total_steps: int | None) -> None:
    """What tfxfer.finetune.phases compiles for a phase: its optimizer, loss and metric."""
    rate = FIXED[task]["learning_rate" if phase == 1 else "fine_tune_learning_rate"]
    model.compile(optimizer=make_optimizer(task, rate, total_steps),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])


def _saved_model(path: str):
    return tf.saved_model.load(path).signatures["serving_default"]


def text(spec: dict) -> dict:
    import tensorflow_text  # noqa: F401 - the exported tokenizer's ops

    out: dict = {}
    out["precision_policy"] = set_mixed_precision(spec["mixed_precision"])
    model = tfxfer.build_text_classifier(f"kerashub:{spec['minilm_dir']}", 2, pooling=spec["pooling"],
                                         sequence_length=spec["sequence_length"])
    out["parameters"] = int(model.count_params())
    example = tf.constant([read_text_csv(Path(spec["heldout_csv"]))[0][0]])  # the reference times the same one

    if spec.get("export_path"):
        serve = _saved_model(spec["export_path"])
        out["export"] = {
            "saved_model_bytes": dir_bytes(spec["export_path"]),
            "param_bytes": param_bytes(model),
            "saved_model_latency": latency(lambda: serve(text=example), spec["latency_calls"]),
            "keras_call_latency": latency(lambda: model(example, training=False), spec["latency_calls"]),
            "keras_predict_latency": latency(lambda: model.predict(example, verbose=0), PREDICT_CALLS),
            "saved_model_input": "raw strings (tokenizer inside the graph)",
        }

    if spec.get("steps"):
        n = spec["batch_size"]
        texts, labels = read_text_csv(Path(spec["train_csv"]))
        classes = sorted(set(labels))
        batch = (tf.constant(texts[:n]), tf.constant([classes.index(label) for label in labels[:n]]))
        tfxfer.set_trainable(model, "all")
        _compile_like_tfxfer(model, "text", 2, 1000)
        out["steps"] = {"fine_tune": step_throughput(model, batch, n, spec["warmup_steps"], spec["measure_steps"])}
    return out


def image(spec: dict) -> dict:
    out: dict = {}
    size = (spec["image_size"], spec["image_size"])
    backbone = f"kerashub:{spec['backbone_dir']}"

    if spec.get("pipeline"):
        started = time.perf_counter()
        data = tfxfer.load_image_data(spec["train_dir"], spec["heldout_dir"], image_size=size,
                                      batch_size=spec["batch_size"], seed=spec["seed"])
        out["dataset_seconds"] = round(time.perf_counter() - started, 3)  # lists and test-decodes every file
        out["pipeline"] = pipeline_throughput(data.train, epochs=2)
        num_classes = len(data.class_names)
        images, labels = next(iter(data.train))
        batch, n = (images, labels), int(labels.shape[0])
        model = tfxfer.build_image_classifier(backbone, num_classes, image_size=size)
        _compile_like_tfxfer(model, "image", 1, None)
        frozen = step_throughput(model, batch, n, spec["warmup_steps"], spec["measure_steps"])
        tfxfer.set_trainable(model, spec["unfreeze"])
        _compile_like_tfxfer(model, "image", 2, None)
        fine_tune = step_throughput(model, batch, n, spec["warmup_steps"], spec["measure_steps"])
        features = _feature_throughput(model, images, spec["measure_steps"])
        out["steps"] = {"frozen": frozen, "fine_tune": fine_tune, "feature_extraction": features}

    if spec.get("export_path"):
        num_classes = sum(1 for p in Path(spec["train_dir"]).iterdir() if p.is_dir())
        model = tfxfer.build_image_classifier(backbone, num_classes, image_size=size)
        first = sorted(Path(spec["heldout_dir"]).rglob("*.png"))[0]
        encoded = tf.constant(first.read_bytes())
        serve = _saved_model(spec["export_path"])

        def pixels():  # what tfxfer's pipeline and signature do to a file
            return decode_and_resize(encoded, size)[None]

        out["export"] = {
            "saved_model_bytes": dir_bytes(spec["export_path"]),
            "param_bytes": param_bytes(model),
            "saved_model_latency": latency(lambda: serve(image_bytes=encoded[None]), spec["latency_calls"]),
            "keras_call_latency": latency(lambda: model(pixels(), training=False), spec["latency_calls"]),
            "keras_predict_latency": latency(lambda: model.predict(pixels(), verbose=0), PREDICT_CALLS),
            "saved_model_input": "encoded image bytes (decoding inside the graph)",
        }
    return out


def _feature_throughput(model: keras.Model, images, repeats: int) -> dict:
    """Examples per second of the frozen backbone's forward pass alone: the one pass that
    cached features cost in place of every frozen epoch."""
    forward = tf.function(lambda x: model(x, training=False))
    np.asarray(forward(images))
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        np.asarray(forward(images))
        times.append(time.perf_counter() - started)
    return {"examples_per_second": round(int(images.shape[0]) / float(np.median(times)), 3)}

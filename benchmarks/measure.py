"""Timing and size helpers the benchmark workers share (imported in worker processes only)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

# model.predict builds a dataset and an iterator on every call (KerasHub text: about a second on
# 2 cores), so it is timed over this many calls, fewer than the rest.
PREDICT_CALLS = 10


class EpochClock(keras.callbacks.Callback):
    """Elapsed seconds since ``started`` (a ``time.perf_counter()`` value) at every epoch's end,
    after that epoch's validation: the same moment tfxfer's history.csv ``seconds`` records."""

    def __init__(self, started: float, phase: int = 1, rows: list | None = None):
        super().__init__()
        self.started, self.phase = started, phase
        self.rows = rows if rows is not None else []

    def on_epoch_end(self, epoch, logs=None):
        logs = {k: float(v) for k, v in (logs or {}).items()}
        accuracy = logs.get("val_accuracy", logs.get("val_sparse_categorical_accuracy"))
        self.rows.append({"epoch": epoch, "phase": self.phase, "seconds": round(time.perf_counter() - self.started, 3),
                          "val_accuracy": accuracy, "loss": logs.get("loss")})


class BatchTimer(keras.callbacks.Callback):
    """Wall seconds of every training batch. Reading the loss waits for the step to finish, so
    an asynchronously dispatched step is not counted as instant."""

    def __init__(self):
        super().__init__()
        self.seconds: list[float] = []
        self._start = 0.0

    def on_train_batch_begin(self, batch, logs=None):
        self._start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        if logs and "loss" in logs:
            float(logs["loss"])
        self.seconds.append(time.perf_counter() - self._start)


def step_throughput(model: keras.Model, batch, batch_size: int, warmup: int, steps: int) -> dict:
    """Examples per second of ``model``'s compiled training step on one in-memory batch repeated
    (no input pipeline): ``batch_size`` / the median step time after ``warmup`` steps."""
    timer = BatchTimer()
    ds = tf.data.Dataset.from_tensors(batch).repeat()
    model.fit(ds, epochs=1, steps_per_epoch=warmup + steps, callbacks=[timer], verbose=0)
    measured = timer.seconds[warmup:]
    return {"examples_per_second": round(batch_size / float(np.median(measured)), 3),
            "median_step_seconds": round(float(np.median(measured)), 4), "steps": len(measured)}


def latency(call, n: int, warmup: int = 3) -> dict:
    """p50/p95 milliseconds of ``call()``; its result is read back to the host every time."""
    for _ in range(warmup):
        _to_host(call())
    times = []
    for _ in range(n):
        started = time.perf_counter()
        _to_host(call())
        times.append(time.perf_counter() - started)
    ms = np.array(times) * 1000.0
    return {"p50_ms": round(float(np.percentile(ms, 50)), 3), "p95_ms": round(float(np.percentile(ms, 95)), 3),
            "calls": n}


def _to_host(value):
    if isinstance(value, dict):
        return {k: _to_host(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_host(v) for v in value]
    return np.asarray(value)


def dir_bytes(path: str | Path) -> int:
    """Bytes of every file under ``path``."""
    return sum(os.path.getsize(os.path.join(root, f)) for root, _, files in os.walk(path) for f in files)


def param_bytes(model: keras.Model) -> int:
    """Bytes of every weight of ``model`` (trainable or not) in the dtype it is stored in."""
    return int(sum(int(np.prod(w.shape)) * np.dtype(w.dtype).itemsize for w in model.weights))


def pipeline_throughput(ds: tf.data.Dataset, epochs: int = 2) -> list[dict]:
    """Iterates ``ds`` (batches of (inputs, labels)) ``epochs`` times without a model: examples
    per second of each pass (eager iteration hands over each batch computed)."""
    passes = []
    for _ in range(epochs):
        started, count = time.perf_counter(), 0
        for _inputs, labels in ds:
            count += int(labels.shape[0])
        seconds = time.perf_counter() - started
        passes.append({"seconds": round(seconds, 3), "examples": count,
                       "examples_per_second": round(count / max(seconds, 1e-9), 1)})
    return passes

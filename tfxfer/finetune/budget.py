"""``--time-budget``: how many fine-tuning epochs fit, from a measured training step."""

from __future__ import annotations

import math
import time

import keras

from tfxfer.recipe.rules import Choice

# What a run costs besides training, in training steps' worth of work: a forward pass costs
# about a third of a training step (the cached features once, the final scores once).
_FORWARD_SHARE = 1 / 3
_EXPORT_SECONDS = 30.0  # write, reload in a fresh process, compare


def step_seconds(model: keras.Model, train, unfreeze, steps: int = 3) -> float:
    """Seconds one fine-tuning step of ``model`` takes with ``unfreeze`` trainable, measured
    on the first batch of ``train`` with a zero learning rate (no weight changes); the backbone
    is frozen again afterwards."""
    from tfxfer.finetune.distribution import prepare_model
    from tfxfer.finetune.losses import loss_and_metrics
    from tfxfer.models.freezing import set_trainable

    inputs, labels = next(iter(train))
    set_trainable(model, unfreeze)
    try:
        prepare_model(model)
        with model.distribute_strategy.scope():
            model.compile(optimizer=keras.optimizers.SGD(0.0), loss=loss_and_metrics(model)[0])
        model.train_on_batch(inputs, labels)  # traces the step
        started = time.perf_counter()
        for _ in range(steps):
            model.train_on_batch(inputs, labels)
        return (time.perf_counter() - started) / steps
    finally:
        set_trainable(model, "frozen")


def fit_epochs(budget: float, elapsed: float, step: float, batches: dict[str, int], wanted: int) -> Choice:
    """Fine-tuning epochs that fit in ``budget`` seconds (at most ``wanted``), given the seconds
    already spent, one step's seconds and the batches of each split."""
    forward = step * _FORWARD_SHARE * (batches["train"] + 2 * batches["val"] + batches.get("test", 0))
    left = budget - elapsed - forward - _EXPORT_SECONDS
    epochs = max(0, min(wanted, math.floor(left / (step * max(batches["train"], 1)))))
    why = (f"--time-budget {budget:.0f}s: a fine-tuning step takes {step:.2f}s here (measured), "
           f"{batches['train']} steps an epoch; {max(left, 0):.0f}s are left after loading, caching, "
           f"scoring and export")
    if epochs < wanted:
        why += f" (the recipe wanted {wanted})"
    return Choice(epochs, why)

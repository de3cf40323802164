"""Strategy choice, compile (optimizer, schedule, precision) and the two-phase fine-tune."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import keras
import tensorflow as tf

from tfxfer.checkpoints import Checkpoints, EpochCheckpoint, RunState
from tfxfer.distribution import prepare_model
from tfxfer.freezing import set_trainable

log = logging.getLogger("tfxfer")

# Phase-2 rates: a small step for convolutional backbones (the Keras transfer-learning
# recipe), the usual BERT fine-tuning rate for transformers.
_DEFAULTS = {
    "image": {"learning_rate": 1e-3, "fine_tune_learning_rate": 1e-5},
    "text": {"learning_rate": 1e-3, "fine_tune_learning_rate": 5e-5},
}


def set_mixed_precision(enabled: bool) -> str:
    """Sets Keras' global precision policy (the one place tfxfer changes it) and returns it.

    bfloat16 where the hardware has it (CPUs, TPUs, GPUs from Ampere on), float16 with loss
    scaling on older GPUs.
    """
    policy = "float32"
    if enabled:
        policy = "mixed_bfloat16"
        for gpu in tf.config.list_physical_devices("GPU"):
            major = tf.config.experimental.get_device_details(gpu).get("compute_capability", (8, 0))[0]
            if major < 8:
                policy = "mixed_float16"
    keras.mixed_precision.set_global_policy(policy)
    return policy


def default_rate(task: str, phase: int) -> float:
    """The default learning rate of a task's phase (1: head, 2: fine-tuning)."""
    return _DEFAULTS[task]["learning_rate" if phase == 1 else "fine_tune_learning_rate"]


def is_text_model(model: keras.Model) -> bool:
    return model.inputs[0].dtype == "string"


class WarmupLinearDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up over the first ``warmup_steps``, then linear decay to zero (BERT)."""

    def __init__(self, peak: float, total_steps: int, warmup_steps: int):
        self.peak, self.total_steps, self.warmup_steps = float(peak), int(total_steps), int(warmup_steps)

    def __call__(self, step):
        step = keras.ops.cast(step, "float32")
        warmup = self.peak * (step + 1.0) / float(max(self.warmup_steps, 1))
        decay = self.peak * keras.ops.maximum(
            0.0, (self.total_steps - step) / float(max(self.total_steps - self.warmup_steps, 1))
        )
        return keras.ops.where(step < self.warmup_steps, warmup, decay)

    def get_config(self):
        return {"peak": self.peak, "total_steps": self.total_steps, "warmup_steps": self.warmup_steps}


def make_optimizer(task: str, learning_rate: float, total_steps: int | None) -> keras.optimizers.Optimizer:
    """Adam for image heads and backbones; for text, BERT's recipe: AdamW, warm-up over 10%
    of the steps then linear decay, no weight decay on LayerNorm and biases, clipping."""
    if task == "image":
        return keras.optimizers.Adam(learning_rate)
    schedule = learning_rate
    if total_steps:
        schedule = WarmupLinearDecay(learning_rate, total_steps, max(1, total_steps // 10))
    optimizer = keras.optimizers.AdamW(schedule, weight_decay=0.01, clipnorm=1.0)
    optimizer.exclude_from_weight_decay(var_names=["bias", "LayerNorm", "layer_norm", "layernorm", "gamma", "beta"])
    return optimizer


@dataclass
class FitResult:
    """What :func:`fine_tune` did: the merged history of both phases and its cost."""

    history: dict[str, list[float]] = field(default_factory=dict)
    phase1_epochs: int = 0
    phase2_epochs: int = 0
    train_seconds: float = 0.0
    resumed_from_epoch: int | None = None
    trainable_params: dict[str, int] = field(default_factory=dict)


def _steps(ds: tf.data.Dataset) -> int | None:
    n = int(ds.cardinality())
    return n if n > 0 else None


def _callbacks(run_dir: Path | None, has_val: bool, patience: int, extra) -> list:
    callbacks = list(extra or [])
    if has_val and patience > 0:
        callbacks.append(
            keras.callbacks.EarlyStopping(monitor="val_loss", patience=patience, restore_best_weights=True)
        )
    if run_dir is not None:
        callbacks.append(keras.callbacks.TensorBoard(str(run_dir / "tensorboard"), write_graph=False))
    return callbacks


def _compile(model: keras.Model, make) -> None:
    """Compiles in the model's strategy scope; the optimizer is made there too, since its
    own variables (iterations, learning rate) must belong to the same strategy."""
    with model.distribute_strategy.scope():
        model.compile(
            optimizer=make(),
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],  # a keyword: positionally it would be loss_weights
        )


def fine_tune(
    model: keras.Model,
    train: tf.data.Dataset,
    val: tf.data.Dataset | None = None,
    *,
    epochs: int = 5,
    fine_tune_epochs: int = 0,
    unfreeze="all",
    learning_rate: float | None = None,
    fine_tune_learning_rate: float | None = None,
    early_stopping_patience: int = 3,
    run_dir: str | Path | None = None,
    checkpoints: Checkpoints | None = None,
    callbacks=None,
    verbose="auto",
) -> FitResult:
    """Phase 1 trains the head on the frozen backbone; phase 2 unfreezes and goes on slower.

    Args:
        model: a model from :func:`tfxfer.build_image_classifier` or
            :func:`tfxfer.build_text_classifier`, built in the strategy scope it trains under.
        train, val: batched datasets of ``(inputs, integer label)``.
        epochs: phase-1 epochs (head only).
        fine_tune_epochs: phase-2 epochs; 0 skips phase 2.
        unfreeze: what phase 2 trains: "all" or the number of top backbone blocks.
        learning_rate, fine_tune_learning_rate: phase rates; defaults depend on the task
            (image: 1e-3 then 1e-5; text: 1e-3 then 5e-5 with warm-up and decay).
        early_stopping_patience: epochs without a better val loss before a phase stops and
            its best weights come back (0: never stop early).
        run_dir: where history.csv and tensorboard/ go (None: nowhere).
        checkpoints: where each epoch's state goes; a run started again with the same
            checkpoints continues where it stopped (see tfxfer.checkpoints).

    Example:

        result = fine_tune(model, data.train, data.val, epochs=3, fine_tune_epochs=2, unfreeze=20)
        result.history["val_accuracy"]
    """
    task = "text" if is_text_model(model) else "image"
    learning_rate = learning_rate or default_rate(task, 1)
    fine_tune_learning_rate = fine_tune_learning_rate or default_rate(task, 2)
    run_dir = Path(run_dir) if run_dir is not None else None
    steps = _steps(train)
    result = FitResult()
    started = time.perf_counter()

    saved = checkpoints.load() if checkpoints is not None else None
    state = saved or RunState()
    if saved is not None:
        checkpoints.restore_weights(model, saved)
        result.resumed_from_epoch = saved.epochs_done
        log.info("resuming from %s: phase %d, %d epoch(s) done%s", checkpoints.directory, saved.phase,
                 saved.epochs_done, " (phase finished)" if saved.phase_done else "")
    phases = [("frozen", epochs, learning_rate)]
    if fine_tune_epochs > 0:
        phases.append((unfreeze, fine_tune_epochs, fine_tune_learning_rate))
    for phase, (mode, n_epochs, rate) in enumerate(phases, start=1):
        if n_epochs <= 0 or state.phase > phase or (state.phase == phase and state.phase_done):
            continue  # nothing to do, or finished before a restart
        resuming = state.phase == phase and state.epochs_done > state.phase_start
        if not resuming:
            state.phase, state.phase_start = phase, state.epochs_done
        result.trainable_params[f"phase{phase}"] = set_trainable(model, mode)
        log.info("phase %d: %d epochs, backbone %s, %d trainable parameters, learning rate %g",
                 phase, n_epochs, mode, result.trainable_params[f"phase{phase}"], rate)
        prepare_model(model)
        total_steps = steps * n_epochs if steps else None
        _compile(model, lambda rate=rate, total_steps=total_steps: make_optimizer(task, rate, total_steps))
        if resuming and not checkpoints.restore_optimizer(model, state):
            log.warning("optimizer state not restored; phase %d goes on with a fresh optimizer", phase)
        epoch_end = EpochCheckpoint(checkpoints, state, phase, run_dir / "history.csv" if run_dir else None)
        model.fit(
            train, validation_data=val, initial_epoch=state.epochs_done, epochs=state.phase_start + n_epochs,
            callbacks=[epoch_end, *_callbacks(run_dir, val is not None, early_stopping_patience, callbacks)],
            verbose=verbose, shuffle=False,  # the datasets shuffle themselves
        )
        state.phase_done = True  # after early stopping has put the best weights back
        if checkpoints is not None:
            checkpoints.save(model, state)
    result.history = {k: list(v) for k, v in state.history.items()}
    phases_run = state.history.get("phase", [])
    result.phase1_epochs, result.phase2_epochs = phases_run.count(1), phases_run.count(2)
    result.train_seconds = time.perf_counter() - started
    return result


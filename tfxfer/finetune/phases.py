"""The two-phase fine-tune: the phase loop (head on a frozen backbone, then unfrozen), XLA."""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import keras
import tensorflow as tf

from tfxfer.data.class_weights import class_counts, class_weights
from tfxfer.data.sources import Datasets
from tfxfer.data.targets import target_scale
from tfxfer.errors import TfxferError, TrainingInterrupted
from tfxfer.finetune import feature_cache
from tfxfer.finetune.checkpoints import Checkpoints, EpochCheckpoint, RunState, restore_best
from tfxfer.finetune.distribution import prepare_model
from tfxfer.finetune.losses import loss_and_metrics, start_at_least_squares, start_at_the_prior
from tfxfer.finetune.optimizers import make_optimizer
from tfxfer.finetune.thresholds import thresholds_on
from tfxfer.io.progress import Progress, keras_verbose
from tfxfer.models.freezing import set_trainable
from tfxfer.recipe import Facts, decide

log = logging.getLogger("tfxfer")


@dataclass
class FitResult:
    """What :func:`fine_tune` did: the merged history of both phases and its cost."""

    history: dict[str, list[float]] = field(default_factory=dict)
    phase1_epochs: int = 0
    phase2_epochs: int = 0
    train_seconds: float = 0.0
    resumed_from_epoch: int | None = None
    trainable_params: dict[str, int] = field(default_factory=dict)
    cached_features: dict | None = None  # key, reused, seconds; None when phase 1 ran the backbone
    kept_phase: int | None = None  # whose weights the model ends with: 1 when fine-tuning did not beat the head
    class_weights: dict[int, float] | None = None  # the loss's weight of each class index; None: all 1


def _steps(ds: tf.data.Dataset) -> int | None:
    n = int(ds.cardinality())
    return n if n > 0 else None


def _callbacks(run_dir: Path | None, has_val: bool, patience: int, extra, checkpoints: Checkpoints | None) -> list:
    callbacks = list(extra or [])
    # With checkpoints, EpochCheckpoint stops early itself, keeping the best epoch across restarts.
    if has_val and patience > 0 and checkpoints is None:
        callbacks.append(
            keras.callbacks.EarlyStopping(monitor="val_loss", patience=patience, restore_best_weights=True)
        )
    if run_dir is not None:
        callbacks.append(keras.callbacks.TensorBoard(str(run_dir / "tensorboard"), write_graph=False))
    return callbacks


@dataclass
class _Fit:
    """What one phase fits: the whole model, or its head alone on cached features."""

    model: keras.Model
    train: tf.data.Dataset
    val: tf.data.Dataset | None
    jit_compile: bool
    steps_per_execution: int = 1

    def compile(self, make_optimizer, loss_and_metrics: tuple) -> None:
        """Compiles in the model's strategy scope; the optimizer is made there too, since its
        own variables (iterations, learning rate) must belong to the same strategy.
        ``loss_and_metrics``: the whole model's (tfxfer.finetune.losses), also when the head
        alone trains."""
        prepare_model(self.model)
        loss, metrics = loss_and_metrics
        with self.model.distribute_strategy.scope():
            self.model.compile(
                optimizer=make_optimizer(),
                loss=loss,
                metrics=metrics,  # a keyword: positionally it would be loss_weights
                jit_compile=self.jit_compile,
                steps_per_execution=self.steps_per_execution,
            )


def set_jit_compile(model: keras.Model, enabled: bool) -> bool:
    """XLA for the numeric part of ``model``; returns what ``compile(jit_compile=...)`` takes.

    Image models compile whole (decoding happens in tf.data). String preprocessing has no XLA
    kernels, so text models compile the backbone only (:class:`tfxfer.models.layers.BackboneLayer`).
    """
    if model.task != "text":
        return enabled
    model.backbone.jit_compile = enabled
    return False


def _whole_batches(ds: tf.data.Dataset, batch_size: int) -> tf.data.Dataset:
    """``ds`` re-batched without a last partial batch. (Asserting the known cardinality on
    top changes the order multi-worker epochs see: measured, so Keras counts steps itself.)"""
    return ds.unbatch().batch(batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE)


def _inputs(model: keras.Model, train, val):
    """(train, val, Datasets or None) from either a Datasets or two tf.data datasets.

    With several replicas, a Datasets' epochs use whole global batches only: a last, partial
    batch can leave a replica with no example, and TensorFlow's CPU convolution fails on an
    empty batch. The training set is reshuffled each epoch, so every example is still seen.
    """
    _check_fits(model, train.train if isinstance(train, Datasets) else train)
    if not isinstance(train, Datasets):
        return train, val, None
    if val is not None:
        raise ValueError("fine_tune takes a Datasets (its val split is used) or train and val datasets, not both")
    data = train
    if data.labels != getattr(model, "labels", "single"):
        raise TfxferError(f"the data's labels are {data.labels} but the model is built for "
                          f"{getattr(model, 'labels', 'single')} labels: build it with labels={data.labels!r}")
    if data.labels == "numeric":
        if data.splits is None:
            raise TfxferError("numeric labels need their training targets ahead of training (a file, not a stream)")
        model.target_scale = target_scale(data.splits.train.labels)  # the model predicts the standardised target
    elif model.class_names is None:
        model.class_names = data.class_names  # what the export will call the outputs
    elif model.class_names != data.class_names:
        raise TfxferError(f"the data's classes {data.class_names} are not the model's {model.class_names}")
    if data.labels == "multi" and data.splits is not None:
        start_at_the_prior(model, data.splits.train.labels)
    train, val = data.train, data.val
    replicas = model.distribute_strategy.num_replicas_in_sync
    if replicas > 1 and data.batch_size:
        batch = data.batch_size
        train = _whole_batches(train, batch)
        val = _whole_batches(val, batch) if data.num_examples["val"] >= batch else None
    return train, val, data


def _check_fits(model: keras.Model, train: tf.data.Dataset) -> None:
    """Data the model cannot take is one line naming both sides, not a traceback from deep
    inside the first batch (or the feature cache)."""
    given, wanted = train.element_spec[0], model.inputs[0]
    if not isinstance(given, tf.TensorSpec):
        return
    text_data, text_model = given.dtype == tf.string, model.task == "text"
    if text_data != text_model:
        raise TfxferError(f"{'text' if text_data else 'image'} data for a {'text' if text_model else 'image'} model: "
                          f"load the data with load_{'text' if text_model else 'image'}_data")
    if text_model:
        return
    size, built = tuple(given.shape[1:3]), tuple(wanted.shape[1:3])
    if None not in size and None not in built and size != built:
        raise TfxferError(f"the data's images are {size[0]}x{size[1]} pixels but the model takes {built[0]}x{built[1]}: "
                          f"load them with image_size={built}, or build the model with image_size={size}")


def _cached_phase(model: keras.Model, data: Datasets | None, val, cache_features: bool, cache_dir, verbose):
    """The head model and its cached datasets for phase 1, or None (and the reason logged)."""
    if not cache_features:
        return None
    reason = feature_cache.why_not(model, data)
    if reason:
        log.warning("cached features off: %s; the frozen phase runs the backbone every epoch", reason)
        return None
    cached = feature_cache.cached_head(model, data, cache_dir, verbose=verbose != 0)
    replicas = model.distribute_strategy.num_replicas_in_sync
    if replicas > 1:
        cached.train = _whole_batches(cached.train, data.batch_size)
        cached.val = _whole_batches(cached.val, data.batch_size) if val is not None else None
    elif val is None:
        cached.val = None
    log.info("cached features %s (%s) in %.1fs: the frozen phase trains the head alone",
             "reused" if cached.reused else "computed", cached.key, cached.seconds)
    return cached


def phase_settings(model: keras.Model, train: tf.data.Dataset, data: Datasets | None, cache_features: bool,
                   **given) -> dict:
    """``given`` (the phase settings of :func:`fine_tune`), each one left ``None`` decided
    by the recipe as the CLI decides it, in the same order. ``layer_decay`` is text's only,
    ``loss`` numeric labels' only; ``class_weight`` is decided from the training labels of a
    Datasets (none without them)."""
    labels = getattr(model, "labels", "single")
    if model.task != "text":
        given.pop("layer_decay", None)
    if labels != "numeric":
        given.pop("loss", None)
    if all(value is not None for value in given.values()):
        return given
    replicas = model.distribute_strategy.num_replicas_in_sync
    batch = data.batch_size if data is not None and data.batch_size else None
    counts = None
    if data is not None:
        examples, classes = data.num_examples["train"], len(data.class_names)
        if data.splits is not None and labels == "single":
            counts = class_counts(data.splits.train.labels, classes)
    else:  # a batched dataset: its steps are what the recipe sizes fine-tuning by
        examples = (_steps(train) or 1) * (batch or 32)
        classes = int(model.output_shape[-1]) if labels != "numeric" else 0
    cached = cache_features and data is not None and not feature_cache.why_not(model, data)
    task = model.task
    per_replica = {"batch_size": max(1, batch // replicas) if batch else None}
    decided = decide(Facts(task, examples, classes, cached, replicas=replicas, class_counts=counts, labels=labels),
                     {**given, **per_replica})
    for name, value in given.items():
        if value is None:
            log.info("fine_tune: %s %s, decided by the recipe: %s", name, decided[name].value, decided[name].why)
    return {name: decided[name].value for name in given}


def fine_tune(
    model: keras.Model,
    train: Datasets | tf.data.Dataset,
    val: tf.data.Dataset | None = None,
    *,
    epochs: int | None = None,
    fine_tune_epochs: int | None = None,
    unfreeze=None,
    learning_rate: float | None = None,
    fine_tune_learning_rate: float | None = None,
    early_stopping_patience: int | None = None,
    layer_decay: float | None = None,
    class_weight=None,
    loss: str | None = None,
    cache_features: bool = True,
    cache_dir: str | Path | None = None,
    jit_compile: bool = False,
    run_dir: str | Path | None = None,
    checkpoints: Checkpoints | None = None,
    callbacks=None,
    verbose="auto",
) -> FitResult:
    """Phase 1 trains the head on the frozen backbone; phase 2 unfreezes and goes on slower.

    Args:
        model: a model from :func:`tfxfer.build_image_classifier` or
            :func:`tfxfer.build_text_classifier`, built in the strategy scope it trains under.
        train: the :class:`tfxfer.data.Datasets` from ``load_image_data``/``load_text_data``
            (its train and val splits are used), or a batched dataset of ``(inputs, label)``.
        val: a batched validation dataset, when ``train`` is a dataset too.
        epochs: phase-1 epochs (head only).
        fine_tune_epochs: phase-2 epochs; 0 skips phase 2.
        unfreeze: what phase 2 trains: "all" or the number of top backbone layers.
        learning_rate, fine_tune_learning_rate: phase rates (text: AdamW with warm-up and
            linear decay; images: Adam), for the batches ``train`` holds.
        early_stopping_patience: epochs without a better val loss before a phase stops and
            its best weights come back (0: never stop early).
        layer_decay: text, phase 2: the rate multiplies by this once per transformer block
            downwards from the head (ELECTRA's layer-wise decay; 1: one rate everywhere).

        class_weight: how much each class counts in the training loss of both phases:
            ``"balanced"`` (n / (classes x the class's count), from the training labels),
            ``"none"``, a YAML/JSON file or a mapping of class names (or int indices) to weights.
        loss: numeric labels (a model built with ``labels="numeric"``): "mse" or "huber" of the
            standardised target (the training targets' mean and standard deviation, recorded in
            the model from a Datasets; with plain datasets set ``model.target_scale`` first).

        Each of these nine left ``None`` is decided by the recipe (tfxfer.recipe) from the
        task, the data's size and class counts and the replica count, exactly as
        ``python -m tfxfer.train`` decides it, and logged with its reason.
        cache_features: in phase 1, run the frozen backbone once and train the head on its
            cached output (see tfxfer.finetune.feature_cache): the same result, each epoch after the
            first hundreds of times cheaper. Needs ``train`` to be a Datasets; turned off,
            with the reason logged, where it would be wrong (a random layer before the head).
        cache_dir: where cached features are kept for a later run to reuse (None: memory).
        jit_compile: XLA (image models whole; text models after the string preprocessing).
        run_dir: where history.csv and tensorboard/ go (None: nowhere).
        checkpoints: where each epoch's state goes; a run started again with the same
            checkpoints continues where it stopped (see tfxfer.finetune.checkpoints).

    Example:

    ```python
    # not run here: needs a flowers/ folder and downloads ResNet50's ImageNet weights
    from tfxfer import build_image_classifier, fine_tune, load_image_data

    data = load_image_data("flowers/", image_size=(224, 224))
    model = build_image_classifier("keras:ResNet50", len(data.class_names))
    result = fine_tune(model, data, epochs=3, fine_tune_epochs=2, unfreeze=20)
    result.history["val_accuracy"]
    ```
    """
    train, val, data = _inputs(model, train, val)
    settings = phase_settings(
        model, train, data, cache_features, epochs=epochs, fine_tune_epochs=fine_tune_epochs, unfreeze=unfreeze,
        learning_rate=learning_rate, fine_tune_learning_rate=fine_tune_learning_rate,
        early_stopping_patience=early_stopping_patience, layer_decay=layer_decay, class_weight=class_weight,
        loss=loss)
    labels = getattr(model, "labels", "single")
    if labels == "multi" and settings["class_weight"] not in (None, "none"):
        raise TfxferError("class_weight weighs one class a row; a multi-label model's rows hold several: pass "
                          "class_weight='none'")
    weights = None if labels != "single" else class_weights(
        settings["class_weight"], _class_names(model),
        data.splits.train.labels if data is not None and data.splits is not None else None)
    phases = [_Phase(1, "frozen", settings["epochs"], settings["learning_rate"])]
    if settings["fine_tune_epochs"] > 0:
        phases.append(_Phase(2, settings["unfreeze"], settings["fine_tune_epochs"],
                             settings["fine_tune_learning_rate"], settings.get("layer_decay") or 1.0))
    classes, fingerprint = _what_trains(model, data)
    state = (checkpoints.resume(model, head=feature_cache.head_weights, classes=classes, data=fingerprint)
             if checkpoints is not None else None)
    run = _Run(model, train, val, data, state or RunState(), checkpoints,
               Path(run_dir) if run_dir is not None else None, FitResult(),
               cache_features, cache_dir, settings["early_stopping_patience"], callbacks, verbose,
               loss_and_metrics(model, settings.get("loss")))
    run.result.resumed_from_epoch = state.epochs_done if state is not None else None
    run.result.class_weights = weights
    if classes is not None:  # saved with every checkpoint: a restart checks it resumes the same data
        run.state.classes, run.state.data = classes, fingerprint or ""
    jit_model = set_jit_compile(model, jit_compile)
    try:
        for phase in phases:
            if phase.epochs > 0 and not run.state.finished(phase.number):
                head_only = _HeadOnly.before(run) if phase.number == 2 else None
                _train_phase(run, phase, jit_model, head_only)
    except KeyboardInterrupt as e:
        raise TrainingInterrupted(run.state.epochs_done, checkpoints is not None) from e
    finally:
        set_jit_compile(model, False)  # exports and predictions run without XLA
    if labels == "multi":  # each class's threshold, on the weights training kept
        model.thresholds = thresholds_on(model, val) if val is not None else None
        if val is not None:
            log.info("per-class thresholds chosen on val (each class's best F1): %s",
                     ", ".join(f"{n} {t:.3f}" for n, t in zip(_class_names(model), model.thresholds, strict=True)))
    return run.finish()


def _class_names(model: keras.Model) -> list[str]:
    """The model's classes (a Datasets has recorded its own by now), or their indices as names."""
    return list(model.class_names or [str(i) for i in range(int(model.output_shape[-1]))])


def _what_trains(model: keras.Model, data: Datasets | None) -> tuple[list[str] | None, str | None]:
    """(class list, data fingerprint) of a Datasets; (None, None) for plain tf.data datasets."""
    if data is None:
        return None, None
    return list(data.class_names), feature_cache.data_fingerprint(data, files=model.task == "image")


@dataclass(frozen=True)
class _Phase:
    number: int
    unfreeze: str | int  # "frozen": the head alone
    epochs: int
    learning_rate: float
    layer_decay: float = 1.0  # text, phase 2: ELECTRA's layer-wise rate decay


@dataclass
class _Run:
    """One call of :func:`fine_tune`: what every phase reads, and what they record."""

    model: keras.Model
    train: tf.data.Dataset
    val: tf.data.Dataset | None
    data: Datasets | None
    state: RunState
    checkpoints: Checkpoints | None
    run_dir: Path | None
    result: FitResult
    cache_features: bool
    cache_dir: str | Path | None
    patience: int
    callbacks: list | None
    verbose: str | int
    loss: tuple  # (loss, metrics) to compile with: tfxfer.finetune.losses
    started: float = field(default_factory=time.perf_counter)

    def __post_init__(self):
        self.verbose = keras_verbose(self.verbose)
        self.task = self.model.task
        self.steps = _steps(self.train)
        if self.steps is None and self.data is not None and self.data.batch_size:  # re-batched for replicas
            self.steps = self.data.num_examples["train"] // self.data.batch_size or None
        self.seconds_before = self.state.seconds()

    def clock(self) -> float:
        """Training seconds at an epoch's end, across restarts."""
        return self.seconds_before + time.perf_counter() - self.started

    def finish(self) -> FitResult:
        result, history = self.result, self.state.history
        result.history = {k: list(v) for k, v in history.items()}
        phases_run = history.get("phase", [])
        result.phase1_epochs, result.phase2_epochs = phases_run.count(1), phases_run.count(2)
        result.train_seconds = self.clock()  # the whole run's, a resumed run's earlier starts included
        return result


@dataclass
class _HeadOnly:
    """The model as phase 1 left it (the pretrained backbone and the trained head) and its val
    loss and accuracy at phase 1's best epoch: a fine-tuning phase worse on both at its own
    best epoch gives way to it (LP-FT should never end below its LP). Both, because a few
    dozen val examples make either alone noisy."""

    weights: list
    val_loss: float
    val_accuracy: float | None

    @classmethod
    def before(cls, run: _Run) -> _HeadOnly | None:
        """Taken at phase 2's start; None without val, with ``early_stopping_patience`` 0 (each
        phase keeps its last weights), or when phase 2 already ran some epochs in an earlier
        process (the model no longer holds phase 1's weights)."""
        best = _best_epoch(run.state.history, 1)
        if run.val is None or not run.patience or best is None or 2 in run.state.history.get("phase", []):
            return None
        return cls(run.model.get_weights(), *best)

    def keep_if_better(self, run: _Run) -> None:
        best = _best_epoch(run.state.history, 2)
        if best is None:
            return
        loss, accuracy = best
        worse_accuracy = accuracy is None or self.val_accuracy is None or accuracy <= self.val_accuracy
        if not loss < self.val_loss and worse_accuracy:  # NaN (diverged) is worse too
            run.model.set_weights(self.weights)
            run.result.kept_phase = 1
            log.info("fine-tuning did not beat the head alone on val (its best epoch: loss %.4f, accuracy %s; the "
                     "head's: loss %.4f, accuracy %s): keeping the weights phase 1 ended with",
                     loss, _maybe(accuracy), self.val_loss, _maybe(self.val_accuracy))


def _best_epoch(history: dict, phase: int) -> tuple[float, float | None] | None:
    """(val loss, val accuracy) of ``phase``'s epoch with the lowest val loss (NaN counts as
    the worst); None when the phase has no val loss."""
    rows = [(loss, accuracy) for loss, accuracy, p in zip(history.get("val_loss", []),
                                                         history.get("val_accuracy", [None] * len(history.get("phase", []))),
                                                         history.get("phase", []), strict=False) if p == phase]
    if not rows:
        return None
    return min(rows, key=lambda row: math.inf if math.isnan(row[0]) else row[0])


def _maybe(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def _train_phase(run: _Run, phase: _Phase, jit_model: bool, head_only: _HeadOnly | None = None) -> None:
    """Trains ``phase`` from where ``run.state`` stands (its start, or a restart's last epoch);
    a phase 2 that ends worse on val than ``head_only`` gives way to it."""
    resuming = run.state.begin(phase.number)
    trainable = run.result.trainable_params[f"phase{phase.number}"] = set_trainable(run.model, phase.unfreeze)
    left = run.state.phase_start + phase.epochs - run.state.epochs_done
    log.info("phase %d: %s%s, backbone %s, %d trainable parameters, learning rate %g", phase.number,
             _count(phase.epochs, "epoch"), f" ({left} left after the restart)" if resuming else "",
             phase.unfreeze, trainable, phase.learning_rate)
    fit, cached = _what_to_fit(run, phase, jit_model)
    if phase.number == 1 and cached and not resuming:
        line = start_at_least_squares(run.model, fit.train)
        if line is not None:
            log.info("the cosine head starts at the least-squares line of the training targets on the cached "
                     "cosines: %.4g x cosine %+.4g", *line)
    total_steps = run.steps * phase.epochs if run.steps else None
    fit.compile(lambda: make_optimizer(run.task, phase.learning_rate, total_steps, phase.layer_decay, run.model),
                run.loss)
    if resuming and not run.checkpoints.restore_optimizer(fit.model, run.state):
        log.warning("optimizer state not restored; phase %d goes on with a fresh optimizer", phase.number)
    # While only the head changes, checkpoints hold only the head (see Checkpoints.save).
    epoch_end = EpochCheckpoint(run.checkpoints, run.state, phase.number,
                                run.run_dir / "history.csv" if run.run_dir else None, run.model, run.clock,
                                head=feature_cache.head_weights(run.model) if cached else None,
                                patience=run.patience if fit.val is not None and run.checkpoints is not None else 0)
    callbacks = [epoch_end, *_callbacks(run.run_dir, fit.val is not None, run.patience, run.callbacks,
                                        run.checkpoints)]
    # Epochs of milliseconds (the head on cached features): one bar over the epochs, not
    # Keras' two lines an epoch.
    epoch_bar = cached and run.verbose in (1, 2, True)
    last_epoch = run.state.phase_start + phase.epochs
    if epoch_bar:
        callbacks.append(_EpochBar(f"phase {phase.number} (the head on cached features)",
                                   last_epoch - run.state.epochs_done))
    fit.model.fit(
        fit.train, validation_data=fit.val, initial_epoch=run.state.epochs_done, epochs=last_epoch,
        verbose=0 if epoch_bar else run.verbose, shuffle=False,  # the data shuffles itself
        callbacks=callbacks, class_weight=run.result.class_weights,  # both phases, cached features too
    )
    _log_early_stop(phase, callbacks, last_epoch, run.state)
    if run.checkpoints is not None:
        restore_best(run.checkpoints, run.model, run.state, head=feature_cache.head_weights)
    if head_only is not None:
        head_only.keep_if_better(run)
    run.state.phase_done = True  # after the best weights are back
    if run.checkpoints is not None:
        run.checkpoints.save(run.model, run.state, fit.model.optimizer)


class _EpochBar(keras.callbacks.Callback):
    """A :class:`Progress` over a phase's epochs, showing the latest losses and accuracies (or
    mean absolute errors)."""

    def __init__(self, what: str, epochs: int):
        super().__init__()
        self.progress = Progress(what, epochs, "epoch")

    def on_train_begin(self, logs=None):
        self.progress.__enter__()

    def on_epoch_end(self, epoch, logs=None):
        shown = ("loss", "accuracy", "mae", "val_loss", "val_accuracy", "val_mae")
        self.progress.advance(1, " ".join(f"{k} {logs[k]:.4f}" for k in shown if k in (logs or {})))

    def on_train_end(self, logs=None):
        self.progress.__exit__(None, None, None)


def _log_early_stop(phase: _Phase, callbacks: list, last_epoch: int, state: RunState) -> None:
    """Says when early stopping ended a phase before its last epoch, and which epoch it keeps
    (Keras' EarlyStopping without checkpoints; EpochCheckpoint's count, in ``state``, with them)."""
    stopper = next((c for c in callbacks if isinstance(c, keras.callbacks.EarlyStopping)), None)
    if stopper is not None and stopper.stopped_epoch:
        stopped, patience, best, loss = stopper.stopped_epoch + 1, stopper.patience, stopper.best_epoch + 1, stopper.best
    elif stopper is None and state.epochs_done < last_epoch and state.best_loss is not None:
        stopped, best, loss = state.epochs_done, state.best_epoch, state.best_loss
        patience = stopped - best
    else:
        best = stopper.best_epoch + 1 if stopper is not None and stopper.best_epoch is not None else state.best_epoch
        if best == last_epoch and (stopper is not None or state.best_loss is not None):
            log.info("phase %d ran all its epochs (%d) with val loss still improving at the last: more (%s) may "
                     "help", phase.number, last_epoch - state.phase_start,
                     "--epochs" if phase.number == 1 else "--fine-tune-epochs")
        return
    log.info("phase %d stopped early after epoch %d of %d: val loss had not improved for %s; "
             "keeping the weights of epoch %d (val loss %.4f)", phase.number, stopped, last_epoch,
             _count(patience, "epoch"), best, loss)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _what_to_fit(run: _Run, phase: _Phase, jit_model: bool) -> tuple[_Fit, bool]:
    """The whole model on the data, or (phase 1, where it is right) the head on cached features."""
    cached = (_cached_phase(run.model, run.data, run.val, run.cache_features, run.cache_dir, run.verbose)
              if phase.number == 1 else None)
    if cached is None:
        return _Fit(run.model, run.train, run.val, jit_model), False
    run.result.cached_features = {"key": cached.key, "reused": cached.reused, "seconds": round(cached.seconds, 3)}
    # A head step costs about a millisecond: many steps per call keep Keras' per-step overhead
    # from dominating (same arithmetic, same order). Keras 3's multi-step loop fails on
    # multi-worker iterators ("while/cond/Placeholder").
    multi_worker = isinstance(run.model.distribute_strategy, tf.distribute.MultiWorkerMirroredStrategy)
    per_call = 1 if multi_worker else min(32, run.steps or 32)  # more than an epoch's steps miscounts Keras' bar
    return _Fit(cached.head, cached.train, cached.val, False, steps_per_execution=per_call), True

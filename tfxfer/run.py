"""A whole training run from a :class:`TrainConfig`: data, model, two phases, scores, plots,
run directory and export. The CLI (``python -m tfxfer.train``) is a thin layer over it."""

from __future__ import annotations

import dataclasses
import json
import logging
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
import yaml

from tfxfer import recipe
from tfxfer.config import TrainConfig
from tfxfer.data import sources
from tfxfer.data.class_weights import class_counts, class_weights, describe
from tfxfer.errors import TfxferError, WorkerLostError, first_line
from tfxfer.finetune import budget
from tfxfer.finetune.checkpoints import Checkpoints, without_optimizer
from tfxfer.finetune.distribution import is_chief, select_strategy, strategy_name, worker_label
from tfxfer.finetune.losses import loss_and_metrics
from tfxfer.finetune.phases import fine_tune
from tfxfer.finetune.precision import set_mixed_precision
from tfxfer.finetune.thresholds import model_thresholds
from tfxfer.io.atomic import rename_durably, temporary_sibling, write_text_atomically
from tfxfer.io.lock import DirectoryLock, LockHeld
from tfxfer.io.progress import stdout_logger
from tfxfer.models.builders import build_image_classifier, build_text_classifier
from tfxfer.models.freezing import set_trainable
from tfxfer.models.layers import DEFAULT_MAX_WINDOWS
from tfxfer.recipe import Choice
from tfxfer.recipe import facts as recipe_facts
from tfxfer.reports.hparams import write_hparams
from tfxfer.reports.metrics import classification_report, multilabel_report, predict_with_labels, regression_report
from tfxfer.reports.plots import plot_training_curves
from tfxfer.reports.report_files import format_report, write_multilabel_report, write_regression_report, write_report
from tfxfer.serving.export import (
    check_export_matches,
    check_writable_dir,
    ensure_writable_dir,
    export_saved_model,
    serving_inputs,
)

log = logging.getLogger("tfxfer")
# What a run tells its user (the recipe table, the classes, the scores, where the outputs went):
# bare lines on stdout through a logger of its own, so that a program calling run() can silence
# them (logging.getLogger("tfxfer.run").setLevel(logging.WARNING)) or send them elsewhere.
say = stdout_logger("tfxfer.run").info

FINAL_WEIGHTS = "model.weights.h5"  # a finished run's weights (the exported model's), without optimizer state


@dataclass
class RunResult:
    run_dir: Path
    export_path: Path | None
    metrics: dict
    model: keras.Model


def _recipe(config: TrainConfig, splits, num_classes: int, strategy) -> dict:
    """The settings the user left unset, decided by the recipe (tfxfer.recipe), and theirs."""
    user = {name: getattr(config, name) for name in recipe.settings_of(config.task, config.labels, config.text_pair)}
    # Cached features need an example list to replay (not tfds: streams) and no TPU.
    cached = (config.cache_features and splits is not None
              and not isinstance(strategy, tf.distribute.TPUStrategy))
    counts = class_counts(splits.train.labels, num_classes) if splits and config.labels == "single" else None
    if config.recipe == "fixed" or all(value is not None for value in user.values()):
        facts = recipe.Facts(config.task, len(splits.train) if splits else 0, num_classes, cached,
                             class_counts=counts, labels=config.labels, text_pairs=config.text_pair)
    else:
        examples = len(splits.train) if splits else sources.tfds_num_examples(config.train)
        facts = recipe_facts.gather(config.task, config.backbone, splits.train.inputs if splits else [],
                                    num_classes, cached=cached, replicas=strategy.num_replicas_in_sync,
                                    preprocessor=config.preprocessor, examples=examples, class_counts=counts,
                                    labels=config.labels, train_pairs=splits.train.pairs if splits else None)
    return recipe.decide(facts, user, config.recipe)


def _budgeted_epochs(config: TrainConfig, resumed: Path | None, model: keras.Model, datasets,
                     elapsed: float) -> Choice:
    """The fine-tuning epochs that fit in ``--time-budget``, from one measured step; a resumed
    run keeps the epochs its first start measured (its saved config.yaml)."""
    if resumed is not None:  # the file itself: _saved_config leaves fine_tune_epochs out under a budget
        saved = yaml.safe_load((resumed / "config.yaml").read_text())
        return Choice(saved["fine_tune_epochs"], "--time-budget, as measured at the run's first start")
    step = budget.step_seconds(model, datasets.train, config.unfreeze)
    batches = {role: -(-count // max(datasets.batch_size or config.batch_size, 1))
               for role, count in datasets.num_examples.items()}
    return budget.fit_epochs(config.time_budget, elapsed, step, batches, config.fine_tune_epochs)


def _decide_and_build(config: TrainConfig, splits, class_names: list[str], strategy):
    """(config with the recipe's values, the recipe's settings, the class weights, the model,
    the precision policy): the recipe decides what the user left unset, a --class-weight file
    is checked against the classes, then the model is built."""
    settings = _recipe(config, splits, len(class_names), strategy)
    config = dataclasses.replace(config, **{name: choice.value for name, choice in settings.items()})
    weights = class_weights(config.class_weight, class_names, splits.train.labels if splits else None)
    policy = set_mixed_precision(config.mixed_precision)
    with strategy.scope():
        model = _build(config, len(class_names))
    if config.task == "image" and config.image_size is None:
        size = model.image_size[0]
        config = dataclasses.replace(config, image_size=size)
        settings["image_size"] = Choice(size, settings["image_size"].why + f" ({size} px)")
    if config.fine_tune_epochs > 0:
        set_trainable(model, config.unfreeze)  # an --unfreeze beyond the depth fails now, not after phase 1
        set_trainable(model, "frozen")
    return config, settings, weights, model, policy


def _build(config: TrainConfig, num_classes: int) -> keras.Model:
    outputs = 1 if config.labels == "numeric" else num_classes
    if config.task == "image":
        size = (config.image_size, config.image_size) if config.image_size else None
        return build_image_classifier(config.backbone, outputs, pooling=config.pooling,
                                      dropout=config.dropout, image_size=size, weights=config.weights,
                                      labels=config.labels)
    return build_text_classifier(config.backbone, outputs, pooling=config.pooling, dropout=config.dropout,
                                 sequence_length=config.sequence_length, weights=config.weights,
                                 preprocessor=config.preprocessor, labels=config.labels,
                                 text_pair=config.text_pair, pair_encoding=config.pair_encoding or "packed",
                                 long_text=config.long_text,
                                 window_stride=config.window_stride,
                                 max_windows=config.max_windows or DEFAULT_MAX_WINDOWS)


def _read_splits(config: TrainConfig):
    if config.task == "image":
        return sources.read_image_splits(config.train, config.val, config.test, val_split=config.val_split,
                                          seed=config.seed, max_image_pixels=config.max_image_pixels,
                                          labels=config.labels)
    return sources.read_text_splits(config.train, config.val, config.test, text_column=config.text_column,
                                     label_column=config.label_column, val_split=config.val_split,
                                     seed=config.seed, max_train_examples=config.max_train_examples,
                                     labels=config.labels)


def _datasets(config: TrainConfig, splits, model: keras.Model):
    if config.task == "image":
        size = model.image_size
        if splits is None:
            return sources.load_image_data(config.train, config.val, config.test, image_size=size,
                                            batch_size=config.batch_size, val_split=config.val_split,
                                            seed=config.seed)
        return sources.image_datasets(splits, size, config.batch_size, config.seed)
    if splits is None:
        return sources.load_text_data(config.train, config.val, config.test, batch_size=config.batch_size,
                                       val_split=config.val_split, seed=config.seed)
    return sources.text_datasets(splits, config.batch_size, config.seed)


def _comparable(config: dict) -> dict:
    # With --time-budget the fine-tuning epochs come from a measured step: not a new configuration.
    ignored = ("output", "keep_checkpoints", *(("fine_tune_epochs",) if config.get("time_budget") else ()))
    return {k: v for k, v in config.items() if k not in ignored}


def _saved_config(run_dir: Path) -> dict | None:
    saved = run_dir / "config.yaml"
    return _comparable(yaml.safe_load(saved.read_text()) or {}) if saved.exists() else None


def _unfinished(run_dir: Path, config: TrainConfig) -> bool:
    """Whether ``run_dir`` holds an unfinished run of this very configuration."""
    return not (run_dir / "metrics.json").exists() and _saved_config(run_dir) == _comparable(config.to_dict())


def _already_running(run_dir: Path, pid: int) -> TfxferError:
    return TfxferError(f"already running in {run_dir} (pid {pid}): wait for it to end, or pass another --output")


def _refuse_if_running(run_dir: Path) -> None:
    pid = DirectoryLock(run_dir).held_by()
    if pid is not None:
        raise _already_running(run_dir, pid)


def choose_run_dir(config: TrainConfig, chief: bool = True) -> tuple[Path, bool]:
    """(run directory, whether it continues an unfinished run); nothing is written yet.

    ``--output DIR`` names it; an unfinished run of the same configuration there is continued,
    a finished one or another configuration's is refused. Without ``--output``, the newest
    unfinished ``runs/NAME-*`` of the same configuration is continued, else a new
    ``runs/NAME-TIMESTAMP`` starts (see :func:`claim_run_dir`). A run directory whose run is
    still going (its lock is held) is refused on the chief: "already running in DIR (pid N)".
    """
    if config.output:
        run_dir = Path(config.output)
        if _unfinished(run_dir, config):
            if chief:
                _refuse_if_running(run_dir)
            return run_dir, True
        if (run_dir / "metrics.json").exists():
            raise TfxferError(f"--output {run_dir} holds a finished run: pass another --output or remove it")
        old = _saved_config(run_dir)
        if old is not None:
            changed = sorted(k for k, v in _comparable(config.to_dict()).items() if old.get(k) != v)
            raise TfxferError(f"--output {run_dir} holds an unfinished run with other settings "
                              f"({', '.join(changed)}): pass another --output or remove it")
        return run_dir, False
    for candidate in sorted(Path("runs").glob(f"{config.name}-*"), reverse=True):
        if _unfinished(candidate, config):
            if chief:
                _refuse_if_running(candidate)
            return candidate, True
    return Path(f"runs/{config.name}-{time.strftime('%Y%m%d-%H%M%S')}"), False


def claim_run_dir(config: TrainConfig, run_dir: Path, resuming: bool) -> tuple[Path, DirectoryLock]:
    """Creates the run directory and holds its lock for the rest of the process.

    A new ``runs/NAME-TIMESTAMP`` is created exclusively: a run started in the same second
    gets ``-2``, ``-3``... A directory another live process holds is refused."""
    if config.output or resuming:
        ensure_writable_dir(run_dir, "--output")
    else:
        base, n = run_dir, 1
        while True:
            try:
                run_dir.parent.mkdir(parents=True, exist_ok=True)
                run_dir.mkdir()
                break
            except FileExistsError:
                n += 1
                run_dir = base.with_name(f"{base.name}-{n}")
            except OSError as e:
                raise TfxferError(f"cannot create the run directory {run_dir} ({e.strerror or e})") from e
    lock = DirectoryLock(run_dir)
    try:
        lock.acquire()
    except LockHeld as e:
        raise _already_running(run_dir, e.pid) from None
    if not resuming and _saved_config(run_dir) is not None and config.output:
        lock.release()  # another process started this --output between the check and now
        raise TfxferError(f"--output {run_dir} was just started by another run: pass another --output")
    return run_dir, lock


def run(config: TrainConfig) -> RunResult:
    """Trains, scores and exports as ``config`` says; every user mistake is a TfxferError
    raised before anything is written. Started again after a crash or a kill, the same
    configuration continues from its last epoch. In a multi-worker cluster only the chief
    writes the run directory and the export."""
    started = time.perf_counter()
    explicit_name = config.name is not None
    config = config.resolved()
    keras.utils.set_random_seed(config.seed)
    chief = is_chief()

    # First of all TensorFlow: a multi-worker strategy must configure collectives at startup.
    strategy = select_strategy(config.strategy, collective_timeout=config.collective_timeout)
    # Files are listed and checked before the (slower) backbone is built.
    splits = None if sources.is_tfds(config.train) else _read_splits(config)
    # --labels left unset: decided from the training labels (tfxfer.data.targets), recorded resolved
    config = dataclasses.replace(config, labels=splits.labels if splits else "single")
    class_names = splits.class_names if splits else sources.tfds_class_names(config.train)  # tfds: its metadata
    config, settings, weights, model, policy = _decide_and_build(config, splits, class_names, strategy)

    run_dir, resuming = choose_run_dir(config, chief)
    if chief:  # checked now, created only once every input has passed
        check_writable_dir(config.export_dir)
        check_writable_dir(run_dir, "--output")
        check_export_matches(Path(config.export_dir) / config.name, config.task, class_names, by_user=explicit_name,
                             labels=config.labels, inputs=serving_inputs(config.task, config.text_pair))
    # --batch-size is per replica; the learning rates scale linearly with the replica count
    # (Goyal et al., 2017), so one replica keeps exactly the configured rates.
    replicas = strategy.num_replicas_in_sync
    global_batch = config.batch_size * replicas
    log.info("strategy %s with %d replica(s) (%s), global batch %d, precision policy %s",
             strategy_name(strategy), replicas, worker_label(), global_batch, policy)
    datasets = _datasets(dataclasses.replace(config, batch_size=global_batch), splits, model)
    for role, files in datasets.skipped.items():
        if files:
            say(f"{role}: left out {len(files)} unreadable file(s): {', '.join(files[:5])}"
                f"{' ...' if len(files) > 5 else ''}")
    if config.time_budget and not settings["fine_tune_epochs"].by_user and config.fine_tune_epochs > 0:
        settings["fine_tune_epochs"] = _budgeted_epochs(config, run_dir if resuming else None, model, datasets,
                                                        time.perf_counter() - started)
        config = dataclasses.replace(config, fine_tune_epochs=settings["fine_tune_epochs"].value)
    say(recipe.format_table(settings, config.recipe))
    say(f"{_what_is_predicted(datasets)}; examples: "
        + ", ".join(f"{k} {v}" for k, v in datasets.num_examples.items() if v))

    lock = None
    if chief:
        run_dir, lock = claim_run_dir(config, run_dir, resuming)
    try:
        return _train_and_write(config, settings, weights, run_dir, resuming, chief, model, datasets, strategy,
                                policy, started, explicit_name)
    finally:
        if lock is not None:
            lock.release()


def _what_is_predicted(datasets) -> str:
    if datasets.labels == "multi":
        counts = datasets.splits.train.labels.sum(axis=0).astype(int)
        return (f"multi-label classes (training rows holding each): "
                f"{', '.join(f'{name} {n}' for name, n in zip(datasets.class_names, counts, strict=True))}; "
                f"{float(datasets.splits.train.labels.sum(axis=1).mean()):.2f} labels a row")
    if datasets.labels != "numeric":
        return f"classes: {', '.join(datasets.class_names)}"
    targets = datasets.splits.train.labels
    return (f"numeric labels (regression): training targets from {float(targets.min()):g} to "
            f"{float(targets.max()):g}, mean {float(targets.mean()):.4g}, std {float(targets.std()):.4g}")


def _train_and_write(config: TrainConfig, settings: dict, weights: dict | None, run_dir: Path, resuming: bool,
                     chief: bool,
                     model: keras.Model, datasets, strategy, policy: str, started: float,
                     explicit_name: bool) -> RunResult:
    """The run from its claimed directory on: the two phases, the scores and (the chief) the outputs."""
    # other workers write nowhere a user reads; they read the chief's checkpoints
    scratch = None if chief else Path(tempfile.mkdtemp(prefix=f"tfxfer-{worker_label()}-"))
    out_dir = run_dir if chief else scratch
    if chief and not resuming:
        for stale in ("history.csv", "metrics.json"):
            (run_dir / stale).unlink(missing_ok=True)
        config.save(run_dir / "config.yaml")
    if resuming:
        say(f"continuing the unfinished run in {run_dir}")
    checkpoints = Checkpoints(run_dir / "checkpoints", writer=chief)
    try:
        fit, predictions = _fit_and_score(config, weights, model, datasets, strategy, checkpoints, out_dir,
                                          run_dir / "feature_cache" if chief else None)
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
    metrics = _metrics(config, settings, datasets, predictions, fit, model, strategy, policy, started)
    if not chief:
        say(f"{worker_label()}: done; weights checksum {metrics['weights_checksum']:.6f}, "
            f"val {_headline(metrics['val'])}")
        return RunResult(run_dir, None, metrics, model)
    export_path = _write_outputs(config, run_dir, checkpoints, model, datasets, predictions, fit, metrics,
                                 explicit_name)
    if config.time_budget:
        used = time.perf_counter() - started
        say(f"time budget {config.time_budget:.0f}s: this run took {used:.0f}s"
            + (" (over budget)" if used > config.time_budget else ""))
    say(f"run directory: {run_dir} ({_size(run_dir)})")
    say(f"exported: {export_path} ({_size(export_path)})")
    return RunResult(run_dir, export_path, metrics, model)


def _fit_and_score(config: TrainConfig, weights: dict | None, model: keras.Model, datasets, strategy,
                   checkpoints: Checkpoints, out_dir: Path, cache_dir: Path | None):
    """fine_tune with the run's settings, then the predictions on val (and test): (FitResult,
    {role: (labels, predictions)}). A lost peer of a multi-worker run is a WorkerLostError."""
    scale = float(strategy.num_replicas_in_sync)
    try:
        # With several replicas fine_tune trains on whole global batches; the final scores
        # below cover every validation example.
        fit = fine_tune(
            model, datasets, epochs=config.epochs, fine_tune_epochs=config.fine_tune_epochs,
            unfreeze=config.unfreeze,
            learning_rate=config.learning_rate * scale,  # both rates resolved by the recipe
            fine_tune_learning_rate=config.fine_tune_learning_rate * scale,
            early_stopping_patience=config.early_stopping_patience, layer_decay=config.layer_decay,
            class_weight=weights or "none",  # checked against the classes before anything was written
            loss=config.loss,  # numeric labels: the recipe's (None for classes)
            run_dir=out_dir,
            checkpoints=checkpoints,
            cache_features=config.cache_features, cache_dir=cache_dir,
            jit_compile=config.jit_compile,
        )
        final_role = "test" if datasets.test is not None else "val"
        predictions = {role: predict_with_labels(model, getattr(datasets, role), f"scoring the {role} split",
                                                 datasets.num_examples[role])
                       for role in sorted({"val", final_role})}
    except tf.errors.OpError as e:
        # A lost peer surfaces as an unavailable, cancelled, aborted or timed-out collective;
        # an invalid argument is a bug and keeps its traceback.
        if strategy_name(strategy) != "MultiWorkerMirroredStrategy" or isinstance(e, tf.errors.InvalidArgumentError):
            raise
        first = first_line(e)
        raise WorkerLostError(
            f"{worker_label()} stopped: another worker died or became unreachable ({type(e).__name__}: {first}); "
            f"run every worker's command again to continue from the last saved epoch"
        ) from e
    return fit, predictions


def _size(path: Path) -> str:
    total = sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file())
    return f"{total / 1e6:.1f} MB" if total >= 1e5 else f"{total / 1e3:.0f} kB"


def _metrics(config: TrainConfig, settings: dict, datasets, predictions: dict, fit, model: keras.Model,
             strategy, policy: str, started: float) -> dict:
    """What ``metrics.json`` holds (DESIGN.md's contract, and more)."""
    def scores(role: str) -> dict:
        if datasets.labels == "numeric":  # and the training loss (the standardised error), as for classes
            values, targets = predictions[role]
            loss = loss_and_metrics(model, config.loss)[0]
            return {**regression_report(values, targets), "loss": float(loss(targets, values))}
        if datasets.labels == "multi":
            return multilabel_report(*predictions[role], _over_thresholds(model, predictions[role][0]),
                                     datasets.class_names, model.thresholds)
        return classification_report(*predictions[role], datasets.class_names)

    val_scores = scores("val")
    test_scores = scores("test") if "test" in predictions else None
    epochs_ran = fit.phase1_epochs + fit.phase2_epochs
    replicas = strategy.num_replicas_in_sync
    return {
        "val": val_scores,
        "test": test_scores,
        "train_seconds": round(fit.train_seconds, 3),
        "examples_per_second": round(datasets.num_examples["train"] * epochs_ran / max(fit.train_seconds, 1e-9), 3),
        "classes": datasets.class_names,
        "labels": datasets.labels,
        # numeric labels: the training targets' mean and std, which the model predicts standardised against
        "target": ({"mean": model.target_scale[0], "std": model.target_scale[1]}
                   if datasets.labels == "numeric" else None),
        # multi-label: each class's threshold, chosen on val (tfxfer.finetune.thresholds); None: 0.5 each
        "thresholds": (dict(zip(datasets.class_names, model.thresholds, strict=True)) if model.thresholds else None)
        if datasets.labels == "multi" else None,
        "num_examples": datasets.num_examples,
        "epochs": {"phase1": fit.phase1_epochs, "phase2": fit.phase2_epochs},
        # 1 also when fine-tuning ran but ended worse on val than the head alone (see fine_tune)
        "weights_from_phase": fit.kept_phase or (2 if fit.phase2_epochs else 1),
        "resumed_from_epoch": fit.resumed_from_epoch,
        "trainable_params": fit.trainable_params,
        "strategy": strategy_name(strategy),
        "replicas": replicas,
        "global_batch_size": config.batch_size * replicas,
        "learning_rate_scale": float(replicas),
        "precision_policy": policy,
        "cached_features": fit.cached_features,
        "class_weights": describe(fit.class_weights, datasets.class_names),  # None: every example weighs 1
        "jit_compile": config.jit_compile,
        "time_budget": ({"seconds": config.time_budget, "used_seconds": round(time.perf_counter() - started, 1)}
                        if config.time_budget else None),
        "recipe": {name: {"value": choice.value, "why": choice.why,
                          "set_by": "you" if choice.by_user else f"recipe {config.recipe}"}
                   for name, choice in settings.items()},
        "weights_checksum": weights_checksum(model),
        "skipped_files": {k: v for k, v in datasets.skipped.items() if v},
    }


def _write_outputs(config: TrainConfig, run_dir: Path, checkpoints: Checkpoints, model: keras.Model, datasets,
                   predictions: dict, fit, metrics: dict, explicit_name: bool) -> Path:
    """The chief's outputs: plots, the export (once: a restart after it reuses it), the
    evaluation report, TensorBoard's hparams, the final weights and, last, ``metrics.json``
    (its presence marks the run finished); then, unless ``--keep-checkpoints``, the
    checkpoints go. Returns the export's path."""
    final_role = "test" if "test" in predictions else "val"
    plots = run_dir / "plots"
    plots.mkdir(exist_ok=True)
    plot_training_curves(fit.history, plots / "training_curves.png", fit.phase1_epochs)
    state = checkpoints.load()
    if state is not None and state.exported and (Path(state.exported) / "saved_model.pb").exists():
        export_path = Path(state.exported)
        say(f"already exported to {export_path} before the restart: not exported again")
    else:
        export_path = export_saved_model(
            model, config.export_dir, config.name, max_image_pixels=config.max_image_pixels,  # the classes: the model's
            metadata={"backbone": config.backbone, "config": config.to_dict(),
                      "metrics": {k: metrics[k] for k in ("val", "test", "train_seconds")}},
            name_given=explicit_name,
        )
        checkpoints.record_export(export_path)  # before anything else can fail
    metrics["export_path"] = str(export_path)
    examples = datasets.examples(final_role)
    header = {"model": str(export_path), "data": getattr(config, final_role) or f"the val split of {config.train}"}
    inputs = examples.shown() if examples is not None else None
    plot = None
    if datasets.labels == "numeric":
        report = write_regression_report(run_dir / "evaluation", *predictions[final_role], config.task, inputs,
                                         **header)
        plot = "predicted_vs_true.png"
    elif datasets.labels == "multi":
        probabilities, targets = predictions[final_role]
        report = write_multilabel_report(run_dir / "evaluation", probabilities, targets,
                                         _over_thresholds(model, probabilities), datasets.class_names, config.task,
                                         inputs, model.thresholds, **header)
    else:
        report = write_report(run_dir / "evaluation", *predictions[final_role], datasets.class_names, config.task,
                              inputs, **header)
        plot = "confusion_matrix.png"
    if plot is not None:
        shutil.copyfile(run_dir / "evaluation" / plot, plots / plot)
    write_hparams(run_dir / "tensorboard", run_dir.name, config, metrics)
    if not config.keep_checkpoints:  # the best weights, once, without optimizer state
        weights = temporary_sibling(run_dir / FINAL_WEIGHTS, suffix=".weights.h5")
        with without_optimizer(model):
            model.save_weights(weights)
        rename_durably(weights, run_dir / FINAL_WEIGHTS)
    write_text_atomically(run_dir / "metrics.json", json.dumps(metrics, indent=2))
    shutil.rmtree(run_dir / "feature_cache", ignore_errors=True)  # only a resumed run could use it
    if not config.keep_checkpoints:  # only a restart could use them, and the run is finished
        shutil.rmtree(run_dir / "checkpoints", ignore_errors=True)
    say(format_report(report))
    say(f"val {_headline(metrics['val'])}"
        + ("" if metrics["test"] else f" on {metrics['val']['examples']} examples that also chose the kept epoch "
                                       f"(optimistic; --test FILE_OR_FOLDER scores held-out data)")
        + (f", test {_headline(metrics['test'])}" if metrics["test"] else "")
        + f"; trained in {fit.train_seconds:.1f}s")
    return export_path


def _headline(scores: dict) -> str:
    """A split's main scores in a few words: accuracy, a regression's MAE, RMSE, R² and Spearman,
    or a multi-label classifier's micro/macro F1, mAP and subset accuracy."""
    if scores.get("labels") == "multi":
        shown = (("micro-F1", "micro_f1"), ("macro-F1", "macro_f1"), ("mAP", "mean_average_precision"),
                 ("subset accuracy", "subset_accuracy"))
    elif "mae" in scores:
        shown = (("MAE", "mae"), ("RMSE", "rmse"), ("R²", "r2"), ("Spearman", "spearman"))
    else:
        return f"accuracy {scores['accuracy']:.4f} (balanced {scores['balanced_accuracy']:.4f})"
    return ", ".join(f"{name} {scores[key]:.4f}" if scores[key] is not None else f"{name} -" for name, key in shown)


def _over_thresholds(model: keras.Model, probabilities: np.ndarray) -> np.ndarray:
    """Multi-label: which classes the model predicts, each over its threshold (0.5 without)."""
    return probabilities >= np.asarray(model_thresholds(model, probabilities.shape[1]), np.float32)


def weights_checksum(model: keras.Model) -> float:
    """A number that differs when any weight differs: workers compare it."""
    return float(sum(float(np.sum(np.asarray(w, dtype=np.float64)) * (i + 1))
                     for i, w in enumerate(model.get_weights())))

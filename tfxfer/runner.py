"""A whole training run from a :class:`TrainConfig`: data, model, two phases, scores, plots,
run directory and export. The CLI (``python -m tfxfer.train``) is a thin layer over it."""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

import keras

from tfxfer import data as data_lib
from tfxfer.builders import build_image_classifier, build_text_classifier
from tfxfer.config import TrainConfig
from tfxfer.evaluation import score
from tfxfer.export import ensure_writable_dir, export_saved_model
from tfxfer.freezing import set_trainable
from tfxfer.plots import plot_confusion_matrix, plot_training_curves
from tfxfer.training import fine_tune, select_strategy, set_mixed_precision

log = logging.getLogger("tfxfer")


@dataclass
class RunResult:
    run_dir: Path
    export_path: Path
    metrics: dict
    model: keras.Model


def _write_json(path: Path, value) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(value, indent=2))
    os.replace(tmp, path)


def _build(config: TrainConfig, num_classes: int) -> keras.Model:
    if config.task == "image":
        size = (config.image_size, config.image_size) if config.image_size else None
        return build_image_classifier(config.backbone, num_classes, pooling=config.pooling,
                                      dropout=config.dropout, image_size=size, weights=config.weights)
    return build_text_classifier(config.backbone, num_classes, pooling=config.pooling, dropout=config.dropout,
                                 sequence_length=config.sequence_length, weights=config.weights,
                                 preprocessor=config.preprocessor)


def _read_splits(config: TrainConfig):
    if config.task == "image":
        return data_lib.read_image_splits(config.train, config.val, config.test,
                                          val_split=config.val_split, seed=config.seed)
    return data_lib.read_text_splits(config.train, config.val, config.test, text_column=config.text_column,
                                     label_column=config.label_column, val_split=config.val_split,
                                     seed=config.seed, max_train_examples=config.max_train_examples)


def _datasets(config: TrainConfig, splits, model: keras.Model):
    if config.task == "image":
        size = tuple(int(s) for s in model.input_shape[1:3])
        if splits is None:
            return data_lib.load_image_data(config.train, config.val, config.test, image_size=size,
                                            batch_size=config.batch_size, val_split=config.val_split,
                                            seed=config.seed)
        return data_lib.image_datasets(splits, size, config.batch_size, config.seed)
    if splits is None:
        return data_lib.load_text_data(config.train, config.val, config.test, batch_size=config.batch_size,
                                       val_split=config.val_split, seed=config.seed)
    return data_lib.text_datasets(splits, config.batch_size, config.seed)


def run(config: TrainConfig) -> RunResult:
    """Trains, scores and exports as ``config`` says; every user mistake is a TfxferError
    raised before anything is written."""
    config = config.resolved()
    keras.utils.set_random_seed(config.seed)
    export_root = ensure_writable_dir(config.export_dir)
    run_dir = Path(config.output or f"runs/{config.name}-{time.strftime('%Y%m%d-%H%M%S')}")
    ensure_writable_dir(run_dir, "--output")

    # Files are listed and checked before the (slower) backbone is built.
    splits = None if data_lib.is_tfds(config.train) else _read_splits(config)
    num_classes = len(splits.class_names) if splits else None
    policy = set_mixed_precision(config.mixed_precision)
    strategy = select_strategy(config.strategy)
    log.info("strategy %s with %d replica(s), precision policy %s",
             type(strategy).__name__, strategy.num_replicas_in_sync, policy)
    if splits is None:  # tfds: the class count comes with the dataset's metadata
        num_classes = len(data_lib.tfds_class_names(config.train))
    with strategy.scope():
        model = _build(config, num_classes)
    if config.fine_tune_epochs > 0:
        set_trainable(model, config.unfreeze)  # an --unfreeze beyond the depth fails now, not after phase 1
        set_trainable(model, "frozen")
    datasets = _datasets(config, splits, model)
    for role, files in datasets.skipped.items():
        if files:
            print(f"{role}: left out {len(files)} unreadable file(s): {', '.join(files[:5])}"
                  f"{' ...' if len(files) > 5 else ''}")
    print(f"classes: {', '.join(datasets.class_names)}; examples: "
          + ", ".join(f"{k} {v}" for k, v in datasets.num_examples.items() if v))

    for stale in ("history.csv", "metrics.json"):
        (run_dir / stale).unlink(missing_ok=True)
    config.save(run_dir / "config.yaml")
    fit = fine_tune(
        model, datasets.train, datasets.val, epochs=config.epochs, fine_tune_epochs=config.fine_tune_epochs,
        unfreeze=config.unfreeze, learning_rate=config.learning_rate,
        fine_tune_learning_rate=config.fine_tune_learning_rate,
        early_stopping_patience=config.early_stopping_patience, run_dir=run_dir,
    )
    val_scores = score(model, datasets.val, datasets.class_names)
    test_scores = score(model, datasets.test, datasets.class_names) if datasets.test is not None else None
    epochs_ran = fit.phase1_epochs + fit.phase2_epochs
    metrics = {
        "val": val_scores,
        "test": test_scores,
        "train_seconds": round(fit.train_seconds, 3),
        "examples_per_second": round(datasets.num_examples["train"] * epochs_ran / max(fit.train_seconds, 1e-9), 3),
        "classes": datasets.class_names,
        "num_examples": datasets.num_examples,
        "epochs": {"phase1": fit.phase1_epochs, "phase2": fit.phase2_epochs},
        "trainable_params": fit.trainable_params,
        "strategy": type(strategy).__name__,
        "replicas": strategy.num_replicas_in_sync,
        "precision_policy": policy,
        "skipped_files": {k: v for k, v in datasets.skipped.items() if v},
    }
    plots = run_dir / "plots"
    plots.mkdir(exist_ok=True)
    plot_training_curves(fit.history, plots / "training_curves.png", fit.phase1_epochs)
    final = test_scores or val_scores
    plot_confusion_matrix(final["confusion_matrix"], datasets.class_names, plots / "confusion_matrix.png",
                          title=f"confusion matrix ({'test' if test_scores else 'val'})")
    export_path = export_saved_model(
        model, export_root, config.name, datasets.class_names,
        metadata={"backbone": config.backbone, "config": config.to_dict(),
                  "metrics": {k: metrics[k] for k in ("val", "test", "train_seconds")}},
    )
    metrics["export_path"] = str(export_path)
    _write_json(run_dir / "metrics.json", metrics)
    print(f"val accuracy {val_scores['accuracy']:.4f}"
          + (f", test accuracy {test_scores['accuracy']:.4f}" if test_scores else "")
          + f"; trained in {fit.train_seconds:.1f}s")
    print(f"run directory: {run_dir}")
    print(f"exported: {export_path}")
    return RunResult(run_dir, export_path, metrics, model)


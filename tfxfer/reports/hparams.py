"""TensorBoard's HParams dashboard for runs: each run's settings and final scores, so that runs
written under one parent directory (``tensorboard --logdir runs``) compare side by side."""

from __future__ import annotations

from pathlib import Path

import tensorflow as tf

from tfxfer.config import TrainConfig


def write_hparams(log_dir: Path, run_name: str, config: TrainConfig, metrics: dict) -> None:
    """Writes the hyperparameters (every setting; unset ones as "default") and the final
    scores (``final/val_accuracy`` ...) into ``log_dir``, next to the epoch curves."""
    from tensorboard.plugins.hparams import api as hp

    values = {k: (v if isinstance(v, (bool, int, float, str)) else "default" if v is None else str(v))
              for k, v in config.to_dict().items() if k not in ("output", "export_dir")}
    scores = {f"final/{role}_{name}": metrics[role][name]
              for role in ("val", "test") if metrics.get(role)
              for name in ("accuracy", "balanced_accuracy", "macro_f1", "loss", "mae", "rmse", "r2", "spearman",
                           "micro_f1", "mean_average_precision", "subset_accuracy")
              if metrics[role].get(name) is not None}
    scores["final/train_seconds"] = metrics["train_seconds"]
    with tf.summary.create_file_writer(str(log_dir)).as_default():
        hp.hparams(values, trial_id=run_name)
        for tag, value in scores.items():
            tf.summary.scalar(tag, value, step=0)

"""Optimizers and learning-rate schedules of the two phases (their rates: tfxfer.recipe)."""

from __future__ import annotations

import keras


@keras.saving.register_keras_serializable(package="tfxfer")
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

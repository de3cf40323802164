"""Optimizers and learning-rate schedules of the two phases (their rates: tfxfer.recipe)."""

from __future__ import annotations

import re

import keras

_BLOCK = re.compile(r"(?:^|/)(?:transformer_)?layer_(\d+)/")  # KerasHub transformer_layer_3/, TF Hub layer_3/


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


@keras.saving.register_keras_serializable(package="tfxfer")
class LayerDecayAdamW(keras.optimizers.AdamW):
    """AdamW with layer-wise rate decay (ELECTRA, Clark et al. 2020): the head trains at the
    full rate, transformer block i of L at ``layer_decay ** (L - i)`` of it and the embeddings
    at ``layer_decay ** (L + 1)``, so the lower, more general layers move least. The scales
    are set by :meth:`scale_layers`; variables it was not given (the head's) train at the
    full rate."""

    def __init__(self, *args, layer_decay: float = 1.0, **kwargs):
        super().__init__(*args, **kwargs)
        self.layer_decay = float(layer_decay)
        self._rate_scales: dict[int, float] = {}

    def scale_layers(self, variables) -> dict[str, float]:
        """Sets the rate scale of each of the backbone's ``variables`` from its block; returns
        them by path."""
        scales = layer_rate_scales(variables, self.layer_decay)
        self._rate_scales = {self._var_key(v): scales[v.path] for v in variables}
        return scales

    def update_step(self, gradient, variable, learning_rate):
        scale = self._rate_scales.get(self._var_key(variable))
        super().update_step(gradient, variable, learning_rate if scale is None else learning_rate * scale)

    def get_config(self):
        return {**super().get_config(), "layer_decay": self.layer_decay}


def layer_rate_scales(variables, decay: float) -> dict[str, float]:
    """Each variable's rate scale by its path: ``decay ** (L - i)`` in transformer block i of L
    (the block number read from the path), ``decay ** (L + 1)`` for the rest of the backbone
    below the blocks (embeddings), the full rate for what sits above them (a pooler)."""
    blocks = {v.path: int(m.group(1)) for v in variables if (m := _BLOCK.search(v.path))}
    depth = max(blocks.values(), default=-1) + 1
    scales = {}
    for v in variables:
        if v.path in blocks:
            scales[v.path] = decay ** (depth - blocks[v.path])
        else:
            scales[v.path] = 1.0 if "pool" in v.path else decay ** (depth + 1)
    return scales


def make_optimizer(task: str, learning_rate: float, total_steps: int | None, layer_decay: float = 1.0,
                   model: keras.Model | None = None) -> keras.optimizers.Optimizer:
    """Adam for image heads and backbones; for text, BERT's recipe: AdamW, warm-up over 10%
    of the steps then linear decay, no weight decay on LayerNorm and biases, clipping, and
    with ``layer_decay`` < 1 (and the ``model``) the rate decaying block by block downwards."""
    if task == "image":
        return keras.optimizers.Adam(learning_rate)
    schedule = learning_rate
    if total_steps:
        schedule = WarmupLinearDecay(learning_rate, total_steps, max(1, total_steps // 10))
    if layer_decay < 1.0 and model is not None:
        optimizer = LayerDecayAdamW(schedule, weight_decay=0.01, clipnorm=1.0, layer_decay=layer_decay)
        optimizer.scale_layers(model.backbone.trainable_weights)
    else:
        optimizer = keras.optimizers.AdamW(schedule, weight_decay=0.01, clipnorm=1.0)
    optimizer.exclude_from_weight_decay(var_names=["bias", "LayerNorm", "layer_norm", "layernorm", "gamma", "beta"])
    return optimizer

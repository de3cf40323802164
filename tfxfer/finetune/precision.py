"""Keras' global precision policy: mixed precision where the hardware has it."""

from __future__ import annotations

import keras
import tensorflow as tf


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

"""Training throughput and model-FLOPs utilisation (MFU) of a BERT-base-sized classifier with
random weights, on one GPU; skipped where ``tf.config.list_physical_devices("GPU")`` is empty.

MFU = achieved model FLOP/s / the GPU's peak dense bf16 (fp16 before Ampere) FLOP/s, with the
model FLOPs of a training step counted as 6 x (non-embedding parameters) x tokens plus
12 x layers x sequence_length^2 x hidden per example for attention (forward 1x, backward 2x).
Only the arithmetic a perfect implementation would need is counted; recomputation is not.
"""

from __future__ import annotations

import numpy as np

# Peak dense tensor-core FLOP/s (bf16, or fp16 before Ampere), per GPU, from the vendor sheets.
PEAK_TFLOPS = {
    "H200": 989.0, "H100 PCIe": 756.0, "H100": 989.0, "GH200": 989.0, "A100": 312.0, "A800": 312.0,
    "L40S": 362.0, "L40": 181.0, "L4": 121.0, "A10G": 70.0, "A10": 125.0, "A30": 165.0, "A40": 150.0,
    "RTX 4090": 165.0, "RTX 3090": 71.0, "V100": 125.0, "T4": 65.0,
}

BERT_BASE = {"vocabulary_size": 30522, "num_layers": 12, "num_heads": 12, "hidden_dim": 768,
             "intermediate_dim": 3072, "max_sequence_length": 512}
# Small enough to check the code path on a CPU in seconds (--force-mfu).
TINY = {"vocabulary_size": 30522, "num_layers": 2, "num_heads": 2, "hidden_dim": 128,
        "intermediate_dim": 512, "max_sequence_length": 128}


def peak_tflops(device_name: str) -> float | None:
    for name in sorted(PEAK_TFLOPS, key=len, reverse=True):  # "H100 PCIe" before "H100"
        if name.lower() in device_name.lower():
            return PEAK_TFLOPS[name]
    return None


def mfu(spec: dict) -> dict:
    import keras
    import keras_hub
    import tensorflow as tf

    from benchmarks.measure import step_throughput
    from tfxfer.finetune.precision import set_mixed_precision

    gpus = tf.config.list_physical_devices("GPU")
    if not gpus and not spec.get("force"):
        return {"skipped": "no GPU: tf.config.list_physical_devices('GPU') is empty"}
    details = tf.config.experimental.get_device_details(gpus[0]) if gpus else {}
    device = details.get("device_name", "CPU (forced, tiny model)")
    config = BERT_BASE if gpus else TINY
    sequence_length, batch = (128, spec.get("batch_size", 64)) if gpus else (32, 8)
    policy = set_mixed_precision(True)

    backbone = keras_hub.models.BertBackbone(**config)
    classifier = keras_hub.models.BertTextClassifier(backbone, num_classes=2, preprocessor=None)
    classifier.compile()  # KerasHub's defaults; jit_compile "auto" (XLA where it can)
    rng = np.random.default_rng(0)
    inputs = {
        "token_ids": tf.constant(rng.integers(1000, config["vocabulary_size"], (batch, sequence_length)), tf.int32),
        "segment_ids": tf.zeros((batch, sequence_length), tf.int32),
        "padding_mask": tf.ones((batch, sequence_length), tf.int32),
    }
    labels = tf.constant(rng.integers(0, 2, batch), tf.int32)
    steps = step_throughput(classifier, (inputs, labels), batch, spec.get("warmup_steps", 5),
                            spec.get("measure_steps", 20))

    embedding = sum(int(np.prod(w.shape)) for w in backbone.weights if "embedding" in w.path)
    non_embedding = int(classifier.count_params()) - embedding
    flops_per_example = (6 * non_embedding * sequence_length
                         + 12 * config["num_layers"] * sequence_length**2 * config["hidden_dim"])
    achieved = steps["examples_per_second"] * flops_per_example
    peak = spec.get("peak_tflops") or (peak_tflops(device) if gpus else None)
    return {
        "device": device, "gpus": len(gpus), "precision_policy": policy, "config": config,
        "sequence_length": sequence_length, "batch_size": batch, "steps": steps,
        "parameters": int(classifier.count_params()), "non_embedding_parameters": non_embedding,
        "model_flops_per_example": flops_per_example, "achieved_tflops": round(achieved / 1e12, 3),
        "peak_tflops": peak, "mfu": round(achieved / (peak * 1e12), 4) if peak else None,
        "keras": keras.__version__,
    }

"""``python -m benchmarks.cache_epochs``: what cached features buy in the frozen phase.

For each backbone, the same phase 1 twice on the same data and seed: once running the frozen
backbone every epoch (``cache_features=False``), once on cached features. Prints the first
epoch of each (tracing, and for the cached run the one pass of the backbone), a later epoch
(uncached: the second; cached: the mean of the second to fourth) and their ratio. Epoch times
come from history.csv's ``seconds`` (the end of each epoch, checkpoints and TensorBoard logs
included, as a user's run pays them). That both give the same head is a test
(tests/test_feature_cache.py), not a benchmark.

Example:

    python -m benchmarks.cache_epochs            # MiniLM and EfficientNet-Lite0, ~10 minutes
    python -m benchmarks.cache_epochs --quick    # a smoke run
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _phase1(spec: dict) -> dict:
    """One phase-1 run in this process; returns its epoch seconds."""
    import keras

    import tfxfer
    from tfxfer.data import demo
    from tfxfer.finetune.checkpoints import Checkpoints

    keras.utils.set_random_seed(0)
    if spec["task"] == "text":
        data = tfxfer.load_text_data(str(demo.rotten_tomatoes_csv()), max_train_examples=spec["examples"],
                                     batch_size=32, seed=0)
        model = tfxfer.build_text_classifier(f"kerashub:{demo.minilm_dir()}", len(data.class_names),
                                             pooling="mean", sequence_length=spec["size"])
    else:
        train = demo.fashion_mnist_folders(classes=10, per_class=spec["examples"] // 10, split="train")
        data = tfxfer.load_image_data(str(train), image_size=(spec["size"],) * 2, batch_size=32, seed=0)
        model = tfxfer.build_image_classifier(f"kerashub:{demo.efficientnet_lite0_dir()}",
                                              len(data.class_names), image_size=(spec["size"],) * 2)
    with tempfile.TemporaryDirectory() as run_dir:
        result = tfxfer.fine_tune(model, data, epochs=spec["epochs"], cache_features=spec["cache"],
                                  early_stopping_patience=0, run_dir=run_dir,
                                  checkpoints=Checkpoints(Path(run_dir) / "checkpoints"), verbose=0)
    ends = result.history["seconds"]
    return {"epoch_seconds": [b - a for a, b in zip([0.0, *ends], ends)],
            "train_examples": data.num_examples["train"], "val_accuracy": result.history["val_accuracy"][-1]}


def _run(spec: dict) -> dict:
    """``spec`` in a fresh process: one side's graphs and memory never touch the other's."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        env = {**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "3",
               "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
        subprocess.run([sys.executable, "-m", "benchmarks.cache_epochs", "--worker", json.dumps(spec), str(out)],
                       check=True, cwd=REPO, env=env)
        return json.loads(out.read_text())


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.cache_epochs", description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="small data, a smoke run")
    p.add_argument("--worker", nargs=2, metavar=("SPEC", "OUT"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        Path(args.worker[1]).write_text(json.dumps(_phase1(json.loads(args.worker[0]))))
        return 0
    import numpy as np

    cases = [("MiniLM-L6, 128 tokens", {"task": "text", "examples": 300 if args.quick else 2000, "size": 128}),
             ("EfficientNet-Lite0, 224 px", {"task": "image", "examples": 200 if args.quick else 1500, "size": 224})]
    rows = []
    for name, spec in cases:
        plain = _run({**spec, "cache": False, "epochs": 2})
        cached = _run({**spec, "cache": True, "epochs": 4})
        uncached_epoch = plain["epoch_seconds"][1]  # the first one traces
        cached_epoch = float(np.mean(cached["epoch_seconds"][1:]))
        rows.append((name, plain["train_examples"], plain["epoch_seconds"][0], uncached_epoch,
                     cached["epoch_seconds"][0], cached_epoch, uncached_epoch / cached_epoch))
    print("| backbone | train examples | uncached 1st epoch | uncached epoch | cached 1st epoch (the pass) "
          "| cached epoch | ratio |")
    print("|---|---|---|---|---|---|---|")
    for name, n, p1, p2, c1, c2, ratio in rows:
        print(f"| {name} | {n} | {p1:.1f}s | {p2:.2f}s | {c1:.1f}s | {c2:.3f}s | {ratio:.0f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``python -m tfxfer.train``: fine-tune a pretrained backbone and export a servable model.

Example:

    python -m tfxfer.train --task image --backbone keras:ResNet50 --train photos/ \\
        --epochs 3 --fine-tune-epochs 2 --unfreeze 30
"""

from __future__ import annotations

import argparse
import sys

from tfxfer.cli import ArgumentParser, run_main, start_tensorflow
from tfxfer.config import RECIPES, STRATEGIES, TrainConfig, field_names, load_yaml
from tfxfer.errors import TfxferError


def _int(minimum: int, maximum: int | None = None):
    def check(value):
        try:
            number = int(str(value))
        except ValueError:
            raise ValueError(f"must be a whole number, got {value!r}") from None
        if number < minimum or (maximum is not None and number > maximum):
            bound = f"between {minimum} and {maximum}" if maximum is not None else f">= {minimum}"
            raise ValueError(f"must be {bound}, got {number}")
        return number
    return check


def _float(low: float, high: float, low_inclusive: bool = False):
    def check(value):
        try:
            number = float(str(value))
        except ValueError:
            raise ValueError(f"must be a number, got {value!r}") from None
        if not (number >= low if low_inclusive else number > low) or not number < high:
            raise ValueError(f"must be {'>=' if low_inclusive else '>'} {low} and < {high}, got {number}")
        return number
    return check


def _choice(*choices):
    def check(value):
        if value not in choices:
            raise ValueError(f"must be one of {', '.join(choices)}, got {value!r}")
        return value
    return check


def _unfreeze(value):
    from tfxfer.freezing import parse_unfreeze

    mode = parse_unfreeze(value)
    return mode if isinstance(mode, str) else str(mode)


def _duration(value):
    from tfxfer.recipe.budget import parse_duration

    seconds = parse_duration(value)
    if not 60 <= seconds <= 7 * 24 * 3600:
        raise ValueError(f"must be between 1m and 7 days, got {value!r}")
    return seconds


def _bool(value):
    if isinstance(value, bool):
        return value
    if str(value).lower() in ("true", "yes", "1"):
        return True
    if str(value).lower() in ("false", "no", "0"):
        return False
    raise ValueError(f"must be true or false, got {value!r}")


# One check per configuration key, shared by flags and --config YAML.
_CHECKS = {
    "task": _choice("image", "text"),
    "recipe": _choice(*RECIPES),
    "epochs": _int(0),
    "fine_tune_epochs": _int(0),
    "unfreeze": _unfreeze,
    "batch_size": _int(1),
    "learning_rate": _float(0.0, 10.0),
    "fine_tune_learning_rate": _float(0.0, 10.0),
    "val_split": _float(0.0, 1.0),
    "early_stopping_patience": _int(0),
    "dropout": _float(0.0, 1.0, low_inclusive=True),
    "image_size": _int(32, 2048),
    "sequence_length": _int(8, 8192),
    "max_train_examples": _int(2),
    "strategy": _choice(*STRATEGIES),
    "collective_timeout": _float(0.0, 1e6),
    "mixed_precision": _bool,
    "cache_features": _bool,
    "jit_compile": _bool,
    "time_budget": _duration,
    "seed": _int(0),
}


def build_parser() -> ArgumentParser:
    p = ArgumentParser(
        prog="python -m tfxfer.train",
        description="Fine-tune a pretrained backbone on your data and export a TF Serving SavedModel.",
        argument_default=None,
    )
    p.add_argument("--config", help="YAML file whose keys mirror these flags (fine_tune_epochs: 2); flags win")
    p.add_argument("--task", help="image or text (default: image for a folder, text for a .csv/.tsv/.jsonl file; "
                                  "needed for tfds:)")
    p.add_argument("--backbone", help="keras:NAME (e.g. keras:ResNet50), kerashub:PRESET_OR_DIR, "
                                      "kerasnlp:PRESET_OR_DIR, tfhub:HANDLE_OR_DIR or hf://ORG/NAME")
    p.add_argument("--weights", help="image: imagenet (default), none or a weights file (keras:); "
                                     "text: pretrained (default) or none")
    p.add_argument("--preprocessor", help="tfhub:HANDLE_OR_DIR of a TF Hub text encoder's preprocessing model")
    p.add_argument("--train", help="image folder (one sub-folder per class), .csv/.tsv/.jsonl, or tfds:NAME[:SPLIT]")
    p.add_argument("--val", help="validation data (default: a stratified --val-split of --train)")
    p.add_argument("--test", help="test data, scored after training")
    p.add_argument("--recipe", help="auto (default): every setting below left unset is decided from your data, "
                                    "backbone and hardware, and printed with its reason at the start; "
                                    "fixed: plain constants (3 head epochs, no fine-tuning, 128 tokens, float32)")
    p.add_argument("--time-budget", help="the whole run's time, e.g. 10m or 1h: the recipe measures a "
                                         "fine-tuning step and fine-tunes for as many epochs as fit")
    p.add_argument("--epochs", help="phase 1 epochs: the head on the frozen backbone (recipe: up to 100 on cached "
                                    "features, stopping early; exactly N when given)")
    p.add_argument("--fine-tune-epochs", help="phase 2 epochs with the backbone unfrozen (recipe: enough for "
                                              "300 steps, 1 to 10; 0 skips phase 2)")
    p.add_argument("--unfreeze", help="phase 2: 'all' (recipe) or the number of top backbone blocks")
    p.add_argument("--batch-size", help="examples per step per replica (recipe: 32); learning rates scale "
                                        "linearly with the number of replicas")
    p.add_argument("--learning-rate", help="phase 1 rate (recipe: 1e-3)")
    p.add_argument("--fine-tune-learning-rate", help="phase 2 rate (recipe: image 1e-4, text 5e-5)")
    p.add_argument("--val-split", help="fraction held out for validation without --val (default 0.1)")
    p.add_argument("--early-stopping-patience", help="epochs without better val loss before a phase stops "
                                                     "and restores its best weights; 0 never (recipe: 5 on "
                                                     "cached features, else 3)")
    p.add_argument("--pooling", help="image: avg or max; text: cls, mean or pooled (recipe: avg; for text the "
                                     "checkpoint's own, e.g. mean for sentence-transformers, else cls)")
    p.add_argument("--dropout", help="dropout before the classifier (recipe: image 0.2, text 0.1)")
    p.add_argument("--image-size", help="square input size in pixels (recipe: the backbone's own)")
    p.add_argument("--sequence-length", help="text: tokens per example (recipe: covers 99%% of the training "
                                             "texts, a multiple of 8, at most the model's maximum)")
    p.add_argument("--text-column", help="text: the column holding the text (default text)")
    p.add_argument("--label-column", help="text: the column holding the label (default label)")
    p.add_argument("--max-train-examples", help="train on a stratified subset of this size")
    p.add_argument("--strategy", help=f"{'|'.join(STRATEGIES)} (default auto)")
    p.add_argument("--collective-timeout", help="multi-worker: seconds a collective waits for the other workers "
                                                "before the run stops (default 300)")
    p.add_argument("--mixed-precision", action=argparse.BooleanOptionalAction,
                   help="bfloat16 compute (float16 on GPUs without bfloat16); probabilities stay float32 "
                        "(recipe: on where the hardware has fast bfloat16)")
    p.add_argument("--cache-features", action=argparse.BooleanOptionalAction,
                   help="phase 1: run the frozen backbone once and train the head on its cached output "
                        "(default on; off by itself, with the reason, where a random layer precedes the head)")
    p.add_argument("--jit-compile", action=argparse.BooleanOptionalAction,
                   help="XLA-compile the training step (text: everything after the tokenizer; recipe: off)")
    p.add_argument("--output", help="run directory (default runs/NAME-TIMESTAMP)")
    p.add_argument("--export-dir", help="where NAME/VERSION/ SavedModels go (default saved_models)")
    p.add_argument("--name", help="model name under --export-dir (default: from --train)")
    p.add_argument("--seed", help="random seed (default 42)")
    return p


def resolve_config(args) -> TrainConfig:
    """--config YAML, then flags on top, every value checked once."""
    values = load_yaml(args.config) if args.config else {}
    values.update({k: v for k, v in vars(args).items() if k not in ("config", "verbose") and v is not None})
    for key, value in list(values.items()):
        if key in _CHECKS and value is not None:
            try:
                values[key] = _CHECKS[key](value)
            except ValueError as e:
                raise TfxferError(f"--{key.replace('_', '-')} {e}") from None
    for required in ("backbone", "train"):
        if not values.get(required):
            raise TfxferError(f"--{required} is required (see --help)")
    if values.get("epochs") == 0 and values.get("fine_tune_epochs") == 0:
        raise TfxferError("--epochs and --fine-tune-epochs are both 0: nothing would train")
    assert set(values) <= set(field_names())
    return TrainConfig(**values)


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    config = resolve_config(args)
    start_tensorflow(args.verbose)
    from tfxfer.runner import run  # TensorFlow starts here, after the arguments are checked

    run(config)
    return 0


if __name__ == "__main__":
    sys.exit(run_main("tfxfer.train", main))

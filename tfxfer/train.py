"""``python -m tfxfer.train``: fine-tune a pretrained backbone and export a servable model.

Example:

```bash
python -m tfxfer.train --task image --backbone keras:ResNet50 --train photos/ \\
    --epochs 3 --fine-tune-epochs 2 --unfreeze 30
```
"""

from __future__ import annotations

import argparse
import sys

from tfxfer.cli.arguments import ArgumentParser
from tfxfer.cli.exit_status import run_main
from tfxfer.cli.tensorflow_start import start_tensorflow
from tfxfer.config import TrainConfig, field_names, flag_help, flag_kind, load_yaml


def build_parser() -> ArgumentParser:
    p = ArgumentParser(
        prog="python -m tfxfer.train",
        description="Fine-tune a pretrained backbone on your data and export a TF Serving SavedModel.",
        argument_default=None,
    )
    p.add_argument("--config", help="YAML file whose keys mirror these flags (fine_tune_epochs: 2); flags win")
    for name in field_names():  # one table: tfxfer.config.TrainConfig's fields, checks and help
        flag = "--" + name.replace("_", "-")
        if flag_kind(name) == "boolean":
            p.add_argument(flag, action=argparse.BooleanOptionalAction, help=flag_help(name))
        else:
            p.add_argument(flag, help=flag_help(name))
    return p


def resolve_config(args) -> TrainConfig:
    """--config YAML, then flags on top; TrainConfig checks every value once."""
    values = load_yaml(args.config) if args.config else {}
    values.update({k: v for k, v in vars(args).items() if k not in ("config", "verbose") and v is not None})
    return TrainConfig(**values)


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    config = resolve_config(args)
    start_tensorflow(args.verbose)
    from tfxfer.run import run  # TensorFlow starts here, after the arguments are checked

    run(config)
    return 0


if __name__ == "__main__":
    sys.exit(run_main("tfxfer.train", main))

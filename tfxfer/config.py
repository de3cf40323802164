"""One configuration dataclass: defaults, loaded from YAML and flags, saved with every run."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, fields
from pathlib import Path

import yaml

from tfxfer.errors import TfxferError

STRATEGIES = ("auto", "default", "mirrored", "multi_worker", "tpu")
RECIPES = ("auto", "fixed")


@dataclass
class TrainConfig:
    """Everything a training run needs; the keys of ``--config FILE.yaml`` are these names."""

    task: str | None = None  # image or text; inferred from --train when it is a folder or a text file
    backbone: str = ""
    train: str = ""
    val: str | None = None
    test: str | None = None
    weights: str | None = None  # image: imagenet; text: pretrained
    preprocessor: str | None = None
    recipe: str = "auto"  # auto: the settings left None are decided from the data (tfxfer.recipe); fixed: constants
    # Left None, each of these is decided by the recipe, which says why at the start of the run.
    epochs: int | None = None
    fine_tune_epochs: int | None = None
    unfreeze: str | None = None
    batch_size: int | None = None
    learning_rate: float | None = None
    fine_tune_learning_rate: float | None = None
    early_stopping_patience: int | None = None
    pooling: str | None = None
    dropout: float | None = None
    image_size: int | None = None
    sequence_length: int | None = None
    mixed_precision: bool | None = None
    jit_compile: bool | None = None
    time_budget: float | None = None  # seconds for the whole run; the recipe sizes fine-tuning to fit
    val_split: float = 0.1
    text_column: str = "text"
    label_column: str = "label"
    max_train_examples: int | None = None
    strategy: str = "auto"
    collective_timeout: float | None = 300.0  # multi-worker: seconds before a lost worker stops the rest
    cache_features: bool = True
    output: str | None = None
    export_dir: str = "saved_models"
    name: str | None = None
    seed: int = 42

    def resolved(self) -> TrainConfig:
        """A copy with the weights and the model name filled in (the recipe decides the rest)."""
        task = self.task or infer_task(self.train)
        return dataclasses.replace(
            self,
            task=task,
            weights=self.weights or ("imagenet" if task == "image" else "pretrained"),
            name=self.name or _default_name(self.train),
        )

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def save(self, path: Path) -> None:
        path.write_text(yaml.safe_dump(self.to_dict(), sort_keys=False))


def infer_task(train: str) -> str:
    """``image`` for a folder, ``text`` for a .csv/.tsv/.jsonl file; ``--task`` decides otherwise."""
    path = Path(str(train))
    if path.suffix.lower() in (".csv", ".tsv", ".jsonl"):
        return "text"
    if path.is_dir():
        return "image"
    if str(train).startswith("tfds:"):
        raise TfxferError(f"--task is needed for {train}: image or text (a tfds: dataset can hold either)")
    if not path.exists():
        raise TfxferError(f"--train {train} does not exist: pass a folder with one sub-folder per class (images) "
                          f"or a .csv/.tsv/.jsonl file (text)")
    raise TfxferError(f"--train {train} is neither a folder of class folders (images) nor a .csv/.tsv/.jsonl "
                      f"file (text); pass --task image or --task text for anything else")


def _default_name(train: str) -> str:
    stem = Path(str(train).removeprefix("tfds:").split(":")[0]).stem or "model"
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in stem) or "model"


def field_names() -> list[str]:
    return [f.name for f in fields(TrainConfig)]


def load_yaml(path: str) -> dict:
    """The keys of a ``--config`` YAML file, checked against :class:`TrainConfig`."""
    file = Path(path)
    if not file.is_file():
        raise TfxferError(f"--config file {path} does not exist")
    try:
        data = yaml.safe_load(file.read_text()) or {}
    except yaml.YAMLError as e:
        raise TfxferError(f"--config file {path} is not valid YAML: {str(e).splitlines()[0]}") from e
    if not isinstance(data, dict):
        raise TfxferError(f"--config file {path} must hold a mapping of flag names to values")
    data = {str(k).replace("-", "_"): v for k, v in data.items()}
    unknown = sorted(set(data) - set(field_names()))
    if unknown:
        raise TfxferError(
            f"--config file {path} has unknown key(s) {', '.join(unknown)}; accepted: {', '.join(field_names())}"
        )
    return data

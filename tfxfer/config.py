"""One configuration dataclass: defaults, loaded from YAML and flags, saved with every run."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, fields
from pathlib import Path

import yaml

from tfxfer.errors import TfxferError

STRATEGIES = ("auto", "default", "mirrored", "multi_worker", "tpu")


@dataclass
class TrainConfig:
    """Everything a training run needs; the keys of ``--config FILE.yaml`` are these names."""

    task: str = "image"
    backbone: str = ""
    train: str = ""
    val: str | None = None
    test: str | None = None
    weights: str | None = None  # image: imagenet; text: pretrained
    preprocessor: str | None = None
    epochs: int = 3
    fine_tune_epochs: int = 0
    unfreeze: str = "all"
    batch_size: int = 32
    learning_rate: float | None = None
    fine_tune_learning_rate: float | None = None
    val_split: float = 0.1
    early_stopping_patience: int = 3
    pooling: str | None = None  # image: avg; text: cls
    dropout: float | None = None  # image: 0.2; text: 0.1
    image_size: int | None = None
    sequence_length: int = 128
    text_column: str = "text"
    label_column: str = "label"
    max_train_examples: int | None = None
    strategy: str = "auto"
    collective_timeout: float | None = 300.0  # multi-worker: seconds before a lost worker stops the rest
    mixed_precision: bool = False
    cache_features: bool = True
    jit_compile: bool = False
    output: str | None = None
    export_dir: str = "saved_models"
    name: str | None = None
    seed: int = 42

    def resolved(self) -> TrainConfig:
        """A copy with the task-dependent defaults filled in."""
        image = self.task == "image"
        return dataclasses.replace(
            self,
            weights=self.weights or ("imagenet" if image else "pretrained"),
            pooling=self.pooling or ("avg" if image else "cls"),
            dropout=self.dropout if self.dropout is not None else (0.2 if image else 0.1),
            name=self.name or _default_name(self.train),
        )

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def save(self, path: Path) -> None:
        path.write_text(yaml.safe_dump(self.to_dict(), sort_keys=False))


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

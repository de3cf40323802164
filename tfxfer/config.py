"""One configuration dataclass: every setting of a run once, with its check and its help.

The flags of ``python -m tfxfer.train``, the keys of ``--config FILE.yaml`` and the Python API
(``tfxfer.run.run(TrainConfig(...))``) are the fields below: each field's metadata holds the
check its value passes (``__post_init__`` runs them, so every way in refuses the same values with
the same message) and the ``--help`` text, to which the field's default is appended. Settings
left ``None`` are decided by the recipe (tfxfer.recipe), which says why at the start of a run.
"""

from __future__ import annotations

import csv
import dataclasses
import os
import re
from dataclasses import dataclass, fields
from pathlib import Path

import yaml

from tfxfer.errors import TfxferError, first_line
from tfxfer.io.atomic import write_text_atomically

# The one default seed: the CLI's --seed and the Python API's data loaders share it.
DEFAULT_SEED = 42
# The most pixels an image may declare in its header before it is decoded (training files and
# served requests alike): Pillow's decompression-bomb limit, the Python image ecosystem's default.
DEFAULT_MAX_IMAGE_PIXELS = 89_478_485

STRATEGIES = ("auto", "default", "mirrored", "multi_worker", "tpu")
# --labels: one class a row, several (tfxfer.data.label_sets), or a number to predict (tfxfer.data.targets)
LABEL_KINDS = ("single", "multi", "numeric")
LOSSES = ("mse", "huber")  # numeric labels
RECIPES = ("auto", "fixed")
PAIR_ENCODINGS = ("packed", "siamese")  # --pair-encoding: one sequence [CLS] a [SEP] b [SEP], or each text alone
LONG_TEXT = ("truncate", "window")  # --long-text: what a text longer than the sequence length becomes
_DURATION_UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0}


def _int(minimum: int, maximum: int | None = None):
    def check(value):
        if isinstance(value, bool):
            raise ValueError(f"must be a whole number, got {value!r}")
        try:
            number = int(str(value))
        except ValueError:
            raise ValueError(f"must be a whole number, got {value!r}") from None
        if number < minimum or (maximum is not None and number > maximum):
            bound = f"between {minimum} and {maximum}" if maximum is not None else f">= {minimum}"
            raise ValueError(f"must be {bound}, got {number}")
        return number
    return check


def _float(low: float, high: float, low_inclusive: bool = False, high_inclusive: bool = False):
    def check(value):
        try:
            number = float(str(value))
        except ValueError:
            raise ValueError(f"must be a number, got {value!r}") from None
        if (not (number >= low if low_inclusive else number > low)
                or not (number <= high if high_inclusive else number < high)):
            raise ValueError(f"must be {'>=' if low_inclusive else '>'} {low} and {'<=' if high_inclusive else '<'} "
                             f"{high}, got {number}")
        return number
    return check


def _choice(*choices):
    def check(value):
        if value not in choices:
            raise ValueError(f"must be one of {', '.join(choices)}, got {value!r}")
        return value
    return check


def _bool(value):
    if isinstance(value, bool):
        return value
    if str(value).lower() in ("true", "yes", "1"):
        return True
    if str(value).lower() in ("false", "no", "0"):
        return False
    raise ValueError(f"must be true or false, got {value!r}")


def parse_unfreeze(value) -> str | int:
    """'all' | 'frozen' | N >= 0 (0 means frozen)."""
    if isinstance(value, str) and value.strip().lower() in ("all", "frozen", "none"):
        return "frozen" if value.strip().lower() in ("frozen", "none") else "all"
    try:
        n = int(value)
    except (TypeError, ValueError):
        raise TfxferError(f"--unfreeze must be 'all' or a number of top layers >= 0, got {value!r}") from None
    if n < 0 or str(value).strip() != str(n):
        raise TfxferError(f"--unfreeze must be 'all' or a number of top layers >= 0, got {value!r}")
    return "frozen" if n == 0 else n


def _class_weight(value):
    """balanced | none | an existing file; the file's names are checked once the classes are known."""
    text = str(value).strip()
    if text.lower() in ("balanced", "none"):
        return text.lower()
    if Path(text).is_file():
        return text
    raise ValueError(f"must be balanced, none, or a YAML/JSON file mapping class names to weights; "
                     f"{text!r} is not a word of these and no file of that name exists")


def text_columns(value) -> tuple[str, ...]:
    """``--text-column``: one column (``text``) or two, comma-separated (``question,answer``:
    sentence pairs, both texts packed into one input by the backbone's own tokenizer)."""
    names = tuple(name.strip() for name in str(value).split(","))
    if not 1 <= len(names) <= 2 or not all(names) or len(set(names)) != len(names):
        raise ValueError(f"must name one text column (text) or two different ones for sentence pairs "
                         f"(sentence1,sentence2), got {value!r}")
    return names


def _text_column(value) -> str:
    return ",".join(text_columns(value))


def _unfreeze(value):
    mode = parse_unfreeze(value)
    return mode if isinstance(mode, str) else str(mode)


def parse_duration(value) -> float:
    """Seconds in ``10m``, ``90s``, ``1h30m`` or a plain number of seconds."""
    text = str(value).strip().lower()
    try:
        return float(text)
    except ValueError:
        pass
    parts = re.fullmatch(r"(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s)?", text)
    if not text or parts is None:
        raise ValueError(f"must be a duration such as 10m, 90s or 1h30m, got {value!r}")
    return sum(float(n) * _DURATION_UNITS[u] for n, u in zip(parts.groups(), "hms", strict=True) if n)


def _duration(value):
    seconds = parse_duration(value)
    if not 60 <= seconds <= 7 * 24 * 3600:
        raise ValueError(f"must be between 1m and 7 days, got {value!r}")
    return seconds


def check_model_name(value) -> str:
    """A model name is one directory under ``--export-dir``: no path separators, no ``..``."""
    name = str(value)
    if not name or name in (".", "..") or "/" in name or "\\" in name or ".." in name or name.startswith("."):
        raise ValueError(f"must be one folder name under --export-dir, without '/', '\\', '..' or a leading '.', "
                         f"got {name!r}")
    return name


def _setting(default=None, help: str = "", check=None, flag: dict | None = None, shown: str | None = None):
    """A field of :class:`TrainConfig`: its default, ``--help`` text, check and argparse extras
    (``shown``: how --help states the default, when not the value itself)."""
    return dataclasses.field(default=default, metadata={"help": help, "check": check, "flag": flag or {},
                                                        "shown": shown})


_BOOLEAN = {"action": "boolean"}
_RECIPE = "the recipe's"


@dataclass
class TrainConfig:
    """Everything a training run needs; the keys of ``--config FILE.yaml`` are these names.

    Example:

    ```python
    from tfxfer.config import TrainConfig
    from tfxfer.errors import TfxferError

    config = TrainConfig(backbone="kerashub:bert_tiny_en_uncased", train="reviews.csv", epochs=2)
    assert config.epochs == 2
    try:
        TrainConfig(backbone="kerashub:bert_tiny_en_uncased", train="reviews.csv", epochs=-1)
    except TfxferError as e:
        print(e)  # the line the CLI prints for --epochs -1
    ```
    """

    task: str | None = _setting(None, "image or text", _choice("image", "text"),
                                shown="image for a folder or a CSV manifest with a path column, text for a "
                                      ".csv/.tsv/.jsonl file with the text column; needed for tfds:")
    backbone: str = _setting("", "keras:NAME (e.g. keras:ResNet50), kerashub:PRESET_OR_DIR, kerasnlp:PRESET_OR_DIR, "
                                 "tfhub:HANDLE_OR_DIR or hf://ORG/NAME (required)")
    train: str = _setting("", "image folder (one sub-folder per class) or CSV manifest (header path,label; paths "
                              "relative to it), text .csv/.tsv/.jsonl, or tfds:NAME[:SPLIT] (required)")
    val: str | None = _setting(None, "validation data", shown="a stratified --val-split of --train")
    test: str | None = _setting(None, "test data, scored after training")
    weights: str | None = _setting(None, "image: imagenet, none or a weights file (keras:); text: pretrained or none",
                                   shown="imagenet / pretrained")
    preprocessor: str | None = _setting(None, "tfhub:HANDLE_OR_DIR of a TF Hub text encoder's preprocessing model")
    recipe: str = _setting("auto", "auto: every setting below left unset is decided from your data, backbone and "
                                   "hardware, and printed with its reason at the start; fixed: the constants of "
                                   "tfxfer.recipe.FIXED (3 head epochs, no fine-tuning, 128 tokens, float32)",
                           _choice(*RECIPES))
    time_budget: float | None = _setting(None, "the whole run's time, e.g. 10m or 1h: the recipe measures a "
                                               "fine-tuning step and fine-tunes for as many epochs as fit",
                                         _duration)
    # Left None, each of these is decided by the recipe, which says why at the start of the run.
    epochs: int | None = _setting(None, "phase 1 epochs: the head on the frozen backbone; exactly N when given",
                                  _int(0), shown=_RECIPE + ": images up to 100 on cached features, stopping "
                                                           "early; text 3 before fine-tuning")
    fine_tune_epochs: int | None = _setting(None, "phase 2 epochs with the backbone unfrozen; 0 skips phase 2",
                                            _int(0), shown=_RECIPE + ": text 300 steps, at most 10 epochs; images 60 steps, 2 to 5 epochs")
    unfreeze: str | None = _setting(None, "phase 2: 'all' or the number of top backbone blocks", _unfreeze,
                                    shown=_RECIPE)
    batch_size: int | None = _setting(None, "examples per step per replica; learning rates scale linearly with "
                                            "the number of replicas", _int(1), shown=_RECIPE)
    learning_rate: float | None = _setting(None, "phase 1 rate", _float(0.0, 10.0), shown=_RECIPE)
    fine_tune_learning_rate: float | None = _setting(None, "phase 2 rate", _float(0.0, 10.0), shown=_RECIPE)
    layer_decay: float | None = _setting(None, "text: phase 2's rate multiplies by this once per transformer block "
                                               "downwards from the head (1: one rate for every layer)",
                                         _float(0.0, 1.0, high_inclusive=True), shown=_RECIPE)
    early_stopping_patience: int | None = _setting(None, "epochs without better val loss before a phase stops and "
                                                         "restores its best weights; 0 never", _int(0), shown=_RECIPE)
    pooling: str | None = _setting(None, "image: avg or max; text: cls, mean or pooled",
                                   shown=_RECIPE + ": avg; for text the checkpoint's own")
    dropout: float | None = _setting(None, "dropout before the classifier", _float(0.0, 1.0, low_inclusive=True),
                                     shown=_RECIPE)
    class_weight: str | None = _setting(None, "how much each class counts in the loss (both phases): balanced "
                                              "(n / (classes x the class's count)), none, or a YAML/JSON file "
                                              "mapping class names to weights (a class left out weighs 1)",
                                        _class_weight,
                                        shown=_RECIPE + ": balanced when the largest class has >= 5x the "
                                                        "examples of the smallest")
    image_size: int | None = _setting(None, "square input size in pixels", _int(32, 2048),
                                      shown=_RECIPE + ": the backbone's own")
    max_image_pixels: int = _setting(DEFAULT_MAX_IMAGE_PIXELS, "image: the most pixels (width x height, read from "
                                     "the header before decoding) an image may have; larger training files are "
                                     "left out, larger served images refused (decompression bombs)", _int(1))
    sequence_length: int | None = _setting(None, "text: tokens per example", _int(8, 8192),
                                           shown=_RECIPE + ": covers 99%% of the training texts")
    long_text: str | None = _setting(None, "text: a text longer than --sequence-length tokens is cut to its first "
                                           "tokens (truncate), or read as windows of --sequence-length tokens every "
                                           "--window-stride tokens whose logits are averaged (multi-label: each class's "
                                           "largest probability), the same in training, "
                                           "evaluation and the export (window; single texts, kerashub: backbones)",
                                     _choice(*LONG_TEXT),
                                     shown=_RECIPE + ": window when more than 10%% of the training texts are longer "
                                                     "than the sequence length")
    window_stride: int | None = _setting(None, "--long-text window: tokens from one window's start to the next's, "
                                               "in (0, tokens per window] (the sequence length less [CLS] and [SEP])",
                                         _int(1), shown="half a window")
    max_windows: int | None = _setting(None, "--long-text window: the most windows a text is read as (the end of a "
                                             "longer text is left out), so that one huge text cannot exhaust memory",
                                       _int(1, 256), shown="8")
    mixed_precision: bool | None = _setting(None, "bfloat16 compute (float16 on GPUs without bfloat16); "
                                                  "probabilities stay float32", _bool, _BOOLEAN,
                                            shown=_RECIPE + ": on where the hardware has fast bfloat16")
    jit_compile: bool | None = _setting(None, "XLA-compile the training step (text: everything after the "
                                              "tokenizer)", _bool, _BOOLEAN, shown=_RECIPE)
    val_split: float = _setting(0.1, "fraction held out for validation without --val", _float(0.0, 1.0))
    text_column: str = _setting("text", "text: the column holding the text, or two comma-separated columns for "
                                        "sentence pairs (sentence1,sentence2; see --pair-encoding)",
                                _text_column)
    pair_encoding: str | None = _setting(None, "sentence pairs: packed (both texts in one sequence, [CLS] a [SEP] "
                                               "b [SEP]: a cross-encoder) or siamese (each text through the same "
                                               "encoder alone, the head on the two embeddings: a bi-encoder)",
                                         _choice(*PAIR_ENCODINGS),
                                         shown=_RECIPE + ": siamese for numeric labels on a sentence-transformers "
                                                         "checkpoint (modules.json), else packed")
    label_column: str = _setting("label", "text: the column holding the label")
    labels: str | None = _setting(None, "single: one class a row; multi: a set of classes a row ('a|b' or a "
                                        "JSON list; text files, or an image manifest path,labels); numeric: one number a row, predicted by "
                                        "regression (text files)", _choice(*LABEL_KINDS),
                                  shown="multi when a label cell holds a set ('a|b' or a JSON list), numeric for a "
                                        "column of numbers with many distinct values, single for names; asked "
                                        "when a column of numbers could be either")
    loss: str | None = _setting(None, "numeric labels: mse or huber, on the standardised target", _choice(*LOSSES),
                                shown=_RECIPE + ": mse")
    max_train_examples: int | None = _setting(None, "train on a stratified subset of this size", _int(2))
    strategy: str = _setting("auto", "|".join(STRATEGIES), _choice(*STRATEGIES))
    collective_timeout: float | None = _setting(300.0, "multi-worker: seconds a collective waits for the other "
                                                       "workers before the run stops", _float(0.0, 1e6))
    cache_features: bool = _setting(True, "phase 1: run the frozen backbone once and train the head on its cached "
                                          "output (off by itself, with the reason, where a random layer precedes "
                                          "the head)", _bool, _BOOLEAN)
    output: str | None = _setting(None, "run directory", shown="runs/NAME-TIMESTAMP")
    keep_checkpoints: bool = _setting(False, "keep checkpoints/ (every epoch's weights with optimizer state) in a "
                                             "finished run; without it the run keeps its final weights once, in "
                                             "model.weights.h5", _bool, _BOOLEAN)
    export_dir: str = _setting("saved_models", "where NAME/VERSION/ SavedModels go")
    name: str | None = _setting(None, "model name under --export-dir", check_model_name,
                                shown="the dataset's folder or file name, e.g. flowers for flowers/train/")
    seed: int = _setting(DEFAULT_SEED, "random seed", _int(0))

    def __post_init__(self):
        """Checks every value as the CLI does (so ``run(TrainConfig(...))`` refuses the same)."""
        for f in fields(self):
            value, check = getattr(self, f.name), f.metadata["check"]
            if value is not None and check is not None:
                try:
                    setattr(self, f.name, check(value))
                except ValueError as e:
                    raise TfxferError(f"--{f.name.replace('_', '-')} {e}") from None
        for required in ("backbone", "train"):
            if not getattr(self, required):
                raise TfxferError(f"--{required} is required (see --help)")
        if self.epochs == 0 and self.fine_tune_epochs == 0:
            raise TfxferError("--epochs and --fine-tune-epochs are both 0: nothing would train")
        # Checked again once the labels are decided from the data (run() replaces them in).
        if self.labels == "numeric" and self.class_weight not in (None, "none"):
            raise TfxferError("--class-weight weighs classes; numeric labels have none: leave it out, or pass "
                              "--labels single to train classes")
        if self.labels == "multi" and self.class_weight not in (None, "none"):
            raise TfxferError(f"--class-weight {self.class_weight} weighs one class a row; multi-label rows hold "
                              f"several: leave it out (or pass --class-weight none)")
        if self.loss is not None and self.labels in ("single", "multi"):
            raise TfxferError("--loss is for numeric labels (classes always train with cross-entropy): pass "
                              "--labels numeric or leave --loss out")
        self._check_long_text()

    def _check_long_text(self) -> None:
        for flag in ("window_stride", "max_windows"):
            if getattr(self, flag) is not None and self.long_text != "window":
                raise TfxferError(f"--{flag.replace('_', '-')} is for --long-text window: pass --long-text window "
                                  f"too, or leave it out")
        if self.long_text == "window" and self.text_pair:
            raise TfxferError("--long-text window reads one text a row; sentence pairs (--text-column a,b) are "
                              "truncated: leave --long-text out or pass truncate")
        if self.pair_encoding is not None and not self.text_pair:
            raise TfxferError(f"--pair-encoding {self.pair_encoding} is for sentence pairs: name two text columns "
                              f"(--text-column a,b), or leave --pair-encoding out")
        if (self.window_stride is not None and self.sequence_length is not None
                and not self.window_stride <= self.sequence_length - 2):
            raise TfxferError(f"--window-stride must be in (0, {self.sequence_length - 2}], the tokens of a window at "
                              f"--sequence-length {self.sequence_length} ([CLS] and [SEP] take 2): a longer stride "
                              f"would skip tokens; got {self.window_stride}")

    @property
    def text_pair(self) -> bool:
        """``--text-column`` names two columns: the model reads sentence pairs."""
        return len(text_columns(self.text_column)) == 2

    def resolved(self) -> TrainConfig:
        """A copy with the weights and the model name filled in (the recipe decides the rest)."""
        task = self.task or infer_task(self.train, self.text_column)
        if task == "image" and (self.long_text or self.window_stride or self.max_windows):
            raise TfxferError("--long-text, --window-stride and --max-windows are for text models; leave them out "
                              "for images")
        if task == "text" and self.image_size is not None:
            raise TfxferError(f"--image-size {self.image_size} is for image models; a text model reads "
                              f"--sequence-length tokens: leave --image-size out")
        if task == "image" and self.layer_decay is not None:
            raise TfxferError("--layer-decay is for text models (it decays the rate per transformer block); "
                              "leave it out for images")
        if task == "image" and self.label_column != "label":
            raise TfxferError(f"--label-column {self.label_column} names a text file's label column; images read "
                              f"theirs from a manifest's label (or labels) column or a class folder's name: rename "
                              f"the manifest's column to label, or leave --label-column out")
        if self.labels == "numeric" and (task == "image" or str(self.train).startswith("tfds:")):
            raise TfxferError("--labels numeric reads its targets from a text .csv/.tsv/.jsonl file's label column; "
                              f"{'images' if task == 'image' else 'tfds: datasets'} take --labels single")
        if self.labels == "multi" and str(self.train).startswith("tfds:"):
            raise TfxferError("--labels multi reads its label sets from a .csv/.tsv/.jsonl file (images: a CSV "
                              "manifest path,labels); tfds: datasets take --labels single")
        return dataclasses.replace(
            self,
            task=task,
            weights=self.weights or ("imagenet" if task == "image" else "pretrained"),
            name=self.name or _default_name(self.train),
        )

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def save(self, path: Path) -> None:
        write_text_atomically(path, yaml.safe_dump(self.to_dict(), sort_keys=False))


def infer_task(train: str, text_column: str = "text") -> str:
    """``image`` for a folder or a CSV image manifest (a ``path`` column and no text column),
    ``text`` for a .csv/.tsv/.jsonl file with a text column; ``--task`` decides otherwise."""
    path = Path(str(train))
    if path.suffix.lower() == ".csv" and path.is_file():
        header = _csv_header(path)
        columns = text_columns(text_column)
        missing = [column for column in columns if column not in header]
        if len(columns) == 2 and header and missing:  # two text columns: sentence pairs, never images
            raise TfxferError(f"--train {train} has no {missing[0]!r} column for the sentence pairs --text-column "
                              f"{text_column} names; its columns are {','.join(header)}{header_hint(header)}")
        if "path" in header and missing:
            return "image"
        if header and missing:
            raise TfxferError(f"--train {train} has neither a {missing[0]!r} column (text data; --text-column names "
                              f"another) nor a 'path' column (an image manifest: a header row path,label); its "
                              f"header is {','.join(header)}{header_hint(header)}")
    if path.suffix.lower() in (".csv", ".tsv", ".jsonl"):
        return "text"
    if path.is_dir():
        return "image"
    if str(train).startswith("tfds:"):
        raise TfxferError(f"--task is needed for {train}: image or text (a tfds: dataset can hold either)")
    if not path.exists():
        raise TfxferError(f"--train {train} does not exist: pass a folder with one sub-folder per class or a CSV "
                          f"manifest path,label (images), or a .csv/.tsv/.jsonl file (text)")
    raise TfxferError(f"--train {train} is neither a folder of class folders or a CSV manifest (images) nor a "
                      f".csv/.tsv/.jsonl file (text); pass --task image or --task text for anything else")


def header_hint(header: list[str]) -> str:
    """What to add to a missing-column message when the header row is not one: a comment line,
    or a tab-separated header in a file read as comma-separated."""
    if header and header[0].lstrip().startswith("#"):
        return ("; its first line starts with '#': comment lines are not skipped, the first line is the header: "
                "delete the comment lines")
    if any("\t" in column for column in header):
        return "; its header holds tabs: a tab-separated file is read as one when its name ends in .tsv"
    return ""


def _csv_header(path: Path) -> list[str]:
    """The column names of a CSV file's first row; [] where it has none or cannot be read (the
    data reader then names the problem)."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            return [column.strip() for column in next(csv.reader(f), [])]
    except (OSError, UnicodeDecodeError, csv.Error):
        return []


# Leaf names that say which split, not which dataset: the default name skips them and takes the
# folder above, so that flowers/train/ and reviews/train.csv do not both export to train/.
_GENERIC_NAMES = {"train", "training", "trainset", "train_set", "train_data", "data", "dataset", "datasets",
                  "images", "imgs", "img", "text", "texts", "csv", "all", "full", "raw",
                  "input", "inputs", "files", "labeled", "labelled"}


def _default_name(train: str) -> str:
    """The dataset's name: a tfds: dataset's, else the training file's or folder's, or the
    first folder above it that is not a generic split or data name (see _GENERIC_NAMES)."""
    if str(train).startswith("tfds:"):
        parts = [str(train).removeprefix("tfds:").split(":")[0]]
    else:
        path = Path(os.path.abspath(str(train)))
        parts = [path.stem, *(parent.name for parent in path.parents)]
    stem = next((part for part in parts if part and part.lower() not in _GENERIC_NAMES), parts[0]) or "model"
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in stem).strip("_") or "model"


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
        raise TfxferError(f"--config file {path} is not valid YAML: {first_line(e)}") from e
    if not isinstance(data, dict):
        raise TfxferError(f"--config file {path} must hold a mapping of flag names to values")
    data = {str(k).replace("-", "_"): v for k, v in data.items()}
    unknown = sorted(set(data) - set(field_names()))
    if unknown:
        raise TfxferError(
            f"--config file {path} has unknown key(s) {', '.join(unknown)}; accepted: {', '.join(field_names())}"
        )
    return data


def flag_help(name: str) -> str:
    """``--help`` text of a field: what it takes, and its default (or who decides it)."""
    f = next(f for f in fields(TrainConfig) if f.name == name)
    default = f.metadata["shown"] or (None if f.default is None else str(f.default).lower()
                                      if isinstance(f.default, bool) else f.default)
    return f.metadata["help"] + (f" (default {default})" if default not in (None, "") else "")


def flag_kind(name: str) -> str:
    """``boolean`` for on/off settings (``--x`` / ``--no-x``), else ``value``."""
    f = next(f for f in fields(TrainConfig) if f.name == name)
    return f.metadata["flag"].get("action", "value")

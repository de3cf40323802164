"""The facts the recipe decides from: the training data's statistics, what the backbone's
checkpoint says about itself, and what the hardware runs fast."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from tfxfer.errors import first_line
from tfxfer.recipe.rules import Facts

log = logging.getLogger("tfxfer")

_TOKENIZE_BATCH = 2048


def gather(task: str, backbone: str, train_inputs: list[str], num_classes: int, *, cached: bool,
           replicas: int = 1, preprocessor: str | None = None, examples: int | None = None,
           class_counts: tuple[int, ...] | None = None, labels: str = "single",
           train_pairs: list[str] | None = None) -> Facts:
    """Facts about one run's training data (``train_inputs``: texts or image paths; empty for
    streamed data, whose size is ``examples``; ``class_counts``: examples per class; ``labels``:
    single, multi or numeric; ``train_pairs``: the second texts of sentence pairs), backbone and
    hardware."""
    import tensorflow as tf

    facts = dict(task=task, examples=len(train_inputs) if examples is None else examples, classes=num_classes,
                 cached=cached, bf16=fast_bfloat16(), replicas=replicas,
                 gpu=bool(tf.config.list_physical_devices("GPU")), architecture=architecture(backbone),
                 class_counts=class_counts, labels=labels, text_pairs=train_pairs is not None)
    if task == "text" and preprocessor is None and train_inputs:
        directory = _local_kerashub_dir(backbone)
        facts.update(**_text_lengths(backbone, train_inputs, train_pairs),
                     max_length=max_sequence_length(directory) if directory else None,
                     checkpoint_pooling=checkpoint_pooling(directory) if directory else None)
    return Facts(**facts)


def architecture(backbone: str) -> str | None:
    """The backbone's architecture as its URI or its checkpoint's config.json names it
    (``keras:MobileNetV3Small``: MobileNetV3Small; a timm checkpoint: ``architecture``; a
    KerasHub preset directory: its registered class), without loading it; None if unknown."""
    from tfxfer.models.backbones import split_uri

    scheme, name = split_uri(backbone)
    if scheme == "keras":
        return name
    directory = _local_kerashub_dir(backbone)
    if directory is None:
        return name if scheme == "kerashub" else None  # a preset's name names its architecture
    try:
        config = json.loads((directory / "config.json").read_text())
    except (OSError, ValueError):
        return None
    found = config.get("architecture") or config.get("registered_name") or config.get("class_name")
    return str(found) if found else None


def _local_kerashub_dir(backbone: str) -> Path | None:
    from tfxfer.models.backbones import split_uri

    scheme, name = split_uri(backbone)
    path = Path(name).expanduser()
    return path if scheme == "kerashub" and path.is_dir() else None


def fast_bfloat16() -> str | None:
    """Why bfloat16 compute is fast on this machine, or None where it is not."""
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        capability = tf.config.experimental.get_device_details(gpus[0]).get("compute_capability", (0, 0))
        if capability[0] >= 8:
            return f"this GPU (compute capability {capability[0]}.{capability[1]}) has bfloat16 tensor cores"
        return None
    try:
        flags = set(Path("/proc/cpuinfo").read_text().split())
    except OSError:
        return None
    units = [name for flag, name in (("amx_bf16", "AMX"), ("avx512_bf16", "AVX-512 BF16")) if flag in flags]
    if units:
        return f"this CPU has {' and '.join(units)} units (about 2x faster steps, docs/keras3_notes.md)"
    return None


def checkpoint_pooling(directory: Path) -> tuple[str, str] | None:
    """The pooling a sentence-transformers checkpoint was trained with, from its own files:
    ``modules.json`` names a Pooling module whose ``config.json`` sets the mode."""
    modules_file = directory / "modules.json"
    try:
        modules = json.loads(modules_file.read_text())
    except (OSError, ValueError):
        return None
    pooling = next((m for m in modules if str(m.get("type", "")).endswith(".Pooling")), None)
    if pooling is None:
        return None
    config_file = directory / pooling.get("path", "1_Pooling") / "config.json"
    try:
        config = json.loads(config_file.read_text())
    except (OSError, ValueError):  # sentence-transformers' default pooling is the mean
        return "mean", f"{modules_file.name} names a Pooling module, mean by default"
    if config.get("pooling_mode_cls_token"):
        return "cls", f"{config_file.parent.name}/{config_file.name}"
    return "mean", f"{config_file.parent.name}/{config_file.name}"


def max_sequence_length(directory: Path) -> int | None:
    """The longest sequence a local KerasHub preset or Hugging Face checkpoint takes."""
    try:
        config = json.loads((directory / "config.json").read_text())
    except (OSError, ValueError):
        return None
    value = config.get("max_position_embeddings") or (config.get("config") or {}).get("max_sequence_length")
    return int(value) if value else None


def _text_lengths(backbone: str, texts: list[str], pairs: list[str] | None) -> dict:
    """``token_lengths`` (packed, for pairs) and, for pairs, ``apart_lengths``: each text of
    both columns alone, with its own [CLS] and [SEP]; every text tokenized once."""
    lengths = token_lengths(backbone, texts)
    if pairs is None or lengths is None:
        return {"token_lengths": lengths}
    second = token_lengths(backbone, pairs)
    return {"token_lengths": lengths + second - 1, "apart_lengths": np.concatenate([lengths, second])}


def token_lengths(backbone: str, texts: list[str], pairs: list[str] | None = None) -> np.ndarray | None:
    """Tokens per text as the KerasHub backbone's own tokenizer counts them, with the two
    special tokens ([CLS], [SEP]); for sentence pairs (``pairs``: each text's second text),
    the packed pair's length, both texts and three special tokens ([CLS] a [SEP] b [SEP]).
    None where the tokenizer cannot be loaded on its own."""
    import keras_hub
    import tensorflow as tf

    from tfxfer.models.backbones import split_uri

    scheme, name = split_uri(backbone)
    if scheme != "kerashub":
        return None
    looks_like_path = "/" in name or name.startswith(".")
    if looks_like_path and not Path(name).expanduser().is_dir():
        return None  # a directory that does not exist: the model loader says so in one line
    preset = str(Path(name).expanduser().resolve()) if Path(name).expanduser().is_dir() else name
    try:
        tokenizer = keras_hub.tokenizers.Tokenizer.from_preset(preset)
    except Exception as e:  # noqa: BLE001 - the model loader reports loading errors properly
        log.info("token lengths not measured: the tokenizer of %s did not load alone (%s)", backbone, first_line(e))
        return None
    def counted(batch: list[str]) -> list[int]:
        tokens = tokenizer(tf.constant(batch))
        return [len(t) for t in (tokens.to_list() if hasattr(tokens, "to_list") else tokens)]

    lengths = []
    for start in range(0, len(texts), _TOKENIZE_BATCH):
        lengths.extend(n + 2 for n in counted(texts[start:start + _TOKENIZE_BATCH]))
    if pairs is not None:
        for start in range(0, len(pairs), _TOKENIZE_BATCH):
            for i, n in enumerate(counted(pairs[start:start + _TOKENIZE_BATCH]), start=start):
                lengths[i] += n + 1
    return np.array(lengths, dtype=np.int64)

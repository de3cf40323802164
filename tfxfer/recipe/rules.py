"""The recipe's rules: every default of a run, each with the reason it was chosen.

Read it like BiT's HyperRule: a few lines per setting, from :class:`Facts` about the task, the
backbone, the training data and the hardware to a value and a one-line reason. A setting the
user gave (a flag or a YAML key) is kept and marked "set by you"; ``--recipe fixed`` takes the
plain constants of :data:`FIXED` instead. Nothing here imports TensorFlow.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

# The settings the recipe owns, per task, in the order the table prints them.
SETTINGS = {
    "text": ("sequence_length", "long_text", "pooling", "dropout", "class_weight", "batch_size", "epochs", "learning_rate",
             "early_stopping_patience", "fine_tune_epochs", "unfreeze", "fine_tune_learning_rate",
             "layer_decay", "mixed_precision", "jit_compile"),
    "image": ("image_size", "pooling", "dropout", "class_weight", "batch_size", "epochs", "learning_rate",
              "early_stopping_patience", "fine_tune_epochs", "unfreeze", "fine_tune_learning_rate",
              "mixed_precision", "jit_compile"),
}



def settings_of(task: str, labels: str = "single", pairs: bool = False) -> tuple[str, ...]:
    """The settings the recipe owns for ``task`` and kind of labels, in table order: numeric
    labels add ``loss`` (after the class weights, which they have none of); sentence pairs
    (``pairs``) add ``pair_encoding``, first, since the sequence length and the head depend on it."""
    names = ("pair_encoding", *SETTINGS[task]) if pairs else SETTINGS[task]
    if labels != "numeric":
        return names
    at = names.index("class_weight") + 1
    return (*names[:at], "loss", *names[at:])


# --recipe fixed: the same constants whatever the data (tfxfer 0.1's defaults).
FIXED = {
    "text": {"pair_encoding": "packed", "sequence_length": 128, "long_text": "truncate", "pooling": "cls", "dropout": 0.1, "class_weight": "none", "batch_size": 32,
             "epochs": 3,
             "learning_rate": 1e-3, "early_stopping_patience": 3, "fine_tune_epochs": 0, "unfreeze": "all",
             "fine_tune_learning_rate": 5e-5, "layer_decay": 1.0, "mixed_precision": False, "jit_compile": False},
    "image": {"image_size": None, "pooling": "avg", "dropout": 0.2, "class_weight": "none", "batch_size": 32,
              "epochs": 3,
              "learning_rate": 1e-3, "early_stopping_patience": 3, "fine_tune_epochs": 0, "unfreeze": "all",
              "fine_tune_learning_rate": 1e-5, "mixed_precision": False, "jit_compile": False},
}

HEAD_EPOCHS_CACHED = 100    # a head epoch on cached features costs milliseconds
HEAD_EPOCHS_UNCACHED = 3    # each one runs the whole backbone
HEAD_EPOCHS_BEFORE_FINE_TUNING = 3  # text: a warm head, not a converged one, before the encoder trains
FINE_TUNE_MIN_STEPS = 300   # text: small data needs more passes to fine-tune well (Mosbach et al., 2021)
FINE_TUNE_MAX_EPOCHS = 10
# Images: a step runs the whole CNN forward and back at full resolution (~100x a head step), and
# on Fashion-MNIST 10x40 5 epochs (60 steps) scored as 10 did (0.818 both) in half the time.
IMAGE_FINE_TUNE_MIN_STEPS = 60
IMAGE_FINE_TUNE_EPOCHS = (2, 5)  # fewest, most
LAYER_DECAY = 1.0  # text fine-tuning: one rate for every block
LAYER_DECAY_WHY = ("one rate for every block: ELECTRA's layer-wise decay of 0.8 scored lower here (Rotten Tomatoes "
                   "0.804 against 0.816, TREC 0.892 against 0.896; benchmarks/RESULTS.md)")
# Image families built of depthwise convolutions: on an AMX CPU bfloat16 made their training steps
# slower (224 px, batch 32: EfficientNet-Lite0 4.1 s against 3.0 s in float32, EfficientNetB0 6.7
# against 4.3, MobileNetV3Small 1.8 against 0.8); ResNet50's dense convolutions gain (6.4 against 7.6).
DEPTHWISE_ARCHITECTURES = ("efficientnet", "mobilenet")
TEXT_COVERAGE = 0.99        # share of the training texts the sequence length covers untruncated
# Classes this many times apart in size get balanced class weights: on trec500 (ABBR 14.5x rarer
# than ENTY) they raised held-out balanced accuracy from 0.864 to 0.894 (ABBR recall 0.625 to 0.812)
# at the same accuracy, two seeds (benchmarks/RESULTS.md). The threshold itself was not swept.
IMBALANCE_RATIO = 5.0
REGRESSION_LOSS = "mse"
# Text: windows (--long-text window) when more than this share of the training texts is longer than
# the sequence length (which covers 99% of them unless the model's maximum caps it).
LONG_TEXT_SHARE = 0.10
# Sentence pairs on a sentence-transformers checkpoint, encoded apart (--pair-encoding siamese):
# the held-out Spearman on SimLex-999 (python -m benchmarks.word_similarity), said in the reason.
SIAMESE_SIMLEX = "0.69"
SIAMESE_TREC_PAIRS = "0.542"  # python -m benchmarks.pairs, the siamese side: why classes stay packed


@dataclass(frozen=True)
class Facts:
    """What the recipe decides from (gathered by :func:`tfxfer.recipe.facts.gather`)."""

    task: str
    examples: int                       # training examples (after the val split)
    classes: int
    cached: bool                        # phase 1 can train the head on cached features
    bf16: str | None = None             # why bfloat16 is fast here; None where it is not
    replicas: int = 1
    token_lengths: np.ndarray | None = None        # tokens per training text, special tokens included
    max_length: int | None = None                  # the backbone's longest sequence
    checkpoint_pooling: tuple[str, str] | None = None  # (pooling, the file that says so)
    image_size: int | None = None                  # the backbone's own input size
    gpu: bool = False                              # training runs on GPUs (else CPUs)
    architecture: str | None = None                # e.g. efficientnet_lite0, ResNet50 (recipe.facts.architecture)
    class_counts: tuple[int, ...] | None = None    # training examples per class; None when unknown (tfds:)
    labels: str = "single"                         # "multi": sets of classes; "numeric": a regression
    text_pairs: bool = False                       # sentence pairs: token_lengths count both texts packed
    apart_lengths: np.ndarray | None = None        # sentence pairs: tokens per text of both columns, each alone


@dataclass(frozen=True)
class Choice:
    """One setting of a run: its value, why, and whether the user set it."""

    value: object
    why: str
    by_user: bool = False


def decide(facts: Facts, user: dict, recipe: str = "auto") -> dict[str, Choice]:
    """Every setting in :func:`settings_of` for ``facts.task`` and ``facts.labels``: the user's
    value where given, else the recipe's (``auto``: from the facts; ``fixed``: :data:`FIXED`).
    Numeric labels have no classes to weigh and always say why, and add ``loss``."""
    decided = {}
    names = settings_of(facts.task, facts.labels, facts.text_pairs)
    # The batch first (fine-tuning's steps depend on it), then fine_tune_epochs (the head
    # phase depends on whether fine-tuning follows), then the rest; returned in table order.
    first = ("batch_size", "fine_tune_epochs")
    for name in (*first, *[n for n in names if n not in first]):
        if user.get(name) is not None:
            decided[name] = Choice(user[name], "set by you", by_user=True)
        elif recipe == "fixed" and name in FIXED[facts.task] and not (facts.labels == "numeric"
                                                                       and name == "class_weight"):
            decided[name] = Choice(FIXED[facts.task][name], "--recipe fixed")
        else:
            decided[name] = _AUTO[name](facts, decided)
    return {name: decided[name] for name in names}


def _pair_encoding(f: Facts, decided: dict) -> Choice:
    if not f.checkpoint_pooling:
        return Choice("packed", "BERT-style checkpoints are pre-trained on packed pairs ([CLS] a [SEP] b [SEP], "
                                "next-sentence prediction): the encoder reads both texts at once (a cross-encoder)")
    trained = (f"the checkpoint was trained to embed one text at a time and compare the embeddings "
               f"({f.checkpoint_pooling[1]})")
    if f.labels == "numeric":
        return Choice("siamese", f"{trained}: each text goes through the same encoder alone and the head reads the "
                                 f"cosine of the two embeddings, scaled to your target (Sentence-BERT's regression "
                                 f"objective; SimLex-999 word pairs: Spearman {SIAMESE_SIMLEX} against 0.26 packed "
                                 f"and 0.47 for the untrained cosine, benchmarks/RESULTS.md)")
    return Choice("packed", f"{trained}, but for classes the two texts read together did better where the label is "
                            f"not their similarity (TREC question pairs, same type or not: 0.650 held-out accuracy "
                            f"packed against {SIAMESE_TREC_PAIRS} siamese) and worse where it is (SimLex-999 cut at "
                            f"5: 0.571 against 0.639); --pair-encoding siamese reads them apart "
                            f"(benchmarks/RESULTS.md)")


def _siamese(decided: dict) -> bool:
    return "pair_encoding" in decided and decided["pair_encoding"].value == "siamese"


def _sequence_length(f: Facts, decided: dict) -> Choice:
    lengths = f.apart_lengths if _siamese(decided) and f.apart_lengths is not None else f.token_lengths
    if lengths is None or not len(lengths):
        return Choice(128, "this backbone's tokenizer cannot be run ahead of the model: the usual 128 tokens")
    covered = int(np.ceil(np.quantile(lengths, TEXT_COVERAGE)))
    length = max(16, 8 * math.ceil(covered / 8))
    texts = "texts"
    if f.text_pairs:
        texts = ("texts of both columns, each encoded alone," if _siamese(decided)
                 else "sentence pairs, both texts packed as [CLS] a [SEP] b [SEP],")
    rounded = "rounded up to a multiple of 8" if length > 16 else "at least 16"
    why = (f"{TEXT_COVERAGE:.0%} of your {len(lengths):,} training {texts} have <= {covered} tokens "
           f"(longest {int(lengths.max())}); {rounded}")
    if f.max_length and length > f.max_length:
        length, why = f.max_length, why + f", capped at the model's maximum {f.max_length}"
    return Choice(length, why + "; each batch is cut to its own longest text")


def _long_text(f: Facts, decided: dict) -> Choice:
    if f.text_pairs:
        return Choice("truncate", "sentence pairs are cut to the sequence length: windows read single texts")
    if f.token_lengths is None or not len(f.token_lengths):
        return Choice("truncate", "this backbone's tokenizer cannot be run ahead of the model: texts are cut to "
                                  "the sequence length")
    length = int(decided["sequence_length"].value)
    longer = int(np.sum(f.token_lengths > length))
    share = longer / len(f.token_lengths)
    limit = f"{length} tokens" + (" (the model's maximum)" if f.max_length and length >= f.max_length else "")
    counted = f"{longer:,} of your {len(f.token_lengths):,} training texts ({share:.1%}) are longer than {limit}"
    if share > LONG_TEXT_SHARE:
        aggregated = ("each class keeping its largest probability over them (a label found in any window is the "
                      "text's)" if f.labels == "multi" else "their logits averaged")
        return Choice("window", f"{counted}, more than {LONG_TEXT_SHARE:.0%}: each text is read as windows of "
                                f"{length} tokens, half a window apart, at most 8 (--max-windows), {aggregated}")
    return Choice("truncate", f"{counted}, at most {LONG_TEXT_SHARE:.0%}: those are cut to their first {length} "
                              f"tokens")


def _pooling(f: Facts, decided: dict) -> Choice:
    if f.task == "image":
        return Choice("avg", "global average pooling, the way ImageNet backbones are read")
    if f.checkpoint_pooling:
        pooling, source = f.checkpoint_pooling
        why = f"the checkpoint was trained with {pooling} pooling ({source})"
        if f.text_pairs and f.labels == "numeric" and not _siamese(decided):  # packed by the user
            why += ("; NOTE: it was trained to embed each text alone, and with the two texts packed into one "
                    "sequence it scored below its own embeddings' cosine on word similarity (SimLex-999: "
                    "Spearman 0.26 against 0.47, benchmarks/RESULTS.md): --pair-encoding siamese reads them apart")
        return Choice(pooling, why)
    return Choice("cls", "the first token ([CLS]), the summary BERT-style checkpoints are trained to give")


def _cosine_head(f: Facts, decided: dict) -> bool:
    """A siamese pair model for numeric labels: its head is a scale and an offset of one cosine."""
    return f.labels == "numeric" and _siamese(decided)


def _dropout(f: Facts, decided: dict) -> Choice:
    if _cosine_head(f, decided):
        return Choice(0.0, "the head reads one number, the cosine of the two embeddings: dropping it would drop "
                           "all the head sees")
    if f.task == "text":
        return Choice(0.1, "BERT's own dropout rate")
    return Choice(0.2, "the Keras transfer-learning guide's rate before a new head")


def _class_weight(f: Facts, _) -> Choice:
    if f.labels == "numeric":
        return Choice("none", "numeric labels: no classes to weigh, every example weighs the same")
    if f.labels == "multi":
        return Choice("none", "multi-label: each class is its own yes/no in the loss (binary cross-entropy); every "
                              "example weighs the same")
    counts = [c for c in f.class_counts or () if c]
    if len(counts) < 2:
        return Choice("none", "the class sizes are not known ahead of training (a tfds: stream): every example "
                              "weighs the same")
    ratio = max(counts) / min(counts)
    if ratio >= IMBALANCE_RATIO:
        return Choice("balanced", f"your largest class has {ratio:.1f}x the training examples of your smallest "
                                  f"({max(counts):,} against {min(counts):,}; >= {IMBALANCE_RATIO:g}x): each class "
                                  f"weighs n / (classes x its count) in the loss (measured on text, TREC questions: "
                                  f"balanced accuracy 0.894 against 0.864 unweighted, same accuracy; not measured "
                                  f"on images; benchmarks/RESULTS.md)")
    return Choice("none", f"your classes are within {IMBALANCE_RATIO:g}x of each other in size (largest "
                          f"{max(counts):,}, smallest {min(counts):,}): every example weighs the same")


def _loss(f: Facts, _) -> Choice:
    return Choice(REGRESSION_LOSS, "mean squared error of the standardised target (the model predicts (y - mean) / "
                                   "std of the training targets and scales back): the loss R² and RMSE measure; "
                                   "--loss huber for targets with outliers")


def _batch_size(f: Facts, _) -> Choice:
    usual = "BERT's fine-tuning batch" if f.task == "text" else "the Keras transfer-learning guide's batch"
    return Choice(32, f"per replica; {usual}, fits any machine")


def _epochs(f: Facts, decided: dict) -> Choice:
    if _cosine_head(f, decided) and f.cached and decided["fine_tune_epochs"].value:
        return Choice(HEAD_EPOCHS_BEFORE_FINE_TUNING,
                      "the head is a scale and an offset of the cosine: it starts at the least-squares line of "
                      "your training targets on the cached cosines (its best fit), then a few head epochs, then "
                      "the whole encoder fine-tunes, kept only if it beats that line on val")
    if f.task == "text" and decided["fine_tune_epochs"].value:
        return Choice(HEAD_EPOCHS_BEFORE_FINE_TUNING,
                      "a few head epochs, then the whole encoder fine-tunes: measured better than a head "
                      "trained to convergence first (TREC +0.022, Rotten Tomatoes +0.004; benchmarks/RESULTS.md)")
    if f.cached:
        return Choice(HEAD_EPOCHS_CACHED, "the head trains on cached backbone features (milliseconds an epoch) "
                                          f"until val loss stops improving, {HEAD_EPOCHS_CACHED} at most (the run "
                                          f"says so if it is still improving then)")
    return Choice(HEAD_EPOCHS_UNCACHED, "no cached features (each epoch runs the whole backbone): a few epochs")


def _learning_rate(f: Facts, _) -> Choice:
    optimizer = "AdamW (BERT's optimizer, warm-up then decay)" if f.task == "text" else "Adam"
    return Choice(1e-3, f"{optimizer} at the usual rate for a new linear head")


def _patience(f: Facts, _) -> Choice:
    patience = 5 if f.cached else 3
    why = f"each phase stops {patience} epochs after its best val loss and keeps that epoch's weights"
    if f.labels == "numeric":
        why += " (numeric labels: the standardised error; fine-tuning is kept only if its val loss beats the head's)"
    return Choice(patience, why)


def _steps_per_epoch(f: Facts, decided: dict) -> int:
    return max(1, math.ceil(f.examples / (int(decided["batch_size"].value) * f.replicas)))


def _fine_tune_epochs(f: Facts, decided: dict) -> Choice:
    steps = _steps_per_epoch(f, decided)
    if f.task == "image":
        fewest, most = IMAGE_FINE_TUNE_EPOCHS
        epochs = min(most, max(fewest, math.ceil(IMAGE_FINE_TUNE_MIN_STEPS / steps)))
        return Choice(epochs, f"fine-tune from the trained head (linear probe, then fine-tuning: LP-FT): {epochs} x "
                              f"{steps} steps, at least {IMAGE_FINE_TUNE_MIN_STEPS} steps and {fewest}-{most} epochs "
                              f"(on 400 Fashion-MNIST images 5 epochs scored as high as 10, in half the time); "
                              f"BatchNorm statistics stay frozen")
    wanted = max(1, math.ceil(FINE_TUNE_MIN_STEPS / steps))
    epochs = min(FINE_TUNE_MAX_EPOCHS, wanted)
    budget = (f"{epochs} x {steps} steps, at least {FINE_TUNE_MIN_STEPS} (small data needs more passes)"
              if epochs == wanted else
              f"{epochs} x {steps} steps: {FINE_TUNE_MIN_STEPS} would take {wanted} epochs, capped at "
              f"{FINE_TUNE_MAX_EPOCHS} (small data overfits with more passes)")
    return Choice(epochs, f"fine-tune the whole encoder from the trained head (linear probe, then fine-tuning: "
                          f"LP-FT): {budget}")


def _unfreeze(f: Facts, _) -> Choice:
    if f.task == "text":
        return Choice("all", "every transformer block and the embeddings, as BERT fine-tuning does")
    return Choice("all", "every layer, at a low rate; BatchNorm runs in inference mode throughout")


def _fine_tune_learning_rate(f: Facts, _) -> Choice:
    if f.task == "text":
        return Choice(5e-5, "BERT's fine-tuning rate, with warm-up over 10% of the steps and linear decay")
    return Choice(1e-4, "Adam's rate for fine-tuning a whole image backbone with BatchNorm frozen "
                        "(+0.013 held-out accuracy over 1e-5 on Fashion-MNIST 10x40, benchmarks/RESULTS.md)")


def _layer_decay(f: Facts, _) -> Choice:
    return Choice(LAYER_DECAY, LAYER_DECAY_WHY)


def _mixed_precision(f: Facts, _) -> Choice:
    if not f.bf16:
        return Choice(False, "this hardware has no fast bfloat16: float32")
    if f.task == "image" and not f.gpu and _depthwise(f.architecture):
        return Choice(False, f"float32: {f.architecture} is built of depthwise convolutions, which bfloat16 slows "
                             f"down on a CPU (an EfficientNet-Lite0 training step 4.1 s against 3.0 s in float32; "
                             f"ResNet50 gains, 6.4 s against 7.6 s; docs/keras3_notes.md)")
    return Choice(True, f"bfloat16 compute, float32 weights: {f.bf16}")


def _depthwise(architecture: str | None) -> bool:
    return bool(architecture) and any(k in architecture.lower() for k in DEPTHWISE_ARCHITECTURES)


def _jit_compile(f: Facts, _) -> Choice:
    return Choice(False, "XLA was not faster for these models on CPU (docs/keras3_notes.md); --jit-compile")


def _image_size(f: Facts, _) -> Choice:
    if f.image_size:
        return Choice(f.image_size, f"the backbone's own input size ({f.image_size} px), the one its weights "
                                    f"were trained at")
    return Choice(None, "the backbone's own input size")


_AUTO = {
    "pair_encoding": _pair_encoding, "sequence_length": _sequence_length, "long_text": _long_text, "pooling": _pooling, "dropout": _dropout, "class_weight": _class_weight,
    "batch_size": _batch_size,
    "epochs": _epochs, "learning_rate": _learning_rate, "early_stopping_patience": _patience,
    "fine_tune_epochs": _fine_tune_epochs, "unfreeze": _unfreeze,
    "fine_tune_learning_rate": _fine_tune_learning_rate, "layer_decay": _layer_decay,
    "mixed_precision": _mixed_precision,
    "jit_compile": _jit_compile, "image_size": _image_size, "loss": _loss,
}


def format_table(decided: dict[str, Choice], recipe: str) -> str:
    """The table a run prints at its start: setting, value, why."""
    rows = [(name, _show(choice.value), choice.why) for name, choice in decided.items()]
    width = max(len(r[0]) for r in rows), max(len(r[1]) for r in rows)
    lines = [f"recipe {recipe}: the settings of this run, and why"]
    lines += [f"  {name:<{width[0]}}  {value:<{width[1]}}  {why}" for name, value, why in rows]
    return "\n".join(lines)


def _show(value) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, float):
        return f"{value:g}"
    return "-" if value is None else str(value)

"""Builders: a backbone URI -> a ``keras.Model`` with the family's preprocessing and a head.

Both take the same argument names for the same ideas (``num_classes``, ``pooling``,
``dropout``, ``weights``, ``labels``) and return a ``keras.Model`` whose backbone starts frozen.
``labels="numeric"`` puts a regression head on instead of the classifier (``num_classes`` 1:
one value a row); ``labels="multi"`` a sigmoid over the classes (each class's own probability). Build
inside ``strategy.scope()`` to train under a ``tf.distribute`` strategy.
"""

from __future__ import annotations

import keras

from tfxfer.config import LABEL_KINDS, LONG_TEXT, PAIR_ENCODINGS
from tfxfer.errors import TfxferError
from tfxfer.models.backbones import load_image_backbone, load_text_backbone, split_uri
from tfxfer.models.backbones.tfhub import SavedModelLayer, SavedModelPairPacking
from tfxfer.models.classifier import TransferClassifier
from tfxfer.models.freezing import set_trainable
from tfxfer.models.heads import (
    TEXT_POOLING,
    PairFeatures,
    classification_head,
    pool_image_features,
    pool_text_features,
    regression_head,
)
from tfxfer.models.layers import (
    DEFAULT_MAX_WINDOWS,
    BackboneLayer,
    Tokenizing,
    TrimToLongest,
    Windowing,
    WindowMean,
    WindowStack,
)


def _classifier(inputs, features, num_classes: int, dropout: float, *, task: str, preprocessor, backbone,
                uri: str, class_names, labels: str = "single", on_cosine: bool = False) -> TransferClassifier:
    """The head on ``features`` ((N, windows, D) for multi-label windows: the max over them),
    and the model that records which layer plays which part."""
    head = (regression_head(dropout, on_cosine) if labels == "numeric"
            else classification_head(num_classes, dropout, multi_label=labels == "multi",
                                     over_windows=len(features.shape) == 3))
    outputs = features
    for layer in head:
        outputs = layer(outputs)
    model = TransferClassifier(
        inputs, outputs, name=f"{task}_{'regressor' if labels == 'numeric' else 'classifier'}", task=task,
        backbone_uri=uri, class_names=class_names, labels=labels,
        parts={"preprocessor": preprocessor.name if preprocessor is not None else None, "backbone": backbone.name,
               "head": [layer.name for layer in head]})
    set_trainable(model, "frozen")
    return model


def _check_head_args(num_classes: int, dropout: float, labels: str = "single") -> None:
    if labels not in LABEL_KINDS:
        raise TfxferError(f"labels must be one of {', '.join(LABEL_KINDS)}, got {labels!r}")
    if labels == "numeric" and int(num_classes) != 1:
        raise TfxferError(f"a model for numeric labels predicts one value: pass num_classes=1, got {num_classes}")
    if labels != "numeric" and int(num_classes) < 2:
        raise TfxferError(f"num_classes must be at least 2, got {num_classes}")
    if not 0.0 <= float(dropout) < 1.0:
        raise TfxferError(f"dropout must be in [0, 1), got {dropout}")


def build_image_classifier(
    backbone: str,
    num_classes: int,
    pooling: str = "avg",
    dropout: float = 0.2,
    image_size: tuple[int, int] | int | None = None,
    weights: str = "imagenet",
    class_names: list[str] | None = None,
    labels: str = "single",
) -> TransferClassifier:
    """An image classifier on a pretrained backbone, taking RGB pixels in [0, 255].

    Args:
        backbone: ``keras:ResNet50`` (any ``keras.applications`` model),
            ``kerashub:PRESET_OR_DIR`` or ``tfhub:HANDLE_OR_DIR`` (an image feature vector).
        num_classes: number of classes (>= 2).
        pooling: "avg" or "max" over the backbone's feature map.
        dropout: dropout rate before the classifier.
        image_size: (height, width), or one number for a square; default: the family's
            native size.
        weights: "imagenet" (pretrained), "none" (random) or a local weights file (``keras:``).
        class_names: the classes in output order, if known now (``fine_tune`` records the
            data's otherwise).
        labels: "single" (a softmax over the classes), "multi" (a sigmoid: each class's own
            probability; ``fine_tune`` records per-class thresholds) or "numeric" (regression:
            ``num_classes`` 1, one float32 value a row in the target's units; ``fine_tune``
            records the training targets' mean and standard deviation).

    Returns:
        A :class:`TransferClassifier` from ``(N, H, W, 3)`` float pixels to
        ``(N, num_classes)`` float32 probabilities; its backbone is frozen.

    Example:

    ```python
    from tfxfer import build_image_classifier

    model = build_image_classifier("keras:ResNet50", 5, weights="none", image_size=(96, 96))
    assert model.input_shape == (None, 96, 96, 3)
    ```
    """
    _check_head_args(num_classes, dropout, labels)
    if isinstance(image_size, int):  # --image-size is one number: a square
        image_size = (image_size, image_size)
    resolved = load_image_backbone(backbone, weights, image_size)
    inputs = keras.Input(shape=(*resolved.image_size, 3), dtype="float32", name="images")
    x = resolved.preprocessor(inputs)
    holder = BackboneLayer(resolved.model, inference_mode=True, name="backbone")
    features = pool_image_features(holder(x), pooling)
    return _classifier(inputs, features, num_classes, dropout, task="image", preprocessor=resolved.preprocessor,
                       backbone=holder, uri=backbone, class_names=class_names, labels=labels)


def build_text_classifier(
    backbone: str,
    num_classes: int,
    pooling: str = "cls",
    dropout: float = 0.1,
    sequence_length: int = 128,
    weights: str = "pretrained",
    preprocessor: str | None = None,
    class_names: list[str] | None = None,
    labels: str = "single",
    text_pair: bool = False,
    pair_encoding: str = "packed",
    long_text: str = "truncate",
    window_stride: int | None = None,
    max_windows: int = DEFAULT_MAX_WINDOWS,
) -> TransferClassifier:
    """A text classifier on a pretrained transformer, taking raw strings (tokenizer inside).

    Args:
        backbone: ``kerashub:PRESET_OR_DIR`` (``kerasnlp:`` alias; a Hugging Face BERT
            checkpoint directory works) or ``tfhub:ENCODER`` with ``preprocessor``.
        num_classes: number of classes (>= 2).
        pooling: "cls" (first token), "mean" (masked mean) or "pooled" (the backbone's pooler).
        dropout: dropout rate before the classifier.
        sequence_length: tokens per example after truncation and padding (KerasHub backbones).
        weights: "pretrained" or "none" (random weights of the same architecture).
        preprocessor: ``tfhub:HANDLE_OR_DIR`` of the encoder's matching preprocessing model.
        class_names: the classes in output order, if known now.
        labels: "single" (a softmax over the classes), "multi" (a sigmoid: each class's own
            probability) or "numeric" (regression: ``num_classes`` 1, one float32 value a row in
            the target's units).
        text_pair: a sentence-pair classifier (paraphrase, entailment, question-answer
            matching): two string inputs, ``text`` and ``text_pair``, packed by the backbone's
            own preprocessor as ``[CLS] text [SEP] text_pair [SEP]`` (with segment ids where
            the backbone has them), truncated to ``sequence_length`` tokens in all (a TF Hub
            encoder: its preprocessing model's ``tokenize`` and ``bert_pack_inputs``).
        pair_encoding: how ``text_pair`` reads the two texts: "packed" (one sequence, as above:
            a cross-encoder, how BERT-style checkpoints were pre-trained) or "siamese" (each
            text through the same encoder and pooling alone, as sentence-transformers
            checkpoints were trained: a bi-encoder). A siamese head reads, for numeric labels,
            the cosine similarity of the two embeddings (its unit starts at weight 1) and, for
            classes, ``[u, v, |u - v|]`` (:class:`tfxfer.models.heads.PairFeatures`).
        long_text: what happens to a text longer than ``sequence_length`` tokens: "truncate"
            (its first tokens only) or "window": it is cut into windows of ``sequence_length``
            tokens (special tokens included) every ``window_stride`` tokens, the encoder and
            pooling run on every window, and the windows' pooled features are averaged before
            the linear head, which is the same as averaging their logits (then the softmax);
            multi-label: the head runs on every window and each class keeps its largest
            probability (a label found in any window is the text's).
            Training, ``evaluate`` and the export all run it, so the export still takes the
            whole raw text. KerasHub backbones, single texts only.
        window_stride: tokens from one window's start to the next's, in (0, tokens per window]
            (default: half a window).
        max_windows: the most windows a text is cut into (longer texts lose their end), so
            that one huge text cannot exhaust memory.

    Returns:
        A :class:`TransferClassifier` from ``(N,)`` strings (two of them for ``text_pair``)
        to ``(N, num_classes)`` float32 probabilities, the tokenizer inside; its backbone is
        frozen.

    Example:

    ```python
    # not run here: downloads the bert_tiny_en_uncased preset from Kaggle
    import tensorflow as tf

    from tfxfer import build_text_classifier

    model = build_text_classifier("kerashub:bert_tiny_en_uncased", 2, sequence_length=64)
    model.predict(tf.constant(["a fine film"]))
    ```
    """
    _check_head_args(num_classes, dropout, labels)
    if pooling not in TEXT_POOLING:
        raise TfxferError(f"pooling {pooling!r} is not one of {', '.join(TEXT_POOLING)} for text")
    if int(sequence_length) < 8:
        raise TfxferError(f"sequence_length must be at least 8, got {sequence_length}")
    if pair_encoding not in PAIR_ENCODINGS:
        raise TfxferError(f"pair_encoding must be one of {', '.join(PAIR_ENCODINGS)}, got {pair_encoding!r}")
    _check_long_text(backbone, long_text, window_stride, max_windows, text_pair, int(sequence_length))
    resolved = load_text_backbone(backbone, weights, int(sequence_length), preprocessor)
    inputs = keras.Input(shape=(), dtype="string", name="text")
    if text_pair and pair_encoding == "siamese":
        return _siamese(resolved, (inputs, keras.Input(shape=(), dtype="string", name="text_pair")), num_classes,
                        pooling, dropout, uri=backbone, class_names=class_names, labels=labels)
    if text_pair:
        inputs = (inputs, keras.Input(shape=(), dtype="string", name="text_pair"))
    preprocessor = resolved.preprocessor
    if text_pair and isinstance(preprocessor, SavedModelLayer):  # TF Hub: its own tokenize and bert_pack_inputs
        preprocessor = SavedModelPairPacking(preprocessor.saved_model_path, int(sequence_length),
                                             name="tfhub_pair_packing")
    row_ids = None
    if long_text == "window":
        preprocessor = Windowing.around(preprocessor, inputs, window_stride, max_windows)
        if preprocessor.stride > preprocessor.window:
            raise TfxferError(f"window_stride (--window-stride) must be in (0, {preprocessor.window}]: a window "
                              f"holds {preprocessor.window} tokens at sequence length {sequence_length} (its special "
                              f"tokens take the rest), and a longer stride would skip tokens; got {window_stride}")
        encoded, row_ids = preprocessor(inputs)
    else:
        if not isinstance(preprocessor, (SavedModelLayer, SavedModelPairPacking)):  # a SavedModel reloads with
            preprocessor = Tokenizing.around(preprocessor, inputs)                # its vocabulary
        encoded = preprocessor(inputs)
    encoded = TrimToLongest(resolved.mask_key, name="trim_padding")(encoded)
    holder = _text_holder(resolved, pooling)
    sequence, pooled, mask = _encode(resolved, holder, encoded)
    features = pool_text_features(sequence, pooled, mask, pooling)
    if row_ids is not None and labels == "multi":  # each text's windows stacked: the head takes their max
        features = WindowStack(preprocessor.max_windows, name="window_stack")(features, row_ids, inputs)
    elif row_ids is not None:  # one row per text again: the mean over its windows
        features = WindowMean(name="window_mean")(features, row_ids, inputs)
    return _classifier(inputs, features, num_classes, dropout, task="text", preprocessor=preprocessor,
                       backbone=holder, uri=backbone, class_names=class_names, labels=labels)


def _siamese(resolved, inputs: tuple, num_classes: int, pooling: str, dropout: float, *, uri: str, class_names,
             labels: str) -> TransferClassifier:
    """A sentence-pair model that embeds each text alone with one shared tokenizer, encoder and
    pooling (a bi-encoder), the head on :class:`PairFeatures` of the two embeddings."""
    tokenizing = resolved.preprocessor  # a TF Hub preprocessing SavedModel reads one text as it is
    if not isinstance(tokenizing, SavedModelLayer):
        tokenizing = Tokenizing.around(tokenizing, inputs[0])
    trim = TrimToLongest(resolved.mask_key, name="trim_padding")
    holder = _text_holder(resolved, pooling)
    embeddings = []
    for text, suffix in zip(inputs, ("", "_pair"), strict=True):
        sequence, pooled, mask = _encode(resolved, holder, trim(tokenizing(text)))
        embeddings.append(pool_text_features(sequence, pooled, mask, pooling, suffix))
    numeric = labels == "numeric"
    features = PairFeatures("cosine" if numeric else "concat", name="pair_features")(*embeddings)
    return _classifier(inputs, features, num_classes, dropout, task="text", preprocessor=tokenizing, backbone=holder,
                       uri=uri, class_names=class_names, labels=labels, on_cosine=numeric)


def _text_holder(resolved, pooling: str) -> BackboneLayer:
    # The pooler gets no gradient when the head reads the token vectors: keep it frozen in
    # every phase rather than train nothing (and warn) under --unfreeze all.
    pooler = [w.path for w in resolved.model.weights if _is_pooler(w.path)] if pooling != "pooled" else []
    return BackboneLayer(resolved.model, inference_mode=False, always_frozen=pooler, name="backbone")


def _check_long_text(backbone: str, long_text: str, window_stride, max_windows, text_pair: bool,
                     sequence_length: int) -> None:
    if long_text not in LONG_TEXT:
        raise TfxferError(f"long_text must be one of {', '.join(LONG_TEXT)}, got {long_text!r}")
    if long_text != "window":
        return
    if text_pair:
        raise TfxferError("long_text 'window' reads one text a row; sentence pairs are truncated, "
                          "packed or not: use long_text 'truncate'")
    if split_uri(backbone)[0] != "kerashub":
        raise TfxferError(f"long_text 'window' needs a kerashub: backbone, whose tokenizer tfxfer calls itself; "
                          f"{backbone} is a TF Hub encoder, whose preprocessing model only truncates")
    if window_stride is not None and int(window_stride) < 1:
        raise TfxferError(f"window_stride (--window-stride) must be at least 1, got {window_stride}")
    if int(max_windows) < 1:
        raise TfxferError(f"max_windows (--max-windows) must be at least 1, got {max_windows}")


def _is_pooler(path: str) -> bool:
    return "pooled_dense" in path or "pooler" in path


def _encode(resolved, holder, encoded):
    """(sequence output, pooled output or None, padding mask) for either backbone kind."""
    if isinstance(resolved.model, SavedModelLayer):  # TF Hub BERT: int32 inputs, a dict of outputs
        outputs = holder(encoded)
        return outputs["sequence_output"], outputs.get("pooled_output"), encoded[resolved.mask_key]
    # KerasHub preprocessors emit a bool padding mask; the backbones take integers.
    inputs = {k: keras.ops.cast(v, "int32") for k, v in encoded.items()}
    outputs = holder(inputs)
    if isinstance(outputs, dict):
        return outputs["sequence_output"], outputs.get("pooled_output"), encoded[resolved.mask_key]
    return outputs, None, encoded[resolved.mask_key]

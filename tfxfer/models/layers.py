"""Small Keras layers the builders compose: pixel scaling and the backbone holder."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="tfxfer")
class PixelScaling(keras.layers.Layer):
    """``x * scale + offset`` per channel on RGB pixels in [0, 255], optionally as BGR.

    Every Keras-applications ``preprocess_input`` mode ("caffe", "tf", "torch") and every
    KerasHub image converter is one such affine map, so this one layer carries the family's
    preprocessing inside the model and the exported graph.
    """

    def __init__(self, scale=1.0, offset=0.0, bgr: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.scale = [float(s) for s in (scale if isinstance(scale, (list, tuple)) else [scale] * 3)]
        self.offset = [float(o) for o in (offset if isinstance(offset, (list, tuple)) else [offset] * 3)]
        self.bgr = bool(bgr)

    def call(self, x):
        x = ops.cast(x, self.compute_dtype)
        if self.bgr:
            x = ops.flip(x, axis=-1)
        return x * ops.convert_to_tensor(self.scale, self.compute_dtype) + ops.convert_to_tensor(
            self.offset, self.compute_dtype
        )

    def get_config(self):
        return {**super().get_config(), "scale": self.scale, "offset": self.offset, "bgr": self.bgr}


class _Holder(keras.layers.Layer):
    """A layer that holds another one in attribute ``HELD`` and saves it inside its own config,
    so that a ``.keras`` file rebuilds the pair."""

    HELD = ""

    def get_config(self):
        return {**super().get_config(), self.HELD: keras.saving.serialize_keras_object(getattr(self, self.HELD))}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config[cls.HELD] = keras.saving.deserialize_keras_object(config[cls.HELD])
        return cls(**config)


@keras.saving.register_keras_serializable(package="tfxfer")
class BackboneLayer(_Holder):
    """Holds the backbone in a tfxfer model and decides the mode it runs in.

    Image backbones (``inference_mode=True``) run with ``training=False`` in every phase, so
    BatchNorm moving statistics never change and nested Dropout never drops:
    ``base(x, training=False)`` written inside a functional model is ignored by Keras 3's
    ``fit`` (docs/keras3_notes.md), a layer whose ``call`` passes the flag itself holds.
    Text backbones run in training mode (dropout on) only while some of them trains.
    """

    HELD = "backbone"

    def __init__(self, backbone: keras.layers.Layer, inference_mode: bool = True, always_frozen=(), **kwargs):
        super().__init__(**kwargs)
        self.backbone = backbone
        self.inference_mode = inference_mode
        # Weights (by path) that stay frozen in every phase, e.g. a pooler the head does not read.
        self.always_frozen = tuple(always_frozen)
        for weight in backbone.weights:  # also in a model loaded from a .keras file
            if weight.path in self.always_frozen:
                weight.trainable = False
        self.jit_compile = False  # XLA for this part only (a text model's strings cannot compile)

    def call(self, x, training=None):
        if self.inference_mode or not self.backbone.trainable_weights:
            training = False
        if self.jit_compile:  # called while Keras traces a step; nothing is kept on the layer
            import tensorflow as tf

            return tf.function(lambda inputs: self.backbone(inputs, training=training), jit_compile=True)(x)
        return self.backbone(x, training=training)

    def get_config(self):
        return {**super().get_config(), "inference_mode": self.inference_mode,
                "always_frozen": list(self.always_frozen)}


@keras.saving.register_keras_serializable(package="tfxfer")
class Tokenizing(_Holder):
    """Holds a KerasHub preprocessor (strings -> token ids and masks) inside a text model;
    given a tuple of two string tensors (a sentence pair), the preprocessor packs them
    into one sequence (``[CLS] a [SEP] b [SEP]``, segment ids where the backbone has them).

    Loading a ``.keras`` file rebuilds the model's graph first and restores the tokenizer's
    vocabulary (an asset) after, so the graph cannot ask the tokenizer what it returns: the
    keys and dtypes of its outputs are recorded here when the model is built.
    """

    HELD = "preprocessor"

    def __init__(self, preprocessor: keras.layers.Layer, outputs: dict[str, str], **kwargs):
        super().__init__(**kwargs)
        self.preprocessor = preprocessor
        self.outputs = dict(outputs)

    @classmethod
    def around(cls, preprocessor: keras.layers.Layer, inputs) -> Tokenizing:
        spec = _tokenize(preprocessor, inputs)  # symbolic: KerasTensors of the outputs
        return cls(preprocessor, {key: value.dtype for key, value in spec.items()}, name="tokenizing")

    def build(self, input_shape):
        self.built = True  # the preprocessor holds no weights; it builds itself when first called

    def call(self, texts):
        return _tokenize(self.preprocessor, texts)

    def compute_output_spec(self, texts):
        batch = texts[0].shape[0] if isinstance(texts, (tuple, list)) else texts.shape[0]
        return {key: keras.KerasTensor((batch, None), dtype=dtype) for key, dtype in self.outputs.items()}

    def get_config(self):
        return {**super().get_config(), "outputs": self.outputs}


def _tokenize(preprocessor: keras.layers.Layer, texts):
    """A KerasHub preprocessor's outputs for one batch of texts or a pair of batches. A pair
    goes in as ``x=``: given positionally, a tuple is read as ``(x, y)``, features and labels,
    and the second texts would silently become labels."""
    if isinstance(texts, (tuple, list)):
        return preprocessor(x=tuple(texts))
    return preprocessor(texts)


@keras.saving.register_keras_serializable(package="tfxfer")
class TrimToLongest(keras.layers.Layer):
    """Cuts a batch of tokenized texts to the batch's longest text.

    The tokenizer pads every text to the sequence length; the positions past the longest text
    of a batch are padding in every row, masked out of attention and pooling, so dropping them
    changes no result and saves their cost (most of it for short texts). Training batches group
    texts of similar length (tfxfer.data.sources) so that little padding is left.
    """

    def __init__(self, mask_key: str = "padding_mask", **kwargs):
        super().__init__(**kwargs)
        self.mask_key = mask_key

    def call(self, encoded):
        import tensorflow as tf

        real = tf.reduce_sum(tf.cast(encoded[self.mask_key], tf.int32), axis=1)
        longest = tf.maximum(tf.reduce_max(real), 1)  # an empty batch keeps one position
        return {key: value[:, :longest] for key, value in encoded.items()}

    def compute_output_spec(self, encoded):
        return {key: keras.KerasTensor((value.shape[0], None), dtype=value.dtype) for key, value in encoded.items()}

    def get_config(self):
        return {**super().get_config(), "mask_key": self.mask_key}


# --long-text window: the most windows one text is cut into, unless --max-windows says otherwise.
DEFAULT_MAX_WINDOWS = 8


@keras.saving.register_keras_serializable(package="tfxfer")
class Windowing(_Holder):
    """``--long-text window``: each text, however long, as overlapping windows of tokens.

    Holds a KerasHub preprocessor (like :class:`Tokenizing`) but calls its tokenizer without
    truncation, cuts each text's token ids into windows of ``window`` tokens starting every
    ``stride`` tokens (the last window ends at the text's end; at most ``max_windows`` windows a
    text, the rest of a longer text is left out), then packs every window as the preprocessor
    would pack a text (``[CLS] window [SEP]``, padded to ``window`` plus the special tokens).

    Returns ``(encoded, row_ids)``: the packed windows of the whole batch, one row per window
    ([total_windows, sequence_length], in text order), and for each window the row of the text
    it came from; :class:`WindowMean` gathers per-window results back to one row per text. An
    empty text is one window of special tokens only, so every text has at least one window.
    """

    HELD = "preprocessor"

    def __init__(self, preprocessor: keras.layers.Layer, outputs: dict[str, str], window: int, stride: int,
                 max_windows: int = DEFAULT_MAX_WINDOWS, **kwargs):
        super().__init__(**kwargs)
        self.preprocessor = preprocessor
        self.outputs = dict(outputs)
        self.window, self.stride, self.max_windows = int(window), int(stride), int(max_windows)

    @classmethod
    def around(cls, preprocessor: keras.layers.Layer, inputs, stride: int | None = None,
               max_windows: int = DEFAULT_MAX_WINDOWS) -> Windowing:
        """Around ``preprocessor``: windows as long as its sequence length less its special
        tokens, every ``stride`` tokens (default: half a window)."""
        import tensorflow as tf

        spec = _tokenize(preprocessor, inputs)
        empty = tf.ragged.constant([[]], dtype=tf.int32)
        packed = _pack(preprocessor, empty)["token_ids"]
        special = int(tf.reduce_sum(tf.cast(packed != preprocessor.tokenizer.pad_token_id, tf.int32)))
        window = int(preprocessor.sequence_length) - special
        stride = max(1, window // 2) if stride is None else int(stride)
        return cls(preprocessor, {key: value.dtype for key, value in spec.items()}, window, stride, max_windows,
                   name="windowing")

    def build(self, input_shape):
        self.built = True

    def call(self, texts):
        import tensorflow as tf

        if getattr(self.preprocessor, "packer", None) is None:  # loaded from a file: built on its first call
            self.preprocessor.build(None)
        tokens = self.preprocessor.tokenizer(texts)
        if isinstance(tokens, list):  # called eagerly, KerasHub's tokenizers return Python lists
            tokens = tf.ragged.constant(tokens, dtype=tf.int32, ragged_rank=1, inner_shape=())
        elif not isinstance(tokens, tf.RaggedTensor):  # a tokenizer that pads
            tokens = tf.RaggedTensor.from_tensor(tokens, padding=self.preprocessor.tokenizer.pad_token_id)
        lengths = tf.cast(tokens.row_lengths(), tf.int32)
        # windows a text needs: 1 up to a window's worth, then one more every stride, capped
        extra = tf.maximum(lengths - self.window, 0)
        counts = tf.minimum(1 + (extra + self.stride - 1) // self.stride, self.max_windows)
        row_ids = tf.repeat(tf.range(tf.size(lengths)), counts)
        index = tf.ragged.range(counts).flat_values  # the window's position within its text
        text_length = tf.gather(lengths, row_ids)
        # the last window of a text that is not cut off by the cap ends at the text's end
        starts = tf.minimum(index * self.stride, tf.maximum(text_length - self.window, 0))
        ends = tf.minimum(starts + self.window, text_length)
        offsets = tf.gather(tf.cast(tokens.row_starts(), tf.int32), row_ids)
        positions = tf.ragged.range(offsets + starts, offsets + ends)
        windows = tf.gather(tokens.flat_values, positions)
        encoded = _pack(self.preprocessor, windows)
        return {key: encoded[key] for key in self.outputs}, row_ids

    def compute_output_spec(self, texts):
        encoded = {key: keras.KerasTensor((None, None), dtype=dtype) for key, dtype in self.outputs.items()}
        return encoded, keras.KerasTensor((None,), dtype="int32")

    def get_config(self):
        return {**super().get_config(), "outputs": self.outputs, "window": self.window, "stride": self.stride,
                "max_windows": self.max_windows}


def _pack(preprocessor: keras.layers.Layer, token_ids) -> dict:
    """What a KerasHub text classifier preprocessor returns for already tokenized texts (its own
    ``call`` after the tokenizer: the packer, then the padding mask)."""
    import tensorflow as tf

    token_ids, segment_ids = (tf.convert_to_tensor(x) for x in preprocessor.packer((token_ids,)))
    return {"token_ids": token_ids, "padding_mask": token_ids != preprocessor.tokenizer.pad_token_id,
            "segment_ids": segment_ids}


@keras.saving.register_keras_serializable(package="tfxfer")
class WindowMean(keras.layers.Layer):
    """Per-window vectors [total_windows, D] -> per-text means [texts, D] (``row_ids`` from
    :class:`Windowing`; ``texts`` the model's string input, for the number of rows).

    The builder averages the windows' pooled features before the linear head: the mean of
    ``W f + b`` over a text's windows is ``W mean(f) + b``, so this is exactly averaging the
    windows' logits (then the softmax), and the head and its cached features see one row per
    text. (A multi-label model takes the max instead: :class:`WindowStack`.)
    """

    def call(self, features, row_ids, texts):
        import tensorflow as tf

        total = tf.math.unsorted_segment_sum(features, row_ids, tf.shape(texts)[0])
        count = tf.math.unsorted_segment_sum(tf.ones_like(row_ids, features.dtype), row_ids, tf.shape(texts)[0])
        return total / tf.maximum(count, tf.ones_like(count))[:, None]

    def compute_output_spec(self, features, row_ids, texts):
        return keras.KerasTensor((texts.shape[0], features.shape[-1]), dtype=features.dtype)


@keras.saving.register_keras_serializable(package="tfxfer")
class WindowStack(keras.layers.Layer):
    """Per-window vectors [total_windows, D] -> [texts, max_windows, D]: each text's windows in
    order, then its own windows again from the first until ``max_windows`` slots are full
    (``row_ids`` from :class:`Windowing`, which sorts them by text and gives every text at least
    one window; ``texts``: the model's string input, for the number of rows).

    For multi-label windows: a label present in any window is present in the text, so the head
    takes each class's largest probability over the windows (:class:`tfxfer.models.heads.WindowMax`
    after the per-window sigmoid; the max of sigmoids is the sigmoid of the largest logit).
    Repeating a text's own windows changes no maximum, so no mask is needed, and the head's
    input keeps one row per text: the feature cache holds it like any pooled feature.
    """

    def __init__(self, max_windows: int = DEFAULT_MAX_WINDOWS, **kwargs):
        super().__init__(**kwargs)
        self.max_windows = int(max_windows)

    def call(self, features, row_ids, texts):
        import tensorflow as tf

        rows = tf.shape(texts)[0]
        counts = tf.math.bincount(row_ids, minlength=rows, maxlength=rows, dtype=tf.int32)
        starts = tf.cumsum(counts, exclusive=True)
        slots = tf.range(self.max_windows, dtype=tf.int32)
        # slot k of a text with n windows holds its window k mod n; an empty batch has no rows
        return tf.gather(features, starts[:, None] + slots[None, :] % tf.maximum(counts, 1)[:, None])

    def compute_output_spec(self, features, row_ids, texts):
        return keras.KerasTensor((texts.shape[0], self.max_windows, features.shape[-1]), dtype=features.dtype)

    def get_config(self):
        return {**super().get_config(), "max_windows": self.max_windows}

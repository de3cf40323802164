"""``tfhub:HANDLE_OR_DIR`` -> a TF Hub / Kaggle SavedModel as a fine-tunable Keras 3 layer.

``tensorflow_hub.KerasLayer`` is a Keras 2 (tf_keras) layer and cannot sit in a Keras 3
model; ``keras.layers.TFSMLayer`` can, but Adam and AdamW then fail on its variable names
("'w:0_momentum' is not a valid scope name", docs/keras3_notes.md). ``SavedModelLayer``
registers the SavedModel's own variables under sanitised names, so gradients reach them and
any optimizer trains them, and it passes the ``training`` flag that TF Hub's reusable
SavedModels take.
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import keras
import tensorflow as tf

from tfxfer.errors import TfxferError, first_line
from tfxfer.models.backbones import Backbone
from tfxfer.models.keras_workarounds import track_variable
from tfxfer.models.layers import PixelScaling


def resolve_handle(handle: str) -> str:
    """A local SavedModel directory for a TF Hub handle (downloaded and cached) or a path."""
    path = Path(handle).expanduser()
    if path.exists():
        if not (path / "saved_model.pb").exists():
            raise TfxferError(f"{handle} is not a SavedModel directory (it has no saved_model.pb)")
        return str(path.resolve())
    if handle.startswith(("/", ".", "~")):
        raise TfxferError(f"SavedModel directory {handle} does not exist")
    try:
        import tensorflow_hub as hub

        return hub.resolve(handle)
    except Exception as e:  # noqa: BLE001 - network and format errors alike
        first = first_line(e)
        raise TfxferError(
            f"could not resolve TF Hub handle {handle!r} ({first}); handles are downloaded on "
            f"first use and need internet — offline, pass a local SavedModel directory: tfhub:/path/to/dir"
        ) from e


def _sanitise(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name.removesuffix(":0"))


@keras.saving.register_keras_serializable(package="tfxfer")
class SavedModelLayer(keras.layers.Layer):
    """A TF2 SavedModel called as a Keras 3 layer, its variables trainable by any optimizer.

    Args:
        path: a local SavedModel directory.
        output_key: for SavedModels that return a dict, the entry to return (None: the dict).
        trainable: whether fitting may update the SavedModel's trainable variables.

    Example:

    ```python
    # not run here: needs a TF Hub feature-vector SavedModel in /models/feature_vector
    import keras

    from tfxfer.models.backbones.tfhub import SavedModelLayer

    images = keras.Input((224, 224, 3))
    features = SavedModelLayer("/models/feature_vector")(images)
    ```
    """

    def __init__(self, path: str, output_key: str | None = None, trainable: bool = True, **kwargs):
        super().__init__(trainable=trainable, **kwargs)
        self.saved_model_path = str(path)
        self.output_key = output_key
        self._loaded = tf.saved_model.load(self.saved_model_path)
        if callable(self._loaded):
            self._fn = self._loaded
            self._takes_training = _takes_training(self._loaded)
            self._input_name = None
        elif "serving_default" in getattr(self._loaded, "signatures", {}):
            self._fn = self._loaded.signatures["serving_default"]
            self._takes_training = False
            self._input_name = next(iter(self._fn.structured_input_signature[1]))
        else:
            raise TfxferError(f"SavedModel {self.saved_model_path} is neither callable nor has a serving_default signature")
        # Only the variables the call actually captures: a SavedModel may also hold copies
        # that no function reads (wrapping those would train nothing and count twice).
        for variable in _captured_variables(self._fn):
            track_variable(self, keras.Variable(
                initializer=variable, trainable=variable.trainable, dtype=variable.dtype,
                shape=variable.shape, name=_sanitise(variable.name),
            ))
        self.built = True

    def call(self, inputs, training=None):
        if self._input_name is not None:
            outputs = self._fn(**{self._input_name: inputs})
        elif self._takes_training:
            outputs = self._fn(inputs, training=bool(training) and self.trainable)
        else:
            outputs = self._fn(inputs)
        if self.output_key is not None:
            if self.output_key not in outputs:
                raise TfxferError(
                    f"SavedModel {self.saved_model_path} has no output {self.output_key!r}; it has {sorted(outputs)}"
                )
            return outputs[self.output_key]
        return outputs

    def get_config(self):
        return {**super().get_config(), "path": self.saved_model_path, "output_key": self.output_key}


@keras.saving.register_keras_serializable(package="tfxfer")
class SavedModelPairPacking(keras.layers.Layer):
    """A TF Hub BERT preprocessing SavedModel packing sentence pairs, the way its model pages
    show for two segments: its ``tokenize`` on each text, then its ``bert_pack_inputs`` on both
    (``[CLS] a [SEP] b [SEP]``, ``input_type_ids`` 0 then 1, trimmed round-robin and padded to
    ``seq_length`` tokens in all). Holds no variables; the vocabulary travels as the SavedModel's
    asset.

    Args:
        path: a local preprocessing SavedModel directory (TF Hub's ``*_preprocess`` models).
        seq_length: tokens per packed pair.
    """

    def __init__(self, path: str, seq_length: int = 128, **kwargs):
        kwargs.setdefault("trainable", False)
        super().__init__(**kwargs)
        self.saved_model_path, self.seq_length = str(path), int(seq_length)
        self._loaded = tf.saved_model.load(self.saved_model_path)
        missing = [name for name in ("tokenize", "bert_pack_inputs") if not hasattr(self._loaded, name)]
        if missing:
            raise TfxferError(f"the TF Hub preprocessing model {path} has no {' or '.join(missing)}: it cannot pack "
                              f"sentence pairs (TF Hub's BERT preprocessing models have both); use a kerashub: "
                              f"backbone for pairs")
        self.built = True

    def call(self, texts):
        segments = [self._loaded.tokenize(text) for text in texts]
        return self._loaded.bert_pack_inputs(segments, seq_length=tf.constant(self.seq_length, tf.int32))

    def compute_output_spec(self, texts):
        batch = texts[0].shape[0]
        return {key: keras.KerasTensor((batch, self.seq_length), dtype="int32")
                for key in ("input_word_ids", "input_mask", "input_type_ids")}

    def get_config(self):
        return {**super().get_config(), "path": self.saved_model_path, "seq_length": self.seq_length}


def _restored_call(fn):
    """A loaded SavedModel object's restored ``__call__`` (which has the concrete functions)."""
    return fn if hasattr(fn, "concrete_functions") else getattr(fn, "__call__", fn)  # noqa: B004


def _captured_variables(fn) -> list[tf.Variable]:
    """The ``tf.Variable``s that the concrete functions of ``fn`` read, each once."""
    restored = _restored_call(fn)
    concrete = getattr(restored, "concrete_functions", None) or [restored]
    seen, variables = set(), []
    for function in concrete:
        for variable in function.variables:
            if id(variable) not in seen:
                seen.add(id(variable))
                variables.append(variable)
    return variables


def _takes_training(fn) -> bool:
    """Whether a restored ``__call__`` takes TF Hub's ``training`` argument."""
    fn = _restored_call(fn)
    try:
        if "training" in inspect.signature(fn).parameters:
            return True
    except (TypeError, ValueError):
        pass
    for concrete in getattr(fn, "concrete_functions", None) or []:
        args, kwargs = concrete.structured_input_signature
        if "training" in kwargs or len(args) > 1:
            return True
    return False


def _fixed_image_size(layer: SavedModelLayer):
    """The (height, width) a feature-vector SavedModel was traced for, if it fixes one."""
    if not callable(layer._loaded):
        return None
    specs = getattr(_restored_call(layer._loaded), "concrete_functions", None) or []
    for concrete in specs:
        args = concrete.structured_input_signature[0]
        if args and isinstance(args[0], tf.TensorSpec) and args[0].shape.rank == 4:
            height, width = args[0].shape[1], args[0].shape[2]
            if height and width:
                return int(height), int(width)
    return None


def load_tfhub_image(uri: str, handle: str, weights: str, image_size) -> Backbone:
    if weights not in ("imagenet", "pretrained", None):
        raise TfxferError(f"--weights {weights!r} does not apply to {uri}: a SavedModel brings its own weights")
    layer = SavedModelLayer(resolve_handle(handle), name="tfhub_backbone")
    size = tuple(image_size) if image_size else (_fixed_image_size(layer) or (224, 224))
    return Backbone(
        uri=uri,
        model=layer,
        # TF Hub's image convention: RGB floats in [0, 1].
        preprocessor=PixelScaling(1 / 255.0, 0.0, name="preprocessing"),
        image_size=(int(size[0]), int(size[1])),
        family="tfhub",
    )


def load_tfhub_text(uri: str, handle: str, weights: str, sequence_length: int, preprocessor: str | None) -> Backbone:
    import tensorflow_text  # noqa: F401 - registers the ops that BERT preprocessors need

    if not preprocessor:
        raise TfxferError(
            f"{uri} is a TF Hub text encoder: name its matching preprocessing model with "
            f"--preprocessor tfhub:HANDLE_OR_DIR"
        )
    if not str(preprocessor).startswith("tfhub:"):
        raise TfxferError(f"--preprocessor {preprocessor!r} must be tfhub:HANDLE_OR_DIR")
    if weights not in ("pretrained", "imagenet", None):
        raise TfxferError(f"--weights {weights!r} does not apply to {uri}: a SavedModel brings its own weights")
    encoder = SavedModelLayer(resolve_handle(handle), name="tfhub_encoder")
    tokenizer = SavedModelLayer(resolve_handle(preprocessor[len("tfhub:"):]), trainable=False, name="tfhub_preprocessor")
    return Backbone(uri=uri, model=encoder, preprocessor=tokenizer, family="tfhub_bert",
                    mask_key="input_mask")

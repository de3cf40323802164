"""Mixed precision (bfloat16 compute, float32 probabilities, also when exported) and XLA
(whole image models; text models after their string preprocessing)."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

import tfxfer
from tfxfer.data.sources import load_image_data, load_text_data
from tfxfer.finetune.precision import set_mixed_precision


@pytest.fixture
def mixed_precision():
    policy = set_mixed_precision(True)
    yield policy
    set_mixed_precision(False)


def test_mixed_precision_computes_bfloat16_and_outputs_float32(mixed_precision, tiny_images, tmp_path):
    assert mixed_precision == "mixed_bfloat16"  # no GPU here: CPUs have bfloat16
    model = tfxfer.build_image_classifier("keras:MobileNet", 3, weights="none", image_size=(32, 32))
    backbone = model.get_layer("backbone").backbone
    assert {layer.compute_dtype for layer in backbone.layers if layer.weights} == {"bfloat16"}
    assert model.get_layer("classifier").compute_dtype == "float32"
    data = load_image_data(str(tiny_images), image_size=(32, 32), batch_size=8, val_split=0.25)
    result = tfxfer.fine_tune(model, data, epochs=1, fine_tune_epochs=1, verbose=0)
    assert result.cached_features is not None and np.isfinite(result.history["loss"]).all()
    probabilities = model.predict(next(iter(data.val))[0], verbose=0)
    assert probabilities.dtype == np.float32
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    assert all(w.dtype == "float32" for w in model.weights)  # variables stay float32

    path = tfxfer.export_saved_model(model, tmp_path / "models", "mp", data.class_names)
    serve = tf.saved_model.load(str(path)).signatures["serving_default"]
    image = tf.io.encode_png(tf.cast(next(iter(data.val))[0][0], tf.uint8))
    out = serve(image_bytes=tf.reshape(image, [1]))
    assert out["probabilities"].dtype == tf.float32


def test_mixed_precision_text_caches_float32_features(mixed_precision, sentiment_csvs, tiny_preset):
    model = tfxfer.build_text_classifier(f"kerashub:{tiny_preset}", 2, pooling="mean", sequence_length=32)
    data = load_text_data(str(sentiment_csvs["train"]), str(sentiment_csvs["val"]), batch_size=16)
    result = tfxfer.fine_tune(model, data, epochs=2, fine_tune_epochs=0, verbose=0)
    assert result.cached_features is not None
    out = model.predict(tf.constant(["a warm and funny film", "dull and lifeless"]), verbose=0)
    assert out.dtype == np.float32 and out.shape == (2, 2)


class _BackboneCompiled(keras.callbacks.Callback):
    def __init__(self, layer):
        super().__init__()
        self.layer, self.seen = layer, []

    def on_train_begin(self, logs=None):
        self.seen.append(self.layer.jit_compile)


def test_xla_image_model_trains_like_without_it(tiny_images):
    def train(jit):
        keras.utils.set_random_seed(3)
        model = tfxfer.build_image_classifier("keras:MobileNet", 3, weights="none", image_size=(32, 32))
        data = load_image_data(str(tiny_images), image_size=(32, 32), batch_size=8, val_split=0.25, seed=2)
        result = tfxfer.fine_tune(model, data, epochs=1, fine_tune_epochs=1, jit_compile=jit,
                                  early_stopping_patience=0, verbose=0)
        return model, result

    model, compiled = train(True)
    assert model.jit_compile is True  # phase 2 ran as one XLA cluster
    _, plain = train(False)
    np.testing.assert_allclose(compiled.history["loss"], plain.history["loss"], rtol=2e-2)


def test_xla_text_model_compiles_after_the_tokenizer(sentiment_csvs, tiny_preset, tmp_path):
    model = tfxfer.build_text_classifier(f"kerashub:{tiny_preset}", 2, pooling="mean", sequence_length=32)
    data = load_text_data(str(sentiment_csvs["train"]), str(sentiment_csvs["val"]), batch_size=16)
    watch = _BackboneCompiled(model.get_layer("backbone"))
    result = tfxfer.fine_tune(model, data, epochs=1, fine_tune_epochs=2, jit_compile=True, callbacks=[watch],
                              verbose=0)
    # Phase 1 trains the head on cached features; phase 2 runs the backbone under XLA while the
    # tokenizer (strings) stays outside it, which whole-model jit_compile cannot do.
    assert watch.seen[-1] is True and model.jit_compile is False
    assert np.isfinite(result.history["loss"]).all()
    assert model.get_layer("backbone").jit_compile is False  # exports run without XLA
    path = tfxfer.export_saved_model(model, tmp_path / "models", "xla", data.class_names)
    assert (path / "saved_model.pb").exists()

"""One harness over the three kinds of image backbone (keras:, kerashub:, tfhub:): build,
freeze, fine-tune with BatchNorm statistics held, and the loading paths of each kind."""

from __future__ import annotations

import keras
import numpy as np
import pytest

import tfxfer
from tests.conftest import EFFICIENTNET_LITE0
from tfxfer.data.sources import load_image_data
from tfxfer.errors import TfxferError


def test_frozen_phase_leaves_the_backbone_untouched(tiny_images):
    model = tfxfer.build_image_classifier("keras:MobileNet", 3, weights="none", image_size=(32, 32))
    before = [np.array(v.numpy()) for v in model.get_layer("backbone").weights]
    data = load_image_data(str(tiny_images), image_size=(32, 32), batch_size=8)
    tfxfer.fine_tune(model, data.train, data.val, epochs=2, fine_tune_epochs=0, verbose=0)
    for a, v in zip(before, model.get_layer("backbone").weights, strict=True):
        np.testing.assert_array_equal(a, v.numpy())


def test_fine_tuning_that_ends_worse_on_val_gives_way_to_the_head_alone(tiny_images):
    """A phase 2 that diverges (an absurd rate) ends with the weights phase 1 ended with:
    exactly those of the same run without fine-tuning. (With early_stopping_patience 0 each
    phase keeps its last weights: tests/e2e/test_backbone_kinds.py sees phase 2's.)"""
    def train(**phase2):
        keras.utils.set_random_seed(3)
        model = tfxfer.build_image_classifier("keras:MobileNet", 3, weights="none", image_size=(32, 32))
        data = load_image_data(str(tiny_images), image_size=(32, 32), batch_size=8, val_split=0.25)
        result = tfxfer.fine_tune(model, data, epochs=3, learning_rate=1e-2, early_stopping_patience=5,
                                  unfreeze="all", verbose=0, **phase2)
        return model, result

    head_alone, _ = train(fine_tune_epochs=0)
    diverged, result = train(fine_tune_epochs=1, fine_tune_learning_rate=50.0)
    assert result.phase2_epochs == 1 and result.kept_phase == 1
    for a, b in zip(head_alone.weights, diverged.weights, strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_resnet50_random_and_from_a_weights_file(tmp_path):
    source = keras.applications.ResNet50(include_top=False, weights=None, input_shape=(32, 32, 3))
    weights_file = tmp_path / "resnet50.weights.h5"
    source.save_weights(weights_file)
    model = tfxfer.build_image_classifier("keras:ResNet50", 4, weights=str(weights_file), image_size=(32, 32))
    loaded = model.get_layer("backbone").backbone
    for a, b in zip(source.weights, loaded.weights, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    random = tfxfer.build_image_classifier("keras:ResNet50", 4, weights="none", image_size=(32, 32))
    assert not np.array_equal(random.get_layer("backbone").weights[0].numpy(), source.weights[0].numpy())
    # ResNet's own preprocessing (caffe: BGR, ImageNet means) travels inside the model.
    x = np.full((1, 32, 32, 3), [200.0, 100.0, 50.0], np.float32)
    scaled = model.get_layer("preprocessing")(x).numpy()[0, 0, 0]
    np.testing.assert_allclose(scaled, [50 - 103.939, 100 - 116.779, 200 - 123.68], atol=1e-3)


def test_kerashub_preset_carries_its_normalisation():
    model = tfxfer.build_image_classifier(f"kerashub:{EFFICIENTNET_LITE0}", 2)
    assert model.input_shape == (None, 224, 224, 3)  # the preset's own size
    scaled = model.get_layer("preprocessing")(np.full((1, 2, 2, 3), 255.0, np.float32)).numpy()
    np.testing.assert_allclose(scaled, 1.0, atol=1e-5)  # mean = std = 0.5 on [0, 1]


def test_tfhub_feature_vector_takes_its_own_input_size(tfhub_feature_vector):
    model = tfxfer.build_image_classifier(f"tfhub:{tfhub_feature_vector}", 2)
    assert model.input_shape == (None, 32, 32, 3)  # traced for 32x32, not the 224 fallback


def test_unknown_names_are_user_errors():
    with pytest.raises(TfxferError, match="accepted: .*ResNet50"):
        tfxfer.build_image_classifier("keras:ResNet51", 2)
    with pytest.raises(TfxferError, match="unknown backbone"):
        tfxfer.build_image_classifier("resnet50", 2)
    with pytest.raises(TfxferError, match="num_classes must be at least 2"):
        tfxfer.build_image_classifier("keras:ResNet50", 1, weights="none")
    with pytest.raises(TfxferError, match="pooling 'sum'"):
        tfxfer.build_image_classifier("keras:MobileNet", 2, weights="none", image_size=(32, 32), pooling="sum")


def test_a_seed_makes_a_run_repeatable(tiny_images):
    def run_once():
        keras.utils.set_random_seed(5)
        model = tfxfer.build_image_classifier("keras:MobileNet", 3, weights="none", image_size=(32, 32))
        data = load_image_data(str(tiny_images), image_size=(32, 32), batch_size=4, seed=5)
        return tfxfer.fine_tune(model, data.train, data.val, epochs=2, fine_tune_epochs=1, verbose=0).history

    first, second = run_once(), run_once()
    np.testing.assert_allclose(first["loss"], second["loss"], rtol=1e-5)
    np.testing.assert_allclose(first["val_loss"], second["val_loss"], rtol=1e-5)


def test_fine_tune_decides_what_it_is_not_told_as_the_cli_does(tiny_images, caplog):
    """The Python API and ``python -m tfxfer.train`` share one source of defaults: the recipe."""
    from tfxfer.finetune.phases import phase_settings
    from tfxfer.recipe import Facts, decide

    model = tfxfer.build_image_classifier("keras:MobileNet", 3, weights="none", image_size=(32, 32))
    data = load_image_data(str(tiny_images), image_size=(32, 32), batch_size=8)
    decided = phase_settings(model, data.train, data, True, epochs=None, fine_tune_epochs=None, unfreeze=None,
                             learning_rate=2e-3, fine_tune_learning_rate=None, early_stopping_patience=None)
    facts = Facts("image", data.num_examples["train"], 3, cached=True)
    cli = {name: choice.value for name, choice in decide(facts, {"batch_size": 8}).items()}
    assert decided == {"epochs": cli["epochs"], "fine_tune_epochs": cli["fine_tune_epochs"], "unfreeze": "all",
                       "learning_rate": 2e-3, "fine_tune_learning_rate": cli["fine_tune_learning_rate"],
                       "early_stopping_patience": cli["early_stopping_patience"]}
    assert decided["fine_tune_epochs"] >= 2 and decided["fine_tune_learning_rate"] == 1e-4

    with caplog.at_level("INFO", logger="tfxfer"):
        result = tfxfer.fine_tune(model, data, epochs=2, learning_rate=2e-3, verbose=0)
    assert result.phase1_epochs == 2 and result.phase2_epochs >= 1  # fine-tuning follows, as on the CLI
    assert "fine_tune_epochs" in caplog.text and "decided by the recipe" in caplog.text


def test_data_the_model_cannot_take_is_one_line_before_any_training(tiny_images, tiny_preset):
    model = tfxfer.build_image_classifier("keras:MobileNet", 3, weights="none", image_size=(32, 32))
    data = load_image_data(str(tiny_images), image_size=(40, 40), batch_size=8)
    with pytest.raises(TfxferError, match=r"^the data's images are 40x40 pixels but the model takes 32x32: "
                                          r"load them with image_size=\(32, 32\)"):
        tfxfer.fine_tune(model, data, epochs=1, fine_tune_epochs=0, verbose=0)
    text_model = tfxfer.build_text_classifier(f"kerashub:{tiny_preset}", 3, sequence_length=16)
    with pytest.raises(TfxferError, match="^image data for a text model: load the data with load_text_data"):
        tfxfer.fine_tune(text_model, data, epochs=1, fine_tune_epochs=0, verbose=0)

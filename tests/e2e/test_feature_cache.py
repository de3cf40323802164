"""Cached features for the frozen phase: the same head as running the backbone every epoch,
never a stale cache, and off (with the reason) where it would be wrong."""

from __future__ import annotations

import json
import logging

import keras
import numpy as np
import pytest

import tfxfer
from tests.conftest import EFFICIENTNET_LITE0, run_cli, write_image
from tfxfer.data.sources import load_image_data, load_text_data
from tfxfer.finetune import feature_cache


def _head_weights(model: keras.Model) -> list[np.ndarray]:
    return [np.asarray(w) for w in model.get_layer("classifier").get_weights()]


def _phase1(build, data_fn, cache: bool, epochs: int = 3, **kwargs):
    keras.utils.set_random_seed(7)
    model = build()
    data = data_fn()
    result = tfxfer.fine_tune(model, data, epochs=epochs, cache_features=cache, early_stopping_patience=0,
                              verbose=0, **{"fine_tune_epochs": 0, **kwargs})
    return model, result


def test_cached_head_matches_uncached_image(fashion_mnist):
    """EfficientNet-Lite0 (real ImageNet weights) on Fashion-MNIST: the head trained on cached
    features equals the head trained through the frozen backbone, epoch by epoch, dropout's
    random masks included."""
    dropout = 0.3
    def build():
        return tfxfer.build_image_classifier(f"kerashub:{EFFICIENTNET_LITE0}", 4, dropout=dropout,
                                             image_size=(64, 64))

    def data():
        return load_image_data(str(fashion_mnist["train"]), str(fashion_mnist["val"]), image_size=(64, 64),
                               batch_size=32, seed=3)

    plain_model, plain = _phase1(build, data, cache=False)
    cached_model, cached = _phase1(build, data, cache=True)
    assert plain.cached_features is None and cached.cached_features["reused"] is False
    np.testing.assert_allclose(cached.history["loss"], plain.history["loss"], rtol=2e-4)
    np.testing.assert_allclose(cached.history["val_accuracy"], plain.history["val_accuracy"], atol=1e-6)
    for a, b in zip(_head_weights(cached_model), _head_weights(plain_model), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-5)
    assert cached.history["val_accuracy"][-1] > 0.6  # real features: well above chance (0.25)
    # The whole model carries the head trained on cached features (shared layers).
    probabilities = cached_model.predict(next(iter(data().val))[0], verbose=0)
    assert probabilities.dtype == np.float32 and np.allclose(probabilities.sum(1), 1, atol=1e-5)


def test_cached_head_matches_uncached_text(sentiment_csvs, tiny_preset):
    def build():
        return tfxfer.build_text_classifier(f"kerashub:{tiny_preset}", 2, pooling="mean", sequence_length=32,
                                            dropout=0.0)

    def data():
        return load_text_data(str(sentiment_csvs["train"]), str(sentiment_csvs["val"]), batch_size=16, seed=1)

    plain_model, plain = _phase1(build, data, cache=False, epochs=2)
    cached_model, cached = _phase1(build, data, cache=True, epochs=2)
    np.testing.assert_allclose(cached.history["loss"], plain.history["loss"], rtol=2e-4)
    for a, b in zip(_head_weights(cached_model), _head_weights(plain_model), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-5)


def test_cache_is_reused_only_for_the_same_backbone_and_data(tiny_images, tmp_path):
    cache_dir = tmp_path / "cache"

    def run(root, backbone="keras:MobileNet", weights="none", seed=0):
        keras.utils.set_random_seed(seed)
        model = tfxfer.build_image_classifier(backbone, 3, image_size=(32, 32), weights=weights)
        data = load_image_data(str(root), image_size=(32, 32), batch_size=8, val_split=0.25)
        return tfxfer.fine_tune(model, data, epochs=1, fine_tune_epochs=0, cache_dir=cache_dir, verbose=0).cached_features

    first = run(tiny_images)
    assert not first["reused"]
    assert run(tiny_images)["reused"]  # same backbone weights, same files: reused

    other_data = tmp_path / "other"
    for name in ("red", "green", "blue"):
        for path in sorted((tiny_images / name).iterdir()):
            (other_data / name).mkdir(parents=True, exist_ok=True)
            (other_data / name / path.name).write_bytes(path.read_bytes())
    assert run(other_data)["key"] != first["key"]  # other paths
    # The same paths with one file's content changed in place.
    write_image(other_data / "red" / "0.png", size=(30, 30), seed=99, color=(200, 0, 0))
    changed = run(other_data)
    assert not changed["reused"]
    # Another backbone (different random weights from another seed) on the same data.
    assert not run(tiny_images, seed=1)["reused"]
    entries = sorted(p.name for p in cache_dir.iterdir())
    assert len(entries) == 4 and all(not name.startswith(".") for name in entries), entries
    info = json.loads((cache_dir / first["key"] / "info.json").read_text())
    assert info["key"] == first["key"] and info["examples"]["train"] + info["examples"]["val"] == 24


def test_large_features_are_read_from_disk_in_the_same_order(tiny_images, tmp_path):
    """Above the memory limit the features are gathered from the memory-mapped file: the same
    batches, in the same order."""
    keras.utils.set_random_seed(0)
    model = tfxfer.build_image_classifier("keras:MobileNet", 3, image_size=(32, 32), weights="none")
    data = load_image_data(str(tiny_images), image_size=(32, 32), batch_size=4, val_split=0.25, seed=5)
    in_memory = feature_cache.cached_head(model, data, tmp_path / "cache")
    on_disk = feature_cache.cached_head(model, data, tmp_path / "cache", memory_limit=0)
    assert on_disk.reused
    for _ in range(2):  # two epochs: each reshuffles the same way
        for (a, la), (b, lb) in zip(in_memory.train, on_disk.train, strict=True):
            np.testing.assert_array_equal(a.numpy(), b.numpy())
            np.testing.assert_array_equal(la.numpy(), lb.numpy())
    # ... and in the order the images themselves come in, epoch after epoch.
    fresh = feature_cache.cached_head(model, data, tmp_path / "cache")
    for _ in range(2):
        image_labels = np.concatenate([y.numpy() for _, y in data.train])
        cached_labels = np.concatenate([y.numpy() for _, y in fresh.train])
        np.testing.assert_array_equal(image_labels, cached_labels)


def test_random_layer_before_the_head_turns_caching_off(tiny_images, caplog):
    model = tfxfer.build_image_classifier("keras:MobileNet", 3, image_size=(32, 32), weights="none")
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.RandomFlip("horizontal", name="flip")(inputs)
    for layer in model.layers[1:]:
        x = layer(x)
    augmented = tfxfer.TransferClassifier(inputs, x, task="image", parts=model.parts)  # the same parts, a flip first
    data = load_image_data(str(tiny_images), image_size=(32, 32), batch_size=8, val_split=0.25)
    assert "flip (RandomFlip)" in feature_cache.why_not(augmented, data)
    assert feature_cache.why_not(model, data) is None
    assert "tfxfer Datasets" in feature_cache.why_not(model, data.train)
    with caplog.at_level(logging.WARNING, logger="tfxfer"):
        result = tfxfer.fine_tune(augmented, data, epochs=1, fine_tune_epochs=0, verbose=0)
    assert result.cached_features is None
    assert "cached features off: flip (RandomFlip)" in caplog.text


def test_cli_caches_by_default_and_says_so(tiny_images, tmp_path):
    args = ["tfxfer.train", "--task", "image", "--backbone", "keras:MobileNet", "--weights", "none",
            "--train", str(tiny_images), "--image-size", "32", "--epochs", "2", "--fine-tune-epochs", "0", "--batch-size", "8",
            "--export-dir", str(tmp_path / "models")]
    result = run_cli(*args, "--output", str(tmp_path / "run"))
    assert result.returncode == 0, result.stderr[-3000:]
    assert "cached features computed" in result.stderr
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["cached_features"]["reused"] is False
    history = (tmp_path / "run" / "history.csv").read_text().splitlines()
    assert "seconds" in history[0] and len(history) == 3
    off = run_cli(*args, "--no-cache-features", "--output", str(tmp_path / "run2"))
    assert off.returncode == 0, off.stderr[-3000:]
    assert json.loads((tmp_path / "run2" / "metrics.json").read_text())["cached_features"] is None


class _Stop(Exception):
    pass


class _StopAfterFirstEpoch(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        raise _Stop


def test_head_epochs_checkpoint_only_the_head_and_resume_from_it(tiny_images, tmp_path):
    """While the head trains on cached features only the head changes: each epoch's checkpoint
    holds the head (kilobytes), the whole model is written once, and a restart restores both."""
    from tfxfer.finetune.checkpoints import Checkpoints

    def build():
        keras.utils.set_random_seed(0)
        return tfxfer.build_image_classifier("keras:MobileNet", 3, image_size=(32, 32), weights="none")

    data = load_image_data(str(tiny_images), image_size=(32, 32), batch_size=8, val_split=0.25)
    checkpoints = Checkpoints(tmp_path / "checkpoints")
    model = build()
    with pytest.raises(_Stop):
        tfxfer.fine_tune(model, data, epochs=3, fine_tune_epochs=1, checkpoints=checkpoints,
                         callbacks=[_StopAfterFirstEpoch()], verbose=0)
    saved = checkpoints.load()
    assert saved.epochs_done == 1 and saved.phase == 1
    files = {p.name: p.stat().st_size for p in (tmp_path / "checkpoints" / saved.checkpoint).iterdir()}
    assert "model.weights.h5" not in files and files["head.npz"] < 20_000, files
    assert (tmp_path / "checkpoints" / "base.weights.h5").stat().st_size > 1_000_000

    fresh = build()
    for w in fresh.weights:  # nothing of the original weights survives by accident
        w.assign(np.zeros(w.shape, w.dtype))
    checkpoints.restore_weights(fresh, saved, head=feature_cache.head_weights)
    for a, b in zip(fresh.weights, model.weights, strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))

    resumed = build()
    result = tfxfer.fine_tune(resumed, data, epochs=3, fine_tune_epochs=1, checkpoints=checkpoints, verbose=0)
    assert result.resumed_from_epoch == 1 and result.history["phase"] == [1, 1, 1, 2]
    final = checkpoints.load()
    weights_file = tmp_path / "checkpoints" / final.checkpoint / "model.weights.h5"
    assert not (tmp_path / "checkpoints" / "base.weights.h5").exists()  # phase 2 saves whole models
    # The weights file holds the weights once, not the optimizer's slots (kept in optimizer.npz).
    parameter_bytes = sum(int(np.prod(w.shape)) * 4 for w in resumed.weights)
    assert weights_file.stat().st_size < 1.2 * parameter_bytes
    assert (weights_file.parent / "optimizer.npz").stat().st_size > parameter_bytes

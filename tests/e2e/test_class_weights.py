"""Class weights in real training: the loss both phases minimise, against a hand computation,
and what the CLI says and records when it decides them or is given a bad value."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import yaml

import tfxfer
from tests.conftest import refused, run_cli


def _skewed_manifest(tiny_images, folder, counts=(("red", 8), ("green", 1), ("blue", 1))):
    """A manifest of ``counts`` images per class, copied from tiny_images into ``folder``/imgs."""
    rows = ["path,label"]
    for name, count in counts:
        for file in sorted((tiny_images / name).iterdir())[:count]:
            (folder / "imgs" / name).mkdir(parents=True, exist_ok=True)
            shutil.copyfile(file, folder / "imgs" / name / file.name)
            rows.append(f"imgs/{name}/{file.name},{name}")
    (folder / "images.csv").write_text("\n".join(rows) + "\n")
    return folder / "images.csv"


@pytest.mark.parametrize("class_weight", ["balanced", "none"])
def test_both_phases_minimise_the_weighted_loss_computed_by_hand(class_weight, tiny_images, tmp_path):
    """One batch an epoch and a learning rate of 1e-9: each epoch's training loss is the loss of
    the starting weights, sum(w[y] * -log p[y]) / n, in the cached-features head phase and in the
    fine-tuning phase alike."""
    import keras

    manifest = _skewed_manifest(tiny_images, tmp_path)
    data = tfxfer.load_image_data(str(manifest), str(manifest), image_size=(32, 32), batch_size=64)
    keras.utils.set_random_seed(0)
    model = tfxfer.build_image_classifier("keras:MobileNet", 3, weights="none", image_size=(32, 32),
                                          dropout=0.0)
    model.trainable_weights[-1].assign(np.array([-2.0, 0.0, 2.0], np.float32))  # the head's bias: lean to red

    labels = data.splits.train.labels
    probabilities = np.concatenate([model.predict(x, verbose=0) for x, _ in data.in_order("train")])
    losses = -np.log(probabilities[np.arange(len(labels)), labels])
    counts = np.bincount(labels, minlength=3)  # blue 1, green 1, red 8
    weights = len(labels) / (3 * counts) if class_weight == "balanced" else np.ones(3)
    expected = float(np.sum(weights[labels] * losses) / len(labels))

    result = tfxfer.fine_tune(model, data, epochs=1, fine_tune_epochs=1, unfreeze="all", learning_rate=1e-9,
                              fine_tune_learning_rate=1e-9, early_stopping_patience=0, class_weight=class_weight,
                              verbose=0)
    assert result.cached_features is not None  # phase 1 trained the head on cached features
    assert result.history["loss"] == pytest.approx([expected, expected], rel=1e-4)
    assert result.class_weights == (None if class_weight == "none" else pytest.approx(dict(enumerate(weights))))
    if class_weight == "balanced":  # the rare classes' larger losses now dominate
        assert expected > 1.2 * float(np.mean(losses))


def test_the_recipe_decides_and_records_class_weights(tiny_images, tmp_path):
    manifest = _skewed_manifest(tiny_images, tmp_path / "data")
    val = tmp_path / "data" / "val.csv"
    val.write_text(manifest.read_text())
    result = run_cli("tfxfer.train", "--backbone", "keras:MobileNet", "--weights", "none",
                     "--image-size", "32", "--batch-size", "8", "--epochs", "1", "--fine-tune-epochs", "0",
                     "--train", str(manifest), "--val", str(val),
                     "--output", str(tmp_path / "run"), "--export-dir", str(tmp_path / "exported"))
    assert result.returncode == 0, result.stderr[-3000:]
    row = next(line for line in result.stdout.splitlines() if line.split()[:1] == ["class_weight"])
    assert row.split()[1] == "balanced"
    assert "your largest class has 8.0x the training examples of your smallest (8 against 1; >= 5x)" in row
    config = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())
    assert config["class_weight"] == "balanced" and config["task"] == "image"  # inferred from the header
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["recipe"]["class_weight"]["value"] == "balanced"
    assert metrics["recipe"]["class_weight"]["set_by"] == "recipe auto"
    assert metrics["class_weights"] == pytest.approx({"blue": 10 / 3, "green": 10 / 3, "red": 10 / 24}, rel=1e-5)
    assert 0 <= metrics["val"]["balanced_accuracy"] <= 1
    assert "balanced accuracy" in result.stdout and "(balanced " in result.stdout


def test_bad_class_weights_exit_2_with_one_line(tiny_images, tmp_path):
    manifest = _skewed_manifest(tiny_images, tmp_path / "data")
    unknown = tmp_path / "weights.yaml"
    unknown.write_text("red: 1\npurple: 3\n")
    negative = tmp_path / "weights.json"
    negative.write_text('{"red": -1}')
    cases = [
        ("heavy", "--class-weight must be balanced, none, or a YAML/JSON file mapping class names to weights; "
                  "'heavy' is not a word of these and no file of that name exists"),
        (str(unknown), f"--class-weight {unknown} names 'purple', which is not a class; the classes are blue, "
                       f"green, red"),
        (str(negative), "the weight of 'red' must be a number > 0, got -1"),
    ]

    common = ["--backbone", "keras:MobileNet", "--weights", "none", "--image-size", "32", "--recipe", "fixed",
              "--train", manifest, "--export-dir", tmp_path / "exported"]
    refused("tfxfer.train", [([*common, "--class-weight", value, "--output", tmp_path / f"run{i}"], message)
                             for i, (value, message) in enumerate(cases)], tmp_path)
    for i in range(len(cases)):
        assert not (tmp_path / f"run{i}").exists()
    assert not (tmp_path / "exported").exists()

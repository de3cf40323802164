"""TrainConfig checks itself: the Python API refuses what the CLI refuses, with the same words."""

from __future__ import annotations

import pytest

from tfxfer.config import TrainConfig, field_names, flag_help
from tfxfer.errors import TfxferError

REQUIRED = {"backbone": "keras:ResNet50", "train": "photos/"}


@pytest.mark.parametrize("key, value, message", [
    ("epochs", -1, "--epochs must be >= 0, got -1"),
    ("epochs", "three", "--epochs must be a whole number, got 'three'"),
    ("dropout", 1.0, "--dropout must be >= 0.0 and < 1.0, got 1.0"),
    ("strategy", "gpu", "--strategy must be one of auto, default, mirrored, multi_worker, tpu, got 'gpu'"),
    ("unfreeze", "-2", "--unfreeze must be 'all' or a number of top layers >= 0"),
    ("time_budget", "soon", "--time-budget must be a duration such as 10m"),
    ("mixed_precision", "maybe", "--mixed-precision must be true or false"),
    ("layer_decay", 1.5, "--layer-decay must be > 0.0 and <= 1.0, got 1.5"),
])
def test_bad_values_are_refused_from_python_too(key, value, message):
    with pytest.raises(TfxferError, match=message.replace("(", r"\(").replace(")", r"\)")):
        TrainConfig(**REQUIRED, **{key: value})


def test_values_are_normalised_and_required_fields_checked():
    config = TrainConfig(**REQUIRED, epochs="2", time_budget="1h30m", unfreeze=0, mixed_precision="yes")
    assert (config.epochs, config.time_budget, config.unfreeze, config.mixed_precision) == (2, 5400.0, "frozen", True)
    with pytest.raises(TfxferError, match="--backbone is required"):
        TrainConfig(train="photos/")
    with pytest.raises(TfxferError, match="nothing would train"):
        TrainConfig(**REQUIRED, epochs=0, fine_tune_epochs=0)
    assert TrainConfig(**REQUIRED, layer_decay="1").layer_decay == 1.0


def test_a_text_only_setting_given_for_images_is_refused(tmp_path):
    (tmp_path / "cats").mkdir()
    with pytest.raises(TfxferError, match="--layer-decay is for text models"):
        TrainConfig(backbone="keras:ResNet50", train=str(tmp_path), layer_decay=0.8).resolved()
    manifest = tmp_path / "images.csv"
    manifest.write_text("path,kind\ncats/a.png,cat\n")
    with pytest.raises(TfxferError) as raised:  # once silently ignored: the manifest's label column was read
        TrainConfig(backbone="keras:ResNet50", train=str(manifest), label_column="kind").resolved()
    assert str(raised.value) == ("--label-column kind names a text file's label column; images read theirs from a "
                                 "manifest's label (or labels) column or a class folder's name: rename the "
                                 "manifest's column to label, or leave --label-column out")


def test_help_states_each_default_once():
    assert flag_help("seed") == "random seed (default 42)"
    assert flag_help("val_split").endswith("(default 0.1)")
    assert flag_help("cache_features").endswith("(default true)")
    assert "the recipe's" in flag_help("epochs") and "the recipe's" in flag_help("sequence_length")
    assert all(flag_help(name) for name in field_names())

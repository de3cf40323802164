"""Class weights from --class-weight (tfxfer.data.class_weights) and the balanced accuracy the
reports show: hand-counted on small label lists, no training."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tfxfer.config import TrainConfig
from tfxfer.data.class_weights import class_weights, describe
from tfxfer.errors import TfxferError
from tfxfer.reports.metrics import classification_report

CLASSES = ["ant", "bee", "cat"]
LABELS = np.array([0] * 12 + [1] * 3 + [2] * 1)  # 16 examples, 3 classes


def test_balanced_is_n_over_classes_times_count():
    weights = class_weights("balanced", CLASSES, LABELS)
    assert weights == pytest.approx({0: 16 / (3 * 12), 1: 16 / (3 * 3), 2: 16 / (3 * 1)})
    # every class adds the same total weight, and the mean weight over the examples is 1
    totals = [weights[i] * count for i, count in enumerate(np.bincount(LABELS))]
    assert totals == pytest.approx([16 / 3] * 3)
    assert np.mean([weights[int(y)] for y in LABELS]) == pytest.approx(1.0)
    assert class_weights("none", CLASSES, LABELS) is None and class_weights(None, CLASSES, LABELS) is None
    assert describe(weights, CLASSES) == {"ant": 0.444444, "bee": 1.777778, "cat": 5.333333}


def test_a_file_maps_class_names_to_weights(tmp_path):
    yaml_file = tmp_path / "weights.yaml"
    yaml_file.write_text("cat: 4\nbee: 2.5\n")
    assert class_weights(str(yaml_file), CLASSES) == {0: 1.0, 1: 2.5, 2: 4.0}  # a class left out weighs 1
    json_file = tmp_path / "weights.json"
    json_file.write_text(json.dumps({"ant": 0.5}))
    assert class_weights(str(json_file), CLASSES) == {0: 0.5, 1: 1.0, 2: 1.0}
    numbered = tmp_path / "numbered.yaml"  # YAML reads 5 as a number: in a file it is still a class name
    numbered.write_text("5: 3\n")
    assert class_weights(str(numbered), ["1", "5", "9"]) == {0: 1.0, 1: 3.0, 2: 1.0}
    assert class_weights({2: 3.0}, CLASSES) == {0: 1.0, 1: 1.0, 2: 3.0}  # in Python an int is Keras' index


@pytest.mark.parametrize("content, expected", [
    ("dog: 2\n", "names 'dog', which is not a class; the classes are ant, bee, cat"),
    ("cat: -1\n", "the weight of 'cat' must be a number > 0, got -1"),
    ("cat: heavy\n", "the weight of 'cat' must be a number > 0, got 'heavy'"),
    ("- cat\n- bee\n", "must hold a mapping of class names to weights (cat: 1.0), got list"),
    ("cat: [1\n", "is not a readable YAML/JSON file"),
])
def test_a_bad_file_is_one_error_naming_the_problem(content, expected, tmp_path):
    path = tmp_path / "weights.yaml"
    path.write_text(content)
    with pytest.raises(TfxferError) as raised:
        class_weights(str(path), CLASSES)
    assert expected in str(raised.value) and "\n" not in str(raised.value)


def test_the_flag_takes_a_mode_or_an_existing_file(tmp_path):
    base = {"backbone": "keras:MobileNetV3Small", "train": "photos/"}
    assert TrainConfig(**base, class_weight="Balanced").class_weight == "balanced"
    assert TrainConfig(**base, class_weight="none").class_weight == "none"
    with pytest.raises(TfxferError) as raised:
        TrainConfig(**base, class_weight="heavy")
    assert str(raised.value) == ("--class-weight must be balanced, none, or a YAML/JSON file mapping class names to "
                                 "weights; 'heavy' is not a word of these and no file of that name exists")
    with pytest.raises(TfxferError, match="needs the training labels"):
        class_weights("balanced", CLASSES, None)


def test_balanced_accuracy_is_the_mean_recall_of_the_classes_present():
    labels = np.array([0, 0, 0, 0, 0, 0, 0, 0, 1, 1])  # class 2 absent: it does not count
    predicted = np.array([0, 0, 0, 0, 0, 0, 0, 0, 0, 1])  # ant recall 8/8, bee 1/2
    report = classification_report(np.eye(3, dtype=np.float32)[predicted], labels, CLASSES)
    assert report["accuracy"] == pytest.approx(0.9)
    assert report["balanced_accuracy"] == pytest.approx((1.0 + 0.5) / 2)
    assert report["per_class"]["bee"]["recall"] == pytest.approx(0.5)

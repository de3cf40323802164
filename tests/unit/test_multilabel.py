"""Multi-label classification, without training: deciding the kind of labels from the cells,
reading label sets from CSV and JSONL, refusing empty sets, the thresholds chosen for each class,
the scores against a hand count, the sigmoid model and its thresholds through a .keras file and
an export, the recipe's row and the CLI's refusals."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.conftest import refused
from tfxfer.config import TrainConfig
from tfxfer.data.sources import read_labelled, read_text_splits
from tfxfer.data.targets import infer_labels
from tfxfer.errors import TfxferError
from tfxfer.finetune.losses import start_at_the_prior
from tfxfer.finetune.thresholds import choose_thresholds
from tfxfer.recipe import Facts, decide
from tfxfer.reports.metrics import multilabel_report


@pytest.mark.parametrize("labels, kind", [
    (["sports", "politics|economy", "sports"], "multi"),  # one cell with a set decides
    (['["sports"]', "economy"], "multi"),  # a JSON list, even of one name
    (["sports", "politics"], "single"),
    (["0", "1", "1"], "single"),
])
def test_the_kind_of_labels_is_decided_from_the_cells(labels, kind):
    assert infer_labels(labels, "train.csv") == kind


def _csv(path, rows):
    path.write_text("text,label\n" + "".join(f'"{text}","{label}"\n' for text, label in rows), encoding="utf-8")
    return path


def test_label_sets_are_read_from_csv_and_jsonl_as_multi_hot_rows(tmp_path):
    rows = [(f"story {i}", ["economy|politics", "sports", "politics", "sports|economy|politics"][i % 4])
            for i in range(40)]
    splits = read_text_splits(str(_csv(tmp_path / "t.csv", rows)), val_split=0.25, seed=0)
    assert splits.labels == "multi" and splits.class_names == ["economy", "politics", "sports"]
    assert splits.train.labels.dtype == np.float32 and splits.train.labels.shape[1] == 3
    assert len(splits.train) + len(splits.val) == 40 and 8 <= len(splits.val) <= 12
    # stratified by each row's rarest class: every class and every row of one label reaches val
    assert splits.val.labels.min(axis=0).tolist() == [0, 0, 0] and splits.val.labels.max(axis=0).tolist() == [1, 1, 1]
    assert {(0, 0, 1), (0, 1, 0)} <= {tuple(row) for row in splits.val.labels.tolist()}

    jsonl = tmp_path / "t.jsonl"
    jsonl.write_text("".join(json.dumps({"text": f"story {i}", "label": label}) + "\n"
                             for i, label in enumerate([["politics", "economy"], "sports", ["sports"], "economy|x"])))
    examples = read_text_splits(str(jsonl), val_split=0.5, seed=0)
    assert examples.class_names == ["economy", "politics", "sports", "x"]
    both = read_labelled(str(jsonl), examples.class_names, "text", labels="multi")
    assert both.labels.tolist() == [[1, 1, 0, 0], [0, 0, 1, 0], [0, 0, 1, 0], [1, 0, 0, 1]]
    with pytest.raises(TfxferError, match=r"has label\(s\) never seen in training: x \(training labels: economy"):
        read_labelled(str(jsonl), ["economy", "politics", "sports"], "text", labels="multi")


@pytest.mark.parametrize("cell, says", [
    ("[]", "label '[]' is an empty label set; a multi-label cell holds at least one name"),
    ("|", "label '|' is an empty label set"),
    ("sports||economy", "label 'sports||economy' holds an empty name"),
    ("[1.5]", "is a JSON list of something other than names"),
])
def test_an_empty_label_set_is_refused_naming_its_line(tmp_path, cell, says):
    path = tmp_path / "t.jsonl"
    label = json.loads(cell) if cell.startswith("[") else cell
    path.write_text("".join(json.dumps({"text": t, "label": v}) + "\n"
                            for t, v in [("a", "sports|economy"), ("b", "sports"), ("c", label)]))
    with pytest.raises(TfxferError) as raised:
        read_text_splits(str(path), labels="multi")
    assert str(raised.value).startswith(f"train file {path} line 3: ") and says in str(raised.value)


def test_each_threshold_maximises_its_class_f1_on_val():
    # class 0: positives ranked 1-4 and 6 of 8: the top six in (F1 2*5/(6+5) = 0.909 against 0.889
    # for the top four), the cut midway between 0.5 and 0.4; class 1: the tied 0.7s go in
    # together, all five positives among the top six (F1 0.909); class 2: four positives, too
    # few to choose on: 0.5
    probabilities = np.array([[0.9, 0.7, 0.9], [0.8, 0.7, 0.1], [0.7, 0.7, 0.1], [0.65, 0.6, 0.1],
                              [0.6, 0.6, 0.1], [0.5, 0.55, 0.1], [0.4, 0.2, 0.1], [0.1, 0.1, 0.1]])
    targets = np.array([[1, 1, 1], [1, 0, 1], [1, 1, 1], [1, 1, 1], [0, 1, 0], [1, 1, 0], [0, 0, 0], [0, 0, 0]])
    assert choose_thresholds(probabilities, targets) == [0.45, 0.375, 0.5]


def test_scores_against_a_hand_count():
    probabilities = np.array([[0.9, 0.8, 0.1], [0.2, 0.7, 0.6], [0.4, 0.3, 0.9], [0.8, 0.1, 0.2]])
    targets = np.array([[1, 1, 0], [0, 1, 0], [1, 0, 1], [0, 0, 0]], dtype=np.float32)
    predicted = probabilities >= 0.5
    report = multilabel_report(probabilities, targets, predicted, ["a", "b", "c"], [0.5, 0.5, 0.5])
    # predicted: {a,b} {b,c} {c} {a}; true: {a,b} {b} {a,c} {}
    # a: TP 1 (row 0), FP 1 (row 3), FN 1 (row 2); b: TP 2; c: TP 1, FP 1 (row 1)
    # a's ranking 0.9 (true), 0.8, 0.4 (true), 0.2: precision 1/1 and 2/3 at its positives
    assert report["per_class"]["a"] == {"precision": 0.5, "recall": 0.5, "f1": 0.5,
                                        "average_precision": pytest.approx(5 / 6), "support": 2, "predicted": 2,
                                        "threshold": 0.5}
    assert report["per_class"]["b"]["f1"] == 1.0 and report["per_class"]["c"]["precision"] == 0.5
    assert report["micro_f1"] == pytest.approx(2 * 4 / (6 + 5))  # TP 4, predicted 6, true 5
    assert report["macro_f1"] == pytest.approx((0.5 + 1.0 + 2 / 3) / 3)
    assert report["mean_average_precision"] == pytest.approx((5 / 6 + 1.0 + 1.0) / 3)  # b and c rank perfectly
    assert report["subset_accuracy"] == 0.25  # only row 0's whole set is right
    assert report["hamming_accuracy"] == pytest.approx(9 / 12)
    assert report["loss"] == pytest.approx(-np.mean(np.where(targets > 0, np.log(probabilities),
                                                             np.log(1 - probabilities))))


def test_a_multi_label_model_keeps_its_thresholds_through_keras_files_and_its_export(tmp_path):
    import tensorflow as tf

    import tfxfer
    from tfxfer import build_image_classifier, export_saved_model

    model = build_image_classifier("keras:MobileNet", 3, weights="none", image_size=(32, 32),
                                   labels="multi", class_names=["cat", "indoor", "sleeping"])
    assert model.head[-1].activation.__name__ == "sigmoid" and model.thresholds is None
    # training starts from each class's share of the rows (here 3/4, 1/4, 1/2), not from 0.5
    rows = np.array([[1, 0, 1], [1, 0, 0], [1, 1, 1], [0, 0, 0]], dtype=np.float32)
    assert start_at_the_prior(model, rows)
    np.testing.assert_allclose(model.head[-1].get_weights()[1], [np.log(3), -np.log(3), 0.0], atol=1e-6)
    assert not start_at_the_prior(model, rows[:1])  # a head that is no longer fresh is left alone
    with pytest.raises(ValueError, match=r"thresholds must be 3 probabilities in \(0, 1\)"):
        model.thresholds = [0.5, 1.0, 0.2]
    model.thresholds = [0.3, 0.5, 0.7]
    model.save(tmp_path / "m.keras")
    assert tfxfer.load_model(tmp_path / "m.keras").thresholds == [0.3, 0.5, 0.7]

    path = export_saved_model(model, tmp_path / "exported", "pets")
    info = json.loads((path / "assets" / "tfxfer.json").read_text())
    assert info["labels"] == "multi" and info["outputs"] == ["probabilities", "predicted", "class_names"]
    assert info["thresholds"] == [0.3, 0.5, 0.7] and info["classes"] == ["cat", "indoor", "sleeping"]
    images = [tf.io.encode_png(np.random.default_rng(i).integers(0, 256, (40, 30, 3), dtype=np.uint8)).numpy()
              for i in range(4)]
    served = tf.saved_model.load(str(path)).signatures["serving_default"]
    out = served(image_bytes=tf.constant(images))
    probabilities = out["probabilities"].numpy()
    assert probabilities.shape == (4, 3) and out["predicted"].dtype == tf.bool
    np.testing.assert_array_equal(out["predicted"].numpy(), probabilities >= np.array([0.3, 0.5, 0.7], np.float32))
    assert out["class_names"].numpy().tolist() == [[b"cat", b"indoor", b"sleeping"]] * 4
    empty = served(image_bytes=tf.constant([], tf.string))
    assert empty["predicted"].shape == (0, 3) and empty["class_names"].shape == (0, 3)


def test_an_image_manifest_with_label_sets_is_multi_label(tmp_path):
    from tests.conftest import write_image
    from tfxfer.data.sources import read_image_splits

    for i in range(12):
        write_image(tmp_path / "shots" / f"{i}.png", seed=i)
    sets = ["cat|indoor", "dog", "cat|dog|indoor", "dog|outdoor"]
    manifest = tmp_path / "shots" / "labels.csv"
    manifest.write_text("path,labels\n" + "".join(f"{i}.png,{sets[i % 4]}\n" for i in range(12)))
    splits = read_image_splits(str(manifest), val_split=0.25, seed=0)  # decided from the cells
    assert splits.labels == "multi" and splits.class_names == ["cat", "dog", "indoor", "outdoor"]
    assert len(splits.train) + len(splits.val) == 12 and splits.train.labels.shape[1] == 4
    manifest.write_text("path,labels\n0.png,cat|indoor\n1.png,dog\n2.png,[]\n")
    with pytest.raises(TfxferError, match=f"train manifest {manifest} line 4: label '\\[\\]' is an empty label set"):
        read_image_splits(str(manifest))
    with pytest.raises(TfxferError, match="multi-label images come from a CSV manifest with a header row path,labels"):
        read_image_splits(str(tmp_path / "shots"), labels="multi")


def test_the_recipe_and_the_config_say_what_multi_label_takes():
    decided = decide(Facts("text", 900, 5, True, labels="multi"), {})
    assert decided["class_weight"].value == "none" and "binary cross-entropy" in decided["class_weight"].why
    assert "loss" not in decided
    required = {"backbone": "kerashub:x", "train": "t.csv"}
    with pytest.raises(TfxferError, match="--class-weight balanced weighs one class a row; multi-label rows hold "
                                          "several"):
        TrainConfig(**required, labels="multi", class_weight="balanced")
    with pytest.raises(TfxferError, match="--loss is for numeric labels"):
        TrainConfig(**required, labels="multi", loss="mse")
    with pytest.raises(TfxferError, match="--labels multi reads its label sets from a .csv/.tsv/.jsonl file"):
        TrainConfig(**{**required, "train": "tfds:imdb_reviews", "task": "text"}, labels="multi").resolved()


def test_the_cli_refuses_bad_multi_label_input_in_one_line(tmp_path):
    sets = [(f"story {i}", ["economy|politics", "sports"][i % 2]) for i in range(20)]
    good = _csv(tmp_path / "good.csv", sets)
    empty = _csv(tmp_path / "empty.csv", [*sets, ("a story", "[]")])
    unseen = _csv(tmp_path / "unseen.csv", [("a story", "sports|weather")])
    output = tmp_path / "run"
    common = ["--backbone", "kerashub:/nonexistent", "--output", str(output), "--export-dir", str(tmp_path / "exported")]
    cases = [
        ([*common, "--train", str(empty)], f"train file {empty} line 22: label '[]' is an empty label set"),
        ([*common, "--train", str(good), "--class-weight", "balanced"],
         "--class-weight balanced weighs one class a row; multi-label rows hold several"),
        ([*common, "--train", str(good), "--test", str(unseen)],
         f"test file {unseen} has label(s) never seen in training: weather"),
        ([*common, "--train", str(good), "--labels", "numeric"], "label 'economy|politics' is not a number"),
    ]
    refused("tfxfer.train", cases, tmp_path)
    assert not output.exists() and not (tmp_path / "exported").exists()  # nothing written


def test_a_new_version_with_another_kind_of_labels_is_refused(tmp_path):
    from tfxfer.serving.export import check_export_matches

    assets = tmp_path / "topics" / "1" / "assets"
    assets.mkdir(parents=True)
    (assets / "tfxfer.json").write_text(json.dumps({"task": "text", "inputs": ["text"], "labels": "single",
                                                    "classes": ["a", "b"]}))
    with pytest.raises(TfxferError) as raised:
        check_export_matches(tmp_path / "topics", "text", ["a", "b"], by_user=True, labels="multi")
    assert str(raised.value) == (f"{tmp_path / 'topics' / '1'} is a model for single labels (outputs probabilities, "
                                 f"class_id, class_name), this one for multi labels (outputs probabilities, "
                                 f"predicted, class_names): pass --name with another name to export beside it")

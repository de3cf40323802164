"""Numeric labels (regression), without training: deciding the kind of labels from a column,
reading the targets, the standardised target through a .keras file, the loss, the scores
against a hand computation, the recipe's table and the CLI's refusals."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tests.conftest import error_line, refused
from tfxfer.config import TrainConfig
from tfxfer.data.sources import read_text_splits
from tfxfer.data.splits import target_bins
from tfxfer.data.targets import infer_labels, target_scale
from tfxfer.errors import TfxferError
from tfxfer.recipe import Facts, decide, format_table
from tfxfer.reports.metrics import regression_report


@pytest.mark.parametrize("labels, kind", [
    (["pos", "neg", "pos"], "single"),
    (["0", "1", "1", "0"], "single"),  # two integers: a binary classification, as before
    (["3.5", "great", "fine"] + [str(i) for i in range(30)], "single"),  # names among numbers (9%): classes
    ([f"{i / 7:.4f}" for i in range(-20, 20)], "numeric"),
    ([str(year) for year in range(1990, 2026)], "numeric"),  # integers, many, not class ids
])
def test_the_kind_of_labels_is_decided_from_the_column(labels, kind):
    assert infer_labels(labels, "train.csv") == kind


@pytest.mark.parametrize("labels, shown", [
    (["1", "2", "3", "4", "5", "3"], "5 distinct values (1, 2, 3, 4, 5)"),  # star ratings
    ([str(i) for i in range(30)], "30 distinct values (0, 1, 2, 3, 4, 5 ...)"),  # class ids 0..29
    (["0.5", "1.5", "2.25"], "3 distinct values (0.5, 1.5, 2.25)"),  # few decimals
])
def test_a_column_of_numbers_that_could_be_either_asks_for_labels(labels, shown):
    with pytest.raises(TfxferError) as raised:
        infer_labels(labels, "train file t.csv (column 'label')")
    assert str(raised.value) == (f"train file t.csv (column 'label'): the labels are numbers with {shown}: pass "
                                 f"--labels single to treat each value as a class, or --labels numeric to predict "
                                 f"the number (regression)")


def test_a_few_words_in_a_column_of_many_numbers_stop_the_run():
    """One "n/a" among 40 ratings is a typo, not 41 classes: a new user's WordSim-353 run with one
    such cell trained a 186-class classifier, saying nothing."""
    labels = [f"{i / 7:.4f}" for i in range(40)] + ["n/a"]
    with pytest.raises(TfxferError) as raised:
        infer_labels(labels, "train file t.csv (column 'label')")
    assert str(raised.value) == ("train file t.csv (column 'label'): 1 label(s) are not numbers ('n/a') while the "
                                 "other 40 are numbers with 40 distinct values, a target to predict: fix or empty "
                                 "those cells (an empty label leaves its row out; --labels numeric names the first "
                                 "one's line)")


def _ratings_csv(path, rows):
    path.write_text("text,label\n" + "".join(f"{text},{label}\n" for text, label in rows), encoding="utf-8")
    return path


def test_numeric_targets_are_read_and_split_by_their_deciles(tmp_path):
    rows = [(f"review number {i}", f"{(i % 41) / 10 - 2:.1f}") for i in range(200)]
    splits = read_text_splits(str(_ratings_csv(tmp_path / "r.csv", rows)), val_split=0.2, seed=1)
    assert splits.labels == "numeric" and splits.class_names == []
    assert splits.train.labels.dtype == np.float32 and len(splits.train) + len(splits.val) == 200
    # every decile of the target keeps its share in val: the held-out part spans the range
    assert np.bincount(target_bins(np.concatenate([splits.train.labels, splits.val.labels]))).min() >= 10
    assert splits.val.labels.min() < -1.5 and splits.val.labels.max() > 1.5
    assert target_scale(np.array([1.0, 3.0])) == (2.0, 1.0)
    assert target_scale(np.array([4.0, 4.0])) == (4.0, 1.0)  # a constant target keeps std 1


def test_a_label_that_is_not_a_number_is_refused_naming_its_line(tmp_path):
    path = _ratings_csv(tmp_path / "r.csv", [("fine", "1.5"), ("bad", "2"), ("odd", "great"), ("ok", "0.25")])
    with pytest.raises(TfxferError) as raised:
        read_text_splits(str(path), labels="numeric")
    assert str(raised.value) == (f"train file {path} line 4: label 'great' is not a number; with --labels numeric "
                                 f"every label must be one (e.g. 3.5 or -2), or pass --labels single for classes")
    for bad in ("nan", "inf"):
        path.write_text(f"text,label\na,1\nb,{bad}\nc,2\n")
        with pytest.raises(TfxferError, match=f"line 3: label '{bad}' is not a number"):
            read_text_splits(str(path), labels="numeric")


def test_scores_against_a_hand_computation():
    values, targets = np.array([1.0, 2.0, 3.0, 4.0]), np.array([1.5, 2.0, 2.0, 5.0])
    report = regression_report(values, targets)
    # errors -0.5, 0, 1, -1: MAE 2.5/4, RMSE sqrt(2.25/4); targets' mean 2.625, total sum of
    # squares 1.265625 + 2 x 0.390625 + 5.640625 = 7.6875; ranks 1,2,3,4 and 1,2.5,2.5,4 (a tie)
    # centred -1.5,-.5,.5,1.5 and -1.5,0,0,1.5: rho = 4.5 / sqrt(5 x 4.5)
    assert report["examples"] == 4
    assert report["mae"] == pytest.approx(0.625)
    assert report["rmse"] == pytest.approx(0.75)
    assert report["r2"] == pytest.approx(1 - 2.25 / 7.6875)
    assert report["spearman"] == pytest.approx(4.5 / math.sqrt(22.5))
    flat = regression_report(np.array([1.0, 2.0]), np.array([3.0, 3.0]))
    assert flat["r2"] is None and flat["spearman"] is None  # a constant target: neither is defined


def test_the_standardised_loss_is_the_error_in_standard_deviations():
    from tfxfer.finetune.losses import StandardisedError

    y_true, y_pred = np.array([1.0, 5.0, -3.0], np.float32), np.array([2.0, 1.0, -3.0], np.float32)
    mse = float(StandardisedError(2.0, "mse")(y_true, y_pred))
    assert mse == pytest.approx(((0.5 ** 2) + (2.0 ** 2) + 0) / 3)
    huber = float(StandardisedError(2.0, "huber")(y_true, y_pred))
    assert huber == pytest.approx((0.5 * 0.5 ** 2 + (2.0 - 0.5) + 0) / 3)


def test_the_target_scale_round_trips_through_a_keras_file(tmp_path):
    import keras

    import tfxfer
    from tfxfer import build_image_classifier

    model = build_image_classifier("keras:MobileNet", 1, weights="none", image_size=(32, 32), labels="numeric")
    assert model.labels == "numeric" and model.class_names is None and model.target_scale == (0.0, 1.0)
    model.target_scale = (3.5, 2.0)
    assert model.get_config()["target_scale"] == (3.5, 2.0)
    pixels = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype(np.float32)
    before = model.predict(pixels, verbose=0)
    assert before.shape == (2,)
    standardised = keras.Model(model.inputs, model.get_layer("regressor").output).predict(pixels, verbose=0)
    np.testing.assert_allclose(before, standardised[:, 0] * 2.0 + 3.5, rtol=1e-5)
    model.save(tmp_path / "m.keras")
    loaded = tfxfer.load_model(tmp_path / "m.keras")
    assert loaded.labels == "numeric" and loaded.target_scale == (3.5, 2.0)
    np.testing.assert_allclose(loaded.predict(pixels, verbose=0), before, rtol=1e-5)
    with pytest.raises(ValueError, match="no class names"):
        loaded.class_names = ["a"]
    with pytest.raises(TfxferError, match="predicts one value: pass num_classes=1"):
        build_image_classifier("keras:MobileNet", 2, weights="none", image_size=(32, 32), labels="numeric")


def test_the_recipe_says_what_it_chose_for_numeric_labels():
    facts = Facts("text", 900, 0, True, labels="numeric")
    decided = decide(facts, {})
    names = list(decided)
    assert names[names.index("class_weight") + 1] == "loss"  # right after the class weights
    assert decided["loss"].value == "mse" and "standardised target" in decided["loss"].why
    assert decided["class_weight"].value == "none" and "no classes to weigh" in decided["class_weight"].why
    assert "numeric labels" in decided["early_stopping_patience"].why
    assert decide(facts, {"loss": "huber"})["loss"].by_user
    assert "loss" not in decide(Facts("text", 900, 2, True), {})  # classes: no loss row
    assert "loss" in format_table(decide(facts, {}, "fixed"), "fixed")


def test_settings_that_do_not_fit_numeric_labels_are_refused():
    required = {"backbone": "kerashub:x", "train": "r.csv"}
    with pytest.raises(TfxferError, match="--class-weight weighs classes; numeric labels have none"):
        TrainConfig(**required, labels="numeric", class_weight="balanced")
    with pytest.raises(TfxferError, match="--loss is for numeric labels"):
        TrainConfig(**required, labels="single", loss="huber")
    with pytest.raises(TfxferError, match="--labels must be one of single, multi, numeric, got 'many'"):
        TrainConfig(**required, labels="many")
    with pytest.raises(TfxferError, match="images take --labels single"):
        TrainConfig(**{**required, "task": "image"}, labels="numeric").resolved()


def test_the_cli_refuses_bad_numeric_labels_in_one_line(tmp_path):
    stars = _ratings_csv(tmp_path / "stars.csv", [(f"review {i}", str(1 + i % 5)) for i in range(20)])
    broken = _ratings_csv(tmp_path / "broken.csv", [(f"review {i}", f"{i / 3:.2f}") for i in range(30)]
                          + [("a review", "n/a")])
    output = tmp_path / "run"
    common = ["--backbone", "kerashub:/nonexistent", "--output", str(output), "--export-dir", str(tmp_path / "exported")]
    cases = [
        ([*common, "--train", str(stars)], "the labels are numbers with 5 distinct values (1, 2, 3, 4, 5): pass "
                                           "--labels single"),
        ([*common, "--train", str(broken), "--labels", "numeric"],
         f"train file {broken} line 32: label 'n/a' is not a number"),
        ([*common, "--train", str(broken)], "1 label(s) are not numbers ('n/a') while the other 30 are numbers"),
        ([*common, "--train", str(broken), "--labels", "numeric", "--loss", "l1"], "--loss must be one of mse, huber"),
    ]
    results = refused("tfxfer.train", cases, tmp_path)
    assert "--labels numeric" in error_line(results[0])
    assert not output.exists() and not (tmp_path / "exported").exists()  # nothing written


def test_a_new_version_with_another_kind_of_labels_is_refused(tmp_path):
    import json

    from tfxfer.serving.export import check_export_matches

    assets = tmp_path / "ratings" / "1" / "assets"
    assets.mkdir(parents=True)
    (assets / "tfxfer.json").write_text(json.dumps({"task": "text", "inputs": ["text"], "labels": "numeric",
                                                    "classes": []}))
    check_export_matches(tmp_path / "ratings", "text", [], labels="numeric")  # a retrained regressor: fine
    with pytest.raises(TfxferError) as raised:
        check_export_matches(tmp_path / "ratings", "text", ["neg", "pos"], by_user=True)
    assert str(raised.value) == (f"{tmp_path / 'ratings' / '1'} is a model for numeric labels (outputs value), this "
                                 f"one for single labels (outputs probabilities, class_id, class_name): pass --name "
                                 f"with another name to export beside it")
    # Named by default (a new user's run): the same advice, never "--name ratings to add a version".
    with pytest.raises(TfxferError, match=r"outputs probabilities, class_id, class_name\): pass --name with another "
                                          r"name to export beside it$"):
        check_export_matches(tmp_path / "ratings", "text", ["neg", "pos"])

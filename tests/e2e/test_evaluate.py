"""python -m tfxfer.evaluate on small exported models: every file, and the right numbers."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import tensorflow as tf

import tfxfer
from tests.conftest import EFFICIENTNET_LITE0, refused, run_cli
from tests.text_fixtures import sentiment_rows, write_csv


@pytest.fixture(scope="module")
def exported_image_model(tiny_images, tmp_path_factory):
    import keras

    keras.utils.set_random_seed(0)
    data = tfxfer.load_image_data(str(tiny_images), image_size=(32, 32), batch_size=8)
    model = tfxfer.build_image_classifier(f"kerashub:{EFFICIENTNET_LITE0}", 3, image_size=(32, 32))
    tfxfer.fine_tune(model, data.train, data.val, epochs=1, fine_tune_epochs=0, learning_rate=0.05, verbose=0)
    return tfxfer.export_saved_model(model, tmp_path_factory.mktemp("exported"), "colours", data.class_names)


def _png_ok(path) -> bool:
    data = path.read_bytes()
    return data.startswith(b"\x89PNG") and len(data) > 5000


def test_image_report_matches_a_hand_count(exported_image_model, tiny_images, tmp_path):
    result = run_cli("tfxfer.evaluate", str(exported_image_model.parent), "--data", str(tiny_images),
                     "--output", str(tmp_path / "report"))
    assert result.returncode == 0, result.stderr[-3000:]
    assert "accuracy" in result.stdout and "macro-F1" in result.stdout and "precision" in result.stdout

    # The hand count: ask the exported model about every file, one at a time.
    classes = (exported_image_model / "assets" / "labels.txt").read_text().splitlines()
    serve = tf.saved_model.load(str(exported_image_model)).signatures["serving_default"]
    expected = np.zeros((3, 3), dtype=int)
    for true, name in enumerate(classes):
        for file in sorted((tiny_images / name).iterdir()):
            predicted = int(serve(image_bytes=tf.constant([file.read_bytes()]))["class_id"][0])
            expected[true, predicted] += 1

    out = tmp_path / "report"
    matrix = np.array(json.loads((out / "confusion_matrix.json").read_text())["rows_true_columns_predicted"])
    np.testing.assert_array_equal(matrix, expected)
    report = json.loads((out / "report.json").read_text())
    assert report["examples"] == expected.sum() == 24
    assert report["accuracy"] == pytest.approx(np.trace(expected) / expected.sum())
    for i, name in enumerate(classes):
        scores = report["per_class"][name]
        assert scores["support"] == expected[i].sum()
        assert scores["recall"] == pytest.approx(expected[i, i] / expected[i].sum())
        column = expected[:, i].sum()
        assert scores["precision"] == pytest.approx(expected[i, i] / column if column else 0.0)
    off_diagonal = sorted(((expected[i, j], classes[i], classes[j]) for i in range(3) for j in range(3)
                           if i != j and expected[i, j]), reverse=True)
    assert [(p["count"], p["true"], p["predicted"]) for p in report["most_confused"]] == [
        (int(c), t, p) for c, t, p in off_diagonal[:5]]
    worst = report["worst_examples"]
    assert len(worst) == 16
    assert [w["true_probability"] for w in worst] == sorted(w["true_probability"] for w in worst)
    assert _png_ok(out / "confusion_matrix.png") and _png_ok(out / "worst_examples.png")


def test_text_report_and_bad_inputs(tiny_preset, sentiment_csvs, tmp_path):
    import keras

    keras.utils.set_random_seed(0)
    data = tfxfer.load_text_data(str(sentiment_csvs["train"]), batch_size=16)
    model = tfxfer.build_text_classifier(f"kerashub:{tiny_preset}", 2, sequence_length=16)
    tfxfer.fine_tune(model, data.train, data.val, epochs=1, fine_tune_epochs=0, verbose=0)
    exported = tfxfer.export_saved_model(model, tmp_path / "exported", "reviews", data.class_names)

    result = run_cli("tfxfer.evaluate", str(exported), "--data", str(sentiment_csvs["val"]),
                     "--output", str(tmp_path / "report"))
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    assert report["examples"] == 64 and sum(map(sum, report["confusion_matrix"])) == 64
    with open(tmp_path / "report" / "worst_examples.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 16 and set(rows[0]) == {"input", "true", "predicted", "true_probability"}

    unseen = write_csv(tmp_path / "unseen.csv", [*sentiment_rows(4, seed=3), ("so-so", "mixed")])
    refused("tfxfer.evaluate", [([exported, "--data", unseen, "--output", tmp_path / "bad"], "never seen in training: mixed"),
                                ([tmp_path / "nope", "--data", unseen], "does not exist")], tmp_path)

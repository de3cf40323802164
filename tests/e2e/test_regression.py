"""Numeric labels end to end on real data: pretrained MiniLM-L6 learns VADER's human sentiment
ratings (a number in [-4, 4] a sentence) through ``python -m tfxfer.train`` with no --labels (the
column decides), exports a ``value`` signature that a fresh process importing only TensorFlow and
TF Text answers with the training process's numbers, and ``predict`` and ``evaluate`` report
values and scores that a hand computation reproduces."""

from __future__ import annotations

import csv
import json
import random
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from tests.conftest import run_cli
from tests.text_fixtures import write_csv

# Loads the export without tfxfer or KerasHub, as TF Serving would.
_FRESH_PROCESS = """
import json, sys
import numpy as np, tensorflow as tf
import tensorflow_text  # the tokenizer's ops, linked into the stock TF Serving binary too
path, texts, out = sys.argv[1:4]
signature = tf.saved_model.load(path).signatures["serving_default"]
result = signature(text=tf.constant(json.load(open(texts))))
np.save(out, result["value"].numpy())
print(json.dumps({"outputs": sorted(result), "dtype": result["value"].dtype.name, "shape": result["value"].shape.as_list(),
                  "modules": sorted(m for m in sys.modules if m.split(".")[0] in ("tfxfer", "keras_hub"))}))
"""


@pytest.fixture(scope="module")
def ratings(tmp_path_factory):
    """A seeded subset of the VADER movie-review ratings: 240 train, 80 held-out rows."""
    from tfxfer.data import demo

    with open(demo.vader_ratings_csv(), newline="", encoding="utf-8") as f:
        rows = [(r["text"], r["label"]) for r in csv.DictReader(f)]
    random.Random(0).shuffle(rows)
    root = tmp_path_factory.mktemp("ratings")
    return {"train": write_csv(root / "train.csv", rows[:240]), "test": write_csv(root / "test.csv", rows[240:320]),
            "texts": [t for t, _ in rows[240:320]], "targets": np.array([float(v) for _, v in rows[240:320]])}


def _hand_scores(values: np.ndarray, targets: np.ndarray) -> dict:
    """MAE, RMSE, R² and Spearman written out from their definitions (ranks by a double argsort:
    the predictions have no ties, and tied targets get their mean rank by hand below)."""
    error = values - targets
    order = np.argsort(targets, kind="stable")
    target_ranks = np.empty(len(targets))
    target_ranks[order] = np.arange(1, len(targets) + 1)
    for value in np.unique(targets):
        target_ranks[targets == value] = target_ranks[targets == value].mean()
    value_ranks = np.argsort(np.argsort(values)) + 1.0
    return {"mae": np.abs(error).mean(), "rmse": np.sqrt((error ** 2).mean()),
            "r2": 1 - (error ** 2).sum() / ((targets - targets.mean()) ** 2).sum(),
            "spearman": np.corrcoef(value_ranks, target_ranks)[0, 1]}


@pytest.mark.slow
def test_regression_trains_exports_serves_and_is_scored(ratings, tmp_path):
    from tfxfer.data import demo

    export_dir, run_dir = tmp_path / "exported", tmp_path / "run"
    result = run_cli("tfxfer.train", "--backbone", f"kerashub:{demo.minilm_dir()}", "--train", str(ratings["train"]),
                     "--test", str(ratings["test"]), "--fine-tune-epochs", "0", "--sequence-length", "64",
                     "--no-mixed-precision", "--name", "ratings", "--output", str(run_dir),
                     "--export-dir", str(export_dir))
    assert result.returncode == 0, result.stderr[-3000:]
    assert "numeric labels (regression): training targets from" in result.stdout
    assert "loss                     mse" in result.stdout  # the recipe's table says what it chose
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["labels"] == "numeric" and metrics["classes"] == []
    assert 1.5 < metrics["target"]["std"] < 2.5  # the ratings' spread, recorded with the model
    assert metrics["test"]["spearman"] > 0.3  # frozen MiniLM features already rank the sentiment
    export = export_dir / "ratings" / "1"
    info = json.loads((export / "assets" / "tfxfer.json").read_text())
    assert info["labels"] == "numeric" and info["outputs"] == ["value"] and info["target"] == metrics["target"]

    texts_file = tmp_path / "texts.json"
    texts_file.write_text(json.dumps(ratings["texts"]))
    fresh = [sys.executable, "-c", _FRESH_PROCESS, str(export), str(texts_file), str(tmp_path / "values.npy")]
    with ThreadPoolExecutor(3) as pool:
        served = pool.submit(subprocess.run, fresh, capture_output=True, text=True, timeout=300)
        evaluated = pool.submit(run_cli, "tfxfer.evaluate", str(export_dir / "ratings"), "--data",
                                str(ratings["test"]), "--output", str(tmp_path / "report"))
        predicted = pool.submit(run_cli, "tfxfer.predict", str(export), *ratings["texts"][:3])
    served, evaluated, predicted = served.result(), evaluated.result(), predicted.result()

    assert served.returncode == 0, served.stderr[-3000:]
    facts = json.loads(served.stdout.strip().splitlines()[-1])
    assert facts == {"outputs": ["value"], "dtype": "float32", "shape": [80], "modules": []}
    values = np.load(tmp_path / "values.npy")
    # The training process's Keras model on the same texts (its largest errors, in report.json).
    in_training = json.loads((run_dir / "evaluation" / "report.json").read_text())["worst_examples"]
    assert len(in_training) == 16
    for row in in_training:
        assert abs(values[ratings["texts"].index(row["input"])] - row["predicted"]) < 1e-4, row

    assert predicted.returncode == 0, predicted.stderr[-3000:]
    lines = [json.loads(line) for line in predicted.stdout.splitlines()]
    assert [line["input"] for line in lines] == ratings["texts"][:3]
    np.testing.assert_allclose([line["value"] for line in lines], values[:3], atol=1e-4)

    assert evaluated.returncode == 0, evaluated.stderr[-3000:]
    assert "MAE" in evaluated.stdout and "Spearman" in evaluated.stdout
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    assert report["labels"] == "numeric" and report["examples"] == 80
    hand = _hand_scores(values.astype(np.float64), ratings["targets"])
    for name, value in hand.items():
        assert report[name] == pytest.approx(value, abs=1e-4), name
        assert metrics["test"][name] == pytest.approx(value, abs=1e-4), name  # the Keras model's, in training
    # the loss it trained on: the mean squared error in standard deviations of the training targets
    assert metrics["test"]["loss"] == pytest.approx((hand["rmse"] / metrics["target"]["std"]) ** 2, rel=1e-3)
    assert (tmp_path / "report" / "predicted_vs_true.png").stat().st_size > 5000

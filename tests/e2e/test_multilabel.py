"""Multi-label end to end: pretrained MiniLM-L6 learns which kinds of text a row holds (tweet,
news editorial, product review, movie review: VADER's four corpora, a row holding one snippet or
two of different kinds, so its label cell is a set such as ``movie|tweet``) through
``python -m tfxfer.train`` with no --labels (the cells decide), exports a signature with
``probabilities``, ``predicted`` and ``class_names`` that a fresh process importing only
TensorFlow and TF Text answers with the training process's numbers, and ``predict`` and
``evaluate`` report label sets and scores that a count by hand reproduces. (Real texts, label
sets built from single-label sources: a test of the path, not a benchmark.)"""

from __future__ import annotations

import csv
import json
import random
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from tests.conftest import run_cli

_FRESH_PROCESS = """
import json, sys
import numpy as np, tensorflow as tf
import tensorflow_text  # the tokenizer's ops, linked into the stock TF Serving binary too
path, texts, out = sys.argv[1:4]
signature = tf.saved_model.load(path).signatures["serving_default"]
result = signature(text=tf.constant(json.load(open(texts))))
np.savez(out, probabilities=result["probabilities"].numpy(), predicted=result["predicted"].numpy())
print(json.dumps({"outputs": {name: [value.dtype.name, value.shape.as_list()] for name, value in result.items()},
                  "class_names": [name.decode() for name in result["class_names"].numpy()[0]],
                  "modules": sorted(m for m in sys.modules if m.split(".")[0] in ("tfxfer", "keras_hub"))}))
"""

_KINDS = {"tweets": "tweet", "nytEditorialSnippets": "news", "amazonReviewSnippets": "product",
          "movieReviewSnippets": "movie"}


@pytest.fixture(scope="module")
def label_sets(tmp_path_factory):
    """200 training and 80 held-out rows: even rows one snippet, odd rows two of different kinds."""
    from tfxfer.data import demo

    rng = random.Random(0)
    pools = {}
    for corpus, kind in _KINDS.items():
        with open(demo.vader_ratings_csv(corpus), newline="", encoding="utf-8") as f:
            pools[kind] = [row["text"] for row in csv.DictReader(f)]
        rng.shuffle(pools[kind])

    def rows(n):
        made = []
        for i in range(n):
            kinds = sorted(rng.sample(sorted(pools), 1 + i % 2))
            made.append((" ".join(pools[kind].pop() for kind in kinds), "|".join(kinds)))
        return made

    root = tmp_path_factory.mktemp("label_sets")
    files = {}
    for role, n in (("train", 200), ("test", 80)):
        made = rows(n)
        with open(root / f"{role}.csv", "w", newline="", encoding="utf-8") as f:
            csv.writer(f).writerows([("text", "label"), *made])
        files[role], files[f"{role}_rows"] = root / f"{role}.csv", made
    return files


def _hand_count(predicted: np.ndarray, truth: np.ndarray) -> dict:
    """Micro/macro F1, subset accuracy and per-class precision/recall, counted row by row."""
    scores, tp_all, predicted_all, true_all = {}, 0, 0, 0
    for c in range(truth.shape[1]):
        tp = sum(1 for r in range(len(truth)) if predicted[r, c] and truth[r, c])
        p, t = int(predicted[:, c].sum()), int(truth[:, c].sum())
        scores[c] = (tp / p if p else 0.0, tp / t if t else 0.0, 2 * tp / (p + t) if p + t else 0.0)
        tp_all, predicted_all, true_all = tp_all + tp, predicted_all + p, true_all + t
    right = sum(1 for r in range(len(truth)) if all(predicted[r] == truth[r]))
    return {"per_class": scores, "micro_f1": 2 * tp_all / (predicted_all + true_all),
            "macro_f1": float(np.mean([f1 for _, _, f1 in scores.values()])), "subset_accuracy": right / len(truth)}


@pytest.mark.slow
def test_multilabel_trains_exports_serves_and_is_scored(label_sets, tmp_path):
    from tfxfer.data import demo

    export_dir, run_dir = tmp_path / "exported", tmp_path / "run"
    result = run_cli("tfxfer.train", "--backbone", f"kerashub:{demo.minilm_dir()}", "--train", str(label_sets["train"]),
                     "--test", str(label_sets["test"]), "--fine-tune-epochs", "0", "--epochs", "25",
                     "--sequence-length", "64", "--no-mixed-precision", "--name", "kinds", "--output", str(run_dir),
                     "--export-dir", str(export_dir))
    assert result.returncode == 0, result.stderr[-3000:]
    assert "multi-label classes (training rows holding each): movie" in result.stdout
    assert re.search(r"class_weight +none +multi-label", result.stdout)  # the recipe's table says why
    metrics = json.loads((run_dir / "metrics.json").read_text())
    classes = ["movie", "news", "product", "tweet"]
    assert metrics["labels"] == "multi" and metrics["classes"] == classes
    assert sorted(metrics["thresholds"]) == classes and all(0 < t < 1 for t in metrics["thresholds"].values())
    assert metrics["test"]["micro_f1"] > 0.55 and metrics["test"]["mean_average_precision"] > 0.6
    export = export_dir / "kinds" / "1"
    info = json.loads((export / "assets" / "tfxfer.json").read_text())
    assert info["labels"] == "multi" and info["outputs"] == ["probabilities", "predicted", "class_names"]
    assert info["thresholds"] == [metrics["thresholds"][c] for c in classes]

    texts = [text for text, _ in label_sets["test_rows"]]
    truth = np.array([[c in labels.split("|") for c in classes] for _, labels in label_sets["test_rows"]])
    texts_file = tmp_path / "texts.json"
    texts_file.write_text(json.dumps(texts))
    fresh = [sys.executable, "-c", _FRESH_PROCESS, str(export), str(texts_file), str(tmp_path / "served.npz")]
    with ThreadPoolExecutor(3) as pool:
        served = pool.submit(subprocess.run, fresh, capture_output=True, text=True, timeout=300)
        evaluated = pool.submit(run_cli, "tfxfer.evaluate", str(export_dir / "kinds"), "--data",
                                str(label_sets["test"]), "--output", str(tmp_path / "report"))
        predicted = pool.submit(run_cli, "tfxfer.predict", str(export), *texts[:3])
    served, evaluated, predicted = served.result(), evaluated.result(), predicted.result()

    assert served.returncode == 0, served.stderr[-3000:]
    facts = json.loads(served.stdout.strip().splitlines()[-1])
    assert facts == {"outputs": {"probabilities": ["float32", [80, 4]], "predicted": ["bool", [80, 4]],
                                 "class_names": ["string", [80, 4]]}, "class_names": classes, "modules": []}
    out = np.load(tmp_path / "served.npz")
    probabilities, served_sets = out["probabilities"], out["predicted"]
    np.testing.assert_array_equal(served_sets, probabilities >= np.array(info["thresholds"], np.float32))
    # The training process's Keras model on the same rows: its loss and the labels it predicted.
    clipped = np.clip(probabilities.astype(np.float64), 1e-7, 1 - 1e-7)
    loss = -np.mean(np.where(truth, np.log(clipped), np.log(1 - clipped)))
    assert metrics["test"]["loss"] == pytest.approx(loss, abs=1e-5)
    in_training = json.loads((run_dir / "evaluation" / "report.json").read_text())["worst_examples"]
    assert len(in_training) == 16
    for row in in_training:
        shown = [c for c, on in zip(classes, served_sets[texts.index(row["input"])], strict=True) if on]
        assert row["predicted"] == "|".join(shown), row

    assert predicted.returncode == 0, predicted.stderr[-3000:]
    lines = [json.loads(line) for line in predicted.stdout.splitlines()]
    assert [line["input"] for line in lines] == texts[:3]
    for row, line in enumerate(lines):
        np.testing.assert_allclose(line["probabilities"], probabilities[row], atol=1e-5)
        assert sorted(line["labels"]) == [c for c, on in zip(classes, served_sets[row], strict=True) if on]

    assert evaluated.returncode == 0, evaluated.stderr[-3000:]
    assert "micro-F1" in evaluated.stdout and "subset accuracy" in evaluated.stdout
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    assert report["labels"] == "multi" and report["examples"] == 80
    hand = _hand_count(served_sets, truth)
    for name in ("micro_f1", "macro_f1", "subset_accuracy"):
        assert report[name] == pytest.approx(hand[name], abs=1e-9), name
        assert metrics["test"][name] == pytest.approx(hand[name], abs=1e-9), name  # the Keras model's, in training
    for c, name in enumerate(classes):
        precision, recall, f1 = hand["per_class"][c]
        scores = report["per_class"][name]
        assert (scores["precision"], scores["recall"], scores["f1"]) == pytest.approx((precision, recall, f1))
        assert scores["support"] == int(truth[:, c].sum()) and scores["threshold"] == info["thresholds"][c]

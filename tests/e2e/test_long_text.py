"""Long texts end to end: MiniLM-L6 trained with ``--long-text window`` on real review snippets
longer than a small ``--sequence-length`` (16 tokens, so that most texts become several windows
and the test stays fast), exported with one raw ``text`` input however long, served by the
SavedModel alone in a fresh process as the training process's Keras model scored it, answered
the same by ``tfxfer.predict``, and ``tfxfer.evaluate``'s report equal to a count by hand."""

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
from tfxfer.data import demo

# Loads the export without tfxfer or KerasHub, as TF Serving would.
_FRESH_PROCESS = r"""
import json, sys
import tensorflow as tf
import tensorflow_text  # noqa: F401 - the tokenizer's ops, as TF Serving links them
served = tf.saved_model.load(sys.argv[1]).signatures["serving_default"]
texts = json.load(open(sys.argv[2]))
assert sorted(served.structured_input_signature[1]) == ["text"]
answer = served(text=tf.constant(texts))
print(json.dumps({"probabilities": answer["probabilities"].numpy().tolist(),
                  "class_name": [c.decode() for c in answer["class_name"].numpy()]}))
assert "keras_hub" not in sys.modules and "tfxfer" not in sys.modules
"""


def _reviews(seed: int) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """Rotten Tomatoes snippets of 25 words or more (longer than 16 tokens): 120 train, 48 test.
    Few and short on purpose: this tests the path; benchmarks/long_text.py measures quality."""
    with open(demo.rotten_tomatoes_csv(), newline="", encoding="utf-8") as f:
        rows = [(r["text"], r["label"]) for r in csv.DictReader(f) if len(r["text"].split()) >= 25]
    picked = random.Random(seed).sample(rows, 168)
    return picked[:120], picked[120:]


def test_windows_train_export_serve_alone_predict_and_evaluate(tmp_path):
    train_rows, test_rows = _reviews(0)
    train, test = write_csv(tmp_path / "train.csv", train_rows), write_csv(tmp_path / "test.csv", test_rows)
    exported, run_dir = tmp_path / "exported", tmp_path / "run"
    result = run_cli("tfxfer.train", "--backbone", f"kerashub:{demo.minilm_dir()}", "--train", str(train),
                     "--test", str(test), "--sequence-length", "16", "--long-text", "window", "--window-stride", "7",
                     "--max-windows", "6", "--fine-tune-epochs", "0", "--no-mixed-precision",
                     "--output", str(run_dir), "--export-dir", str(exported), "--name", "reviews")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "long_text                window" in result.stdout  # the recipe's table, "set by you"
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["recipe"]["long_text"]["value"] == "window"
    assert metrics["cached_features"]  # the head trained on the windows' mean features
    version = exported / "reviews" / "1"
    info = json.loads((version / "assets" / "tfxfer.json").read_text())
    assert info["inputs"] == ["text"]
    assert info["long_text"] == {"mode": "window", "window_tokens": 14, "stride": 7, "max_windows": 6,
                                 "aggregation": "mean"}

    texts = [text for text, _ in test_rows]
    first = texts[0]
    tail = " ".join(text for text, _ in train_rows[:3])  # past the first window: truncation never sees it
    served_texts = [*texts, f"{first} {tail}"]
    (tmp_path / "texts.json").write_text(json.dumps(served_texts))
    with ThreadPoolExecutor(3) as pool:  # three fresh processes, independent of one another
        bare = pool.submit(subprocess.run, [sys.executable, "-c", _FRESH_PROCESS, str(version),
                                            str(tmp_path / "texts.json")], capture_output=True, text=True,
                           timeout=300)
        predicting = pool.submit(run_cli, "tfxfer.predict", str(exported / "reviews"), "--file", str(test))
        evaluating = pool.submit(run_cli, "tfxfer.evaluate", str(exported / "reviews"), "--data", str(test),
                                 "--output", str(tmp_path / "evaluation"))
        bare, predicted, evaluated = bare.result(), predicting.result(), evaluating.result()

    assert bare.returncode == 0, bare.stderr[-3000:]
    served = json.loads(bare.stdout.strip().splitlines()[-1])
    everything = np.array(served["probabilities"])
    probabilities = everything[:-1]
    # The whole text counts: words past the first windows change the answer.
    assert np.abs(everything[-1] - everything[0]).max() > 1e-4
    # The training process's Keras model gave the same probabilities (its worst examples' true class).
    classes = metrics["classes"]
    in_training = json.loads((run_dir / "evaluation" / "report.json").read_text())["worst_examples"]
    assert in_training
    for row in in_training:
        served_row = probabilities[texts.index(row["input"])]
        assert abs(served_row[classes.index(row["true"])] - row["true_probability"]) < 1e-5, row

    assert predicted.returncode == 0, predicted.stderr[-3000:]
    lines = [json.loads(line) for line in predicted.stdout.splitlines()]
    assert [line["input"] for line in lines] == texts
    assert [line["class_name"] for line in lines] == served["class_name"][:-1]
    np.testing.assert_allclose([line["probabilities"] for line in lines], probabilities, atol=1e-5)

    assert evaluated.returncode == 0, evaluated.stderr[-3000:]
    report = json.loads((tmp_path / "evaluation" / "report.json").read_text())
    truth = np.array([classes.index(label) for _, label in test_rows])
    guess = probabilities.argmax(axis=1)
    assert report["examples"] == len(test_rows) == 48
    assert abs(report["accuracy"] - float(np.mean(truth == guess))) < 1e-9
    assert abs(metrics["test"]["accuracy"] - report["accuracy"]) < 1e-9  # the Keras model's, in training
    by_hand = [[int(np.sum((truth == t) & (guess == p))) for p in range(len(classes))] for t in range(len(classes))]
    assert report["confusion_matrix"] == by_hand


_FRESH_MULTI = r"""
import json, sys
import tensorflow as tf
import tensorflow_text  # noqa: F401 - the tokenizer's ops, as TF Serving links them
served = tf.saved_model.load(sys.argv[1]).signatures["serving_default"]
answer = served(text=tf.constant(json.load(open(sys.argv[2]))))
print(json.dumps({"predicted": answer["predicted"].numpy().tolist(),
                  "class_names": [c.decode() for c in answer["class_names"].numpy()[0]]}))
"""

_TOPICS = {"sports": "the team won the match with a late goal", "politics": "the senate passed the new budget bill",
           "weather": "heavy rain and strong wind hit the coast"}


def _tagged_posts(n: int, seed: int) -> list[tuple[str, str]]:
    """Posts of ~60 words, each with one or two topic sentences somewhere among filler: made for
    this test (a label may sit in any window), not a benchmark."""
    rng = random.Random(seed)
    filler = "and then people talked about many other things for a while"
    rows = []
    for _ in range(n):
        labels = rng.sample(sorted(_TOPICS), rng.choice([1, 2]))
        parts = [filler] * 4
        for label in labels:
            parts.insert(rng.randrange(len(parts) + 1), _TOPICS[label])
        rows.append((" ".join(parts), "|".join(labels)))
    return rows


def test_multi_label_windows_keep_each_class_largest_probability_end_to_end(tmp_path):
    """Multi-label with --long-text window: the head takes each class's max over a text's windows,
    on cached stacked windows; the export records "aggregation": "max", finds a topic wherever it
    sits in a long post in a fresh process, and the run's report scores it as a count by hand does."""
    from tests.e2e.test_multilabel import _hand_count

    train = write_csv(tmp_path / "train.csv", _tagged_posts(90, 0), ("text", "labels"))
    test_rows = _tagged_posts(30, 1)
    test = write_csv(tmp_path / "test.csv", test_rows, ("text", "labels"))
    exported = tmp_path / "exported"
    result = run_cli("tfxfer.train", "--backbone", f"kerashub:{demo.minilm_dir()}", "--train", str(train),
                     "--test", str(test), "--label-column", "labels", "--sequence-length", "16",
                     "--long-text", "window",
                     "--epochs", "20", "--fine-tune-epochs", "0", "--output", str(tmp_path / "run"),
                     "--export-dir", str(exported), "--name", "posts")
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["labels"] == "multi" and metrics["cached_features"]
    version = exported / "posts" / "1"
    info = json.loads((version / "assets" / "tfxfer.json").read_text())
    assert info["long_text"]["aggregation"] == "max" and info["long_text"]["max_windows"] == 8

    texts = [text for text, _ in test_rows]
    filler = "and then people talked about many other things for a while"
    late = f"{filler} {filler} {filler} {filler} {_TOPICS['weather']}"  # the topic only in the last window
    (tmp_path / "texts.json").write_text(json.dumps([*texts, late]))
    bare = subprocess.run([sys.executable, "-c", _FRESH_MULTI, str(version), str(tmp_path / "texts.json")],
                          capture_output=True, text=True, timeout=300)
    assert bare.returncode == 0, bare.stderr[-3000:]
    served = json.loads(bare.stdout.strip().splitlines()[-1])
    classes = served["class_names"]
    predicted = np.array(served["predicted"])
    assert predicted[-1].tolist() == [c == "weather" for c in classes]
    # The run's own report on --test (the Keras model) counts what the SavedModel served, by hand.
    report = json.loads((tmp_path / "run" / "evaluation" / "report.json").read_text())
    truth = np.array([[c in labels.split("|") for c in classes] for _, labels in test_rows])
    hand = _hand_count(predicted[:-1], truth)
    assert report["micro_f1"] == pytest.approx(hand["micro_f1"], abs=1e-9)
    assert report["subset_accuracy"] == pytest.approx(hand["subset_accuracy"], abs=1e-9)

"""Sentence pairs end to end: trained on two text columns with the real MiniLM, exported with
``text`` and ``text_pair``, served by the SavedModel alone in a fresh process exactly as
``tfxfer.predict`` answers, and ``tfxfer.evaluate``'s report equal to a count by hand.

The pairs are real review snippets (Rotten Tomatoes, the demo data), paired here and labelled
``same`` or ``different`` by whether the two snippets' real labels agree: made from
single-label data, which is fine for a test of the path (not for a benchmark)."""

from __future__ import annotations

import csv
import json
import random
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from tests.conftest import run_cli
from tests.text_fixtures import write_csv
from tfxfer.data import demo

_BARE_PROCESS = r"""
import json, sys
import tensorflow as tf
import tensorflow_text  # noqa: F401 - the tokenizer's ops, as TF Serving links them
served = tf.saved_model.load(sys.argv[1]).signatures["serving_default"]
rows = json.load(open(sys.argv[2]))
assert sorted(served.structured_input_signature[1]) == ["text", "text_pair"]
texts, pairs = tf.constant([a for a, _ in rows]), tf.constant([b for _, b in rows])
answer = {"pairs": served(text=texts, text_pair=pairs), "swapped": served(text=pairs, text_pair=texts),
          "blank": served(text=texts, text_pair=tf.constant([""] * len(rows)))}
print(json.dumps({name: out["probabilities"].numpy().tolist() for name, out in answer.items()}
                 | {"class_name": [c.decode() for c in answer["pairs"]["class_name"].numpy()]}))
assert "keras_hub" not in sys.modules and "tfxfer" not in sys.modules
"""


def _pairs(n: int, seed: int) -> list[tuple[str, str, str]]:
    with open(demo.rotten_tomatoes_csv(), newline="", encoding="utf-8") as f:
        rows = [(r["text"], r["label"]) for r in csv.DictReader(f) if len(r["text"]) < 120]
    rng = random.Random(seed)
    picked = rng.sample(rows, 2 * n)
    return [(a, b, "same" if la == lb else "different") for (a, la), (b, lb) in zip(picked[::2], picked[1::2])]


def test_pairs_train_export_serve_alone_predict_and_evaluate(tmp_path):
    header = ("review", "reply", "label")
    train = write_csv(tmp_path / "train.csv", _pairs(96, 0), header)
    test_rows = _pairs(40, 1)
    test = write_csv(tmp_path / "test.csv", test_rows, header)
    exported = tmp_path / "exported"
    result = run_cli("tfxfer.train", "--backbone", f"kerashub:{demo.minilm_dir()}", "--train", str(train),
                     "--text-column", "review,reply", "--epochs", "3", "--fine-tune-epochs", "0",
                     "--output", str(tmp_path / "run"), "--export-dir", str(exported), "--name", "pairs")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "training sentence pairs, both texts packed as [CLS] a [SEP] b [SEP]" in result.stdout + result.stderr
    version = exported / "pairs" / "1"
    info = json.loads((version / "assets" / "tfxfer.json").read_text())
    assert info["inputs"] == ["text", "text_pair"] and info["config"]["text_column"] == "review,reply"

    (tmp_path / "rows.json").write_text(json.dumps([[a, b] for a, b, _ in test_rows]))
    with ThreadPoolExecutor(3) as pool:  # three fresh processes, independent of one another
        bare = pool.submit(subprocess.run, [sys.executable, "-c", _BARE_PROCESS, str(version),
                                            str(tmp_path / "rows.json")], capture_output=True, text=True, timeout=300)
        predicting = pool.submit(run_cli, "tfxfer.predict", str(exported / "pairs"), "--file", str(test))
        evaluating = pool.submit(run_cli, "tfxfer.evaluate", str(exported / "pairs"), "--data", str(test),
                                 "--output", str(tmp_path / "evaluation"))
        bare, predicted, evaluated = bare.result(), predicting.result(), evaluating.result()
    assert bare.returncode == 0, bare.stderr[-3000:]
    served = json.loads(bare.stdout.strip().splitlines()[-1])
    probabilities = np.array(served["pairs"])
    # Both inputs reach the model: the second text swapped in first, or left out, changes the answer.
    assert np.abs(probabilities - np.array(served["swapped"])).max() > 1e-4
    assert np.abs(probabilities - np.array(served["blank"])).max() > 1e-4

    # tfxfer.predict --file reads the two columns the model was trained on.
    assert predicted.returncode == 0, predicted.stderr[-3000:]
    lines = [json.loads(line) for line in predicted.stdout.splitlines()]
    assert [(line["input"], line["input_pair"]) for line in lines] == [(a, b) for a, b, _ in test_rows]
    assert [line["class_name"] for line in lines] == served["class_name"]
    np.testing.assert_allclose([line["probabilities"] for line in lines], probabilities, atol=1e-5)

    assert evaluated.returncode == 0, evaluated.stderr[-3000:]
    report = json.loads((tmp_path / "evaluation" / "report.json").read_text())
    classes = ["different", "same"]
    truth = np.array([classes.index(label) for _, _, label in test_rows])
    guess = probabilities.argmax(axis=1)
    assert report["examples"] == len(test_rows)
    assert abs(report["accuracy"] - float(np.mean(truth == guess))) < 1e-9
    by_hand = [[int(np.sum((truth == t) & (guess == p))) for p in range(2)] for t in range(2)]
    assert report["confusion_matrix"] == by_hand
    with open(tmp_path / "evaluation" / "worst_examples.csv", newline="", encoding="utf-8") as f:
        worst = next(csv.DictReader(f))["input"]
    assert any(worst == f"{a} [SEP] {b}" for a, b, _ in test_rows)

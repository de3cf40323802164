"""Sentence pairs end to end: trained on two text columns with the real MiniLM (packed, the
recipe's choice for classes), exported with ``text`` and ``text_pair``, served by the SavedModel alone in a fresh
process exactly as ``tfxfer.predict`` answers, and ``tfxfer.evaluate``'s report equal to a
count by hand; numeric labels on pairs train the siamese cosine head.

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
import pytest

from tests.conftest import run_cli
from tests.e2e.test_regression import _hand_scores
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
    # Classes: the recipe packs both texts into one sequence (a cross-encoder), even on MiniLM, a
    # sentence-transformers checkpoint (the siamese classifier's export: tests/unit/test_sentence_pairs.py).
    result = run_cli("tfxfer.train", "--backbone", f"kerashub:{demo.minilm_dir()}", "--train", str(train),
                     "--text-column", "review,reply", "--epochs", "3", "--fine-tune-epochs", "0",
                     "--output", str(tmp_path / "run"), "--export-dir", str(exported), "--name", "pairs")
    assert result.returncode == 0, result.stderr[-3000:]
    said = result.stdout + result.stderr
    assert "pair_encoding            packed    the checkpoint was trained to embed one text at a time" in said
    assert "training sentence pairs, both texts packed as [CLS] a [SEP] b [SEP]" in said
    version = exported / "pairs" / "1"
    info = json.loads((version / "assets" / "tfxfer.json").read_text())
    assert info["inputs"] == ["text", "text_pair"] and info["config"]["text_column"] == "review,reply"
    assert "embedding" not in info  # a packed model has no embedding of one text

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


_BARE_VALUES = r"""
import json, sys
import numpy as np
import tensorflow as tf
import tensorflow_text  # noqa: F401 - the tokenizer's ops, as TF Serving links them
served = tf.saved_model.load(sys.argv[1]).signatures["serving_default"]
rows = json.load(open(sys.argv[2]))
texts, pairs = tf.constant([a for a, _ in rows]), tf.constant([b for _, b in rows])
values, swapped = served(text=texts, text_pair=pairs)["value"], served(text=pairs, text_pair=texts)["value"]
np.save(sys.argv[3], np.stack([values.numpy(), swapped.numpy()]))
embed = tf.saved_model.load(sys.argv[1]).signatures["embed"]  # one text's vector
np.save(sys.argv[4], np.stack([embed(text=texts)["embedding"].numpy(), embed(text=pairs)["embedding"].numpy()]))
assert embed(text=tf.constant([], tf.string))["embedding"].shape == (0, 384)
assert "keras_hub" not in sys.modules and "tfxfer" not in sys.modules
"""


def _scored_pairs(n: int, seed: int) -> list[tuple[str, str, str]]:
    """Snippet pairs scored by the share of words they have in common (0-10): a number a row."""
    def words(text):
        return set(text.lower().split())
    return [(a, b, f"{10 * len(words(a) & words(b)) / len(words(a) | words(b)):.3f}") for a, b, _ in _pairs(n, seed)]


def test_numeric_pairs_on_minilm_train_a_cosine_head_served_alone_as_predicted_and_scored(tmp_path):
    """Numeric labels on sentence pairs, the recipe's default on MiniLM: each text embedded
    alone, the head a scale and an offset of the two embeddings' cosine; the export returns the
    same ``value`` in a fresh process, symmetric in its two texts, its ``embed`` signature the
    vectors whose cosine that value is a line of, and ``tfxfer.evaluate`` scores it as a count
    by hand does."""
    header = ("review", "reply", "score")
    train = write_csv(tmp_path / "train.csv", _scored_pairs(96, 0), header)
    test_rows = _scored_pairs(40, 1)
    test = write_csv(tmp_path / "test.csv", test_rows, header)
    exported = tmp_path / "exported"
    result = run_cli("tfxfer.train", "--backbone", f"kerashub:{demo.minilm_dir()}", "--train", str(train),
                     "--text-column", "review,reply", "--label-column", "score", "--labels", "numeric",
                     "--fine-tune-epochs", "0", "--output", str(tmp_path / "run"), "--export-dir", str(exported),
                     "--name", "scored")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "the head reads the cosine of the two embeddings" in result.stdout
    assert "dropout                  0 " in result.stdout
    version = exported / "scored" / "1"
    info = json.loads((version / "assets" / "tfxfer.json").read_text())
    assert info["inputs"] == ["text", "text_pair"] and info["outputs"] == ["value"]
    assert info["embedding"] == {"signature": "embed", "inputs": ["text"], "outputs": ["embedding"], "width": 384,
                                 "compare": "cosine"}

    (tmp_path / "rows.json").write_text(json.dumps([[a, b] for a, b, _ in test_rows]))
    with ThreadPoolExecutor(2) as pool:  # (predict --file on pairs: the test above)
        bare = pool.submit(subprocess.run, [sys.executable, "-c", _BARE_VALUES, str(version),
                                            str(tmp_path / "rows.json"), str(tmp_path / "values.npy"),
                                            str(tmp_path / "embeddings.npy")],
                           capture_output=True, text=True, timeout=300)
        evaluating = pool.submit(run_cli, "tfxfer.evaluate", str(version), "--data", str(test),
                                 "--output", str(tmp_path / "evaluation"))
        bare, evaluated = bare.result(), evaluating.result()
    assert bare.returncode == 0, bare.stderr[-3000:]
    values, swapped = np.load(tmp_path / "values.npy")
    np.testing.assert_allclose(swapped, values, atol=1e-5)  # the cosine does not care which text is first
    assert values.std() > 0
    # The embed signature gives the vectors the head compares: each value is one line of their cosine.
    u, v = np.load(tmp_path / "embeddings.npy")
    cosine = (u * v).sum(axis=1) / np.linalg.norm(u, axis=1) / np.linalg.norm(v, axis=1)
    slope, offset = np.polyfit(cosine, values, 1)
    assert slope > 0 and np.abs(slope * cosine + offset - values).max() < 1e-3 * values.std()

    assert evaluated.returncode == 0, evaluated.stderr[-3000:]
    report = json.loads((tmp_path / "evaluation" / "report.json").read_text())
    hand = _hand_scores(values.astype(np.float64), np.array([float(y) for _, _, y in test_rows]))
    for name, value in hand.items():
        assert report[name] == pytest.approx(value, abs=1e-4), name

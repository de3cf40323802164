"""Regression (``--labels numeric``) against TF-IDF + ridge regression on the same files.

Data: the VADER movie-review sentences with their mean human sentiment rating in [-4, 4]
(:func:`benchmarks.datasets.vader_sentiment_csv`). A seeded split (the held-out set drawn first,
the training set from the rest, both stratified by the rating's decile) is written once into
the cache. tfxfer trains with no tuning flag at all (the label column is numbers with many
distinct values, so the labels are inferred numeric) through ``python -m tfxfer.train`` on
MiniLM-L6; the reference is TF-IDF (words and word pairs, sublinear tf) + ridge regression
with its penalty chosen by cross-validation on the same training file. Both are scored on
the held-out file with tfxfer.reports.metrics.regression_report, one run each.

Usage::

    python -m benchmarks.regression [--train-size 1000] [--heldout-size 2000] [--seed 0] [--work DIR]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from benchmarks.datasets import vader_sentiment_csv
from tfxfer.data import demo
from tfxfer.data.splits import stratified_split, target_bins
from tfxfer.reports.metrics import regression_report


def split(train_size: int, heldout_size: int, seed: int) -> tuple[Path, Path]:
    """(train.csv, heldout.csv) of the VADER movie-review ratings, disjoint, under the cache."""
    target = demo.cache_dir() / "benchmarks" / f"vader_movies_{train_size}_{heldout_size}_s{seed}"

    def fill(tmp: Path) -> None:
        with open(vader_sentiment_csv(), newline="", encoding="utf-8") as f:
            rows = [(r["text"], r["label"]) for r in csv.DictReader(f)]
        ratings = np.array([float(label) for _, label in rows])
        rest, heldout = stratified_split(target_bins(ratings), heldout_size / len(rows), seed)
        keep, _ = stratified_split(target_bins(ratings[rest]), 1 - train_size / len(rest), seed)
        demo.write_labelled_csv(tmp / "train.csv", (rows[i] for i in rest[keep]))
        demo.write_labelled_csv(tmp / "heldout.csv", (rows[i] for i in heldout))

    (demo.cache_dir() / "benchmarks").mkdir(parents=True, exist_ok=True)
    demo._extract_atomically(target, fill)
    return target / "train.csv", target / "heldout.csv"


def _read(path: Path) -> tuple[list[str], np.ndarray]:
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return [r["text"] for r in rows], np.array([float(r["label"]) for r in rows])


def tfidf_ridge(train_csv: Path, heldout_csv: Path) -> dict:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import RidgeCV

    started = time.perf_counter()
    texts, targets = _read(train_csv)
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)
    model = RidgeCV(alphas=np.logspace(-2, 2, 9)).fit(vectorizer.fit_transform(texts), targets)
    heldout_texts, heldout_targets = _read(heldout_csv)
    scores = regression_report(model.predict(vectorizer.transform(heldout_texts)), heldout_targets)
    return {**scores, "seconds": round(time.perf_counter() - started, 1), "alpha": float(model.alpha_)}


def new_work_dir(path: str) -> Path:
    """A benchmark's ``--work`` folder, which must not exist yet (its runs are replaced otherwise)."""
    work = Path(path)
    if work.exists():
        sys.exit(f"{work} exists: remove it or pass another --work")
    return work


def tfxfer_train(train_csv: Path, heldout_csv: Path, work: Path, *flags: str) -> tuple[dict, list[str]]:
    """``python -m tfxfer.train`` on MiniLM-L6 with ``flags``: (its test scores and timing, the command)."""
    command = [sys.executable, "-m", "tfxfer.train", "--backbone", f"kerashub:{demo.minilm_dir()}",
               "--train", str(train_csv), "--test", str(heldout_csv), *flags,
               "--output", str(work / "run"), "--export-dir", str(work / "saved_models")]
    started = time.perf_counter()
    subprocess.run(command, check=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    metrics = json.loads((work / "run" / "metrics.json").read_text())
    return {**metrics["test"], "seconds": round(time.perf_counter() - started, 1),
            "train_seconds": metrics["train_seconds"], "epochs": metrics["epochs"],
            "weights_from_phase": metrics["weights_from_phase"]}, command


def print_comparison(title: str, command: list[str], columns: dict[str, str], rows: list[tuple[str, dict]],
                     ours: dict) -> None:
    """The benchmark's table as printed (and pasted into RESULTS.md): ``columns`` maps a header
    to its score's key, ``rows`` are (side, scores) with ``seconds``; then tfxfer's epochs."""
    print(f"\n{title}")
    print(f"tfxfer: {' '.join(command)}")
    print(f"\n| model | {' | '.join(columns)} | wall s |\n|{'---|' * (len(columns) + 2)}")
    for name, s in rows:
        print(f"| {name} | {' | '.join(f'{s[key]:.3f}' for key in columns.values())} | {s['seconds']} |")
    print(f"\ntfxfer: epochs {ours['epochs']}, weights from phase {ours['weights_from_phase']}, "
          f"trained in {ours['train_seconds']:.0f} s")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.regression", description=__doc__.splitlines()[0])
    p.add_argument("--train-size", type=int, default=1000)
    p.add_argument("--heldout-size", type=int, default=2000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--work", default="benchmark-runs/regression", help="run directory and export (replaced)")
    args = p.parse_args(argv)
    work = new_work_dir(args.work)
    train_csv, heldout_csv = split(args.train_size, args.heldout_size, args.seed)
    reference = tfidf_ridge(train_csv, heldout_csv)
    ours, command = tfxfer_train(train_csv, heldout_csv, work)
    rows = [("tfxfer (MiniLM-L6, no flags)", ours), (f"TF-IDF + ridge (alpha {reference['alpha']:g})", reference)]
    print_comparison(f"VADER movie-review ratings: {args.train_size} train, {args.heldout_size} held-out, "
                     f"seed {args.seed}", command,
                     {"MAE": "mae", "RMSE": "rmse", "R²": "r2", "Spearman": "spearman"}, rows, ours)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Sentence-pair regression (``--text-column a,b`` with numeric labels, STS-style) on real
human similarity judgements: SimLex-999, against what a user of a sentence encoder runs instead.

Data: :func:`benchmarks.datasets.simlex_csv` (999 English word pairs, each scored 0-10 for how
similar the two words are by about 50 raters; Hill, Reichart & Korhonen 2015), or with ``--data
wordsim`` :func:`benchmarks.datasets.wordsim_csv` (351 pairs scored 0-10 for how related the
two words are, by 13-16 raters; Finkelstein et al. 2002). A seeded split into training and
held-out pairs is written once into the cache. Every side is scored on the
held-out pairs by Spearman's rank correlation (SimLex's own measure), R² and MAE.

Sides:

* tfxfer, zero flags but ``--text-column word1,word2``: MiniLM-L6, a sentence-transformers
  checkpoint, so the recipe embeds each word alone with the shared encoder (``--pair-encoding
  siamese``, a bi-encoder), fits a scale and an offset of the two embeddings' cosine to the
  score, then fine-tunes the encoder under it (Sentence-BERT's regression objective);
* tfxfer with ``--pair-encoding packed``: both words as one sequence (``[CLS] a [SEP] b
  [SEP]``), fine-tuned to the score (a cross-encoder; the default before the siamese head);
* the same MiniLM frozen, mean-pooled as its sentence-transformers checkpoint is meant to be
  read, the cosine of the two embeddings (no training; the scores' rank is what Spearman
  sees; R² and MAE from a line fitted to the training pairs);
* a ridge regression (alpha by 5-fold CV) on the frozen embeddings' ``|u - v|`` and ``u * v``
  (a bi-encoder with a trained head, fitted on the training pairs).

Usage::

    python -m benchmarks.word_similarity [--data simlex|wordsim] [--train-size 600] [--seed 0] [--work DIR]
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

import numpy as np

from benchmarks.datasets import simlex_csv, wordsim_csv
from benchmarks.regression import new_work_dir, print_comparison, tfxfer_train
from tfxfer.data import demo


def _read(path: Path) -> tuple[list[str], list[str], np.ndarray]:
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return [r["word1"] for r in rows], [r["word2"] for r in rows], np.array([float(r["label"]) for r in rows])


DATA = {"simlex": ("SimLex-999", simlex_csv, 600), "wordsim": ("WordSim-353", wordsim_csv, 251)}


def split(train_size: int, seed: int, data: str = "simlex") -> tuple[Path, Path]:
    """(train.csv, heldout.csv): ``train_size`` pairs and the rest, disjoint, under the cache."""
    target = demo.cache_dir() / "benchmarks" / f"{data}_{train_size}_s{seed}"

    def fill(tmp: Path) -> None:
        with open(DATA[data][1](), newline="", encoding="utf-8") as f:
            rows = list(csv.reader(f))
        header, rows = rows[0], rows[1:]
        order = np.random.default_rng(seed).permutation(len(rows))
        for name, indices in (("train.csv", order[:train_size]), ("heldout.csv", order[train_size:])):
            with open(tmp / name, "w", newline="", encoding="utf-8") as f:
                csv.writer(f).writerows([header, *(rows[i] for i in indices)])

    (demo.cache_dir() / "benchmarks").mkdir(parents=True, exist_ok=True)
    demo._extract_atomically(target, fill)
    return target / "train.csv", target / "heldout.csv"


def scores(true: np.ndarray, predicted: np.ndarray) -> dict:
    from scipy.stats import spearmanr

    residual = true - predicted
    return {"spearman": float(spearmanr(true, predicted).statistic),
            "r2": float(1 - np.sum(residual ** 2) / np.sum((true - true.mean()) ** 2)),
            "mae": float(np.mean(np.abs(residual)))}


def frozen_minilm(train_csv: Path, heldout_csv: Path) -> dict[str, dict]:
    """The cosine of frozen mean-pooled MiniLM embeddings, and ridge on them (see the docstring)."""
    import keras
    from sklearn.linear_model import LinearRegression, RidgeCV

    import tfxfer

    started = time.perf_counter()
    model = tfxfer.build_text_classifier(f"kerashub:{demo.minilm_dir()}", 2, pooling="mean", dropout=0.0,
                                         sequence_length=16)
    embed = keras.Model(model.inputs, model.head[0].input)  # the pooled features the head reads

    def embeddings(path: Path):
        first, second, labels = _read(path)
        u, v = (embed.predict(np.array(words, dtype=object), batch_size=64, verbose=0) for words in (first, second))
        u, v = (x / np.linalg.norm(x, axis=1, keepdims=True) for x in (u, v))
        return u, v, labels

    (u, v, y), (hu, hv, hy) = embeddings(train_csv), embeddings(heldout_csv)
    cosine, held_cosine = np.sum(u * v, axis=1), np.sum(hu * hv, axis=1)
    line = LinearRegression().fit(cosine[:, None], y)
    results = {"cosine": {**scores(hy, line.predict(held_cosine[:, None])),
                          "seconds": round(time.perf_counter() - started, 1)}}
    ridge = RidgeCV(alphas=np.logspace(-3, 3, 13)).fit(np.hstack([np.abs(u - v), u * v]), y)
    results["ridge"] = {**scores(hy, ridge.predict(np.hstack([np.abs(hu - hv), hu * hv]))),
                        "seconds": round(time.perf_counter() - started, 1), "alpha": float(ridge.alpha_)}
    return results


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.word_similarity", description=__doc__.splitlines()[0])
    p.add_argument("--data", choices=sorted(DATA), default="simlex")
    p.add_argument("--train-size", type=int, help="training pairs (default: 600 of SimLex's 999, 251 of "
                                                  "WordSim's 351); the rest are held out")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--work", default="benchmark-runs/word_similarity", help="run directory and export")
    args = p.parse_args(argv)
    work = new_work_dir(args.work)
    title, _, default_size = DATA[args.data]
    train_size = args.train_size or default_size
    train_csv, heldout_csv = split(train_size, args.seed, args.data)
    reference = frozen_minilm(train_csv, heldout_csv)
    ours, command = tfxfer_train(train_csv, heldout_csv, work / "siamese", "--text-column", "word1,word2")
    packed, _ = tfxfer_train(train_csv, heldout_csv, work / "packed", "--text-column", "word1,word2",
                             "--pair-encoding", "packed")
    _, _, held = _read(heldout_csv)
    rows = [("tfxfer (MiniLM-L6, no flags but --text-column: siamese, cosine head)", ours),
            ("tfxfer, --pair-encoding packed (cross-encoder)", packed),
            ("frozen MiniLM-L6, cosine of mean-pooled embeddings", reference["cosine"]),
            (f"frozen MiniLM-L6, ridge on |u-v| and u*v (alpha {reference['ridge']['alpha']:g})", reference["ridge"])]
    print_comparison(f"{title}: {train_size} train, {len(held)} held-out pairs, seed {args.seed}", command,
                     {"Spearman": "spearman", "R²": "r2", "MAE": "mae"}, rows, ours)
    return 0


if __name__ == "__main__":
    sys.exit(main())

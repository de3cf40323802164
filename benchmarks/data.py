"""The benchmark's fixed data, written once into the cache and shared by both sides.

Text: a seeded, stratified held-out set of Rotten Tomatoes reviews and a seeded, stratified
training subset of the rest, as ``train.csv`` and ``heldout.csv`` (``text,label``).
Images: Fashion-MNIST class folders, training images from its train split and held-out images
from its test split. Nothing here imports TensorFlow.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from tfxfer.data import demo


def _stratified_pick(labels: np.ndarray, candidates: np.ndarray, n: int, rng) -> np.ndarray:
    """``n`` of ``candidates``, each class in proportion to its share of them."""
    picked = []
    classes = np.unique(labels[candidates])
    for i, label in enumerate(classes):
        members = candidates[labels[candidates] == label]
        share = n - sum(len(p) for p in picked) if i == len(classes) - 1 else round(n * len(members) / len(candidates))
        picked.append(rng.choice(members, min(share, len(members)), replace=False))
    return np.sort(np.concatenate(picked))


def text_split(train_size: int, heldout_size: int, seed: int) -> tuple[Path, Path]:
    """(train.csv, heldout.csv) of Rotten Tomatoes snippets; the same files on every run."""
    target = demo.cache_dir() / "benchmarks" / f"rotten_tomatoes_{train_size}_{heldout_size}_s{seed}"
    train_csv, heldout_csv = target / "train.csv", target / "heldout.csv"
    if train_csv.exists() and heldout_csv.exists():
        return train_csv, heldout_csv
    with open(demo.rotten_tomatoes_csv(), newline="", encoding="utf-8") as f:
        rows = [(r["text"], r["label"]) for r in csv.DictReader(f)]
    labels = np.array([label for _, label in rows])
    rng = np.random.default_rng(seed)
    heldout = _stratified_pick(labels, np.arange(len(rows)), heldout_size, rng)
    rest = np.setdiff1d(np.arange(len(rows)), heldout)
    train = _stratified_pick(labels, rest, train_size, rng)
    target.mkdir(parents=True, exist_ok=True)
    for path, idx in ((train_csv, train), (heldout_csv, heldout)):
        demo.write_labelled_csv(path, (rows[i] for i in rng.permutation(idx)))
    return train_csv, heldout_csv


def read_text_csv(path: Path) -> tuple[list[str], list[str]]:
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return [r["text"] for r in rows], [r["label"] for r in rows]


def image_folders(classes: int, train_per_class: int, heldout_per_class: int, seed: int) -> tuple[Path, Path]:
    """(train folder, held-out folder) of Fashion-MNIST PNGs, one sub-folder per class."""
    train = demo.fashion_mnist_folders(classes=classes, per_class=train_per_class, split="train", seed=seed)
    heldout = demo.fashion_mnist_folders(classes=classes, per_class=heldout_per_class, split="test", seed=seed)
    return train, heldout

"""Seeded, stratified train / held-out splits of a labelled CSV or of class folders, written once
into the cache (``.cache/benchmarks/``) and reused by every run. Nothing here imports TensorFlow.
"""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import numpy as np

from benchmarks.data import _stratified_pick
from tfxfer.data import demo


def _pick(labels: np.ndarray, train_size: int, heldout_size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, held-out) indices: the held-out set first, the training set from the rest."""
    rng = np.random.default_rng(seed)
    everything = np.arange(len(labels))
    heldout = _stratified_pick(labels, everything, heldout_size, rng)
    train = _stratified_pick(labels, np.setdiff1d(everything, heldout), train_size, rng)
    return train, heldout


def csv_split(source: Path, stem: str, train_size: int, heldout_size: int, seed: int) -> tuple[Path, Path]:
    """(train.csv, heldout.csv), ``text,label``, disjoint, under ``.cache/benchmarks/STEM_TRAIN_HELDOUT_sSEED``."""
    target = demo.cache_dir() / "benchmarks" / f"{stem}_{train_size}_{heldout_size}_s{seed}"
    train_csv, heldout_csv = target / "train.csv", target / "heldout.csv"
    if train_csv.exists() and heldout_csv.exists():
        return train_csv, heldout_csv
    with open(source, newline="", encoding="utf-8") as f:
        rows = [(r["text"], r["label"]) for r in csv.DictReader(f)]
    train, heldout = _pick(np.array([label for _, label in rows]), train_size, heldout_size, seed)
    rng = np.random.default_rng(seed + 1)  # the files list the rows in a shuffled order
    target.mkdir(parents=True, exist_ok=True)
    for path, idx in ((train_csv, train), (heldout_csv, heldout)):
        demo.write_labelled_csv(path, (rows[i] for i in rng.permutation(idx)))
    return train_csv, heldout_csv


def folder_split(source: Path, stem: str, train_size: int, heldout_size: int, seed: int) -> tuple[Path, Path]:
    """(train folder, held-out folder) of copies of ``source``'s class folders (``CLASS/FILE``)."""
    target = demo.cache_dir() / "benchmarks" / f"{stem}_{train_size}_{heldout_size}_s{seed}"
    files = sorted(p for p in Path(source).glob("*/*") if p.is_file())
    train, heldout = _pick(np.array([p.parent.name for p in files]), train_size, heldout_size, seed)

    def fill(tmp: Path) -> None:
        for role, idx in (("train", train), ("heldout", heldout)):
            for i in idx:
                (tmp / role / files[i].parent.name).mkdir(parents=True, exist_ok=True)
                shutil.copyfile(files[i], tmp / role / files[i].parent.name / files[i].name)

    target.parent.mkdir(parents=True, exist_ok=True)
    demo._extract_atomically(target, fill)
    return target / "train", target / "heldout"

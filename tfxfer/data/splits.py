"""Seeded, stratified splits: the held-out validation (``--val-split``), the quickstart's test
split and ``--max-train-examples`` subsets all keep each class's share."""

from __future__ import annotations

import numpy as np

from tfxfer.errors import TfxferError


def stratified_split(labels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, val): ``fraction`` of each class (at least one) goes to val."""
    if not 0.0 < fraction < 1.0:
        raise TfxferError(f"--val-split must be between 0 and 1 (exclusive), got {fraction}")
    rng = np.random.default_rng(seed)
    train_idx, val_idx = [], []
    for class_id in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == class_id))
        n_val = max(1, int(round(fraction * len(members)))) if len(members) > 1 else 0
        val_idx.extend(members[:n_val])
        train_idx.extend(members[n_val:])
    return np.sort(np.array(train_idx, dtype=np.int64)), np.sort(np.array(val_idx, dtype=np.int64))

"""Seeded, stratified splits: the held-out validation (``--val-split``), the quickstart's test
split and ``--max-train-examples`` subsets all keep each class's share (numeric targets: each
quantile bin's, see :func:`target_bins`)."""

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


def target_bins(targets: np.ndarray, bins: int = 10) -> np.ndarray:
    """Numeric targets -> the index of their quantile bin (deciles by default): what
    :func:`stratified_split` stratifies a regression's splits by, so that the held-out part
    spans the target's range as the training part does."""
    targets = np.asarray(targets, dtype=np.float64)
    edges = np.unique(np.quantile(targets, np.linspace(0, 1, bins + 1)[1:-1])) if len(targets) else []
    return np.searchsorted(edges, targets, side="right").astype(np.int64)

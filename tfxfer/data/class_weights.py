"""Class weights: how much each class's examples count in the training loss.

``balanced`` gives class c the weight ``n / (k * n_c)`` (n training examples, k classes, n_c of
them in c: scikit-learn's and the TF imbalanced-data tutorial's rule), so every class adds the
same total to the loss and the mean weight over the examples is 1. ``none`` weighs every example
1. A YAML or JSON file maps class names to weights; a class it leaves out weighs 1.

Example:

```python
import numpy as np

from tfxfer.data.class_weights import class_weights

labels = np.array([0, 0, 0, 0, 0, 0, 1, 1])  # 6 of "cat", 2 of "dog"
assert class_weights("balanced", ["cat", "dog"], labels) == {0: 8 / (2 * 6), 1: 8 / (2 * 2)}
assert class_weights("none", ["cat", "dog"], labels) is None
assert class_weights({"dog": 3.0}, ["cat", "dog"]) == {0: 1.0, 1: 3.0}
```
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import yaml

from tfxfer.errors import TfxferError

ACCEPTED = "balanced, none, or a YAML/JSON file mapping class names to weights (cat: 1.0)"


def class_weights(value, class_names: list[str], labels: np.ndarray | None = None) -> dict[int, float] | None:
    """``{class index: weight}`` for ``fit(class_weight=...)``, or None (every example weighs 1).

    ``value``: ``"balanced"`` (needs the training ``labels``), ``"none"``, a YAML/JSON file's
    path (its keys are class names), or a mapping from class names (or, as ints, class indices) to
    weights. A name that is not a class, or
    a weight that is not a positive number, is an error naming it.
    """
    if value is None or (isinstance(value, str) and value.strip().lower() == "none"):
        return None
    if isinstance(value, str) and value.strip().lower() == "balanced":
        if labels is None:
            raise TfxferError("--class-weight balanced needs the training labels (a tfds: stream has none ahead of "
                              "training): pass a YAML/JSON file mapping class names to weights")
        counts = class_counts(labels, len(class_names))
        return {i: float(len(labels) / (len(class_names) * count)) if count else 1.0 for i, count in enumerate(counts)}
    source = f"--class-weight {value}" if isinstance(value, (str, Path)) else "class_weight"
    mapping = _read_file(Path(value)) if isinstance(value, (str, Path)) else value
    if not isinstance(mapping, Mapping):
        raise TfxferError(f"class_weight must be {ACCEPTED}, got {value!r}")
    # A file's keys are class names even where YAML reads them as numbers (classes "1", "5", "9");
    # in Python an int key is Keras' class index.
    return _by_index(mapping, class_names, source, indices=not isinstance(value, (str, Path)))


def _read_file(path: Path) -> Mapping:
    try:
        text = path.read_text(encoding="utf-8")
        data = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (OSError, UnicodeDecodeError, ValueError, yaml.YAMLError) as e:
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise TfxferError(f"--class-weight {path} is not a readable YAML/JSON file ({reason})") from None
    if not isinstance(data, Mapping) or not data:
        raise TfxferError(f"--class-weight {path} must hold a mapping of class names to weights (cat: 1.0), "
                          f"got {type(data).__name__}")
    return data


def _by_index(mapping: Mapping, class_names: list[str], source: str, indices: bool) -> dict[int, float]:
    index = {name: i for i, name in enumerate(class_names)}
    weights = dict.fromkeys(range(len(class_names)), 1.0)
    for key, weight in mapping.items():
        numeric = indices and isinstance(key, int) and not isinstance(key, bool)
        i = (key if 0 <= key < len(class_names) else None) if numeric else index.get(str(key))
        if i is None:
            raise TfxferError(f"{source} names {str(key)!r}, which is not a class; the classes are "
                              f"{', '.join(class_names[:20])}{' ...' if len(class_names) > 20 else ''}")
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not math.isfinite(weight) \
                or weight <= 0:
            raise TfxferError(f"{source}: the weight of {str(key)!r} must be a number > 0, got {weight!r}")
        weights[i] = float(weight)
    return weights


def class_counts(labels: np.ndarray, num_classes: int) -> tuple[int, ...]:
    """Examples per class index: what the recipe's class-weight rule reads."""
    return tuple(int(c) for c in np.bincount(np.asarray(labels, np.int64), minlength=num_classes))


def describe(weights: dict[int, float] | None, class_names: list[str]) -> dict[str, float] | None:
    """``{class name: weight}`` as metrics.json records it; None when every example weighs 1."""
    return None if weights is None else {class_names[i]: round(w, 6) for i, w in sorted(weights.items())}

"""Numeric labels (regression): what ``--labels`` means, deciding it from a label column, and
reading the numbers.

``single`` is one class a row (strings or integers); ``multi`` a set of classes a row
(tfxfer.data.label_sets); ``numeric`` is one number a row, the target of a regression. Left
unset, the kind is decided from the training labels: a cell holding a set (``a|b`` or a JSON
list) means multi-label; a label that is not a number means classes, unless it is one of a few
(at most 5%) in a column of numbers that looks like a target: then the run stops with one line
naming them, a typo such as "n/a" not being a class; numbers only, with many distinct values,
mean a target; a column of numbers that could be either (a few distinct values, such as star ratings 1..5, or integers
0..K-1 that look like class ids) stops with one line asking for ``--labels``. Two distinct
integers (0/1) stay classes: a two-valued regression is a binary classification.

Example:

```python
from tfxfer.data.targets import infer_labels, parse_targets

assert infer_labels(["pos", "neg", "pos"], "train.csv") == "single"
assert infer_labels(["0", "1", "1"], "train.csv") == "single"
assert infer_labels([f"{i / 7:.3f}" for i in range(40)], "train.csv") == "numeric"
assert parse_targets(["1.5", "-2"], [2, 3], "train.csv").tolist() == [1.5, -2.0]
```
"""

from __future__ import annotations

import math

import numpy as np

from tfxfer.config import LABEL_KINDS as LABEL_KINDS  # the choices of --labels
from tfxfer.data.label_sets import is_label_set
from tfxfer.errors import TfxferError

# Distinct values from which a column of numbers is taken for a target without asking: fewer
# could be a rating scale or class ids. (A 1..10 scale has 10; half-star 0.5..5 ratings 10.)
MANY_DISTINCT = 20
# The share of a label column that may not be numbers while the rest looks like a target: such
# cells ("n/a") stop the run as typos instead of turning every number into a class.
FEW_NOT_NUMBERS = 0.05


def as_number(value: str) -> float | None:
    """``value`` as a finite float, or None when it is not one (``nan`` and ``inf`` are not)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def infer_labels(labels: list[str], where: str) -> str:
    """``single``, ``multi`` or ``numeric`` for a training label column (strings as read); a
    column of numbers that could be classes or a target is a TfxferError asking for ``--labels``."""
    if any(is_label_set(label) for label in labels):
        return "multi"
    numbers = [as_number(label) for label in labels]
    words = [label for label, number in zip(labels, numbers, strict=True) if number is None]
    distinct = sorted({number for number in numbers if number is not None})
    if not distinct or words and not (len(words) <= FEW_NOT_NUMBERS * len(labels) and _is_target(distinct)):
        return "single"
    if words:  # a few cells such as "n/a" in a column of many numbers: a typo, not classes
        shown = ", ".join(repr(word) for word in sorted(set(words))[:3])
        raise TfxferError(f"{where}: {len(words)} label(s) are not numbers ({shown}) while the other "
                          f"{len(labels) - len(words)} are numbers with {len(distinct)} distinct values, a target "
                          f"to predict: fix or empty those cells (an empty label leaves its row out; --labels "
                          f"numeric names the first one's line)")
    if _is_target(distinct):
        return "numeric"
    integers = all(number.is_integer() for number in distinct)
    if integers and len(distinct) <= 2:
        return "single"
    shown = ", ".join(f"{n:g}" for n in distinct[:6]) + (" ..." if len(distinct) > 6 else "")
    raise TfxferError(f"{where}: the labels are numbers with {len(distinct)} distinct values ({shown}): pass "
                      f"--labels single to treat each value as a class, or --labels numeric to predict the number "
                      f"(regression)")


def _is_target(distinct: list[float]) -> bool:
    """Whether sorted distinct numbers are many and not class ids 0..K-1 or 1..K."""
    integers = all(number.is_integer() for number in distinct)
    class_ids = integers and distinct[-1] - distinct[0] == len(distinct) - 1 and distinct[0] in (0, 1)
    return len(distinct) >= MANY_DISTINCT and not class_ids


def parse_targets(labels: list[str], line_numbers: list[int], where: str) -> np.ndarray:
    """The labels as float32 targets; a label that is not a finite number is a TfxferError naming
    its line."""
    values = []
    for label, number in zip(labels, line_numbers, strict=True):
        value = as_number(label)
        if value is None:
            raise TfxferError(f"{where} line {number}: label {label!r} is not a number; with --labels numeric every "
                              f"label must be one (e.g. 3.5 or -2), or pass --labels single for classes")
        values.append(value)
    return np.asarray(values, dtype=np.float32)


def target_scale(targets: np.ndarray) -> tuple[float, float]:
    """(mean, standard deviation) of the training targets: the model predicts the standardised
    target and scales it back; a constant target keeps a standard deviation of 1."""
    targets = np.asarray(targets, dtype=np.float64)
    if len(targets) == 0:
        raise TfxferError("no training targets to standardise")
    std = float(targets.std())
    return float(targets.mean()), std if std > 0 else 1.0

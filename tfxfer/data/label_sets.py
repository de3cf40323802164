"""Multi-label data (``--labels multi``): a label cell holding a set of class names, read into
multi-hot rows.

A cell holds its names separated by ``|`` (``sports|politics``) or as a JSON list
(``["sports", "politics"]``; in a .jsonl file the value itself may be a list). Left unset,
``--labels`` is ``multi`` when some training cell holds a set (tfxfer.data.targets.infer_labels
asks :func:`is_label_set`). A row's set may hold one name; an empty set (``[]``, ``|``) or an
empty name inside one (``a||b``) is an error naming its line: a row with no label at all is
left out like any row with an empty label cell, never trained as "none of the classes" by
accident.

Example:

```python
from tfxfer.data.label_sets import is_label_set, multi_hot, read_label_sets

assert is_label_set("a|b") and is_label_set('["a"]') and not is_label_set("a")
sets = read_label_sets(["b|a", '["c"]'], [2, 3], "train.csv")
assert sets == [["a", "b"], ["c"]]
assert multi_hot(sets, ["a", "b", "c"], "train.csv").tolist() == [[1, 1, 0], [0, 0, 1]]
```
"""

from __future__ import annotations

import json

import numpy as np

from tfxfer.errors import TfxferError

SEPARATOR = "|"
_ACCEPTED = "names separated by | (a|b) or a JSON list ([\"a\", \"b\"])"


def _json_list(cell: str) -> list | None:
    if not cell.startswith("["):
        return None
    try:
        value = json.loads(cell)
    except ValueError:
        return None
    return value if isinstance(value, list) else None


def is_label_set(cell: str) -> bool:
    """Whether a label cell (as read, a string) holds a set of names rather than one name."""
    return SEPARATOR in cell or _json_list(cell) is not None


def parse_label_set(cell: str, line: int, where: str) -> list[str]:
    """The sorted, distinct names of one cell; an empty set or an empty name is a TfxferError."""
    listed = _json_list(cell)
    if listed is not None:
        if not all(isinstance(name, (str, int)) and not isinstance(name, bool) for name in listed):
            raise TfxferError(f"{where} line {line}: label {cell!r} is a JSON list of something other than names; "
                              f"a multi-label cell holds {_ACCEPTED}")
        names = [str(name).strip() for name in listed]
    else:
        names = [name.strip() for name in cell.split(SEPARATOR)]
    if not names or all(not name for name in names):
        raise TfxferError(f"{where} line {line}: label {cell!r} is an empty label set; a multi-label cell holds at "
                          f"least one name: {_ACCEPTED} (leave the cell empty to leave the row out)")
    if not all(names):
        raise TfxferError(f"{where} line {line}: label {cell!r} holds an empty name; a multi-label cell holds "
                          f"{_ACCEPTED}")
    return sorted(set(names))


def read_label_sets(cells: list[str], line_numbers: list[int], where: str) -> list[list[str]]:
    """Every cell's names (:func:`parse_label_set`); a cell of one name is a set of one."""
    return [parse_label_set(cell, number, where) for cell, number in zip(cells, line_numbers, strict=True)]


def label_names(sets: list[list[str]]) -> list[str]:
    """The sorted names that occur in ``sets``: the classes, in output order."""
    return sorted({name for names in sets for name in names})


def multi_hot(sets: list[list[str]], class_names: list[str], where: str) -> np.ndarray:
    """float32 [rows, classes]: 1 where the row's set holds the class. A name outside
    ``class_names`` is a TfxferError naming it."""
    index = {name: i for i, name in enumerate(class_names)}
    unseen = sorted({name for names in sets for name in names} - set(index))
    if unseen:
        raise TfxferError(f"{where} has label(s) never seen in training: {', '.join(unseen[:10])} "
                          f"(training labels: {', '.join(class_names[:20])})")
    rows = np.zeros((len(sets), len(class_names)), dtype=np.float32)
    for row, names in enumerate(sets):
        rows[row, [index[name] for name in names]] = 1.0
    return rows


def rarest_label(rows: np.ndarray) -> np.ndarray:
    """Each row's rarest class (by training count): what a multi-label split stratifies by, so
    that rare classes reach both the training and the held-out part."""
    rows = np.asarray(rows)
    counts = rows.sum(axis=0)
    rarity = np.where(rows > 0, counts[None, :], np.inf)
    return np.argmin(rarity, axis=1).astype(np.int64)

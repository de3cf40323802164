"""Image manifests: a CSV file with a header row ``path,label``, one image a row.

Paths are relative to the CSV's folder (an absolute path is taken as it is). A manifest is
data someone else may have written, so it cannot reach beyond its own folder tree: a path that
leads out of it (``../x.jpg``, an absolute path elsewhere, a symbolic link pointing out) is
reported and left out without being opened. A row whose file does not exist, or whose path or
label is empty, is reported and left out too; the files that do exist are checked for decoding
with the class folders' (:func:`tfxfer.data.sources.find_unusable_images`).

Example:

```python
from pathlib import Path

from tfxfer.data.manifests import read_manifest

Path("shots").mkdir(exist_ok=True)
Path("shots/a.png").write_bytes(b"")
Path("shots/images.csv").write_text("path,label\\na.png,cat\\n../elsewhere.png,dog\\n")
manifest = read_manifest(Path("shots/images.csv"), "train")
assert manifest.paths == ["shots/a.png"] and manifest.labels == ["cat"]
assert manifest.left_out == ["shots/../elsewhere.png"]  # outside shots/: reported, never opened
```
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from tfxfer.data.csv_files import csv_records, decode_lines
from tfxfer.errors import TfxferError

log = logging.getLogger("tfxfer")

PATH_COLUMN, LABEL_COLUMN, LABELS_COLUMN = "path", "label", "labels"
ACCEPTED = ("a CSV image manifest with a header row path,label and one image a row "
            "(paths relative to the CSV's folder)")


@dataclass
class Manifest:
    """The rows of a manifest that name a file inside its folder tree (``paths``, ``labels``;
    ``labels`` empty when read without labels), and the rows left out, already reported:
    outside the tree or missing (``left_out``, with their ``left_out_labels``)."""

    paths: list[str]
    labels: list[str]
    left_out: list[str] = field(default_factory=list)
    left_out_labels: list[str] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)  # the CSV line of each of ``paths``


def is_manifest(spec: str) -> bool:
    """Whether ``spec`` names a CSV file (read as an image manifest where images are wanted)."""
    return Path(str(spec)).suffix.lower() == ".csv"


def read_manifest(path: Path, role: str, labelled: bool = True) -> Manifest:
    """The images a manifest lists, each path joined to the CSV's folder; see the module's
    docstring for what is left out. ``labelled=False`` reads the ``path`` column alone (inputs
    to predict on). A file that is not a manifest is one error naming what is wrong."""
    where = f"{role} manifest {path}"
    if not path.exists():
        raise TfxferError(f"{where} does not exist: pass {ACCEPTED}, or a folder with one sub-folder per class")
    if not path.is_file() or path.stat().st_size == 0:
        raise TfxferError(f"{where} is empty: expected {ACCEPTED}")
    records = csv_records(decode_lines(path, role), ",", path)
    header = [column.strip() for column in records[0][1]] if records else []
    # multi-label manifests may call their column "labels" (path,labels: "cat|indoor")
    label_column = LABELS_COLUMN if LABEL_COLUMN not in header and LABELS_COLUMN in header else LABEL_COLUMN
    wanted = (PATH_COLUMN, label_column) if labelled else (PATH_COLUMN,)
    missing = [column for column in wanted if column not in header]
    if missing:
        raise TfxferError(f"{where} has no {' or '.join(map(repr, missing))} column; its header is "
                          f"{','.join(header) or '(empty)'}: expected {ACCEPTED}")
    rows = [(number, record) for number, record in records[1:] if any(cell.strip() for cell in record)]
    if not rows:
        raise TfxferError(f"{where} has a header but no rows: expected {ACCEPTED}")
    return _check_rows(path, where, rows, header.index(PATH_COLUMN),
                       header.index(label_column) if labelled else None)


def _cell(record: list[str], index: int | None) -> str:
    return record[index].strip() if index is not None and index < len(record) else ""


def _check_rows(path: Path, where: str, rows, path_index: int, label_index: int | None) -> Manifest:
    folder = os.path.realpath(path.parent)
    manifest, empty, outside, missing = Manifest([], []), [], [], []
    labels_of = {}
    for number, record in rows:
        entry, label = _cell(record, path_index), _cell(record, label_index)
        if not entry or (label_index is not None and not label):
            empty.append(number)
            continue
        joined = str(path.parent / entry)
        labels_of[joined] = label
        if os.path.commonpath([folder, os.path.realpath(joined)]) != folder:
            outside.append(joined)  # never opened: not even whether it exists is looked up
        elif not os.path.isfile(joined):
            missing.append(joined)
        else:
            manifest.paths.append(joined)
            manifest.lines.append(number)
            if label_index is not None:
                manifest.labels.append(label)
    if empty:
        log.warning("%s: %d row(s) with an empty path or label are left out: line %s%s", where, len(empty),
                    ", ".join(map(str, empty[:5])), " ..." if len(empty) > 5 else "")
    if outside:
        log.warning("%s: %d path(s) lead outside the manifest's folder %s and are left out, not followed: %s%s",
                    where, len(outside), path.parent, ", ".join(outside[:5]), " ..." if len(outside) > 5 else "")
    if missing:
        log.warning("%s: %d file(s) do not exist and are left out: %s%s", where, len(missing),
                    ", ".join(missing[:5]), " ..." if len(missing) > 5 else "")
    manifest.left_out = outside + missing
    manifest.left_out_labels = [labels_of[p] for p in manifest.left_out]
    if not manifest.paths:
        raise TfxferError(f"{where} names no image file inside {path.parent} ({len(rows)} row(s): {len(empty)} "
                          f"empty, {len(outside)} outside the folder, {len(missing)} missing)")
    return manifest

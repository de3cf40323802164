"""Files replaced whole: written under a temporary name beside the target, flushed to disk,
then renamed over it, so that a crash, a kill or a power loss never leaves half of one
(history.csv, state.json, metrics.json, config.yaml, the demo CSVs).

A rename is only durable once the file's data and then its directory entry reach the disk:
without both fsyncs, a power loss can leave the new name pointing at an empty file (ext4 and
XFS with delayed allocation). Temporary names carry the process id and a random part, so two
writers never rename each other's half-written files.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from pathlib import Path


def temporary_sibling(path: str | Path, suffix: str = ".tmp") -> Path:
    """A hidden name beside ``path`` that no other writer (process or call) uses."""
    path = Path(path)
    return path.with_name(f".{path.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}{suffix}")


def fsync_path(path: str | Path) -> None:
    """Flushes a file's data, or a directory's entries (the names renamed into it), to disk."""
    fd = os.open(path, os.O_RDONLY | (os.O_DIRECTORY if Path(path).is_dir() else 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_tree(path: str | Path) -> None:
    """Every file and directory under ``path`` (and ``path``) flushed to disk: before a
    directory written in pieces (a checkpoint, an export) is renamed into place."""
    for root, _, files in os.walk(path, topdown=False):
        for name in files:
            fsync_path(Path(root) / name)
        fsync_path(root)


def rename_durably(source: str | Path, target: str | Path) -> None:
    """``os.replace(source, target)`` after ``source`` is on disk, and the rename itself made
    durable by flushing the target's directory."""
    fsync_tree(source) if Path(source).is_dir() else fsync_path(source)
    os.replace(source, target)
    fsync_path(Path(target).parent)


@contextlib.contextmanager
def replaced_atomically(path: str | Path, mode: str = "w", **open_kwargs):
    """A file object for a temporary sibling of ``path`` that replaces ``path`` when the block
    ends without an error (and is removed when it does not).

    Example:

    ```python
    from tfxfer.io.atomic import replaced_atomically

    with replaced_atomically("history.csv", newline="") as f:
        f.write("epoch,loss\\n")
    ```
    """
    path = Path(path)
    tmp = temporary_sibling(path)
    try:
        with open(tmp, mode, **open_kwargs) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        fsync_path(path.parent)
    finally:
        tmp.unlink(missing_ok=True)


def write_text_atomically(path: str | Path, text: str) -> None:
    """``path`` replaced by ``text`` (UTF-8) in one rename."""
    with replaced_atomically(path, encoding="utf-8") as f:
        f.write(text)

"""Files replaced whole: written under a temporary name beside the target, then renamed over
it, so that a crash or a kill never leaves half of one (history.csv, state.json, metrics.json,
config.yaml, the demo CSVs)."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path


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
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, mode, **open_kwargs) as f:
            yield f
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text_atomically(path: str | Path, text: str) -> None:
    """``path`` replaced by ``text`` (UTF-8) in one rename."""
    with replaced_atomically(path, encoding="utf-8") as f:
        f.write(text)

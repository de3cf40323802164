"""An export directory as TF Serving's file-system source reads it: ``EXPORT_DIR/NAME/VERSION/``
with ``saved_model.pb`` in each complete version. Plain file-system reads (no TensorFlow), so a
command can check its arguments before TensorFlow starts."""

from __future__ import annotations

from pathlib import Path


def complete_versions(model_dir: Path) -> list[int]:
    """The version numbers under ``NAME/`` whose ``saved_model.pb`` exists, ascending. tfxfer's
    export renames a version into place whole; a copy made some other way (``cp -r``, rsync)
    counts once its ``saved_model.pb`` is there."""
    if not model_dir.is_dir():
        return []
    return sorted(int(p.name) for p in model_dir.iterdir()
                  if p.name.isdigit() and (p / "saved_model.pb").is_file())


def model_folders(export_dir: Path) -> list[Path]:
    """The model folders of an export directory: those holding a complete version (hidden
    ones, such as an export's temporary directory, left out)."""
    return [p for p in sorted(export_dir.iterdir())
            if p.is_dir() and not p.name.startswith(".") and complete_versions(p)]

"""How good an exported model is on labelled data: the SavedModel itself scored (what TF
Serving would answer), and its report written."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tfxfer.data.sources import read_labelled
from tfxfer.errors import TfxferError
from tfxfer.reports.report_files import write_report
from tfxfer.serving.servable import latest_version, load_servable, serve_in_batches


def _predict(serve, task: str, inputs: list[str], batch_size: int) -> np.ndarray:
    fed = inputs if task == "text" else [Path(p).read_bytes() for p in inputs]
    return np.concatenate([out["probabilities"].numpy()
                           for _, out in serve_in_batches(serve, task, fed, batch_size, inputs)])


def evaluate_saved_model(model_dir: str, data: str, output: str | None = None, *, text_column: str = "text",
                         label_column: str = "label", batch_size: int = 64) -> dict:
    """Scores an exported model on labelled data and writes the report files (:mod:`tfxfer.reports.report_files`).

    Example:

    ```python
    # not run here: needs an exported model and labelled data (tests/e2e/test_evaluate.py runs it)
    from tfxfer import evaluate_saved_model

    report = evaluate_saved_model("saved_models/photos", "photos_test/")
    report["accuracy"], report["per_class"]["cat"]["recall"]
    ```
    """
    version = latest_version(model_dir)
    labels_file = version / "assets" / "labels.txt"
    if not labels_file.exists():
        raise TfxferError(f"{version} has no assets/labels.txt: was it exported by tfxfer?")
    class_names = labels_file.read_text(encoding="utf-8").splitlines()
    serve, task = load_servable(str(version))
    examples = read_labelled(data, class_names, task, text_column=text_column, label_column=label_column)
    probabilities = _predict(serve, task, examples.inputs, batch_size)
    out = Path(output or Path("evaluations") / f"{version.parent.name}-v{version.name}")
    return write_report(out, probabilities, examples.labels, class_names, task, examples.inputs,
                        model=str(version), data=str(data))

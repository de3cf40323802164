"""How good an exported model is on labelled data: the SavedModel itself scored (what TF
Serving would answer), and its report written."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tfxfer.data.sources import read_labelled
from tfxfer.errors import TfxferError
from tfxfer.reports.report_files import write_multilabel_report, write_regression_report, write_report
from tfxfer.serving.servable import Servable, encoded_inputs, load_servable, serve_in_batches, trained_columns


def _predict(servable: Servable, inputs: list, batch_size: int) -> list[np.ndarray]:
    """Probabilities (multi-label: and ``predicted``, the signature's thresholds applied), or for
    numeric labels the predicted values, of ``inputs`` in order."""
    fed = encoded_inputs(servable, inputs)
    names = {"numeric": ["value"], "multi": ["probabilities", "predicted"]}.get(servable.labels, ["probabilities"])
    batches = [out for _, out in serve_in_batches(servable, fed, batch_size, inputs)]
    return [np.concatenate([out[name].numpy() for out in batches]) for name in names]


def evaluate_saved_model(model_dir: str, data: str, output: str | None = None, *, text_column: str | None = None,
                         label_column: str | None = None, batch_size: int = 64) -> dict:
    """Scores an exported model on labelled data and writes the report files (:mod:`tfxfer.reports.report_files`).

    The task, the kind of labels, the classes and (unless given) the text and label columns are
    the ones the model was trained with, read from the export's ``assets/tfxfer.json``. A model
    for numeric labels is scored by MAE, RMSE, R² and Spearman (labels that are not numbers are
    an error naming their line); a multi-label model by micro/macro F1, mAP, subset accuracy and
    per-class scores of the signature's ``predicted`` (its own thresholds applied).

    Example:

    ```python
    # not run here: needs an exported model and labelled data (tests/e2e/test_evaluate.py runs it)
    from tfxfer import evaluate_saved_model

    report = evaluate_saved_model("saved_models/photos", "photos_test/")
    report["accuracy"], report["per_class"]["cat"]["recall"]
    ```
    """
    servable = load_servable(model_dir)
    text_column, label_column = trained_columns(servable, text_column, label_column)
    examples = read_labelled(data, servable.class_names, servable.task, text_column=text_column,
                             label_column=label_column, labels=servable.labels)
    if servable.text_pair != (examples.pairs is not None):
        raise TfxferError(f"{servable.path} is a {'sentence-pair' if servable.text_pair else 'single-text'} model: "
                          f"pass --text-column with {'its two columns (a,b)' if servable.text_pair else 'one column'}, "
                          f"as it was trained with")
    inputs = list(zip(examples.inputs, examples.pairs)) if servable.text_pair else examples.inputs
    predicted, *served = _predict(servable, inputs, batch_size)
    version = servable.path
    out = Path(output or Path("evaluations") / f"{version.parent.name}-v{version.name}")
    if servable.labels == "multi":  # scored as served: the signature's own thresholds applied
        return write_multilabel_report(out, predicted, examples.labels, served[0], servable.class_names,
                                       servable.task, examples.shown(), list(servable.thresholds) or None,
                                       model=str(version), data=str(data))
    if servable.labels == "numeric":
        return write_regression_report(out, predicted, examples.labels, servable.task, examples.shown(),
                                       model=str(version), data=str(data))
    return write_report(out, predicted, examples.labels, servable.class_names, servable.task, examples.shown(),
                        model=str(version), data=str(data))

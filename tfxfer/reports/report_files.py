"""The evaluation report, from probabilities and labels, for ``python -m tfxfer.evaluate`` and a
training run's ``evaluation/``: ``report.json`` (accuracy, balanced accuracy, macro-F1, per-class
precision, recall and F1, the most-confused class pairs), ``confusion_matrix.json`` and ``.png``, the
worst-predicted examples (``worst_examples.png`` for images, ``worst_examples.csv`` for
texts), and the same report as a plain-text table. A regression (numeric labels) gets
``report.json`` with MAE, RMSE, R² and Spearman, ``predicted_vs_true.png`` and the examples
with the largest errors (``worst_examples.csv``). A multi-label classifier gets ``report.json``
with micro/macro F1, mAP, subset accuracy and per-class scores, and the rows with the most wrong
labels (``worst_examples.csv``)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

from tfxfer.reports.metrics import (
    classification_report,
    multilabel_report,
    regression_report,
    worst_label_sets,
    worst_predictions,
    worst_regressions,
)
from tfxfer.reports.plots import plot_confusion_matrix, plot_predicted_vs_true, plot_worst_examples


def write_report(out: Path, probabilities: np.ndarray, labels: np.ndarray, class_names: list[str], task: str,
                 inputs: list[str] | None = None, **header) -> dict:
    """Scores ``probabilities`` against ``labels`` and writes the report files under ``out``;
    returns the report. ``inputs`` (file paths or texts, in the same order) name the worst
    examples; without them (tfds: data) that part is left out. Training writes its test (or
    val) report through here too."""
    report = {**header, "task": task, **classification_report(probabilities, labels, class_names)}
    report["worst_examples"] = [
        {"input": inputs[i], "true": class_names[labels[i]],
         "predicted": class_names[int(probabilities[i].argmax())],
         "true_probability": float(probabilities[i, labels[i]])}
        for i in (worst_predictions(probabilities, labels) if inputs is not None else [])
    ]
    out.mkdir(parents=True, exist_ok=True)
    report["output"] = str(out)
    (out / "report.json").write_text(json.dumps(report, indent=2))
    (out / "confusion_matrix.json").write_text(json.dumps(
        {"classes": class_names, "rows_true_columns_predicted": report["confusion_matrix"]}, indent=2))
    plot_confusion_matrix(report["confusion_matrix"], class_names, out / "confusion_matrix.png")
    if report["worst_examples"] and task == "image":
        plot_worst_examples(report["worst_examples"], out / "worst_examples.png")
    elif report["worst_examples"]:
        _write_worst_csv(out / "worst_examples.csv", report["worst_examples"])
    return report


def write_regression_report(out: Path, values: np.ndarray, targets: np.ndarray, task: str,
                            inputs: list[str] | None = None, **header) -> dict:
    """:func:`write_report` for numeric labels: ``values`` predicted against ``targets``."""
    report = {**header, "task": task, "labels": "numeric", **regression_report(values, targets)}
    report["worst_examples"] = [
        {"input": inputs[i], "true": float(targets[i]), "predicted": float(values[i]),
         "error": float(values[i] - targets[i])}
        for i in (worst_regressions(values, targets) if inputs is not None else [])
    ]
    out.mkdir(parents=True, exist_ok=True)
    report["output"] = str(out)
    (out / "report.json").write_text(json.dumps(report, indent=2))
    plot_predicted_vs_true(values, targets, out / "predicted_vs_true.png")
    if report["worst_examples"]:
        _write_worst_csv(out / "worst_examples.csv", report["worst_examples"])
    return report


def write_multilabel_report(out: Path, probabilities: np.ndarray, targets: np.ndarray, predicted: np.ndarray,
                            class_names: list[str], task: str, inputs: list[str] | None = None,
                            thresholds: list[float] | None = None, **header) -> dict:
    """:func:`write_report` for multi-label: ``predicted`` (bool, the thresholds applied) and
    ``probabilities`` against multi-hot ``targets``."""
    report = {**header, "task": task,
              **multilabel_report(probabilities, targets, predicted, class_names, thresholds)}

    def names(row) -> str:
        return "|".join(name for name, on in zip(class_names, row, strict=True) if on)

    report["worst_examples"] = [
        {"input": inputs[i], "true": names(targets[i] > 0), "predicted": names(predicted[i]),
         "wrong": int(np.sum((targets[i] > 0) != predicted[i]))}
        for i in (worst_label_sets(probabilities, targets, predicted) if inputs is not None else [])
    ]
    out.mkdir(parents=True, exist_ok=True)
    report["output"] = str(out)
    (out / "report.json").write_text(json.dumps(report, indent=2))
    if report["worst_examples"]:
        _write_worst_csv(out / "worst_examples.csv", report["worst_examples"])
    return report


def _write_worst_csv(path: Path, rows: list[dict]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows({k: spreadsheet_safe(v) for k, v in row.items()} for row in rows)


# A cell starting with one of these is a formula to Excel, LibreOffice and Google Sheets
# (OWASP "CSV injection"): such texts are written with a leading apostrophe, which spreadsheets
# read as "this is text" and do not show. report.json keeps the texts as they are.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value):
    return "'" + value if isinstance(value, str) and value.startswith(_FORMULA_STARTS) else value


def format_report(report: dict) -> str:
    """The report as a plain-text table."""
    if report.get("labels") == "numeric":
        return _format_regression(report)
    if report.get("labels") == "multi":
        return _format_multilabel(report)
    table = _class_table(report, "precision  recall  f1      support", lambda scores: (
        f"{scores['precision']:<11.4f}{scores['recall']:<8.4f}{scores['f1']:<8.4f}{scores['support']}"))
    confused = [f"  {p['true']} -> {p['predicted']}: {p['count']}" for p in report["most_confused"]]
    return _framed(report, "", f"accuracy {report['accuracy']:.4f}   balanced accuracy "
                               f"{report['balanced_accuracy']:.4f}   macro-F1 {report['macro_f1']:.4f}   "
                               f"loss {report['loss']:.4f}",
                   table, "most confused (true -> predicted):", confused)


def _shown(value) -> str:
    """A score with 4 decimals, or - where there is none."""
    return "-" if value is None else f"{value:.4f}"


def _class_table(report: dict, columns: str, cells) -> list[str]:
    """A per-class table: the header ``class`` + ``columns``, then a row a class (``cells(scores)``)."""
    width = max(len(name) for name in [*report["per_class"], "class"]) + 2
    return [f"{'class':<{width}}{columns}",
            *(f"{name:<{width}}{cells(scores)}" for name, scores in report["per_class"].items())]


def _framed(report: dict, kind: str, scores: str, table: list[str], listed_as: str, listed: list[str]) -> str:
    """Every kind's report: what was scored on what, its scores, its table, up to five of its
    worst rows (when there are any) and where the files went."""
    lines = [f"{report['model']} on {report['data']}: {report['examples']} examples{kind}", scores]
    if table:
        lines += ["", *table]
    if listed:
        lines += ["", listed_as, *listed]
    lines += ["", f"written to {report['output']}"]
    return "\n".join(lines)


def _format_regression(report: dict) -> str:
    shown = _shown
    worst = [f"  {row['true']:.4g} -> {row['predicted']:.4g}: {row['input'][:70]}"
             for row in report["worst_examples"][:5]]
    return _framed(report, "", f"MAE {shown(report['mae'])}   RMSE {shown(report['rmse'])}   R² {shown(report['r2'])}   "
                               f"Spearman {shown(report['spearman'])}   (targets: mean {shown(report['target_mean'])}, "
                               f"std {shown(report['target_std'])})",
                   [], "largest errors (true -> predicted):", worst)


def _format_multilabel(report: dict) -> str:
    shown = _shown
    table = _class_table(report, "precision  recall  f1      AP      threshold  support", lambda scores: (
        f"{scores['precision']:<11.4f}{scores['recall']:<8.4f}{scores['f1']:<8.4f}"
        f"{shown(scores['average_precision']):<8}{shown(scores['threshold']):<11}{scores['support']}"))
    worst = [f"  {row['true'] or '-'} -> {row['predicted'] or '-'}: {row['input'][:60]}"
             for row in report["worst_examples"][:5]]
    return _framed(report, " (multi-label)",
                   f"micro-F1 {shown(report['micro_f1'])}   macro-F1 {shown(report['macro_f1'])}   "
                   f"mAP {shown(report['mean_average_precision'])}   subset accuracy "
                   f"{shown(report['subset_accuracy'])}   loss {shown(report['loss'])}",
                   table, "most wrong labels (true -> predicted):", worst)

"""``python -m tfxfer.evaluate SAVED_MODEL_DIR --data PATH [--output DIR]``: how good is an
exported model on labelled data, in a form a person can read.

Scores the exported SavedModel itself (what TF Serving would answer), prints a table and
writes under the output directory: ``report.json`` (accuracy, macro-F1, per-class precision,
recall and F1, the most-confused class pairs), ``confusion_matrix.json`` and ``.png``, and the
worst-predicted examples (``worst_examples.png``, a grid of images with their true and
predicted labels, or ``worst_examples.csv`` for texts).

Example:

    python -m tfxfer.evaluate saved_models/photos --data photos_test/ --output reports/photos
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import numpy as np

from tfxfer.cli import ArgumentParser, run_main, start_tensorflow
from tfxfer.errors import TfxferError


def _predict(serve, task: str, inputs: list[str], batch_size: int) -> np.ndarray:
    from tfxfer.export import serve_in_batches

    fed = inputs if task == "text" else [Path(p).read_bytes() for p in inputs]
    return np.concatenate([out["probabilities"].numpy()
                           for _, out in serve_in_batches(serve, task, fed, batch_size, inputs)])


def evaluate_saved_model(model_dir: str, data: str, output: str | None = None, *, text_column: str = "text",
                         label_column: str = "label", batch_size: int = 64) -> dict:
    """Scores an exported model on labelled data and writes the report files (see module doc).

    Example:

        report = evaluate_saved_model("saved_models/photos", "photos_test/")
        report["accuracy"], report["per_class"]["cat"]["recall"]
    """
    from tfxfer.data import read_labelled
    from tfxfer.export import latest_version, load_servable

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


def write_report(out: Path, probabilities: np.ndarray, labels: np.ndarray, class_names: list[str], task: str,
                 inputs: list[str] | None = None, **header) -> dict:
    """Scores ``probabilities`` against ``labels`` and writes the report files under ``out``;
    returns the report. ``inputs`` (file paths or texts, in the same order) name the worst
    examples; without them (tfds: data) that part is left out. Training writes its test (or
    val) report through here too."""
    from tfxfer.evaluation import classification_report, worst_predictions
    from tfxfer.plots import plot_confusion_matrix

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
        _plot_examples(report["worst_examples"], out / "worst_examples.png")
    elif report["worst_examples"]:
        with open(out / "worst_examples.csv", "w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=["input", "true", "predicted", "true_probability"])
            writer.writeheader()
            writer.writerows(report["worst_examples"])
    return report


def _plot_examples(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from PIL import Image

    columns = 4
    lines = max(1, -(-len(rows) // columns))
    fig, axes = plt.subplots(lines, columns, figsize=(3 * columns, 3.2 * lines), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, row in zip(axes.flat, rows):
        with Image.open(row["input"]) as image:
            ax.imshow(image.convert("RGB"))
        ax.set_title(f"true {row['true']} (p={row['true_probability']:.2f})\npredicted {row['predicted']}",
                     fontsize=9, color="darkred" if row["true"] != row["predicted"] else "black")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def format_report(report: dict) -> str:
    """The report as a plain-text table."""
    width = max(len(name) for name in report["per_class"]) + 2
    lines = [f"{report['model']} on {report['data']}: {report['examples']} examples",
             f"accuracy {report['accuracy']:.4f}   macro-F1 {report['macro_f1']:.4f}   loss {report['loss']:.4f}",
             "", f"{'class':<{width}}precision  recall  f1      support"]
    for name, scores in report["per_class"].items():
        lines.append(f"{name:<{width}}{scores['precision']:<11.4f}{scores['recall']:<8.4f}{scores['f1']:<8.4f}"
                     f"{scores['support']}")
    if report["most_confused"]:
        lines += ["", "most confused (true -> predicted):"]
        lines += [f"  {p['true']} -> {p['predicted']}: {p['count']}" for p in report["most_confused"]]
    lines += ["", f"written to {report['output']}"]
    return "\n".join(lines)


def main(argv=None) -> int:
    p = ArgumentParser(prog="python -m tfxfer.evaluate", description="Score an exported tfxfer model on labelled data.")
    p.add_argument("model", help="saved_models/NAME (newest version) or saved_models/NAME/VERSION")
    p.add_argument("--data", required=True, help="an image folder (one sub-folder per class) or a .csv/.tsv/.jsonl file")
    p.add_argument("--output", help="where the report goes (default evaluations/NAME-vVERSION)")
    p.add_argument("--text-column", default="text", help="text: the column holding the text (default text)")
    p.add_argument("--label-column", default="label", help="text: the column holding the label (default label)")
    p.add_argument("--batch-size", type=int, default=64, help="inputs per call (default 64)")
    args = p.parse_args(argv)
    start_tensorflow(args.verbose)
    if args.batch_size < 1:
        raise TfxferError(f"--batch-size must be >= 1, got {args.batch_size}")
    if not Path(args.model).exists():
        raise TfxferError(f"model directory {args.model} does not exist")
    report = evaluate_saved_model(args.model, args.data, args.output, text_column=args.text_column,
                                  label_column=args.label_column, batch_size=args.batch_size)
    print(format_report(report))
    return 0


if __name__ == "__main__":
    sys.exit(run_main("tfxfer.evaluate", main))

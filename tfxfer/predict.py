"""``python -m tfxfer.predict SAVED_MODEL_DIR INPUT...``: one prediction a line, in class names.

Image models take file paths; text models take strings; sentence-pair models take their
strings two by two (TEXT TEXT_PAIR TEXT TEXT_PAIR ...), an empty second text allowed. ``--file``
reads many: one input a line, or for a text model the text column of a .csv/.tsv/.jsonl file
(a sentence-pair model's two columns, ``--text-column a,b``; default those it was trained on).
Each line holds the predicted class, its probability and the ``--top-k`` likeliest classes (a
model trained on numeric labels: the predicted ``value``; a multi-label model: ``labels``, the
classes over their thresholds), as JSON (default) or CSV.
SAVED_MODEL_DIR is a version directory or the model's directory (its newest version).

Example:

```bash
python -m tfxfer.predict saved_models/reviews "a triumph" "two hours I want back"
python -m tfxfer.predict saved_models/reviews --file new_reviews.csv --format csv > scored.csv
python -m tfxfer.predict saved_models/paraphrases "He said so." "So he said." "It rains." "The sun is out."
```
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

from tfxfer.cli.arguments import ArgumentParser
from tfxfer.cli.exit_status import run_main
from tfxfer.cli.tensorflow_start import start_tensorflow
from tfxfer.errors import TfxferError

_CLASS_COLUMNS = ("class_name", "class_id", "probability", "top_k")
_MULTI_COLUMNS = ("labels", "top_k")


def build_parser() -> ArgumentParser:
    p = ArgumentParser(prog="python -m tfxfer.predict", description="Predict with an exported tfxfer SavedModel.")
    p.add_argument("model", help="saved_models/NAME (newest version) or saved_models/NAME/VERSION")
    p.add_argument("inputs", nargs="*", help="image file paths, or texts for a text model (two a prediction, "
                                             "TEXT TEXT_PAIR, for a sentence-pair model)")
    p.add_argument("--file", help="many inputs: one a line (image paths relative to the file), a CSV image "
                                  "manifest's path column, or for a text model a .csv/.tsv/.jsonl file's text "
                                  "column")
    p.add_argument("--text-column", help="with --file FILE.csv/.tsv/.jsonl: the column holding the texts, or a "
                                         "sentence-pair model's two columns a,b (default: those the model was "
                                         "trained on)")
    p.add_argument("--top-k", type=int, default=3, help="how many of the likeliest classes each line lists (default 3)")
    p.add_argument("--format", choices=("jsonl", "csv"), default="jsonl",
                   help="jsonl: one JSON object a line (default); csv: a header, then one row an input")
    p.add_argument("--batch-size", type=int, default=64, help="inputs per call (default 64)")
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    for flag, value in (("--batch-size", args.batch_size), ("--top-k", args.top_k)):
        if value < 1:
            raise TfxferError(f"{flag} must be >= 1, got {value}")
    if not Path(args.model).exists():
        raise TfxferError(f"model directory {args.model} does not exist")
    if not args.inputs and not args.file:
        raise TfxferError("no inputs: pass image paths or texts, or --file FILE")
    start_tensorflow(args.verbose)
    from tfxfer.data.sources import column_names, read_inputs_file
    from tfxfer.reports.report_files import spreadsheet_safe
    from tfxfer.serving.servable import load_servable, predictions, trained_columns

    servable = load_servable(args.model)
    inputs = _paired(servable, args.inputs)
    if args.file:
        column = trained_columns(servable, args.text_column, None)[0]
        if servable.task == "text" and servable.text_pair != (len(column_names(column)) == 2):
            raise TfxferError(f"--text-column {column}: {servable.path} is a "
                              f"{'sentence-pair model, pass its two columns (a,b)' if servable.text_pair else 'single-text model, pass one column'}")
        inputs += read_inputs_file(args.file, servable.task, column)
    writer = csv.writer(sys.stdout) if args.format == "csv" else None
    numeric, multi = servable.labels == "numeric", servable.labels == "multi"
    if writer:
        given_columns = ("input", "input_pair") if servable.text_pair else ("input",)
        shown = ("value",) if numeric else _MULTI_COLUMNS if multi else _CLASS_COLUMNS
        writer.writerow([*given_columns, *shown])
    for row in predictions(servable, inputs, args.batch_size, args.top_k):
        given = [row["input"], row["input_pair"]] if servable.text_pair else [row["input"]]
        if writer and numeric:
            writer.writerow([*map(spreadsheet_safe, given), row["value"]])
        elif writer and multi:  # the labels as one |-separated cell, as training data holds them
            writer.writerow([*map(spreadsheet_safe, given), spreadsheet_safe("|".join(row["labels"])),
                             json.dumps(row["top_k"], ensure_ascii=False)])
        elif writer:
            writer.writerow([*map(spreadsheet_safe, given), spreadsheet_safe(row["class_name"]), row["class_id"],
                             row["probability"], json.dumps(row["top_k"], ensure_ascii=False)])
        else:
            print(json.dumps(row, ensure_ascii=False))
        sys.stdout.flush()
    return 0


def _paired(servable, values: list[str]) -> list:
    """The command line's inputs; a sentence-pair model's two by two, as (text, text_pair)."""
    if not servable.text_pair:
        return list(values)
    if len(values) % 2:
        raise TfxferError(f"{servable.path} is a sentence-pair model: pass its texts two by two, TEXT TEXT_PAIR "
                          f"(got {len(values)} strings; \"\" is an empty second text)")
    return list(zip(values[0::2], values[1::2]))


if __name__ == "__main__":
    sys.exit(run_main("tfxfer.predict", main))

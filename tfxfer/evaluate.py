"""``python -m tfxfer.evaluate SAVED_MODEL_DIR --data PATH [--output DIR]``: how good is an
exported model on labelled data, in a form a person can read.

Scores the exported SavedModel itself (what TF Serving would answer), prints a table and
writes under the output directory: ``report.json`` (accuracy, balanced accuracy, macro-F1,
per-class precision, recall and F1, the most-confused class pairs), ``confusion_matrix.json`` and ``.png``, and the
worst-predicted examples (``worst_examples.png``, a grid of images with their true and
predicted labels, or ``worst_examples.csv`` for texts).

Example:

```bash
python -m tfxfer.evaluate saved_models/photos --data photos_test/ --output reports/photos
```
"""

from __future__ import annotations

import sys
from pathlib import Path

from tfxfer.cli.arguments import ArgumentParser
from tfxfer.cli.exit_status import run_main
from tfxfer.cli.tensorflow_start import start_tensorflow
from tfxfer.errors import TfxferError


def main(argv=None) -> int:
    p = ArgumentParser(prog="python -m tfxfer.evaluate", description="Score an exported tfxfer model on labelled data.")
    p.add_argument("model", help="saved_models/NAME (newest version) or saved_models/NAME/VERSION")
    p.add_argument("--data", required=True, help="an image folder (one sub-folder per class) or CSV manifest "
                                                  "(path,label), or a text .csv/.tsv/.jsonl file")
    p.add_argument("--output", help="where the report goes (default evaluations/NAME-vVERSION)")
    p.add_argument("--text-column", help="text: the column holding the text, or a sentence-pair model's two columns "
                                         "a,b (default: those the model was trained on)")
    p.add_argument("--label-column", help="text: the column holding the label (default: the one the model was trained on)")
    p.add_argument("--batch-size", type=int, default=64, help="inputs per call (default 64)")
    args = p.parse_args(argv)
    start_tensorflow(args.verbose)
    if args.batch_size < 1:
        raise TfxferError(f"--batch-size must be >= 1, got {args.batch_size}")
    if not Path(args.model).exists():
        raise TfxferError(f"model directory {args.model} does not exist")
    from tfxfer.reports.report_files import format_report
    from tfxfer.reports.saved_model import evaluate_saved_model

    report = evaluate_saved_model(args.model, args.data, args.output, text_column=args.text_column,
                                  label_column=args.label_column, batch_size=args.batch_size)
    print(format_report(report))
    return 0


if __name__ == "__main__":
    sys.exit(run_main("tfxfer.evaluate", main))

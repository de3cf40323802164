"""``python -m tfxfer.predict SAVED_MODEL_DIR INPUT...``: one JSON object a line.

Image models take file paths; text models take strings, or ``--file`` with one text a line.
SAVED_MODEL_DIR is a version directory or the model's directory (its newest version).

Example:

```bash
python -m tfxfer.predict saved_models/reviews "a triumph" "two hours I want back"
```
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from tfxfer.cli.arguments import ArgumentParser
from tfxfer.cli.exit_status import run_main
from tfxfer.cli.tensorflow_start import start_tensorflow
from tfxfer.errors import TfxferError


def build_parser() -> ArgumentParser:
    p = ArgumentParser(prog="python -m tfxfer.predict", description="Predict with an exported tfxfer SavedModel.")
    p.add_argument("model", help="saved_models/NAME (newest version) or saved_models/NAME/VERSION")
    p.add_argument("inputs", nargs="*", help="image file paths, or texts for a text model")
    p.add_argument("--file", help="text models: a file with one text a line")
    p.add_argument("--batch-size", type=int, default=64, help="inputs per call (default 64)")
    return p


def _read_inputs(args, task: str) -> tuple[list[str], list]:
    """(what to print as "input", what to feed) for each input."""
    if task == "text":
        texts = list(args.inputs)
        if args.file:
            file = Path(args.file)
            if not file.is_file():
                raise TfxferError(f"--file {args.file} does not exist")
            texts += [line for line in file.read_text(encoding="utf-8").splitlines() if line.strip()]
        return texts, texts
    if args.file:
        raise TfxferError("--file is for text models; pass image paths as arguments")
    contents = []
    for name in args.inputs:
        path = Path(name)
        if not path.is_file():
            raise TfxferError(f"image file {name} does not exist")
        contents.append(path.read_bytes())
    return list(args.inputs), contents


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if args.batch_size < 1:
        raise TfxferError(f"--batch-size must be >= 1, got {args.batch_size}")
    if not Path(args.model).exists():
        raise TfxferError(f"model directory {args.model} does not exist")
    start_tensorflow(args.verbose)
    from tfxfer.serving.servable import load_servable, serve_in_batches

    serve, task = load_servable(args.model)
    shown, fed = _read_inputs(args, task)
    if not fed:
        raise TfxferError("no inputs: pass image paths, texts, or --file")
    for start, out in serve_in_batches(serve, task, fed, args.batch_size, shown):
        for i, name in enumerate(shown[start:start + len(out["class_id"])]):
            print(json.dumps({
                "input": name,
                "class_name": out["class_name"][i].numpy().decode("utf-8"),
                "class_id": int(out["class_id"][i]),
                "probabilities": [round(float(p), 6) for p in out["probabilities"][i].numpy()],
            }), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(run_main("tfxfer.predict", main))

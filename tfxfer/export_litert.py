"""``python -m tfxfer.export_litert SAVED_MODEL_DIR``: LiteRT (``.tflite``) variants of an
exported image model for devices: float32, float16 and full-integer int8 (calibrated on
training images), each taking decoded RGB pixels, with ``labels.txt`` and ``metadata.json``.
Prints the size and held-out accuracy of each against the SavedModel's, and stores them in
``metadata.json``. A text model is refused, naming the tokenizer ops LiteRT lacks.

The training and held-out images default to the folders the model was trained and tested on
(its ``assets/tfxfer.json``).

Example:

```bash
python -m tfxfer.export_litert saved_models/photos --output litert/photos
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
    p = ArgumentParser(prog="python -m tfxfer.export_litert", description="LiteRT variants of an exported image model.")
    p.add_argument("model", help="saved_models/NAME (newest version) or saved_models/NAME/VERSION")
    p.add_argument("--train", help="images to calibrate int8 on: a folder with one sub-folder per class "
                                   "(default: the model's training folder)")
    p.add_argument("--test", help="held-out images to score each variant on, one sub-folder per class "
                                  "(default: the model's --test, else its --val folder)")
    p.add_argument("--calibration-images", type=int, default=200,
                   help="how many training images calibrate int8 (default 200, a stratified sample)")
    p.add_argument("--output", help="where the files go (default litert/NAME-vVERSION)")
    args = p.parse_args(argv)
    if args.calibration_images < 1:
        raise TfxferError(f"--calibration-images must be >= 1, got {args.calibration_images}")
    if not Path(args.model).exists():
        raise TfxferError(f"model directory {args.model} does not exist")
    start_tensorflow(args.verbose)
    from tfxfer.data.sources import read_labelled
    from tfxfer.data.splits import stratified_split
    from tfxfer.serving.litert import export_litert
    from tfxfer.serving.servable import latest_version, read_info

    path = latest_version(args.model)
    info = read_info(path)
    config, classes = info.get("config") or {}, info.get("classes") or []
    if info.get("task") == "image":
        train = args.train or config.get("train")
        test = args.test or config.get("test") or config.get("val")
        for flag, value in (("--train", train), ("--test", test)):
            if not value:
                raise TfxferError(f"{path} does not record its {flag[2:]} images: pass {flag} FOLDER")
        calibration = read_labelled(train, classes, "image", role="training")
        if len(calibration) > args.calibration_images:
            keep, _ = stratified_split(calibration.labels, 1 - args.calibration_images / len(calibration), 0)
            calibration_paths = [calibration.inputs[i] for i in keep]
        else:
            calibration_paths = list(calibration.inputs)
        held_out = read_labelled(test, classes, "image", role="held-out")
        test_paths, test_labels = list(held_out.inputs), list(held_out.labels)
    else:
        calibration_paths, test_paths, test_labels = [], [], []
    output = Path(args.output or f"litert/{path.parent.name}-v{path.name}")
    metadata = export_litert(path, output, calibration_paths, test_paths, test_labels)
    held = metadata["held_out"]
    print(f"{path} -> {output}/ ({held['images']} held-out images; int8 calibrated on "
          f"{metadata['calibration_images']} training images)")
    print(f"  {'':<11} {'size MB':>8} {'accuracy':>9} {'same class as SavedModel':>25} {'max |p - SavedModel|':>21} "
          f"{'max |p - Keras float32|':>24}")
    print(f"  {'SavedModel':<11} {held['saved_model_bytes'] / 1e6:8.2f} {held['saved_model_accuracy']:9.3f}")
    for name, v in metadata["variants"].items():
        print(f"  {name:<11} {v['bytes'] / 1e6:8.2f} {v['accuracy']:9.3f} {v['same_class_as_saved_model']:25.1%} "
              f"{v['max_difference_from_saved_model']:21.1e} {v['max_difference_from_keras_float32']:24.1e}")
    if held["saved_model_mixed_precision"]:
        print("  (the SavedModel computes in bfloat16, as it was trained; the variants start from float32)")
    return 0


if __name__ == "__main__":
    sys.exit(run_main("tfxfer.export_litert", main))

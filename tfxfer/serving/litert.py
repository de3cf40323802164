"""LiteRT (``.tflite``) variants of an exported image model, for phones and boards: float32,
float16 and full-integer int8 (calibrated on training images), each taking decoded pixels,
with a labels file, and each scored against the SavedModel on held-out images.

The SavedModel's signature takes encoded image bytes, which LiteRT's built-in ops cannot
decode; a device decodes the picture itself (its camera gives pixels). So the Keras model is
rebuilt from the export's ``assets/tfxfer.json`` (backbone, image size, pooling, dropout) and
its weights are read back from the SavedModel's variables, then checked against the SavedModel
on real images before anything is converted: rebuilt under the precision it was trained with
(bfloat16 compute for a mixed-precision run), it must give the SavedModel's numbers. The
variants are converted from it in float32, so even the float32 variant differs from a
mixed-precision SavedModel by bfloat16's rounding: the agreement printed is that difference.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import sys
import tempfile
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from tfxfer.data.images import decode_and_resize
from tfxfer.errors import TfxferError, first_line
from tfxfer.finetune.precision import set_mixed_precision
from tfxfer.serving.export import PARITY_TOLERANCE
from tfxfer.serving.servable import Servable, load_servable

log = logging.getLogger("tfxfer")

VARIANTS = ("float32", "float16", "int8")
# The names each .tflite file's signature gives a device (metadata.json says them too).
SIGNATURE, INPUT, OUTPUT = "serving_default", "pixels", "probabilities"


def blocking_ops(path: Path) -> tuple[list[str], list[str]]:
    """The op types LiteRT's converter refuses in a text model, from its own report: (those in
    the tokenizer, the others). The others are ops LiteRT has, refused for their type (a model
    trained under mixed precision computes in bfloat16, which LiteRT's kernels lack)."""
    converter = tf.lite.TFLiteConverter.from_saved_model(str(path), signature_keys=["serving_default"])
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    try:
        with _stderr_quiet():  # the converter prints its whole MLIR diagnosis there
            converter.convert()
    except Exception as e:  # noqa: BLE001 - the converter's report is what we read
        refused = re.findall(r'error: loc\((?:callsite\()?fused\["([^"]+):", "([^"@]+)', str(e))
        tokenizer = sorted({op for op, where in refused if re.search(r"preprocessor|tokenizer|packer", where)})
        return tokenizer or [first_line(e)], sorted({op for op, _ in refused} - set(tokenizer))
    return [], []


@contextlib.contextmanager
def _stderr_quiet():
    sys.stderr.flush()
    saved = os.dup(2)
    with open(os.devnull, "w") as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def rebuild_keras_model(servable: Servable):
    """The exported model as Keras, from its training settings and the SavedModel's weights."""
    from tfxfer.models.builders import build_image_classifier

    config = servable.trained_with
    missing = [key for key in ("backbone", "image_size") if not config.get(key)]
    if missing:
        raise TfxferError(f"{servable.path}/assets/tfxfer.json has no training settings ({', '.join(missing)}): "
                          "export the model with python -m tfxfer.train, which records them")
    size = (int(config["image_size"]),) * 2
    model = build_image_classifier(config["backbone"], len(servable.class_names), pooling=config.get("pooling", "avg"),
                                   dropout=config.get("dropout", 0.2), image_size=size, weights="none",
                                   class_names=servable.class_names)
    status = tf.train.Checkpoint(model=model).read(str(servable.path / "variables" / "variables"))
    try:
        status.assert_existing_objects_matched()
    except AssertionError as e:
        raise TfxferError(f"the weights of {servable.path} do not fit a rebuilt {config['backbone']} "
                          f"({first_line(e)})") from None
    return model


def _pixels(paths: list[str], size) -> np.ndarray:
    return np.stack([decode_and_resize(tf.io.read_file(p), size).numpy() for p in paths]).astype(np.float32)


def pixels_saved_model(model, directory: Path) -> None:
    """The model as a SavedModel whose ``serve`` takes ``pixels`` [1, H, W, 3] float32, written
    with Keras' ExportArchive, the route Keras' own LiteRT export takes (a tf.function of a Keras 3
    model given to the converter directly keeps its weights as uninitialised resource variables)."""
    height, width = model.image_size
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint("serve", lambda pixels: {OUTPUT: model(pixels, training=False)},
                         input_signature=[tf.TensorSpec([1, height, width, 3], tf.float32, name="pixels")])
    archive.write_out(str(directory), verbose=False)


def convert(saved_model: Path, variant: str, path: Path, calibration: np.ndarray | None = None) -> None:
    """Writes :func:`pixels_saved_model`'s SavedModel as a ``.tflite`` file of LiteRT's built-in
    ops: float32, float16 weights, or full-integer int8 calibrated on ``calibration`` pixels
    (its input uint8 pixels, its output float32 probabilities)."""
    converter = tf.lite.TFLiteConverter.from_saved_model(str(saved_model))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if variant == "float16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif variant == "int8":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = lambda: ([image[None]] for image in calibration)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.uint8
        converter.inference_output_type = tf.float32
    path.write_bytes(converter.convert())


def run_tflite(path: Path, pixels: np.ndarray) -> np.ndarray:
    """Probabilities from a ``.tflite`` file under LiteRT's interpreter, one image at a time."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        raise TfxferError("python -m tfxfer.export_litert runs the variants with LiteRT (ai-edge-litert is not "
                          "installed): pip install 'tfxfer[serve]' (from a checkout: pip install -e '.[serve]')") from None

    with _stderr_quiet():  # LiteRT's C++ notes ("Created TensorFlow Lite XNNPACK delegate")
        runner = Interpreter(model_path=str(path)).get_signature_runner(SIGNATURE)  # by the names a device uses
    source = runner.get_input_details()[INPUT]
    scale, zero_point = source["quantization"]
    out = []
    for image in pixels:
        x = image[None]
        if source["dtype"] != np.float32:
            x = np.clip(np.round(x / scale + zero_point), 0, 255).astype(source["dtype"])
        out.append(runner(**{INPUT: x})[OUTPUT][0].astype(np.float32))
    return np.stack(out)


def _scores(probabilities: np.ndarray, labels: np.ndarray, saved: np.ndarray, keras_float32: np.ndarray) -> dict:
    predicted = probabilities.argmax(-1)
    return {"accuracy": float(np.mean(predicted == labels)),
            "same_class_as_saved_model": float(np.mean(predicted == saved.argmax(-1))),
            "max_difference_from_saved_model": float(np.max(np.abs(probabilities - saved))),
            "max_difference_from_keras_float32": float(np.max(np.abs(probabilities - keras_float32)))}


def export_litert(saved_model: str | Path, output: Path, calibration_paths: list[str], test_paths: list[str],
                  test_labels: list[int]) -> dict:
    """Writes ``model_float32.tflite``, ``model_float16.tflite``, ``model_int8.tflite``,
    ``labels.txt`` and ``metadata.json`` (labels, input and output, and for each variant its
    size and held-out scores beside the SavedModel's) under ``output``; returns the metadata.

    Each variant's probabilities are compared with the SavedModel's and with the float32 Keras
    model it was converted from (the conversion's own error)."""
    servable = load_servable(saved_model)
    if servable.task != "image":
        tokenizer, others = blocking_ops(servable.path)
        why = ("bfloat16, from mixed-precision training, which LiteRT's kernels lack"
               if servable.trained_with.get("mixed_precision") else "their data types")
        more = (f"; {len(others)} more op types are refused for {why}, e.g. {', '.join(others[:3])}"
                if others else "")
        raise TfxferError(f"{servable.path} is a text model: LiteRT's built-in ops cannot run its tokenizer, "
                          f"which needs {', '.join(tokenizer) or 'ops the converter did not name'} (the converter's "
                          f"report{more}); only image models convert")
    if servable.labels in ("numeric", "multi"):
        kind = "numeric labels (output value)" if servable.labels == "numeric" else "multi-label (outputs predicted)"
        raise TfxferError(f"{servable.path} is a model for {kind}: LiteRT variants are made for single-label "
                          f"image classifiers (output probabilities, scored by accuracy); serve the SavedModel instead")
    set_mixed_precision(bool(servable.trained_with.get("mixed_precision")))
    as_exported = rebuild_keras_model(servable)
    size = as_exported.image_size
    test_pixels = _pixels(test_paths, size)
    saved = servable.signature(image_bytes=tf.stack([tf.io.read_file(p) for p in test_paths]))["probabilities"].numpy()
    difference = float(np.max(np.abs(as_exported.predict(test_pixels, verbose=0, batch_size=32) - saved)))
    if difference > PARITY_TOLERANCE:
        raise TfxferError(f"the model rebuilt from {servable.path}/assets/tfxfer.json disagrees with the SavedModel "
                          f"(max probability difference {difference:.1e} > {PARITY_TOLERANCE:.0e}): not converted")
    model = as_exported
    if servable.trained_with.get("mixed_precision"):
        set_mixed_precision(False)
        model = rebuild_keras_model(servable)
    keras_float32 = model.predict(test_pixels, verbose=0, batch_size=32)
    labels = np.asarray(test_labels)
    output.mkdir(parents=True, exist_ok=True)
    (output / "labels.txt").write_text("".join(f"{c}\n" for c in servable.class_names), encoding="utf-8")
    calibration = _pixels(calibration_paths, size)
    variants = {}
    with tempfile.TemporaryDirectory(prefix="tfxfer-litert-") as staging:
        pixels_saved_model(model, Path(staging))
        for name in VARIANTS:
            started = time.perf_counter()
            path = output / f"model_{name}.tflite"
            with _stderr_quiet():  # the converter's C++ notes; a failure's report is in its exception
                convert(Path(staging), name, path, calibration if name == "int8" else None)
            variants[name] = {"file": path.name, "bytes": path.stat().st_size,
                              **_scores(run_tflite(path, test_pixels), labels, saved, keras_float32)}
            log.info("%s: %s in %.0f s", name, path, time.perf_counter() - started)
    metadata = {
        "source": str(servable.path),
        "labels": servable.class_names,
        "signature": SIGNATURE,
        "input": {"name": INPUT, "shape": [1, *size, 3], "color": "RGB",
                  "dtype": {"float32": "float32", "float16": "float32", "int8": "uint8"},
                  "range": "[0, 255]: the picture resized to the shape (bilinear, antialiased) and nothing more; "
                           "the model normalises it itself"},
        "output": {"name": OUTPUT, "shape": [1, len(servable.class_names)], "dtype": "float32"},
        "held_out": {"images": len(test_paths), "saved_model_accuracy": float(np.mean(saved.argmax(-1) == labels)),
                     "saved_model_bytes": sum(f.stat().st_size for f in servable.path.rglob("*") if f.is_file()),
                     "saved_model_mixed_precision": bool(servable.trained_with.get("mixed_precision"))},
        "calibration_images": len(calibration_paths),
        "variants": variants,
    }
    (output / "metadata.json").write_text(json.dumps(metadata, indent=2), encoding="utf-8")
    return metadata

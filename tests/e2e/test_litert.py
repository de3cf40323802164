"""python -m tfxfer.export_litert: an image export's float32, float16 and int8 LiteRT variants,
run by LiteRT's interpreter, within stated tolerances of the model they were converted from;
a text export refused, naming its tokenizer's ops."""

from __future__ import annotations

import json

import pytest

from tests.conftest import IMAGE_CLASSES
from tfxfer.errors import TfxferError
from tfxfer.export_litert import main

# Largest probability difference from the float32 Keras model each variant was converted from.
TOLERANCE = {"float32": 1e-5, "float16": 5e-3, "int8": 0.05}


@pytest.fixture(scope="module")
def colour_folder(tmp_path_factory):
    """The tiny coloured images, under the export's class names."""
    from tests.conftest import write_image

    root = tmp_path_factory.mktemp("litert_images")
    for c, name in enumerate(IMAGE_CLASSES):
        for i in range(6):
            write_image(root / name / f"{i}.{('png', 'jpg', 'bmp')[i % 3]}", (24 + 5 * i, 20 + 3 * i), seed=10 * c + i,
                        color=[(220, 30, 30), (30, 200, 40), (30, 40, 220)][c])
    return root


def test_image_variants_run_under_litert_within_tolerance(small_exports, colour_folder, tmp_path, capsys):
    from ai_edge_litert.interpreter import Interpreter

    out = tmp_path / "litert"
    assert main([str(small_exports / "photos" / "1"), "--train", str(colour_folder), "--test", str(colour_folder),
                 "--calibration-images", "12", "--output", str(out)]) == 0
    printed = capsys.readouterr().out
    metadata = json.loads((out / "metadata.json").read_text())
    assert (out / "labels.txt").read_text().splitlines() == metadata["labels"] == IMAGE_CLASSES
    assert metadata["input"]["shape"] == [1, 32, 32, 3] and metadata["calibration_images"] == 12
    sizes = {name: v["bytes"] for name, v in metadata["variants"].items()}
    assert sizes["int8"] < sizes["float16"] < sizes["float32"]
    for name, variant in metadata["variants"].items():
        assert (out / variant["file"]).stat().st_size == variant["bytes"]
        # The names README and metadata.json give a device: pixels in, probabilities out.
        signatures = Interpreter(model_path=str(out / variant["file"])).get_signature_list()
        assert signatures == {metadata["signature"]: {"inputs": [metadata["input"]["name"]],
                                                      "outputs": [metadata["output"]["name"]]}}
        assert (metadata["signature"], metadata["input"]["name"], metadata["output"]["name"]) == (
            "serving_default", "pixels", "probabilities")
        assert variant["max_difference_from_keras_float32"] <= TOLERANCE[name], (name, variant)
        assert name in printed
    # float32: the SavedModel's numbers (it computes in float32 too); the others are scored beside it.
    assert metadata["variants"]["float32"]["max_difference_from_saved_model"] <= 1e-4
    assert metadata["variants"]["float32"]["accuracy"] == metadata["held_out"]["saved_model_accuracy"]


def test_a_text_model_is_refused_naming_its_tokenizer_ops(small_exports, tmp_path):
    with pytest.raises(TfxferError, match=r"is a text model: LiteRT's built-in ops cannot run its tokenizer, which "
                                          r"needs .*WordpieceTokenizeWithOffsets"):
        main([str(small_exports / "reviews" / "1"), "--output", str(tmp_path / "litert")])

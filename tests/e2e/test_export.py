"""Exported image models: raw bytes in, same numbers out in a fresh process, versioned,
atomic, each variable stored once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

import tfxfer
from tests.conftest import REPO, write_image
from tfxfer.data.images import decode_batch
from tfxfer.models.freezing import count_params
from tfxfer.serving.export import PARITY_TOLERANCE

CLASSES = ["cat", "dog", "fox"]


@pytest.fixture(scope="module")
def model():
    import keras

    keras.utils.set_random_seed(1)
    return tfxfer.build_image_classifier("keras:MobileNet", 3, weights="none", image_size=(64, 64))


@pytest.fixture(scope="module")
def mixed_images(tmp_path_factory) -> list[Path]:
    root = tmp_path_factory.mktemp("mixed")
    return [
        write_image(root / "a.jpg", (120, 80), seed=1),
        write_image(root / "b.png", (33, 47), seed=2),
        write_image(root / "c.gif", (64, 64), seed=3),
        write_image(root / "d.bmp", (200, 150), seed=4),
        write_image(root / "e.png", (50, 50), mode="RGBA", seed=5),
        write_image(root / "f.png", (40, 60), mode="L", seed=6),
        write_image(root / "g.png", (45, 45), mode="I;16", seed=7),
    ]


def test_fresh_process_gives_the_keras_models_numbers(model, mixed_images, tmp_path):
    path = tfxfer.export_saved_model(model, tmp_path, "animals", CLASSES, metadata={"backbone": "keras:MobileNet"})
    assert path == tmp_path / "animals" / "1"
    blobs = [p.read_bytes() for p in mixed_images]
    expected = model.predict(decode_batch(tf.constant(blobs), (64, 64)), verbose=0)

    script = (
        "import sys, json, numpy as np, tensorflow as tf\n"
        "serve = tf.saved_model.load(sys.argv[1]).signatures['serving_default']\n"
        "blobs = [open(p, 'rb').read() for p in sys.argv[3:]]\n"
        "out = serve(image_bytes=tf.constant(blobs))\n"
        "np.save(sys.argv[2], out['probabilities'].numpy())\n"
        "print(json.dumps({'names': [n.decode() for n in out['class_name'].numpy()],"
        "  'ids': out['class_id'].numpy().tolist(), 'modules': sorted(m for m in sys.modules if m.startswith('tfxfer'))}))\n"
    )
    result = subprocess.run([sys.executable, "-c", script, str(path), str(tmp_path / "p.npy"), *map(str, mixed_images)],
                            capture_output=True, text=True, timeout=300, cwd=tmp_path,
                            env={**os.environ, "PYTHONPATH": ""})
    assert result.returncode == 0, result.stderr[-3000:]
    served = np.load(tmp_path / "p.npy")
    info = json.loads(result.stdout.strip().splitlines()[-1])
    assert info["modules"] == [], "the served model must not need tfxfer"
    assert served.dtype == np.float32 and served.shape == (len(mixed_images), 3)
    assert np.max(np.abs(served - expected)) <= PARITY_TOLERANCE
    assert info["ids"] == expected.argmax(-1).tolist()
    assert info["names"] == [CLASSES[i] for i in info["ids"]]

    signature = tf.saved_model.load(str(path)).signatures["serving_default"]
    assert list(signature.structured_input_signature[1]) == ["image_bytes"]
    assert signature.structured_input_signature[1]["image_bytes"].dtype == tf.string
    assert set(signature.structured_outputs) == {"probabilities", "class_id", "class_name"}
    assert signature.structured_outputs["class_id"].dtype == tf.int64
    assert (path / "assets" / "labels.txt").read_text().splitlines() == CLASSES
    info = json.loads((path / "assets" / "tfxfer.json").read_text())
    assert info["classes"] == CLASSES and info["backbone"] == "keras:MobileNet"


def test_decoding_handles_every_format(mixed_images):
    from PIL import Image

    images = decode_batch(tf.constant([p.read_bytes() for p in mixed_images]), (16, 16)).numpy()
    assert images.shape == (len(mixed_images), 16, 16, 3)
    assert images.min() >= 0 and images.max() <= 255.0 + 1e-3
    grey = images[5]  # greyscale becomes three equal channels
    np.testing.assert_allclose(grey[..., 0], grey[..., 1], atol=1e-4)
    deep = np.asarray(Image.open(mixed_images[6]), dtype=np.float64)  # 16-bit PNG keeps its range
    assert deep.max() > 255
    assert abs(images[6].mean() - deep.mean() / 65535 * 255) < 3.0


def test_versions_count_up_and_each_variable_is_stored_once(model, tmp_path):
    # A trained model: its optimizer's slot variables must not travel into the export.
    tfxfer.set_trainable(model, "all")
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.train_on_batch(np.zeros((2, 64, 64, 3), np.float32), np.array([0, 1]))
    first = tfxfer.export_saved_model(model, tmp_path, "animals", CLASSES)
    second = tfxfer.export_saved_model(model, tmp_path, "animals", CLASSES)
    assert (first.name, second.name) == ("1", "2")
    assert sorted(p.name for p in (tmp_path / "animals").iterdir()) == ["1", "2"]
    variables_bytes = sum(f.stat().st_size for f in (second / "variables").iterdir())
    param_bytes = 4 * count_params(model.weights)
    assert variables_bytes <= 1.1 * param_bytes, (variables_bytes, param_bytes)


def test_an_interrupted_export_leaves_no_version(tmp_path):
    script = (
        "import tfxfer\n"
        "m = tfxfer.build_image_classifier('keras:MobileNet', 3, weights='none', image_size=(64, 64))\n"
        f"tfxfer.export_saved_model(m, {str(tmp_path)!r}, 'animals', ['a', 'b', 'c'])\n"
    )
    process = subprocess.Popen([sys.executable, "-c", script], cwd=REPO,
                               env={**os.environ, "PYTHONPATH": str(REPO)}, stderr=subprocess.DEVNULL)
    model_dir = tmp_path / "animals"
    deadline = time.time() + 240
    while time.time() < deadline and not list(model_dir.glob(".tmp-*")):
        assert process.poll() is None, "the export ended before it could be interrupted"
        time.sleep(0.01)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert not [p for p in model_dir.iterdir() if p.name.isdigit()]
    assert list(model_dir.glob(".tmp-*")), "the interrupted export left its temporary directory"
    # The next export cleans the dead one's leftovers and takes version 1.
    model = tfxfer.build_image_classifier("keras:MobileNet", 3, weights="none", image_size=(64, 64))
    assert tfxfer.export_saved_model(model, tmp_path, "animals", ["a", "b", "c"]).name == "1"
    assert sorted(p.name for p in model_dir.iterdir()) == ["1"]

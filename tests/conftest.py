"""Fixtures shared by the test files: real files, real processes, real (small) models.

Where a test's image backbone is incidental (the CLI, run directories, distribution, caching,
export), it is ``keras:MobileNet`` with random weights at 32 px: 86 layers, where
MobileNetV3Small has 157 and EfficientNet-Lite0 more, and tracing, saving and exporting a model
take time by its layers (the switch took those test files from 2,877 to 1,616 worker-seconds).
Pretrained weights are used where they are the point: the zero-flag tests, the backbone-kind
harness, the notebooks."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

# The text fixtures (tiny BERT presets, TF Hub-format pairs, sentiment CSVs) for every test file.
pytest_plugins = ["tests.text_fixtures"]

REPO = Path(__file__).resolve().parent.parent
EFFICIENTNET_LITE0 = REPO.parent / "shared" / "assets" / "efficientnet_lite0_imagenet"


def pytest_collection_modifyitems(config, items):
    """Under pytest-xdist (``make test``'s ``-n``), the tests known to take minutes
    (``tests/durations.json``) go first, dealt one per worker: ``--dist worksteal`` hands each
    worker a contiguous share of this order and lets idle workers take from the end of the
    busiest share, so a long test left near an end starts late and the whole run waits on it
    (a CI run's 423 s test once did). Longest first is the classic remedy (LPT scheduling)."""
    import json

    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    seconds = json.loads((Path(__file__).parent / "durations.json").read_text())
    long = sorted((item for item in items if item.nodeid in seconds), key=lambda item: -seconds[item.nodeid])
    if workers < 2 or not long:
        return
    rest = [item for item in items if item.nodeid not in seconds]
    shares, left = [], len(items)
    for worker in range(workers):  # the sizes of xdist's first hand-out (worksteal.check_schedule)
        shares.append(left // (workers - worker))
        left -= shares[-1]
    heads = [long[worker::workers] for worker in range(workers)]
    order = []
    for size, head in zip(shares, heads, strict=True):
        order += head + rest[:size - len(head)]
        rest = rest[size - len(head):]
    items[:] = order + rest


def run_cli(*args: str, timeout: float = 600, cwd: Path | None = None, env_extra: dict | None = None
            ) -> subprocess.CompletedProcess:
    """Runs ``python -m ARGS...`` in a fresh process, as a user would; ``env_extra`` adds to
    the environment, and a None value there removes that variable."""
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "3",
           "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""), **(env_extra or {})}
    env = {name: value for name, value in env.items() if value is not None}
    return subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=cwd or REPO, env=env)


def error_line(result: subprocess.CompletedProcess) -> str:
    """The one line a failed CLI call printed on stderr (asserting it is one line)."""
    lines = [line for line in result.stderr.splitlines() if line.strip() and "error:" in line]
    assert len(lines) == 1, result.stderr[-3000:]
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    return lines[0]


def run_in_one_process(calls: list[tuple[str, list]], tmp_path: Path) -> list[subprocess.CompletedProcess]:
    """Runs each ``(MODULE, ARGS)`` as ``python -m MODULE ARGS`` would, all in one fresh process
    (``tests/cli_cases.py``: each through the command's own ``run_main``, so one TensorFlow import
    serves them all); returns what each printed and its exit status, in order. Only what a
    command prints is captured: its log lines go to the process's own stderr."""
    import json
    import tempfile

    handle, cases_file = tempfile.mkstemp(suffix=".json", prefix="cli_cases", dir=tmp_path)
    os.close(handle)
    results_file = Path(cases_file).with_suffix(".results.json")
    Path(cases_file).write_text(json.dumps([[module, [str(a) for a in arguments]] for module, arguments in calls]))
    ran = run_cli("tests.cli_cases", cases_file, str(results_file), timeout=900)
    assert ran.returncode == 0, ran.stderr[-3000:]
    return [subprocess.CompletedProcess(r["args"], r["returncode"], r["stdout"], r["stderr"])
            for r in json.loads(results_file.read_text())]


def refused(module: str, cases: list[tuple[list[str], str]], tmp_path: Path) -> list[subprocess.CompletedProcess]:
    """Runs ``python -m MODULE ARGS`` for each ``(ARGS, message)`` case in one fresh process
    (:func:`run_in_one_process`) and asserts that each exits with status 2 and one error line
    holding its message; returns the results in the cases' order."""
    results = run_in_one_process([(module, arguments) for arguments, _ in cases], tmp_path)
    for (arguments, expected), result in zip(cases, results, strict=True):
        assert result.returncode == 2, (arguments, result.stderr[-2000:])
        assert expected in error_line(result), (arguments, error_line(result))
    return results


def write_image(path: Path, size=(40, 30), mode="RGB", seed=0, fmt=None, color=None) -> Path:
    from PIL import Image

    rng = np.random.default_rng(seed)
    channels = {"RGB": 3, "RGBA": 4, "L": 1, "I;16": 1}[mode]
    if mode == "I;16":
        array = rng.integers(0, 65535, (size[1], size[0]), dtype=np.uint16)
        image = Image.fromarray(array)
    else:
        array = rng.integers(0, 256, (size[1], size[0], channels), dtype=np.uint8)
        if color is not None:
            array[..., : len(color)] = color
        image = Image.fromarray(array.squeeze(-1) if channels == 1 else array, mode)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, format=fmt)
    return path


IMAGE_CLASSES = ["cat", "dog", "fox"]
TEXT_CLASSES = ["neg", "pos"]


def small_image_model(bias=(0.5, 0.0, -0.5)):
    """An untrained MobileNet at 32 px; its head's bias sets how the probabilities lean
    (a fresh head's are uniform), so that two versions answer differently."""
    import keras

    import tfxfer

    keras.utils.set_random_seed(0)
    model = tfxfer.build_image_classifier("keras:MobileNet", 3, weights="none", image_size=(32, 32))
    model.trainable_weights[-1].assign(np.asarray(bias, np.float32))  # the frozen backbone leaves the head's
    return model


@pytest.fixture(scope="session")
def small_exports(tmp_path_factory, tiny_preset) -> Path:
    """An export directory as python -m tfxfer.train leaves it, with the names the README's
    serving examples use: ``photos/1`` (the image model above, with the training settings a
    rebuild reads) and ``reviews/1`` (a 2-layer BERT with its tokenizer). Tests may add
    versions; version 1 stays as it is."""
    import keras

    import tfxfer

    root = tmp_path_factory.mktemp("exports")
    settings = {"backbone": "keras:MobileNet", "image_size": 32, "pooling": "avg", "dropout": 0.2,
                "weights": "none", "mixed_precision": False}
    tfxfer.export_saved_model(small_image_model(), root, "photos", IMAGE_CLASSES, metadata={"config": settings})
    keras.utils.set_random_seed(0)
    text_model = tfxfer.build_text_classifier(f"kerashub:{tiny_preset}", 2, sequence_length=16)
    tfxfer.export_saved_model(text_model, root, "reviews", TEXT_CLASSES)
    return root


@pytest.fixture(scope="session")
def tiny_images(tmp_path_factory) -> Path:
    """3 classes x 8 images, each class a distinct colour, in mixed formats and sizes."""
    root = tmp_path_factory.mktemp("tiny_images")
    colors = {"red": (220, 30, 30), "green": (30, 200, 40), "blue": (30, 40, 220)}
    formats = [("png", "RGB"), ("jpg", "RGB"), ("bmp", "RGB"), ("gif", "RGB"), ("png", "RGBA"), ("png", "L")]
    for c, (name, color) in enumerate(colors.items()):
        for i in range(8):
            ext, mode = formats[i % len(formats)]
            rgb = color if mode != "L" else (int(np.mean(color)),)
            write_image(root / name / f"{i}.{ext}", size=(24 + 5 * i, 20 + 3 * i), mode=mode,
                        seed=10 * c + i, color=rgb)
    return root


@pytest.fixture(scope="session")
def fashion_mnist(tmp_path_factory) -> dict[str, Path]:
    """Fashion-MNIST as PNG class folders: 4 classes x 150 to train, x 50 to validate."""
    from tfxfer.data import demo

    return {
        "train": demo.fashion_mnist_folders(classes=4, per_class=150, split="train"),
        "val": demo.fashion_mnist_folders(classes=4, per_class=50, split="test"),
    }


@pytest.fixture(scope="session")
def tfhub_feature_vector(tmp_path_factory) -> str:
    """A TF Hub-style image feature vector SavedModel: images in [0, 1] -> (N, 16), with BatchNorm."""
    import keras
    import tensorflow as tf

    class FeatureVector(tf.Module):
        def __init__(self):
            super().__init__()
            self.net = keras.Sequential([
                keras.Input((32, 32, 3)),
                keras.layers.Conv2D(8, 3, strides=2, padding="same"),
                keras.layers.BatchNormalization(),
                keras.layers.ReLU(),
                keras.layers.Conv2D(16, 3, strides=2, padding="same"),
                keras.layers.GlobalAveragePooling2D(),
            ])

        @tf.function
        def __call__(self, images, training=False):
            return self.net(images, training=training)

    path = tmp_path_factory.mktemp("tfhub") / "feature_vector"
    module = FeatureVector()
    spec = tf.TensorSpec([None, 32, 32, 3], tf.float32)
    for training in (True, False):
        module.__call__.get_concrete_function(spec, training=training)
    tf.saved_model.save(module, str(path))
    return str(path)

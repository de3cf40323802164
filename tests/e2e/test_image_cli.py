"""The image CLI as a user meets it: a real run, its run directory, and every bad input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from tests.conftest import error_line, refused, run_cli, run_in_one_process, write_image

# --recipe fixed: these tests are about the CLI, not the recipe's choices (tests/test_recipe.py).
FAST = ["--task", "image", "--backbone", "keras:MobileNet", "--weights", "none",
        "--image-size", "32", "--batch-size", "8", "--recipe", "fixed"]


def tensorboard_hparams(log_dir: Path) -> tuple[dict, dict]:
    """(hyperparameters of the HParams session, final/* scalars) from a run's event files."""
    import tensorflow as tf
    from google.protobuf.json_format import MessageToDict
    from tensorboard.plugins.hparams import plugin_data_pb2

    hparams, finals = {}, {}
    for events in log_dir.glob("events.out.tfevents.*"):
        for event in tf.compat.v1.train.summary_iterator(str(events)):
            for value in event.summary.value:
                if value.metadata.plugin_data.plugin_name == "hparams":
                    data = plugin_data_pb2.HParamsPluginData.FromString(value.metadata.plugin_data.content)
                    hparams.update(MessageToDict(data.session_start_info).get("hparams", {}))
                elif value.tag.startswith("final/"):
                    finals[value.tag] = float(tf.make_ndarray(value.tensor))
    return hparams, finals


def train(*args, tmp_path: Path):
    return run_cli("tfxfer.train", *args, "--output", str(tmp_path / "run"),
                   "--export-dir", str(tmp_path / "exported"))


def test_train_writes_run_directory_and_export(tiny_images, tmp_path):
    config = tmp_path / "cfg.yaml"
    config.write_text(yaml.safe_dump({"epochs": 1, "fine_tune_epochs": 1, "unfreeze": 5, "seed": 3}))
    result = train(*FAST, "--train", str(tiny_images), "--config", str(config), "--epochs", "2",
                   "--name", "colours", tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    run = tmp_path / "run"
    resolved = yaml.safe_load((run / "config.yaml").read_text())
    assert resolved["epochs"] == 2  # the flag wins over the YAML file
    assert resolved["fine_tune_epochs"] == 1 and resolved["seed"] == 3
    assert resolved["image_size"] == 32 and resolved["pooling"] == "avg"  # given, or the fixed recipe's
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["classes"] == ["blue", "green", "red"]
    assert metrics["epochs"] == {"phase1": 2, "phase2": 1}
    assert metrics["recipe"]["epochs"] == {"value": 2, "why": "set by you", "set_by": "you"}
    assert metrics["recipe"]["pooling"]["set_by"] == "recipe fixed"
    assert 0.0 <= metrics["val"]["accuracy"] <= 1.0 and metrics["val"]["loss"] > 0
    assert metrics["test"] is None and metrics["train_seconds"] > 0 and metrics["examples_per_second"] > 0
    assert metrics["trainable_params"]["phase2"] > metrics["trainable_params"]["phase1"]
    history = (run / "history.csv").read_text().splitlines()
    assert history[0].startswith("epoch") and len(history) == 1 + 3
    assert any((run / "tensorboard").rglob("events.out.tfevents.*"))
    hparams, finals = tensorboard_hparams(run / "tensorboard")
    assert {"epochs": 2.0, "fine_tune_epochs": 1.0, "backbone": "keras:MobileNet",
            "learning_rate": 0.001, "cache_features": True}.items() <= hparams.items()  # resolved: no "default"
    assert finals["final/val_accuracy"] == pytest.approx(metrics["val"]["accuracy"])
    for png in ("plots/training_curves.png", "plots/confusion_matrix.png", "evaluation/confusion_matrix.png",
                "evaluation/worst_examples.png"):
        data = (run / png).read_bytes()
        assert data.startswith(b"\x89PNG") and len(data) > 5000
    report = json.loads((run / "evaluation" / "report.json").read_text())
    assert report["confusion_matrix"] == metrics["val"]["confusion_matrix"]
    assert len(report["worst_examples"]) == metrics["val"]["examples"] == 3  # all of them: fewer than 16
    assert "macro-F1" in result.stdout and f"written to {run / 'evaluation'}" in result.stdout
    assert not (run / "feature_cache").exists()  # removed once the run finished
    export = tmp_path / "exported" / "colours" / "1"
    assert (export / "saved_model.pb").exists()
    assert (export / "assets" / "labels.txt").read_text().split() == ["blue", "green", "red"]
    info = json.loads((export / "assets" / "tfxfer.json").read_text())
    assert info["backbone"] == "keras:MobileNet" and info["task"] == "image"
    assert "tensorflow" in info["versions"]

    # --file: one path a line, relative to the list's folder; a file that is not an image is named.
    photos = tmp_path / "photos"
    shutil.copytree(tiny_images / "red", photos / "red")
    (photos / "list.txt").write_text("red/0.png\n\nred/1.jpg\n")
    not_image = tmp_path / "notes.png"
    not_image.write_text("a review, not a photo")
    exported = tmp_path / "exported" / "colours"
    predicted, listed, wrong = run_in_one_process([  # one process (tests/cli_cases.py), each as its command
        ("tfxfer.predict", [exported, tiny_images / "red" / "0.png", tiny_images / "blue" / "1.jpg"]),
        ("tfxfer.predict", [exported, "--file", photos / "list.txt", "--top-k", "2"]),
        ("tfxfer.predict", [exported, not_image]),
    ], tmp_path)
    assert predicted.returncode == 0, predicted.stderr[-3000:]
    rows = [json.loads(line) for line in predicted.stdout.splitlines()]
    assert [r["input"] for r in rows] == [str(tiny_images / "red" / "0.png"), str(tiny_images / "blue" / "1.jpg")]
    for row in rows:
        assert row["class_name"] in ("blue", "green", "red") and len(row["probabilities"]) == 3
        assert abs(sum(row["probabilities"]) - 1) < 1e-4
        assert len(row["top_k"]) == 3 and row["probability"] == max(row["top_k"].values())

    assert listed.returncode == 0, listed.stderr[-3000:]
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    assert [r["input"] for r in rows] == [str(photos / "red" / "0.png"), str(photos / "red" / "1.jpg")]
    assert all(len(r["top_k"]) == 2 for r in rows)
    assert wrong.returncode == 2
    assert f"{not_image} is not an image: JPEG, PNG, GIF or BMP accepted" in error_line(wrong)


def test_help_documents_every_contract_flag():
    result = run_cli("tfxfer.train", "--help")
    assert result.returncode == 0
    for flag in ("--task", "--backbone", "--train", "--val", "--test", "--epochs", "--fine-tune-epochs",
                 "--unfreeze", "--batch-size", "--learning-rate", "--strategy", "--mixed-precision",
                 "--output", "--export-dir", "--name", "--seed", "--config"):
        assert flag in result.stdout


def _folder_with_corrupt_class(root: Path, good: Path) -> Path:
    import shutil

    shutil.copytree(good, root)
    bad = root / "broken"
    bad.mkdir()
    (bad / "a.jpg").write_bytes(b"not a jpeg at all")
    (bad / "b.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 20)
    return root


BAD_FLAGS = [
    (["--train", "/nonexistent/photos"], "does not exist"),
    (["--epochs", "three"], "--epochs must be a whole number"),
    (["--epochs", "-1"], "--epochs must be >= 0"),
    (["--batch-size", "0"], "--batch-size must be >= 1"),
    (["--learning-rate", "-0.1"], "--learning-rate must be > 0"),
    (["--learning-rate", "fast"], "--learning-rate must be a number"),
    (["--unfreeze", "some"], "--unfreeze must be 'all' or a number"),
    (["--strategy", "quantum"], "--strategy must be one of"),
    (["--epoch", "3"], "unknown flag --epoch; did you mean --epochs?"),
    (["--backbone", "torch:resnet"], "unknown backbone"),
    (["--val-split", "1.5"], "--val-split must be"),
]


def test_bad_flags_exit_2_with_one_line(tiny_images, tmp_path):
    """Each bad flag, as its own command (all in one process: tests/cli_cases.py)."""
    cases = []
    for i, (args, expected) in enumerate(BAD_FLAGS):
        train_data = [] if "--train" in args else ["--train", tiny_images]
        cases.append(([*FAST, *train_data, *args, "--output", tmp_path / f"run{i}",
                       "--export-dir", tmp_path / "exported"], expected))
    refused("tfxfer.train", cases, tmp_path)
    assert not any((tmp_path / f"run{i}" / "config.yaml").exists() for i in range(len(cases)))
    assert not (tmp_path / "exported").exists() or not any((tmp_path / "exported").rglob("saved_model.pb"))


def test_bad_data_and_backbones_exit_2(tiny_images, tiny_preset, tmp_path):
    """Each bad input gets one line naming what is wrong; nothing is exported."""
    empty = tmp_path / "empty"
    empty.mkdir()
    single = tmp_path / "single"
    write_image(single / "only" / "a.png")
    no_images = tmp_path / "no_images"
    (no_images / "cats").mkdir(parents=True)
    (no_images / "cats" / "notes.txt").write_text("hello")
    write_image(no_images / "dogs" / "a.png")
    corrupt = _folder_with_corrupt_class(tmp_path / "corrupt", tiny_images)
    unseen = tmp_path / "unseen"
    write_image(unseen / "red" / "a.png")
    write_image(unseen / "purple" / "a.png")
    not_a_dir = tmp_path / "file.txt"
    not_a_dir.write_text("x")
    wrong_weights = tmp_path / "mobilenet_v2.weights.h5"
    import keras

    keras.applications.MobileNetV2(include_top=False, weights=None, input_shape=(32, 32, 3)).save_weights(wrong_weights)

    cases = [
        (["--train", str(empty)], f"{empty} has no class sub-folders"),
        (["--train", str(single)], "has a single class (only)"),
        (["--train", str(no_images)], f"{no_images / 'cats'} has no image files"),
        (["--train", str(corrupt)], f"{corrupt / 'broken'} has no readable image (2 file(s), none decodes within 89,478,485 pixels)"),
        (["--train", str(tiny_images), "--val", str(unseen)], "never seen in training: purple"),
        (["--train", str(tiny_images), "--backbone", "keras:ResNet51"], "unknown keras.applications model 'ResNet51'"),
        (["--train", str(tiny_images), "--weights", str(wrong_weights)], f"weights file {wrong_weights} does not fit keras:MobileNet"),
        (["--train", str(tiny_images), "--weights", "/nope.weights.h5"], "neither 'imagenet', 'none' nor an existing weights file"),
        (["--train", str(tiny_images), "--fine-tune-epochs", "1", "--unfreeze", "100000"], "--unfreeze 100000 is beyond the backbone's depth"),
        (["--train", str(tiny_images), "--backbone", "kerashub:/no/such/preset"], "does not exist"),
        (["--train", str(tiny_images), "--backbone", f"kerashub:{tiny_preset}"], "is a text backbone: it cannot read images"),
        (["--train", str(tiny_images), "--backbone", "tfhub:/no/such/model", "--weights", "imagenet"], "does not exist"),
        (["--train", str(tiny_images), "--backbone", "tfhub:/no/such/model"], "--weights 'none' does not apply"),
        (["--train", str(tiny_images), "--export-dir", str(not_a_dir / "sub")], "is not a writable directory"),
    ]
    refused("tfxfer.train", [([*FAST, *args, "--output", tmp_path / f"run{i}",
                               *([] if "--export-dir" in args else ["--export-dir", tmp_path / "exported"])], message)
                              for i, (args, message) in enumerate(cases)], tmp_path)
    for i in range(len(cases)):
        assert not (tmp_path / f"run{i}" / "metrics.json").exists()
    assert not list((tmp_path / "exported").rglob("saved_model.pb")) if (tmp_path / "exported").exists() else True


def test_unreadable_files_are_reported_and_left_out(tiny_images, tmp_path):
    import shutil

    data = tmp_path / "data"
    shutil.copytree(tiny_images, data)
    (data / "red" / "truncated.jpg").write_bytes((tiny_images / "red" / "1.jpg").read_bytes()[:40])
    (data / "green" / "garbage.png").write_bytes(b"garbage")
    from PIL import Image  # a decompression bomb: 12 KB, 10000 x 10000 pixels (1.2 GB as float32 RGB)

    Image.new("1", (10_000, 10_000)).save(data / "blue" / "bomb.png")
    result = train(*FAST, "--train", str(data), "--epochs", "1", tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "left out 3 unreadable file(s)" in result.stdout
    assert "truncated.jpg" in result.stdout and "garbage.png" in result.stdout
    assert "1 image(s) over the limit of 89,478,485 pixels (--max-image-pixels) are left out undecoded" in result.stderr
    assert "bomb.png (10000x10000)" in result.stderr
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert sorted(Path(p).name for p in metrics["skipped_files"]["train"]) == ["bomb.png", "garbage.png",
                                                                               "truncated.jpg"]
    assert metrics["num_examples"]["train"] + metrics["num_examples"]["val"] == 24


def test_predict_bad_inputs(tmp_path):
    result = run_cli("tfxfer.predict", str(tmp_path / "missing"), "x.png")
    assert result.returncode == 2
    assert "does not exist" in error_line(result)
    (tmp_path / "empty_model").mkdir()
    result = run_cli("tfxfer.predict", str(tmp_path / "empty_model"), "x.png")
    assert result.returncode == 2
    assert "holds no SavedModel" in error_line(result)


def test_time_budget_sizes_fine_tuning_from_a_measured_step(tiny_images, tmp_path):
    result = train("--backbone", "keras:MobileNet", "--weights", "none", "--image-size", "32",
                   "--train", str(tiny_images), "--time-budget", "1m", tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    row = next(line for line in result.stdout.splitlines() if line.split()[:1] == ["fine_tune_epochs"])
    assert "--time-budget 60s: a fine-tuning step takes" in row and "(measured)" in row
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["time_budget"]["seconds"] == 60 and metrics["time_budget"]["used_seconds"] > 0
    assert 1 <= metrics["epochs"]["phase2"] <= metrics["recipe"]["fine_tune_epochs"]["value"]  # may stop early
    assert "time budget 60s: this run took" in result.stdout
    bad = train("--backbone", "keras:MobileNet", "--train", str(tiny_images), "--time-budget", "soon",
                tmp_path=tmp_path)
    assert bad.returncode == 2 and "--time-budget must be a duration such as 10m" in error_line(bad)

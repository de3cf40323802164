"""Images listed in a CSV manifest (path,label) through the whole path: training, the export,
predict and evaluate; and the manifests a user gets wrong."""

from __future__ import annotations

import json
import os
import shutil

import pytest

from tests.conftest import refused, run_cli, run_in_one_process

FAST = ["--backbone", "keras:MobileNet", "--weights", "none", "--image-size", "32", "--batch-size", "8",
        "--recipe", "fixed"]


@pytest.fixture
def photos(tiny_images, tmp_path):
    """photos/ holding the tiny images in one flat folder (class names only in the manifest),
    a training manifest with one row outside the folder and one missing file, and a test manifest."""
    folder = tmp_path / "photos"
    (folder / "all").mkdir(parents=True)
    rows = []
    for name in ("red", "green", "blue"):
        for file in sorted((tiny_images / name).iterdir()):
            shutil.copyfile(file, folder / "all" / f"{name}_{file.name}")
            rows.append(f"all/{name}_{file.name},{name}")
    shutil.copyfile(tiny_images / "red" / "0.png", tmp_path / "outside.png")
    (folder / "images.csv").write_text("\n".join(["path,label", *rows, "../outside.png,red", "all/gone.png,blue"])
                                       + "\n")
    (folder / "test.csv").write_text("\n".join(["label,path", *[",".join(reversed(r.split(","))) for r in rows[::3]]])
                                     + "\n")
    return folder


def test_a_manifest_trains_exports_predicts_and_evaluates(photos, tmp_path):
    result = run_cli("tfxfer.train", *FAST, "--train", str(photos / "images.csv"), "--test", str(photos / "test.csv"),
                     "--epochs", "1", "--output", str(tmp_path / "run"), "--export-dir", str(tmp_path / "exported"))
    assert result.returncode == 0, result.stderr[-3000:]
    outside, gone = str(photos / "../outside.png"), str(photos / "all" / "gone.png")
    assert f"1 path(s) lead outside the manifest's folder {photos} and are left out, not followed: {outside}" \
           in result.stderr
    assert f"1 file(s) do not exist and are left out: {gone}" in result.stderr
    assert f"train: left out 2 unreadable file(s): {outside}, {gone}" in result.stdout
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["classes"] == ["blue", "green", "red"]  # sorted, as class folders are
    assert metrics["num_examples"]["train"] + metrics["num_examples"]["val"] == 24
    assert metrics["num_examples"]["test"] == 8 and metrics["skipped_files"]["train"] == [outside, gone]
    export = tmp_path / "exported" / "photos" / "1"  # named after the manifest's folder: "images" names no dataset
    assert (export / "assets" / "labels.txt").read_text().split() == ["blue", "green", "red"]

    predicted, evaluated = run_in_one_process([  # one process (tests/cli_cases.py), each as its command
        ("tfxfer.predict", [export, "--file", photos / "test.csv"]),
        ("tfxfer.evaluate", [export, "--data", photos / "test.csv", "--output", tmp_path / "report"]),
    ], tmp_path)
    assert predicted.returncode == 0, predicted.stderr[-3000:]
    rows = [json.loads(line) for line in predicted.stdout.splitlines()]
    assert [r["input"] for r in rows] == [str(photos / line.split(",")[1])
                                          for line in (photos / "test.csv").read_text().splitlines()[1:]]
    assert all(r["class_name"] in ("blue", "green", "red") for r in rows)

    assert evaluated.returncode == 0, evaluated.stderr[-3000:]
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    assert report["examples"] == 8 and report["accuracy"] == pytest.approx(metrics["test"]["accuracy"])
    recalls = [report["per_class"][name]["recall"] for name in ("blue", "green", "red")]
    assert report["balanced_accuracy"] == pytest.approx(sum(recalls) / 3)
    assert "balanced accuracy" in evaluated.stdout


def test_bad_manifests_exit_2_with_one_line(photos, tmp_path):
    def manifest(name, text):
        (photos / name).write_text(text)
        return str(photos / name)

    os.symlink(tmp_path / "outside.png", photos / "all" / "link.png")
    cases = [
        (["--train", manifest("no_label.csv", "path,class\nall/red_0.png,red\n")],
         "has no 'label' column; its header is path,class: expected a CSV image manifest with a header row "
         "path,label and one image a row (paths relative to the CSV's folder)"),
        (["--task", "image", "--train", manifest("no_path.csv", "file,label\nall/red_0.png,red\n")],
         "has no 'path' column; its header is file,label"),
        (["--train", manifest("no_columns.csv", "file,class\nall/red_0.png,red\n")],
         "has neither a 'text' column (text data; --text-column names another) nor a 'path' column"),
        (["--task", "image", "--train", manifest("empty.csv", "")], "is empty: expected a CSV image manifest"),
        (["--train", manifest("header_only.csv", "path,label\n")], "has a header but no rows"),
        (["--train", manifest("escapes.csv", "path,label\n../outside.png,red\nall/link.png,blue\n")],
         "names no image file inside"),
        (["--train", manifest("missing_class.csv", "path,label\nall/red_0.png,red\nall/green_0.png,green\n"
                                                   "all/gone.png,blue\n")],
         f"class 'blue' of manifest {photos / 'missing_class.csv'} has no readable image"),
        (["--train", str(photos / "images.csv"), "--test", manifest("unseen.csv", "path,label\nall/red_0.png,purple\n")],
         "never seen in training: purple"),
    ]

    refused("tfxfer.train", [([*FAST, *args, "--output", tmp_path / f"run{i}", "--export-dir", tmp_path / "exported"],
                              message) for i, (args, message) in enumerate(cases)], tmp_path)
    for i in range(len(cases)):
        assert not (tmp_path / f"run{i}").exists()
    assert not (tmp_path / "exported").exists()

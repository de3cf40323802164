"""Run directories and model names: what the CLI refuses before anything is written, and run
directories that two runs started together never share."""

from __future__ import annotations

import json

import pytest

from tfxfer.cli.exit_status import run_main
from tfxfer.config import TrainConfig
from tfxfer.errors import TfxferError
from tfxfer.train import main


def test_the_default_name_is_the_dataset_not_the_split(tmp_path):
    names = {train: TrainConfig(backbone="keras:ResNet50", train=str(tmp_path / train), task="image").resolved().name
             for train in ("flowers/train", "reviews/train.csv", "reviews/data/train.tsv", "photos", "fmnist.csv")}
    assert names == {"flowers/train": "flowers", "reviews/train.csv": "reviews", "reviews/data/train.tsv": "reviews",
                     "photos": "photos", "fmnist.csv": "fmnist"}
    assert TrainConfig(backbone="x", train="tfds:imdb_reviews:train", task="text").resolved().name == "imdb_reviews"


@pytest.mark.parametrize("name", ["../../x", "a/b", "..", ".hidden", "a\\b"])
def test_a_name_that_leaves_the_export_dir_is_refused(name, capsys):
    argv = ["--backbone", "keras:ResNet50", "--train", "photos", "--name", name]
    assert run_main("tfxfer.train", main, argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--name must be one folder name under --export-dir" in err[0] and repr(name) in err[0]


def test_runs_started_in_the_same_second_get_their_own_directory(tmp_path, monkeypatch):
    from tfxfer.run import choose_run_dir, claim_run_dir

    monkeypatch.chdir(tmp_path)
    config = TrainConfig(backbone="keras:ResNet50", train="photos", task="image").resolved()
    first, _ = choose_run_dir(config)
    second, _ = choose_run_dir(config)
    assert first == second  # the same second: the same timestamp
    first, first_lock = claim_run_dir(config, first, False)
    second, second_lock = claim_run_dir(config, second, False)
    assert second == first.with_name(first.name + "-2") and second.is_dir()
    try:
        with pytest.raises(TfxferError, match=rf"already running in {first} \(pid \d+\)"):
            claim_run_dir(config, first, True)
    finally:
        first_lock.release()
        second_lock.release()


def _version(root, task: str, classes: list[str]):
    assets = root / "1" / "assets"
    assets.mkdir(parents=True)
    (assets / "tfxfer.json").write_text(json.dumps({"task": task, "classes": classes}))


def test_an_export_under_a_name_serving_another_model_is_refused(tmp_path):
    from tfxfer.serving.export import check_export_matches

    _version(tmp_path / "reviews", "text", ["neg", "pos"])
    with pytest.raises(TfxferError, match="is a model for text, this one is for image: pass --name"):
        check_export_matches(tmp_path / "reviews", "image", ["neg", "pos"])
    with pytest.raises(TfxferError, match=r"has classes neg, pos, this model neg, neutral, pos \(added neutral\)"):
        check_export_matches(tmp_path / "reviews", "text", ["neg", "neutral", "pos"])
    check_export_matches(tmp_path / "reviews", "text", ["neg", "neutral", "pos"], by_user=True)  # --name NAME: yours
    check_export_matches(tmp_path / "reviews", "text", ["neg", "pos"])
    check_export_matches(tmp_path / "new", "image", ["a", "b"])

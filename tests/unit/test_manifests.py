"""Image manifests (tfxfer.data.manifests): which rows are read, which are reported and left
out, and the one error a file that is not a manifest gets. Files only; nothing is decoded."""

from __future__ import annotations

import logging
import os

import pytest

from tfxfer.config import infer_task
from tfxfer.data.manifests import read_manifest
from tfxfer.errors import TfxferError


@pytest.fixture
def shots(tmp_path):
    """shots/ with three files (one in a sub-folder) and, beside it, outside/secret.png."""
    folder = tmp_path / "shots"
    (folder / "sub").mkdir(parents=True)
    for name in ("a.png", "b.png", "sub/c.png"):
        (folder / name).write_bytes(b"\x89PNG")
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret.png").write_bytes(b"\x89PNG")
    return folder


def test_relative_paths_resolve_against_the_csv_folder(shots):
    (shots / "images.csv").write_text(f"label,path\ncat,a.png\ndog,sub/c.png\ncat,{shots / 'b.png'}\n")
    manifest = read_manifest(shots / "images.csv", "train")
    assert manifest.paths == [str(shots / "a.png"), str(shots / "sub" / "c.png"), str(shots / "b.png")]
    assert manifest.labels == ["cat", "dog", "cat"] and manifest.left_out == []


def test_paths_out_of_the_tree_and_missing_files_are_reported_and_left_out(shots, caplog):
    os.symlink(shots.parent / "outside" / "secret.png", shots / "link_out.png")
    os.symlink(shots / "a.png", shots / "sub" / "link_in.png")  # a link that stays inside is followed
    rows = ["path,label", "a.png,cat", "../outside/secret.png,cat", f"{shots.parent / 'outside' / 'secret.png'},dog",
            "link_out.png,dog", "sub/link_in.png,dog", "gone.png,dog", ",dog", "b.png,", "sub/../b.png,cat"]
    (shots / "images.csv").write_text("\n".join(rows) + "\n")
    with caplog.at_level(logging.WARNING, logger="tfxfer"):
        manifest = read_manifest(shots / "images.csv", "train")
    assert manifest.paths == [str(shots / "a.png"), str(shots / "sub" / "link_in.png"), str(shots / "sub/../b.png")]
    assert manifest.labels == ["cat", "dog", "cat"]
    assert manifest.left_out == [str(shots / "../outside/secret.png"), str(shots.parent / "outside" / "secret.png"),
                                 str(shots / "link_out.png"), str(shots / "gone.png")]
    assert manifest.left_out_labels == ["cat", "dog", "dog", "dog"]
    messages = "\n".join(r.getMessage() for r in caplog.records)
    assert f"3 path(s) lead outside the manifest's folder {shots} and are left out, not followed" in messages
    assert f"1 file(s) do not exist and are left out: {shots / 'gone.png'}" in messages
    assert "2 row(s) with an empty path or label are left out: line 8, 9" in messages


@pytest.mark.parametrize("content, expected", [
    ("file,label\na.png,cat\n", "has no 'path' column; its header is file,label: expected a CSV image manifest "
                                "with a header row path,label and one image a row"),
    ("path,class\na.png,cat\n", "has no 'label' column; its header is path,class"),
    ("", "is empty: expected a CSV image manifest"),
    ("path,label\n\n", "has a header but no rows"),
    ("path,label\n../outside/secret.png,cat\n", "names no image file inside"),
])
def test_a_file_that_is_no_manifest_is_one_error(content, expected, shots):
    (shots / "images.csv").write_text(content)
    with pytest.raises(TfxferError) as raised:
        read_manifest(shots / "images.csv", "train")
    assert expected in str(raised.value) and "\n" not in str(raised.value)
    assert str(raised.value).startswith(f"train manifest {shots / 'images.csv'} ")


def test_predict_reads_the_path_column_alone(shots):
    (shots / "inputs.csv").write_text("path\na.png\nsub/c.png\n")
    assert read_manifest(shots / "inputs.csv", "--file", labelled=False).paths == [str(shots / "a.png"),
                                                                                   str(shots / "sub" / "c.png")]


def test_the_task_of_a_csv_comes_from_its_header(tmp_path):
    (tmp_path / "images.csv").write_text("path,label\na.png,cat\n")
    (tmp_path / "texts.csv").write_text("text,label\nfine,pos\n")
    (tmp_path / "neither.csv").write_text("file,label\na.png,cat\n")
    assert infer_task(str(tmp_path / "images.csv")) == "image"
    assert infer_task(str(tmp_path / "texts.csv")) == "text"
    with pytest.raises(TfxferError) as raised:
        infer_task(str(tmp_path / "neither.csv"))
    assert "has neither a 'text' column (text data; --text-column names another) nor a 'path' column (an image " \
           "manifest: a header row path,label); its header is file,label" in str(raised.value)

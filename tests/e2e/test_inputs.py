"""Inputs that must not sink a run or a server (issue 13, items 9-15): malformed CSVs, class
names that break files and plots, decompression bombs, a full disk, temporaries on shared
volumes, empty and hostile serving inputs, the multi-worker launcher's ports."""

from __future__ import annotations

import pytest

from tests.conftest import error_line, run_cli
from tfxfer.data import sources
from tfxfer.errors import TfxferError

# ---------------------------------------------------------------------------------------------
# Item 11: CSV faults are one line naming the line, not a csv.Error traceback


def test_a_csv_with_carriage_return_line_ends_is_one_line_and_status_2(tiny_preset, tmp_path):
    train = tmp_path / "mac.csv"
    train.write_bytes(b'text,label\r"good film",pos\r"bad film",neg\r')
    result = run_cli("tfxfer.train", "--task", "text", "--backbone", f"kerashub:{tiny_preset}", "--train", str(train),
                     "--output", str(tmp_path / "run"), "--export-dir", str(tmp_path / "models"))
    assert result.returncode == 2, result.stderr[-3000:]
    line = error_line(result)
    assert f"{train} line 1 has a carriage return" in line and "line ends" in line


@pytest.mark.parametrize("content, where, problem", [
    (b"text,label\ngood film,pos\ngood\rfilm,pos\nbad film,neg\n", "line 3", "carriage return"),
    (b"text,label\n" + b"x" * (sources.CSV_FIELD_LIMIT + 1) + b",pos\nbad,neg\n", "line 2",
     f"a field over {sources.CSV_FIELD_LIMIT:,} characters"),
], ids=["lone-cr-in-a-field", "field-over-the-limit"])
def test_csv_faults_name_the_line(content, where, problem, tmp_path):
    path = tmp_path / "train.csv"
    path.write_bytes(content)
    with pytest.raises(TfxferError) as error:
        sources.read_text_splits(str(path))
    assert f"{path} {where} " in str(error.value) and problem in str(error.value)
    assert "\n" not in str(error.value)


def test_texts_longer_than_the_csv_modules_default_limit_are_read(tmp_path):
    long_text = "a long review " * 20_000  # 280,000 characters; the csv module stops at 131,072
    path = tmp_path / "train.csv"
    path.write_text(f"text,label\n{long_text},pos\nshort,neg\nanother,pos\nmore,neg\n")
    splits = sources.read_text_splits(str(path), val_split=0.5)
    assert long_text.strip() in splits.train.inputs + splits.val.inputs
    import csv

    assert csv.field_size_limit() == 131_072, "the process-wide limit is restored"

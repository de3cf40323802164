"""What a command says about a wrong flag: one line, status 2, and the flag that was meant."""

from __future__ import annotations

import pytest

from tfxfer.cli.exit_status import run_main
from tfxfer.errors import TrainingInterrupted
from tfxfer.train import build_parser


def _error(argv, capsys) -> str:
    with pytest.raises(SystemExit) as stopped:
        build_parser().parse_args(argv)
    assert stopped.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1
    return lines[0]


def test_a_misspelt_flag_names_the_flag_meant(capsys):
    line = _error(["--train", "x.csv", "--fine-tune-epocs", "2"], capsys)
    assert "unknown flag --fine-tune-epocs; did you mean --fine-tune-epochs?" in line
    assert "did you mean --learning-rate?" in _error(["--learning-rte=0.1"], capsys)
    assert "did you mean --unfreeze?" in _error(["--unfreze", "3", "--epoch", "2"], capsys)
    assert "did you mean --epochs?" in _error(["--epoch", "2"], capsys)  # flags match exactly, never by prefix


def test_a_flag_like_no_other_gets_no_guess(capsys):
    line = _error(["--colour", "red"], capsys)
    assert "unknown flag --colour" in line and "did you mean" not in line


def test_ctrl_c_in_training_says_how_to_continue(capsys):
    def interrupted(argv):
        raise KeyboardInterrupt

    assert run_main("tfxfer.train", interrupted) == 130
    assert "run the same command again (with --output, the same --output) to continue" in capsys.readouterr().err

    def interrupted_in_training(argv):
        raise TrainingInterrupted(3, saved=True)

    assert run_main("tfxfer.train", interrupted_in_training) == 130
    assert capsys.readouterr().err.strip() == (
        "tfxfer.train: interrupted after epoch 3, which was saved; run the same command again "
        "(with --output, the same --output) to continue from there")
    assert run_main("tfxfer.predict", interrupted) == 130
    assert capsys.readouterr().err.strip() == "tfxfer.predict: interrupted"

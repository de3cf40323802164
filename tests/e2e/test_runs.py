"""Run directories and resuming through the CLI, as a user meets them: a live run is not
shared, failed commands write nothing, a resume checks what it resumes, a restart after the
export does not export again, a damaged state is survived, and a finished run keeps its
weights once."""

from __future__ import annotations

import json
import os
import shutil
import signal
from pathlib import Path

import pytest

from tests.conftest import error_line, run_cli, write_image
from tests.e2e.test_distribution import FAST, _history_losses, _train_process, _wait_for_state

# Relative paths, run from a work folder: a copy of the folder is the same run in another place.
_KEPT = ["--train", "data", "--epochs", "2", "--batch-size", "8", "--output", "run", "--export-dir", "exported",
         "--name", "colours", "--keep-checkpoints"]


@pytest.fixture(scope="module")
def kept_run(tiny_images, tmp_path_factory) -> Path:
    """A finished run that kept its checkpoints, in a work folder with its data and export."""
    work = tmp_path_factory.mktemp("kept_run")
    shutil.copytree(tiny_images, work / "data")
    result = run_cli("tfxfer.train", *FAST, *_KEPT, cwd=work)
    assert result.returncode == 0, result.stderr[-3000:]
    return work


def _unfinished_copy(kept_run: Path, tmp_path: Path) -> Path:
    """The run as a crash after its export left it: everything but metrics.json."""
    work = tmp_path / "work"
    shutil.copytree(kept_run, work)  # copy2: modification times, so the data fingerprint, stay
    (work / "run" / "metrics.json").unlink()
    return work


def test_a_resume_onto_other_classes_or_data_stops(kept_run, tmp_path):
    work = _unfinished_copy(kept_run, tmp_path)
    (work / "data" / "red").rename(work / "data" / "purple")
    renamed = run_cli("tfxfer.train", *FAST, *_KEPT, cwd=work)
    assert renamed.returncode == 2, renamed.stderr[-3000:]
    line = error_line(renamed)
    assert "were saved for classes blue, green, red; the data now has blue, green, purple" in line
    assert "(added purple; removed red)" in line and "remove run (or pass another --output) to start afresh" in line

    (work / "data" / "purple").rename(work / "data" / "red")
    write_image(work / "data" / "red" / "0.png", size=(30, 30), seed=99, color=(200, 0, 0))
    changed = run_cli("tfxfer.train", *FAST, *_KEPT, cwd=work)
    assert changed.returncode == 2, changed.stderr[-3000:]
    assert "the training data changed since the checkpoints in run/checkpoints were saved" in error_line(changed)
    assert sorted(p.name for p in (work / "exported" / "colours").iterdir()) == ["1"]


def test_a_restart_after_the_export_does_not_export_again(kept_run, tmp_path):
    work = _unfinished_copy(kept_run, tmp_path)
    again = run_cli("tfxfer.train", *FAST, *_KEPT, cwd=work)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "already exported to exported/colours/1 before the restart: not exported again" in again.stdout
    assert sorted(p.name for p in (work / "exported" / "colours").iterdir()) == ["1"]
    assert json.loads((work / "run" / "metrics.json").read_text())["export_path"] == "exported/colours/1"


def test_a_damaged_state_continues_from_the_newest_intact_checkpoint(kept_run, tmp_path):
    work = _unfinished_copy(kept_run, tmp_path)
    (work / "run" / "checkpoints" / "state.json").write_text("")  # what a power loss can leave
    again = run_cli("tfxfer.train", *FAST, *_KEPT, cwd=work)
    assert again.returncode == 0, again.stderr[-3000:]
    assert again.stderr.count("state.json is damaged") == 1  # and repaired
    assert "continuing from the newest intact checkpoint" in again.stderr
    assert json.loads((work / "run" / "metrics.json").read_text())["epochs"] == {"phase1": 2, "phase2": 0}
    assert sorted(p.name for p in (work / "exported" / "colours").iterdir()) == ["1"]  # the checkpoint knew

    (work / "run" / "metrics.json").unlink()
    (work / "run" / "checkpoints" / "state.json").write_text('{"phase": 1, "epo')
    for saved in (work / "run" / "checkpoints").glob("ckpt-*"):
        shutil.rmtree(saved)
    lost = run_cli("tfxfer.train", *FAST, *_KEPT, cwd=work)
    assert lost.returncode == 2, lost.stderr[-3000:]
    line = error_line(lost)
    assert "state.json is damaged" in line and "no intact checkpoint is left" in line
    assert "remove run (or pass another --output) to start over" in line


def test_a_second_start_of_a_live_run_is_refused(tiny_images, tmp_path):
    args = [*FAST, "--train", str(tiny_images), "--epochs", "400", "--no-cache-features", "--batch-size", "8",
            "--output", str(tmp_path / "run"), "--export-dir", str(tmp_path / "exported")]
    live = _train_process(args)
    try:
        _wait_for_state(tmp_path / "run", lambda s: s["epochs_done"] >= 1, live)
        second = run_cli("tfxfer.train", *args, timeout=300)
        assert live.poll() is None, "the first run must still be going"
        assert second.returncode == 2, second.stderr[-3000:]
        assert f"already running in {tmp_path / 'run'} (pid {live.pid})" in error_line(second)
        state = json.loads((tmp_path / "run" / "checkpoints" / "state.json").read_text())
        assert (tmp_path / "run" / "checkpoints" / state["checkpoint"]).is_dir()
    finally:
        live.kill()
        live.wait()


def test_failed_commands_write_nothing(tiny_images, tmp_path):
    work = tmp_path / "work"
    shutil.copytree(tiny_images, work / "flowers" / "train")
    # saved_models/flowers serves a text model: the default name (flowers) must not add an image version
    assets = work / "saved_models" / "flowers" / "1" / "assets"
    assets.mkdir(parents=True)
    (assets / "tfxfer.json").write_text(json.dumps({"task": "text", "classes": ["neg", "pos"]}))
    clash = run_cli("tfxfer.train", *FAST, "--train", "flowers/train", "--epochs", "1", cwd=work)
    assert clash.returncode == 2, clash.stderr[-3000:]
    assert "saved_models/flowers/1 is a model for text, this one is for image: pass --name" in error_line(clash)
    assert not (work / "runs").exists()
    assert sorted(p.name for p in (work / "saved_models" / "flowers").iterdir()) == ["1"]

    (tmp_path / "file.txt").write_text("x")
    unwritable = run_cli("tfxfer.train", *FAST, "--train", "flowers/train", "--output", str(tmp_path / "file.txt" / "run"),
                         "--export-dir", "elsewhere", cwd=work)
    assert unwritable.returncode == 2, unwritable.stderr[-3000:]
    assert "--output" in error_line(unwritable) and "is not a writable directory" in error_line(unwritable)
    assert not (work / "elsewhere").exists() and not (work / "runs").exists()


def test_a_finished_run_keeps_its_weights_once_and_says_how_big_it_is(tiny_images, tmp_path):
    shutil.copytree(tiny_images, tmp_path / "flowers" / "train")
    result = run_cli("tfxfer.train", *FAST, "--train", "flowers/train", "--epochs", "1", "--fine-tune-epochs", "1",
                     "--unfreeze", "2", "--batch-size", "8", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    (run_dir,) = (tmp_path / "runs").iterdir()
    assert run_dir.name.startswith("flowers-")
    assert (run_dir / "model.weights.h5").is_file() and not (run_dir / "checkpoints").exists()
    assert f"run directory: runs/{run_dir.name} (" in result.stdout and " MB)" in result.stdout
    assert "exported: saved_models/flowers/1 (" in result.stdout


def test_the_best_epoch_survives_a_kill(tiny_images, tmp_path):
    # A high rate makes the val loss jump about; no early stop (patience beyond the epochs, the
    # later flag wins over FAST's), so the phase ends by restoring its best epoch, found before the kill.
    args = [*FAST, "--train", str(tiny_images), "--epochs", "14", "--no-cache-features", "--batch-size", "4",
            "--learning-rate", "1.0", "--early-stopping-patience", "100", "--output", str(tmp_path / "run"),
            "--export-dir", str(tmp_path / "exported")]
    process = _train_process(args)
    killed_at = _wait_for_state(tmp_path / "run", lambda s: s["best_epoch"] and s["epochs_done"] > s["best_epoch"]
                                and s["epochs_done"] < 13, process)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    resumed = run_cli("tfxfer.train", *args)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    history = (tmp_path / "run" / "history.csv").read_text().splitlines()
    header = history[0].split(",")
    val_losses = [float(row.split(",")[header.index("val_loss")]) for row in history[1:]]
    assert len(val_losses) == 14 and len(_history_losses(tmp_path / "run")) == 14
    best = min(val_losses)
    print(f"\nkilled after epoch {killed_at['epochs_done']} (best so far: epoch {killed_at['best_epoch']}); "
          f"val losses {[round(v, 3) for v in val_losses]}; final {metrics['val']['loss']:.4f}")
    assert abs(metrics["val"]["loss"] - best) <= 1e-3 * max(1.0, best)

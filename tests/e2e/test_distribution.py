"""tf.distribute with Keras 3 fit, in real processes: MirroredStrategy over two logical CPUs,
MultiWorkerMirroredStrategy over local worker processes, and resuming after kill -9."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO, error_line, run_cli

_MIRRORED_SCRIPT = r"""
import json, sys
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import keras, numpy as np, tfxfer
from tfxfer.data.sources import load_image_data, load_text_data


def in_order(ds, batch_size):
    # The same examples in the same order under both strategies: a shuffled dataset is
    # reshuffled differently once a strategy distributes it. The splits' own order
    # (data.in_order), not the training order: text training batches group texts of similar
    # length, and the per-replica gradient clipping stated below then departs by up to 3.4%.
    inputs, labels = zip(*[(x.numpy(), y.numpy()) for x, y in ds.unbatch()])
    return tf.data.Dataset.from_tensor_slices((np.stack(inputs), np.array(labels))).batch(batch_size)

task, path, extra = sys.argv[1], sys.argv[2], sys.argv[3]
losses = {}
for name, strategy in (("default", tf.distribute.get_strategy()),
                       ("mirrored", tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]))):
    keras.utils.set_random_seed(0)
    with strategy.scope():
        if task == "image":
            model = tfxfer.build_image_classifier(extra, 3, image_size=(32, 32), dropout=0.0, weights="none")
            data = load_image_data(path, image_size=(32, 32), batch_size=8, seed=0)
            phases = dict(epochs=2, fine_tune_epochs=1)
        else:
            model = tfxfer.build_text_classifier("kerashub:" + extra, 2, dropout=0.0, sequence_length=16)
            data = load_text_data(path, batch_size=16, seed=0)
            phases = dict(epochs=2, fine_tune_epochs=0)
    batch = 8 if task == "image" else 16
    result = tfxfer.fine_tune(model, in_order(data.in_order("train"), batch), data.val, learning_rate=1e-2, fine_tune_learning_rate=1e-4,
                              early_stopping_patience=0, verbose=0, **phases)
    losses[name] = {"replicas": strategy.num_replicas_in_sync, "loss": result.history["loss"],
                    "val_loss": result.history["val_loss"]}
print("RESULT " + json.dumps(losses))
"""


def _mirrored(task: str, data: Path, extra: str = "") -> dict:
    result = subprocess.run([sys.executable, "-c", _MIRRORED_SCRIPT, task, str(data), extra], capture_output=True,
                            text=True, timeout=600, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert result.returncode == 0, result.stderr[-4000:]
    line = next(x for x in result.stdout.splitlines() if x.startswith("RESULT "))
    return json.loads(line[len("RESULT "):])


# Stated tolerances. An image head alone (phase 1, Adam) agrees to 0.1%. With the whole
# backbone training (phase 2), Adam's per-weight normalisation amplifies the last-bit
# differences of a two-way all-reduce: 1%. The text recipe clips gradients (clipnorm=1), and
# Keras clips each replica's gradient before the all-reduce, so early steps with large
# gradients move less than one process would: 3%. (Measured while writing this test: plain
# SGD and Adam agree to 1e-7 over four steps; Adam with clipnorm=1 moves 3% less.)
PHASE2_TOLERANCE = 1e-2


def _assert_parity(losses: dict, phase1_epochs: int, phase1_tolerance: float) -> None:
    default, mirrored = losses["default"], losses["mirrored"]
    assert (default["replicas"], mirrored["replicas"]) == (1, 2)
    for key in ("loss", "val_loss"):
        for epoch, (a, b) in enumerate(zip(default[key], mirrored[key], strict=True)):
            tolerance = phase1_tolerance if epoch < phase1_epochs else PHASE2_TOLERANCE
            assert abs(a - b) <= tolerance * abs(a), (key, default[key], mirrored[key])
    print(f"\nloss parity default vs mirrored(2): {default['loss']} vs {mirrored['loss']}")


def test_mirrored_strategy_matches_the_default_strategy_for_images(tiny_images):
    _assert_parity(_mirrored("image", tiny_images, "keras:MobileNet"), phase1_epochs=2, phase1_tolerance=1e-3)


def test_mirrored_strategy_trains_a_raw_string_text_model(sentiment_csvs, tiny_preset):
    # Keras 3 alone fails here: it averages the first string batch across replicas.
    _assert_parity(_mirrored("text", sentiment_csvs["train"], str(tiny_preset)), phase1_epochs=2, phase1_tolerance=3e-2)


FAST = ["--task", "image", "--recipe", "fixed", "--backbone", "keras:MobileNet", "--weights", "none", "--image-size", "32",
        "--dropout", "0", "--early-stopping-patience", "0", "--seed", "1"]


def _history_losses(run_dir: Path) -> list[float]:
    lines = (run_dir / "history.csv").read_text().splitlines()
    header = lines[0].split(",")
    return [float(row.split(",")[header.index("loss")]) for row in lines[1:]]


def test_multi_worker_training_matches_one_process(tiny_images, tmp_path):
    # Two workers (three passed the same test; left out to keep CI within its time).
    workers, per_replica = 2, 4
    # --val: all 24 images train, so that 2 and 3 workers (global batches 8 and 12) and one
    # process take the same steps: several replicas drop a last partial batch, one does not.
    common = [*FAST, "--train", str(tiny_images), "--val", str(tiny_images), "--epochs", "2", "--fine-tune-epochs", "1", "--unfreeze", "3",
              "--fine-tune-learning-rate", "1e-4", "--export-dir", str(tmp_path / "exported")]
    started = time.perf_counter()
    multi = run_cli("tfxfer.launch", "--workers", str(workers), "--", *common, "--batch-size", str(per_replica),
                    "--learning-rate", "1e-3", "--output", str(tmp_path / "multi"), "--name", "multi", timeout=900)
    elapsed = time.perf_counter() - started
    assert multi.returncode == 0, multi.stdout[-4000:] + multi.stderr[-2000:]
    checksums = re.findall(r"weights checksum (-?[\d.]+)", multi.stdout)
    metrics = json.loads((tmp_path / "multi" / "metrics.json").read_text())
    assert metrics["strategy"] == "MultiWorkerMirroredStrategy" and metrics["replicas"] == workers
    assert metrics["global_batch_size"] == per_replica * workers
    checksums.append(f"{metrics['weights_checksum']:.6f}")  # the chief's
    assert len(checksums) == workers and len(set(checksums)) == 1, checksums
    # Only the chief exported, once; the other workers left nothing in the run directory.
    assert sorted(p.name for p in (tmp_path / "exported" / "multi").iterdir()) == ["1"]

    single = run_cli("tfxfer.train", *common, "--batch-size", str(per_replica * workers),
                     "--learning-rate", str(1e-3 * workers), "--fine-tune-learning-rate", str(1e-4 * workers),
                     "--output", str(tmp_path / "single"), "--name", "single")
    assert single.returncode == 0, single.stderr[-3000:]
    multi_losses, single_losses = _history_losses(tmp_path / "multi"), _history_losses(tmp_path / "single")
    print(f"\n{workers} workers ({elapsed:.0f}s): losses {multi_losses}; one process: {single_losses}")
    for a, b in zip(multi_losses, single_losses, strict=True):
        assert abs(a - b) <= 2e-3 * abs(b), (multi_losses, single_losses)


def _wait_for_state(run_dir: Path, ready, process: subprocess.Popen, timeout: float = 300) -> dict:
    state_file = run_dir / "checkpoints" / "state.json"
    deadline = time.time() + timeout
    while time.time() < deadline:
        if state_file.exists():
            try:
                state = json.loads(state_file.read_text())
            except json.JSONDecodeError:
                state = None
            if state and ready(state):
                return state
        assert process.poll() is None, "training ended before it could be killed"
        time.sleep(0.02)
    raise AssertionError("the run never reached the state to kill it in")


def _train_process(args: list[str], env_extra: dict | None = None, stderr=subprocess.DEVNULL,
                   preexec_fn=None) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO), **(env_extra or {})}
    return subprocess.Popen([sys.executable, "-m", "tfxfer.train", *args], cwd=REPO, env=env,
                            stdout=subprocess.DEVNULL, stderr=stderr, text=True, preexec_fn=preexec_fn)


def _resume_args(tiny_images: Path, root: Path) -> list[str]:
    return [*FAST, "--train", str(tiny_images), "--epochs", "4", "--fine-tune-epochs", "3", "--unfreeze", "5",
            "--batch-size", "4", "--learning-rate", "0.05", "--output", str(root / "run"),
            "--export-dir", str(root / "exported"), "--name", "colours"]


@pytest.fixture(scope="module")
def uninterrupted(tiny_images, tmp_path_factory) -> dict:
    """The same run as the resume tests', never killed: what a resumed run must match."""
    root = tmp_path_factory.mktemp("uninterrupted")
    result = run_cli("tfxfer.train", *_resume_args(tiny_images, root))
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads((root / "run" / "metrics.json").read_text())


def test_kill_9_then_the_same_command_resumes(tiny_images, tmp_path, uninterrupted):
    """Killed while fine-tuning (phase 2, whole-model checkpoints). A kill while the head trains
    resumes from the head's own checkpoint: tests/e2e/test_feature_cache.py restores and resumes
    that one, and test_runs.py kills a run there."""
    phase = 2
    args = _resume_args(tiny_images, tmp_path)
    process = _train_process(args)
    killed_at = _wait_for_state(tmp_path / "run", lambda s: s["phase"] == phase and s["epochs_done"] >= s["phase_start"] + 1
                                and not s["phase_done"], process)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert not (tmp_path / "exported").exists() or not any((tmp_path / "exported").rglob("saved_model.pb"))

    resumed = run_cli("tfxfer.train", *args)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "continuing the unfinished run" in resumed.stdout
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["resumed_from_epoch"] >= killed_at["epochs_done"]
    assert metrics["epochs"] == {"phase1": 4, "phase2": 3}
    assert len(_history_losses(tmp_path / "run")) == 7
    assert sorted(p.name for p in (tmp_path / "exported" / "colours").iterdir()) == ["1"]
    print(f"\nkilled in phase {phase} after epoch {killed_at['epochs_done']}: resumed val accuracy "
          f"{metrics['val']['accuracy']:.3f} (loss {metrics['val']['loss']:.3f}), uninterrupted "
          f"{uninterrupted['val']['accuracy']:.3f} (loss {uninterrupted['val']['loss']:.3f})")
    assert abs(metrics["val"]["accuracy"] - uninterrupted["val"]["accuracy"]) <= 0.25

    again = run_cli("tfxfer.train", *args)
    assert again.returncode == 2 and "holds a finished run" in error_line(again)


def test_a_dead_worker_stops_the_others_within_the_bound(tiny_images, tmp_path):
    from tfxfer.launch import worker_environments

    args = [*FAST, "--train", str(tiny_images), "--epochs", "30", "--batch-size", "2", "--collective-timeout", "20",
            "--output", str(tmp_path / "run"), "--export-dir", str(tmp_path / "exported")]
    envs = worker_environments(2)
    workers = [_train_process(args, {"TF_CONFIG": env["TF_CONFIG"]}, stderr=subprocess.PIPE) for env in envs]
    _wait_for_state(tmp_path / "run", lambda s: s["epochs_done"] >= 1, workers[0])
    os.kill(workers[1].pid, signal.SIGKILL)
    killed = time.perf_counter()
    try:
        _, stderr = workers[0].communicate(timeout=120)
    finally:
        for w in workers:
            if w.poll() is None:
                w.kill()
    print(f"\nthe surviving worker exited with {workers[0].returncode} {time.perf_counter() - killed:.0f}s after the kill")
    assert workers[0].returncode == 3, stderr[-3000:]
    message = [line for line in stderr.splitlines() if line.startswith("tfxfer.train: error:")]
    assert len(message) == 1 and "another worker died or became unreachable" in message[0], stderr[-3000:]
    assert "Traceback" not in stderr


def test_launcher_stops_all_workers_when_one_fails(tmp_path):
    result = run_cli("tfxfer.launch", "--workers", "2", "--", "--task", "image", "--backbone", "keras:ResNet50",
                     "--train", str(tmp_path / "missing"))
    assert result.returncode == 2
    assert "[worker-0]" in result.stdout or "[worker-1]" in result.stdout
    assert "does not exist" in result.stdout


def test_ctrl_c_names_the_last_saved_epoch_and_the_same_command_continues(tiny_images, tmp_path):
    # 40 fine-tuning epochs: far more than it runs before the signal, so that a test process
    # starved of CPU cannot first see the state when the run is already ending.
    args = [*FAST, "--train", str(tiny_images), "--epochs", "1", "--fine-tune-epochs", "40", "--unfreeze", "5",
            "--batch-size", "4", "--output", str(tmp_path / "run"), "--export-dir", str(tmp_path / "exported")]
    # As in a terminal: a runner that starts the tests in the background (CI) hands its children
    # SIGINT ignored, and Python then never turns Ctrl-C into KeyboardInterrupt.
    process = _train_process(args, stderr=subprocess.PIPE,
                             preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    stopped_at = _wait_for_state(tmp_path / "run", lambda s: s["phase"] == 2 and s["epochs_done"] >= 2, process)
    # Once, as a user presses Ctrl-C; again every 10 s should that one be lost (a CI run once
    # finished training after a single SIGINT, exit 0, cause not found). A repeat that lands
    # while the stopped run exits must not kill it by the signal (a CI run got -2, not 130).
    assert process.poll() is None, "the run ended before it could be interrupted"
    for _ in range(12):
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=10)
            break
        except subprocess.TimeoutExpired:
            continue
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr[-3000:]
    last = stderr.strip().splitlines()[-1]
    saved = json.loads((tmp_path / "run" / "checkpoints" / "state.json").read_text())["epochs_done"]
    assert saved >= stopped_at["epochs_done"]
    assert last == (f"tfxfer.train: interrupted after epoch {saved}, which was saved; run the same command again "
                    f"(with --output, the same --output) to continue from there"), stderr[-3000:]
    assert "Traceback" not in stderr

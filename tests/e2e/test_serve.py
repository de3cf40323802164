"""python -m tfxfer.serve as a client sees it: a real server process on a free loopback port,
real exports (an image and a text model), real HTTP requests: TF Serving's REST bodies, the
README's curl lines, a version exported while serving, bad bodies, concurrent requests."""

from __future__ import annotations

import base64
import json
import os
import re
import shlex
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest

import tfxfer
from tests.conftest import IMAGE_CLASSES, REPO, TEXT_CLASSES, error_line, run_cli, small_image_model, write_image


@pytest.fixture(scope="module")
def export_dir(small_exports) -> Path:
    return small_exports


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> dict[str, bytes]:
    root = tmp_path_factory.mktemp("requests")
    return {"cat.jpg": write_image(root / "cat.jpg", (120, 80), seed=1).read_bytes(),
            "b.png": write_image(root / "b.png", (33, 47), seed=2).read_bytes(),
            "c.gif": write_image(root / "c.gif", (64, 64), seed=3).read_bytes()}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Client:
    def __init__(self, port: int):
        self.base = f"http://127.0.0.1:{port}"

    def call(self, path: str, body: bytes | str | dict | None = None,
             content_type: str = "application/json") -> tuple[int, dict]:
        """(HTTP status, JSON answer) of a GET (no body) or POST."""
        if isinstance(body, dict):
            body = json.dumps(body)
        if isinstance(body, str):
            body = body.encode()
        headers = {"Content-Type": content_type} if body is not None else {}
        request = urllib.request.Request(self.base + path, data=body, headers=headers)  # a body makes it a POST
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())

    def ok(self, path: str, body=None, content_type: str = "application/json") -> dict:
        status, answer = self.call(path, body, content_type)
        assert status == 200, (path, status, answer)
        return answer


@pytest.fixture(scope="module")
def server(export_dir, tmp_path_factory):
    port = _free_port()
    log = tmp_path_factory.mktemp("server") / "server.log"
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "PYTHONPATH": str(REPO)}
    with open(log, "w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "tfxfer.serve", str(export_dir), "--port", str(port), "--poll-seconds", "0.2",
             "--batch-timeout-ms", "20"], cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
    client = Client(port)
    deadline = time.time() + 240
    while True:
        assert process.poll() is None, log.read_text()[-3000:]
        try:
            if client.call("/v1/models/reviews")[0] == 200:
                break
        except OSError:
            pass
        assert time.time() < deadline, log.read_text()[-3000:]
        time.sleep(0.2)
    client.process, client.log = process, log
    assert f"on http://127.0.0.1:{port} with TF Serving's REST API" in log.read_text()
    yield client
    process.send_signal(signal.SIGINT)
    try:
        process.wait(30)
    finally:
        process.kill()


def _readme_curl_lines() -> list[str]:
    section = (REPO / "README.md").read_text(encoding="utf-8").split("## Serve what was exported")[1].split("\n## ")[0]
    lines = [line.split("  #")[0].strip() for line in section.splitlines() if line.startswith("curl ")]
    return list(dict.fromkeys(lines))


def test_the_readme_requests_get_the_readme_answers(server, images):
    """Every curl line of README's serving section, sent as curl would send it."""
    lines = _readme_curl_lines()
    assert len(lines) >= 5, lines
    cat = base64.b64encode(images["cat.jpg"]).decode()
    for line in lines:
        words = shlex.split(line.replace("$(base64 -w0 cat.jpg)", cat))
        url = words[-1].replace("localhost:8501", "")
        body = words[words.index("-d") + 1] if "-d" in words else None
        answer = server.ok(url, body, content_type="application/x-www-form-urlencoded")  # curl -d's
        if ":predict" in url and "instances" in body:
            names = IMAGE_CLASSES if "/photos" in url else TEXT_CLASSES
            assert len(answer["predictions"]) == len(json.loads(body)["instances"])
            for row in answer["predictions"]:
                assert row["class_name"] == names[row["class_id"]] == names[int(np.argmax(row["probabilities"]))]
        elif ":predict" in url:
            assert set(answer["outputs"]) == {"class_id", "class_name", "probabilities"}
        elif url.endswith("/metadata"):
            signature = answer["metadata"]["signature_def"]["signature_def"]["serving_default"]
            assert signature["inputs"]["text"]["dtype"] == "DT_STRING"
            assert signature["outputs"]["probabilities"]["tensor_shape"]["dim"][1]["size"] == "2"
        else:
            assert answer == {"model_version_status": [
                {"version": "1", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}]}


def test_row_and_columnar_bodies_give_the_savedmodels_numbers(server, export_dir, images):
    import tensorflow as tf

    blobs = list(images.values())
    encoded = [{"b64": base64.b64encode(b).decode()} for b in blobs]
    signature = tf.saved_model.load(str(export_dir / "photos" / "1")).signatures["serving_default"]
    expected = signature(image_bytes=tf.constant(blobs))["probabilities"].numpy()

    rows = server.ok("/v1/models/photos:predict", {"instances": encoded})["predictions"]
    named_rows = server.ok("/v1/models/photos/versions/1:predict",
                           {"instances": [{"image_bytes": e} for e in encoded], "signature_name": "serving_default"})
    columns = server.ok("/v1/models/photos:predict", {"inputs": {"image_bytes": encoded}})["outputs"]
    bare_columns = server.ok("/v1/models/photos:predict", {"inputs": encoded})["outputs"]
    np.testing.assert_allclose([r["probabilities"] for r in rows], expected, atol=1e-5)
    assert named_rows["predictions"] == rows
    assert columns == bare_columns == {name: [r[name] for r in rows] for name in rows[0]}
    assert [r["class_name"] for r in rows] == [IMAGE_CLASSES[i] for i in expected.argmax(-1)]

    texts = ["the film was great.", "the plot was dull", "ünïcödé ✓ text"]
    text_rows = server.ok("/v1/models/reviews:predict", {"instances": [{"text": t} for t in texts]})["predictions"]
    by_b64 = server.ok("/v1/models/reviews:predict",
                       {"instances": [{"b64": base64.b64encode(t.encode()).decode()} for t in texts]})["predictions"]
    assert by_b64 == text_rows and len(text_rows) == 3

    # KServe's Open Inference Protocol (v2) answers from the same model.
    v2 = server.ok("/v2/models/reviews/infer",
                   {"inputs": [{"name": "text", "shape": [3], "datatype": "BYTES", "data": texts}]})
    outputs = {o["name"]: o["data"] for o in v2["outputs"]}
    assert outputs["class_name"] == [r["class_name"] for r in text_rows]


def _png_declaring(width: int, height: int) -> bytes:
    """A PNG header that declares a size; no pixels."""
    return b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + struct.pack(">II", width, height) + b"\x08\x02\x00\x00\x00"


BAD_BODIES = [
    ("photos", {"instancez": []}, "unknown key 'instancez'"),
    ("photos", {"instances": [{"b64": "not base64!"}]}, "not valid base64"),
    ("photos", {"instances": [{"b64": base64.b64encode(b"just some text").decode()}]}, "is not an image"),
    ("photos", {"instances": []}, "'instances' is empty"),
    ("photos", {"instances": ["cat.jpg"]}, "plain string"),
    ("photos", {"instances": [{"b64": base64.b64encode(_png_declaring(20000, 20000)).decode()}]},
     "image of 20000 x 20000 pixels is over the limit of 89,478,485 pixels"),
    ("photos", {"instances": [{"b64": base64.b64encode(_png_declaring(20, 20) + b"junk" * 9).decode()}]},
     "example 0 of the request: the image cannot be decoded (a truncated or corrupt file?)"),
    ("reviews", {"instances": ["fine"], "inputs": ["fine"]}, "exactly one of"),
    ("reviews", {"instances": [{"txt": "typo"}]}, "this model's one input is 'text'"),
    ("reviews", {"instances": [42]}, "JSON number"),
    ("reviews", {"instances": ["fine"], "signature_name": "predict"}, "signature_name 'predict' is not served"),
    ("reviews", "{not json", "not JSON"),
    ("reviews", b'{"instances": [{"b64": "' + b"A" * 10_000_000 + b'"}]}', "over the limit of 8,000,000"),
]


def test_bad_bodies_are_400_with_a_message_and_the_server_stays_up(server):
    for model, body, message in BAD_BODIES:
        status, answer = server.call(f"/v1/models/{model}:predict", body)
        assert status == 400 and message in answer["error"], (body if len(str(body)) < 200 else message, answer)
    for path, status_wanted, message in (("/v1/models/nope:predict", 404, "no model named 'nope'"),
                                         ("/v1/models/reviews/versions/7:predict", 404, "version 7"),
                                         ("/v1/models/reviews/versions/x:predict", 400, "not a number"),
                                         ("/v1/models/reviews:classify", 405, "no such route")):
        status, answer = server.call(path, {"instances": ["fine"]})
        assert status == status_wanted and message in answer["error"], (path, answer)
    for path in ("/v1/models/reviews:predict", "/v1/models/reviews/versions/1:predict"):  # curl without -d
        status, answer = server.call(path)
        assert status == 405 and "takes POST with a JSON body" in answer["error"], (path, answer)
    assert server.process.poll() is None
    assert server.ok("/v1/models/reviews:predict", {"instances": ["still up"]})["predictions"]


def test_concurrent_requests_are_batched_and_a_bad_one_fails_alone(server, images):
    good = {"instances": [{"b64": base64.b64encode(images["b.png"]).decode()}]}
    bad = {"instances": [{"b64": base64.b64encode(_png_declaring(20, 20) + b"junk" * 9).decode()}]}
    bodies = [bad if i == 5 else good for i in range(16)]
    before = _batch_counts(server)
    results = [None] * len(bodies)
    start = threading.Barrier(len(bodies))

    def send(i):
        start.wait()
        results[i] = server.call("/v1/models/photos:predict", bodies[i])

    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(bodies))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [status for status, _ in results] == [400 if i == 5 else 200 for i in range(16)], results
    answers = [answer["predictions"][0] for i, (_, answer) in enumerate(results) if i != 5]
    assert len({a["class_name"] for a in answers}) == 1  # the same image, whichever batch it ran in
    np.testing.assert_allclose([a["probabilities"] for a in answers], [answers[0]["probabilities"]] * 15, atol=1e-5)
    assert "cannot be decoded" in results[5][1]["error"]
    examples, calls = (after - earlier for after, earlier in zip(_batch_counts(server), before))
    assert examples >= 16 and calls < examples, "no two requests shared a call of the model"


def _batch_counts(server) -> tuple[float, float]:
    """(examples, model calls) so far for photos, from the tfxfer_batch_size metric."""
    with urllib.request.urlopen(server.base + "/metrics", timeout=30) as response:
        text = response.read().decode()

    def value(kind):
        match = re.search(rf'^tfxfer_batch_size_{kind}{{model="photos"}} (\S+)$', text, re.MULTILINE)
        return float(match[1]) if match else 0.0

    return value("sum"), value("count")


def test_a_version_exported_while_serving_is_served_without_a_restart(server, export_dir, images):
    body = {"instances": [{"b64": base64.b64encode(images["cat.jpg"]).decode()}]}
    first = server.ok("/v1/models/photos:predict", body)["predictions"][0]["probabilities"]
    (export_dir / "photos" / "3" / "variables").mkdir(parents=True)  # a copy under way: no saved_model.pb yet
    assert tfxfer.export_saved_model(small_image_model((0.0, 1.0, 2.0)), export_dir, "photos", IMAGE_CLASSES).name == "4"
    deadline = time.time() + 120
    while server.ok("/v1/models/photos")["model_version_status"][0]["state"] != "AVAILABLE" or \
            server.ok("/v1/models/photos")["model_version_status"][0]["version"] != "4":
        assert time.time() < deadline, server.log.read_text()[-3000:]
        time.sleep(0.2)
    status = server.ok("/v1/models/photos")["model_version_status"]
    assert [(s["version"], s["state"]) for s in status] == [("4", "AVAILABLE"), ("1", "END")]
    second = server.ok("/v1/models/photos:predict", body)["predictions"][0]["probabilities"]
    assert second != first and server.ok("/v1/models/photos/versions/4:predict", body)["predictions"][0][
        "probabilities"] == second
    assert server.call("/v1/models/photos/versions/1:predict", body)[0] == 404
    assert server.ok("/v1/models/photos/metadata")["model_spec"]["version"] == "4"
    assert "photos: serving version 4 (version 1 unloaded)" in server.log.read_text()


def test_command_line_mistakes_are_one_line_and_status_2(export_dir, tmp_path):
    (tmp_path / "empty").mkdir()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        for args, message in (([str(tmp_path / "nope")], "does not exist"),
                              ([str(tmp_path / "empty")], "holds no exported model"),
                              ([str(export_dir / "reviews")], "is one model's folder (versions 1)"),
                              ([str(export_dir), "--port", port], f"port {port} on 127.0.0.1 is taken")):
            result = run_cli("tfxfer.serve", *args, timeout=60)
            assert result.returncode == 2 and message in error_line(result), (args, result.stderr[-2000:])

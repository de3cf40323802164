"""TF Serving's REST bodies, without a server: every form a predict body may take, each mistake
named, and the answers in TF Serving's shapes; the batcher that groups concurrent requests."""

from __future__ import annotations

import asyncio
import base64
import json

import numpy as np
import pytest

from tfxfer.serving.batching import Batcher
from tfxfer.serving.rest_api import BadRequest, parse_predict_body, predict_response, version_status

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 24
B64 = {"b64": base64.b64encode(PNG).decode()}


@pytest.mark.parametrize("body, values, columnar", [
    ({"instances": ["a", "b"]}, ["a", "b"], False),
    ({"instances": [{"text": "a"}, "b"], "signature_name": "serving_default"}, ["a", "b"], False),
    ({"instances": [{"b64": base64.b64encode("ü".encode()).decode()}]}, ["ü".encode()], False),
    ({"inputs": ["a"]}, ["a"], True),
    ({"inputs": {"text": ["a", "b"]}}, ["a", "b"], True),
])
def test_text_bodies(body, values, columnar):
    request = parse_predict_body(json.dumps(body).encode(), "text", "text")
    assert (request.values, request.columnar) == (values, columnar)


def test_image_bodies_take_b64_bytes_in_every_form():
    for body in ({"instances": [B64]}, {"instances": [{"image_bytes": B64}]}, {"inputs": [B64]},
                 {"inputs": {"image_bytes": [B64]}}):
        assert parse_predict_body(json.dumps(body).encode(), "image_bytes", "image").values == [PNG]


@pytest.mark.parametrize("body, task, message", [
    (b"\xff\xfe nonsense", "text", "not JSON"),
    (b"[" * 100_000, "text", "nests JSON lists or objects too deeply"),
    (b'["a"]', "text", "a JSON list, not an object"),
    (b'{"instance": ["a"]}', "text", "unknown key 'instance'"),
    (b'{}', "text", "exactly one of 'instances' (rows) and 'inputs' (columns)"),
    (b'{"instances": ["a"], "inputs": ["a"]}', "text", "not both"),
    (b'{"instances": "a"}', "text", "'instances' is a JSON string"),
    (b'{"instances": []}', "text", "'instances' is empty"),
    (b'{"inputs": {"text": []}}', "text", "'inputs' is empty"),
    (b'{"inputs": {"txt": ["a"]}}', "text", "'inputs' names 'txt'"),
    (b'{"instances": [{"image": "a"}]}', "text", "instance 0 names 'image'"),
    (b'{"instances": ["a", null]}', "text", "instance 1 in 'instances' is a JSON null"),
    (b'{"instances": ["a"], "signature_name": "serve"}', "text", "signature_name 'serve' is not served"),
    (b'{"instances": [{"b64": "%%%"}]}', "image", "not valid base64"),
    (b'{"instances": [{"b64": 12}]}', "image", "'b64' holds a JSON number"),
    (b'{"instances": [{"b64": "aGVsbG8="}]}', "image", "is not an image: JPEG, PNG, GIF or BMP accepted"),
    (b'{"inputs": ["cat.jpg"]}', "image", "value 0 in 'inputs' is a plain string"),
])
def test_each_mistake_is_named(body, task, message):
    with pytest.raises(BadRequest) as raised:
        parse_predict_body(body, "text" if task == "text" else "image_bytes", task)
    assert message in str(raised.value)


def test_answers_in_tf_servings_shapes():
    outputs = {"probabilities": np.array([[0.25, 0.75]], np.float32), "class_id": np.array([1]),
               "class_name": np.array([b"pos"], object)}
    row = {"class_id": 1, "class_name": "pos", "probabilities": [0.25, 0.75]}
    assert predict_response(outputs, columnar=False) == {"predictions": [row]}
    assert predict_response(outputs, columnar=True) == {"outputs": {k: [v] for k, v in row.items()}}
    assert predict_response({"value": np.array([1.5])}, columnar=False) == {"predictions": [1.5]}
    assert predict_response({"thumb_bytes": np.array([b"\xff"], object)}, columnar=True) == {"outputs": [{"b64": "/w=="}]}
    assert version_status({1: ("END", ""), 2: ("AVAILABLE", "")}) == {"model_version_status": [
        {"version": "2", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}},
        {"version": "1", "state": "END", "status": {"error_code": "OK", "error_message": ""}}]}


def test_the_batcher_groups_requests_and_a_failing_one_fails_alone():
    calls = []

    def run(values):
        calls.append(list(values))
        if "bad" in values:
            raise BadRequest("bad value")
        return {"upper": np.array([v.upper() for v in values], object)}

    async def main():
        batcher = Batcher(run, max_batch_size=4, timeout_s=0.05)
        requests = [["a"], ["b", "c"], ["bad"], ["d"], ["e", "f", "g", "h", "i"]]
        results = await asyncio.gather(*(batcher.submit(r) for r in requests), return_exceptions=True)
        await batcher.close()
        return results

    results = asyncio.run(main())
    assert [list(r["upper"]) for i, r in enumerate(results) if i != 2] == [["A"], ["B", "C"], ["D"], list("EFGHI")]
    assert isinstance(results[2], BadRequest)
    # One batch of the first three requests (4 values) failed, so each ran alone; "d" waited for
    # the next batch, and the request larger than max_batch_size ran whole, by itself.
    assert calls == [["a", "b", "c", "bad"], ["a"], ["b", "c"], ["bad"], ["d"], list("efghi")]

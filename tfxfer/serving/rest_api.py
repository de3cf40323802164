"""TF Serving's REST API as JSON: a predict body -> the signature's input values, the
signature's outputs -> the response body, and the version-status and metadata bodies.

The format is TF Serving's (https://www.tensorflow.org/tfx/serving/api_rest): a body holds
``instances`` (rows: each the value itself, or ``{"INPUT": value}``) or ``inputs`` (columns:
the list itself, or ``{"INPUT": [...]}``), and may name its ``signature_name``; bytes are sent
as ``{"b64": "..."}``; the answer is ``{"predictions": [...]}`` for rows, ``{"outputs": ...}``
for columns. Every mistake in a body is a :class:`BadRequest` whose message says what was
wrong and what would be accepted; the server answers it with HTTP 400 and ``{"error": ...}``.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass

import numpy as np

from tfxfer.data.images import ACCEPTED_FORMATS, image_format
from tfxfer.errors import TfxferError

SIGNATURE_NAME = "serving_default"
_BODY_KEYS = ("instances", "inputs", "signature_name")


class BadRequest(TfxferError):
    """A request the client got wrong: answered with HTTP 400 and ``{"error": message}``."""


class NotFound(TfxferError):
    """A model or version the server does not serve: HTTP 404, as TF Serving answers it."""


@dataclass(frozen=True)
class PredictRequest:
    """A predict body, checked: the values for the signature's one input, in order (``str``
    for a text, ``bytes`` for what came as ``{"b64": ...}``), and whether the client sent
    columns (``inputs``), which it gets back as columns (``outputs``)."""

    values: list
    columnar: bool


def parse_predict_body(body: bytes, input_name: str, task: str) -> PredictRequest:
    """``body`` (the raw request body) -> a :class:`PredictRequest` for a signature whose one
    input is ``input_name``; ``task`` ("image" or "text") decides which values fit it."""
    try:
        request = json.loads(body)
    except (UnicodeDecodeError, ValueError) as e:
        raise BadRequest(f"the body is not JSON ({e}): send {{\"instances\": [...]}} or {{\"inputs\": ...}}") from None
    except RecursionError:
        raise BadRequest("the body nests JSON lists or objects too deeply") from None
    if not isinstance(request, dict):
        raise BadRequest(f"the body is a JSON {_json_type(request)}, not an object: send "
                         f"{{\"instances\": [...]}} or {{\"inputs\": ...}}")
    unknown = [key for key in request if key not in _BODY_KEYS]
    if unknown:
        raise BadRequest(f"unknown key {unknown[0]!r} in the body: a predict body holds 'instances' (rows) or "
                         f"'inputs' (columns), and optionally 'signature_name'")
    signature = request.get("signature_name", SIGNATURE_NAME)
    if signature != SIGNATURE_NAME:
        raise BadRequest(f"signature_name {signature!r} is not served: the model has one signature, "
                         f"{SIGNATURE_NAME!r}")
    if ("instances" in request) == ("inputs" in request):
        raise BadRequest("the body needs exactly one of 'instances' (rows) and 'inputs' (columns)"
                         + (", not both" if "inputs" in request else ""))
    if "instances" in request:
        rows = request["instances"]
        if not isinstance(rows, list):
            raise BadRequest(f"'instances' is a JSON {_json_type(rows)}: it must be a list, one value an example")
        values = [_instance_value(row, input_name, i) for i, row in enumerate(rows)]
        where = "'instances'"
    else:
        column = request["inputs"]
        if isinstance(column, dict) and not _is_b64(column):
            if list(column) != [input_name]:
                raise BadRequest(f"'inputs' names {', '.join(map(repr, column)) or 'nothing'}: this model's one "
                                 f"input is {input_name!r}")
            column = column[input_name]
        if not isinstance(column, list):
            raise BadRequest(f"'inputs' holds a JSON {_json_type(column)}: it must be a list of values "
                             f"(or {{{input_name!r}: [...]}})")
        values = column
        where = "'inputs'"
    if not values:
        raise BadRequest(f"{where} is empty: send at least one example")
    return PredictRequest(input_values(values, task, where), columnar=where == "'inputs'")


def _instance_value(row, input_name: str, index: int):
    """A row is the value itself, or ``{INPUT: value}`` (``{"b64": ...}`` is a value)."""
    if isinstance(row, dict) and not _is_b64(row):
        if list(row) != [input_name]:
            raise BadRequest(f"instance {index} names {', '.join(map(repr, row)) or 'nothing'}: this model's one "
                             f"input is {input_name!r} (or send the value itself)")
        return row[input_name]
    return row


def _is_b64(value) -> bool:
    return isinstance(value, dict) and list(value) == ["b64"]


def input_values(values: list, task: str, where: str) -> list:
    """The signature's input for each JSON value: a text (``str``), or the bytes of a
    ``{"b64": ...}`` (an image model takes nothing else, and only an image's bytes); ``where``
    names the values in error messages."""
    return [_value(value, task, i, where) for i, value in enumerate(values)]


def _value(value, task: str, index: int, where: str):
    name = "instance" if where == "'instances'" else "value"
    if _is_b64(value):
        encoded = value["b64"]
        if not isinstance(encoded, str):
            raise BadRequest(f"{name} {index} in {where}: 'b64' holds a JSON {_json_type(encoded)}, not a base64 string")
        try:
            content = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError) as e:
            raise BadRequest(f"{name} {index} in {where} is not valid base64 ({e})") from None
        if task == "image" and image_format(content[:16]) is None:
            raise BadRequest(f"{name} {index} in {where} is not an image: {ACCEPTED_FORMATS} accepted "
                             f"({len(content):,} bytes starting {content[:8]!r})")
        return content
    if isinstance(value, str):
        if task == "image":
            raise BadRequest(f"{name} {index} in {where} is a plain string: an image model takes the file's "
                             f"bytes as {{\"b64\": \"<base64 of the file>\"}}")
        return value
    kind = "an image as {\"b64\": \"...\"}" if task == "image" else "a string"
    raise BadRequest(f"{name} {index} in {where} is a JSON {_json_type(value)}: this model takes {kind}")


def _json_type(value) -> str:
    for kind, name in ((dict, "object"), (list, "list"), (str, "string"), (bool, "boolean"),
                       (int, "number"), (float, "number")):
        if isinstance(value, kind):
            return name
    return "null"


def predict_response(outputs: dict[str, np.ndarray], columnar: bool) -> dict:
    """The signature's outputs -> TF Serving's answer: ``{"predictions": [row, ...]}`` (each row
    ``{output: value}``, or the value alone for a one-output signature) or, for a columnar
    request, ``{"outputs": {output: column}}`` (the column alone for one output). Strings are
    UTF-8 text; an output named ``*_bytes`` is ``{"b64": ...}``, as TF Serving writes it."""
    columns = {name: _json_column(name, array) for name, array in sorted(outputs.items())}
    if columnar:
        return {"outputs": next(iter(columns.values())) if len(columns) == 1 else columns}
    rows = len(next(iter(columns.values())))
    if len(columns) == 1:
        return {"predictions": next(iter(columns.values()))}
    return {"predictions": [{name: column[i] for name, column in columns.items()} for i in range(rows)]}


def _json_column(name: str, array: np.ndarray) -> list:
    if array.dtype.kind in "OSU":
        def text(value):
            if name.endswith("_bytes"):
                return {"b64": base64.b64encode(value).decode("ascii")}
            return value.decode("utf-8", errors="replace") if isinstance(value, bytes) else str(value)

        return np.vectorize(text, otypes=[object])(array).tolist() if array.size else array.tolist()
    return array.tolist()


def version_status(versions: dict[int, tuple[str, str]]) -> dict:
    """``GET /v1/models/NAME``: ``{version: (state, error message)}`` -> TF Serving's
    ``model_version_status`` (newest first; state AVAILABLE, LOADING, END, ...)."""
    return {"model_version_status": [
        {"version": str(version), "state": state,
         "status": {"error_code": "UNKNOWN" if error else "OK", "error_message": error}}
        for version, (state, error) in sorted(versions.items(), reverse=True)
    ]}


def metadata(name: str, version: int, signature: dict) -> dict:
    """``GET /v1/models/NAME/metadata``: the served version's ``serving_default`` signature as
    TF Serving writes it (``signature`` as :func:`tfxfer.serving.serving_contract.signature_def` reads it)."""
    return {
        "model_spec": {"name": name, "signature_name": "", "version": str(version)},
        "metadata": {"signature_def": {
            "signature_def": {SIGNATURE_NAME: signature},
            "@type": "type.googleapis.com/tensorflow.serving.SignatureDefMap",
        }},
    }

"""One model name under the served directory, as TF Serving serves it: its newest complete
version loaded, warmed up and answering through a :class:`~tfxfer.serving.batching.Batcher`;
a newer version loaded beside it and swapped in once it answers; the state of every version
seen (``GET /v1/models/NAME``). A KServe model, so KServe's data plane (the Open Inference
Protocol endpoints, its metrics) drives it as it drives any other.
"""

from __future__ import annotations

import base64
import logging
import re
import time
import uuid
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import tensorflow as tf
from prometheus_client import Histogram

from tfxfer.data.images import ACCEPTED_FORMATS
from tfxfer.errors import TfxferError, first_line
from tfxfer.serving import engine
from tfxfer.serving.batching import Batcher, BatcherClosed, Outputs
from tfxfer.serving.export_dir import complete_versions
from tfxfer.serving.rest_api import BadRequest, NotFound, input_values, predict_response
from tfxfer.serving.servable import Servable, load_servable, read_info
from tfxfer.serving.serving_contract import read_saved_model, signature_def

log = logging.getLogger("tfxfer")

# On KServe's /metrics beside its request latencies: how well requests are batched.
BATCH_SIZE = Histogram("tfxfer_batch_size", "Examples per call of a served model (concurrent requests batched)",
                       ["model"], buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256))
_TOO_LARGE = re.compile(r"image of \d+ x \d+ pixels is over the limit of [\d,]+ pixels")
_V2_TYPES = {"f": "FP32", "i": "INT64", "u": "INT64", "b": "BOOL"}


@dataclass(frozen=True)
class BatchingOptions:
    """TF Serving's ``max_batch_size`` and ``batch_timeout_micros`` (here in seconds)."""

    max_batch_size: int = 32
    timeout_s: float = 0.002


class LoadedVersion:
    """One version, loaded and warmed up: its signature, its metadata and its batcher."""

    def __init__(self, name: str, number: int, servable: Servable, signature: dict, batching: BatchingOptions):
        self.name, self.number, self.servable, self.signature = name, number, servable, signature
        self.batcher = Batcher(self._call, batching.max_batch_size, batching.timeout_s, self._call_alone,
                               name=f"{name}-v{number}", on_batch=BATCH_SIZE.labels(model=name).observe)

    @classmethod
    def load(cls, name: str, path: Path, batching: BatchingOptions) -> LoadedVersion:
        """Loads ``path`` and runs one example through it, so the first request does not pay
        for the graph's first run."""
        inputs = read_info(path).get("inputs") or []
        if len(inputs) > 1:  # requests carry one input a row here; TF Serving itself serves both
            raise TfxferError(f"a sentence-pair model (inputs {', '.join(inputs)}): tfxfer.serve serves one-input "
                              f"models; use TF Serving or python -m tfxfer.predict")
        version = cls(name, int(path.name), load_servable(path), signature_def(read_saved_model(path)), batching)
        warm_up = ([b"a few words"] if version.servable.task == "text"
                   else [tf.io.encode_png(tf.zeros([8, 8, 3], tf.uint8)).numpy()])
        version._call(warm_up)
        return version

    @property
    def input_key(self) -> str:
        return self.servable.input_key

    def _call(self, values: list) -> Outputs:
        feed = tf.constant([v.encode("utf-8") if isinstance(v, str) else v for v in values], tf.string)
        try:
            outputs = self.servable.signature(**{self.input_key: feed})
        except tf.errors.InvalidArgumentError as e:
            raise BadRequest(self._explain(e)) from None
        return {name: tensor.numpy() for name, tensor in outputs.items()}

    def _call_alone(self, values: list) -> Outputs:
        """One request's values; when they fail, the message names the first example that does
        (its index in the request's rows or columns, as the body's own checks name it)."""
        try:
            return self._call(values)
        except BadRequest:
            for i, value in enumerate(values):
                try:
                    self._call([value])
                except BadRequest as e:
                    raise BadRequest(f"example {i} of the request: {e}") from None
            raise

    def _explain(self, error: tf.errors.InvalidArgumentError) -> str:
        too_large = _TOO_LARGE.search(error.message)
        if too_large:  # the signature's check of the header (tfxfer.data.images.check_size)
            return f"{too_large[0]} this model was exported with (--max-image-pixels)"
        if self.servable.task == "image":
            return f"the image cannot be decoded (a truncated or corrupt file?): {ACCEPTED_FORMATS} accepted"
        return f"the model cannot read the input ({first_line(error)})"


@dataclass(frozen=True)
class PredictCall:
    """What a predict request asks of a version: its input values, and how to answer."""

    version: LoadedVersion
    values: list
    columnar: bool = False
    pinned: bool = False  # the request named the version (/versions/N)
    v2_id: str | None = None  # an Open Inference Protocol request: its id, for the response


class ServedModel(engine.Model):
    """One ``EXPORT_DIR/NAME/``: the version it serves (the newest complete one that loads) and
    the states of the versions seen, in TF Serving's terms (LOADING, AVAILABLE, END)."""

    def __init__(self, name: str, model_dir: Path, batching: BatchingOptions):
        super().__init__(name)
        self.model_dir, self.batching = model_dir, batching
        self.current: LoadedVersion | None = None
        self.states: dict[int, tuple[str, str]] = {}
        self._failed: dict[int, float] = {}  # version -> its saved_model.pb's mtime when it failed to load

    def wanted_version(self) -> int | None:
        """The version to serve: the newest complete one, unless it failed to load and has not
        changed since (a version copied in some other way is retried once it changes)."""
        for number in reversed(complete_versions(self.model_dir)):
            if number == getattr(self.current, "number", None) or number not in self._failed:
                return number
            if self._mtime(number) != self._failed[number]:
                del self._failed[number]
                return number
        return None

    def load_version(self, number: int) -> LoadedVersion | None:
        """Loads and warms up a version (blocking: the server runs it in its loader thread);
        None, with the reason in its state, when it does not load."""
        path = self.model_dir / str(number)
        self.states[number] = ("LOADING", "")
        started = time.perf_counter()
        try:
            loaded = LoadedVersion.load(self.name, path, self.batching)
        except Exception as e:  # noqa: BLE001 - any failure leaves the served version in place
            self._failed[number] = self._mtime(number)
            self.states[number] = ("END", f"could not load {path}: {first_line(e)}")
            log.warning("%s: version %d does not load (%s); %s", self.name, number, first_line(e),
                        f"still serving version {self.current.number}" if self.current else "nothing served")
            return None
        kind = ("numeric labels" if loaded.servable.labels == "numeric"
                else f"{len(loaded.servable.class_names)} classes")
        log.info("%s: version %d loaded in %.1f s (%s, %s)", self.name, number,
                 time.perf_counter() - started, loaded.servable.task, kind)
        return loaded

    def serve_version(self, loaded: LoadedVersion) -> LoadedVersion | None:
        """Answers new requests with ``loaded``; returns the version it replaces (whose batcher
        still answers what was sent to it)."""
        old, self.current = self.current, loaded
        self.states[loaded.number] = ("AVAILABLE", "")
        if old is not None:
            self.states[old.number] = ("END", "")
        self.ready = True
        return old

    def unload(self) -> LoadedVersion | None:
        """Stops serving (the model's folder or its last version is gone)."""
        old, self.current, self.ready = self.current, None, False
        if old is not None:
            self.states[old.number] = ("END", "")
        return old

    def version(self, requested: int | None = None) -> LoadedVersion:
        """The version a request names (None: the served one); NotFound for any other."""
        current = self.current
        if current is None:
            raise NotFound(f"model {self.name} has no version being served")
        if requested is not None and requested != current.number:
            raise NotFound(f"version {requested} of model {self.name} is not served: version {current.number} is "
                           f"(the newest, as TF Serving serves by default)")
        return current

    def _mtime(self, number: int) -> float:
        try:
            return (self.model_dir / str(number) / "saved_model.pb").stat().st_mtime
        except OSError:
            return -1.0

    # KServe's model interface: preprocess -> predict -> postprocess, for a PredictCall from the
    # TF Serving routes or an InferRequest from KServe's Open Inference Protocol (v2) routes.

    async def preprocess(self, payload, headers=None) -> PredictCall:
        if isinstance(payload, PredictCall):
            return payload
        if not isinstance(payload, engine.InferRequest):
            raise BadRequest("send a JSON body")
        version = self.version()
        names = [i.name for i in payload.inputs]
        if names != [version.input_key]:
            raise BadRequest(f"the request's inputs are {', '.join(names) or 'none'}: this model takes one input, "
                             f"{version.input_key!r} (datatype BYTES)")
        tensor = payload.inputs[0]
        if tensor.datatype != "BYTES":
            raise BadRequest(f"input {tensor.name!r} has datatype {tensor.datatype}: this model takes BYTES")
        try:
            values = tensor.as_numpy().reshape(-1).tolist()
        except ValueError as e:  # data that does not fit its shape
            raise BadRequest(f"input {tensor.name!r}: {e}") from None
        if not values:
            raise BadRequest(f"input {tensor.name!r} is empty: send at least one example")
        # Bytes (the binary extension) as the v1 API's {"b64": ...}; an image model's strings are
        # base64 too, since JSON cannot hold bytes.
        values = [{"b64": base64.b64encode(v).decode("ascii")} if isinstance(v, bytes)
                  else {"b64": v} if version.servable.task == "image" and isinstance(v, str) else v for v in values]
        checked = input_values(values, version.servable.task, "'inputs'")
        return PredictCall(version, checked, v2_id=payload.id or str(uuid.uuid4()))

    async def predict(self, payload: PredictCall, headers=None):
        try:
            return payload, await payload.version.batcher.submit(payload.values)
        except BatcherClosed:  # a newer version was swapped in while this request was read
            payload = replace(payload, version=self.version(payload.version.number if payload.pinned else None))
            return payload, await payload.version.batcher.submit(payload.values)

    async def postprocess(self, result, headers=None, response_headers=None):
        call, outputs = result
        if call.v2_id is None:
            return predict_response(outputs, call.columnar)
        return engine.InferResponse(
            response_id=call.v2_id, model_name=self.name, model_version=str(call.version.number),
            infer_outputs=[_v2_output(name, array) for name, array in sorted(outputs.items())])

    def get_input_types(self) -> list[dict]:
        return [{"name": self.version().input_key, "datatype": "BYTES", "shape": [-1]}]

    def get_output_types(self) -> list[dict]:
        signature = self.version().signature["outputs"]
        return [{"name": name, "datatype": _V2_TYPES_BY_DTYPE.get(info["dtype"], "BYTES"),
                 "shape": [int(d["size"]) for d in info["tensor_shape"]["dim"]]}
                for name, info in signature.items()]


_V2_TYPES_BY_DTYPE = {"DT_FLOAT": "FP32", "DT_INT64": "INT64", "DT_INT32": "INT32", "DT_BOOL": "BOOL",
                      "DT_STRING": "BYTES"}


def _v2_output(name: str, array: np.ndarray):
    datatype = _V2_TYPES.get(array.dtype.kind, "BYTES")
    if datatype == "FP32":
        array = array.astype(np.float32)
    data = array.reshape(-1).tolist()
    if datatype == "BYTES":
        data = [v.decode("utf-8", errors="replace") if isinstance(v, bytes) else str(v) for v in data]
    return engine.InferOutput(name=name, shape=list(array.shape), datatype=datatype, data=data)

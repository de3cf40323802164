"""What TF Serving sees of an export, read from its ``saved_model.pb``: the ops its graph runs,
checked against the ops the stock TF Serving binary links, and its serving signature in the
JSON of TF Serving's metadata API.

The op list, ``tf_serving_ops.txt`` beside this file, holds every op TensorFlow core and
TF Text register, the two op libraries ``tensorflow_model_server`` links
(tensorflow_serving/model_servers/BUILD: ``server_lib`` depends on
``@org_tensorflow//tensorflow/core:tensorflow`` and on ``SUPPORTED_TENSORFLOW_OPS``,
which is ``@org_tensorflow_text//tensorflow_text:ops_lib`` and TF Decision Forests' inference
ops, left out here: no tfxfer model uses them). It is produced from the op registry of the
installed packages, in a fresh process, by::

    python -m tfxfer.serving.serving_contract --write-op-list

which first reads the registry after ``import tensorflow`` (core), then after
``import tensorflow_text`` (core + TF Text), and writes both with the versions it read them
from. An export whose graph runs an op outside the list would load in Python but fail in
TF Serving with "Op type not registered": export refuses it.
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path

from tfxfer.errors import TfxferError

OP_LIST = Path(__file__).with_name("tf_serving_ops.txt")


def read_saved_model(path: str | Path):
    """The ``SavedModel`` proto of a version directory's ``saved_model.pb``."""
    from tensorflow.core.protobuf import saved_model_pb2

    proto = saved_model_pb2.SavedModel()
    proto.ParseFromString((Path(path) / "saved_model.pb").read_bytes())
    return proto


def graph_ops(saved_model) -> set[str]:
    """Every op type the SavedModel's graphs and functions run (calls of its own functions,
    which appear as ops named after the function, excluded)."""
    ops = set()
    for meta_graph in saved_model.meta_graphs:
        library = meta_graph.graph_def.library
        functions = {f.signature.name for f in library.function}
        ops.update(node.op for node in meta_graph.graph_def.node)
        for function in library.function:
            ops.update(node.op for node in function.node_def)
        ops -= functions
    return ops


@functools.cache
def tf_serving_ops() -> frozenset[str]:
    """The op names in ``tf_serving_ops.txt`` (lines that are not ``#`` comments)."""
    lines = OP_LIST.read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip() for line in lines if line.strip() and not line.startswith("#"))


def op_list_versions() -> str:
    """The header line naming the packages the op list was read from."""
    return next(line for line in OP_LIST.read_text(encoding="utf-8").splitlines() if line.startswith("# read from"))


def check_serving_ops(path: str | Path) -> int:
    """Refuses (TfxferError) an export whose graph runs ops the stock TF Serving binary does
    not link; returns how many op types its graph runs."""
    ops = graph_ops(read_saved_model(path))
    missing = sorted(ops - tf_serving_ops())
    if missing:
        raise TfxferError(
            f"the exported graph runs {len(missing)} op type(s) the stock TF Serving binary does not link: "
            f"{', '.join(missing)} (it links TensorFlow core and TF Text; {OP_LIST.name} {op_list_versions()[2:]}): "
            "TF Serving would fail to load it with 'Op type not registered'")
    return len(ops)


def signature_def(saved_model, name: str = "serving_default") -> dict:
    """A signature as TF Serving's ``GET /v1/models/NAME/metadata`` writes it (proto3 JSON:
    int64 sizes as strings, every field printed)."""
    from tensorflow.core.framework import types_pb2

    signature = saved_model.meta_graphs[0].signature_def[name]

    def tensors(infos) -> dict:
        return {key: {
            "dtype": types_pb2.DataType.Name(info.dtype),
            "tensor_shape": {"dim": [{"size": str(d.size), "name": d.name} for d in info.tensor_shape.dim],
                             "unknown_rank": info.tensor_shape.unknown_rank},
            "name": info.name,
        } for key, info in sorted(infos.items())}

    return {"inputs": tensors(signature.inputs), "outputs": tensors(signature.outputs),
            "method_name": signature.method_name, "defaults": {}}


def _registered_ops() -> set[str]:
    from tensorflow.core.framework import op_def_pb2
    from tensorflow.python.client import pywrap_tf_session as c_api

    buffer = c_api.TF_GetAllOpList()
    try:
        return {op.name for op in op_def_pb2.OpList.FromString(c_api.TF_GetBuffer(buffer)).op}
    finally:
        c_api.TF_DeleteBuffer(buffer)


def write_op_list(path: Path = OP_LIST) -> None:
    """Writes the op list from the registry of the installed tensorflow and tensorflow_text
    (run in a fresh process: anything imported before adds its own ops)."""
    import tensorflow as tf

    core = _registered_ops()
    import tensorflow_text

    text = _registered_ops() - core
    lines = [
        "# The ops the stock TensorFlow Serving binary (tensorflow_model_server) links: TensorFlow core",
        "# (@org_tensorflow//tensorflow/core:tensorflow) and TF Text (@org_tensorflow_text//tensorflow_text:ops_lib),",
        "# per tensorflow_serving/model_servers/BUILD (server_lib, SUPPORTED_TENSORFLOW_OPS). TF Decision Forests'",
        "# inference ops, also linked there, are left out: no tfxfer model uses them.",
        f"# read from tensorflow {tf.__version__} and tensorflow-text {tensorflow_text.__version__} "
        f"(their op registry, as installed)",
        "# by: python -m tfxfer.serving.serving_contract --write-op-list",
        f"# {len(core)} TensorFlow core ops, then {len(text)} TF Text ops",
        *sorted(core),
        "# TF Text",
        *sorted(text),
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    if sys.argv[1:] != ["--write-op-list"]:
        sys.exit("usage: python -m tfxfer.serving.serving_contract --write-op-list")
    write_op_list()
    print(f"wrote {OP_LIST}")

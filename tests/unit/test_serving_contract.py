"""The export's contract with TF Serving: the op list it is checked against says where it came
from and holds what tfxfer's models run; a graph with an op outside it is refused, by name."""

from __future__ import annotations

import pytest

from tfxfer.errors import TfxferError
from tfxfer.serving import serving_contract


def test_the_op_list_names_its_source_and_versions():
    import tensorflow as tf
    import tensorflow_text

    header = serving_contract.op_list_versions()
    assert header == (f"# read from tensorflow {tf.__version__} and tensorflow-text {tensorflow_text.__version__} "
                      "(their op registry, as installed)"), "regenerate it: python -m tfxfer.serving.serving_contract --write-op-list"
    ops = serving_contract.tf_serving_ops()
    # TF core ops tfxfer's signatures run, and the TF Text ops of KerasHub's tokenizers.
    assert {"DecodeImage", "ResizeBilinear", "MapDataset", "StatefulPartitionedCall", "MatMul", "StringSplitV2",
            "RegexSplitWithOffsets", "WordpieceTokenizeWithOffsets", "FastWordpieceTokenizeWithOffsets"} <= ops
    assert len(ops) > 1000


def test_a_graph_with_an_op_outside_the_list_is_refused_by_name(tmp_path):
    from tensorflow.core.protobuf import saved_model_pb2

    proto = saved_model_pb2.SavedModel()
    graph = proto.meta_graphs.add().graph_def
    graph.node.add(name="x", op="Placeholder")
    graph.node.add(name="call", op="__inference_serve_7")  # a call of the model's own function
    function = graph.library.function.add()
    function.signature.name = "__inference_serve_7"
    function.node_def.add(name="tokens", op="MyCustomTokenizer")
    function.node_def.add(name="ids", op="RegexSplitWithOffsets")
    (tmp_path / "saved_model.pb").write_bytes(proto.SerializeToString())

    assert serving_contract.graph_ops(proto) == {"Placeholder", "MyCustomTokenizer", "RegexSplitWithOffsets"}
    with pytest.raises(TfxferError, match=r"runs 1 op type\(s\) the stock TF Serving binary does not link: "
                                          r"MyCustomTokenizer \(it links TensorFlow core and TF Text"):
        serving_contract.check_serving_ops(tmp_path)
    function.node_def[0].op = "StringSplitV2"
    (tmp_path / "saved_model.pb").write_bytes(proto.SerializeToString())
    assert serving_contract.check_serving_ops(tmp_path) == 3

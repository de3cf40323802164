"""Guards for tfxfer.models.keras_workarounds: each private Keras / TF behaviour tfxfer relies on,
checked on tiny models (no training, seconds). A failure here after a Keras upgrade names
the workaround to revisit, before a training run fails in a less obvious way."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.conftest import REPO
from tfxfer.models import keras_workarounds as kw


def _nested_model():
    inner = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="d1"), keras.layers.Dense(2, name="d2")],
                             name="inner")
    x = keras.Input((3,))
    return keras.Model(x, keras.layers.Dense(1, name="top")(inner(x)), name="outer"), inner


def test_flatten_layers_walks_nested_models():
    outer, inner = _nested_model()
    names = {layer.name for layer in kw.flatten_layers(outer, include_self=False)}
    assert {"inner", "d1", "d2", "top"} <= names and "outer" not in names
    children = {layer.name for layer in kw.flatten_layers(outer, include_self=False, recursive=False)}
    assert "inner" in children and "d1" not in children
    assert kw.flatten_layers(inner)[0] is inner


def test_input_tensor_in_finds_the_node_of_each_model():
    shared = keras.layers.Dense(2, name="shared")
    a_in, b_in = keras.Input((3,)), keras.Input((4,))
    a_mid = keras.layers.Dense(5)(a_in)
    b_mid = keras.layers.Dense(5)(b_in)
    a = keras.Model(a_in, shared(a_mid))
    b = keras.Model(b_in, shared(b_mid))
    assert kw.input_tensor_in(a, shared) is a_mid
    assert kw.input_tensor_in(b, shared) is b_mid
    with pytest.raises(ValueError, match="not part of"):
        kw.input_tensor_in(a, keras.layers.Dense(1))


def test_track_variable_makes_a_layer_own_a_made_variable():
    class Holder(keras.layers.Layer):
        def __init__(self):
            super().__init__()
            self.kernel = None
            kw.track_variable(self, keras.Variable(np.ones((3, 2), "float32"), name="made"))
            self.built = True

        def call(self, x):
            return x @ self.weights[0]

    layer = Holder()
    assert [w.name for w in layer.trainable_weights] == ["made"]
    layer.trainable = False
    assert not layer.trainable_weights and [w.name for w in layer.non_trainable_weights] == ["made"]
    x = keras.Input((3,))
    model = keras.Model(x, layer(x))
    assert len(model.weights) == 1


def test_trainable_setter_still_short_circuits_and_the_flip_works_around_it():
    _, inner = _nested_model()
    inner.get_layer("d1").trainable = False
    inner.trainable = True  # already True: Keras skips the recursive setter
    assert inner.get_layer("d1").trainable is False, (
        "Keras now runs the trainable setter when the value is unchanged: "
        "keras_workarounds.set_trainable_flag's flip is no longer needed")
    kw.set_trainable_flag(inner, True)
    assert inner.get_layer("d1").trainable is True
    kw.set_trainable_flag(inner, False)
    assert not inner.trainable_weights


def test_private_training_hooks_have_the_shapes_the_patches_expect():
    from keras.src.backend.tensorflow import trainer as tf_trainer

    build = inspect.signature(keras.Model._maybe_symbolic_build)
    assert list(build.parameters) == ["self", "iterator", "data_batch"], build
    assert "data_batch" in inspect.signature(keras.Model._symbolic_build).parameters
    assert list(inspect.signature(tf_trainer.reduce_per_replica).parameters) == ["values", "strategy", "reduction"]
    # The patch replaces the module's global, so the trainer must look it up there at call time.
    assert "reduce_per_replica(" in inspect.getsource(tf_trainer.TensorFlowTrainer)
    model, _ = _nested_model()
    assert hasattr(model, "_distribute_strategy")


def test_build_from_first_replica_replaces_the_instance_hook_once():
    model, _ = _nested_model()
    kw.build_from_first_replica(model)
    hook = model.__dict__["_maybe_symbolic_build"]
    assert kw.build_from_first_replica(model) is model and model.__dict__["_maybe_symbolic_build"] is hook
    fresh, _ = _nested_model()
    assert "_maybe_symbolic_build" not in fresh.__dict__  # other models keep Keras' own


def test_reduce_scalars_across_workers_installs_once_and_keeps_other_strategies_unchanged():
    from keras.src.backend.tensorflow import trainer as tf_trainer

    kw.reduce_scalars_across_workers()
    patched = tf_trainer.reduce_per_replica
    assert getattr(patched, "_tfxfer", False)
    kw.reduce_scalars_across_workers()
    assert tf_trainer.reduce_per_replica is patched
    value = tf.constant([1.0, 2.0])
    out = patched({"loss": value}, tf.distribute.get_strategy(), "auto")
    np.testing.assert_allclose(out["loss"], value)


_PRIVATE = ("keras.src", "_flatten_layers", "_nodes_by_depth", "_track_variable", "_maybe_symbolic_build",
            "_symbolic_build", "reduce_per_replica", "_distribute_strategy")


def test_no_private_keras_api_outside_the_workarounds_module():
    allowed = REPO / "tfxfer" / "models" / "keras_workarounds.py"
    found = []
    for path in sorted((REPO / "tfxfer").rglob("*.py")):
        if path == allowed:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            name = None
            if isinstance(node, ast.Attribute):
                name = node.attr
            elif isinstance(node, ast.ImportFrom):
                name = node.module or ""
            elif isinstance(node, ast.Import):
                name = " ".join(alias.name for alias in node.names)
            if name and any(private in name for private in _PRIVATE):
                found.append(f"{Path(path).relative_to(REPO)}:{node.lineno} {name}")
    assert not found, "private Keras API outside keras_workarounds.py: " + ", ".join(found)

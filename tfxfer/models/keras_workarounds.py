"""Every use of private Keras / TensorFlow API in tfxfer, one function each, with the upstream
behaviour it works around.

Nothing else in tfxfer touches ``keras.src`` or an underscored Keras attribute: when a Keras
upgrade changes one of these, ``tests/unit/test_keras_workarounds.py`` fails naming it, and
this file is the only place to change. Written against Keras 3.15 (``constraints.txt``).
"""

from __future__ import annotations

import types

import keras
import tensorflow as tf


def flatten_layers(layer: keras.layers.Layer, include_self: bool = True, recursive: bool = True) -> list:
    """``layer`` and the layers it holds, nested models included.

    Keras 3 has no public way to walk nested sublayers (``Model.layers`` is one level, and only
    for models; keras-team/keras#4398 asked for one): ``Layer._flatten_layers`` is what Keras
    itself uses for ``trainable`` and for saving.
    """
    return list(layer._flatten_layers(include_self=include_self, recursive=recursive))


def input_tensor_in(model: keras.Model, layer: keras.layers.Layer):
    """The symbolic tensor ``layer`` is called on inside the functional ``model``.

    ``layer.input`` is public, but raises once the layer is called in two models (a backbone
    layer shared by the full model and the feature extractor): the node of *this* model is
    found in ``Functional._nodes_by_depth``.
    """
    for nodes in model._nodes_by_depth.values():
        for node in nodes:
            if node.operation is layer:
                return node.input_tensors[0]
    raise ValueError(f"layer {layer.name} is not part of {model.name}")


def track_variable(layer: keras.layers.Layer, variable: keras.Variable) -> None:
    """Makes ``layer`` own an existing variable (train it, list it in ``weights``, save it).

    A TF Hub SavedModel's variables come made; Keras 3 only offers ``add_weight``, which makes
    new ones. ``hub.KerasLayer`` did this with Keras 2 internals and is not a Keras 3 layer at
    all (tensorflow/tensorflow#63849, tensorflow/hub#930); ``Layer._track_variable`` is the
    Keras 3 hook ``add_weight`` itself ends in.
    """
    layer._track_variable(variable)


def set_trainable_flag(layer: keras.layers.Layer, value: bool) -> None:
    """``layer.trainable = value`` for the layer and all its sublayers, always.

    The TensorFlow backend's ``KerasAutoTrackable.__setattr__`` (keras-team/keras#18507)
    returns early when the new value ``is`` the current one ("short circuit for
    ``self.x = self.x``"), so the recursive ``trainable`` setter never runs: a trainable model
    whose sublayers were frozen one by one keeps them frozen after ``model.trainable = True``.
    Flipping the flag first makes the setter run.
    """
    layer.trainable = not value
    layer.trainable = value


def build_from_first_replica(model: keras.Model) -> keras.Model:
    """Lets Keras 3 ``fit`` build ``model`` from a distributed first batch.

    Under a strategy, Keras 3 builds the model, metrics and optimizer from the first batch
    averaged across replicas (``TensorFlowTrainer._maybe_symbolic_build``). Averaging fails
    for string and bool inputs ("Value for attr 'T' of string is not in the list";
    keras-team/keras#21172, tensorflow/tensorflow#80951) and, under MultiWorkerMirroredStrategy,
    for any input ("Attempt to convert a value (PerReplica...)", keras-team/keras#20585).
    Building needs only shapes and dtypes, so this model builds from the first replica's
    local batch instead (the instance's ``_maybe_symbolic_build`` is replaced).
    """
    if not hasattr(model, "_maybe_symbolic_build"):
        raise RuntimeError("keras changed: Trainer._maybe_symbolic_build is gone; revisit "
                           "tfxfer.models.keras_workarounds.build_from_first_replica")
    if isinstance(model.__dict__.get("_maybe_symbolic_build"), types.MethodType):
        return model
    object.__setattr__(model, "_maybe_symbolic_build", types.MethodType(_symbolic_build_from_local_batch, model))
    return model


def _symbolic_build_from_local_batch(self, iterator=None, data_batch=None):
    if self._distribute_strategy is None:
        return  # no strategy: Keras builds when it traces the train function
    strategy = self.distribute_strategy
    if iterator is not None:
        for _, _, it in iterator:
            batch = next(it)
            data_batch = tf.nest.map_structure(
                lambda v: strategy.experimental_local_results(v)[0]
                if isinstance(v, tf.distribute.DistributedValues) else v,
                batch,
            )
            break
    with strategy.scope():
        self._symbolic_build(data_batch=data_batch)


def reduce_scalars_across_workers() -> None:
    """Makes Keras 3 ``fit`` reduce its per-step logs under MultiWorkerMirroredStrategy.

    Keras reduces every log value (loss, metrics: scalars) with
    ``strategy.reduce("MEAN", value, axis=0)`` under a multi-worker strategy, which fails with
    "Invalid reduction dimension 0 for input with 0 dimensions" (keras-team/keras#20585,
    tensorflow/tensorflow#72388). ``keras.src.backend.tensorflow.trainer.reduce_per_replica``
    is patched: scalars are averaged across replicas with ``axis=None``; everything else goes
    through Keras unchanged. Installed once; calling it again does nothing.
    """
    from keras.src.backend.tensorflow import trainer as tf_trainer

    original = getattr(tf_trainer, "reduce_per_replica", None)
    if original is None:
        raise RuntimeError("keras changed: reduce_per_replica is gone; revisit "
                           "tfxfer.models.keras_workarounds.reduce_scalars_across_workers")
    if getattr(original, "_tfxfer", False):
        return

    def reduce_per_replica(values, strategy, reduction):
        if reduction in ("auto", "mean") and isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
            def reduce(value):
                if isinstance(value, tf.distribute.DistributedValues) or isinstance(value, tf.Tensor):
                    if value.shape.rank == 0:
                        return strategy.reduce("MEAN", value, axis=None)
                return original({"v": value}, strategy, reduction)["v"]
            return tf.nest.map_structure(reduce, values)
        return original(values, strategy, reduction)

    reduce_per_replica._tfxfer = True
    tf_trainer.reduce_per_replica = reduce_per_replica

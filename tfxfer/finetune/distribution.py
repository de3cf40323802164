"""``tf.distribute`` for Keras 3 ``fit``: choosing a strategy, chief and worker roles, and
applying the fixes that make MirroredStrategy with string inputs and MultiWorkerMirroredStrategy
work (the fixes themselves use private Keras API, so they live in
:mod:`tfxfer.models.keras_workarounds`).

Every strategy-specific decision lives here; the phase loop (``finetune/phases.py``) only asks
for a strategy and calls :func:`prepare_model`.
"""

from __future__ import annotations

import json
import os

import keras
import tensorflow as tf

from tfxfer.config import STRATEGIES
from tfxfer.errors import PortTakenError, TfxferError
from tfxfer.models import keras_workarounds


def tf_config() -> dict:
    try:
        return json.loads(os.environ.get("TF_CONFIG") or "{}")
    except json.JSONDecodeError as e:
        raise TfxferError(f"TF_CONFIG is not valid JSON: {e}") from e


def _workers_in_tf_config() -> int:
    cluster = tf_config().get("cluster", {})
    return len(cluster.get("worker", [])) + len(cluster.get("chief", []))


def is_chief() -> bool:
    """True in a single-process run, and on the chief (or worker 0 without a chief) of a cluster."""
    config = tf_config()
    task = config.get("task", {})
    if not task or _workers_in_tf_config() <= 1:
        return True
    if "chief" in config.get("cluster", {}):
        return task.get("type") == "chief"
    return task.get("type") == "worker" and int(task.get("index", 0)) == 0


def _own_address() -> str:
    """This task's host:port in TF_CONFIG."""
    config = tf_config()
    task = config.get("task", {})
    try:
        return config["cluster"][task.get("type", "worker")][int(task.get("index", 0))]
    except (KeyError, IndexError, ValueError):
        return "its port"


def worker_label() -> str:
    task = tf_config().get("task", {})
    return f"{task.get('type', 'worker')}-{task.get('index', 0)}" if task else "worker-0"


def _tpu_strategy():
    resolver = tf.distribute.cluster_resolver.TPUClusterResolver()
    tf.config.experimental_connect_to_cluster(resolver)
    tf.tpu.experimental.initialize_tpu_system(resolver)
    return tf.distribute.TPUStrategy(resolver)


def select_strategy(name: str = "auto", collective_timeout: float | None = None) -> tf.distribute.Strategy:
    """A ``tf.distribute`` strategy by name.

    ``auto``: TF_CONFIG naming more than one worker -> MultiWorkerMirroredStrategy; a TPU
    (TPU_NAME or COLAB_TPU_ADDR set) -> TPUStrategy; more than one GPU -> MirroredStrategy;
    otherwise the default strategy.

    Args:
        name: one of ``auto``, ``default``, ``mirrored``, ``multi_worker``, ``tpu``.
        collective_timeout: multi-worker only: seconds a collective operation waits for the
            other workers before failing, so that the survivors of a dead worker stop.

    Example:

    ```python
    from tfxfer import build_image_classifier, select_strategy

    strategy = select_strategy("auto")
    with strategy.scope():
        model = build_image_classifier("keras:ResNet50", 5, weights="none")
    ```
    """
    if name not in STRATEGIES:
        raise TfxferError(f"--strategy {name!r} is not one of {', '.join(STRATEGIES)}")
    if name == "auto":
        if _workers_in_tf_config() > 1:
            name = "multi_worker"
        elif os.environ.get("TPU_NAME") or os.environ.get("COLAB_TPU_ADDR"):
            name = "tpu"
        elif len(tf.config.list_logical_devices("GPU")) > 1:
            name = "mirrored"
        else:
            name = "default"
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multi_worker":
        if _workers_in_tf_config() < 1:
            raise TfxferError("--strategy multi_worker needs TF_CONFIG naming the cluster "
                              "(python -m tfxfer.launch sets it for local workers)")
        keras_workarounds.reduce_scalars_across_workers()
        options = tf.distribute.experimental.CommunicationOptions(timeout_seconds=collective_timeout)
        try:
            return tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)
        except tf.errors.UnknownError as e:
            if "Could not start gRPC server" not in str(e):
                raise
            raise PortTakenError(f"{worker_label()} could not listen on {_own_address()} (TF_CONFIG): another "
                                 f"process holds that port; name a free one") from None
    try:
        return _tpu_strategy()
    except (ValueError, RuntimeError, tf.errors.OpError) as e:
        raise TfxferError(f"--strategy tpu: no TPU could be resolved ({e})") from e


def strategy_name(strategy: tf.distribute.Strategy) -> str:
    """The public name of a strategy (MultiWorkerMirroredStrategy's class is CollectiveAllReduceStrategy)."""
    names = ((tf.distribute.MultiWorkerMirroredStrategy, "MultiWorkerMirroredStrategy"),
             (tf.distribute.MirroredStrategy, "MirroredStrategy"), (tf.distribute.TPUStrategy, "TPUStrategy"))
    return next((name for cls, name in names if isinstance(strategy, cls)), "DefaultStrategy")


def prepare_model(model: keras.Model) -> keras.Model:
    """Lets Keras 3 ``fit`` build ``model`` from a distributed first batch (string inputs under
    MirroredStrategy, any input under MultiWorkerMirroredStrategy): see
    :func:`tfxfer.models.keras_workarounds.build_from_first_replica`."""
    return keras_workarounds.build_from_first_replica(model)

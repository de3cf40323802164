"""One harness for every kind of backbone tfxfer builds on: built frozen, unfrozen by depth,
both phases of fine_tune, saved to and loaded from a .keras file and trained on, exported, and
the export loaded in a fresh process that imports only TensorFlow (and TF Text for text) gives
the Keras model's numbers.

A new backbone family is one more entry in KINDS, not one more hand-written test."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf

import tfxfer
from tests.conftest import EFFICIENTNET_LITE0
from tfxfer.data.images import decode_batch
from tfxfer.errors import TfxferError
from tfxfer.models.freezing import backbone_blocks, count_params, set_trainable
from tfxfer.serving.export import PARITY_TOLERANCE

TEXTS = ["the film was wonderful.", "honestly, the plot is dreadful from start to end", "a",
         "Ünïcode, emoji 🎬 and a much longer review " * 8, ""]


def _keras_image(request):
    return {"task": "image", "backbone": "keras:MobileNet", "weights": "none"}


def _kerashub_image(request):
    return {"task": "image", "backbone": f"kerashub:{EFFICIENTNET_LITE0}", "weights": "imagenet"}


def _tfhub_image(request):
    return {"task": "image", "backbone": f"tfhub:{request.getfixturevalue('tfhub_feature_vector')}",
            "weights": "imagenet"}


def _kerashub_text(request):
    return {"task": "text", "backbone": f"kerashub:{request.getfixturevalue('tiny_preset')}"}


def _tfhub_text_pair(request):
    pair = request.getfixturevalue("tfhub_bert")
    return {"task": "text", "backbone": f"tfhub:{pair['encoder']}", "preprocessor": f"tfhub:{pair['preprocessor']}"}


KINDS = {
    "keras image": _keras_image,
    "kerashub image": _kerashub_image,
    "tfhub image": _tfhub_image,
    "kerashub text": _kerashub_text,
    "tfhub text pair": _tfhub_text_pair,
}

# Loads the export without tfxfer or KerasHub, as TF Serving would.
_FRESH_PROCESS = """
import json, sys
import numpy as np, tensorflow as tf
task, path, out = sys.argv[1:4]
if task == "text":
    import tensorflow_text  # the tokenizer's ops, linked into the stock TF Serving binary too
    inputs = {"text": tf.constant(json.loads(sys.argv[4]))}
else:
    inputs = {"image_bytes": tf.constant([open(p, "rb").read() for p in sys.argv[4:]])}
result = tf.saved_model.load(path).signatures["serving_default"](**inputs)
np.save(out, result["probabilities"].numpy())
print(json.dumps({"class_name": [c.decode() for c in result["class_name"].numpy()],
                  "modules": sorted(m for m in sys.modules if m.split(".")[0] in ("tfxfer", "keras_hub"))}))
"""


def _build(spec: dict) -> keras.Model:
    spec = dict(spec)
    if spec.pop("task") == "image":
        return tfxfer.build_image_classifier(spec.pop("backbone"), 3, image_size=(32, 32), **spec)
    return tfxfer.build_text_classifier(spec.pop("backbone"), 2, sequence_length=24, **spec)


def _batchnorm_statistics(model: keras.Model) -> list[np.ndarray]:
    return [np.array(v.numpy()) for v in model.get_layer("backbone").weights
            if "moving_mean" in v.path or "moving_variance" in v.path]


def _served(task: str, path, fed: list[str], tmp_path) -> tuple[np.ndarray, dict]:
    args = [json.dumps(fed)] if task == "text" else fed
    result = subprocess.run([sys.executable, "-c", _FRESH_PROCESS, task, str(path), str(tmp_path / "p.npy"), *args],
                            capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    return np.load(tmp_path / "p.npy"), json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("kind", list(KINDS))
def test_every_backbone_kind_freezes_trains_exports_and_serves_the_same_numbers(kind, request, tiny_images,
                                                                                 sentiment_csvs, tmp_path):
    spec = KINDS[kind](request)
    task = spec["task"]
    keras.utils.set_random_seed(0)
    model = _build(spec)

    # Built frozen; unfrozen by depth, up to the backbone's and no further.
    head = count_params(model.get_layer("classifier").weights)
    assert count_params(model.trainable_weights) == head
    blocks = backbone_blocks(model)
    assert set_trainable(model, 1) > head
    everything = set_trainable(model, "all")
    assert everything >= set_trainable(model, len(blocks)) >= set_trainable(model, 1)
    with pytest.raises(TfxferError, match="beyond the backbone's depth"):
        set_trainable(model, len(blocks) + 1)
    set_trainable(model, "frozen")

    # Both phases: the head alone (on cached features), then the whole backbone.
    if task == "image":
        data = tfxfer.load_image_data(str(tiny_images), image_size=(32, 32), batch_size=8, val_split=0.25)
    else:
        data = tfxfer.load_text_data(str(sentiment_csvs["train"]), batch_size=16)
    statistics = _batchnorm_statistics(model)
    backbone = model.get_layer("backbone")
    before = [np.array(v.numpy()) for v in backbone.weights]
    result = tfxfer.fine_tune(model, data, epochs=1, fine_tune_epochs=1, unfreeze="all", learning_rate=1e-3,
                              fine_tune_learning_rate=1e-3, early_stopping_patience=0, verbose=0)
    assert result.trainable_params == {"phase1": head, "phase2": everything}
    assert (result.phase1_epochs, result.phase2_epochs) == (1, 1)
    assert result.cached_features is not None, "phase 1 trains the head on cached features"
    assert any(not np.array_equal(b, np.array(a.numpy())) for b, a in zip(before, backbone.weights, strict=True)), \
        "phase 2 must update the backbone"
    if task == "image":  # BatchNorm statistics stay frozen while the backbone fine-tunes
        assert statistics, "every image backbone here has BatchNorm layers"
        for was, now in zip(statistics, _batchnorm_statistics(model), strict=True):
            np.testing.assert_array_equal(was, now)

    # The model knows its parts, and keeps them through a .keras file (safe_mode on); loaded,
    # it gives the same numbers and trains on.
    names = data.class_names
    assert (model.task, model.class_names, model.backbone.name) == (task, names, "backbone")
    assert model.head[-1] is model.layers[-1] and model.head[-1].units == len(names)
    if task == "image":
        fed = [str(p) for p in sorted(tiny_images.rglob("*"))[::5] if p.is_file()]
        inputs = decode_batch(tf.constant([open(p, "rb").read() for p in fed]), (32, 32))
    else:
        fed = TEXTS
        inputs = tf.constant(fed)
    model.save(tmp_path / "model.keras")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        loaded = keras.models.load_model(tmp_path / "model.keras", safe_mode=True)
    # The optimizer's state loads too: the same variables train after loading (a text
    # backbone's unused pooler stays frozen).
    assert not [str(w.message) for w in caught if "Skipping variable loading" in str(w.message)]
    assert isinstance(loaded, tfxfer.TransferClassifier)
    assert (loaded.task, loaded.class_names, loaded.parts, loaded.image_size) == (
        task, names, model.parts, model.image_size)
    np.testing.assert_allclose(loaded.predict(inputs, verbose=0), model.predict(inputs, verbose=0), atol=1e-5)
    again = tfxfer.fine_tune(loaded, data, epochs=0, fine_tune_epochs=1, unfreeze="all",
                             fine_tune_learning_rate=1e-3, early_stopping_patience=0, verbose=0)
    assert again.phase2_epochs == 1 and again.trainable_params["phase2"] == everything
    model = loaded

    # The export (class names from the model itself), served as TF Serving would, gives the
    # Keras model's numbers.
    path = tfxfer.export_saved_model(model, tmp_path / "export", "model")
    want = model.predict(inputs, verbose=0)
    got, served = _served(task, path, fed, tmp_path)
    assert served["modules"] == [], "the export must not need tfxfer or KerasHub"
    assert float(np.max(np.abs(got - want))) <= PARITY_TOLERANCE
    assert served["class_name"] == [names[i] for i in want.argmax(-1)]
    stored = sum(int(np.prod(shape)) for _, shape in tf.train.list_variables(str(path / "variables" / "variables")))
    assert stored <= model.count_params() * 1.01, "each variable is stored once"

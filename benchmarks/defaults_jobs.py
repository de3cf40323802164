"""``python -m benchmarks.defaults_jobs JOB SPEC_JSON RESULT_JSON``: one reference side of
``python -m benchmarks.defaults``, in a process of its own.

Every job returns ``accuracy`` (on the held-out set) and ``train_seconds``. Jobs that train
epochs also return ``history``: one row an epoch with ``seconds``, the training seconds at that
epoch's end, and ``accuracy``, the held-out accuracy after it. A callback scores the held-out
set after every epoch and its time is taken off the clock (``scoring_seconds`` says how long
it took), so ``seconds`` is training alone, as far as it can be separated. The clock starts just
before the first ``fit`` (models loaded and compiled). TensorFlow is imported only by the jobs
that use it, so the scikit-learn side starts as fast as a user's script would.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

from benchmarks.data import read_text_csv

# Wide enough that the chosen C is not at an edge (first full run: TF-IDF chose 100, features 0.001).
TFIDF_C = (0.1, 1.0, 10.0, 100.0, 1000.0, 10000.0)
FEATURES_C = (1e-5, 1e-4, 0.001, 0.01, 0.1, 1.0, 10.0, 100.0)  # standardized features: small C matters too


# ---------------------------------------------------------------------------------------------
# Shared pieces


class TrainClock:
    """Training seconds since it was made, less the time its scorers spent on the held-out set."""

    def __init__(self):
        self.started = time.perf_counter()
        self.scoring = 0.0
        self.rows: list[dict] = []

    def seconds(self) -> float:
        return time.perf_counter() - self.started - self.scoring

    def scorer(self, score, phase: int = 1):
        """A Keras callback: at each epoch's end, read the clock, then ``score()`` (held-out accuracy)."""
        import keras

        clock = self

        class HeldoutScore(keras.callbacks.Callback):
            def on_epoch_end(self, epoch, logs=None):
                seconds = clock.seconds()
                began = time.perf_counter()
                accuracy = float(score())
                spent = time.perf_counter() - began
                clock.scoring += spent
                clock.rows.append({"epoch": epoch + 1, "phase": phase, "seconds": round(seconds, 3),
                                   "accuracy": round(accuracy, 4), "scoring_seconds": round(spent, 3),
                                   "loss": float((logs or {}).get("loss", float("nan")))})

        return HeldoutScore()

    def result(self, **extra) -> dict:
        last = self.rows[-1]
        return {"accuracy": last["accuracy"], "train_seconds": last["seconds"], "history": self.rows, **extra}


def _accuracy(logits, labels) -> float:
    return float(np.mean(np.argmax(np.asarray(logits), axis=-1) == np.asarray(labels)))


def _text_data(spec: dict):
    """(train texts, train labels, held-out texts, held-out labels, classes); labels are indices
    into the sorted class names."""
    train_texts, train_labels = read_text_csv(Path(spec["train_csv"]))
    heldout_texts, heldout_labels = read_text_csv(Path(spec["heldout_csv"]))
    classes = sorted(set(train_labels))
    return (np.array(train_texts), np.array([classes.index(x) for x in train_labels]),
            np.array(heldout_texts), np.array([classes.index(x) for x in heldout_labels]), classes)


def _logistic_cv(model, grid: dict, x, y, seed: int):
    """``model`` refitted on all of (x, y) with the grid point of best 5-fold CV accuracy."""
    from sklearn.model_selection import GridSearchCV, StratifiedKFold

    search = GridSearchCV(model, grid, cv=StratifiedKFold(5, shuffle=True, random_state=seed), scoring="accuracy")
    return search.fit(x, y)


def _scaled_logistic():
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000))


def _features_result(search, seconds: float, x_heldout, y_heldout, **extra) -> dict:
    return {"accuracy": round(float(np.mean(search.predict(x_heldout) == y_heldout)), 4),
            "train_seconds": round(seconds, 3), "C": search.best_params_["logisticregression__C"],
            "cv_accuracy": round(float(search.best_score_), 4), **extra}


# ---------------------------------------------------------------------------------------------
# Text


def tfidf(spec: dict) -> dict:
    """TF-IDF (word 1-2 grams, sublinear tf) + logistic regression, C by 5-fold CV on the
    training set; training seconds: the CV search and the final fit (vectorizing included)."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    x_train, y_train, x_heldout, y_heldout, _ = _text_data(spec)
    started = time.perf_counter()
    model = make_pipeline(TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True), LogisticRegression(max_iter=5000))
    search = _logistic_cv(model, {"logisticregression__C": TFIDF_C}, x_train, y_train, spec["seed"])
    return _features_result(search, time.perf_counter() - started, x_heldout, y_heldout)


def text_features(spec: dict) -> dict:
    """MiniLM as a frozen feature extractor (KerasHub ``Backbone`` + ``TextClassifierPreprocessor``
    at ``sequence_length`` tokens), masked mean of the last hidden states (the pooling this
    sentence-transformers checkpoint was trained with), standardized, logistic regression with C
    by 5-fold CV. Training seconds: the training set's features, the CV search and the final fit."""
    import keras_hub
    import tensorflow as tf

    x_train, y_train, x_heldout, y_heldout, _ = _text_data(spec)
    backbone = keras_hub.models.Backbone.from_preset(spec["minilm_dir"])
    preprocessor = keras_hub.models.TextClassifierPreprocessor.from_preset(
        spec["minilm_dir"], sequence_length=spec["sequence_length"])

    @tf.function
    def mean_pooled(inputs):
        hidden = backbone(inputs, training=False)["sequence_output"]
        mask = tf.cast(inputs["padding_mask"], hidden.dtype)[..., None]
        return tf.reduce_sum(hidden * mask, axis=1) / tf.maximum(tf.reduce_sum(mask, axis=1), 1.0)

    def embed(texts):
        ds = tf.data.Dataset.from_tensor_slices(texts).batch(64).map(preprocessor, tf.data.AUTOTUNE)
        return np.concatenate([mean_pooled(batch).numpy() for batch in ds.prefetch(tf.data.AUTOTUNE)])

    started = time.perf_counter()
    features = embed(x_train)
    feature_seconds = time.perf_counter() - started
    search = _logistic_cv(_scaled_logistic(), {"logisticregression__C": FEATURES_C}, features, y_train, spec["seed"])
    seconds = time.perf_counter() - started
    return _features_result(search, seconds, embed(x_heldout), y_heldout,
                            feature_seconds=round(feature_seconds, 3), sequence_length=spec["sequence_length"])


def kerashub_text(spec: dict) -> dict:
    """``keras_hub.models.BertTextClassifier.from_preset(MiniLM, num_classes=C)`` as a user runs
    it: the preprocessor's default sequence length, its default ``compile()``, ``fit(x=texts,
    y=labels, batch_size=32, epochs=N)``; the held-out set scored after each epoch."""
    import keras
    import keras_hub

    x_train, y_train, x_heldout, y_heldout, classes = _text_data(spec)
    keras.utils.set_random_seed(spec["seed"])
    classifier = keras_hub.models.BertTextClassifier.from_preset(spec["minilm_dir"], num_classes=len(classes))
    classifier.compile()
    rate = float(keras.ops.convert_to_numpy(classifier.optimizer.learning_rate))
    clock = TrainClock()
    score = clock.scorer(lambda: _accuracy(classifier.predict(x_heldout, batch_size=64, verbose=0), y_heldout))
    classifier.fit(x=x_train, y=y_train, batch_size=32, epochs=spec["epochs"], callbacks=[score], verbose=2)
    return clock.result(sequence_length=int(classifier.preprocessor.sequence_length),
                        optimizer=f"{type(classifier.optimizer).__name__} {rate:g}")


# ---------------------------------------------------------------------------------------------
# Images


def _image_sets(spec: dict, batch_size: int = 32):
    """(train dataset, held-out dataset, held-out labels, class names) from the class folders,
    as ``keras.utils.image_dataset_from_directory`` reads them (RGB, bilinear resize)."""
    import keras

    size = (spec["image_size"], spec["image_size"])
    train = keras.utils.image_dataset_from_directory(spec["train_dir"], image_size=size, batch_size=batch_size,
                                                     shuffle=True, seed=spec["seed"])
    heldout = keras.utils.image_dataset_from_directory(spec["heldout_dir"], image_size=size, batch_size=batch_size,
                                                       shuffle=False)
    if heldout.class_names != train.class_names:
        raise ValueError(f"held-out classes {heldout.class_names} differ from training's {train.class_names}")
    labels = np.concatenate([y.numpy() for _, y in heldout])
    return train, heldout, labels, train.class_names


def tutorial(spec: dict) -> dict:
    """The TensorFlow transfer-learning tutorial (benchmarks/reference.py's model and compiles):
    augmentation, rescaling to [-1, 1], the frozen base, pooling, dropout, Dense; Adam
    ``base_learning_rate`` for ``initial_epochs``, then ``base.layers[100:]`` unfrozen with RMSprop
    at a tenth of it for ``fine_tune_epochs``. The tutorial's ``base(x, training=False)`` does not
    hold in Keras 3 ``fit``: the unfrozen BatchNorm layers update their statistics. With
    ``freeze_bn`` every BatchNormalization layer of the base stays ``trainable=False`` (inference
    mode) while fine-tuning, the tutorial's intent."""
    import keras
    import tensorflow as tf

    from benchmarks.reference import _bn_moving_means, _compile_frozen, _image_model, _unfreeze_top

    keras.utils.set_random_seed(spec["seed"])
    train, heldout, y_heldout, classes = _image_sets(spec)
    train, heldout = train.prefetch(tf.data.AUTOTUNE), heldout.prefetch(tf.data.AUTOTUNE)
    model, base = _image_model(spec["backbone_dir"], spec["image_size"], len(classes))
    initial, total = spec["initial_epochs"], spec["initial_epochs"] + spec["fine_tune_epochs"]

    clock = TrainClock()

    def score():
        return _accuracy(model.predict(heldout, verbose=0), y_heldout)

    _compile_frozen(model, spec["base_learning_rate"])
    model.fit(train, epochs=initial, callbacks=[clock.scorer(score, phase=1)], verbose=2)
    before = _bn_moving_means(base)
    _unfreeze_top(model, base, spec["base_learning_rate"])  # compiles; the step is traced at the next fit
    if spec["freeze_bn"]:
        for layer in base.layers:
            if isinstance(layer, keras.layers.BatchNormalization):
                layer.trainable = False
    trainable = int(sum(np.prod(w.shape) for w in model.trainable_weights))
    model.fit(train, epochs=total, initial_epoch=initial, callbacks=[clock.scorer(score, phase=2)], verbose=2)
    after = _bn_moving_means(base)
    change = max(float(np.max(np.abs(after[k] - before[k]))) for k in before)
    return clock.result(bn_moving_mean_max_change=change, fine_tune_trainable_params=trainable,
                        freeze_bn=spec["freeze_bn"])


def image_features(spec: dict) -> dict:
    """EfficientNet-Lite0 as a frozen feature extractor: images at ``image_size`` px scaled to
    [-1, 1] (the preset's mean = std = 0.5, the tutorial's ``Rescaling(1/127.5, -1)``), the
    KerasHub backbone, global average pooling; standardized, logistic regression with C by
    5-fold CV. Training seconds: the training set's features, the CV search and the final fit."""
    import keras
    import keras_hub
    import tensorflow as tf

    train, heldout, y_heldout, _ = _image_sets(spec)
    backbone = keras_hub.models.Backbone.from_preset(spec["backbone_dir"])
    inputs = keras.Input((spec["image_size"], spec["image_size"], 3))
    pooled = keras.layers.GlobalAveragePooling2D()(backbone(keras.layers.Rescaling(1 / 127.5, offset=-1)(inputs)))
    extractor = keras.Model(inputs, pooled)

    @tf.function
    def features_of(images):
        return extractor(images, training=False)

    def embed(ds):
        pairs = [(features_of(x).numpy(), y.numpy()) for x, y in ds.prefetch(tf.data.AUTOTUNE)]
        return np.concatenate([p[0] for p in pairs]), np.concatenate([p[1] for p in pairs])

    started = time.perf_counter()
    features, y_train = embed(train)
    feature_seconds = time.perf_counter() - started
    search = _logistic_cv(_scaled_logistic(), {"logisticregression__C": FEATURES_C}, features, y_train, spec["seed"])
    seconds = time.perf_counter() - started
    return _features_result(search, seconds, embed(heldout)[0], y_heldout, feature_seconds=round(feature_seconds, 3))


def kerashub_image(spec: dict) -> dict:
    """``keras_hub.models.ImageClassifier.from_preset(Lite0, num_classes=C)`` as a user runs it:
    its default ``compile()``, ``fit(train_ds, epochs=N)`` on an ``image_dataset_from_directory``
    dataset at ``image_size`` px (the preset's preprocessor inside: scaling, resizing); the whole
    model trains. The held-out set is scored after each epoch."""
    import keras
    import keras_hub

    keras.utils.set_random_seed(spec["seed"])
    train, heldout, y_heldout, classes = _image_sets(spec)
    model = keras_hub.models.ImageClassifier.from_preset(spec["backbone_dir"], num_classes=len(classes))
    model.compile()
    rate = float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))
    images = heldout.map(lambda x, y: x)
    clock = TrainClock()
    score = clock.scorer(lambda: _accuracy(model.predict(images, verbose=0), y_heldout))
    model.fit(train, epochs=spec["epochs"], callbacks=[score], verbose=2)
    return clock.result(optimizer=f"{type(model.optimizer).__name__} {rate:g}",
                        trainable_params=int(sum(np.prod(w.shape) for w in model.trainable_weights)))


JOBS = {"tfidf": tfidf, "text-features": text_features, "kerashub-text": kerashub_text,
        "tutorial": tutorial, "image-features": image_features, "kerashub-image": kerashub_image}


def main(argv: list[str]) -> int:
    if len(argv) != 3 or argv[0] not in JOBS:
        print(f"usage: python -m benchmarks.defaults_jobs {{{','.join(JOBS)}}} SPEC_JSON RESULT_JSON",
              file=sys.stderr)
        return 2
    job, spec_file, result_file = argv
    started = time.perf_counter()
    result = JOBS[job](json.loads(Path(spec_file).read_text()))
    result["job_seconds"] = round(time.perf_counter() - started, 3)
    Path(result_file).write_text(json.dumps(result, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""The reference recipes, written the way their documentation writes them.

Text: ``keras_hub.models.BertTextClassifier.from_preset(DIR, num_classes=2)`` with its own
``compile()`` defaults (Adam 5e-5, sparse categorical cross-entropy on logits, sparse
categorical accuracy) and ``fit(x=texts, y=labels)`` (batch 32, shuffled, float32); the only
change is the preprocessor's sequence length, set to the one tfxfer uses.

Images: the TensorFlow transfer-learning tutorial
(https://www.tensorflow.org/tutorials/images/transfer_learning): ``image_dataset_from_directory``
+ prefetch, ``inputs -> augmentation (flip, rotation 0.2) -> rescaling to [-1, 1] ->
base(x, training=False) -> GlobalAveragePooling2D -> Dropout(0.2) -> Dense``, Adam 1e-4 on the
frozen base, then ``base.trainable = True`` with ``base.layers[:fine_tune_at]`` frozen and
RMSprop 1e-5. The base is the EfficientNet-Lite0 ImageNet backbone loaded with KerasHub.
Deviations, both for equal comparisons: the labels are integers over several classes (sparse
cross-entropy instead of binary), and the fine-tuning ``fit`` starts at ``initial_epoch =
initial_epochs`` (the tutorial's ``history.epoch[-1]`` runs one extra epoch).
"""

from __future__ import annotations

import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from benchmarks.data import read_text_csv
from benchmarks.measure import PREDICT_CALLS, EpochClock, dir_bytes, latency, param_bytes, step_throughput

# The tutorial unfreezes MobileNetV2 from layer 100 of 154; EfficientNet-Lite0 has 158 layers,
# and the 36 of layers[100:] that hold weights are what ``--unfreeze 36`` unfreezes in tfxfer.
FINE_TUNE_AT = 100


def text(spec: dict) -> dict:
    import keras_hub

    out: dict = {}
    train_texts, train_labels = read_text_csv(Path(spec["train_csv"]))
    heldout_texts, heldout_labels = read_text_csv(Path(spec["heldout_csv"]))
    classes = sorted(set(train_labels))  # as tfxfer orders them
    y_train = np.array([classes.index(label) for label in train_labels])
    y_heldout = np.array([classes.index(label) for label in heldout_labels])
    x_train, x_heldout = np.array(train_texts), np.array(heldout_texts)

    classifier = keras_hub.models.BertTextClassifier.from_preset(spec["minilm_dir"], num_classes=2)
    out["default_sequence_length"] = int(classifier.preprocessor.sequence_length)
    classifier.preprocessor.sequence_length = spec["sequence_length"]
    classifier.compile()
    rate = float(keras.ops.convert_to_numpy(classifier.optimizer.learning_rate))
    out["optimizer"] = f"{type(classifier.optimizer).__name__} {rate:g}"
    out["parameters"] = int(classifier.count_params())

    if spec.get("train"):
        keras.utils.set_random_seed(spec["seed"])
        rows: list = []
        started = time.perf_counter()
        classifier.fit(x=x_train, y=y_train, validation_data=(x_heldout, y_heldout), epochs=spec["epochs"],
                       callbacks=[EpochClock(started, phase=2, rows=rows)], verbose=2)
        out["history"] = rows
        out["train_seconds"] = rows[-1]["seconds"]
        out["final_accuracy"] = rows[-1]["val_accuracy"]
        out["num_train"], out["num_heldout"] = len(x_train), len(x_heldout)

    if spec.get("steps"):
        n = spec["batch_size"]
        batch = (tf.constant(x_train[:n]), tf.constant(y_train[:n]))
        # fit() maps the preprocessor over a dataset; on this one repeated batch it tokenizes
        # in the input pipeline, as in training.
        out["steps"] = step_throughput(classifier, batch, n, spec["warmup_steps"], spec["measure_steps"])

    if spec.get("export"):
        out["export"] = _text_export(classifier, heldout_texts[0], Path(spec["work_dir"]) / "reference_text_export",
                                     spec["latency_calls"])
    return out


def _text_export(classifier, text: str, path: Path, calls: int) -> dict:
    """Keras' own export (``model.export``: token ids in, logits out) and batch-1 latencies."""
    classifier.export(str(path), verbose=False)
    served = tf.saved_model.load(str(path))
    preprocessor = classifier.preprocessor
    example = tf.constant([text])

    def serve():
        tokens = preprocessor(example)  # a client of this SavedModel tokenizes itself
        return served.serve({k: tf.cast(v, tf.int32) for k, v in tokens.items()})

    return {
        "saved_model_bytes": dir_bytes(path),
        "param_bytes": param_bytes(classifier),
        "saved_model_latency": latency(serve, calls),
        "keras_call_latency": latency(lambda: classifier(preprocessor(example), training=False), calls),
        "keras_predict_latency": latency(lambda: classifier.predict(np.array([text]), verbose=0), PREDICT_CALLS),
        "saved_model_input": "token ids (the client runs the preprocessor, timed)",
    }


def _image_model(backbone_dir: str, image_size: int, num_classes: int):
    """(model, base) as the tutorial composes them."""
    import keras_hub

    base = keras_hub.models.Backbone.from_preset(backbone_dir)
    base.trainable = False
    augmentation = keras.Sequential([keras.layers.RandomFlip("horizontal"), keras.layers.RandomRotation(0.2)])
    inputs = keras.Input(shape=(image_size, image_size, 3))
    x = augmentation(inputs)
    x = keras.layers.Rescaling(1.0 / 127.5, offset=-1)(x)  # mobilenet_v2.preprocess_input; Lite0's own scaling too
    x = base(x, training=False)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dropout(0.2)(x)
    outputs = keras.layers.Dense(num_classes)(x)
    return keras.Model(inputs, outputs), base


def _compile_frozen(model, base_learning_rate: float) -> None:
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=base_learning_rate),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])


def _unfreeze_top(model, base, base_learning_rate: float) -> None:
    base.trainable = True
    for layer in base.layers[:FINE_TUNE_AT]:
        layer.trainable = False
    model.compile(optimizer=keras.optimizers.RMSprop(learning_rate=base_learning_rate / 10),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])


def _bn_moving_means(base) -> dict[str, np.ndarray]:
    return {w.path: np.array(w.numpy()) for w in base.non_trainable_weights if "moving_mean" in w.path}


def image(spec: dict) -> dict:
    out: dict = {}
    size = (spec["image_size"], spec["image_size"])
    keras.utils.set_random_seed(spec["seed"])
    started = time.perf_counter()
    train_ds = keras.utils.image_dataset_from_directory(spec["train_dir"], shuffle=True, seed=spec["seed"],
                                                        batch_size=spec["batch_size"], image_size=size)
    heldout_ds = keras.utils.image_dataset_from_directory(spec["heldout_dir"], shuffle=False,
                                                          batch_size=spec["batch_size"], image_size=size)
    class_names = train_ds.class_names
    out["num_train"], out["num_heldout"] = len(train_ds.file_paths), len(heldout_ds.file_paths)
    train_ds = train_ds.prefetch(tf.data.AUTOTUNE)
    heldout_ds = heldout_ds.prefetch(tf.data.AUTOTUNE)
    out["dataset_seconds"] = round(time.perf_counter() - started, 3)

    if spec.get("pipeline"):
        from benchmarks.measure import pipeline_throughput

        out["pipeline"] = pipeline_throughput(train_ds, epochs=2)
        out["steps"] = _image_steps(spec, len(class_names), train_ds)

    model, base = _image_model(spec["backbone_dir"], spec["image_size"], len(class_names))
    out["parameters"] = int(model.count_params())
    out["unfrozen_layers_with_weights"] = sum(1 for layer in base.layers[FINE_TUNE_AT:] if layer.weights)
    if spec.get("train"):
        rows: list = []
        started = time.perf_counter()
        _compile_frozen(model, spec["base_learning_rate"])
        model.fit(train_ds, epochs=spec["initial_epochs"], validation_data=heldout_ds,
                  callbacks=[EpochClock(started, 1, rows)], verbose=2)
        before = _bn_moving_means(base)
        _unfreeze_top(model, base, spec["base_learning_rate"])
        if spec["fine_tune_epochs"] > 0:
            model.fit(train_ds, epochs=spec["initial_epochs"] + spec["fine_tune_epochs"],
                      initial_epoch=spec["initial_epochs"], validation_data=heldout_ds,
                      callbacks=[EpochClock(started, 2, rows)], verbose=2)
        after = _bn_moving_means(base)
        out["bn_moving_mean_max_change"] = float(max(np.max(np.abs(after[k] - before[k])) for k in before))
        out["history"] = rows
        out["train_seconds"] = rows[-1]["seconds"]
        out["final_accuracy"] = rows[-1]["val_accuracy"]

    if spec.get("export"):
        first = sorted(p for p in Path(spec["heldout_dir"]).rglob("*.png"))[0]
        out["export"] = _image_export(model, first.read_bytes(), size,
                                      Path(spec["work_dir"]) / "reference_image_export",
                                      spec["latency_calls"])
    return out


def _image_steps(spec: dict, num_classes: int, train_ds) -> dict:
    """Training-step throughput of a separate copy of the tutorial's model on one batch."""
    model, base = _image_model(spec["backbone_dir"], spec["image_size"], num_classes)
    images, labels = next(iter(train_ds))
    batch, n = (images, labels), int(labels.shape[0])
    _compile_frozen(model, spec["base_learning_rate"])
    frozen = step_throughput(model, batch, n, spec["warmup_steps"], spec["measure_steps"])
    _unfreeze_top(model, base, spec["base_learning_rate"])
    fine_tune = step_throughput(model, batch, n, spec["warmup_steps"], spec["measure_steps"])
    return {"frozen": frozen, "fine_tune": fine_tune}


def _image_export(model, image_bytes: bytes, size, path: Path, calls: int) -> dict:
    """Keras' own export (float pixels in, logits out) and batch-1 latencies from PNG bytes."""
    model.export(str(path), verbose=False)
    served = tf.saved_model.load(str(path))
    encoded = tf.constant(image_bytes)

    def pixels():  # what image_dataset_from_directory does to a file
        image = tf.io.decode_image(encoded, channels=3, expand_animations=False)
        return tf.image.resize(image, size)[None]

    return {
        "saved_model_bytes": dir_bytes(path),
        "param_bytes": param_bytes(model),
        "saved_model_latency": latency(lambda: served.serve(pixels()), calls),
        "keras_call_latency": latency(lambda: model(pixels(), training=False), calls),
        "keras_predict_latency": latency(lambda: model.predict(pixels(), verbose=0), PREDICT_CALLS),
        "saved_model_input": "float pixels (the client decodes and resizes, timed)",
    }

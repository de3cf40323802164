"""Long texts (``--long-text truncate|window``): how a text becomes windows, the windows' mean,
the recipe's row, the export's record, and bad input refused in one line before anything is
written."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import error_line, refused
from tests.text_fixtures import write_csv
from tfxfer.config import TrainConfig
from tfxfer.data import demo
from tfxfer.errors import TfxferError
from tfxfer.recipe import Facts, decide, format_table


@pytest.fixture(scope="module")
def minilm_preprocessor():
    import keras_hub

    return keras_hub.models.TextClassifierPreprocessor.from_preset(str(demo.minilm_dir()), sequence_length=16)


def test_a_long_text_becomes_windows_of_the_sequence_length_every_stride(minilm_preprocessor):
    import tensorflow as tf

    from tfxfer.models.layers import Windowing

    tokenizer = minilm_preprocessor.tokenizer
    cls, sep = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    layer = Windowing.around(minilm_preprocessor, tf.constant(["x"]), stride=5, max_windows=4)
    assert (layer.window, layer.stride, layer.max_windows) == (14, 5, 4)  # 16 less [CLS] and [SEP]
    letters = " ".join("abcdefghijklmnopqrstu")  # 21 tokens: windows at 0, 5, then the last ends at 21
    alphabet = " ".join("abcdefghijklmnopqrstuvwxyz" * 2)  # 52 tokens: 4 windows at most
    texts = ["", "a short one", letters, alphabet]
    encoded, rows = tf.function(layer)(tf.constant(texts))
    ids = encoded["token_ids"].numpy()
    assert rows.numpy().tolist() == [0, 1, 2, 2, 2, 3, 3, 3, 3]
    assert ids.shape == (9, 16) and set(encoded) == {"token_ids", "padding_mask", "segment_ids"}
    assert ids[0, :2].tolist() == [cls, sep] and encoded["padding_mask"].numpy()[0].sum() == 2  # an empty text
    short = np.asarray(tokenizer("a short one")).tolist()
    assert ids[1, :len(short) + 2].tolist() == [cls, *short, sep]
    tokens = np.asarray(tokenizer(letters)).tolist()
    assert [ids[i, 1:15].tolist() for i in (2, 3, 4)] == [tokens[0:14], tokens[5:19], tokens[7:21]]
    assert all(ids[i, 0] == cls and ids[i, 15] == sep for i in range(2, 9))
    long = np.asarray(tokenizer(alphabet)).tolist()
    assert [ids[i, 1:15].tolist() for i in range(5, 9)] == [long[s:s + 14] for s in (0, 5, 10, 15)]  # capped at 4


def test_a_windowed_model_averages_its_windows_and_reloads_the_same(tiny_preset, tmp_path):
    import keras
    import tensorflow as tf

    from tfxfer.models.builders import build_text_classifier

    model = build_text_classifier(f"kerashub:{tiny_preset}", 3, sequence_length=8, long_text="window",
                                  window_stride=3)
    texts = tf.constant(["the film was great", "the film was great and the story was awful and the cast was dull "
                                               "and the ending was brilliant", ""])
    windows = keras.Model(model.inputs, model.get_layer("cls_pool").output).predict(texts, verbose=0)
    means = keras.Model(model.inputs, model.get_layer("window_mean").output).predict(texts, verbose=0)
    _, rows = tf.function(model.get_layer("windowing"))(texts)
    rows = rows.numpy()
    assert np.bincount(rows).tolist()[0] == 1 and np.bincount(rows)[1] > 3
    np.testing.assert_allclose(means, np.stack([windows[rows == i].mean(0) for i in range(3)]), atol=1e-6)
    # the head is linear up to its softmax: the features' mean gives the mean of the windows' logits
    dense = model.head[-1]
    logits = windows @ dense.kernel.numpy() + dense.bias.numpy()
    mean_logits = np.stack([logits[rows == i].mean(0) for i in range(3)])
    expected = np.exp(mean_logits) / np.exp(mean_logits).sum(1, keepdims=True)
    probabilities = model.predict(texts, verbose=0)
    np.testing.assert_allclose(probabilities, expected, atol=1e-5)
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(loaded.predict(texts, verbose=0), probabilities, atol=1e-6)
    assert loaded.get_layer("windowing").get_config()["stride"] == 3


def test_the_recipe_reads_windows_when_many_texts_are_longer_than_the_model():
    lengths = np.array([100] * 80 + [900] * 20)  # 20% longer than MiniLM's 512
    decided = decide(Facts("text", 100, 2, True, token_lengths=lengths, max_length=512), {})
    assert decided["sequence_length"].value == 512 and decided["long_text"].value == "window"
    assert decided["long_text"].why.startswith("20 of your 100 training texts (20.0%) are longer than 512 tokens "
                                               "(the model's maximum), more than 10%")
    assert "long_text                window" in format_table(decided, "auto")
    few = decide(Facts("text", 100, 2, True, token_lengths=np.array([100] * 95 + [900] * 5), max_length=512), {})
    assert few["long_text"].value == "truncate" and "(5.0%)" in few["long_text"].why
    # a sequence length set by you is the one texts are compared with; --long-text set by you wins
    short = decide(Facts("text", 100, 2, True, token_lengths=lengths, max_length=512), {"sequence_length": 64})
    assert short["long_text"].value == "window" and "longer than 64 tokens," in short["long_text"].why
    mine = decide(Facts("text", 100, 2, True, token_lengths=lengths, max_length=512), {"long_text": "truncate"})
    assert mine["long_text"].value == "truncate" and mine["long_text"].by_user
    pairs = decide(Facts("text", 100, 2, True, token_lengths=lengths, max_length=512, text_pairs=True), {})
    assert pairs["long_text"].value == "truncate" and "sentence pairs" in pairs["long_text"].why
    assert decide(Facts("text", 100, 2, True), {}, "fixed")["long_text"].value == "truncate"


def test_a_multi_label_windowed_model_keeps_each_class_largest_probability_over_the_windows(tiny_preset, tmp_path):
    """A label present in any window is the text's: the head runs on every window and each class
    keeps its largest probability; the feature cache still holds one row per text, and an empty
    text (one window) and a long one capped at max_windows both work."""
    import keras
    import tensorflow as tf

    from tfxfer.finetune.feature_cache import _head_split
    from tfxfer.models.builders import build_text_classifier

    model = build_text_classifier(f"kerashub:{tiny_preset}", 4, sequence_length=8, long_text="window",
                                  window_stride=3, max_windows=5, labels="multi")
    assert [layer.name for layer in model.head] == ["head_dropout", "classifier", "window_max"]
    texts = tf.constant(["the film was great", "the film was great and the story was awful and the cast was dull "
                                               "and the ending was brilliant and long", "", "a b"])
    windows = keras.Model(model.inputs, model.get_layer("cls_pool").output).predict(texts, verbose=0)
    _, rows = tf.function(model.get_layer("windowing"))(texts)
    rows = rows.numpy()
    assert np.bincount(rows).tolist() == [1, 5, 1, 1]  # the long text capped at max_windows
    dense = model.get_layer("classifier")
    per_window = 1 / (1 + np.exp(-(windows @ dense.kernel.numpy() + dense.bias.numpy())))
    expected = np.stack([per_window[rows == i].max(0) for i in range(4)])
    probabilities = model.predict(texts, verbose=0)
    np.testing.assert_allclose(probabilities, expected, atol=1e-5)
    extractor, head = _head_split(model)
    stacked = extractor.predict(texts, verbose=0)
    assert stacked.shape == (4, 5, windows.shape[1])  # one row per text: its windows, repeated to fill 5 slots
    np.testing.assert_allclose(head.predict(stacked, verbose=0), probabilities, atol=1e-5)
    with pytest.raises(TfxferError, match="keeps one vector per window"):
        model.embedder()
    model.save(tmp_path / "m.keras")
    np.testing.assert_allclose(keras.saving.load_model(tmp_path / "m.keras").predict(texts, verbose=0),
                               probabilities, atol=1e-6)


def test_the_export_records_how_it_reads_long_texts(tiny_preset, tmp_path):
    import json

    from tfxfer.models.builders import build_text_classifier
    from tfxfer.serving.export import export_saved_model

    model = build_text_classifier(f"kerashub:{tiny_preset}", 2, sequence_length=12, long_text="window",
                                  max_windows=3, class_names=["neg", "pos"])
    path = export_saved_model(model, tmp_path, "long")
    info = json.loads((path / "assets" / "tfxfer.json").read_text())
    assert info["long_text"] == {"mode": "window", "window_tokens": 10, "stride": 5, "max_windows": 3,
                                 "aggregation": "mean"}
    tagged = build_text_classifier(f"kerashub:{tiny_preset}", 3, sequence_length=12, long_text="window",
                                   max_windows=3, class_names=["a", "b", "c"], labels="multi")
    tagged.thresholds = [0.5, 0.5, 0.5]
    path = export_saved_model(tagged, tmp_path, "long_tags")
    assert json.loads((path / "assets" / "tfxfer.json").read_text())["long_text"]["aggregation"] == "max"


def test_bad_long_text_settings_are_refused_in_one_line(tiny_preset, tmp_path):
    required = {"backbone": "kerashub:x", "train": "t.csv"}
    with pytest.raises(TfxferError, match="--long-text must be one of truncate, window, got 'slide'"):
        TrainConfig(**required, long_text="slide")
    from tfxfer.models.builders import build_text_classifier

    with pytest.raises(TfxferError, match="needs a kerashub: backbone"):
        build_text_classifier("tfhub:/no/such/encoder", 2, preprocessor="tfhub:/no/such", long_text="window")

    texts = write_csv(tmp_path / "reviews.csv", [(f"the film was great number {i}", "pos" if i % 2 else "neg")
                                                 for i in range(20)])
    pairs = tmp_path / "pairs.csv"
    pairs.write_text("a,b,label\nx,y,same\n")
    output, exported = tmp_path / "run", tmp_path / "exported"
    common = ["--backbone", f"kerashub:{tiny_preset}", "--train", str(texts), "--output", str(output),
              "--export-dir", str(exported)]
    cases = [
        ([*common, "--long-text", "slide"], "--long-text must be one of truncate, window, got 'slide'"),
        ([*common, "--long-text", "window", "--window-stride", "0"], "--window-stride must be >= 1, got 0"),
        ([*common, "--long-text", "window", "--sequence-length", "32", "--window-stride", "31"],
         "--window-stride must be in (0, 30], the tokens of a window at --sequence-length 32"),
        # against the sequence length the recipe decides (16 for these short texts)
        ([*common, "--long-text", "window", "--window-stride", "15"],
         "--window-stride must be in (0, 14], the tokens of a window at --sequence-length 16"),
        ([*common, "--window-stride", "8"], "--window-stride is for --long-text window: pass --long-text window"),
        ([*common, "--image-size", "96"], "--image-size 96 is for image models; a text model reads --sequence-length"),
        ([*common, "--long-text", "truncate", "--max-windows", "4"], "--max-windows is for --long-text window"),
        ([*common, "--long-text", "window", "--max-windows", "0"], "--max-windows must be between 1 and 256, got 0"),
        ([*common[:2], "--train", str(pairs), "--text-column", "a,b", "--long-text", "window"],
         "--long-text window reads one text a row; sentence pairs (--text-column a,b) are truncated"),
        ([*common[:2], "--train", str(tmp_path), "--long-text", "window"], "--long-text, --window-stride and "
                                                                          "--max-windows are for text models"),
    ]
    results = refused("tfxfer.train", cases, tmp_path)
    assert "got 31" in error_line(results[2])
    assert not output.exists() and not exported.exists()  # nothing written

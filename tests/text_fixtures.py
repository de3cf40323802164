"""Text-only fixtures: real files and small real models, built once per test session.

- ``sentiment_csvs``: train/val CSVs of short English sentences whose label a small model
  can learn in one epoch (the adjective decides it);
- ``tiny_preset``: a 2-layer BERT with a WordPiece vocabulary written from those texts,
  saved as a local KerasHub preset (``kerashub:DIR``);
- ``tfhub_bert``: the same kind of BERT exported in TF Hub's format, an encoder SavedModel and
  its matching preprocessing SavedModel (``input_word_ids``/``input_mask``/``input_type_ids`` ->
  ``pooled_output``/``sequence_output``), the way TF Hub's BERT models are laid out;
- ``rotten_tomatoes_split``: a seeded, stratified subset of the real Rotten Tomatoes snippets
  (train and held-out test CSVs) for the slow MiniLM test.
"""

from __future__ import annotations

import collections
import csv
import random
import re
from pathlib import Path

import pytest

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
_POSITIVE = ["great", "wonderful", "moving", "brilliant", "funny", "charming", "superb", "delightful"]
_NEGATIVE = ["awful", "boring", "dull", "terrible", "clumsy", "tedious", "bland", "dreadful"]
_SUBJECTS = ["the film", "this movie", "the story", "the acting", "the ending", "the script",
             "the cast", "the plot", "the music", "the director's work"]
_FRAMES = ["{s} was {a}.", "i thought {s} was {a}", "honestly, {s} is {a} from start to end",
           "{s}? simply {a}", "everyone says {s} felt {a}", "{s} looked {a} to me"]


def sentiment_rows(n: int, seed: int) -> list[tuple[str, str]]:
    """``n`` (text, label) rows, half "pos" and half "neg"; the adjective decides the label."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        label = "pos" if i % 2 == 0 else "neg"
        adjective = rng.choice(_POSITIVE if label == "pos" else _NEGATIVE)
        rows.append((rng.choice(_FRAMES).format(s=rng.choice(_SUBJECTS), a=adjective), label))
    rng.shuffle(rows)
    return rows


def write_csv(path: Path, rows, header=("text", "label")) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def write_vocabulary(path: Path, texts) -> list[str]:
    """A lower-case WordPiece vocabulary: special tokens, every character (alone and as a
    ``##`` continuation) and every whole word of ``texts``."""
    words = collections.Counter(w for t in texts for w in re.findall(r"\w+|[^\w\s]", t.lower()))
    chars = sorted({c for w in words for c in w})
    vocabulary = SPECIAL_TOKENS + chars + [f"##{c}" for c in chars] + sorted(w for w in words if w not in chars)
    path.write_text("".join(f"{token}\n" for token in vocabulary), encoding="utf-8")
    return vocabulary


def tiny_bert(vocabulary_size: int, seed: int = 0):
    """A 2-layer, 32-wide KerasHub BERT with random weights."""
    import keras
    import keras_hub

    keras.utils.set_random_seed(seed)
    return keras_hub.models.BertBackbone(
        vocabulary_size=vocabulary_size, num_layers=2, num_heads=2, hidden_dim=32,
        intermediate_dim=64, max_sequence_length=64,
    )


@pytest.fixture(scope="session")
def sentiment_csvs(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("sentiment")
    return {
        "train": write_csv(root / "train.csv", sentiment_rows(192, seed=1)),
        "val": write_csv(root / "val.csv", sentiment_rows(64, seed=2)),
    }


@pytest.fixture(scope="session")
def tiny_vocabulary(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("vocab") / "vocab.txt"
    texts = [t for seed in (1, 2, 3) for t, _ in sentiment_rows(400, seed)]
    write_vocabulary(path, texts + ["the check sentences of the export: a second, longer sentence"])
    return path


@pytest.fixture(scope="session")
def tiny_preset(tmp_path_factory, tiny_vocabulary) -> Path:
    """A local KerasHub preset: a 2-layer BERT, its tokenizer and classifier preprocessor."""
    import keras_hub

    vocabulary = tiny_vocabulary.read_text(encoding="utf-8").split()
    preset = tmp_path_factory.mktemp("presets") / "tiny_bert"
    tiny_bert(len(vocabulary)).save_to_preset(str(preset))
    tokenizer = keras_hub.models.BertTokenizer(vocabulary=vocabulary, lowercase=True)
    keras_hub.models.BertTextClassifierPreprocessor(tokenizer, sequence_length=32).save_to_preset(str(preset))
    return preset


def _export_tfhub_pair(root: Path, vocab_file: Path, sequence_length: int = 32) -> tuple[Path, Path]:
    import tensorflow as tf
    import tensorflow_text as tf_text

    vocabulary = vocab_file.read_text(encoding="utf-8").split()
    cls_id, sep_id = vocabulary.index("[CLS]"), vocabulary.index("[SEP]")

    class PackInputs(tf.Module):
        """TF Hub's ``bert_pack_inputs`` subobject (tensorflow/models export_tfhub_lib's
        BertPackInputsSavedModelWrapper): 1 or 2 segments of ragged int32 token ids (ragged rank
        1 or 2), trimmed round-robin to fit, packed [CLS] a [SEP] b [SEP] with type ids 0 then 1,
        padded to ``seq_length`` (an optional keyword, traced as a scalar int32 tensor)."""

        def __init__(self):
            super().__init__()

            @tf.function(autograph=False)
            def call(inputs, seq_length=sequence_length):
                segments = [tf.cast(s.merge_dims(-2, -1) if s.ragged_rank == 2 else s, tf.int64) for s in inputs]
                trimmed = tf_text.RoundRobinTrimmer(seq_length - 1 - len(segments)).trim(segments)
                ids, type_ids = tf_text.combine_segments(trimmed, cls_id, sep_id)
                word_ids, mask = tf_text.pad_model_inputs(ids, seq_length)
                type_ids, _ = tf_text.pad_model_inputs(type_ids, seq_length)
                return {"input_word_ids": tf.cast(word_ids, tf.int32), "input_mask": tf.cast(mask, tf.int32),
                        "input_type_ids": tf.cast(type_ids, tf.int32)}

            self.__call__ = call
            for ragged_rank in (1, 2):
                for segments in (1, 2):
                    call.get_concrete_function(
                        [tf.RaggedTensorSpec([None] * (ragged_rank + 1), tf.int32) for _ in range(segments)],
                        seq_length=tf.TensorSpec([], tf.int32))

    class Preprocessor(tf.Module):
        """TF Hub's BERT preprocessing: strings -> input_word_ids, input_mask, input_type_ids;
        and its subobjects for sentence pairs, ``tokenize`` (strings -> ragged int32 [batch,
        words, wordpieces]) and ``bert_pack_inputs`` (:class:`PackInputs`)."""

        def __init__(self):
            super().__init__()
            self.vocab_file = tf.saved_model.Asset(str(vocab_file))
            self.table = tf.lookup.StaticHashTable(
                tf.lookup.TextFileInitializer(
                    self.vocab_file, tf.string, tf.lookup.TextFileIndex.WHOLE_LINE,
                    tf.int64, tf.lookup.TextFileIndex.LINE_NUMBER,
                ),
                default_value=-1,
            )
            self.tokenizer = tf_text.BertTokenizer(self.table, lower_case=True, token_out_type=tf.int64)
            self.bert_pack_inputs = PackInputs()

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
        def tokenize(self, text):
            return tf.cast(self.tokenizer.tokenize(text), tf.int32)

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
        def __call__(self, text):
            tokens = self.tokenizer.tokenize(text).merge_dims(-2, -1)[:, : sequence_length - 2]
            ids, type_ids = tf_text.combine_segments([tokens], cls_id, sep_id)
            word_ids, mask = tf_text.pad_model_inputs(ids, sequence_length)
            type_ids, _ = tf_text.pad_model_inputs(type_ids, sequence_length)
            return {"input_word_ids": tf.cast(word_ids, tf.int32), "input_mask": tf.cast(mask, tf.int32),
                    "input_type_ids": tf.cast(type_ids, tf.int32)}

    class Encoder(tf.Module):
        """TF Hub's BERT encoder: a dict of int32 [N, L] -> pooled_output, sequence_output."""

        def __init__(self, backbone):
            super().__init__()
            # The tf.Variables themselves (dropout seed states included), each saved once;
            # the Keras model is called through a closure so that it is not saved a second time.
            self.weights = [v.value for v in backbone.variables]
            self._backbone = lambda inputs, training: backbone(inputs, training=training)

        @tf.function
        def __call__(self, inputs, training=False):
            outputs = self._backbone(
                {"token_ids": inputs["input_word_ids"], "segment_ids": inputs["input_type_ids"],
                 "padding_mask": inputs["input_mask"]},
                training=training,
            )
            return {"pooled_output": outputs["pooled_output"], "sequence_output": outputs["sequence_output"]}

    spec = {k: tf.TensorSpec([None, None], tf.int32, name=k)
            for k in ("input_word_ids", "input_mask", "input_type_ids")}
    encoder = Encoder(tiny_bert(len(vocabulary), seed=1))
    for training in (False, True):  # TF Hub's reusable SavedModels trace both modes
        encoder.__call__.get_concrete_function(spec, training=training)
    encoder_dir, preprocessor_dir = root / "bert_encoder", root / "bert_preprocess"
    tf.saved_model.save(encoder, str(encoder_dir))
    tf.saved_model.save(Preprocessor(), str(preprocessor_dir))
    return encoder_dir, preprocessor_dir


@pytest.fixture(scope="session")
def tfhub_bert(tmp_path_factory, tiny_vocabulary) -> dict[str, Path]:
    """{"encoder": DIR, "preprocessor": DIR}: a TF-Hub-format BERT pair on disk."""
    encoder, preprocessor = _export_tfhub_pair(tmp_path_factory.mktemp("tfhub"), tiny_vocabulary)
    return {"encoder": encoder, "preprocessor": preprocessor}


@pytest.fixture(scope="session")
def rotten_tomatoes_split(tmp_path_factory) -> dict[str, Path]:
    """A seeded, stratified subset of Rotten Tomatoes: 600 train, 400 held-out test rows."""
    from tfxfer.data import demo

    with open(demo.rotten_tomatoes_csv(), newline="", encoding="utf-8") as f:
        rows = [(r["text"], r["label"]) for r in csv.DictReader(f)]
    rng = random.Random(0)
    by_label = collections.defaultdict(list)
    for row in rows:
        by_label[row[1]].append(row)
    train, test = [], []
    for label_rows in by_label.values():
        rng.shuffle(label_rows)
        share = len(label_rows) / len(rows)
        n_train, n_test = round(600 * share), round(400 * share)
        train += label_rows[:n_train]
        test += label_rows[n_train:n_train + n_test]
    rng.shuffle(train)
    rng.shuffle(test)
    root = tmp_path_factory.mktemp("rotten_tomatoes")
    return {"train": write_csv(root / "train.csv", train), "test": write_csv(root / "test.csv", test)}

"""Sentence pairs (``--text-column a,b``): the two columns parsed and read, bad input refused in
one line, and the pair packed by the backbone's own preprocessor (the real MiniLM's)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.text_fixtures import write_csv
from tfxfer.cli.exit_status import run_main
from tfxfer.config import TrainConfig, text_columns
from tfxfer.data import demo
from tfxfer.data.sources import read_inputs_file, read_text_splits
from tfxfer.errors import TfxferError

ROWS = [("a man plays a guitar", "a person plays music", "entailment"),
        ("a dog runs in the park", "a cat sleeps indoors", "contradiction"),
        ("two kids eat lunch", "children are eating", "entailment"),
        ("a woman rides a horse", "nobody is riding", "contradiction")] * 3


def test_text_column_names_one_column_or_a_pair():
    assert text_columns("text") == ("text",)
    assert text_columns(" premise , hypothesis ") == ("premise", "hypothesis")
    for bad in ("a,", ",b", "a,a", "a,b,c", ""):
        with pytest.raises(ValueError, match="two different ones for sentence pairs"):
            text_columns(bad)
    with pytest.raises(TfxferError, match=r"--text-column must name one text column .* got 'q,q'"):
        TrainConfig(backbone="kerashub:x", train="x.csv", text_column="q,q")
    assert TrainConfig(backbone="kerashub:x", train="x.csv", text_column="q, a").text_column == "q,a"


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".jsonl"])
def test_pairs_are_read_from_both_columns_and_a_row_missing_either_text_is_left_out(tmp_path, suffix, caplog):
    rows = [*ROWS, ("a lone premise", "", "entailment")]
    path = tmp_path / f"nli{suffix}"
    if suffix == ".jsonl":
        path.write_text("".join(json.dumps({"premise": a, "hypothesis": b, "label": y}) + "\n" for a, b, y in rows))
    else:
        delimiter = "\t" if suffix == ".tsv" else ","
        path.write_text("".join(delimiter.join(row) + "\n" for row in [("premise", "hypothesis", "label"), *rows]))
    splits = read_text_splits(str(path), str(path), text_column="premise,hypothesis")
    assert splits.class_names == ["contradiction", "entailment"]
    assert splits.val.inputs == [a for a, _, _ in ROWS] and splits.val.pairs == [b for _, b, _ in ROWS]
    assert len(splits.train.pairs) == len(splits.train.inputs)  # the val split keeps each pair together
    train_pairs = dict(zip(splits.train.inputs, splits.train.pairs, strict=True))
    assert all(train_pairs[a] == b for a, b, _ in ROWS if a in train_pairs)
    assert "1 row(s) with empty text or label are left out" in caplog.text
    # To predict on, an empty second text is allowed: the pair packs as [CLS] a [SEP] [SEP].
    inputs = read_inputs_file(str(path), "text", "premise,hypothesis")
    assert inputs[-1] == ("a lone premise", "") and inputs[0] == ROWS[0][:2]


def test_a_missing_pair_column_is_one_line_naming_the_columns_found(tmp_path, capsys):
    train = write_csv(tmp_path / "nli.csv", ROWS, header=("premise", "hypothesis", "label"))
    out = tmp_path / "run"
    argv = ["--backbone", f"kerashub:{demo.minilm_dir()}", "--train", str(train), "--text-column", "premise,answer",
            "--output", str(out), "--export-dir", str(tmp_path / "exported")]
    for extra in ([], ["--task", "text"]):  # the task inferred from the file, or given
        from tfxfer.train import main

        assert run_main("tfxfer.train", main, argv + extra) == 2
        line, = capsys.readouterr().err.strip().splitlines()
        assert "'answer'" in line and "premise" in line and "hypothesis" in line and "label" in line, line
    assert not out.exists() and not (tmp_path / "exported").exists()
    jsonl = tmp_path / "nli.jsonl"
    jsonl.write_text(json.dumps({"premise": "a", "label": "x"}) + "\n")
    with pytest.raises(TfxferError, match=r"line 1 has no 'hypothesis' key; it has 'premise', 'label'"):
        read_text_splits(str(jsonl), text_column="premise,hypothesis")


def test_tfhub_encoders_refuse_pairs_by_name():
    from tfxfer.models.builders import build_text_classifier

    with pytest.raises(TfxferError, match="need a kerashub: backbone.*bert_pack_inputs"):
        build_text_classifier("tfhub:/no/such/encoder", 2, preprocessor="tfhub:/no/such/preprocessor",
                              text_pair=True)


@pytest.fixture(scope="module")
def minilm_preprocessor():
    import keras_hub

    return keras_hub.models.TextClassifierPreprocessor.from_preset(str(demo.minilm_dir()), sequence_length=16)


def test_minilm_packs_a_pair_as_cls_a_sep_b_sep_with_segment_ids(minilm_preprocessor):
    import tensorflow as tf

    from tfxfer.models.layers import Tokenizing

    tokenizer = minilm_preprocessor.tokenizer
    layer = Tokenizing(minilm_preprocessor, {})
    packed = layer((tf.constant(["who wrote hamlet", "a dog runs"]), tf.constant(["shakespeare did", ""])))
    ids, segments = packed["token_ids"].numpy(), packed["segment_ids"].numpy()
    cls, sep = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    first, second = (np.asarray(tokenizer(text)).tolist() for text in ("who wrote hamlet", "shakespeare did"))
    length = len(first) + len(second) + 3
    assert ids[0, :length].tolist() == [cls, *first, sep, *second, sep]
    assert segments[0, :length].tolist() == [0] * (len(first) + 2) + [1] * (len(second) + 1)
    assert packed["padding_mask"].numpy()[0].sum() == length
    # An empty second text: [CLS] a [SEP] [SEP], the last [SEP] in segment 1.
    dog = np.asarray(tokenizer("a dog runs")).tolist()
    assert ids[1, :len(dog) + 3].tolist() == [cls, *dog, sep, sep]
    assert segments[1, :len(dog) + 3].tolist() == [0] * (len(dog) + 2) + [1]


def test_the_recipe_counts_the_packed_pair(tmp_path):
    from tfxfer.recipe import Facts, decide
    from tfxfer.recipe.facts import token_lengths

    backbone = f"kerashub:{demo.minilm_dir()}"
    texts, pairs = ["who wrote hamlet"] * 10, ["shakespeare did, in about 1600"] * 10
    alone = token_lengths(backbone, texts)
    packed = token_lengths(backbone, texts, pairs)
    assert np.all(packed == alone + token_lengths(backbone, pairs) - 1)  # one [CLS] less, the [SEP]s kept
    decided = decide(Facts("text", 10, 2, True, token_lengths=packed, text_pairs=True), {})
    assert decided["sequence_length"].value == 16
    assert "sentence pairs, both texts packed as [CLS] a [SEP] b [SEP]" in decided["sequence_length"].why


def _pair_version(root):
    """A version directory as far as its assets say: a sentence-pair text model."""
    assets = root / "1" / "assets"
    assets.mkdir(parents=True)
    (assets / "tfxfer.json").write_text(json.dumps({"task": "text", "inputs": ["text", "text_pair"],
                                                    "classes": ["different", "same"]}))
    return root / "1"


def test_a_pair_model_and_a_single_text_model_never_share_a_name(tmp_path):
    from tfxfer.serving.export import check_export_matches, serving_inputs

    _pair_version(tmp_path / "nli")
    classes = ["different", "same"]
    check_export_matches(tmp_path / "nli", "text", classes, inputs=serving_inputs("text", text_pair=True))
    with pytest.raises(TfxferError, match="takes inputs text, text_pair, this model text: pass --name"):
        check_export_matches(tmp_path / "nli", "text", classes, by_user=True)


def test_predict_takes_a_pair_models_texts_two_by_two(tmp_path):
    from tfxfer.predict import _paired
    from tfxfer.serving.servable import Servable, encoded_inputs

    pair = Servable(tmp_path, "text", ["different", "same"], {}, signature=None, input_keys=("text", "text_pair"))
    assert _paired(pair, ["a", "b", "c", ""]) == [("a", "b"), ("c", "")]
    with pytest.raises(TfxferError, match=r"two by two, TEXT TEXT_PAIR \(got 3 strings"):
        _paired(pair, ["a", "b", "c"])
    with pytest.raises(TfxferError, match="sentence-pair model: it takes two texts an example"):
        encoded_inputs(pair, ["a lone text"])
    single = Servable(tmp_path, "text", ["neg", "pos"], {}, signature=None)
    assert _paired(single, ["a", "b", "c"]) == ["a", "b", "c"] and not single.text_pair


def test_the_local_model_server_refuses_a_pair_model_before_loading_it(tmp_path):
    from tfxfer.serving.served_model import BatchingOptions, LoadedVersion

    with pytest.raises(TfxferError, match=r"a sentence-pair model \(inputs text, text_pair\): tfxfer.serve serves "
                                          r"one-input models; use TF Serving"):
        LoadedVersion.load("nli", _pair_version(tmp_path / "nli"), BatchingOptions())


def test_an_empty_text_file_says_what_it_should_hold(tmp_path):
    empty = tmp_path / "train.csv"
    empty.write_text("")
    with pytest.raises(TfxferError) as raised:
        read_text_splits(str(empty), text_column="question,answer", label_column="match")
    assert str(raised.value) == (f"train file {empty} is empty: it needs a header naming its columns "
                                 f"(question,answer and match) and a row an example")

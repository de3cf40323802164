"""Sentence pairs (``--text-column a,b``): the two columns parsed and read, bad input refused in
one line, and the pair packed by the backbone's own preprocessor (the real MiniLM's)."""

from __future__ import annotations

import dataclasses
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
    for bad, expected in ((["--text-column", "premise", "--pair-encoding", "siamese"],
                           "--pair-encoding siamese is for sentence pairs: name two text columns"),
                          (["--text-column", "premise,hypothesis", "--pair-encoding", "apart"],
                           "--pair-encoding must be one of packed, siamese, got 'apart'")):
        assert run_main("tfxfer.train", main, [*argv[:4], *bad, *argv[6:]]) == 2
        line, = capsys.readouterr().err.strip().splitlines()
        assert expected in line, line
    assert not out.exists() and not (tmp_path / "exported").exists()
    jsonl = tmp_path / "nli.jsonl"
    jsonl.write_text(json.dumps({"premise": "a", "label": "x"}) + "\n")
    with pytest.raises(TfxferError, match=r"line 1 has no 'hypothesis' key; it has 'premise', 'label'"):
        read_text_splits(str(jsonl), text_column="premise,hypothesis")


def test_a_packed_pair_model_has_no_embedding_of_one_text():
    from tfxfer.models.builders import build_text_classifier

    packed = build_text_classifier(f"kerashub:{demo.minilm_dir()}", 2, pooling="mean", sequence_length=16,
                                   text_pair=True)
    with pytest.raises(TfxferError, match=r"packs its two texts into one sequence .* --pair-encoding siamese"):
        packed.embedder()


def test_a_header_that_is_a_comment_or_holds_tabs_is_told_so(tmp_path):
    """Raw research files (WordSim-353's .tsv) open with '#' lines: the missing-column message
    says the first line was read as the header."""
    from tfxfer.config import infer_task

    raw = "# The WordSimilarity-353 Test Collection\n# Word 1\tWord 2\tHuman (mean)\nlove\tsex\t6.77\n"
    tsv = tmp_path / "wordsim.tsv"
    tsv.write_text(raw)
    with pytest.raises(TfxferError, match=r"has no 'word1' column; .*first line starts with '#': comment lines "
                                          r"are not skipped"):
        read_text_splits(str(tsv), text_column="word1,word2")
    csv_file = tmp_path / "wordsim.csv"
    csv_file.write_text(raw.replace("\t", ","))
    with pytest.raises(TfxferError, match="comment lines are not skipped, the first line is the header"):
        infer_task(str(csv_file), "word1,word2")
    tabs = tmp_path / "tabs.csv"
    tabs.write_text("word1\tword2\tscore\nlove\tsex\t6.77\n")
    with pytest.raises(TfxferError, match="its header holds tabs: a tab-separated file is read as one when its "
                                          "name ends in .tsv"):
        read_text_splits(str(tabs), text_column="word1,word2", label_column="score")
    with pytest.raises(TfxferError) as plain:  # a header without '#': no such hint
        read_text_splits(str(write_csv(tmp_path / "ok.csv", ROWS, ("a", "b", "label"))), text_column="x,b")
    assert "comment" not in str(plain.value)


def test_a_tfhub_encoder_packs_pairs_with_its_preprocessors_own_bert_pack_inputs(tfhub_bert, tiny_vocabulary,
                                                                                 tmp_path):
    """TF Hub's two-segment recipe (its ``tokenize``, then ``bert_pack_inputs`` with
    ``seq_length``), on a preprocessing SavedModel with TF Hub's interface: [CLS] a [SEP] b [SEP],
    type ids 0 then 1, trimmed round-robin; the model trains through it, reloads from a .keras
    file and exports for TF Serving. Siamese reads each text with the plain preprocessor."""
    import keras
    import tensorflow as tf

    from tfxfer.models.builders import build_text_classifier
    from tfxfer.serving.export import export_saved_model

    backbone, preprocessor = f"tfhub:{tfhub_bert['encoder']}", f"tfhub:{tfhub_bert['preprocessor']}"
    model = build_text_classifier(backbone, 2, pooling="mean", sequence_length=12, preprocessor=preprocessor,
                                  text_pair=True, class_names=["different", "same"])
    vocabulary = tiny_vocabulary.read_text(encoding="utf-8").split()
    cls, sep = vocabulary.index("[CLS]"), vocabulary.index("[SEP]")
    texts, pairs = tf.constant(["the film was great", "a b"]), tf.constant(["the story was awful", ""])
    packed = model.get_layer("tfhub_pair_packing")((texts, pairs))
    ids, types = packed["input_word_ids"].numpy(), packed["input_type_ids"].numpy()
    first, second = ([vocabulary.index(w) for w in text.split()] for text in ("the film was great",
                                                                             "the story was awful"))
    assert ids.shape == (2, 12) and ids[0].tolist() == [cls, *first, sep, *second, sep, 0]
    assert types[0].tolist() == [0] * 6 + [1] * 5 + [0]
    short = model.get_layer("tfhub_pair_packing").__class__(str(tfhub_bert["preprocessor"]), 8)
    trimmed = short((texts, pairs))["input_word_ids"].numpy()[0]  # 5 tokens left: 3 of a, 2 of b
    assert trimmed.tolist() == [cls, *first[:3], sep, *second[:2], sep]
    probabilities = model.predict((texts, pairs), verbose=0)
    assert probabilities.shape == (2, 2)
    model.save(tmp_path / "pairs.keras")
    loaded = keras.saving.load_model(tmp_path / "pairs.keras")
    np.testing.assert_allclose(loaded.predict((texts, pairs), verbose=0), probabilities, atol=1e-6)
    path = export_saved_model(model, tmp_path / "exported", "hub_pairs")  # checks the ops and the answers
    served = tf.saved_model.load(str(path)).signatures["serving_default"]
    np.testing.assert_allclose(served(text=texts, text_pair=pairs)["probabilities"].numpy(), probabilities,
                               atol=1e-5)

    siamese = build_text_classifier(backbone, 1, pooling="mean", sequence_length=12, preprocessor=preprocessor,
                                    text_pair=True, pair_encoding="siamese", labels="numeric", dropout=0.0)
    np.testing.assert_allclose(siamese.predict((texts, pairs), verbose=0), siamese.predict((pairs, texts), verbose=0),
                               atol=1e-6)
    assert siamese.embedder().predict(texts, verbose=0).shape[0] == 2


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


def test_numeric_pairs_on_a_sentence_transformers_checkpoint_read_the_texts_apart_and_say_why():
    """The recipe's pair rules: siamese for numeric labels on a checkpoint with modules.json
    (MiniLM's), packed for classes (measured both ways) and for a BERT-style checkpoint;
    siamese counts each text alone for the sequence length, and its cosine head (a scale and
    an offset) gets no dropout and starts at the least-squares line."""
    from tfxfer.recipe import Facts, decide, format_table
    from tfxfer.recipe.facts import gather

    texts, pairs = ["who wrote hamlet and when"] * 40, ["shakespeare did, in about 1600 " * 3] * 40
    facts = gather("text", f"kerashub:{demo.minilm_dir()}", texts, 1, cached=True, train_pairs=pairs,
                   labels="numeric")
    assert facts.checkpoint_pooling and facts.text_pairs and len(facts.apart_lengths) == 80
    # packed: [CLS] a [SEP] b [SEP], one [CLS] fewer than the two texts alone
    assert facts.token_lengths[0] == facts.apart_lengths[0] + facts.apart_lengths[40] - 1
    apart, packed_length = (8 * -(-int(lengths.max()) // 8) for lengths in (facts.apart_lengths, facts.token_lengths))
    assert apart < packed_length
    decided = decide(facts, {})
    assert list(decided)[:2] == ["pair_encoding", "sequence_length"]
    assert decided["pair_encoding"].value == "siamese"
    assert "the cosine of the two embeddings" in decided["pair_encoding"].why
    assert decided["sequence_length"].value == apart
    assert "80 training texts of both columns, each encoded alone" in decided["sequence_length"].why
    assert "NOTE" not in decided["pooling"].why
    assert decided["dropout"].value == 0.0 and decided["epochs"].value == 3
    assert "least-squares line" in decided["epochs"].why and decided["learning_rate"].value == 1e-3
    # Packed by the user on this checkpoint: the packed lengths, and the pooling row's NOTE.
    packed = decide(facts, {"pair_encoding": "packed"})
    assert packed["pair_encoding"].by_user and packed["sequence_length"].value == packed_length
    assert "--pair-encoding siamese reads them apart" in packed["pooling"].why
    assert packed["dropout"].value == 0.1 and packed["epochs"].value == 3
    assert "pair_encoding            packed    set by you" in format_table(packed, "auto")
    # Classes on the same checkpoint: packed, with both measurements in the reason; siamese by flag.
    classes = decide(dataclasses.replace(facts, labels="single", classes=2), {})
    assert classes["pair_encoding"].value == "packed" and "TREC question pairs" in classes["pair_encoding"].why
    assert classes["sequence_length"].value == packed_length and "NOTE" not in classes["pooling"].why
    apart_classes = decide(dataclasses.replace(facts, labels="single", classes=2), {"pair_encoding": "siamese"})
    assert apart_classes["sequence_length"].value == apart and apart_classes["dropout"].value == 0.1
    bert = decide(Facts("text", 40, 1, True, labels="numeric", text_pairs=True, token_lengths=facts.token_lengths), {})
    assert bert["pair_encoding"].value == "packed" and "next-sentence prediction" in bert["pair_encoding"].why
    assert "pair_encoding" not in decide(Facts("text", 40, 2, True), {})


@pytest.fixture(scope="module")
def siamese_models():
    from tfxfer.models.builders import build_text_classifier

    backbone = f"kerashub:{demo.minilm_dir()}"
    return {labels: build_text_classifier(backbone, 1 if labels == "numeric" else 3, pooling="mean",
                                          sequence_length=16, labels=labels, text_pair=True,
                                          pair_encoding="siamese", dropout=0.0)
            for labels in ("numeric", "single")}


def test_a_siamese_model_embeds_each_text_alone_with_one_shared_encoder(siamese_models, tmp_path):
    import keras
    import tensorflow as tf

    from tfxfer.finetune.feature_cache import _head_split

    texts, pairs = tf.constant(["coast", "cup", "a dog"]), tf.constant(["shore", "coffee", "a dog"])
    regressor = siamese_models["numeric"]
    assert [layer.name for layer in regressor.head] == ["regressor", "target_scale"]
    assert regressor.head[0].get_weights()[0].tolist() == [[1.0]]  # a higher cosine, a higher target
    value = regressor((texts, pairs)).numpy()
    np.testing.assert_allclose(regressor((pairs, texts)).numpy(), value, atol=1e-6)  # the cosine is symmetric
    extractor, _ = _head_split(regressor)
    cosine = extractor((texts, pairs)).numpy()[:, 0]
    assert cosine[2] == pytest.approx(1.0, abs=1e-5) and cosine[0] > cosine[1]  # coast~shore above cup~coffee
    # The same embedding as the encoder's alone: mean pooling of MiniLM on each text.
    from tfxfer.models.backbones import load_text_backbone

    alone = load_text_backbone(f"kerashub:{demo.minilm_dir()}", "pretrained", 16, None)
    def embed(words):
        encoded = alone.preprocessor(tf.constant(words))
        sequence = alone.model({k: tf.cast(v, "int32") for k, v in encoded.items()})["sequence_output"]
        mask = tf.cast(encoded["padding_mask"], tf.float32)[..., None]
        return (tf.reduce_sum(sequence * mask, 1) / tf.reduce_sum(mask, 1)).numpy()
    u, v = embed(["coast", "cup", "a dog"]), embed(["shore", "coffee", "a dog"])
    by_hand = (u * v).sum(1) / np.linalg.norm(u, axis=1) / np.linalg.norm(v, axis=1)
    np.testing.assert_allclose(cosine, by_hand, atol=1e-5)

    classifier = siamese_models["single"]
    features = _head_split(classifier)[0]((texts, pairs)).numpy()
    assert features.shape == (3, 3 * u.shape[1])  # [u, v, |u - v|]
    np.testing.assert_allclose(features[:, :u.shape[1]], u, atol=1e-5)
    np.testing.assert_allclose(features[:, 2 * u.shape[1]:], np.abs(u - v), atol=1e-5)
    assert len({id(w) for w in classifier.backbone.weights}) == len(classifier.backbone.backbone.weights)
    # embedder(): one text's vector, the u of the pair (semantic search over a collection).
    np.testing.assert_allclose(classifier.embedder().predict(np.array(["coast", "cup", "a dog"], dtype=object),
                                                             verbose=0), u, atol=1e-5)
    # The cosine head's start: the least-squares line of the targets on the (cached) cosines.
    from tfxfer.finetune.losses import start_at_least_squares

    cosines = np.array([0.2, 0.4, 0.5, 0.7, 0.9], np.float32)
    targets = np.array([1.0, 3.1, 3.9, 6.2, 7.8], np.float32)
    regressor.target_scale = (float(targets.mean()), float(targets.std()))
    batches = tf.data.Dataset.from_tensor_slices((cosines[:, None], targets)).batch(2)
    scale, offset = start_at_least_squares(regressor, batches)
    assert (scale, offset) == pytest.approx(tuple(np.polyfit(cosines, targets, 1)), rel=1e-5)
    head = keras.Sequential([keras.Input((1,)), *regressor.head])
    np.testing.assert_allclose(head(cosines[:, None]).numpy(), scale * cosines + offset, rtol=1e-5)
    assert start_at_least_squares(classifier, batches) is None  # only the cosine head
    # The siamese classifier's export: serving_default and embed, each checked against the Keras
    # model by export_saved_model itself; tfxfer.json says how embeddings compare.
    import json

    from tfxfer.serving.export import export_saved_model

    classifier.class_names = ["a", "b", "c"]
    version = export_saved_model(classifier, tmp_path / "exported", "siamese_classes")
    info = json.loads((version / "assets" / "tfxfer.json").read_text())
    assert info["embedding"] == {"signature": "embed", "inputs": ["text"], "outputs": ["embedding"],
                                 "width": u.shape[1], "compare": "[u, v, |u - v|]"}
    embed = tf.saved_model.load(str(version)).signatures["embed"]
    np.testing.assert_allclose(embed(text=tf.constant(["coast", "cup", "a dog"]))["embedding"].numpy(), u, atol=1e-5)
    for model in siamese_models.values():  # a .keras file rebuilds the same two towers
        model.save(tmp_path / "pair.keras")
        loaded = keras.saving.load_model(tmp_path / "pair.keras")
        np.testing.assert_allclose(loaded((texts, pairs)).numpy(), model((texts, pairs)).numpy(), atol=1e-6)


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

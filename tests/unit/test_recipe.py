"""The recipe's decisions (tfxfer.recipe): from facts to settings and reasons, no training."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tfxfer.config import parse_duration
from tfxfer.finetune.budget import fit_epochs
from tfxfer.recipe import FIXED, SETTINGS, Facts, decide, format_table
from tfxfer.recipe.facts import checkpoint_pooling, max_sequence_length


def _text(**kwargs) -> Facts:
    return Facts(**{"task": "text", "examples": 2700, "classes": 2, "cached": True, **kwargs})


def test_sequence_length_covers_99_percent_rounded_to_8_and_capped():
    lengths = np.array([10] * 980 + [37] * 15 + [300] * 5)  # 99% <= 37 tokens
    choice = decide(_text(token_lengths=lengths, max_length=512), {})["sequence_length"]
    assert choice.value == 40 and "99% of your 1,000 training texts have <= 37 tokens" in choice.why
    long = decide(_text(token_lengths=np.full(100, 900), max_length=512), {})["sequence_length"]
    assert long.value == 512 and "capped at the model's maximum 512" in long.why
    short = decide(_text(token_lengths=np.full(100, 5)), {})["sequence_length"]
    assert short.value == 16 and "have <= 5 tokens (longest 5); at least 16;" in short.why  # not "rounded up"
    assert decide(_text(), {})["sequence_length"].value == 128  # no tokenizer to count with


def test_pooling_from_the_checkpoint_directory(tmp_path):
    assert checkpoint_pooling(tmp_path) is None  # a plain BERT checkpoint: no modules.json
    assert decide(_text(), {})["pooling"].value == "cls"
    (tmp_path / "modules.json").write_text(json.dumps([
        {"idx": 0, "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}]))
    assert checkpoint_pooling(tmp_path) == ("mean", "modules.json names a Pooling module, mean by default")
    (tmp_path / "1_Pooling").mkdir()
    (tmp_path / "1_Pooling" / "config.json").write_text(json.dumps({"pooling_mode_cls_token": True}))
    pooling = checkpoint_pooling(tmp_path)
    assert pooling == ("cls", "1_Pooling/config.json")
    (tmp_path / "1_Pooling" / "config.json").write_text(json.dumps({"pooling_mode_mean_tokens": True}))
    choice = decide(_text(checkpoint_pooling=checkpoint_pooling(tmp_path)), {})["pooling"]
    assert choice.value == "mean" and "1_Pooling/config.json" in choice.why
    assert "NOTE" not in choice.why
    # Sentence pairs packed by the user on a checkpoint trained to embed one text at a time: said aloud.
    pairs = decide(_text(checkpoint_pooling=checkpoint_pooling(tmp_path), text_pairs=True, labels="numeric"),
                   {"pair_encoding": "packed"})["pooling"]
    assert pairs.value == "mean" and "trained to embed each text alone" in pairs.why and "SimLex-999" in pairs.why


def test_max_sequence_length_from_hugging_face_and_kerashub_configs(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"max_position_embeddings": 512}))
    assert max_sequence_length(tmp_path) == 512
    (tmp_path / "config.json").write_text(json.dumps({"config": {"max_sequence_length": 256}}))
    assert max_sequence_length(tmp_path) == 256
    assert max_sequence_length(tmp_path / "missing") is None


def test_fine_tuning_steps_scale_with_the_data():
    def epochs(examples, replicas=1):
        return decide(_text(examples=examples, replicas=replicas), {})["fine_tune_epochs"].value

    assert epochs(9000) == 2  # 282 steps an epoch: 2 epochs reach 300 steps
    assert epochs(9600) == 1  # 300 steps in one epoch
    assert epochs(2700) == 4  # 85 steps an epoch
    assert epochs(360) == 10  # 12 steps an epoch: capped at 10 epochs, and the reason says so
    assert "capped at 10" in decide(_text(examples=360), {})["fine_tune_epochs"].why
    assert epochs(9600, replicas=2) == 2  # half the steps an epoch with twice the global batch


def test_image_fine_tuning_is_shorter_a_step_costing_the_whole_cnn():
    def epochs(examples):
        return decide(Facts("image", examples, 10, cached=True), {})["fine_tune_epochs"].value

    assert epochs(360) == 5  # 12 steps an epoch: 60 steps
    assert epochs(1800) == 2  # 57 steps an epoch: never fewer than 2 epochs
    assert epochs(90) == 5  # 3 steps an epoch: at most 5 epochs
    assert "BatchNorm statistics stay frozen" in decide(Facts("image", 360, 10, cached=True), {})[
        "fine_tune_epochs"].why


def test_head_epochs_depend_on_cached_features_and_on_fine_tuning():
    image = Facts("image", 400, 5, cached=True)
    assert decide(image, {})["epochs"].value == 100  # images: the head to convergence on cached features
    assert decide(Facts("image", 400, 5, cached=False), {})["epochs"].value == 3
    assert decide(_text(), {})["epochs"].value == 3  # text: a warm head, then the encoder fine-tunes
    assert decide(_text(), {"fine_tune_epochs": 0})["epochs"].value == 100  # no fine-tuning: the head converges


def test_mixed_precision_where_the_hardware_has_bfloat16():
    assert decide(_text(bf16="this CPU has AMX units"), {})["mixed_precision"].value is True
    assert decide(_text(bf16=None), {})["mixed_precision"].value is False


def test_depthwise_image_backbones_stay_float32_on_a_cpu():
    def precision(architecture, gpu=False):
        facts = Facts("image", 400, 5, True, bf16="AMX", gpu=gpu, architecture=architecture)
        return decide(facts, {})["mixed_precision"]

    assert precision("efficientnet_lite0").value is False and "depthwise" in precision("efficientnet_lite0").why
    assert precision("MobileNetV3Small").value is False
    assert precision("ResNet50").value is True and precision(None).value is True
    assert precision("efficientnet_lite0", gpu=True).value is True


def test_architecture_from_the_uri_or_the_checkpoint_config(tmp_path):
    from tfxfer.recipe.facts import architecture

    (tmp_path / "config.json").write_text('{"architecture": "efficientnet_lite0"}')
    assert architecture(f"kerashub:{tmp_path}") == "efficientnet_lite0"
    assert architecture("keras:MobileNetV3Small") == "MobileNetV3Small"
    assert architecture("kerashub:resnet_50_imagenet") == "resnet_50_imagenet"
    assert architecture("tfhub:https://tfhub.dev/google/imagenet/x/5") is None


def test_what_the_user_set_wins_and_is_marked():
    decided = decide(_text(token_lengths=np.full(10, 20)), {"sequence_length": 64, "epochs": 2})
    assert decided["sequence_length"].value == 64 and decided["sequence_length"].by_user
    assert decided["epochs"].value == 2 and decided["epochs"].why == "set by you"
    assert not decided["pooling"].by_user


def test_fixed_recipe_is_the_documented_constants():
    for task in ("text", "image"):
        facts = Facts(task, 5000, 3, True, bf16="AMX")
        decided = decide(facts, {}, recipe="fixed")
        assert list(decided) == list(SETTINGS[task])
        assert {k: c.value for k, c in decided.items()} == {k: v for k, v in FIXED[task].items() if k in decided}
    pairs = decide(Facts("text", 500, 3, True, text_pairs=True, checkpoint_pooling=("mean", "modules.json")), {},
                   recipe="fixed")
    assert pairs["pair_encoding"].value == "packed" and list(pairs)[0] == "pair_encoding"  # tfxfer 0.1's packing
    assert decide(Facts("image", 50, 2, True), {"epochs": 7}, recipe="fixed")["epochs"].value == 7


@pytest.mark.parametrize("task", ["text", "image"])
def test_every_setting_has_a_value_and_a_reason(task):
    decided = decide(Facts(task, 400, 5, True, bf16="AMX", token_lengths=np.full(400, 30)), {})
    assert list(decided) == list(SETTINGS[task])
    for name, choice in decided.items():
        assert choice.why, name
        assert choice.value is not None or name == "image_size", name


def test_the_printed_table():
    decided = decide(_text(token_lengths=np.full(10, 20), bf16="AMX"), {"epochs": 2})
    table = format_table(decided, "auto").splitlines()
    assert table[0] == "recipe auto: the settings of this run, and why"
    rows = {line.split()[0]: line for line in table[1:]}
    assert list(rows) == list(SETTINGS["text"])
    assert rows["epochs"].split()[1:] == ["2", "set", "by", "you"]
    assert rows["mixed_precision"].split()[1] == "on"
    assert rows["fine_tune_learning_rate"].split()[1] == "5e-05"


def test_time_budget_durations():
    assert parse_duration("10m") == 600 and parse_duration("90s") == 90 and parse_duration("1h30m") == 5400
    assert parse_duration("45") == 45 and parse_duration(" 2M ") == 120
    for bad in ("", "ten minutes", "10x", "m"):
        with pytest.raises(ValueError, match="must be a duration such as 10m"):
            parse_duration(bad)


def test_time_budget_fits_the_fine_tuning_epochs():
    batches = {"train": 100, "val": 10, "test": 30}
    # 600s budget, 60s spent, 0.5s a step: forward passes 0.5/3*(100+20+30)=25s, export 30s -> 485s left
    choice = fit_epochs(600, 60, 0.5, batches, wanted=20)
    assert choice.value == 9 and "0.50s" in choice.why and "the recipe wanted 20" in choice.why
    assert fit_epochs(600, 60, 0.5, batches, wanted=4).value == 4  # the recipe's own count fits
    assert fit_epochs(100, 90, 0.5, batches, wanted=4).value == 0  # no time left: the head alone


def test_each_reason_names_what_the_task_really_uses():
    image = decide(Facts("image", 400, 5, True), {})
    text = decide(Facts("text", 400, 5, True), {})
    assert "BERT" not in image["batch_size"].why and "BERT" in text["batch_size"].why
    assert image["learning_rate"].why.startswith("Adam ") and text["learning_rate"].why.startswith("AdamW")


def test_class_weight_balanced_from_5x_apart_with_its_reason():
    skewed = decide(_text(class_counts=(116, 113, 8)), {})["class_weight"]
    assert skewed.value == "balanced" and not skewed.by_user
    assert "your largest class has 14.5x the training examples of your smallest (116 against 8; >= 5x)" in skewed.why
    assert decide(_text(class_counts=(50, 10)), {})["class_weight"].value == "balanced"  # exactly 5x
    even = decide(_text(class_counts=(49, 10)), {})["class_weight"]
    assert even.value == "none" and "within 5x of each other in size (largest 49, smallest 10)" in even.why
    assert decide(_text(), {})["class_weight"].value == "none"  # tfds: counts unknown
    given = decide(_text(class_counts=(116, 8)), {"class_weight": "none"})["class_weight"]
    assert given.value == "none" and given.why == "set by you" and given.by_user

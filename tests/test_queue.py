"""The broker's review queue as a work queue: a tab a zone, pages, search, filters, sort (Flask test client)."""
from __future__ import annotations

import io
import re

import openpyxl
import pytest

from service import store

from .records import SUPPLIES
from .site_support import REVIEW, STRONG, crowd_the_queue, log_in, post, text

pytestmark = pytest.mark.instance("site")


def pair_ids(response) -> list[int]:
    return [int(number) for number in re.findall(r'<article class="pair" id="pair-(\d+)"', text(response))]


def tab_counts(response) -> dict[str, int]:
    return {zone: int(count) for zone, count in
            re.findall(r'data-zone="(\w+)"[^>]*>[^<]*<span class="count">(\d+)</span>', text(response))}


def every_pair(client, db, query: dict) -> list[dict]:
    """The proposals a zone lists, page after page (20 a page), in the order shown."""
    first = client.get("/queue", query_string=query)
    pages = -(-tab_counts(first)[query["zone"]] // 20)
    later = [pair_ids(client.get("/queue", query_string={**query, "page": page})) for page in range(2, pages + 1)]
    return [store.get_proposal(db, pid) for pid in pair_ids(first) + sum(later, [])]


def test_each_zone_is_a_tab_with_its_count_its_own_address_and_pages(client, db):
    crowd_the_queue(db)
    log_in(client, db, "broker")
    first = client.get("/queue")
    assert tab_counts(first) == {"strong": STRONG, "review": REVIEW, "recommended": 0, "unsure": 0}
    body = text(first)
    assert 'id="zone-strong"' in body and 'id="zone-review"' not in body and 'id="zone-recommended"' not in body
    second = client.get("/queue?zone=strong&page=2")
    assert len(pair_ids(first)) == 20 and len(pair_ids(second)) == STRONG - 20
    strong = [proposal["id"] for proposal in store.list_proposals(db, {"statuses": ("proposed",), "min_score": 0.8})]
    assert pair_ids(first) + pair_ids(second) == strong   # every pair reachable, best first, none twice
    assert 'href="/queue?page=2&amp;zone=strong"' in body or 'href="/queue?zone=strong&amp;page=2"' in body

    review = client.get("/queue?zone=review")
    assert 'id="zone-review"' in text(review) and len(pair_ids(review)) == REVIEW
    assert all(0.65 <= store.get_proposal(db, pid)["score"] < 0.8 for pid in pair_ids(review))
    assert len(pair_ids(client.get("/queue?zone=nonsense&page=999"))) == STRONG - 20  # last page of strong


def test_search_matches_enterprise_platform_and_words_of_either_title(client, db):
    crowd_the_queue(db)
    log_in(client, db, "broker")
    by_enterprise = client.get("/queue?zone=strong&q=华联")
    assert pair_ids(by_enterprise) and all(store.get_proposal(db, pid)["demand_id"] in ("D2021-101", "D2021-102")
                                           for pid in pair_ids(by_enterprise))
    assert tab_counts(by_enterprise)["strong"] == 2 * len(SUPPLIES)   # the counts follow the search

    platform = store.get_record(db, "supplies", "S2021-202")["platform"]
    by_platform = client.get("/queue", query_string={"zone": "review", "q": platform})
    assert pair_ids(by_platform) and all(store.get_proposal(db, pid)["platform"] == platform
                                         for pid in pair_ids(by_platform))

    # Two words: each must be found, one in the demand's title and one in the supply's.
    both = client.get("/queue", query_string={"q": "型腔 深度学习"})
    found = [store.get_proposal(db, pid) for pid in pair_ids(both)]
    assert [(p["demand_id"], p["supply_id"]) for p in found] == [("D2021-102", "S2021-202")]
    assert "没有强推荐配对" in text(client.get("/queue", query_string={"q": "100%_"}))  # LIKE wildcards are text
    endless = client.get("/queue", query_string={"q": " ".join(["型腔"] * 20000)})
    assert endless.status_code == 200 and pair_ids(endless)   # only the first words count


def test_filters_and_date_sort_keep_the_zone_and_the_tabs_keep_the_filters(client, db):
    crowd_the_queue(db)
    log_in(client, db, "broker")
    machines = {"zone": "strong", "cluster": "先进装备与智能制造"}   # 26 pairs: two pages
    response = client.get("/queue", query_string={**machines, "sort": "date"})
    shown = every_pair(client, db, {**machines, "sort": "date"})
    posted = [store.get_record(db, "demands", p["demand_id"]) for p in shown]
    assert len(shown) == 26 and {demand["industry_cluster"] for demand in posted} == {"先进装备与智能制造"}
    dates = [demand["posted_at"] for demand in posted]
    assert dates == sorted(dates, reverse=True) and len(set(dates)) > 1
    body = text(response)
    assert 'href="/queue?zone=recommended&amp;cluster=' in body and "sort=date" in body
    assert '<option value="date" selected>' in body
    oldest = every_pair(client, db, {**machines, "sort": "date_asc"})
    assert [p["demand_posted_at"] for p in oldest] == sorted(dates)
    weakest = [store.get_proposal(db, pid)["score"] for pid in pair_ids(client.get("/queue?zone=review&sort=score_asc"))]
    assert weakest == sorted(weakest) and len(weakest) == REVIEW


def test_deciding_on_page_two_returns_there_and_moves_the_pair_to_its_tab(client, db):
    crowd_the_queue(db)
    log_in(client, db, "broker")
    page_two = "/queue?zone=strong&page=2"
    unsure, recommended = pair_ids(client.get(page_two))[:2]
    response = post(client, f"/queue/{unsure}/decide", {"decision": "unsure", "next": page_two})
    assert response.headers["Location"] == page_two
    post(client, f"/queue/{recommended}/decide", {"decision": "recommended", "next": page_two})
    counts = tab_counts(client.get(page_two))
    assert counts == {"strong": STRONG - 2, "review": REVIEW, "recommended": 1, "unsure": 1}
    assert pair_ids(client.get("/queue?zone=unsure")) == [unsure]

    waiting = client.get("/queue?zone=recommended")
    assert pair_ids(waiting) == [recommended] and "确认为合作" in text(waiting)
    form = {"mode": "技术服务", "amount_wan": "12", "confirmed_at": "2021-05-20", "next": "/queue?zone=recommended"}
    assert post(client, f"/proposals/{recommended}/confirm", form).headers["Location"] == "/queue?zone=recommended"
    assert store.get_proposal(db, recommended)["status"] == "confirmed"
    assert tab_counts(client.get("/queue"))["recommended"] == 0
    cooperation = store.get_cooperation(db, store.get_proposal(db, recommended)["demand_id"],
                                        store.get_proposal(db, recommended)["supply_id"])
    assert store.audit_entries(db, "cooperations", str(cooperation["id"]))[0]["action"] == "create"


def test_the_queue_pages_in_sql(db):
    crowd_the_queue(db)
    everything = store.list_proposals(db, {"statuses": ("proposed",)})
    pages = [store.list_proposals(db, {"statuses": ("proposed",)}, limit=20, offset=offset)
             for offset in range(0, len(everything), 20)]
    assert [p["id"] for page in pages for p in page] == [p["id"] for p in everything]
    assert store.count_proposals(db, {"statuses": ("proposed",), "search": "华联"}) == 2 * len(SUPPLIES)


# --- the enterprise's side: agreeing takes 婉拒 away ---------------------------------------------------

def test_after_agreeing_the_enterprise_is_no_longer_offered_to_decline(client, db):
    pair = store.get_proposal_for_pair(db, "D2021-102", "S2021-202")["id"]
    log_in(client, db, "broker")
    post(client, f"/queue/{pair}/decide", {"decision": "recommended"})
    log_in(client, db, "enterprise")
    before = text(client.get("/demands/D2021-102"))
    assert "同意引荐</button>" in before and "婉拒</button>" in before
    post(client, f"/proposals/{pair}/agree")
    after = text(client.get("/demands/D2021-102"))
    assert "您已同意引荐" in after and "婉拒" not in after
    # Nor does a hand-made form get round it: the pair stays recommended, with a Chinese reason.
    response = post(client, f"/proposals/{pair}/decline", {"next": "/demands/D2021-102"}, follow_redirects=True)
    assert "您已同意引荐，不能再婉拒" in text(response)
    assert store.get_proposal(db, pair)["status"] == "recommended"


def test_the_zone_exports_every_page_of_its_filtered_sorted_pairs_as_xlsx_and_csv(client, db):
    crowd_the_queue(db)
    log_in(client, db, "broker")
    query = {"zone": "strong", "sort": "date"}  # 30 pairs: two pages
    page = client.get("/queue", query_string=query)
    assert "/queue/export.xlsx?" in text(page)
    expected = [store.get_proposal(db, pid) for pid in pair_ids(page)]
    workbook = openpyxl.load_workbook(io.BytesIO(client.get("/queue/export.xlsx", query_string=query).data))
    rows = list(workbook.active.iter_rows(values_only=True))
    header, body = rows[0], rows[1:]
    assert "需求名称" in header and "匹配分" in header
    assert len(body) == tab_counts(page)["strong"] > len(expected)  # every page, not the first
    assert [row[header.index("推荐编号")] for row in body[:len(expected)]] == [p["id"] for p in expected]
    csv_text = client.get("/queue/export.csv", query_string=query).data.decode("utf-8-sig")
    assert len(csv_text.strip().splitlines()) == len(body) + 1
    assert client.get("/queue/export.pdf").status_code == 404


def test_only_brokers_and_admins_export_the_queue(client, db):
    log_in(client, db, "platform")
    assert client.get("/queue/export.xlsx").status_code == 403

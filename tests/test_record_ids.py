"""One id rule for new records, whichever way they come in: the API, the forms and the visit pages
number them per year of posting (D2021-001, S2021-130), inside the write transaction that saves
them, so posts racing each other never collide and nobody gets a 409 for an id they never chose.
"""
from __future__ import annotations

import datetime as dt
import threading

import pytest

from service import store

from .api_support import API
from .records import DEMANDS, HUALIAN, PASSWORD

pytestmark = pytest.mark.instance("api")

GOOD = {"title": "模具钢热处理变形控制", "description": "模具钢淬火后变形超差，需要优化热处理工艺与装夹方式。"}


def csrf_token(client) -> str:
    with client.session_transaction() as session:
        return session["csrf_token"]


def log_in(client, name: str) -> str:
    """Log a test client in through the login form; returns its CSRF token for the forms."""
    client.get("/login")
    client.post("/login", data={"name": name, "password": PASSWORD, "csrf_token": csrf_token(client)})
    return csrf_token(client)


def posted_id(response) -> str:
    """The new record's id: the API's body, or where the form redirects (/demands/D2021-001)."""
    if response.is_json:
        return response.json["id"]
    return response.headers["Location"].rsplit("/", 1)[1]


def test_the_api_and_the_form_number_new_demands_alike_per_year_of_posting(app, api, db):
    first = api("enterprise").post("/demands", json={**GOOD, "posted_at": "2019-05-01"})
    assert first.status_code == 201 and first.json["id"] == "D2019-001"
    client = app.test_client()
    token = log_in(client, "enterprise")
    page = client.post("/demands/new", data={**GOOD, "posted_at": "2019-06-01", "csrf_token": token})
    assert page.status_code == 302 and posted_id(page) == "D2019-002"
    after_the_sample = api("enterprise").post("/demands", json={**GOOD, "posted_at": "2021-07-01"})
    assert after_the_sample.json["id"] == "D2021-111"  # the fixtures hold D2021-101 … D2021-110


def test_a_record_posted_without_a_date_is_numbered_in_this_year(api):
    response = api("platform").post("/supplies", json=GOOD)
    assert response.status_code == 201 and response.json["id"] == f"S{dt.date.today():%Y}-001"


def test_a_chosen_id_is_kept_and_a_taken_one_is_still_a_409(api):
    assert api("admin").post("/demands", json={**GOOD, "enterprise": HUALIAN, "id": "D-自定"}).json["id"] == "D-自定"
    taken = api("admin").post("/demands", json={**GOOD, "enterprise": HUALIAN, "id": "D-自定"})
    assert taken.status_code == 409 and taken.json["error"]["code"] == "duplicate_id"


def test_a_demand_found_on_a_visit_is_numbered_in_the_visits_year(api):
    visit = api("broker").post("/visits", json={"enterprise": HUALIAN, "visited_on": "2021-06-03"}).json
    response = api("broker").post(f"/visits/{visit['id']}/demands", json=GOOD)
    assert response.status_code == 201 and response.json["id"] == "D2021-111"


def test_numbering_skips_ids_of_other_shapes_and_grows_past_three_digits(db):
    store.upsert_records(db, "demands", [{**GOOD, "id": "D2019-7F3A1C"}, {**GOOD, "id": "D2019-"},
                                         {**GOOD, "id": "D2019-12a"}, {**GOOD, "id": "D20190-5"}])
    assert store.next_record_id(db, "demands", "D2019-") == "D2019-001"
    store.upsert_records(db, "demands", [{**GOOD, "id": "D2019-999"}])
    assert store.next_record_id(db, "demands", "D2019-") == "D2019-1000"
    store.upsert_records(db, "demands", [{**GOOD, "id": "D2019-1000"}])
    assert store.next_record_id(db, "demands", "D2019-") == "D2019-1001"


def test_concurrent_posts_through_the_api_and_the_forms_get_consecutive_numbers(app, tokens, db):
    """12 posts at the same moment, 8 by script and 4 by form, each on its own connection."""
    api_posts, form_posts = 8, 4
    barrier = threading.Barrier(api_posts + form_posts)
    results: list = []

    def by_api(number: int):
        client = app.test_client()
        barrier.wait()
        response = client.post(f"{API}/demands", json={**GOOD, "posted_at": "2019-05-01", "title": f"脚本需求{number}"},
                               headers={"Authorization": f"Bearer {tokens['enterprise']}"})
        results.append((response.status_code, posted_id(response)))

    def by_form(number: int):
        client = app.test_client()
        token = log_in(client, "enterprise")
        barrier.wait()
        response = client.post("/demands/new", data={**GOOD, "posted_at": "2019-05-01", "title": f"表单需求{number}",
                                                      "csrf_token": token})
        results.append((response.status_code, posted_id(response)))

    threads = [threading.Thread(target=by_api, args=(number,)) for number in range(api_posts)]
    threads += [threading.Thread(target=by_form, args=(number,)) for number in range(form_posts)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)

    assert sorted(status for status, _ in results) == [201] * api_posts + [302] * form_posts, results
    assert sorted(record_id for _, record_id in results) == [f"D2019-{number:03d}" for number in range(1, 13)]
    assert store.count_records(db, "demands") == len(DEMANDS) + 12

"""One mapping from the domain's refusals to HTTP (issue 16, item 4): the API answers the documented
JSON error shape, a page the error page with the refusal's message, and neither a 500."""
from __future__ import annotations

import io

import pytest

from service import errors, store
from service.http_errors import status_of
from service.openapi import SCHEMAS

from .records import OWN_DEMAND

pytestmark = pytest.mark.instance("api")

ERROR_KEYS = set(SCHEMAS["Error"]["properties"]["error"]["properties"])  # code, message, fields, problems


@pytest.mark.parametrize("error, status", [
    (errors.Invalid("reason_required", "否决时必须填写理由"), 422),
    (errors.NotFound("not_found", "找不到"), 404),
    (errors.Forbidden("forbidden", "无权"), 403),
    (errors.Conflict("stale_version", "已被他人修改"), 409),
])
def test_each_kind_of_refusal_has_one_status(error, status):
    assert status_of(error) == status


def test_a_refused_import_answers_the_documented_error_shape(api, db):
    content = "需求编号,需求名称,需求概述\nD2021-901,,说明\n".encode()
    response = api("admin").post("/imports/demands", data={"file": (io.BytesIO(content), "bad.csv")},
                                 content_type="multipart/form-data")
    assert response.status_code == 422 and set(response.json) == {"error"}
    error = response.json["error"]
    assert set(error) <= ERROR_KEYS and {"code", "message", "fields"} <= set(error)
    assert error["code"] == "import_rejected" and error["fields"] == {"file": "有 1 处问题，见 problems"}
    assert error["problems"] == [{"row": 2, "field": "title", "message": "必填字段「需求名称」为空"}]
    assert store.get_record(db, "demands", "D2021-901") is None


def test_a_record_deleted_while_its_edit_form_was_open_is_a_404_page_not_a_500(client, login, db, monkeypatch):
    """The edit form read the record; someone deleted it before the save (the store refuses: not_found)."""
    login("enterprise")
    with client.session_transaction() as session:
        token = session["csrf_token"]
    form = client.get(f"/demands/{OWN_DEMAND}/edit").get_data(as_text=True)
    assert "version" in form
    save_record = store.save_record

    def deleted_meanwhile(database, kind, record, *args, **kwargs):
        store.delete_record(db, kind, record["id"], "someone else")
        return save_record(database, kind, record, *args, **kwargs)

    monkeypatch.setattr(store, "save_record", deleted_meanwhile)
    response = client.post(f"/demands/{OWN_DEMAND}/edit", data={
        "title": "注塑件缩痕", "description": "注塑外壳表面缩痕多，良品率低，需要工艺优化。", "csrf_token": token})
    assert response.status_code == 404
    page = response.get_data(as_text=True)
    assert f"编号「{OWN_DEMAND}」不存在" in page and "页面不存在" in page


def test_a_refused_step_on_a_page_shows_its_message_on_the_error_page(client, login, db, monkeypatch):
    """A conflict the form does not handle itself (here: the record is in use) answers 409 with its message."""
    login("enterprise")
    with client.session_transaction() as session:
        token = session["csrf_token"]

    def in_use(*args, **kwargs):
        raise errors.Conflict("record_in_use", "该记录已有合作，不能修改")

    monkeypatch.setattr(store, "save_record", in_use)
    response = client.post(f"/demands/{OWN_DEMAND}/edit", data={
        "title": "注塑件缩痕", "description": "注塑外壳表面缩痕多，良品率低，需要工艺优化。", "csrf_token": token})
    assert response.status_code == 409 and "该记录已有合作，不能修改" in response.get_data(as_text=True)

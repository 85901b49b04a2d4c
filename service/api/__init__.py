"""The JSON API under /api/v1: one blueprint per resource, nested under one parent blueprint, and the
OpenAPI document assembled from the routes' declarations (operations.py) and openapi.py's components.

    >>> register(app)      # doctest: +SKIP
    >>> document()["paths"]["/demands"]["get"]["summary"]
    '技术需求列表（分页、筛选）'
"""
from __future__ import annotations

from flask import Flask, current_app

from .. import openapi
from . import audit, cooperations, gaps, imports, index, lists, proposals, reports, users
from . import sessions
from .base import api
from .operations import describe, operation

for blueprint in (lists.demands, lists.supplies, proposals.bp, cooperations.bp, gaps.bp, reports.bp, audit.bp,
                  users.bp, imports.bp, index.bp, sessions.bp, sessions.visits):
    api.register_blueprint(blueprint)


@api.get("/openapi.json")
@operation("本文档", {200: "OpenAPI"}, tag="admin", public=True)
def openapi_json():
    if "openapi" not in current_app.extensions:
        current_app.extensions["openapi"] = document(current_app)
    return current_app.extensions["openapi"]


def register(app: Flask) -> None:
    app.register_blueprint(api)


def document(app: Flask | None = None) -> dict:
    """The OpenAPI document of the routes `app` serves; without one, of a bare app with just the API."""
    if app is None:
        app = Flask(__name__)
        register(app)
    return openapi.assemble(*describe(app.url_map, app.view_functions))

"""The JSON API under /api/v1: one blueprint per resource, nested under one parent blueprint.

    >>> register(app)      # doctest: +SKIP
"""
from __future__ import annotations

from flask import Flask

from ..openapi import bp as openapi_bp
from . import audit, cooperations, gaps, imports, index, lists, proposals, reports, users
from . import sessions
from .base import api

for blueprint in (lists.demands, lists.supplies, proposals.bp, cooperations.bp, gaps.bp, reports.bp, audit.bp,
                  users.bp, imports.bp, index.bp, sessions.bp, sessions.visits, openapi_bp):
    api.register_blueprint(blueprint)


def register(app: Flask) -> None:
    app.register_blueprint(api)

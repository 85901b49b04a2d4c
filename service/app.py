"""The Flask application factory.

    >>> app = create_app({"DATABASE": "instance/matchmaker.db"})      # doctest: +SKIP

Configuration comes from the environment, read by service/settings.py (which lists every variable);
a test passes a dict that wins over it.
"""
from __future__ import annotations

from flask import Flask

from . import auth, http_errors, resources, security, settings, store
from .settings import ConfigError  # noqa: F401  (callers catch it from here)


def create_app(config: dict | None = None) -> Flask:
    app = Flask(__name__, template_folder="web/templates", static_folder=None)
    app.config.from_mapping(settings.from_environment())
    if config:
        app.config.update(config)
    settings.finish(app.config)
    app.json.ensure_ascii = False
    app.json.sort_keys = False

    store.open_db(app.config["DATABASE"]).close()  # create or upgrade the schema once, at start
    resources.init_app(app)
    auth.init_app(app)
    security.init_app(app)
    http_errors.init_app(app)  # domain refusals and HTTP errors: JSON on the API, the error page on pages

    from .api import register as register_api
    from .web import bp as pages
    register_api(app)
    app.register_blueprint(pages)
    return app


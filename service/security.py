"""Web security the whole app shares: response headers, the session cookie's flags, login throttling.

    >>> init_app(app)      # doctest: +SKIP   (create_app does this)

- Every response carries a Content-Security-Policy without inline script (the pages load one
  stylesheet and one script file from /assets), nosniff, frame denial and a same-origin referrer policy.
- The session cookie is HttpOnly and SameSite=Lax always, and Secure whenever it is sent over TLS:
  per request when the request itself is https (`request.is_secure`), and always when
  MATCHMAKER_ENV=production, because production sits behind a TLS-terminating proxy whose
  plain-http hop would otherwise make the cookie travel without the flag. SESSION_COOKIE_SECURE=True
  in the config forces it too.
- Failed logins are counted per user name and per client address; after LOGIN_MAX_FAILURES within
  LOGIN_WINDOW_SECONDS (5 in 5 minutes) both are refused with 429 until the window passes. The
  failures are kept in the store, so the server processes of `matchmaker serve --workers N` count
  them together and a restart forgets none.
"""
from __future__ import annotations

import time

from flask import Flask, current_app, request
from flask.sessions import SecureCookieSessionInterface

from . import resources, store

CONTENT_SECURITY_POLICY = "; ".join((
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "frame-ancestors 'none'",
    "form-action 'self'",
    "base-uri 'none'",
    "object-src 'none'",
))
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}
HSTS = "max-age=31536000"


def add_security_headers(response):
    """after_request: the headers every page, asset, error and API answer carries."""
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if request.is_secure:
        response.headers.setdefault("Strict-Transport-Security", HSTS)
    return response


class SessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, with the Secure flag also set for any request that came over https."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(app.config["SESSION_COOKIE_SECURE"]) or request.is_secure


# --- login throttling -------------------------------------------------------------------------------

class LoginThrottle:
    """Failed-login counts per key within a sliding window, kept in the store so that every server
    process counts the same failures and a restart forgets none.

        >>> db = store.open_db(":memory:")
        >>> throttle = LoginThrottle(max_failures=5, window=300, connection=lambda: db)
        >>> throttle.record_failure("name:kunyue", "addr:10.0.0.7")
        >>> throttle.retry_after("name:kunyue", "addr:10.0.0.7")
        0

    `connection` gives the database to use (the request's, in the app); `clock` is wall-clock seconds,
    shared by the processes (tests pass one they can advance).
    """

    def __init__(self, max_failures: int = 5, window: float = 300, clock=time.time, connection=None):
        self.max_failures, self.window, self.clock = max_failures, window, clock
        self.connection = connection

    def retry_after(self, *keys: str) -> int:
        """Seconds until every key may try again; 0 when none of them is locked out."""
        now = self.clock()
        wait = 0.0
        db = self.connection()
        for key in keys:
            failures = store.recent_login_failures(db, key, now - self.window, self.max_failures)
            if len(failures) >= self.max_failures:
                wait = max(wait, failures[-1] + self.window - now)
        return int(wait) + 1 if wait > 0 else 0

    def record_failure(self, *keys: str) -> None:
        store.add_login_failure(self.connection(), keys, self.clock(), self.window)

    def forget(self, *keys: str) -> None:
        """A successful login clears its user name's count (the address keeps its own)."""
        store.clear_login_failures(self.connection(), keys)


def login_keys(name: str) -> tuple[str, str]:
    """The two counters a login attempt touches: its user name and the client's address."""
    return f"name:{(name or '').strip().lower()}", f"addr:{request.remote_addr or '?'}"


def login_throttle() -> LoginThrottle:
    return current_app.extensions["login_throttle"]


def lockout_message(seconds: int) -> str:
    """The Chinese explanation a refused login shows."""
    minutes = max(1, -(-seconds // 60))
    return f"登录失败次数过多，为保护账号安全已暂时锁定，请 {minutes} 分钟后再试"


def init_app(app: Flask) -> None:
    """Headers, cookie flags and the login throttle, configured from app.config."""
    config = app.config
    # Flask's defaults hold the keys already (SAMESITE as None), so setdefault would not take.
    config["SESSION_COOKIE_HTTPONLY"] = True
    config["SESSION_COOKIE_SAMESITE"] = config.get("SESSION_COOKIE_SAMESITE") or "Lax"
    if config.get("MATCHMAKER_ENV") == "production":
        config["SESSION_COOKIE_SECURE"] = True
    app.session_interface = SessionInterface()
    app.extensions["login_throttle"] = LoginThrottle(config["LOGIN_MAX_FAILURES"], config["LOGIN_WINDOW_SECONDS"],
                                                      connection=resources.get_db)
    app.after_request(add_security_headers)

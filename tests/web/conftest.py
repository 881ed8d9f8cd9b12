"""Web fixtures: settings with a fixed session key, a migrated database with one account per role, an app."""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from callcenter.calls.timeline import Timeline
from callcenter.config import Settings
from callcenter.store import dispose_all, migrate
from callcenter.web.app import create_app
from callcenter.web.context import WebContext
from callcenter.web.users import add_user

PASSWORD = "correct-horse-1"
ACCOUNTS = {
    "agent1": ("agent", "8001"),
    "qa1": ("qa", ""),
    "qa_secret": ("qa", ""),
    "boss": ("supervisor", ""),
    "root": ("admin", ""),
}


@pytest.fixture(scope="session")
def accounts_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file with one account per role, made once (argon2 is slow on purpose) and copied."""
    path = tmp_path_factory.mktemp("web-template") / "template.sqlite3"
    url = f"sqlite:///{path}"
    migrate(url)
    for name, (role, work_number) in ACCOUNTS.items():
        add_user(url, name, role, PASSWORD, work_number=work_number, confidential_access=name == "qa_secret")
    dispose_all()
    return path


@pytest.fixture
def web_settings(settings: Settings, tmp_path: Path, accounts_db: Path) -> Iterator[Settings]:
    db = tmp_path / "web.sqlite3"
    shutil.copyfile(accounts_db, db)
    s = replace(settings, database=replace(settings.database, url=f"sqlite:///{db}"),
                web=replace(settings.web, secret_key="test-secret-" + "x" * 32, secret_file=tmp_path / "web-secret"))
    yield s
    dispose_all()


@pytest.fixture
def web_ctx(web_settings: Settings) -> WebContext:
    return WebContext(web_settings, Timeline(web_settings.database.url), now=lambda: datetime.now(UTC))


@pytest.fixture
def client(web_ctx: WebContext) -> Iterator[TestClient]:
    with TestClient(create_app(web_ctx), base_url="http://testserver") as c:
        yield c


def csrf_of(client: TestClient, path: str = "/login") -> str:
    page = client.get(path).text
    match = re.search(r'name="csrf-token" content="([^"]+)"', page)
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def sign_in(client: TestClient, name: str, password: str = PASSWORD) -> str:
    """Sign in through the form; returns the new session's CSRF token."""
    token = csrf_of(client)
    r = client.post("/login", data={"name": name, "password": password, "csrf_token": token},
                    follow_redirects=False)
    assert r.status_code == 303, r.text
    return csrf_of(client, r.headers["location"])


@pytest.fixture
def signed_in(client: TestClient) -> Callable[[str], str]:
    """``signed_in(name)`` signs ``client`` in as ``name`` and returns the session's CSRF token."""
    return lambda name: sign_in(client, name)

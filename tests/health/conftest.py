"""Health fixtures: settings with a fixed session key over a migrated database with a supervisor, a QA
reviewer and one agent seat (the accounts are made once: argon2 is slow on purpose)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from callcenter.config import Settings
from callcenter.store import dispose_all, migrate
from callcenter.web.users import add_user

PASSWORD = "correct-horse-1"


@pytest.fixture(scope="session")
def health_accounts_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("health-template") / "template.sqlite3"
    url = f"sqlite:///{path}"
    migrate(url)
    for name, role, work_number in (("agent1", "agent", "8001"), ("qa1", "qa", ""), ("boss", "supervisor", ""),
                                    ("root", "admin", "")):
        add_user(url, name, role, PASSWORD, work_number=work_number)
    dispose_all()
    return path


@pytest.fixture
def web_settings(settings: Settings, tmp_path: Path, health_accounts_db: Path) -> Iterator[Settings]:
    db = tmp_path / "web.sqlite3"
    shutil.copyfile(health_accounts_db, db)
    s = replace(settings, database=replace(settings.database, url=f"sqlite:///{db}"),
                web=replace(settings.web, secret_key="test-secret-" + "x" * 32, secret_file=tmp_path / "web-secret"))
    yield s
    dispose_all()

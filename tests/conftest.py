"""Shared fixtures: isolated settings, and databases on SQLite and (where available) a real PostgreSQL.

``db_url`` is parametrised over both back-ends. In CI (``CI=true``) PostgreSQL is required: ``./run test``
starts it and exports ``CALLCENTER_TEST_POSTGRES_URL``; a missing server there is an error, not a skip.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import structlog

from callcenter.config import Settings, load_settings
from callcenter.logs import configure_logging
from callcenter.store import dispose_all, migrate

PG_ADMIN_URL = os.environ.get("CALLCENTER_TEST_POSTGRES_URL", "")


def _pg_available() -> bool:
    return bool(PG_ADMIN_URL)


def pytest_configure(config: pytest.Config) -> None:
    # Every test starts from the service's own logging (JSON lines on stderr, at info): structlog's bare default
    # prints to stdout, where a command's output is read.
    configure_logging("info")


@pytest.fixture(autouse=True)
def _structlog_restored() -> Iterator[None]:
    """Commands run in-process configure logging at their settings' level: the next test on the same worker
    (which test that is depends on how the files were shared out) must log as if it ran first."""
    saved = structlog.get_config()
    yield
    structlog.configure(**saved)


@pytest.fixture(scope="session")
def rendered_audio(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One folder of rendered prompt audio for the whole run: each distinct text is synthesised once."""
    return tmp_path_factory.mktemp("prompt-audio")


@pytest.fixture
def settings(tmp_path: Path, rendered_audio: Path) -> Settings:
    """Defaults with every writable path inside the test's own temporary folder."""
    base = load_settings(environ={})
    return replace(
        base,
        database=replace(base.database, url=f"sqlite:///{tmp_path / 'callcenter.sqlite3'}"),
        recordings=replace(base.recordings, root=tmp_path / "recordings"),
        metrics=replace(base.metrics, reports_directory=tmp_path / "reports"),
        scripts=replace(base.scripts, rendered_audio_directory=rendered_audio),
    )


def _sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / f'db-{uuid.uuid4().hex[:8]}.sqlite3'}"


@contextlib.contextmanager
def empty_pg_database() -> Iterator[str]:
    """A new PostgreSQL database with no schema, dropped afterwards (fails in CI, skips elsewhere, without a
    server)."""
    if not _pg_available():
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true but CALLCENTER_TEST_POSTGRES_URL is not set: ./run test starts PostgreSQL")
        pytest.skip("no PostgreSQL server (run the suite through ./run test)")
    import sqlalchemy as sa

    name = f"cc_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        dispose_all()
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh, migrated PostgreSQL database for one test, dropped afterwards."""
    with empty_pg_database() as url:
        migrate(url)
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated database, once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        url = _sqlite_url(tmp_path)
        migrate(url)
        yield url
        dispose_all()
    else:
        yield request.getfixturevalue("pg_url")


@pytest.fixture
def sqlite_url(tmp_path: Path) -> Iterator[str]:
    url = _sqlite_url(tmp_path)
    migrate(url)
    yield url
    dispose_all()

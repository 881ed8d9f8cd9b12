"""One behaviour on a fresh store: every command that needs the schema brings an embedded SQLite store up to
date itself; on a server database it stops with one line naming ``callcenter db upgrade`` (issue 12)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

from callcenter.cli import main
from callcenter.store import StoreError, dispose_all, ensure_schema
from tests.conftest import empty_pg_database

PG_ADMIN_URL = os.environ.get("CALLCENTER_TEST_POSTGRES_URL", "")
COMMANDS = (
    ["report", "--from", "2026-11-22", "--to", "2026-11-23", "--format", "json"],
    ["tickets", "list", "--json"],
    ["tickets", "new", "--category", "complaint", "--at", "2026-09-30T15:00+08:00", "--summary", "水费"],
    ["recordings", "list", "--json"],
    ["recordings", "verify-ledger"],
    ["users", "list"],
)


@pytest.fixture(autouse=True)
def _clean(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for key in [k for k in os.environ if k.startswith("CALLCENTER_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("CALLCENTER_SERVICE__LOG_JSON", "false")
    yield
    structlog.reset_defaults()
    dispose_all()


@pytest.fixture
def empty_pg() -> Iterator[str]:
    """A PostgreSQL database with no schema at all (the conftest's pg_url is migrated already)."""
    with empty_pg_database() as url:
        yield url


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c[:2]))
def test_every_command_brings_a_fresh_sqlite_store_up_to_date(
    command: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CALLCENTER_DATABASE__URL", f"sqlite:///{tmp_path / 'new' / 'callcenter.sqlite3'}")
    monkeypatch.setenv("CALLCENTER_RECORDINGS__ROOT", str(tmp_path / "recordings"))
    assert main(command) == 0, capsys.readouterr().err
    assert (tmp_path / "new" / "callcenter.sqlite3").is_file()


@pytest.mark.postgres
@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c[:2]))
def test_on_a_server_database_without_the_schema_a_command_names_db_upgrade(
    command: list[str], empty_pg: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("CALLCENTER_DATABASE__URL", empty_pg)
    monkeypatch.setenv("CALLCENTER_RECORDINGS__ROOT", str(tmp_path / "recordings"))
    assert main(command) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.endswith("has no schema yet: run `callcenter db upgrade`\n")
    assert "callcenter:callcenter@" not in err  # the password stays out of the message


@pytest.mark.postgres
def test_after_db_upgrade_the_server_database_is_used_as_it_is(
    empty_pg: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CALLCENTER_DATABASE__URL", empty_pg)
    assert main(["db", "upgrade"]) == 0
    assert main(["tickets", "list", "--json"]) == 0
    assert capsys.readouterr().out.endswith("[]\n")


@pytest.mark.postgres
def test_a_server_database_behind_or_ahead_of_this_version_is_one_clear_line(empty_pg: str) -> None:
    import sqlalchemy as sa

    from callcenter.store import engine_for, migrate

    migrate(empty_pg)
    with engine_for(empty_pg).begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = 'f00dfeed' "
                             "WHERE version_num = (SELECT min(version_num) FROM alembic_version)"))
    with pytest.raises(StoreError, match=r"has schema revisions this version does not know \(f00dfeed\)"):
        ensure_schema(empty_pg)
    with engine_for(empty_pg).begin() as conn:
        conn.execute(sa.text("DELETE FROM alembic_version WHERE version_num = 'f00dfeed'"))
    with pytest.raises(StoreError, match=r"is not at this version's schema: run `callcenter db upgrade`$"):
        ensure_schema(empty_pg)


def test_an_unreachable_server_database_is_one_line() -> None:
    with pytest.raises(StoreError) as err:
        ensure_schema("postgresql+psycopg://callcenter:secret@127.0.0.1:1/nowhere")
    assert str(err.value).startswith("cannot reach the database at 127.0.0.1:1/nowhere: ")
    assert "\n" not in str(err.value) and "secret" not in str(err.value)

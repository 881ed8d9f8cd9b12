"""The recordings models match the recordings_0001 migration (tests and deployments use migrate())."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from callcenter.recordings import models  # noqa: F401  (registers the tables on Base)
from callcenter.store import Base, engine_for

TABLES = {"recordings", "recording_work_orders", "recording_tombstones", "recording_access_ledger",
          "recording_ledger_head", "recording_access_requests"}


def _table_of(diff: object) -> str | None:
    """The table a compare_metadata diff is about (add/remove tuples carry objects, modify_* carry names)."""
    if isinstance(diff, list):
        diff = diff[0]
    for item in diff[1:]:  # type: ignore[index]
        if isinstance(item, str) and item in TABLES:
            return item
        if isinstance(item, sa.Table):
            return item.name
        table = getattr(item, "table", None)
        if isinstance(table, sa.Table):
            return table.name
    return None


def _touches_ours(diff: object) -> bool:
    return _table_of(diff) in TABLES


def test_models_match_migration(db_url: str) -> None:
    with engine_for(db_url).connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        diffs = [d for d in compare_metadata(ctx, Base.metadata) if _touches_ours(d)]
    assert diffs == []


def test_ledger_head_starts_at_genesis(db_url: str) -> None:
    from callcenter.recordings.access import GENESIS_HASH
    from callcenter.recordings.models import LedgerHead
    from callcenter.store import session_scope

    with session_scope(db_url) as s:
        head = s.get(LedgerHead, 1)
        assert (head.seq, head.hash) == (0, GENESIS_HASH)


def test_the_comparison_sees_a_missing_index(sqlite_url: str) -> None:
    with engine_for(sqlite_url).begin() as conn:
        conn.execute(sa.text("DROP INDEX ix_recordings_agent"))
    with engine_for(sqlite_url).connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        diffs = [d for d in compare_metadata(ctx, Base.metadata) if _touches_ours(d)]
    assert [d[0] for d in diffs] == ["add_index"]

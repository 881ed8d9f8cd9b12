"""The tickets models match the tickets migration (tests and deployments build the schema with migrate())."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

import callcenter.tickets.models  # noqa: F401 - registers the tables on Base.metadata
from callcenter.config import Settings
from callcenter.store import Base, engine_for, session_scope
from callcenter.tickets import service as svc
from callcenter.tickets.overdue import run_overdue_job

TZ = ZoneInfo("Asia/Shanghai")


def test_models_match_the_migration(db_url: str) -> None:
    with engine_for(db_url).connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    ours = [d for d in diffs if _table_of(d) in TABLES]
    assert ours == []


TABLES = {"work_orders", "work_order_deadlines", "work_order_links", "work_order_history", "work_order_callbacks",
          "work_order_counters"}


def _table_of(diff: object) -> str | None:
    """The table an autogenerate diff is about (its shapes differ per kind of change)."""
    if isinstance(diff, list):  # column modifications come as a list of tuples
        return _table_of(diff[0])
    assert isinstance(diff, tuple)
    kind, subject = diff[0], diff[1]
    if kind.endswith("_table"):
        return subject.name
    if kind.endswith(("_index", "_constraint", "_fk")):
        return subject.table.name
    if kind.endswith("_column"):
        return diff[2]
    return diff[2] if len(diff) > 2 and isinstance(diff[2], str) else None


def test_scheduler_loop_runs_the_job_with_an_injected_clock(sqlite_url: str, settings: Settings) -> None:
    t0 = datetime(2026, 11, 20, 19, 30, tzinfo=TZ)
    with session_scope(sqlite_url) as s:
        number = svc.create_order(s, settings, category="complaint", summary="x", accepted_at=t0, actor="a").number
    ticks = iter([t0 + timedelta(minutes=10), t0 + timedelta(minutes=50), t0 + timedelta(minutes=51)])
    stop = asyncio.Event()
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        if len(slept) == 3:
            stop.set()

    asyncio.run(run_overdue_job(sqlite_url, lambda: next(ticks), sleep, interval_seconds=60, stop=stop))
    with session_scope(sqlite_url) as s:
        escalations = [h for h in svc.order_history(s, number) if h.action == "escalated"]
    assert slept == [60, 60, 60]
    assert [(h.changes["deadline"], h.at) for h in escalations] == [("first_contact", t0 + timedelta(minutes=50))]

"""Issue 17, faults: PostgreSQL goes away under the service (its sessions ended, new ones refused, as during a
restart) while calls go on. The flusher keeps what it could not write and writes it once the database answers
again: nothing lost, nothing twice, numbering unbroken."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from sqlalchemy.engine import make_url
from structlog.testing import capture_logs

from callcenter.calls import events as ev
from callcenter.calls.fanout import conninfo
from callcenter.calls.timeline import Timeline

T0 = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
pytestmark = pytest.mark.postgres


def _admin(url: str) -> psycopg.Connection[tuple[object, ...]]:
    """A session on the server's maintenance database, which stays open while the test's is refused."""
    maintenance = make_url(url).set(database="postgres").render_as_string(hide_password=False)
    return psycopg.connect(conninfo(maintenance), autocommit=True)


def _go_away(url: str) -> None:
    name = make_url(url).database
    with _admin(url) as admin:
        admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))


def _come_back(url: str) -> None:
    with _admin(url) as admin:
        admin.execute(f'ALTER DATABASE "{make_url(url).database}" ALLOW_CONNECTIONS true')


async def _until(condition: Callable[[], bool], seconds: float) -> None:
    for _ in range(int(seconds / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"not within {seconds} s")


async def test_events_buffered_while_postgresql_is_away_are_written_once_it_is_back(pg_url: str) -> None:
    timeline = Timeline(pg_url)
    flusher = asyncio.create_task(timeline.run_flusher(interval=0.01))
    try:
        for n in range(5):
            timeline.append("c1", ev.DTMF, {"digit": str(n)}, at=T0 + timedelta(seconds=n))
        await _until(lambda: timeline.backlog == 0, 10)
        _go_away(pg_url)
        try:
            with capture_logs() as logs:
                timeline.expect_new("c2")  # a call that arrives meanwhile, announced as the call runner does
                for n in range(5, 10):
                    timeline.append("c1", ev.DTMF, {"digit": str(n)}, at=T0 + timedelta(seconds=n))
                    timeline.append("c2", ev.CALL_OFFERED if n == 5 else ev.DTMF, {"digit": str(n)}, at=T0)
                await _until(lambda: any("flush failed" in str(e.get("event")) for e in logs), 10)
                assert timeline.backlog == 10  # kept, not dropped
        finally:
            _come_back(pg_url)
        # A failed flush waits 0.2 s, then tries again. The backlog is empty while a batch is being written, so
        # wait for the database itself.
        await _until(lambda: timeline.backlog == 0 and len(Timeline(pg_url).since(0)) >= 15, 20)
    finally:
        flusher.cancel()
        await asyncio.gather(flusher, return_exceptions=True)
    reread = Timeline(pg_url)  # another process reads what is in the database
    assert [e.data["digit"] for e in reread.events("c1")] == [str(n) for n in range(10)]
    assert [e.seq for e in reread.events("c1")] == list(range(1, 11))
    assert [e.seq for e in reread.events("c2")] == list(range(1, 6))
    ids = [e.id for e in reread.since(0)]
    assert len(ids) == len(set(ids)) == 15 and ids == sorted(ids)

"""The centre's feed: on PostgreSQL every process's flushes reach every process's subscribers, in id order,
once each, across concurrent writers and a lost listening connection; on SQLite it is the in-process path."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import AsyncIterator
from typing import Any

import sqlalchemy as sa

from callcenter.calls import events as ev
from callcenter.calls.fanout import LocalFeed, PostgresFeed, centre_feed
from callcenter.calls.timeline import FLUSH_LOCK, Timeline, TimelineEvent
from callcenter.store import engine_for
from callcenter.web.hub import stream

WAIT = 15.0  # seconds any one wait may take before the test fails


@contextlib.asynccontextmanager
async def running(feed: PostgresFeed) -> AsyncIterator[PostgresFeed]:
    await feed.start()
    task = asyncio.create_task(feed.run())
    try:
        yield feed
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def take(queue: asyncio.Queue[TimelineEvent], count: int) -> list[TimelineEvent]:
    async with asyncio.timeout(WAIT):
        return [await queue.get() for _ in range(count)]


def all_ids(url: str) -> list[int]:
    with engine_for(url).connect() as conn:
        return list(conn.execute(sa.text("SELECT id FROM call_events ORDER BY id")).scalars())


def test_sqlite_keeps_the_in_process_path(sqlite_url: str) -> None:
    assert isinstance(centre_feed(Timeline(sqlite_url)), LocalFeed)
    assert isinstance(centre_feed(Timeline(None)), LocalFeed)


async def test_a_flush_of_process_a_reaches_the_subscribers_of_process_b(pg_url: str) -> None:
    a, b = Timeline(pg_url), Timeline(pg_url)  # two processes' timelines on one database
    async with running(PostgresFeed(b)) as feed:
        queue = feed.subscribe()
        for flush in range(5):
            for i in range(10):
                a.append(f"a{flush}", ev.DTMF, {"digit": str(i % 10)})
            b.append("b", ev.DTMF, {"digit": str(flush)})  # and B's own, interleaved by the database
            await asyncio.gather(a.flush(), b.flush())
        got = await take(queue, 55)
        assert queue.empty()
    ids = [e.id for e in got]
    assert ids == all_ids(pg_url) and len(set(ids)) == 55
    assert sum(1 for e in got if e.call_id.startswith("a")) == 50


async def test_a_flush_holding_its_ids_uncommitted_holds_back_the_later_flush(pg_url: str) -> None:
    """Ids are committed in id order across processes: a reader that saw id N never later finds a smaller one."""
    a, b = Timeline(pg_url), Timeline(pg_url)
    admin = sa.create_engine(pg_url)
    try:
        async with running(PostgresFeed(a)) as feed:
            queue = feed.subscribe()
            with admin.connect() as slow:  # a flush of a third process, stalled between its insert and commit
                slow.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": FLUSH_LOCK})
                slow.execute(sa.text("INSERT INTO call_events (call_id, seq, type, at, \"offset\", data) "
                                     "VALUES ('slow', 1, 'dtmf', now(), 0, '{}')"))
                b.append("fast", ev.DTMF, {"digit": "1"})
                flusher = threading.Thread(target=b.flush_sync)
                flusher.start()
                deadline = time.monotonic() + WAIT
                while not _waiting_for_the_lock(admin):
                    assert time.monotonic() < deadline, "the second flush never waited for the lock"
                    await asyncio.sleep(0.01)
                slow.commit()
            await asyncio.to_thread(flusher.join, WAIT)
            got = await take(queue, 2)
        assert [e.call_id for e in got] == ["slow", "fast"] and got[0].id < got[1].id  # type: ignore[operator]
    finally:
        admin.dispose()


def _waiting_for_the_lock(admin: sa.Engine) -> bool:
    with admin.connect() as conn:
        return bool(conn.execute(sa.text(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")).scalar())


async def test_a_page_resuming_on_b_gets_no_gap_and_no_repeat_while_both_processes_write(pg_url: str) -> None:
    a, b = Timeline(pg_url), Timeline(pg_url)
    per_writer, batches = 120, 12

    async def write(timeline: Timeline, name: str) -> None:
        for batch in range(batches):
            for i in range(per_writer // batches):
                timeline.append(f"{name}{batch % 3}", ev.DTMF, {"digit": str(i % 10)})
            await timeline.flush()
            await asyncio.sleep(0)

    seen: list[int] = []
    first_half = asyncio.Event()
    everything = asyncio.Event()

    async def send(message: dict[str, Any]) -> None:
        if message["kind"] == "event":
            seen.append(message["id"])
            if len(seen) >= per_writer:
                first_half.set()
            if len(seen) >= 2 * per_writer:
                everything.set()

    async with running(PostgresFeed(b)) as feed:
        writers = asyncio.gather(write(a, "a"), write(b, "b"))
        page = asyncio.create_task(stream(feed, 0, send))
        async with asyncio.timeout(WAIT):
            await first_half.wait()
        page.cancel()  # the page drops its connection while both keep writing …
        with contextlib.suppress(asyncio.CancelledError):
            await page
        resumed = asyncio.create_task(stream(feed, seen[-1], send))  # … and comes back with its last id
        async with asyncio.timeout(WAIT):
            await writers
            await everything.wait()
        resumed.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await resumed
    assert seen == all_ids(pg_url) and len(seen) == 2 * per_writer


async def test_a_killed_listening_connection_reconnects_and_delivers_what_was_written_meanwhile(
    pg_url: str,
) -> None:
    a, b = Timeline(pg_url), Timeline(pg_url)
    gate = asyncio.Event()
    gate.set()
    opened: list[int] = []

    async def connect() -> Any:
        await gate.wait()  # the test holds the reconnect back until it has written
        conn = await feed._open()
        opened.append(conn.info.backend_pid)
        return conn

    feed = PostgresFeed(b, connect=connect)
    admin = sa.create_engine(pg_url, isolation_level="AUTOCOMMIT")
    try:
        async with running(feed):
            queue = feed.subscribe()
            a.append("before", ev.DTMF, {"digit": "1"})
            await a.flush()
            assert [e.call_id for e in await take(queue, 1)] == ["before"]
            gate.clear()
            with admin.connect() as conn:
                assert conn.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": feed.backend_pid}).scalar()
            async with asyncio.timeout(WAIT):
                await feed.lost.wait()
            for i in range(30):  # written while nobody listens: their notifications are gone for good
                a.append(f"meanwhile{i % 3}", ev.DTMF, {"digit": str(i % 10)})
                if i % 10 == 9:
                    await a.flush()
            gate.set()
            got = await take(queue, 30)
            assert queue.empty() and feed.connections == 2 and len(opened) == 2
            a.append("after", ev.DTMF, {"digit": "2"})  # and live again on the new connection
            await a.flush()
            got += await take(queue, 1)
    finally:
        admin.dispose()
    assert [e.id for e in got] == all_ids(pg_url)[1:]
    assert got[-1].call_id == "after"


async def test_while_postgresql_refuses_connections_the_feed_retries_and_then_catches_up(pg_url: str) -> None:
    """A PostgreSQL restart: the reconnects fail for a while; the first that succeeds delivers everything."""
    a, b = Timeline(pg_url), Timeline(pg_url)
    refusals = 3
    tried: list[str] = []
    down = asyncio.Event()

    async def connect() -> Any:
        if down.is_set() and tried.count("refused") < refusals:
            tried.append("refused")
            if tried.count("refused") == refusals:  # the server is back after this one: write before it is
                a.append("during-restart", ev.DTMF, {"digit": "9"})
                await a.flush()
            raise OSError("connection refused")
        tried.append("opened")
        return await feed._open()

    feed = PostgresFeed(b, connect=connect, retry=(0.0,))
    admin = sa.create_engine(pg_url, isolation_level="AUTOCOMMIT")
    try:
        async with running(feed):
            queue = feed.subscribe()
            down.set()
            with admin.connect() as conn:
                conn.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": feed.backend_pid})
            got = await take(queue, 1)
    finally:
        admin.dispose()
    assert got[0].call_id == "during-restart" and tried == ["opened", "refused", "refused", "refused", "opened"]

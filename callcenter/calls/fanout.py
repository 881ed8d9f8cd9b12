"""The centre's call timeline as one live stream, whichever process wrote each event.

The pages (websocket hub, panel board, wallboard figures) follow a :class:`CentreFeed`: ``subscribe()`` gives
a queue of durable events in id order, once each, and ``since()`` reads the rows a resuming page missed.

- On the embedded SQLite store there is one process: :class:`LocalFeed` is the timeline's own in-process
  publication (:meth:`Timeline.subscribe`, fed by this process's flush).
- On PostgreSQL several ``callcenter serve`` processes share one centre: every flush ends its transaction
  with ``NOTIFY callcenter_timeline, '<first id>-<last id>'`` (:data:`CHANNEL`), and :class:`PostgresFeed`
  keeps one ``LISTEN`` connection per process. A notification only wakes it; it then reads the rows with
  ``id >`` the last id it delivered and delivers them in id order. The flushes of all processes take one
  transaction-level advisory lock before they draw ids (:meth:`Timeline._write`), so ids are committed in
  id order across the centre: once a row is visible, every smaller id is visible or never will be (a flush
  that rolled back), and reading ``id > last`` can skip nothing that commits later. A lost connection (a
  PostgreSQL restart, a killed backend) is reopened with ``LISTEN`` first and then the same read, so what
  was written meanwhile is delivered and nothing twice. Without any notification the feed still reads
  every ``idle`` seconds and pings its connection, so a silently dead link costs at most that long.

Subscribers that must act only on this process's own calls (the missed-call follower, the seat watch) keep
using :meth:`Timeline.subscribe` directly.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime
from typing import Any, Protocol

from callcenter.calls.timeline import CHANNEL, Timeline, TimelineEvent
from callcenter.logs import get_logger
from callcenter.store import is_embedded

log = get_logger(__name__)

CATCH_UP_BATCH = 1000
IDLE_SECONDS = 5.0
RETRY_SECONDS = (0.1, 0.5, 1.0, 2.0, 5.0)  # between failed reconnects; the last one repeats

Connect = Callable[[], Awaitable[Any]]


class EventSource(Protocol):
    """Published events in id order and the durable rows after an id: what the hub needs (a
    :class:`Timeline` is one, for its own process's events)."""

    def subscribe(self) -> asyncio.Queue[TimelineEvent]: ...

    def unsubscribe(self, queue: asyncio.Queue[TimelineEvent]) -> None: ...

    def since(self, after_id: int, limit: int = 1000, types: Iterable[str] | None = None) -> list[TimelineEvent]:
        ...


class CentreFeed(EventSource, Protocol):
    """Every durable timeline event of the centre, in id order, once each (see the module's docstring)."""

    async def start(self) -> None:
        """Ready to deliver: events committed after this returns reach every subscriber."""

    async def run(self) -> None:
        """Deliver until cancelled (returns at once where there is nothing to run)."""


def centre_feed(timeline: Timeline) -> CentreFeed:
    """The feed for ``timeline``'s database: PostgreSQL's notifications, else this process's own flushes."""
    if timeline.url is None or is_embedded(timeline.url):
        return LocalFeed(timeline)
    return PostgresFeed(timeline)


class LocalFeed:
    """One process owns the store: the timeline's in-process publication is the whole centre."""

    def __init__(self, timeline: Timeline) -> None:
        self.timeline = timeline

    def subscribe(self) -> asyncio.Queue[TimelineEvent]:
        return self.timeline.subscribe()

    def unsubscribe(self, queue: asyncio.Queue[TimelineEvent]) -> None:
        self.timeline.unsubscribe(queue)

    def since(self, after_id: int, limit: int = 1000, types: Iterable[str] | None = None) -> list[TimelineEvent]:
        return self.timeline.since(after_id, limit, types)

    async def start(self) -> None:
        return None

    async def run(self) -> None:
        return None


def conninfo(url: str) -> str:
    """The libpq address of a SQLAlchemy PostgreSQL URL (the listener talks to psycopg directly)."""
    from sqlalchemy.engine import make_url

    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def open_listener(url: str, **options: Any) -> Any:
    """A psycopg connection in autocommit, as ``LISTEN`` needs (notifications arrive only outside a transaction)."""
    import psycopg

    return await psycopg.AsyncConnection.connect(conninfo(url), autocommit=True, **options)


async def listen(connect: Connect, channel: str) -> Any:
    """A connection from ``connect`` listening on ``channel``; closed again when the ``LISTEN`` fails."""
    conn = await connect()
    try:
        await conn.execute(f"LISTEN {channel}")
    except BaseException:
        await conn.close()
        raise
    return conn


async def keep_listening(
    connected: Callable[[], bool], listen: Callable[[], Awaitable[None]], work: Callable[[], Awaitable[None]],
    drop: Callable[[], Awaitable[None]], retry: tuple[float, ...], lost: Callable[[Exception, float], None],
) -> None:
    """Run ``work`` over a listening connection until cancelled, listening again first whenever there is none.
    A failure drops the connection and waits the next of ``retry`` (the last one repeats; a new connection starts
    them over), after telling ``lost`` the error and the delay."""
    attempt = 0
    while True:
        try:
            if not connected():
                await listen()
                attempt = 0
            await work()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            await drop()
            delay = retry[min(attempt, len(retry) - 1)]
            attempt += 1
            lost(exc, delay)
            await asyncio.sleep(delay)


async def close_quietly(conn: Any) -> None:
    """Close a listening connection that may be broken already (the server ended it)."""
    if conn is not None:
        with contextlib.suppress(Exception):
            await conn.close()


class PostgresFeed:
    """This process's ``LISTEN`` on :data:`CHANNEL`, delivering every process's events in id order."""

    def __init__(
        self, timeline: Timeline, *, idle: float = IDLE_SECONDS, connect: Connect | None = None,
        retry: tuple[float, ...] = RETRY_SECONDS,
    ) -> None:
        if timeline.url is None or not retry:
            raise ValueError("PostgresFeed needs a PostgreSQL timeline and at least one retry delay")
        self.timeline = timeline
        self.idle = idle
        self.retry = retry
        self._connect = connect or self._open
        self._subscribers: set[asyncio.Queue[TimelineEvent]] = set()
        self._conn: Any = None
        self.delivered = 0  # the highest id handed to the subscribers
        self.connections = 0  # LISTEN connections opened so far (1 + reconnects)
        self.connected = asyncio.Event()
        self.lost = asyncio.Event()  # set when a connection was lost, until the next one listens
        self.connected_at: datetime | None = None
        self.lost_at: datetime | None = None  # the health board shows since when the pages miss other processes

    async def _open(self) -> Any:
        return await open_listener(self.timeline.url or "")

    # ------------------------------------------------------------------ the CentreFeed side

    def subscribe(self) -> asyncio.Queue[TimelineEvent]:
        queue: asyncio.Queue[TimelineEvent] = asyncio.Queue()
        self._subscribers.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[TimelineEvent]) -> None:
        self._subscribers.discard(queue)

    def since(self, after_id: int, limit: int = 1000, types: Iterable[str] | None = None) -> list[TimelineEvent]:
        return self.timeline.since(after_id, limit, types)

    @property
    def backend_pid(self) -> int | None:
        """The PostgreSQL backend of the listening connection (the tests end it to prove the reconnect)."""
        return None if self._conn is None else int(self._conn.info.backend_pid)

    async def start(self) -> None:
        """Listen, and start after the newest committed id: what came before is read with :meth:`since`."""
        if self._conn is not None:
            return
        await self._listen()
        self.delivered = await asyncio.to_thread(self.timeline.last_id)

    async def run(self) -> None:
        await self.start()

        async def deliver() -> None:
            await self._catch_up()
            await self._follow()

        def lost(exc: Exception, delay: float) -> None:
            log.warning("timeline.listener_lost", error=str(exc).strip(), retry_in=delay, delivered=self.delivered)

        try:
            await keep_listening(lambda: self._conn is not None, self._listen, deliver, self._drop, self.retry, lost)
        finally:
            await self._drop()

    # ------------------------------------------------------------------ the connection

    async def _listen(self) -> None:
        self._conn = await listen(self._connect, CHANNEL)
        self.connections += 1
        self.lost.clear()
        self.connected.set()
        self.connected_at = datetime.now(UTC)
        log.info("timeline.listening", channel=CHANNEL, connections=self.connections, delivered=self.delivered)

    async def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            self.connected.clear()
            self.lost.set()
            self.lost_at = datetime.now(UTC)
            await close_quietly(conn)

    async def _follow(self) -> None:
        """Wake on each notification (or every ``idle`` seconds) and read what it announces."""
        conn = self._conn
        while True:
            woke = False
            async for note in conn.notifies(timeout=self.idle):
                woke = True
                last = _last_of(note.payload)
                if last is None or last > self.delivered:
                    await self._catch_up()
            if not woke:
                async with asyncio.timeout(self.idle):
                    await conn.execute("SELECT 1")  # a dead link raises here, not never
                await self._catch_up()

    async def _catch_up(self) -> None:
        """Deliver every committed row after :attr:`delivered`, in id order."""
        while True:
            batch = await asyncio.to_thread(self.timeline.since, self.delivered, CATCH_UP_BATCH)
            for event in batch:
                if event.id is None or event.id <= self.delivered:
                    continue
                self.delivered = event.id
                for queue in tuple(self._subscribers):
                    queue.put_nowait(event)
            if len(batch) < CATCH_UP_BATCH:
                return


def _last_of(payload: str) -> int | None:
    """The last id a flush's notification names (``"<first>-<last>"``); None (read anyway) when garbled."""
    try:
        return int(payload.rsplit("-", 1)[-1])
    except ValueError:
        return None

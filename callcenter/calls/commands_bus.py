"""One process's end of the command rows (:mod:`callcenter.calls.commands`): it says which calls it holds, runs
the commands sent to it, and carries its own pages' commands to the process that holds the call.

- **Holding calls.** The ARI application tells the bus of each call it starts, adopts or lets go
  (:meth:`CommandBus.holder`); the bus keeps :attr:`CommandBus.local` and writes ``call_owners`` in order, off
  the event loop.
- **Sending** (:meth:`CommandBus.route`): find the call's owner; none, or this process → ``not_live`` at once
  (the local path was already tried). Otherwise write the command, which notifies the owner, and wait for its
  result, bounded: a command nobody took within ``bound`` seconds becomes ``not_live`` (a dead owner never
  makes a page hang); one the owner took gets ``RUNNING_GRACE`` more to finish. On PostgreSQL an owner whose
  listening connection is gone (``pg_stat_activity``) is given only ``DEAD_BOUND`` seconds.
- **Receiving** (:meth:`CommandBus.run`): on PostgreSQL one ``LISTEN callcenter_commands`` connection (its
  ``application_name`` names this process, which is how senders tell it is alive), woken by the notifications
  and reading every ``poll`` seconds anyway; on SQLite (one process) the same loop polls. Each command is
  taken (``pending`` → ``running``, so it runs once), executed by the ``execute`` function the composition
  root hands in, and finished with its result.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from callcenter.calls import commands as rows
from callcenter.calls.commands import CHANNEL, DONE, FAILED, FINAL, NOT_LIVE, Command
from callcenter.calls.fanout import close_quietly, keep_listening, listen, open_listener
from callcenter.logs import get_logger
from callcenter.store import is_embedded

log = get_logger(__name__)

BOUND_SECONDS = 5.0  # how long a sender waits for an owner to take its command
RUNNING_GRACE = 10.0  # more for a command the owner has taken (a hang-up that plays its apology first)
DEAD_BOUND = 1.0  # for an owner whose listening connection is gone (restarting, or dead)
POLL_SECONDS = 0.5
RETRY_SECONDS = (0.1, 0.5, 1.0, 2.0, 5.0)
PURGE_AFTER = timedelta(days=1)
PURGE_EVERY = 3600.0

# The owner's side: run one command on a call this process holds; returns (done|failed, result).
Execute = Callable[[Command], Awaitable[tuple[str, dict[str, Any]]]]


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of a routed command; ``result`` is the owner's (or ``{"error": ...}``)."""

    state: str
    result: dict[str, Any] = field(default_factory=dict)
    command_id: int | None = None
    owner: str | None = None

    @property
    def done(self) -> bool:
        return self.state == DONE


class CommandBus:
    def __init__(
        self,
        url: str,
        process: str,
        *,
        execute: Execute | None = None,
        bound: float = BOUND_SECONDS,
        grace: float = RUNNING_GRACE,
        poll: float = POLL_SECONDS,
        connect: Callable[[], Awaitable[Any]] | None = None,
        retry: tuple[float, ...] = RETRY_SECONDS,
    ) -> None:
        self.url = url
        self.process = process
        self.execute = execute
        self.bound = bound
        self.grace = grace
        self.poll = poll
        self.retry = retry
        self.embedded = is_embedded(url)
        self._connect = connect or self._open
        self.local: dict[str, str] = {}  # call id → server, the calls this process holds
        self._writes: asyncio.Queue[tuple[str, str, bool]] = asyncio.Queue()
        # Senders waiting, by command id: woken with the outcome (a notification that carries it) or None (read it).
        self._waiters: dict[int, asyncio.Future[Outcome | None]] = {}
        self._running: set[asyncio.Task[Any]] = set()
        self._conn: Any = None
        self.listening = asyncio.Event()
        self.executed = 0
        self.routed = 0

    # ------------------------------------------------------------------ holding calls

    def holder(self, server: str) -> Callable[[str, bool], None]:
        """The ARI application's ``on_call`` for ``server``: (call id, held now) → ``call_owners``."""

        def on_call(call_id: str, live: bool) -> None:
            if live:
                self.local[call_id] = server
            else:
                self.local.pop(call_id, None)
            self._writes.put_nowait((call_id, server, live))

        return on_call

    async def take_over(self, server: str) -> None:
        """This process now holds ``server``'s application: its predecessor's rows go."""
        dropped = await asyncio.to_thread(rows.take_over_server, self.url, server, self.process)
        if dropped:
            log.warning("commands.owners_taken_over", server=server, dropped=dropped)

    async def written(self) -> None:
        """Until every call held or let go so far is in ``call_owners`` (needs :meth:`run`)."""
        await self._writes.join()

    async def _write_owners(self) -> None:
        while True:
            call_id, server, live = await self._writes.get()
            try:
                if live:
                    await asyncio.to_thread(rows.hold_call, self.url, call_id, self.process, server)
                else:
                    await asyncio.to_thread(rows.let_go, self.url, call_id, self.process)
            except Exception as exc:  # the database is away: the call goes on; a command to it waits in vain
                log.warning("commands.owner_not_written", call_id=call_id, held=live, error=str(exc).strip())
            finally:
                self._writes.task_done()

    # ------------------------------------------------------------------ sending

    async def route(self, call_id: str, kind: str, args: Mapping[str, Any]) -> Outcome:
        """Carry one command to the process that holds ``call_id`` and wait (bounded) for its outcome."""
        command_id, owner, alive = await asyncio.to_thread(rows.submit_to_owner, self.url, call_id, kind, args,
                                                           self.process)
        if command_id is None or owner is None:  # nobody holds it, or this process does (tried directly)
            return Outcome(NOT_LIVE, {"error": f"call {call_id} is not live"})
        self.routed += 1
        waiter: asyncio.Future[Outcome | None] = asyncio.get_running_loop().create_future()
        self._waiters[command_id] = waiter
        try:
            return await self._wait(command_id, waiter, self.bound if alive else min(self.bound, DEAD_BOUND),
                                    owner.process)
        finally:
            self._waiters.pop(command_id, None)

    async def _wait(self, command_id: int, waiter: asyncio.Future[Outcome | None], bound: float,
                    owner: str) -> Outcome:
        started = time.monotonic()
        deadline, extended = bound, False
        while True:
            left = deadline - (time.monotonic() - started)
            with contextlib.suppress(TimeoutError):
                told = await asyncio.wait_for(asyncio.shield(waiter), timeout=max(0.0, min(self.poll, left)))
                if told is not None:
                    return Outcome(told.state, told.result, command_id, owner)
            found = await asyncio.to_thread(rows.command, self.url, command_id)
            if found is not None and found.state in FINAL:
                return Outcome(found.state, found.result, command_id, owner)
            if time.monotonic() - started < deadline:
                if waiter.done():  # woken by a notification: wait on a fresh future
                    waiter = asyncio.get_running_loop().create_future()
                    self._waiters[command_id] = waiter
                continue
            if extended:  # taken but not finished in time: say so; the owner may still finish it
                return Outcome(FAILED, {"error": "the call's process took the command but did not finish it"},
                               command_id, owner)
            if await asyncio.to_thread(rows.expire, self.url, command_id):
                log.warning("commands.not_live", command_id=command_id, owner=owner, waited=round(bound, 2))
                return Outcome(NOT_LIVE, {"error": "the call's process did not answer"}, command_id, owner)
            deadline, extended = bound + self.grace, True  # the owner took it meanwhile

    # ------------------------------------------------------------------ receiving

    async def run(self) -> None:
        """Write owners, take commands and wake senders until cancelled."""
        writer = asyncio.create_task(self._write_owners(), name="commands-owners")
        try:
            if self.embedded:
                self.listening.set()
                await self._poll_forever()
            else:
                await self._listen_forever()
        finally:
            writer.cancel()
            for task in (writer, *self._running):
                task.cancel()
            await asyncio.gather(writer, *self._running, return_exceptions=True)
            await self._drop()

    async def close(self) -> None:
        """This process stops: its ``call_owners`` rows go (their calls are adopted by the next holder)."""
        with contextlib.suppress(Exception):
            await asyncio.to_thread(rows.release_process, self.url, self.process)

    async def _poll_forever(self) -> None:
        purged = time.monotonic()
        while True:
            await self._sweep()
            for waiter in self._waiters.values():  # senders read their rows at each wake
                if not waiter.done():
                    waiter.set_result(None)
            if time.monotonic() - purged > PURGE_EVERY:
                purged = time.monotonic()
                await self._purge()
            await asyncio.sleep(self.poll)

    async def _listen_forever(self) -> None:
        purged = time.monotonic()

        async def follow() -> None:
            nonlocal purged
            await self._sweep()
            async for note in self._conn.notifies(timeout=self.poll):
                self._on_note(str(note.payload))
            if time.monotonic() - purged > PURGE_EVERY:
                purged = time.monotonic()
                await self._purge()

        def lost(exc: Exception, delay: float) -> None:
            log.warning("commands.listener_lost", error=str(exc).strip(), retry_in=delay)

        await keep_listening(lambda: self._conn is not None, self._listen, follow, self._drop, self.retry, lost)

    def _on_note(self, payload: str) -> None:
        parts = payload.split(" ", 4)
        if len(parts) < 3 or parts[1] != self.process or not parts[2].isdigit():
            return
        kind, number = parts[0], int(parts[2])
        if kind == "cmd":
            self._spawn(number)
        elif kind == "end":
            waiter = self._waiters.get(number)
            if waiter is not None and not waiter.done():
                waiter.set_result(_told(parts[3:]))

    async def _sweep(self) -> None:
        """Commands whose notification this process missed (or, on SQLite, all of them)."""
        if self.execute is None:
            return
        for found in await asyncio.to_thread(rows.pending_for, self.url, self.process):
            self._spawn(found.id)

    def _spawn(self, command_id: int) -> None:
        if self.execute is None:
            return
        task = asyncio.create_task(self._run_one(command_id), name=f"command-{command_id}")
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def _run_one(self, command_id: int) -> None:
        assert self.execute is not None
        found = await asyncio.to_thread(rows.take, self.url, command_id)
        if found is None:
            return  # taken already (a sweep and a notification), or given up by its sender
        try:
            state, result = await self.execute(found)
        except Exception as exc:
            log.warning("commands.failed", call_id=found.call_id, kind=found.kind, error=repr(exc))
            state, result = FAILED, {"error": str(exc) or type(exc).__name__}
        self.executed += 1
        await asyncio.to_thread(rows.finish, self.url, command_id, state, result)

    async def _purge(self) -> None:
        with contextlib.suppress(Exception):
            await asyncio.to_thread(rows.purge_finished, self.url, datetime.now(UTC) - PURGE_AFTER)

    # ------------------------------------------------------------------ the connection

    async def _open(self) -> Any:
        return await open_listener(self.url, application_name=rows.listener_name(self.process))

    async def _listen(self) -> None:
        self._conn = await listen(self._connect, CHANNEL)
        self.listening.set()
        log.info("commands.listening", process=self.process)

    async def _drop(self) -> None:
        conn, self._conn = self._conn, None
        self.listening.clear()
        await close_quietly(conn)


def _told(parts: list[str]) -> Outcome | None:
    """The outcome a finishing notification carries (``<state> <result JSON>``), or None: read the row."""
    if len(parts) != 2 or parts[0] not in FINAL:
        return None
    try:
        result = json.loads(parts[1])
    except ValueError:
        return None
    return Outcome(parts[0], result) if isinstance(result, dict) else None

"""Commands to the process that holds the call (issue 17): ``call_owners``, ``call_commands`` and the bus, with
two "processes" (two buses with their own names) in one test, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from callcenter.calls import commands as rows
from callcenter.calls.commands import DONE, FAILED, NOT_LIVE, PENDING, Command
from callcenter.calls.commands_bus import CommandBus

Execute = Callable[[Command], Awaitable[tuple[str, dict[str, Any]]]]


def test_models_match_the_migration(db_url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from callcenter.store import Base, engine_for

    with engine_for(db_url).connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert [d for d in diffs if "call_owners" in repr(d) or "call_commands" in repr(d)] == []


def test_owners_are_taken_over_let_go_and_dropped(db_url: str) -> None:
    rows.hold_call(db_url, "c1", "host-a:1", "a")
    rows.hold_call(db_url, "c2", "host-a:1", "b")
    rows.hold_call(db_url, "c1", "host-b:2", "a")  # adopted after a restart: the adopter takes the row
    owner = rows.owner_of(db_url, "c1")
    assert owner is not None and (owner.process, owner.server) == ("host-b:2", "a")
    rows.let_go(db_url, "c1", "host-a:1")  # the old holder's late "ended" leaves the adopter's row alone
    assert rows.owner_of(db_url, "c1") is not None
    rows.hold_call(db_url, "c3", "host-a:1", "a")
    assert rows.take_over_server(db_url, "a", "host-b:2") == 1  # c3: left by a holder that is gone
    assert sorted(o.call_id for o in rows.owners(db_url)) == ["c1", "c2"]
    assert rows.release_process(db_url, "host-a:1") == 1
    rows.let_go(db_url, "c1", "host-b:2")
    assert rows.owners(db_url) == []


def test_a_command_leaves_pending_once(db_url: str) -> None:
    command_id = rows.submit(db_url, "c1", "script", {"script": "silent_call", "by": "8001"}, "web:1", "tel:2")
    assert [c.id for c in rows.pending_for(db_url, "tel:2")] == [command_id]
    assert rows.take(db_url, command_id) and not rows.take(db_url, command_id)
    assert not rows.expire(db_url, command_id)  # taken: the sender may no longer call it not live
    rows.finish(db_url, command_id, DONE, {"live": True})
    rows.finish(db_url, command_id, FAILED, {"late": True})  # a finished command stays as it finished
    found = rows.command(db_url, command_id)
    assert found is not None and (found.state, found.result, found.args["script"]) == (DONE, {"live": True},
                                                                                       "silent_call")
    with pytest.raises(ValueError, match="done, failed or not_live"):
        rows.finish(db_url, command_id, PENDING, {})


class Processes:
    """Buses of several "processes" on one database, each running until the test ends."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.tasks: list[asyncio.Task[Any]] = []

    async def start(self, name: str, execute: Execute | None = None, **kwargs: Any) -> CommandBus:
        bus = CommandBus(self.url, name, execute=execute, poll=kwargs.pop("poll", 0.05), **kwargs)
        self.tasks.append(asyncio.create_task(bus.run()))
        async with asyncio.timeout(5):
            await bus.listening.wait()
        return bus

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


@pytest.fixture
async def processes(db_url: str) -> AsyncIterator[Processes]:
    procs = Processes(db_url)
    yield procs
    await procs.stop()


async def _held(bus: CommandBus, call_id: str, server: str = "a") -> None:
    bus.holder(server)(call_id, True)
    async with asyncio.timeout(5):
        await bus.written()
    assert rows.owner_of(bus.url, call_id) is not None


async def test_a_command_reaches_the_holder_and_its_answer_comes_back(processes: Processes) -> None:
    ran: list[Command] = []

    async def execute(command: Command) -> tuple[str, dict[str, Any]]:
        ran.append(command)
        return DONE, {"live": True, "held_by": "telephony"}

    telephony = await processes.start("tel:1", execute)
    web = await processes.start("web:2")
    await _held(telephony, "call-1", "b")
    assert telephony.local == {"call-1": "b"}
    outcome = await web.route("call-1", "script", {"script": "silent_call", "by": "8001"})
    assert (outcome.state, outcome.result, outcome.owner) == (DONE, {"live": True, "held_by": "telephony"}, "tel:1")
    assert [(c.call_id, c.kind, c.args, c.from_process) for c in ran] == [
        ("call-1", "script", {"script": "silent_call", "by": "8001"}, "web:2")]
    assert rows.counts(processes.url) == {DONE: 1}


async def test_an_answer_too_long_for_a_notification_is_read_from_its_row(processes: Processes) -> None:
    async def execute(command: Command) -> tuple[str, dict[str, Any]]:
        return DONE, {"state": "话" * 4000}  # 12,000 bytes: more than NOTIFY carries

    telephony = await processes.start("tel:1", execute)
    web = await processes.start("web:2")
    await _held(telephony, "call-1")
    outcome = await web.route("call-1", "control", {})
    assert outcome.state == DONE and outcome.result == {"state": "话" * 4000}


async def test_a_call_nobody_holds_is_not_live_at_once_without_a_row(processes: Processes) -> None:
    web = await processes.start("web:2")
    outcome = await web.route("call-gone", "release", {"by": "8001"})
    assert outcome.state == NOT_LIVE and outcome.command_id is None and "not live" in outcome.result["error"]
    assert rows.counts(processes.url) == {}


async def test_a_dead_holder_is_answered_not_live_within_the_bound_and_never_runs_it(processes: Processes) -> None:
    rows.hold_call(processes.url, "call-1", "killed:9", "a")  # its process died with the row in place
    web = await processes.start("web:2", bound=0.3)
    started = asyncio.get_running_loop().time()
    outcome = await web.route("call-1", "control", {"action": "hold", "args": {}, "by": "8001"})
    waited = asyncio.get_running_loop().time() - started
    assert outcome.state == NOT_LIVE and waited < 3.0  # 0.3 s bound, then the rows read and written
    assert outcome.command_id is not None and not rows.take(processes.url, outcome.command_id)


async def test_a_failing_command_and_a_slow_one_say_so(processes: Processes) -> None:
    release = asyncio.Event()

    async def execute(command: Command) -> tuple[str, dict[str, Any]]:
        if command.kind == "boom":
            raise RuntimeError("the bridge is gone")
        await release.wait()
        return DONE, {}

    telephony = await processes.start("tel:1", execute)
    web = await processes.start("web:2")
    impatient = await processes.start("web:3", bound=0.3, grace=0.3)
    await _held(telephony, "call-1")
    failed = await web.route("call-1", "boom", {})
    assert (failed.state, failed.result) == (FAILED, {"error": "the bridge is gone"})
    slow = await impatient.route("call-1", "slow", {})
    assert slow.state == FAILED and "did not finish" in slow.result["error"]
    release.set()


async def test_many_commands_from_two_senders_run_once_each(processes: Processes) -> None:
    ran: list[int] = []

    async def execute(command: Command) -> tuple[str, dict[str, Any]]:
        ran.append(command.args["n"])
        return DONE, {"n": command.args["n"]}

    telephony = await processes.start("tel:1", execute)
    senders = [await processes.start(f"web:{i}") for i in (2, 3)]
    await _held(telephony, "call-1")
    outcomes = await asyncio.gather(*(senders[n % 2].route("call-1", "control", {"n": n}) for n in range(40)))
    assert [o.result["n"] for o in outcomes] == list(range(40))
    assert sorted(ran) == list(range(40))


async def test_postgres_a_lost_listening_connection_comes_back_and_nothing_is_lost(pg_url: str) -> None:
    import psycopg

    from callcenter.calls.fanout import conninfo

    procs = Processes(pg_url)
    try:
        ran: list[str] = []

        async def execute(command: Command) -> tuple[str, dict[str, Any]]:
            ran.append(command.call_id)
            return DONE, {}

        telephony = await procs.start("tel:1", execute, poll=0.2, retry=(0.05,))
        web = await procs.start("web:2")
        await _held(telephony, "call-1")
        with psycopg.connect(conninfo(pg_url), autocommit=True) as admin:
            killed = admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                   "WHERE application_name = 'cc cmd tel:1'").fetchall()
        assert killed == [(True,)]
        outcome = await web.route("call-1", "control", {})  # sent while the holder reconnects
        assert outcome.state == DONE and ran == ["call-1"]
    finally:
        await procs.stop()

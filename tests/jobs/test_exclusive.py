"""One of each job (issue 17): two holders of one job lock contend and exactly one runs the job; the standby
takes over when the holder's task is cancelled or its connection killed; a job that raises does not keep the lock.

On SQLite (a file lock beside the database) and on PostgreSQL (an advisory lock on its own connection). Every
wait is bounded by an injected poll interval of a few hundredths of a second.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from callcenter.jobs.exclusive import run_exclusively
from callcenter.jobs.locks import JobLock, PgJobLock, lock_for
from tests.conftest import PG_ADMIN_URL, empty_pg_database

POLL = 0.05
LIMIT = 10.0  # no test waits longer than this for anything


@pytest.fixture(params=["sqlite", "postgresql"])
def lock_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database for the locks: an SQLite file's place, or an empty PostgreSQL database (no schema needed)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'callcenter.sqlite3'}"
    else:
        with empty_pg_database() as url:
            yield url


class Counting:
    """A lock that counts its owner's tries (so a test waits for polls, not for time)."""

    def __init__(self, lock: JobLock) -> None:
        self.lock = lock
        self.name, self.identity = lock.name, lock.identity
        self.tries = 0
        self.tried = asyncio.Event()

    async def try_acquire(self) -> bool:
        self.tries += 1
        self.tried.set()
        return await self.lock.try_acquire()

    async def still_held(self) -> bool:
        return await self.lock.still_held()

    async def holder(self) -> str | None:
        return await self.lock.holder()

    async def watch(self, seconds: float) -> bool:
        return await self.lock.watch(seconds)

    async def release(self) -> None:
        await self.lock.release()


class Job:
    """A job that records who runs it, how many run at once, and how each run ended."""

    def __init__(self) -> None:
        self.running: list[str] = []
        self.most_at_once = 0
        self.starts: list[str] = []
        self.ended: list[tuple[str, str]] = []
        self.changed = asyncio.Event()
        self.breakers: dict[str, asyncio.Event] = {}  # set: that process's run raises

    def breaker(self, who: str) -> asyncio.Event:
        return self.breakers.setdefault(who, asyncio.Event())

    def factory(self, who: str) -> Callable[[], Awaitable[None]]:
        async def run() -> None:
            self.running.append(who)
            self.starts.append(who)
            self.most_at_once = max(self.most_at_once, len(self.running))
            self.changed.set()
            try:
                breaker = self.breaker(who)
                await breaker.wait()
                breaker.clear()
                raise RuntimeError("the job broke")
            except asyncio.CancelledError:
                self.ended.append((who, "cancelled"))
                raise
            except RuntimeError:
                self.ended.append((who, "raised"))
                raise
            finally:
                self.running.remove(who)
                self.changed.set()

        return run

    async def until(self, condition: Callable[[], bool]) -> None:
        async with asyncio.timeout(LIMIT):
            while not condition():
                self.changed.clear()
                await self.changed.wait()


async def until_tries(lock: Counting, count: int) -> None:
    async with asyncio.timeout(LIMIT):
        while lock.tries < count:
            lock.tried.clear()
            await lock.tried.wait()


@pytest.fixture
async def tasks() -> AsyncIterator[list[asyncio.Task[None]]]:
    started: list[asyncio.Task[None]] = []
    yield started
    for task in started:
        task.cancel()
    await asyncio.gather(*started, return_exceptions=True)


def contender(url: str, who: str, job: Job, tasks: list[asyncio.Task[None]], states: list[tuple[str, bool, str | None]],
              poll: float = POLL) -> Counting:
    lock = Counting(lock_for(url, "overdue-orders", timeout=1.0, identity=who))
    tasks.append(asyncio.create_task(run_exclusively(
        url, "overdue-orders", job.factory(who), poll_seconds=poll, lock=lock,
        on_state=lambda holding, holder: states.append((who, holding, holder)))))
    return lock


async def test_two_holders_contend_and_exactly_one_runs(lock_url: str, tasks: list[asyncio.Task[None]]) -> None:
    job, states = Job(), []
    a = contender(lock_url, "host-a:1", job, tasks, states)
    await job.until(lambda: job.running == ["host-a:1"])
    b = contender(lock_url, "host-b:2", job, tasks, states)
    await until_tries(b, 5)  # five polls of the standby: still one runs
    assert job.running == ["host-a:1"] and job.most_at_once == 1
    assert a.tries == 1
    assert ("host-a:1", True, "host-a:1") in states
    assert ("host-b:2", False, "host-a:1") in states  # the standby names the holder (the board shows it)


async def test_the_standby_takes_over_when_the_holders_task_is_cancelled(
        lock_url: str, tasks: list[asyncio.Task[None]]) -> None:
    job, states = Job(), []
    contender(lock_url, "host-a:1", job, tasks, states)
    await job.until(lambda: job.running == ["host-a:1"])
    b = contender(lock_url, "host-b:2", job, tasks, states)
    await until_tries(b, 2)
    started = time.monotonic()
    tasks[0].cancel()
    await job.until(lambda: job.running == ["host-b:2"])
    took = time.monotonic() - started
    print(f"takeover after the holder's task was cancelled: {took:.3f} s (poll {POLL} s)")
    assert job.ended == [("host-a:1", "cancelled")] and job.most_at_once == 1
    assert took < POLL + 1.0, f"took over after {took:.3f} s"


async def test_the_standby_takes_over_when_the_holders_connection_is_killed(
        tasks: list[asyncio.Task[None]]) -> None:
    """pg_terminate_backend (what a database restart does to every session): the holder sees its connection end
    at once and stops its job; the standby, polling faster, gets the lock; never two at once."""
    import psycopg

    with empty_pg_database() as url:
        job, states = Job(), []
        # The holder would try again only after its own (longer) poll: the standby, which tries every POLL, wins.
        a = contender(url, "host-a:1", job, tasks, states, poll=1.0)
        await job.until(lambda: job.running == ["host-a:1"])
        b = contender(url, "host-b:2", job, tasks, states)
        await until_tries(b, 2)
        assert isinstance(a.lock, PgJobLock) and a.lock.backend_pid is not None
        started = time.monotonic()
        with psycopg.connect(PG_ADMIN_URL.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as admin:
            assert admin.execute("SELECT pg_terminate_backend(%s)", (a.lock.backend_pid,)).fetchone() == (True,)
        await job.until(lambda: job.running == ["host-b:2"])
        took = time.monotonic() - started
        print(f"takeover after pg_terminate_backend: {took:.3f} s (standby poll {POLL} s)")
        assert job.ended == [("host-a:1", "cancelled")] and job.most_at_once == 1
        assert took < POLL + 1.0, f"took over after {took:.3f} s"
        await until_tries(a, 3)  # the old holder contends again, as a standby (its second try has said so)
        assert job.running == ["host-b:2"]
        assert ("host-a:1", False, "host-b:2") in states


async def test_a_job_that_raises_runs_again_at_the_next_poll(lock_url: str, tasks: list[asyncio.Task[None]]) -> None:
    job, states = Job(), []
    job.breaker("host-a:1").set()
    a = contender(lock_url, "host-a:1", job, tasks, states)
    await job.until(lambda: ("host-a:1", "raised") in job.ended and job.running == ["host-a:1"])
    assert job.starts == ["host-a:1", "host-a:1"] and a.tries == 2


async def test_a_job_that_raises_passes_the_lock_to_the_standby(lock_url: str, tasks: list[asyncio.Task[None]]) -> None:
    job, states = Job(), []
    contender(lock_url, "host-a:1", job, tasks, states, poll=1.0)  # tries again only after the standby's poll
    await job.until(lambda: job.running == ["host-a:1"])
    b = contender(lock_url, "host-b:2", job, tasks, states)
    await until_tries(b, 2)
    job.breaker("host-a:1").set()
    await job.until(lambda: job.running == ["host-b:2"])
    assert job.ended == [("host-a:1", "raised")] and job.most_at_once == 1
    assert ("host-a:1", False, None) in states  # between its failure and its next try, nobody is seen holding


async def test_a_job_that_returns_ends_the_run_and_frees_the_lock(lock_url: str) -> None:
    ran: list[str] = []

    async def once() -> None:
        ran.append("ran")

    async with asyncio.timeout(LIMIT):
        await run_exclusively(lock_url, "reports", once, poll_seconds=POLL)
        await run_exclusively(lock_url, "reports", once, poll_seconds=POLL)
    assert ran == ["ran", "ran"]


def test_a_job_name_is_checked(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="job name"):
        lock_for(f"sqlite:///{tmp_path / 'x.sqlite3'}", "../etc/passwd")


async def test_a_replaced_lock_file_is_a_lost_lock(tmp_path: Path, tasks: list[asyncio.Task[None]]) -> None:
    """Someone deletes the lock file under a running holder: another process could lock a new file of that
    name, so the holder stops its job."""
    url = f"sqlite:///{tmp_path / 'callcenter.sqlite3'}"
    job, states = Job(), []
    contender(url, "host-a:1", job, tasks, states)
    await job.until(lambda: job.running == ["host-a:1"])
    (tmp_path / "callcenter.sqlite3.job-overdue-orders.lock").unlink()
    await job.until(lambda: ("host-a:1", "cancelled") in job.ended)
    await job.until(lambda: job.running == ["host-a:1"])  # and takes the new file's lock at its next try
    assert job.most_at_once == 1


async def test_an_unreachable_database_is_a_standby_that_says_so_once() -> None:
    """PostgreSQL down (nothing listens on the port): the job does not run anywhere here, the process stands by,
    and the log says why once, not at every poll."""
    from structlog.testing import capture_logs

    url = "postgresql+psycopg://callcenter:callcenter@127.0.0.1:1/callcenter"
    job, states = Job(), []
    tasks: list[asyncio.Task[None]] = []
    with capture_logs() as logs:
        lock = contender(url, "host-a:1", job, tasks, states)
        try:
            await until_tries(lock, 4)
        finally:
            tasks[0].cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
    assert job.starts == [] and states == [("host-a:1", False, None)]
    said = [e for e in logs if e["event"] == "jobs.lock_unavailable"]
    assert len(said) == 1 and said[0]["job"] == "overdue-orders" and "127.0.0.1" in said[0]["error"]

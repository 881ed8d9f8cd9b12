"""Run a job in one process of the deployment at a time: :func:`run_exclusively`.

Every process starts every job through it. The one that gets the job's lock runs the job for as long as it
holds the lock; the others stand by, try again every ``poll_seconds``, and one of them takes over within that
interval once the holder is gone (killed, stopped, or cut off from the database). A holder that finds its lock
in doubt (its connection lost in a database restart) cancels the job and waits for it to end before it
contends again, so it never runs beside the new holder's loop; a round already in a worker thread finishes on its
own, which the jobs allow (their claims and unique rows make a second round harmless). A job that raises lets
go of the lock, and the lock is contended for again at the next poll, here or elsewhere.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from callcenter.jobs.locks import JobLock, lock_for
from callcenter.logs import get_logger

log = get_logger(__name__)

POLL_SECONDS = 5.0

# on_state(holding, holder): this process holds the job (holder is this process), or stands by (holder is the
# process that runs it, when known). The health board shows it (callcenter.health.registry.JobRecord.held).
OnState = Callable[[bool, str | None], object]


async def run_exclusively(
    url: str,
    name: str,
    job: Callable[[], Awaitable[object]],
    *,
    poll_seconds: float = POLL_SECONDS,
    on_state: OnState | None = None,
    lock: JobLock | None = None,
) -> None:
    """Run ``job()`` while this process holds job ``name``'s lock in the database at ``url``, until cancelled or
    until the job returns (then the lock is released and this ends)."""
    lock = lock or lock_for(url, name, timeout=poll_seconds)
    said: tuple[bool, str | None] | None = None

    def state(holding: bool, holder: str | None) -> None:
        nonlocal said
        if said == (holding, holder):
            return
        said = (holding, holder)
        if holding:
            log.info("jobs.holding", job=name, holder=holder)
        else:
            log.info("jobs.standby", job=name, holder=holder)
        if on_state is not None:
            on_state(holding, holder)

    unavailable: str | None = None

    async def acquire() -> bool:
        nonlocal unavailable
        try:
            got = await lock.try_acquire()
        except Exception as exc:  # the database is unreachable: stand by and try again (said once, not each poll)
            error = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            if error != unavailable:
                log.warning("jobs.lock_unavailable", job=name, error=error)
            unavailable = error
            return False
        unavailable = None
        return got

    try:
        while True:
            if await acquire():
                state(True, lock.identity)
                if await _run_while_held(lock, job, poll_seconds):
                    log.info("jobs.finished", job=name, holder=lock.identity)
                    return
                await lock.release()
                state(False, None)
            else:
                state(False, await _holder(lock))
            await asyncio.sleep(poll_seconds)
    finally:
        await asyncio.shield(lock.release())


async def _holder(lock: JobLock) -> str | None:
    try:
        return await lock.holder()
    except Exception:
        return None


async def _run_while_held(lock: JobLock, job: Callable[[], Awaitable[object]], poll_seconds: float) -> bool:
    """Run the job while the lock holds: its connection watched all along, the lock itself checked every
    ``poll_seconds``; True when the job returned by itself."""

    async def body() -> object:
        return await job()

    async def watch() -> bool:
        try:
            return await lock.watch(poll_seconds)
        except Exception:  # whatever went wrong, the lock is in doubt
            return False

    task = asyncio.create_task(body(), name=f"job-{lock.name}")
    watcher: asyncio.Task[bool] | None = None
    try:
        while True:
            watcher = asyncio.create_task(watch())
            await asyncio.wait({task, watcher}, return_when=asyncio.FIRST_COMPLETED)
            if watcher.done() and not watcher.result():
                log.error("jobs.lock_lost", job=lock.name, holder=lock.identity)
                return False
            if task.done():
                error = None if task.cancelled() else task.exception()
                if task.cancelled() or error is not None:
                    log.error("jobs.failed", job=lock.name, holder=lock.identity,
                              error=repr(error) if error is not None else "cancelled", exc_info=error)
                    return False
                return True
            await asyncio.wait({watcher})
            if not watcher.result() or not await lock.still_held():
                log.error("jobs.lock_lost", job=lock.name, holder=lock.identity)
                return False
    finally:
        if watcher is not None:
            await _stop(watcher)
        await _stop(task)


async def _stop(task: asyncio.Task[Any]) -> None:
    """Cancel the job and wait until it has ended: only then may this process contend again."""
    if task.done():
        return
    task.cancel()
    await asyncio.wait({task})  # unlike `await task`, a cancellation of this coroutine itself is not swallowed
    if not task.cancelled() and task.exception() is not None:
        log.error("jobs.stop_failed", task=task.get_name(), error=repr(task.exception()))

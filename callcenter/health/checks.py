"""The checks that need no adapter: database, recordings disk, timeline flusher, agent seats, schedulers.

Each is a plain function returning one :class:`~callcenter.health.model.Component`; the blocking ones
(database, disk) run in a worker thread under a time limit (:mod:`callcenter.health.board`).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.exc import SQLAlchemyError

from callcenter.calls import events as ev
from callcenter.calls.agents import AgentState, SeatView
from callcenter.calls.timeline import CallEventRecord
from callcenter.health.model import Component, Status
from callcenter.health.registry import JobRecord, seconds_text
from callcenter.health.seats import SeatWatch
from callcenter.store import applied_revisions, engine_for, migration_revisions, where

# Timeline events waiting for the flusher: it writes every 50 ms, so a thousand means the database is slow and
# ten thousand that it has stopped taking them (the events are kept in memory until it does).
BACKLOG_AMBER = 1_000
BACKLOG_RED = 10_000
# A scheduler is overdue when it has not run this long after its due time (or a tenth of its interval).
JOB_GRACE = timedelta(minutes=2)

DiskUsage = Callable[[Path], Any]

GROUP_TELEPHONY = "电话接入"
GROUP_SEATS = "坐席"
GROUP_RECORDINGS = "录音"
GROUP_DATA = "数据"
GROUP_JOBS = "定时任务"


def local(at: datetime | None, tz: tzinfo) -> str:
    return "—" if at is None else at.astimezone(tz).strftime("%m-%d %H:%M:%S")


def size_text(n: int) -> str:
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if abs(n) >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} B"


def database_component(url: str) -> Component:
    """Reachable, and at this version's schema: the Alembic heads applied equal the code's heads."""
    from alembic.runtime.migration import MigrationContext

    name = "数据库 database"
    try:
        with engine_for(url).connect() as conn:
            conn.execute(text("SELECT 1"))
            applied = set(MigrationContext.configure(conn).get_current_heads())
    except SQLAlchemyError as exc:
        lines = str(getattr(exc, "orig", None) or exc).strip().splitlines()
        reason = lines[0] if lines else type(exc).__name__
        return Component(name, Status.RED, f"cannot reach the database at {where(url)}: {reason}", "unreachable",
                         GROUP_DATA, blocks_calls=True)
    heads, needs = migration_revisions()
    unknown = applied - set(needs)
    reached = applied_revisions(applied)
    value = f"{len(reached & heads)} of {len(heads)} heads applied"
    detail = {"applied": sorted(applied), "code": sorted(heads)}
    if heads <= reached and not unknown:
        return Component(name, Status.GREEN, f"reachable at {where(url)}; schema at this version's heads", value,
                         GROUP_DATA, blocks_calls=True, detail=detail)
    if not applied:
        why = "has no schema: run `callcenter db upgrade`"
    elif unknown:
        why = f"has revisions this version does not know ({', '.join(sorted(unknown))}): a newer callcenter migrated it"
    else:
        missing = ", ".join(sorted(heads - reached))
        why = f"is behind this version's schema ({missing} missing): run `callcenter db upgrade`"
    return Component(name, Status.RED, f"the database at {where(url)} {why}", value, GROUP_DATA, blocks_calls=True,
                     detail=detail)


def refused_today(url: str, since: datetime) -> int:
    """Recordings refused since ``since`` (``recording.refused`` alerts on the timeline, R-119)."""
    since = since.astimezone(UTC)  # SQLite compares the stored UTC text: a local instant would shift the day
    with engine_for(url).connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(CallEventRecord).where(
            CallEventRecord.type == ev.RECORDING_REFUSED, CallEventRecord.at >= since)) or 0)


def disk_component(root: Path, min_free_bytes: int, refused: int | None,
                   disk_usage: DiskUsage = shutil.disk_usage) -> Component:
    """The recordings volume's free space against ``recordings.min_free_bytes``, and today's refusals."""
    name = "录音存储 recordings disk"
    probe = root
    while not probe.exists() and probe != probe.parent:  # not made yet: the volume it will be made on
        probe = probe.parent
    try:
        free = int(disk_usage(probe).free)
    except OSError as exc:
        return Component(name, Status.RED, f"recordings root {root} is not usable: {exc.strerror or exc}",
                         "unusable", GROUP_RECORDINGS)
    shown = "unknown" if refused is None else str(refused)
    value = f"{size_text(free)} free, floor {size_text(min_free_bytes)}; refused today {shown}"
    detail = {"free_bytes": free, "min_free_bytes": min_free_bytes, "refused_today": refused, "root": str(root)}
    if free < min_free_bytes:
        return Component(name, Status.RED, f"{size_text(free)} free on {root}, below recordings.min_free_bytes "
                         f"({size_text(min_free_bytes)}): new recordings are refused", value, GROUP_RECORDINGS,
                         detail=detail)
    if refused:
        return Component(name, Status.AMBER, f"{refused} recordings refused today (disk was below the floor)",
                         value, GROUP_RECORDINGS, detail=detail)
    if free < 2 * min_free_bytes:
        return Component(name, Status.AMBER, "less than twice recordings.min_free_bytes free", value,
                         GROUP_RECORDINGS, detail=detail)
    return Component(name, Status.GREEN, f"space above the floor on {root}", value, GROUP_RECORDINGS, detail=detail)


def flusher_component(backlog: int, running: bool | None) -> Component:
    """The timeline flusher: alive, and how many events wait for the database."""
    name = "通话时间线 timeline flusher"
    value = f"{backlog} events waiting"
    detail = {"backlog": backlog, "running": running}
    if running is False:
        return Component(name, Status.RED, "the flusher has stopped: events are not written", value, GROUP_DATA,
                         detail=detail)
    if backlog >= BACKLOG_RED:
        return Component(name, Status.RED, f"{backlog} events not written (≥ {BACKLOG_RED}): the database is not "
                         "taking them", value, GROUP_DATA, detail=detail)
    if backlog >= BACKLOG_AMBER:
        return Component(name, Status.AMBER, f"{backlog} events waiting (≥ {BACKLOG_AMBER}): the database is slow",
                         value, GROUP_DATA, detail=detail)
    return Component(name, Status.GREEN, "events written as they come", value, GROUP_DATA, detail=detail)


def seats_component(pool: SeatView, watch: SeatWatch | None) -> Component:
    """Seats registered (signed on) / offered calls (ready) / unreachable (the adapters found the endpoint
    unavailable and set the seat offline)."""
    name = "坐席 agent seats"
    total = len(pool.agents)
    counts = pool.counts()
    signed_on = total - counts[AgentState.OFFLINE.value]
    ready = counts[AgentState.READY.value]
    unreachable = sorted(watch.unreachable(pool)) if watch is not None else []
    value = f"{signed_on} of {total} registered, {ready} offered, {len(unreachable)} unreachable"
    detail = {"seats": total, "registered": signed_on, "offered": ready, "unreachable": unreachable,
              "by_state": counts}
    if total == 0:
        return Component(name, Status.AMBER, "no agent seats (no agent accounts)", value, GROUP_SEATS, detail=detail)
    if unreachable and signed_on == 0:
        return Component(name, Status.RED, f"every seat is off and {len(unreachable)} unreachable "
                         f"({', '.join(unreachable[:5])})", value, GROUP_SEATS, detail=detail)
    if unreachable:
        return Component(name, Status.AMBER, f"unreachable: {', '.join(unreachable[:5])}", value, GROUP_SEATS,
                         detail=detail)
    if signed_on == 0:
        return Component(name, Status.AMBER, "no seat is signed on", value, GROUP_SEATS, detail=detail)
    return Component(name, Status.GREEN, f"{ready} seats ready for calls", value, GROUP_SEATS, detail=detail)


def job_component(job: JobRecord, now: datetime, tz: tzinfo) -> Component:
    """A scheduler: ran, and not overdue (its next due time plus a grace has not passed)."""
    name = f"{job.label} {job.name}"
    value = f"last {local(job.last_run, tz)} · next {local(job.next_due, tz)}"
    detail = {"last_run": job.last_run.isoformat() if job.last_run else None,
              "next_due": job.next_due.isoformat() if job.next_due else None, "runs": job.runs,
              "last_error": job.last_error, "holding": job.holding, "holder": job.holder}
    if job.holding is False:  # another process runs it (one of each job on a shared database)
        if job.holder is None:  # nobody could be seen holding it: the job may run nowhere right now
            return Component(name, Status.AMBER, "standby: no process is seen holding the job lock",
                             "standby", GROUP_JOBS, detail=detail)
        return Component(name, Status.GREEN, f"standby: {job.holder} runs it", f"standby · held by {job.holder}",
                         GROUP_JOBS, detail=detail)
    if not job.reports_runs:
        here = "this process holds it" if job.holding else "runs here"
        return Component(name, Status.GREEN, here, here, GROUP_JOBS, detail=detail)
    if job.holding:
        value = f"this process holds it · {value}"
    if job.last_run is None:
        if job.next_due is not None and now <= job.next_due + JOB_GRACE:
            return Component(name, Status.GREEN, f"first run due {local(job.next_due, tz)}", value, GROUP_JOBS,
                             detail=detail)
        if job.next_due is None and now - job.registered_at <= JOB_GRACE:
            return Component(name, Status.GREEN, "first run under way", value, GROUP_JOBS, detail=detail)
        return Component(name, Status.RED, f"has not run since it started at {local(job.registered_at, tz)}", value,
                         GROUP_JOBS, detail=detail)
    if job.next_due is None:
        return Component(name, Status.AMBER, "ran, but did not say when it is due again", value, GROUP_JOBS,
                         detail=detail)
    grace = max(JOB_GRACE, (job.next_due - job.last_run) / 10)
    if now > job.next_due + grace:
        return Component(name, Status.RED, f"overdue by {seconds_text(now - job.next_due)} (due "
                         f"{local(job.next_due, tz)})", value, GROUP_JOBS, detail=detail)
    if job.last_error:
        return Component(name, Status.AMBER, f"last run failed: {job.last_error}", value, GROUP_JOBS, detail=detail)
    runs = "once" if job.runs == 1 else f"{job.runs} times"
    return Component(name, Status.GREEN, f"ran {runs}; on time", value, GROUP_JOBS, detail=detail)
